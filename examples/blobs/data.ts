/**
 * @file The seed's multiclass toy data: four Gaussian blobs in the plane, like scikit-learn's
 * `make_blobs(centers=[(-10,-4), (-7,-8)] + [(-6,-3), (-2,4)], cluster_std=0.5)` with 100
 * samples in all (25 per blob, class k = blob k), drawn from graft's seeded PRNG so the same
 * seed always gives the same points on every machine.
 */
import { Prng } from "@graft/compiler";

/** The blob centers of the seed program, in class order. */
export const BLOB_CENTERS: readonly (readonly [number, number])[] = [
  [-10, -4],
  [-7, -8],
  [-6, -3],
  [-2, 4],
];

/** Standard deviation of every blob (the seed's `cluster_std`). */
export const BLOB_STD = 0.5;

/** Number of classes (one per blob). */
export const BLOB_CLASSES = BLOB_CENTERS.length;

/** A 2-D classification dataset. */
export interface BlobData {
  /** `count × 2` coordinates, row-major. */
  readonly features: Float32Array;
  /** `count` class ids in 0..3. */
  readonly labels: Int32Array;
  /** Number of samples. */
  readonly count: number;
}

/** Options of {@link makeBlobs}. */
export interface BlobOptions {
  /** Total number of samples, split evenly over the blobs in turn (default 100). */
  readonly samples?: number;
  /** Seed of the PRNG (default 80, the seed program's SEED). */
  readonly seed?: number;
  /** Standard deviation of each blob (default 0.5). */
  readonly std?: number;
}

/**
 * Draws the blobs: sample i belongs to blob `i mod 4` (so the classes are balanced and
 * interleaved) and lies at its center plus N(0, std²) noise on each axis.
 * @throws Error for a non-positive or non-integer sample count or a negative std
 */
export function makeBlobs(options: BlobOptions = {}): BlobData {
  const { samples = 100, seed = 80, std = BLOB_STD } = options;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new Error(`blobs: samples must be a positive integer, got ${samples}`);
  if (!(std >= 0)) throw new Error(`blobs: std must be ≥ 0, got ${std}`);
  const prng = new Prng(seed);
  const features = new Float32Array(samples * 2);
  const labels = new Int32Array(samples);
  for (let i = 0; i < samples; i++) {
    const label = i % BLOB_CLASSES;
    const [cx, cy] = BLOB_CENTERS[label] ?? [0, 0];
    features[2 * i] = prng.normal(cx, std);
    features[2 * i + 1] = prng.normal(cy, std);
    labels[i] = label;
  }
  return { features, labels, count: samples };
}
