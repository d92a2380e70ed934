/**
 * @file Concrete arrays for the float64 reference interpreter: row-major, every dtype stored
 * in a Float64Array (i32 and bool hold integral values), plus the loop helpers op rows share.
 */
import type { Dtype } from "./dtype.js";
import { sizeOf, stridesOf } from "./shape.js";

export interface NDArray {
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  readonly data: Float64Array;
}

export type NestedNumbers = number | boolean | readonly NestedNumbers[];

/** An array from a shape and flat data (copied); zeros when data is omitted. */
export const ndarray = (shape: readonly number[], dtype: Dtype, data?: ArrayLike<number>): NDArray => {
  const size = sizeOf(shape);
  const values = new Float64Array(size);
  if (data !== undefined) {
    if (data.length !== size) throw new Error(`ndarray: shape [${shape.join(",")}] needs ${size} values, got ${data.length}`);
    values.set(data);
  }
  return { shape: [...shape], dtype, data: values };
};

/** The shape of a nested JS array (`[[1,2],[3,4]]` → `[2,2]`); throws on ragged input. */
export const nestedShape = (value: NestedNumbers): number[] => {
  if (!Array.isArray(value)) return [];
  const rows = value as readonly NestedNumbers[];
  const first = rows[0];
  const inner = first === undefined ? [] : nestedShape(first);
  for (const row of rows) {
    const rowShape = nestedShape(row);
    if (rowShape.join(",") !== inner.join(",")) throw new Error(`ragged nested array: [${rowShape}] vs [${inner}]`);
  }
  return [rows.length, ...inner];
};

/** Flattens a nested JS array of numbers or booleans row-major. */
export const flattenNested = (value: NestedNumbers): number[] =>
  Array.isArray(value) ? (value as readonly NestedNumbers[]).flatMap(flattenNested) : [Number(value)];

/** An array from a nested JS array. */
export const fromNested = (value: NestedNumbers, dtype: Dtype): NDArray => ndarray(nestedShape(value), dtype, flattenNested(value));

/** A nested JS array from an array (for printing and tests). */
export const toNested = (array: NDArray): NestedNumbers => {
  const build = (offset: number, axis: number): NestedNumbers => {
    if (axis === array.shape.length) return array.data[offset] ?? Number.NaN;
    const stride = stridesOf(array.shape)[axis] ?? 1;
    return Array.from({ length: array.shape[axis] ?? 0 }, (_, i) => build(offset + i * stride, axis + 1));
  };
  return build(0, 0);
};

/** Strides of `inShape` laid against `outShape` (right-aligned), 0 where it is broadcast. */
export const broadcastStrides = (inShape: readonly number[], outShape: readonly number[]): number[] => {
  const strides = stridesOf(inShape);
  const offset = outShape.length - inShape.length;
  return outShape.map((_, axis) => {
    const inAxis = axis - offset;
    if (inAxis < 0 || inShape[inAxis] === 1) return 0;
    return strides[inAxis] ?? 0;
  });
};

/** Evaluates `f` elementwise over broadcast inputs into a new Float64Array of `outShape`. */
export const mapBroadcast = (
  inputs: readonly NDArray[],
  outShape: readonly number[],
  f: (values: readonly number[]) => number,
): Float64Array => {
  const size = sizeOf(outShape);
  const out = new Float64Array(size);
  const strides = inputs.map((input) => broadcastStrides(input.shape, outShape));
  const rank = outShape.length;
  const index = new Array<number>(rank).fill(0);
  const offsets = new Array<number>(inputs.length).fill(0);
  const values = new Array<number>(inputs.length).fill(0);
  for (let flat = 0; flat < size; flat++) {
    for (let k = 0; k < inputs.length; k++) values[k] = (inputs[k] as NDArray).data[offsets[k] as number] as number;
    out[flat] = f(values);
    // advance the multi-index (odometer) and every input offset with it
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      for (let k = 0; k < inputs.length; k++) offsets[k] = (offsets[k] as number) + ((strides[k] as number[])[axis] as number);
      if ((index[axis] as number) < (outShape[axis] as number)) break;
      for (let k = 0; k < inputs.length; k++)
        offsets[k] = (offsets[k] as number) - ((strides[k] as number[])[axis] as number) * (outShape[axis] as number);
      index[axis] = 0;
    }
  }
  return out;
};

/**
 * The layout of a tensor seen as rows along `dim`: `outer × size × inner`. Element c of row
 * (o, i) is at `o*size*inner + c*inner + i`.
 */
export interface RowLayout {
  readonly outer: number;
  readonly size: number;
  readonly inner: number;
}

export const rowLayout = (shape: readonly number[], dim: number): RowLayout => ({
  outer: sizeOf(shape.slice(0, dim)),
  size: shape[dim] ?? 1,
  inner: sizeOf(shape.slice(dim + 1)),
});

/** Calls `f(base, stride, rowIndex)` for every row along `dim`; rowIndex = o*inner + i. */
export const forEachRow = (layout: RowLayout, f: (base: number, stride: number, rowIndex: number) => void): void => {
  for (let o = 0; o < layout.outer; o++)
    for (let i = 0; i < layout.inner; i++) f(o * layout.size * layout.inner + i, layout.inner, o * layout.inner + i);
};

/**
 * Reduces `dims` of `input`: `combine(acc, value)` from `initial`, then `finish(acc, count)`.
 * The output is laid out as the input with the reduced dims removed (keepdim changes only the
 * shape, not the order).
 */
export const reduceDims = (
  input: NDArray,
  dims: readonly number[],
  initial: number,
  combine: (acc: number, value: number) => number,
  finish: (acc: number, count: number) => number = (acc) => acc,
): Float64Array => {
  const keptShape = input.shape.map((size, axis) => (dims.includes(axis) ? 1 : size));
  const outSize = sizeOf(keptShape);
  const acc = new Float64Array(outSize).fill(initial);
  const outStrides = broadcastStrides(keptShape, input.shape);
  const count = sizeOf(input.shape) / Math.max(outSize, 1);
  const rank = input.shape.length;
  const index = new Array<number>(rank).fill(0);
  let outOffset = 0;
  for (let flat = 0; flat < input.data.length; flat++) {
    acc[outOffset] = combine(acc[outOffset] as number, input.data[flat] as number);
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      outOffset += outStrides[axis] as number;
      if ((index[axis] as number) < (input.shape[axis] as number)) break;
      outOffset -= (outStrides[axis] as number) * (input.shape[axis] as number);
      index[axis] = 0;
    }
  }
  for (let i = 0; i < outSize; i++) acc[i] = finish(acc[i] as number, count);
  return acc;
};

/** Rounds every value to the nearest float32 (used to emulate f32 storage). */
export const roundToF32 = (data: Float64Array): Float64Array => data.map(Math.fround);
