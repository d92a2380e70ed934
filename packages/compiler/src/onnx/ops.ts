/**
 * @file The ONNX mapping table: one row per graft op, lowering it to standard ONNX ops (opset
 * 13 and later, no training or contrib domains). Fused graft ops become the matching ONNX op
 * (`LogSoftmax`, `Softmax`, `SoftmaxCrossEntropyLoss`, `ReduceLogSumExp`, …) or a decomposition
 * with PyTorch's semantics (label smoothing, class weights, ignore_index, probability targets,
 * and the backward ops of the losses, so that a whole training step is plain ONNX).
 */
import * as E from "fp-ts/lib/Either.js";
import type { CrossEntropyAttrs, Dtype, OpAttrs, OpName, Reduction, TensorType } from "@graft/core";
import { convOnnxRows } from "./conv-ops.js";
import { float, type Emitter } from "./emitter.js";
import { DATA_TYPE, onnxDataType } from "./proto.js";
import { randomUniformOnnx } from "./random.js";

/** What a row sees of the node it lowers. */
export interface LoweringNode<K extends OpName> {
  readonly attrs: OpAttrs[K];
  readonly type: TensorType;
  /** The ONNX value names of its inputs. */
  readonly inputs: readonly string[];
  /** The types of its inputs. */
  readonly inputTypes: readonly TensorType[];
}

/**
 * The composites the table lowers itself (to an ONNX op or its own formula in ONNX ops); the
 * exporter's `decompose` expands the others (the fused normalization and attention rows, whose
 * primitives export as they are).
 */
export const onnxFusedComposites: ReadonlySet<OpName> = new Set<OpName>([
  "conv1d",
  "adaptive_avg_pool2d",
  "max_pool1d",
  "avg_pool1d",
  "softmax",
  "log_softmax",
  "logsumexp",
  "cross_entropy",
  "binary_cross_entropy_with_logits",
  "gelu",
  "silu",
  "softplus",
  "leaky_relu",
  "elu",
  "hardtanh",
  "clamp",
  "concat",
  "tril",
  "triu",
]);

/** Lowers one node: Right with the ONNX value name of its output, Left with why it cannot be. */
export type Lowering<K extends OpName> = (e: Emitter, node: LoweringNode<K>) => E.Either<string, string>;

/** The mapping table: a row for every graft op (the compiler checks that none is missing). */
export type OnnxTable = { readonly [K in OpName]: Lowering<K> };

const first = (node: LoweringNode<OpName>): string => node.inputs[0] ?? "";
const second = (node: LoweringNode<OpName>): string => node.inputs[1] ?? "";
const unary =
  (opType: string): Lowering<OpName> =>
  (e, node) =>
    E.right(e.op(opType, [first(node)]));
const binary =
  (opType: string): Lowering<OpName> =>
  (e, node) =>
    E.right(e.op(opType, [first(node), second(node)]));
const leaf: Lowering<OpName> = () => E.left("a leaf is bound by the exporter");
/** A composite the exporter expands (`decompose`) before lowering: never reaches the table. */
const decomposed: Lowering<OpName> = () => E.left("internal: a composite the exporter decomposes reached the ONNX table");

const rankOf = (node: LoweringNode<OpName>, index = 0): number => node.inputTypes[index]?.shape.length ?? 0;
const allAxes = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);

/** `ScatterElements` with `reduction=add` needs opset 16. */
const requireOpset = (e: Emitter, opset: number, what: string): E.Either<string, undefined> =>
  e.opset >= opset ? E.right(undefined) : E.left(`${what} needs opset ${opset} or later (exporting opset ${e.opset}); use --opset ${opset}`);

/**
 * OneHot with int64 indices and depth and float values (the combination every runtime
 * implements), cast to `dtype`; out-of-range labels give all-zero rows.
 */
const oneHot = (e: Emitter, labels: string, classes: number, axis: number, dtype: Dtype): string => {
  const hot = e.op("OneHot", [e.op("Cast", [labels], { to: DATA_TYPE.i64 }), e.int64s([classes]), e.constant("f32", [2], [0, 1])], { axis });
  return dtype === "f32" ? hot : e.op("Cast", [hot], { to: onnxDataType(dtype) });
};

/** ONNX Pad's pads (all befores, then all afters) for a rank-`rank` tensor unsqueezed at `axis + 1`: `k` after the new axis. */
const interiorPads = (rank: number, axis: number, k: number): number[] => {
  const afters = Array.from({ length: rank + 1 }, (_, i) => (i === axis + 1 ? k : 0));
  return [...afters.map(() => 0), ...afters];
};

