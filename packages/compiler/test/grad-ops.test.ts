// Every op of the op table: its VJP rule against central finite differences (float64, reference
// interpreter) on random inputs, or — for ops without a gradient — the diagnostic `grad` gives.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import {
  modeSwitch,
  stateUpdate,
  abs,
  conv2dWeightGradRaw,
  maxPool2dBackwardRaw,
  add,
  argmax,
  binaryCrossEntropyWithLogits,
  buildGraph,
  cast,
  clamp,
  elu,
  erf,
  gelu,
  hardtanh,
  leakyRelu,
  silu,
  softplus,
  constant,
  crossEntropy,
  crossEntropyBackward,
  dimSize,
  div,
  eq,
  exp,
  expand,
  formatDiagnostics,
  gather,
  ge,
  gt,
  input,
  le,
  log,
  logSigmoid,
  logSoftmax,
  logsumexp,
  lt,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  model,
  mul,
  ne,
  neg,
  nllLoss,
  nllLossBackward,
  oneHot,
  opNames,
  opTable,
  param,
  permute,
  pow,
  relu,
  reshape,
  run,
  scatterAdd,
  slice,
  pad,
  padDims,
  flip,
  arange,
  concat,
  stack,
  split,
  tril,
  triu,
  embedding,
  embeddingBackward,
  sigmoid,
  sign,
  softmax,
  sqrt,
  sub,
  sum,
  tanh,
  where,
  zeros,
  attentionSoftmaxRaw,
  layerNormBackwardRaw,
  layerNormRaw,
  softmaxBackwardRaw,
  batchNormBackwardStatsRaw,
  batchNormRaw,
  batchNormStatsRaw,
  type NDArray,
  type OpName,
  type Reduction,
  type Tensor,
} from "@graft/core";
import { grad } from "../src/passes/grad.js";
import { checkGradients, formatGradientReport } from "../src/testing/gradients.js";
import { convGradCases } from "./grad-conv-cases.js";

// ----- generators -----------------------------------------------------------------------------------

type Feeds = Record<string, NDArray>;
const f64 = (shape: readonly number[], data: readonly number[]): NDArray => ({ shape: [...shape], dtype: "f64", data: Float64Array.from(data) });
const i32 = (shape: readonly number[], data: readonly number[]): NDArray => ({ shape: [...shape], dtype: "i32", data: Float64Array.from(data) });
const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

const shapeArb = (minRank: number, maxRank: number): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 1, max: 3 }), { minLength: minRank, maxLength: maxRank });
/** Smooth-region values in [lo, hi]. */
const values = (n: number, lo: number, hi: number): fc.Arbitrary<number[]> =>
  fc.array(fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });
/** Odd multiples of 1/8: never 0, never equal to an even multiple (kinks of abs/relu/max stay ≥ 1/8 away). */
const odd = (n: number): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: -16, max: 15 }), { minLength: n, maxLength: n }).map((ks) => ks.map((k) => (2 * k + 1) / 8));
const even = (n: number): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: -16, max: 16 }), { minLength: n, maxLength: n }).map((ks) => ks.map((k) => (2 * k) / 8));
/** Distinct values (no ties for max/min). */
const distinct = (n: number): fc.Arbitrary<number[]> => fc.uniqueArray(fc.integer({ min: -40, max: 40 }), { minLength: n, maxLength: n }).map((ks) => ks.map((k) => k / 8 + 1 / 16));

const tensorOf = (shape: readonly number[], gen: (n: number) => fc.Arbitrary<number[]>): fc.Arbitrary<NDArray> => gen(size(shape)).map((data) => f64(shape, data));
const unaryFeeds = (gen: (n: number) => fc.Arbitrary<number[]>): fc.Arbitrary<Feeds> => shapeArb(0, 3).chain((shape) => tensorOf(shape, gen).map((a) => ({ a })));

/** Two shapes that broadcast: the second has some dims set to 1 and maybe fewer leading dims; randomly swapped. */
const broadcastShapes = fc.tuple(shapeArb(0, 3), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 3 }), fc.boolean()).map(([shape, ones, drop, swap]) => {
  const other = shape.map((d, i) => (ones[i] === true ? 1 : d)).slice(Math.min(drop, shape.length));
  return swap ? ([other, shape] as const) : ([shape, other] as const);
});
const binaryFeeds = (genA: (n: number) => fc.Arbitrary<number[]>, genB: (n: number) => fc.Arbitrary<number[]>): fc.Arbitrary<Feeds> =>
  broadcastShapes.chain(([sa, sb]) => fc.record({ a: tensorOf(sa, genA), b: tensorOf(sb, genB) }));

