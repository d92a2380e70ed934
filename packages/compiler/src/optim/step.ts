/**
 * @file The machinery shared by every optimizer: turns a graph with `grad:<param>` outputs into
 * one pure training-step function. Each optimizer only says how one param and its state change;
 * the state (momentum buffers, moments, the step counter) is explicit `param` leaves initialised
 * to zeros, and the step's updates copy the new values back into them.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  add,
  cast,
  constantInit,
  div,
  error,
  maximum,
  minimum,
  mul,
  sqrt,
  sum,
  graphFromTensors,
  formatShape,
  graphParams,
  isStaticShape,
  param,
  scalar,
  tensorsOf,
  withSourceLoc,
  zeros,
  type Diagnostic,
  type Diagnostics,
  type Dtype,
  type Graph,
  type Init,
  type Tensor,
} from "@graft/core";
import { dependsOnStep, hyperValue, type HyperFormula, type HyperScalar } from "@graft/runtime";
import type { HyperSchedule, ProgramFunction, StateUpdate } from "../program/types.js";
import { GRAD_PREFIX, gradientNames } from "../passes/grad.js";

/** What an optimizer sees for one param. */
export interface ParamUpdateContext {
  readonly name: string;
  readonly param: Tensor;
  readonly grad: Tensor;
  /**
   * A persistent state buffer of the param's shape and dtype, zeros before the first step,
   * stored as the param `<prefix>.<slot>.<name>`.
   */
  readonly slot: (slot: string) => Tensor;
  /** The number of steps taken before this one (0 on the first step), as a scalar of the param's dtype. */
  readonly step: Tensor;
  /**
   * A run-time hyper scalar (a state param `<prefix>.<name>`, of the param's dtype): the caller
   * writes its value — `formula` of the current learning rate and step number, computed in
   * float64 — before each step, so changing the lr never recompiles and step-dependent scalars
   * are rounded once, as PyTorch's Python floats are.
   */
  readonly hyper: (name: string, formula: HyperFormula) => Tensor;
}

/** The new value of a param and of each slot it read. */
export interface ParamUpdate {
  readonly param: Tensor;
  readonly slots: Readonly<Record<string, Tensor>>;
}

/** An optimizer's update rule, applied param by param. */
export interface OptimizerRule {
  /** Prefix of its state params, e.g. `adam` → `adam.m.fc1.weight`, `adam.step`. */
  readonly prefix: string;
  /** Checks the hyper-parameters; an empty list when they are valid. */
  readonly validate: () => Diagnostics;
  readonly update: (context: ParamUpdateContext) => ParamUpdate;
  /** The initial learning rate of the rule's hyper scalars (default 0). */
  readonly lr?: number;
  /** Initial values of slots that do not start at zero (e.g. Adagrad's initial_accumulator_value). */
  readonly slotInit?: (slot: string) => Init | undefined;
}

/** True when one of `roots` depends on the param leaf `name`. */
const readsParam = (roots: readonly Tensor[], name: string): boolean => {
  const seen = new Set<Tensor>();
  const stack = [...roots];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (seen.has(top)) continue;
    seen.add(top);
    if (top.call.op === "param" && top.call.attrs.name === name) return true;
    stack.push(...top.inputs);
  }
  return false;
};

/** The output name of the new value of a persistent param. */
export const updateOutputName = (name: string): string => `update:${name}`;

/** The prefix of update outputs. */
export const UPDATE_PREFIX = "update:";

/** Options of a training step. */
export interface TrainStepOptions {
  /** The function's name (default `trainStep`). */
  readonly name?: string;
  /**
   * Clip the gradients by their global 2-norm first, as `torch.nn.utils.clip_grad_norm_(params,
   * max_norm)`: each gradient is scaled by min(1, max_norm / (total_norm + 1e-6)); the step
   * outputs the total norm before clipping as `grad_norm`.
   */
  readonly clipGradNorm?: number;
  /** Clamp every gradient element to [−v, v] (after norm clipping), as `clip_grad_value_(params, v)`. */
  readonly clipGradValue?: number;
}

/** The output of a training step holding the gradients' total norm (with `clipGradNorm`). */
export const GRAD_NORM_OUTPUT = "grad_norm";

/** PyTorch's clip_grad_norm_ eps: clip_coef = max_norm / (total_norm + 1e-6). */
const CLIP_EPS = 1e-6;

