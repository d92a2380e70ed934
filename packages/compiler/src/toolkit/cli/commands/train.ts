/**
 * @file `graft train <model.ts> --data <file.csv|.tsv|.json> [options]`: trains a user's model on
 * their own tabular data, with a progress bar per epoch, an optional held-out split, and atomic
 * checkpoints that `--resume` continues from.
 *
 * The model contract: the model file's default export is a `model({ outputs, loss })` with
 *
 * - an input named `x` of type f32[batch, F] — F is the number of feature columns of the data — or
 *   of any fixed feature shape, e.g. f32[batch, C, H, W] for images: each row's C·H·W feature
 *   columns are read row-major (the layout of `x.flatten(1)`) and reshaped into the feature shape;
 * - classification: an input named `y` of type i32[batch] — the class id of each row (0 ≤ y < C),
 *   a scalar `loss` (e.g. `crossEntropy(logits, y)`), and an output of type f32[batch, C] (the
 *   first such output, typically `logits`), whose argmax is the predicted class;
 * - regression: an input named `y` of type f32[batch] or f32[batch, 1] — the numeric target of
 *   each row, a scalar `loss` (e.g. `mseLoss(prediction, y)`), and an output of y's type (the
 *   first such output); MSE and R² are reported instead of accuracy.
 *
 * `--standardize` fits each feature's mean and standard deviation on the training rows only and
 * trains on `(x − mean) / std`; the saved weights (`--out`, the checkpoint folder's weights) hold
 * them as `standardize.mean` and `standardize.std`, and the bundle written by `--export` applies
 * them, so it takes raw features. `--out file.safetensors` writes the trained weights without a
 * checkpoint folder; `--export model.mjs` writes a standalone bundle (`forward` and `evaluate`,
 * any batch size) of the trained model with its weights embedded; `--export-train` adds
 * `trainStep` (the run's optimizer with fresh state, its clipping, compiled for its batch size;
 * the standardisation stays fixed).
 *
 * The data: a CSV/TSV with a header row, or JSON (`{"x": [[...]], "y": [...]}` or records), see
 * data/tabular.ts. The label column is the last one unless `--label-column` names it; labels are
 * class ids, or class names (sorted names get ids 0, 1, …, or the order given by `--classes`).
 *
 * Checkpoints (`--checkpoint dir`): after every epoch `dir/checkpoint.safetensors` holds the
 * params and the optimizer state (safetensors, the run's settings and history in its metadata),
 * written with `writeFileAtomic` — a temporary file, fsync, rename — so a run killed mid-write
 * leaves the previous checkpoint whole. At the end `dir/weights.safetensors` holds the params only
 * and `dir/metrics.svg` the curves. `--resume` loads the checkpoint (validated in full before
 * anything is replaced) and runs the remaining epochs with the same shuffles, so an interrupted
 * and resumed run ends with exactly the weights of an uninterrupted one. The checkpoint records
 * the model's IR hash, the data file's hash and the settings; `--resume` refuses a difference,
 * naming it, unless `--force`. Resuming a finished run writes its final files. The folder is
 * checked writable before training starts (see train/checkpoint.ts).
 *
 * Training controls: `--lr-schedule` (see train/schedulers.ts `parseLrSchedule`; stepped after every
 * epoch, OneCycleLR after every batch, ReduceLROnPlateau with the mean loss on the held-out rows —
 * or, with `--split 0`, the epoch's mean training loss; a resumed run replays the finished epochs),
 * `--clip-grad-norm` and `--clip-grad-value`; a checkpoint records them and `--resume` refuses a
 * change (unless `--force`).
 *
 * Exit codes: 0 done, 1 the model does not check or does not fit the contract, 2 bad arguments,
 * a bad data file, a bad checkpoint or a file that cannot be written.
 */
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, formatType, GraftError, graphInputs, printGraph, type Graph, type Model } from "@graft/core";
import type { BackendName, HostTensor } from "../../../backend/types.js";
import { AtomicWriteError, ensureDirectoryFor, writeFileAtomic } from "../../data/atomic.js";
import { DataLoader, seededSplit, splitRowsInPlace } from "../../data/loader.js";
import { DataFileError, readTabularFile, type TabularData } from "../../data/tabular.js";
import { formatOptimizer, parseOptimizer } from "../../../optim/index.js";
import { createEpochProgress, formatDuration, type ProgressStream } from "../../report/progress.js";
import { lineChart, metricsChart, type EpochMetrics } from "../../report/svg.js";
import {
  CHECKPOINT_FILE,
  CheckpointError,
  checkResume,
  hashFile,
  loadCheckpoint,
  prepareCheckpointFolder,
  saveCheckpoint,
  sha256,
  writeFinalFiles,
  type EpochRecord,
  type RunFingerprint,
} from "../../train/checkpoint.js";
import {
  addToMean,
  applyStandardizer,
  attachScheduler,
  createTrainer,
  fitStandardizer,
  formatSchedule,
  parseLrSchedule,
  predictions,
  regressionMetrics,
  runningMean,
  STANDARDIZE_MEAN,
  STANDARDIZE_STD,
  stepsPerBatch,
  type Scheduler,
  type SchedulerSpec,
  type Standardizer,
  type Trainer,
} from "../../train/index.js";
import { exportTrainedBundle, trainedParams, trainedWeights } from "./train-output.js";
import { EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, type CliCommand, type CliContext } from "../context.js";
import { displayPath, loadModel } from "../load-model.js";
import { MAX_MEMORY_HELP, parseMemorySize } from "../memory-option.js";

