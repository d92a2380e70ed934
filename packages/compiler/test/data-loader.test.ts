import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DataError, DataLoader, gatherRows, permuteRowsInPlace, seededSplit, splitRowsInPlace, type Batch, type LabelArray } from "../src/toolkit/data/loader.js";
import { Prng } from "../src/toolkit/data/prng.js";

/** n samples of 2 features each: sample i is [i, -i], its label i % 3. */
function dataset(n: number): { features: Float32Array; labels: Int32Array } {
  const features = new Float32Array(2 * n);
  const labels = new Int32Array(n);
  for (let sample = 0; sample < n; sample++) {
    features[2 * sample] = sample;
    features[2 * sample + 1] = -sample;
    labels[sample] = sample % 3;
  }
  return { features, labels };
}

function loader(n: number, options: { batchSize: number; shuffle: boolean; seed?: number; dropLast?: boolean }): DataLoader<Int32Array> {
  return new DataLoader({ ...dataset(n), featureShape: [2], seed: 7, dropLast: false, ...options });
}

function sampleIds<Y extends LabelArray>(batches: Iterable<Batch<Y>>): number[][] {
  return [...batches].map((batch) => Array.from({ length: batch.size }, (_, row) => batch.x[2 * row] ?? Number.NaN));
}

function dataError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof DataError) return error.message;
    throw error;
  }
  throw new Error("expected a DataError, nothing was thrown");
}