/** The class weight reshaped to broadcast along `dim` of a rank-`rank` tensor. */
const classWeight = (e: Emitter, weight: string, rank: number, dim: number, classes: number): string =>
  e.op("Reshape", [weight, e.int64s(allAxes(rank).map((axis) => (axis === dim ? classes : 1)))]);

const reduceLoss = (e: Emitter, rows: string, rowRank: number, reduction: Reduction, denominator: () => string): string => {
  if (reduction === "none") return rows;
  const total = e.reduce("ReduceSum", rows, allAxes(rowRank), false);
  return reduction === "sum" ? total : e.op("Div", [total, denominator()]);
};

interface IndexTarget {
  /** float mask of the rows not ignored (target's shape). */
  readonly keep: string;
  /** the target with ignored rows replaced by class 0 (int32). */
  readonly safe: string;
}

const indexTarget = (e: Emitter, target: string, ignoreIndex: number, dtype: Dtype): IndexTarget => {
  const kept = e.op("Not", [e.op("Equal", [target, e.scalar("i32", ignoreIndex)])]);
  return { keep: e.op("Cast", [kept], { to: onnxDataType(dtype) }), safe: e.op("Where", [kept, target, e.scalar("i32", 0)]) };
};

/** The label's weight per row (1 without class weights). */
const labelWeight = (e: Emitter, weight: string | undefined, target: IndexTarget): string => (weight === undefined ? target.keep : e.op("Mul", [e.op("Gather", [weight, target.safe], { axis: 0 }), target.keep]));

/**
 * The effective target distribution t' of every row along `dim` (one-hot or probabilities,
 * label-smoothed, zero on ignored rows), times the class weights: w ⊙ t'.
 */
const weightedTarget = (e: Emitter, x: TensorType, target: string, weight: string | undefined, attrs: CrossEntropyAttrs): { readonly weighted: string; readonly index: IndexTarget | undefined } => {
  const dtype = x.dtype;
  const rank = x.shape.length;
  const classes = x.shape[attrs.dim];
  // callers checked that the class dim is static (staticClasses)
  const count = typeof classes === "number" ? classes : 0;
  const eps = attrs.labelSmoothing;
  let t: string;
  let index: IndexTarget | undefined;
  if (attrs.target === "index") {
    index = indexTarget(e, target, attrs.ignoreIndex, dtype);
    const hot = oneHot(e, index.safe, count, attrs.dim, dtype);
    const smoothed = eps === 0 ? hot : e.op("Add", [e.op("Mul", [hot, e.scalar(dtype, 1 - eps)]), e.scalar(dtype, eps / count)]);
    t = e.op("Mul", [smoothed, e.unsqueeze(index.keep, [attrs.dim])]);
  } else t = eps === 0 ? target : e.op("Add", [e.op("Mul", [target, e.scalar(dtype, 1 - eps)]), e.scalar(dtype, eps / count)]);
  return { weighted: weight === undefined ? t : e.op("Mul", [t, classWeight(e, weight, rank, attrs.dim, count)]), index };
};

/** The mean's denominator: Σ of the label weights of kept rows (index targets) or the row count (probabilities). */
const meanDenominator = (e: Emitter, x: string, xType: TensorType, weight: string | undefined, index: IndexTarget | undefined, dim: number): string => {
  if (index !== undefined) return e.reduce("ReduceSum", labelWeight(e, weight, index), allAxes(xType.shape.length - 1), false);
  const classes = xType.shape[dim];
  const size = e.op("Cast", [e.op("Size", [x])], { to: onnxDataType(xType.dtype) });
  return e.op("Div", [size, e.scalar(xType.dtype, typeof classes === "number" ? classes : 1)]);
};

/** −Σ over the class dim of (w ⊙ t') · log p, per row. */
const crossEntropyRows = (e: Emitter, logProbs: string, weighted: string, dim: number): string => e.op("Neg", [e.reduce("ReduceSum", e.op("Mul", [weighted, logProbs]), [dim], false)]);

/** Index-target NLL rows: −w_y · logp[y], zero on ignored rows. */
const pickedRows = (e: Emitter, logProbs: string, weight: string | undefined, index: IndexTarget, dim: number): string => {
  const picked = e.op("GatherElements", [logProbs, e.unsqueeze(index.safe, [dim])], { axis: dim });
  const rows = e.reduce("ReduceSum", picked, [dim], false);
  return e.op("Neg", [e.op("Mul", [rows, labelWeight(e, weight, index)])]);
};

