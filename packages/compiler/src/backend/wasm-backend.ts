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
 */
import { error, GraftError, type Diagnostic, type Graph, type Node } from "@graft/core";
import type { Arena } from "@graft/runtime";
import type wabtFactory from "wabt";
import type { Kernel } from "./kernels.js";
import { checkCompilable } from "./lower.js";
import { createCompiledSession, type CodeGenerator, type FunctionPlan } from "./program.js";
import type { Backend, ProgramSpec } from "./types.js";
import { KernelCompileError, moduleText } from "./wasm/codegen.js";
import { detectWasmFeatures } from "./wasm/features.js";

/** Bytes at the start of memory reserved for GEMM packing (the arena starts after them). */
export const RESERVED_BYTES = 1 << 20;
const PAGE = 65536;
/** wasm32 memories end at 4 GiB. */
const MAX_BYTES = 2 ** 32;

type Wabt = Awaited<ReturnType<typeof wabtFactory>>;
type WabtModule = ReturnType<Wabt["parseWat"]>;
type WabtFeatures = NonNullable<Parameters<Wabt["parseWat"]>[2]>;

let toolkit: Wabt | undefined;
let loading: Promise<Wabt> | undefined;

/** Loads wabt once per process; code generation is synchronous afterwards. */
export const loadWasmToolkit = async (): Promise<void> => {
  if (toolkit !== undefined) return;
  loading ??= import("wabt").then((module) => module.default());
  try {
    toolkit = await loading;
  } catch (thrown) {
    loading = undefined;
    throw thrown;
  }
};

