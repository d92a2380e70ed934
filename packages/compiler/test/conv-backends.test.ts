/**
 * @file Convolution and pooling on the JS and WASM back ends against the f32 reference, over
 * random geometries (stride, per-side padding, dilation, groups incl. depthwise, ceil mode):
 * forward outputs and the gradients `grad` builds (conv_transpose2d, conv2d_weight_grad,
 * max_pool2d_backward), i.e. every conv/pool kernel in both back ends.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import { jsBackend } from "../src/backend/js/backend.js";
import { loadWasmToolkit, wasmBackend } from "../src/backend/wasm/backend.js";
import type { Backend } from "../src/backend/types.js";
import { randomArray } from "./backend-cases.js";
import { agreeWithReference, gradientGraph } from "./reference-agreement.js";
import { convShape, poolShape, type ConvShape } from "./grad-conv-cases.js";

const graphWithGradients = (loss: C.Tensor, outputs: Record<string, C.Tensor>, inputs: readonly string[]): Graph => gradientGraph("conv", loss, outputs, inputs);

/** Every output of `graph` on `backend` equals the f32 reference (finite values within 2e-5 of the output's scale). */
const agree = (backend: Backend, graph: Graph, feeds: Record<string, NDArray>, label: string): Promise<void> => agreeWithReference(backend, graph, feeds, label, 2e-5);

const convCase = (s: ConvShape, seed: number) => {
  const x = C.input("x", [s.n, s.groups * s.cg, s.h, s.w]);
  const w = C.input("w", [s.groups * s.og, s.cg, ...s.kernel]);
  const b = C.input("b", [s.groups * s.og]);
  const y = C.conv2d(x, w, b, { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups });
  const t = C.convTranspose2d(y, w, undefined, { stride: s.stride, dilation: s.dilation, groups: s.groups });
  const graph = graphWithGradients(C.add(C.sum(C.mul(y, y)), C.sum(C.mul(t, t))), { y, t }, ["x", "w", "b"]);
  const feeds = { x: randomArray([s.n, s.groups * s.cg, s.h, s.w], seed), w: randomArray([s.groups * s.og, s.cg, ...s.kernel], seed + 1), b: randomArray([s.groups * s.og], seed + 2) };
  return { graph, feeds };
};

const poolCase = (s: ReturnType<typeof poolOf>, seed: number) => {
  const x = C.input("x", [...s.planes, s.h, s.w]);
  const max = C.maxPool2d(x, s.kernel, { stride: s.stride, padding: s.padding, dilation: s.dilation, ceilMode: s.ceilMode });
  const avg = C.avgPool2d(x, s.kernel, { stride: s.stride, padding: s.padding, ceilMode: s.ceilMode, countIncludePad: seed % 2 === 0 });
  const adaptive = C.adaptiveAvgPool2d(x, [1 + (seed % 3), 2]);
  const graph = graphWithGradients(C.add(C.add(C.sum(C.mul(max, max)), C.sum(C.mul(avg, avg))), C.sum(C.mul(adaptive, adaptive))), { max, avg, adaptive }, ["x"]);
  // distinct values: no ties inside a window (the tie rule has its own value test)
  const size = s.planes[0] * s.planes[1] * s.h * s.w;
  const values = Array.from({ length: size }, (_, i) => ((i * 7919 + seed * 104729) % (size * 3)) / 8 - size / 4);
  return { graph, feeds: { x: C.ndarray([...s.planes, s.h, s.w], "f32", values) } };
};
const poolOf = (s: { planes: [number, number]; kernel: [number, number]; stride: [number, number]; dilation: [number, number]; ceilMode: boolean; padding: [number, number]; h: number; w: number }) => s;

for (const [name, backend] of [
  ["JS", async () => jsBackend],
  ["WASM", async () => (await loadWasmToolkit(), wasmBackend)],
] as const) {
  describe(`${name} back end: convolution and pooling vs the reference (random geometries, forward and gradients)`, () => {
    it("conv2d (+ bias, groups), conv_transpose2d and their gradients", async () => {
      const cases = fc.sample(convShape, { seed: 77, numRuns: 12 });
      for (const [index, s] of cases.entries()) {
        const { graph, feeds } = convCase(s, 100 + index);
        await agree(await backend(), graph, feeds, `${name} ${JSON.stringify(s)}`);
      }
    });
    it("max/avg/adaptive pooling and their gradients", async () => {
      const cases = fc.sample(poolShape, { seed: 78, numRuns: 12 });
      for (const [index, s] of cases.entries()) {
        const { graph, feeds } = poolCase(poolOf(s), index);
        await agree(await backend(), graph, feeds, `${name} ${JSON.stringify(s)}`);
      }
    });
    it("1×1 convolutions (read the image as the col matrix on WASM) and their gradients", async () => {
      const x = C.input("x", [2, 4, 3, 5]);
      const w = C.input("w", [6, 2, 1, 1]);
      const y = C.conv2d(x, w, undefined, { groups: 2 });
      const t = C.convTranspose2d(y, w, undefined, { groups: 2 });
      const graph = graphWithGradients(C.add(C.sum(C.mul(y, y)), C.sum(C.mul(t, t))), { y, t }, ["x", "w"]);
      await agree(await backend(), graph, { x: randomArray([2, 4, 3, 5], 5), w: randomArray([6, 2, 1, 1], 6) }, `${name} 1×1`);
    });
    it("max pooling ties: the cotangent goes to each window's first maximum, as the reference (and PyTorch)", async () => {
      const x = C.input("x", [1, 2, 3, 3]);
      const y = C.maxPool2d(x, 2, { stride: 1 });
      const graph = graphWithGradients(C.sum(C.mul(y, C.constant([[[[1, 2], [3, 4]]]]))), { y }, ["x"]);
      const ties = [1, 1, 0, 1, 1, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5, 5, 5, 5];
      await agree(await backend(), graph, { x: C.ndarray([1, 2, 3, 3], "f32", ties) }, `${name} ties`);
      const reference = C.run(graph, { x: C.ndarray([1, 2, 3, 3], "f32", ties) }, {}, { precision: "f32" });
      expect(Array.from(reference["grad:x"]?.data ?? [])).toEqual([1, 2, 0, 3, 4, 0, 0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 0]);
    });
  });
}
