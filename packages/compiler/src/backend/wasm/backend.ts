/**
 * @file The WebAssembly back end: every function specialisation becomes one WASM module (WAT from
 * wasm/codegen.ts, assembled and validated with wabt, compiled synchronously) over the session's
 * single `WebAssembly.Memory`, so params and optimizer state persist across functions and
 * specialisations. Each run is one JS→WASM call (`run`), which calls the kernels in order.
 *
 * Memory layout: the first {@link RESERVED_BYTES} bytes are the GEMM packing scratch area; the
 * arena (state, then each function's buffers, offsets in 4-byte elements) starts after them.
 * Nothing falls back to JS: a kernel the generator cannot compile is a GraftError naming the
 * graph node's op and the user's source location.
 *
 * `threads: 2` (in process, Node only): the memory is a shared `WebAssembly.Memory` (maximum
 * 4 GiB; growing it gives `memory.buffer` a new SharedArrayBuffer, so views are refreshed on
 * identity change as for a plain memory), a second scratch area of {@link RESERVED_BYTES}
 * follows the first (the arena starts at 2 × RESERVED_BYTES), and one helper worker
 * (wasm/threads.ts) instantiates each compiled module that has split kernels over the same
 * memory. Matmuls of at least `DEFAULT_THREAD_MIN_FLOPS` and elementwise kernels of at least
 * `DEFAULT_THREAD_MIN_MAP_ELEMENTS` run half their rows on the worker (see wasm/codegen.ts);
 * everything else runs on the calling thread. Results are bit-identical to one
 * thread. `dispose()` stops the worker. Standalone bundles (`emitWasmArtifact`: one module for
 * every function image of the bundle) stay single-threaded.
 */
import { gzipSync } from "node:zlib";
import * as E from "fp-ts/lib/Either.js";
import { error, formatLoc, GraftError, type Diagnostic, type Diagnostics, type Graph, type Node } from "@graft/core";
import { allocateArena, wasmArena, type Arena } from "@graft/runtime";
import type { Kernel } from "../kernels.js";
import { checkCompilable } from "../lower.js";
import { formatMemorySize } from "../memory.js";
import { checkStateMemory, createCompiledSession, paramLocations, programState, type CodeGenerator, type FunctionPlan } from "../program.js";
import type { Artifact, ArtifactEntry, Backend, EmitFunction, Session, SessionOptions } from "../types.js";
import type { ProgramSpec } from "../../program/types.js";
import { moduleText, programModuleText } from "./codegen.js";
import { DEFAULT_THREAD_MIN_FLOPS, DEFAULT_THREAD_MIN_MAP_ELEMENTS, KernelCompileError, MAX_MEMORY_PAGES, type ModuleEntry, type ThreadsContext } from "./context.js";
import { detectWasmFeatures } from "./features.js";
import { createWasmThreadPool, type WasmThreadPool } from "./threads.js";
import { assembleWatSync, loadWasmToolkit } from "./wat.js";

export { loadWasmToolkit };

/** Bytes at the start of memory reserved for GEMM packing (the arena starts after them). */
export const RESERVED_BYTES = 1 << 20;
const PAGE = 65536;
/** wasm32 memories end at 4 GiB. */
const MAX_BYTES = 2 ** 32;

// ----- the arena over a WebAssembly.Memory ----------------------------------------------------------

/** Memory of each arena buffer, so compiled runners find the memory behind the views they get. */
const memories = new WeakMap<ArrayBufferLike, WebAssembly.Memory>();

/** Bytes before the arena: one GEMM packing scratch area per thread. */
export const reservedBytes = (threads: number): number => RESERVED_BYTES * Math.max(1, threads);

/** Pages of a memory holding `elements` arena elements after `reserved` bytes. */
const pagesFor = (reserved: number, elements: number): number => Math.ceil((reserved + Math.max(elements, 16) * 4) / PAGE);

/** A shared memory (for `threads` > 1) big enough for `elements` arena elements; it can grow to 4 GiB. */
export const sharedSessionMemory = (elements: number, threads = 2): WebAssembly.Memory =>
  allocateArena(reservedBytes(threads) + elements * 4, () => new WebAssembly.Memory({ initial: pagesFor(reservedBytes(threads), elements), maximum: MAX_MEMORY_PAGES, shared: true }), true);

