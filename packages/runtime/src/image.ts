// The program image: what a compiled program is at run time, whatever back end emitted it. A
// loader (artifacts.ts) turns the back end's artifact into an arena and one `run` per function
// image; the image brings the state layout (params and optimizer state at fixed offsets), the
// initialisers, the weights (safetensors, validated all-or-nothing), the training step's hyper
// scalars and the function images (slots, consts, labels, updates). `createModel` loads it: this
// is what a standalone bundle runs.
//
// Inlined into every bundle, so it imports only sibling runtime files and uses only globals both
// Node and browsers have (WebAssembly, atob, TextEncoder/TextDecoder): no `node:` modules, no eval.
import { fromBase64, type ArtifactLoader } from "./artifacts.js";
import { batchedFunction, prepareBatch, type BatchedFunction, type Batching } from "./batching.js";
import { formatShape } from "./describe.js";
import { FeedError, type FeedArray } from "./feeds.js";
import { checkHyperparameter, checkLearningRate, hyperOptions, hyperValue, type HyperScalar } from "./hyper.js";
import { initValues, type Init, type Initialise } from "./init.js";
import { SAFETENSORS_DTYPE, WeightsError, decodeSafetensors, encodeSafetensors, safetensorsDtypeOf, type SafetensorsFile, type SafetensorsTensorInput } from "./safetensors.js";
import { readSlot, runFunction, writeSlot, type ArenaDtype, type FunctionImage, type Slot } from "./session.js";

/** An input or output of a bundled function. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: ArenaDtype;
  /** The concrete shape at the bundle's first batch size. */
  readonly shape: readonly number[];
  /** The shape as declared in the model, e.g. `["batch", 784]`. */
  readonly dims: readonly (string | number)[];
}

/** A bundled function's inputs and outputs. */
export interface FunctionInfo {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /**
   * Whether it takes any batch size (run in chunks of the compiled ones, see batching.ts), as the
   * compiler decided; if not, why. (Absent in hand-made images: compiled sizes only.)
   */
  readonly batching?: Batching;
}

/** A persistent tensor (weight or optimizer state). */
export interface StateInfo {
  readonly name: string;
  readonly dtype: ArenaDtype;
  readonly shape: readonly number[];
}

/** What `m.info` describes. */
export interface ModelInfo {
  readonly name: string;
  /** The back end that compiled it. */
  readonly backend: string;
  /** Batch sizes the functions accept (empty when the model has no `batch` dim). */
  readonly batches: readonly number[];
  /** Sizes fixed for the model's other symbolic dims. */
  readonly dims: Readonly<Record<string, number>>;
  /** The optimizer `trainStep` applies (full spec), or null for an inference-only bundle. */
  readonly optimizer: string | null;
  /** `forward`'s inputs and outputs. */
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly functions: Readonly<Record<string, FunctionInfo>>;
  /** The model's params: what `saveWeights()` writes. */
  readonly weights: readonly StateInfo[];
  /** Every persistent tensor: the weights, then optimizer state. */
  readonly state: readonly StateInfo[];
}

/** A persistent tensor's place in the arena and how it starts. */
export interface StateEntry extends StateInfo {
  readonly offset: number;
  readonly init: Init;
  /** A model param (saved by default), as opposed to optimizer state. */
  readonly weight: boolean;
}

/** A function image as a program image holds it: its entry point in the artifact instead of `run`. */
export type ImageTemplate<Entry> = Omit<FunctionImage, "run"> & {
  /** The batch size it was specialised at (null without a batch dim). */
  readonly batch: number | null;
  readonly entry: Entry;
};