/** The back end `graft train` uses when `--backend` is not given. */
export const DEFAULT_TRAIN_BACKEND: BackendName = "wasm";

/** Rows per forward pass when `graft train` measures accuracy. */
const ACCURACY_ROWS = 8192;

/** What the user asked for, after parsing and checking the options. */
export interface TrainSettings {
  readonly data: string;
  readonly labelColumn: string | undefined;
  readonly classes: readonly string[] | number | undefined;
  readonly split: number;
  readonly epochs: number;
  readonly batchSize: number;
  /** The optimizer with every option spelled out (what checkpoints record). */
  readonly optimizer: string;
  /** The optimizer spec as the user wrote it (for display). */
  readonly optimizerSpec: string;
  readonly backend: BackendName;
  readonly checkpoint: string | undefined;
  readonly resume: boolean;
  /** Resume even when the model, the data or a setting differs from the checkpoint's. */
  readonly force: boolean;
  readonly seed: number;
  /** `--lr-schedule`: stepped after every epoch (OneCycleLR: every batch). */
  readonly lrSchedule?: SchedulerSpec | undefined;
  /** `--clip-grad-norm`: max_norm of clip_grad_norm_. */
  readonly clipGradNorm?: number | undefined;
  /** `--clip-grad-value`: clip_value of clip_grad_value_. */
  readonly clipGradValue?: number | undefined;
  /** Standardise the features with the training split's mean and std (stored with the weights). */
  readonly standardize: boolean;
  /** Where to write the trained weights (safetensors), without a checkpoint folder. */
  readonly out: string | undefined;
  /** Where to write a standalone bundle of the trained model. */
  readonly export: string | undefined;
  /** `--export-train`: the exported bundle also has `trainStep`. */
  readonly exportTrain?: boolean | undefined;
  /** `--max-memory`: the most bytes the compiled program's arena may take. */
  readonly maxMemory?: number | undefined;
}

/** A problem to report with an exit code (never a stack trace). */
export class TrainError extends Error {
  override readonly name = "TrainError";
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_USAGE) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface RawOptions {
  readonly data?: string;
  readonly labelColumn?: string;
  readonly classes?: string;
  readonly split?: string;
  readonly epochs?: string;
  readonly batchSize?: string;
  readonly optimizer?: string;
  readonly backend?: string;
  readonly checkpoint?: string;
  readonly resume?: boolean;
  readonly force?: boolean;
  readonly seed?: string;
  readonly lrSchedule?: string;
  readonly clipGradNorm?: string;
  readonly clipGradValue?: string;
  readonly standardize?: boolean;
  readonly out?: string;
  readonly export?: string;
  readonly exportTrain?: boolean;
  readonly maxMemory?: number;
}

const positiveOption = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text.trim());
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) throw new TrainError(`--${name} must be a number > 0, got '${text}'`);
  return value;
};

const integerOption = (name: string, text: string | undefined, fallback: number, min: number): number => {
  if (text === undefined) return fallback;
  const value = Number(text.trim());
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < min) throw new TrainError(`--${name} must be an integer ≥ ${min}, got '${text}'`);
  return value;
};

/**
 * Checks the raw option strings and fills in the defaults.
 * @throws TrainError naming the option
 */