/** Options of {@link wasmSessionArena}. */
export interface WasmArenaOptions {
  /** Use this memory (e.g. a shared one) instead of a fresh one; it is grown as needed. */
  readonly memory?: WebAssembly.Memory;
  /** Bytes before the arena (default {@link RESERVED_BYTES}; `reservedBytes(threads)` with threads). */
  readonly reserved?: number;
}

/**
 * An arena over a WebAssembly.Memory, starting after the reserved scratch bytes. Views are
 * rebuilt whenever `memory.buffer` changes identity (after a grow; for a shared memory the new
 * buffer is a new SharedArrayBuffer over the same, longer, memory).
 */
export const wasmSessionArena = (elements: number, options: WasmArenaOptions = {}): Arena & { readonly memory: WebAssembly.Memory } => {
  const reserved = options.reserved ?? RESERVED_BYTES;
  const memory = options.memory ?? allocateArena(reserved + elements * 4, () => new WebAssembly.Memory({ initial: pagesFor(reserved, elements) }), true);
  const arena = wasmArena(memory, reserved);
  // compiled runners find the memory behind the views they are given
  const register = (): void => void memories.set(memory.buffer, memory);
  arena.ensure(elements);
  register();
  return {
    memory,
    ensure(count: number): void {
      arena.ensure(count);
      register();
    },
    get f32() {
      return arena.f32;
    },
    get i32() {
      return arena.i32;
    },
  };
};

// ----- the code generator ------------------------------------------------------------------------------

/** Options of {@link createWasmGenerator}. */
export interface WasmGeneratorOptions {
  /** The graph of a function, for diagnostics that name the user's op and line. */
  readonly graphOf?: (name: string) => Graph | undefined;
  /** Use relaxed-SIMD FMA; defaults to what the engine supports. */
  readonly relaxedSimd?: boolean;
  /** Fuse cross_entropy with its backward where safe (default true). */
  readonly fuseCrossEntropy?: boolean;
  /** Software-pipeline fused index-target cross-entropy rows (default true). */
  readonly pipelineCrossEntropy?: boolean;
  /**
   * Two threads: the session's shared memory and the helper worker's pool. Modules import the
   * shared memory; modules with split kernels are sent to the worker.
   */
  readonly threads?: {
    readonly memory: WebAssembly.Memory;
    readonly pool: WasmThreadPool;
    readonly minFlops?: number;
    readonly minMapElements?: number;
    /** Filled with the names of the functions that have a specialisation with split kernels. */
    readonly splitFunctions?: Set<string>;
  };
}

const nodeOfKernel = (graph: Graph | undefined, kernel: Kernel | undefined): Node | undefined => {
  const id = kernel?.nodes[0];
  return id === undefined || graph === undefined ? undefined : graph.nodes[id];
};

const kernelDiagnostic = (graph: Graph | undefined, kernel: Kernel | undefined, message: string): Diagnostic => {
  const node = nodeOfKernel(graph, kernel);
  const what = node === undefined ? (kernel?.kind ?? "kernel") : `${node.op} (node %${node.id})`;
  return error("backend", `wasm: ${what}: ${message}`, node?.loc);
};

/** Why a checked kernel stopped the run. */
const refusal = (kernel: Kernel | undefined): string => {
  switch (kernel?.kind) {
    case "cross_entropy":
    case "cross_entropy_backward":
    case "nll_loss":
    case "nll_loss_backward":
      return `a class target is out of range: expected 0 ≤ target < ${kernel.rows.size} or ignore_index ${kernel.attrs.ignoreIndex}`;
    default:
      return "an index is out of range for the dim it indexes";
  }
};

/**
 * A WASM code generator. Its `arena` creates a fresh memory per session; `compile` builds one
 * module per plan and instantiates it (once) over whichever session memory runs it.
 */