/** Everything a compiled program brings to run time: `createModel` loads it with its artifact's loader. */
export interface ProgramImage<Artifact, Entry, Info extends ModelInfo = ModelInfo> {
  readonly info: Info;
  readonly state: readonly StateEntry[];
  readonly functions: Readonly<Record<string, readonly ImageTemplate<Entry>[]>>;
  /** Arena size in 4-byte elements. */
  readonly elements: number;
  /** The back end's artifact (kernel code is in the module itself; module bytes are here). */
  readonly artifact: Artifact;
  /** Embedded safetensors weights, base64 ("" when none were embedded). */
  readonly weights: string;
  /**
   * The training step's run-time hyper scalars: written before each `trainStep` from the current
   * learning rate and the step counter (float64, rounded once); null when it has none.
   */
  readonly hyper?: { readonly lr: number; readonly step: string; readonly scalars: readonly HyperScalar[] } | null;
}

/** Options of one `trainStep` call. */
export interface TrainStepOptions {
  /** The learning rate of this step and the ones after (as `setLearningRate(lr)` first). */
  readonly lr?: number;
}

/** Bytes accepted as a safetensors file. */
export type WeightsInput = Uint8Array | ArrayBufferLike;

/** Options of `load`. */
export interface LoadOptions {
  /** Seed of the param initialisers when no weights are loaded (default 0, as in-process sessions). */
  readonly seed?: number;
}

/** Options of `saveWeights`. */
export interface SaveWeightsOptions {
  /** Also save optimizer state (momentum buffers, Adam moments, step count). Default false. */
  readonly optimizer?: boolean;
}

/** A loaded bundle; the generated module wraps `call` into typed methods. */
export interface LoadedBundle<Info extends ModelInfo = ModelInfo> {
  readonly info: Info;
  /** Runs function `name`; rank-0 outputs are returned as numbers. `options.lr` applies to `trainStep`. */
  call(name: string, feeds: object, options?: TrainStepOptions): Record<string, FeedArray | number>;
  /** The learning rate `trainStep` uses next, or null for a bundle that does not train. */
  readonly learningRate: number | null;
  /** Sets the learning rate of the next training steps (no recompiling). @throws RangeError for a negative or non-finite lr, Error for a bundle that does not train */
  setLearningRate(lr: number): void;
  /**
   * The run-time hyperparameters of the training step and their current values, PyTorch's names
   * (`param_groups[0]`): `lr`, `momentum`, `beta1`, `beta2`, `eps`, `weight_decay`, … as the
   * optimizer has them; null for a bundle that does not train.
   */
  readonly hyperparameters: Readonly<Record<string, number>> | null;
  /** Sets one of `hyperparameters` for the next training steps, as `param_groups[0][name] = value`. @throws Error naming the ones there are, RangeError for a value out of range */
  setHyperparameter(name: string, value: number): void;
  saveWeights(options?: SaveWeightsOptions): Uint8Array;
  loadWeights(bytes: WeightsInput): void;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** How bundle messages name a value that is not what they expected. */
const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? `an Array of length ${value.length}` : ArrayBuffer.isView(value) ? `${Object.prototype.toString.call(value).slice(8, -1)} of length ${(value as Uint8Array).length}` : typeof value;

/** The bytes of a Uint8Array (Node Buffers included) or (Shared)ArrayBuffer, from any realm. */
const toBytes = (what: string, value: unknown): Uint8Array => {
  const tag = Object.prototype.toString.call(value);
  if (tag === "[object Uint8Array]") return value as Uint8Array;
  if (tag === "[object ArrayBuffer]" || tag === "[object SharedArrayBuffer]") return new Uint8Array(value as ArrayBufferLike);
  throw new WeightsError(`${what}: expected the bytes of a safetensors file (a Uint8Array or an ArrayBuffer), got ${describe(value)}`);
};

/** Freezes a plain data object and everything in it (the `info` every load shares). */
const deepFreeze = <T>(value: T): T => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
};

const LOAD_OPTIONS: readonly string[] = ["seed"];

/**
 * Checks `load()`'s options (from untyped JS too) and returns the seed: an integer 0 ≤ seed < 2^32
 * (default 0). `null` and `undefined` mean no options.
 * @throws TypeError or RangeError naming the option, the expected and the actual value
 */
