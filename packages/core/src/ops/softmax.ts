/**
 * @file softmax and log_softmax along any dim, max-shifted.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { forEachRow, rowLayout, type NDArray } from "../ndarray.js";
import { div, exp, log, max, mul, sub, sum } from "../api.js";
import type { Tensor } from "../tensor.js";
import type { OpDef } from "./def.js";
import { checkDim, requireFloat } from "./rules.js";

/**
 * Softmax rows along `dim`. The max is subtracted first; a row whose max is −inf (all −inf)
 * is shifted by 0 instead, which gives NaN as PyTorch does. `log` gives log_softmax.
 */
export const softmaxValues = (x: NDArray, dim: number, log: boolean): Float64Array => {
  const out = new Float64Array(x.data.length);
  const layout = rowLayout(x.shape, dim);
  forEachRow(layout, (base, stride) => {
    let max = -Infinity;
    for (let c = 0; c < layout.size; c++) {
      const v = x.data[base + c * stride] as number;
      if (v > max || Number.isNaN(v)) max = v;
    }
    const shift = max === -Infinity ? 0 : max;
    let total = 0;
    for (let c = 0; c < layout.size; c++) total += Math.exp((x.data[base + c * stride] as number) - shift);
    const logTotal = Math.log(total);
    for (let c = 0; c < layout.size; c++) {
      const shifted = (x.data[base + c * stride] as number) - shift;
      out[base + c * stride] = log ? shifted - logTotal : Math.exp(shifted) / total;
    }
  });
  return out;
};

const softmaxInfer: OpDef<"softmax">["infer"] = ([x], attrs) =>
  x === undefined ? E.left("missing input") : pipe(requireFloat(x), E.chain(() => checkDim(x.shape, attrs.dim)), E.map(() => x));

/** x − max(x) along `dim` (NaN for an all −inf row, as the max-shifted row kernels give). */
const shifted = (inputs: readonly Tensor[], dim: number): Tensor => {
  const [x] = inputs;
  if (x === undefined) throw new Error("internal: softmax decomposed without its input");
  return sub(x, max(x, dim, true));
};

export const softmaxOps: { readonly softmax: OpDef<"softmax">; readonly log_softmax: OpDef<"log_softmax"> } = {
  softmax: {
    kind: "softmax",
    arity: [1, 1],
    infer: softmaxInfer,
    evaluate: ([x], attrs) => (x === undefined ? new Float64Array(0) : softmaxValues(x, attrs.dim, false)),
    // e / Σ e with e = exp(x − max)
    decompose: (inputs, attrs) => {
      const e = exp(shifted(inputs, attrs.dim));
      return div(e, sum(e, attrs.dim, true));
    },
    // s ⊙ (g − Σ g⊙s): the Jacobian-vector product, never the Jacobian
    gradient: { rule: ({ grad, output, attrs }) => [mul(output, sub(grad, sum(mul(grad, output), attrs.dim, true)))] },
  },
  log_softmax: {
    kind: "softmax",
    arity: [1, 1],
    infer: softmaxInfer,
    evaluate: ([x], attrs) => (x === undefined ? new Float64Array(0) : softmaxValues(x, attrs.dim, true)),
    // s − log Σ exp(s) with s = x − max
    decompose: (inputs, attrs) => {
      const s = shifted(inputs, attrs.dim);
      return sub(s, log(sum(exp(s), attrs.dim, true)));
    },
    // g − exp(out) Σ g
    gradient: { rule: ({ grad, output, attrs }) => [sub(grad, mul(exp(output), sum(grad, attrs.dim, true)))] },
  },
};
