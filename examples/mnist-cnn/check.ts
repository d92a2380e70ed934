/**
 * @file Checks a written standalone bundle against the trained model: it is loaded as a user
 * would (`import { load } from "./mnist_cnn.mjs"`), run on every test digit, and must pick the
 * same class for each with logits within {@link LOGIT_TOLERANCE}.
 */
import { pathToFileURL } from "node:url";
import { predictions, type HostTensor } from "@graft/compiler";
import { MNIST_CLASSES, MNIST_PIXELS, type MnistSet } from "../shared/mnist.js";

/** Largest |bundle − trainer| logit difference accepted, relative to max(1, |trainer logit|). */
export const LOGIT_TOLERANCE = 1e-4;

/** What {@link checkBundle} found. */
export interface BundleCheck {
  /** Test digits compared. */
  readonly rows: number;
  /** Digits whose predicted class differs, or whose logits differ by more than the tolerance. */
  readonly mismatches: number;
  /** Largest absolute logit difference. */
  readonly maxDifference: number;
}

/** The part of a loaded bundle the check uses. */
export interface LoadedClassifier {
  forward(feeds: { readonly x: Float32Array }): Record<string, unknown>;
}

/** Imports the bundle at `path` and returns its `load()`ed model. */
export async function loadBundle(path: string): Promise<LoadedClassifier> {
  const module = (await import(pathToFileURL(path).href)) as { load?: () => Promise<LoadedClassifier> };
  if (typeof module.load !== "function") throw new Error(`mnist-cnn: ${path} exports no load()`);
  return module.load();
}

/** The bundle's logits f32[count, 10] for `count` flattened digits. */
export function bundleLogits(model: LoadedClassifier, images: Float32Array, count: number): Float32Array {
  const { logits } = model.forward({ x: images.subarray(0, count * MNIST_PIXELS) });
  if (!(logits instanceof Float32Array) || logits.length !== count * MNIST_CLASSES)
    throw new Error(`mnist-cnn: the bundle's forward returned no logits Float32Array of ${count} × ${MNIST_CLASSES} values`);
  return logits;
}

/** Compares the bundle at `path` with the trained model's test logits `expected` [count, 10]. */
export async function checkBundle(path: string, test: MnistSet, expected: HostTensor): Promise<BundleCheck> {
  const logits = bundleLogits(await loadBundle(path), test.images, test.count);
  const fromBundle = predictions({ shape: [test.count, MNIST_CLASSES], data: logits });
  const fromTrainer = predictions(expected);
  let mismatches = 0;
  let maxDifference = 0;
  for (let row = 0; row < test.count; row++) {
    let close = fromBundle[row] === fromTrainer[row];
    for (let k = row * MNIST_CLASSES; k < (row + 1) * MNIST_CLASSES; k++) {
      const want = Number(expected.data[k]);
      const difference = Math.abs((logits[k] ?? Number.NaN) - want);
      maxDifference = Math.max(maxDifference, difference);
      if (!(difference <= LOGIT_TOLERANCE * Math.max(1, Math.abs(want)))) close = false;
    }
    if (!close) mismatches++;
  }
  return { rows: test.count, mismatches, maxDifference };
}
