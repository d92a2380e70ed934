/**
 * @file What the transformer example writes: the weights (safetensors, PyTorch names), the
 * standalone bundle with the weights inlined (checked against the trainer on the held-out set),
 * `generate.mjs` (sorts digit strings with the bundle, in plain Node), the metrics chart and JSON.
 */
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import { graphParams } from "@graft/core";
import { encodeSafetensors, type SafetensorsTensorInput } from "@graft/runtime";
import { compileBundle, FORWARD, formatBytes, metricsChart, writeBundle, writeFileAtomic, type BackendName } from "@graft/compiler";
import { CONTEXT, DIGITS, encodeRows, generateSorted, SEP, VOCAB, type ForwardLogits } from "./task.js";
import { percent, trainerLogits, type TransformerRun } from "./train.js";

/** The bundle's file name in the output folder. */
export const BUNDLE_FILE = "transformer.mjs";
/** The generation script's file name in the output folder. */
export const GENERATE_FILE = "generate.mjs";
/** Batch sizes compiled into the bundle (other sizes run in chunks of these). */
export const BUNDLE_BATCHES: readonly number[] = [1, 200];
/** Largest |bundle logit − trainer logit| accepted on the held-out set. */
export const LOGITS_TOLERANCE = 1e-4;

/** The trained params (not the optimizer state nor the dropout counter) as safetensors, loadable by PyTorch and by bundles. */
export function weightsBytes(run: TransformerRun): Uint8Array {
  const forward = run.trainer.program.functions.find((fn) => fn.name === FORWARD);
  if (forward === undefined) throw new Error("transformer: the training program has no forward function");
  const params = new Set(graphParams(forward.graph).map((node) => node.attrs.name));
  const tensors: SafetensorsTensorInput[] = Object.entries(run.trainer.getState())
    .filter(([name]) => params.has(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => ({ name, dtype: t.dtype === "i32" ? "I32" : "F32", shape: t.shape, data: t.data }));
  return encodeSafetensors(tensors, { format: "pt", model: run.model.name });
}

/**
 * The source of `generate.mjs`: imports the bundle next to it and sorts the 8-digit strings given
 * on its command line by greedy generation, all strings at once (one forward per generated
 * token). Prints `<digits> -> <generated>` per string (a generated separator shows as `|`); exit
 * code 2 with a message for a missing or malformed argument.
 */
export const generateScript = (): string => `#!/usr/bin/env node
// Sorts 8-digit strings with the trained transformer (written by \`pnpm example transformer\`):
//   node ${GENERATE_FILE} 31415926 27182818   →   31415926 -> 11234569 …
// Greedy autoregressive generation with the standalone bundle ${BUNDLE_FILE} (weights inlined):
// every string starts as d1 … d8 SEP; each forward appends the most likely next token to all of them.
import { load } from "./${BUNDLE_FILE}";

const DIGITS = ${DIGITS}, CONTEXT = ${CONTEXT}, VOCAB = ${VOCAB}, SEP = ${SEP};
const inputs = process.argv.slice(2);
if (inputs.length === 0) {
  console.error("usage: node ${GENERATE_FILE} <8 digits> [<8 digits> …]   e.g. node ${GENERATE_FILE} 31415926");
  process.exit(2);
}
const bad = inputs.find((text) => !/^[0-9]{${DIGITS}}$/.test(text));
if (bad !== undefined) {
  console.error(\`${GENERATE_FILE}: expected \${DIGITS} digits 0-9, got '\${bad}'\`);
  process.exit(2);
}
const model = await load();
const x = new Int32Array(inputs.length * CONTEXT);
inputs.forEach((text, row) => {
  for (let i = 0; i < DIGITS; i++) x[row * CONTEXT + i] = Number(text[i]);
  x[row * CONTEXT + DIGITS] = SEP;
});
const generated = inputs.map(() => "");
for (let step = 0; step < DIGITS; step++) {
  const position = DIGITS + step;
  const { logits } = model.forward({ x });
  inputs.forEach((_, row) => {
    const base = (row * CONTEXT + position) * VOCAB;
    let best = 0;
    for (let token = 1; token < VOCAB; token++) if (logits[base + token] > logits[base + best]) best = token;
    generated[row] += best === SEP ? "|" : String(best);
    if (position + 1 < CONTEXT) x[row * CONTEXT + position + 1] = best;
  });
}
inputs.forEach((text, row) => console.log(\`\${text} -> \${generated[row]}\`));
`;

/** What {@link writeArtifacts} wrote. */
export interface Artifacts {
  readonly dir: string;
  readonly files: readonly string[];
  /** Bundle size and check report, or why there is no bundle. */
  readonly bundle: string;
  /** `generate.mjs`'s output on the first held-out sequences (empty without a bundle). */
  readonly samples: readonly string[];
}

/** What comparing the bundle with the trainer on the held-out set found. */
export interface BundleCheck {
  /** Largest |bundle logit − trainer logit| of the teacher-forced held-out inputs. */
  readonly maxLogitDifference: number;
  /** Held-out sequences whose bundle generation differs from the trainer's. */
  readonly differentGenerations: number;
}

/** What the example uses of a loaded bundle. */
export interface LoadedTransformer {
  forward(feeds: { readonly x: Int32Array }): { readonly logits?: unknown };
}

/** Logits of a loaded bundle for token rows `x` (any number of rows: the bundle runs them in chunks). */
export const bundleLogits =
  (loaded: LoadedTransformer): ForwardLogits =>
  (x) => {
    const { logits } = loaded.forward({ x });
    if (!(logits instanceof Float32Array)) throw new Error("transformer: the bundle's forward gave no Float32Array 'logits'");
    return logits;
  };

/** Loads the bundle at `path` and compares it with the trainer on the held-out set. */
export async function checkBundle(path: string, run: TransformerRun): Promise<BundleCheck> {
  const module = (await import(pathToFileURL(path).href)) as { load?: () => Promise<LoadedTransformer> };
  if (typeof module.load !== "function") throw new Error(`transformer: ${path} has no load()`);
  const fromBundle = bundleLogits(await module.load());
  const { x } = encodeRows(run.task.heldOut);
  const expected = trainerLogits(run.trainer)(x.data, run.task.heldOut.count);
  const actual = fromBundle(x.data, run.task.heldOut.count);
  let maxLogitDifference = actual.length === expected.length ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs((actual[i] ?? Number.NaN) - (expected[i] ?? Number.NaN));
    maxLogitDifference = Number.isNaN(difference) ? Number.POSITIVE_INFINITY : Math.max(maxLogitDifference, difference);
  }
  const generated = generateSorted(fromBundle, run.task.heldOut);
  let differentGenerations = 0;
  for (let row = 0; row < run.task.heldOut.count; row++) {
    for (let i = 0; i < DIGITS; i++) {
      if (generated[row * DIGITS + i] !== run.generated[row * DIGITS + i]) {
        differentGenerations++;
        break;
      }
    }
  }
  return { maxLogitDifference, differentGenerations };
}

