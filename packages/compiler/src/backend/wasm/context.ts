/**
 * @file The WASM code generator's shared context: where every buffer lives in memory
 * (`CodegenContext`, `addrOf`), the two-thread split settings, and the error a kernel that cannot
 * be compiled throws.
 */
import { type BufferInfo, type Kernel } from "../kernels.js";

/** Where everything lives in memory, and what the engine supports. */
export interface CodegenContext {
  /** Element offset of every buffer (relative to the arena start). */
  readonly offsets: readonly number[];
  readonly buffers: readonly BufferInfo[];
  /** Byte address of arena element 0. */
  readonly base: number;
  /** Byte address and size of the GEMM packing scratch area. */
  readonly scratch: number;
  readonly scratchBytes: number;
  /** Use relaxed-SIMD FMA (engine support detected by the caller). */
  readonly relaxedSimd: boolean;
  /** Fuse cross_entropy with its backward when safe (default true; off to test the two kernels). */
  readonly fuseCrossEntropy?: boolean;
  /** Software-pipeline fused index-target cross-entropy rows (default true; off to test the plain fused form). */
  readonly pipelineCrossEntropy?: boolean;
  /** Split big matmuls with one helper worker over a shared memory (module header above); absent: one thread. */
  readonly threads?: ThreadsContext | undefined;
}

/** How a two-thread module splits its matmuls. */
export interface ThreadsContext {
  /** Byte address of the helper worker's GEMM packing scratch area (`scratchBytes` long, like the main one). */
  readonly scratch: number;
  /** Smallest matmul (2·batch·m·n·k flops) worth the synchronisation. */
  readonly minFlops: number;
  /** Smallest elementwise (map) kernel, in elements, split by its leading axis (e.g. Adam's update of a big weight). */
  readonly minMapElements: number;
}

/**
 * Default {@link ThreadsContext.minFlops}, measured on the MLP train step (2-core EPYC VM): a
 * hand-off to the worker costs ~1–2 µs while it polls (within a run) and 10–90 µs when it must be
 * woken, so splitting pays from ~0.3 MFLOP (~8 µs on one thread: 8 → 6 µs); a 0.5 MFLOP matmul
 * goes from 12 to 8 µs, a 0.04 MFLOP one from 1.4 to 2.4 µs.
 */
export const DEFAULT_THREAD_MIN_FLOPS = 5e5;

/** Default {@link ThreadsContext.minMapElements} (Adam's update of a 256×128 weight: 23 → ~13 µs). */
export const DEFAULT_THREAD_MIN_MAP_ELEMENTS = 1 << 15;

/** The largest wasm32 memory in 64 KiB pages (shared memories must declare a maximum). */
export const MAX_MEMORY_PAGES = 65536;

/** A kernel the generator cannot compile; `kernel` is its index in the schedule of entry point `entry` (0 in a one-entry module). */
export class KernelCompileError extends Error {
  constructor(
    message: string,
    readonly kernel: number,
    readonly entry = 0,
  ) {
    super(message);
    this.name = "KernelCompileError";
  }
}

/** One entry point of a module: a schedule of kernels over its own buffer layout, exported as `name`. */
export interface ModuleEntry {
  readonly name: string;
  readonly kernels: readonly Kernel[];
  readonly ctx: CodegenContext;
}

/** A module with several entry points: its text and, per entry, the kernels that return a status. */
export interface ProgramModuleText {
  readonly wat: string;
  /** Per entry (in order): status s > 0 of its export means kernel `checked[s − 1]` refused its input. */
  readonly checked: ReadonlyArray<readonly number[]>;
  /** Kernels split between the threads, by task number (empty with one thread). */
  readonly tasks: readonly number[];
}

/** The module text and, per status code s > 0, the kernel index s − 1 that can fail at run time. */
export interface ModuleText {
  readonly wat: string;
  /** Kernels that return a status (gather/scatter index checks). */
  readonly checked: readonly number[];
  /** Kernels split between the threads, by task number (empty with one thread). */
  readonly tasks: readonly number[];
}

/** Byte address of a buffer's element 0. */
export const addrOf = (ctx: CodegenContext, buffer: number | undefined): number => ctx.base + (buffer === undefined ? 0 : (ctx.offsets[buffer] ?? 0)) * 4;
