/**
 * @file A small decoder-only transformer learns to sort digits (`pnpm example transformer`).
 *
 * Model: model.ts (pre-LN GPT-style, token + position embeddings, 2 blocks of causal 4-head
 * attention of width 64 and a GELU MLP of 256, dropout 0.1, final LayerNorm, linear head; 11
 * tokens, context 16). Task: task.ts — `d1 … d8 SEP s1 … s8`, eight random digits and the same
 * digits sorted, generated with the seed; the loss is taken on the eight sorted digits only. The
 * 2,000 held-out sequences are never trained on.
 *
 * Recipe: AdamW (lr 3e-3, weight decay 0.01), batch 32 of fresh sequences, gradients clipped to
 * global norm 1, lr warm-up over 100 steps (LinearLR from 1% of the lr) then cosine annealing to
 * 0 (CosineAnnealingLR), as PyTorch's SequentialLR([LinearLR, CosineAnnealingLR]) steps them per
 * batch; 2,000 steps in 8 "epochs" of 250 steps (no dataset is passed over: an epoch is a fixed
 * number of batches, after which the held-out set is evaluated). Measured on the 2-core machine
 * (wasm, 1 thread): 100.0% held-out sequence accuracy for seeds 0–5 (the held-out accuracy passes
 * 99% after 1,000–1,250 steps); 48–52 s of CPU time per run (one Adam step ≈ 17 ms of CPU; the
 * rest is compiling, evaluating and the bundle), 3–7 min of wall time while the 2 cores were
 * shared by ~7 jobs. `--backend js` runs the same steps at ~180 ms of CPU each (~10× wasm).
 *
 * Each epoch prints the mean training loss, the training sequences the model got right (teacher
 * forced, with dropout, before each step's update), and the held-out loss and exact-sequence
 * accuracy from one teacher-forced forward in evaluation mode (no dropout) — a sequence is right
 * under teacher forcing exactly when greedy generation gets it right, so this tracks the
 * generation accuracy at an eighth of its cost. After training, the reported accuracy is measured
 * by greedy autoregressive generation (evaluation mode): all held-out sequences advance one token
 * per forward, 8 forwards in all. At the end it writes to the output folder
 * `weights.safetensors` (PyTorch names), `transformer.mjs` + `.d.mts` (a standalone bundle with
 * the weights inlined, checked to generate like the trained model on the whole held-out set and
 * to give its logits within 1e-4), `generate.mjs` (sorts digit strings given on its command line
 * with the bundle: `node generate.mjs 31415926`), `metrics.svg` and `metrics.json`. The last line
 * is `sequence accuracy: NN.N%`.
 *
 *   pnpm example transformer [--steps 2000] [--epochs 8] [--batch-size 32]
 *     [--optimizer adamw:lr=3e-3,weight_decay=0.01] [--warmup 100 (5% of the steps)] [--clip 1]
 *     [--backend wasm|js|reference] [--seed 0] [--held-out 2000] [--out dir]
 */
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import { formatDuration, parseOptimizer } from "@graft/compiler";
import { writeArtifacts } from "./artifacts.js";
import { percent, resolveSettings, trainTransformer, type TransformerOptions } from "./train.js";

