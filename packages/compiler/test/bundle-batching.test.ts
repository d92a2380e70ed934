/**
 * @file Bundles called with ordinary data: plain (flat or nested) Arrays rounded to f32, any batch
 * size for `forward` and `evaluate` (chunks of the compiled sizes; evaluate's mean loss over the
 * chunks equals the whole batch's, checked against the float64 reference interpreter), a clear
 * error for functions that couple rows, and short lines (an uncaught error does not print
 * kilobytes of minified source).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGraph, crossEntropy, dense, input, mean, model, mseLoss, ndarray, relu, run, sub, type Model, type NDArray } from "@graft/core";
import { decodeSafetensors } from "@graft/runtime";
import { BUNDLE_LINE_LIMIT } from "../src/bundle/emit.js";
import { main, type CliIo } from "../src/cli.js";
import { compileBundle, type CompileBundleOptions, type CompiledBundle } from "../src/bundle/index.js";

interface Loaded {
  readonly info: { readonly batches: readonly number[]; readonly functions: Record<string, { readonly batching: { readonly chunkable: boolean; readonly reason?: string } }> };
  forward(feeds: object): Record<string, Float32Array>;
  evaluate(feeds: object): Record<string, Float32Array | number>;
  trainStep(feeds: object): Record<string, Float32Array | number>;
  saveWeights(): Uint8Array;
}
type Load = () => Promise<Loaded>;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const write = (bundle: CompiledBundle): string => {
  const dir = mkdtempSync(join(tmpdir(), "graft-bundle-batching-"));
  dirs.push(dir);
  const file = join(dir, "model.mjs");
  writeFileSync(file, bundle.code);
  return file;
};
const compile = async (m: Model, options: CompileBundleOptions): Promise<CompiledBundle> => {
  const bundle = await compileBundle(m, options);
  if (E.isLeft(bundle)) throw new Error(bundle.left.map((d) => d.message).join("\n"));
  return bundle.right;
};
const importBundle = async (bundle: CompiledBundle): Promise<Load> => ((await import(/* @vite-ignore */ pathToFileURL(write(bundle)).href)) as { load: Load }).load;

// the iris-like classifier of the README: 4 features, 3 classes
const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const logits = dense(relu(dense(x, 4, 8, "fc1")), 8, 3, "fc2");
const classifier = model({ name: "iris_mlp", outputs: { logits }, loss: crossEntropy(logits, y) });
const target = input("t", ["batch", 3]);
const regressor = model({ name: "regressor", outputs: { logits }, loss: mseLoss(logits, target) });
const batchNorm = model({ name: "centred", outputs: { centred: sub(logits, mean(logits, 0, true)) } });

/** The reference interpreter's outputs on the whole batch, with the bundle's weights. */
const reference = (m: Model, weights: Uint8Array, feeds: Record<string, NDArray>): Record<string, NDArray> => {
  const graph = buildGraph(m);
  if (E.isLeft(graph)) throw new Error("graph");
  const params = Object.fromEntries([...decodeSafetensors(weights).tensors].map(([name, t]) => [name, ndarray(t.shape, "f32", t.data as Float32Array)]));
  return run(graph.right, feeds, params);
};

const rowsArb = (max: number) =>
  fc.integer({ min: 1, max }).chain((n) =>
    fc.record({
      x: fc.array(fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 4, maxLength: 4 }), { minLength: n, maxLength: n }),
      y: fc.array(fc.constantFrom(0, 1, 2, -100), { minLength: n, maxLength: n }),
    }),
  );