export const createWasmGenerator = (options: WasmGeneratorOptions = {}): CodeGenerator => {
  const relaxedSimd = options.relaxedSimd ?? detectWasmFeatures().relaxedSimd;
  const shared = options.threads;
  const reserved = reservedBytes(shared === undefined ? 1 : 2);
  const threads: ThreadsContext | undefined = shared === undefined ? undefined : { scratch: RESERVED_BYTES, minFlops: shared.minFlops ?? DEFAULT_THREAD_MIN_FLOPS, minMapElements: shared.minMapElements ?? DEFAULT_THREAD_MIN_MAP_ELEMENTS };
  return {
    name: "wasm",
    arena: (elements) => wasmSessionArena(elements, shared === undefined ? {} : { memory: shared.memory, reserved }),
    compile: (plan: FunctionPlan) => {
      const graph = options.graphOf?.(plan.name);
      const kernels = plan.lowered.kernels;
      const arenaBytes = reserved + plan.memory.elements * 4;
      if (arenaBytes > MAX_BYTES)
        throw new GraftError([kernelDiagnostic(graph, kernels[0], `the arena needs ${arenaBytes} bytes, more than the 4 GiB a wasm32 memory can address`)]);
      let text: ReturnType<typeof moduleText>;
      try {
        text = moduleText(kernels, { offsets: plan.memory.offsets, buffers: plan.lowered.buffers, base: reserved, scratch: 0, scratchBytes: RESERVED_BYTES, relaxedSimd, fuseCrossEntropy: options.fuseCrossEntropy ?? true, pipelineCrossEntropy: options.pipelineCrossEntropy ?? true, threads });
      } catch (thrown) {
        if (thrown instanceof KernelCompileError) throw new GraftError([kernelDiagnostic(graph, kernels[thrown.kernel], thrown.message)]);
        throw thrown;
      }
      let module: WebAssembly.Module;
      try {
        module = new WebAssembly.Module(assembleWatSync(text.wat, { relaxedSimd, threads: shared !== undefined, fileName: `${plan.name}.wat` }));
      } catch (thrown) {
        throw new GraftError([error("backend", `wasm: internal code generation error in ${plan.name}: ${thrown instanceof Error ? thrown.message : String(thrown)}`)]);
      }
      const pool = shared?.pool;
      // the worker gets (and instantiates, on first use) only modules it has work in
      const id = pool !== undefined && text.tasks.length > 0 ? pool.register(module) : -1;
      if (id >= 0) shared?.splitFunctions?.add(plan.name);
      const runners = new WeakMap<WebAssembly.Memory, () => number>();
      return (F: Float32Array) => {
        const memory = memories.get(F.buffer);
        if (memory === undefined) throw new Error("the WASM back end runs over its own arena (createWasmGenerator().arena)");
        if (pool?.failure !== undefined) throw new GraftError([error("backend", `wasm threads: this session's helper worker failed (${pool.failure}); create a new session`)]);
        let run = runners.get(memory);
        if (run === undefined) {
          const env: Record<string, unknown> = { memory };
          if (shared !== undefined) {
            env["spawn"] = (task: number): number => (pool !== undefined && id >= 0 && pool.spawn(id, task) ? 1 : 0);
            env["join"] = (): void => pool?.join();
          }
          const instance = new WebAssembly.Instance(module, { env: env as WebAssembly.ModuleImports });
          run = instance.exports["run"] as () => number;
          runners.set(memory, run);
        }
        let status: number;
        try {
          status = run();
        } catch (thrown) {
          pool?.settle();
          throw thrown;
        }
        if (status !== 0) {
          const kernel = kernels[text.checked[status - 1] ?? -1];
          throw new GraftError([kernelDiagnostic(graph, kernel, refusal(kernel))]);
        }
      };
    },
  };
};

/** Where a kernel of a function comes from, for messages: its first node's op, id and the user's line. */
const describeKernel = (graph: Graph, plan: FunctionPlan, kernelIndex: number | undefined): { readonly what: string; readonly node: Node | undefined } => {
  const id = kernelIndex === undefined ? undefined : plan.lowered.kernels[kernelIndex]?.nodes[0];
  const node = id === undefined ? undefined : graph.nodes[id];
  return { what: node === undefined ? `kernel ${kernelIndex ?? "?"}` : `${node.op} (node %${node.id}${node.loc === undefined ? "" : `, ${formatLoc(node.loc)}`})`, node };
};

