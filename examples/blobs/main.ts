/**
 * @file The seed's multiclass classifier on four Gaussian blobs (`pnpm example blobs`):
 * an MLP 2-4-8-4 with ReLU, Adam lr 0.01, batch 8, 100 epochs. Prints the loss and the training
 * accuracy of every epoch, and writes two SVG figures: the loss and accuracy curves, and the
 * decision regions with the points.
 *
 *   pnpm example blobs [--epochs 100] [--backend js|wasm|reference] [--seed 80] [--out artifacts/blobs]
 */
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { accuracy, addToMean, createTrainer, DataLoader, predictions, runningMean, type BackendName, type Trainer, decisionRegions, gridCellCenters, metricsChart, type EpochMetrics, writeFileAtomic } from "@graft/compiler";
// The SVG reports are not (yet) exported by @graft/compiler's index.
import { BLOB_CLASSES, makeBlobs, type BlobData } from "./data.js";
import blobsModel from "./model.js";

/** Options of {@link trainBlobs}. */
export interface BlobsOptions {
  /** Epochs (default 100, as in the seed). */
  readonly epochs?: number;
  /** Back end (default "wasm"). */
  readonly backend?: BackendName;
  /** Seed of the data, the initial weights and the shuffles (default 80, the seed's SEED). */
  readonly seed?: number;
  /** Batch size (default 8). */
  readonly batchSize?: number;
  /** Optimizer spec (default "adam:lr=0.01"). */
  readonly optimizer?: string;
  /** Called after every epoch (e.g. to print it). */
  readonly onEpoch?: (metrics: EpochMetrics, epochs: number) => void;
}

/** What a blobs run produced. */
export interface BlobsResult {
  readonly data: BlobData;
  /** One entry per epoch: mean training loss and training accuracy after the epoch. */
  readonly history: readonly EpochMetrics[];
  /** The trained model (still open; dispose it when done). */
  readonly trainer: Trainer;
}

/** Trains the seed's 2-4-8-4 MLP on the blobs. Deterministic for a given seed and back end. */
export async function trainBlobs(options: BlobsOptions = {}): Promise<BlobsResult> {
  const { epochs = 100, backend = "wasm", seed = 80, batchSize = 8, optimizer = "adam:lr=0.01", onEpoch } = options;
  const data = makeBlobs({ samples: 100, seed });
  const trainer = await createTrainer(blobsModel, { optimizer, backend, seed });
  const loader = new DataLoader({ features: data.features, featureShape: [2], labels: data.labels, batchSize, shuffle: true, seed, dropLast: false });
  const all = { x: { shape: [data.count, 2], dtype: "f32" as const, data: data.features } };
  const history: EpochMetrics[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    let loss = runningMean();
    for (const batch of loader) {
      const result = trainer.step({
        x: { shape: [batch.size, 2], dtype: "f32", data: batch.x },
        y: { shape: [batch.size], dtype: "i32", data: batch.y },
      });
      loss = addToMean(loss, result.loss, batch.size);
    }
    const logits = trainer.forward(all).logits;
    if (logits === undefined) throw new Error("blobs: the model has no 'logits' output");
    const metrics: EpochMetrics = { epoch, loss: loss.mean, trainAccuracy: accuracy(logits, data.labels) };
    history.push(metrics);
    onEpoch?.(metrics, epochs);
  }
  return { data, history, trainer };
}

/** The SVG of the decision regions of a trained blobs model over the data's extent (plus a margin). */
export function blobsDecisionSvg(trainer: Trainer, data: BlobData, cells = 100): string {
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  const points = Array.from({ length: data.count }, (_, i) => {
    const x = data.features[2 * i] ?? 0;
    const y = data.features[2 * i + 1] ?? 0;
    xMin = Math.min(xMin, x);
    xMax = Math.max(xMax, x);
    yMin = Math.min(yMin, y);
    yMax = Math.max(yMax, y);
    return { x, y, label: data.labels[i] ?? 0 };
  });
  const margin = 1;
  const extent = { xMin: Math.floor(xMin - margin), xMax: Math.ceil(xMax + margin), yMin: Math.floor(yMin - margin), yMax: Math.ceil(yMax + margin), nx: cells, ny: cells };
  const centers = gridCellCenters(extent);
  const logits = trainer.forward({ x: { shape: [cells * cells, 2], dtype: "f32", data: centers } }).logits;
  if (logits === undefined) throw new Error("blobs: the model has no 'logits' output");
  return decisionRegions({
    grid: { ...extent, classOf: predictions(logits) },
    points,
    classNames: Array.from({ length: BLOB_CLASSES }, (_, k) => `blob ${k}`),
    title: "Decision regions of the 2-4-8-4 MLP (Adam lr 0.01)",
  });
}

const formatPercent = (fraction: number): string => `${(100 * fraction).toFixed(1)}%`;

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      epochs: { type: "string", default: "100" },
      backend: { type: "string", default: "wasm" },
      seed: { type: "string", default: "80" },
      out: { type: "string", default: "artifacts/blobs" },
    },
    strict: true,
  });
  const epochs = Number(values.epochs);
  const seed = Number(values.seed);
  const backend = values.backend;
  if (!Number.isSafeInteger(epochs) || epochs < 1) throw new Error(`--epochs must be a positive integer, got '${values.epochs}'`);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got '${values.seed}'`);
  if (backend !== "js" && backend !== "wasm" && backend !== "reference") throw new Error(`--backend must be js, wasm or reference, got '${backend}'`);
  const width = String(epochs).length;
  const started = performance.now();
  const { data, history, trainer } = await trainBlobs({
    epochs,
    backend,
    seed,
    onEpoch: (m, total) => console.log(`epoch ${String(m.epoch + 1).padStart(width)}/${total}  loss ${m.loss.toFixed(6)}  accuracy ${formatPercent(m.trainAccuracy)}`),
  });
  const seconds = (performance.now() - started) / 1000;
  const last = history[history.length - 1];
  const outDir = resolve(values.out);
  await mkdir(outDir, { recursive: true });
  const metricsPath = join(outDir, "metrics.svg");
  const regionsPath = join(outDir, "decision-regions.svg");
  await writeFileAtomic(metricsPath, metricsChart(history, { title: "Multiclass 3-layer Model Metrics by Epoch" }));
  await writeFileAtomic(regionsPath, blobsDecisionSvg(trainer, data));
  trainer.dispose();
  console.log(`trained ${epochs} epochs on ${data.count} points in ${seconds.toFixed(1)}s (${backend})`);
  console.log(`training accuracy: ${formatPercent(last?.trainAccuracy ?? Number.NaN)}`);
  console.log(`wrote ${metricsPath}`);
  console.log(`wrote ${regionsPath}`);
  return 0;
}

const entry = process.argv[1];
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (thrown: unknown) => {
      console.error(`blobs: ${thrown instanceof Error ? thrown.message : String(thrown)}`);
      process.exitCode = 1;
    },
  );
}
