// The runtime core: one arena (state at fixed offsets, then scratch), feeds copied in after full
// validation, a static schedule of kernels, outputs copied out, state updates applied last.
// Imports only sibling runtime files (inlined into bundles).
import { FeedError, toFeedArray, validateLabels, type FeedArray, type FeedDtype } from "./feeds.js";

/** Arena dtypes: f32 lives in the Float32Array view, i32 and bool in the Int32Array view. */
export type ArenaDtype = "f32" | "i32" | "bool";

export interface Slot {
  readonly name: string;
  readonly dtype: ArenaDtype;
  readonly shape: readonly number[];
  /** Element offset in the arena. */
  readonly offset: number;
}

/** One compiled function at concrete shapes. */
export interface FunctionImage {
  readonly name: string;
  readonly inputs: readonly Slot[];
  readonly outputs: readonly Slot[];
  readonly consts: ReadonlyArray<{ readonly offset: number; readonly dtype: ArenaDtype; readonly values: readonly number[] }>;
  readonly labels: ReadonlyArray<{ readonly input: string; readonly numClasses: number; readonly ignoreIndex?: number | undefined; readonly noun?: "label" | "index" }>;
  /** After the kernels: copy `size` elements from `from` to `to` (state updates). */
  readonly updates: ReadonlyArray<{ readonly from: number; readonly to: number; readonly size: number }>;
  /** Arena elements this function needs. */
  readonly elements: number;
  /** Runs every kernel in order. */
  readonly run: (F: Float32Array, I: Int32Array) => void;
}

/** Where the arena lives: a growable ArrayBuffer (JS) or a WebAssembly.Memory. */
export interface Arena {
  /** Makes room for `elements` 4-byte elements, keeping the contents. */
  ensure(elements: number): void;
  readonly f32: Float32Array;
  readonly i32: Int32Array;
}

/** `1536` → `1.5 KiB` (the compiler's `formatMemorySize`, which the runtime cannot import). */
function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${Number(value.toPrecision(3))} ${units[unit]}`;
}

/** A WebAssembly (32-bit) memory holds at most 65536 pages of 64 KiB: 4 GiB. */
export const WASM_MAX_PAGES = 65536;

/**
 * Allocates an arena's memory (`bytes` in all) with `allocate`; the engine's bare RangeError
 * ("Array buffer allocation failed", a WASM memory past 4 GiB) becomes one naming the bytes and
 * what to do. Nothing else is caught.
 */
export function allocateArena<T>(bytes: number, allocate: () => T, wasm = false): T {
  let why: string;
  if (wasm && bytes > WASM_MAX_PAGES * 65536) why = "a WebAssembly memory holds at most 4 GiB";
  else
    try {
      return allocate();
    } catch (cause) {
      if (!(cause instanceof RangeError)) throw cause;
      why = cause.message;
    }
  throw new RangeError(
    `could not allocate the model's memory arena of ${formatBytes(bytes)} (${bytes} bytes): ${why}. Its plans fit the --max-memory limit it was compiled with, but this machine or engine cannot provide that much: use a smaller batch or smaller dims, or compile it with a --max-memory this machine can allocate`,
  );
}

/** An arena over a plain ArrayBuffer, grown by copying. */
export function bufferArena(initialElements: number): Arena {
  const initialBytes = Math.max(initialElements, 16) * 4;
  let buffer = allocateArena(initialBytes, () => new ArrayBuffer(initialBytes));
  let f32 = new Float32Array(buffer);
  let i32 = new Int32Array(buffer);
  return {
    ensure(elements: number): void {
      if (elements * 4 <= buffer.byteLength) return;
      const bytes = Math.max(elements * 4, buffer.byteLength * 2);
      // doubling is a convenience: when it cannot be had, exactly what is needed may still be
      const bigger = allocateArena(elements * 4, () => {
        try {
          return new ArrayBuffer(bytes);
        } catch {
          return new ArrayBuffer(elements * 4);
        }
      });
      new Uint8Array(bigger).set(new Uint8Array(buffer));
      buffer = bigger;
      f32 = new Float32Array(buffer);
      i32 = new Int32Array(buffer);
    },
    get f32() {
      return f32;
    },
    get i32() {
      return i32;
    },
  };
}

