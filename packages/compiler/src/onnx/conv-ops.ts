/**
 * @file ONNX rows of the convolution and pooling ops: Conv, ConvTranspose, MaxPool, AveragePool,
 * GlobalAveragePool (opset 13+; ONNX pads are [begin…, end…]), and the gradient primitives of a
 * training step in standard ops: conv2d_weight_grad is a Conv over the batch (the image's channels
 * as the batch, the output gradient as the kernel, strides and dilations swapped), grouped by
 * reshaping the channels into groups; max_pool2d_backward is MaxPool's Indices output plus a
 * ScatterElements with reduction=add (opset 16+; ties go to the first maximum, as in PyTorch).
 * Gradients can carry negative padding (ONNX pads cannot): a conv's input is then cropped by a
 * Slice, a transposed conv's output extended by a Pad with zeros (as is its output padding).
 */
import * as E from "fp-ts/lib/Either.js";
import type { OpName } from "@graft/core";
import type { Emitter } from "./emitter.js";
import { onnxDataType } from "./proto.js";
import type { Lowering, LoweringNode } from "./ops.js";

type ConvRows = { readonly [K in "conv2d" | "conv_transpose2d" | "conv2d_weight_grad" | "conv1d" | "max_pool2d" | "max_pool2d_backward" | "avg_pool2d" | "adaptive_avg_pool2d" | "max_pool1d" | "avg_pool1d"]: Lowering<K> };

const inputsOf = (node: LoweringNode<OpName>): string[] => [...node.inputs];
const first = (node: LoweringNode<OpName>): string => node.inputs[0] ?? "";

/**
 * A conv's input with negative padding (a gradient's crop) cropped by Slice, and the padding
 * that is left (non-negative, ONNX's [top, left, bottom, right]): a conv over an input with −k
 * padding on a side is the conv over the input without its k outer rows there.
 */
const cropNegativePadding = (e: Emitter, x: string, padding: readonly number[], h: number, w: number): { readonly x: string; readonly pads: number[]; readonly h: number; readonly w: number } => {
  const [pt = 0, pb = 0, pl = 0, pr = 0] = padding;
  const crop = [pt, pb, pl, pr].map((p) => Math.max(0, -p));
  const [ct = 0, cb = 0, cl = 0, cr = 0] = crop;
  const pads = [pt, pl, pb, pr].map((p) => Math.max(0, p));
  if (crop.every((c) => c === 0)) return { x, pads, h, w };
  const sliced = e.op("Slice", [x, e.int64s([ct, cl]), e.int64s([h - cb, w - cr]), e.int64s([2, 3])]);
  return { x: sliced, pads, h: h - ct - cb, w: w - cl - cr };
};

const pool = (e: Emitter, opType: "MaxPool" | "AveragePool", x: string, kernel: readonly number[], stride: readonly number[], pads: readonly number[], ceilMode: boolean, extra: Readonly<Record<string, number | number[]>>): string =>
  e.op(opType, [x], { kernel_shape: [...kernel], strides: [...stride], pads: [...pads], ceil_mode: ceilMode ? 1 : 0, ...extra });

