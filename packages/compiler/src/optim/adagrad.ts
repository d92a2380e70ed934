/**
 * @file Adagrad with PyTorch's exact update rule (`torch.optim.Adagrad`, single-tensor path):
 *
 * ```
 * t ← t + 1
 * g ← −g                                   if maximize
 * g ← g + weight_decay · p                 if weight_decay ≠ 0
 * clr ← lr / (1 + (t − 1) · lr_decay)
 * s ← s + g · g                            (s starts at initial_accumulator_value)
 * p ← p − clr · g / (√s + eps)
 * ```
 * State: `adagrad.sum.<param>`, the step counter `adagrad.step` and the run-time scalar
 * `adagrad.clr` (computed in float64 by the host before each step, as PyTorch's Python float),
 * `adagrad.eps` and `adagrad.weight_decay` (when compiled nonzero). initial_accumulator_value is
 * the accumulator's starting state, not a run-time hyperparameter (as in PyTorch).
 */
import { add, constantInit, div, error, mul, neg, sqrt, sub, type Diagnostic, type Diagnostics } from "@graft/core";
import type { OptimizerRule, ParamUpdate, ParamUpdateContext } from "./step.js";

/** Adagrad's hyper-parameters, with PyTorch's names (camelCase) and defaults. */
export interface AdagradOptions {
  /** Learning rate (default 1e-2). */
  readonly lr?: number;
  readonly lrDecay?: number;
  readonly weightDecay?: number;
  /** The accumulator's starting value (default 0). */
  readonly initialAccumulatorValue?: number;
  /** Added to the denominator (default 1e-10). */
  readonly eps?: number;
  readonly maximize?: boolean;
}

/** A configured Adagrad optimizer (plain data). */
export interface AdagradOptimizer {
  readonly kind: "adagrad";
  readonly lr: number;
  readonly lrDecay: number;
  readonly weightDecay: number;
  readonly initialAccumulatorValue: number;
  readonly eps: number;
  readonly maximize: boolean;
}

/** `torch.optim.Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)`. */
export const adagrad = (options: AdagradOptions = {}): AdagradOptimizer => ({
  kind: "adagrad",
  lr: options.lr ?? 1e-2,
  lrDecay: options.lrDecay ?? 0,
  weightDecay: options.weightDecay ?? 0,
  initialAccumulatorValue: options.initialAccumulatorValue ?? 0,
  eps: options.eps ?? 1e-10,
  maximize: options.maximize ?? false,
});

/** PyTorch's checks: every option a finite number ≥ 0. */
export const validateAdagrad = (options: AdagradOptimizer): Diagnostics => {
  const check = (what: string, value: number): Diagnostic | undefined =>
    Number.isFinite(value) && value >= 0 ? undefined : error("optimizer/options", `adagrad: invalid ${what} ${value} (expected a finite number ≥ 0)`);
  return [
    check("learning rate", options.lr),
    check("lr_decay", options.lrDecay),
    check("weight_decay", options.weightDecay),
    check("initial_accumulator_value", options.initialAccumulatorValue),
    check("epsilon", options.eps),
  ].filter((d): d is Diagnostic => d !== undefined);
};

/** Adagrad's update of one param. */
export const adagradUpdate = (options: AdagradOptimizer) => (context: ParamUpdateContext): ParamUpdate => {
  const p = context.param;
  let g = options.maximize ? neg(context.grad) : context.grad;
  if (options.weightDecay !== 0) g = add(g, mul(p, context.hyper("weight_decay", { kind: "option", option: "weight_decay", value: options.weightDecay })));
  const clr = context.hyper("clr", { kind: "lr_decay", option: "lr_decay", value: options.lrDecay });
  // state_sum.addcmul_(g, g, value=1); std = state_sum.sqrt().add_(eps); param.addcdiv_(g, std, value=−clr)
  const sum = add(context.slot("sum"), mul(g, g));
  return { param: sub(p, div(mul(g, clr), add(sqrt(sum), context.hyper("eps", { kind: "option", option: "eps", value: options.eps })))), slots: { sum } };
};

/** The rule `applyOptimizer` runs for Adagrad. */
export const adagradRule = (options: AdagradOptimizer): OptimizerRule => ({
  prefix: "adagrad",
  lr: options.lr,
  validate: () => validateAdagrad(options),
  update: adagradUpdate(options),
  slotInit: (slot) => (slot === "sum" && options.initialAccumulatorValue !== 0 ? constantInit(options.initialAccumulatorValue) : undefined),
});