/**
 * A bundle's WASM artifact: one module over one memory for every specialisation of every function
 * (GEMM code and identical kernels emitted once), exporting `run0`, `run1`, … in order; the arena
 * starts at {@link RESERVED_BYTES}. Plain SIMD, no relaxed SIMD: bundles run on every engine with
 * SIMD. Needs `await loadWasmToolkit()` first.
 */
export const emitWasmArtifact = (functions: readonly EmitFunction[], options: { readonly relaxedSimd?: boolean } = {}): E.Either<Diagnostics, Artifact> => {
  const relaxedSimd = options.relaxedSimd ?? false;
  const images = functions.flatMap((fn) => fn.specialisations.map(({ batch, plan }) => ({ fn, batch, plan })));
  // a bundle's memory is one wasm32 memory: an arena past 4 GiB could never be loaded
  const tooBig = images.filter(({ plan }) => RESERVED_BYTES + plan.memory.elements * 4 > MAX_BYTES);
  if (tooBig.length > 0)
    return E.left(
      tooBig.map(({ fn, batch, plan }) => {
        const bytes = RESERVED_BYTES + plan.memory.elements * 4;
        return error(
          "memory",
          `wasm: ${fn.name}${batch === undefined ? "" : ` at batch=${batch}`} needs a memory of ${formatMemorySize(bytes)} (${bytes} bytes), more than the 4 GiB a wasm32 memory can address, whatever --max-memory says; use a smaller batch or dims, or --backend js`,
        );
      }),
    );
  const entries: ModuleEntry[] = images.map(({ plan }, index) => ({
    name: `run${index}`,
    kernels: plan.lowered.kernels,
    ctx: { offsets: plan.memory.offsets, buffers: plan.lowered.buffers, base: RESERVED_BYTES, scratch: 0, scratchBytes: RESERVED_BYTES, relaxedSimd },
  }));
  let text: ReturnType<typeof programModuleText>;
  try {
    text = programModuleText(entries);
  } catch (thrown) {
    const image = thrown instanceof KernelCompileError ? images[thrown.entry] : undefined;
    if (!(thrown instanceof KernelCompileError) || image === undefined) throw thrown;
    const { what, node } = describeKernel(image.fn.graph, image.plan, thrown.kernel);
    return E.left([error("backend", `wasm: ${image.fn.name}: ${what}: ${thrown.message}`, node?.loc)]);
  }
  const bytes = assembleWatSync(text.wat, { relaxedSimd, fileName: "bundle.wat" });
  let next = 0;
  const artifactEntries: Record<string, ArtifactEntry[]> = {};
  for (const fn of functions)
    artifactEntries[fn.name] = fn.specialisations.map(({ plan }) => {
      const index = next++;
      const checks = (text.checked[index] ?? []).map((kernel) => `${describeKernel(fn.graph, plan, kernel).what}: an index is out of range for the dim it indexes`);
      return { data: { export: `run${index}`, checks } };
    });
  return E.right({
    loader: "loadWasmArtifact",
    types: { artifact: "WasmArtifact", entry: "WasmEntry" },
    imports: [{ from: "@graft/runtime", names: ["loadWasmArtifact"], typeNames: ["WasmArtifact", "WasmEntry"] }],
    declarations: [],
    // gzip roughly halves the module (GEMM tiles and kernels repeat the same instruction patterns)
    value: { module: Buffer.from(gzipSync(bytes, { level: 9 })).toString("base64"), base: RESERVED_BYTES, encoding: "gzip" },
    entries: artifactEntries,
  });
};

/** A WASM code generator without graph lookups (diagnostics name kernels, not user lines). */
export const wasmGenerator: CodeGenerator = createWasmGenerator();

/** Static check: every node has a dtype the compiled back ends handle. */
const supports = (spec: ProgramSpec) => spec.functions.flatMap((fn) => checkCompilable(fn.graph));

/** The helper-worker pool of each two-thread session (tests reach the worker through it). */
const pools = new WeakMap<Session, WasmThreadPool>();

/** The helper-worker pool of a session made with `threads: 2`, if any (for tests and diagnostics). */
export const wasmThreadPoolOf = (session: Session): WasmThreadPool | undefined => pools.get(session);

