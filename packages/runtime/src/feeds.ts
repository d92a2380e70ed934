// Checks on the values a user feeds to a compiled program, before any kernel runs.
// Imports only sibling runtime files: it is inlined into every standalone bundle.
import { formatShape, typedArrayKind } from "./describe.js";
//
// What a feed may be, per input dtype:
//   f32  → Float32Array      f64 → Float64Array      i32 → Int32Array      bool → Uint8Array (0/1)
// For convenience plain Arrays are accepted too: flat (row-major), or nested exactly as deep as
// the input's rank with every level as long as its dim ([[5.1, 3.5], [4.9, 3.0]] for [2,2]).
// f32 elements are numbers rounded to float32 as Float32Array.from rounds them (PyTorch's
// torch.tensor([5.1]) rounds too), f64 any number, i32 integers in [-2^31, 2^31 - 1], bool 0,
// 1, true or false; anything else (a string, a fraction for i32, ...) is refused. Typed arrays of
// another kind (e.g. a Float64Array for an f32 input) are refused.

/** Element type of a program input. */
export type FeedDtype = "f32" | "f64" | "i32" | "bool";

/** The typed array that holds each input dtype. */
export interface FeedArrayOf {
  f32: Float32Array;
  f64: Float64Array;
  i32: Int32Array;
  bool: Uint8Array;
}

/** Any typed array that can be fed to a program input. */
export type FeedArray = FeedArrayOf[FeedDtype];

/** What a program input expects: a static shape and an element type. */
export interface FeedSpec<D extends FeedDtype = FeedDtype> {
  readonly shape: readonly number[];
  readonly dtype: D;
}

/** A value fed to a program input is missing, of the wrong kind or length, or out of range. */
export class FeedError extends Error {
  override readonly name = "FeedError";
  /** The program input the bad value was fed to. */
  readonly inputName: string;

  constructor(inputName: string, message: string) {
    super(message);
    this.inputName = inputName;
  }
}

const ARRAY_KIND: Readonly<Record<FeedDtype, string>> = {
  f32: "Float32Array",
  f64: "Float64Array",
  i32: "Int32Array",
  bool: "Uint8Array",
};
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Checks that `actual` can be fed to input `inputName`: a typed array of the input's kind (or
 * a flat Array that converts exactly, see the top of this file) with product(shape) elements.
 * @throws FeedError naming the input, the expected kind and shape, and what was given
 */
export function validateFeed(inputName: string, expected: FeedSpec, actual: unknown): void {
  toFeedArray(inputName, expected, actual);
}

/**
 * Like `validateFeed`, and returns the value as the input's typed array: the value itself
 * when it already is one (no copy), or a new typed array converted from a plain (flat or nested)
 * Array, f32 values rounded as Float32Array.from rounds them.
 * @throws FeedError naming the input, the expected kind and shape, and what was given
 */
export function toFeedArray<D extends FeedDtype>(inputName: string, expected: FeedSpec<D>, actual: unknown): FeedArrayOf[D] {
  const kind = ARRAY_KIND[expected.dtype];
  const elementCount = expected.shape.reduce((product, dim) => product * dim, 1);
  const wanted = `${withArticle(kind)} (${expected.dtype}) of shape ${formatShape(expected.shape)} = ${elementCount} elements`;
  if (actual === undefined) {
    throw new FeedError(inputName, `input ${inputName}: no value was fed; expected ${wanted}`);
  }
  const actualKind = typedArrayKind(actual);
  if (actualKind !== undefined) {
    if (actualKind !== kind) {
      throw new FeedError(inputName, `input ${inputName}: expected ${wanted}, got ${withArticle(actualKind)} of length ${(actual as FeedArray).length}`);
    }
    checkLength(inputName, expected.shape, elementCount, withArticle(kind), (actual as FeedArray).length);
    return actual as FeedArrayOf[D];
  }
  if (Array.isArray(actual)) {
    const flat = actual.some((item) => Array.isArray(item)) ? flattenNested(inputName, expected.shape, actual).values : actual;
    checkLength(inputName, expected.shape, elementCount, "an Array", flat.length);
    return convertArray(inputName, expected.dtype, flat);
  }
  throw new FeedError(inputName, `input ${inputName}: expected ${wanted}, got ${describeValue(actual)}`);
}

/** A nested Array flattened row-major, and the shape its nesting gave. */
export interface FlattenedArray {
  readonly values: readonly unknown[];
  readonly shape: readonly number[];
}

/**
 * Flattens a nested Array (row-major) for an input of shape `dims`; a `null` dim (the batch) may
 * have any length, every other level must have exactly its dim's length, and the nesting must be
 * exactly as deep as the rank (a shallower or deeper nesting is ambiguous and refused).
 * @throws FeedError naming the input, the element's index path, what was expected and found
 */
