/**
 * @file RMSprop with PyTorch's exact update rule (`torch.optim.RMSprop`, single-tensor path):
 *
 * ```
 * g ← −g                                   if maximize
 * g ← g + weight_decay · p                 if weight_decay ≠ 0
 * s ← α · s + (1 − α) · g · g
 * avg ← √(s − ḡ²) + eps, ḡ ← lerp(ḡ, g, 1 − α)   centered
 * avg ← √s + eps                                  otherwise
 * buf ← momentum · buf + g / avg; p ← p − lr · buf   if momentum > 0
 * p ← p − lr · g / avg                                otherwise
 * ```
 * State: `rmsprop.square_avg.<param>`, `rmsprop.grad_avg.<param>` (centered),
 * `rmsprop.momentum_buffer.<param>` (momentum) and the run-time scalars `rmsprop.lr`, `rmsprop.alpha`,
 * `rmsprop.one_minus_alpha`, `rmsprop.eps`, `rmsprop.momentum` (with momentum) and
 * `rmsprop.weight_decay` (when compiled nonzero).
 */
import { add, div, error, mul, neg, sqrt, sub, type Diagnostic, type Diagnostics, type Tensor } from "@graft/core";
import type { OptimizerRule, ParamUpdate, ParamUpdateContext } from "./step.js";

/** RMSprop's hyper-parameters, with PyTorch's names (camelCase) and defaults. */
export interface RmspropOptions {
  /** Learning rate (default 1e-2). */
  readonly lr?: number;
  /** Smoothing constant (default 0.99). */
  readonly alpha?: number;
  /** Added to the denominator (default 1e-8). */
  readonly eps?: number;
  readonly weightDecay?: number;
  readonly momentum?: number;
  /** Normalise by the estimated variance of the gradient (default false). */
  readonly centered?: boolean;
  readonly maximize?: boolean;
}

/** A configured RMSprop optimizer (plain data). */
export interface RmspropOptimizer {
  readonly kind: "rmsprop";
  readonly lr: number;
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: boolean;
  readonly maximize: boolean;
}

/** `torch.optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)`. */
export const rmsprop = (options: RmspropOptions = {}): RmspropOptimizer => ({
  kind: "rmsprop",
  lr: options.lr ?? 1e-2,
  alpha: options.alpha ?? 0.99,
  eps: options.eps ?? 1e-8,
  weightDecay: options.weightDecay ?? 0,
  momentum: options.momentum ?? 0,
  centered: options.centered ?? false,
  maximize: options.maximize ?? false,
});

/** PyTorch's checks: lr, eps, momentum, weight_decay, alpha ≥ 0. */
export const validateRmsprop = (options: RmspropOptimizer): Diagnostics => {
  const check = (what: string, value: number): Diagnostic | undefined =>
    Number.isFinite(value) && value >= 0 ? undefined : error("optimizer/options", `rmsprop: invalid ${what} ${value} (expected a finite number ≥ 0)`);
  return [check("learning rate", options.lr), check("epsilon", options.eps), check("momentum", options.momentum), check("weight_decay", options.weightDecay), check("alpha", options.alpha)].filter(
    (d): d is Diagnostic => d !== undefined,
  );
};

/**
 * PyTorch's `torch.lerp(start, end, 1 − α)` for a scalar weight, α a run-time scalar: the branch
 * of the compiled α (start + w·(end − start) when w < 0.5, else end − (1 − w)·(end − start)).
 */
const lerp = (context: ParamUpdateContext, start: Tensor, end: Tensor, alpha: number): Tensor =>
  1 - alpha < 0.5
    ? add(start, mul(sub(end, start), context.hyper("one_minus_alpha", { kind: "one_minus_option", option: "alpha", value: alpha })))
    : sub(end, mul(sub(end, start), context.hyper("alpha", { kind: "option", option: "alpha", value: alpha })));

/** RMSprop's update of one param. */
export const rmspropUpdate = (options: RmspropOptimizer) => (context: ParamUpdateContext): ParamUpdate => {
  const p = context.param;
  let g = options.maximize ? neg(context.grad) : context.grad;
  if (options.weightDecay !== 0) g = add(g, mul(p, context.hyper("weight_decay", { kind: "option", option: "weight_decay", value: options.weightDecay })));
  // square_avg.mul_(α).addcmul_(g, g, value=1 − α)
  const squareAvg = add(
    mul(context.slot("square_avg"), context.hyper("alpha", { kind: "option", option: "alpha", value: options.alpha })),
    mul(mul(g, context.hyper("one_minus_alpha", { kind: "one_minus_option", option: "alpha", value: options.alpha })), g),
  );
  const eps = context.hyper("eps", { kind: "option", option: "eps", value: options.eps });
  const slots: Record<string, Tensor> = { square_avg: squareAvg };
  let avg: Tensor;
  if (options.centered) {
    const gradAvg = lerp(context, context.slot("grad_avg"), g, options.alpha);
    slots.grad_avg = gradAvg;
    // square_avg.addcmul(grad_avg, grad_avg, value=−1).sqrt_()
    avg = add(sqrt(add(squareAvg, mul(neg(gradAvg), gradAvg))), eps);
  } else avg = add(sqrt(squareAvg), eps);
  const lr = context.hyper("lr", { kind: "lr" });
  if (options.momentum > 0) {
    // buf.mul_(momentum).addcdiv_(g, avg); param.add_(buf, alpha=−lr)
    const buf = add(mul(context.slot("momentum_buffer"), context.hyper("momentum", { kind: "option", option: "momentum", value: options.momentum })), div(g, avg));
    slots.momentum_buffer = buf;
    return { param: sub(p, mul(buf, lr)), slots };
  }
  // param.addcdiv_(g, avg, value=−lr)
  return { param: sub(p, div(mul(g, lr), avg)), slots };
};

/** The rule `applyOptimizer` runs for RMSprop. */
export const rmspropRule = (options: RmspropOptimizer): OptimizerRule => ({ prefix: "rmsprop", lr: options.lr, validate: () => validateRmsprop(options), update: rmspropUpdate(options) });