export { DEFAULT_BACKEND, RECIPE, trainTransformer } from "./train.js";

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
export function parseTransformerArgs(argv: readonly string[]): TransformerOptions & { readonly out: string | undefined } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      steps: { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      optimizer: { type: "string" },
      warmup: { type: "string" },
      clip: { type: "string" },
      backend: { type: "string" },
      seed: { type: "string" },
      "held-out": { type: "string" },
      out: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const backend = values.backend;
  if (backend !== undefined && backend !== "js" && backend !== "wasm" && backend !== "reference") throw new Error(`--backend must be js, wasm or reference, got '${backend}'`);
  const clipText = values.clip;
  const clipGradNorm = clipText === undefined ? undefined : Number(clipText);
  if (clipText !== undefined && (clipText.trim() === "" || clipGradNorm === undefined || !Number.isFinite(clipGradNorm) || clipGradNorm <= 0))
    throw new Error(`--clip must be a number > 0 (the largest global gradient norm), got '${clipText}'`);
  const steps = integer("steps", values.steps, 1);
  const epochs = integer("epochs", values.epochs, 1);
  const batchSize = integer("batch-size", values["batch-size"], 1);
  const warmup = integer("warmup", values.warmup, 0);
  const seed = integer("seed", values.seed, 0);
  const heldOut = integer("held-out", values["held-out"], 1);
  if (heldOut !== undefined && heldOut > 1_000_000) throw new Error(`--held-out must be at most 1000000, got '${values["held-out"] ?? ""}'`);
  const parsed = values.optimizer === undefined ? undefined : parseOptimizer(values.optimizer);
  if (parsed !== undefined && E.isLeft(parsed)) throw new Error(`--optimizer: ${parsed.left.map((d) => d.message).join("; ")}`);
  const options: TransformerOptions = {
    ...(steps === undefined ? {} : { steps }),
    ...(epochs === undefined ? {} : { epochs }),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(values.optimizer === undefined ? {} : { optimizer: values.optimizer }),
    ...(warmup === undefined ? {} : { warmup }),
    ...(clipGradNorm === undefined ? {} : { clipGradNorm }),
    ...(backend === undefined ? {} : { backend }),
    ...(seed === undefined ? {} : { seed }),
    ...(heldOut === undefined ? {} : { heldOut }),
  };
  resolveSettings(options);
  return { ...options, out: values.out };
}

async function main(argv: readonly string[]): Promise<void> {
  const started = performance.now();
  const options = parseTransformerArgs(argv);
  const s = resolveSettings(options);
  console.log(
    `training the decoder-only transformer (2 pre-LN blocks, 4 heads, width 64, MLP 256, dropout 0.1) to sort 8 digits: ` +
      `${s.optimizer}, warm-up ${s.warmup} steps then cosine, clip norm ${s.clipGradNorm}, batch ${s.batchSize}, ${s.steps} steps in ${s.epochs} epochs, ` +
      `${s.heldOut} held-out sequences, seed ${s.seed}, ${s.backend} backend`,
  );
  const run = await trainTransformer(options);
  const trainSeconds = run.history.reduce((sum, h) => sum + h.trainSeconds, 0);
  const dir = resolve(options.out ?? join("artifacts", `transformer-${timestamp(new Date())}`));
  const artifacts = await writeArtifacts(run, dir);
  run.trainer.dispose();
  const shown = relative(process.cwd(), dir) || ".";
  console.log(
    `training: ${formatDuration(1000 * trainSeconds)} for ${s.steps} steps (${formatDuration(trainSeconds * 1000 / Math.max(1, s.steps))} per step, ${Math.round((s.steps * s.batchSize) / Math.max(1e-9, trainSeconds))} sequences/s), total ${formatDuration(performance.now() - started)}`,
  );
  console.log(
    `held-out generation (greedy, ${run.task.heldOut.count} sequences, ${formatDuration(1000 * run.generationSeconds)}): ${percent(run.digitAccuracy)} of digits, ` +
      `${percent(run.sequenceAccuracy)} of sequences (teacher forced: ${percent(run.teacherForcedAccuracy)})`,
  );
  console.log(`bundle: ${artifacts.bundle}`);
  for (const line of artifacts.samples) console.log(`  ${line}`);
  console.log(`artifacts: ${shown.startsWith("..") ? dir : shown}/ (${artifacts.files.join(", ")})`);
  console.log(`sequence accuracy: ${percent(run.sequenceAccuracy)}`);
}

const entry = process.argv[1];
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((thrown: unknown) => {
    console.error(`transformer: ${thrown instanceof Error ? thrown.message : String(thrown)}`);
    process.exitCode = 1;
  });
}
