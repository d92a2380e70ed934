/**
 * @file The stacked-rows and batch-sum rewrites (backend/rewrites.ts `stackBatchRows`,
 * `sumBatchDepth`): a batched matmul by one shared right matrix over left rows contiguous across
 * the batch is one GEMM over the stacked rows (a dense layer on [N, L, E] inputs and its input
 * gradient), and a batched matmul summed over its batch is one GEMM over the stacked inner dim
 * (the weight gradient Σ_b X_bᵀ G_b). They fire only when the operands really are stacked in
 * memory (not on permuted or transposed operands, nor broadcast ones), and both back ends agree
 * with the f32 reference with and without them.
 */
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import { jsBackend } from "../src/backend/js/backend.js";
import { wasmBackend } from "../src/backend/wasm/backend.js";
import { lowerGraph } from "../src/backend/lower.js";
import type { Kernel } from "../src/backend/kernels.js";
import { describeRewrites } from "../src/backend/rewrites.js";
import type { Backend } from "../src/backend/types.js";
import { grad } from "../src/passes/grad.js";
import { hostFeeds, randomArray } from "./backend-cases.js";

type MatmulKernel = Extract<Kernel, { kind: "matmul" }>;

const graphOf = (outputs: Record<string, C.Tensor>, loss?: C.Tensor): Graph => {
  const built = C.buildGraph(C.model({ name: "dense", outputs, ...(loss === undefined ? {} : { loss }) }));
  if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
  if (loss === undefined) return built.right;
  const withGrads = grad(built.right, { inputs: ["x"] });
  if (E.isLeft(withGrads)) throw new Error(C.formatDiagnostics(withGrads.left));
  return withGrads.right;
};

const matmulKernels = (graph: Graph): MatmulKernel[] => {
  const lowered = lowerGraph(graph, new Map());
  if (E.isLeft(lowered)) throw new Error(C.formatDiagnostics(lowered.left));
  return lowered.right.kernels.flatMap((kernel) => (kernel.kind === "matmul" ? [kernel] : []));
};

/** (batch, m, n, k, stackedBatch) of each matmul kernel. */
const shapes = (graph: Graph) => matmulKernels(graph).map(({ batch, m, n, k, stackedBatch }) => ({ batch, m, n, k, stackedBatch }));

/** (batch, m, n, k, summedBatch) of each matmul kernel, and the shapes the reduce kernels reduce. */
const sums = (graph: Graph) => {
  const lowered = lowerGraph(graph, new Map());
  if (E.isLeft(lowered)) throw new Error(C.formatDiagnostics(lowered.left));
  const kernels = lowered.right.kernels;
  return {
    matmuls: kernels.flatMap((kernel) => (kernel.kind === "matmul" ? [{ batch: kernel.batch, m: kernel.m, n: kernel.n, k: kernel.k, summedBatch: kernel.summedBatch }] : [])),
    reduces: kernels.flatMap((kernel) => (kernel.kind === "reduce" ? [kernel.shape] : [])),
  };
};

