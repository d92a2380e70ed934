/**
 * @file Training the transformer on the sorting task (the recipe is described at the top of
 * main.ts): AdamW, warm-up then cosine per batch, clipping by norm, the held-out set evaluated
 * after every epoch (teacher forced) and by greedy generation at the end.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Model } from "@graft/core";
import {
  addToMean,
  attachScheduler,
  cosineAnnealingLR,
  createEpochProgress,
  createTrainer,
  formatDuration,
  formatOptimizer,
  linearLR,
  parseOptimizer,
  runningMean,
  type BackendName,
  type EpochMetrics,
  type HostTensor,
  type LearningRateTarget,
  type ProgressStream,
  type Scheduler,
  type Trainer,
} from "@graft/compiler";
import transformer from "./model.js";
import { CONTEXT, createSortTask, digitAccuracy, encodeRows, generateSorted, sequenceAccuracy, teacherForcedHits, type DigitRows, type SortTask } from "./task.js";

/** The back end when `--backend` is not given. */
export const DEFAULT_BACKEND: BackendName = "wasm";

/** The default recipe (why: see the top of main.ts). */
export const RECIPE = {
  steps: 2000,
  epochs: 8,
  batchSize: 32,
  optimizer: "adamw:lr=3e-3,weight_decay=0.01",
  /** Warm-up steps as a fraction of the steps (100 of 2,000). */
  warmupFraction: 0.05,
  clipGradNorm: 1,
  heldOut: 2000,
  /** LinearLR's start_factor during the warm-up. */
  warmupStartFactor: 0.01,
} as const;

/** Options of {@link trainTransformer}; unset fields come from {@link RECIPE}. */
export interface TransformerOptions {
  readonly steps?: number;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly optimizer?: string;
  /** Warm-up steps (0: cosine from the first step; default 5% of the steps). */
  readonly warmup?: number;
  /** Global gradient-norm clip. */
  readonly clipGradNorm?: number;
  readonly backend?: BackendName;
  /** Seed of the task (held-out set and training batches), the initial weights and dropout (default 0). */
  readonly seed?: number;
  readonly heldOut?: number;
  /** Where the per-epoch progress goes (default stdout); `null` for none. */
  readonly progress?: ProgressStream | null;
}

/** One epoch of a run. */
export interface TransformerEpoch extends EpochMetrics {
  /** Steps taken so far. */
  readonly steps: number;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  /** The lr of the epoch's last step. */
  readonly lr: number;
}

/** The settings of a run, as resolved. */
export interface TransformerSettings {
  readonly steps: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly optimizer: string;
  readonly warmup: number;
  readonly clipGradNorm: number;
  readonly backend: BackendName;
  readonly seed: number;
  readonly heldOut: number;
}

/** What {@link trainTransformer} returns. */
export interface TransformerRun {
  readonly history: readonly TransformerEpoch[];
  /** The trained model (open: dispose it when done). */
  readonly trainer: Trainer;
  readonly model: Model;
  readonly task: SortTask;
  /** The final model's greedy generations for the held-out sequences, `[count, DIGITS]`. */
  readonly generated: Int32Array;
  /** Held-out exact-sequence accuracy of the final model, by greedy generation. */
  readonly sequenceAccuracy: number;
  /** Held-out digits the final model generates right (at their place), as a fraction. */
  readonly digitAccuracy: number;
  /** Held-out exact-sequence accuracy of the final model under teacher forcing (equal to `sequenceAccuracy`, see {@link heldOutMetrics}). */
  readonly teacherForcedAccuracy: number;
  /** Seconds of the final greedy generation. */
  readonly generationSeconds: number;
  readonly settings: TransformerSettings;
}