describe.each([
  ["js", {}],
  ["wasm", { backend: "wasm" }],
] as const)("%s bundle, compiled for batch 4 only", (_, backendOptions) => {
  let load: Load;
  beforeAll(async () => {
    load = await importBundle(await compile(classifier, { ...backendOptions, train: "sgd:lr=0.1", batches: [4] }));
  });

  it("records which functions take any batch size in info", async () => {
    const m = await load();
    expect(m.info.batches).toEqual([4]);
    expect(m.info.functions["forward"]?.batching).toEqual({ chunkable: true, inputs: ["x"], outputs: { logits: { kind: "rows" } } });
    expect(m.info.functions["evaluate"]?.batching).toEqual({
      chunkable: true,
      inputs: ["x", "y"],
      outputs: { logits: { kind: "rows" }, loss: { kind: "mean", weight: "labels", input: "y", ignoreIndex: -100 } },
    });
    expect(m.info.functions["trainStep"]?.batching).toEqual({ chunkable: false, reason: "trainStep updates its state once per batch (an optimizer step)" });
  });

  it("forward takes one row as a plain array of numbers, rounded to f32", async () => {
    const m = await load();
    const row = [5.1, 3.5, 1.4, 0.2];
    const plain = m.forward({ x: row }).logits;
    expect(plain).toHaveLength(3);
    expect(m.forward({ x: Float32Array.from(row) }).logits).toEqual(plain);
    expect(m.forward({ x: [row] }).logits).toEqual(plain);
  });

  it("forward and evaluate at any N equal the reference interpreter on the whole batch (property)", async () => {
    const m = await load();
    const weights = m.saveWeights();
    await fc.assert(
      fc.asyncProperty(rowsArb(19), async ({ x: rows, y: labels }) => {
        const n = rows.length;
        const xs = Float32Array.from(rows.flat());
        const whole = reference(classifier, weights, { x: ndarray([n, 4], "f32", xs), y: ndarray([n], "i32", labels) });
        const expectedLogits = whole["logits"]?.data ?? new Float64Array(0);
        const forward = m.forward({ x: rows }).logits ?? new Float32Array(0);
        expect(forward).toHaveLength(3 * n);
        forward.forEach((value, i) => expect(value).toBeCloseTo(expectedLogits[i] ?? Number.NaN, 4));
        const evaluated = m.evaluate({ x: rows, y: labels });
        const loss = whole["loss"]?.data[0] ?? Number.NaN;
        if (Number.isNaN(loss)) expect(evaluated["loss"]).toBeNaN();
        else expect(evaluated["loss"]).toBeCloseTo(loss, 4);
        expect(evaluated["logits"]).toEqual(forward);
      }),
      { numRuns: 25, seed: 14 },
    );
  });

  it("trainStep takes only its compiled batch size, and says why", async () => {
    const m = await load();
    expect(() => m.trainStep({ x: new Float32Array(20), y: new Int32Array(5) })).toThrow(
      "input x: got 20 elements; trainStep takes f32[4,4] (16 elements) (batch sizes 4); trainStep takes no other batch size: trainStep updates its state once per batch (an optimizer step)",
    );
    expect(() => m.trainStep({ x: [[1, 2, 3, 4]], y: [0] })).toThrow(
      "input x: got 4 elements; trainStep takes f32[4,4] (16 elements) (batch sizes 4); trainStep takes no other batch size: trainStep updates its state once per batch (an optimizer step)",
    );
  });
});

describe("means over rows and coupled functions", () => {
  it("a mean over rows (mseLoss) runs exact chunks when the sizes allow, and says what to compile otherwise", async () => {
    const options = { train: "sgd:lr=0.1" };
    const only4 = await (await importBundle(await compile(regressor, { ...options, batches: [4] })))();
    const rows = Array.from({ length: 7 }, (_, i) => [i / 7, 1 - i / 5, 0.5, -i / 3]);
    const targets = Array.from({ length: 7 }, (_, i) => [i / 2, -1, 0.25]);
    expect(() => only4.evaluate({ x: rows, t: targets })).toThrow(
      "evaluate: a batch of 7 rows is not a sum of the compiled batch sizes (4), and padding the last chunk would change loss (a mean over the rows); compile with a batch size of 1 too (--batch 4,1)",
    );
    const with1 = await (await importBundle(await compile(regressor, { ...options, batches: [4, 1] })))();
    const whole = reference(regressor, with1.saveWeights(), { x: ndarray([7, 4], "f32", Float32Array.from(rows.flat())), t: ndarray([7, 3], "f32", Float32Array.from(targets.flat())) });
    expect(with1.evaluate({ x: rows, t: targets })["loss"]).toBeCloseTo(whole["loss"]?.data[0] ?? Number.NaN, 5);
    // forward has no mean: padding is fine
    expect(only4.forward({ x: rows })["logits"]).toHaveLength(21);
  });

  it("a function that uses batch statistics takes only its compiled sizes, naming the op and the line", async () => {
    const m = await (await importBundle(await compile(batchNorm, { batches: [2, 4] })))();
    expect(m.info.functions["forward"]?.batching.chunkable).toBe(false);
    expect(() => m.forward({ x: new Float32Array(12) })).toThrow(
      /^input x: got 12 elements; forward takes f32\[2,4\] \(8 elements\) or f32\[4,4\] \(16 elements\) \(batch sizes 2, 4\); forward takes no other batch size: output centred: sub \(node %\d+, .*bundle-batching\.test\.ts:\d+:\d+\) combines a mean or sum over the batch's rows with the rows themselves$/,
    );
    expect(m.forward({ x: [[1, 2, 3, 4], [5, 6, 7, 8]] })["centred"]).toHaveLength(6);
  });
});

