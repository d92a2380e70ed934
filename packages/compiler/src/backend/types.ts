/**
 * @file The contract between graft's front end (training API, bundles) and its back ends
 * (reference interpreter, JS, WASM). A program is a set of pure functions (graphs) over shared
 * persistent state: every `param` leaf is a persistent buffer, identified by name across
 * functions; after a call, each state update copies a function output into its param. A training
 * step is therefore one pure graph: (feeds, params, optimizer state) → (loss, new params, new state).
 */
import type { Diagnostics, Dtype, Graph } from "@graft/core";
import type { HyperScalar } from "@graft/runtime";

/** After a call, param `param` takes the value of output `output` (same type). */
export interface StateUpdate {
  readonly param: string;
  readonly output: string;
}

/** One entry point of a program, e.g. "forward" or "trainStep". */
export interface ProgramFunction {
  readonly name: string;
  readonly graph: Graph;
  readonly updates: readonly StateUpdate[];
  /**
   * A training step's run-time hyper-parameters: scalar state params the caller writes before
   * each call (see `HyperScalar`), from the learning rate (initially `lr`) and the step number
   * (the state counter `step` + 1). Each param starts at its value for step 1 at `lr`.
   */
  readonly hyper?: HyperSchedule;
}

/** The hyper scalars of a training step. */
export interface HyperSchedule {
  readonly lr: number;
  /** The state param counting the steps taken. */
  readonly step: string;
  readonly scalars: readonly HyperScalar[];
}

/** What a back end compiles: functions sharing persistent state (params, optimizer state). */
export interface ProgramSpec {
  readonly functions: readonly ProgramFunction[];
}

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
}

/** A back end turns a program into a session; an op it cannot compile is a diagnostic, never a silent fallback. */
export interface Backend {
  readonly name: BackendName;
  createSession(spec: ProgramSpec, options?: SessionOptions): Promise<Session>;
  /** Static check that every node of every function can be compiled. */
  supports(spec: ProgramSpec): Diagnostics;
}