/**
 * An arena over a WebAssembly.Memory (64 KiB pages) whose element 0 is at byte `baseBytes`
 * (the bytes below it are the module's own scratch), grown with memory.grow.
 */
export function wasmArena(memory: WebAssembly.Memory, baseBytes = 0): Arena {
  let f32 = new Float32Array(memory.buffer, baseBytes);
  let i32 = new Int32Array(memory.buffer, baseBytes);
  const refresh = (): void => {
    if (f32.buffer !== memory.buffer) {
      f32 = new Float32Array(memory.buffer, baseBytes);
      i32 = new Int32Array(memory.buffer, baseBytes);
    }
  };
  return {
    ensure(elements: number): void {
      const bytes = baseBytes + elements * 4;
      if (bytes > memory.buffer.byteLength) allocateArena(bytes, () => memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536)), true);
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
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function hostArray(dtype: ArenaDtype, arena: Arena, offset: number, size: number): FeedArray {
  if (dtype === "f32") return arena.f32.slice(offset, offset + size);
  if (dtype === "i32") return arena.i32.slice(offset, offset + size);
  return Uint8Array.from(arena.i32.subarray(offset, offset + size), (v) => (v !== 0 ? 1 : 0));
}

/**
 * Runs `fn` on `feeds`. Every feed and label is validated before anything is written, so bad
 * input throws a FeedError and leaves the arena and state unchanged.
 * @param fetch the outputs to copy out (default all); the others stay in the arena.
 * @returns the fetched outputs (copies), state updates applied.
 */
export function runFunction(
  arena: Arena,
  fn: FunctionImage,
  feeds: Readonly<Record<string, unknown>>,
  previous: { last: FunctionImage | undefined },
  fetch?: readonly string[],
): Record<string, FeedArray> {
  if (fetch !== undefined)
    for (const name of fetch)
      if (!fn.outputs.some((slot) => slot.name === name)) throw new FeedError(name, `unknown output ${name}; ${fn.name} returns ${fn.outputs.map((slot) => slot.name).join(", ")}`);
  const known = new Set(fn.inputs.map((slot) => slot.name));
  for (const name of Object.keys(feeds))
    if (!known.has(name)) throw new FeedError(name, `unknown input ${name}; ${fn.name} takes ${[...known].join(", ") || "no inputs"}`);
  const arrays = fn.inputs.map((slot) => toFeedArray(slot.name, { shape: slot.shape, dtype: slot.dtype as FeedDtype }, feeds[slot.name]));
  for (const label of fn.labels) {
    const index = fn.inputs.findIndex((slot) => slot.name === label.input);
    const array = arrays[index];
    if (array instanceof Int32Array) validateLabels(label.input, array, label.numClasses, label.ignoreIndex, label.noun);
  }
  arena.ensure(fn.elements);
  const F = arena.f32;
  const I = arena.i32;
  if (previous.last !== fn) {
    for (const c of fn.consts) (c.dtype === "f32" ? F : I).set(c.values, c.offset);
    previous.last = fn;
  }
  fn.inputs.forEach((slot, index) => {
    const array = arrays[index] as FeedArray;
    if (slot.dtype === "f32") F.set(array as Float32Array, slot.offset);
    else I.set(array as Int32Array | Uint8Array, slot.offset);
  });
  fn.run(F, I);
  const result: Record<string, FeedArray> = {};
  for (const slot of fn.outputs)
    if (fetch === undefined || fetch.includes(slot.name)) result[slot.name] = hostArray(slot.dtype, arena, slot.offset, sizeOf(slot.shape));
  for (const update of fn.updates) I.copyWithin(update.to, update.from, update.from + update.size);
  return result;
}

/** Reads a state slot (a copy). */
export function readSlot(arena: Arena, slot: Slot): FeedArray {
  return hostArray(slot.dtype, arena, slot.offset, sizeOf(slot.shape));
}

/** Writes a state slot from a validated array. */
export function writeSlot(arena: Arena, slot: Slot, data: FeedArray): void {
  if (slot.dtype === "f32") arena.f32.set(data as Float32Array, slot.offset);
  else arena.i32.set(data as Int32Array | Uint8Array, slot.offset);
}