/** Checks the clipping options: positive finite numbers. */
const validateClipping = (options: TrainStepOptions): Diagnostics =>
  (
    [
      ["clip_grad_norm", "max_norm", options.clipGradNorm],
      ["clip_grad_value", "clip_value", options.clipGradValue],
    ] as const
  ).flatMap(([what, name, value]) =>
    value === undefined || (Number.isFinite(value) && value > 0) ? [] : [error("optimizer/options", `${what}: invalid ${name} ${value} (expected a finite number > 0)`)],
  );

/**
 * The clipped gradients (by name) and the total norm: PyTorch's per-tensor norms, then the norm
 * of those norms; gradients scaled by clamp(max_norm / (total + 1e-6), max=1); then clamped to
 * ±clipGradValue.
 */
const clipGradients = (grads: ReadonlyMap<string, Tensor>, options: TrainStepOptions): { readonly grads: ReadonlyMap<string, Tensor>; readonly norm: Tensor | undefined } => {
  let clipped = new Map(grads);
  let norm: Tensor | undefined;
  const maxNorm = options.clipGradNorm;
  if (maxNorm !== undefined && grads.size > 0) {
    const dtype: Dtype = [...grads.values()].every((g) => g.dtype === "f64") ? "f64" : "f32";
    const as = (t: Tensor, to: Dtype): Tensor => ((t.dtype ?? "f32") === to ? t : cast(t, to));
    const norms = [...grads.values()].map((g) => as(sqrt(sum(mul(g, g))), dtype));
    const squares = norms.map((n) => mul(n, n));
    const total = sqrt(squares.slice(1).reduce((acc, sq) => add(acc, sq), squares[0] ?? scalar(0, dtype)));
    norm = total;
    const coef = minimum(div(scalar(maxNorm, dtype), add(total, CLIP_EPS)), 1);
    clipped = new Map([...clipped].map(([name, g]) => [name, mul(g, as(coef, g.dtype ?? "f32"))]));
  }
  const value = options.clipGradValue;
  if (value !== undefined) clipped = new Map([...clipped].map(([name, g]) => [name, minimum(maximum(g, -value), value)]));
  return { grads: clipped, norm };
};

/**
 * Builds a training step from a graph with a loss and `grad:<param>` outputs (see `grad`): the
 * outputs are the graph's outputs without the gradients, plus `update:<name>` for every updated
 * param and state param; the function's updates copy each into its param.
 */
