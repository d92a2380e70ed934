/**
 * @file The fused normalization and attention rows (core ops/norm.ts) on the JS and WASM back
 * ends against the f32 reference: layer_norm / group norm, the attention softmax (scale, bool /
 * additive / causal masks, broadcast masks, fully masked rows) and training-mode batch norm over
 * random shapes with odd widths and rows of one element, forward and the backward rows `grad`
 * builds; each is one row (or channel) kernel, never decomposed on these back ends, and
 * `graft print` shows the fused rows.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import { jsBackend } from "../src/backend/js/backend.js";
import { loadWasmToolkit, wasmBackend } from "../src/backend/wasm/backend.js";
import { lowerGraph } from "../src/backend/lower.js";
import type { Backend } from "../src/backend/types.js";
import { grad } from "../src/passes/grad.js";
import { hostFeeds, randomArray } from "./backend-cases.js";
import { runCli } from "./cli-run.js";

const graphWithGradients = (loss: C.Tensor, outputs: Record<string, C.Tensor>, inputs: readonly string[]): Graph => {
  const built = C.buildGraph(C.model({ name: "norm", outputs, loss }));
  if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
  const withGrads = grad(built.right, { inputs });
  if (E.isLeft(withGrads)) throw new Error(C.formatDiagnostics(withGrads.left));
  return withGrads.right;
};

/** Every output of `graph` on `backend` equals the f32 reference (NaN for NaN, ±inf for ±inf, finite values within 3e-5 of the output's scale). */
const agree = async (backend: Backend, graph: Graph, feeds: Record<string, NDArray>, label: string): Promise<void> => {
  const reference = C.run(graph, feeds, {}, { precision: "f32" });
  const session = await backend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 1 });
  const outputs = session.run("f", hostFeeds(feeds));
  for (const [name, expected] of Object.entries(reference)) {
    const actual = outputs[name]?.data ?? [];
    expect(actual.length, `${label} ${name}: length`).toBe(expected.data.length);
    const scale = Math.max(1, ...Array.from(expected.data).filter(Number.isFinite).map(Math.abs));
    for (let i = 0; i < expected.data.length; i++) {
      const [a, e] = [actual[i] as number, expected.data[i] as number];
      if (!Number.isFinite(e)) expect(a, `${label} ${name}[${i}]`).toBe(e);
      else expect(Math.abs(a - e), `${label} ${name}[${i}]: ${a} vs ${e}`).toBeLessThanOrEqual(3e-5 * scale);
    }
  }
};

/** The kinds of the kernels `graph` lowers to (the JS and WASM back ends share the lowering). */
const kernelKinds = (graph: Graph): string[] => {
  const lowered = lowerGraph(graph, new Map());
  if (E.isLeft(lowered)) throw new Error(C.formatDiagnostics(lowered.left));
  return lowered.right.kernels.map((kernel) => kernel.kind);
};

const WIDTHS = [1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 33, 64];

const layerNormShape = fc.record({
  rows: fc.integer({ min: 1, max: 5 }),
  width: fc.constantFrom(...WIDTHS),
  split: fc.boolean(),
  weight: fc.boolean(),
  bias: fc.boolean(),
  offset: fc.constantFrom(0, 3, -40),
});
type LayerNormShape = typeof layerNormShape extends fc.Arbitrary<infer T> ? T : never;

/** layer_norm over [rows, width] (or [rows, 1, width] over two dims), with its gradients to x, weight and bias. */
const layerNormCase = (s: LayerNormShape, seed: number) => {
  const shape = s.split ? [s.rows, 1, s.width] : [s.rows, s.width];
  const normalized = shape.slice(1);
  const x = C.input("x", shape);
  const w = C.input("w", normalized);
  const b = C.input("b", normalized);
  const r = C.input("r", shape);
  const y = C.layerNorm(x, normalized, { ...(s.weight ? { weight: w } : {}), ...(s.bias ? { bias: b } : {}) });
  const graph = graphWithGradients(C.sum(C.mul(y, r)), { y }, ["x", ...(s.weight ? ["w"] : []), ...(s.bias ? ["b"] : [])]);
  const xs = randomArray(shape, seed, 4);
  const feeds: Record<string, NDArray> = { x: { ...xs, data: xs.data.map((v) => v + s.offset) }, r: randomArray(shape, seed + 3) };
  if (s.weight) feeds["w"] = randomArray(normalized, seed + 1);
  if (s.bias) feeds["b"] = randomArray(normalized, seed + 2);
  return { graph, feeds };
};

const attentionShape = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  queries: fc.integer({ min: 1, max: 6 }),
  keys: fc.constantFrom(...WIDTHS),
  mask: fc.constantFrom<"none" | "bool" | "add">("none", "bool", "add"),
  // which dims the mask keeps (the others broadcast): [batch, queries, keys]
  maskDims: fc.constantFrom([true, true, true], [false, true, true], [false, false, true], [true, false, true], [false, true, false], [true, true, false]),
  causal: fc.boolean(),
  scale: fc.constantFrom(1, 0.125, 0.7),
});
type AttentionShape = typeof attentionShape extends fc.Arbitrary<infer T> ? T : never;

