/**
 * @file Leaf rows: input (fed at run time), param (trainable, initialised), constant.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { formatInit, initNeedsMatrix } from "../init.js";
import { formatShape, isStaticShape, sizeOf, staticSize } from "../shape.js";
import type { OpDef } from "./def.js";
import { checkShapeDims, ok } from "./rules.js";

const fedAtRunTime = (op: string) => (): Float64Array => {
  throw new Error(`${op} values come from the feeds, not from the op table`);
};

export const leafOps: { readonly input: OpDef<"input">; readonly param: OpDef<"param">; readonly constant: OpDef<"constant"> } = {
  input: {
    kind: "leaf",
    arity: [0, 0],
    infer: (_inputs, attrs) => pipe(checkShapeDims(attrs.shape), E.chain((shape) => ok(shape, attrs.dtype))),
    evaluate: fedAtRunTime("input"),
    gradient: { rule: () => [] },
    formatAttrs: (attrs) => `name=${attrs.name}`,
  },
  param: {
    kind: "leaf",
    arity: [0, 0],
    infer: (_inputs, attrs) =>
      pipe(
        checkShapeDims(attrs.shape),
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
        checkShapeDims(attrs.shape),
        E.chain((shape) =>
          attrs.value.length === 1 || (isStaticShape(shape) && attrs.value.length === staticSize(shape))
            ? ok(shape, attrs.dtype)
            : E.left(`constant of shape ${formatShape(shape)} needs ${isStaticShape(shape) ? staticSize(shape) : 1} values, got ${attrs.value.length}`),
        ),
      ),
    evaluate: (_inputs, attrs, out) => {
      const size = sizeOf(out.shape);
      return attrs.value.length === 1 ? new Float64Array(size).fill(attrs.value[0] as number) : Float64Array.from(attrs.value);
    },
    gradient: { rule: () => [] },
    formatAttrs: (attrs) => (attrs.value.length <= 8 ? `value=${attrs.value.length === 1 ? String(attrs.value[0]) : `[${attrs.value.join(",")}]`}` : `value=<${attrs.value.length} values>`),
  },
};