describe("DataLoader", () => {
  it("without shuffle yields the samples in order, the last batch smaller", () => {
    const batches = [...loader(7, { batchSize: 3, shuffle: false }).epoch(0)];
    expect(batches.map((batch) => batch.size)).toEqual([3, 3, 1]);
    expect(batches[0]?.x).toEqual(new Float32Array([0, -0, 1, -1, 2, -2]));
    expect(batches[0]?.y).toEqual(new Int32Array([0, 1, 2]));
    expect(batches[2]?.x).toEqual(new Float32Array([6, -6]));
    expect(batches[2]?.y).toEqual(new Int32Array([0]));
    expect(Array.from(batches[2]?.indices ?? [])).toEqual([6]);
  });

  it("counts batches with and without dropLast", () => {
    expect(loader(7, { batchSize: 3, shuffle: false }).length).toBe(3);
    expect(loader(7, { batchSize: 3, shuffle: false, dropLast: true }).length).toBe(2);
    expect(loader(6, { batchSize: 3, shuffle: false, dropLast: true }).length).toBe(2);
    expect(loader(2, { batchSize: 3, shuffle: false, dropLast: true }).length).toBe(0);
    expect([...loader(7, { batchSize: 3, shuffle: true, dropLast: true })].map((batch) => batch.size)).toEqual([3, 3]);
  });

  it("shuffles with new Prng(seed + epoch), a new order each epoch, the same for the same seed", () => {
    const shuffled = loader(10, { batchSize: 4, shuffle: true });
    const epoch0 = sampleIds(shuffled);
    const epoch1 = sampleIds(shuffled);
    expect(epoch0.flat()).toEqual(Array.from(new Prng(7).permutation(10)));
    expect(epoch1.flat()).toEqual(Array.from(new Prng(8).permutation(10)));
    expect(epoch1.flat()).not.toEqual(epoch0.flat());
    expect(sampleIds(shuffled.epoch(0))).toEqual(epoch0);
    const again = loader(10, { batchSize: 4, shuffle: true });
    expect([sampleIds(again), sampleIds(again)]).toEqual([epoch0, epoch1]);
  });

  it("keeps every feature row with its own label (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 9 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer(),
        (n, batchSize, shuffle, dropLast, seed) => {
          const data = new DataLoader({ ...dataset(n), featureShape: [2], batchSize, shuffle, seed, dropLast });
          const seen: number[] = [];
          const batches = [...data];
          expect(batches.length).toBe(data.length);
          for (const [position, batch] of batches.entries()) {
            // Only the last batch may be smaller, and only without dropLast.
            if (dropLast || position < batches.length - 1) expect(batch.size).toBe(batchSize);
            else expect(batch.size).toBeLessThanOrEqual(batchSize);
            expect(batch.x.length).toBe(2 * batch.size);
            for (let row = 0; row < batch.size; row++) {
              const sample = batch.x[2 * row] ?? Number.NaN;
              expect(batch.x[2 * row + 1]).toBe(-sample);
              expect(batch.y[row]).toBe(sample % 3);
              expect(batch.indices[row]).toBe(sample);
              seen.push(sample);
            }
          }
          const expectedCount = dropLast ? Math.floor(n / batchSize) * batchSize : n;
          expect(seen.length).toBe(expectedCount);
          expect(new Set(seen).size).toBe(expectedCount);
        },
      ),
    );
  });

  it("handles multi-dim features and several label values per sample", () => {
    const features = Float32Array.from({ length: 3 * 4 }, (_, index) => index);
    const labels = Float32Array.from([1, 0, 0, 1, 0.5, 0.5]);
    const data = new DataLoader({ features, featureShape: [2, 2], labels, batchSize: 2, shuffle: false, seed: 0, dropLast: false });
    expect(data.labelSize).toBe(2);
    const [first, second] = [...data];
    expect(first?.x).toEqual(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
    expect(first?.y).toEqual(Float32Array.from([1, 0, 0, 1]));
    expect(second?.y).toBeInstanceOf(Float32Array);
    expect(second?.y).toEqual(Float32Array.from([0.5, 0.5]));
  });

  it("returns fresh arrays that do not alias the dataset", () => {
    const { features, labels } = dataset(4);
    const data = new DataLoader({ features, labels, featureShape: [2], batchSize: 4, shuffle: false, seed: 0, dropLast: false });
    const [batch] = [...data];
    batch?.x.fill(99);
    expect(features[0]).toBe(0);
  });

  it("refuses arrays and options that do not fit, with messages", () => {
    const { features, labels } = dataset(5);
    const base = { features, labels, featureShape: [2], batchSize: 2, shuffle: true, seed: 1, dropLast: false };
    expect(dataError(() => new DataLoader({ ...base, featureShape: [3] }))).toBe(
      "DataLoader: features have 10 values, not a whole number of samples of shape [3] (3 values each)",
    );
    expect(dataError(() => new DataLoader({ ...base, labels: new Int32Array(4) }))).toBe(
      "DataLoader: 5 samples but 4 labels; expected one label (or the same number of values) per sample",
    );
    expect(dataError(() => new DataLoader({ ...base, features: new Float32Array(0), labels: new Int32Array(2) }))).toBe(
      "DataLoader: there are no samples but 2 labels",
    );
    expect(dataError(() => new DataLoader({ ...base, batchSize: 0 }))).toBe("DataLoader: batchSize must be a positive integer, got 0");
    expect(dataError(() => new DataLoader({ ...base, seed: 0.5 }))).toBe("DataLoader: seed must be a safe integer, got 0.5");
    expect(dataError(() => new DataLoader({ ...base, featureShape: [2, 0] }))).toBe(
      "DataLoader: featureShape must be a list of positive integers, got [2,0]",
    );
    const float64Features = new Float64Array(10) as unknown as Float32Array;
    expect(dataError(() => new DataLoader({ ...base, features: float64Features }))).toBe(
      "DataLoader: features must be a Float32Array, got a Float64Array of length 10",
    );
    const uint8Labels = new Uint8Array(5) as unknown as Int32Array;
    expect(dataError(() => new DataLoader({ ...base, labels: uint8Labels }))).toBe(
      "DataLoader: labels must be an Int32Array (class ids) or a Float32Array, got a Uint8Array of length 5",
    );
    expect(dataError(() => new DataLoader(base).order(-1))).toBe("DataLoader: the epoch must be a non-negative integer, got -1");
    expect(dataError(() => new DataLoader({ ...base, seed: Number.MAX_SAFE_INTEGER }).order(1))).toBe(
      "DataLoader: seed + epoch = 9007199254740992 is not a safe integer",
    );
  });
});

describe("gatherRows", () => {
  it("copies the rows asked for, in that order, into the same kind of array", () => {
    expect(gatherRows(Int32Array.from([0, 1, 2, 3, 4, 5]), 2, [2, 0, 2])).toEqual(Int32Array.from([4, 5, 0, 1, 4, 5]));
    expect(gatherRows(Float64Array.from([0.5, 1.5]), 1, Int32Array.from([1]))).toEqual(Float64Array.from([1.5]));
    expect(gatherRows(Uint8Array.from([1, 0]), 1, [])).toEqual(new Uint8Array(0));
  });

  it("refuses out-of-range indices and a row size that does not divide the data", () => {
    expect(dataError(() => gatherRows(new Float32Array(6), 2, [0, 3]))).toBe("gatherRows: index 1 is 3, expected a row in [0, 3)");
    expect(dataError(() => gatherRows(new Float32Array(6), 2, [0.5]))).toBe("gatherRows: index 0 is 0.5, expected a row in [0, 3)");
    expect(dataError(() => gatherRows(new Float32Array(6), 4, [0]))).toBe("gatherRows: 6 values are not a whole number of rows of 4");
    expect(dataError(() => gatherRows(new Float32Array(6), 0, [0]))).toBe("gatherRows: rowSize must be a positive integer, got 0");
  });
});

