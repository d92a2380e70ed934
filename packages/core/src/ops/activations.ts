/**
 * @file Activation rows: `erf` (a primitive: float64 semantics from Cody's approximation, its own
 * kernels in every back end) and the composites gelu (exact and tanh), silu, softplus,
 * leaky_relu, elu, hardtanh and clamp, each defined by `decompose` in other ops of the table
 * and differentiated through that definition. PyTorch's semantics and defaults.
 */
import * as E from "fp-ts/lib/Either.js";
import { add, div, erf as erfOf, exp, ge, gt, le, logSigmoid, lt, mul, ne, neg, sigmoid, tanh, where } from "../api.js";
import type { TensorType } from "../shape.js";
import type { Tensor } from "../tensor.js";
import type { OpAttrs, OpName } from "./attrs.js";
import type { Decompose, OpDef } from "./def.js";
import { erf } from "./erf.js";
import { requireFloat, requireNumeric } from "./rules.js";

type Attrs<K extends OpName> = OpAttrs[K];

/** An elementwise composite of one input: a float64 `evaluate`, a check of its attributes, and its decomposition. */
const compositeRow = <K extends OpName>(
  f: (x: number, attrs: Attrs<K>) => number,
  decompose: Decompose<K>,
  options: { readonly checkAttrs?: (attrs: Attrs<K>, x: TensorType) => string | undefined; readonly numeric?: boolean } = {},
): OpDef<K> => ({
  kind: "elementwise",
  arity: [1, 1],
  infer: ([x], attrs) => {
    if (x === undefined) return E.left("missing input");
    const problem = options.checkAttrs?.(attrs, x);
    if (problem !== undefined) return E.left(problem);
    return options.numeric === true ? requireNumeric(x) : requireFloat(x);
  },
  evaluate: ([x], attrs) => (x === undefined ? new Float64Array(0) : x.data.map((v) => f(v, attrs))),
  gradient: { fromDecomposition: true },
  decompose,
});

/** The one input of a unary decomposition. */
const only = (inputs: readonly Tensor[], op: string): Tensor => {
  const [x] = inputs;
  if (x === undefined) throw new Error(`internal: ${op} decomposed without its input`);
  return x;
};

const sigmoidOf = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const logSigmoidOf = (x: number): number => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));

/** √(2/π), PyTorch's kBeta of the tanh approximation. */
const GELU_BETA = Math.SQRT2 * (2 / Math.sqrt(Math.PI)) * 0.5;
const GELU_KAPPA = 0.044715;

/**
 * e^z − 1 for z ≤ 0 without cancellation near 0, as tanh(z/2)·(e^z + 1). `z` builds z afresh for
 * each use, so no intermediate has two consumers and the whole expression stays one map kernel.
 */
const expm1NonPositive = (z: () => Tensor): Tensor => mul(tanh(mul(z(), 0.5)), add(exp(z()), 1));

const finite = (name: string, value: number): string | undefined => (Number.isFinite(value) ? undefined : `${name} must be a finite number, got ${value}`);