/** The f32 `logits` among a function's outputs; throws naming `source` when there are none. */
export const logitsOf = (outputs: Readonly<Record<string, HostTensor>>, source: string): Float32Array => {
  const logits = outputs.logits;
  if (logits === undefined || !(logits.data instanceof Float32Array)) throw new Error(`transformer: ${source} gave no f32 'logits' output (outputs: ${Object.keys(outputs).join(", ") || "none"})`);
  return logits.data;
};

/** Logits `[rows, CONTEXT, VOCAB]` of the trainer (evaluation semantics) for token rows `x`. */
export const trainerLogits =
  (trainer: Pick<Trainer, "forward">) =>
  (x: Int32Array, rows: number): Float32Array => {
    return logitsOf(trainer.forward({ x: { shape: [rows, CONTEXT], dtype: "i32", data: x } }), "forward");
  };

/**
 * The held-out loss and exact-sequence accuracy from one teacher-forced evaluation (evaluation
 * semantics). A sequence is right under teacher forcing exactly when greedy generation gets it
 * right — if every prediction given the true prefix is right, generation follows the true prefix
 * — so this is the generation accuracy at the cost of one forward instead of `DIGITS`.
 */
export const heldOutMetrics = (trainer: Trainer, rows: DigitRows): { readonly loss: number; readonly sequenceAccuracy: number } => {
  const { x, y } = encodeRows(rows);
  const { loss, outputs } = trainer.evaluate({ x, y });
  return { loss, sequenceAccuracy: teacherForcedHits(logitsOf(outputs, "evaluate"), y.data) / rows.count };
};

/**
 * PyTorch's `SequentialLR([LinearLR(start_factor, total_iters=warmup), CosineAnnealingLR(T_max=steps − warmup)], milestones=[warmup])`,
 * stepped once per batch: `step()` after each optimizer step.
 */
export const warmupCosine = (trainer: LearningRateTarget, warmup: number, steps: number, startFactor: number = RECIPE.warmupStartFactor): { step(): void } => {
  const base = trainer.learningRate;
  const cosine = (): Scheduler => attachScheduler(trainer, cosineAnnealingLR({ tMax: steps - warmup }));
  let scheduler = warmup > 0 ? attachScheduler(trainer, linearLR({ startFactor, endFactor: 1, totalIters: warmup })) : cosine();
  let taken = 0;
  return {
    step: () => {
      taken += 1;
      if (taken === warmup) {
        trainer.setLearningRate(base);
        scheduler = cosine();
      } else scheduler.step();
    },
  };
};

/** Steps of epoch `epoch` (0-based) when `steps` are spread over `epochs` as evenly as possible. */
export const epochSteps = (steps: number, epochs: number, epoch: number): number => Math.floor(((epoch + 1) * steps) / epochs) - Math.floor((epoch * steps) / epochs);

/** Resolves options against the recipe and checks them together. */
export const resolveSettings = (options: TransformerOptions): TransformerSettings => {
  const steps = options.steps ?? RECIPE.steps;
  const settings: TransformerSettings = {
    steps,
    epochs: options.epochs ?? Math.min(RECIPE.epochs, steps),
    batchSize: options.batchSize ?? RECIPE.batchSize,
    optimizer: options.optimizer ?? RECIPE.optimizer,
    warmup: options.warmup ?? Math.round(steps * RECIPE.warmupFraction),
    clipGradNorm: options.clipGradNorm ?? RECIPE.clipGradNorm,
    backend: options.backend ?? DEFAULT_BACKEND,
    seed: options.seed ?? 0,
    heldOut: options.heldOut ?? RECIPE.heldOut,
  };
  if (settings.epochs > settings.steps) throw new Error(`--epochs (${settings.epochs}) must not exceed --steps (${settings.steps}): every epoch takes at least one step`);
  if (settings.warmup >= settings.steps) throw new Error(`--warmup (${settings.warmup} steps) must be less than --steps (${settings.steps})`);
  return settings;
};

