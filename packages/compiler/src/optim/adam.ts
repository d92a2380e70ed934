/**
 * @file Adam and AdamW with PyTorch's exact update rule (`torch.optim.Adam` / `AdamW`, 2.x,
 * single-tensor path):
 *
 * ```
 * t ← t + 1
 * g ← −g                                   if maximize
 * p ← p · (1 − lr · weight_decay)          AdamW (decoupled weight decay), first
 * g ← g + weight_decay · p                 Adam with weight_decay ≠ 0
 * m ← lerp(m, g, 1 − β1)                   = β1·m + (1 − β1)·g
 * v ← β2 · v + (1 − β2) · g · g
 * v̂ ← max(v̂, v)                            amsgrad only
 * denom ← √v / √(1 − β2ᵗ) + eps            (√v̂ with amsgrad)
 * p ← p − (lr / (1 − β1ᵗ)) · m / denom
 * ```
 * `lr / (1 − β1ᵗ)`, `√(1 − β2ᵗ)`, AdamW's `1 − lr·weight_decay`, β1 (or 1 − β1), β2, 1 − β2, eps
 * and Adam's weight_decay are run-time hyper scalars (`adam.step_size`,
 * `adam.bias_correction2_sqrt`, `adamw.decay`, `adam.beta2`, …), computed in float64 by the host
 * before each step from the current hyper-parameters and rounded once, as PyTorch's Python
 * floats are. The lerp's branch follows the compiled β1 (PyTorch's branch on the current one
 * differs in rounding only).
 * State: `adam.m.<param>`, `adam.v.<param>` (`adam.vmax.<param>` with amsgrad) and the step
 * counter `adam.step` (prefix `adamw` for AdamW).
 */
import { add, error, maximum, mul, neg, sqrt, sub, div, type Diagnostic, type Diagnostics, type Tensor } from "@graft/core";
import type { OptimizerRule, ParamUpdate, ParamUpdateContext } from "./step.js";

/** Adam's hyper-parameters, with PyTorch's names (camelCase) and defaults. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  readonly lr?: number;
  /** PyTorch's `betas=(β1, β2)`; `beta1`/`beta2` set them one by one. */
  readonly betas?: readonly [number, number];
  /** β1 (default 0.9). */
  readonly beta1?: number;
  /** β2 (default 0.999). */
  readonly beta2?: number;
  /** Added to the denominator (default 1e-8). */
  readonly eps?: number;
  /** Default 0 for Adam, 1e-2 for AdamW. */
  readonly weightDecay?: number;
  readonly amsgrad?: boolean;
  readonly maximize?: boolean;
}

/** A configured Adam or AdamW optimizer (plain data; `adamRule` gives its update). */
export interface AdamOptimizer {
  readonly kind: "adam" | "adamw";
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly amsgrad: boolean;
  readonly maximize: boolean;
}

const configure = (kind: "adam" | "adamw", options: AdamOptions): AdamOptimizer => ({
  kind,
  lr: options.lr ?? 1e-3,
  beta1: options.betas?.[0] ?? options.beta1 ?? 0.9,
  beta2: options.betas?.[1] ?? options.beta2 ?? 0.999,
  eps: options.eps ?? 1e-8,
  weightDecay: options.weightDecay ?? (kind === "adamw" ? 1e-2 : 0),
  amsgrad: options.amsgrad ?? false,
  maximize: options.maximize ?? false,
});

/** `torch.optim.Adam` (L2 weight decay added to the gradient). */
export const adam = (options: AdamOptions = {}): AdamOptimizer => configure("adam", options);

/** `torch.optim.AdamW` (decoupled weight decay, default 1e-2). */
export const adamw = (options: AdamOptions = {}): AdamOptimizer => configure("adamw", options);

