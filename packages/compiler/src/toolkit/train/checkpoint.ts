/**
 * @file Checkpoints of `graft train --checkpoint dir`: the folder check before training, the
 * checkpoint file (params + optimizer state, with the run's settings — the schedule and clipping
 * included —, the data file's and the
 * model's hashes and the history in its metadata), its validation on `--resume`, and the final
 * files (`weights.safetensors`, `metrics.svg`). Every file goes through `writeFileAtomic`.
 *
 * ```ts
 * await prepareCheckpointFolder(dir);               // before any training: a file, a read-only or full disk is an error now
 * await saveCheckpoint(join(dir, CHECKPOINT_FILE), trainer.getState(), meta);
 * const { state, meta } = await loadCheckpoint(path, trainer.getState(), shown);
 * const forced = checkResume(meta, run, shown, { force });   // throws CheckpointError naming what changed
 * ```
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeSafetensors, encodeSafetensors, safetensorsDtypeOf, WeightsError, type SafetensorsTensorInput, type SafetensorsTensorSpec } from "@graft/runtime";
import type { HostTensor } from "../../backend/types.js";
import { describeFileError, nodeFileSystem, removeStaleTemporaryFiles, writeFileAtomic, type AtomicFileSystem, type WriteFileAtomicOptions } from "../data/atomic.js";
import { metricsChart, type EpochMetrics } from "../report/svg.js";

/** The checkpoint file inside the `--checkpoint` directory. */
export const CHECKPOINT_FILE = "checkpoint.safetensors";
/** The final params-only weights inside the `--checkpoint` directory. */
export const WEIGHTS_FILE = "weights.safetensors";
/** The metrics chart inside the `--checkpoint` directory. */
export const METRICS_FILE = "metrics.svg";

/** Exit code of every checkpoint problem: a bad argument or file (see cli/context.ts). */
const EXIT_USAGE = 2;

/** A checkpoint problem the user must fix (one line, exit code 2). */
export class CheckpointError extends Error {
  override readonly name = "CheckpointError";
  readonly exitCode: number = EXIT_USAGE;
}

/** What identifies a run: a resumed run must match it (or be forced). */
export interface RunFingerprint {
  readonly model: string;
  /** SHA-256 of the model's printed IR (the architecture, param names, shapes and initialisers). */
  readonly modelHash: string;
  /** SHA-256 of the data file's bytes. */
  readonly dataHash: string;
  readonly optimizer: string;
  readonly backend: string;
  readonly seed: number;
  readonly batchSize: number;
  readonly split: number;
  /** `graft train --standardize` (older checkpoints do not record it: off). */
  readonly standardize?: boolean;
  /** `--lr-schedule`, every option spelled out (`formatSchedule`); undefined: none (older checkpoints do not record it: none). */
  readonly lrSchedule?: string | undefined;
  /** `--clip-grad-norm` (undefined: none; older checkpoints do not record it: none). */
  readonly clipGradNorm?: number | undefined;
  /** `--clip-grad-value` (undefined: none; older checkpoints do not record it: none). */
  readonly clipGradValue?: number | undefined;
}

/**
 * One epoch of a run: the mean training loss, and accuracies (classification) or MSE and R²
 * (regression) on the training rows and, when held out, the test rows.
 */
export interface EpochRecord {
  readonly epoch: number;
  readonly loss: number;
  readonly trainAccuracy?: number;
  readonly testAccuracy?: number;
  readonly trainMse?: number;
  readonly trainR2?: number;
  readonly testMse?: number;
  readonly testR2?: number;
  /** The mean loss on the held-out rows (recorded when ReduceLROnPlateau steps on it). */
  readonly testLoss?: number;
}

/** What a checkpoint records besides the state. */
export interface CheckpointMeta extends Partial<Pick<RunFingerprint, "modelHash" | "dataHash" | "backend" | "standardize" | "lrSchedule" | "clipGradNorm" | "clipGradValue">> {
  /** Epochs completed. */
  readonly epoch: number;
  readonly model: string;
  readonly optimizer: string;
  readonly seed: number;
  readonly batchSize: number;
  readonly split: number;
  readonly history: readonly EpochRecord[];
}

/** SHA-256 of a string, hex. */
export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