describe("seededSplit", () => {
  it("splits by fraction into disjoint sets covering every sample, the same for the same seed", () => {
    const { train, test } = seededSplit(10, 0.3, 5);
    expect(test.length).toBe(3);
    expect(train.length).toBe(7);
    expect([...train, ...test].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...train, ...test]).toEqual(Array.from(new Prng(5).permutation(10)));
    expect(seededSplit(10, 0.3, 5)).toEqual({ train, test });
    expect(seededSplit(10, 0.3, 6)).not.toEqual({ train, test });
  });

  it("rounds the test size to the nearest integer", () => {
    expect(seededSplit(10, 0.7, 0).test.length).toBe(7);
    expect(seededSplit(5, 0.5, 0).test.length).toBe(3);
    expect(seededSplit(5, 0, 0).test.length).toBe(0);
    expect(seededSplit(5, 1, 0).train.length).toBe(0);
  });

  it("takes exact counts, leaving the rest unused", () => {
    const { train, test } = seededSplit(100, { train: 20, test: 5 }, 1);
    expect([train.length, test.length]).toEqual([20, 5]);
    expect(new Set([...train, ...test]).size).toBe(25);
  });

  it("refuses bad fractions, counts and sizes", () => {
    expect(dataError(() => seededSplit(10, 1.5, 0))).toBe("seededSplit: the test fraction must be in [0, 1], got 1.5");
    expect(dataError(() => seededSplit(10, Number.NaN, 0))).toBe("seededSplit: the test fraction must be in [0, 1], got NaN");
    expect(dataError(() => seededSplit(10, { train: 8, test: 3 }, 0))).toBe(
      "seededSplit: train 8 + test 3 = 11 samples, but there are only 10",
    );
    expect(dataError(() => seededSplit(10, { train: -1, test: 3 }, 0))).toBe(
      "seededSplit: train and test counts must be non-negative integers, got train -1, test 3",
    );
    expect(dataError(() => seededSplit(-2, 0.5, 0))).toBe("seededSplit: n must be a non-negative integer, got -2");
    expect(dataError(() => seededSplit(2, 0.5, 1.5))).toBe("seededSplit: seed must be a safe integer, got 1.5");
  });
});

describe("permuteRowsInPlace and splitRowsInPlace (issue 16, item 19: no second copy of the data)", () => {
  it("gives exactly gatherRows' rows, in place", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.double({ min: 0, max: 0.9, noNaN: true }), (rows, rowSize, seed, fraction) => {
        const data = Float32Array.from({ length: rows * rowSize }, (_, index) => index * 0.5);
        const labels = Int32Array.from({ length: rows }, (_, index) => index);
        const split = seededSplit(rows, fraction, seed);
        const expected = { trainX: gatherRows(data, rowSize, split.train), testX: gatherRows(data, rowSize, split.test), trainY: gatherRows(labels, 1, split.train), testY: gatherRows(labels, 1, split.test) };
        const result = splitRowsInPlace(data, rowSize, labels, split);
        expect(result).toEqual(expected);
        expect(result.trainX.buffer).toBe(data.buffer);
      }),
      { numRuns: 300, seed: 19 },
    );
  });

  it("keeps the rows left out after the ordered ones", () => {
    const data = Int32Array.from([0, 1, 2, 3, 4]);
    expect([...permuteRowsInPlace(data, 1, [3, 1])]).toEqual([3, 1]);
    expect([...data].slice(2).sort()).toEqual([0, 2, 4]);
  });

  it("refuses bad orders, leaving the data unchanged", () => {
    const data = Float32Array.from([1, 2, 3, 4]);
    expect(() => permuteRowsInPlace(data, 2, [0, 0])).toThrow(new DataError("permuteRowsInPlace: row 0 appears twice in the order"));
    expect(() => permuteRowsInPlace(data, 2, [2])).toThrow(new DataError("permuteRowsInPlace: index 0 is 2, expected a row in [0, 2)"));
    expect(() => permuteRowsInPlace(data, 3, [0])).toThrow(new DataError("permuteRowsInPlace: 4 values are not a whole number of rows of 3"));
    expect(() => permuteRowsInPlace(data, 0, [0])).toThrow(new DataError("permuteRowsInPlace: rowSize must be a positive integer, got 0"));
    expect([...data]).toEqual([1, 2, 3, 4]);
  });
});
