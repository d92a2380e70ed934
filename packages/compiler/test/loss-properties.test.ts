/**
 * Property tests of the loss math (issue 3), on the reference semantics (the op rows through the
 * float64 interpreter) and on the fused forms, for random shapes, dims and values including
 * ±1e4, ±3e38, ties and −inf entries. A fixed seed makes every run the same.
 */
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import {
  binaryCrossEntropyWithLogits,
  buildGraph,
  crossEntropy,
  formatDiagnostics,
  gather,
  graphFromTensors,
  input,
  log,
  logSigmoid,
  logSoftmax,
  logsumexp,
  mean,
  model,
  mul,
  ndarray,
  neg,
  nllLoss,
  oneHot,
  permute,
  pick,
  rowOf,
  run,
  sigmoid,
  softmax,
  softmaxValues,
  sub,
  sum,
  unsqueeze,
  type CrossEntropyOptions,
  type Diagnostics,
  type Feeds,
  type Graph,
  type NDArray,
  type Reduction,
  type Tensor,
} from "@graft/core";
import { fuse } from "../src/passes/fuse.js";
import {
  checkGradients,
  classificationArb,
  evaluateTensors,
  formatGradientReport,
  expectSoftmaxInvariants,
  labelsArb,
  logitsArb,
  rowsOf,
  shapeAndDimArb,
  tensorArb,
  valueArb,
  type Classification,
} from "../src/testing/index.js";

const SEED = 20260123;
const RUNS = 250;
const params = (numRuns = RUNS): fc.Parameters<unknown> => ({ seed: SEED, numRuns });
const EPS = Number.EPSILON;

const orThrow = <A>(result: E.Either<Diagnostics, A>): A => {
  if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
  return result.right;
};

/** Evaluates `build(x)` on the array x (fed as an f64 input). */
const on = (x: NDArray, build: (t: Tensor) => Tensor): NDArray => {
  const out = evaluateTensors({ out: build(input("x", x.shape, x.dtype)) }, { x }).out;
  if (out === undefined) throw new Error("no output");
  return out;
};

/** The value of output `name` of `graph`. */
const valueOf = (graph: Graph, feeds: Feeds, name = "loss"): NDArray => {
  const value = run(graph, feeds)[name];
  if (value === undefined) throw new Error(`no output ${name}`);
  return value;
};

const one = (value: NDArray): number => value.data[0] ?? Number.NaN;

/** fast-check's `expect` inside properties: throws with a message. */
const check = (condition: boolean, message: () => string): void => {
  if (!condition) throw new Error(message());
};

const withDim = <A extends object>(arb: fc.Arbitrary<A>): fc.Arbitrary<A & { readonly negative: boolean }> =>
  arb.chain((value) => fc.boolean().map((negative) => ({ ...value, negative })));

// ----- softmax, log_softmax, logsumexp ------------------------------------------------------------