/** attention_softmax of scores [batch, queries, keys] with its gradients to the scores and an additive mask; some mask rows are fully masked. */
const attentionCase = (s: AttentionShape, seed: number) => {
  const shape = [s.batch, s.queries, s.keys];
  const maskShape = shape.map((d, i) => (s.maskDims[i] === true ? d : 1)).slice(s.maskDims[0] === true ? 0 : 1);
  const scores = C.input("s", shape);
  const mask = s.mask === "none" ? undefined : C.input("m", maskShape, s.mask === "bool" ? "bool" : "f32");
  const r = C.input("r", shape);
  const p = C.attentionSoftmaxRaw(scores, { scale: s.scale, mask: s.mask, causal: s.causal }, mask);
  const graph = graphWithGradients(C.sum(C.mul(p, r)), { p }, ["s", ...(s.mask === "add" ? ["m"] : [])]);
  const random = C.mulberry32(seed);
  const maskSize = maskShape.reduce((a, d) => a * d, 1);
  const keys = s.maskDims[2] === true ? s.keys : 1;
  // every third mask row masked everywhere (false, or −inf), the rest at random
  const maskValues = Array.from({ length: maskSize }, (_, i) => {
    const fully = Math.floor(i / keys) % 3 === 1;
    if (s.mask === "bool") return fully ? 0 : random() < 0.7 ? 1 : 0;
    return fully ? -Infinity : random() < 0.2 ? -Infinity : Math.fround((random() - 0.5) * 4);
  });
  const feeds: Record<string, NDArray> = { s: randomArray(shape, seed, 8), r: randomArray(shape, seed + 1) };
  if (s.mask !== "none") feeds["m"] = { shape: maskShape, dtype: s.mask === "bool" ? "bool" : "f32", data: Float64Array.from(maskValues) };
  return { graph, feeds };
};

const batchNormShape = fc.record({
  batch: fc.integer({ min: 1, max: 4 }),
  channels: fc.integer({ min: 1, max: 5 }),
  spatial: fc.constantFrom<number[]>([], [1], [3], [7], [2, 2], [3, 5], [4, 4]),
  weight: fc.boolean(),
  bias: fc.boolean(),
});
type BatchNormShape = typeof batchNormShape extends fc.Arbitrary<infer T> ? T : never;

/** Training-mode batch norm (the rows `batchNorm` builds in training mode) over [N, C, *], with its gradients. */
const batchNormCase = (s: BatchNormShape, seed: number) => {
  const shape = [s.batch, s.channels, ...s.spatial];
  const x = C.input("x", shape);
  const w = C.input("w", [s.channels]);
  const b = C.input("b", [s.channels]);
  const r = C.input("r", shape);
  const stats = C.batchNormStatsRaw(x);
  const y = C.batchNormRaw(x, stats, { eps: 1e-5, weight: s.weight, bias: s.bias }, w, b);
  const graph = graphWithGradients(C.sum(C.mul(y, r)), { y, stats }, ["x", ...(s.weight ? ["w"] : []), ...(s.bias ? ["b"] : [])]);
  const feeds: Record<string, NDArray> = { x: randomArray(shape, seed, 6), r: randomArray(shape, seed + 3) };
  if (s.weight) feeds["w"] = randomArray([s.channels], seed + 1);
  if (s.bias) feeds["b"] = randomArray([s.channels], seed + 2);
  return { graph, feeds };
};

for (const [name, backend] of [
  ["JS", async () => jsBackend],
  ["WASM", async () => (await loadWasmToolkit(), wasmBackend)],
] as const) {
  describe(`${name} back end: fused normalization and attention rows vs the reference (random shapes, forward and gradients)`, () => {
    it("layer_norm and its backward (odd widths, rows of one element, with and without weight and bias, rows far from 0)", async () => {
      const cases = fc.sample(layerNormShape, { seed: 91, numRuns: 24 });
      for (const [index, s] of cases.entries()) {
        const { graph, feeds } = layerNormCase(s, 200 + index);
        await agree(await backend(), graph, feeds, `${name} ${JSON.stringify(s)}`);
      }
    });
    it("attention_softmax and softmax_backward (scale, bool / additive / causal masks, broadcast masks, fully masked rows)", async () => {
      const cases = fc.sample(attentionShape, { seed: 92, numRuns: 30 });
      for (const [index, s] of cases.entries()) {
        const { graph, feeds } = attentionCase(s, 300 + index);
        await agree(await backend(), graph, feeds, `${name} ${JSON.stringify(s)}`);
      }
    });
    it("batch norm's statistics, normalization and backward statistics (batches of one, channels of one element, odd planes)", async () => {
      const cases = fc.sample(batchNormShape, { seed: 93, numRuns: 20 });
      for (const [index, s] of cases.entries()) {
        const { graph, feeds } = batchNormCase(s, 400 + index);
        await agree(await backend(), graph, feeds, `${name} ${JSON.stringify(s)}`);
      }
    });
    it("groupNorm (a layer_norm of the grouped view) and its gradients", async () => {
      const x = C.input("x", [3, 6, 5]);
      const w = C.input("w", [6]);
      const y = C.groupNorm(x, 3, { weight: w, bias: C.input("b", [6]) });
      const graph = graphWithGradients(C.sum(C.mul(y, y)), { y }, ["x", "w", "b"]);
      await agree(await backend(), graph, { x: randomArray([3, 6, 5], 7, 6), w: randomArray([6], 8), b: randomArray([6], 9) }, `${name} groupNorm`);
    });
  });
}

