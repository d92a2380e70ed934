/**
 * @file Found by the layer fuzzer (fuzz-graphs.test.ts): a NaN (or ±inf) conv weight times the zero
 * padding. PyTorch (torch 1.13, im2col + GEMM) computes the padding taps, so every output is NaN:
 *   F.conv2d(torch.randn(1,1,6,5), tensor([[[[nan]]]]), tensor([0.486]), stride=2, padding=1) → all NaN
 * Every back end does the same: the WASM im2col + GEMM path and its direct depthwise kernel, the
 * reference semantics (core ops/conv.ts `forEachConvTap` visits the padding taps as zeros) and
 * the JS kernel; likewise a weight gradient over a cotangent with a NaN where the window reads
 * padding (0 · NaN). The transposed convolution drops the taps that land in the padding (as
 * PyTorch's col2im).
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { getBackend } from "../src/backend/index.js";
import { bundleProgram } from "../src/bundle/index.js";

/** conv2d of a 6×5 image with a 1×1 NaN weight, bias 0.486, stride 2, padding 1 (output 4×4) on `backend`. */
const convWithNanWeight = async (backend: "reference" | "js" | "wasm"): Promise<number[]> => {
  const x = C.input("x", [1, 1, 6, 5]);
  const weight = C.input("w", [1, 1, 1, 1]);
  const bias = C.input("b", [1]);
  const program = bundleProgram(C.model({ name: "conv_nan", outputs: { y: C.conv2d(x, weight, bias, { stride: 2, padding: 1 }) } }));
  if (E.isLeft(program)) throw new Error(C.formatDiagnostics(program.left));
  const session = await (await getBackend(backend)).createSession(program.right.spec);
  try {
    const feeds = {
      x: { shape: [1, 1, 6, 5], dtype: "f32" as const, data: Float32Array.from({ length: 30 }, (_, i) => (i % 7) - 3) },
      w: { shape: [1, 1, 1, 1], dtype: "f32" as const, data: Float32Array.of(Number.NaN) },
      b: { shape: [1], dtype: "f32" as const, data: Float32Array.of(0.486) },
    };
    return Array.from(session.run("forward", feeds).y?.data ?? [], Number);
  } finally {
    session.dispose();
  }
};

describe("conv2d: a NaN weight times the zero padding is NaN, as PyTorch", () => {
  for (const backend of ["wasm", "reference", "js"] as const)
    it(backend, async () => {
      const y = await convWithNanWeight(backend);
      expect(y).toHaveLength(16);
      expect(y.every(Number.isNaN)).toBe(true);
    });

  it("depthwise (the direct WASM kernel's edge columns and padding rows) and the weight gradient over a NaN cotangent, on every back end", async () => {
    // depthwise 3×3, padding 1: a NaN weight tap (0, 0) reaches every output, through the padding at the top row and left column
    const x = C.input("x", [1, 2, 5, 9]);
    const weight = C.input("w", [2, 1, 3, 3]);
    const y = C.conv2d(x, weight, undefined, { padding: 1, groups: 2 });
    // the weight gradient of a 1×1 conv with padding 1: the cotangent's border (taps on the padding) is NaN
    const dy = C.input("dy", [1, 1, 7, 11]);
    const x1 = C.input("x1", [1, 1, 5, 9]);
    const dw = C.conv2dWeightGradRaw(x1, dy, { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1, kernel: [1, 1] });
    const program = bundleProgram(C.model({ name: "conv_nan_depthwise", outputs: { y, dw } }));
    if (E.isLeft(program)) throw new Error(C.formatDiagnostics(program.left));
    const weights = Float32Array.from({ length: 18 }, (_, i) => (i === 0 ? Number.NaN : i / 10));
    const cotangent = Float32Array.from({ length: 77 }, (_, i) => (i === 0 ? Number.NaN : 1));
    for (const backend of ["reference", "js", "wasm"] as const) {
      const session = await (await getBackend(backend)).createSession(program.right.spec);
      try {
        const feeds = {
          x: { shape: [1, 2, 5, 9], dtype: "f32" as const, data: Float32Array.from({ length: 90 }, (_, i) => (i % 5) - 2) },
          w: { shape: [2, 1, 3, 3], dtype: "f32" as const, data: weights },
          dy: { shape: [1, 1, 7, 11], dtype: "f32" as const, data: cotangent },
          x1: { shape: [1, 1, 5, 9], dtype: "f32" as const, data: Float32Array.from({ length: 45 }, (_, i) => i) },
        };
        const out = session.run("forward", feeds);
        const channel0 = Array.from(out.y?.data ?? []).slice(0, 45);
        // channel 0 has the NaN weight: NaN everywhere (its first tap reads padding at row 0 / column 0, the image elsewhere); channel 1 is finite
        expect(channel0.every(Number.isNaN), `${backend} depthwise channel 0`).toBe(true);
        expect(Array.from(out.y?.data ?? []).slice(45).every(Number.isFinite), `${backend} depthwise channel 1`).toBe(true);
        expect(Number.isNaN(out.dw?.data[0]), `${backend} weight gradient`).toBe(true);
      } finally {
        session.dispose();
      }
    }
  });
});
