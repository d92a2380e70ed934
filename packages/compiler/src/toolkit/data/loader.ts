// A deterministic mini-batch loader in the manner of torch.utils.data.DataLoader, plus a
// seeded train/test split and a row gather. Every order comes from the seeded Prng, so the
// same seed gives the same batches on every run and machine.

import { formatShape, typedArrayKind } from "@graft/runtime";
import { Prng } from "./prng.js";

/** Bad data or options given to the data utilities (shapes, sizes, indices, fractions). */
export class DataError extends Error {
  override readonly name = "DataError";
}

/** Labels: class ids (Int32Array) or real-valued targets such as probabilities (Float32Array). */
export type LabelArray = Int32Array | Float32Array;

/** Typed arrays whose rows `gatherRows` can copy. */
export type RowArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** Options of a `DataLoader`. */
export interface DataLoaderOptions<Y extends LabelArray> {
  /** All samples' features, row-major: numSamples × product(featureShape) values. */
  readonly features: Float32Array;
  /** The shape of one sample's features, e.g. [4] or [1, 28, 28]. */
  readonly featureShape: readonly number[];
  /** All samples' labels: numSamples × labelSize values (labelSize is inferred, usually 1). */
  readonly labels: Y;
  /** Samples per batch (the last batch may be smaller unless dropLast). */
  readonly batchSize: number;
  /** Reshuffle the samples at every epoch, with seed + epoch. */
  readonly shuffle: boolean;
  /** Seed of the shuffles (a safe integer). */
  readonly seed: number;
  /** Drop the last batch when it has fewer than batchSize samples. */
  readonly dropLast: boolean;
}

/** One mini-batch: fresh copies of `size` samples' features and labels. */
export interface Batch<Y extends LabelArray> {
  /** size × product(featureShape) features. */
  readonly x: Float32Array;
  /** size × labelSize labels. */
  readonly y: Y;
  /** The number of samples in this batch. */
  readonly size: number;
  /** Which samples (row numbers in the dataset) this batch holds, in batch order. */
  readonly indices: Int32Array;
}

/**
 * Iterates a dataset in mini-batches. Each `for…of` over the loader runs the next epoch
 * (0, 1, 2, …) and, with `shuffle`, visits the samples in the order of `new Prng(seed + epoch)`;
 * `epoch(k)` replays epoch k directly. Batches are fresh arrays the caller may keep.
 */
export class DataLoader<Y extends LabelArray> implements Iterable<Batch<Y>> {
  /** The number of samples in the dataset. */
  readonly numSamples: number;
  /** Values per sample in `features`. */
  readonly featureSize: number;
  /** Values per sample in `labels`. */
  readonly labelSize: number;
  /** Batches per epoch. */
  readonly length: number;
  private readonly options: DataLoaderOptions<Y>;
  private nextEpoch = 0;

  /** @throws DataError when the arrays, shapes or options do not fit together */
  constructor(options: DataLoaderOptions<Y>) {
    const { features, featureShape, labels, batchSize, seed } = options;
    if (typedArrayKind(features) !== "Float32Array") {
      throw new DataError(`DataLoader: features must be a Float32Array, got ${describeValue(features)}`);
    }
    const labelKind = typedArrayKind(labels);
    if (labelKind !== "Int32Array" && labelKind !== "Float32Array") {
      throw new DataError(`DataLoader: labels must be an Int32Array (class ids) or a Float32Array, got ${describeValue(labels)}`);
    }
    if (!Array.isArray(featureShape) || !featureShape.every((dim) => Number.isSafeInteger(dim) && dim > 0)) {
      throw new DataError(`DataLoader: featureShape must be a list of positive integers, got ${describeValue(featureShape)}`);
    }
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new DataError(`DataLoader: batchSize must be a positive integer, got ${describeValue(batchSize)}`);
    }
    if (!Number.isSafeInteger(seed)) {
      throw new DataError(`DataLoader: seed must be a safe integer, got ${describeValue(seed)}`);
    }
    this.featureSize = featureShape.reduce((product, dim) => product * dim, 1);
    if (features.length % this.featureSize !== 0) {
      throw new DataError(
        `DataLoader: features have ${features.length} values, not a whole number of samples of shape ${formatShape(featureShape)} (${this.featureSize} values each)`,
      );
    }
    this.numSamples = features.length / this.featureSize;
    if (this.numSamples === 0) {
      if (labels.length !== 0) throw new DataError(`DataLoader: there are no samples but ${labels.length} labels`);
      this.labelSize = 1;
    } else {
      if (labels.length === 0 || labels.length % this.numSamples !== 0) {
        throw new DataError(
          `DataLoader: ${this.numSamples} samples but ${labels.length} labels; expected one label (or the same number of values) per sample`,
        );
      }
      this.labelSize = labels.length / this.numSamples;
    }
    this.length = options.dropLast ? Math.floor(this.numSamples / batchSize) : Math.ceil(this.numSamples / batchSize);
    this.options = options;
  }

  /** The order in which epoch `epochIndex` visits the samples. */
  order(epochIndex: number): Int32Array {
    if (!Number.isSafeInteger(epochIndex) || epochIndex < 0) {
      throw new DataError(`DataLoader: the epoch must be a non-negative integer, got ${describeValue(epochIndex)}`);
    }
    if (this.options.shuffle) {
      const seed = this.options.seed + epochIndex;
      if (!Number.isSafeInteger(seed)) throw new DataError(`DataLoader: seed + epoch = ${seed} is not a safe integer`);
      return new Prng(seed).permutation(this.numSamples);
    }
    const order = new Int32Array(this.numSamples);
    for (let index = 0; index < order.length; index++) order[index] = index;
    return order;
  }

  /** The batches of epoch `epochIndex`, the same every time it is asked for. */
  *epoch(epochIndex: number): Generator<Batch<Y>, void, undefined> {
    const order = this.order(epochIndex);
    const { batchSize } = this.options;
    for (let batch = 0; batch < this.length; batch++) {
      const indices = order.subarray(batch * batchSize, Math.min((batch + 1) * batchSize, order.length)).slice();
      yield {
        x: gatherRows(this.options.features, this.featureSize, indices),
        y: gatherRows(this.options.labels, this.labelSize, indices),
        size: indices.length,
        indices,
      };
    }
  }

  /** Runs the next epoch: 0 the first time, then 1, 2, … */
  [Symbol.iterator](): Iterator<Batch<Y>> {
    const epochIndex = this.nextEpoch;
    this.nextEpoch++;
    return this.epoch(epochIndex);
  }
}

