/**
 * @file Stochastic gradient descent with PyTorch's exact update rule (`torch.optim.SGD`):
 *
 * ```
 * g ← −g                      if maximize
 * g ← g + weight_decay · p    if weight_decay ≠ 0
 * if momentum ≠ 0:
 *   buf ← g                                      on the first step
 *   buf ← momentum · buf + (1 − dampening) · g   afterwards
 *   g ← g + momentum · buf   if nesterov, else g ← buf
 * p ← p − lr · g
 * ```
 * State: `sgd.momentum_buffer.<param>` and the step counter `sgd.step` (only with momentum), and
 * the run-time scalars (see `ParamUpdateContext.hyper`) `sgd.lr`, `sgd.momentum` and
 * `sgd.one_minus_dampening` (with momentum), `sgd.weight_decay` (when compiled nonzero).
 */
import { add, eq, error, mul, neg, scalar, sub, where, type Diagnostic, type Diagnostics } from "@graft/core";
import type { OptimizerRule, ParamUpdate, ParamUpdateContext } from "./step.js";

/** SGD's hyper-parameters, with PyTorch's names (camelCase) and defaults. */
export interface SgdOptions {
  /** Learning rate (default 1e-3, as PyTorch ≥ 2.2). */
  readonly lr?: number;
  readonly momentum?: number;
  readonly dampening?: number;
  readonly nesterov?: boolean;
  readonly weightDecay?: number;
  readonly maximize?: boolean;
}

/** A configured SGD optimizer (plain data; `sgdRule` gives its update). */
export interface SgdOptimizer {
  readonly kind: "sgd";
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly maximize: boolean;
}

/** `torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov, maximize=...)`. */
export const sgd = (options: SgdOptions = {}): SgdOptimizer => ({
  kind: "sgd",
  lr: options.lr ?? 1e-3,
  momentum: options.momentum ?? 0,
  dampening: options.dampening ?? 0,
  nesterov: options.nesterov ?? false,
  weightDecay: options.weightDecay ?? 0,
  maximize: options.maximize ?? false,
});

const nonNegative = (what: string, value: number): Diagnostic | undefined =>
  Number.isFinite(value) && value >= 0 ? undefined : error("optimizer/options", `sgd: invalid ${what} ${value} (expected a finite number ≥ 0)`);

/** PyTorch's checks: lr, momentum, weight_decay ≥ 0; nesterov needs momentum > 0 and dampening 0. */
export const validateSgd = (options: SgdOptimizer): Diagnostics => {
  const found = [
    nonNegative("learning rate", options.lr),
    nonNegative("momentum", options.momentum),
    nonNegative("weight_decay", options.weightDecay),
    Number.isFinite(options.dampening) ? undefined : error("optimizer/options", `sgd: invalid dampening ${options.dampening} (expected a finite number)`),
    options.nesterov && (options.momentum <= 0 || options.dampening !== 0)
      ? error("optimizer/options", `sgd: nesterov momentum requires a momentum > 0 and zero dampening (got momentum ${options.momentum}, dampening ${options.dampening})`)
      : undefined,
  ];
  return found.filter((d): d is Diagnostic => d !== undefined);
};

/** SGD's update of one param. */
export const sgdUpdate = (options: SgdOptimizer) => (context: ParamUpdateContext): ParamUpdate => {
  const { param: p, grad } = context;
  const dtype = p.dtype ?? "f32";
  let g = options.maximize ? neg(grad) : grad;
  if (options.weightDecay !== 0) g = add(g, mul(p, context.hyper("weight_decay", { kind: "option", option: "weight_decay", value: options.weightDecay })));
  const slots: Record<string, typeof g> = {};
  if (options.momentum !== 0) {
    const buf = context.slot("momentum_buffer");
    // the momentum is a run-time scalar (OneCycleLR cycles it)
    const momentum = context.hyper("momentum", { kind: "option", option: "momentum", value: options.momentum });
    // buf.mul_(momentum).add_(g, alpha=1 − dampening): 1 − dampening is a run-time scalar (× 1 is exact)
    const decayed = add(mul(buf, momentum), mul(g, context.hyper("one_minus_dampening", { kind: "one_minus_option", option: "dampening", value: options.dampening })));
    // PyTorch initialises the buffer to the first gradient (no dampening on step 1)
    const next = where(eq(context.step, scalar(0, dtype)), g, decayed);
    slots.momentum_buffer = next;
    g = options.nesterov ? add(g, mul(next, momentum)) : next;
  }
  return { param: sub(p, mul(g, context.hyper("lr", { kind: "lr" }))), slots };
};

/** The rule `applyOptimizer` runs for SGD. */
export const sgdRule = (options: SgdOptimizer): OptimizerRule => ({ prefix: "sgd", lr: options.lr, validate: () => validateSgd(options), update: sgdUpdate(options) });