/** A shape of rank ≥ 1 and a subset of its dims with keepdim. */
const reduceFeeds = (gen: (n: number) => fc.Arbitrary<number[]>): fc.Arbitrary<{ feeds: Feeds; dims: number[]; keepdim: boolean }> =>
  shapeArb(1, 3).chain((shape) =>
    fc.record({
      feeds: tensorOf(shape, gen).map((a) => ({ a })),
      dims: fc.subarray(shape.map((_, i) => i), { minLength: 1 }),
      keepdim: fc.boolean(),
    }),
  );

const labels = (n: number, classes: number, ignore?: number): fc.Arbitrary<number[]> =>
  fc.array(ignore === undefined ? fc.integer({ min: 0, max: classes - 1 }) : fc.oneof(fc.integer({ min: 0, max: classes - 1 }), fc.constant(ignore)), { minLength: n, maxLength: n });

// ----- one case per op -----------------------------------------------------------------------------

/** A randomized gradient check: `make` builds the function and the feeds; `wrt` the float inputs to check. */
interface RuleCase {
  readonly arb: fc.Arbitrary<{ readonly feeds: Feeds; readonly build: (t: Readonly<Record<string, Tensor>>) => Tensor; readonly wrt?: readonly string[] }>;
}
/** An op without a gradient: `check` asserts the diagnostic. */
interface NoneCase {
  readonly none: () => void;
}

const t = (tensors: Readonly<Record<string, Tensor>>, name: string): Tensor => {
  const tensor = tensors[name];
  if (tensor === undefined) throw new Error(`no input ${name}`);
  return tensor;
};

const unary = (f: (x: Tensor) => Tensor, gen: (n: number) => fc.Arbitrary<number[]> = (n) => values(n, -2, 2)): RuleCase => ({
  arb: unaryFeeds(gen).map((feeds) => ({ feeds, build: (x) => f(t(x, "a")) })),
});
const binary = (f: (a: Tensor, b: Tensor) => Tensor, genA: (n: number) => fc.Arbitrary<number[]>, genB: (n: number) => fc.Arbitrary<number[]>): RuleCase => ({
  arb: binaryFeeds(genA, genB).map((feeds) => ({ feeds, build: (x) => f(t(x, "a"), t(x, "b")) })),
});
const reduction = (f: (x: Tensor, dims: number[], keepdim: boolean) => Tensor, gen: (n: number) => fc.Arbitrary<number[]> = (n) => values(n, -2, 2)): RuleCase => ({
  arb: reduceFeeds(gen).map(({ feeds, dims, keepdim }) => ({ feeds, build: (x) => f(t(x, "a"), dims, keepdim) })),
});

/** A graph in which param W reaches the loss only through `blocker`; grad must name it. */
const expectBlocked = (op: OpName, build: (w: Tensor) => Tensor, message: RegExp): void => {
  const w = param("W", [2, 3], zeros, "f64");
  const graph = buildGraph(model({ name: op, outputs: {}, loss: build(w) }));
  if (E.isLeft(graph)) throw new Error(formatDiagnostics(graph.left));
  const result = grad(graph.right);
  expect(E.isLeft(result)).toBe(true);
  if (E.isLeft(result)) expect(formatDiagnostics(result.left)).toMatch(message);
};

const classDims = fc.constantFrom<[number[], number]>([[4, 3], 1], [[3], 0], [[2, 3, 2], 1]);
const reductions = fc.constantFrom<Reduction>("mean", "sum", "none");

/** nll_loss / cross_entropy feeds: input x of a class-dim shape, labels y, optional class weight w. */
const lossFeeds = (options: { readonly ignore: boolean }) =>
  fc
    .tuple(classDims, reductions, fc.boolean(), options.ignore ? fc.boolean() : fc.constant(false))
    .chain(([[shape, dim], reduction, weighted, ignore]) => {
      const classes = shape[dim] ?? 1;
      const rowShape = shape.filter((_, i) => i !== dim);
      return fc.record({
        x: tensorOf(shape, (n) => values(n, -3, 3)),
        y: labels(size(rowShape), classes, ignore ? -100 : undefined).map((data) => i32(rowShape, data)),
        w: tensorOf([classes], (n) => values(n, 0.2, 2)),
        meta: fc.constant({ dim, reduction, weighted, rowShape }),
        smoothing: fc.constantFrom(0, 0.1, 0.3),
        g: tensorOf(reduction === "none" ? rowShape : [], (n) => values(n, -2, 2)),
      });
    });

