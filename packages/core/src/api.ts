/**
 * @file The DSL: pure functions that build tensor handles, named like PyTorch's functional API.
 * Every function records the caller's source location; none of them throws on ill-typed
 * input (the error is reported by `check`).
 */
import { error } from "./diagnostics.js";
import type { Dtype } from "./dtype.js";
import { isFloat } from "./dtype.js";
import { kaimingUniform, zeros, type Init } from "./init.js";
import { flattenNested, nestedShape, type NDArray, type NestedNumbers } from "./ndarray.js";
import type { CrossEntropyAttrs, NllLossAttrs, Reduction } from "./ops/attrs.js";
import { captureLoc } from "./loc.js";
import type { OpCall } from "./ops/attrs.js";
import { formatShape, formatType, normalizeAxis, type Dim, type Shape } from "./shape.js";
import { ArgumentError, dimRangeMessage, guarded, rejected, shapeArg } from "./guard.js";
import { makeTensor, Tensor } from "./tensor.js";

/** A tensor, or a JS number standing for a scalar of the other operand's dtype. */
export type TensorLike = Tensor | number;

// ----- leaves -------------------------------------------------------------------------------

/** A named input fed at run time, e.g. `input("x", ["batch", 784])`. */
export const input = guarded("input", (name: string, shape: Shape, dtype: Dtype = "f32"): Tensor => makeTensor("input", { name, shape: shapeArg(shape), dtype }, []));

/** A named trainable parameter with its initialiser (default zeros). */
export const param = guarded("param", (name: string, shape: readonly number[], init: Init = zeros, dtype: Dtype = "f32"): Tensor =>
  makeTensor("param", { name, shape: shapeArg(shape), dtype, init }, []));

/** A constant from a number, a nested array or an NDArray. */
export const constant = guarded("constant", (value: NestedNumbers | NDArray, dtype: Dtype = "f32"): Tensor => {
  if (typeof value === "object" && value !== null && "data" in value)
    return makeTensor("constant", { value: Array.from(value.data), shape: [...value.shape], dtype }, []);
  let shape: number[];
  try {
    shape = nestedShape(value);
  } catch (thrown) {
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    return rejected({ op: "constant", attrs: { value: [], shape: [], dtype } }, [], `constant: ${message}`);
  }
  return makeTensor("constant", { value: flattenNested(value), shape, dtype }, []);
});

/** A tensor of `shape` filled with `value` (the shape may have symbolic dims). */
export const full = guarded("full", (shape: Shape, value: number, dtype: Dtype = "f32"): Tensor => makeTensor("constant", { value: [value], shape: shapeArg(shape), dtype }, []));

/** A scalar constant. */
export const scalar = guarded("scalar", (value: number, dtype: Dtype = "f32"): Tensor => full([], value, dtype));

const lift = (value: TensorLike, like: Tensor | undefined): Tensor => (typeof value === "number" ? scalar(value, like?.dtype ?? "f32") : value);

const liftPair = (a: TensorLike, b: TensorLike): [Tensor, Tensor] => {
  const tensorA = typeof a === "number" ? undefined : a;
  const tensorB = typeof b === "number" ? undefined : b;
  return [lift(a, tensorB), lift(b, tensorA)];
};

// ----- elementwise --------------------------------------------------------------------------

const unary =
  (op: "neg" | "exp" | "log" | "sqrt" | "abs" | "sign" | "relu" | "sigmoid" | "log_sigmoid" | "tanh") =>
  (x: Tensor): Tensor =>
    makeTensor(op, {}, [x]);

export const neg = guarded("neg", unary("neg"));
export const exp = guarded("exp", unary("exp"));
export const log = guarded("log", unary("log"));
export const sqrt = guarded("sqrt", unary("sqrt"));
export const abs = guarded("abs", unary("abs"));
export const sign = guarded("sign", unary("sign"));
export const relu = guarded("relu", unary("relu"));
export const sigmoid = guarded("sigmoid", unary("sigmoid"));
export const logSigmoid = guarded("logSigmoid", unary("log_sigmoid"));
export const tanh = guarded("tanh", unary("tanh"));

// ----- activations ----------------------------------------------------------------------------

/** The error function 2/√π ∫₀ˣ e^(−t²) dt (PyTorch's torch.erf). */
export const erf = guarded("erf", (x: Tensor): Tensor => makeTensor("erf", {}, [x]));

