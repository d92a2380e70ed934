/**
 * @file The shape of one op-table row: shape rule, dtype rule (both in `infer`), float64
 * reference semantics and gradient (VJP) rule, side by side — and, for a composite, its
 * definition in other ops of the table (`decompose`).
 */
import type * as E from "fp-ts/lib/Either.js";
import type { Dtype } from "../dtype.js";
import type { NDArray } from "../ndarray.js";
import type { TensorType } from "../shape.js";
import type { Tensor } from "../tensor.js";
import type { OpAttrs, OpName } from "./attrs.js";

/**
 * What kind of computation an op is. The lowering derives its op sets from it (elementwise
 * primitives become expressions of one map kernel, shape ops become strided views).
 */
export type OpKind = "leaf" | "elementwise" | "reduce" | "shape" | "matmul" | "index" | "softmax" | "norm" | "loss" | "conv" | "mode" | "random";

/** The arguments a VJP rule gets: the forward node's inputs and output, and the output's cotangent. */
export interface VjpArgs<K extends OpName> {
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly grad: Tensor;
  readonly attrs: OpAttrs[K];
}

/** A VJP rule: one cotangent per input, written with ops of the table; undefined means none flows. */
export type VjpRule<K extends OpName> = (args: VjpArgs<K>) => ReadonlyArray<Tensor | undefined>;

/**
 * A row's gradient: a rule, the reason it has none (argmax, comparisons, …), or — for a
 * composite — "differentiate my decomposition" (`grad` backpropagates through the ops
 * `decompose` builds).
 */
export type Gradient<K extends OpName> = { readonly rule: VjpRule<K> } | { readonly none: string } | { readonly fromDecomposition: true };

/**
 * A composite's definition in other ops of the table, written with the DSL like a VJP rule: the
 * node's inputs and attributes in, a tensor of the node's type out. Its value must equal the
 * row's `evaluate` (checked for every composite by the core tests).
 */
export type Decompose<K extends OpName> = (inputs: readonly Tensor[], attrs: OpAttrs[K]) => Tensor;

export interface OpDef<K extends OpName> {
  readonly kind: OpKind;
  /** Minimum and maximum number of tensor inputs. */
  readonly arity: readonly [number, number];
  /** Shape and dtype rule. Left is the message (the op name and location are added by the caller). */
  readonly infer: (inputs: readonly TensorType[], attrs: OpAttrs[K]) => E.Either<string, TensorType>;
  /** Float64 reference semantics on concrete arrays; `out` is the concrete output type. */
  readonly evaluate: (inputs: readonly NDArray[], attrs: OpAttrs[K], out: { readonly shape: readonly number[]; readonly dtype: Dtype }) => Float64Array;
  readonly gradient: Gradient<K>;
  /**
   * Present on a composite: its definition in other ops. Passes see the composite; the
   * `decompose` pass expands it unless the chosen back end declares it fused.
   */
  readonly decompose?: Decompose<K>;
  /** Attributes as printed in `op[...]`; defaults to every attribute as `key=value`. */
  readonly formatAttrs?: (attrs: OpAttrs[K]) => string;
}

export type OpTable = { readonly [K in OpName]: OpDef<K> };
