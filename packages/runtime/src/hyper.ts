/**
 * @file Run-time hyper-parameters of a training step. An optimizer's learning rate, its other
 * hyper-parameters (momentum, β1, β2, eps, weight_decay, dampening, RMSprop's alpha, Adagrad's
 * lr_decay) and its step-dependent scalars (Adam's bias corrections, Adagrad's decayed lr) are
 * persistent scalar state, not constants baked into kernels: before each step the host computes
 * them in float64 from the current hyper-parameters and the step number — as PyTorch does with
 * Python floats — and writes them, so they are rounded once, to the param's dtype.
 *
 * What changes the step's structure stays compiled in: nesterov, amsgrad, centered, maximize,
 * whether weight_decay and SGD's/RMSprop's momentum are zero (a zero leaves the term out), and
 * Adagrad's initial_accumulator_value (a starting state, as in PyTorch).
 */

/**
 * How a hyper scalar follows from the learning rate `lr`, the current value of the optimizer
 * option it reads (`option`, PyTorch's name: "momentum", "beta1", "beta2", "eps", "weight_decay",
 * "dampening", "alpha", "lr_decay"; `value` is its compiled value) and the step number `t` (1 on
 * the first step).
 */
export type HyperFormula =
  /** `lr`. */
  | { readonly kind: "lr" }
  /** The option's value. */
  | { readonly kind: "option"; readonly option: string; readonly value: number }
  /** `1 − option` (Adam's lerp weight 1 − β1, 1 − β2, RMSprop's 1 − α, SGD's 1 − dampening). */
  | { readonly kind: "one_minus_option"; readonly option: string; readonly value: number }
  /** `1 − lr · option` (AdamW's decoupled weight decay). */
  | { readonly kind: "one_minus_lr_times"; readonly option: string; readonly value: number }
  /** `lr / (1 − optionᵗ)` (Adam's step size; the option is β1). */
  | { readonly kind: "lr_over_bias_correction"; readonly option: string; readonly value: number }
  /** `√(1 − optionᵗ)` (Adam's second-moment bias correction; the option is β2). */
  | { readonly kind: "sqrt_bias_correction"; readonly option: string; readonly value: number }
  /** `lr / (1 + (t − 1) · option)` (Adagrad's lr_decay). */
  | { readonly kind: "lr_decay"; readonly option: string; readonly value: number };

/** One hyper scalar: the state param holding it and its formula. */
export interface HyperScalar {
  readonly param: string;
  readonly formula: HyperFormula;
}

/**
 * The value of `formula` at learning rate `lr` and step `t` (float64); `options`, when given,
 * holds the current values of the optimizer options (what `setHyperparameter` and OneCycleLR's
 * cycle_momentum change); an option it does not hold keeps its compiled value.
 */
export const hyperValue = (formula: HyperFormula, lr: number, t: number, options?: Readonly<Record<string, number>>): number => {
  if (formula.kind === "lr") return lr;
  const value = options?.[formula.option] ?? formula.value;
  const kind = formula.kind;
  // (a chain of conditionals rather than a switch: this runs in every training bundle, where bytes count)
  return kind === "option"
    ? value
    : kind === "one_minus_option"
      ? 1 - value
      : kind === "one_minus_lr_times"
        ? 1 - lr * value
        : kind === "lr_over_bias_correction"
          ? lr / (1 - value ** t)
          : kind === "sqrt_bias_correction"
            ? Math.sqrt(1 - value ** t)
            : lr / (1 + (t - 1) * value); // lr_decay
};

/** True for formulas whose value depends on the step number. */
export const dependsOnStep = (formula: HyperFormula): boolean => formula.kind === "lr_over_bias_correction" || formula.kind === "sqrt_bias_correction" || formula.kind === "lr_decay";

/**
 * The run-time options of a step's hyper scalars and their compiled values, in PyTorch's names
 * (`lr` not included), e.g. `{ beta1: 0.9, beta2: 0.999, eps: 1e-8 }` for Adam.
 */
export const hyperOptions = (scalars: readonly HyperScalar[]): Record<string, number> => {
  const options: Record<string, number> = {};
  for (const { formula } of scalars) if (formula.kind !== "lr" && !(formula.option in options)) options[formula.option] = formula.value;
  return options;
};

/** The option OneCycleLR's cycle_momentum changes: `momentum`, or Adam's `beta1`; undefined when there is none. */
export const momentumOption = (options: Readonly<Record<string, number>>): string | undefined =>
  "momentum" in options ? "momentum" : "beta1" in options ? "beta1" : undefined;

/** Checks a learning rate as PyTorch does (a finite number ≥ 0); the message names `what`. */
export const checkLearningRate = (what: string, lr: unknown): number => {
  if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) throw new RangeError(`${what}: invalid learning rate ${typeof lr === "number" ? String(lr) : typeof lr} (expected a finite number ≥ 0)`);
  return lr;
};

/**
 * Checks `setHyperparameter(name, value)` against the run-time options `options` (see
 * `hyperOptions`): `lr` or one of them, with a value in PyTorch's range (β1, β2 in [0, 1);
 * momentum in [0, 1]; dampening finite; the others finite and ≥ 0). The messages name `what`,
 * the option, the options there are and the expected range.
 */
export const checkHyperparameter = (what: string, options: Readonly<Record<string, number>>, name: unknown, value: unknown): number => {
  if (name === "lr") return checkLearningRate(what, value);
  if (typeof name !== "string" || !(name in options))
    throw new Error(
      `${what}: '${String(name)}' is not a run-time hyperparameter (the step has ${["lr", ...Object.keys(options)].join(", ")})${
        name === "weight_decay" || (name === "momentum" && !("beta1" in options)) ? `; a ${name} of 0 is compiled out` : ""
      }`,
    );
  const beta = name === "beta1" || name === "beta2";
  // NaN fails every comparison; dampening only has to be finite
  if (typeof value !== "number" || !(value >= (name === "dampening" ? -Infinity : 0) && (beta ? value < 1 : name === "momentum" ? value <= 1 : value < Infinity) && value > -Infinity))
    throw new RangeError(
      `${what}: invalid ${name} ${typeof value === "number" ? String(value) : typeof value} (expected ${beta ? "a number in [0, 1)" : name === "momentum" ? "a number in [0, 1]" : name === "dampening" ? "a finite number" : "a finite number ≥ 0"})`,
    );
  return value;
};
