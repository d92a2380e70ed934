/**
 * @file The contract between graft's front end (training API, bundles) and its back ends
 * (reference interpreter, JS, WASM). What they compile is a program (program/types.ts): pure
 * functions over shared persistent state.
 *
 * A back end does two things with a program:
 * - `createSession`: compile and run it in this process (functions are specialised to the shapes
 *   of their feeds on first use);
 * - `emit`: compile every plan of a bundle (each function at each batch size, lowered and placed
 *   in one arena by `backend/program.ts`) into one {@link Artifact}: kernel code or module bytes,
 *   what that code imports from `@graft/runtime`, and per function image its entry point. The
 *   bundle (`bundle/`) splices the artifact into the module it generates without knowing which
 *   back end made it; at run time `@graft/runtime` loads it (`ArtifactLoader`, runtime/src/
 *   artifacts.ts) and owns everything else: the arena, the state, initialisers, weights, feeds.
 *
 * ## Design: an asynchronous device that is not a Float32Array (WebGPU)
 *
 * Nothing in this contract assumes the arena is host memory, but two things today do, and this is
 * how a WebGPU back end changes them without touching bundles or the trainer:
 * 1. Loading is already asynchronous (`ArtifactLoader` returns a Promise): a WebGPU loader requests
 *    the adapter and device, creates one storage `GPUBuffer` for the arena (state + scratch, offsets
 *    as today, in 4-byte elements) and compiles the artifact's WGSL into compute pipelines, one per
 *    kernel, with bind groups over arena ranges. Its artifact is the WGSL source and the dispatch
 *    list per entry (`{ pipeline, workgroups, bindings }`), data like the WASM back end's.
 * 2. Running is synchronous today (`RunKernels(F, I)` over Float32Array/Int32Array views, and
 *    `runFunction` copies feeds in and outputs out through those views). A device arena replaces
 *    the views by an `AsyncArena` interface — `write(offset, data)`, `read(offset, size):
 *    Promise<FeedArray>`, `copy(from, to, size)` — and `run` becomes `(arena) => void` that only
 *    encodes and submits a command buffer (queue order keeps kernels and copies ordered; nothing
 *    waits). Feed validation stays on the host before any write, so bad input still changes
 *    nothing. Only reading results awaits (`mapAsync` of a staging buffer): `Session.run` and the
 *    bundle's `call` then return Promises for that back end — the session interface gains
 *    `runAsync` (which host back ends implement by resolving `run`), and the trainer awaits it only
 *    when it fetches the loss, so steps between logs are queued back to back.
 * 3. `getState`/`setState`/`saveWeights` read and write through the same async arena; the
 *    initialisers (runtime/src/init.ts) fill host arrays that are then written once.
 * `CodeGenerator.compile` (sessions) stays synchronous for host back ends; a device back end
 * implements `createSession` with its own asynchronous specialisation (pipelines are created when a
 * new shape is first seen, awaited inside `runAsync`).
 */
import type * as E from "fp-ts/lib/Either.js";
import type { Diagnostics, Dtype, Graph } from "@graft/core";
import type { ProgramSpec } from "../program/types.js";
import type { FunctionPlan } from "./program.js";

/** A value fed to or returned from a session. */
export type HostArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** Name → typed array (f32 → Float32Array, f64 → Float64Array, i32 → Int32Array, bool → Uint8Array) with its shape. */
export interface HostTensor {
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  readonly data: HostArray;
}

export type HostFeeds = Readonly<Record<string, HostTensor>>;

export interface RunOptions {
  readonly fetch?: readonly string[];
}

/** A running program: owns its memory and the persistent state. */
export interface Session {
  readonly backend: BackendName;
  /**
   * Runs function `name` on `feeds`; validates every feed (names, shapes, dtypes, label ranges)
   * before touching memory, so bad input throws and changes nothing. Returns the named outputs
   * (copies) except those that feed state updates, and applies the updates. `fetch` names the outputs to copy out
   * (default: all), like a TF session's fetches; large results not needed stay in memory.
   */
  run(name: string, feeds: HostFeeds, options?: RunOptions): Record<string, HostTensor>;
  /** Copies of the persistent state, by param name. */
  getState(): Record<string, HostTensor>;
  /** Replaces persistent state; validates every entry first (all-or-nothing). */
  setState(values: Readonly<Record<string, HostTensor>>): void;
  dispose(): void;
}

export type BackendName = "reference" | "js" | "wasm";

export interface SessionOptions {
  /** Seed for param initialisers. */
  readonly seed?: number;
  /**
   * Threads for the WASM back end: 1 (default) or 2 — the calling thread plus one helper worker
   * over a shared memory, which computes half the rows of big matmuls and elementwise kernels
   * (results bit-identical to one thread; Node only, `dispose()` stops the worker). Standalone
   * bundles run on one thread. Other back ends ignore it.
   */
  readonly threads?: number;
  /**
   * The most bytes the program's arena may take (default 4 GiB): a function specialised to bigger
   * feeds, or params bigger than this, are refused with a `memory` diagnostic (a GraftError)
   * instead of failing to allocate. The reference back end ignores it.
   */
  readonly maxMemory?: number;
}

/** One function of a bundle: its graph (kernels name its node ids) and its specialisations (one plan per batch size). */
export interface EmitFunction {
  readonly name: string;
  readonly graph: Graph;
  readonly specialisations: ReadonlyArray<{ readonly batch: number | undefined; readonly plan: FunctionPlan }>;
}

/** A top-level `const` of the module an artifact's code lives in (e.g. generated kernels). */
export interface ArtifactDeclaration {
  readonly name: string;
  readonly type?: string | undefined;
  readonly docs: string;
  /** TypeScript expression. */
  readonly initializer: string;
}

/** Named imports of an artifact's code: `from` is `@graft/runtime` or one of its files (`@graft/runtime/kernels-js`). */
export interface ArtifactImport {
  readonly from: string;
  readonly names: readonly string[];
  readonly typeNames?: readonly string[] | undefined;
}

/** The entry point of one function image: TypeScript code (e.g. `jsRun(kernels, lib)`), or data its loader resolves (e.g. an export name). */
export type ArtifactEntry = { readonly code: string } | { readonly data: unknown };

/** What a back end emits for a bundle (see the file comment). */
export interface Artifact {
  /** The `@graft/runtime` export that loads it (an `ArtifactLoader`). */
  readonly loader: string;
  /** TypeScript types of its value and its entries: the image is a `ProgramImage<artifact, entry>`. */
  readonly types: { readonly artifact: string; readonly entry: string };
  readonly imports: readonly ArtifactImport[];
  /** Declarations of its code, in order (empty when the artifact is data, e.g. module bytes). */
  readonly declarations: readonly ArtifactDeclaration[];
  /** The value the loader receives: data (module bytes as base64 and their memory layout), or null. */
  readonly value: unknown;
  /** Per function name, one entry per specialisation, in their order. */
  readonly entries: Readonly<Record<string, readonly ArtifactEntry[]>>;
}

/** A back end turns a program into a session or a bundle artifact; an op it cannot compile is a diagnostic, never a silent fallback. */
export interface Backend {
  readonly name: BackendName;
  createSession(spec: ProgramSpec, options?: SessionOptions): Promise<Session>;
  /** Static check that every node of every function can be compiled. */
  supports(spec: ProgramSpec): Diagnostics;
  /**
   * Compiles the plans of a bundle into one artifact; Left for a kernel it cannot compile (naming
   * the user's line). Absent for back ends that only run in process (the reference interpreter).
   */
  emit?(functions: readonly EmitFunction[]): Promise<E.Either<Diagnostics, Artifact>>;
}
