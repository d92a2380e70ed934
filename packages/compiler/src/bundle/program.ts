/**
 * @file The program a bundle runs: the model's functions over its persistent state.
 *
 * - Without an optimizer: one function, `forward` (the model's outputs, without the loss, so it
 *   only needs the model's non-label inputs).
 * - With an optimizer spec (`--train adam:lr=1e-3`): `forward`, `trainStep` (loss → gradients →
 *   optimizer update, state updates applied after each call) and `evaluate` (outputs and loss,
 *   no update).
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { buildGraph, error, graphFromTensors, graphParams, tensorsOf, type Diagnostics, type Graph, type Model } from "@graft/core";
import type { ProgramSpec } from "../backend/types.js";
import { formatOptimizer, parseOptimizer } from "../optim/index.js";
import { pipeline } from "../passes/index.js";
import { buildTrainingProgram, FORWARD } from "../train/program.js";

/** A program ready to be specialised into a bundle. */
export interface BundleProgram {
  readonly name: string;
  readonly spec: ProgramSpec;
  /** The optimizer, as a full spec string (`adam:lr=0.001,…`), when the bundle trains. */
  readonly optimizer: string | undefined;
  /** The model's own params (what `saveWeights()` writes by default), in declaration order. */
  readonly weights: readonly string[];
}

/** Options for {@link bundleProgram}. */
export interface BundleProgramOptions {
  /** Optimizer spec (`sgd:lr=0.1,momentum=0.9`, `adam:lr=1e-3`); omitted: forward only. */
  readonly train?: string | undefined;
}

/** The `fuse` pass when registered, as the training program runs it. */
const fused = (graph: Graph): E.Either<Diagnostics, Graph> => pipeline.find((pass) => pass.name === "fuse")?.run(graph) ?? E.right(graph);

/** The graph of the model's outputs without its loss (what `forward` computes). */
const forwardGraph = (graph: Graph): E.Either<Diagnostics, Graph> => {
  const outputs = graph.outputs.filter((output) => output.id !== graph.loss || output.name !== "loss");
  if (outputs.length === 0)
    return E.left([error("bundle", `model ${graph.name} has no outputs besides its loss; declare what forward returns, e.g. model({ outputs: { logits }, loss })`)]);
  const tensors = tensorsOf(graph);
  const named = outputs.flatMap((output) => {
    const tensor = tensors[output.id];
    return tensor === undefined ? [] : [{ name: output.name, tensor }];
  });
  return graphFromTensors(graph.name, named, undefined);
};

/**
 * Builds the program of a bundle from a user's model: `forward`, plus `trainStep` and
 * `evaluate` (see `buildTrainingProgram`) when `options.train` names an optimizer.
 */
export const bundleProgram = (model: Model, options: BundleProgramOptions = {}): E.Either<Diagnostics, BundleProgram> =>
  pipe(
    buildGraph(model),
    E.chain((graph) => {
      const weights = graphParams(graph).map((node) => node.attrs.name);
      const train = options.train;
      if (train === undefined)
        return pipe(
          fused(graph),
          E.chain(forwardGraph),
          E.map((forward): BundleProgram => ({ name: graph.name, spec: { functions: [{ name: FORWARD, graph: forward, updates: [] }] }, optimizer: undefined, weights })),
        );
      return pipe(
        parseOptimizer(train),
        E.chain((optimizer) =>
          pipe(
            buildTrainingProgram(model, optimizer),
            E.map((spec): BundleProgram => ({ name: graph.name, spec, optimizer: formatOptimizer(optimizer), weights })),
          ),
        ),
      );
    }),
  );