/** PyTorch's F.gelu: x·Φ(x) with the exact erf (default), or its tanh approximation (`approximate: "tanh"`). */
export const gelu = guarded("gelu", (x: Tensor, options: { readonly approximate?: "none" | "tanh" } = {}): Tensor => makeTensor("gelu", { approximate: options.approximate ?? "none" }, [x]));

/** PyTorch's F.silu (swish): x·σ(x). */
export const silu = guarded("silu", (x: Tensor): Tensor => makeTensor("silu", {}, [x]));

/** PyTorch's F.softplus: log(1 + e^(βx))/β, and x where βx > threshold (defaults β = 1, threshold = 20). */
export const softplus = guarded("softplus", (x: Tensor, options: { readonly beta?: number; readonly threshold?: number } = {}): Tensor =>
  makeTensor("softplus", { beta: options.beta ?? 1, threshold: options.threshold ?? 20 }, [x]));

/** PyTorch's F.leaky_relu: x where x > 0, else negativeSlope·x (default 0.01). */
export const leakyRelu = guarded("leakyRelu", (x: Tensor, negativeSlope = 0.01): Tensor => makeTensor("leaky_relu", { negativeSlope }, [x]));

/** PyTorch's F.elu: x where x > 0, else α(eˣ − 1) (default α = 1). */
export const elu = guarded("elu", (x: Tensor, alpha = 1): Tensor => makeTensor("elu", { alpha }, [x]));

/** PyTorch's F.hardtanh: x clamped to [minVal, maxVal] (default [−1, 1]); no gradient at or beyond the bounds. */
export const hardtanh = guarded("hardtanh", (x: Tensor, minVal = -1, maxVal = 1): Tensor => makeTensor("hardtanh", { minVal, maxVal }, [x]));

/** PyTorch's torch.clamp: min(max(x, min), max); either bound may be left out (not both). */
export const clamp = guarded("clamp", (x: Tensor, bounds: { readonly min?: number; readonly max?: number }): Tensor => makeTensor("clamp", { min: bounds?.min, max: bounds?.max }, [x]));

/** Converts to another dtype (float → int truncates toward zero, like PyTorch). */
export const cast = guarded("cast", (x: Tensor, dtype: Dtype): Tensor => makeTensor("cast", { dtype }, [x]));

type BinaryOp = "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum" | "eq" | "ne" | "lt" | "le" | "gt" | "ge";
const binary =
  (op: BinaryOp) =>
  (a: TensorLike, b: TensorLike): Tensor =>
    makeTensor(op, {}, liftPair(a, b));

export const add = guarded("add", binary("add"));
export const sub = guarded("sub", binary("sub"));
export const mul = guarded("mul", binary("mul"));
export const div = guarded("div", binary("div"));
export const pow = guarded("pow", binary("pow"));
export const maximum = guarded("maximum", binary("maximum"));
export const minimum = guarded("minimum", binary("minimum"));
export const eq = guarded("eq", binary("eq"));
export const ne = guarded("ne", binary("ne"));
export const lt = guarded("lt", binary("lt"));
export const le = guarded("le", binary("le"));
export const gt = guarded("gt", binary("gt"));
export const ge = guarded("ge", binary("ge"));

/** `cond ? a : b` elementwise, broadcasting all three. */
export const where = guarded("where", (cond: Tensor, a: TensorLike, b: TensorLike): Tensor => {
  const [liftedA, liftedB] = liftPair(a, b);
  return makeTensor("where", {}, [cond, liftedA, liftedB]);
});

export const square = guarded("square", (x: Tensor): Tensor => mul(x, x));

// ----- reductions ---------------------------------------------------------------------------

const axesOf = (x: Tensor, dims: number | readonly number[] | undefined): number[] => {
  const rank = x.rank;
  const list = dims === undefined ? Array.from({ length: rank }, (_, i) => i) : typeof dims === "number" ? [dims] : [...dims];
  // as in PyTorch, a rank-0 tensor reduces over dim 0 (or -1): over nothing
  if (rank === 0 && x.type !== undefined && list.every((dim) => dim === 0 || dim === -1)) return [];
  return list.map((dim) => normalizeAxis(dim, rank) ?? dim);
};