describe("stacked-rows: a batched matmul by one shared matrix as one GEMM", () => {
  it("a dense layer on [N, L, E] inputs is one [N·L, E] @ [E, F] kernel, epilogue kept", () => {
    const x = C.input("x", [3, 5, 4]);
    const w = C.param("w", [4, 6]);
    expect(shapes(graphOf({ y: C.matmul(x, w) }))).toEqual([{ batch: 1, m: 15, n: 6, k: 4, stackedBatch: 3 }]);
    const withBias = matmulKernels(graphOf({ y: C.relu(C.add(C.matmul(x, w), C.param("b", [6]))) }));
    expect(withBias.map((kernel) => [kernel.batch, kernel.m, kernel.stackedBatch, kernel.bias !== undefined, kernel.relu])).toEqual([[1, 15, 3, true, true]]);
    // nn.Linear's x @ Wᵀ: the shared matrix may be transposed
    expect(shapes(graphOf({ y: C.linear(x, C.param("lw", [6, 4])) }))).toEqual([{ batch: 1, m: 15, n: 6, k: 4, stackedBatch: 3 }]);
    // several batch dims stack too
    expect(shapes(graphOf({ y: C.matmul(C.input("x", [2, 3, 5, 4]), w) }))).toEqual([{ batch: 1, m: 30, n: 6, k: 4, stackedBatch: 6 }]);
  });

  it("the input gradient G @ Wᵀ stacks; batch 1 and 2-D operands are left alone", () => {
    const x = C.input("x", [3, 5, 4]);
    const y = C.matmul(x, C.param("w", [4, 6]));
    const kernels = shapes(graphOf({ y }, C.sum(C.mul(y, y))));
    expect(kernels).toContainEqual({ batch: 1, m: 15, n: 4, k: 6, stackedBatch: 3 });
    expect(shapes(graphOf({ y: C.matmul(C.input("x", [1, 5, 4]), C.param("w", [4, 6])) }))).toEqual([{ batch: 1, m: 5, n: 6, k: 4, stackedBatch: undefined }]);
    expect(shapes(graphOf({ y: C.matmul(C.input("x", [5, 4]), C.param("w", [4, 6])) }))).toEqual([{ batch: 1, m: 5, n: 6, k: 4, stackedBatch: undefined }]);
  });

  it("does not stack rows that are not stacked in memory, nor a batched right operand", () => {
    const w = C.param("w", [4, 6]);
    // each batch's matrix is the transpose of a contiguous [4, 5] block: columns, not rows, are contiguous
    expect(shapes(graphOf({ y: C.matmul(C.transpose(C.input("x", [3, 4, 5])), w) }))).toEqual([{ batch: 3, m: 5, n: 6, k: 4, stackedBatch: undefined }]);
    expect(shapes(graphOf({ y: C.matmul(C.input("x", [3, 5, 4]), C.input("v", [3, 4, 6])) }))).toEqual([{ batch: 3, m: 5, n: 6, k: 4, stackedBatch: undefined }]);
    // a left operand broadcast over the batch reads the same rows every time
    expect(shapes(graphOf({ y: C.matmul(C.input("x", [5, 4]), C.input("v", [3, 4, 6])) }))).toEqual([{ batch: 3, m: 5, n: 6, k: 4, stackedBatch: undefined }]);
  });

  it("describeRewrites names the stacked kernels", () => {
    const graph = graphOf({ y: C.matmul(C.input("x", [3, 5, 4]), C.param("w", [4, 6])) });
    const lowered = lowerGraph(graph, new Map());
    if (E.isLeft(lowered)) throw new Error(C.formatDiagnostics(lowered.left));
    const layout = { offsets: lowered.right.buffers.map(() => 0), buffers: lowered.right.buffers };
    expect(describeRewrites(lowered.right.kernels, layout, [])).toContain("stacked-rows (lowering): k0");
  });
});

interface Case {
  readonly name: string;
  readonly y: (x: C.Tensor, w: C.Tensor) => C.Tensor;
  readonly x: readonly number[];
  readonly w: readonly number[];
}

const CASES: readonly Case[] = [
  { name: "odd sizes [3, 7, 5] @ [5, 9]", x: [3, 7, 5], w: [5, 9], y: (x, w) => C.matmul(x, w) },
  { name: "batch 1 [1, 6, 4] @ [4, 3]", x: [1, 6, 4], w: [4, 3], y: (x, w) => C.matmul(x, w) },
  { name: "two batch dims [2, 3, 5, 7] @ [7, 4] + bias, relu", x: [2, 3, 5, 7], w: [7, 4], y: (x, w) => C.relu(C.add(C.matmul(x, w), C.mul(C.sum(w, [0]), 0.5))) },
  { name: "linear x @ Wᵀ [4, 5, 6] with W [3, 6]", x: [4, 5, 6], w: [3, 6], y: (x, w) => C.linear(x, w) },
  { name: "permuted left [5, 3, 4] → [3, 5, 4] @ [4, 6]", x: [5, 3, 4], w: [4, 6], y: (x, w) => C.matmul(C.permute(x, [1, 0, 2]), w) },
  { name: "transposed left [3, 4, 5]ᵀ @ [4, 6]", x: [3, 4, 5], w: [4, 6], y: (x, w) => C.matmul(C.transpose(x), w) },
  { name: "sliced left rows [3, 7, 4][:, 1:6] @ [4, 5]", x: [3, 7, 4], w: [4, 5], y: (x, w) => C.matmul(C.slice(x, 1, 1, 6), w) },
  { name: "m = 1 rows [6, 1, 5] @ [5, 3]", x: [6, 1, 5], w: [5, 3], y: (x, w) => C.matmul(x, w) },
];