export const loadSeed = (options: unknown): number => {
  if (options === undefined || options === null) return 0;
  if (typeof options !== "object" || Array.isArray(options) || ArrayBuffer.isView(options))
    throw new TypeError(`load: options must be an object such as { seed: 1 }, got ${describe(options)}`);
  const unknown = Object.keys(options).find((key) => !LOAD_OPTIONS.includes(key));
  if (unknown !== undefined) throw new TypeError(`load: unknown option '${unknown}'; the options are: ${LOAD_OPTIONS.join(", ")}`);
  const seed: unknown = (options as { seed?: unknown }).seed;
  if (seed === undefined) return 0;
  const shown = typeof seed === "string" ? JSON.stringify(seed) : typeof seed === "number" || typeof seed === "bigint" ? String(seed) : describe(seed);
  if (typeof seed !== "number") throw new TypeError(`load: options.seed must be an integer 0 ≤ seed < 2^32, got ${typeof seed === "string" ? "the string " : ""}${shown}`);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`load: options.seed must be an integer 0 ≤ seed < 2^32, got ${shown}`);
  return seed;
};

/** {@link createModel}'s signature. */
export type ModelLoader = <Artifact, Entry, Info extends ModelInfo>(
  bundle: ProgramImage<Artifact, Entry, Info>,
  loader: ArtifactLoader<Artifact, Entry>,
  weights?: WeightsInput | null,
  options?: LoadOptions | null,
) => Promise<LoadedBundle<Info>>;

/**
 * {@link createModel} for images whose params start from what `initialise` computes: a bundle
 * whose state uses only the basic initialisers passes `basicInitValues` (init.ts), and the
 * others' code stays out of it.
 */
export const modelLoader =
  (initialise: Initialise): ModelLoader =>
  (bundle, loader, weights, options) =>
    loadImage(initialise, bundle, loader, weights, options ?? null);

/**
 * Loads a program image: its artifact through `loader` over a fresh arena (independent of every
 * other load), the params from their initialisers (seeded), then `weights` (or the embedded
 * weights) when given.
 * @throws WeightsError when the weights do not fit the model (nothing is loaded then)
 */
export const createModel: ModelLoader = /* @__PURE__ */ modelLoader(initValues);

