/**
 * @file The kernel IR both back ends compile: a static schedule of kernels over buffers.
 * Elementwise chains are expression trees read through strided views (broadcast, transpose and
 * unit-dim reshapes cost nothing); reductions absorb their elementwise producers; matmuls take
 * transposed operands as strides and carry a bias/ReLU epilogue; softmax-family, loss,
 * normalization and attention-softmax ops are row kernels.
 */
import type { ConvGeometry, CrossEntropyAttrs, Dtype, NllLossAttrs, NodeId, PoolGeometry, Reduction } from "@graft/core";

export type BufferId = number;

export type BufferKind = "state" | "input" | "output" | "temp" | "const";

export interface BufferInfo {
  readonly id: BufferId;
  readonly kind: BufferKind;
  readonly dtype: Dtype;
  /** Number of elements. */
  readonly size: number;
  /** State/input/output name. */
  readonly name?: string;
  /** Initial values of a const buffer. */
  readonly values?: readonly number[];
}

/** Strided access of a buffer over a kernel's iteration space (one stride per iteration axis). */
export interface Access {
  readonly buffer: BufferId;
  readonly offset: number;
  readonly strides: readonly number[];
}

/** The unary math primitives of the op table (`UNARY_OPS` in lower.ts holds the same names, derived from `OpDef.kind`). */
export type UnaryOp = "neg" | "exp" | "log" | "sqrt" | "abs" | "sign" | "relu" | "sigmoid" | "log_sigmoid" | "tanh" | "erf";
export type BinaryOp = "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum" | "eq" | "ne" | "lt" | "le" | "gt" | "ge";

/** An elementwise expression over a kernel's iteration space. Comparisons yield 0/1. */
export type Expr =
  | { readonly kind: "read"; readonly access: Access; readonly dtype: Dtype }
  | { readonly kind: "const"; readonly value: number }
  /** The iteration index along an axis, as a number. */
  | { readonly kind: "iota"; readonly axis: number }
  | { readonly kind: "unary"; readonly op: UnaryOp; readonly arg: Expr }
  | { readonly kind: "binary"; readonly op: BinaryOp; readonly lhs: Expr; readonly rhs: Expr; readonly integer: boolean }
  | { readonly kind: "select"; readonly cond: Expr; readonly then: Expr; readonly else: Expr }
  /**
   * A read at a computed position: element `index` (an i32 expression, kept in bounds by the
   * lowering) of the memory at `access` (whose strides are all 0). Index maps: pad, flip, embedding.
   */
  | { readonly kind: "indexed"; readonly access: Access; readonly dtype: Dtype; readonly index: Expr }
  /** Conversion to an integer or bool value (float → i32 truncates; → bool is ≠ 0); float targets need no code. */
  | { readonly kind: "cast"; readonly to: "i32" | "bool"; readonly arg: Expr }
  /**
   * U[0, 1) from the counter-based hash of core's `randomBits(key, counter, index)` (the
   * `random_uniform` op): `counter` and `index` are i32 expressions, `key` mixes seed and stream.
   */
  | { readonly kind: "random"; readonly key: number; readonly counter: Expr; readonly index: Expr };

/** A row layout: `outer × size × inner`, element c of row (o, i) at o·size·inner + c·inner + i. */
export interface Rows {
  readonly outer: number;
  readonly size: number;
  readonly inner: number;
}