export const convOnnxRows: ConvRows = {
  conv2d: (e, node) => {
    const [, , h, w] = node.inputTypes[0]?.shape ?? [];
    const { padding } = node.attrs;
    if (padding.some((p) => p < 0) && (typeof h !== "number" || typeof w !== "number")) return E.left(`negative padding [${padding.join(",")}] (a gradient's crop) of the symbolic spatial dims ${String(h)}×${String(w)} has no ONNX lowering`);
    const input = cropNegativePadding(e, first(node), padding, typeof h === "number" ? h : 0, typeof w === "number" ? w : 0);
    return E.right(e.op("Conv", [input.x, ...inputsOf(node).slice(1)], { strides: [...node.attrs.stride], pads: input.pads, dilations: [...node.attrs.dilation], group: node.attrs.groups }));
  },
  // output padding adds zero rows past the last one any input reaches, so it is end padding taken
  // back (ORT rejects output_padding ≥ stride, which PyTorch allows with dilation); padding that is
  // then negative (also average pooling's gradient over rows the pool never read) extends the
  // output with zeros
  conv_transpose2d: (e, node) => {
    const [pt, pb, pl, pr] = node.attrs.padding;
    const [oph, opw] = node.attrs.outputPadding;
    const padding = [pt, pl, pb - oph, pr - opw];
    const out = e.op("ConvTranspose", inputsOf(node), { strides: [...node.attrs.stride], pads: padding.map((p) => Math.max(0, p)), dilations: [...node.attrs.dilation], group: node.attrs.groups });
    const grow = padding.map((p) => Math.max(0, -p));
    const [gt = 0, gl = 0, gb = 0, gr = 0] = grow;
    return E.right(grow.every((g) => g === 0) ? out : e.op("Pad", [out, e.int64s([0, 0, gt, gl, 0, 0, gb, gr]), e.scalar(node.type.dtype, 0)], { mode: "constant" }));
  },
  conv2d_weight_grad: (e, node) => {
    const [xType, gType] = node.inputTypes;
    const [, c, h, w] = xType?.shape ?? [];
    const [, o, ho, wo] = gType?.shape ?? [];
    const { groups, stride, dilation, kernel } = node.attrs;
    if (typeof c !== "number" || typeof h !== "number" || typeof w !== "number" || typeof o !== "number" || typeof ho !== "number" || typeof wo !== "number")
      return E.left(`conv2d_weight_grad needs concrete channel and spatial dims, got input [${(xType?.shape ?? []).join(",")}] and output gradient [${(gType?.shape ?? []).join(",")}]`);
    const input = cropNegativePadding(e, node.inputs[0] ?? "", node.attrs.padding, h, w);
    const { x } = input;
    const g = node.inputs[1] ?? "";
    const cg = c / groups;
    const og = o / groups;
    // image [N, G·Cg, H, W] → [Cg, G·N, H, W]: channels within a group are the batch, (group, n) the channels
    const images = e.op("Reshape", [e.op("Transpose", [e.op("Reshape", [x, e.int64s([0, groups, cg, input.h, input.w])])], { perm: [2, 1, 0, 3, 4] }), e.int64s([cg, -1, input.h, input.w])]);
    // output gradient [N, G·Og, Ho, Wo] → [G·Og, N, Ho, Wo]: the kernel, grouped by G
    const kernels = e.op("Reshape", [e.op("Transpose", [e.op("Reshape", [g, e.int64s([0, groups, og, ho, wo])])], { perm: [1, 2, 0, 3, 4] }), e.int64s([o, -1, ho, wo])]);
    const swept = e.op("Conv", [images, kernels], { strides: [...dilation], dilations: [...stride], pads: input.pads, group: groups });
    // [Cg, O, ≥kh, ≥kw]: rows past the kernel come from bottom/right padding the forward never reached
    const cropped = e.op("Slice", [swept, e.int64s([0, 0]), e.int64s([kernel[0], kernel[1]]), e.int64s([2, 3])]);
    return E.right(e.op("Transpose", [cropped], { perm: [1, 0, 2, 3] }));
  },
  conv1d: (e, node) =>
    E.right(e.op("Conv", inputsOf(node), { strides: [node.attrs.stride], pads: [node.attrs.padding[0], node.attrs.padding[1]], dilations: [node.attrs.dilation], group: node.attrs.groups })),
  max_pool2d: (e, node) => {
    const { kernel, stride, padding, dilation, ceilMode } = node.attrs;
    return E.right(pool(e, "MaxPool", first(node), kernel, stride, [padding[0], padding[1], padding[0], padding[1]], ceilMode, { dilations: [...dilation] }));
  },
  max_pool2d_backward: (e, node) => {
    if (e.opset < 16) return E.left(`max_pool2d_backward (max pooling's gradient) needs ScatterElements with reduction=add, opset 16 or later (exporting opset ${e.opset}); use --opset 16`);
    const { kernel, stride, padding, dilation, ceilMode } = node.attrs;
    const [x, g] = [node.inputs[0] ?? "", node.inputs[1] ?? ""];
    const [, indices = ""] = e.opOutputs("MaxPool", [x], 2, { kernel_shape: [...kernel], strides: [...stride], pads: [padding[0], padding[1], padding[0], padding[1]], ceil_mode: ceilMode ? 1 : 0, dilations: [...dilation] });
    const shape = e.op("Shape", [x]);
    const flat = e.int64s([-1]);
    const zeros = e.op("ConstantOfShape", [e.op("ReduceProd", [shape], { keepdims: 1 })], { value: { tensor: { name: "zero", dataType: onnxDataType(node.type.dtype), dims: [1], rawData: new Uint8Array(node.type.dtype === "f64" ? 8 : 4) } } });
    // Indices are positions in the whole flattened input: scatter-add each window's gradient there
    const scattered = e.op("ScatterElements", [zeros, e.op("Reshape", [indices, flat]), e.op("Reshape", [g, flat])], { axis: 0, reduction: "add" });
    return E.right(e.op("Reshape", [scattered, shape]));
  },
  avg_pool2d: (e, node) => {
    const { kernel, stride, padding, ceilMode, countIncludePad } = node.attrs;
    return E.right(pool(e, "AveragePool", first(node), kernel, stride, [padding[0], padding[1], padding[0], padding[1]], ceilMode, { count_include_pad: countIncludePad ? 1 : 0 }));
  },
  adaptive_avg_pool2d: (e, node) => {
    const [, , h, w] = node.inputTypes[0]?.shape ?? [];
    const [oh, ow] = node.attrs.outputSize;
    if (oh === 1 && ow === 1) return E.right(e.op("GlobalAveragePool", [first(node)]));
    if (typeof h === "number" && typeof w === "number" && h % oh === 0 && w % ow === 0) {
      const kernel = [h / oh, w / ow];
      return E.right(pool(e, "AveragePool", first(node), kernel, kernel, [0, 0, 0, 0], false, {}));
    }
    return E.left(`adaptive_avg_pool2d to ${oh}×${ow} from ${String(h)}×${String(w)} has overlapping windows, which ONNX's pools do not express (use an output size that divides the input)`);
  },
  max_pool1d: (e, node) => {
    const { kernel, stride, padding, dilation, ceilMode } = node.attrs;
    return E.right(pool(e, "MaxPool", first(node), [kernel], [stride], [padding, padding], ceilMode, { dilations: [dilation] }));
  },
  avg_pool1d: (e, node) => {
    const { kernel, stride, padding, ceilMode, countIncludePad } = node.attrs;
    return E.right(pool(e, "AveragePool", first(node), [kernel], [stride], [padding, padding], ceilMode, { count_include_pad: countIncludePad ? 1 : 0 }));
  },
};
