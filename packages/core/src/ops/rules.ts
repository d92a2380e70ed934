/**
 * @file Shared pieces of op-table rows: dtype/shape rules and VJP helpers.
 */
import * as E from "fp-ts/lib/Either.js";
import { DTYPES, isFloat, parseDtype, type Dtype } from "../dtype.js";
import { describeValue } from "../tensor.js";
import { broadcastShapes, formatShape, formatType, type Dim, type Shape, type TensorType } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { expand, reshape, sum } from "../api.js";
import { guarded } from "../guard.js";

export const ok = (shape: Shape, dtype: Dtype): E.Either<string, TensorType> => E.right({ shape, dtype });

export const requireFloat = (type: TensorType, what = "input"): E.Either<string, TensorType> =>
  isFloat(type.dtype) ? E.right(type) : E.left(`expected a float ${what} (f32 or f64), got ${formatType(type)}`);

export const requireNumeric = (type: TensorType): E.Either<string, TensorType> =>
  type.dtype === "bool" ? E.left(`expected a numeric input, got ${formatType(type)}`) : E.right(type);

/** Same dtype on every input, or a message naming both types. */
export const requireSameDtype = (types: readonly TensorType[]): E.Either<string, Dtype> => {
  const first = types[0];
  if (first === undefined) return E.left("no inputs");
  const other = types.find((type) => type.dtype !== first.dtype);
  return other === undefined
    ? E.right(first.dtype)
    : E.left(`dtype mismatch: ${formatType(first)} and ${formatType(other)} (insert a cast)`);
};

/** Broadcasts every input shape together. */
export const broadcastAll = (types: readonly TensorType[]): E.Either<string, Shape> =>
  types.reduce<E.Either<string, Shape>>(
    (acc, type) => E.chain((shape: Shape) => E.mapLeft((m: string) => m.replace(/^cannot broadcast \[[^\]]*\] with \[[^\]]*\]/, `cannot broadcast ${types.map((t) => formatType(t)).join(" with ")}`))(broadcastShapes(shape, type.shape)))(acc),
    E.right([]),
  );

/** Validates reduction dims (in range, distinct) and gives the output shape. */
export const reducedShape = (shape: Shape, dims: readonly number[], keepdim: boolean): E.Either<string, Shape> => {
  const bad = dims.find((dim) => !Number.isInteger(dim) || dim < 0 || dim >= shape.length);
  if (bad !== undefined) return E.left(`dim ${bad} out of range for shape ${formatShape(shape)} (expected ${-shape.length} ≤ dim < ${shape.length})`);
  if (new Set(dims).size !== dims.length) return E.left(`repeated dim in [${dims.join(",")}]`);
  return E.right(keepdim ? shape.map((dim, axis) => (dims.includes(axis) ? 1 : dim)) : shape.filter((_, axis) => !dims.includes(axis)));
};

export const checkDim = (shape: Shape, dim: number): E.Either<string, number> =>
  Number.isInteger(dim) && dim >= 0 && dim < Math.max(shape.length, 1) && (shape.length > 0 || dim === 0)
    ? E.right(dim)
    : E.left(`dim ${dim} out of range for shape ${formatShape(shape)} (expected ${-shape.length} ≤ dim < ${shape.length})`);

/** A dim as the user wrote it: `NaN`, `-1`, `"a b"`, `undefined`. */
const formatDim = (dim: unknown): string => (typeof dim === "number" ? String(dim) : typeof dim === "string" ? JSON.stringify(dim) : describeValue(dim));

/** A dim is a non-negative integer or an identifier-like symbol. */
export const checkShapeDims = (shape: Shape): E.Either<string, Shape> => {
  if (!Array.isArray(shape)) return E.left(`shape must be an array of dims, got ${describeValue(shape)}`);
  const bad = (shape as readonly unknown[]).find((dim) => (typeof dim === "number" ? !Number.isSafeInteger(dim) || dim < 0 : typeof dim !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(dim)));
  return bad === undefined && !shape.some((_, index) => !(index in shape))
    ? E.right(shape)
    : E.left(`invalid dim ${formatDim(bad)} in shape [${shape.map((dim: unknown) => (typeof dim === "string" ? dim : formatDim(dim))).join(",")}] (dims are non-negative integers or names like "batch")`);
};

/** A dtype attribute from untyped code: one of f32, f64, i32, bool. */
export const checkDtype = (dtype: unknown): E.Either<string, Dtype> =>
  typeof dtype === "string" && parseDtype(dtype) !== undefined ? E.right(dtype as Dtype) : E.left(`dtype must be one of ${DTYPES.join(", ")}, got ${describeValue(dtype)}`);

/** A leaf's name: a non-empty string. */
export const checkName = (name: unknown): E.Either<string, string> =>
  typeof name === "string" && name !== "" ? E.right(name) : E.left(`the name must be a non-empty string, got ${describeValue(name)}`);

// ----- VJP helpers ----------------------------------------------------------------------------

/** Sums a broadcast cotangent back to `shape` (undoes broadcasting). */
export const sumTo = (grad: Tensor, shape: Shape): Tensor => guarded("sumTo", sumToChecked)(grad, shape);

const sumToChecked = (grad: Tensor, shape: Shape): Tensor => {
  if (!Array.isArray(shape)) return reshape(grad, shape);
  const lead = grad.rank - shape.length;
  const dims: number[] = [];
  for (let axis = 0; axis < grad.rank; axis++) {
    if (axis < lead) dims.push(axis);
    else if (shape[axis - lead] === 1 && grad.shape[axis] !== 1) dims.push(axis);
  }
  if (dims.length === 0) return grad.rank === shape.length ? grad : reshape(grad, shape);
  return reshape(sum(grad, dims, true), shape);
};

/** The shape of a reduction's output with keepdim=true. */
export const keptShape = (shape: Shape, dims: readonly number[]): Shape => shape.map((dim, axis) => (dims.includes(axis) ? 1 : dim));

/** Brings a reduction's output (or cotangent) back to the input's shape by broadcasting. */
export const unreduce = (value: Tensor, inputShape: Shape, dims: readonly number[], keepdim: boolean): Tensor => guarded("unreduce", unreduceChecked)(value, inputShape, dims, keepdim);

const unreduceChecked = (value: Tensor, inputShape: Shape, dims: readonly number[], keepdim: boolean): Tensor =>
  expand(keepdim ? value : reshape(value, keptShape(inputShape, dims)), inputShape);

/** Attributes printed as `key=value` pairs, skipping undefined. */
export const formatAttrPairs = (attrs: object): string =>
  Object.entries(attrs)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? `[${value.join(",")}]` : typeof value === "object" ? JSON.stringify(value) : String(value)}`)
    .join(", ");