export function parseTrainSettings(raw: RawOptions, cwd: string): TrainSettings {
  if (raw.data === undefined) throw new TrainError("--data <file> is required (a .csv, .tsv or .json file)");
  const split = raw.split === undefined ? 0.2 : Number(raw.split.trim());
  if (raw.split !== undefined && (raw.split.trim() === "" || !Number.isFinite(split) || split < 0 || split >= 1))
    throw new TrainError(`--split must be a fraction 0 ≤ split < 1 (the share held out for testing), got '${raw.split}'`);
  const backend = raw.backend ?? DEFAULT_TRAIN_BACKEND;
  if (backend !== "js" && backend !== "wasm" && backend !== "reference") throw new TrainError(`--backend must be js, wasm or reference, got '${backend}'`);
  const optimizer = raw.optimizer ?? "adam:lr=1e-3";
  const parsed = parseOptimizer(optimizer);
  if (E.isLeft(parsed)) throw new TrainError(`--optimizer: ${parsed.left.map((d) => d.message).join("; ")}`);
  let classes: readonly string[] | number | undefined;
  if (raw.classes !== undefined) {
    const text = raw.classes.trim();
    if (/^\d+$/.test(text)) classes = Number(text);
    else {
      const names = text.split(",").map((name) => name.trim());
      if (names.some((name) => name === "")) throw new TrainError(`--classes takes a count or comma-separated class names, got '${raw.classes}'`);
      classes = names;
    }
  }
  const schedule = raw.lrSchedule === undefined ? undefined : parseLrSchedule(raw.lrSchedule);
  if (schedule !== undefined && E.isLeft(schedule)) throw new TrainError(`--lr-schedule: ${schedule.left.map((d) => d.message).join("; ")}`);
  if (raw.resume === true && raw.checkpoint === undefined) throw new TrainError("--resume needs --checkpoint <dir> (the directory of the checkpoint to continue from)");
  if (raw.force === true && raw.resume !== true) throw new TrainError("--force only applies to --resume (it resumes a checkpoint whose model, data or settings differ)");
  if (raw.out !== undefined && !/\.safetensors$/i.test(raw.out.trim())) throw new TrainError(`--out writes safetensors weights; name the file *.safetensors, got '${raw.out}'`);
  if (raw.export !== undefined && !/\.(m|c)?js$/i.test(raw.export.trim())) throw new TrainError(`--export writes an ES module bundle; name the file *.mjs (or *.js), got '${raw.export}'`);
  if (raw.exportTrain === true && raw.export === undefined) throw new TrainError("--export-train needs --export <model.mjs> (it adds trainStep to that bundle)");
  return {
    data: resolve(cwd, raw.data),
    labelColumn: raw.labelColumn,
    classes,
    split,
    epochs: integerOption("epochs", raw.epochs, 10, 1),
    batchSize: integerOption("batch-size", raw.batchSize, 32, 1),
    optimizer: formatOptimizer(parsed.right),
    optimizerSpec: optimizer,
    backend,
    checkpoint: raw.checkpoint === undefined ? undefined : resolve(cwd, raw.checkpoint),
    resume: raw.resume === true,
    force: raw.force === true,
    seed: integerOption("seed", raw.seed, 0, 0),
    lrSchedule: schedule === undefined ? undefined : schedule.right,
    clipGradNorm: positiveOption("clip-grad-norm", raw.clipGradNorm),
    clipGradValue: positiveOption("clip-grad-value", raw.clipGradValue),
    standardize: raw.standardize === true,
    out: raw.out === undefined ? undefined : resolve(cwd, raw.out),
    export: raw.export === undefined ? undefined : resolve(cwd, raw.export),
    ...(raw.exportTrain === true ? { exportTrain: true } : {}),
  };
}

// ----- the model contract ------------------------------------------------------------------------

/** How the model's inputs and outputs map onto the data. */
export type ModelContract =
  | {
      readonly task: "classification";
      /** F, the features per row the model's `x` takes (the product of `featureShape`). */
      readonly features: number;
      /** x's shape per row, without the batch dim: `[F]`, or e.g. `[C, H, W]` for images. */
      readonly featureShape: readonly number[];
      /** C, the number of classes (the class dim of the prediction output). */
      readonly classes: number;
      /** The output whose argmax is the predicted class. */
      readonly prediction: string;
    }
  | {
      readonly task: "regression";
      readonly features: number;
      readonly featureShape: readonly number[];
      /** y's shape per row: `[]` for f32[batch], `[1]` for f32[batch,1]. */
      readonly targetShape: readonly [] | readonly [1];
      /** The output (of y's type) that predicts the targets. */
      readonly prediction: string;
    };

const CLASSIFICATION_CONTRACT = "graft train needs an input x : f32[batch,F], labels y : i32[batch], a loss, and an output f32[batch,C] (e.g. logits)";
const REGRESSION_CONTRACT = "graft train (regression) needs an input x : f32[batch,F], targets y : f32[batch] or f32[batch,1], a loss (e.g. mseLoss), and an output of y's type";

/**
 * Checks that a model follows `graft train`'s contract (see the top of this file).
 * @throws TrainError (exit 1) naming what is missing or mismatched
 */
export function checkContract(model: Model, display: string): ModelContract {
  const built = buildGraph(model);
  if (E.isLeft(built)) throw new TrainError(new GraftError(built.left).message, EXIT_DIAGNOSTICS);
  const graph: Graph = built.right;
  const inputs = graphInputs(graph);
  const regression = inputs.find((node) => node.attrs.name === "y")?.type.dtype === "f32";
  const fail = (message: string): TrainError => new TrainError(`${display}: ${message}; ${regression ? REGRESSION_CONTRACT : CLASSIFICATION_CONTRACT}`, EXIT_DIAGNOSTICS);
  if (graph.loss === undefined) throw fail("the model declares no loss");
  const x = inputs.find((node) => node.attrs.name === "x");
  const y = inputs.find((node) => node.attrs.name === "y");
  if (x === undefined) throw fail(`the model has no input named x (its inputs: ${inputs.map((node) => node.attrs.name).join(", ") || "none"})`);
  if (y === undefined) throw fail(`the model has no input named y for the labels (its inputs: ${inputs.map((node) => node.attrs.name).join(", ") || "none"})`);
  const extra = inputs.filter((node) => node.attrs.name !== "x" && node.attrs.name !== "y");
  if (extra.length > 0) throw fail(`the model has inputs other than x and y: ${extra.map((node) => node.attrs.name).join(", ")}`);
  const xType = x?.type;
  const featureShape = xType?.shape.slice(1).filter((dim): dim is number => typeof dim === "number") ?? [];
  if (xType === undefined || xType.dtype !== "f32" || xType.shape.length < 2 || featureShape.length !== xType.shape.length - 1)
    throw fail(`input x is ${xType === undefined ? "untyped" : formatType(xType)}, expected f32[batch,F] (or a fixed feature shape such as f32[batch,C,H,W]) with fixed dims after the batch dim`);
  const features = featureShape.reduce((product, dim) => product * dim, 1);
  const yType = y?.type;
  if (regression) {
    const targetShape = yType.shape.length === 1 ? ([] as const) : yType.shape.length === 2 && yType.shape[1] === 1 ? ([1] as const) : undefined;
    if (targetShape === undefined) throw fail(`input y is ${formatType(yType)}, expected f32[batch] or f32[batch,1] (one target per row)`);
    const fits = graph.outputs.find((output) => {
      if (output.id === graph.loss && output.name === "loss") return false;
      const type = graph.nodes[output.id]?.type;
      return type !== undefined && type.dtype === "f32" && type.shape.length === yType.shape.length && type.shape[0] === yType.shape[0] && type.shape.slice(1).every((dim) => dim === 1);
    });
    if (fits === undefined) throw fail(`the model has no output of type ${formatType(yType)} (y's type) to predict the targets with`);
    return { task: "regression", features, featureShape, targetShape, prediction: fits.name };
  }
  if (yType.dtype !== "i32" || yType.shape.length !== 1)
    throw fail(`input y is ${formatType(yType)}, expected i32[batch] class ids (or f32[batch] targets for a regression)`);
  const prediction = graph.outputs.find((output) => {
    if (output.name === "loss" && output.id === graph.loss) return false;
    const type = graph.nodes[output.id]?.type;
    return type !== undefined && type.shape.length === 2 && typeof type.shape[1] === "number" && (type.dtype === "f32" || type.dtype === "f64");
  });
  const classes = prediction === undefined ? undefined : graph.nodes[prediction.id]?.type.shape[1];
  if (prediction === undefined || typeof classes !== "number") throw fail("the model has no output of type f32[batch,C] to predict classes with");
  return { task: "classification", features, featureShape, classes, prediction: prediction.name };
}

