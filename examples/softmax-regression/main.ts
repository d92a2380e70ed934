/**
 * @file The d2l seed's softmax regression on MNIST (`pnpm example softmax-regression`): 784 → 10,
 * the loss written the low-level way (`-log(softmax(z)[range(n), y]).mean()`, see model.ts).
 * Prints the graph before and after graft's `fuse` pass — softmax, gather, log, mean and neg
 * become one `cross_entropy` node — then trains with SGD lr 0.1, batch 256, 10 epochs (the
 * seed's settings) on the seeded 8,000 / 2,000 split and prints the test accuracy.
 *
 *   pnpm example softmax-regression [--epochs 10] [--backend js|wasm|reference] [--quiet]
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, GraftError, printGraph, type Graph } from "@graft/core";
import { accuracy, addToMean, createTrainer, DataLoader, fuseGraph, runningMean, type BackendName } from "@graft/compiler";
import { loadMnist, MNIST_PIXELS, type MnistSet } from "../shared/mnist.js";
import softmaxRegression from "./model.js";

/** The model's graph as declared and after `fuse`, with the number of nodes each has. */
export interface FusionReport {
  readonly before: Graph;
  readonly after: Graph;
  /** Rewrites that fired, by rule. */
  readonly rules: readonly string[];
}

/** Runs the fuse pass on the softmax-regression model. */
export function fuseSoftmaxRegression(): FusionReport {
  const built = buildGraph(softmaxRegression);
  if (E.isLeft(built)) throw new GraftError(built.left);
  const fused = fuseGraph(built.right);
  if (E.isLeft(fused)) throw new GraftError(fused.left);
  return { before: built.right, after: fused.right.graph, rules: fused.right.rewrites.map((r) => r.rule) };
}

/** Options of {@link trainSoftmaxRegression}. */
export interface SoftmaxRegressionOptions {
  readonly epochs?: number;
  readonly backend?: BackendName;
  readonly batchSize?: number;
  readonly optimizer?: string;
  readonly seed?: number;
  readonly trainSize?: number;
  readonly testSize?: number;
  readonly onEpoch?: (epoch: number, loss: number) => void;
}

const accuracyOn = (forward: (x: Float32Array, n: number) => { shape: readonly number[]; data: ArrayLike<number> }, set: MnistSet): number => {
  const logits = forward(set.images, set.count);
  return accuracy(logits, set.labels);
};

/** Trains the model and returns the test accuracy in [0, 1]. */
export async function trainSoftmaxRegression(options: SoftmaxRegressionOptions = {}): Promise<{ readonly testAccuracy: number; readonly losses: readonly number[] }> {
  const { epochs = 10, backend = "wasm", batchSize = 256, optimizer = "sgd:lr=0.1", seed = 0, trainSize = 8000, testSize = 2000 } = options;
  const { train, test } = loadMnist({ trainSize, testSize, seed });
  const trainer = await createTrainer(softmaxRegression, { optimizer, backend, seed });
  try {
    const loader = new DataLoader({ features: train.images, featureShape: [MNIST_PIXELS], labels: train.labels, batchSize, shuffle: true, seed, dropLast: false });
    const losses: number[] = [];
    for (let epoch = 0; epoch < epochs; epoch++) {
      let loss = runningMean();
      for (const batch of loader) {
        const step = trainer.step({ x: { shape: [batch.size, MNIST_PIXELS], dtype: "f32", data: batch.x }, y: { shape: [batch.size], dtype: "i32", data: batch.y } });
        loss = addToMean(loss, step.loss, batch.size);
      }
      losses.push(loss.mean);
      options.onEpoch?.(epoch, loss.mean);
    }
    const testAccuracy = accuracyOn((x, n) => {
      const logits = trainer.forward({ x: { shape: [n, MNIST_PIXELS], dtype: "f32", data: x } }).logits;
      if (logits === undefined) throw new Error("softmax-regression: the model has no 'logits' output");
      return logits;
    }, test);
    return { testAccuracy, losses };
  } finally {
    trainer.dispose();
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { epochs: { type: "string", default: "10" }, backend: { type: "string", default: "wasm" }, quiet: { type: "boolean", default: false } },
    strict: true,
  });
  const epochs = Number(values.epochs);
  const backend = values.backend;
  if (!Number.isSafeInteger(epochs) || epochs < 1) throw new Error(`--epochs must be a positive integer, got '${values.epochs}'`);
  if (backend !== "js" && backend !== "wasm" && backend !== "reference") throw new Error(`--backend must be js, wasm or reference, got '${backend}'`);

  const report = fuseSoftmaxRegression();
  if (!values.quiet) {
    console.log(`# as written (${report.before.nodes.length} nodes):`);
    console.log(printGraph(report.before));
    console.log(`\n# after fuse (${report.after.nodes.length} nodes; rewrites: ${report.rules.join(", ") || "none"}):`);
    console.log(printGraph(report.after));
    console.log("");
  }
  const fusedCount = report.after.nodes.filter((node) => node.op === "cross_entropy").length;
  console.log(`fuse: ${report.before.nodes.length} nodes → ${report.after.nodes.length}, ${fusedCount} cross_entropy node (softmax, gather, log, mean, neg fused)`);
  const { testAccuracy } = await trainSoftmaxRegression({
    epochs,
    backend,
    onEpoch: (epoch, loss) => console.log(`epoch ${String(epoch + 1).padStart(String(epochs).length)}/${epochs}  loss ${loss.toFixed(4)}`),
  });
  console.log(`test accuracy: ${(100 * testAccuracy).toFixed(1)}%`);
}

const entry = process.argv[1];
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((thrown: unknown) => {
    console.error(`softmax-regression: ${thrown instanceof Error ? thrown.message : String(thrown)}`);
    process.exitCode = 1;
  });
}