/**
 * Copies rows `indices` (each `rowSize` values) of `data` into a new array of the same kind.
 * @throws DataError when rowSize does not divide data.length or an index is out of range
 */
export function gatherRows<T extends RowArray>(data: T, rowSize: number, indices: ArrayLike<number>): T {
  if (!Number.isSafeInteger(rowSize) || rowSize < 1) {
    throw new DataError(`gatherRows: rowSize must be a positive integer, got ${describeValue(rowSize)}`);
  }
  if (data.length % rowSize !== 0) {
    throw new DataError(`gatherRows: ${data.length} values are not a whole number of rows of ${rowSize}`);
  }
  const rowCount = data.length / rowSize;
  const out = allocateLike(data, indices.length * rowSize);
  for (let position = 0; position < indices.length; position++) {
    const row = indices[position] ?? -1;
    if (!Number.isInteger(row) || row < 0 || row >= rowCount) {
      throw new DataError(`gatherRows: index ${position} is ${describeValue(indices[position])}, expected a row in [0, ${rowCount})`);
    }
    out.set(data.subarray(row * rowSize, (row + 1) * rowSize), position * rowSize);
  }
  return out;
}

/**
 * Reorders the rows of `data` in place so that it holds the rows `order[0]`, `order[1]`, … first
 * (then the rows not in `order`, in some order): the result of `gatherRows(data, rowSize, order)`
 * without a second copy of the data. Used to split a large dataset into train and test rows.
 * @param order distinct row indices
 * @returns `data`'s first `order.length` rows (a view)
 * @throws DataError for a bad row size, or an index out of range or repeated (data unchanged then)
 */
export function permuteRowsInPlace<T extends RowArray>(data: T, rowSize: number, order: ArrayLike<number>): T {
  return permuteRows(data, rowSize, order.length, (position) => order[position]);
}

/**
 * permuteRowsInPlace with the order given as a function of the position (`count` positions), so
 * that a concatenation of index lists needs no array of its own. Extra memory: one byte per row
 * (and one Int32 per row only when `count` leaves rows out).
 */
function permuteRows<T extends RowArray>(data: T, rowSize: number, count: number, at: (position: number) => number | undefined): T {
  if (!Number.isSafeInteger(rowSize) || rowSize < 1) throw new DataError(`permuteRowsInPlace: rowSize must be a positive integer, got ${describeValue(rowSize)}`);
  if (data.length % rowSize !== 0) throw new DataError(`permuteRowsInPlace: ${data.length} values are not a whole number of rows of ${rowSize}`);
  const rowCount = data.length / rowSize;
  const taken = new Uint8Array(rowCount);
  for (let position = 0; position < count; position++) {
    const row = at(position) ?? -1;
    if (!Number.isInteger(row) || row < 0 || row >= rowCount) throw new DataError(`permuteRowsInPlace: index ${position} is ${describeValue(at(position))}, expected a row in [0, ${rowCount})`);
    if (taken[row] === 1) throw new DataError(`permuteRowsInPlace: row ${row} appears twice in the order`);
    taken[row] = 1;
  }
  // source(i): the row that ends at position i; positions past `count` take the rows left over.
  let source = at;
  if (count < rowCount) {
    const rest = new Int32Array(rowCount - count);
    let next = 0;
    for (let row = 0; row < rowCount; row++) if (taken[row] === 0) rest[next++] = row;
    source = (position) => (position < count ? at(position) : rest[position - count]);
  }
  // Follow each cycle of the permutation with one row of scratch.
  const scratch = data.slice(0, rowSize) as T;
  const done = taken.fill(0);
  for (let start = 0; start < rowCount; start++) {
    if (done[start] === 1 || source(start) === start) continue;
    scratch.set(data.subarray(start * rowSize, (start + 1) * rowSize));
    let position = start;
    for (;;) {
      done[position] = 1;
      const from = source(position) ?? start;
      if (from === start) {
        data.set(scratch, position * rowSize);
        break;
      }
      data.copyWithin(position * rowSize, from * rowSize, (from + 1) * rowSize);
      position = from;
    }
  }
  return data.subarray(0, count * rowSize) as T;
}