// ----- data ---------------------------------------------------------------------------------------

/**
 * Reads the data file and checks it against the model: F feature columns, labels below C.
 * @throws TrainError naming the file (and the line, for a bad row or label)
 */
export async function readTrainingData(settings: TrainSettings, contract: ModelContract, display: (path: string) => string): Promise<TabularData> {
  const name = display(settings.data);
  const read = async (classes: readonly string[] | number | undefined): Promise<TabularData> => {
    try {
      return await readTabularFile(settings.data, {
        ...(settings.labelColumn === undefined ? {} : { labelColumn: /^-?\d+$/.test(settings.labelColumn) ? Number(settings.labelColumn) : settings.labelColumn }),
        ...(classes === undefined ? {} : { classes }),
        ...(contract.task === "regression" ? { target: "number" as const } : {}),
      });
    } catch (thrown) {
      if (thrown instanceof DataFileError) throw new TrainError(thrown.message.split(settings.data).join(name));
      throw thrown;
    }
  };
  const checkColumns = (data: TabularData): TabularData => {
    const columns = data.featureNames.length;
    const { featureShape, features } = contract;
    // an image-shaped x names its shape and the product the columns must make
    const takes = featureShape.length === 1 ? `${features}` : `${features} (x is ${formatFeatureType(featureShape)}: ${featureShape.join("·")} = ${features} values per row)`;
    if (columns !== features)
      throw new TrainError(
        `${name}: has ${columns} feature column${columns === 1 ? "" : "s"} (${data.featureNames.slice(0, 8).join(", ")}${columns > 8 ? ", …" : ""}) besides the label '${data.labelName}', but the model's x takes ${takes}`,
      );
    return data;
  };
  if (contract.task === "regression") {
    if (settings.classes !== undefined) throw new TrainError("--classes is for classification, but the model's y is f32 (numeric targets: a regression)");
    return checkColumns(await read(undefined));
  }
  const declared = settings.classes;
  const declaredCount = declared === undefined ? undefined : typeof declared === "number" ? declared : declared.length;
  if (declaredCount !== undefined && declaredCount !== contract.classes)
    throw new TrainError(`--classes declares ${declaredCount} classes but the model predicts ${contract.classes}`);
  let data = await read(declared);
  if (declared === undefined && data.numClasses > contract.classes) {
    // Integer labels: read again with the model's class count, which names the first bad row.
    if (data.classNames === undefined) data = await read(contract.classes);
    else
      throw new TrainError(
        `${name}: the labels name ${data.numClasses} classes (${data.classNames.slice(0, 10).join(", ")}${data.numClasses > 10 ? ", …" : ""}) but the model predicts ${contract.classes}`,
      );
  }
  return checkColumns(data);
}

/** The type of x with its feature shape, `f32[batch,1,28,28]`. */
const formatFeatureType = (featureShape: readonly number[]): string => `f32[batch,${featureShape.join(",")}]`;

// ----- checkpoints (see train/checkpoint.ts) --------------------------------------------------------

export { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint, WEIGHTS_FILE, type CheckpointMeta, type EpochRecord } from "../../train/checkpoint.js";

// ----- the run -------------------------------------------------------------------------------------

/**
 * Starts `--lr-schedule` on the trainer (T_max defaults to the epochs, OneCycleLR's total_steps to
 * epochs × batches) and replays the epochs a resumed run already did; ReduceLROnPlateau is stepped
 * with each epoch's plateau metric (`plateauMetric`).
 * @throws TrainError when the schedule does not fit the run
 */
