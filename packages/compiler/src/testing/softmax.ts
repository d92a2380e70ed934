/**
 * @file Invariant checks for softmax implementations. They throw an Error naming the row and
 * the violated law, so they work inside `fc.property` and any test runner.
 */
import { softmaxValues, type NDArray } from "@graft/core";
import { rowsOf } from "./arbitraries.js";

export interface SoftmaxInvariantOptions {
  /**
   * The probabilities to check, the shape of x (default: graft's reference softmax of x).
   * Pass your implementation's output here.
   */
  readonly probs?: NDArray | Float64Array;
  /** Machine epsilon of the implementation (default float64's 2⁻⁵²; use 2⁻²³ for f32). */
  readonly eps?: number;
}

const fail = (message: string): never => {
  throw new Error(`softmax invariant violated: ${message}`);
};

/**
 * Checks softmax(x) along `dim` row by row:
 * - a row with a finite max and no NaN/+inf: entries in [0, 1], sum within n·eps of 1 (n the
 *   row length), order preserved (xᵢ < xⱼ ⇒ pᵢ ≤ pⱼ) and ties equal (xᵢ = xⱼ ⇒ pᵢ = pⱼ);
 * - any other row (all −inf, a NaN or a +inf entry): every entry is NaN, as in PyTorch.
 * @throws Error naming the first violating row and law.
 */
export const expectSoftmaxInvariants = (x: NDArray, dim: number, options: SoftmaxInvariantOptions = {}): void => {
  const eps = options.eps ?? Number.EPSILON;
  const given = options.probs;
  const data = given === undefined ? softmaxValues(x, dim, false) : given instanceof Float64Array ? given : given.data;
  if (data.length !== x.data.length) fail(`${data.length} probabilities for ${x.data.length} logits`);
  const xs = rowsOf(x, dim);
  const ps = rowsOf({ shape: x.shape, dtype: x.dtype, data }, dim);
  xs.forEach((row, r) => {
    const p = ps[r] ?? [];
    const max = Math.max(...row);
    const defined = row.every((v) => !Number.isNaN(v) && v !== Infinity) && max > -Infinity;
    const where = `row ${r} along dim ${dim} (logits [${row.join(", ")}], probabilities [${p.join(", ")}])`;
    if (!defined) {
      if (!p.every(Number.isNaN)) fail(`${where}: a row with NaN, +inf or only −inf must be all NaN`);
      return;
    }
    const bad = p.findIndex((v) => !(v >= 0 && v <= 1));
    if (bad >= 0) fail(`${where}: entry ${bad} = ${p[bad]} is outside [0, 1]`);
    const total = p.reduce((a, b) => a + b, 0);
    const tolerance = row.length * eps;
    if (!(Math.abs(total - 1) <= tolerance)) fail(`${where}: sums to ${total}, |Σ − 1| = ${Math.abs(total - 1)} > n·eps = ${tolerance}`);
    for (let i = 0; i < row.length; i++)
      for (let j = 0; j < row.length; j++) {
        const [xi, xj, pi, pj] = [row[i] as number, row[j] as number, p[i] as number, p[j] as number];
        if (xi === xj && pi !== pj) fail(`${where}: tied logits ${i} and ${j} get different probabilities ${pi} and ${pj}`);
        if (xi < xj && pi > pj) fail(`${where}: logit ${i} < logit ${j} but probability ${pi} > ${pj} (order not preserved)`);
      }
  });
};
