/**
 * @file The WASM convolution and pooling fast paths against the f32 reference: pooling windows
 * inside the input (unrolled taps, branch-free maxima) and at the padding / ceil-mode edges
 * (checked taps), with ties and NaN; the interior range the pool kernel derives from the geometry.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import { loadWasmToolkit, wasmBackend } from "../src/backend/wasm/backend.js";
import { interiorRange } from "../src/backend/wasm/pool.js";
import { grad } from "../src/passes/grad.js";
import { hostFeeds } from "./backend-cases.js";

const graphWithGradients = (loss: C.Tensor, outputs: Record<string, C.Tensor>, inputs: readonly string[]): Graph => {
  const built = C.buildGraph(C.model({ name: "fast_paths", outputs, loss }));
  if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
  const withGrads = grad(built.right, { inputs });
  if (E.isLeft(withGrads)) throw new Error(C.formatDiagnostics(withGrads.left));
  return withGrads.right;
};

/** WASM vs the f32 reference, NaN where the reference has NaN, ±∞ exactly, else within 2e-5 relative to the output's scale. */
const agree = async (graph: Graph, feeds: Record<string, NDArray>, label: string): Promise<void> => {
  await loadWasmToolkit();
  const reference = C.run(graph, feeds, {}, { precision: "f32" });
  const session = await wasmBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 1 });
  const outputs = session.run("f", hostFeeds(feeds));
  for (const [name, expected] of Object.entries(reference)) {
    const actual = Array.from(outputs[name]?.data ?? []);
    expect(actual.length, `${label} ${name}: length`).toBe(expected.data.length);
    const finite = Array.from(expected.data).filter(Number.isFinite);
    const scale = Math.max(1, ...finite.map(Math.abs));
    for (let i = 0; i < expected.data.length; i++) {
      const want = expected.data[i] as number;
      const got = actual[i] as number;
      const where = `${label} ${name}[${i}]: ${got} vs ${want}`;
      if (Number.isNaN(want)) expect(Number.isNaN(got), where).toBe(true);
      else if (!Number.isFinite(want)) expect(got, where).toBe(want);
      else expect(Math.abs(got - want), where).toBeLessThanOrEqual(2e-5 * scale);
    }
  }
};

describe("WASM pooling: unrolled interior windows and checked edge windows", () => {
  it("interiorRange holds exactly the output positions whose taps all lie inside the input", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 14 }),
        (size, kernel, stride, pad, dilation, outSize) => {
          const [lo, hi] = interiorRange(size, outSize, kernel, stride, pad, dilation);
          for (let o = 0; o < outSize; o++) {
            const first = o * stride - pad;
            const last = first + (kernel - 1) * dilation;
            expect(o >= lo && o < hi, `o=${o} taps ${first}..${last} of ${size}`).toBe(first >= 0 && last < size);
          }
        },
      ),
      { seed: 5, numRuns: 400 },
    );
  });

  // ties (first maximum wins), NaN (beats a number) and −∞ in windows inside the input and at its padded edges
  const tricky = (size: number, seed: number): number[] =>
    Array.from({ length: size }, (_, i) => {
      const r = (i * 7919 + seed * 104729) % 23;
      return r === 0 ? Number.NaN : r === 1 ? -Infinity : r < 8 ? 2 : (r % 5) - 2;
    });

  for (const [label, options, kernel, shape] of [
    ["3×3 stride 2 padding 1, ceil mode", { stride: 2, padding: 1, ceilMode: true }, 3, [2, 3, 9, 11]],
    ["2×2 stride 2 (the CNN's pools), odd sizes", { stride: 2, ceilMode: true }, 2, [1, 2, 7, 9]],
    ["2×3 kernel, stride 1, dilation 2, padding [1, 2]", { stride: 1, padding: [1, 2], dilation: 2 }, [2, 3], [1, 2, 8, 10]],
  ] as const) {
    it(`max pooling and its gradient, ${label}: ties, NaN and −∞ agree with the reference`, async () => {
      const x = C.input("x", [...shape]);
      const y = C.maxPool2d(x, kernel, options);
      const weights = C.input("g", [...shape.slice(0, 2), 1, 1]);
      const graph = graphWithGradients(C.sum(C.mul(y, weights)), { y }, ["x"]);
      const size = shape.reduce<number>((a, b) => a * b, 1);
      const g = Array.from({ length: shape[0] * shape[1] }, (_, i) => i + 1);
      await agree(graph, { x: C.ndarray([...shape], "f32", tricky(size, 3)), g: C.ndarray([...shape.slice(0, 2), 1, 1], "f32", g) }, label);
    });
  }

  it("average pooling with and without the padding in the count, interior and edge windows", async () => {
    for (const countIncludePad of [true, false]) {
      const x = C.input("x", [2, 2, 9, 10]);
      const y = C.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad });
      const graph = graphWithGradients(C.sum(C.mul(y, y)), { y }, ["x"]);
      const values = Array.from({ length: 360 }, (_, i) => Math.sin(i * 0.7) * 3);
      await agree(graph, { x: C.ndarray([2, 2, 9, 10], "f32", values) }, `avg countIncludePad=${countIncludePad}`);
    }
  });
});

