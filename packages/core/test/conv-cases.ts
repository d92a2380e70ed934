/**
 * @file Cases of the convolution and pooling rows for infer.test.ts (types and exact messages)
 * and interpreter.test.ts (values printed by PyTorch 1.13: torch/conv_values.py → torch/conv-values.ts).
 */
import * as g from "@graft/core";
import { input, type NDArray, type Tensor } from "@graft/core";
import { TORCH } from "./torch/conv-values.js";

type Good = readonly [description: string, build: () => Tensor, type: string];
type Bad = readonly [description: string, build: () => Tensor, message: string];
interface OpCases {
  readonly good: readonly Good[];
  readonly bad: readonly Bad[];
}
type ConvOp = "conv2d" | "conv_transpose2d" | "conv2d_weight_grad" | "conv1d" | "max_pool2d" | "max_pool2d_backward" | "avg_pool2d" | "adaptive_avg_pool2d" | "max_pool1d" | "avg_pool1d";

const f32 = (name: string, shape: g.Shape): Tensor => input(name, shape, "f32");
const x4 = () => f32("x", ["batch", 3, 8, 8]);
const geometry = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 } as const;
const window = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false } as const;

export const CONV_INFER: { readonly [K in ConvOp]: OpCases } = {
  conv2d: {
    good: [
      ["3×3, padding 1 keeps the size", () => g.conv2d(x4(), f32("w", [16, 3, 3, 3]), f32("b", [16]), { padding: 1 }), "f32[batch,16,8,8]"],
      ['"same" with dilation 2', () => g.conv2d(x4(), f32("w", [4, 3, 3, 2]), undefined, { padding: "same", dilation: 2 }), "f32[batch,4,8,8]"],
      ["stride 2, per-side padding, depthwise", () => g.conv2d(x4(), f32("w", [6, 1, 3, 3]), undefined, { stride: 2, padding: [1, 0, 2, 1], groups: 3 }), "f32[batch,6,4,5]"],
    ],
    bad: [
      ["wrong channel count", () => g.conv2d(f32("x", [1, 3, 32, 32]), f32("w", [6, 1, 5, 5])), "conv2d: input has 3 channels, weight expects 1 (weight f32[6,1,5,5])"],
      ["wrong channel count with groups", () => g.conv2d(f32("x", [1, 4, 8, 8]), f32("w", [4, 1, 3, 3]), undefined, { groups: 2 }), "conv2d: input has 4 channels, weight expects 2 (1 per group × 2 groups) (weight f32[4,1,3,3])"],
      ["groups do not divide the input channels", () => g.conv2d(x4(), f32("w", [4, 1, 3, 3]), undefined, { groups: 2 }), "conv2d: groups 2 must divide the input's 3 channels (input f32[batch,3,8,8])"],
      ["groups do not divide the output channels", () => g.conv2d(f32("x", [1, 4, 8, 8]), f32("w", [3, 2, 3, 3]), undefined, { groups: 2 }), "conv2d: groups 2 must divide the weight's 3 output channels (weight f32[3,2,3,3])"],
      ["kernel larger than the padded input", () => g.conv2d(f32("x", [1, 1, 2, 2]), f32("w", [1, 1, 5, 5]), undefined, { padding: 1 }), "conv2d: kernel 5×5 is larger than the padded input 4×4 (input f32[1,1,2,2], padding [1,1,1,1])"],
      ["dilated kernel larger than the input", () => g.conv2d(f32("x", [1, 1, 4, 4]), f32("w", [1, 1, 3, 3]), undefined, { dilation: 2 }), "conv2d: kernel 3×3 (dilated 5×5) is larger than the padded input 4×4 (input f32[1,1,4,4], padding [0,0,0,0])"],
      ["input not 4-D", () => g.conv2d(f32("x", [3, 8, 8]), f32("w", [4, 3, 3, 3])), "conv2d: input must be 4-D [batch, channels, height, width], got f32[3,8,8]"],
      ["weight not 4-D", () => g.conv2d(x4(), f32("w", [4, 3, 3])), "conv2d: weight must be 4-D [out_channels, in_channels/groups, kh, kw], got f32[4,3,3]"],
      ["bias of the wrong size", () => g.conv2d(x4(), f32("w", [4, 3, 3, 3]), f32("b", [3])), "conv2d: bias must be [4] (one per output channel), got f32[3]"],
      ['"same" with a stride', () => g.conv2d(x4(), f32("w", [4, 3, 3, 3]), undefined, { padding: "same", stride: 2 }), 'conv2d: padding "same" is not supported for strided convolutions (stride [2,2])'],
      ["negative padding", () => g.conv2d(x4(), f32("w", [4, 3, 3, 3]), undefined, { padding: -1 }), "conv2d: padding must be non-negative integers, got [-1,-1,-1,-1]"],
      ["named channel dim", () => g.conv2d(f32("x", ["batch", "c", 8, 8]), f32("w", [4, 3, 3, 3])), "conv2d: input f32[batch,c,8,8] needs concrete channel, height and width dims (only the batch may be named)"],
      ["dtype mismatch", () => g.conv2d(x4(), input("w", [4, 3, 3, 3], "f64")), "conv2d: dtype mismatch: f32[batch,3,8,8] and f64[4,3,3,3] (insert a cast)"],
    ],
  },
  conv_transpose2d: {
    good: [
      ["stride 2 doubles the size", () => g.convTranspose2d(x4(), f32("w", [3, 5, 4, 4]), f32("b", [5]), { stride: 2, padding: 1 }), "f32[batch,5,16,16]"],
      ["output padding and groups", () => g.convTranspose2d(x4(), f32("w", [3, 2, 3, 3]), undefined, { stride: 2, padding: 1, outputPadding: 1, groups: 3 }), "f32[batch,6,16,16]"],
    ],
    bad: [
      ["wrong channel count", () => g.convTranspose2d(x4(), f32("w", [4, 2, 3, 3])), "conv_transpose2d: input has 3 channels, weight expects 4 (weight f32[4,2,3,3])"],
      ["output padding too large", () => g.convTranspose2d(x4(), f32("w", [3, 2, 3, 3]), undefined, { stride: 2, outputPadding: 2 }), "convTranspose2d: outputPadding must be smaller than either stride or dilation, got outputPadding [2,2], stride [2,2], dilation [1,1]"],
    ],
  },
  conv2d_weight_grad: {
    good: [["a conv's weight shape", () => g.conv2dWeightGradRaw(x4(), f32("dy", ["batch", 4, 6, 6]), { ...geometry, kernel: [3, 3] }), "f32[4,3,3,3]"]],
    bad: [["cotangent of the wrong size", () => g.conv2dWeightGradRaw(x4(), f32("dy", ["batch", 4, 5, 6]), { ...geometry, kernel: [3, 3] }), "conv2d_weight_grad: output gradient f32[batch,4,5,6] does not match the convolution of f32[batch,3,8,8] (expected [batch,4,6,6])"]],
  },
  conv1d: {
    good: [["same padding", () => g.conv1d(f32("x", ["batch", 4, 10]), f32("w", [8, 2, 3]), f32("b", [8]), { padding: "same", groups: 2 }), "f32[batch,8,10]"]],
    bad: [
      ["wrong channel count", () => g.conv1d(f32("x", ["batch", 4, 10]), f32("w", [8, 3, 3])), "conv1d: input has 4 channels, weight expects 3 (weight f32[8,3,3])"],
      ["input not 3-D", () => g.conv1d(x4(), f32("w", [8, 3, 3])), "conv1d: input must be 3-D [batch, channels, length], got f32[batch,3,8,8]"],
    ],
  },
  max_pool2d: {
    good: [
      ["2×2 halves the size", () => g.maxPool2d(x4(), 2), "f32[batch,3,4,4]"],
      ["ceil mode", () => g.maxPool2d(f32("x", [1, 1, 5, 5]), 2, { ceilMode: true }), "f32[1,1,3,3]"],
    ],
    bad: [
      ["padding over half the kernel", () => g.maxPool2d(x4(), 2, { padding: 2 }), "max_pool2d: padding [2,2] must be at most half of the effective kernel size 2×2"],
      ["kernel larger than the input", () => g.maxPool2d(f32("x", [1, 1, 2, 2]), 3), "max_pool2d: kernel 3×3 is larger than the padded input 2×2 (input f32[1,1,2,2], padding [0,0,0,0])"],
      ["zero kernel", () => g.maxPool2d(x4(), 0), "maxPool2d: kernel size must be positive integers, got [0,0]"],
    ],
  },
  max_pool2d_backward: {
    good: [["the input's shape", () => g.maxPool2dBackwardRaw(x4(), f32("dy", ["batch", 3, 4, 4]), window), "f32[batch,3,8,8]"]],
    bad: [["cotangent of the wrong shape", () => g.maxPool2dBackwardRaw(x4(), f32("dy", ["batch", 3, 4, 5]), window), "max_pool2d_backward: output gradient f32[batch,3,4,5] must be f32[batch,3,4,4]"]],
  },
  avg_pool2d: {
    good: [["3×3 stride 2 padding 1", () => g.avgPool2d(x4(), 3, { stride: 2, padding: 1, countIncludePad: false }), "f32[batch,3,4,4]"]],
    bad: [["not 4-D", () => g.avgPool2d(f32("x", [8, 8]), 2), "avg_pool2d: input must be 4-D [batch, channels, height, width], got f32[8,8]"]],
  },
  adaptive_avg_pool2d: {
    good: [
      ["global", () => g.adaptiveAvgPool2d(x4(), 1), "f32[batch,3,1,1]"],
      ["larger than the input", () => g.adaptiveAvgPool2d(x4(), [10, 3]), "f32[batch,3,10,3]"],
    ],
    bad: [["zero size", () => g.adaptiveAvgPool2d(x4(), 0), "adaptiveAvgPool2d: output size must be positive integers, got [0,0]"]],
  },
  max_pool1d: {
    good: [["stride 2", () => g.maxPool1d(f32("x", ["batch", 3, 9]), 3, { stride: 2, padding: 1 }), "f32[batch,3,5]"]],
    bad: [["not 3-D", () => g.maxPool1d(x4(), 2), "max_pool1d: input must be 3-D [batch, channels, length], got f32[batch,3,8,8]"]],
  },
  avg_pool1d: {
    good: [["default stride", () => g.avgPool1d(f32("x", ["batch", 3, 9]), 2), "f32[batch,3,4]"]],
    bad: [["kernel larger than the input", () => g.avgPool1d(f32("x", [1, 1, 2]), 3), "avg_pool1d: kernel 3 is larger than the padded input 2 (input f32[1,1,2], padding 0)"]],
  },
};

