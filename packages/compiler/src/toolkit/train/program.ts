/**
 * @file The training program of a model (see program/build.ts, which builds every program):
 * `forward`, `evaluate` and `trainStep` over shared state.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Graph, Diagnostics, Model } from "@graft/core";
import type { Optimizer } from "../../optim/index.js";
import { buildProgram } from "../../program/build.js";
import type { ProgramSpec } from "../../program/types.js";

export { EVALUATE, FORWARD, TRAIN_STEP } from "../../program/build.js";

/** Options of `buildTrainingProgram`. */
export interface TrainingProgramOptions {
  /** Run the `fuse` pass before differentiating; default true. */
  readonly fuse?: boolean;
  /** Params to train (default: every float param). */
  readonly wrt?: readonly string[];
  /** Clip the gradients by global norm (`clip_grad_norm_`); `trainStep` then outputs `grad_norm`. */
  readonly clipGradNorm?: number;
  /** Clamp the gradients to ±this value (`clip_grad_value_`). */
  readonly clipGradValue?: number;
}

/**
 * Builds the `forward`, `evaluate` and `trainStep` functions of `model` trained with
 * `optimizer`. Left with the diagnostics of the model, of a pass, of `grad` or of the optimizer.
 */
export const buildTrainingProgram = (model: Model | Graph, optimizer: Optimizer, options: TrainingProgramOptions = {}): E.Either<Diagnostics, ProgramSpec> =>
  E.map((program: { readonly spec: ProgramSpec }) => program.spec)(
    buildProgram(model, {
      optimizer,
      fuse: options.fuse,
      wrt: options.wrt,
      caller: "buildTrainingProgram",
      clipGradNorm: options.clipGradNorm,
      clipGradValue: options.clipGradValue,
    }),
  );