export const activationOps: {
  readonly erf: OpDef<"erf">;
  readonly gelu: OpDef<"gelu">;
  readonly silu: OpDef<"silu">;
  readonly softplus: OpDef<"softplus">;
  readonly leaky_relu: OpDef<"leaky_relu">;
  readonly elu: OpDef<"elu">;
  readonly hardtanh: OpDef<"hardtanh">;
  readonly clamp: OpDef<"clamp">;
} = {
  erf: {
    kind: "elementwise",
    arity: [1, 1],
    infer: ([x]) => (x === undefined ? E.left("missing input") : requireFloat(x)),
    evaluate: ([x]) => (x === undefined ? new Float64Array(0) : x.data.map(erf)),
    // d erf(x) = 2/√π e^(−x²) dx
    gradient: { rule: ({ grad, inputs: [x] }) => [x && mul(grad, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))] },
  },
  // x·½(1 + erf(x/√2)), or ½x(1 + tanh(√(2/π)(x + 0.044715x³))) with approximate "tanh"
  gelu: compositeRow<"gelu">(
    (x, attrs) => (attrs.approximate === "tanh" ? 0.5 * x * (1 + Math.tanh(GELU_BETA * (x + GELU_KAPPA * x * x * x))) : x * 0.5 * (1 + erf(x * Math.SQRT1_2))),
    (inputs, attrs) => {
      const x = only(inputs, "gelu");
      if (attrs.approximate === "tanh") return mul(mul(x, 0.5), add(1, tanh(mul(add(x, mul(mul(mul(x, x), x), GELU_KAPPA)), GELU_BETA))));
      return mul(mul(x, 0.5), add(1, erfOf(mul(x, Math.SQRT1_2))));
    },
    { checkAttrs: (attrs) => (attrs.approximate === "none" || attrs.approximate === "tanh" ? undefined : `approximate must be "none" or "tanh", got ${JSON.stringify(attrs.approximate)}`) },
  ),
  // x·σ(x)
  silu: compositeRow<"silu">((x) => x * sigmoidOf(x), (inputs) => {
    const x = only(inputs, "silu");
    return mul(x, sigmoid(x));
  }),
  // log(1 + e^(βx))/β, computed as −log σ(−βx)/β; x itself where βx > threshold
  softplus: compositeRow<"softplus">(
    (x, { beta, threshold }) => (x * beta > threshold ? x : -logSigmoidOf(-x * beta) / beta),
    (inputs, { beta, threshold }) => {
      const x = only(inputs, "softplus");
      // βx twice rather than one shared node: a node with two consumers would be its own kernel
      return where(gt(mul(x, beta), threshold), x, div(neg(logSigmoid(mul(x, -beta))), beta));
    },
    { checkAttrs: ({ beta, threshold }) => (beta === 0 || !Number.isFinite(beta) ? `beta must be a finite non-zero number, got ${beta}` : typeof threshold !== "number" || Number.isNaN(threshold) ? `threshold must be a number, got ${threshold}` : undefined) },
  ),
  // x where x > 0, else negativeSlope·x
  leaky_relu: compositeRow<"leaky_relu">(
    (x, { negativeSlope }) => (x > 0 ? x : x * negativeSlope),
    (inputs, { negativeSlope }) => {
      const x = only(inputs, "leaky_relu");
      return where(gt(x, 0), x, mul(x, negativeSlope));
    },
    { checkAttrs: ({ negativeSlope }) => finite("negativeSlope", negativeSlope) },
  ),
  // x where x > 0, else α(eˣ − 1)
  elu: compositeRow<"elu">(
    (x, { alpha }) => (x > 0 ? x : alpha * Math.expm1(x)),
    (inputs, { alpha }) => {
      const x = only(inputs, "elu");
      // min(x, 0) as a select, so that x = 0 gets α·e⁰ (PyTorch), not the half a tied minimum passes
      return where(gt(x, 0), x, mul(expm1NonPositive(() => where(gt(x, 0), 0, x)), alpha));
    },
    { checkAttrs: ({ alpha }) => finite("alpha", alpha) },
  ),
  // minVal where x ≤ minVal, maxVal where x ≥ maxVal, else x: the gradient flows only strictly inside
  hardtanh: compositeRow<"hardtanh">(
    (x, { minVal, maxVal }) => (x <= minVal ? minVal : x >= maxVal ? maxVal : x),
    (inputs, { minVal, maxVal }) => {
      const x = only(inputs, "hardtanh");
      return where(le(x, minVal), minVal, where(ge(x, maxVal), maxVal, x));
    },
    {
      checkAttrs: ({ minVal, maxVal }) =>
        typeof minVal !== "number" || typeof maxVal !== "number" || Number.isNaN(minVal) || Number.isNaN(maxVal) ? `minVal and maxVal must be numbers, got ${minVal} and ${maxVal}` : minVal > maxVal ? `minVal ${minVal} is greater than maxVal ${maxVal}` : undefined,
    },
  ),
  // min(max(x, min), max), either bound optional; the gradient flows where min ≤ x ≤ max
  clamp: compositeRow<"clamp">(
    (x, { min, max }) => {
      if (Number.isNaN(x)) return x;
      const low = min === undefined ? x : Math.max(x, min);
      return max === undefined ? low : Math.min(low, max);
    },
    // selects rather than maximum/minimum, whose gradients split ties: PyTorch's clamp passes the
    // whole gradient at the bounds; with min > max every element is max (NaN stays NaN), no gradient
    (inputs, { min, max }) => {
      const x = only(inputs, "clamp");
      if (min !== undefined && max !== undefined && min > max) return where(ne(x, x), x, max);
      const low = min === undefined ? x : where(lt(x, min), min, x);
      return max === undefined ? low : where(gt(x, max), max, low);
    },
    {
      numeric: true,
      checkAttrs: ({ min, max }, x) => {
        if (min === undefined && max === undefined) return "give min, max or both";
        if (typeof (min ?? 0) !== "number" || typeof (max ?? 0) !== "number" || Number.isNaN(min ?? 0) || Number.isNaN(max ?? 0)) return `min and max must be numbers, got ${String(min)} and ${String(max)}`;
        if (x.dtype === "i32" && !Number.isInteger(min ?? 0)) return `the bounds of an i32 input must be integers, got min ${String(min)}`;
        if (x.dtype === "i32" && !Number.isInteger(max ?? 0)) return `the bounds of an i32 input must be integers, got max ${String(max)}`;
        return undefined;
      },
    },
  ),
};