/** PyTorch's checks: lr, eps, weight_decay ≥ 0 and 0 ≤ β < 1. */
export const validateAdam = (options: AdamOptimizer): Diagnostics => {
  const bad = (what: string, value: number, expected: string): Diagnostic => error("optimizer/options", `${options.kind}: invalid ${what} ${value} (expected ${expected})`);
  const found: Array<Diagnostic | undefined> = [
    Number.isFinite(options.lr) && options.lr >= 0 ? undefined : bad("learning rate", options.lr, "a finite number ≥ 0"),
    Number.isFinite(options.eps) && options.eps >= 0 ? undefined : bad("epsilon", options.eps, "a finite number ≥ 0"),
    options.beta1 >= 0 && options.beta1 < 1 ? undefined : bad("beta1", options.beta1, "0 ≤ beta1 < 1"),
    options.beta2 >= 0 && options.beta2 < 1 ? undefined : bad("beta2", options.beta2, "0 ≤ beta2 < 1"),
    Number.isFinite(options.weightDecay) && options.weightDecay >= 0 ? undefined : bad("weight_decay", options.weightDecay, "a finite number ≥ 0"),
  ];
  return found.filter((d): d is Diagnostic => d !== undefined);
};

/**
 * PyTorch's `torch.lerp(m, g, 1 − β1)` for a scalar weight, with β1 a run-time scalar (OneCycleLR
 * cycles it): m + (1 − β1)·(g − m) when 1 − β1 < 0.5, else g − β1·(g − m) (the branch of the
 * compiled β1).
 */
const lerpBeta1 = (context: ParamUpdateContext, start: Tensor, end: Tensor, beta1: number): Tensor =>
  1 - beta1 < 0.5
    ? add(start, mul(sub(end, start), context.hyper("one_minus_beta1", { kind: "one_minus_option", option: "beta1", value: beta1 })))
    : sub(end, mul(sub(end, start), context.hyper("beta1", { kind: "option", option: "beta1", value: beta1 })));

/** Adam's (or AdamW's) update of one param. */
export const adamUpdate = (options: AdamOptimizer) => (context: ParamUpdateContext): ParamUpdate => {
  let p = context.param;
  let g = options.maximize ? neg(context.grad) : context.grad;
  if (options.weightDecay !== 0) {
    // param.mul_(1 − lr·weight_decay): a Python float, rounded once
    if (options.kind === "adamw") p = mul(p, context.hyper("decay", { kind: "one_minus_lr_times", option: "weight_decay", value: options.weightDecay }));
    else g = add(g, mul(p, context.hyper("weight_decay", { kind: "option", option: "weight_decay", value: options.weightDecay })));
  }
  const m = lerpBeta1(context, context.slot("m"), g, options.beta1);
  // exp_avg_sq.mul_(β2).addcmul_(g, g, value=1 − β2): v·β2 + ((1 − β2)·g)·g
  const v = add(
    mul(context.slot("v"), context.hyper("beta2", { kind: "option", option: "beta2", value: options.beta2 })),
    mul(mul(g, context.hyper("one_minus_beta2", { kind: "one_minus_option", option: "beta2", value: options.beta2 })), g),
  );
  // step_size = lr / (1 − β1ᵗ) and √(1 − β2ᵗ): Python floats in PyTorch, float64 run-time scalars here
  const stepSize = context.hyper("step_size", { kind: "lr_over_bias_correction", option: "beta1", value: options.beta1 });
  const biasCorrection2Sqrt = context.hyper("bias_correction2_sqrt", { kind: "sqrt_bias_correction", option: "beta2", value: options.beta2 });
  const vmax = options.amsgrad ? maximum(context.slot("vmax"), v) : undefined;
  const denom = add(div(sqrt(vmax ?? v), biasCorrection2Sqrt), context.hyper("eps", { kind: "option", option: "eps", value: options.eps }));
  // param.addcdiv_(m, denom, value=−step_size): p + (−step_size·m)/denom
  const next = sub(p, div(mul(m, stepSize), denom));
  return { param: next, slots: vmax === undefined ? { m, v } : { m, v, vmax } };
};

/** The rule `applyOptimizer` runs for Adam / AdamW. */
export const adamRule = (options: AdamOptimizer): OptimizerRule => ({ prefix: options.kind, lr: options.lr, validate: () => validateAdam(options), update: adamUpdate(options) });