/** The held-out digit strings of rows `0 … count)` as text (`"31415926"`). */
export const heldOutStrings = (run: TransformerRun, count: number): string[] =>
  Array.from({ length: Math.min(count, run.task.heldOut.count) }, (_, row) => Array.from(run.task.heldOut.digits.subarray(row * DIGITS, (row + 1) * DIGITS)).join(""));

/** Runs `generate.mjs` in `dir` with `inputs` in a new Node process; its stdout lines. */
export async function runGenerateScript(dir: string, inputs: readonly string[]): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(dir, GENERATE_FILE), ...inputs], { cwd: dir });
  return stdout.split("\n").filter((line) => line !== "");
}

/**
 * Writes the weights, the standalone bundle (checked against the trained model), `generate.mjs`
 * (run once on three held-out sequences), the SVG chart and metrics.json into `dir`.
 */
export async function writeArtifacts(run: TransformerRun, dir: string): Promise<Artifacts> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, contents: string | Uint8Array): Promise<void> => {
    await writeFileAtomic(join(dir, name), contents);
    files.push(name);
  };
  const weights = weightsBytes(run);
  await write("weights.safetensors", weights);
  const title = `Transformer sorting 8 digits: exact sequences, epochs of ${Math.round(run.settings.steps / run.settings.epochs)} steps`;
  await write("metrics.svg", metricsChart(run.history, { title }));
  await write("metrics.json", `${JSON.stringify({ settings: run.settings, sequenceAccuracy: run.sequenceAccuracy, digitAccuracy: run.digitAccuracy, teacherForcedAccuracy: run.teacherForcedAccuracy, history: run.history }, null, 2)}\n`);

  const backend: BackendName = run.settings.backend === "reference" ? "js" : run.settings.backend;
  const compiled = await compileBundle(run.model, { backend, weights, weightsSource: "weights.safetensors", batches: BUNDLE_BATCHES });
  if (E.isLeft(compiled)) return { dir, files, bundle: `no bundle: ${compiled.left.map((d) => d.message).join("; ")}`, samples: [] };
  const written = await writeBundle(join(dir, BUNDLE_FILE), compiled.right);
  files.push(BUNDLE_FILE, relative(dir, written.dts));
  await write(GENERATE_FILE, generateScript());
  const check = await checkBundle(written.module, run);
  const { sizes } = compiled.right;
  const verdict =
    check.differentGenerations === 0 && check.maxLogitDifference <= LOGITS_TOLERANCE
      ? `generates like the trained model on all ${run.task.heldOut.count} held-out sequences, logits within ${check.maxLogitDifference.toExponential(1)}`
      : `WARNING: ${check.differentGenerations} of ${run.task.heldOut.count} held-out generations differ from the trained model's, logits up to ${check.maxLogitDifference.toExponential(1)} apart (tolerance ${LOGITS_TOLERANCE})`;
  const samples = await runGenerateScript(dir, heldOutStrings(run, 3));
  return {
    dir,
    files,
    bundle: `${BUNDLE_FILE} (${backend}), ${formatBytes(sizes.code)} of code (${formatBytes(sizes.gzip)} gzipped) + ${formatBytes(sizes.weights)} of inlined weights; ${verdict} (${percent(run.sequenceAccuracy)})`,
    samples: [`node ${GENERATE_FILE} ${heldOutStrings(run, 3).join(" ")}`, ...samples],
  };
}
