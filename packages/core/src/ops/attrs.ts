/**
 * @file The attributes of every op, keyed by op name. The op table is a mapped type over
 * this interface, so the compiler enforces that every op has a full row.
 */
import type { Dtype } from "../dtype.js";
import type { Shape } from "../shape.js";
import type { Init } from "../init.js";

export type Reduction = "mean" | "sum" | "none";

/** Options shared by cross_entropy and its backward (PyTorch's F.cross_entropy). */
export interface CrossEntropyAttrs {
  /** The class dim (PyTorch: 1, or 0 for a 1-D input). */
  readonly dim: number;
  readonly reduction: Reduction;
  readonly ignoreIndex: number;
  readonly labelSmoothing: number;
  /** `index`: integer class targets; `prob`: class-probability targets of the input's shape. */
  readonly target: "index" | "prob";
  /** A class-weight tensor is the last input. */
  readonly weighted: boolean;
}

export interface NllLossAttrs {
  readonly dim: number;
  readonly reduction: Reduction;
  readonly ignoreIndex: number;
  readonly weighted: boolean;
}

type NoAttrs = Readonly<Record<string, never>>;
interface Dims {
  readonly dims: readonly number[];
  readonly keepdim: boolean;
}

export interface OpAttrs {
  // leaves
  input: { readonly name: string; readonly shape: Shape; readonly dtype: Dtype };
  param: { readonly name: string; readonly shape: Shape; readonly dtype: Dtype; readonly init: Init };
  /** `value` holds every element row-major, or one value broadcast to the whole shape. */
  constant: { readonly value: readonly number[]; readonly shape: Shape; readonly dtype: Dtype };
  // unary elementwise
  neg: NoAttrs;
  exp: NoAttrs;
  log: NoAttrs;
  sqrt: NoAttrs;
  abs: NoAttrs;
  sign: NoAttrs;
  relu: NoAttrs;
  sigmoid: NoAttrs;
  log_sigmoid: NoAttrs;
  tanh: NoAttrs;
  cast: { readonly dtype: Dtype };
  // activations (erf is a primitive, the others composites)
  erf: NoAttrs;
  gelu: { readonly approximate: "none" | "tanh" };
  silu: NoAttrs;
  softplus: { readonly beta: number; readonly threshold: number };
  leaky_relu: { readonly negativeSlope: number };
  elu: { readonly alpha: number };
  hardtanh: { readonly minVal: number; readonly maxVal: number };
  /** Either bound may be absent (not both). */
  clamp: { readonly min: number | undefined; readonly max: number | undefined };
  // binary elementwise (broadcasting)
  add: NoAttrs;
  sub: NoAttrs;
  mul: NoAttrs;
  div: NoAttrs;
  pow: NoAttrs;
  maximum: NoAttrs;
  minimum: NoAttrs;
  eq: NoAttrs;
  ne: NoAttrs;
  lt: NoAttrs;
  le: NoAttrs;
  gt: NoAttrs;
  ge: NoAttrs;
  where: NoAttrs;
  // reductions
  sum: Dims;
  mean: Dims;
  max: Dims;
  min: Dims;
  logsumexp: Dims;
  argmax: { readonly dim: number; readonly keepdim: boolean };
  /** The number of elements in `dims` of the input, as a scalar of `dtype` (symbolic-size aware). */
  dim_size: { readonly dims: readonly number[]; readonly dtype: Dtype };
  // shape
  reshape: { readonly shape: Shape };
  transpose: { readonly perm: readonly number[] };
  expand: { readonly shape: Shape };
  // linear algebra
  matmul: NoAttrs;
  // indexing
  one_hot: { readonly numClasses: number; readonly dtype: Dtype };
  gather: { readonly dim: number };
  scatter_add: { readonly dim: number; readonly shape: Shape };
  // softmax family and losses
  softmax: { readonly dim: number };
  log_softmax: { readonly dim: number };
  nll_loss: NllLossAttrs;
  nll_loss_backward: NllLossAttrs;
  cross_entropy: CrossEntropyAttrs;
  cross_entropy_backward: CrossEntropyAttrs;
  binary_cross_entropy_with_logits: { readonly reduction: Reduction };
}

export type OpName = keyof OpAttrs;

/** An op with its attributes, as a discriminated union on `op`. */
export type OpCall = { readonly [K in OpName]: { readonly op: K; readonly attrs: OpAttrs[K] } }[OpName];