/** The upstream gradient scaled per row and broadcast along the class dim. */
const rowScale = (e: Emitter, grad: string, reduction: Reduction, dim: number, denominator: () => string): string =>
  reduction === "none" ? e.unsqueeze(grad, [dim]) : reduction === "sum" ? grad : e.op("Div", [grad, denominator()]);

/** The decompositions need the class count. */
const staticClasses = (xType: TensorType | undefined, dim: number): E.Either<string, TensorType> =>
  xType === undefined
    ? E.left("missing input")
    : typeof xType.shape[dim] === "number"
      ? E.right(xType)
      : E.left(`its class dim ${dim} is symbolic (${String(xType.shape[dim])}); the ONNX decomposition needs a static class count`);

const crossEntropy: Lowering<"cross_entropy"> = (e, node) => {
  const { attrs } = node;
  const [x = "", target = "", weight] = node.inputs;
  const checked = staticClasses(node.inputTypes[0], attrs.dim);
  if (E.isLeft(checked)) return checked;
  const xType = checked.right;
  const rank = xType.shape.length;
  // the standard op covers PyTorch's index-target cross-entropy with the class dim at 1
  if (attrs.target === "index" && attrs.labelSmoothing === 0 && attrs.dim === 1 && rank >= 2)
    return E.right(e.op("SoftmaxCrossEntropyLoss", weight === undefined ? [x, target] : [x, target, weight], { reduction: attrs.reduction, ignore_index: attrs.ignoreIndex }));
  const logProbs = e.op("LogSoftmax", [x], { axis: attrs.dim });
  const { weighted, index } = weightedTarget(e, xType, target, weight, attrs);
  const rows =
    index !== undefined && attrs.labelSmoothing === 0 ? pickedRows(e, logProbs, weight, index, attrs.dim) : crossEntropyRows(e, logProbs, weighted, attrs.dim);
  return E.right(reduceLoss(e, rows, rank - 1, attrs.reduction, () => meanDenominator(e, x, xType, weight, index, attrs.dim)));
};

const crossEntropyBackward: Lowering<"cross_entropy_backward"> = (e, node) => {
  const { attrs } = node;
  const [x = "", target = "", grad = "", weight] = node.inputs;
  const checked = staticClasses(node.inputTypes[0], attrs.dim);
  if (E.isLeft(checked)) return checked;
  const xType = checked.right;
  const { weighted, index } = weightedTarget(e, xType, target, weight, attrs);
  // ∂CE/∂x = scale · (softmax(x) · Σ_c w_c t'_c − w ⊙ t')
  const mass = e.reduce("ReduceSum", weighted, [attrs.dim], true);
  const probs = e.op("Softmax", [x], { axis: attrs.dim });
  const scale = rowScale(e, grad, attrs.reduction, attrs.dim, () => meanDenominator(e, x, xType, weight, index, attrs.dim));
  return E.right(e.op("Mul", [e.op("Sub", [e.op("Mul", [probs, mass]), weighted]), scale]));
};

const nllLoss: Lowering<"nll_loss"> = (e, node) => {
  const { attrs } = node;
  const [logProbs = "", target = "", weight] = node.inputs;
  const xType = node.inputTypes[0];
  if (xType === undefined) return E.left("missing input");
  const index = indexTarget(e, target, attrs.ignoreIndex, xType.dtype);
  const rows = pickedRows(e, logProbs, weight, index, attrs.dim);
  return E.right(reduceLoss(e, rows, xType.shape.length - 1, attrs.reduction, () => meanDenominator(e, logProbs, xType, weight, index, attrs.dim)));
};

const nllLossBackward: Lowering<"nll_loss_backward"> = (e, node) => {
  const { attrs } = node;
  const [logProbs = "", target = "", grad = "", weight] = node.inputs;
  const checked = staticClasses(node.inputTypes[0], attrs.dim);
  if (E.isLeft(checked)) return checked;
  const xType = checked.right;
  const { weighted, index } = weightedTarget(e, xType, target, weight, { ...attrs, labelSmoothing: 0, target: "index" });
  const scale = rowScale(e, grad, attrs.reduction, attrs.dim, () => meanDenominator(e, logProbs, xType, weight, index, attrs.dim));
  return E.right(e.op("Neg", [e.op("Mul", [weighted, scale])]));
};