export type Kernel =
  /** out[i] = expr(i) over `shape`, out contiguous. */
  | { readonly kind: "map"; readonly out: BufferId; readonly shape: readonly number[]; readonly expr: Expr; readonly nodes: readonly NodeId[] }
  /**
   * out[kept] = reduce over the reduced axes of expr(i), over the input iteration `shape`.
   * `outStrides` has 0 on reduced axes. `scale` multiplies the result (1/count for mean).
   */
  | {
      readonly kind: "reduce";
      readonly op: "sum" | "max" | "min";
      readonly out: BufferId;
      readonly shape: readonly number[];
      readonly reducedAxes: readonly number[];
      readonly outStrides: readonly number[];
      readonly outSize: number;
      readonly expr: Expr;
      readonly scale: number;
      readonly nodes: readonly NodeId[];
    }
  /** C[b] = A[b] @ B[b] (+ bias row) (ReLU), with A, B given by strides (transposes are free). */
  | {
      readonly kind: "matmul";
      readonly out: BufferId;
      readonly batch: number;
      readonly m: number;
      readonly n: number;
      readonly k: number;
      /** Element offsets and strides: a[b][i][p] at a.offset + b·aBatch + i·aRow + p·aCol. */
      readonly a: { readonly buffer: BufferId; readonly offset: number; readonly batchStride: number; readonly rowStride: number; readonly colStride: number };
      readonly b: { readonly buffer: BufferId; readonly offset: number; readonly batchStride: number; readonly rowStride: number; readonly colStride: number };
      readonly bias: { readonly buffer: BufferId; readonly offset: number } | undefined;
      readonly relu: boolean;
      /** Set when a batched matmul over one shared right matrix runs as this one GEMM: the batch count folded into `m` (the stacked-rows rewrite). */
      readonly stackedBatch?: number;
      /** Set when a batched matmul summed over its batch runs as this one GEMM: the batch count folded into `k` (the batch-sum rewrite). */
      readonly summedBatch?: number;
      readonly nodes: readonly NodeId[];
    }
  | { readonly kind: "softmax"; readonly log: boolean; readonly x: BufferId; readonly out: BufferId; readonly rows: Rows; readonly nodes: readonly NodeId[] }
  | { readonly kind: "logsumexp"; readonly x: BufferId; readonly out: BufferId; readonly rows: Rows; readonly nodes: readonly NodeId[] }
  | { readonly kind: "argmax"; readonly x: BufferId; readonly out: BufferId; readonly rows: Rows; readonly nodes: readonly NodeId[] }
  | {
      readonly kind: "cross_entropy";
      readonly x: BufferId;
      readonly target: BufferId;
      readonly weight: BufferId | undefined;
      readonly out: BufferId;
      /**
       * Per-row (shift, log Σ exp(x − shift)) pairs, two f32 a row, written for the backward kernel
       * to reuse (no max recomputation). The shift is the row max (or, on WASM's fast path, the
       * target logit); never store their sum, which loses log Σ next to a huge shift.
       */
      readonly lse: BufferId | undefined;
      readonly rows: Rows;
      readonly attrs: CrossEntropyAttrs;
      readonly nodes: readonly NodeId[];
    }
  | {
      readonly kind: "cross_entropy_backward";
      readonly x: BufferId;
      readonly target: BufferId;
      readonly grad: BufferId;
      readonly weight: BufferId | undefined;
      readonly out: BufferId;
      /** Saved per-row logsumexp from the forward kernel, when there is one. */
      readonly lse: BufferId | undefined;
      readonly rows: Rows;
      readonly attrs: CrossEntropyAttrs;
      readonly nodes: readonly NodeId[];
    }
  | { readonly kind: "nll_loss"; readonly x: BufferId; readonly target: BufferId; readonly weight: BufferId | undefined; readonly out: BufferId; readonly rows: Rows; readonly attrs: NllLossAttrs; readonly nodes: readonly NodeId[] }
  | {
      readonly kind: "nll_loss_backward";
      readonly x: BufferId;
      readonly target: BufferId;
      readonly grad: BufferId;
      readonly weight: BufferId | undefined;
      readonly out: BufferId;
      readonly rows: Rows;
      readonly attrs: NllLossAttrs;
      readonly nodes: readonly NodeId[];
    }
  | { readonly kind: "bce_logits"; readonly x: BufferId; readonly target: BufferId; readonly out: BufferId; readonly size: number; readonly reduction: Reduction; readonly nodes: readonly NodeId[] }
  /** gather (scatter=false) or scatter_add (scatter=true) along `dim` with contiguous operands. */
  | {
      readonly kind: "gather";
      readonly scatter: boolean;
      readonly source: BufferId;
      readonly index: BufferId;
      readonly out: BufferId;
      readonly indexShape: readonly number[];
      readonly sourceShape: readonly number[];
      readonly dim: number;
      readonly nodes: readonly NodeId[];
    }
  /**
   * Convolution over NCHW (core's `ConvGeometry`): `forward` a = image, b = weight → output side
   * (+ bias per channel); `transpose` a = output side, b = weight → image side (+ bias);
   * `weight_grad` a = image, b = output cotangent → weight. `col` is scratch for the im2col matrix
   * of one image and group (WASM), undefined for a 1×1 convolution without stride or padding (the
   * image is its own col matrix) and for a direct depthwise one (lower-conv.ts `directDepthwise`). `accumulator`, for some weight gradients (WASM), holds the
   * gradient transposed, [groups][cg·kh·kw][co/groups], while images are summed in.
   */
  | {
      readonly kind: "conv";
      readonly mode: "forward" | "transpose" | "weight_grad";
      readonly a: BufferId;
      readonly b: BufferId;
      readonly bias: BufferId | undefined;
      readonly out: BufferId;
      readonly col: BufferId | undefined;
      readonly accumulator: BufferId | undefined;
      readonly geometry: ConvGeometry;
      readonly nodes: readonly NodeId[];
    }
  /** Window kernels over [planes, h, w]: max / avg (divisor per output position) / max_backward (x, grad → input cotangent). */
  | {
      readonly kind: "pool";
      readonly op: "max" | "avg" | "max_backward";
      readonly x: BufferId;
      readonly grad: BufferId | undefined;
      readonly divisors: BufferId | undefined;
      readonly out: BufferId;
      readonly geometry: PoolGeometry;
      readonly nodes: readonly NodeId[];
    }
  /** layer_norm of `rows` contiguous rows of `size` (biased variance, eps inside the root), ⊙ weight + bias per element of a row when given. */
  | { readonly kind: "layer_norm"; readonly x: BufferId; readonly weight: BufferId | undefined; readonly bias: BufferId | undefined; readonly out: BufferId; readonly rows: number; readonly size: number; readonly eps: number; readonly nodes: readonly NodeId[] }
  /** The input cotangent of layer_norm from (x, grad, weight?), the row statistics recomputed from x. */
  | { readonly kind: "layer_norm_backward"; readonly x: BufferId; readonly grad: BufferId; readonly weight: BufferId | undefined; readonly out: BufferId; readonly rows: number; readonly size: number; readonly eps: number; readonly nodes: readonly NodeId[] }
  /**
   * softmax over `rows` contiguous rows of `size` of x·scale, masked: `mask` is [maskRows, size]
   * (bool: false → −inf; add: added), read by row r mod maskRows; `causalQueries` > 0 masks key
   * c > r mod causalQueries. A row of −inf only is 0.
   */
  | {
      readonly kind: "attention_softmax";
      readonly x: BufferId;
      readonly mask: BufferId | undefined;
      readonly maskKind: "none" | "bool" | "add";
      readonly maskRows: number;
      readonly out: BufferId;
      readonly rows: number;
      readonly size: number;
      readonly scale: number;
      readonly causalQueries: number;
      readonly nodes: readonly NodeId[];
    }
  /** scale·y⊙(g − Σ g⊙y) over `rows` contiguous rows of `size`. */
  | { readonly kind: "softmax_backward"; readonly y: BufferId; readonly grad: BufferId; readonly out: BufferId; readonly rows: number; readonly size: number; readonly scale: number; readonly nodes: readonly NodeId[] }
  /** Per channel c of x [outer, channels, inner] (contiguous): the mean and biased variance over outer × inner, out[c] and out[channels + c]. */
  | { readonly kind: "channel_stats"; readonly x: BufferId; readonly out: BufferId; readonly outer: number; readonly channels: number; readonly inner: number; readonly nodes: readonly NodeId[] }
  /** Per channel c: Σ grad and Σ grad·(x − mean)·rstd (stats [2, channels]: mean, variance), out[c] and out[channels + c]. */
  | {
      readonly kind: "channel_backward_stats";
      readonly x: BufferId;
      readonly stats: BufferId;
      readonly grad: BufferId;
      readonly out: BufferId;
      readonly outer: number;
      readonly channels: number;
      readonly inner: number;
      readonly eps: number;
      readonly nodes: readonly NodeId[];
    }
  /** Copies `size` elements (state updates, aliasing outputs). */
  | { readonly kind: "copy"; readonly from: BufferId; readonly to: BufferId; readonly size: number; readonly nodes: readonly NodeId[] };

