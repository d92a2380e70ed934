/**
 * @file What the ORT tests of exported models share: a bundle of a model to compare with, the
 * starting state of an exported training step, and running that step in onnxruntime-node step
 * after step (hyper scalars computed before each step, every `<name>.new` fed back as `<name>`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { expect } from "vitest";
import { formatDiagnostics, type Model } from "@graft/core";
import { decodeSafetensors, hyperValue } from "@graft/runtime";
import { compileBundle } from "../../src/bundle/index.js";
import { exportOnnx, NEW_SUFFIX, type OnnxExport, type OnnxExportOptions } from "../../src/onnx/export.js";
import type { Ort, OrtSession, OrtTensor } from "./ort.js";

/** What the tests use of a bundle's session. */
export interface Bundle {
  forward(feeds: Record<string, unknown>): Record<string, Float32Array | Int32Array>;
  trainStep(feeds: Record<string, unknown>): { loss: number };
  saveWeights(options?: { optimizer?: boolean }): Uint8Array;
}
type Load = (weights?: unknown, options?: { seed?: number }) => Promise<Bundle>;

const dirs: string[] = [];

/** Removes the bundles' temporary directories (call from afterAll). */
export const removeBundles = (): void => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};

/** A bundle of `model` for the given batch sizes (and training step), loaded with seed 0. */
export const loadBundle = async (model: Model, options: { readonly batches: number[]; readonly train?: string }): Promise<Bundle> => {
  const compiled = await compileBundle(model, { batches: options.batches, ...(options.train === undefined ? {} : { train: options.train }) });
  if (E.isLeft(compiled)) throw new Error(formatDiagnostics(compiled.left));
  const dir = mkdtempSync(join(tmpdir(), "graft-onnx-"));
  dirs.push(dir);
  const file = join(dir, "model.mjs");
  writeFileSync(file, compiled.right.code);
  const load = ((await import(/* @vite-ignore */ pathToFileURL(file).href)) as { load: Load }).load;
  return load(undefined, { seed: 0 });
};

/** The export of `model`, or a thrown error with its diagnostics. */
export const exported = (model: Model, options: OnnxExportOptions): OnnxExport => {
  const result = exportOnnx(model, options);
  if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
  return result.right;
};

/** A state tensor of an exported training step. */
export interface StateTensor {
  readonly values: Float64Array;
  readonly dims: number[];
  /** Its safetensors dtype (F32, F64, I32). */
  readonly dtype: string;
}

/** The starting state of an exported training step, from its safetensors, by name. */
export const startingState = (bytes: Uint8Array | undefined): Map<string, StateTensor> => {
  const out = new Map<string, StateTensor>();
  if (bytes === undefined) throw new Error("a training export has an initial state");
  for (const [name, tensor] of decodeSafetensors(bytes).tensors) out.set(name, { values: Float64Array.from(tensor.data), dims: [...tensor.shape], dtype: tensor.dtype });
  return out;
};

/** An ORT output as numbers. */
export const numbers = (tensor: OrtTensor | undefined): number[] => (tensor === undefined ? [] : Array.from(tensor.data as ArrayLike<number | bigint>, Number));

/** A state tensor as an ORT tensor of its dtype. */
export const toOrt = (ortModule: Ort, entry: StateTensor): OrtTensor =>
  entry.dtype === "F64"
    ? new ortModule.Tensor("float64", Float64Array.from(entry.values), entry.dims)
    : entry.dtype === "I32"
      ? new ortModule.Tensor("int32", Int32Array.from(entry.values), entry.dims)
      : new ortModule.Tensor("float32", Float32Array.from(entry.values), entry.dims);

/**
 * Relative closeness per element; an element much smaller than the tensor's mean magnitude (a
 * logit near 0 that is a sum of larger terms) is compared relative to that mean, as f32 sums in a
 * different order differ by a few ulps of their terms, not of their result.
 */
export const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void => {
  expect(actual.length, what).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale += Math.abs(expected[i] as number) / expected.length;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const b = expected[i] as number;
    if (!(Math.abs(a - b) <= rtol * Math.max(Math.abs(b), scale))) expect.fail(`${what}[${i}]: ONNX Runtime ${a}, graft ${b} (rtol ${rtol})`);
  }
};

/**
 * Runs one exported training step in ORT: sets the hyper scalars for step t = state[hyper.step] + 1,
 * feeds `inputs` and the state, replaces each state tensor by its `.new` output. Returns the outputs.
 */
export const runStep = async (runtime: Ort, session: OrtSession, step: OnnxExport, state: Map<string, StateTensor>, inputs: Readonly<Record<string, OrtTensor>>): Promise<Record<string, OrtTensor>> => {
  const hyper = step.hyper;
  if (hyper !== undefined) {
    const t = (state.get(hyper.step)?.values[0] ?? 0) + 1;
    for (const scalar of hyper.scalars) {
      const entry = state.get(scalar.param);
      if (entry !== undefined) state.set(scalar.param, { ...entry, values: Float64Array.of(hyperValue(scalar.formula, hyper.lr, t)) });
    }
  }
  const feeds: Record<string, OrtTensor> = { ...inputs };
  for (const [name, entry] of state) feeds[name] = toOrt(runtime, entry);
  const out = await session.run(feeds);
  for (const [name, entry] of state) {
    const updated = out[`${name}${NEW_SUFFIX}`];
    if (updated !== undefined) state.set(name, { ...entry, values: Float64Array.from(numbers(updated)) });
  }
  return out;
};

/** The feeds of training step `i`: the bundle's (plain arrays) and ORT's (tensors). */
export type StepFeeds = (i: number) => { readonly bundle: Record<string, unknown>; readonly ort: Readonly<Record<string, OrtTensor>> };

/**
 * Runs `steps` training steps in the bundle and in ORT (`runStep`, from `state`) with the same
 * feeds; returns each side's losses.
 */
export const stepsSideBySide = async (runtime: Ort, bundle: Bundle, session: OrtSession, step: OnnxExport, state: Map<string, StateTensor>, steps: number, feedsOf: StepFeeds): Promise<{ readonly graft: number[]; readonly ort: number[] }> => {
  const graft: number[] = [];
  const ort: number[] = [];
  for (let i = 0; i < steps; i++) {
    const feeds = feedsOf(i);
    graft.push(bundle.trainStep(feeds.bundle).loss);
    ort.push(numbers((await runStep(runtime, session, step, state, feeds.ort)).loss)[0] ?? Number.NaN);
  }
  return { graft, ort };
};
