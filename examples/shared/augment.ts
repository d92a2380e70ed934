/**
 * @file Random affine augmentation of 28×28 digits — what a PyTorch user adds with
 * `transforms.RandomAffine(degrees=10, translate=(2/28, 2/28), scale=(0.9, 1.1))` when a small
 * training set (8,000 digits here) makes a model overfit; used by the mnist and mnist-cnn examples. Each image gets its own rotation,
 * scale and shift from a seeded PRNG, applied around the image centre with bilinear
 * interpolation (pixels outside the image are 0, the background).
 */
import { Prng } from "@graft/compiler";

/** Image side in pixels. */
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const CENTER = (SIDE - 1) / 2;

/** How strongly to distort. All zeros leaves images unchanged. */
export interface AffineRange {
  /** Maximum rotation, in degrees (uniform in ±degrees). */
  readonly degrees: number;
  /** Maximum relative scale change (uniform in 1 ± scale). */
  readonly scale: number;
  /** Maximum shift in pixels along each axis (uniform in ±shift). */
  readonly shift: number;
}

/** The augmentation the MNIST examples use: ±10°, ±10% scale, ±2 px shift. */
export const DEFAULT_AFFINE: AffineRange = { degrees: 10, scale: 0.1, shift: 2 };

/** One image's transform: output pixel (i, j) samples the input at a rotated, scaled, shifted point. */
export interface Affine {
  readonly radians: number;
  readonly scale: number;
  readonly dx: number;
  readonly dy: number;
}

/** Draws one transform from `range` (four PRNG draws). */
export function drawAffine(prng: Prng, range: AffineRange): Affine {
  const symmetric = (limit: number): number => (prng.nextFloat() * 2 - 1) * limit;
  return { radians: (symmetric(range.degrees) * Math.PI) / 180, scale: 1 + symmetric(range.scale), dx: symmetric(range.shift), dy: symmetric(range.shift) };
}

/**
 * Writes the transformed image `src[from .. from+784)` into `dst[to .. to+784)`: the output
 * is the input rotated by `radians`, scaled by `scale` about the centre, then shifted by (dx, dy).
 */
export function affineImage(src: Float32Array, from: number, dst: Float32Array, to: number, transform: Affine): void {
  // inverse map: output point → input point
  const cos = Math.cos(transform.radians) / transform.scale;
  const sin = Math.sin(transform.radians) / transform.scale;
  const at = (row: number, col: number): number => (row < 0 || row >= SIDE || col < 0 || col >= SIDE ? 0 : (src[from + row * SIDE + col] ?? 0));
  for (let i = 0; i < SIDE; i++) {
    const yc = i - CENTER - transform.dy;
    for (let j = 0; j < SIDE; j++) {
      const xc = j - CENTER - transform.dx;
      const sx = cos * xc + sin * yc + CENTER;
      const sy = -sin * xc + cos * yc + CENTER;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const top = (1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1);
      const bottom = (1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1);
      dst[to + i * SIDE + j] = (1 - fy) * top + fy * bottom;
    }
  }
}

/**
 * A fresh copy of `count` images (784 values each) with a random transform per image.
 * @throws Error when `images` does not hold `count` images
 */
export function augmentBatch(images: Float32Array, count: number, prng: Prng, range: AffineRange = DEFAULT_AFFINE): Float32Array {
  if (images.length !== count * PIXELS) throw new Error(`augment: expected ${count} images of ${PIXELS} pixels (${count * PIXELS} values), got ${images.length} values`);
  const out = new Float32Array(images.length);
  for (let k = 0; k < count; k++) affineImage(images, k * PIXELS, out, k * PIXELS, drawAffine(prng, range));
  return out;
}
