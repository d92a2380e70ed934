/**
 * @file The program a bundle runs: the model's functions over its persistent state, built by
 * `buildProgram` (program/build.ts) from one build of the model's graph.
 *
 * - Without an optimizer: one function, `forward` (the model's outputs, without the loss, so it
 *   only needs the model's non-label inputs).
 * - With an optimizer spec (`--train adam:lr=1e-3`): `forward`, `trainStep` (loss → gradients →
 *   optimizer update, state updates applied after each call) and `evaluate` (outputs and loss,
 *   no update).
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { buildGraph, error, graphParams, type Diagnostics, type Dtype, type Init, type Model } from "@graft/core";
import { formatOptimizer, parseOptimizer, type Optimizer } from "../optim/index.js";
import { buildProgram, forwardOutputs } from "../program/build.js";
import type { ProgramSpec } from "../program/types.js";

/** A program ready to be specialised into a bundle. */
export interface BundleProgram {
  readonly name: string;
  readonly spec: ProgramSpec;
  /** The optimizer, as a full spec string (`adam:lr=0.001,…`), when the bundle trains. */
  readonly optimizer: string | undefined;
  /** The model's own params (what `saveWeights()` writes by default), in declaration order. */
  readonly weights: readonly string[];
  /**
   * Every model param with its type. The bundle's state holds them all, also those no function
   * reads (a forward-only bundle of a BatchNorm model does not read `num_batches_tracked`), so
   * `saveWeights`/`loadWeights` carry the whole state dict that PyTorch's `load_state_dict` expects.
   */
  readonly weightSlots: readonly { readonly name: string; readonly dtype: Dtype; readonly shape: readonly number[]; readonly init: Init }[];
}

/** Options for {@link bundleProgram}. */
export interface BundleProgramOptions {
  /** Optimizer spec (`sgd:lr=0.1,momentum=0.9`, `adam:lr=1e-3`); omitted: forward only. */
  readonly train?: string | undefined;
  /** Without `train`: add `evaluate` (outputs and loss) beside `forward`. */
  readonly evaluate?: boolean | undefined;
  /** With `train`: params `trainStep` leaves as they are (e.g. a fitted standardisation). */
  readonly frozen?: readonly string[] | undefined;
  /** With `train`: clip the gradients by global norm / by value, as `graft train --clip-grad-norm / --clip-grad-value`. */
  readonly clipGradNorm?: number | undefined;
  readonly clipGradValue?: number | undefined;
}

/**
 * Builds the program of a bundle from a user's model: `forward`, plus `trainStep` and
 * `evaluate` when `options.train` names an optimizer.
 */
export const bundleProgram = (model: Model, options: BundleProgramOptions = {}): E.Either<Diagnostics, BundleProgram> => {
  const train = options.train;
  const optimizer: E.Either<Diagnostics, Optimizer | undefined> = train === undefined ? E.right(undefined) : parseOptimizer(train);
  const built = buildGraph(model);
  if (E.isLeft(built)) return built;
  const weightSlots = graphParams(built.right).map((node) => ({ name: node.attrs.name, dtype: node.type.dtype, shape: node.type.shape.filter((dim): dim is number => typeof dim === "number"), init: node.attrs.init }));
  return pipe(
    optimizer,
    E.chain((parsed) =>
      pipe(
        buildProgram(built.right, {
          optimizer: parsed,
          caller: "buildTrainingProgram",
          evaluate: options.evaluate,
          frozen: options.frozen,
          clipGradNorm: options.clipGradNorm,
          clipGradValue: options.clipGradValue,
        }),
        E.chain((program): E.Either<Diagnostics, BundleProgram> => {
          if (parsed === undefined && forwardOutputs(program.graph).length === 0)
            return E.left([error("bundle", `model ${program.graph.name} has no outputs besides its loss; declare what forward returns, e.g. model({ outputs: { logits }, loss })`)]);
          return E.right({ name: program.graph.name, spec: program.spec, optimizer: parsed === undefined ? undefined : formatOptimizer(parsed), weights: program.weights, weightSlots });
        }),
      ),
    ),
  );
};