/**
 * Splits a dataset into its train and test rows (as `seededSplit` chose them) in place: the
 * rows are reordered, train rows first, and views returned — the same values as `gatherRows`
 * of each index list, without copying the data. `features` and `labels` are reordered.
 */
export function splitRowsInPlace<Y extends Int32Array | Float32Array>(
  features: Float32Array,
  rowSize: number,
  labels: Y,
  split: { readonly train: ArrayLike<number>; readonly test: ArrayLike<number> },
): { trainX: Float32Array; trainY: Y; testX: Float32Array; testY: Y } {
  const { train, test } = split;
  const cut = train.length;
  const at = (position: number): number | undefined => (position < cut ? train[position] : test[position - cut]);
  const x = permuteRows(features, rowSize, cut + test.length, at);
  const y = permuteRows(labels, 1, cut + test.length, at);
  return { trainX: x.subarray(0, cut * rowSize), trainY: y.subarray(0, cut) as Y, testX: x.subarray(cut * rowSize), testY: y.subarray(cut) as Y };
}

/** How `seededSplit` divides the samples: a test fraction, or exact counts. */
export type SplitSpec = number | { readonly train: number; readonly test: number };

/**
 * Splits sample indices 0..n-1 at random into train and test sets (disjoint; each in shuffled
 * order). With a fraction f in [0, 1], test gets Math.round(f·n) samples and train the rest;
 * with counts, train and test get exactly that many (together at most n; the rest are unused).
 * @throws DataError for a bad n, fraction, counts or seed
 */
export function seededSplit(n: number, split: SplitSpec, seed: number): { train: Int32Array; test: Int32Array } {
  if (!Number.isSafeInteger(n) || n < 0) throw new DataError(`seededSplit: n must be a non-negative integer, got ${describeValue(n)}`);
  if (!Number.isSafeInteger(seed)) throw new DataError(`seededSplit: seed must be a safe integer, got ${describeValue(seed)}`);
  let trainCount: number;
  let testCount: number;
  if (typeof split === "number") {
    if (!(split >= 0 && split <= 1)) {
      throw new DataError(`seededSplit: the test fraction must be in [0, 1], got ${describeValue(split)}`);
    }
    testCount = Math.round(split * n);
    trainCount = n - testCount;
  } else {
    ({ train: trainCount, test: testCount } = split);
    if (![trainCount, testCount].every((count) => Number.isSafeInteger(count) && count >= 0)) {
      throw new DataError(`seededSplit: train and test counts must be non-negative integers, got train ${describeValue(trainCount)}, test ${describeValue(testCount)}`);
    }
    if (trainCount + testCount > n) {
      throw new DataError(`seededSplit: train ${trainCount} + test ${testCount} = ${trainCount + testCount} samples, but there are only ${n}`);
    }
  }
  const order = new Prng(seed).permutation(n);
  // Views of one permutation: no second array per sample.
  return { train: order.subarray(0, trainCount), test: order.subarray(trainCount, trainCount + testCount) };
}

function allocateLike<T extends RowArray>(data: T, length: number): T {
  // Each branch builds the same kind as `data`; the casts only restate what the check proved.
  switch (typedArrayKind(data)) {
    case "Float32Array":
      return new Float32Array(length) as T;
    case "Float64Array":
      return new Float64Array(length) as T;
    case "Int32Array":
      return new Int32Array(length) as T;
    case "Uint8Array":
      return new Uint8Array(length) as T;
    default:
      throw new DataError(`gatherRows: data must be a Float32Array, Float64Array, Int32Array or Uint8Array, got ${describeValue(data)}`);
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  const kind = typedArrayKind(value);
  if (kind !== undefined) return `a ${kind} of length ${(value as ArrayLike<unknown>).length}`;
  if (Array.isArray(value)) return JSON.stringify(value);
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}
