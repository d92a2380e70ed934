/**
 * @file The float64 reference interpreter: literal expected values for every op (computed
 * independently with NumPy 2.4 where they are not obvious), feeds and symbolic-dim binding,
 * and the interpreter's error paths.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import * as g from "@graft/core";
import { CONV_VALUES } from "./conv-cases.js";
import { input, opNames, type NDArray, type OpName, type Tensor } from "@graft/core";
import { arr, evaluate, evaluationErrors, expectClose, graphOf } from "./helpers.js";

interface ValueCase {
  readonly description: string;
  readonly out: () => Tensor;
  readonly feeds?: Readonly<Record<string, NDArray>>;
  readonly params?: Readonly<Record<string, NDArray>>;
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

const vc = (description: string, out: () => Tensor, shape: readonly number[], data: readonly number[], feeds: Readonly<Record<string, NDArray>> = {}, params: Readonly<Record<string, NDArray>> = {}): ValueCase => ({
  description,
  out,
  shape,
  data,
  feeds,
  params,
});

const x23 = () => input("x", [2, 3]);
const X = { x: arr([[1, -2, 3], [0.5, 0, -1]]) };
const unary = (description: string, fn: (x: Tensor) => Tensor, data: readonly number[]): ValueCase => vc(description, () => fn(x23()), [2, 3], data, X);

// [[1,-2,3],[0.5,0,-1]] against [2,-4,0.5]
const A = { a: arr([[1, -2, 3], [0.5, 0, -1]]), b: arr([2, -4, 0.5]) };
const binary = (fn: (a: Tensor, b: Tensor) => Tensor, data: readonly number[]): ValueCase =>
  vc("[2,3] against a broadcast [3]", () => fn(input("a", [2, 3]), input("b", [3])), [2, 3], data, A);
const i32Pair = { a: arr([7, -7, 6, 1], "i32"), b: arr([2, 2, -4, 3], "i32") };
const intBinary = (fn: (a: Tensor, b: Tensor) => Tensor, data: readonly number[]): ValueCase =>
  vc("on i32", () => fn(input("a", [4], "i32"), input("b", [4], "i32")), [4], data, i32Pair);
// comparisons: [1, 2, NaN, 3] against [1, 3, NaN, 2]
const CMP = { a: arr([1, 2, Number.NaN, 3]), b: arr([1, 3, Number.NaN, 2]) };
const compare = (fn: (a: Tensor, b: Tensor) => Tensor, data: readonly number[]): ValueCase =>
  vc("with NaN", () => fn(input("a", [4]), input("b", [4])), [4], data, CMP);

// 0..23 as [2,3,4]
const T = { t: g.ndarray([2, 3, 4], "f32", Array.from({ length: 24 }, (_, i) => i)) };
const t234 = () => input("t", [2, 3, 4]);
const S = { s: arr([[1, 2, 3], [300, 200, 500]]) };
const s23 = () => input("s", [2, 3]);

const nllAttrs = { dim: 1, reduction: "mean", ignoreIndex: -100, weighted: false } as const;
const ceAttrs = { ...nllAttrs, labelSmoothing: 0, target: "index" } as const;
// logits [[1,2,3],[1,1,1]], labels [2,0]
const CE = { z: arr([[1, 2, 3], [1, 1, 1]]), y: arr([2, 0], "i32") };
const z23 = () => input("z", [2, 3]);
const yLabels = () => input("y", [2], "i32");

const VALUES: { readonly [K in OpName]: readonly ValueCase[] } = {
  mode_switch: [vc("evaluation semantics: the second input", () => {
      const x = input("x", [2]);
      return g.modeSwitch(g.mul(x, 2), x);
    }, [2], [1, 2], { x: arr([1, 2]) })],
  state_update: [vc("the value", () => {
      const s = g.param("s", [2]);
      return g.stateUpdate(input("x", [2]), s, g.mul(s, 3));
    }, [2], [1, 2], { x: arr([1, 2]) }, { s: arr([5, 5]) })],
  // murmur3 fmix32 hash of (seed 3, stream −1, counter 2, index), recomputed in Python
  random_uniform: [vc("the top 24 bits of the counter-based hash", () => g.rand([4], { seed: 3 }), [4], [0.3856925964355469, 0.3221006989479065, 0.013561666011810303, 0.4327978491783142], {}, { "random.counter": arr([2], "i32") })],
  ...CONV_VALUES,
  input: [vc("returns the feed", () => input("x", ["batch", 2]), [3, 2], [1, 2, 3, 4, 5, 6], { x: arr([[1, 2], [3, 4], [5, 6]]) })],
  param: [vc("returns the param value", () => g.param("W", [2, 2]), [2, 2], [1, 0, 0, 1], {}, { W: arr([[1, 0], [0, 1]]) })],
  constant: [
    vc("a nested array, row-major", () => g.constant([[1, 2, 3], [4, 5, 6]]), [2, 3], [1, 2, 3, 4, 5, 6]),
    vc("full broadcasts one value over a symbolic shape", () => g.add(input("x", ["batch"]), g.full(["batch"], 0.5)), [3], [1.5, 2.5, 3.5], { x: arr([1, 2, 3]) }),
    vc("booleans are 0/1", () => g.constant([true, false, true], "bool"), [3], [1, 0, 1]),
    vc("a bool constant is 1 for any nonzero value, NaN included (PyTorch's conversion)", () => g.constant([2.5, 0, Number.NaN, -1e300, -0], "bool"), [5], [1, 0, 1, 1, 0]),
    vc("an i32 constant truncates toward zero", () => g.constant([2.7, -2.7, 2147483647.5, -2147483648.9], "i32"), [4], [2, -2, 2147483647, -2147483648]),
  ],
  neg: [unary("negates", g.neg, [-1, 2, -3, -0.5, -0, 1])],
  abs: [unary("absolute value", g.abs, [1, 2, 3, 0.5, 0, 1])],
  sign: [unary("sign, 0 at 0", g.sign, [1, -1, 1, 1, 0, -1])],
  exp: [unary("exp", g.exp, [2.718281828459045, 0.1353352832366127, 20.085536923187668, 1.6487212707001282, 1.0, 0.36787944117144233])],
  log: [unary("log: NaN below 0, -inf at 0", g.log, [0.0, Number.NaN, 1.0986122886681098, -0.6931471805599453, -Infinity, Number.NaN])],
  sqrt: [unary("sqrt: NaN below 0", g.sqrt, [1.0, Number.NaN, 1.7320508075688772, 0.7071067811865476, 0.0, Number.NaN])],
  relu: [
    unary("relu", g.relu, [1, 0, 3, 0.5, 0, 0]),
    vc("relu keeps NaN (as PyTorch)", () => g.relu(input("x", [3])), [3], [Number.NaN, 0, Infinity], { x: arr([Number.NaN, -Infinity, Infinity]) }),
  ],
  sigmoid: [
    unary("sigmoid", g.sigmoid, [0.7310585786300049, 0.11920292202211755, 0.9525741268224334, 0.6224593312018546, 0.5, 0.2689414213699951]),
    vc("sigmoid saturates without NaN", () => g.sigmoid(input("x", [2])), [2], [0, 1], { x: arr([-1000, 1000]) }),
  ],
  log_sigmoid: [
    unary("log_sigmoid", g.logSigmoid, [-0.31326168751822286, -2.1269280110429727, -0.04858735157374206, -0.4740769841801067, -0.6931471805599453, -1.3132616875182228]),
    vc("log_sigmoid is finite for large |x|", () => g.logSigmoid(input("x", [2])), [2], [-1000, 0], { x: arr([-1000, 1000]) }),
  ],
  tanh: [unary("tanh", g.tanh, [0.7615941559557649, -0.9640275800758169, 0.9950547536867305, 0.46211715726000974, 0.0, -0.7615941559557649])],
  erf: [
    unary("erf", g.erf, [0.8427007929497149, -0.9953222650189527, 0.9999779095030014, 0.5204998778130465, 0.0, -0.8427007929497149]),
    vc("erf saturates and keeps NaN", () => g.erf(input("x", [5])), [5], [1, -1, 1, Number.NaN, 1e-300 * (2 / Math.sqrt(Math.PI))], { x: arr([30, -Infinity, Infinity, Number.NaN, 1e-300]) }),
  ],
  gelu: [
    unary("gelu (exact, erf)", g.gelu, [0.8413447460685429, -0.04550026389635842, 2.99595030590511, 0.34573123063700656, 0.0, -0.15865525393145707]),
    unary("gelu approximate tanh", (x) => g.gelu(x, { approximate: "tanh" }), [0.8411919906082768, -0.04540230591222494, 2.996362607918227, 0.34571400982514394, 0.0, -0.15880800939172324]),
  ],
  silu: [
    unary("silu", g.silu, [0.7310585786300049, -0.2384058440442351, 2.8577223804672998, 0.3112296656009273, 0.0, -0.2689414213699951]),
    vc("silu of large |x|", () => g.silu(input("x", [2])), [2], [-0, 1000], { x: arr([-1000, 1000]) }),
  ],
  softplus: [
    unary("softplus (beta 1, threshold 20)", g.softplus, [1.3132616875182228, 0.1269280110429725, 3.048587351573742, 0.9740769841801067, 0.6931471805599453, 0.31326168751822286]),
    unary("softplus beta 2 threshold 3 (linear where βx > 3)", (x) => g.softplus(x, { beta: 2, threshold: 3 }), [1.0634640055214863, 0.009074963958904869, 3, 0.6566308437591114, 0.34657359027997264, 0.06346400552148625]),
    vc("softplus keeps precision for very negative x", () => g.softplus(input("x", [3])), [3], [4.248354255291589e-18, 0, 30], { x: arr([-40, -800, 30]) }),
  ],
  leaky_relu: [
    unary("leaky_relu default slope 0.01", g.leakyRelu, [1, -0.02, 3, 0.5, 0.0, -0.01]),
    unary("leaky_relu slope 0.2", (x) => g.leakyRelu(x, 0.2), [1, -0.4, 3, 0.5, 0.0, -0.2]),
  ],
  elu: [
    unary("elu default alpha 1", g.elu, [1, -0.8646647167633873, 3, 0.5, 0.0, -0.6321205588285577]),
    unary("elu alpha 0.5", (x) => g.elu(x, 0.5), [1, -0.43233235838169365, 3, 0.5, 0.0, -0.31606027941427883]),
    vc("elu near 0 has no cancellation", () => g.elu(input("x", [1])), [1], [-9.999999999500001e-11], { x: arr([-1e-10]) }),
  ],
  hardtanh: [
    unary("hardtanh default [-1, 1]", g.hardtanh, [1, -1, 1, 0.5, 0, -1]),
    unary("hardtanh [-0.5, 2]", (x) => g.hardtanh(x, -0.5, 2), [1, -0.5, 2, 0.5, 0, -0.5]),
  ],
  clamp: [
    unary("clamp min and max", (x) => g.clamp(x, { min: -1.5, max: 2 }), [1, -1.5, 2, 0.5, 0, -1]),
    unary("clamp min only", (x) => g.clamp(x, { min: 0 }), [1, 0, 3, 0.5, 0, 0]),
    vc("clamp max only on i32, NaN kept on floats", () => g.clamp(input("x", [3], "i32"), { max: 2 }), [3], [1, -7, 2], { x: arr([1, -7, 5], "i32") }),
    vc("clamp with min > max gives max (PyTorch)", () => g.clamp(input("x", [3]), { min: 2, max: 1 }), [3], [1, 1, Number.NaN], { x: arr([0, 5, Number.NaN]) }),
  ],
  cast: [
    vc("f32 → i32 truncates toward zero", () => g.cast(input("x", [5]), "i32"), [5], [1, -1, 0, 0, 2], { x: arr([1.7, -1.7, 0.5, -0.5, 2]) }),
    vc("f32 → bool: nonzero (and NaN) is true", () => g.cast(input("x", [4]), "bool"), [4], [0, 1, 0, 1], { x: arr([0, -2, -0, Number.NaN]) }),
    vc("bool → f32", () => g.cast(g.gt(input("x", [3]), 0), "f32"), [3], [1, 0, 0], { x: arr([2, 0, -1]) }),
  ],
  add: [binary(g.add, [3.0, -6.0, 3.5, 2.5, -4.0, -0.5]), intBinary(g.add, [9, -5, 2, 4])],
  sub: [binary(g.sub, [-1.0, 2.0, 2.5, -1.5, 4.0, -1.5]), intBinary(g.sub, [5, -9, 10, -2])],
  mul: [binary(g.mul, [2.0, 8.0, 1.5, 1.0, -0.0, -0.5]), intBinary(g.mul, [14, -14, -24, 3])],
  div: [
    binary(g.div, [0.5, 0.5, 6.0, 0.25, -0.0, -2.0]),
    // graft has no type promotion: i32 / i32 stays i32, truncating toward zero
    intBinary(g.div, [3, -3, -1, 0]),
    vc("by zero gives ±inf and NaN", () => g.div(input("a", [3]), 0), [3], [Infinity, -Infinity, Number.NaN], { a: arr([1, -1, 0]) }),
  ],
  pow: [vc("with broadcast exponents", () => g.pow(input("a", [2, 3]), input("b", [3])), [2, 3], [8.0, 0.5, 3.0, 0.125, 0.5773502691896257, 1.0], { a: arr([[2, 4, 9], [0.5, 3, 1]]), b: arr([3, -0.5, 0.5]) })],
  maximum: [
    binary(g.maximum, [2.0, -2.0, 3.0, 2.0, 0.0, 0.5]),
    vc("NaN propagates", () => g.maximum(input("a", [2]), input("b", [2])), [2], [Number.NaN, Number.NaN], { a: arr([Number.NaN, 1]), b: arr([1, Number.NaN]) }),
  ],
  minimum: [
    binary(g.minimum, [1.0, -4.0, 0.5, 0.5, -4.0, -1.0]),
    vc("NaN propagates", () => g.minimum(input("a", [2]), input("b", [2])), [2], [Number.NaN, Number.NaN], { a: arr([Number.NaN, 1]), b: arr([1, Number.NaN]) }),
  ],
  eq: [compare(g.eq, [1, 0, 0, 0])],
  ne: [compare(g.ne, [0, 1, 1, 1])],
  lt: [compare(g.lt, [0, 1, 0, 0])],
  le: [compare(g.le, [1, 1, 0, 0])],
  gt: [compare(g.gt, [0, 0, 0, 1])],
  ge: [compare(g.ge, [1, 0, 0, 1])],
  where: [
    vc(
      "broadcasts condition [2,1], a [3] and a scalar",
      () => g.where(g.gt(input("c", [2, 1]), 0), input("a", [3]), -1),
      [2, 3],
      [10, 20, 30, -1, -1, -1],
      { c: arr([[1], [0]]), a: arr([10, 20, 30]) },
    ),
  ],
  sum: [
    vc("dims [0,2] with keepdim", () => g.sum(t234(), [0, 2], true), [1, 3, 1], [60, 92, 124], T),
    vc("all dims", () => g.sum(t234()), [], [276], T),
    vc("i32", () => g.sum(input("i", [2, 2], "i32"), 0), [2], [4, 6], { i: arr([[1, 2], [3, 4]], "i32") }),
    vc("of an empty dim is 0", () => g.sum(input("e", [2, 0]), 1), [2], [0, 0], { e: g.ndarray([2, 0], "f32") }),
  ],
  mean: [
    vc("dims [0,2] with keepdim", () => g.mean(t234(), [0, 2], true), [1, 3, 1], [7.5, 11.5, 15.5], T),
    vc("dims [2,0] without keepdim", () => g.mean(t234(), [2, 0]), [3], [7.5, 11.5, 15.5], T),
  ],
  max: [
    vc("dims [0,2] with keepdim", () => g.max(t234(), [0, 2], true), [1, 3, 1], [15, 19, 23], T),
    vc("NaN wins (as PyTorch)", () => g.max(input("x", [3]), 0), [], [Number.NaN], { x: arr([1, Number.NaN, 3]) }),
  ],
  min: [
    vc("dims [1,2]", () => g.min(t234(), [1, 2]), [2], [0, 12], T),
    vc("NaN wins (as PyTorch)", () => g.min(input("x", [3]), 0), [], [Number.NaN], { x: arr([1, Number.NaN, -3]) }),
  ],
  logsumexp: [
    vc("max-shifted along dim 1", () => g.logsumexp(s23(), 1), [2], [3.4076059644443806, 500.0], S),
    vc("along dim 0", () => g.logsumexp(s23(), 0), [3], [300.0, 200.0, 500.0], S),
    vc("dims [0,2] with keepdim", () => g.logsumexp(t234(), [0, 2], true), [1, 3, 1], [15.440195842754672, 19.440195842754672, 23.440195842754672], T),
    vc("a row of -inf gives -inf; +inf gives +inf", () => g.logsumexp(input("x", [2, 2]), 1), [2], [-Infinity, Infinity], { x: arr([[-Infinity, -Infinity], [Infinity, 1]]) }),
  ],
  argmax: [
    vc(
      "first index on ties, NaN counts as the max, an all -inf row gives 0",
      () => g.argmax(input("x", [3, 3]), 1),
      [3],
      [1, 1, 0],
      { x: arr([[1, 3, 3], [2, Number.NaN, 5], [-Infinity, -Infinity, -Infinity]]) },
    ),
    vc("along dim 0 with keepdim", () => g.argmax(input("x", [2, 3]), 0, true), [1, 3], [1, 0, 0], { x: arr([[1, 5, 2], [4, 5, 0]]) }),
    vc("of i32", () => g.argmax(input("x", [4], "i32"), 0), [], [2], { x: arr([3, -1, 7, 7], "i32") }),
  ],
  dim_size: [
    vc("of the bound batch", () => g.dimSize(input("x", ["batch", 3]), 0), [], [4], { x: g.ndarray([4, 3], "f32") }),
    vc("of all dims", () => g.dimSize(input("x", ["batch", 3])), [], [12], { x: g.ndarray([4, 3], "f32") }),
  ],
  reshape: [
    vc("with -1", () => g.reshape(x23(), [3, -1]), [3, 2], [1, -2, 3, 0.5, 0, -1], X),
    vc("-1 resolved to a symbolic dim", () => g.reshape(input("x", ["batch", 2, 3]), [-1, 6]), [2, 6], Array.from({ length: 12 }, (_, i) => i), {
      x: g.ndarray([2, 2, 3], "f32", Array.from({ length: 12 }, (_, i) => i)),
    }),
    vc("flatten keeps a symbolic batch", () => g.flatten(input("x", ["batch", 2, 2]), 1), [3, 4], Array.from({ length: 12 }, (_, i) => i), {
      x: g.ndarray([3, 2, 2], "f32", Array.from({ length: 12 }, (_, i) => i)),
    }),
  ],
  transpose: [
    vc("permute [2,0,1]", () => g.permute(t234(), [2, 0, 1]), [4, 2, 3], [0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23], T),
    vc("transpose of a matrix", () => g.transpose(x23()), [3, 2], [1, 0.5, -2, 0, 3, -1], X),
  ],
  expand: [
    vc("[1,3] to [2,3]", () => g.expand(input("x", [1, 3]), [2, 3]), [2, 3], [1, 2, 3, 1, 2, 3], { x: arr([[1, 2, 3]]) }),
    vc("[2,1] to [batch,2,3] with batch bound by another input", () => g.add(g.expand(input("x", [2, 1]), ["batch", 2, 3]), g.mul(input("b", ["batch", 1, 1]), 0)), [2, 2, 3], [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2], {
      x: arr([[1], [2]]),
      b: arr([[[5]], [[6]]]),
    }),
  ],
  matmul: [
    vc("2-d", () => g.matmul(input("a", [2, 2]), input("b", [2, 3])), [2, 3], [21, 24, 27, 47, 54, 61], { a: arr([[1, 2], [3, 4]]), b: arr([[5, 6, 7], [8, 9, 10]]) }),
    vc(
      "batched, batch dims [2,1] and [4] broadcast to [2,4]",
      () => g.matmul(input("a", [2, 1, 2, 3]), input("b", [4, 3, 2])),
      [2, 4, 2, 2],
      [11.0, 14.0, 24.5, 32.0, 29.0, 32.0, 69.5, 77.0, 47.0, 50.0, 114.5, 122.0, 65.0, 68.0, 159.5, 167.0, 38.0, 50.0, 51.5, 68.0, 110.0, 122.0, 150.5, 167.0, 182.0, 194.0, 249.5, 266.0, 254.0, 266.0, 348.5, 365.0],
      {
        a: g.ndarray([2, 1, 2, 3], "f32", Array.from({ length: 12 }, (_, i) => i + 1)),
        b: g.ndarray([4, 3, 2], "f32", Array.from({ length: 24 }, (_, i) => (i + 1) * 0.5)),
      },
    ),
    vc("vector @ matrix", () => g.matmul(input("a", [2]), input("b", [2, 3])), [3], [21, 24, 27], { a: arr([1, 2]), b: arr([[5, 6, 7], [8, 9, 10]]) }),
    vc("vector @ vector", () => g.matmul(input("a", [3]), input("b", [3])), [], [32], { a: arr([1, 2, 3]), b: arr([4, 5, 6]) }),
    vc("linear: x @ Wᵀ + b", () => g.linear(input("x", [1, 2]), input("W", [3, 2]), input("b", [3])), [1, 3], [3, 5, 1], {
      x: arr([[1, 2]]),
      W: arr([[1, 0], [0, 1], [1, -1]]),
      b: arr([2, 3, 2]),
    }),
  ],
  one_hot: [
    vc("labels outside [0, k) give a zero row", () => g.oneHot(input("y", [4], "i32"), 3), [4, 3], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], { y: arr([0, 2, -1, 5], "i32") }),
    vc("of a 2-d label tensor", () => g.oneHot(input("y", [2, 1], "i32"), 2), [2, 1, 2], [0, 1, 1, 0], { y: arr([[1], [0]], "i32") }),
  ],
  slice: [
    vc("negative start, to the end (x[:, -2:])", () => g.slice(x23(), 1, -2), [2, 2], [-2, 3, 0, -1], X),
    vc("step 3 over the last dim (t[:, :, 0:4:3])", () => g.slice(t234(), 2, 0, 4, 3), [2, 3, 2], [0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23], T),
  ],
  pad: [
    vc("constant on the left of the last dim", () => g.pad(x23(), [1, 0], { value: 9 }), [2, 4], [9, 1, -2, 3, 9, 0.5, 0, -1], X),
    vc("reflect (F.pad(arange(4), (2, 1), 'reflect'))", () => g.pad(input("r", [1, 4]), [2, 1], { mode: "reflect" }), [1, 7], [2, 1, 0, 1, 2, 3, 2], { r: arr([[0, 1, 2, 3]]) }),
    vc("replicate", () => g.pad(input("r", [1, 4]), [2, 1], { mode: "replicate" }), [1, 7], [0, 0, 0, 1, 2, 3, 3], { r: arr([[0, 1, 2, 3]]) }),
    vc("interior zeros (a strided slice's gradient)", () => g.padDims(input("v", [3]), [1], [0], { interior: [1] }), [6], [0, 1, 0, 2, 0, 3], { v: arr([1, 2, 3]) }),
  ],
  flip: [vc("both dims", () => g.flip(x23(), [0, 1]), [2, 3], [-1, 0, 0.5, 3, -2, 1], X)],
  arange: [
    vc("a float step", () => g.arange(1, 2, 0.25), [4], [1, 1.25, 1.5, 1.75]),
    vc("a negative step", () => g.arange(5, 0, -2), [3], [5, 3, 1]),
  ],
  concat: [
    vc("along dim 0", () => {
      const x = x23();
      return g.concat([x, g.slice(x, 0, 1)], 0);
    }, [3, 3], [1, -2, 3, 0.5, 0, -1, 0.5, 0, -1], X),
    vc("along dim 1", () => g.concat([x23(), input("c", [2, 1])], 1), [2, 4], [1, -2, 3, 7, 0.5, 0, -1, 8], { ...X, c: arr([[7], [8]]) }),
    vc("stack along a new last dim", () => g.stack([input("a", [2]), input("b", [2])], 1), [2, 2], [1, 3, 2, 4], { a: arr([1, 2]), b: arr([3, 4]) }),
  ],
  tril: [
    vc("on and below the diagonal", () => g.tril(x23()), [2, 3], [1, 0, 0, 0.5, 0, 0], X),
    vc("diagonal 1", () => g.tril(x23(), 1), [2, 3], [1, -2, 0, 0.5, 0, -1], X),
  ],
  triu: [
    vc("on and above the diagonal", () => g.triu(x23()), [2, 3], [1, -2, 3, 0, 0, -1], X),
    vc("diagonal 1", () => g.triu(x23(), 1), [2, 3], [0, -2, 3, 0, 0, -1], X),
  ],
  embedding: [
    vc("rows of the table", () => g.embedding(input("i", [2, 2], "i32"), input("w", [3, 2])), [2, 2, 2], [20, 21, 0, 1, 10, 11, 20, 21], {
      i: arr([[2, 0], [1, 2]], "i32"),
      w: arr([[0, 1], [10, 11], [20, 21]]),
    }),
  ],
  embedding_backward: [
    vc("repeated rows add up", () => g.embeddingBackward(input("i", [3], "i32"), input("d", [3, 2]), 3), [3, 2], [3, 4, 0, 0, 6, 8], { i: arr([2, 0, 2], "i32"), d: arr([[1, 2], [3, 4], [5, 6]]) }),
  ],
  gather: [
    // torch.gather docs example
    vc("along dim 1", () => g.gather(input("x", [2, 2]), 1, input("i", [2, 2], "i32")), [2, 2], [1, 1, 4, 3], { x: arr([[1, 2], [3, 4]]), i: arr([[0, 0], [1, 0]], "i32") }),
    vc("along dim 0, index larger than the input", () => g.gather(input("x", [2, 2]), 0, input("i", [3, 2], "i32")), [3, 2], [3, 2, 1, 4, 3, 4], {
      x: arr([[1, 2], [3, 4]]),
      i: arr([[1, 0], [0, 1], [1, 1]], "i32"),
    }),
    vc("pick: y_hat[range(n), y]", () => g.pick(input("p", [3, 3]), input("y", [3], "i32")), [3], [0.2, 0.5, 0.1], {
      p: arr([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.1, 0.8, 0.1]]),
      y: arr([1, 0, 2], "i32"),
    }),
  ],
  scatter_add: [
    // torch.Tensor.scatter_add_ docs example
    vc("along dim 0, repeated indices accumulate", () => g.scatterAdd([3, 5], 0, input("i", [2, 5], "i32"), input("s", [2, 5])), [3, 5], [2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1], {
      i: arr([[0, 1, 2, 0, 0], [0, 1, 2, 2, 2]], "i32"),
      s: arr([[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]),
    }),
    vc("along dim 1", () => g.scatterAdd([2, 4], 1, input("i", [2, 3], "i32"), input("s", [2, 3])), [2, 4], [3, 0, 0, 3, 0, 10, 5, 0], {
      i: arr([[3, 3, 0], [1, 2, 1]], "i32"),
      s: arr([[1, 2, 3], [4, 5, 6]]),
    }),
  ],
  softmax: [
    vc("along dim 1, max-shifted ([300,200,500] is finite)", () => g.softmax(s23(), 1), [2, 3], [0.09003057317038046, 0.24472847105479764, 0.6652409557748218, 1.3838965267367376e-87, 5.148200222412013e-131, 1.0], S),
    vc("along dim 0", () => g.softmax(s23(), 0), [2, 3], [1.3994259113851392e-130, 1.0225689071173033e-86, 1.4310094247967382e-216, 1.0, 1.0, 1.0], S),
    vc("-inf entries get 0", () => g.softmax(input("x", [3]), 0), [3], [0.5, 0, 0.5], { x: arr([1, -Infinity, 1]) }),
  ],
  log_softmax: [
    vc("along dim 1", () => g.logSoftmax(s23(), 1), [2, 3], [-2.4076059644443806, -1.4076059644443806, -0.4076059644443806, -200.0, -300.0, 0.0], S),
    vc("-inf stays -inf, no NaN", () => g.logSoftmax(input("x", [3]), 0), [3], [-Math.LN2, -Infinity, -Math.LN2], { x: arr([1, -Infinity, 1]) }),
  ],
  nll_loss: [
    vc("mean of -logp[y]", () => g.nllLoss(input("lp", [2, 3]), yLabels()), [], [1.75], { lp: arr([[-1, -2, -3], [-0.5, -1.5, -2.5]]), y: arr([2, 0], "i32") }),
    vc("class weights divide by the weight sum", () => g.nllLoss(input("lp", [2, 3]), yLabels(), { weight: input("w", [3]) }), [], [(2 * 3 + 1 * 0.5) / 3], {
      lp: arr([[-1, -2, -3], [-0.5, -1.5, -2.5]]),
      y: arr([2, 0], "i32"),
      w: arr([1, 4, 2]),
    }),
    vc("ignoreIndex rows count for nothing", () => g.nllLoss(input("lp", [2, 3]), yLabels(), { ignoreIndex: 0, reduction: "none" }), [2], [3, 0], {
      lp: arr([[-1, -2, -3], [-0.5, -1.5, -2.5]]),
      y: arr([2, 0], "i32"),
    }),
  ],
  nll_loss_backward: [
    vc("-1/N at the targets", () => g.nllLossBackward(input("lp", [2, 3]), yLabels(), g.scalar(1), nllAttrs), [2, 3], [0, 0, -0.5, -0.5, 0, 0], {
      lp: arr([[-1, -2, -3], [-0.5, -1.5, -2.5]]),
      y: arr([2, 0], "i32"),
    }),
  ],
  cross_entropy: [
    vc("LSE(x) − x[y], mean", () => g.crossEntropy(z23(), yLabels()), [], [0.7531091265562453], CE),
    vc("reduction none", () => g.crossEntropy(z23(), yLabels(), { reduction: "none" }), [2], [0.4076059644443806, 1.09861228866811], CE),
    vc("class weights", () => g.crossEntropy(z23(), yLabels(), { weight: g.constant([1, 2, 0.5]) }), [], [0.8682768472602002], CE),
    vc("label smoothing 0.1", () => g.crossEntropy(z23(), yLabels(), { labelSmoothing: 0.1 }), [], [0.8031091265562453], CE),
    vc("probability targets equal to one-hot give the index loss", () => g.crossEntropy(z23(), input("p", [2, 3])), [], [0.7531091265562453], {
      z: CE.z,
      p: arr([[0, 0, 1], [1, 0, 0]]),
    }),
    vc("finite for huge logits", () => g.crossEntropy(input("z", [1, 3]), input("y", [1], "i32")), [], [300], { z: arr([[300, 200, 500]]), y: arr([1], "i32") }),
  ],
  cross_entropy_backward: [
    vc("(softmax − onehot)/N", () => g.crossEntropyBackward(z23(), yLabels(), g.scalar(1), ceAttrs), [2, 3], [0.04501528658519023, 0.12236423552739882, -0.1673795221125891, -0.33333333333333337, 0.16666666666666666, 0.16666666666666666], CE),
  ],
  // literals from an independent script (layer norm by its definition; its backward by central differences in 60-digit decimals)
  layer_norm: [
    vc("over the last dim, eps 0, weight and bias", () => g.layerNormRaw(x23(), { dims: 1, eps: 0, weight: true, bias: true }, input("w", [3]), input("b", [3])), [2, 3], [0.3244428422615251, 2.2977713690461004, -0.43222502604233115, 2.138089935299395, 0.7327387580875756, -1.668153104781061], {
      ...X,
      w: arr([2, -1, 0.5]),
      b: arr([0, 1, -1]),
    }),
    vc("a row of one element is 0", () => g.layerNormRaw(input("x", [2, 1]), { dims: 1, eps: 1e-5, weight: false, bias: false }), [2, 1], [0, 0], { x: arr([[3], [-4]]) }),
  ],
  layer_norm_backward: [
    vc("with a weight, eps 1e-5", () => g.layerNormBackwardRaw(x23(), input("g", [2, 3]), { dims: 1, eps: 1e-5, weight: true }, input("w", [3])), [2, 3], [0.32017348845306476, -0.1280694722226787, -0.19210401623038603, 2.290804753966894, -3.4361658979491576, 1.1453611439822635], {
      ...X,
      g: arr([[1, -1, 2], [0.5, 3, -2]]),
      w: arr([2, -1, 0.5]),
    }),
  ],
  attention_softmax: [
    vc("scale 0.5 and an additive mask", () => g.attentionSoftmaxRaw(x23(), { scale: 0.5, mask: "add", causal: false }, input("m", [2, 3])), [2, 3], [0.1797341135001498, 0.014753474459327466, 0.8055124120405226, 0.7772998611746911, 0.22270013882530884, 5.024872615058402e-45], {
      ...X,
      m: arr([[0, -1, 0.5], [1, 0, -100]]),
    }),
    vc("causal and a broadcast bool mask: a row masked everywhere is 0 (PyTorch's SDPA)", () => g.attentionSoftmaxRaw(x23(), { scale: 1, mask: "bool", causal: true }, input("m", [3], "bool")), [2, 3], [0, 0, 0, 0, 0, 0], { ...X, m: arr([0, 0, 1], "bool") }),
    vc("causal: query i sees keys j ≤ i", () => g.attentionSoftmaxRaw(input("x", [2, 2]), { scale: 1, mask: "none", causal: true }), [2, 2], [1, 0, 0.5, 0.5], { x: arr([[5, 7], [2, 2]]) }),
    vc("a NaN score makes its row NaN", () => g.attentionSoftmaxRaw(input("x", [2, 2]), { scale: 1, mask: "none", causal: false }), [2, 2], [Number.NaN, Number.NaN, 0.5, 0.5], { x: arr([[Number.NaN, 1], [2, 2]]) }),
  ],
  // [N=2, C=2, 2]: channel 0 holds 1, 2, 3, −2; channel 1 holds −1, 0.5, 0, 4
  batch_norm_stats: [vc("mean and biased variance per channel", () => g.batchNormStatsRaw(input("x", [2, 2, 2])), [2, 2], [1, 0.875, 3.5, 3.546875], { x: arr([[[1, 2], [-1, 0.5]], [[3, -2], [0, 4]]]) })],
  batch_norm: [
    vc("eps 0.1, weight and bias per channel", () => g.batchNormRaw(input("x", [2, 2, 2]), input("s", [2, 2]), { eps: 0.1, weight: true, bias: true }, input("w", [2]), input("b", [2])), [2, 2, 2], [0.5, 1.5540925533894598, 0.9818402531860004, 0.1963680506372001, 2.6081851067789197, -2.6622776601683795, 0.4581921181534669, -1.6364004219766675], {
      x: arr([[[1, 2], [-1, 0.5]], [[3, -2], [0, 4]]]),
      s: arr([[1, 0.875], [3.5, 3.546875]]),
      w: arr([2, -1]),
      b: arr([0.5, 0]),
    }),
  ],
  batch_norm_backward_stats: [
    vc("Σg and Σg·x̂ per channel", () => g.batchNormBackwardStatsRaw(input("x", [2, 2, 2]), input("s", [2, 2]), input("g", [2, 2, 2]), 0.1), [2, 2], [-1, 5.5, -4.216370213557839, -2.258232582327801], {
      x: arr([[[1, 2], [-1, 0.5]], [[3, -2], [0, 4]]]),
      s: arr([[1, 0.875], [3.5, 3.546875]]),
      g: arr([[[1, -1], [0.5, 2]], [[-2, 1], [3, 0]]]),
    }),
  ],
  softmax_backward: [vc("scale·y⊙(g − Σg⊙y)", () => g.softmaxBackwardRaw(input("y", [1, 3]), input("g", [1, 3]), 0.5), [1, 3], [0.01, -0.285, 0.275], { y: arr([[0.2, 0.3, 0.5]]), g: arr([[1, -1, 2]]) })],
  binary_cross_entropy_with_logits: [
    vc("reduction none", () => g.binaryCrossEntropyWithLogits(input("x", [3]), input("t", [3]), { reduction: "none" }), [3], [0.6931471805599453, 2.1269280110429727, 1.548587351573742], {
      x: arr([0, 2, -3]),
      t: arr([1, 0, 0.5]),
    }),
    vc("mean", () => g.binaryCrossEntropyWithLogits(input("x", [3]), input("t", [3])), [], [1.4562208477255532], { x: arr([0, 2, -3]), t: arr([1, 0, 0.5]) }),
  ],
};

describe.each(opNames.map((op) => ({ op })))("$op", ({ op }) => {
  const cases = VALUES[op];
  test("has value cases", () => expect(cases.length).toBeGreaterThan(0));
  test.each(cases.map((c) => ({ ...c, label: c.description })))("$label", ({ out, feeds, params, shape, data }) => {
    const t = out();
    const value = evaluate(t, feeds, params);
    expect(value.shape).toEqual(shape);
    expect(value.dtype).toBe(t.dtype);
    expectClose(value.data, data);
  });
  test("some case's output node is this op", () => {
    expect(cases.some((c) => c.out().op === op) || cases.some((c) => JSON.stringify(graphOf(c.out()).nodes.map((n) => n.op)).includes(`"${op}"`))).toBe(true);
  });
});

describe("evaluateGraph and run", () => {
  const m = g.model({ name: "m", outputs: { y: g.add(g.matmul(input("x", ["batch", 2]), g.param("W", [2, 1], g.ones)), input("b", ["batch", 1])) } });
  const graph = graphOf(m.outputs.y as Tensor, "y");

  test("run returns the named outputs", () => {
    const params = g.initParams(graph);
    const out = g.run(graph, { x: arr([[1, 2], [3, 4], [5, 6]]), b: arr([[1], [1], [1]]) }, params);
    expect(Object.keys(out)).toEqual(["y"]);
    expect(out.y?.shape).toEqual([3, 1]);
    expect(Array.from(out.y?.data ?? [])).toEqual([4, 8, 12]);
  });

  test("two different sizes for one symbolic dim name both inputs and both sizes", () => {
    const result = g.evaluateGraph(graph, { x: g.ndarray([3, 2], "f32"), b: g.ndarray([5, 1], "f32") }, g.initParams(graph));
    expect(E.isLeft(result)).toBe(true);
    if (E.isRight(result)) return;
    expect(result.left.map((d) => d.message)).toEqual(["input b: dim 'batch' is 5 but input x bound it to 3"]);
    expect(result.left[0]?.code).toBe("feed");
  });

  test("run throws a GraftError carrying the diagnostics", () => {
    // the message is the formatted diagnostics, with the location of input b
    expect(() => g.run(graph, { x: g.ndarray([3, 2], "f32"), b: g.ndarray([4, 1], "f32") }, g.initParams(graph))).toThrowError(
      /^packages\/core\/test\/interpreter\.test\.ts:\d+:\d+ input b: dim 'batch' is 4 but input x bound it to 3$/,
    );
    try {
      g.run(graph, { x: g.ndarray([3, 2], "f32") }, g.initParams(graph));
      expect.unreachable();
    } catch (thrown) {
      expect(thrown).toBeInstanceOf(g.GraftError);
      expect((thrown as g.GraftError).diagnostics.map((d) => d.message)).toEqual(["missing feed for input b: expected f32[batch,1]"]);
    }
  });

  test("feed errors name the input, the expected and the actual shape", () => {
    const feeds = (x: NDArray, b: NDArray) => E.getOrElseW((d: g.Diagnostics) => d.map((x) => x.message))(E.map(() => [] as string[])(g.bindDims(graph, { x, b })));
    expect(feeds(g.ndarray([3, 3], "f32"), g.ndarray([3, 1], "f32"))).toEqual(["input x: expected shape [batch,2], got [3,3] (dim 1: 2 ≠ 3)"]);
    expect(feeds(g.ndarray([3], "f32"), g.ndarray([3, 1], "f32"))).toEqual(["input x: expected shape [batch,2], got [3] (rank 2 ≠ 1)"]);
    expect(feeds(g.ndarray([3, 2], "i32"), g.ndarray([3, 1], "f32"))).toEqual(["input x: expected dtype f32, got i32"]);
    expect(E.isRight(g.bindDims(graph, { x: { shape: [7, 2] }, b: { shape: [7, 1] } }))).toBe(true);
    expect(g.bindDims(graph, { x: { shape: [7, 2] }, b: { shape: [7, 1] } })).toEqual(E.right(new Map([["batch", 7]])));
  });

  test("a missing or mis-sized param is reported", () => {
    const missing = evaluationErrors(g.param("W", [2, 2]));
    expect(missing.map((d) => d.message)).toEqual(["missing value for param W: expected f32[2,2]"]);
    const wrong = evaluationErrors(g.param("W", [2, 2]), {}, { W: arr([1, 2, 3]) });
    expect(wrong.map((d) => d.message)).toEqual(["param W: expected f32[2,2], got [3]"]);
  });

  test("a symbolic dim that no input carries is a diagnostic, not a throw", () => {
    expect(evaluationErrors(g.full(["n"], 1)).map((d) => d.message)).toEqual(["constant: symbolic dim 'n' of f32[n] is not a dim of any input, so no feed binds it"]);
    expect(evaluationErrors(g.expand(input("x", [1, 2]), ["m", 2]), { x: arr([[1, 2]]) }).map((d) => d.message)).toEqual([
      "expand: symbolic dim 'm' of f32[m,2] is not a dim of any input, so no feed binds it",
    ]);
  });

  test("an out-of-range index or label at run time names the row and value", () => {
    const gathered = evaluationErrors(g.gather(input("x", [2, 2]), 1, input("i", [2, 1], "i32")), { x: arr([[1, 2], [3, 4]]), i: arr([[0], [2]], "i32") });
    expect(gathered.map((d) => [d.code, d.message])).toEqual([["runtime", "gather: index 2 at position [1,0] is out of range for dim 1 of size 2"]]);
    const ce = evaluationErrors(g.crossEntropy(z23(), yLabels()), { z: CE.z, y: arr([2, 3], "i32") });
    expect(ce.map((d) => d.message)).toEqual(["cross_entropy: target at row 1 is 3, expected 0 ≤ target < 3 (or ignore_index -100)"]);
    const nll = evaluationErrors(g.nllLoss(z23(), yLabels()), { z: CE.z, y: arr([-1, 0], "i32") });
    expect(nll.map((d) => d.message)).toEqual(["nll_loss: target at row 0 is -1, expected 0 ≤ target < 3 (or ignore_index -100)"]);
  });

  test("precision f32 rounds f32 values after every op, f64 values are exact", () => {
    const t = g.add(input("x", [1]), 0.1);
    const graph32 = graphOf(t);
    const exact = g.evaluateGraph(graph32, { x: arr([0.2]) }, {});
    const rounded = g.evaluateGraph(graph32, { x: arr([0.2]) }, {}, { precision: "f32" });
    const last = (r: E.Either<g.Diagnostics, NDArray[]>): number => (E.isRight(r) ? (r.right[r.right.length - 1]?.data[0] ?? Number.NaN) : Number.NaN);
    expect(last(exact)).toBe(0.2 + 0.1);
    expect(last(rounded)).toBe(Math.fround(Math.fround(0.2) + Math.fround(0.1)));
    const t64 = g.add(input("x", [1], "f64"), 0.1);
    expect(last(g.evaluateGraph(graphOf(t64), { x: arr([0.2], "f64") }, {}, { precision: "f32" }))).toBe(0.2 + 0.1);
  });
});

describe("initParams", () => {
  const graph = graphOf(g.add(g.dense(input("x", [1, 3]), 3, 2, "fc"), g.add(g.param("z", [2]), g.param("c", [2], g.constantInit(0.25)))));
  test("is deterministic in the seed and follows each initialiser", () => {
    const a = g.initParams(graph, 7);
    const b = g.initParams(graph, 7);
    const c = g.initParams(graph, 8);
    expect(Array.from(a["fc.weight"]?.data ?? [])).toEqual(Array.from(b["fc.weight"]?.data ?? []));
    expect(Array.from(a["fc.weight"]?.data ?? [])).not.toEqual(Array.from(c["fc.weight"]?.data ?? []));
    expect(Array.from(a.z?.data ?? [])).toEqual([0, 0]);
    expect(Array.from(a.c?.data ?? [])).toEqual([0.25, 0.25]);
    const bound = 1 / Math.sqrt(3);
    for (const v of [...(a["fc.weight"]?.data ?? []), ...(a["fc.bias"]?.data ?? [])]) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    expect(a["fc.weight"]?.shape).toEqual([2, 3]);
  });
  test("normal and uniform initialisers have the requested moments", () => {
    const normal = g.initValues(g.normal(1, 2), 20001, 3, "w");
    const mean = normal.reduce((s, v) => s + v, 0) / normal.length;
    const variance = normal.reduce((s, v) => s + (v - mean) ** 2, 0) / normal.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.05);
    expect(Math.abs(Math.sqrt(variance) - 2)).toBeLessThan(0.05);
    const uniform = g.initValues(g.uniform(-1, 3), 1000, 3, "u");
    expect(Math.min(...uniform)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...uniform)).toBeLessThan(3);
  });
});

describe("ndarray helpers", () => {
  test("fromNested / toNested round-trip; ragged and mis-sized input throw with the shapes", () => {
    expect(g.toNested(arr([[1, 2], [3, 4]]))).toEqual([[1, 2], [3, 4]]);
    expect(() => g.fromNested([[1, 2], [3]], "f32")).toThrowError("ragged nested array: [1] vs [2]");
    expect(() => g.ndarray([2, 2], "f32", [1, 2, 3])).toThrowError("ndarray: shape [2,2] needs 4 values, got 3");
  });
});