describe("softmax family (reference semantics through the interpreter)", () => {
  test("softmax rows sum to 1 within n·eps, lie in [0, 1], keep order and ties — any dim, also negative", () => {
    fc.assert(
      fc.property(withDim(logitsArb({ negInf: true, maxRank: 4 })), ({ logits, dim, negative }) => {
        const probs = on(logits, (x) => softmax(x, negative ? dim - logits.shape.length : dim));
        expectSoftmaxInvariants(logits, dim, { probs });
      }),
      params(),
    );
  });

  test("rows with NaN, +inf or only −inf give all-NaN rows, as in PyTorch", () => {
    const poisoned = logitsArb({ negInf: true, allowAllNegInf: true, maxRank: 3 }).chain(({ logits, dim }) =>
      fc.array(fc.tuple(fc.nat(logits.data.length - 1), fc.constantFrom(Number.NaN, Infinity, -Infinity)), { maxLength: 3 }).map((hits) => {
        const data = Float64Array.from(logits.data);
        for (const [at, value] of hits) data[at] = value;
        return { logits: { ...logits, data }, dim };
      }),
    );
    let undefinedRows = 0;
    fc.assert(
      fc.property(poisoned, ({ logits, dim }) => {
        const probs = on(logits, (x) => softmax(x, dim));
        expectSoftmaxInvariants(logits, dim, { probs });
        undefinedRows += rowsOf(probs, dim).filter((row) => row.every(Number.isNaN)).length;
      }),
      params(),
    );
    expect(undefinedRows).toBeGreaterThan(50); // the generator really produces such rows
  });

  test("log_softmax ≤ 0, keeps order, and exp(log_softmax) = softmax", () => {
    fc.assert(
      fc.property(logitsArb({ negInf: true, maxRank: 3 }), ({ logits, dim }) => {
        const ls = on(logits, (x) => logSoftmax(x, dim));
        const p = softmaxValues(logits, dim, false);
        const xs = rowsOf(logits, dim);
        const lss = rowsOf(ls, dim);
        ls.data.forEach((v, i) => {
          check(v <= 0, () => `log_softmax ${v} > 0 at ${i}`);
          const expected = p[i] as number;
          // exp(v) has relative error ~ eps·|v|; a −inf log-probability is an exact 0
          const tolerance = Number.isFinite(v) ? EPS * (4 + Math.abs(v)) * expected + Number.MIN_VALUE : 0;
          check(Math.abs(Math.exp(v) - expected) <= tolerance, () => `exp(log_softmax) = ${Math.exp(v)} vs softmax ${expected} at ${i}`);
        });
        xs.forEach((row, r) =>
          row.forEach((a, i) =>
            row.forEach((b, j) => {
              const [li, lj] = [lss[r]?.[i] as number, lss[r]?.[j] as number];
              check(!(a < b && li > lj) && !(a === b && li !== lj), () => `order: x ${a}, ${b} → log_softmax ${li}, ${lj}`);
            }),
          ),
        );
      }),
      params(),
    );
  });

  test("shift invariance: softmax(x + c) = softmax(x) up to the rounding of x + c", () => {
    const shift = fc.oneof(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.constantFrom(1e4, -1e4, 3e38, -3e38, 1e8));
    let tightRows = 0;
    fc.assert(
      fc.property(logitsArb({ negInf: true, maxRank: 3 }), shift, ({ logits, dim }, c) => {
        const shifted = on(logits, (x) => softmax(x, dim));
        const moved = on({ ...logits, data: logits.data.map((v) => v + c) }, (x) => softmax(x, dim));
        const xs = rowsOf(logits, dim);
        const ps = rowsOf(shifted, dim);
        const qs = rowsOf(moved, dim);
        xs.forEach((row, r) => {
          // the exact rounding error of each x + c (TwoSum), then the bound |Δp| ≤ max(p, q)·(e^{2δ} − 1)
          const delta = Math.max(
            ...row.map((a) => {
              if (!Number.isFinite(a)) return 0;
              const s = a + c;
              const bb = s - a;
              return Math.abs(a - (s - bb) + (c - bb));
            }),
          );
          if (delta < 1e-9) tightRows++;
          row.forEach((_, i) => {
            const [p, q] = [ps[r]?.[i] as number, qs[r]?.[i] as number];
            const tolerance = Math.max(p, q) * Math.expm1(2 * delta) + 4 * EPS;
            check(p === q || Math.abs(p - q) <= tolerance, () => `row [${row.join(", ")}] + ${c}: ${p} vs ${q} (rounding ${delta})`);
          });
        });
      }),
      params(),
    );
    expect(tightRows).toBeGreaterThan(300); // most rows get a bound far below 1
  });

  test("shift invariance is exact (bit for bit) when x + c is exact", () => {
    // dyadic values k/16 with |k| < 2^24 and shifts the same: every sum is exact
    const dyadic = fc.integer({ min: -(2 ** 24), max: 2 ** 24 }).map((k) => k / 16);
    const arb = shapeAndDimArb({ maxRank: 3 }).chain(({ shape, dim }) =>
      fc.record({ data: fc.array(fc.oneof(dyadic, fc.constant(-Infinity)), { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }), c: dyadic, shape: fc.constant(shape), dim: fc.constant(dim) }),
    );
    fc.assert(
      fc.property(arb, ({ data, c, shape, dim }) => {
        const x = ndarray(shape, "f64", data);
        const xc = ndarray(shape, "f64", data.map((v) => v + c));
        for (const f of [(t: Tensor) => softmax(t, dim), (t: Tensor) => logSoftmax(t, dim)]) {
          const a = on(x, f);
          const b = on(xc, f);
          const same = a.data.every((v, i) => Object.is(v, b.data[i]));
          check(same, () => `[${data.join(", ")}] + ${c}: [${Array.from(a.data).join(", ")}] vs [${Array.from(b.data).join(", ")}]`);
        }
      }),
      params(),
    );
  });

  test("k = 2: softmax = sigmoid(a − b), log_softmax = log_sigmoid(a − b), BCE-with-logits = CE over [a, b]", () => {
    fc.assert(
      fc.property(logitsArb({ minClasses: 2, maxClasses: 2, maxRank: 3 }), fc.double({ min: 0, max: 1, noNaN: true }), ({ logits, dim }, t) => {
        const xs = rowsOf(logits, dim);
        const ps = rowsOf(on(logits, (x) => softmax(x, dim)), dim);
        const ls = rowsOf(on(logits, (x) => logSoftmax(x, dim)), dim);
        const d = ndarray([xs.length], "f64", xs.map(([a = 0, b = 0]) => a - b));
        const s = on(d, (x) => sigmoid(x)).data;
        const logS = on(d, (x) => logSigmoid(x)).data;
        xs.forEach((_, r) => {
          // a − b is rounded: the results may differ by eps·|a − b| relatively
          const scale = EPS * (8 + Math.abs(d.data[r] as number));
          const [p0, l0] = [ps[r]?.[0] as number, ls[r]?.[0] as number];
          const [s0, ls0] = [s[r] as number, logS[r] as number];
          check(Math.abs(p0 - s0) <= scale * Math.max(p0, s0) + Number.MIN_VALUE, () => `softmax ${p0} vs sigmoid ${s0}`);
          check(Math.abs(l0 - ls0) <= scale * (1 + Math.abs(ls0)), () => `log_softmax ${l0} vs log_sigmoid ${ls0}`);
        });
        // the two-class losses: BCE(a − b, t) = CE([a, b], [t, 1 − t]) for the mean over rows
        const dimOf = logits.shape.map((_, axis) => axis);
        const perm = [...dimOf.filter((axis) => axis !== dim), dim];
        const lastDim = perm.length - 1;
        const xt = on(logits, (x) => permute(x, perm));
        const targetData = new Float64Array(xt.data.length);
        for (let r = 0; r < xt.data.length / 2; r++) {
          targetData[2 * r] = t;
          targetData[2 * r + 1] = 1 - t;
        }
        const rowsDiff = ndarray([xt.data.length / 2], "f64", Array.from({ length: xt.data.length / 2 }, (_, r) => (xt.data[2 * r] as number) - (xt.data[2 * r + 1] as number)));
        const bce = one(evaluateTensors({ out: binaryCrossEntropyWithLogits(input("d", rowsDiff.shape, "f64"), input("t", rowsDiff.shape, "f64")) }, { d: rowsDiff, t: ndarray(rowsDiff.shape, "f64", rowsDiff.data.map(() => t)) }).out ?? ndarray([], "f64"));
        const ce = one(
          evaluateTensors({ out: crossEntropy(input("x", xt.shape, "f64"), input("t", xt.shape, "f64"), { dim: lastDim }) }, { x: xt, t: ndarray(xt.shape, "f64", targetData) }).out ?? ndarray([], "f64"),
        );
        const magnitude = Math.max(...Array.from(xt.data, Math.abs));
        check(Math.abs(bce - ce) <= 16 * EPS * (1 + magnitude), () => `BCE ${bce} vs CE ${ce}`);
      }),
      params(),
    );
  });

  test("max ≤ logsumexp ≤ max + log k, over any dims, keepdim or not", () => {
    const arb = logitsArb({ negInf: true, maxRank: 3 }).chain((l) => fc.record({ l: fc.constant(l), keepdim: fc.boolean(), extra: fc.boolean() }));
    fc.assert(
      fc.property(arb, ({ l: { logits, dim }, keepdim }) => {
        const lse = on(logits, (x) => logsumexp(x, [dim], keepdim));
        rowsOf(logits, dim).forEach((row, r) => {
          const m = Math.max(...row);
          const v = lse.data[r] as number;
          check(m <= v, () => `LSE ${v} < max ${m} for [${row.join(", ")}]`);
          const upper = m + Math.log(row.length);
          check(v <= upper + EPS * (Math.abs(m) + row.length * 2), () => `LSE ${v} > max + log k = ${upper} for [${row.join(", ")}]`);
        });
      }),
      params(),
    );
  });
});