// ----- values (PyTorch 1.13, float64) -------------------------------------------------------

/** sin(1), sin(2), … / cos(1), … in `shape`, as torch/conv_values.py builds its inputs. */
const wave = (shape: readonly number[], f: (v: number) => number): NDArray => g.ndarray(shape, "f64", Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i + 1)));
const X = wave([2, 2, 4, 5], Math.sin);
const W = wave([4, 1, 3, 2], Math.cos);
const B = g.ndarray([4], "f64", [0.5, -0.25, 1, 2]);
const SEQ = wave([1, 2, 7], Math.cos);
const W1 = wave([2, 2, 3], Math.sin);
const WT = wave([2, 3, 2, 2], Math.sin);
/** torch's w[:2].reshape(2,1,3,2).repeat(1,2,1,1). */
const WSAME = g.ndarray([2, 2, 3, 2], "f64", [0, 1].flatMap((o) => [0, 1].flatMap(() => Array.from(W.data.slice(o * 6, o * 6 + 6)))));

const TIES = g.ndarray([1, 1, 3, 3], "f64", [1, 1, 0, 1, 1, 0, 0, 0, 0]);

interface ValueCase {
  readonly description: string;
  readonly out: () => Tensor;
  readonly feeds?: Readonly<Record<string, NDArray>>;
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

const torchCase = (description: string, key: string, out: () => Tensor, feeds: Readonly<Record<string, NDArray>>): ValueCase => {
  const entry = TORCH[key];
  if (entry === undefined) throw new Error(`no torch value ${key}`);
  return { description: `${description} (PyTorch)`, out, feeds, shape: entry[0], data: entry[1] };
};
const inp = (name: string, a: NDArray): Tensor => input(name, a.shape, "f64");

export const CONV_VALUES: { readonly [K in ConvOp]: readonly ValueCase[] } = {
  conv2d: [
    torchCase("stride, padding, dilation, groups, bias", "conv2d", () => g.conv2d(inp("x", X), inp("w", W), inp("b", B), { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 }), { x: X, w: W, b: B }),
    torchCase('"same" with an even kernel width', "conv2d_same", () => g.conv2d(inp("x", X), inp("w", WSAME), undefined, { padding: "same" }), { x: X, w: WSAME }),
  ],
  conv_transpose2d: [
    torchCase("stride 2, padding 1, output padding 1", "conv_transpose2d", () => g.convTranspose2d(inp("x", X), inp("w", WT), undefined, { stride: 2, padding: 1, outputPadding: 1 }), { x: X, w: WT }),
  ],
  conv2d_weight_grad: [
    torchCase("∂ Σ conv2d(x, w)² / ∂w", "conv2d_grad_w", () => {
      const options = { stride: [2, 1], padding: [1, 1, 2, 2], dilation: [1, 2], groups: 2 } as const;
      const x = inp("x", X);
      const y = g.conv2d(x, inp("w", W), inp("b", B), options);
      return g.conv2dWeightGradRaw(x, g.mul(y, 2), { ...options, kernel: [3, 2] });
    }, { x: X, w: W, b: B }),
  ],
  conv1d: [torchCase("stride 2, padding 1", "conv1d", () => g.conv1d(inp("x", SEQ), inp("w", W1), undefined, { stride: 2, padding: 1 }), { x: SEQ, w: W1 })],
  max_pool2d: [
    torchCase("3×3 stride 2 padding 1", "max_pool2d", () => g.maxPool2d(inp("x", X), 3, { stride: 2, padding: 1 }), { x: X }),
    torchCase("ceil mode", "max_pool2d_ceil", () => g.maxPool2d(inp("x", X), 2, { ceilMode: true }), { x: X }),
  ],
  max_pool2d_backward: [
    torchCase("ties: each window's cotangent goes to its first maximum", "max_pool2d_ties_grad", () => g.maxPool2dBackwardRaw(inp("t", TIES), g.constant([[[[1, 1], [1, 1]]]], "f64"), { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false }), { t: TIES }),
  ],
  avg_pool2d: [
    torchCase("countIncludePad false", "avg_pool2d_exclude", () => g.avgPool2d(inp("x", X), 3, { stride: 2, padding: 1, countIncludePad: false }), { x: X }),
    torchCase("ceil mode", "avg_pool2d_ceil", () => g.avgPool2d(inp("x", X), 2, { ceilMode: true }), { x: X }),
  ],
  adaptive_avg_pool2d: [torchCase("4×5 → 3×2 (overlapping windows)", "adaptive_avg_pool2d", () => g.adaptiveAvgPool2d(inp("x", X), [3, 2]), { x: X })],
  max_pool1d: [torchCase("stride 2 padding 1", "max_pool1d", () => g.maxPool1d(inp("x", SEQ), 3, { stride: 2, padding: 1 }), { x: SEQ })],
  avg_pool1d: [torchCase("kernel 2", "avg_pool1d", () => g.avgPool1d(inp("x", SEQ), 2), { x: SEQ })],
};