describe("the fused rows are row kernels", () => {
  it("a layer norm, an attention and their gradients lower to layer_norm, attention_softmax and their backward kernels, no reductions", () => {
    const x = C.input("x", [2, 4, 8]);
    const h = C.layerNorm(x, [8], { weight: C.input("w", [8]), bias: C.input("b", [8]) });
    const attended = C.scaledDotProductAttention(h, h, h, { causal: true });
    const graph = graphWithGradients(C.sum(C.mul(attended, attended)), { attended }, ["x"]);
    const kinds = kernelKinds(graph);
    for (const kind of ["layer_norm", "layer_norm_backward", "attention_softmax", "softmax_backward"]) expect(kinds).toContain(kind);
    // the row statistics are in the row kernels: the one reduction left is the loss's sum (no weight or bias gradients: wrt x)
    expect(kinds.filter((kind) => kind === "reduce")).toEqual(["reduce"]);
    expect(kinds).not.toContain("softmax");
  });

  it("a [L, S] mask of scores [N, L, S] stays L rows (read by row mod L); a per-batch mask [N, 1, S] is broadcast to every row", () => {
    const scores = C.input("s", [3, 4, 5]);
    const lowered = (mask: C.Tensor) => {
      const built = C.buildGraph(C.model({ name: "m", outputs: { p: C.attentionSoftmaxRaw(scores, { scale: 1, mask: "add", causal: false }, mask) } }));
      if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
      const result = lowerGraph(built.right, new Map());
      if (E.isLeft(result)) throw new Error(C.formatDiagnostics(result.left));
      return result.right.kernels.flatMap((kernel) => (kernel.kind === "attention_softmax" ? [{ rows: kernel.rows, maskRows: kernel.maskRows }] : []));
    };
    expect(lowered(C.input("m", [4, 5]))).toEqual([{ rows: 12, maskRows: 4 }]);
    expect(lowered(C.input("m", [3, 1, 5]))).toEqual([{ rows: 12, maskRows: 12 }]);
    expect(lowered(C.input("m", [5]))).toEqual([{ rows: 12, maskRows: 1 }]);
  });

  it("a training-mode batch norm and its gradients lower to two channel kernels and maps, no reductions", () => {
    const x = C.input("x", [4, 3, 5, 5]);
    const y = C.batchNormRaw(x, C.batchNormStatsRaw(x), { eps: 1e-5, weight: true, bias: true }, C.input("w", [3]), C.input("b", [3]));
    const kinds = kernelKinds(graphWithGradients(C.sum(C.mul(y, C.input("r", [4, 3, 5, 5]))), { y }, ["x", "w", "b"]));
    expect(kinds.filter((kind) => kind === "channel_stats")).toHaveLength(1);
    expect(kinds.filter((kind) => kind === "channel_backward_stats")).toHaveLength(1);
    expect(kinds.filter((kind) => kind === "reduce")).toEqual(["reduce"]);
  });

  it("graft print shows the fused rows of the transformer example, and --kernels their row kernels", async () => {
    const printed = await runCli(["print", "--grad", "examples/transformer/model.ts"]);
    expect(printed.err).toBe("");
    expect(printed.out).toMatch(/layer_norm\[dims=1, eps=0\.00001, weight, bias\]/);
    expect(printed.out).toMatch(/attention_softmax\[scale=0\.25, causal\]/);
    expect(printed.out).toMatch(/layer_norm_backward\[dims=1, eps=0\.00001, weight\]/);
    expect(printed.out).toMatch(/softmax_backward\[scale=0\.25\]/);
    const kernels = await runCli(["print", "--kernels", "--train", "adam:lr=1e-3", "--batch", "2", "examples/transformer/model.ts"]);
    expect(kernels.err).toBe("");
    expect(kernels.out).toMatch(/attention_softmax rows 128×16 \(scale → causal → softmax: one row kernel\)/);
    expect(kernels.out).toMatch(/layer_norm rows 32×64 \(mean, variance, normalize, ·weight, \+bias: one row kernel\)/);
    const cnn = await runCli(["print", "--kernels", "--train", "adam:lr=1e-3", "--batch", "2", "examples/mnist-cnn/model.ts"]);
    expect(cnn.err).toBe("");
    expect(cnn.out).toMatch(/batch_norm_stats 16 channels × 2×576 \(mean, variance: one channel kernel\)/);
    expect(cnn.out).toMatch(/batch_norm_backward_stats 32 channels × 2×64 \(Σg, Σg·x̂: one channel kernel\)/);
  });
});
