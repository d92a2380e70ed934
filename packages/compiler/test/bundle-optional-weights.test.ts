// A forward-only bundle of a BatchNorm model reads neither `num_batches_tracked` nor the random
// counter, yet keeps them in its state dict (PyTorch's load_state_dict wants them): weights files
// may carry them or leave them out, at compile time and in loadWeights; a wrong one is refused.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { batchNormLayer, dense, dropout, input, model, reshape } from "@graft/core";
import { decodeSafetensors, encodeSafetensors } from "@graft/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { compileBundle, type CompiledBundle } from "../src/bundle/index.js";

const x = input("x", ["batch", 2, 3]);
const normalized = batchNormLayer(x, 2, "bn");
const logits = dense(dropout(reshape(normalized, ["batch", 6]), 0.5), 6, 4, "fc");
const bnModel = model({ name: "bn_forward", outputs: { logits } });

const F32 = (n: number, value: number): Float32Array => new Float32Array(n).fill(value);
type Tensor = Parameters<typeof encodeSafetensors>[0][number];
const weights = (extra: readonly Tensor[]): Uint8Array =>
  encodeSafetensors([
    { name: "bn.weight", dtype: "F32", shape: [2], data: F32(2, 2) },
    { name: "bn.bias", dtype: "F32", shape: [2], data: F32(2, 0.5) },
    { name: "bn.running_mean", dtype: "F32", shape: [2], data: F32(2, 1) },
    { name: "bn.running_var", dtype: "F32", shape: [2], data: F32(2, 4) },
    { name: "fc.weight", dtype: "F32", shape: [4, 6], data: F32(24, 0.25) },
    { name: "fc.bias", dtype: "F32", shape: [4], data: F32(4, -1) },
    ...extra,
  ]);
const tracked = (value: number, dtype: "I32" | "I64" = "I64"): Tensor =>
  ({ name: "bn.num_batches_tracked", dtype, shape: [], data: new Int32Array([value]) }); // I64 is encoded from int32 values

interface Loaded {
  forward(feeds: Record<string, unknown>): { logits: Float32Array };
  saveWeights(): Uint8Array;
  loadWeights(bytes: unknown): void;
}
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const loadBundle = async (bundle: CompiledBundle): Promise<Loaded> => {
  const dir = mkdtempSync(join(tmpdir(), "graft-optional-weights-"));
  dirs.push(dir);
  writeFileSync(join(dir, "model.mjs"), bundle.code);
  const module = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as { load: () => Promise<Loaded> };
  return module.load();
};
const compiled = async (bytes?: Uint8Array): Promise<E.Either<string, CompiledBundle>> => {
  const result = await compileBundle(bnModel, { backend: "js", ...(bytes === undefined ? {} : { weights: bytes }) });
  return E.isLeft(result) ? E.left(result.left.map((d) => d.message).join("\n")) : E.right(result.right);
};
// eval mode: (1 − 1)/√(4 + 1e-5)·2 + 0.5 = 0.5 per element, so each logit is 6·0.5·0.25 − 1 = −0.25
const ones = { x: new Float32Array(6).fill(1) };

describe("params a forward-only bundle does not read", () => {
  it("weights may leave out num_batches_tracked and the random counter (compile time and loadWeights)", async () => {
    const bundle = await compiled(weights([]));
    if (E.isLeft(bundle)) throw new Error(bundle.left);
    const loaded = await loadBundle(bundle.right);
    expect([...loaded.forward(ones).logits]).toEqual([-0.25, -0.25, -0.25, -0.25]);
    loaded.loadWeights(weights([]));
    expect([...loaded.forward(ones).logits]).toEqual([-0.25, -0.25, -0.25, -0.25]);
  });

  it("weights may carry num_batches_tracked (PyTorch's I64 or I32); saveWeights writes the whole state dict", async () => {
    const bundle = await compiled(weights([tracked(7)]));
    if (E.isLeft(bundle)) throw new Error(bundle.left);
    const loaded = await loadBundle(bundle.right);
    loaded.loadWeights(weights([tracked(9, "I32")]));
    const saved = decodeSafetensors(loaded.saveWeights());
    expect([...saved.tensors.keys()].sort()).toContain("bn.num_batches_tracked");
    expect(Number(saved.tensors.get("bn.num_batches_tracked")?.data[0])).toBe(9);
  });

  it("a present one must still fit: wrong shape or dtype is refused, naming the tensor", async () => {
    const wrongShape = await compiled(weights([{ name: "bn.num_batches_tracked", dtype: "I32", shape: [2], data: new Int32Array(2) }]));
    expect(E.isLeft(wrongShape) ? wrongShape.left : "").toContain('tensor "bn.num_batches_tracked" has shape [2], expected []');
    const bundle = await compiled();
    if (E.isLeft(bundle)) throw new Error(bundle.left);
    const loaded = await loadBundle(bundle.right);
    expect(() => loaded.loadWeights(weights([{ name: "bn.num_batches_tracked", dtype: "F32", shape: [], data: F32(1, 1) }]))).toThrow('tensor "bn.num_batches_tracked" has dtype F32, expected I32');
    // the read params stay required
    const missing = await compiled(encodeSafetensors([{ name: "bn.weight", dtype: "F32", shape: [2], data: F32(2, 1) }]));
    expect(E.isLeft(missing) ? missing.left : "").toContain('tensor "fc.weight" is missing (expected F32 [4,6])');
  });
});
