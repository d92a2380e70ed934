/**
 * @file Memory planning: one arena per program. Persistent state (params, optimizer state) sits
 * at fixed offsets at the start, shared by every function and specialisation; each function's
 * scratch buffers follow, placed by liveness so intermediates reuse memory.
 */
import type { Dtype } from "@graft/core";
import type { BufferId, Kernel } from "./kernels.js";
import { kernelReads, kernelWrites } from "./kernels.js";
import type { LoweredFunction } from "./lower.js";

/** The default limit of a program's arena: 4 GiB (`--max-memory`, `maxMemory`). */
export const DEFAULT_MAX_MEMORY_BYTES = 4 * 1024 ** 3;

/** Bytes per arena element. */
export const ELEMENT_BYTES = 4;

/** `4294967296` → `4 GiB`, `1536` → `1.5 KiB`: sizes in memory messages. */
export const formatMemorySize = (bytes: number): string => {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${Number(value.toPrecision(3))} ${units[unit] ?? ""}`;
};

/** Alignment of every buffer, in 4-byte elements (64 bytes: a cache line, SIMD friendly). */
export const ALIGN_ELEMENTS = 16;
const align = (elements: number): number => Math.ceil(elements / ALIGN_ELEMENTS) * ALIGN_ELEMENTS;

export interface StateSlot {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

export interface StateLayout {
  readonly slots: readonly StateSlot[];
  /** Elements used by state (the scratch region starts here). */
  readonly elements: number;
}

/** Lays out persistent state by name (sorted, so every function agrees). */
export const planState = (params: ReadonlyArray<{ readonly name: string; readonly dtype: Dtype; readonly shape: readonly number[] }>): StateLayout => {
  const unique = new Map(params.map((p) => [p.name, p]));
  let offset = 0;
  const slots = [...unique.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => {
      const size = p.shape.reduce((x, y) => x * y, 1);
      const slot = { name: p.name, dtype: p.dtype, shape: [...p.shape], offset, size };
      offset += align(size);
      return slot;
    });
  return { slots, elements: offset };
};

export interface MemoryPlan {
  /** Element offset of every buffer in the arena. */
  readonly offsets: readonly number[];
  /** Total arena elements this function needs (state + scratch). */
  readonly elements: number;
  /** Scratch elements if nothing were reused (for the memory report). */
  readonly unsharedElements: number;
}

/** Assigns offsets: state from the state layout, everything else by liveness (greedy best fit, largest first). */
export const planMemory = (lowered: LoweredFunction, stateLayout: StateLayout): MemoryPlan => {
  const { buffers, kernels } = lowered;
  const end = kernels.length;
  const first = new Array<number>(buffers.length).fill(Number.POSITIVE_INFINITY);
  const last = new Array<number>(buffers.length).fill(-1);
  const touch = (id: BufferId, at: number): void => {
    first[id] = Math.min(first[id] as number, at);
    last[id] = Math.max(last[id] as number, at);
  };
  kernels.forEach((kernel: Kernel, index) => {
    for (const id of kernelReads(kernel)) touch(id, index);
    for (const id of kernelWrites(kernel)) touch(id, index);
  });
  for (const buffer of buffers) {
    if (buffer.kind === "input" || buffer.kind === "const") touch(buffer.id, -1);
    if (buffer.kind === "output" || buffer.kind === "const") touch(buffer.id, end);
  }
  for (const output of lowered.outputs) touch(output.buffer, end);
  for (const input of lowered.inputs) touch(input.buffer, -1);

  const offsets = new Array<number>(buffers.length).fill(0);
  const placed: Array<{ offset: number; size: number; from: number; to: number }> = [];
  let top = stateLayout.elements;
  let unshared = 0;
  const order = buffers.filter((b) => b.kind !== "state").sort((a, b) => b.size - a.size || a.id - b.id);
  for (const buffer of order) {
    const size = align(Math.max(buffer.size, 1));
    unshared += size;
    const from = first[buffer.id] as number;
    const to = last[buffer.id] as number;
    const conflicts = placed.filter((p) => !(p.to < from || to < p.from)).sort((a, b) => a.offset - b.offset);
    let offset = stateLayout.elements;
    for (const p of conflicts) {
      if (offset + size <= p.offset) break;
      offset = Math.max(offset, p.offset + p.size);
    }
    placed.push({ offset, size, from, to });
    offsets[buffer.id] = offset;
    top = Math.max(top, offset + size);
  }
  for (const buffer of buffers) {
    if (buffer.kind !== "state" || buffer.name === undefined) continue;
    const slot = stateLayout.slots.find((s) => s.name === buffer.name);
    offsets[buffer.id] = slot?.offset ?? 0;
  }
  return { offsets, elements: top, unsharedElements: unshared };
};
