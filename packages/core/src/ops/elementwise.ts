/**
 * @file Elementwise rows: unary math, broadcasting binary arithmetic, comparisons, where, cast.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { isFloat, type Dtype } from "../dtype.js";
import { mapBroadcast } from "../ndarray.js";
import { formatType } from "../shape.js";
import { add, cast, div, eq, exp, ge, gt, lt, log, mul, neg, pow, sigmoid, sign, sub, where } from "../api.js";
import type { Tensor } from "../tensor.js";
import type { OpAttrs } from "./attrs.js";
import type { OpDef } from "./def.js";
import { broadcastAll, checkDtype, ok, requireFloat, requireNumeric, requireSameDtype, sumTo } from "./rules.js";

type UnaryName = "neg" | "exp" | "log" | "sqrt" | "abs" | "sign" | "relu" | "sigmoid" | "log_sigmoid" | "tanh";

const unaryRow = <K extends UnaryName>(f: (x: number) => number, gradient: OpDef<K>["gradient"], floatOnly = true): OpDef<K> => ({
  kind: "elementwise",
  arity: [1, 1],
  infer: ([x]) => (x === undefined ? E.left("missing input") : floatOnly ? requireFloat(x) : requireNumeric(x)),
  evaluate: ([x]) => (x === undefined ? new Float64Array(0) : x.data.map(f)),
  gradient,
});

const logSigmoid = (x: number): number => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
const sigmoidOf = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export const unaryOps: { readonly [K in UnaryName]: OpDef<K> } = {
  // d(-x) = -dx
  neg: unaryRow((x) => -x, { rule: ({ grad }) => [neg(grad)] }, false),
  // d(exp x) = exp(x) dx
  exp: unaryRow(Math.exp, { rule: ({ grad, output }) => [mul(grad, output)] }),
  // d(log x) = dx / x
  log: unaryRow(Math.log, { rule: ({ grad, inputs: [x] }) => [x && div(grad, x)] }),
  // d(√x) = dx / (2√x)
  sqrt: unaryRow(Math.sqrt, { rule: ({ grad, output }) => [div(grad, mul(output, 2))] }),
  // d|x| = sign(x) dx
  abs: unaryRow(Math.abs, { rule: ({ grad, inputs: [x] }) => [x && mul(grad, sign(x))] }, false),
  // sign is piecewise constant: zero gradient almost everywhere
  sign: unaryRow(Math.sign, { rule: ({ grad }) => [mul(grad, 0)] }, false),
  // d relu(x) = [x > 0] dx
  relu: unaryRow((x) => (x > 0 ? x : Number.isNaN(x) ? x : 0), { rule: ({ grad, output }) => [where(gt(output, 0), grad, 0)] }),
  // d σ(x) = σ(x)(1 − σ(x)) dx
  sigmoid: unaryRow(sigmoidOf, { rule: ({ grad, output }) => [mul(grad, mul(output, sub(1, output)))] }),
  // d log σ(x) = σ(−x) dx
  log_sigmoid: unaryRow(logSigmoid, { rule: ({ grad, inputs: [x] }) => [x && mul(grad, sigmoid(neg(x)))] }),
  // d tanh(x) = (1 − tanh²x) dx
  tanh: unaryRow(Math.tanh, { rule: ({ grad, output }) => [mul(grad, sub(1, mul(output, output)))] }),
};

type ArithName = "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum";
type CompareName = "eq" | "ne" | "lt" | "le" | "gt" | "ge";

const binaryInfer = (types: readonly import("../shape.js").TensorType[], result: "same" | "bool") =>
  pipe(
    requireSameDtype(types),
    E.chain((dtype) => (dtype === "bool" && result === "same" ? E.left(`arithmetic on bool: ${types.map(formatType).join(", ")} (cast to f32 first)`) : E.right(dtype))),
    E.chain((dtype) => E.map((shape: import("../shape.js").Shape) => ({ shape, dtype: result === "bool" ? ("bool" as const) : dtype }))(broadcastAll(types))),
  );

const arithRow = <K extends ArithName>(f: (a: number, b: number) => number, gradient: OpDef<K>["gradient"]): OpDef<K> => ({
  kind: "elementwise",
  arity: [2, 2],
  infer: (types) => binaryInfer(types, "same"),
  evaluate: (inputs, _attrs, out) => {
    const integer = out.dtype === "i32";
    return mapBroadcast(inputs, out.shape, ([a = 0, b = 0]) => (integer ? Math.trunc(f(a, b)) | 0 : f(a, b)));
  },
  gradient,
});

const compareRow = <K extends CompareName>(f: (a: number, b: number) => boolean): OpDef<K> => ({
  kind: "elementwise",
  arity: [2, 2],
  infer: (types) => binaryInfer(types, "bool"),
  evaluate: (inputs, _attrs, out) => mapBroadcast(inputs, out.shape, ([a = 0, b = 0]) => (f(a, b) ? 1 : 0)),
  gradient: { none: "comparisons are piecewise constant and return bool" },
});

/** PyTorch's `where(a == b, grad / 2, grad).masked_fill_(loses(a, b), 0)`. */
const tieSplit = (grad: Tensor, a: Tensor, b: Tensor, loses: (x: Tensor, y: Tensor) => Tensor): Tensor => where(eq(a, b), mul(grad, 0.5), where(loses(a, b), 0, grad));