/** The direct subexpressions of an expression. */
export const exprChildren = (expr: Expr): readonly Expr[] => {
  switch (expr.kind) {
    case "read":
    case "const":
    case "iota":
      return [];
    case "unary":
    case "cast":
      return [expr.arg];
    case "indexed":
      return [expr.index];
    case "binary":
      return [expr.lhs, expr.rhs];
    case "select":
      return [expr.cond, expr.then, expr.else];
    case "random":
      return [expr.counter, expr.index];
  }
};

/** True when `predicate` holds for the expression or any subexpression. */
export const exprSome = (expr: Expr, predicate: (e: Expr) => boolean): boolean => predicate(expr) || exprChildren(expr).some((child) => exprSome(child, predicate));

/** Every buffer access of an expression, left to right. */
export const exprAccesses = (expr: Expr): Access[] =>
  expr.kind === "read" ? [expr.access] : expr.kind === "indexed" ? [expr.access, ...exprAccesses(expr.index)] : exprChildren(expr).flatMap(exprAccesses);

/** The expression with every access rewritten by `f` (a new tree; the input is unchanged). */
export const mapAccesses = (expr: Expr, f: (access: Access) => Access): Expr => {
  switch (expr.kind) {
    case "read":
      return { ...expr, access: f(expr.access) };
    case "const":
    case "iota":
      return expr;
    case "unary":
    case "cast":
      return { ...expr, arg: mapAccesses(expr.arg, f) };
    case "indexed":
      return { ...expr, access: f(expr.access), index: mapAccesses(expr.index, f) };
    case "binary":
      return { ...expr, lhs: mapAccesses(expr.lhs, f), rhs: mapAccesses(expr.rhs, f) };
    case "select":
      return { ...expr, cond: mapAccesses(expr.cond, f), then: mapAccesses(expr.then, f), else: mapAccesses(expr.else, f) };
    case "random":
      return { ...expr, counter: mapAccesses(expr.counter, f), index: mapAccesses(expr.index, f) };
  }
};