/** SHA-256 of a file's bytes, hex, read as a stream (a data file may be larger than memory allows). */
export const hashFile = (path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });

// ----- the folder --------------------------------------------------------------------------------

const isMissing = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === "ENOENT";

/**
 * Checks, before training starts, that the checkpoint folder can take the run's files: creates it
 * when missing, refuses a file in its place or a folder where a file goes, and writes (and syncs)
 * a probe file so that a read-only or full file system is reported now, not after an epoch.
 * Removes the temporary files of earlier runs that were killed mid-write.
 * @param shown how messages name a path
 * @throws CheckpointError naming the path and the cause
 */
export async function prepareCheckpointFolder(folder: string, shown: (path: string) => string, fileSystem: AtomicFileSystem = nodeFileSystem): Promise<void> {
  const stats = await fileSystem.lstat(folder).catch((error: unknown) => {
    // ENOTDIR: a file where a parent folder goes; mkdir names it below.
    if (isMissing(error) || (error as { code?: unknown } | null)?.code === "ENOTDIR") return undefined;
    throw new CheckpointError(`--checkpoint ${shown(folder)}: ${describeFileError(error)}`);
  });
  if (stats !== undefined && !stats.isDirectory()) {
    const resolved = await fileSystem.stat(folder).then(
      (target) => (target.mode & 0o170000) === 0o040000,
      () => false,
    );
    if (!resolved) throw new CheckpointError(`--checkpoint ${shown(folder)} is a file, expected a folder (graft writes ${CHECKPOINT_FILE}, ${WEIGHTS_FILE} and ${METRICS_FILE} into it)`);
  }
  if (stats === undefined) {
    await fileSystem.mkdir(folder, { recursive: true }).catch((error: unknown) => {
      throw new CheckpointError(`--checkpoint ${shown(folder)}: cannot create the folder: ${describeFileError(error)}`);
    });
  }
  for (const name of [CHECKPOINT_FILE, WEIGHTS_FILE, METRICS_FILE]) {
    const path = join(folder, name);
    const inside = await fileSystem.lstat(path).catch(() => undefined);
    if (inside?.isDirectory() === true) throw new CheckpointError(`--checkpoint: ${shown(path)} is a folder; graft writes its ${name} there, move the folder away`);
  }
  await removeStaleTemporaryFiles(folder, fileSystem);
  const probe = join(folder, `.graft-probe.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let created = false;
  try {
    const handle = await fileSystem.open(probe, "wx", 0o600);
    created = true;
    try {
      const bytes = new Uint8Array(4096);
      await handle.write(bytes, 0, bytes.length, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new CheckpointError(`--checkpoint ${shown(folder)}: cannot write in the folder: ${describeFileError(error)}`);
  } finally {
    if (created) await fileSystem.unlink(probe).catch(() => undefined);
  }
}

// ----- the checkpoint file --------------------------------------------------------------------------


/** State tensors as safetensors entries, sorted by name (`*.num_batches_tracked` as I64, as PyTorch saves it: see safetensorsDtypeOf). */
export const toSafetensors = (state: Readonly<Record<string, HostTensor>>): SafetensorsTensorInput[] =>
  Object.entries(state)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, tensor]) => ({ name, dtype: safetensorsDtypeOf(name, tensor.dtype), shape: tensor.shape, data: tensor.data }));

/**
 * Writes a checkpoint atomically: the previous file at `path` stays whole until the new one is
 * complete and synced (see writeFileAtomic).
 * @throws AtomicWriteError naming the file and the cause
 */
export async function saveCheckpoint(path: string, state: Readonly<Record<string, HostTensor>>, meta: CheckpointMeta, options: WriteFileAtomicOptions = {}): Promise<void> {
  const bytes = encodeSafetensors(toSafetensors(state), {
    format: "graft-checkpoint",
    epoch: String(meta.epoch),
    model: meta.model,
    optimizer: meta.optimizer,
    seed: String(meta.seed),
    batch_size: String(meta.batchSize),
    split: String(meta.split),
    history: JSON.stringify(meta.history),
    ...(meta.modelHash === undefined ? {} : { model_sha256: meta.modelHash }),
    ...(meta.dataHash === undefined ? {} : { data_sha256: meta.dataHash }),
    ...(meta.backend === undefined ? {} : { backend: meta.backend }),
    ...(meta.standardize === true ? { standardize: "true" } : {}),
    ...(meta.lrSchedule === undefined ? {} : { lr_schedule: meta.lrSchedule }),
    ...(meta.clipGradNorm === undefined ? {} : { clip_grad_norm: String(meta.clipGradNorm) }),
    ...(meta.clipGradValue === undefined ? {} : { clip_grad_value: String(meta.clipGradValue) }),
  });
  await writeFileAtomic(path, bytes, options);
}

const metaNumber = (metadata: Readonly<Record<string, string>>, key: string, source: string): number => {
  const text = metadata[key];
  const value = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isFinite(value)) throw new CheckpointError(`${source}: not a graft checkpoint (metadata '${key}' is ${text === undefined ? "missing" : `'${text}'`})`);
  return value;
};

const decodeCheckpoint = (bytes: Uint8Array, expected: readonly SafetensorsTensorSpec[], source: string) => {
  try {
    return decodeSafetensors(bytes, expected, source);
  } catch (thrown) {
    if (thrown instanceof WeightsError) throw new CheckpointError(`--resume: ${thrown.message}`);
    throw thrown;
  }
};

const isEpochMetrics = (value: unknown, index: number): boolean => {
  if (typeof value !== "object" || value === null) return false;
  const entry = value as Record<string, unknown>;
  return entry.epoch === index && typeof entry.loss === "number" && (typeof entry.trainAccuracy === "number" || typeof entry.trainMse === "number");
};

/**
 * Reads and validates a checkpoint against the trainer's current state (every tensor, dtype and
 * shape) and its own consistency (the epoch count matches the recorded history).
 * @param current the trainer's state (`trainer.getState()`): the names, dtypes and shapes expected
 * @throws CheckpointError for a missing, truncated, foreign or hand-edited file
 */
export async function loadCheckpoint(path: string, current: Readonly<Record<string, HostTensor>>, source: string): Promise<{ state: Record<string, HostTensor>; meta: CheckpointMeta }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (thrown) {
    if (isMissing(thrown)) throw new CheckpointError(`--resume: no checkpoint at ${source} (train once with --checkpoint first)`);
    throw new CheckpointError(`--resume: cannot read ${source}: ${describeFileError(thrown)}`);
  }
  const expected = toSafetensors(current).map(({ name, dtype, shape }) => ({ name, dtype, shape }));
  const decoded = decodeCheckpoint(bytes, expected, source);
  const metadata = decoded.metadata;
  if (metadata.format !== "graft-checkpoint") throw new CheckpointError(`${source}: not a graft checkpoint (no format metadata)`);
  let history: unknown;
  try {
    history = JSON.parse(metadata.history ?? "[]");
  } catch {
    history = undefined;
  }
  if (!Array.isArray(history)) throw new CheckpointError(`${source}: not a graft checkpoint (the history metadata is not a JSON array)`);
  const epoch = metaNumber(metadata, "epoch", source);
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch !== history.length || !history.every(isEpochMetrics))
    throw new CheckpointError(
      `--resume: ${source} records epoch ${metadata.epoch ?? ""} but its history ${history.every(isEpochMetrics) ? `holds ${history.length} epoch${history.length === 1 ? "" : "s"}` : "is not a list of epochs 0, 1, …"}; the file was edited or is damaged, train again without --resume`,
    );
  const meta: CheckpointMeta = {
    epoch,
    model: metadata.model ?? "",
    optimizer: metadata.optimizer ?? "",
    seed: metaNumber(metadata, "seed", source),
    batchSize: metaNumber(metadata, "batch_size", source),
    split: metaNumber(metadata, "split", source),
    history: history as EpochRecord[],
    ...(metadata.model_sha256 === undefined ? {} : { modelHash: metadata.model_sha256 }),
    ...(metadata.data_sha256 === undefined ? {} : { dataHash: metadata.data_sha256 }),
    ...(metadata.backend === undefined ? {} : { backend: metadata.backend }),
    standardize: metadata.standardize === "true",
    ...(metadata.lr_schedule === undefined ? {} : { lrSchedule: metadata.lr_schedule }),
    ...(metadata.clip_grad_norm === undefined ? {} : { clipGradNorm: metaNumber(metadata, "clip_grad_norm", source) }),
    ...(metadata.clip_grad_value === undefined ? {} : { clipGradValue: metaNumber(metadata, "clip_grad_value", source) }),
  };
  const state: Record<string, HostTensor> = {};
  for (const [name, tensor] of decoded.tensors) {
    const dtype = current[name]?.dtype;
    if (dtype !== undefined) state[name] = { shape: tensor.shape, dtype, data: tensor.data };
  }
  return { state, meta };
}

/**
 * Compares a checkpoint with the run that resumes it: the model (name and IR hash), the data
 * file's hash and every setting that changes the result. A difference is refused with a message
 * naming it, unless `force`; then the differences are returned (to print as warnings).
 * @throws CheckpointError naming the first difference
 */
export function checkResume(meta: CheckpointMeta, run: RunFingerprint, source: string, options: { readonly force: boolean; readonly dataFile: string }): string[] {
  const unrecorded = "not recorded (an older checkpoint)";
  const short = (hash: string | undefined): string => (hash === undefined ? unrecorded : hash.slice(0, 12));
  const differences: string[] = [];
  const compare = (saved: string | undefined, now: string, describe: (saved: string, now: string) => string): void => {
    if (saved !== now) differences.push(describe(saved ?? unrecorded, now));
  };
  compare(meta.model, run.model, (saved, now) => `was written by model ${saved}, this run trains ${now}`);
  compare(meta.modelHash, run.modelHash, () => `was written by a different model ${run.model} (IR sha256 ${short(meta.modelHash)}, now ${short(run.modelHash)}): its layers, shapes or initialisers changed`);
  compare(meta.dataHash, run.dataHash, () => `was trained on different data (sha256 ${short(meta.dataHash)}, ${options.dataFile} now has ${short(run.dataHash)})`);
  const settings: ReadonlyArray<readonly [string, string | undefined, string]> = [
    ["--optimizer", meta.optimizer, run.optimizer],
    ["--backend", meta.backend, run.backend],
    ["--seed", String(meta.seed), String(run.seed)],
    ["--batch-size", String(meta.batchSize), String(run.batchSize)],
    ["--split", String(meta.split), String(run.split)],
    ["--standardize", meta.standardize === true ? "on" : "off", run.standardize === true ? "on" : "off"],
    ["--lr-schedule", meta.lrSchedule ?? "none", run.lrSchedule ?? "none"],
    ["--clip-grad-norm", String(meta.clipGradNorm ?? "none"), String(run.clipGradNorm ?? "none")],
    ["--clip-grad-value", String(meta.clipGradValue ?? "none"), String(run.clipGradValue ?? "none")],
  ];
  for (const [option, saved, now] of settings) compare(saved, now, (was, is) => `was written with ${option} ${was}, this run has ${is}`);
  const first = differences[0];
  if (first !== undefined && !options.force)
    throw new CheckpointError(`--resume: ${source} ${first}${differences.length > 1 ? ` (and ${differences.length - 1} more difference${differences.length > 2 ? "s" : ""})` : ""}; resume with the same model, data and settings, or pass --force to resume anyway`);
  return differences.map((difference) => `${source} ${difference}`);
}

// ----- the final files --------------------------------------------------------------------------------

/**
 * Writes the final params-only weights and the metrics chart (`chart`, or the classification
 * chart of `history`) into the checkpoint folder.
 * @returns the weights' path
 * @throws AtomicWriteError naming the file and the cause
 */
export async function writeFinalFiles(
  folder: string,
  params: Readonly<Record<string, HostTensor>>,
  history: readonly EpochMetrics[] | readonly EpochRecord[],
  title: string,
  options: WriteFileAtomicOptions = {},
  chart?: string,
): Promise<string> {
  const weightsPath = join(folder, WEIGHTS_FILE);
  await writeFileAtomic(weightsPath, encodeSafetensors(toSafetensors(params), { format: "pt" }), options);
  await writeFileAtomic(join(folder, METRICS_FILE), chart ?? metricsChart(history.map((record) => ({ ...record, trainAccuracy: record.trainAccuracy ?? Number.NaN })), { title }), options);
  return weightsPath;
}
