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

/** A 2-D convolution's geometry (PyTorch's conv2d): padding per side [top, bottom, left, right]. */
export interface Conv2dAttrs {
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number, number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
}

/** A 2-D pooling window (PyTorch's max_pool2d/avg_pool2d): padding [height, width] on both sides. */
export interface Pool2dAttrs {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly ceilMode: boolean;
}

/** The 1-D versions (composites over the 2-D rows). */
export interface Conv1dAttrs {
  readonly stride: number;
  readonly padding: readonly [number, number];
  readonly dilation: number;
  readonly groups: number;
}
export interface Pool1dAttrs {
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly ceilMode: boolean;
}
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
  // data movement (ops/movement.ts)
  /** `dims` sliced with start ≤ stop within the dim, step ≥ 1 (the API normalises Python-style indices). */
  slice: { readonly dims: readonly number[]; readonly starts: readonly number[]; readonly stops: readonly number[]; readonly steps: readonly number[] };
  /** Per dim (every dim of the input): `before`/`after` ≥ 0, `interior` zeros between elements (constant mode only). */
  pad: { readonly before: readonly number[]; readonly after: readonly number[]; readonly interior: readonly number[]; readonly mode: "constant" | "reflect" | "replicate"; readonly value: number };
  flip: { readonly dims: readonly number[] };
  /** `size` values start, start + step, … of `dtype`. */
  arange: { readonly start: number; readonly step: number; readonly size: number; readonly dtype: Dtype };
  concat: { readonly dim: number };
  tril: { readonly diagonal: number };
  triu: { readonly diagonal: number };
  embedding: { readonly paddingIdx: number | undefined };
  /** The weight gradient of embedding: rows of `grad` summed into [numEmbeddings, dim] at `indices`. */
  embedding_backward: { readonly numEmbeddings: number };
  // linear algebra
  matmul: NoAttrs;
  // indexing
  one_hot: { readonly numClasses: number; readonly dtype: Dtype };
  gather: { readonly dim: number };
  scatter_add: { readonly dim: number; readonly shape: Shape };
  // convolution and pooling (ops/conv.ts)
  conv2d: Conv2dAttrs;
  /** Input [N, Cin, H, W], weight [Cin, Cout/groups, kh, kw]; `outputPadding` extends the bottom/right. */
  conv_transpose2d: Conv2dAttrs & { readonly outputPadding: readonly [number, number] };
  /** conv2d's weight gradient from (input, output cotangent); `kernel` is the weight's [kh, kw]. */
  conv2d_weight_grad: Conv2dAttrs & { readonly kernel: readonly [number, number] };
  conv1d: Conv1dAttrs;
  max_pool2d: Pool2dAttrs;
  /** (input, output cotangent) → input cotangent: each window's cotangent to its first maximum. */
  max_pool2d_backward: Pool2dAttrs;
  avg_pool2d: Pool2dAttrs & { readonly countIncludePad: boolean };
  adaptive_avg_pool2d: { readonly outputSize: readonly [number, number] };
  max_pool1d: Pool1dAttrs;
  avg_pool1d: Pool1dAttrs & { readonly countIncludePad: boolean };
  // softmax family and losses
  softmax: { readonly dim: number };
  log_softmax: { readonly dim: number };
  nll_loss: NllLossAttrs;
  nll_loss_backward: NllLossAttrs;
  cross_entropy: CrossEntropyAttrs;
  cross_entropy_backward: CrossEntropyAttrs;
  binary_cross_entropy_with_logits: { readonly reduction: Reduction };
  // fused normalization and attention rows (ops/norm.ts)
  /** Normalizes over the trailing `dims` dims (biased variance, eps inside the root); inputs [x, weight?, bias?] as `weight`/`bias` say. */
  layer_norm: { readonly dims: number; readonly eps: number; readonly weight: boolean; readonly bias: boolean };
  /** Inputs [x, grad, weight?]: the input cotangent of layer_norm. */
  layer_norm_backward: { readonly dims: number; readonly eps: number; readonly weight: boolean };
  /** softmax over the last dim of x·scale with a bool (false → −inf) or additive mask (input 2) and the causal mask; a row of −inf only gives 0. */
  attention_softmax: { readonly scale: number; readonly mask: "none" | "bool" | "add"; readonly causal: boolean };
  /** Inputs [y, grad]: scale·y⊙(grad − Σ grad⊙y) over the last dim (softmax's input cotangent from its output). */
  softmax_backward: { readonly scale: number };
  /** The batch mean and biased variance per channel (dim 1) of [N, C, *], as [2, C]. */
  batch_norm_stats: NoAttrs;
  /** Inputs [x, stats [2, C], weight?, bias?]: (x − mean)/√(var + eps) per channel, ⊙ weight + bias. */
  batch_norm: { readonly eps: number; readonly weight: boolean; readonly bias: boolean };
  /** Inputs [x, stats, grad]: per channel Σ grad and Σ grad⊙x̂, as [2, C]. */
  batch_norm_backward_stats: { readonly eps: number };
  // training and evaluation modes, randomness (ops/modes.ts)
  /** Inputs [train, eval]: the `mode` pass keeps one; evaluation semantics otherwise. */
  mode_switch: NoAttrs;
  /** Inputs [value, param, newValue]: `value`, and in training mode the param takes `newValue` after the step. */
  state_update: NoAttrs;
  /**
   * Uniform [0, 1) of `shape` from a hash of (seed, stream, counter, element index); input: the
   * i32 scalar counter. The `mode` pass numbers the streams of a graph's random ops.
   */
  random_uniform: { readonly shape: Shape; readonly seed: number; readonly stream: number };
}

export type OpName = keyof OpAttrs;

/** An op with its attributes, as a discriminated union on `op`. */
export type OpCall = { readonly [K in OpName]: { readonly op: K; readonly attrs: OpAttrs[K] } }[OpName];