const cases: { readonly [K in OpName]: RuleCase | NoneCase } = {
  // modes: evaluation semantics for the graph as written
  mode_switch: { arb: unaryFeeds((n) => values(n, -2, 2)).map((feeds) => ({ feeds, build: (x) => modeSwitch(mul(t(x, "a"), 3), mul(t(x, "a"), 2)) })) },
  state_update: { arb: unaryFeeds((n) => values(n, -2, 2)).map((feeds) => ({ feeds, build: (x) => {
      const s = param("s", [], zeros, "f64");
      return stateUpdate(mul(t(x, "a"), 2), s, add(s, 1));
    } })) },
  // its only input is the i32 counter: nothing can flow; the row says why
  random_uniform: { none: () => expect(opTable.random_uniform.gradient).toEqual({ none: "random values have no gradient" }) },
  ...convGradCases,
  conv2d_weight_grad: { none: () => expectBlocked("conv2d_weight_grad", (w) => sum(conv2dWeightGradRaw(reshape(w, [1, 1, 2, 3]), reshape(w, [1, 1, 2, 3]), { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1, kernel: [1, 1] })), /grad: conv2d_weight_grad at .*grad-ops\.test\.ts:\d+:\d+ lies on a differentiable path to the loss but has no gradient \(conv2d_weight_grad is a gradient: second derivatives of convolutions are not supported\)/) },
  max_pool2d_backward: { none: () => expectBlocked("max_pool2d_backward", (w) => sum(maxPool2dBackwardRaw(reshape(w, [1, 1, 2, 3]), reshape(w, [1, 1, 2, 3]), { kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false })), /grad: max_pool2d_backward at .*grad-ops\.test\.ts:\d+:\d+ lies on a differentiable path to the loss but has no gradient \(max_pool2d_backward is a gradient: second derivatives of max pooling are not supported\)/) },
  // leaves: their rule is empty; the gradient flows to them
  input: { arb: unaryFeeds((n) => values(n, -2, 2)).map((feeds) => ({ feeds, build: (x) => t(x, "a") })) },
  param: {
    arb: values(6, -2, 2).map((data) => ({
      feeds: { a: f64([2, 3], data) },
      build: (x) => add(t(x, "a"), param("p", [2, 3], zeros, "f64")),
    })),
  },
  constant: { arb: unaryFeeds((n) => values(n, -2, 2)).map((feeds) => ({ feeds, build: (x) => mul(t(x, "a"), constant(1.5, "f64")) })) },
  neg: unary(neg),
  exp: unary(exp),
  log: unary(log, (n) => values(n, 0.2, 3)),
  sqrt: unary(sqrt, (n) => values(n, 0.2, 3)),
  abs: unary(abs, odd),
  sign: unary((x) => mul(sign(x), x), odd),
  relu: unary(relu, odd),
  sigmoid: unary(sigmoid, (n) => values(n, -4, 4)),
  log_sigmoid: unary(logSigmoid, (n) => values(n, -4, 4)),
  tanh: unary(tanh),
  cast: unary((x) => cast(mul(cast(x, "f32"), 2), "f64")),
  // activations: erf has its own rule; the composites differentiate their decompositions
  erf: unary(erf, (n) => values(n, -3, 3)),
  gelu: { arb: fc.tuple(unaryFeeds((n) => values(n, -4, 4)), fc.constantFrom<"none" | "tanh">("none", "tanh")).map(([feeds, approximate]) => ({ feeds, build: (x) => gelu(t(x, "a"), { approximate }) })) },
  silu: unary(silu, (n) => values(n, -4, 4)),
  // βx stays off the threshold (odd eighths times β ∈ {1, 2, −1} never equal 1 or 20)
  softplus: { arb: fc.tuple(unaryFeeds(odd), fc.constantFrom(1, 2, -1), fc.constantFrom(20, 1)).map(([feeds, beta, threshold]) => ({ feeds, build: (x) => softplus(t(x, "a"), { beta, threshold }) })) },
  leaky_relu: { arb: fc.tuple(unaryFeeds(odd), fc.constantFrom(0.01, 0.2, -0.5)).map(([feeds, slope]) => ({ feeds, build: (x) => leakyRelu(t(x, "a"), slope) })) },
  elu: { arb: fc.tuple(unaryFeeds(odd), fc.constantFrom(1, 0.5, 2)).map(([feeds, alpha]) => ({ feeds, build: (x) => elu(t(x, "a"), alpha) })) },
  // the bounds are even eighths, the inputs odd ones: never on a kink
  hardtanh: { arb: fc.tuple(unaryFeeds(odd), fc.constantFrom<[number, number]>([-1, 1], [-0.5, 1.25], [0, 0])).map(([feeds, [lo, hi]]) => ({ feeds, build: (x) => hardtanh(t(x, "a"), lo, hi) })) },
  clamp: {
    arb: fc
      .tuple(unaryFeeds(odd), fc.constantFrom<{ min?: number; max?: number }>({ min: -1, max: 1 }, { min: 0.5 }, { max: -0.25 }, { min: 1, max: -1 }))
      .map(([feeds, bounds]) => ({ feeds, build: (x) => clamp(t(x, "a"), bounds) })),
  },
  add: binary(add, (n) => values(n, -2, 2), (n) => values(n, -2, 2)),
  sub: binary(sub, (n) => values(n, -2, 2), (n) => values(n, -2, 2)),
  mul: binary(mul, (n) => values(n, -2, 2), (n) => values(n, -2, 2)),
  div: binary(div, (n) => values(n, -2, 2), (n) => odd(n).map((v) => v.map((x) => x + Math.sign(x) * 0.5))),
  pow: binary(pow, (n) => values(n, 0.3, 2), (n) => values(n, -2, 2)),
  maximum: binary(maximum, odd, even),
  minimum: binary(minimum, odd, even),
  eq: { none: () => expectBlocked("eq", (w) => sum(cast(eq(w, 0), "f64")), /grad: param 'W' reaches the loss only through eq at .*grad-ops\.test\.ts:\d+:\d+, which has no gradient \(comparisons are piecewise constant and return bool\)/) },
  ne: { none: () => expectBlocked("ne", (w) => sum(cast(ne(w, 0), "f64")), /only through ne at .*grad-ops\.test\.ts.*comparisons are piecewise constant/) },
  lt: { none: () => expectBlocked("lt", (w) => sum(where(lt(w, 0), 1, 2)), /only through lt at .*comparisons are piecewise constant/) },
  le: { none: () => expectBlocked("le", (w) => sum(where(le(w, 0), 1, 2)), /only through le at .*comparisons are piecewise constant/) },
  gt: { none: () => expectBlocked("gt", (w) => sum(where(gt(w, 0), 1, 2)), /only through gt at .*comparisons are piecewise constant/) },
  ge: { none: () => expectBlocked("ge", (w) => sum(where(ge(w, 0), 1, 2)), /only through ge at .*comparisons are piecewise constant/) },
  where: {
    arb: broadcastShapes.chain(([sa, sb]) =>
      fc.record({ a: tensorOf(sa, (n) => values(n, -2, 2)), b: tensorOf(sb, (n) => values(n, -2, 2)), c: tensorOf(sa, odd) }).map((feeds) => ({
        feeds,
        wrt: ["a", "b"],
        build: (x: Readonly<Record<string, Tensor>>) => where(gt(t(x, "c"), 0), t(x, "a"), t(x, "b")),
      })),
    ),
  },
  sum: reduction(sum),
  mean: reduction(mean),
  max: reduction(max, distinct),
  min: reduction(min, distinct),
  logsumexp: reduction(logsumexp),
  argmax: { none: () => expectBlocked("argmax", (w) => mean(cast(argmax(w, 1), "f64")), /only through argmax at .*grad-ops\.test\.ts:\d+:\d+, which has no gradient \(argmax is piecewise constant: it has no gradient\)/) },
  dim_size: { arb: unaryFeeds((n) => values(n, -2, 2)).map((feeds) => ({ feeds, build: (x) => div(sum(t(x, "a")), dimSize(t(x, "a"), undefined, "f64")) })) },
  reshape: { arb: shapeArb(1, 3).chain((shape) => tensorOf(shape, (n) => values(n, -2, 2)).map((a) => ({ feeds: { a }, build: (x) => reshape(t(x, "a"), [size(shape)]) }))) },
  transpose: {
    arb: shapeArb(1, 3).chain((shape) =>
      fc.record({ a: tensorOf(shape, (n) => values(n, -2, 2)), perm: fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }) }).map(({ a, perm }) => ({
        feeds: { a },
        build: (x: Readonly<Record<string, Tensor>>) => permute(t(x, "a"), perm),
      })),
    ),
  },
  expand: { arb: broadcastShapes.chain(([sa]) => tensorOf(sa.map((d, i) => (i % 2 === 0 ? 1 : d)), (n) => values(n, -2, 2)).map((a) => ({ feeds: { a }, build: (x) => expand(t(x, "a"), [2, ...sa]) }))) },
  matmul: {
    arb: fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom<number[][]>([[], []], [[2], []], [[], [2]], [[2], [1]], [[1], [2]]))
      .chain(([m, k, n, [batchA = [], batchB = []]]) => fc.record({ a: tensorOf([...batchA, m, k], (c) => values(c, -2, 2)), b: tensorOf([...batchB, k, n], (c) => values(c, -2, 2)) }))
      .map((feeds) => ({ feeds, build: (x: Readonly<Record<string, Tensor>>) => matmul(t(x, "a"), t(x, "b")) })),
  },
  one_hot: {
    none: () => {
      // labels are integers: one_hot is never on a differentiable path; the float side still differentiates
      const report = checkGradients((x) => mul(oneHot(t(x, "y"), 3, "f64"), t(x, "a")), { feeds: { a: f64([2, 3], [1, 2, 3, 4, 5, 6]), y: i32([2], [2, 0]) } });
      expect(report.ok).toBe(true);
      expect(report.checks.map((c) => c.name)).toEqual(["a"]);
    },
  },
  gather: {
    // the index may have fewer rows than the input (PyTorch: index.size(d) ≤ input.size(d) for d ≠ dim)
    arb: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 })).chain(([rows, classes, picks, fewer]) =>
      fc.record({ a: tensorOf([rows, classes], (n) => values(n, -2, 2)), i: labels(Math.max(1, rows - fewer) * picks, classes).map((d) => i32([Math.max(1, rows - fewer), picks], d)) }).map((feeds) => ({
        feeds,
        build: (x: Readonly<Record<string, Tensor>>) => gather(t(x, "a"), 1, t(x, "i")),
      })),
    ),
  },
  scatter_add: {
    arb: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })).chain(([rows, classes, picks]) =>
      fc.record({ s: tensorOf([rows, picks], (n) => values(n, -2, 2)), i: labels(rows * picks, classes).map((d) => i32([rows, picks], d)) }).map((feeds) => ({
        feeds,
        build: (x: Readonly<Record<string, Tensor>>) => scatterAdd([rows, classes], 1, t(x, "i"), t(x, "s")),
      })),
    ),
  },
  slice: {
    // Python slicing on a random dim: negative and out-of-range bounds, steps 1–3, one or two dims
    arb: fc
      .tuple(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }), fc.nat(2), fc.integer({ min: -6, max: 6 }), fc.integer({ min: -6, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.boolean())
      .chain(([shape, d, start, stop, step, twoDims]) =>
        tensorOf(shape, (n) => values(n, -2, 2)).map((a) => ({
          feeds: { a },
          build: (x: Readonly<Record<string, Tensor>>) => {
            const dim = d % shape.length;
            const specs = [{ dim, start, stop, step }, ...(twoDims && shape.length > 1 ? [{ dim: (dim + 1) % shape.length, start: 1 }] : [])];
            return mul(slice(t(x, "a"), specs), t(x, "a").rank === 0 ? 1 : 2);
          },
        })),
      ),
  },
  pad: {
    // every mode, pads smaller than the dim for reflect, negative (cropping) constant pads; split covers the constant-pad gradient too
    arb: fc
      .tuple(fc.array(fc.integer({ min: 2, max: 4 }), { minLength: 1, maxLength: 3 }), fc.constantFrom("constant", "reflect", "replicate") as fc.Arbitrary<"constant" | "reflect" | "replicate">, fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 6, maxLength: 6 }))
      .chain(([shape, mode, amounts]) =>
        tensorOf(shape, (n) => values(n, -2, 2)).map((a) => ({
          feeds: { a },
          build: (x: Readonly<Record<string, Tensor>>) => {
            const pads = amounts.slice(0, 2 * shape.length).map((amount, i) => {
              const size = shape[shape.length - 1 - Math.floor(i / 2)] ?? 2;
              return mode === "constant" ? amount : Math.min(Math.max(amount, 0), mode === "reflect" ? size - 1 : 3);
            });
            return pad(t(x, "a"), pads, { mode, value: 0.5 });
          },
        })),
      ),
  },
  flip: {
    arb: shapeArb(1, 3).chain((shape) =>
      fc.record({ a: tensorOf(shape, (n) => values(n, -2, 2)), dims: fc.subarray(shape.map((_, i) => i), { minLength: 1 }) }).map(({ a, dims }) => ({
        feeds: { a },
        build: (x: Readonly<Record<string, Tensor>>) => flip(t(x, "a"), dims),
      })),
    ),
  },
  arange: {
    none: () => {
      // a range of numbers has no tensor input; the tensor it multiplies still differentiates
      const report = checkGradients((x) => mul(arange(0.5, 3, 1, "f64"), t(x, "a")), { feeds: { a: f64([3], [1, 2, 3]) } });
      expect(report.ok).toBe(true);
      expect(report.checks.map((c) => c.name)).toEqual(["a"]);
    },
  },
  concat: {
    arb: fc
      .tuple(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), fc.nat(2), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }), fc.boolean())
      .chain(([shape, d, sizes, asStack]) => {
        const dim = d % shape.length;
        const shapeOf = (k: number) => (asStack ? shape : shape.map((s, axis) => (axis === dim ? (sizes[k] ?? 1) : s)));
        return fc.record({ a: tensorOf(shapeOf(0), (n) => values(n, -2, 2)), b: tensorOf(shapeOf(1), (n) => values(n, -2, 2)), c: tensorOf(shapeOf(2), (n) => values(n, -2, 2)) }).map((feeds) => ({
          feeds,
          build: (x: Readonly<Record<string, Tensor>>) => (asStack ? stack([t(x, "a"), t(x, "b"), t(x, "c")], dim) : concat([t(x, "a"), exp(t(x, "b")), t(x, "c")], dim)),
        }));
      }),
  },
  tril: {
    arb: fc.tuple(shapeArb(2, 3), fc.integer({ min: -2, max: 2 })).chain(([shape, diagonal]) =>
      tensorOf(shape, (n) => values(n, -2, 2)).map((a) => ({ feeds: { a }, build: (x: Readonly<Record<string, Tensor>>) => tril(t(x, "a"), diagonal) })),
    ),
  },
  triu: {
    arb: fc.tuple(shapeArb(2, 3), fc.integer({ min: -2, max: 2 })).chain(([shape, diagonal]) =>
      tensorOf(shape, (n) => values(n, -2, 2)).map((a) => ({ feeds: { a }, build: (x: Readonly<Record<string, Tensor>>) => triu(t(x, "a"), diagonal) })),
    ),
  },
  embedding: {
    // repeated indices sum into one row (the padding row, which gets none, is tested below)
    arb: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), shapeArb(1, 2)).chain(([num, width, indexShape]) =>
      fc.record({ w: tensorOf([num, width], (n) => values(n, -2, 2)), i: labels(size(indexShape), num).map((d) => i32(indexShape, d)) }).map((feeds) => ({
        feeds,
        wrt: ["w"],
        build: (x: Readonly<Record<string, Tensor>>) => embedding(t(x, "i"), t(x, "w")),
      })),
    ),
  },
  embedding_backward: {
    arb: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), shapeArb(1, 2)).chain(([num, width, indexShape]) =>
      fc.record({ g: tensorOf([...indexShape, width], (n) => values(n, -2, 2)), i: labels(size(indexShape), num).map((d) => i32(indexShape, d)) }).map((feeds) => ({
        feeds,
        wrt: ["g"],
        build: (x: Readonly<Record<string, Tensor>>) => embeddingBackward(t(x, "i"), t(x, "g"), num),
      })),
    ),
  },
  softmax: {
    arb: shapeArb(1, 3).chain((shape) => fc.record({ a: tensorOf(shape, (n) => values(n, -3, 3)), dim: fc.integer({ min: 0, max: shape.length - 1 }) }).map(({ a, dim }) => ({ feeds: { a }, build: (x: Readonly<Record<string, Tensor>>) => softmax(t(x, "a"), dim) }))),
  },
  log_softmax: {
    arb: shapeArb(1, 3).chain((shape) => fc.record({ a: tensorOf(shape, (n) => values(n, -3, 3)), dim: fc.integer({ min: 0, max: shape.length - 1 }) }).map(({ a, dim }) => ({ feeds: { a }, build: (x: Readonly<Record<string, Tensor>>) => logSoftmax(t(x, "a"), dim) }))),
  },
  nll_loss: {
    arb: lossFeeds({ ignore: true }).map(({ x, y, w, meta }) => ({
      feeds: { x, y, w },
      wrt: ["x"],
      build: (v: Readonly<Record<string, Tensor>>) => nllLoss(t(v, "x"), t(v, "y"), { dim: meta.dim, reduction: meta.reduction, ...(meta.weighted ? { weight: t(v, "w") } : {}) }),
    })),
  },
  nll_loss_backward: {
    arb: lossFeeds({ ignore: true }).map(({ x, y, w, g, meta }) => ({
      feeds: { x, y, w, g },
      wrt: ["g"],
      build: (v: Readonly<Record<string, Tensor>>) =>
        nllLossBackward(t(v, "x"), t(v, "y"), t(v, "g"), { dim: meta.dim, reduction: meta.reduction, ignoreIndex: -100, weighted: meta.weighted }, meta.weighted ? t(v, "w") : undefined),
    })),
  },
  cross_entropy: {
    // gradients w.r.t. the logits, probability targets and class weights, as PyTorch differentiates them
    arb: fc.tuple(lossFeeds({ ignore: true }), fc.boolean()).chain(([{ x, y, w, meta, smoothing }, prob]) =>
      tensorOf(x.shape, (n) => values(n, 0, 1)).map((p) => ({
        feeds: { x, y, w, p },
        wrt: ["x", ...(prob ? ["p"] : []), ...(meta.weighted ? ["w"] : [])],
        build: (v: Readonly<Record<string, Tensor>>) =>
          crossEntropy(t(v, "x"), prob ? t(v, "p") : t(v, "y"), { dim: meta.dim, reduction: meta.reduction, labelSmoothing: smoothing, ...(meta.weighted ? { weight: t(v, "w") } : {}) }),
      })),
    ),
  },
  cross_entropy_backward: {
    // second derivatives of the fused loss: w.r.t. the logits, the upstream gradient, probability targets and class weights
    arb: fc.tuple(lossFeeds({ ignore: true }), fc.boolean()).chain(([{ x, y, w, g, meta, smoothing }, prob]) =>
      tensorOf(x.shape, (n) => values(n, 0, 1)).map((p) => ({
        feeds: { x, y, w, p, g },
        wrt: ["x", "g", ...(prob ? ["p"] : []), ...(meta.weighted ? ["w"] : [])],
        build: (v: Readonly<Record<string, Tensor>>) =>
          crossEntropyBackward(
            t(v, "x"),
            prob ? t(v, "p") : t(v, "y"),
            t(v, "g"),
            { dim: meta.dim, reduction: meta.reduction, ignoreIndex: -100, labelSmoothing: smoothing, target: prob ? "prob" : "index", weighted: meta.weighted },
            meta.weighted ? t(v, "w") : undefined,
          ),
      })),
    ),
  },
  layer_norm: {
    // over 1..rank trailing dims, with and without weight and bias (rows of one element included)
    arb: shapeArb(1, 3).chain((shape) =>
      fc.record({ dims: fc.integer({ min: 1, max: shape.length }), weight: fc.boolean(), bias: fc.boolean(), a: tensorOf(shape, (n) => values(n, -2, 2)) }).chain(({ dims, weight, bias, a }) => {
        const normalized = shape.slice(shape.length - dims);
        return fc.record({ w: tensorOf(normalized, (n) => values(n, 0.5, 2)), b: tensorOf(normalized, (n) => values(n, -1, 1)) }).map(({ w, b }) => ({
          feeds: { a, w, b },
          wrt: ["a", ...(weight ? ["w"] : []), ...(bias ? ["b"] : [])],
          build: (v: Readonly<Record<string, Tensor>>) => layerNormRaw(t(v, "a"), { dims, eps: 1e-5, weight, bias }, t(v, "w"), t(v, "b")),
        }));
      }),
    ),
  },
  layer_norm_backward: {
    // second derivatives: w.r.t. the input, the cotangent and the weight
    arb: shapeArb(1, 3).chain((shape) =>
      fc.record({ dims: fc.integer({ min: 1, max: shape.length }), weight: fc.boolean(), a: tensorOf(shape, (n) => values(n, -2, 2)), g: tensorOf(shape, (n) => values(n, -2, 2)) }).chain(({ dims, weight, a, g }) =>
        tensorOf(shape.slice(shape.length - dims), (n) => values(n, 0.5, 2)).map((w) => ({
          feeds: { a, g, w },
          wrt: ["a", "g", ...(weight ? ["w"] : [])],
          build: (v: Readonly<Record<string, Tensor>>) => layerNormBackwardRaw(t(v, "a"), t(v, "g"), { dims, eps: 1e-5, weight }, t(v, "w")),
        })),
      ),
    ),
  },
  attention_softmax: {
    // scale, no / bool / additive mask (broadcast), causal; w.r.t. the scores and the additive mask
    arb: fc.tuple(shapeArb(2, 3), fc.constantFrom<"none" | "bool" | "add">("none", "bool", "add"), fc.boolean(), fc.constantFrom(1, 0.5, -0.7), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 })).chain(([shape, mask, causal, scale, ones]) => {
      const maskShape = shape.map((d, i) => (ones[i] === true ? 1 : d));
      return fc
        .record({
          a: tensorOf(shape, (n) => values(n, -3, 3)),
          m: mask === "bool" ? fc.array(fc.boolean(), { minLength: size(maskShape), maxLength: size(maskShape) }).map((bits) => ({ shape: maskShape, dtype: "bool" as const, data: Float64Array.from(bits, Number) })) : tensorOf(maskShape, (n) => values(n, -2, 2)),
        })
        .map(({ a, m }) => ({
          feeds: (mask === "none" ? { a } : { a, m }) as Feeds,
          wrt: ["a", ...(mask === "add" ? ["m"] : [])],
          build: (v: Readonly<Record<string, Tensor>>) => attentionSoftmaxRaw(t(v, "a"), { scale, mask, causal }, mask === "none" ? undefined : t(v, "m")),
        }));
    }),
  },
  batch_norm_stats: {
    // [N, C] and [N, C, L]: the batch mean and biased variance per channel
    arb: fc.tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom<number[]>([], [2], [1, 3])).chain(([n, c, rest]) =>
      tensorOf([n, c, ...rest], (k) => values(k, -2, 2)).map((a) => ({ feeds: { a }, build: (v: Readonly<Record<string, Tensor>>) => batchNormStatsRaw(t(v, "a")) })),
    ),
  },
  batch_norm: {
    // with statistics given (variances ≥ 0.2) and with the batch's own, with and without weight and bias
    arb: fc.tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom<number[]>([], [2]), fc.boolean(), fc.boolean(), fc.boolean()).chain(([n, c, rest, weight, bias, own]) =>
      fc
        .record({ a: tensorOf([n, c, ...rest], (k) => values(k, -2, 2)), m: tensorOf([c], (k) => values(k, -1, 1)), s: tensorOf([c], (k) => values(k, 0.2, 2)), w: tensorOf([c], (k) => values(k, 0.5, 2)), b: tensorOf([c], (k) => values(k, -1, 1)) })
        .map(({ a, m, s, w, b }) => ({
          feeds: { a, st: f64([2, c], [...m.data, ...s.data]), w, b },
          wrt: ["a", ...(own ? [] : ["st"]), ...(weight ? ["w"] : []), ...(bias ? ["b"] : [])],
          build: (v: Readonly<Record<string, Tensor>>) => batchNormRaw(t(v, "a"), own ? batchNormStatsRaw(t(v, "a")) : t(v, "st"), { eps: 1e-3, weight, bias }, t(v, "w"), t(v, "b")),
        })),
    ),
  },
  batch_norm_backward_stats: {
    arb: fc.tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom<number[]>([], [2])).chain(([n, c, rest]) =>
      fc.record({ a: tensorOf([n, c, ...rest], (k) => values(k, -2, 2)), g: tensorOf([n, c, ...rest], (k) => values(k, -2, 2)), m: tensorOf([c], (k) => values(k, -1, 1)), s: tensorOf([c], (k) => values(k, 0.2, 2)) }).map(({ a, g, m, s }) => ({
        feeds: { a, g, st: f64([2, c], [...m.data, ...s.data]) },
        wrt: ["a", "g", "st"],
        build: (v: Readonly<Record<string, Tensor>>) => batchNormBackwardStatsRaw(t(v, "a"), t(v, "st"), t(v, "g"), 1e-3),
      })),
    ),
  },
  softmax_backward: {
    arb: fc.tuple(shapeArb(1, 3), fc.constantFrom(1, 0.5)).chain(([shape, scale]) =>
      fc.record({ y: tensorOf(shape, (n) => values(n, 0, 1)), g: tensorOf(shape, (n) => values(n, -2, 2)) }).map((feeds) => ({
        feeds,
        wrt: ["y", "g"],
        build: (v: Readonly<Record<string, Tensor>>) => softmaxBackwardRaw(t(v, "y"), t(v, "g"), scale),
      })),
    ),
  },
  binary_cross_entropy_with_logits: {
    arb: fc.tuple(shapeArb(1, 3), reductions).chain(([shape, reduction]) =>
      fc.record({ a: tensorOf(shape, (n) => values(n, -4, 4)), p: tensorOf(shape, (n) => values(n, 0, 1)) }).map((feeds) => ({
        feeds,
        wrt: ["a", "p"],
        build: (v: Readonly<Record<string, Tensor>>) => binaryCrossEntropyWithLogits(t(v, "a"), t(v, "p"), { reduction }),
      })),
    ),
  },
};

