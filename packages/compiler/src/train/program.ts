/**
 * @file Compiles a model and an optimizer into a program (see backend/types.ts) with three
 * functions over shared state (the params and the optimizer's state, by name):
 *
 * - `forward`: the model's outputs (no loss, so no labels needed);
 * - `evaluate`: the loss and the outputs, no state change;
 * - `trainStep`: the loss (before the update, like PyTorch's forward/backward/step loop) and the
 *   model's outputs, with the optimizer's updates of every param and of its own state.
 *
 * The `fuse` pass (when registered in the pipeline) runs first, so every function computes the
 * stable fused forms and `grad` differentiates those.
 */
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, error, graphFromTensors, tensorsOf, type Diagnostics, type Graph, type Model } from "@graft/core";
import type { ProgramFunction, ProgramSpec } from "../backend/types.js";
import { trainStep, type Optimizer } from "../optim/index.js";
import { grad } from "../passes/grad.js";
import { pipeline } from "../passes/index.js";

/** Options of `buildTrainingProgram`. */
export interface TrainingProgramOptions {
  /** Run the `fuse` pass (when it is registered in the pipeline) before differentiating; default true. */
  readonly fuse?: boolean;
  /** Params to train (default: every float param). */
  readonly wrt?: readonly string[];
  /** Clip the gradients by global norm (`clip_grad_norm_`); `trainStep` then outputs `grad_norm`. */
  readonly clipGradNorm?: number;
  /** Clamp the gradients to ±this value (`clip_grad_value_`). */
  readonly clipGradValue?: number;
}

/** The function computing the model's outputs. */
export const FORWARD = "forward";
/** The function computing the loss and the outputs, without updates. */
export const EVALUATE = "evaluate";
/** The function taking one optimizer step. */
export const TRAIN_STEP = "trainStep";

const fused = (graph: Graph, fuse: boolean): E.Either<Diagnostics, Graph> => {
  const pass = fuse ? pipeline.find((p) => p.name === "fuse") : undefined;
  return pass === undefined ? E.right(graph) : pass.run(graph);
};

/** The graph of the model's outputs only: the loss and whatever only it needs (labels) are left out. */
const forwardGraph = (graph: Graph): E.Either<Diagnostics, Graph> => {
  const tensors = tensorsOf(graph);
  const outputs = graph.outputs
    .filter((o) => !(o.name === "loss" && o.id === graph.loss))
    .flatMap((o) => {
      const tensor = tensors[o.id];
      return tensor === undefined ? [] : [{ name: o.name, tensor }];
    });
  return graphFromTensors(graph.name, outputs, undefined);
};

/**
 * Builds the `forward`, `evaluate` and `trainStep` functions of `model` trained with
 * `optimizer`. Left with the diagnostics of the model, of `grad` or of the optimizer.
 */
export const buildTrainingProgram = (model: Model | Graph, optimizer: Optimizer, options: TrainingProgramOptions = {}): E.Either<Diagnostics, ProgramSpec> => {
  const built = "nodes" in model ? E.right(model) : buildGraph(model);
  if (E.isLeft(built)) return built;
  if (built.right.loss === undefined)
    return E.left([error("train", `buildTrainingProgram: model ${built.right.name} has no loss; declare one with model({ outputs, loss })`)]);
  const graph = fused(built.right, options.fuse ?? true);
  if (E.isLeft(graph)) return graph;
  const step = E.chain((g: Graph) => trainStep(g, optimizer, {
      name: TRAIN_STEP,
      ...(options.clipGradNorm === undefined ? {} : { clipGradNorm: options.clipGradNorm }),
      ...(options.clipGradValue === undefined ? {} : { clipGradValue: options.clipGradValue }),
    }))(grad(graph.right, options.wrt === undefined ? {} : { wrt: options.wrt }));
  if (E.isLeft(step)) return step;
  const forward = forwardGraph(graph.right);
  if (E.isLeft(forward)) return forward;
  const functions: ProgramFunction[] = [
    { name: FORWARD, graph: forward.right, updates: [] },
    { name: EVALUATE, graph: graph.right, updates: [] },
    step.right,
  ];
  return E.right({ functions });
};