/** The buffers a kernel reads. */
export const kernelReads = (kernel: Kernel): BufferId[] => {
  const fromExpr = (expr: Expr): BufferId[] => exprAccesses(expr).map((access) => access.buffer);
  const optional = (id: BufferId | undefined): BufferId[] => (id === undefined ? [] : [id]);
  switch (kernel.kind) {
    case "map":
    case "reduce":
      return fromExpr(kernel.expr);
    case "matmul":
      return [kernel.a.buffer, kernel.b.buffer, ...optional(kernel.bias?.buffer)];
    case "softmax":
    case "logsumexp":
    case "argmax":
      return [kernel.x];
    case "cross_entropy":
      return [kernel.x, kernel.target, ...optional(kernel.weight)];
    case "cross_entropy_backward":
      return [kernel.x, kernel.target, kernel.grad, ...optional(kernel.weight), ...optional(kernel.lse)];
    case "nll_loss":
      return [kernel.x, kernel.target, ...optional(kernel.weight)];
    case "nll_loss_backward":
      return [kernel.x, kernel.target, kernel.grad, ...optional(kernel.weight)];
    case "bce_logits":
      return [kernel.x, kernel.target];
    case "gather":
      return [kernel.source, kernel.index];
    case "conv":
      return [kernel.a, kernel.b, ...optional(kernel.bias)];
    case "pool":
      return [kernel.x, ...optional(kernel.grad), ...optional(kernel.divisors)];
    case "layer_norm":
      return [kernel.x, ...optional(kernel.weight), ...optional(kernel.bias)];
    case "layer_norm_backward":
      return [kernel.x, kernel.grad, ...optional(kernel.weight)];
    case "attention_softmax":
      return [kernel.x, ...optional(kernel.mask)];
    case "softmax_backward":
      return [kernel.y, kernel.grad];
    case "channel_stats":
      return [kernel.x];
    case "channel_backward_stats":
      return [kernel.x, kernel.stats, kernel.grad];
    case "copy":
      return [kernel.from];
  }
};

/** The buffers a kernel writes. */
export const kernelWrites = (kernel: Kernel): BufferId[] => {
  switch (kernel.kind) {
    case "copy":
      return [kernel.to];
    case "cross_entropy":
      return kernel.lse === undefined ? [kernel.out] : [kernel.out, kernel.lse];
    case "conv":
      return [kernel.out, ...(kernel.col === undefined ? [] : [kernel.col]), ...(kernel.accumulator === undefined ? [] : [kernel.accumulator])];
    default:
      return [kernel.out];
  }
};

/** The reduction of a loss as the runtime's loss kernels take it (kernels-js.ts and the WASM kernels): 0 mean, 1 sum, 2 none. */
export const reductionCode = (reduction: "mean" | "sum" | "none"): 0 | 1 | 2 => (reduction === "mean" ? 0 : reduction === "sum" ? 1 : 2);

/**
 * Groups adjacent axes of `shape` that every stride vector walks contiguously and that `kind`
 * puts in the same class (e.g. kept vs reduced axes): the axes that can run as one loop.
 */
export const groupAxes = (shape: readonly number[], strideSets: ReadonlyArray<readonly number[]>, kind: (axis: number) => number): number[][] => {
  const groups: number[][] = shape.length === 0 ? [] : [[0]];
  for (let axis = 1; axis < shape.length; axis++) {
    const group = groups[groups.length - 1] as number[];
    const previous = group[group.length - 1] as number;
    const mergeable = kind(axis) === kind(previous) && strideSets.every((s) => (s[previous] ?? 0) === (s[axis] ?? 0) * (shape[axis] ?? 1));
    if (mergeable) group.push(axis);
    else groups.push([axis]);
  }
  return groups;
};