/** Extra knobs of {@link createWasmSession} (benchmarks and tests); the defaults are what `wasmBackend` uses. */
export interface WasmSessionTuning {
  /** Smallest matmul (flops) split between threads (default `DEFAULT_THREAD_MIN_FLOPS`). */
  readonly minFlops?: number;
  /** Smallest elementwise kernel (elements) split between threads (default `DEFAULT_THREAD_MIN_MAP_ELEMENTS`). */
  readonly minMapElements?: number;
  /** Passed to the thread pool (wasm/threads.ts). */
  readonly spinMicros?: number;
  readonly workerSpinMicros?: number;
  readonly startTimeoutMs?: number;
  readonly taskTimeoutMs?: number;
}

/**
 * A WASM session; `options.threads` is 1 (default) or 2 (one helper worker over a shared memory,
 * Node only).
 * @throws GraftError for uncompilable ops, an unsupported thread count, or no thread support.
 */
export const createWasmSession = async (spec: ProgramSpec, options: SessionOptions = {}, tuning: WasmSessionTuning = {}): Promise<Session> => {
  const problems = supports(spec);
  if (problems.length > 0) throw new GraftError(problems);
  const threads: unknown = options.threads ?? 1;
  if (typeof threads !== "number")
    throw new GraftError([
      error("backend", `wasm: threads must be the number 1 or 2, got ${typeof threads === "string" ? `the string ${JSON.stringify(threads)}` : threads === null ? "null" : `a ${typeof threads}`}`),
    ]);
  if (!Number.isInteger(threads) || threads < 1 || threads > 2)
    throw new GraftError([error("backend", `wasm: threads = ${threads} is not supported; the WASM back end runs on 1 thread or 2 (the calling thread and one helper worker)`)]);
  await loadWasmToolkit();
  const graphOf = (name: string): Graph | undefined => spec.functions.find((fn) => fn.name === name)?.graph;
  if (threads === 1) return createCompiledSession(spec, createWasmGenerator({ graphOf }), options);
  if (!detectWasmFeatures().threads)
    throw new GraftError([error("backend", "wasm: threads = 2 needs shared WebAssembly memories and SharedArrayBuffer, which this engine does not provide; use threads: 1")]);
  const tooBig = checkStateMemory(programState(spec), { maxMemory: options.maxMemory }, paramLocations(spec.functions.map((fn) => fn.graph)));
  if (tooBig.length > 0) throw new GraftError(tooBig);
  const memory = sharedSessionMemory(programState(spec).elements);
  const pool = await createWasmThreadPool({
    memory,
    ...(tuning.spinMicros === undefined ? {} : { spinMicros: tuning.spinMicros }),
    ...(tuning.workerSpinMicros === undefined ? {} : { workerSpinMicros: tuning.workerSpinMicros }),
    ...(tuning.startTimeoutMs === undefined ? {} : { startTimeoutMs: tuning.startTimeoutMs }),
    ...(tuning.taskTimeoutMs === undefined ? {} : { taskTimeoutMs: tuning.taskTimeoutMs }),
  });
  const splitFunctions = new Set<string>();
  let session: Session;
  try {
    session = createCompiledSession(spec, createWasmGenerator({ graphOf, threads: { memory, pool, splitFunctions, ...(tuning.minFlops === undefined ? {} : { minFlops: tuning.minFlops }), ...(tuning.minMapElements === undefined ? {} : { minMapElements: tuning.minMapElements }) } }), options);
  } catch (thrown) {
    pool.dispose();
    throw thrown;
  }
  const threaded: Session = {
    backend: session.backend,
    run(name, feeds, runOptions) {
      // the worker wakes up while the feeds are validated and copied in, and polls for tasks until
      // the run ends; functions with nothing to split (so far) leave it asleep
      if (splitFunctions.has(name)) pool.wake();
      try {
        return session.run(name, feeds, runOptions);
      } finally {
        pool.idle();
      }
    },
    getState: () => session.getState(),
    setState: (values) => session.setState(values),
    dispose(): void {
      session.dispose();
      pool.dispose();
    },
  };
  pools.set(threaded, pool);
  return threaded;
};

/** The WASM back end. */
export const wasmBackend: Backend = {
  name: "wasm",
  createSession: (spec, options) => createWasmSession(spec, options),
  supports,
  emit: async (functions) => {
    await loadWasmToolkit();
    return emitWasmArtifact(functions);
  },
};