const startSchedule = (
  trainer: Trainer,
  spec: SchedulerSpec,
  epochs: number,
  batchesPerEpoch: number,
  done: readonly EpochRecord[],
): { readonly scheduler: Scheduler; readonly perBatch: boolean } => {
  try {
    if (spec.kind === "onecycle" && spec.totalSteps !== undefined && spec.totalSteps < epochs * batchesPerEpoch)
      throw new RangeError(`OneCycleLR: total_steps = ${spec.totalSteps} is fewer than the run's ${epochs} epoch${epochs === 1 ? "" : "s"} × ${batchesPerEpoch} batches = ${epochs * batchesPerEpoch} steps`);
    const scheduler = attachScheduler(trainer, spec, { epochs, batchesPerEpoch });
    const perBatch = stepsPerBatch(spec);
    for (const metrics of done) {
      if (perBatch) for (let i = 0; i < batchesPerEpoch; i++) scheduler.step();
      else scheduler.step(plateauMetric(metrics));
    }
    return { scheduler, perBatch };
  } catch (thrown) {
    if (thrown instanceof RangeError) throw new TrainError(`--lr-schedule: ${thrown.message}`);
    throw thrown;
  }
};

/**
 * What ReduceLROnPlateau steps on: the mean loss on the held-out rows when there are any
 * (`--split` > 0: a validation loss, as PyTorch users pass `val_loss`), else the epoch's mean
 * training loss.
 */
const plateauMetric = (record: EpochRecord): number => record.testLoss ?? record.loss;

/** The model's IR hash, the data file's hash and the settings a checkpoint records. */
const runFingerprint = async (model: Model, settings: TrainSettings): Promise<RunFingerprint> => {
  const built = buildGraph(model);
  if (E.isLeft(built)) throw new TrainError(new GraftError(built.left).message, EXIT_DIAGNOSTICS);
  return {
    model: model.name,
    modelHash: sha256(printGraph(built.right)),
    dataHash: await hashFile(settings.data),
    optimizer: settings.optimizer,
    backend: settings.backend,
    seed: settings.seed,
    batchSize: settings.batchSize,
    split: settings.split,
    standardize: settings.standardize,
    lrSchedule: settings.lrSchedule === undefined ? undefined : formatSchedule(settings.lrSchedule),
    clipGradNorm: settings.clipGradNorm,
    clipGradValue: settings.clipGradValue,
  };
};

/** A stream that writes to the CLI's `out`, drawing a bar only when the process's stdout is a terminal. */
const progressStream = (context: CliContext): ProgressStream => {
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      context.io.out(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      callback();
    },
  });
  return Object.assign(stream, { isTTY: process.stdout.isTTY === true, columns: process.stdout.columns });
};

const percent = (fraction: number): string => `${(100 * fraction).toFixed(1)}%`;

const metric = (value: number): string => (Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3) ? value.toExponential(3) : value.toFixed(4));

/** The classification or regression metrics of one epoch, for its progress line. */
const epochSummary = (record: EpochRecord): string =>
  record.trainAccuracy !== undefined
    ? `train ${percent(record.trainAccuracy)}${record.testAccuracy === undefined ? "" : `  test ${percent(record.testAccuracy)}`}`
    : `train mse ${metric(record.trainMse ?? Number.NaN)} r² ${metric(record.trainR2 ?? Number.NaN)}${record.testMse === undefined ? "" : `  test mse ${metric(record.testMse)} r² ${metric(record.testR2 ?? Number.NaN)}`}`;

/** The curves of a run: loss and accuracy (classification), or loss and MSE (regression). */
const runChart = (history: readonly EpochRecord[], title: string): string => {
  if (history.every((record) => record.trainAccuracy !== undefined))
    return metricsChart(
      history.map((record): EpochMetrics => ({ epoch: record.epoch, loss: record.loss, trainAccuracy: record.trainAccuracy ?? Number.NaN, ...(record.testAccuracy === undefined ? {} : { testAccuracy: record.testAccuracy }) })),
      { title },
    );
  const series = [{ name: "train loss", points: history.map((record) => [record.epoch, record.loss] as const) }];
  if (history.some((record) => record.testMse !== undefined)) series.push({ name: "test mse", points: history.map((record) => [record.epoch, record.testMse ?? Number.NaN] as const) });
  return lineChart({ title, xLabel: "Epoch", yLabel: "Mean squared error", series });
};

/** The final summary of a run. */
export interface TrainSummary {
  readonly history: readonly EpochRecord[];
  readonly trainSize: number;
  readonly testSize: number;
}

/**
 * Runs `graft train` with checked settings.
 * @throws TrainError for anything the user must fix
 */
