/**
 * @file What the MNIST classifiers (the MLP of examples/mnist, the CNN of examples/mnist-cnn)
 * share: logits of a whole set in chunks, one training epoch with augmentation and a progress
 * line, the model's state for safetensors, the confusion counts and the SVG plots.
 */
import type { SafetensorsTensorInput } from "@graft/runtime";
import {
  addToMean,
  confusionMatrix,
  createEpochProgress,
  formatDuration,
  metricsChart,
  Prng,
  runningMean,
  type BackendName,
  DataLoader,
  type EpochMetrics,
  type HostTensor,
  type ProgressStream,
  type Trainer,
} from "@graft/compiler";
import { stateTensors, type ArtifactWriter } from "./artifacts.js";
import { augmentBatch, DEFAULT_AFFINE } from "./augment.js";
import { backendOption, integerOption, onOffOption, percent } from "./cli.js";
import { MNIST_CLASSES, MNIST_PIXELS, type MnistSet } from "./mnist.js";

/** Options every MNIST classifier run takes; unset fields come from the example's recipe. */
export interface ClassifierOptions {
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly optimizer?: string;
  readonly augment?: boolean;
  readonly backend?: BackendName;
  /** Seed of the split, the initial weights, the shuffles and the augmentation (default 0). */
  readonly seed?: number;
  readonly trainSize?: number;
  readonly testSize?: number;
  /** Where the per-epoch progress goes (default stdout); `null` for none. */
  readonly progress?: ProgressStream | null;
}

/** The command-line options of {@link ClassifierOptions} and `--out`, as node:util's parseArgs takes them. */
export const CLASSIFIER_ARGS = {
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  optimizer: { type: "string" },
  augment: { type: "string" },
  backend: { type: "string" },
  seed: { type: "string" },
  "train-size": { type: "string" },
  "test-size": { type: "string" },
  out: { type: "string" },
} as const;

/** The {@link ClassifierOptions} given on a command line parsed with {@link CLASSIFIER_ARGS} (the optimizer unchecked); throws naming a bad option. */
export function classifierOptions(values: { readonly [K in keyof typeof CLASSIFIER_ARGS]?: string | undefined }): ClassifierOptions {
  const backend = backendOption(values.backend);
  const augment = onOffOption("augment", values.augment);
  const epochs = integerOption("epochs", values.epochs, 1);
  const batchSize = integerOption("batch-size", values["batch-size"], 1);
  const seed = integerOption("seed", values.seed, 0);
  const trainSize = integerOption("train-size", values["train-size"], 1);
  const testSize = integerOption("test-size", values["test-size"], 1);
  return {
    ...(epochs === undefined ? {} : { epochs }),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(values.optimizer === undefined ? {} : { optimizer: values.optimizer }),
    ...(augment === undefined ? {} : { augment }),
    ...(backend === undefined ? {} : { backend }),
    ...(seed === undefined ? {} : { seed }),
    ...(trainSize === undefined ? {} : { trainSize }),
    ...(testSize === undefined ? {} : { testSize }),
  };
}

/** The model's input x for `count` flattened digits (the data not copied). */
export type ImageFeed = (images: Float32Array, count: number) => HostTensor;

/** Logits (as the trainer's forward gives them) of the first `count` images of `set`, in chunks of `chunk` rows; `name` prefixes the error. */
export function setLogits(trainer: Trainer, set: MnistSet, feed: ImageFeed, count: number, chunk: number, name: string): HostTensor {
  const data = new Float32Array(count * MNIST_CLASSES);
  for (let start = 0; start < count; start += chunk) {
    const rows = Math.min(chunk, count - start);
    const logits = trainer.forward({ x: feed(set.images.subarray(start * MNIST_PIXELS, (start + rows) * MNIST_PIXELS), rows) }).logits;
    if (logits === undefined) throw new Error(`${name}: the model has no 'logits' output`);
    data.set(logits.data as Float32Array, start * MNIST_CLASSES);
  }
  return { shape: [count, MNIST_CLASSES], dtype: "f32", data };
}

/** One epoch of a classifier run: the metrics plus timings and the learning rate of its last batch. */
export interface ClassifierEpoch extends EpochMetrics {
  /** Wall time of the training steps, in seconds. */
  readonly trainSeconds: number;
  /** Wall time of measuring train and test accuracy, in seconds. */
  readonly evalSeconds: number;
  readonly lr: number;
}

/** What {@link trainClassifierEpoch} needs. */
export interface ClassifierEpochOptions {
  readonly trainer: Trainer;
  readonly loader: DataLoader<Int32Array>;
  /** 0-based. */
  readonly epoch: number;
  readonly epochs: number;
  /** The run's seed (the augmentation of epoch e draws from `seed * 1_000_003 + e + 1`). */
  readonly seed: number;
  /** Random affine augmentation of the training images. */
  readonly augment: boolean;
  readonly feed: ImageFeed;
  /** Where the progress goes; `null` for none. */
  readonly stream: ProgressStream | null;
  /** Called after each step (a per-batch learning-rate schedule). */
  readonly afterStep?: () => void;
  /** The train and test accuracy after the epoch's steps. */
  readonly evaluate: () => { readonly trainAccuracy: number; readonly testAccuracy: number };
}

/**
 * Runs one epoch of training steps over `loader` (augmented when asked), then `evaluate`; shows a
 * progress bar (loss, samples/s) and a final line with the loss and the accuracies.
 */
