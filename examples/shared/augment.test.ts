import { describe, expect, it } from "vitest";
import { Prng } from "@graft/compiler";
import { affineImage, augmentBatch, drawAffine } from "./augment.js";

/** A 28×28 image with one lit pixel at (row, col). */
const dot = (row: number, col: number): Float32Array => {
  const image = new Float32Array(784);
  image[row * 28 + col] = 1;
  return image;
};

describe("augmentation", () => {
  it("is the identity with no rotation, scale or shift", () => {
    const image = Float32Array.from({ length: 784 }, (_, i) => (i % 7) / 7);
    const out = new Float32Array(784);
    affineImage(image, 0, out, 0, { radians: 0, scale: 1, dx: 0, dy: 0 });
    expect(out).toEqual(image);
  });

  it("shifts by whole pixels exactly, filling with background", () => {
    const out = new Float32Array(784);
    affineImage(dot(10, 10), 0, out, 0, { radians: 0, scale: 1, dx: 2, dy: -1 });
    expect(out[9 * 28 + 12]).toBeCloseTo(1, 6);
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    affineImage(dot(0, 0), 0, out, 0, { radians: 0, scale: 1, dx: -1, dy: 0 });
    expect(out.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it("rotates a quarter turn about the centre", () => {
    const out = new Float32Array(784);
    affineImage(dot(4, 14), 0, out, 0, { radians: Math.PI / 2, scale: 1, dx: 0, dy: 0 });
    // output (i, j) reads input (27 − j, i): the pixel at row 4, column 14 moves to row 14, column 23
    expect(out[14 * 28 + 23]).toBeCloseTo(1, 6);
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it("draws per-image transforms from the seeded PRNG, within range", () => {
    const images = new Float32Array(3 * 784).fill(0.5);
    const a = augmentBatch(images, 3, new Prng(1));
    const b = augmentBatch(images, 3, new Prng(1));
    expect(a).toEqual(b);
    expect(augmentBatch(images, 3, new Prng(2))).not.toEqual(a);
    const prng = new Prng(3);
    for (let i = 0; i < 100; i++) {
      const t = drawAffine(prng, { degrees: 10, scale: 0.1, shift: 2 });
      expect(Math.abs(t.radians)).toBeLessThanOrEqual((10 * Math.PI) / 180);
      expect(Math.abs(t.scale - 1)).toBeLessThanOrEqual(0.1);
      expect(Math.max(Math.abs(t.dx), Math.abs(t.dy))).toBeLessThanOrEqual(2);
    }
  });

  it("refuses a batch of the wrong size", () => {
    expect(() => augmentBatch(new Float32Array(700), 1, new Prng(0))).toThrow("augment: expected 1 images of 784 pixels (784 values), got 700 values");
  });
});
