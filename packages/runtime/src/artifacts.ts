// Artifact loaders: how the program image (image.ts) turns what a back end emitted into code that
// runs over an arena. One loader per kind of artifact; a bundle imports only the one it needs, so
// the others never enter it. Imports only sibling runtime files (inlined into bundles).
import { allocateArena, bufferArena, wasmArena, type Arena } from "./session.js";

/** The `run` of one function image: all its kernels, in order, over the arena views. */
export type RunKernels = (F: Float32Array, I: Int32Array) => void;

/** A loaded artifact: the arena its code runs over, and the `run` of each entry point. */
export interface LoadedArtifact<Entry> {
  readonly arena: Arena;
  /** The `run` of one function image's entry point; throws when the artifact does not have it. */
  run(entry: Entry, functionName: string): RunKernels;
}

/**
 * Loads a back end's artifact over a fresh arena of `elements` 4-byte elements. Asynchronous, so
 * an artifact that must be compiled or uploaded first (a WASM module, GPU pipelines) can be.
 */
export type ArtifactLoader<Artifact, Entry> = (artifact: Artifact, elements: number) => Promise<LoadedArtifact<Entry>>;

/** A generated JS kernel: reads and writes the arena views, calls library kernels through `lib`. */
export type JsKernel<L> = (F: Float32Array, I: Int32Array, lib: L) => void;

/** Runs generated JS kernels in order: the entry point of a function image of a JS artifact. */
export const jsRun =
  <L>(kernels: readonly JsKernel<L>[], lib: L): RunKernels =>
  (F: Float32Array, I: Int32Array): void => {
    for (const kernel of kernels) kernel(F, I, lib);
  };

/** JS artifacts: the kernels are code in the bundle itself; each entry point is its `run`. */
export const loadJsArtifact: ArtifactLoader<null, RunKernels> = async (_artifact, elements) => ({ arena: bufferArena(elements), run: (entry) => entry });

/** A WASM artifact: one module (base64) for every function image of a program. */
export interface WasmArtifact {
  /** The module's bytes, base64 (gzip-compressed with `encoding: "gzip"`); it imports `env.memory` and exports one function per entry point. */
  readonly module: string;
  /** "gzip": `module` is gzip-compressed (inflated with the standard `DecompressionStream` when loaded). */
  readonly encoding?: "gzip" | undefined;
  /** Byte address of arena element 0 in the memory (the bytes before are the module's scratch). */
  readonly base: number;
}

/** The entry point of a function image in a WASM artifact. */
export interface WasmEntry {
  /** The exported function running the image's kernels; it returns 0, or s > 0 when an index check failed. */
  readonly export: string;
  /** When the export returns status s > 0, `checks[s - 1]` says which kernel's index check failed. */
  readonly checks: readonly string[];
}

/** The bytes of base64 text (with `atob`, which Node and browsers have). */
export const fromBase64 = (text: string): Uint8Array<ArrayBuffer> => {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
};

/** Inflates gzip bytes with the Compression Streams API (Node ≥ 18 and every current browser have it). */
const gunzip = (bytes: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> => new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();

/** Compiled modules per artifact, so loading a bundle twice compiles once. */
const compiledModules = new WeakMap<WasmArtifact, Promise<WebAssembly.Module>>();

/** WASM artifacts: a fresh memory per load, the module instantiated over it. */
export const loadWasmArtifact: ArtifactLoader<WasmArtifact, WasmEntry> = async (artifact, elements) => {
  const bytes = artifact.base + elements * 4;
  const memory = allocateArena(bytes, () => new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) }), true);
  const arena = wasmArena(memory, artifact.base);
  const imports = { env: { memory } };
  let instance: WebAssembly.Instance;
  const cached = compiledModules.get(artifact);
  if (cached !== undefined) instance = await WebAssembly.instantiate(await cached, imports);
  else {
    const bytes = fromBase64(artifact.module);
    const source = await WebAssembly.instantiate(artifact.encoding === "gzip" ? await gunzip(bytes) : bytes, imports);
    compiledModules.set(artifact, Promise.resolve(source.module));
    instance = source.instance;
  }
  return {
    arena,
    run: (entry, name) => {
      const run = instance.exports[entry.export];
      if (typeof run !== "function") throw new Error(`bundle: the WASM module exports no function ${entry.export}`);
      return () => {
        const status = (run as () => unknown)();
        if (typeof status === "number" && status !== 0) throw new RangeError(`${name}: ${entry.checks[status - 1] ?? `kernel check ${status} failed`}`);
      };
    },
  };
};
