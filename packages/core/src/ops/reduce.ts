/**
 * @file Reduction rows: sum, mean, max, min, logsumexp over dims; argmax; dim_size.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { sizeOf } from "../shape.js";
import { forEachRow, mapBroadcast, reduceDims, rowLayout, type NDArray } from "../ndarray.js";
import { abs, add, cast, dimSize, div, eq, exp, log, max as maxOf, mul, reshape, softmax, sub, sum, where } from "../api.js";
import type { Tensor } from "../tensor.js";
import type { OpDef } from "./def.js";
import { checkDim, ok, reducedShape, requireFloat, requireNumeric, unreduce } from "./rules.js";

type ReduceName = "sum" | "mean" | "max" | "min" | "logsumexp";

const reduceRow = <K extends ReduceName>(
  evaluate: (x: NDArray, dims: readonly number[]) => Float64Array,
  gradient: OpDef<K>["gradient"],
  floatOnly: boolean,
  decompose?: OpDef<K>["decompose"],
): OpDef<K> => ({
  ...(decompose === undefined ? {} : { decompose }),
  kind: "reduce",
  arity: [1, 1],
  infer: ([x], attrs) =>
    x === undefined
      ? E.left("missing input")
      : pipe(
          floatOnly ? requireFloat(x) : requireNumeric(x),
          E.chain(() => reducedShape(x.shape, attrs.dims, attrs.keepdim)),
          E.map((shape) => ({ shape, dtype: x.dtype })),
        ),
  evaluate: ([x], attrs) => (x === undefined ? new Float64Array(0) : evaluate(x, attrs.dims)),
  gradient,
});

// once a NaN is seen it stays (PyTorch's max/min propagate NaN)
const nanMax = (acc: number, v: number): number => (Number.isNaN(acc) ? acc : v > acc || Number.isNaN(v) ? v : acc);
const nanMin = (acc: number, v: number): number => (Number.isNaN(acc) ? acc : v < acc || Number.isNaN(v) ? v : acc);

/** Max-shifted log Σ exp over dims; an infinite max is replaced by 0 as in PyTorch. */
export const logsumexpValues = (x: NDArray, dims: readonly number[]): Float64Array => {
  const maxes = reduceDims(x, dims, -Infinity, nanMax);
  const shifts = maxes.map((m) => (Number.isFinite(m) ? m : 0));
  const keptShape = x.shape.map((size, axis) => (dims.includes(axis) ? 1 : size));
  const shifted = mapBroadcast([x, { shape: keptShape, dtype: x.dtype, data: shifts }], x.shape, ([v = 0, s = 0]) => Math.exp(v - s));
  const sums = reduceDims({ shape: x.shape, dtype: x.dtype, data: shifted }, dims, 0, (a, v) => a + v);
  return sums.map((s, i) => Math.log(s) + (shifts[i] as number));
};

/** softmax over `dims` (the softmax op for one dim; exp(x − max) / Σ for several). */
const softmaxOver = (x: Tensor, dims: readonly number[]): Tensor => {
  const [only] = dims;
  if (dims.length === 1 && only !== undefined) return softmax(x, only);
  const shifted = exp(sub(x, maxOf(x, dims, true)));
  return div(shifted, sum(shifted, dims, true));
};

/** Gradient of max/min: the cotangent is split evenly between tied extrema. */
const extremumGradient = {
  rule: ({ grad, output, inputs: [x], attrs }: import("./def.js").VjpArgs<"max" | "min">) => {
    if (x === undefined) return [undefined];
    const mask = cast(eq(x, unreduce(output, x.shape, attrs.dims, attrs.keepdim)), x.dtype ?? "f32");
    const ties = sum(mask, attrs.dims, true);
    return [mul(unreduce(grad, x.shape, attrs.dims, attrs.keepdim), div(mask, ties))];
  },
};

export const reduceOps: { readonly [K in ReduceName]: OpDef<K> } & {
  readonly argmax: OpDef<"argmax">;
  readonly dim_size: OpDef<"dim_size">;
} = {
  sum: reduceRow((x, dims) => reduceDims(x, dims, 0, (a, v) => a + v), {
    rule: ({ grad, inputs: [x], attrs }) => [x && unreduce(grad, x.shape, attrs.dims, attrs.keepdim)],
  }, false),
  mean: reduceRow((x, dims) => reduceDims(x, dims, 0, (a, v) => a + v, (a, n) => a / n), {
    rule: ({ grad, inputs: [x], attrs }) => [x && div(unreduce(grad, x.shape, attrs.dims, attrs.keepdim), dimSize(x, attrs.dims))],
  }, true),
  max: reduceRow((x, dims) => reduceDims(x, dims, -Infinity, nanMax), extremumGradient as OpDef<"max">["gradient"], false),
  min: reduceRow((x, dims) => reduceDims(x, dims, Infinity, nanMin), extremumGradient as OpDef<"min">["gradient"], false),
  // ∇ logsumexp = softmax, from the max shift: exp(x − LSE) is off once |x| ≫ 2⁵³·log k (3e38),
  // where LSE has rounded log Σ away (two tied 3e38 entries would get 1 each instead of ½)
  logsumexp: reduceRow(
    logsumexpValues,
    {
      rule: ({ grad, inputs: [x], attrs }) => [x && mul(unreduce(grad, x.shape, attrs.dims, attrs.keepdim), softmaxOver(x, attrs.dims))],
    },
    true,
    // log Σ exp(x − m) + m with m = max(x), or 0 where the max is infinite
    ([x], attrs) => {
      if (x === undefined) throw new Error("internal: logsumexp decomposed without its input");
      const m = maxOf(x, attrs.dims, true);
      const shift = where(eq(abs(m), Infinity), 0, m);
      const kept = add(log(sum(exp(sub(x, shift)), attrs.dims, true)), shift);
      return attrs.keepdim ? kept : reshape(kept, x.shape.filter((_, axis) => !attrs.dims.includes(axis)));
    },
  ),
  argmax: {
    kind: "reduce",
    arity: [1, 1],
    infer: ([x], attrs) =>
      x === undefined
        ? E.left("missing input")
        : pipe(
            requireNumeric(x),
            E.chain(() => checkDim(x.shape, attrs.dim)),
            E.chain(() => reducedShape(x.shape, x.shape.length === 0 ? [] : [attrs.dim], attrs.keepdim)),
            E.map((shape) => ({ shape, dtype: "i32" as const })),
          ),
    evaluate: ([x], attrs) => {
      if (x === undefined) return new Float64Array(0);
      const layout = rowLayout(x.shape, attrs.dim);
      const out = new Float64Array(layout.outer * layout.inner);
      forEachRow(layout, (base, stride, row) => {
        let best = 0;
        let bestValue = -Infinity;
        for (let c = 0; c < layout.size; c++) {
          const v = x.data[base + c * stride] as number;
          if (Number.isNaN(v)) {
            best = c;
            break;
          }
          if (v > bestValue) {
            bestValue = v;
            best = c;
          }
        }
        out[row] = best;
      });
      return out;
    },
    gradient: { none: "argmax is piecewise constant: it has no gradient" },
  },
  dim_size: {
    kind: "reduce",
    arity: [1, 1],
    infer: ([x], attrs) => (x === undefined ? E.left("missing input") : pipe(reducedShape(x.shape, attrs.dims, false), E.chain(() => ok([], attrs.dtype)))),
    evaluate: ([x], attrs) => Float64Array.of(x === undefined ? 0 : sizeOf(attrs.dims.map((axis) => x.shape[axis] ?? 1))),
    // depends on the shape only, not on the values
    gradient: { rule: () => [undefined] },
  },
};