export const binaryOps: { readonly [K in ArithName | CompareName]: OpDef<K> } = {
  add: arithRow((a, b) => a + b, {
    rule: ({ grad, inputs: [a, b] }) => [a && sumTo(grad, a.shape), b && sumTo(grad, b.shape)],
  }),
  sub: arithRow((a, b) => a - b, {
    rule: ({ grad, inputs: [a, b] }) => [a && sumTo(grad, a.shape), b && sumTo(neg(grad), b.shape)],
  }),
  // d(ab) = b da + a db
  mul: arithRow((a, b) => a * b, {
    rule: ({ grad, inputs: [a, b] }) => [a && b && sumTo(mul(grad, b), a.shape), a && b && sumTo(mul(grad, a), b.shape)],
  }),
  // d(a/b) = da / b − a db / b²
  div: arithRow((a, b) => a / b, {
    rule: ({ grad, inputs: [a, b], output }) => [a && b && sumTo(div(grad, b), a.shape), b && sumTo(neg(div(mul(grad, output), b)), b.shape)],
  }),
  // d(aᵇ) = b aᵇ⁻¹ da + aᵇ log(a) db, as PyTorch's pow_backward: no gradient to a where b = 0,
  // none to b where a = 0 and b ≥ 0 (so pow([0,0,0], [2,1,0.5]) gives [0, 1, +inf] and [0, 0, 0])
  pow: arithRow(Math.pow, {
    rule: ({ grad, inputs: [a, b], output }) => [
      a && b && sumTo(where(eq(b, 0), 0, mul(grad, mul(b, pow(a, sub(b, 1))))), a.shape),
      a && b && sumTo(where(eq(a, 0), where(ge(b, 0), 0, mul(grad, mul(output, log(a)))), mul(grad, mul(output, log(a)))), b.shape),
    ],
  }),
  // ties split the gradient ½–½ (PyTorch's maximum/minimum backward; NaN operands get it all)
  maximum: arithRow((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b)), {
    rule: ({ grad, inputs: [a, b] }) => [a && b && sumTo(tieSplit(grad, a, b, lt), a.shape), a && b && sumTo(tieSplit(grad, a, b, gt), b.shape)],
  }),
  minimum: arithRow((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.min(a, b)), {
    rule: ({ grad, inputs: [a, b] }) => [a && b && sumTo(tieSplit(grad, a, b, gt), a.shape), a && b && sumTo(tieSplit(grad, a, b, lt), b.shape)],
  }),
  eq: compareRow((a, b) => a === b),
  ne: compareRow((a, b) => a !== b),
  lt: compareRow((a, b) => a < b),
  le: compareRow((a, b) => a <= b),
  gt: compareRow((a, b) => a > b),
  ge: compareRow((a, b) => a >= b),
};

export const selectOps: { readonly where: OpDef<"where">; readonly cast: OpDef<"cast"> } = {
  where: {
    kind: "elementwise",
    arity: [3, 3],
    infer: ([cond, a, b]) => {
      if (cond === undefined || a === undefined || b === undefined) return E.left("missing input");
      if (cond.dtype !== "bool") return E.left(`condition must be bool, got ${formatType(cond)} (compare first, e.g. gt(x, 0))`);
      return pipe(
        requireSameDtype([a, b]),
        E.chain((dtype) => E.map((shape: import("../shape.js").Shape) => ({ shape, dtype }))(broadcastAll([cond, a, b]))),
      );
    },
    evaluate: (inputs, _attrs, out) => mapBroadcast(inputs, out.shape, ([c = 0, a = 0, b = 0]) => (c !== 0 ? a : b)),
    gradient: {
      rule: ({ grad, inputs: [cond, a, b] }) => [
        undefined,
        cond && a && sumTo(where(cond, grad, 0), a.shape),
        cond && b && sumTo(where(cond, 0, grad), b.shape),
      ],
    },
  },
  cast: {
    kind: "elementwise",
    arity: [1, 1],
    infer: ([x], attrs: OpAttrs["cast"]) => (x === undefined ? E.left("missing input") : E.chain((dtype: Dtype) => ok(x.shape, dtype))(checkDtype(attrs.dtype))),
    evaluate: ([x], attrs) => {
      if (x === undefined) return new Float64Array(0);
      switch (attrs.dtype) {
        case "bool":
          return x.data.map((v) => (v !== 0 ? 1 : 0));
        case "i32":
          return x.data.map((v) => Math.trunc(v) | 0);
        default:
          return x.data.slice();
      }
    },
    // between floats the gradient casts back; from or to integers none flows
    gradient: {
      rule: ({ grad, inputs: [x] }) => [x !== undefined && x.dtype !== undefined && isFloat(x.dtype) && isFloat(grad.dtype ?? "f32") ? cast(grad, x.dtype) : undefined],
    },
  },
};

