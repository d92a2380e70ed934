/**
 * @file Shapes with static and named symbolic dims, and NumPy/PyTorch broadcasting.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Dtype } from "./dtype.js";

/** A dimension: a static size, or a named symbolic size such as `"batch"`. */
export type Dim = number | string;
/** A shape, outermost dim first. */
export type Shape = readonly Dim[];

/** The static type of a tensor. */
export interface TensorType {
  readonly shape: Shape;
  readonly dtype: Dtype;
}

/** `f32[batch,784]`; a scalar prints as `f32[]`. */
export const formatShape = (shape: Shape): string => `[${shape.join(",")}]`;
export const formatType = (type: TensorType): string => `${type.dtype}${formatShape(type.shape)}`;

/** Two dims are equal when both are the same number or the same symbol. */
export const dimEquals = (a: Dim, b: Dim): boolean => a === b;

export const shapeEquals = (a: Shape, b: Shape): boolean =>
  a.length === b.length && a.every((dim, index) => dimEquals(dim, b[index] as Dim));

/** True when every dim is a number. */
export const isStaticShape = (shape: Shape): shape is readonly number[] =>
  shape.every((dim) => typeof dim === "number");

/** Product of the static dims (symbolic dims are skipped). */
export const staticSize = (shape: Shape): number =>
  shape.reduce<number>((product, dim) => (typeof dim === "number" ? product * dim : product), 1);

/** Number of elements of a concrete shape. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((product, dim) => product * dim, 1);

/** The symbolic dims of a shape, in order, with repetitions. */
export const symbolsOf = (shape: Shape): string[] => shape.filter((dim): dim is string => typeof dim === "string");

/**
 * Broadcasts two shapes with NumPy's rule: align on the right; sizes must be equal or one
 * of them 1. A symbolic dim only matches itself or 1.
 */
export const broadcastShapes = (a: Shape, b: Shape): E.Either<string, Shape> => {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : (a[i - (rank - a.length)] as Dim);
    const db = i < rank - b.length ? 1 : (b[i - (rank - b.length)] as Dim);
    if (dimEquals(da, db) || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else return E.left(`cannot broadcast ${formatShape(a)} with ${formatShape(b)} (dim ${i - rank}: ${da} vs ${db})`);
  }
  return E.right(out);
};

/** Normalises a possibly negative dim index; undefined when out of range. */
export const normalizeAxis = (axis: number, rank: number): number | undefined => {
  const normalized = axis < 0 ? axis + rank : axis;
  return Number.isInteger(normalized) && normalized >= 0 && normalized < Math.max(rank, 1) ? normalized : undefined;
};

/** Row-major strides of a concrete shape. */
export const stridesOf = (shape: readonly number[]): number[] => {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = (strides[i + 1] as number) * (shape[i + 1] as number);
  return strides;
};

/** Substitutes bound symbols; throws on an unbound symbol (callers bind first). */
export const concretize = (shape: Shape, bindings: ReadonlyMap<string, number>): number[] =>
  shape.map((dim) => {
    if (typeof dim === "number") return dim;
    const size = bindings.get(dim);
    if (size === undefined) throw new Error(`symbolic dim '${dim}' is not bound`);
    return size;
  });
