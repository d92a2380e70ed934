// The testing kit as the README uses it: the rounding allowance of checkGradients (no false
// failures at extreme logits with the default arbitraries and tolerance), and fast-check
// failures whose message names the failing row.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { constant, crossEntropy, ndarray, relu, sum, type NDArray, type Tensor } from "@graft/core";
import { checkGradients, expectGradientsMatch, expectSoftmaxInvariants, logitsArb } from "../src/testing/index.js";

const feedsOf = (x: number[], label: number) => ({ x: ndarray([x.length], "f64", x), y: ndarray([], "i32", [label]) });

describe("checkGradients' rounding allowance", () => {
  // fast-check's shrunk counterexample of the README's example before the allowance existed:
  // "4 of 4 components differ (max error 8.50e-5)" at loss 2.5e6
  const smoothedLoss = ({ x, y }: Readonly<Record<string, Tensor>>): Tensor => {
    if (x === undefined || y === undefined) throw new Error("feed x and y");
    return crossEntropy(x, y, { dim: 0, labelSmoothing: 0.1, weight: constant([0.1, 0.1, 0.1, 0.1], "f64") });
  };

  test("a logit of -1e8 no longer fails: the allowance is 8·2⁻⁵²·M/eps with M the largest magnitude", () => {
    const report = expectGradientsMatch(smoothedLoss, { feeds: feedsOf([0, -1e8, 0, 0], 0), wrt: ["x"] });
    expect(report.ok).toBe(true);
    expect(report.rounding).toBeCloseTo((8 * Number.EPSILON * 1e8) / 1e-6, 12);
    expect(report.checks[0]?.maxError).toBeGreaterThan(report.tolerance); // it would have failed on the tolerance alone
  });

  test("near ordinary values the allowance is negligible", () => {
    const report = checkGradients(smoothedLoss, { feeds: feedsOf([0.5, -2, 3, 1], 2), wrt: ["x"] });
    expect(report.ok).toBe(true);
    expect(report.rounding).toBeLessThan(1e-8);
  });

  test("a wrong gradient still fails, and the report says how large the allowance was", () => {
    // relu at its kink: analytic 0, central difference 0.5
    const subject = ({ x }: Readonly<Record<string, Tensor>>): Tensor => {
      if (x === undefined) throw new Error("feed x");
      return sum(relu(x));
    };
    expect(() => expectGradientsMatch(subject, { feeds: { x: ndarray([2], "f64", [0, 1e4]) } })).toThrow(
      /^gradient check \(central differences, eps 0\.000001, tolerance 0\.00001, rounding allowance up to 1\.78e-5; loss 10000\.00000\):\n {2}input x \[2\]: 1 of 2 components differ/,
    );
  });
});

describe("fast-check failures name the row in the message", () => {
  const naiveSoftmax = (x: NDArray, dim: number): Float64Array => {
    const exps = x.data.map(Math.exp);
    const out = new Float64Array(exps.length);
    const size = x.shape[dim] ?? 1;
    const stride = x.shape.slice(dim + 1).reduce((p, d) => p * d, 1);
    for (let i = 0; i < exps.length; i++) {
      const base = i - (Math.floor(i / stride) % size) * stride;
      let total = 0;
      for (let c = 0; c < size; c++) total += exps[base + c * stride] ?? 0;
      out[i] = (exps[i] ?? 0) / total;
    }
    return out;
  };

  test("with includeErrorInReport (as in the README) the invariant that failed is in error.message", () => {
    const property = fc.property(logitsArb({ negInf: true }), ({ logits, dim }) => expectSoftmaxInvariants(logits, dim, { probs: naiveSoftmax(logits, dim) }));
    expect(() => fc.assert(property, { seed: 42, numRuns: 500, includeErrorInReport: true })).toThrow(/Got error: softmax invariant violated: row \d+ along dim \d+ \(logits \[.*\]\): entry \d+ = NaN is outside \[0, 1\]/);
  });
});