// ----- gradients ------------------------------------------------------------------------------------

/** Evaluates the VJP rule of the op that made `out` (with the given cotangent) on the feeds. */
const vjp = (out: Tensor, grad: Tensor, feeds: Feeds): Array<NDArray | undefined> => {
  const call = out.call;
  let cotangents: ReadonlyArray<Tensor | undefined>;
  if (call.op === "logsumexp") {
    const gradient = rowOf("logsumexp").gradient;
    if (!("rule" in gradient)) throw new Error("logsumexp has no VJP rule");
    cotangents = gradient.rule({ inputs: out.inputs, output: out, grad, attrs: call.attrs });
  } else if (call.op === "cross_entropy") {
    const gradient = rowOf("cross_entropy").gradient;
    if (!("rule" in gradient)) throw new Error("cross_entropy has no VJP rule");
    cotangents = gradient.rule({ inputs: out.inputs, output: out, grad, attrs: call.attrs });
  } else throw new Error(`no VJP helper for ${call.op}`);
  return cotangents.map((t) => (t === undefined ? undefined : evaluateTensors({ out: t }, feeds).out));
};

/** Softmax over several dims at once, from its definition exp(x − m) / Σ exp(x − m), in float64. */
const softmaxOverDims = (x: NDArray, dims: readonly number[]): Float64Array => {
  const strides = x.shape.map((_, axis) => x.shape.slice(axis + 1).reduce((a, b) => a * b, 1));
  const groupOf = (flat: number): string => x.shape.map((size, axis) => (dims.includes(axis) ? 0 : Math.floor(flat / (strides[axis] as number)) % size)).join(",");
  const max = new Map<string, number>();
  x.data.forEach((v, i) => max.set(groupOf(i), Math.max(max.get(groupOf(i)) ?? -Infinity, v)));
  const total = new Map<string, number>();
  x.data.forEach((v, i) => total.set(groupOf(i), (total.get(groupOf(i)) ?? 0) + Math.exp(v - (max.get(groupOf(i)) as number))));
  return x.data.map((v, i) => Math.exp(v - (max.get(groupOf(i)) as number)) / (total.get(groupOf(i)) as number));
};

describe("gradients through the VJP rules", () => {
  test("∇logsumexp = softmax (times the cotangent), over one dim or several", () => {
    const arb = logitsArb({ negInf: true, maxRank: 3 }).chain((l) =>
      fc.record({
        l: fc.constant(l),
        second: fc.nat(l.logits.shape.length - 1),
        // a normal (not subnormal) cotangent: relative error bounds need full precision
        g: fc.double({ min: -4, max: 4, noNaN: true }).map((v) => (Math.abs(v) < 1e-300 ? 1 : v)),
      }),
    );
    fc.assert(
      fc.property(arb, ({ l: { logits, dim }, second, g }) => {
        const dims = second === dim ? [dim] : [dim, second];
        const x = input("x", logits.shape, "f64");
        const lse = logsumexp(x, dims, false);
        const gradShape = logits.shape.filter((_, axis) => !dims.includes(axis));
        const cot = ndarray(gradShape, "f64", new Array(gradShape.reduce((a, b) => a * b, 1)).fill(g));
        const [dx] = vjp(lse, input("g", gradShape, "f64"), { x: logits, g: cot });
        const expected = softmaxOverDims(logits, dims);
        dx?.data.forEach((v, i) => {
          const e = g * (expected[i] as number);
          check(Math.abs(v - e) <= 8 * EPS * (Math.abs(e) + Math.abs(g)), () => `dims [${dims}] of [${Array.from(logits.data).join(", ")}]: ∂ ${v} vs g·softmax ${e} at ${i}`);
        });
        check(dx !== undefined, () => "no cotangent for x");
      }),
      params(),
    );
  });

  test("∇cross_entropy = (softmax − onehot) / N, rows summing to 0", () => {
    fc.assert(
      fc.property(classificationArb({ negInf: true, maxRank: 3 }), ({ logits, labels, dim }) => {
        const x = input("x", logits.shape, "f64");
        const ce = crossEntropy(x, input("y", labels.shape, "i32"), { dim });
        const [dx] = vjp(ce, input("g", [], "f64"), { x: logits, y: labels, g: ndarray([], "f64", [1]) });
        check(dx !== undefined, () => "no cotangent");
        const n = labels.data.length;
        const p = rowsOf({ ...logits, data: softmaxValues(logits, dim, false) }, dim);
        rowsOf(dx ?? logits, dim).forEach((row, r) => {
          const label = labels.data[r] as number;
          row.forEach((v, c) => {
            const e = ((p[r]?.[c] as number) - (c === label ? 1 : 0)) / n;
            check(Math.abs(v - e) <= (8 * EPS) / n, () => `row ${r} class ${c}: ${v} vs ${e}`);
          });
          const total = row.reduce((a, b) => a + b, 0);
          check(Math.abs(total) <= (row.length * 4 * EPS) / n, () => `row ${r} sums to ${total}`);
        });
      }),
      params(),
    );
  });

  test("the softmax-family gradients match central finite differences (checkGradients)", () => {
    const arb = fc
      .record({ op: fc.constantFrom("softmax", "log_softmax", "logsumexp", "cross_entropy", "nll(log_softmax)"), reduction: fc.constantFrom<Reduction>("mean", "sum", "none"), smoothing: fc.constantFrom(0, 0.2) })
      .chain((setup) => classificationArb({ extremes: false, ties: true, range: 8, maxSize: 24, weights: true, ignoreRate: 0.2, ignoreIndex: 0 }).map((b) => ({ ...setup, b })));
    fc.assert(
      fc.property(arb, ({ op, reduction, smoothing, b }) => {
        // a mean over no target is NaN (pinned below); it has no gradient to check
        fc.pre(!(reduction === "mean" && b.labels.data.every((label) => label === 0)));
        const feeds: Feeds = { x: b.logits, y: b.labels, ...(b.weight === undefined ? {} : { w: b.weight }) };
        const report = checkGradients(
          (t) => {
            const [x, y, w] = [t.x, t.y, t.w];
            if (x === undefined || y === undefined || w === undefined) throw new Error("missing input");
            const options = { dim: b.dim, reduction, weight: w, ignoreIndex: 0 };
            switch (op) {
              case "softmax":
                return softmax(x, b.dim);
              case "log_softmax":
                return logSoftmax(x, b.dim);
              case "logsumexp":
                return logsumexp(x, b.dim);
              case "cross_entropy":
                return crossEntropy(x, y, { ...options, labelSmoothing: smoothing });
              case "nll(log_softmax)":
                return nllLoss(logSoftmax(x, b.dim), y, options);
            }
          },
          { feeds, wrt: ["x"], seed: 7 },
        );
        check(report.ok, () => `${op} (${reduction}, smoothing ${smoothing}) dim ${b.dim}:\n${formatGradientReport(report)}`);
      }),
      params(60),
    );
  });
});

