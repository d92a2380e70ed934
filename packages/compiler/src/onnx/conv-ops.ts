/**
 * @file ONNX rows of the convolution and pooling ops: Conv, ConvTranspose, MaxPool, AveragePool,
 * GlobalAveragePool (opset 13+; ONNX pads are [begin…, end…]). Their gradient primitives
 * (conv2d_weight_grad, max_pool2d_backward) have no ONNX op: a training step that needs them is
 * refused with a message.
 */
import * as E from "fp-ts/lib/Either.js";
import type { OpName } from "@graft/core";
import type { Emitter } from "./emitter.js";
import type { Lowering, LoweringNode } from "./ops.js";

type ConvRows = { readonly [K in "conv2d" | "conv_transpose2d" | "conv2d_weight_grad" | "conv1d" | "max_pool2d" | "max_pool2d_backward" | "avg_pool2d" | "adaptive_avg_pool2d" | "max_pool1d" | "avg_pool1d"]: Lowering<K> };

const inputsOf = (node: LoweringNode<OpName>): string[] => [...node.inputs];
const first = (node: LoweringNode<OpName>): string => node.inputs[0] ?? "";
const noGradient = (what: string): E.Either<string, never> =>
  E.left(`${what} has no ONNX op: training steps of convolutional models are not exported yet (export the forward)`);

/** Pads [top, bottom, left, right] as ONNX's [top, left, bottom, right]; Left when one is negative (inside gradients only). */
const pads2d = (padding: readonly number[]): E.Either<string, number[]> => {
  const [pt = 0, pb = 0, pl = 0, pr = 0] = padding;
  return [pt, pb, pl, pr].some((p) => p < 0) ? E.left(`negative padding [${padding.join(",")}] (a gradient's crop) has no ONNX Conv form`) : E.right([pt, pl, pb, pr]);
};

const pool = (e: Emitter, opType: "MaxPool" | "AveragePool", x: string, kernel: readonly number[], stride: readonly number[], pads: readonly number[], ceilMode: boolean, extra: Readonly<Record<string, number | number[]>>): string =>
  e.op(opType, [x], { kernel_shape: [...kernel], strides: [...stride], pads: [...pads], ceil_mode: ceilMode ? 1 : 0, ...extra });

export const convOnnxRows: ConvRows = {
  conv2d: (e, node) =>
    E.map((pads: number[]) => e.op("Conv", inputsOf(node), { strides: [...node.attrs.stride], pads, dilations: [...node.attrs.dilation], group: node.attrs.groups }))(pads2d(node.attrs.padding)),
  conv_transpose2d: (e, node) =>
    E.map((pads: number[]) =>
      e.op("ConvTranspose", inputsOf(node), { strides: [...node.attrs.stride], pads, dilations: [...node.attrs.dilation], group: node.attrs.groups, output_padding: [...node.attrs.outputPadding] }),
    )(pads2d(node.attrs.padding)),
  conv2d_weight_grad: () => noGradient("conv2d_weight_grad (a convolution's weight gradient)"),
  conv1d: (e, node) =>
    E.right(e.op("Conv", inputsOf(node), { strides: [node.attrs.stride], pads: [node.attrs.padding[0], node.attrs.padding[1]], dilations: [node.attrs.dilation], group: node.attrs.groups })),
  max_pool2d: (e, node) => {
    const { kernel, stride, padding, dilation, ceilMode } = node.attrs;
    return E.right(pool(e, "MaxPool", first(node), kernel, stride, [padding[0], padding[1], padding[0], padding[1]], ceilMode, { dilations: [...dilation] }));
  },
  max_pool2d_backward: () => noGradient("max_pool2d_backward (max pooling's gradient)"),
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
