/**
 * @file What `graft train` leaves behind besides checkpoints: the trained weights as safetensors
 * (with the standardisation, when fitted, as `standardize.mean` / `standardize.std`) and a
 * standalone bundle of the trained model (`--export`) that applies the standardisation itself.
 */
import * as E from "fp-ts/lib/Either.js";
import { formatDiagnostics, type Model } from "@graft/core";
import { encodeSafetensors } from "@graft/runtime";
import type { BackendName, HostTensor } from "../../../backend/types.js";
import { compileBundle, formatBytes, writeBundle } from "../../../bundle/index.js";
import type { AtomicFileSystem } from "../../data/atomic.js";
import { toSafetensors } from "../../train/checkpoint.js";
import { standardizedModel, STANDARDIZE_MEAN, STANDARDIZE_STD, type Standardizer } from "../../train/index.js";

/** Batch sizes the exported bundle is compiled for (any other batch runs in chunks of these). */
export const EXPORT_BATCHES: readonly number[] = [1, 32];

/** The model's params after training, plus the standardisation when fitted. */
export const trainedParams = (params: Readonly<Record<string, HostTensor>>, standardizer: Standardizer | undefined): Record<string, HostTensor> => {
  if (standardizer === undefined) return { ...params };
  const shape = standardizer.shape ?? [standardizer.mean.length];
  return {
    ...params,
    [STANDARDIZE_MEAN]: { shape, dtype: "f32", data: standardizer.mean },
    [STANDARDIZE_STD]: { shape, dtype: "f32", data: standardizer.std },
  };
};

/** The weights file `--out` and the checkpoint folder's `weights.safetensors` hold (tensors in name order). */
export const trainedWeights = (params: Readonly<Record<string, HostTensor>>, standardizer: Standardizer | undefined): Uint8Array =>
  encodeSafetensors(toSafetensors(trainedParams(params, standardizer)), { format: "pt" });

/** The model an exported bundle runs: the user's, with the standardisation in front of x when fitted. */
export const exportedModel = (model: Model, standardizer: Standardizer | undefined): E.Either<string, Model> => {
  if (standardizer === undefined) return E.right(model);
  return E.mapLeft(formatDiagnostics)(standardizedModel(model, "x"));
};

/** What `--export-train` adds to the exported bundle: a `trainStep` with the run's optimizer and clipping. */
export interface ExportTraining {
  /** The optimizer spec (every option spelled out); the bundle's optimizer state starts fresh. */
  readonly optimizer: string;
  /** The run's batch size, compiled beside EXPORT_BATCHES (trainStep takes only its compiled sizes). */
  readonly batchSize: number;
  readonly clipGradNorm?: number | undefined;
  readonly clipGradValue?: number | undefined;
}

/**
 * Compiles the trained model into a standalone bundle with its weights embedded — `forward` and
 * `evaluate` (any batch size), plus `trainStep` when `options.train` is given — and writes it with
 * its declarations (atomically). With a fitted standardisation every function takes raw features
 * (standardize.mean/std are weights of the bundle, which `trainStep` leaves as they are).
 * Returns a line describing what was written.
 * @returns Left with the compiler's message when the model cannot be bundled
 */
export const exportTrainedBundle = async (
  path: string,
  model: Model,
  weights: Uint8Array,
  options: {
    readonly backend: BackendName;
    readonly standardizer: Standardizer | undefined;
    readonly display: (path: string) => string;
    readonly fileSystem?: AtomicFileSystem;
    readonly train?: ExportTraining | undefined;
  },
): Promise<E.Either<string, string>> => {
  const exported = exportedModel(model, options.standardizer);
  if (E.isLeft(exported)) return exported;
  const train = options.train;
  const bundle = await compileBundle(exported.right, {
    backend: options.backend === "wasm" ? "wasm" : "js",
    batches: train === undefined ? EXPORT_BATCHES : [...new Set([...EXPORT_BATCHES, train.batchSize])].sort((a, b) => a - b),
    weights,
    weightsSource: "the trained weights",
    ...(train === undefined
      ? { evaluate: true }
      : { train: train.optimizer, frozen: options.standardizer === undefined ? [] : [STANDARDIZE_MEAN, STANDARDIZE_STD], clipGradNorm: train.clipGradNorm, clipGradValue: train.clipGradValue }),
  });
  if (E.isLeft(bundle)) return E.left(`--export: ${formatDiagnostics(bundle.left)}`);
  const written = await writeBundle(path, bundle.right, options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem });
  const standardized = options.standardizer === undefined ? "" : ", takes raw features (standardises them itself)";
  return E.right(
    `exported: ${options.display(written.module)} (${formatBytes(bundle.right.sizes.total)}, forward and evaluate at any batch size${train === undefined ? "" : `, trainStep (${train.optimizer}) at batch ${bundle.right.info.batches.join(" or ")}`}${standardized}); declarations: ${options.display(written.dts)}`,
  );
};