/** A conv geometry wide enough for the f32x4 col2im rows and the transposed weight gradient (og ≥ 8). */
const wideConv = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 2 }),
    cg: fc.integer({ min: 1, max: 5 }),
    og: fc.integer({ min: 6, max: 18 }),
    kernel: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    h: fc.integer({ min: 5, max: 11 }),
    w: fc.integer({ min: 5, max: 15 }),
  })
  .filter((s) => s.h + s.padding[0] + s.padding[1] >= s.dilation[0] * (s.kernel[0] - 1) + 1 && s.w + s.padding[2] + s.padding[3] >= s.dilation[1] * (s.kernel[1] - 1) + 1);

type WideConv = typeof wideConv extends fc.Arbitrary<infer T> ? T : never;

const values = (size: number, seed: number): number[] => Array.from({ length: size }, (_, i) => Math.sin(i * 0.37 + seed) * 0.5 + Math.cos(i * 0.11 * seed));

const convGraph = (s: WideConv): { graph: Graph; feeds: Record<string, NDArray> } => {
  const xShape = [s.n, s.groups * s.cg, s.h, s.w];
  const wShape = [s.groups * s.og, s.cg, ...s.kernel];
  const x = C.input("x", xShape);
  const w = C.input("w", wShape);
  const b = C.input("b", [s.groups * s.og]);
  const options = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
  const y = C.conv2d(x, w, b, options);
  // the loss's gradient reaches x through conv_transpose2d (col2im) and w through conv2d_weight_grad
  const graph = graphWithGradients(C.sum(C.mul(y, y)), { y }, ["x", "w", "b"]);
  const size = (shape: readonly number[]): number => shape.reduce((p, q) => p * q, 1);
  return { graph, feeds: { x: C.ndarray(xShape, "f32", values(size(xShape), 1)), w: C.ndarray(wShape, "f32", values(size(wShape), 2)), b: C.ndarray([s.groups * s.og], "f32", values(s.groups * s.og, 3)) } };
};

describe("WASM convolution: f32x4 col2im rows, transposed weight gradients, pointwise and depthwise shapes", () => {
  it("random wide geometries (stride, padding, dilation, groups, odd widths): forward and both gradients agree with the reference", async () => {
    const cases = fc.sample(wideConv, { seed: 91, numRuns: 14 });
    for (const s of cases) {
      const { graph, feeds } = convGraph(s);
      await agree(graph, feeds, JSON.stringify(s));
    }
  });

  for (const [label, s] of [
    ["1×1 (the image is the col matrix), og 16 > K", { n: 2, groups: 1, cg: 24, og: 16, kernel: [1, 1], stride: [1, 1], dilation: [1, 1], padding: [0, 0, 0, 0], h: 5, w: 7 }],
    ["batch 1, 5×5, og 32 < K 400 (the mnist-cnn conv2)", { n: 1, groups: 1, cg: 16, og: 32, kernel: [5, 5], stride: [1, 1], dilation: [1, 1], padding: [0, 0, 0, 0], h: 12, w: 12 }],
    ["depthwise 3×3 padding 1, odd width", { n: 2, groups: 6, cg: 1, og: 1, kernel: [3, 3], stride: [1, 1], dilation: [1, 1], padding: [1, 1, 1, 1], h: 9, w: 13 }],
    ["depthwise 3×3 stride 2, channel multiplier 2", { n: 1, groups: 4, cg: 1, og: 2, kernel: [3, 3], stride: [2, 2], dilation: [1, 1], padding: [1, 1, 1, 1], h: 8, w: 11 }],
    ["depthwise 5×3 dilation 2, asymmetric padding, multiplier 3, width 17", { n: 2, groups: 3, cg: 1, og: 3, kernel: [5, 3], stride: [1, 1], dilation: [2, 2], padding: [2, 1, 0, 3], h: 10, w: 17 }],
    ["depthwise 7×7 padding 3, stride [1, 2]", { n: 1, groups: 2, cg: 1, og: 1, kernel: [7, 7], stride: [1, 2], dilation: [1, 1], padding: [3, 3, 3, 3], h: 9, w: 12 }],
  ] as const) {
    it(`${label}: forward and both gradients agree with the reference`, async () => {
      const { graph, feeds } = convGraph({ ...s, kernel: [...s.kernel], stride: [...s.stride], dilation: [...s.dilation], padding: [...s.padding] });
      await agree(graph, feeds, label);
    });
  }
});
