/**
 * @file What makes the DSL total: {@link guarded} turns whatever a DSL function would throw on
 * arguments of the wrong JS type into an ill-typed node with the message at the caller's line,
 * and {@link rejected} builds such a node for a call the DSL refuses itself.
 */
import { error } from "./diagnostics.js";
import { captureLoc } from "./loc.js";
import type { OpCall } from "./ops/attrs.js";
import { formatShape, type Dim, type Shape } from "./shape.js";
import { describeValue, isTensor, Tensor } from "./tensor.js";

/** A call with arguments of the wrong JS type (from untyped code), caught by {@link guarded}. */
export class ArgumentError extends Error {}

/**
 * Makes a DSL function total over any JS arguments: whatever it would throw on arguments of the
 * wrong type (`add(x, undefined)`, a shape that is not an array, …) becomes an ill-typed node with
 * the message at the caller's line, reported by `check` like any type error.
 */
export const guarded = <F extends (...args: never[]) => Tensor>(op: string, build: F): F => {
  const total = (...args: unknown[]): Tensor => {
    try {
      return (build as unknown as (...values: unknown[]) => Tensor)(...args);
    } catch (thrown) {
      const message = thrown instanceof ArgumentError ? `${op}: ${thrown.message}` : `${op}: invalid arguments (${thrown instanceof Error ? thrown.message : String(thrown)})`;
      const loc = captureLoc();
      const call: OpCall = { op: "constant", attrs: { value: [], shape: [], dtype: "f32" } };
      return new Tensor(call, args.filter(isTensor), loc, undefined, [error("type", message, loc)]);
    }
  };
  return total as unknown as F;
};

/** A shape argument: an array of dims (each checked by the op's rule), or an ArgumentError. */
export const shapeArg = (shape: unknown, what = "shape"): Shape => {
  if (!Array.isArray(shape)) throw new ArgumentError(`${what} must be an array of dims (non-negative integers or names like "batch"), got ${describeValue(shape)}`);
  return [...(shape as readonly Dim[])];
};

/**
 * An ill-typed node for a call the DSL rejects before the op table sees it (a dim out of range,
 * a ragged array): it carries `message` at the caller's location, like an op-table type error.
 */
export const rejected = (call: OpCall, inputs: readonly Tensor[], message: string): Tensor => {
  const loc = captureLoc();
  return new Tensor(call, inputs, loc, undefined, [error("type", message, loc)]);
};

/** `dim 5 out of range for shape [1,3] (expected -2 ≤ dim < 2)`, as the op table words it. */
export const dimRangeMessage = (op: string, dim: number, shape: Shape, rank = shape.length): string =>
  `${op}: dim ${dim} out of range for shape ${formatShape(shape)} (expected ${-rank} ≤ dim < ${rank})`;