export async function runTrain(file: string, settings: TrainSettings, context: CliContext): Promise<TrainSummary> {
  const { io } = context;
  const loaded = await loadModel(file, io.cwd);
  if (E.isLeft(loaded)) throw new TrainError(loaded.left);
  const { model, display } = loaded.right;
  const contract = checkContract(model, display);
  const shown = (path: string): string => displayPath(path, io.cwd);
  // Before any work: a checkpoint folder that cannot take the files is an error now, not after an epoch.
  if (settings.checkpoint !== undefined) await prepareCheckpointFolder(settings.checkpoint, shown, context.fileSystem);
  const data = await readTrainingData(settings, contract, shown);

  const F = contract.features;
  const { featureShape } = contract;
  /** x's feed of `rows` rows: f32[rows, ...featureShape]. */
  const xFeed = (rows: number, data: Float32Array): HostTensor => ({ shape: [rows, ...featureShape], dtype: "f32", data });
  // In place (no second copy of a large dataset, and the split's index list is not kept); the
  // same rows as gatherRows of each list.
  const split = seededSplit(data.numSamples, settings.split, settings.seed);
  const { trainX, trainY, testX, testY } =
    contract.task === "regression" ? splitRowsInPlace(data.features, F, data.targets ?? new Float32Array(0), split) : splitRowsInPlace(data.features, F, data.labels, split);
  if (trainY.length === 0) throw new TrainError(`${shown(settings.data)}: --split ${settings.split} leaves no rows to train on (${data.numSamples} rows)`);
  // fitted on the training rows only, so nothing of the test rows leaks into training; applied in place
  const standardizer: Standardizer | undefined = settings.standardize ? { ...fitStandardizer(trainX, F, trainY.length), shape: featureShape } : undefined;
  if (standardizer !== undefined) {
    applyStandardizer(trainX, standardizer, trainX);
    applyStandardizer(testX, standardizer, testX);
  }
  const labelFeed = (rows: number, y: Float32Array | Int32Array): HostTensor =>
    y instanceof Float32Array ? { shape: contract.task === "regression" ? [rows, ...contract.targetShape] : [rows], dtype: "f32", data: y } : { shape: [rows], dtype: "i32", data: y };

  let trainer: Trainer;
  try {
    trainer = await createTrainer(model, {
      optimizer: settings.optimizer,
      backend: settings.backend,
      seed: settings.seed,
      ...(settings.maxMemory === undefined ? {} : { maxMemory: settings.maxMemory }),
      ...(settings.clipGradNorm === undefined ? {} : { clipGradNorm: settings.clipGradNorm }),
      ...(settings.clipGradValue === undefined ? {} : { clipGradValue: settings.clipGradValue }),
    });
  } catch (thrown) {
    if (thrown instanceof GraftError) throw new TrainError(thrown.message, EXIT_DIAGNOSTICS);
    throw new TrainError(thrown instanceof Error ? thrown.message : String(thrown));
  }
  try {
    const checkpointPath = settings.checkpoint === undefined ? undefined : join(settings.checkpoint, CHECKPOINT_FILE);
    const fingerprint = settings.checkpoint === undefined ? undefined : await runFingerprint(model, settings);
    const writeOptions = context.fileSystem === undefined ? {} : { fileSystem: context.fileSystem };
    let history: EpochRecord[] = [];
    let startEpoch = 0;
    if (settings.resume && checkpointPath !== undefined && fingerprint !== undefined) {
      const { state, meta } = await loadCheckpoint(checkpointPath, trainer.getState(), shown(checkpointPath));
      const forced = checkResume(meta, fingerprint, shown(checkpointPath), { force: settings.force, dataFile: shown(settings.data) });
      for (const difference of forced) io.err(`graft train: warning: --force: ${difference}\n`);
      if (meta.epoch > settings.epochs)
        throw new TrainError(`--resume: ${shown(checkpointPath)} has already completed ${meta.epoch} epochs, more than --epochs ${settings.epochs}; ask for --epochs ${meta.epoch} or more`);
      trainer.setState(state);
      history = [...meta.history];
      startEpoch = meta.epoch;
      io.out(
        meta.epoch === settings.epochs
          ? `resuming from ${shown(checkpointPath)}: all ${meta.epoch} epochs are done; writing the final files\n`
          : `resuming from ${shown(checkpointPath)} after epoch ${meta.epoch}\n`,
      );
    }

    const task = contract.task === "classification" ? `${contract.classes} classes` : `regression on '${data.labelName}'`;
    io.out(
      `training ${display} (model ${model.name}) on ${shown(settings.data)}: ${trainY.length} train / ${testY.length} test rows, ${featureShape.length === 1 ? `${F} features` : `${F} features as ${formatFeatureType(featureShape)}`}${standardizer === undefined ? "" : " (standardized)"}, ${task}; ` +
        `${settings.optimizerSpec}${settings.lrSchedule === undefined ? "" : `, ${formatSchedule(settings.lrSchedule)}`}` +
        `${settings.clipGradNorm === undefined ? "" : `, clip_grad_norm ${settings.clipGradNorm}`}${settings.clipGradValue === undefined ? "" : `, clip_grad_value ${settings.clipGradValue}`}` +
        `, batch ${settings.batchSize}, ${settings.backend} backend\n`,
    );
    const loader = new DataLoader({ features: trainX, featureShape, labels: trainY, batchSize: settings.batchSize, shuffle: true, seed: settings.seed, dropLast: false });
    const scheduler = settings.lrSchedule === undefined ? undefined : startSchedule(trainer, settings.lrSchedule, settings.epochs, loader.length, history.slice(0, startEpoch));
    const predict = (x: Float32Array, rows: number): HostTensor => {
      const output = trainer.forward({ x: xFeed(rows, x) })[contract.prediction];
      if (output === undefined) throw new TrainError(`the model's forward pass returned no '${contract.prediction}'`, EXIT_DIAGNOSTICS);
      return output;
    };
    /** The share of rows predicted right, in forward passes of at most ACCURACY_ROWS rows (bounded memory on large data). */
    const accuracyOf = (x: Float32Array, y: Int32Array): number => {
      let correct = 0;
      for (let start = 0; start < y.length; start += ACCURACY_ROWS) {
        const rows = Math.min(ACCURACY_ROWS, y.length - start);
        const predicted = predictions(predict(x.subarray(start * F, (start + rows) * F), rows), -1);
        for (let row = 0; row < rows; row++) if (predicted[row] === y[start + row]) correct++;
      }
      return correct / y.length;
    };
    /** Every row's prediction of a regression, in forward passes of at most ACCURACY_ROWS rows. */
    const predictAll = (x: Float32Array, rows: number): Float32Array => {
      const out = new Float32Array(rows);
      for (let start = 0; start < rows; start += ACCURACY_ROWS) {
        const count = Math.min(ACCURACY_ROWS, rows - start);
        out.set(Float32Array.from(predict(x.subarray(start * F, (start + count) * F), count).data), start);
      }
      return out;
    };
    const measure = (x: Float32Array, y: Float32Array | Int32Array, prefix: "train" | "test"): Partial<EpochRecord> => {
      if (y instanceof Int32Array) return { [`${prefix}Accuracy`]: accuracyOf(x, y) };
      const { mse, r2 } = regressionMetrics(predictAll(x, y.length), y);
      return { [`${prefix}Mse`]: mse, [`${prefix}R2`]: r2 };
    };
    /** The mean loss over the held-out rows: `evaluate` in chunks of at most ACCURACY_ROWS rows, each chunk's mean weighted by its rows. */
    const heldOutLoss = (): number => {
      let mean = runningMean();
      for (let start = 0; start < testY.length; start += ACCURACY_ROWS) {
        const rows = Math.min(ACCURACY_ROWS, testY.length - start);
        // one label or target per row
        const feeds = { x: xFeed(rows, testX.subarray(start * F, (start + rows) * F)), y: labelFeed(rows, testY.subarray(start, start + rows)) };
        mean = addToMean(mean, trainer.evaluate(feeds).loss, rows);
      }
      return mean.mean;
    };
    const plateauOnHeldOut = settings.lrSchedule?.kind === "plateau" && testY.length > 0;
    const stream = progressStream(context);
    for (let epoch = startEpoch; epoch < settings.epochs; epoch++) {
      const progress = createEpochProgress({ epoch: epoch + 1, epochs: settings.epochs, totalBatches: loader.length, stream });
      const started = performance.now();
      let loss = runningMean();
      let seen = 0;
      let index = 0;
      for (const batch of loader.epoch(epoch)) {
        const result = trainer.step({ x: xFeed(batch.size, batch.x), y: labelFeed(batch.size, batch.y) });
        loss = addToMean(loss, result.loss, batch.size);
        if (scheduler?.perBatch === true) scheduler.scheduler.step();
        seen += batch.size;
        progress.update(index++, { loss: loss.mean, samplesPerSecond: (seen * 1000) / Math.max(1e-3, performance.now() - started) });
      }
      const record: EpochRecord = {
        epoch,
        loss: loss.mean,
        ...measure(trainX, trainY, "train"),
        ...(testY.length === 0 ? {} : measure(testX, testY, "test")),
        ...(plateauOnHeldOut ? { testLoss: heldOutLoss() } : {}),
      };
      history.push(record);
      progress.finish(`loss ${loss.mean.toFixed(4)}  ${epochSummary(record)}`);
      if (!Number.isFinite(loss.mean))
        throw new TrainError(
          `epoch ${epoch + 1}: the loss is ${loss.mean}; lower the learning rate (--optimizer)${settings.standardize ? "" : ", standardize the features (--standardize)"} or check the data's scale`,
          EXIT_DIAGNOSTICS,
        );
      if (scheduler !== undefined && !scheduler.perBatch) scheduler.scheduler.step(plateauMetric(record));
      if (checkpointPath !== undefined && fingerprint !== undefined) {
        await saveCheckpoint(checkpointPath, trainer.getState(), { ...fingerprint, epoch: epoch + 1, model: model.name, history }, writeOptions);
      }
    }
    const params = Object.fromEntries(Object.entries(trainer.getState()).filter(([name]) => !name.startsWith(`${trainer.optimizer.kind}.`)));
    if (settings.checkpoint !== undefined && checkpointPath !== undefined) {
      const title = `${model.name}: metrics by epoch`;
      const weightsPath = await writeFinalFiles(settings.checkpoint, trainedParams(params, standardizer), history, title, writeOptions, runChart(history, title));
      io.out(`checkpoint: ${shown(checkpointPath)}; weights: ${shown(weightsPath)}\n`);
    }
    const weights = trainedWeights(params, standardizer);
    if (settings.out !== undefined) {
      await ensureDirectoryFor(settings.out, writeOptions);
      await writeFileAtomic(settings.out, weights, writeOptions);
      io.out(`weights: ${shown(settings.out)}${standardizer === undefined ? "" : ` (with ${STANDARDIZE_MEAN} and ${STANDARDIZE_STD})`}\n`);
    }
    if (settings.export !== undefined) {
      const exported = await exportTrainedBundle(settings.export, model, weights, {
        backend: settings.backend,
        standardizer,
        display: shown,
        ...writeOptions,
        ...(settings.exportTrain ? { train: { optimizer: settings.optimizer, batchSize: settings.batchSize, clipGradNorm: settings.clipGradNorm, clipGradValue: settings.clipGradValue } } : {}),
      });
      if (E.isLeft(exported)) throw new TrainError(exported.left, EXIT_DIAGNOSTICS);
      io.out(`${exported.right}\n`);
    }
    const last = history[history.length - 1];
    if (last !== undefined) {
      if (last.trainAccuracy !== undefined) io.out(`train accuracy: ${percent(last.trainAccuracy)}\n`);
      if (last.testAccuracy !== undefined) io.out(`test accuracy: ${percent(last.testAccuracy)}\n`);
      if (last.trainMse !== undefined) io.out(`train MSE: ${metric(last.trainMse)}, R²: ${metric(last.trainR2 ?? Number.NaN)}\n`);
      if (last.testMse !== undefined) io.out(`test MSE: ${metric(last.testMse)}, R²: ${metric(last.testR2 ?? Number.NaN)}\n`);
    }
    return { history, trainSize: trainY.length, testSize: testY.length };
  } finally {
    trainer.dispose();
  }
}