export const applyOptimizer = (graph: Graph, rule: OptimizerRule, options: TrainStepOptions = {}): E.Either<Diagnostics, ProgramFunction> => {
  const invalid = [...rule.validate(), ...validateClipping(options)];
  if (invalid.length > 0) return E.left(invalid);
  if (graph.loss === undefined) return E.left([error("optimizer", `optimizer: graph ${graph.name} has no loss; a training step needs one`)]);
  const params = graphParams(graph);
  if (params.length === 0)
    return E.left([error("optimizer", `optimizer: model ${graph.name} has no params, so there is nothing to train; declare weights with param(...) or a layer such as dense(...)`)]);
  const names = gradientNames(graph);
  if (names.length === 0) return E.left([error("optimizer", `optimizer: graph ${graph.name} has no ${GRAD_PREFIX}<param> outputs; differentiate it first (grad)`)]);
  const clash = params.find((node) => node.attrs.name === `${rule.prefix}.step` || node.attrs.name.startsWith(`${rule.prefix}.`));
  if (clash !== undefined)
    return E.left([error("optimizer", `optimizer: the model's param '${clash.attrs.name}' uses the prefix '${rule.prefix}.' reserved for ${rule.prefix}'s state; rename it`, clash.loc)]);

  const tensors = tensorsOf(graph);
  const outputTensor = (name: string): Tensor | undefined => {
    const output = graph.outputs.find((o) => o.name === name);
    return output === undefined ? undefined : tensors[output.id];
  };
  const diagnostics: Diagnostic[] = [];
  const updated: Array<{ readonly name: string; readonly tensor: Tensor }> = [];
  const stepDtype: Dtype = params.every((node) => node.type.dtype === "f64") ? "f64" : "f32";
  const stepName = `${rule.prefix}.step`;
  const stepParam = param(stepName, [], zeros, stepDtype);
  const lr = rule.lr ?? 0;
  const hypers = new Map<string, { readonly scalar: HyperScalar; readonly tensor: Tensor }>();
  const hyper = (name: string, formula: HyperFormula): Tensor => {
    const paramName = `${rule.prefix}.${name}`;
    const existing = hypers.get(paramName);
    if (existing !== undefined) return existing.tensor;
    const tensor = withSourceLoc(undefined, () => param(paramName, [], constantInit(hyperValue(formula, lr, 1)), stepDtype));
    hypers.set(paramName, { scalar: { param: paramName, formula }, tensor });
    return tensor;
  };

  const rawGrads = new Map(names.flatMap((name) => {
    const tensor = outputTensor(`${GRAD_PREFIX}${name}`);
    return tensor === undefined ? [] : [[name, tensor] as const];
  }));
  const clipping = withSourceLoc(undefined, () => clipGradients(rawGrads, options));
  if (clipping.norm !== undefined && graph.outputs.some((o) => o.name === GRAD_NORM_OUTPUT))
    return E.left([error("optimizer", `optimizer: the model has an output named '${GRAD_NORM_OUTPUT}', which clip_grad_norm uses for the gradients' total norm; rename it`)]);
  for (const name of names) {
    const node = params.find((p) => p.attrs.name === name);
    const paramTensor = node === undefined ? undefined : tensors[node.id];
    const gradTensor = clipping.grads.get(name);
    if (node === undefined || paramTensor === undefined || gradTensor === undefined) {
      diagnostics.push(error("optimizer", `optimizer: output ${GRAD_PREFIX}${name} does not belong to a param of graph ${graph.name}`));
      continue;
    }
    const shape = node.type.shape;
    if (!isStaticShape(shape)) {
      diagnostics.push(error("optimizer", `optimizer: param ${name} has symbolic shape ${formatShape(shape)}`, node.loc));
      continue;
    }
    const dtype = node.type.dtype;
    const slots: Record<string, Tensor> = {};
    const result = withSourceLoc(node.loc, () => {
      const step = stepDtype === dtype ? stepParam : cast(stepParam, dtype);
      const context: ParamUpdateContext = {
        name,
        param: paramTensor,
        grad: gradTensor,
        step,
        hyper: (hyperName, formula) => {
          const scalarTensor = hyper(hyperName, formula);
          return stepDtype === dtype ? scalarTensor : cast(scalarTensor, dtype);
        },
        slot: (slot) => {
          const existing = slots[slot];
          if (existing !== undefined) return existing;
          const created = param(`${rule.prefix}.${slot}.${name}`, shape, rule.slotInit?.(slot) ?? zeros, dtype);
          slots[slot] = created;
          return created;
        },
      };
      return rule.update(context);
    });
    updated.push({ name, tensor: result.param });
    for (const [slot, tensor] of Object.entries(result.slots)) {
      if (slots[slot] === undefined) {
        diagnostics.push(error("optimizer", `optimizer ${rule.prefix}: updates slot '${slot}' of ${name} without reading it`));
        continue;
      }
      updated.push({ name: `${rule.prefix}.${slot}.${name}`, tensor });
    }
  }
  const stepDependent = [...hypers.values()].some(({ scalar: { formula } }) => dependsOnStep(formula));
  if (stepDependent || readsParam(updated.map((u) => u.tensor), stepName)) updated.push({ name: stepName, tensor: withSourceLoc(undefined, () => add(stepParam, scalar(1, stepDtype))) });
  if (diagnostics.length > 0) return E.left(diagnostics);

  const kept = graph.outputs
    .filter((o) => !o.name.startsWith(GRAD_PREFIX))
    .flatMap((o) => {
      const tensor = tensors[o.id];
      return tensor === undefined ? [] : [{ name: o.name, tensor }];
    });
  const outputs = [
    ...kept,
    ...(clipping.norm === undefined ? [] : [{ name: GRAD_NORM_OUTPUT, tensor: clipping.norm }]),
    ...updated.map((u) => ({ name: updateOutputName(u.name), tensor: u.tensor })),
  ];
  const updates: StateUpdate[] = updated.map((u) => ({ param: u.name, output: updateOutputName(u.name) }));
  const schedule: HyperSchedule | undefined = hypers.size === 0 ? undefined : { lr, step: stepName, scalars: [...hypers.values()].map((h) => h.scalar) };
  return E.map((stepGraph: Graph): ProgramFunction => ({ name: options.name ?? "trainStep", graph: stepGraph, updates, ...(schedule === undefined ? {} : { hyper: schedule }) }))(
    graphFromTensors(graph.name, outputs, tensors[graph.loss]),
  );
};
