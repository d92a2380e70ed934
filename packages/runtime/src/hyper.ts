/**
 * @file Run-time hyper-parameters of a training step. An optimizer's learning rate and its
 * step-dependent scalars (Adam's bias corrections, Adagrad's decayed lr) are persistent scalar
 * state, not constants baked into kernels: before each step the host computes them in float64
 * from the current learning rate and the step number — as PyTorch does with Python floats — and
 * writes them, so they are rounded once, to the param's dtype.
 */

/** How a hyper scalar follows from the learning rate `lr` and the step number `t` (1 on the first step). */
export type HyperFormula =
  /** `lr`. */
  | { readonly kind: "lr" }
  /** `1 − lr · factor` (AdamW's decoupled weight decay). */
  | { readonly kind: "one_minus_lr_times"; readonly factor: number }
  /** `lr / (1 − βᵗ)` (Adam's step size; β is β1, the current momentum when one is set). */
  | { readonly kind: "lr_over_bias_correction"; readonly beta: number }
  /** The momentum (SGD's or RMSprop's `momentum`, Adam's β1): `value` unless a current momentum is set (OneCycleLR's cycle_momentum). */
  | { readonly kind: "momentum"; readonly value: number }
  /** `1 − momentum` (Adam's lerp weight 1 − β1). */
  | { readonly kind: "one_minus_momentum"; readonly value: number }
  /** `√(1 − βᵗ)` (Adam's second-moment bias correction). */
  | { readonly kind: "sqrt_bias_correction"; readonly beta: number }
  /** `lr / (1 + (t − 1) · decay)` (Adagrad's lr_decay). */
  | { readonly kind: "lr_decay"; readonly decay: number };

/** One hyper scalar: the state param holding it and its formula. */
export interface HyperScalar {
  readonly param: string;
  readonly formula: HyperFormula;
}

/**
 * The value of `formula` at learning rate `lr` and step `t` (float64); `momentum`, when given,
 * replaces the compiled momentum / β1 (what OneCycleLR cycles).
 */
export const hyperValue = (formula: HyperFormula, lr: number, t: number, momentum?: number): number => {
  switch (formula.kind) {
    case "momentum":
      return momentum ?? formula.value;
    case "one_minus_momentum":
      return 1 - (momentum ?? formula.value);
    case "lr":
      return lr;
    case "one_minus_lr_times":
      return 1 - lr * formula.factor;
    case "lr_over_bias_correction":
      return lr / (1 - (momentum ?? formula.beta) ** t);
    case "sqrt_bias_correction":
      return Math.sqrt(1 - formula.beta ** t);
    case "lr_decay":
      return lr / (1 + (t - 1) * formula.decay);
  }
};

/** True for formulas that read the momentum (the optimizer can have its momentum cycled). */
export const usesMomentum = (formula: HyperFormula): boolean => formula.kind === "momentum" || formula.kind === "one_minus_momentum" || formula.kind === "lr_over_bias_correction";

/** Checks a learning rate as PyTorch does (a finite number ≥ 0); the message names `what`. */
export const checkLearningRate = (what: string, lr: unknown): number => {
  if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) throw new RangeError(`${what}: invalid learning rate ${typeof lr === "number" ? String(lr) : typeof lr} (expected a finite number ≥ 0)`);
  return lr;
};
