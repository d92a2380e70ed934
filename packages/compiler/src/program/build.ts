/**
 * @file Builds the program of a model, the one way bundles, the trainer and `graft print`
 * compile a model: its graph is built once and run through the forward passes
 * (passes/index.ts `forwardPasses`: lint, fuse, decompose) with `runPipeline`; without an optimizer the
 * program is `forward`; with one it has three functions over shared state (the params and the
 * optimizer's state, by name):
 *
 * - `forward`: the model's outputs (no loss, so no labels needed);
 * - `evaluate`: the loss and the outputs, no state change;
 * - `trainStep`: the loss (before the update, like PyTorch's forward/backward/step loop) and the
 *   model's outputs, with the optimizer's updates of every param and of its own state.
 *
 * Every function computes the stable fused forms, and `grad` differentiates those.
 */
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, error, isFloat, graphFromTensors, graphParams, tensorsOf, type Diagnostics, type Graph, type Model } from "@graft/core";
import { trainStep, type Optimizer } from "../optim/index.js";
import { grad } from "../passes/grad.js";
import { decompose, type FusedComposites } from "../passes/decompose.js";
import { decomposePass, forwardPasses, lintPass, runPipeline } from "../passes/index.js";
import { specialiseMode } from "../passes/mode.js";
import type { ProgramFunction, ProgramSpec } from "./types.js";

/** The function computing the model's outputs. */
export const FORWARD = "forward";
/** The function computing the loss and the outputs, without updates. */
export const EVALUATE = "evaluate";
/** The function taking one optimizer step. */
export const TRAIN_STEP = "trainStep";

/** Options of {@link buildProgram}. */
export interface ProgramOptions {
  /** Adds `evaluate` and `trainStep` (the model must have a loss). */
  readonly optimizer?: Optimizer | undefined;
  /** Run the fuse pass (default true); false compiles the graph as written (after lint). */
  readonly fuse?: boolean | undefined;
  /** Params to train (default: every float param). */
  readonly wrt?: readonly string[] | undefined;
  /** Params the default `wrt` leaves out (e.g. a fitted standardisation's mean and std). */
  readonly frozen?: readonly string[] | undefined;
  /** Without an optimizer: add `evaluate` too (the model must have a loss). */
  readonly evaluate?: boolean | undefined;
  /** Who asks, for the message about a missing loss (default `buildProgram`). */
  readonly caller?: string | undefined;
  /** Clip the gradients by global norm (`clip_grad_norm_`); `trainStep` then outputs `grad_norm`. */
  readonly clipGradNorm?: number | undefined;
  /** Clamp the gradients to ±this value (`clip_grad_value_`). */
  readonly clipGradValue?: number | undefined;
  /** The composites the target computes itself (default: the JS/WASM lowering's); `decompose` expands the others. */
  readonly fused?: FusedComposites | undefined;
}

/** A built program and the graph its functions come from. */
export interface BuiltProgram {
  /** The model's graph after the forward passes (what `evaluate` computes). */
  readonly graph: Graph;
  readonly spec: ProgramSpec;
  /** The model's own params in declaration order (what `saveWeights()` writes by default). */
  readonly weights: readonly string[];
}

/** The model's outputs without its loss (what `forward` computes). */
export const forwardOutputs = (graph: Graph): Graph["outputs"] => graph.outputs.filter((output) => !(output.name === "loss" && output.id === graph.loss));

/** The graph of the model's outputs only: the loss and whatever only it needs (labels) are left out. */
const forwardGraph = (graph: Graph): E.Either<Diagnostics, Graph> => {
  const tensors = tensorsOf(graph);
  const outputs = forwardOutputs(graph).flatMap((o) => {
    const tensor = tensors[o.id];
    return tensor === undefined ? [] : [{ name: o.name, tensor }];
  });
  return graphFromTensors(graph.name, outputs, undefined);
};

/**
 * Builds the program of `model` (built once when it is a Model): `forward`, plus `evaluate` and
 * `trainStep` with an optimizer. Left with the diagnostics of the model, a pass, `grad` or the
 * optimizer.
 */
export const buildProgram = (model: Model | Graph, options: ProgramOptions = {}): E.Either<Diagnostics, BuiltProgram> => {
  const built = "nodes" in model ? E.right(model) : buildGraph(model);
  if (E.isLeft(built)) return built;
  const optimizer = options.optimizer;
  if (optimizer !== undefined && built.right.loss === undefined)
    return E.left([error("train", `${options.caller ?? "buildProgram"}: model ${built.right.name} has no loss; declare one with model({ outputs, loss })`)]);
  const fused = options.fused;
  const passes = fused === undefined ? forwardPasses : forwardPasses.map((pass) => (pass === decomposePass ? { ...pass, run: decompose(fused) } : pass));
  const passed = runPipeline(built.right, options.fuse === false ? [lintPass] : passes);
  if (E.isLeft(passed)) return passed;
  const written = passed.right.graph;
  // forward and evaluate have evaluation semantics, trainStep training semantics (passes/mode.ts)
  const evaluation = specialiseMode("eval")(written);
  if (E.isLeft(evaluation)) return evaluation;
  const graph = evaluation.right.graph;
  const weights = graphParams(built.right).map((node) => node.attrs.name);
  const forward = forwardGraph(graph);
  if (E.isLeft(forward)) return forward;
  const forwardFunction: ProgramFunction = { name: FORWARD, graph: forward.right, updates: [] };
  if (optimizer === undefined && options.evaluate === true && graph.loss === undefined)
    return E.left([error("train", `${options.caller ?? "buildProgram"}: model ${graph.name} has no loss, so it cannot have an evaluate function; declare one with model({ outputs, loss })`)]);
  if (optimizer === undefined) return E.right({ graph, spec: { functions: options.evaluate === true ? [forwardFunction, { name: EVALUATE, graph, updates: [] }] : [forwardFunction] }, weights });
  const training = specialiseMode("train")(written);
  if (E.isLeft(training)) return training;
  const stateParams = new Set(training.right.updates.map((u) => u.param));
  // state params (running statistics, random counters) change by their updates, not by the optimizer
  const frozen = new Set(options.frozen ?? []);
  const wrt =
    options.wrt ??
    (stateParams.size === 0 && frozen.size === 0
      ? undefined
      : graphParams(training.right.graph).filter((node) => isFloat(node.type.dtype) && !stateParams.has(node.attrs.name) && !frozen.has(node.attrs.name)).map((node) => node.attrs.name));
  const step = E.chain((g: Graph) => trainStep(g, optimizer, {
      name: TRAIN_STEP,
      ...(options.clipGradNorm === undefined ? {} : { clipGradNorm: options.clipGradNorm }),
      ...(options.clipGradValue === undefined ? {} : { clipGradValue: options.clipGradValue }),
    }))(grad(training.right.graph, wrt === undefined ? {} : { wrt }));
  if (E.isLeft(step)) return step;
  const stepFunction: ProgramFunction = { ...step.right, updates: [...step.right.updates, ...training.right.updates] };
  return E.right({ graph, spec: { functions: [forwardFunction, { name: EVALUATE, graph, updates: [] }, stepFunction] }, weights });
};
