/**
 * @file What graft compiles: a program is a set of pure functions (graphs) over shared persistent
 * state. Every `param` leaf is a persistent buffer, identified by name across functions; after a
 * call, each state update copies a function output into its param. A training step is therefore
 * one pure graph: (feeds, params, optimizer state) → (loss, new params, new state). Programs are
 * built by program/build.ts and compiled by a back end (backend/types.ts).
 */
import type { Graph } from "@graft/core";
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
   * each call (see `HyperScalar`), from the learning rate (initially `lr`), the optimizer's other
   * run-time options (initially their compiled values, held by the formulas) and the step number
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