export function flattenNested(inputName: string, dims: readonly (number | null)[], value: readonly unknown[]): FlattenedArray {
  const declared = `[${dims.map((dim) => dim ?? "N").join(",")}]`;
  if (value.length === 0) return { values: [], shape: dims.map((dim, index) => (index === 0 ? 0 : (dim ?? 0))) };
  const depthOf = (item: unknown): number => (Array.isArray(item) ? 1 + depthOf(item[0]) : 0);
  const depth = depthOf(value);
  if (depth !== dims.length)
    throw new FeedError(
      inputName,
      `input ${inputName}: a nested Array ${depth} level${depth === 1 ? "" : "s"} deep cannot be read as shape ${declared}; nest it ${dims.length} level${dims.length === 1 ? "" : "s"} deep (one per dim), or pass a flat Array or typed array in row-major order`,
    );
  const values: unknown[] = [];
  const shape: number[] = [];
  const walk = (item: unknown, level: number, path: string): void => {
    const dim = dims[level];
    if (level === dims.length) {
      if (Array.isArray(item)) throw new FeedError(inputName, `input ${inputName}: element ${path} of the Array is an Array of length ${item.length}, expected a number (shape ${declared})`);
      values.push(item);
      return;
    }
    if (!Array.isArray(item)) throw new FeedError(inputName, `input ${inputName}: element ${path} of the Array is ${describeValue(item)}, expected an Array (shape ${declared})`);
    const expectedLength = dim === null || dim === undefined ? shape[level] : dim;
    if (expectedLength !== undefined && item.length !== expectedLength)
      throw new FeedError(inputName, `input ${inputName}: ${path === "" ? "the Array" : `element ${path} of the Array`} has ${item.length} entries, expected ${expectedLength} (shape ${declared})`);
    if (shape[level] === undefined) shape[level] = item.length;
    item.forEach((child, index) => walk(child, level + 1, `${path}[${index}]`));
  };
  walk(value, 0, "");
  return { values, shape };
}

/**
 * Checks class labels before they index anything: every label must be in [0, numClasses)
 * or equal to `ignoreIndex`. Rows are counted in the flat, row-major order of `labels`. With
 * `noun` "index" (embedding indices into `numClasses` rows) the message speaks of indices and positions.
 * @throws FeedError naming the input, the first offending row and its value
 */
export function validateLabels(inputName: string, labels: Int32Array, numClasses: number, ignoreIndex: number | undefined, noun: "label" | "index" = "label"): void {
  if (typedArrayKind(labels) !== "Int32Array") {
    throw new FeedError(inputName, `input ${inputName}: labels must be an Int32Array, got ${describeValue(labels)}`);
  }
  if (!Number.isSafeInteger(numClasses) || numClasses < 1) {
    throw new FeedError(inputName, `input ${inputName}: the number of classes must be a positive integer, got ${describeValue(numClasses)}`);
  }
  let firstBadRow = -1;
  let badCount = 0;
  for (let row = 0; row < labels.length; row++) {
    const label = labels[row] ?? 0;
    if ((label < 0 || label >= numClasses) && label !== ignoreIndex) {
      if (firstBadRow < 0) firstBadRow = row;
      badCount++;
    }
  }
  if (firstBadRow < 0) return;
  if (noun === "index") {
    const more = badCount > 1 ? `; ${badCount} of ${labels.length} indices are out of range` : "";
    throw new FeedError(inputName, `input ${inputName}: index at position ${firstBadRow} is ${labels[firstBadRow] ?? 0}, expected 0 ≤ index < ${numClasses}${more}`);
  }
  const allowed = `0 ≤ label < ${numClasses}${ignoreIndex === undefined ? "" : ` (or ignore_index ${ignoreIndex})`}`;
  const others = badCount > 1 ? `; ${badCount} of ${labels.length} labels are out of range` : "";
  throw new FeedError(
    inputName,
    `input ${inputName}: label at row ${firstBadRow} is ${labels[firstBadRow] ?? 0}, expected ${allowed}${others}`,
  );
}

function checkLength(inputName: string, shape: readonly number[], elementCount: number, given: string, length: number): void {
  if (length === elementCount) return;
  let hint = "";
  const rowShape = shape.slice(1);
  const rowSize = rowShape.reduce((product, dim) => product * dim, 1);
  if (shape.length >= 2 && rowSize > 0) {
    hint =
      length % rowSize === 0
        ? ` (${length / rowSize} rows of ${formatShape(rowShape)}, but the program takes ${shape[0] ?? 0})`
        : ` (not a whole number of rows of ${formatShape(rowShape)} = ${rowSize} elements)`;
  }
  throw new FeedError(
    inputName,
    `input ${inputName}: expected shape ${formatShape(shape)} = ${elementCount} elements, got ${given} of length ${length}${hint}`,
  );
}

function convertArray<D extends FeedDtype>(inputName: string, dtype: D, values: readonly unknown[]): FeedArrayOf[D] {
  const out = dtype === "f32" ? new Float32Array(values.length)
    : dtype === "f64" ? new Float64Array(values.length)
    : dtype === "i32" ? new Int32Array(values.length)
    : new Uint8Array(values.length);
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    const fail = (why: string): never => {
      throw new FeedError(inputName, `input ${inputName}: element ${index} of the Array is ${describeValue(value)}${why}`);
    };
    if (dtype === "bool") {
      if (value === true || value === 1) out[index] = 1;
      else if (value !== false && value !== 0) fail(", expected 0, 1, true or false");
      continue;
    }
    if (typeof value !== "number") {
      fail(", expected a number");
      continue;
    }
    if (dtype === "i32" && !(Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)) {
      fail(`, expected an integer in [${INT32_MIN}, ${INT32_MAX}] for i32`);
    }
    out[index] = value;
  }
  return out as FeedArrayOf[D];
}

function withArticle(noun: string): string {
  // "an Int32Array", "an Array", but "a Uint8Array" (you-int).
  return `${/^[aeio]/i.test(noun) ? "an" : "a"} ${noun}`;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  const kind = typedArrayKind(value);
  if (kind !== undefined) return withArticle(kind);
  switch (typeof value) {
    case "number":
    case "boolean":
    case "bigint":
      return String(value);
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
    case "object": {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === "string" && name !== "Object" ? withArticle(name) : "an object";
    }
    default:
      return `a ${typeof value}`;
  }
}
