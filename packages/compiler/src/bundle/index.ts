/**
 * @file Standalone bundles: `compileBundle(model, options)` turns a model into one ESM file with
 * no imports (runtime, kernels, layout and optionally weights inlined), its `.d.ts`, and the
 * TypeScript module source it was bundled from.
 *
 * ```ts
 * const bundle = await compileBundle(model, { train: "adam:lr=1e-3", batches: [32] });
 * if (E.isRight(bundle)) await writeBundle("model.mjs", bundle.right, { emitTs: true });
 * ```
 */
import { resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { error, type Diagnostics, type Model } from "@graft/core";
import { decodeSafetensors, SAFETENSORS_DTYPE, WeightsError, type ModelInfo, type SafetensorsTensorSpec } from "@graft/runtime";
import { DEFAULT_BUNDLE_BACKEND, getBackend, type BackendName } from "../backend/index.js";
import { ensureDirectoryFor, writeFileAtomic, type AtomicFileSystem } from "../toolkit/data/atomic.js";
import { emitDts } from "./dts.js";
import { bundleInfo, bundleModule, emitModuleSource, isHyper, toBase64, type BundleSizes } from "./emit.js";
import { planBundle, type BundleLayout } from "./layout.js";
import { bundleProgram } from "./program.js";

/** Options of {@link compileBundle}. */
export interface CompileBundleOptions {
  /** Kernel back end (default {@link DEFAULT_BUNDLE_BACKEND}); it must emit bundles (`Backend.emit`). */
  readonly backend?: BackendName | undefined;
  /** Optimizer spec; adds `trainStep` and `evaluate`. */
  readonly train?: string | undefined;
  /** Without `train`: adds `evaluate` (the model must have a loss). */
  readonly evaluate?: boolean | undefined;
  /** With `train`: params `trainStep` does not update. */
  readonly frozen?: readonly string[] | undefined;
  /** With `train`: gradient clipping of `trainStep` (`clip_grad_norm_` / `clip_grad_value_`). */
  readonly clipGradNorm?: number | undefined;
  readonly clipGradValue?: number | undefined;
  /** Batch sizes; default 1 without `train`, 32 with it. */
  readonly batches?: readonly number[] | undefined;
  /** Sizes of symbolic dims other than `batch`. */
  readonly dims?: Readonly<Record<string, number>> | undefined;
  /** Safetensors bytes to embed (checked against the model: its weights, or weights + optimizer state). */
  readonly weights?: Uint8Array | undefined;
  /** How messages name the weights file. */
  readonly weightsSource?: string | undefined;
  /** The most bytes the bundle's arena may take (default 4 GiB); a bigger program is a `memory` diagnostic. */
  readonly maxMemory?: number | undefined;
}

/** A compiled bundle. */
export interface CompiledBundle {
  /** The standalone ESM module. */
  readonly code: string;
  /** Its type declarations. */
  readonly dts: string;
  /** The TypeScript module it was bundled from. */
  readonly source: string;
  readonly sizes: BundleSizes;
  readonly info: ModelInfo;
  readonly layout: BundleLayout;
}

/** Checks weights to embed like the bundle's `loadWeights` would; Left with its message. */
const checkWeights = (layout: BundleLayout, bytes: Uint8Array, source: string): Diagnostics => {
  const spec = (entry: BundleLayout["state"][number]): SafetensorsTensorSpec => ({ name: entry.name, dtype: SAFETENSORS_DTYPE[entry.dtype], shape: entry.shape });
  try {
    const file = decodeSafetensors(bytes, undefined, source);
    // params no function reads may be left out (they keep their init)
    const present = (entry: BundleLayout["state"][number]): boolean => entry.optional !== true || file.tensors.has(entry.name);
    const weights = layout.weights.flatMap((name) => layout.state.filter((entry) => entry.name === name && present(entry))).map(spec);
    const optimizerState = layout.state.filter((entry) => !entry.weight && !isHyper(layout, entry.name) && present(entry)).map(spec);
    const full = optimizerState.some((entry) => file.tensors.has(entry.name));
    decodeSafetensors(bytes, full ? [...weights, ...optimizerState] : weights, source);
    return [];
  } catch (caught) {
    if (caught instanceof WeightsError) return [error("bundle/weights", caught.message)];
    throw caught;
  }
};

/**
 * Compiles `model` into a standalone bundle. Left with diagnostics for a model that does not
 * check, a bad optimizer spec or dim size, weights that do not fit, or an unavailable back end.
 */
export const compileBundle = async (model: Model, options: CompileBundleOptions = {}): Promise<E.Either<Diagnostics, CompiledBundle>> => {
  const backend = await getBackend(options.backend ?? DEFAULT_BUNDLE_BACKEND);
  if (backend.emit === undefined) return E.left([error("bundle/backend", `the ${backend.name} back end runs in process only and cannot emit a bundle`)]);
  const program = bundleProgram(model, { train: options.train, evaluate: options.evaluate, frozen: options.frozen, clipGradNorm: options.clipGradNorm, clipGradValue: options.clipGradValue });
  if (E.isLeft(program)) return program;
  const layout = planBundle(program.right, { batches: options.batches, dims: options.dims, maxMemory: options.maxMemory });
  if (E.isLeft(layout)) return layout;
  if (options.weights !== undefined) {
    const problems = checkWeights(layout.right, options.weights, options.weightsSource ?? "weights");
    if (problems.length > 0) return E.left(problems);
  }
  const weights = options.weights === undefined ? "" : toBase64(options.weights);
  const artifact = await backend.emit(layout.right.functions);
  if (E.isLeft(artifact)) return artifact;
  const source = emitModuleSource(layout.right, { backend: backend.name, artifact: artifact.right, weights });
  const bundled = await bundleModule(source, { sourcefile: "bundle.ts", weights });
  return E.right({ code: bundled.code, dts: emitDts(layout.right, backend.name), source, sizes: bundled.sizes, info: bundleInfo(layout.right, backend.name), layout: layout.right });
};

/** Paths {@link writeBundle} wrote. */
export interface WrittenBundle {
  readonly module: string;
  readonly dts: string;
  readonly source: string | undefined;
}

/** `model.mjs` → `model.d.mts` (what TypeScript looks up for an .mjs), `model.js` → `model.d.ts`. */
export const declarationPath = (modulePath: string): string => {
  const match = /\.(m|c)?js$/.exec(modulePath);
  return match === null ? `${modulePath}.d.ts` : `${modulePath.slice(0, match.index)}.d.${match[1] ?? ""}ts`;
};

/** `model.mjs` → `model.mts`, `model.js` → `model.ts`: where `--emit-ts` writes the module source. */
export const sourcePath = (modulePath: string): string => {
  const match = /\.(m|c)?js$/.exec(modulePath);
  return match === null ? `${modulePath}.ts` : `${modulePath.slice(0, match.index)}.${match[1] ?? ""}ts`;
};

/**
 * Writes the bundle, its `.d.ts` (`.d.mts` for `.mjs`) and, with `emitTs`, its TypeScript source,
 * each atomically (see toolkit/data/atomic.ts): a failed write leaves the previous file whole.
 * @throws AtomicWriteError naming the file and the cause
 */
export const writeBundle = async (
  modulePath: string,
  bundle: CompiledBundle,
  options: { readonly emitTs?: boolean; readonly fileSystem?: AtomicFileSystem } = {},
): Promise<WrittenBundle> => {
  const module = resolve(modulePath);
  const write = options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem };
  await ensureDirectoryFor(module, write);
  const dts = declarationPath(module);
  const source = options.emitTs === true ? sourcePath(module) : undefined;
  await writeFileAtomic(module, bundle.code, write);
  await writeFileAtomic(dts, bundle.dts, write);
  if (source !== undefined) await writeFileAtomic(source, bundle.source, write);
  return { module, dts, source };
};

/** `12345` → `12.1 KB`. */
export const formatBytes = (bytes: number): string => (bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(2)} MB`);

export { bundleInfo, bundleModule, emitModuleSource } from "./emit.js";
export type { BundleSizes } from "./emit.js";
export { emitDts, publicDeclarations } from "./dts.js";
export { BATCH_DIM, defaultBatches, planBundle } from "./layout.js";
export type { BundleFunction, BundleLayout, BundleState, BundleTensor, LayoutOptions } from "./layout.js";
export { bundleProgram } from "./program.js";
export type { BundleProgram, BundleProgramOptions } from "./program.js";
export type { LoadedBundle, LoadOptions, ModelInfo, SaveWeightsOptions, TensorInfo } from "@graft/runtime";
