/**
 * @file Found by the layer fuzzer (fuzz-graphs.test.ts), left to the conv kernels' owners: a NaN
 * (or ±inf) conv weight times the zero padding. PyTorch (torch 1.13, im2col + GEMM) computes the
 * padding taps, so every output is NaN:
 *   F.conv2d(torch.randn(1,1,6,5), tensor([[[[nan]]]]), tensor([0.486]), stride=2, padding=1) → all NaN
 * The WASM back end (im2col + GEMM) does the same; the reference semantics (core ops/conv.ts) and
 * the JS kernel skip the padding taps, so the outputs whose window lies wholly in the padding are
 * the bias (0.486). `it.fails` marks the two that differ from PyTorch: when they are fixed, those
 * tests fail and become plain `it`.
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
  it("wasm", async () => {
    const y = await convWithNanWeight("wasm");
    expect(y).toHaveLength(16);
    expect(y.every(Number.isNaN)).toBe(true);
  });
  it.fails("reference (core ops/conv.ts skips the padding taps: the corner outputs are the bias)", async () => {
    expect((await convWithNanWeight("reference")).every(Number.isNaN)).toBe(true);
  });
  it.fails("js (skips the padding taps like the reference)", async () => {
    expect((await convWithNanWeight("js")).every(Number.isNaN)).toBe(true);
  });
  it("what the reference and js give today: the bias at the outputs whose 1×1 window is padding", async () => {
    for (const backend of ["reference", "js"] as const) {
      const y = await convWithNanWeight(backend);
      // output row 0 and columns 0 and 3 read padding only (stride 2, padding 1: padded rows 0, 2, 4, 6 of 8, columns 0, 2, 4, 6 of 7)
      const padding = (i: number): boolean => i < 4 || i % 4 === 0 || i % 4 === 3;
      expect(y.filter((_, i) => padding(i)).map((value) => Math.fround(value))).toEqual(new Array<number>(10).fill(Math.fround(0.486)));
      expect(y.filter((_, i) => !padding(i)).every(Number.isNaN)).toBe(true);
    }
  });
});