const agree = (backend: Backend, backendName: string) =>
  it.each(CASES)(`${backendName}: $name — forward and gradients equal the f32 reference`, async ({ x: xShape, w: wShape, y: build }) => {
    const x = C.input("x", xShape);
    const w = C.input("w", wShape);
    const y = build(x, w);
    const g = C.input("g", y.shape);
    const built = C.buildGraph(C.model({ name: "case", outputs: { y }, loss: C.sum(C.mul(y, g)) }));
    if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
    const withGrads = grad(built.right, { inputs: ["x", "w"] });
    if (E.isLeft(withGrads)) throw new Error(C.formatDiagnostics(withGrads.left));
    const graph = withGrads.right;
    const feeds: Record<string, NDArray> = { x: randomArray(xShape, 11), w: randomArray(wShape, 12), g: randomArray(y.shape as number[], 13) };
    const session = await backend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 1 });
    const reference = C.run(graph, feeds, {}, { precision: "f32" });
    const outputs = session.run("f", hostFeeds(feeds));
    expect(Object.keys(reference).length).toBeGreaterThanOrEqual(3);
    for (const [output, expected] of Object.entries(reference)) {
      const actual = Array.from(outputs[output]?.data ?? []);
      expect(actual.length, output).toBe(expected.data.length);
      expected.data.forEach((e, i) => expect(Math.abs((actual[i] ?? NaN) - e), `${output}[${i}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(e))));
    }
  });

describe("batch-sum: a batched matmul summed over its batch as one GEMM", () => {
  const trained = (y: (x: C.Tensor) => C.Tensor, xShape: readonly number[]) => {
    const out = y(C.input("x", xShape));
    return graphOf({ y: out }, C.sum(C.mul(out, out)));
  };

  it("the weight gradient of a dense layer on [N, L, E] is one [E, N·L] @ [N·L, F] kernel, no reduction over the batch", () => {
    const { matmuls, reduces } = sums(trained((x) => C.matmul(x, C.param("w", [4, 6])), [3, 5, 4]));
    expect(matmuls).toContainEqual({ batch: 1, m: 4, n: 6, k: 15, summedBatch: 3 });
    expect(reduces.filter((shape) => shape.length === 3 && shape[1] === 4 && shape[2] === 6)).toEqual([]);
    // nn.Linear (x @ Wᵀ): the gradient of Wᵀ, read transposed by W's
    expect(sums(trained((x) => C.linear(x, C.param("lw", [6, 4])), [3, 5, 4])).matmuls).toContainEqual({ batch: 1, m: 4, n: 6, k: 15, summedBatch: 3 });
    // two batch dims
    expect(sums(trained((x) => C.matmul(x, C.param("w", [4, 6])), [2, 3, 5, 4])).matmuls).toContainEqual({ batch: 1, m: 4, n: 6, k: 30, summedBatch: 6 });
  });

  it("keeps the batched matmul and its reduction when the inner dim does not run on across the batch", () => {
    // transposed input: dW = Σ_b X_b G_b with X_b [4, 5] row-major — its inner dim (columns) does not run on into the next batch
    const transposed = sums(trained((x) => C.matmul(C.transpose(x), C.param("w", [4, 6])), [3, 4, 5]));
    expect(transposed.matmuls.every((kernel) => kernel.summedBatch === undefined)).toBe(true);
    expect(transposed.reduces).toContainEqual([3, 4, 6]);
    // a permuted input is copied contiguous once for the forward matmul; the gradient stacks that copy
    expect(sums(trained((x) => C.matmul(C.permute(x, [1, 0, 2]), C.param("w", [4, 6])), [5, 3, 4])).matmuls).toContainEqual({ batch: 1, m: 4, n: 6, k: 15, summedBatch: 3 });
    // a left operand broadcast over a batched right one: Σ_b G_b V_bᵀ reads G's rows, not its inner dim, across the batch
    const v = C.param("v", [3, 4, 6]);
    const broadcast = sums(trained((x) => C.matmul(x, v), [5, 4]));
    expect(broadcast.matmuls.every((kernel) => kernel.summedBatch === undefined)).toBe(true);
    expect(broadcast.reduces).toContainEqual([3, 5, 4]);
  });

  it("describeRewrites names the summed kernels", () => {
    const graph = trained((x) => C.matmul(x, C.param("w", [4, 6])), [3, 5, 4]);
    const lowered = lowerGraph(graph, new Map());
    if (E.isLeft(lowered)) throw new Error(C.formatDiagnostics(lowered.left));
    const layout = { offsets: lowered.right.buffers.map(() => 0), buffers: lowered.right.buffers };
    expect(describeRewrites(lowered.right.kernels, layout, []).some((line) => /^batch-sum \(lowering\): k\d+$/.test(line))).toBe(true);
  });
});

describe("stacked-rows and batch-sum agree with the reference on both back ends", () => {
  agree(jsBackend, "JS");
  agree(wasmBackend, "WASM");
});