/** Trains the transformer on the sorting task. Deterministic for a given seed, back end and options. */
export async function trainTransformer(options: TransformerOptions = {}): Promise<TransformerRun> {
  const resolved = resolveSettings(options);
  const parsed = parseOptimizer(resolved.optimizer);
  if (E.isLeft(parsed)) throw new Error(`--optimizer: ${parsed.left.map((d) => d.message).join("; ")}`);
  const settings: TransformerSettings = { ...resolved, optimizer: formatOptimizer(parsed.right) };
  const { seed } = settings;
  const stream = options.progress === undefined ? process.stdout : options.progress;
  const task = createSortTask(seed, settings.heldOut);
  const trainer = await createTrainer(transformer, { optimizer: parsed.right, backend: settings.backend, seed, clipGradNorm: settings.clipGradNorm });
  try {
    return trainEpochs(trainer, task, settings, stream);
  } catch (thrown) {
    trainer.dispose();
    throw thrown;
  }
}

/** The epochs of {@link trainTransformer} and the final generation. */
function trainEpochs(trainer: Trainer, task: SortTask, settings: TransformerSettings, stream: ProgressStream | null): TransformerRun {
  const { steps, epochs, batchSize } = settings;
  const schedule = warmupCosine(trainer, settings.warmup, steps);
  const history: TransformerEpoch[] = [];
  let taken = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const batches = epochSteps(steps, epochs, epoch);
    const progress = stream === null ? undefined : createEpochProgress({ epoch: epoch + 1, epochs, totalBatches: batches, stream });
    const started = performance.now();
    let loss = runningMean();
    let hits = 0;
    for (let index = 0; index < batches; index++) {
      const batch = task.nextBatch(batchSize);
      const step = trainer.step({ x: batch.x, y: batch.y });
      hits += teacherForcedHits(logitsOf(step.outputs, "the training step"), batch.y.data);
      loss = addToMean(loss, step.loss, batchSize);
      schedule.step();
      progress?.update(index, { loss: loss.mean, samplesPerSecond: ((index + 1) * batchSize * 1000) / Math.max(1e-3, performance.now() - started) });
    }
    taken += batches;
    const lr = trainer.learningRate;
    const trained = performance.now();
    const heldOut = heldOutMetrics(trainer, task.heldOut);
    const metrics: TransformerEpoch = {
      epoch: epoch + 1,
      steps: taken,
      loss: loss.mean,
      trainAccuracy: hits / (batches * batchSize),
      testLoss: heldOut.loss,
      testAccuracy: heldOut.sequenceAccuracy,
      trainSeconds: (trained - started) / 1000,
      evalSeconds: (performance.now() - trained) / 1000,
      lr,
    };
    history.push(metrics);
    progress?.finish(
      `loss ${metrics.loss.toFixed(4)}  train seq ${percent(metrics.trainAccuracy)}  held-out loss ${(metrics.testLoss ?? Number.NaN).toFixed(4)}  ` +
        `held-out seq ${percent(metrics.testAccuracy ?? 0)} (eval ${formatDuration(1000 * metrics.evalSeconds)})`,
    );
    if (!Number.isFinite(loss.mean)) throw new Error(`transformer: the loss is ${loss.mean} after epoch ${epoch + 1}; lower the learning rate`);
  }
  // the reported accuracy: greedy autoregressive generation, all held-out sequences advancing together
  const generationStarted = performance.now();
  const generated = generateSorted(trainerLogits(trainer), task.heldOut);
  return {
    history,
    trainer,
    model: transformer,
    task,
    generated,
    sequenceAccuracy: sequenceAccuracy(task.heldOut, generated),
    digitAccuracy: digitAccuracy(task.heldOut, generated),
    teacherForcedAccuracy: history.at(-1)?.testAccuracy ?? Number.NaN,
    generationSeconds: (performance.now() - generationStarted) / 1000,
    settings,
  };
}

/** `97.6%`: a fraction as a percentage with one decimal. */
export const percent = (fraction: number): string => `${(100 * fraction).toFixed(1)}%`;