// ----- cross-entropy ------------------------------------------------------------------------------

/** Per-row scale of the rounding in LSE − x[y]: |max| + |x[y]| + log k + 1. */
const rowScales = (b: Classification): number[] =>
  rowsOf(b.logits, b.dim).map((row, r) => {
    const label = b.labels.data[r] as number;
    return Math.abs(Math.max(...row)) + Math.abs(row[label] ?? 0) + Math.log(row.length) + 1;
  });

const weightFeeds = (b: Classification): Feeds => (b.weight === undefined ? {} : { w: b.weight });
/** cross_entropy of a batch (class weight from the batch when `weighted`), evaluated. */
const ceWith = (b: Classification, options: { readonly reduction?: Reduction; readonly ignoreIndex?: number; readonly labelSmoothing?: number; readonly weighted?: boolean }, target?: NDArray): NDArray => {
  const t = target ?? b.labels;
  const w = options.weighted === true && b.weight !== undefined ? input("w", [b.classes], "f64") : undefined;
  const loss = crossEntropy(input("x", b.logits.shape, "f64"), input("y", t.shape, t.dtype), {
    dim: b.dim,
    ...(options.reduction === undefined ? {} : { reduction: options.reduction }),
    ...(options.ignoreIndex === undefined ? {} : { ignoreIndex: options.ignoreIndex }),
    ...(options.labelSmoothing === undefined ? {} : { labelSmoothing: options.labelSmoothing }),
    ...(w === undefined ? {} : { weight: w }),
  });
  const out = evaluateTensors({ out: loss }, { x: b.logits, y: t, ...(w === undefined ? {} : weightFeeds(b)) }).out;
  if (out === undefined) throw new Error("no output");
  return out;
};
const close = (a: number, b: number, tolerance: number): boolean => (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= tolerance;

describe("cross_entropy (reference semantics)", () => {
  test("CE ≥ 0 and CE = LSE − x[y] per row, any dim, with extremes and −inf entries", () => {
    fc.assert(
      fc.property(classificationArb({ negInf: true, maxRank: 3, weights: true }), (b) => {
        const none = ceWith(b, { reduction: "none" });
        const x = input("x", b.logits.shape, "f64");
        const y = input("y", b.labels.shape, "i32");
        const direct = evaluateTensors({ out: sub(logsumexp(x, b.dim), pick(x, y, b.dim)) }, { x: b.logits, y: b.labels }).out;
        const scales = rowScales(b);
        none.data.forEach((v, r) => {
          check(v >= 0, () => `CE ${v} < 0 at row ${r}`);
          const e = direct?.data[r] as number;
          check(close(v, e, 4 * EPS * (scales[r] as number)), () => `CE ${v} vs LSE − x[y] ${e} at row ${r}`);
        });
        for (const v of ceWith(b, { reduction: "none", weighted: true, labelSmoothing: 0.3 }).data) check(v >= 0, () => `weighted smoothed CE ${v} < 0`);
      }),
      params(),
    );
  });

  test("every reduction: sum = Σ none, mean = Σ none / Σ w[y] over rows not ignored; ignored rows are 0", () => {
    fc.assert(
      fc.property(classificationArb({ maxRank: 3, weights: true, ignoreRate: 0.3, ignoreIndex: 1 }), fc.boolean(), (b, weighted) => {
        const options = { ignoreIndex: 1, weighted };
        const none = ceWith(b, { ...options, reduction: "none" }).data;
        const total = none.reduce((a, v) => a + v, 0);
        let denominator = 0;
        b.labels.data.forEach((label, r) => {
          if (label === 1) check(none[r] === 0, () => `ignored row ${r} contributes ${none[r]}`);
          else denominator += weighted ? (b.weight?.data[label] as number) : 1;
        });
        const scale = rowScales(b).reduce((a, s) => a + s * 4, 0) * EPS;
        const s = one(ceWith(b, { ...options, reduction: "sum" }));
        const m = one(ceWith(b, { ...options, reduction: "mean" }));
        check(close(s, total, scale), () => `sum ${s} vs Σ none ${total}`);
        check(close(m, total / denominator, scale), () => `mean ${m} vs ${total} / ${denominator}`);
      }),
      params(),
    );
  });

  test("ignoreIndex rows contribute nothing: their logits (even NaN, ±inf) change neither the loss nor the gradient", () => {
    const arb = classificationArb({ maxRank: 2, ignoreRate: 0.4, weights: true }).chain((b) =>
      fc.record({ b: fc.constant(b), junk: fc.array(fc.constantFrom(Number.NaN, Infinity, -Infinity, 1e300), { minLength: b.logits.data.length, maxLength: b.logits.data.length }) }),
    );
    fc.assert(
      fc.property(arb, ({ b, junk }) => {
        const dirty = Float64Array.from(b.logits.data);
        const layoutRows = rowsOf({ ...b.logits, data: Float64Array.from(b.logits.data, (_, i) => i) }, b.dim);
        layoutRows.forEach((indices, r) => {
          if (b.labels.data[r] === -100) for (const i of indices) dirty[i] = junk[i] as number;
        });
        const dirtyBatch = { ...b, logits: { ...b.logits, data: dirty } };
        for (const reduction of ["none", "sum", "mean"] as const) {
          const clean = ceWith(b, { reduction, weighted: true }).data;
          const messy = ceWith(dirtyBatch, { reduction, weighted: true }).data;
          check(clean.every((v, i) => Object.is(v, messy[i])), () => `${reduction}: [${Array.from(clean)}] vs [${Array.from(messy)}]`);
        }
        const x = input("x", b.logits.shape, "f64");
        const y = input("y", b.labels.shape, "i32");
        const ce = crossEntropy(x, y, { dim: b.dim });
        const g = input("g", [], "f64");
        const [dClean] = vjp(ce, g, { x: b.logits, y: b.labels, g: ndarray([], "f64", [1]) });
        const [dDirty] = vjp(ce, g, { x: dirtyBatch.logits, y: b.labels, g: ndarray([], "f64", [1]) });
        check(dClean?.data.every((v, i) => Object.is(v, dDirty?.data[i])) ?? false, () => "gradient changed");
      }),
      params(),
    );
  });

  test("all targets ignored: mean is NaN (0/0) exactly as PyTorch (#70348), sum is 0, none is all zeros", () => {
    fc.assert(
      fc.property(logitsArb({ minClasses: 2, maxRank: 3 }), fc.boolean(), ({ logits, dim, classes }, weighted) => {
        const rows = logits.shape.filter((_, axis) => axis !== dim);
        const labels = ndarray(rows, "i32", new Array(rows.reduce((a, b2) => a * b2, 1)).fill(-100));
        const b: Classification = { logits, dim, classes, labels, weight: ndarray([classes], "f64", new Array(classes).fill(2)) };
        check(Number.isNaN(one(ceWith(b, { reduction: "mean", weighted }))), () => "mean of nothing is not NaN");
        check(Object.is(one(ceWith(b, { reduction: "sum", weighted })), 0), () => "sum of nothing is not 0");
        check(ceWith(b, { reduction: "none", weighted }).data.every((v) => Object.is(v, 0)), () => "none is not all 0");
      }),
      params(60),
    );
  });

  test("label smoothing: 0 is plain CE; ε equals the probability target (1 − ε)·onehot + ε/C", () => {
    fc.assert(
      fc.property(classificationArb({ maxRank: 3, weights: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), (b, epsilon, weighted) => {
        for (const reduction of ["none", "sum", "mean"] as const) {
          const plain = ceWith(b, { reduction, weighted }).data;
          const zero = ceWith(b, { reduction, weighted, labelSmoothing: 0 }).data;
          check(plain.every((v, i) => Object.is(v, zero[i])), () => `labelSmoothing 0 differs (${reduction})`);
        }
        const target = new Float64Array(b.logits.data.length);
        const layout = rowsOf({ ...b.logits, data: Float64Array.from(b.logits.data, (_, i) => i) }, b.dim);
        layout.forEach((indices, r) => indices.forEach((flat, c) => (target[flat] = (1 - epsilon) * (c === b.labels.data[r] ? 1 : 0) + epsilon / b.classes)));
        const probs = ndarray(b.logits.shape, "f64", target);
        const scale = rowScales(b).reduce((a, s) => a + s, 0) * 16 * EPS * 4;
        // PyTorch: with weights, the index form's mean divides by Σ w[y] and the probability form's by N
        for (const reduction of weighted ? (["none", "sum"] as const) : (["none", "sum", "mean"] as const)) {
          const smoothed = ceWith(b, { reduction, weighted, labelSmoothing: epsilon }).data;
          const viaProbs = ceWith(b, { reduction, weighted }, probs).data;
          smoothed.forEach((v, i) => check(close(v, viaProbs[i] as number, scale), () => `${reduction}: smoothed ${v} vs probability target ${viaProbs[i]}`));
        }
      }),
      params(),
    );
  });

  test("probability targets equal to one-hot equal integer targets (and PyTorch's weighted mean divides by N)", () => {
    fc.assert(
      fc.property(classificationArb({ maxRank: 3, weights: true }), (b) => {
        const oneHotData = new Float64Array(b.logits.data.length);
        const layout = rowsOf({ ...b.logits, data: Float64Array.from(b.logits.data, (_, i) => i) }, b.dim);
        layout.forEach((indices, r) => (oneHotData[indices[b.labels.data[r] as number] as number] = 1));
        const probs = ndarray(b.logits.shape, "f64", oneHotData);
        const scale = rowScales(b).reduce((a, s) => a + s, 0) * 4 * EPS;
        for (const weighted of [false, true])
          for (const reduction of ["none", "sum", "mean"] as const) {
            const byIndex = ceWith(b, { reduction, weighted }).data;
            const byProb = ceWith(b, { reduction, weighted }, probs).data;
            if (weighted && reduction === "mean") {
              const weightSum = Array.from(b.labels.data).reduce((a, label) => a + (b.weight?.data[label] as number), 0);
              const n = b.labels.data.length;
              check(close((byProb[0] as number) * n, (byIndex[0] as number) * weightSum, scale * n), () => `weighted mean: prob ${byProb[0]}·N vs index ${byIndex[0]}·Σw`);
            } else byIndex.forEach((v, i) => check(close(v, byProb[i] as number, scale), () => `${reduction}${weighted ? " weighted" : ""}: index ${v} vs prob ${byProb[i]}`));
          }
      }),
      params(),
    );
  });

  test("class weights: none = w[y]·CE; a uniform weight leaves the mean unchanged", () => {
    fc.assert(
      fc.property(classificationArb({ maxRank: 3, weights: true }), fc.double({ min: 0.1, max: 10, noNaN: true }), (b, c) => {
        const plain = ceWith(b, { reduction: "none" }).data;
        const weighted = ceWith(b, { reduction: "none", weighted: true }).data;
        weighted.forEach((v, r) => {
          const w = b.weight?.data[b.labels.data[r] as number] as number;
          check(close(v, w * (plain[r] as number), 2 * EPS * Math.abs(v)), () => `row ${r}: ${v} vs ${w}·${plain[r]}`);
        });
        const uniform = { ...b, weight: ndarray([b.classes], "f64", new Array(b.classes).fill(c)) };
        const scale = rowScales(b).reduce((a, s) => a + s, 0) * 8 * EPS;
        check(close(one(ceWith(uniform, { weighted: true })), one(ceWith(b, {})), scale), () => "uniform weight changed the mean");
      }),
      params(),
    );
  });

  test("any class dim: CE along dim d = CE of the logits permuted so that d is last", () => {
    fc.assert(
      fc.property(classificationArb({ minRank: 2, maxRank: 4 }), (b) => {
        const rank = b.logits.shape.length;
        const perm = [...b.logits.shape.map((_, axis) => axis).filter((axis) => axis !== b.dim), b.dim];
        const x = input("x", b.logits.shape, "f64");
        const y = input("y", b.labels.shape, "i32");
        const out = evaluateTensors({ a: crossEntropy(x, y, { dim: b.dim, reduction: "none" }), b: crossEntropy(permute(x, perm), y, { dim: rank - 1, reduction: "none" }) }, { x: b.logits, y: b.labels });
        check(out.a?.data.every((v, i) => Object.is(v, out.b?.data[i])) ?? false, () => `[${Array.from(out.a?.data ?? [])}] vs [${Array.from(out.b?.data ?? [])}]`);
      }),
      params(),
    );
  });
});

// ----- fused vs unfused ---------------------------------------------------------------------------

type Form = "nll(log_softmax)" | "nll(log(softmax))" | "one-hot" | "gather" | "pick" | "pick(log_softmax)";
const FORMS: readonly Form[] = ["nll(log_softmax)", "nll(log(softmax))", "one-hot", "gather", "pick", "pick(log_softmax)"];

/** The unfused loss of `form`, with the options the form can express. */
const formLoss = (form: Form, b: Classification, reduction: "mean" | "sum", nllOptions: { readonly weighted: boolean; readonly ignore: boolean }): Tensor => {
  const x = input("x", b.logits.shape, "f64");
  const y = input("y", b.labels.shape, "i32");
  const d = b.dim;
  const reduce = reduction === "mean" ? mean : sum;
  const nllOpts = { dim: d, reduction, ...(nllOptions.weighted ? { weight: input("w", [b.classes], "f64") } : {}), ...(nllOptions.ignore ? { ignoreIndex: 0 } : {}) };
  switch (form) {
    case "nll(log_softmax)":
      return nllLoss(logSoftmax(x, d), y, nllOpts);
    case "nll(log(softmax))":
      return nllLoss(log(softmax(x, d)), y, nllOpts);
    case "one-hot":
      return reduce(sum(mul(oneHot(y, b.classes, "f64"), neg(log(softmax(x, d)))), d));
    case "gather":
      return neg(reduce(log(gather(softmax(x, d), d, unsqueeze(y, d)))));
    case "pick":
      return reduce(neg(log(pick(softmax(x, d), y, d))));
    case "pick(log_softmax)":
      return neg(reduce(pick(logSoftmax(x, d), y, d)));
  }
};

const isFinite = (value: NDArray): boolean => value.data.every(Number.isFinite);

describe("fused and unfused graphs", () => {
  test("log(softmax(x)) fused to log_softmax: agrees wherever the unfused one is finite, finite wherever x is", () => {
    let underflows = 0;
    fc.assert(
      fc.property(logitsArb({ negInf: true, maxRank: 3 }), ({ logits, dim }) => {
        const unfused = orThrow(graphFromTensors("t", [{ name: "out", tensor: log(softmax(input("x", logits.shape, "f64"), dim)) }], undefined));
        const fused = orThrow(fuse(unfused));
        check(fused.nodes.map((n) => n.op).join(",") === "input,log_softmax", () => "not fused");
        const after = valueOf(fused, { x: logits }, "out").data;
        const before = valueOf(unfused, { x: logits }, "out").data;
        logits.data.forEach((v, i) => {
          const [a, b] = [after[i] as number, before[i] as number];
          if (Number.isFinite(v)) check(Number.isFinite(a), () => `log_softmax not finite at ${i} of [${Array.from(logits.data)}]`);
          if (Number.isFinite(b)) check(Math.abs(a - b) <= 4 * EPS * (4 + Math.abs(b)), () => `at ${i}: fused ${a} vs unfused ${b}`);
          else if (Number.isFinite(v)) underflows++;
        });
      }),
      params(),
    );
    expect(underflows).toBeGreaterThan(20); // log(0) really happens on these inputs
  });

  test("agree wherever the unfused one is finite; the fused one is always finite (label logits finite)", () => {
    const arb = fc
      .record({ form: fc.constantFrom(...FORMS), reduction: fc.constantFrom("mean" as const, "sum" as const), weighted: fc.boolean(), ignore: fc.boolean() })
      .chain((setup) =>
        classificationArb({ negInf: true, maxRank: 3, weights: true, ...(setup.ignore && setup.form.startsWith("nll") ? { ignoreRate: 0.3, ignoreIndex: 0 } : {}) })
          // the one-hot form's class dim is the last (one_hot appends it)
          .filter((b) => setup.form !== "one-hot" || b.dim === b.logits.shape.length - 1)
          .map((b) => ({ ...setup, b })),
      );
    let finiteUnfused = 0;
    let nonFiniteUnfused = 0;
    fc.assert(
      fc.property(arb, ({ form, reduction, weighted, ignore, b }) => {
        const nll = form.startsWith("nll");
        const loss = formLoss(form, b, reduction, { weighted: nll && weighted, ignore: nll && ignore });
        const unfused = orThrow(buildGraph(model({ loss })));
        const fused = orThrow(fuse(unfused));
        check(fused.nodes.filter((n) => n.op === "cross_entropy").length === 1, () => `${form}: not fused`);
        check(!fused.nodes.some((n) => ["softmax", "log_softmax", "log", "nll_loss"].includes(n.op)), () => `${form}: leftovers`);
        const feeds: Feeds = { x: b.logits, y: b.labels, ...(nll && weighted && b.weight !== undefined ? { w: b.weight } : {}) };
        const after = one(valueOf(fused, feeds));
        const allIgnored = nll && ignore && reduction === "mean" && b.labels.data.every((label) => label === 0);
        check(Number.isFinite(after) || allIgnored, () => `${form}: fused loss ${after} is not finite`);
        const before = one(valueOf(unfused, feeds));
        if (Number.isFinite(before)) {
          finiteUnfused++;
          const weightMax = nll && weighted ? Math.max(...Array.from(b.weight?.data ?? [1])) : 1;
          const scale = rowScales(b).reduce((a, s) => a + s, 0) * weightMax * 16 * EPS;
          check(Math.abs(after - before) <= scale, () => `${form} ${reduction}: fused ${after} vs unfused ${before}`);
        } else nonFiniteUnfused++;
      }),
      params(400),
    );
    // both regimes are exercised: agreement, and the unfused form breaking down where fused does not
    expect(finiteUnfused).toBeGreaterThan(100);
    expect(nonFiniteUnfused).toBeGreaterThan(20);
  });

  test("pinned: [300, 200, 500], [1e4, −1e4], ±1e8 (pytorch#11752) — fused exact, unfused breaks", () => {
    const cases: ReadonlyArray<readonly [number[], number, number]> = [
      // logits, label, exact CE
      [[300, 200, 500], 1, 300],
      [[300, 200, 500], 0, 200],
      [[1e4, -1e4], 1, 2e4],
      [[1e8, 0, -1e8], 2, 2e8],
      [[1e8, 0, -1e8], 0, 0],
    ];
    for (const [row, label, exact] of cases) {
      const b: Classification = { logits: ndarray([1, row.length], "f64", row), dim: 1, classes: row.length, labels: ndarray([1], "i32", [label]), weight: undefined };
      const feeds: Feeds = { x: b.logits, y: b.labels };
      for (const form of FORMS) {
        const unfused = orThrow(buildGraph(model({ loss: formLoss(form, b, "mean", { weighted: false, ignore: false }) })));
        const fused = orThrow(fuse(unfused));
        const value = one(valueOf(fused, feeds));
        expect(value, `${form} on [${row}] label ${label}`).toBe(exact);
        // in float32 storage the fused form stays exact where it can be represented
        expect(one(run(fused, feeds, {}, { precision: "f32" }).loss ?? ndarray([], "f64")), `${form} f32`).toBe(Math.fround(exact));
      }
      // the one-hot form multiplies 0 by −log(0) = inf for every class that underflows
      const oneHot = orThrow(buildGraph(model({ loss: formLoss("one-hot", b, "mean", { weighted: false, ignore: false }) })));
      const unfusedValue = one(valueOf(oneHot, feeds));
      const underflows = row.map((v) => Math.exp(v - Math.max(...row)) === 0);
      if (underflows.some((u, c) => u && c !== label)) expect(unfusedValue).toBeNaN();
      else if (underflows[label] === true) expect(unfusedValue).toBe(Infinity);
      else expect(unfusedValue).toBeCloseTo(exact, 12);
    }
    // f32 storage: log(softmax) underflows to −inf for [300, 200, 500] and label 1, the fused form gives 300
    const b2 = { x: ndarray([1, 3], "f32", [300, 200, 500]), y: ndarray([1], "i32", [1]) };
    const x = input("x", [1, 3]);
    const y = input("y", [1], "i32");
    const unfused = orThrow(buildGraph(model({ loss: neg(mean(log(pick(softmax(x, 1), y)))) })));
    expect(one(run(unfused, b2, {}, { precision: "f32" }).loss ?? ndarray([], "f64"))).toBe(Infinity);
    expect(one(run(orThrow(fuse(unfused)), b2, {}, { precision: "f32" }).loss ?? ndarray([], "f64"))).toBe(300);
  });

  test("pinned: tied 3e38 logits — CE is log 2, ∇CE = [−½, ½], ∇logsumexp = [½, ½] (LSE alone rounds log 2 away)", () => {
    const logits = ndarray([1, 2], "f64", [3e38, 3e38]);
    const labels = ndarray([1], "i32", [0]);
    const feeds: Feeds = { x: logits, y: labels };
    for (const form of FORMS) {
      const b: Classification = { logits, dim: 1, classes: 2, labels, weight: undefined };
      const fused = orThrow(fuse(orThrow(buildGraph(model({ loss: formLoss(form, b, "mean", { weighted: false, ignore: false }) })))));
      expect(one(valueOf(fused, feeds)), form).toBe(Math.LN2);
    }
    const x = input("x", [1, 2], "f64");
    const ce = crossEntropy(x, input("y", [1], "i32"));
    const [dce] = vjp(ce, input("g", [], "f64"), { ...feeds, g: ndarray([], "f64", [1]) });
    expect(Array.from(dce?.data ?? [])).toEqual([-0.5, 0.5]);
    for (const dims of [[1], [0, 1]]) {
      const lse = logsumexp(x, dims);
      const gradShape = dims.length === 1 ? [1] : [];
      const [dlse] = vjp(lse, input("g", gradShape, "f64"), { x: logits, g: ndarray(gradShape, "f64", [1]) });
      expect(Array.from(dlse?.data ?? []), `dims [${dims}]`).toEqual([0.5, 0.5]);
    }
  });
});

// ----- bad input ---------------------------------------------------------------------------------

/** The line of the caller. */
const lineHere = (): number => Number(/:(\d+):\d+\)?$/.exec(new Error().stack?.split("\n")[2] ?? "")?.[1]);
const TEST_FILE = "packages/compiler/test/loss-properties.test.ts";

const diagnosticsOf = (loss: Tensor): Diagnostics => {
  const result = buildGraph(model({ loss }));
  if (E.isRight(result)) throw new Error("expected a diagnostic");
  return result.left;
};

describe("bad input: a clear diagnostic at the user's line", () => {
  const z = input("z", ["batch", 3]);
  const labels = input("labels", ["batch"], "i32");

  test("float targets where integer labels are expected", () => {
    const floatTarget = input("target", ["batch"]);
    const loss = crossEntropy(z, floatTarget); const line = lineHere();
    const [diagnostic, ...rest] = diagnosticsOf(loss);
    expect(rest).toEqual([]);
    expect(diagnostic?.message).toBe("cross_entropy: target must be integer class labels i32[batch] or class probabilities f32[batch,3], got f32[batch]");
    expect(diagnostic?.loc?.file.endsWith(TEST_FILE)).toBe(true);
    expect(diagnostic?.loc?.line).toBe(line);
    const nll = nllLoss(logSoftmax(z, 1), floatTarget); const nllLine = lineHere();
    const [nllDiagnostic] = diagnosticsOf(nll);
    expect(nllDiagnostic?.message).toBe("nll_loss: target must be integer class labels i32[batch], got f32[batch]");
    expect(nllDiagnostic?.loc?.line).toBe(nllLine);
  });

  test("a class weight of the wrong length", () => {
    const loss = crossEntropy(z, labels, { weight: input("w", [4]) }); const line = lineHere();
    const [diagnostic] = diagnosticsOf(loss);
    expect(diagnostic?.message).toBe("cross_entropy: class weight must be f32[3] (one per class), got f32[4]");
    expect(diagnostic?.loc?.file.endsWith(TEST_FILE)).toBe(true);
    expect(diagnostic?.loc?.line).toBe(line);
  });

  test("a dim out of range", () => {
    const cases: ReadonlyArray<readonly [Tensor, number, string]> = [
      [crossEntropy(z, labels, { dim: 2 }), lineHere(), "cross_entropy: dim 2 out of range for shape [batch,3] (expected -2 ≤ dim < 2)"],
      [softmax(z, 5), lineHere(), "softmax: dim 5 out of range for shape [batch,3] (expected -2 ≤ dim < 2)"],
      [logSoftmax(z, -3), lineHere(), "log_softmax: dim -3 out of range for shape [batch,3] (expected -2 ≤ dim < 2)"],
      [nllLoss(logSoftmax(z, 1), labels, { dim: 3 }), lineHere(), "nll_loss: dim 3 out of range for shape [batch,3] (expected -2 ≤ dim < 2)"],
    ];
    for (const [tensor, line, message] of cases) {
      const loss = tensor.rank === 0 ? tensor : sum(tensor);
      const [diagnostic] = diagnosticsOf(loss);
      expect(diagnostic?.message).toBe(message);
      expect(diagnostic?.loc?.file.endsWith(TEST_FILE)).toBe(true);
      expect(diagnostic?.loc?.line).toBe(line);
    }
  });

  test("a label out of range at run time names its row and value, at the loss's line", () => {
    const loss = crossEntropy(z, labels); const line = lineHere();
    const graph = orThrow(buildGraph(model({ loss })));
    const result = (() => {
      try {
        run(graph, { z: ndarray([2, 3], "f32"), labels: ndarray([2], "i32", [1, 3]) });
        return undefined;
      } catch (thrown) {
        return thrown instanceof Error ? thrown.message : String(thrown);
      }
    })();
    expect(result).toBe(`${TEST_FILE}:${line}:18 cross_entropy: target at row 1 is 3, expected 0 ≤ target < 3 (or ignore_index -100)`);
  });
});

// ----- the testing kit itself ------------------------------------------------------------------------

describe("the testing kit", () => {
  test("expectSoftmaxInvariants rejects broken softmaxes with a message naming the row and law", () => {
    const x = ndarray([2, 3], "f64", [1, 2, 3, 1e4, 0, -1e4]);
    const naive = x.data.map((v, i) => {
      const row = Math.floor(i / 3);
      const total = [0, 1, 2].reduce((a, c) => a + Math.exp(x.data[row * 3 + c] as number), 0);
      return Math.exp(v) / total;
    });
    expect(() => expectSoftmaxInvariants(x, 1, { probs: naive })).toThrow(/^softmax invariant violated: row 1 along dim 1 \(logits \[10000, 0, -10000\], probabilities \[NaN, 0, 0\]\): entry 0 = NaN is outside \[0, 1\]$/);
    const scaled = softmaxValues(x, 1, false).map((v) => v * (1 + 1e-9));
    expect(() => expectSoftmaxInvariants(x, 1, { probs: scaled })).toThrow(/row 0 along dim 1 .*: sums to 1\.00000000\d+, \|Σ − 1\| = .* > n·eps = 6\.66\d*e-16$/);
    const swapped = Float64Array.from([0.2, 0.7, 0.1, 1, 0, 0]);
    expect(() => expectSoftmaxInvariants(x, 1, { probs: swapped })).toThrow(/row 0 .*: logit 0 < logit 2 but probability 0\.2 > 0\.1 \(order not preserved\)$/);
    expect(() => expectSoftmaxInvariants(ndarray([2], "f64", [1, 1]), 0, { probs: Float64Array.from([0.4, 0.6]) })).toThrow(/tied logits 0 and 1 get different probabilities 0\.4 and 0\.6$/);
    expect(() => expectSoftmaxInvariants(ndarray([2], "f64", [-Infinity, -Infinity]), 0, { probs: Float64Array.from([0.5, 0.5]) })).toThrow(/a row with NaN, \+inf or only −inf must be all NaN$/);
    expect(() => expectSoftmaxInvariants(x, 1, { probs: Float64Array.from([1]) })).toThrow("softmax invariant violated: 1 probabilities for 6 logits");
    expect(() => expectSoftmaxInvariants(x, 1)).not.toThrow();
  });

  test("arbitraries: classes at the class dim, labels in range or ignored, label logits finite, extremes and −inf present", () => {
    let extremes = 0;
    let negInf = 0;
    let ignored = 0;
    fc.assert(
      fc.property(classificationArb({ negInf: true, weights: true, ignoreRate: 0.2 }), (b) => {
        check(b.logits.shape[b.dim] === b.classes, () => "class dim size");
        check(b.weight?.shape[0] === b.classes, () => "weight length");
        const rows = b.logits.shape.filter((_, axis) => axis !== b.dim);
        check(JSON.stringify(b.labels.shape) === JSON.stringify(rows) && b.labels.dtype === "i32", () => "labels shape");
        rowsOf(b.logits, b.dim).forEach((row, r) => {
          const label = b.labels.data[r] as number;
          if (label === -100) ignored++;
          else check(Number.isInteger(label) && label >= 0 && label < b.classes && Number.isFinite(row[label] as number), () => `label ${label}`);
          check(row.some(Number.isFinite), () => "a row without a finite entry");
        });
        for (const v of b.logits.data) {
          if (Math.abs(v) >= 1e4 && Number.isFinite(v)) extremes++;
          if (v === -Infinity) negInf++;
        }
      }),
      params(200),
    );
    expect(extremes).toBeGreaterThan(100);
    expect(negInf).toBeGreaterThan(20);
    expect(ignored).toBeGreaterThan(20);
    fc.assert(fc.property(labelsArb([3, 2], 4), (labels) => labels.data.every((v) => v >= 0 && v < 4)), params(50));
    fc.assert(fc.property(tensorArb([2, 2], { extremes: false, ties: false, range: 1 }), (t) => t.data.every((v) => Math.abs(v) <= 1)), params(50));
    fc.assert(fc.property(valueArb({ negInf: false }), (v) => Number.isFinite(v)), params(200));
  });
});
