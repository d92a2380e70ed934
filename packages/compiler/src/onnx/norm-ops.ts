/**
 * @file ONNX rows of the fused normalization and attention ops (core ops/norm.ts,
 * ops/batch-norm.ts): layer_norm is ONNX's LayerNormalization from opset 17 (over the trailing
 * `dims` dims, weight ones when the layer has none), its definition in ONNX ops below; batch_norm
 * (normalization with given statistics) is BatchNormalization in its inference form;
 * layer_norm_backward, attention_softmax (scale, bool/additive/causal masks, Softmax over the last
 * dim, a row masked everywhere 0 as PyTorch's SDPA), softmax_backward and the batch statistics
 * ([2, C]: mean and biased variance; Σg and Σg⊙x̂) are their definitions in ONNX ops.
 */
import * as E from "fp-ts/lib/Either.js";
import type { TensorType } from "@graft/core";
import { float, type Emitter } from "./emitter.js";
import type { Lowering } from "./ops.js";

type NormRows = {
  readonly [K in "layer_norm" | "layer_norm_backward" | "attention_softmax" | "softmax_backward" | "batch_norm_stats" | "batch_norm" | "batch_norm_backward_stats"]: Lowering<K>;
};

/** The trailing `dims` axes of a rank-`rank` tensor. */
const trailingAxes = (rank: number, dims: number): number[] => Array.from({ length: dims }, (_, i) => rank - dims + i);

/** (x − mean)·rstd over `axes`, and rstd, in ONNX ops (biased variance, as PyTorch). */
const standardized = (e: Emitter, x: string, axes: readonly number[], eps: number, dtype: TensorType["dtype"]): { readonly normalized: string; readonly rstd: string } => {
  const centered = e.op("Sub", [x, e.reduce("ReduceMean", x, axes, true)]);
  const variance = e.reduce("ReduceMean", e.op("Mul", [centered, centered]), axes, true);
  const rstd = e.op("Reciprocal", [e.op("Sqrt", [e.op("Add", [variance, e.scalar(dtype, eps)])])]);
  return { normalized: e.op("Mul", [centered, rstd]), rstd };
};

const NEG_INFINITY = Number.NEGATIVE_INFINITY;

/** Every axis but the channel axis 1 of a rank-`rank` tensor [N, C, *]. */
const nonChannelAxes = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i).filter((i) => i !== 1);

/** A [C] vector as [1, C, 1, …] for a rank-`rank` input. */
const perChannel = (e: Emitter, vector: string, rank: number): string => e.unsqueeze(vector, nonChannelAxes(rank));

/** Row `row` of a [2, C] statistics tensor, as [C]. */
const statsRow = (e: Emitter, stats: string, row: number): string => e.op("Gather", [stats, e.scalar("i64", row)], { axis: 0 });

/** Two [C] vectors as the rows of [2, C]. */
const stackRows = (e: Emitter, first: string, second: string): string => e.op("Concat", [e.unsqueeze(first, [0]), e.unsqueeze(second, [0])], { axis: 0 });

/** (x − mean)·rstd per channel, from [2, C] statistics. */
const normalizedByStats = (e: Emitter, x: string, stats: string, eps: number, xType: TensorType): string => {
  const rank = xType.shape.length;
  const rstd = e.op("Reciprocal", [e.op("Sqrt", [e.op("Add", [perChannel(e, statsRow(e, stats, 1), rank), e.scalar(xType.dtype, eps)])])]);
  return e.op("Mul", [e.op("Sub", [x, perChannel(e, statsRow(e, stats, 0), rank)]), rstd]);
};