export const trainCommand: CliCommand = {
  name: "train",
  register: (program, context) => {
    program
      .command("train")
      .description("train a model on a CSV/TSV/JSON data file (input x : f32[batch,F] or f32[batch,C,H,W], labels y : i32[batch] or targets y : f32[batch]) with progress, checkpoints and --resume")
      .argument("<model.ts>", "a TypeScript module whose default export is a model with inputs x and y and a loss")
      .requiredOption("--data <file>", "the data: .csv/.tsv with a header row, or .json ({x, y} or records)")
      .option("--label-column <name>", "the label column, by name or 0-based index (default: the last column)")
      .option("--classes <list>", "the declared classes: comma-separated names in id order, or a count")
      .option("--split <fraction>", "share of the rows held out for testing (default 0.2)")
      .option("--epochs <n>", "epochs to train (default 10)")
      .option("--batch-size <n>", "rows per batch (default 32)")
      .option("--optimizer <spec>", "optimizer spec, e.g. adam:lr=1e-3 or sgd:lr=0.1,momentum=0.9 (default adam:lr=1e-3)")
      .option("--backend <name>", `js, wasm or reference (default ${DEFAULT_TRAIN_BACKEND})`)
      .option("--checkpoint <dir>", "write dir/checkpoint.safetensors atomically after every epoch")
      .option("--resume", "continue from the checkpoint in --checkpoint <dir> (same model, data and settings; a finished run writes its final files)")
      .option("--force", "with --resume: resume even if the model, the data or a setting changed (each difference is printed)")
      .option("--seed <n>", "seed of the initial weights, the split and the shuffles (default 0)")
      .option("--max-memory <size>", MAX_MEMORY_HELP, parseMemorySize)
      .option("--lr-schedule <spec>", "lr scheduler, e.g. cosine, cosine:t_max=20,eta_min=1e-5, step:step_size=10,gamma=0.5, multistep:milestones=30,80, exponential:gamma=0.95, warmup:start_factor=0.1,total_iters=5, onecycle:max_lr=0.1, plateau:patience=3")
      .option("--clip-grad-norm <max_norm>", "clip the gradients by global 2-norm before each step (clip_grad_norm_)")
      .option("--clip-grad-value <v>", "clamp every gradient element to [-v, v] before each step (clip_grad_value_)")
      .option("--standardize", "standardize the features with the training rows' mean and std (stored with the weights, applied by --export's bundle)")
      .option("--out <file.safetensors>", "write the trained weights to this file (no checkpoint folder needed)")
      .option("--export <model.mjs>", "write a standalone bundle (forward and evaluate, any batch size) of the trained model with its weights")
      .option("--export-train", "with --export: the bundle also has trainStep (the run's optimizer, fresh state, and clipping) to train on")
      .action(async (file: string, options: RawOptions) => {
        const started = performance.now();
        try {
          const settings = { ...parseTrainSettings(options, context.io.cwd), maxMemory: options.maxMemory };
          await runTrain(file, settings, context);
          context.io.out(`done in ${formatDuration(performance.now() - started)}\n`);
          context.exit(EXIT_OK);
        } catch (thrown) {
          if (thrown instanceof TrainError || thrown instanceof CheckpointError) {
            context.io.err(`graft train: ${thrown.message}\n`);
            context.exit(thrown.exitCode);
            return;
          }
          if (thrown instanceof AtomicWriteError) {
            context.io.err(`graft train: ${thrown.message}\n`);
            context.exit(EXIT_USAGE);
            return;
          }
          // a diagnostic met once training runs (e.g. a batch whose arena exceeds --max-memory)
          if (thrown instanceof GraftError) {
            context.io.err(`graft train: ${thrown.message}\n`);
            context.exit(EXIT_DIAGNOSTICS);
            return;
          }
          throw thrown;
        }
      });
  },
};
