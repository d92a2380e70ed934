/**
 * @file conv2d's gradients from `grad` (conv_transpose2d, conv2d_weight_grad, a sum) against
 * PyTorch 1.13's autograd of Σ conv2d(x, w, b)² (values printed by core/test/torch/conv_values.py).
 */
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { grad } from "../src/passes/grad.js";
import { TORCH } from "../../core/test/torch/conv-values.js";

const wave = (shape: readonly number[], f: (v: number) => number): C.NDArray => C.ndarray(shape, "f64", Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i + 1)));

describe("conv2d gradients vs PyTorch autograd (float64)", () => {
  it("∂/∂x, ∂/∂w, ∂/∂b of Σ conv2d(x, w, b; stride [2,1], padding [1,2], dilation [1,2], groups 2)²", () => {
    const feeds = { x: wave([2, 2, 4, 5], Math.sin), w: wave([4, 1, 3, 2], Math.cos), b: C.ndarray([4], "f64", [0.5, -0.25, 1, 2]) };
    const x = C.input("x", [2, 2, 4, 5], "f64");
    const w = C.input("w", [4, 1, 3, 2], "f64");
    const b = C.input("b", [4], "f64");
    const y = C.conv2d(x, w, b, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 });
    const built = C.buildGraph(C.model({ name: "conv", outputs: {}, loss: C.sum(C.mul(y, y)) }));
    if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
    const withGrads = grad(built.right, { inputs: ["x", "w", "b"] });
    if (E.isLeft(withGrads)) throw new Error(C.formatDiagnostics(withGrads.left));
    const outputs = C.run(withGrads.right, feeds);
    for (const [name, key] of [["grad:x", "conv2d_grad_x"], ["grad:w", "conv2d_grad_w"], ["grad:b", "conv2d_grad_b"]] as const) {
      const [shape, values] = TORCH[key] ?? [[], []];
      expect(outputs[name]?.shape, name).toEqual(shape);
      Array.from(outputs[name]?.data ?? []).forEach((v, i) => expect(Math.abs(v - (values[i] as number)), `${name}[${i}]`).toBeLessThan(1e-10));
    }
  });
});
