/**
 * @file Leaf rows: input (fed at run time), param (trainable, initialised), constant.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { constantValue, I32_MAX, I32_MIN } from "../dtype.js";
import { formatInit, initNeedsMatrix, type Init } from "../init.js";
import { formatShape, isStaticShape, sizeOf, staticSize } from "../shape.js";
import type { OpDef } from "./def.js";
import { describeValue } from "../tensor.js";
import { checkDtype, checkName, checkShapeDims, ok } from "./rules.js";

/** Constant values from untyped code: an array of numbers (they are written into generated code). */
const checkValues = (values: unknown): E.Either<string, readonly number[]> => {
  if (!Array.isArray(values)) return E.left(`values must be numbers, got ${describeValue(values)}`);
  const bad = (values as readonly unknown[]).findIndex((value) => typeof value !== "number");
  return bad < 0 ? E.right(values as readonly number[]) : E.left(`value ${bad} is ${describeValue(values[bad])}, expected a number`);
};

/** i32 constant values: finite and, truncated, in range (PyTorch refuses an int32 fill that overflows). */
const checkI32Values = (values: readonly number[]): E.Either<string, readonly number[]> => {
  const bad = values.findIndex((value) => !(Math.trunc(value) >= I32_MIN && Math.trunc(value) <= I32_MAX));
  return bad < 0 ? E.right(values) : E.left(`value ${String(values[bad])} does not fit an i32 constant (integers from ${I32_MIN} to ${I32_MAX})`);
};

/** The numeric fields of each initialiser kind (a mapped type: a new kind must be listed here). */
const INIT_NUMBERS: { readonly [K in Init["kind"]]: readonly string[] } = {
  zeros: [],
  ones: [],
  constant: ["value"],
  uniform: ["low", "high"],
  normal: ["mean", "std"],
  kaiming_uniform: ["fanIn"],
  kaiming: ["gain"],
  xavier: ["gain"],
  orthogonal: ["gain"],
};
/** Its string fields and their allowed values. */
const INIT_CHOICES: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  kaiming: { distribution: ["uniform", "normal"], mode: ["fan_in", "fan_out"] },
  xavier: { distribution: ["uniform", "normal"] },
};

/** An initialiser from untyped code: a known kind with finite numbers (fanIn positive) and known options. */
const checkInit = (init: unknown): E.Either<string, unknown> => {
  const kind: unknown = typeof init === "object" && init !== null ? (init as { readonly kind?: unknown }).kind : undefined;
  const fields = typeof kind === "string" && Object.prototype.hasOwnProperty.call(INIT_NUMBERS, kind) ? INIT_NUMBERS[kind as Init["kind"]] : undefined;
  if (fields === undefined)
    return E.left(`init must be an initialiser (zeros, ones, constantInit(v), uniform(a, b), normal(m, s), kaimingUniform(…), kaimingNormal(…), xavierUniform(g), xavierNormal(g), orthogonal(g)), got ${describeValue(init)}`);
  const record = init as Readonly<Record<string, unknown>>;
  const bad = fields.find((field) => typeof record[field] !== "number" || !Number.isFinite(record[field]) || (field === "fanIn" && (record[field] as number) <= 0));
  if (bad !== undefined) return E.left(`init ${kind as string}: ${bad} must be a finite number${bad === "fanIn" ? " > 0" : ""}, got ${describeValue(record[bad])}`);
  const badChoice = Object.entries(INIT_CHOICES[kind as string] ?? {}).find(([field, allowed]) => !allowed.includes(record[field] as string));
  return badChoice === undefined ? E.right(init) : E.left(`init ${kind as string}: ${badChoice[0]} must be ${badChoice[1].join(" or ")}, got ${describeValue(record[badChoice[0]])}`);
};

const fedAtRunTime = (op: string) => (): Float64Array => {
  throw new Error(`${op} values come from the feeds, not from the op table`);
};

export const leafOps: { readonly input: OpDef<"input">; readonly param: OpDef<"param">; readonly constant: OpDef<"constant"> } = {
  input: {
    kind: "leaf",
    arity: [0, 0],
    infer: (_inputs, attrs) =>
      pipe(
        checkName(attrs.name),
        E.chain(() => checkDtype(attrs.dtype)),
        E.chain(() => checkShapeDims(attrs.shape)),
        E.chain((shape) => ok(shape, attrs.dtype)),
      ),
    evaluate: fedAtRunTime("input"),
    gradient: { rule: () => [] },
    formatAttrs: (attrs) => `name=${attrs.name}`,
  },
  param: {
    kind: "leaf",
    arity: [0, 0],
    infer: (_inputs, attrs) =>
      pipe(
        checkName(attrs.name),
        // params are saved as safetensors, whose header keeps this key for its metadata
        E.chain((name) => (name === "__metadata__" ? E.left(`the name "__metadata__" is reserved (safetensors files keep their metadata under it); rename the param`) : E.right(name))),
        E.chain(() => checkDtype(attrs.dtype)),
        E.chain(() => checkInit(attrs.init)),
        E.chain(() => checkShapeDims(attrs.shape)),
        E.chain((shape) => (isStaticShape(shape) ? ok(shape, attrs.dtype) : E.left(`param ${attrs.name} needs a static shape, got ${formatShape(shape)}`))),
        // as PyTorch's _calculate_fan_in_and_fan_out: fans (and orthogonal's matrix) need rank ≥ 2
        E.chain((type) =>
          initNeedsMatrix(attrs.init) && type.shape.length < 2
            ? E.left(`param ${attrs.name}: ${formatInit(attrs.init)} needs a param of 2 or more dimensions (its fan in and fan out), got ${formatShape(type.shape)}`)
            : E.right(type),
        ),
      ),
    evaluate: fedAtRunTime("param"),
    gradient: { rule: () => [] },
    formatAttrs: (attrs) => `name=${attrs.name}, init=${formatInit(attrs.init)}`,
  },
  constant: {
    kind: "leaf",
    arity: [0, 0],
    infer: (_inputs, attrs) =>
      pipe(
        checkDtype(attrs.dtype),
        E.chain(() => checkValues(attrs.value)),
        E.chain((values) => (attrs.dtype === "i32" ? checkI32Values(values) : E.right(values))),
        E.chain(() => checkShapeDims(attrs.shape)),
        E.chain((shape) =>
          attrs.value.length === 1 || (isStaticShape(shape) && attrs.value.length === staticSize(shape))
            ? ok(shape, attrs.dtype)
            : E.left(`constant of shape ${formatShape(shape)} needs ${isStaticShape(shape) ? staticSize(shape) : 1} values, got ${attrs.value.length}`),
        ),
      ),
    evaluate: (_inputs, attrs, out) => {
      const size = sizeOf(out.shape);
      const value = (v: number): number => constantValue(v, attrs.dtype);
      return attrs.value.length === 1 ? new Float64Array(size).fill(value(attrs.value[0] as number)) : Float64Array.from(attrs.value, value);
    },
    gradient: { rule: () => [] },
    formatAttrs: (attrs) => (attrs.value.length <= 8 ? `value=${attrs.value.length === 1 ? String(attrs.value[0]) : `[${attrs.value.join(",")}]`}` : `value=<${attrs.value.length} values>`),
  },
};