/** A dim normalised to [0, rank); a rank-0 tensor takes 0 or -1 (PyTorch's range for 0-d tensors). */
const axisOf = (x: Tensor, dim: number): number => (x.rank === 0 && dim === -1 ? 0 : (normalizeAxis(dim, x.rank) ?? dim));

type ReduceOp = "sum" | "mean" | "max" | "min" | "logsumexp";
const reduce =
  (op: ReduceOp) =>
  (x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor =>
    makeTensor(op, { dims: axesOf(x, dims), keepdim }, [x]);

/** Sum over `dims` (all dims when omitted). */
export const sum = guarded("sum", reduce("sum"));
export const mean = guarded("mean", reduce("mean"));
export const max = guarded("max", reduce("max"));
export const min = guarded("min", reduce("min"));
/** log Σ exp(x) over `dims`, max-shifted. */
export const logsumexp = guarded("logsumexp", reduce("logsumexp"));

/** Index of the largest value along `dim` (first one on ties), as i32. */
export const argmax = guarded("argmax", (x: Tensor, dim: number, keepdim = false): Tensor => makeTensor("argmax", { dim: axisOf(x, dim), keepdim }, [x]));

/** The number of elements in `dims` of x (all dims when omitted), as a scalar. */
export const dimSize = guarded("dimSize", (x: Tensor, dims?: number | readonly number[], dtype: Dtype = x.dtype ?? "f32"): Tensor =>
  makeTensor("dim_size", { dims: axesOf(x, dims), dtype: isFloat(dtype) ? dtype : "f32" }, [x]));

// ----- shape --------------------------------------------------------------------------------

/** Reshape; one dim may be -1 (inferred). */
export const reshape = guarded("reshape", (x: Tensor, shape: Shape): Tensor => makeTensor("reshape", { shape: shapeArg(shape) }, [x]));
/** Alias of reshape, as in PyTorch. */
export const view = reshape;

/** Flattens dims startDim..endDim into one (a scalar becomes `[1]`, as in PyTorch). */
export const flatten = guarded("flatten", (x: Tensor, startDim = 0, endDim = -1): Tensor => {
  if (x.type !== undefined && x.rank === 0) return reshape(x, [1]);
  const start = normalizeAxis(startDim, x.rank);
  const end = normalizeAxis(endDim, x.rank);
  const reshapeCall: OpCall = { op: "reshape", attrs: { shape: [] } };
  if (x.type !== undefined) {
    if (start === undefined) return rejected(reshapeCall, [x], dimRangeMessage("flatten", startDim, x.shape));
    if (end === undefined) return rejected(reshapeCall, [x], dimRangeMessage("flatten", endDim, x.shape));
    if (start > end) return rejected(reshapeCall, [x], `flatten: startDim ${startDim} comes after endDim ${endDim} in ${formatType(x.type)}`);
  }
  if (start === undefined || end === undefined) return reshape(x, []);
  const shape = x.shape;
  const middle = shape.slice(start, end + 1);
  const merged: Dim = middle.every((dim) => typeof dim === "number") ? middle.reduce<number>((p, d) => p * (d as number), 1) : middle.length === 1 ? (middle[0] as Dim) : -1;
  return reshape(x, [...shape.slice(0, start), merged, ...shape.slice(end + 1)]);
});

/** Reorders dims: `permute(x, [1, 0])`. */
export const permute = guarded("permute", (x: Tensor, perm: readonly number[]): Tensor =>
  makeTensor("transpose", { perm: perm.map((axis) => axisOf(x, axis)) }, [x]));

/** Swaps two dims (PyTorch's `transpose(x, d0, d1)`); defaults to the last two. */
export const transpose = guarded("transpose", (x: Tensor, dim0 = -2, dim1 = -1): Tensor => {
  const a = axisOf(x, dim0);
  const b = axisOf(x, dim1);
  const perm = Array.from({ length: x.rank }, (_, i) => (i === a ? b : i === b ? a : i));
  return makeTensor("transpose", { perm }, [x]);
});

/** Broadcasts to `shape` (PyTorch's expand / broadcast_to). */
export const expand = guarded("expand", (x: Tensor, shape: Shape): Tensor => makeTensor("expand", { shape: shapeArg(shape) }, [x]));

/** Inserts a size-1 dim at `dim` (−rank−1 ≤ dim ≤ rank). */
export const unsqueeze = guarded("unsqueeze", (x: Tensor, dim: number): Tensor => {
  const rank = x.rank + 1;
  const axis = normalizeAxis(dim, rank);
  if (axis === undefined)
    return x.type === undefined ? reshape(x, []) : rejected({ op: "reshape", attrs: { shape: [] } }, [x], dimRangeMessage("unsqueeze", dim, x.shape, rank));
  return reshape(x, [...x.shape.slice(0, axis), 1, ...x.shape.slice(axis)]);
});

/** Removes the dim `dim`, which must have size 1. */
export const squeeze = guarded("squeeze", (x: Tensor, dim: number): Tensor => {
  const axis = normalizeAxis(dim, x.rank);
  if (x.type !== undefined && x.rank > 0) {
    const reshapeCall: OpCall = { op: "reshape", attrs: { shape: [] } };
    if (axis === undefined) return rejected(reshapeCall, [x], dimRangeMessage("squeeze", dim, x.shape));
    const size = x.shape[axis];
    if (size !== 1) return rejected(reshapeCall, [x], `squeeze: dim ${dim} of ${formatType(x.type)} has size ${String(size)}, expected 1`);
  }
  return reshape(x, x.shape.filter((_, i) => i !== axis));
});

// ----- linear algebra -----------------------------------------------------------------------

/** Matrix product with PyTorch's rules (1-D operands are promoted and the dim removed; batch dims broadcast). */
export const matmul = guarded("matmul", (a: Tensor, b: Tensor): Tensor => {
  if (a.rank === 1 && b.rank >= 2) return squeeze(makeTensor("matmul", {}, [unsqueeze(a, 0), b]), -2);
  if (b.rank === 1 && a.rank >= 2) return squeeze(makeTensor("matmul", {}, [a, unsqueeze(b, 1)]), -1);
  if (a.rank === 1 && b.rank === 1) return reshape(makeTensor("matmul", {}, [unsqueeze(a, 0), unsqueeze(b, 1)]), []);
  return makeTensor("matmul", {}, [a, b]);
});

/** PyTorch's F.linear: `x @ weightᵀ + bias` with weight of shape [out, in]. */
export const linear = guarded("linear", (x: Tensor, weight: Tensor, bias?: Tensor): Tensor => {
  const product = matmul(x, transpose(weight, 0, 1));
  return bias === undefined ? product : add(product, bias);
});

/**
 * A fully connected layer like `nn.Linear(inFeatures, outFeatures)`: creates the params
 * `<name>.weight` [out, in] and `<name>.bias` [out] with PyTorch's default initialisation.
 */
export const dense = guarded("dense", (x: Tensor, inFeatures: number, outFeatures: number, name: string, options: { readonly bias?: boolean } = {}): Tensor => {
  const weight = param(`${name}.weight`, [outFeatures, inFeatures], kaimingUniform(inFeatures));
  const bias = options.bias === false ? undefined : param(`${name}.bias`, [outFeatures], kaimingUniform(inFeatures));
  return linear(x, weight, bias);
});

// ----- indexing -----------------------------------------------------------------------------

/** One-hot encoding of integer labels along a new last dim. Labels outside [0, numClasses) give a zero row. */
export const oneHot = guarded("oneHot", (labels: Tensor, numClasses: number, dtype: Dtype = "f32"): Tensor => makeTensor("one_hot", { numClasses, dtype }, [labels]));

/** PyTorch's `torch.gather(x, dim, index)`: out[i][j] = x[i][index[i][j]] for dim 1. */
export const gather = guarded("gather", (x: Tensor, dim: number, index: Tensor): Tensor => makeTensor("gather", { dim: axisOf(x, dim) }, [x, index]));

/** Zeros of `shape` with `src` added at `index` along `dim` (PyTorch's scatter_add). */
export const scatterAdd = guarded("scatterAdd", (shape: Shape, dim: number, index: Tensor, src: Tensor): Tensor =>
  makeTensor("scatter_add", { dim: normalizeAxis(dim, shape.length) ?? dim, shape: [...shape] }, [index, src]));

/** The seed's `y_hat[range(n), y]`: picks one entry per row along `dim` (default the last). */
export const pick = guarded("pick", (x: Tensor, index: Tensor, dim = -1): Tensor => {
  const axis = axisOf(x, dim);
  return squeeze(gather(x, axis, unsqueeze(index, axis)), axis);
});

// ----- softmax family and losses ------------------------------------------------------------

/** Softmax along `dim`, max-shifted. */
export const softmax = guarded("softmax", (x: Tensor, dim: number): Tensor => makeTensor("softmax", { dim: axisOf(x, dim) }, [x]));
/** log(softmax(x)) computed stably as x − logsumexp(x). */
export const logSoftmax = guarded("logSoftmax", (x: Tensor, dim: number): Tensor => makeTensor("log_softmax", { dim: axisOf(x, dim) }, [x]));

export interface NllLossOptions {
  readonly reduction?: Reduction;
  readonly weight?: Tensor;
  readonly ignoreIndex?: number;
  /** The class dim; PyTorch's default is 1 (0 for a 1-D input). */
  readonly dim?: number;
}

export interface CrossEntropyOptions extends NllLossOptions {
  readonly labelSmoothing?: number;
}

const classDim = (x: Tensor, dim: number | undefined): number => (dim === undefined ? (x.rank === 1 ? 0 : 1) : axisOf(x, dim));

const nllAttrs = (x: Tensor, options: NllLossOptions): NllLossAttrs => ({
  dim: classDim(x, options.dim),
  reduction: options.reduction ?? "mean",
  ignoreIndex: options.ignoreIndex ?? -100,
  weighted: options.weight !== undefined,
});

/** PyTorch's F.nll_loss on log-probabilities with integer targets. */
export const nllLoss = guarded("nllLoss", (logProbs: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor =>
  makeTensor("nll_loss", nllAttrs(logProbs, options), options.weight === undefined ? [logProbs, target] : [logProbs, target, options.weight]));

/**
 * PyTorch's F.cross_entropy on raw logits: integer targets (i32) or class-probability targets
 * (float, the logits' shape), with reduction, class weight, ignoreIndex and labelSmoothing.
 */
export const crossEntropy = guarded("crossEntropy", (logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor => {
  const attrs: CrossEntropyAttrs = {
    ...nllAttrs(logits, options),
    labelSmoothing: options.labelSmoothing ?? 0,
    target: target.dtype !== undefined && isFloat(target.dtype) && target.rank === logits.rank ? "prob" : "index",
  };
  return makeTensor("cross_entropy", attrs, options.weight === undefined ? [logits, target] : [logits, target, options.weight]);
});

/** PyTorch's F.binary_cross_entropy_with_logits (the k = 2 case), stable for large |x|. */
export const binaryCrossEntropyWithLogits = guarded("binaryCrossEntropyWithLogits", (logits: Tensor, target: Tensor, options: { readonly reduction?: Reduction } = {}): Tensor =>
  makeTensor("binary_cross_entropy_with_logits", { reduction: options.reduction ?? "mean" }, [logits, target]));

/** Mean squared error, as PyTorch's F.mse_loss with reduction mean. */
export const mseLoss = guarded("mseLoss", (prediction: Tensor, target: Tensor): Tensor => mean(square(sub(prediction, target))));

export { Tensor };

// ----- backward ops (used by VJP rules; exposed for tests and custom rules) --------------------

/** ∂nll_loss/∂logProbs for upstream `grad` (shape: scalar, or per row for reduction none). */
export const nllLossBackward = guarded("nllLossBackward", (logProbs: Tensor, target: Tensor, grad: Tensor, attrs: NllLossAttrs, weight?: Tensor): Tensor =>
  makeTensor("nll_loss_backward", { ...pickNll(attrs), weighted: weight !== undefined }, weight === undefined ? [logProbs, target, grad] : [logProbs, target, grad, weight]));

/** ∂cross_entropy/∂logits = (softmax(x) − target)·scale, with weights, ignoreIndex and smoothing. */
export const crossEntropyBackward = guarded("crossEntropyBackward", (logits: Tensor, target: Tensor, grad: Tensor, attrs: CrossEntropyAttrs, weight?: Tensor): Tensor =>
  makeTensor(
    "cross_entropy_backward",
    { ...pickNll(attrs), labelSmoothing: attrs.labelSmoothing, target: attrs.target, weighted: weight !== undefined },
    weight === undefined ? [logits, target, grad] : [logits, target, grad, weight],
  ));

const pickNll = (attrs: NllLossAttrs): NllLossAttrs => ({ dim: attrs.dim, reduction: attrs.reduction, ignoreIndex: attrs.ignoreIndex, weighted: attrs.weighted });