export function trainClassifierEpoch(options: ClassifierEpochOptions): ClassifierEpoch {
  const { trainer, loader, epoch, epochs, stream, feed } = options;
  const progress = stream === null ? undefined : createEpochProgress({ epoch: epoch + 1, epochs, totalBatches: loader.length, stream });
  const augmentPrng = new Prng(options.seed * 1_000_003 + epoch + 1);
  const started = performance.now();
  let loss = runningMean();
  let seen = 0;
  let index = 0;
  let lr = trainer.learningRate;
  for (const batch of loader.epoch(epoch)) {
    lr = trainer.learningRate;
    const x = options.augment ? augmentBatch(batch.x, batch.size, augmentPrng, DEFAULT_AFFINE) : batch.x;
    const step = trainer.step({ x: feed(x, batch.size), y: { shape: [batch.size], dtype: "i32", data: batch.y } });
    loss = addToMean(loss, step.loss, batch.size);
    seen += batch.size;
    options.afterStep?.();
    progress?.update(index++, { loss: loss.mean, samplesPerSecond: (seen * 1000) / Math.max(1e-3, performance.now() - started) });
  }
  const trained = performance.now();
  const { trainAccuracy, testAccuracy } = options.evaluate();
  const evaluated = performance.now();
  progress?.finish(`loss ${loss.mean.toFixed(4)}  train ${percent(trainAccuracy)}  test ${percent(testAccuracy)}  (eval ${formatDuration(evaluated - trained)})`);
  return { epoch, loss: loss.mean, trainAccuracy, testAccuracy, trainSeconds: (trained - started) / 1000, evalSeconds: (evaluated - trained) / 1000, lr };
}

/** Shuffled batches of a training set of flattened digits (the last one partial), reshuffled each epoch from `seed`. */
export const digitLoader = (train: MnistSet, batchSize: number, seed: number): DataLoader<Int32Array> =>
  new DataLoader({ features: train.images, featureShape: [MNIST_PIXELS], labels: train.labels, batchSize, shuffle: true, seed, dropLast: false });

/** What {@link trainClassifierEpochs} needs: {@link ClassifierEpochOptions} for every epoch. */
export interface ClassifierEpochsOptions extends Omit<ClassifierEpochOptions, "epoch"> {
  /** The example's name, the prefix of its errors. */
  readonly name: string;
  /** Called after each epoch that ended with a finite loss (a per-epoch learning-rate schedule). */
  readonly afterEpoch?: () => void;
}

/** Runs `epochs` epochs of {@link trainClassifierEpoch}; after one whose mean loss is not finite, disposes the trainer and throws. */
export function trainClassifierEpochs(options: ClassifierEpochsOptions): ClassifierEpoch[] {
  const history: ClassifierEpoch[] = [];
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const metrics = trainClassifierEpoch({ ...options, epoch });
    history.push(metrics);
    if (!Number.isFinite(metrics.loss)) {
      options.trainer.dispose();
      throw new Error(`${options.name}: the loss is ${metrics.loss} after epoch ${epoch + 1}; lower the learning rate`);
    }
    options.afterEpoch?.();
  }
  return history;
}

/** `training: 1.2 s per epoch on average (6500 samples/s), total 30 s` for `history` over `trainSize` digits a run started at `started`. */
export function trainingSummary(history: readonly ClassifierEpoch[], trainSize: number, started: number): string {
  const seconds = history.reduce((sum, h) => sum + h.trainSeconds, 0);
  return `training: ${formatDuration((1000 * seconds) / Math.max(1, history.length))} per epoch on average (${Math.round((history.length * trainSize) / Math.max(1e-9, seconds))} samples/s), total ${formatDuration(performance.now() - started)}`;
}

/**
 * The model's state: every param and buffer, not the optimizer's moments; sorted by name. I32
 * counters PyTorch keeps as int64 (num_batches_tracked) are written as I64.
 */
export function modelState(trainer: Trainer): SafetensorsTensorInput[] {
  const optimizerPrefix = `${trainer.optimizer.kind}.`;
  return stateTensors(trainer, (name) => !name.startsWith(optimizerPrefix));
}

/** `matrix[t][p]`: test images of digit t predicted as p. */
export function confusionCounts(labels: Int32Array, predicted: Int32Array): number[][] {
  const matrix = Array.from({ length: MNIST_CLASSES }, () => new Array<number>(MNIST_CLASSES).fill(0));
  labels.forEach((label, row) => {
    const line = matrix[label];
    const p = predicted[row] ?? 0;
    if (line !== undefined) line[p] = (line[p] ?? 0) + 1;
  });
  return matrix;
}

/** What {@link writeClassifierPlots} draws. */
export interface ClassifierPlots {
  readonly history: readonly EpochMetrics[];
  readonly test: MnistSet;
  readonly testPredictions: Int32Array;
  readonly testAccuracy: number;
}

/** Writes `metrics.svg` (loss and accuracy by epoch) and `confusion.svg` (test confusion matrix), titled after the model. */
export async function writeClassifierPlots(writer: ArtifactWriter, run: ClassifierPlots, title: string): Promise<void> {
  await writer.write("metrics.svg", metricsChart(run.history, { title: `${title}: metrics by epoch` }));
  await writer.write(
    "confusion.svg",
    confusionMatrix({ matrix: confusionCounts(run.test.labels, run.testPredictions), classNames: Array.from({ length: MNIST_CLASSES }, (_, d) => String(d)), title: `${title}: test confusion matrix (${percent(run.testAccuracy)})` }),
  );
}