describe("fixed shapes", () => {
  it("a model without a batch dim records why and keeps the usual shape message", async () => {
    const fixed = model({ name: "fixed", outputs: { y: relu(input("v", [3])) } });
    const m = await (await importBundle(await compile(fixed, {})))();
    expect(m.info.functions["forward"]?.batching).toEqual({ chunkable: false, reason: "forward has no 'batch' dim in its inputs" });
    expect(m.forward({ v: [1, -2, 3.3] })["y"]).toEqual(Float32Array.from([1, 0, 3.3]));
    expect(() => m.forward({ v: [1, 2] })).toThrow(/^input v: expected shape \[3\] = 3 elements, got an Array of length 2$/);
  });
});

describe("short lines", () => {
  it("keeps every line of a bundle near the line limit, and an uncaught error prints a short excerpt", async () => {
    const bundle = await compile(classifier, { train: "adam:lr=1e-3", batches: [4] });
    const longest = Math.max(...bundle.code.split("\n").map((line) => line.length));
    // esbuild breaks a line at the first statement or string boundary past the limit
    expect(longest).toBeLessThanOrEqual(2.5 * BUNDLE_LINE_LIMIT);
    const file = write(bundle);
    const script = join(file, "..", "crash.mjs");
    writeFileSync(script, `import { load } from "./model.mjs";\nconst m = await load();\nm.forward({ x: new Float32Array(7) });\n`);
    let stderr = "";
    try {
      execFileSync(process.execPath, [script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      stderr = String((error as { stderr?: unknown }).stderr ?? "");
    }
    expect(stderr).toContain("[FeedError]: input x: got 7 elements, not a whole number of rows of [4] = 4 elements (expected shape [N,4])");
    expect(stderr.length).toBeLessThan(2000);
  });
});

describe("graft compile", () => {
  it("says which functions take any batch size, or why none does", async () => {
    const dir = mkdtempSync(join(tmpdir(), "graft-bundle-batching-cli-"));
    dirs.push(dir);
    const run = async (argv: string[]): Promise<string> => {
      let out = "";
      const io: CliIo = { out: (text) => void (out += text), err: (text) => void (out += text), cwd: process.cwd() };
      expect(await main(argv, { io })).toBe(0);
      return out;
    };
    const trained = await run(["compile", "packages/compiler/test/fixtures/bundle/mlp.ts", "--train", "sgd:lr=0.1", "--batch", "4", "-o", join(dir, "a.mjs")]);
    expect(trained).toContain("\nany batch size (in chunks of the compiled ones): forward, evaluate\n");
    const centred = await run(["compile", "packages/compiler/test/fixtures/bundle/centred.ts", "-o", join(dir, "b.mjs")]);
    expect(centred).toMatch(/\ncompiled batch sizes only: output c: sub \(node %\d+, .*centred\.ts:5:\d+\) combines a mean or sum over the batch's rows with the rows themselves\n$/);
  });
});