/** True when the graph of `tensor` contains `op`. */
const usesOp = (tensor: Tensor, op: OpName): boolean => {
  const seen = new Set<Tensor>();
  const stack = [tensor];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.op === op) return true;
    if (seen.has(top)) continue;
    seen.add(top);
    stack.push(...top.inputs);
  }
  return false;
};

describe("VJP of every op vs central finite differences (float64)", () => {
  it("covers every op of the table, with a rule check for rules and a diagnostic check for ops without one", () => {
    expect(Object.keys(cases).sort()).toEqual([...opNames].sort());
    for (const op of opNames) {
      // a rule of its own, or (composites) the gradient of its decomposition
      const hasRule = !("none" in opTable[op].gradient);
      expect({ op, hasRule }).toEqual({ op, hasRule: "arb" in cases[op] });
    }
  });

  for (const op of opNames) {
    const entry = cases[op];
    if ("none" in entry) {
      it(`${op}: no gradient, reported by grad`, () => entry.none());
      continue;
    }
    it(`${op}: VJP matches finite differences`, () => {
      fc.assert(
        fc.property(entry.arb, ({ feeds, build, wrt }) => {
          let used = false;
          const report = checkGradients(
            (x) => {
              const out = build(x);
              used = usesOp(out, op);
              return out;
            },
            { feeds, tolerance: 1e-6, ...(wrt === undefined ? {} : { wrt }) },
          );
          expect(used).toBe(true);
          if (!report.ok) throw new Error(formatGradientReport(report));
          expect(report.checks.length).toBeGreaterThan(0);
        }),
        { seed: 4242, numRuns: 15 },
      );
    });
  }
});

describe("embedding's paddingIdx", () => {
  it("the padding row gets no gradient, the other rows their scatter-added cotangents (PyTorch's padding_idx)", () => {
    const w = param("W", [3, 2], zeros, "f64");
    const indices = input("i", [4], "i32");
    const out = embedding(indices, w, { paddingIdx: 1 });
    const built = buildGraph(model({ name: "emb", outputs: {}, loss: sum(mul(out, constant([[1, 2], [3, 4], [5, 6], [7, 8]], "f64"))) }));
    if (E.isLeft(built)) throw new Error(formatDiagnostics(built.left));
    const graph = grad(built.right);
    if (E.isLeft(graph)) throw new Error(formatDiagnostics(graph.left));
    const result = run(graph.right, { i: i32([4], [0, 1, 2, 0]) }, { W: f64([3, 2], [0, 0, 0, 0, 0, 0]) });
    expect(Array.from(result["grad:W"]?.data ?? [])).toEqual([1 + 7, 2 + 8, 0, 0, 5, 6]);
  });
});