const loadImage = async <Artifact, Entry, Info extends ModelInfo>(
  initialise: Initialise,
  bundle: ProgramImage<Artifact, Entry, Info>,
  loader: ArtifactLoader<Artifact, Entry>,
  weights: WeightsInput | null | undefined,
  options: LoadOptions | null,
): Promise<LoadedBundle<Info>> => {
  const seed = loadSeed(options);
  const loaded = await loader(bundle.artifact, bundle.elements);
  const arena = loaded.arena;
  arena.ensure(bundle.elements);

  const images = new Map<string, FunctionImage[]>();
  for (const [name, templates] of Object.entries(bundle.functions))
    images.set(
      name,
      templates.map(({ entry, ...image }): FunctionImage => ({ ...image, run: loaded.run(entry, name) })),
    );
  const previous: { last: FunctionImage | undefined } = { last: undefined };
  const slot = (entry: StateEntry): Slot => ({ name: entry.name, dtype: entry.dtype, shape: entry.shape, offset: entry.offset });

  for (const entry of bundle.state) {
    const values = initialise(entry.init, entry.shape, seed, entry.name);
    writeSlot(arena, slot(entry), entry.dtype === "f32" ? Float32Array.from(values) : Int32Array.from(values));
  }

  const byName = new Map(bundle.state.map((entry) => [entry.name, entry]));
  const weightEntries = bundle.info.weights.flatMap((info) => byName.get(info.name) ?? []);
  // the hyper scalars are written before every step: not state worth saving or loading
  const hyperNames = new Set((bundle.hyper?.scalars ?? []).map((scalar) => scalar.param));
  const allEntries = [...weightEntries, ...bundle.state.filter((entry) => !entry.weight && !hyperNames.has(entry.name))];
  const optimizerNames = new Set(allEntries.filter((entry) => !entry.weight).map((entry) => entry.name));
  const specs = (entries: readonly StateEntry[]) => entries.map((entry) => ({ name: entry.name, dtype: SAFETENSORS_DTYPE[entry.dtype], shape: entry.shape }));

  const matches = (file: SafetensorsFile, entries: readonly StateEntry[]): boolean =>
    file.tensors.size === entries.length &&
    entries.every((entry) => {
      const tensor = file.tensors.get(entry.name);
      return tensor !== undefined && tensor.dtype === SAFETENSORS_DTYPE[entry.dtype] && formatShape(tensor.shape) === formatShape(entry.shape);
    });

  /** Validates everything, then writes: all-or-nothing. */
  const loadWeights = (what: string, value: unknown): void => {
    const bytes = toBytes(what, value);
    const file = decodeSafetensors(bytes, undefined, what);
    const full = [...file.tensors.keys()].some((name) => optimizerNames.has(name));
    const entries = full ? allEntries : weightEntries;
    if (!matches(file, entries)) {
      decodeSafetensors(bytes, specs(entries), what); // throws the detailed mismatch
      throw new WeightsError(`${what}: weights do not match the model`);
    }
    for (const entry of entries) {
      const tensor = file.tensors.get(entry.name);
      if (tensor !== undefined) writeSlot(arena, slot(entry), tensor.data as FeedArray);
    }
  };

  const initial = weights ?? (bundle.weights === "" ? undefined : fromBase64(bundle.weights));
  if (initial !== undefined) loadWeights(weights === undefined || weights === null ? "embedded weights" : "load", initial);

  const pick = (name: string, candidates: readonly FunctionImage[], feeds: Readonly<Record<string, unknown>>, batching: Batching | undefined): FunctionImage => {
    // (a model without a batch dim has fixed shapes: the usual shape message says it all)
    const why = batching === undefined || batching.chunkable || bundle.info.batches.length === 0 ? "" : `; ${name} takes no other batch size: ${batching.reason}`;
    const first = candidates[0];
    if (first === undefined) throw new Error(`bundle: function ${name} has no compiled image`);
    if (candidates.length === 1 && why === "") return first;
    const lengthOf = (value: unknown): number | undefined =>
      Array.isArray(value) || ArrayBuffer.isView(value) ? (value as ArrayLike<unknown>).length : undefined;
    const found = candidates.find((image) => image.inputs.every((input) => lengthOf(feeds[input.name]) === sizeOf(input.shape)));
    if (found !== undefined) return found;
    for (const input of first.inputs) {
      const length = lengthOf(feeds[input.name]);
      if (length === undefined) return first; // missing or not an array: runFunction says so
      if (!candidates.some((image) => image.inputs.some((other) => other.name === input.name && sizeOf(other.shape) === length))) {
        const shapes = candidates.flatMap((image) => image.inputs.filter((other) => other.name === input.name).map((other) => `${other.dtype}${formatShape(other.shape)} (${sizeOf(other.shape)} elements)`));
        throw new FeedError(input.name, `input ${input.name}: got ${length} elements; ${name} takes ${shapes.join(" or ")} (batch sizes ${bundle.info.batches.join(", ")})${why}`);
      }
    }
    const lengths = first.inputs.map((input) => `${input.name}: ${lengthOf(feeds[input.name]) ?? "?"}`).join(", ");
    throw new FeedError(first.inputs[0]?.name ?? "", `${name}: the inputs' lengths (${lengths}) do not belong to the same batch size (${bundle.info.batches.join(", ")})${why}`);
  };
  /** Per function, what the batching runtime needs (computed on its first call). */
  const batchedFunctions = new Map<string, BatchedFunction | undefined>();

  const hyper = bundle.hyper ?? null;
  let learningRate = hyper?.lr ?? null;
  // the run-time hyperparameters besides the lr, at their compiled values until set
  const hyperparameters: Record<string, number> = hyperOptions(hyper?.scalars ?? []);
  const setLearningRate = (what: string, lr: unknown): void => {
    if (hyper === null) throw new Error(`${what}: model ${bundle.info.name} does not train (compile it with --train)`);
    learningRate = checkLearningRate(what, lr);
  };
  /** Writes the hyper scalars of the next step: its number is the step counter + 1. */
  const writeHyper = (): void => {
    if (hyper === null || learningRate === null) return;
    const counter = byName.get(hyper.step);
    const t = (counter === undefined ? 0 : (readSlot(arena, slot(counter))[0] ?? 0)) + 1;
    for (const scalar of hyper.scalars) {
      const entry = byName.get(scalar.param);
      if (entry !== undefined) writeSlot(arena, slot(entry), Float32Array.of(hyperValue(scalar.formula, learningRate, t, hyperparameters)));
    }
  };

  return {
    info: deepFreeze(bundle.info),
    get learningRate() {
      return learningRate;
    },
    setLearningRate(lr: number): void {
      setLearningRate("setLearningRate", lr);
    },
    get hyperparameters() {
      return learningRate === null ? null : { lr: learningRate, ...hyperparameters };
    },
    setHyperparameter(name: string, value: number): void {
      // (a bundle that does not train has no options: only lr, which says so)
      if (name === "lr") setLearningRate("setHyperparameter", value);
      else hyperparameters[name] = checkHyperparameter("setHyperparameter", hyperparameters, name, value);
    },
    call(name: string, feeds: object, options?: TrainStepOptions): Record<string, FeedArray | number> {
      const candidates = images.get(name);
      if (candidates === undefined) throw new Error(`bundle: unknown function ${name}; this bundle has ${[...images.keys()].join(", ")}`);
      if (typeof feeds !== "object" || feeds === null || Array.isArray(feeds) || ArrayBuffer.isView(feeds)) {
        const names = (candidates[0]?.inputs ?? []).map((input) => input.name).join(", ");
        throw new FeedError("", `${name}: expected an object of inputs { ${names} }, got ${describe(feeds)}`);
      }
      // any batch size: the feeds converted once, then one compiled image or chunks of them (batching.ts)
      const info = bundle.info.functions[name];
      const batching = info?.batching;
      if (!batchedFunctions.has(name)) batchedFunctions.set(name, info === undefined || batching === undefined ? undefined : batchedFunction(name, { inputs: info.inputs, batching }, candidates));
      const batched = batchedFunctions.get(name);
      const first = candidates[0];
      const prepared =
        batched === undefined || first === undefined
          ? undefined
          : prepareBatch(batched, feeds as Readonly<Record<string, unknown>>, (size, chunk) => runFunction(arena, candidates[batched.batches.indexOf(size)] ?? first, chunk, previous));
      const record = prepared?.kind === "image" ? prepared.feeds : (feeds as Readonly<Record<string, unknown>>);
      const image = prepared?.kind === "chunked" && first !== undefined ? first : pick(name, candidates, record, batching);
      if (name === "trainStep") {
        if (options?.lr !== undefined) setLearningRate("trainStep: options.lr", options.lr);
        writeHyper();
      }
      const outputs = prepared?.kind === "chunked" ? prepared.outputs : runFunction(arena, image, record, previous);
      const result: Record<string, FeedArray | number> = {};
      for (const output of image.outputs) {
        const value = outputs[output.name];
        if (value !== undefined) result[output.name] = output.shape.length === 0 ? (value[0] ?? Number.NaN) : value;
      }
      return result;
    },
    saveWeights(options: SaveWeightsOptions = {}): Uint8Array {
      const entries = options.optimizer === true ? allEntries : weightEntries;
      const tensors: SafetensorsTensorInput[] = entries.map((entry) => ({ name: entry.name, dtype: safetensorsDtypeOf(entry.name, entry.dtype), shape: entry.shape, data: readSlot(arena, slot(entry)) as SafetensorsTensorInput["data"] }));
      const metadata: Record<string, string> = { format: "pt", "graft.model": bundle.info.name };
      if (options.optimizer === true && bundle.info.optimizer !== null) metadata["graft.optimizer"] = bundle.info.optimizer;
      return encodeSafetensors(tensors, metadata);
    },
    loadWeights(bytes: WeightsInput): void {
      loadWeights("loadWeights", bytes);
    },
  };
};