export const normOnnxRows: NormRows = {
  layer_norm: (e, node) => {
    const { dims, eps, weight, bias } = node.attrs;
    const [x = "", ...affine] = node.inputs;
    const xType = node.inputTypes[0];
    if (xType === undefined) return E.left("missing input");
    const rank = xType.shape.length;
    const normalizedShape = xType.shape.slice(rank - dims);
    const weightInput = weight ? affine[0] : undefined;
    const biasInput = bias ? affine[weight ? 1 : 0] : undefined;
    const staticShape = normalizedShape.every((d) => typeof d === "number");
    if (e.opset >= 17 && (weightInput !== undefined || staticShape)) {
      const scale = weightInput ?? e.constant(xType.dtype, normalizedShape as number[], [1]);
      return E.right(e.op("LayerNormalization", biasInput === undefined ? [x, scale] : [x, scale, biasInput], { axis: rank - dims, epsilon: float(eps) }));
    }
    let y = standardized(e, x, trailingAxes(rank, dims), eps, xType.dtype).normalized;
    if (weightInput !== undefined) y = e.op("Mul", [y, weightInput]);
    if (biasInput !== undefined) y = e.op("Add", [y, biasInput]);
    return E.right(y);
  },
  // rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)) over the trailing dims, ĝ = grad ⊙ weight
  layer_norm_backward: (e, node) => {
    const { dims, eps, weight } = node.attrs;
    const [x = "", grad = "", weightInput] = node.inputs;
    const xType = node.inputTypes[0];
    if (xType === undefined) return E.left("missing input");
    const axes = trailingAxes(xType.shape.length, dims);
    const { normalized, rstd } = standardized(e, x, axes, eps, xType.dtype);
    const scaled = weight && weightInput !== undefined ? e.op("Mul", [grad, weightInput]) : grad;
    const centered = e.op("Sub", [scaled, e.reduce("ReduceMean", scaled, axes, true)]);
    const projected = e.op("Mul", [normalized, e.reduce("ReduceMean", e.op("Mul", [scaled, normalized]), axes, true)]);
    return E.right(e.op("Mul", [rstd, e.op("Sub", [centered, projected])]));
  },
  attention_softmax: (e, node) => {
    const { scale, mask, causal } = node.attrs;
    const [x = "", maskInput] = node.inputs;
    const xType = node.inputTypes[0];
    if (xType === undefined) return E.left("missing input");
    const dtype = xType.dtype;
    const rank = xType.shape.length;
    let scores = scale === 1 ? x : e.op("Mul", [x, e.scalar(dtype, scale)]);
    if (maskInput !== undefined && mask === "bool") scores = e.op("Where", [maskInput, scores, e.scalar(dtype, NEG_INFINITY)]);
    if (maskInput !== undefined && mask === "add") scores = e.op("Add", [scores, maskInput]);
    if (causal) {
      const queries = xType.shape[rank - 2];
      const keys = xType.shape[rank - 1];
      if (typeof queries !== "number" || typeof keys !== "number") return E.left(`causal attention needs static query and key lengths, got scores [${xType.shape.join(",")}]`);
      const visible = Array.from({ length: queries * keys }, (_, k) => (k % keys <= Math.floor(k / keys) ? 1 : 0));
      scores = e.op("Where", [e.constant("bool", [queries, keys], visible), scores, e.scalar(dtype, NEG_INFINITY)]);
    }
    const probabilities = e.op("Softmax", [scores], { axis: -1 });
    // a causal row always sees its own key; with a mask a row can be masked everywhere: 0 there (Softmax gives NaN)
    if (mask === "none") return E.right(probabilities);
    const dead = e.op("Equal", [e.reduce("ReduceMax", scores, [rank - 1], true), e.scalar(dtype, NEG_INFINITY)]);
    return E.right(e.op("Where", [dead, e.scalar(dtype, 0), probabilities]));
  },
  batch_norm_stats: (e, node) => {
    const x = node.inputs[0] ?? "";
    const xType = node.inputTypes[0];
    if (xType === undefined) return E.left("missing input");
    const axes = nonChannelAxes(xType.shape.length);
    const mean = e.reduce("ReduceMean", x, axes, false);
    const centered = e.op("Sub", [x, perChannel(e, mean, xType.shape.length)]);
    return E.right(stackRows(e, mean, e.reduce("ReduceMean", e.op("Mul", [centered, centered]), axes, false)));
  },
  batch_norm: (e, node) => {
    const { eps, weight, bias } = node.attrs;
    const [x = "", stats = "", ...affine] = node.inputs;
    const xType = node.inputTypes[0];
    if (xType === undefined) return E.left("missing input");
    const weightInput = weight ? affine[0] : undefined;
    const biasInput = bias ? affine[weight ? 1 : 0] : undefined;
    const channels = xType.shape[1];
    if (typeof channels === "number" || (weightInput !== undefined && biasInput !== undefined)) {
      const count = typeof channels === "number" ? channels : 0;
      const scale = weightInput ?? e.constant(xType.dtype, [count], [1]);
      const shift = biasInput ?? e.constant(xType.dtype, [count], [0]);
      return E.right(e.op("BatchNormalization", [x, scale, shift, statsRow(e, stats, 0), statsRow(e, stats, 1)], { epsilon: float(eps) }));
    }
    let y = normalizedByStats(e, x, stats, eps, xType);
    if (weightInput !== undefined) y = e.op("Mul", [y, perChannel(e, weightInput, xType.shape.length)]);
    if (biasInput !== undefined) y = e.op("Add", [y, perChannel(e, biasInput, xType.shape.length)]);
    return E.right(y);
  },
  // per channel Σg and Σg⊙x̂
  batch_norm_backward_stats: (e, node) => {
    const [x = "", stats = "", grad = ""] = node.inputs;
    const xType = node.inputTypes[0];
    if (xType === undefined) return E.left("missing input");
    const axes = nonChannelAxes(xType.shape.length);
    const normalized = normalizedByStats(e, x, stats, node.attrs.eps, xType);
    return E.right(stackRows(e, e.reduce("ReduceSum", grad, axes, false), e.reduce("ReduceSum", e.op("Mul", [grad, normalized]), axes, false)));
  },
  // scale·y⊙(g − Σ g⊙y) over the last dim
  softmax_backward: (e, node) => {
    const [y = "", grad = ""] = node.inputs;
    const yType = node.inputTypes[0];
    if (yType === undefined) return E.left("missing input");
    const dot = e.reduce("ReduceSum", e.op("Mul", [grad, y]), [yType.shape.length - 1], true);
    const product = e.op("Mul", [y, e.op("Sub", [grad, dot])]);
    return E.right(node.attrs.scale === 1 ? product : e.op("Mul", [product, e.scalar(yType.dtype, node.attrs.scale)]));
  },
};