/** Assembles and validates WAT synchronously (wabt must be loaded). */
export const assembleWatSync = (text: string, relaxedSimd: boolean): Uint8Array<ArrayBuffer> => {
  if (toolkit === undefined) throw new Error("the WASM back end needs `await loadWasmToolkit()` before compiling");
  const features: WabtFeatures = { simd: true, relaxed_simd: relaxedSimd, bulk_memory: true, multi_value: true, sat_float_to_int: true, sign_extension: true };
  let module: WabtModule;
  try {
    module = toolkit.parseWat("graft.wat", text, features);
  } catch (thrown) {
    throw new Error(`WAT parse failed: ${describe(thrown, text)}`, { cause: thrown });
  }
  try {
    module.resolveNames();
    const validate = module.validate as (this: WabtModule, features?: WabtFeatures) => void;
    try {
      validate.call(module, features);
    } catch (thrown) {
      throw new Error(`WAT validation failed: ${describe(thrown, text)}`, { cause: thrown });
    }
    return Uint8Array.from(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
};

/** wabt's message with the offending lines of the text. */
const describe = (thrown: unknown, text: string): string => {
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  const lines = text.split("\n");
  const excerpts = [...message.matchAll(/:(\d+):\d+: error/g)].slice(0, 3).map((match) => {
    const at = Number(match[1]);
    return lines.slice(Math.max(0, at - 3), at + 1).map((line, k) => `${Math.max(1, at - 2) + k}: ${line}`).join("\n");
  });
  return [message.trim(), ...excerpts].join("\n");
};

// ----- the arena over a WebAssembly.Memory ----------------------------------------------------------

/** Memory of each arena buffer, so compiled runners find the memory behind the views they get. */
const memories = new WeakMap<ArrayBufferLike, WebAssembly.Memory>();

/** An arena over a fresh WebAssembly.Memory, starting after the reserved scratch bytes. */
export const wasmSessionArena = (elements: number): Arena & { readonly memory: WebAssembly.Memory } => {
  const bytesFor = (count: number): number => RESERVED_BYTES + Math.max(count, 16) * 4;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytesFor(elements) / PAGE) });
  let f32 = new Float32Array(memory.buffer, RESERVED_BYTES);
  let i32 = new Int32Array(memory.buffer, RESERVED_BYTES);
  memories.set(memory.buffer, memory);
  const refresh = (): void => {
    if (f32.buffer !== memory.buffer) {
      f32 = new Float32Array(memory.buffer, RESERVED_BYTES);
      i32 = new Int32Array(memory.buffer, RESERVED_BYTES);
      memories.set(memory.buffer, memory);
    }
  };
  return {
    memory,
    ensure(count: number): void {
      const bytes = bytesFor(count);
      if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
      refresh();
    },
    get f32() {
      refresh();
      return f32;
    },
    get i32() {
      refresh();
      return i32;
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
  return {
    name: "wasm",
    arena: (elements) => wasmSessionArena(elements),
    compile: (plan: FunctionPlan) => {
      const graph = options.graphOf?.(plan.name);
      const kernels = plan.lowered.kernels;
      const arenaBytes = RESERVED_BYTES + plan.memory.elements * 4;
      if (arenaBytes > MAX_BYTES)
        throw new GraftError([kernelDiagnostic(graph, kernels[0], `the arena needs ${arenaBytes} bytes, more than the 4 GiB a wasm32 memory can address`)]);
      let text: ReturnType<typeof moduleText>;
      try {
        text = moduleText(kernels, { offsets: plan.memory.offsets, buffers: plan.lowered.buffers, base: RESERVED_BYTES, scratch: 0, scratchBytes: RESERVED_BYTES, relaxedSimd, fuseCrossEntropy: options.fuseCrossEntropy ?? true, pipelineCrossEntropy: options.pipelineCrossEntropy ?? true });
      } catch (thrown) {
        if (thrown instanceof KernelCompileError) throw new GraftError([kernelDiagnostic(graph, kernels[thrown.kernel], thrown.message)]);
        throw thrown;
      }
      let module: WebAssembly.Module;
      try {
        module = new WebAssembly.Module(assembleWatSync(text.wat, relaxedSimd));
      } catch (thrown) {
        throw new GraftError([error("backend", `wasm: internal code generation error in ${plan.name}: ${thrown instanceof Error ? thrown.message : String(thrown)}`)]);
      }
      const runners = new WeakMap<WebAssembly.Memory, () => number>();
      return (F: Float32Array) => {
        const memory = memories.get(F.buffer);
        if (memory === undefined) throw new Error("the WASM back end runs over its own arena (createWasmGenerator().arena)");
        let run = runners.get(memory);
        if (run === undefined) {
          const instance = new WebAssembly.Instance(module, { env: { memory } });
          run = instance.exports["run"] as () => number;
          runners.set(memory, run);
        }
        const status = run();
        if (status !== 0) {
          const kernel = kernels[text.checked[status - 1] ?? -1];
          throw new GraftError([kernelDiagnostic(graph, kernel, refusal(kernel))]);
        }
      };
    },
  };
};

/**
 * The WASM module of one plan, as `compile` builds it, for standalone bundles: its bytes (imports
 * `env.memory`, exports `run`, arena at {@link RESERVED_BYTES}) and, for each status s > 0 `run`
 * can return, the index `checked[s - 1]` of the kernel whose index check failed. Synchronous;
 * needs `await loadWasmToolkit()` first. Relaxed SIMD is off unless asked for, so the module runs
 * on every engine with plain SIMD.
 * @throws KernelCompileError for a kernel the generator cannot compile
 */
export const emitWasmModule = (plan: FunctionPlan, options: { readonly relaxedSimd?: boolean } = {}): { readonly bytes: Uint8Array<ArrayBuffer>; readonly checked: readonly number[] } => {
  const relaxedSimd = options.relaxedSimd ?? false;
  const text = moduleText(plan.lowered.kernels, { offsets: plan.memory.offsets, buffers: plan.lowered.buffers, base: RESERVED_BYTES, scratch: 0, scratchBytes: RESERVED_BYTES, relaxedSimd });
  return { bytes: assembleWatSync(text.wat, relaxedSimd), checked: text.checked };
};

/** A WASM code generator without graph lookups (diagnostics name kernels, not user lines). */
export const wasmGenerator: CodeGenerator = createWasmGenerator();

/** Static check: every node has a dtype the compiled back ends handle. */
const supports = (spec: ProgramSpec) => spec.functions.flatMap((fn) => checkCompilable(fn.graph));

/** The WASM back end. */
export const wasmBackend: Backend = {
  name: "wasm",
  createSession: async (spec, options) => {
    const problems = supports(spec);
    if (problems.length > 0) throw new GraftError(problems);
    if (options?.threads !== undefined && options.threads > 1)
      throw new GraftError([error("backend", `wasm: threads = ${options.threads} is not implemented yet; the WASM back end runs on one thread (use threads: 1)`)]);
    await loadWasmToolkit();
    const generator = createWasmGenerator({ graphOf: (name) => spec.functions.find((fn) => fn.name === name)?.graph });
    return createCompiledSession(spec, generator, options);
  },
  supports,
};
