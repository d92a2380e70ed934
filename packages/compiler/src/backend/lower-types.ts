/**
 * @file The types of lowering's result (a function as kernels over buffers, its I/O) and of the
 * views and label checks it keeps while lowering (lower.ts).
 */
import type { Node } from "@graft/core";
import type { BufferId, BufferInfo, Kernel } from "./kernels.js";

export interface LoweredIo {
  readonly name: string;
  readonly buffer: BufferId;
  readonly shape: readonly number[];
  readonly dtype: Node["type"]["dtype"];
}

/** A function lowered to kernels: buffers (state by name), the schedule, and its I/O. */
export interface LoweredFunction {
  readonly buffers: readonly BufferInfo[];
  readonly kernels: readonly Kernel[];
  readonly inputs: readonly LoweredIo[];
  readonly outputs: readonly LoweredIo[];
  /** Param name → buffer. */
  readonly state: ReadonlyMap<string, BufferId>;
  /** Label inputs and the class count they index (validated before each run). */
  readonly labels: ReadonlyArray<{ readonly input: string; readonly numClasses: number; readonly ignoreIndex: number | undefined; readonly noun?: "label" | "index" }>;
}

export interface NodeView {
  readonly buffer: BufferId;
  readonly offset: number;
  /** One stride per dim of the node's shape. */
  readonly strides: readonly number[];
}

/** A label input the run checks before any kernel (`%id` when the target is not an input). */
export interface LabelCheck {
  readonly input: string;
  readonly numClasses: number;
  readonly ignoreIndex: number | undefined;
  /** "index": row indices of an embedding (the message speaks of indices). */
  readonly noun?: "label" | "index";
}