const reduction =
  (opType: "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceLogSumExp"): Lowering<"sum" | "mean" | "max" | "min" | "logsumexp"> =>
  (e, node) =>
    E.right(e.reduce(opType, first(node), node.attrs.dims.length === 0 ? allAxes(rankOf(node)) : node.attrs.dims, node.attrs.keepdim));

const shaped = (e: Emitter, opType: "Reshape" | "Expand", node: LoweringNode<"reshape" | "expand">): E.Either<string, string> => {
  const shape = e.shape(node.attrs.shape);
  return shape === undefined ? E.left(`its shape [${node.attrs.shape.join(",")}] has a symbolic dim that no input of the model carries`) : E.right(e.op(opType, [first(node), shape]));
};

export const onnxTable: OnnxTable = {
  input: leaf,
  param: leaf,
  constant: (e, node) => {
    const { shape, value, dtype } = node.attrs;
    if (shape.every((d) => typeof d === "number")) return E.right(e.constant(dtype, shape as readonly number[], value));
    const target = e.shape(shape);
    return target === undefined ? E.left(`its shape [${shape.join(",")}] has a symbolic dim that no input of the model carries`) : E.right(e.op("Expand", [e.scalar(dtype, value[0] ?? 0), target]));
  },
  neg: unary("Neg"),
  exp: unary("Exp"),
  log: unary("Log"),
  sqrt: unary("Sqrt"),
  abs: unary("Abs"),
  sign: unary("Sign"),
  relu: unary("Relu"),
  sigmoid: unary("Sigmoid"),
  erf: unary("Erf"),
  // 0.5·x·(1 + erf(x/√2)), or PyTorch's tanh approximation
  gelu: (e, node) => {
    const x = first(node);
    const dtype = node.type.dtype;
    const inner =
      node.attrs.approximate === "none"
        ? e.op("Erf", [e.op("Mul", [x, e.scalar(dtype, Math.SQRT1_2)])])
        : e.op("Tanh", [e.op("Mul", [e.op("Add", [x, e.op("Mul", [e.op("Mul", [e.op("Mul", [x, x]), x]), e.scalar(dtype, 0.044715)])]), e.scalar(dtype, Math.sqrt(2 / Math.PI))])]);
    return E.right(e.op("Mul", [e.op("Mul", [x, e.scalar(dtype, 0.5)]), e.op("Add", [inner, e.scalar(dtype, 1)])]));
  },
  silu: (e, node) => E.right(e.op("Mul", [first(node), e.op("Sigmoid", [first(node)])])),
  // PyTorch's softplus: x where β·x > threshold, else log(1 + exp(β·x)) / β
  softplus: (e, node) => {
    const x = first(node);
    const dtype = node.type.dtype;
    const scaled = e.op("Mul", [x, e.scalar(dtype, node.attrs.beta)]);
    const soft = e.op("Div", [e.op("Softplus", [scaled]), e.scalar(dtype, node.attrs.beta)]);
    return E.right(e.op("Where", [e.op("Greater", [scaled, e.scalar(dtype, node.attrs.threshold)]), x, soft]));
  },
  leaky_relu: (e, node) => E.right(e.op("LeakyRelu", [first(node)], { alpha: float(node.attrs.negativeSlope) })),
  elu: (e, node) => E.right(e.op("Elu", [first(node)], { alpha: float(node.attrs.alpha) })),
  hardtanh: (e, node) => E.right(e.op("Clip", [first(node), e.scalar(node.type.dtype, node.attrs.minVal), e.scalar(node.type.dtype, node.attrs.maxVal)])),
  clamp: (e, node) => {
    const { min, max } = node.attrs;
    const dtype = node.type.dtype;
    return E.right(e.op("Clip", [first(node), min === undefined ? "" : e.scalar(dtype, min), max === undefined ? "" : e.scalar(dtype, max)]));
  },
  // log σ(x) = −softplus(−x)
  log_sigmoid: (e, node) => E.right(e.op("Neg", [e.op("Softplus", [e.op("Neg", [first(node)])])])),
  tanh: unary("Tanh"),
  cast: (e, node) => E.right(e.op("Cast", [first(node)], { to: onnxDataType(node.attrs.dtype) })),
  add: binary("Add"),
  sub: binary("Sub"),
  mul: binary("Mul"),
  div: binary("Div"),
  pow: binary("Pow"),
  maximum: binary("Max"),
  minimum: binary("Min"),
  eq: binary("Equal"),
  ne: (e, node) => E.right(e.op("Not", [e.op("Equal", [first(node), second(node)])])),
  lt: binary("Less"),
  le: binary("LessOrEqual"),
  gt: binary("Greater"),
  ge: binary("GreaterOrEqual"),
  where: (e, node) => E.right(e.op("Where", [...node.inputs])),
  sum: reduction("ReduceSum"),
  mean: reduction("ReduceMean"),
  max: reduction("ReduceMax"),
  min: reduction("ReduceMin"),
  logsumexp: reduction("ReduceLogSumExp"),
  argmax: (e, node) => E.right(e.op("Cast", [e.op("ArgMax", [first(node)], { axis: node.attrs.dim, keepdims: node.attrs.keepdim ? 1 : 0 })], { to: onnxDataType("i32") })),
  dim_size: (e, node) => {
    const shape = node.inputTypes[0]?.shape ?? [];
    const dims = node.attrs.dims.map((axis) => shape[axis] ?? 1);
    if (dims.every((d) => typeof d === "number")) return E.right(e.scalar(node.attrs.dtype, (dims as number[]).reduce((a, b) => a * b, 1)));
    let product: string | undefined;
    for (const dim of dims) {
      const size = e.dim(dim);
      if (size === undefined) return E.left(`dim '${String(dim)}' is carried by no input of the model`);
      product = product === undefined ? size : e.op("Mul", [product, size]);
    }
    const scalar = e.op("Reshape", [product ?? e.int64s([1]), e.int64s([])]);
    return E.right(e.op("Cast", [scalar], { to: onnxDataType(node.attrs.dtype) }));
  },
  reshape: (e, node) => shaped(e, "Reshape", node),
  transpose: (e, node) => E.right(e.op("Transpose", [first(node)], { perm: node.attrs.perm })),
  expand: (e, node) => shaped(e, "Expand", node),
  slice: (e, node) => {
    const { dims, starts, stops, steps } = node.attrs;
    if (dims.length === 0) return E.right(e.op("Identity", [first(node)]));
    return E.right(e.op("Slice", [first(node), e.int64s(starts), e.int64s(stops), e.int64s(dims), e.int64s(steps)]));
  },
  pad: (e, node) => {
    const { before, after, interior, mode, value } = node.attrs;
    const needs = requireOpset(e, 11, "Pad with pads as an input");
    if (E.isLeft(needs)) return needs;
    const dtype = node.type.dtype;
    let x = first(node);
    const shape = [...(node.inputTypes[0]?.shape ?? [])];
    // interior padding (the gradient of a strided slice): per dim, each element followed by k
    // fill values — a new axis padded to k + 1, merged into the dim, the trailing k sliced off
    for (const [axis, k] of interior.entries()) {
      if (k === 0) continue;
      const size = shape[axis];
      if (typeof size !== "number") return E.left(`interior padding of the symbolic dim ${String(size)} has no ONNX lowering`);
      const grown = e.op("Pad", [e.unsqueeze(x, [axis + 1]), e.int64s(interiorPads(shape.length, axis, k)), e.scalar(dtype, value)], { mode: "constant" });
      const merged = [...shape];
      merged[axis] = size * (k + 1);
      const target = e.shape(merged);
      if (target === undefined) return E.left(`its shape [${merged.join(",")}] has a symbolic dim that no input of the model carries`);
      const spread = size === 0 ? 0 : (size - 1) * (k + 1) + 1;
      x = e.op("Slice", [e.op("Reshape", [grown, target]), e.int64s([0]), e.int64s([spread]), e.int64s([axis])]);
      shape[axis] = spread;
    }
    if (before.every((n) => n === 0) && after.every((n) => n === 0)) return E.right(x === first(node) ? e.op("Identity", [x]) : x);
    const inputs = [x, e.int64s([...before, ...after])];
    if (mode === "constant") inputs.push(e.scalar(dtype, value));
    return E.right(e.op("Pad", inputs, { mode: mode === "replicate" ? "edge" : mode }));
  },
  // a Slice with step −1 from the last element past the first (an end below −size clamps there, symbolic sizes too)
  flip: (e, node) => {
    const { dims } = node.attrs;
    return E.right(e.op("Slice", [first(node), e.int64s(dims.map(() => -1)), e.int64s(dims.map(() => -Number.MAX_SAFE_INTEGER)), e.int64s(dims), e.int64s(dims.map(() => -1))]));
  },
  arange: (e, node) => {
    const { start, step, size, dtype } = node.attrs;
    return E.right(e.op("Range", [e.scalar(dtype, start), e.scalar(dtype, start + size * step), e.scalar(dtype, step)]));
  },
  concat: (e, node) => E.right(e.op("Concat", [...node.inputs], { axis: node.attrs.dim })),
  tril: (e, node) => {
    const needs = requireOpset(e, 14, "Trilu");
    return E.isLeft(needs) ? needs : E.right(e.op("Trilu", [first(node), e.scalar("i64", node.attrs.diagonal)], { upper: 0 }));
  },
  triu: (e, node) => {
    const needs = requireOpset(e, 14, "Trilu");
    return E.isLeft(needs) ? needs : E.right(e.op("Trilu", [first(node), e.scalar("i64", node.attrs.diagonal)], { upper: 1 }));
  },
  embedding: (e, node) => E.right(e.op("Gather", [second(node), first(node)], { axis: 0 })),
  embedding_backward: (e, node) => {
    const needs = requireOpset(e, 16, "ScatterND with reduction=add");
    if (E.isLeft(needs)) return needs;
    const zeros = e.constant(node.type.dtype, [node.type.shape[0] as number, node.type.shape[1] as number], [0]);
    const rows = e.unsqueeze(e.op("Cast", [first(node)], { to: DATA_TYPE.i64 }), [rankOf(node)]);
    return E.right(e.op("ScatterND", [zeros, rows, second(node)], { reduction: "add" }));
  },
  matmul: binary("MatMul"),
  one_hot: (e, node) => E.right(oneHot(e, first(node), node.attrs.numClasses, -1, node.attrs.dtype)),
  gather: (e, node) => E.right(e.op("GatherElements", [first(node), second(node)], { axis: node.attrs.dim })),
  scatter_add: (e, node) => {
    const needs = requireOpset(e, 16, "ScatterElements with reduction=add");
    if (E.isLeft(needs)) return needs;
    const shape = e.shape(node.attrs.shape);
    if (shape === undefined) return E.left(`its shape [${node.attrs.shape.join(",")}] has a symbolic dim that no input of the model carries`);
    const zeros = e.op("ConstantOfShape", [shape], { value: { tensor: { name: "zero", dataType: onnxDataType(node.type.dtype), dims: [1], rawData: new Uint8Array(node.type.dtype === "f64" ? 8 : 4) } } });
    return E.right(e.op("ScatterElements", [zeros, first(node), second(node)], { axis: node.attrs.dim, reduction: "add" }));
  },
  softmax: (e, node) => E.right(e.op("Softmax", [first(node)], { axis: node.attrs.dim })),
  log_softmax: (e, node) => E.right(e.op("LogSoftmax", [first(node)], { axis: node.attrs.dim })),
  nll_loss: nllLoss,
  nll_loss_backward: nllLossBackward,
  cross_entropy: crossEntropy,
  cross_entropy_backward: crossEntropyBackward,
  // max(x, 0) − x·t + softplus(−|x|)
  layer_norm: decomposed,
  layer_norm_backward: decomposed,
  attention_softmax: decomposed,
  softmax_backward: decomposed,
  batch_norm_stats: decomposed,
  batch_norm: decomposed,
  batch_norm_backward_stats: decomposed,
  binary_cross_entropy_with_logits: (e, node) => {
    const [x = "", t = ""] = node.inputs;
    const rows = e.op("Add", [e.op("Sub", [e.op("Max", [x, e.scalar(node.type.dtype, 0)]), e.op("Mul", [x, t])]), e.op("Softplus", [e.op("Neg", [e.op("Abs", [x])])])]);
    const rank = rankOf(node);
    if (node.attrs.reduction === "none") return E.right(rows);
    return E.right(node.attrs.reduction === "sum" ? e.reduce("ReduceSum", rows, allAxes(rank), false) : e.reduce("ReduceMean", rows, allAxes(rank), false));
  },
  // modes (evaluation semantics: the exporter's graphs are specialised by the mode pass first)
  mode_switch: (_e, node) => E.right(second(node)),
  state_update: (_e, node) => E.right(first(node)),
  random_uniform: randomUniformOnnx,
  ...convOnnxRows,
};
