/**
 * @file Every op's shape and dtype rule: good cases with the exact inferred type and bad cases
 * with the exact message. The case table is keyed by op name with a mapped type, so adding an op
 * to the table without cases here is a compile error; a test checks that none is empty.
 */
import { describe, expect, test } from "vitest";
import * as g from "@graft/core";
import { CONV_INFER } from "./conv-cases.js";
import { input, makeTensor, opNames, zeros, type OpName, type Tensor } from "@graft/core";
import { messagesOf, typeText } from "./helpers.js";

type Good = readonly [description: string, build: () => Tensor, type: string];
type Bad = readonly [description: string, build: () => Tensor, message: string];
interface OpCases {
  readonly good: readonly Good[];
  readonly bad: readonly Bad[];
}

const f32 = (name: string, shape: g.Shape): Tensor => input(name, shape, "f32");
const f64 = (name: string, shape: g.Shape): Tensor => input(name, shape, "f64");
const i32 = (name: string, shape: g.Shape): Tensor => input(name, shape, "i32");
const bool = (name: string, shape: g.Shape): Tensor => input(name, shape, "bool");

type UnaryFn = (x: Tensor) => Tensor;
const floatUnary = (op: OpName, fn: UnaryFn): OpCases => ({
  good: [
    ["f32 keeps its shape", () => fn(f32("x", ["batch", 3])), "f32[batch,3]"],
    ["f64 scalar", () => fn(f64("x", [])), "f64[]"],
  ],
  bad: [
    ["integer input", () => fn(i32("x", [2])), `${op}: expected a float input (f32 or f64), got i32[2]`],
    ["bool input", () => fn(bool("x", [2, 2])), `${op}: expected a float input (f32 or f64), got bool[2,2]`],
  ],
});
const numericUnary = (op: OpName, fn: UnaryFn): OpCases => ({
  good: [
    ["f32", () => fn(f32("x", ["batch", 3])), "f32[batch,3]"],
    ["i32 stays i32", () => fn(i32("x", [4])), "i32[4]"],
  ],
  bad: [["bool input", () => fn(bool("x", [2])), `${op}: expected a numeric input, got bool[2]`]],
});

type BinaryFn = (a: g.TensorLike, b: g.TensorLike) => Tensor;
const arithmetic = (op: OpName, fn: BinaryFn): OpCases => ({
  good: [
    ["broadcasts", () => fn(f32("a", ["batch", 1, 4]), f32("b", [3, 1])), "f32[batch,3,4]"],
    ["a JS number takes the tensor's dtype", () => fn(i32("a", [2]), 3), "i32[2]"],
    ["a JS number on the left", () => fn(2, f64("b", [2, 2])), "f64[2,2]"],
  ],
  bad: [
    ["dtype mismatch", () => fn(f32("a", [2]), i32("b", [2])), `${op}: dtype mismatch: f32[2] and i32[2] (insert a cast)`],
    ["bool arithmetic", () => fn(bool("a", [2]), bool("b", [2])), `${op}: arithmetic on bool: bool[2], bool[2] (cast to f32 first)`],
    ["shapes do not broadcast", () => fn(f32("a", [2, 3]), f32("b", [2])), `${op}: cannot broadcast f32[2,3] with f32[2] (dim -1: 3 vs 2)`],
  ],
});
const comparison = (op: OpName, fn: BinaryFn): OpCases => ({
  good: [
    ["gives bool, broadcasting", () => fn(f32("a", ["batch", 3]), f32("b", [3])), "bool[batch,3]"],
    ["on integers", () => fn(i32("a", [2]), 1), "bool[2]"],
    ["on bools", () => fn(bool("a", [2]), bool("b", [1])), "bool[2]"],
  ],
  bad: [
    ["dtype mismatch", () => fn(f32("a", [2]), i32("b", [2])), `${op}: dtype mismatch: f32[2] and i32[2] (insert a cast)`],
    ["shapes do not broadcast", () => fn(f32("a", [4]), f32("b", [3])), `${op}: cannot broadcast f32[4] with f32[3] (dim -1: 4 vs 3)`],
  ],
});

type ReduceFn = (x: Tensor, dims?: number | readonly number[], keepdim?: boolean) => Tensor;
const reduction = (op: OpName, fn: ReduceFn, floatOnly: boolean): OpCases => ({
  good: [
    ["all dims by default", () => fn(f32("x", ["batch", 3, 4])), "f32[]"],
    ["one negative dim", () => fn(f32("x", ["batch", 3, 4]), -1), "f32[batch,3]"],
    ["several dims with keepdim", () => fn(f32("x", ["batch", 3, 4]), [0, 2], true), "f32[1,3,1]"],
    ["several dims without keepdim", () => fn(f64("x", [2, 3, 4]), [2, 0]), "f64[3]"],
    ...(floatOnly ? [] : ([["i32 stays i32", () => fn(i32("x", [5, 2]), 1), "i32[5]"]] as const)),
  ],
  bad: [
    ["dim out of range", () => fn(f32("x", [2, 3]), 2), `${op}: dim 2 out of range for shape [2,3] (expected -2 ≤ dim < 2)`],
    ["negative dim out of range", () => fn(f32("x", [2, 3]), -3), `${op}: dim -3 out of range for shape [2,3] (expected -2 ≤ dim < 2)`],
    ["the same dim twice", () => fn(f32("x", [2, 3]), [1, -1]), `${op}: repeated dim in [1,1]`],
    floatOnly
      ? ["integer input", () => fn(i32("x", [2])), `${op}: expected a float input (f32 or f64), got i32[2]`]
      : ["bool input", () => fn(bool("x", [2])), `${op}: expected a numeric input, got bool[2]`],
  ],
});

const softmaxLike = (op: OpName, fn: (x: Tensor, dim: number) => Tensor): OpCases => ({
  good: [
    ["along the last dim", () => fn(f32("x", ["batch", 10]), -1), "f32[batch,10]"],
    ["along dim 0 of a 3-d tensor", () => fn(f64("x", [2, 3, 4]), 0), "f64[2,3,4]"],
  ],
  bad: [
    ["dim out of range", () => fn(f32("x", ["batch", 10]), 2), `${op}: dim 2 out of range for shape [batch,10] (expected -2 ≤ dim < 2)`],
    ["integer input", () => fn(i32("x", [3]), 0), `${op}: expected a float input (f32 or f64), got i32[3]`],
  ],
});

const CASES: { readonly [K in OpName]: OpCases } = {
  mode_switch: {
    good: [["train and eval of one type", () => g.modeSwitch(f32("a", ["batch", 3]), f32("b", ["batch", 3])), "f32[batch,3]"]],
    bad: [["types differ", () => g.modeSwitch(f32("a", [3]), f32("b", [4])), "mode_switch: the training value f32[3] and the evaluation value f32[4] must have one type"]],
  },
  state_update: {
    good: [["the value's type", () => g.stateUpdate(f32("a", [2, 3]), g.param("s", [3]), f32("n", [3])), "f32[2,3]"]],
    bad: [["new value of another shape", () => g.stateUpdate(f32("a", [2]), g.param("s", [3]), f32("n", [2])), "state_update: the new value f32[2] does not match its state f32[3]"]],
  },
  random_uniform: {
    good: [["f32 of its shape", () => g.rand(["batch", 4]), "f32[batch,4]"]],
    bad: [
      ["a float counter", () => makeTensor("random_uniform", { shape: [2], seed: 0, stream: 0 }, [f32("c", [])]), "random_uniform: the counter must be an i32 scalar, got f32[]"],
      ["a fractional seed", () => g.rand([2], { seed: 0.5 }), "random_uniform: seed must be an integer, got 0.5"],
    ],
  },
  ...CONV_INFER,
  input: {
    good: [
      ["symbolic and static dims", () => input("x", ["batch", 784]), "f32[batch,784]"],
      ["integer labels", () => i32("y", ["batch"]), "i32[batch]"],
      ["a scalar", () => bool("flag", []), "bool[]"],
    ],
    bad: [
      ["a negative dim", () => input("x", [-1, 2]), 'input: invalid dim -1 in shape [-1,2] (dims are non-negative integers or names like "batch")'],
      ["a fractional dim", () => input("x", [2.5]), 'input: invalid dim 2.5 in shape [2.5] (dims are non-negative integers or names like "batch")'],
      ["a symbol that is not a name", () => input("x", ["a b"]), 'input: invalid dim "a b" in shape [a b] (dims are non-negative integers or names like "batch")'],
    ],
  },
  param: {
    good: [
      ["zeros by default", () => g.param("W", [4, 3]), "f32[4,3]"],
      ["f64 with an initialiser", () => g.param("b", [3], g.normal(0, 1), "f64"), "f64[3]"],
    ],
    bad: [
      [
        "a symbolic dim",
        () => makeTensor("param", { name: "W", shape: ["n", 3], dtype: "f32", init: zeros }, []),
        "param: param W needs a static shape, got [n,3]",
      ],
      ["a negative dim", () => g.param("W", [-2]), 'param: invalid dim -2 in shape [-2] (dims are non-negative integers or names like "batch")'],
    ],
  },
  constant: {
    good: [
      ["a nested array", () => g.constant([[1, 2, 3], [4, 5, 6]]), "f32[2,3]"],
      ["an integer scalar", () => g.scalar(7, "i32"), "i32[]"],
      ["booleans", () => g.constant([true, false], "bool"), "bool[2]"],
      ["full with a symbolic shape", () => g.full(["batch", 3], 0.5), "f32[batch,3]"],
      ["an NDArray", () => g.constant(g.ndarray([2, 2], "f64", [1, 2, 3, 4]), "f64"), "f64[2,2]"],
    ],
    bad: [
      ["too few values", () => makeTensor("constant", { value: [1, 2, 3], shape: [2, 2], dtype: "f32" }, []), "constant: constant of shape [2,2] needs 4 values, got 3"],
      ["a ragged nested array", () => g.constant([[1, 2], [3]]), "constant: ragged nested array: [1] vs [2]"],
      ["an i32 value past 2^31 − 1", () => g.full([2], 2 ** 31, "i32"), "constant: value 2147483648 does not fit an i32 constant (integers from -2147483648 to 2147483647)"],
      ["an i32 NaN", () => g.constant([1, Number.NaN], "i32"), "constant: value NaN does not fit an i32 constant (integers from -2147483648 to 2147483647)"],
      ["an i32 scalar of 2e219 (a plain number lifted to an i32 operand)", () => g.ge(g.input("y", [2], "i32"), 2e219), "constant: value 2e+219 does not fit an i32 constant (integers from -2147483648 to 2147483647)"],
    ],
  },
  neg: numericUnary("neg", g.neg),
  abs: numericUnary("abs", g.abs),
  sign: numericUnary("sign", g.sign),
  exp: floatUnary("exp", g.exp),
  log: floatUnary("log", g.log),
  sqrt: floatUnary("sqrt", g.sqrt),
  relu: floatUnary("relu", g.relu),
  sigmoid: floatUnary("sigmoid", g.sigmoid),
  log_sigmoid: floatUnary("log_sigmoid", g.logSigmoid),
  tanh: floatUnary("tanh", g.tanh),
  erf: floatUnary("erf", g.erf),
  gelu: {
    ...floatUnary("gelu", g.gelu),
    bad: [
      ...floatUnary("gelu", g.gelu).bad,
      ["unknown approximation", () => g.gelu(f32("x", [2]), { approximate: "erf" as "none" }), 'gelu: approximate must be "none" or "tanh", got "erf"'],
    ],
  },
  silu: floatUnary("silu", g.silu),
  softplus: {
    ...floatUnary("softplus", g.softplus),
    bad: [...floatUnary("softplus", g.softplus).bad, ["beta 0", () => g.softplus(f32("x", [2]), { beta: 0 }), "softplus: beta must be a finite non-zero number, got 0"]],
  },
  leaky_relu: {
    ...floatUnary("leaky_relu", g.leakyRelu),
    bad: [...floatUnary("leaky_relu", g.leakyRelu).bad, ["NaN slope", () => g.leakyRelu(f32("x", [2]), Number.NaN), "leaky_relu: negativeSlope must be a finite number, got NaN"]],
  },
  elu: {
    ...floatUnary("elu", g.elu),
    bad: [...floatUnary("elu", g.elu).bad, ["infinite alpha", () => g.elu(f32("x", [2]), Infinity), "elu: alpha must be a finite number, got Infinity"]],
  },
  hardtanh: {
    ...floatUnary("hardtanh", g.hardtanh),
    bad: [...floatUnary("hardtanh", g.hardtanh).bad, ["min above max", () => g.hardtanh(f32("x", [2]), 2, 1), "hardtanh: minVal 2 is greater than maxVal 1"]],
  },
  clamp: {
    good: [
      ["f32 keeps its shape", () => g.clamp(f32("x", ["batch", 3]), { min: 0 }), "f32[batch,3]"],
      ["i32 with integer bounds stays i32", () => g.clamp(i32("x", [4]), { min: -1, max: 1 }), "i32[4]"],
    ],
    bad: [
      ["bool input", () => g.clamp(bool("x", [2]), { max: 1 }), "clamp: expected a numeric input, got bool[2]"],
      ["no bound", () => g.clamp(f32("x", [2]), {}), "clamp: give min, max or both"],
      ["fractional bound on i32", () => g.clamp(i32("x", [2]), { min: 0.5 }), "clamp: the bounds of an i32 input must be integers, got min 0.5"],
    ],
  },
  cast: {
    good: [
      ["f32 to i32", () => g.cast(f32("x", ["batch", 2]), "i32"), "i32[batch,2]"],
      ["bool to f32", () => g.cast(bool("m", [3]), "f32"), "f32[3]"],
    ],
    bad: [["no input", () => makeTensor("cast", { dtype: "f32" }, []), "cast: expected 1 inputs, got 0"]],
  },
  add: arithmetic("add", g.add),
  sub: arithmetic("sub", g.sub),
  mul: arithmetic("mul", g.mul),
  div: arithmetic("div", g.div),
  pow: arithmetic("pow", g.pow),
  maximum: arithmetic("maximum", g.maximum),
  minimum: arithmetic("minimum", g.minimum),
  eq: comparison("eq", g.eq),
  ne: comparison("ne", g.ne),
  lt: comparison("lt", g.lt),
  le: comparison("le", g.le),
  gt: comparison("gt", g.gt),
  ge: comparison("ge", g.ge),
  where: {
    good: [
      ["broadcasts all three", () => g.where(bool("c", ["batch", 1]), f32("a", [3]), f32("b", ["batch", 3])), "f32[batch,3]"],
      ["JS numbers take the other branch's dtype", () => g.where(bool("c", [2]), i32("a", [2]), 0), "i32[2]"],
    ],
    bad: [
      ["a float condition", () => g.where(f32("c", [2]), f32("a", [2]), f32("b", [2])), "where: condition must be bool, got f32[2] (compare first, e.g. gt(x, 0))"],
      ["branches of different dtypes", () => g.where(bool("c", [2]), f32("a", [2]), i32("b", [2])), "where: dtype mismatch: f32[2] and i32[2] (insert a cast)"],
      ["shapes do not broadcast", () => g.where(bool("c", [3]), f32("a", [2]), f32("b", [2])), "where: cannot broadcast bool[3] with f32[2] with f32[2] (dim -1: 3 vs 2)"],
    ],
  },
  sum: reduction("sum", g.sum, false),
  max: reduction("max", g.max, false),
  min: reduction("min", g.min, false),
  mean: reduction("mean", g.mean, true),
  logsumexp: reduction("logsumexp", g.logsumexp, true),
  argmax: {
    good: [
      ["drops the dim, gives i32", () => g.argmax(f32("x", ["batch", 10]), 1), "i32[batch]"],
      ["keepdim, negative dim", () => g.argmax(f64("x", [2, 3, 4]), -2, true), "i32[2,1,4]"],
      ["of integers", () => g.argmax(i32("x", [5]), 0), "i32[]"],
    ],
    bad: [
      ["dim out of range", () => g.argmax(f32("x", [2, 3]), 2), "argmax: dim 2 out of range for shape [2,3] (expected -2 ≤ dim < 2)"],
      ["bool input", () => g.argmax(bool("x", [3]), 0), "argmax: expected a numeric input, got bool[3]"],
    ],
  },
  dim_size: {
    good: [
      ["all dims", () => g.dimSize(f32("x", ["batch", 3])), "f32[]"],
      ["some dims, f64", () => g.dimSize(f32("x", ["batch", 3]), [0], "f64"), "f64[]"],
      ["an integer dtype falls back to f32", () => g.dimSize(i32("x", [4]), 0), "f32[]"],
    ],
    bad: [["dim out of range", () => g.dimSize(f32("x", [2, 3]), [3]), "dim_size: dim 3 out of range for shape [2,3] (expected -2 ≤ dim < 2)"]],
  },
  reshape: {
    good: [
      ["static", () => g.reshape(f32("x", [2, 3, 4]), [6, 4]), "f32[6,4]"],
      ["-1 inferred", () => g.reshape(f32("x", [2, 3, 4]), [-1, 2]), "f32[12,2]"],
      ["keeps a symbolic dim", () => g.reshape(f32("x", ["batch", 28, 28]), ["batch", 784]), "f32[batch,784]"],
      ["-1 becomes the symbolic dim", () => g.reshape(f32("x", ["batch", 2, 3]), [-1, 6]), "f32[batch,6]"],
      ["-1 static next to a symbol", () => g.reshape(f32("x", ["batch", 2, 3]), ["batch", -1]), "f32[batch,6]"],
      ["view is reshape", () => g.view(i32("x", [4]), [2, 2]), "i32[2,2]"],
    ],
    bad: [
      ["element counts differ", () => g.reshape(f32("x", [2, 3]), [4, 2]), "reshape: cannot reshape [2,3] (6 elements) to [4,2] (8)"],
      ["two -1", () => g.reshape(f32("x", [2, 3]), [-1, -1]), "reshape: only one dim can be -1, got [-1,-1]"],
      ["a different symbol", () => g.reshape(f32("x", ["batch", 4]), ["n", 4]), "reshape: cannot reshape [batch,4] (batch·4 elements) to [n,4] (n·4)"],
      ["-1 over a product of symbols", () => g.reshape(f32("x", ["batch", 3]), [-1]), "reshape: cannot infer -1 in [-1] from [batch,3]: it would be a product of symbolic dims"],
      ["-1 not divisible", () => g.reshape(f32("x", [2, 3]), [-1, 4]), "reshape: cannot reshape [2,3] (6 elements) to [-1,4] (4)"],
      ["a negative dim", () => g.reshape(f32("x", [2, 3]), [-2, -3]), "reshape: invalid dim -2 in [-2,-3]"],
    ],
  },
  transpose: {
    good: [
      ["the last two dims", () => g.transpose(f32("x", ["batch", 3, 4])), "f32[batch,4,3]"],
      ["explicit dims", () => g.transpose(f32("x", ["batch", 3, 4]), 0, 2), "f32[4,3,batch]"],
      ["permute", () => g.permute(f32("x", [2, 3, 4]), [2, 0, 1]), "f32[4,2,3]"],
      ["permute with negative axes", () => g.permute(f32("x", [2, 3, 4]), [-1, -2, -3]), "f32[4,3,2]"],
    ],
    bad: [
      ["a repeated axis", () => g.permute(f32("x", [2, 3]), [0, 0]), "transpose: perm [0,0] is not a permutation of the 2 dims of [2,3]"],
      ["too few axes", () => g.permute(f32("x", [2, 3, 4]), [1, 0]), "transpose: perm [1,0] is not a permutation of the 3 dims of [2,3,4]"],
      ["dims out of range", () => g.transpose(f32("x", [2, 3]), 0, 5), "transpose: perm [5,1] is not a permutation of the 2 dims of [2,3]"],
    ],
  },
  expand: {
    good: [
      ["to a symbolic batch", () => g.expand(f32("x", [1, 3]), ["batch", 3]), "f32[batch,3]"],
      ["adds leading dims", () => g.expand(f32("x", [3]), [2, 4, 3]), "f32[2,4,3]"],
    ],
    bad: [
      ["a non-1 dim", () => g.expand(f32("x", [2, 3]), [4, 3]), "expand: cannot broadcast [2,3] with [4,3] (dim -2: 2 vs 4)"],
      ["to fewer dims", () => g.expand(f32("x", [2, 3]), [3]), "expand: cannot expand [2,3] to [3]"],
      ["a fractional dim", () => g.expand(f32("x", [1]), [2.5]), 'expand: invalid dim 2.5 in shape [2.5] (dims are non-negative integers or names like "batch")'],
    ],
  },
  matmul: {
    good: [
      ["2-d", () => g.matmul(f32("a", ["batch", 784]), f32("b", [784, 512])), "f32[batch,512]"],
      ["batched with broadcast batch dims", () => g.matmul(f32("a", [2, 1, 3, 4]), f32("b", [5, 4, 6])), "f32[2,5,3,6]"],
      ["a matrix against a stack", () => g.matmul(f64("a", [3, 4]), f64("b", ["batch", 4, 2])), "f64[batch,3,2]"],
      ["vector @ matrix drops the dim", () => g.matmul(f32("a", [4]), f32("b", [4, 2])), "f32[2]"],
      ["matrix @ vector drops the dim", () => g.matmul(f32("a", ["batch", 4]), f32("b", [4])), "f32[batch]"],
      ["vector @ vector is a scalar", () => g.matmul(f32("a", [4]), f32("b", [4])), "f32[]"],
      ["vector @ a batch of matrices", () => g.matmul(f32("a", [4]), f32("b", [7, 4, 2])), "f32[7,2]"],
    ],
    bad: [
      ["inner dims differ", () => g.matmul(f32("a", ["batch", 784]), f32("b", [512, 256])), "matmul: inner dims differ: f32[batch,784] @ f32[512,256] (784 ≠ 512)"],
      ["symbolic inner dims differ", () => g.matmul(f32("a", [2, "n"]), f32("b", ["m", 2])), "matmul: inner dims differ: f32[2,n] @ f32[m,2] (n ≠ m)"],
      ["batch dims do not broadcast", () => g.matmul(f32("a", [2, 3, 4]), f32("b", [5, 4, 6])), "matmul: batch dims do not broadcast: f32[2,3,4] @ f32[5,4,6]"],
      ["dtype mismatch", () => g.matmul(f32("a", [2, 2]), f64("b", [2, 2])), "matmul: dtype mismatch: f32[2,2] and f64[2,2] (insert a cast)"],
      ["integer operands", () => g.matmul(i32("a", [2, 2]), i32("b", [2, 2])), "matmul: expected a float input (f32 or f64), got i32[2,2]"],
      ["rank-1 operands in the IR", () => makeTensor("matmul", {}, [f32("a", [3]), f32("b", [3, 2])]), "matmul: operands must have rank ≥ 2, got f32[3] @ f32[3,2]"],
      ["one operand", () => makeTensor("matmul", {}, [f32("a", [3, 3])]), "matmul: expected 2 inputs, got 1"],
    ],
  },
  one_hot: {
    good: [
      ["adds a class dim", () => g.oneHot(i32("y", ["batch"]), 10), "f32[batch,10]"],
      ["with a dtype", () => g.oneHot(i32("y", [2, 3]), 4, "i32"), "i32[2,3,4]"],
    ],
    bad: [
      ["float labels", () => g.oneHot(f32("y", ["batch"]), 10), "one_hot: labels must be integer (i32), got f32[batch]"],
      ["no classes", () => g.oneHot(i32("y", [3]), 0), "one_hot: numClasses must be a positive integer, got 0"],
    ],
  },
  gather: {
    good: [
      ["takes the index's shape", () => g.gather(f32("x", ["batch", 10]), 1, i32("i", ["batch", 1])), "f32[batch,1]"],
      ["along dim 0", () => g.gather(f64("x", [3, 4]), 0, i32("i", [5, 4])), "f64[5,4]"],
    ],
    bad: [
      ["a float index", () => g.gather(f32("x", [3, 4]), 1, f32("i", [3, 1])), "gather: index must be integer (i32), got f32[3,1]"],
      ["a different rank", () => g.gather(f32("x", [3, 4]), 1, i32("i", [3])), "gather: index must have the same rank as the input: [3] vs [3,4]"],
      ["another dim exceeds the input's", () => g.gather(f32("x", [3, 4]), 1, i32("i", [4, 1])), "gather: index shape [4,1] exceeds input [3,4] at dim 0 (index.size(d) ≤ input.size(d) for every d ≠ 1)"],
      ["dim out of range", () => g.gather(f32("x", [3, 4]), 2, i32("i", [3, 4])), "gather: dim 2 out of range for shape [3,4] (expected -2 ≤ dim < 2)"],
    ],
  },
  scatter_add: {
    good: [
      ["into a symbolic shape", () => g.scatterAdd(["batch", 10], 1, i32("i", ["batch", 1]), f32("s", ["batch", 1])), "f32[batch,10]"],
      ["along dim 0", () => g.scatterAdd([3, 2], 0, i32("i", [5, 2]), f64("s", [5, 2])), "f64[3,2]"],
    ],
    bad: [
      ["src and index shapes differ", () => g.scatterAdd([3, 4], 1, i32("i", [3, 2]), f32("s", [3, 1])), "scatter_add: src f32[3,1] must have the index's shape [3,2]"],
      ["a float index", () => g.scatterAdd([3, 4], 1, f32("i", [3, 1]), f32("s", [3, 1])), "scatter_add: index must be integer (i32), got f32[3,1]"],
      ["an invalid output shape", () => g.scatterAdd([3, -4], 1, i32("i", [3, 1]), f32("s", [3, 1])), 'scatter_add: invalid dim -4 in shape [3,-4] (dims are non-negative integers or names like "batch")'],
      ["index exceeds the output elsewhere", () => g.scatterAdd([3, 4], 1, i32("i", [4, 1]), f32("s", [4, 1])), "scatter_add: index shape [4,1] exceeds input [3,4] at dim 0 (index.size(d) ≤ input.size(d) for every d ≠ 1)"],
    ],
  },
  slice: {
    good: [
      ["Python slicing with a step", () => g.slice(f32("x", ["batch", 10]), 1, 1, -1, 3), "f32[batch,3]"],
      ["indices clamp; stop before start is empty", () => g.slice(f64("x", [4, 5]), [{ dim: 0, start: -10 }, { dim: -1, start: 4, stop: 2 }]), "f64[4,0]"],
      ["split into pieces", () => g.split(i32("x", [7, 2]), 3)[2] as Tensor, "i32[1,2]"],
    ],
    bad: [
      ["a symbolic dim", () => g.slice(f32("x", ["batch", 10]), 0, 1), "slice: dim 0 of f32[batch,10] has symbolic size 'batch'; slicing needs a static size"],
      ["step 0", () => g.slice(f32("x", [4]), 0, 0, 4, 0), "slice: step must be a positive integer, got 0"],
      ["dim out of range", () => g.slice(f32("x", [4]), 1, 0), "slice: dim 1 out of range for shape [4] (expected -1 ≤ dim < 1)"],
      ["a fractional start", () => g.slice(f32("x", [4]), 0, 0.5), "slice: start must be an integer, got number 0.5"],
      ["sections that do not sum to the dim", () => g.split(f32("x", [5, 2]), [2, 2])[0] as Tensor, "split: sections [2,2] sum to 4, but dim 0 of f32[5,2] has size 5"],
      ["chunks 0", () => g.chunk(f32("x", [5, 2]), 0)[0] as Tensor, "chunk: chunks must be a positive integer, got number 0"],
      ["chunks of a symbolic dim", () => g.chunk(f32("x", ["batch", 2]), 2)[0] as Tensor, "chunk: dim 0 of f32[batch,2] has symbolic size 'batch'; chunk needs a static size"],
      ["an attribute out of the dim (direct node)", () => makeTensor("slice", { dims: [0], starts: [2], stops: [5], steps: [1] }, [f32("x", [4])]), "slice: slice 2:5 of dim 0 is not within 0 ≤ start ≤ stop ≤ 4 (f32[4])"],
    ],
  },
  pad: {
    good: [
      ["constant, last dim first", () => g.pad(f32("x", ["batch", 3, 4]), [1, 2, 0, 3]), "f32[batch,6,7]"],
      ["negative amounts crop", () => g.pad(f32("x", [3, 4]), [-1, 2]), "f32[3,5]"],
      ["reflect", () => g.pad(f64("x", [2, 3]), [2, 2], { mode: "reflect" }), "f64[2,7]"],
      ["replicate on i32", () => g.pad(i32("x", [2, 3]), [0, 4, 1, 0], { mode: "replicate" }), "i32[3,7]"],
    ],
    bad: [
      ["reflect padding as large as the dim", () => g.pad(f32("x", [2, 3]), [3, 0], { mode: "reflect" }), "pad: reflect padding (3, 0) of dim 1 must be less than its size 3 (input f32[2,3])"],
      ["an odd number of pads", () => g.pad(f32("x", [2, 3]), [1, 2, 3]), "pad: pads must have an even length (a pair per dim, last dim first), got [1,2,3]"],
      ["more pairs than dims", () => g.pad(f32("x", [3]), [1, 1, 1, 1]), "pad: 2 pairs of pads [1,1,1,1] for f32[3] of rank 1"],
      ["a symbolic dim", () => g.pad(f32("x", ["batch", 3]), [0, 0, 1, 0]), "pad: dim 0 of f32[batch,3] is symbolic; padding it needs a static size"],
      ["negative reflect padding", () => g.pad(f32("x", [4]), [-1, 0], { mode: "reflect" }), "pad: reflect padding must be non-negative, got [-1,0]"],
      ["a fractional value for i32", () => g.pad(i32("x", [4]), [1, 0], { value: 0.5 }), "pad: pad value 0.5 is not an integer, as i32[4] needs"],
      ["an unknown mode", () => g.pad(f32("x", [4]), [1, 0], { mode: "circular" as "reflect" }), 'pad: mode must be "constant", "reflect" or "replicate", got string "circular"'],
      ["replicate an empty dim", () => g.pad(f32("x", [0]), [1, 0], { mode: "replicate" }), "pad: replicate padding of dim 0 needs a non-empty dim (input f32[0])"],
    ],
  },
  flip: {
    good: [
      ["several dims", () => g.flip(f32("x", ["batch", 3, 4]), [1, -1]), "f32[batch,3,4]"],
      ["one dim of an i32 tensor", () => g.flip(i32("x", [5]), 0), "i32[5]"],
    ],
    bad: [
      ["dim out of range", () => g.flip(f32("x", [2, 3]), 2), "flip: dim 2 out of range for shape [2,3] (expected -2 ≤ dim < 2)"],
      ["the same dim twice", () => g.flip(f32("x", [2, 3]), [1, -1]), "flip: repeated dim in [1,1]"],
      ["a symbolic dim", () => g.flip(f32("x", ["batch", 3]), 0), "flip: dim 0 of f32[batch,3] is symbolic; flipping it needs a static size"],
    ],
  },
  arange: {
    good: [
      ["arange(end) is i32", () => g.arange(5), "i32[5]"],
      ["a float step", () => g.arange(0, 1, 0.3), "f32[4]"],
      ["a negative step", () => g.arange(5, 0, -2), "i32[3]"],
      ["an empty range as f64", () => g.arange(2, 2, 1, "f64"), "f64[0]"],
    ],
    bad: [
      ["step 0", () => g.arange(0, 5, 0), "arange: step must be non-zero"],
      ["a range against the step", () => g.arange(0, 5, -1), "arange: the range from 0 to 5 is inconsistent with step -1"],
      ["a fractional start as i32", () => g.arange(0.5, 5, 1, "i32"), "arange: an i32 range needs integer start and step, got start 0.5, step 1"],
      ["an infinite end", () => g.arange(0, Infinity), "arange: end must be a finite number, got number Infinity"],
    ],
  },
  concat: {
    good: [
      ["along a static dim", () => g.concat([f32("a", ["batch", 3]), f32("b", ["batch", 5])], -1), "f32[batch,8]"],
      ["stack is unsqueeze + concat", () => g.stack([f32("a", [2, 3]), f32("b", [2, 3]), f32("c", [2, 3])], 1), "f32[2,3,3]"],
      ["one input", () => g.concat([i32("a", [2])]), "i32[2]"],
    ],
    bad: [
      ["other dims differ", () => g.concat([f32("a", [2, 3]), f32("b", [3, 4])], 1), "concat: sizes must match except in dim 1: input 0 is f32[2,3], input 1 is f32[3,4]"],
      ["ranks differ", () => g.concat([f32("a", [2, 3]), f32("b", [3])]), "concat: input 1 f32[3] has rank 1, input 0 f32[2,3] has rank 2"],
      ["dtypes differ", () => g.concat([f32("a", [2]), i32("b", [2])]), "concat: dtype mismatch: f32[2] and i32[2] (insert a cast)"],
      ["along a symbolic dim", () => g.concat([f32("a", ["batch", 3]), f32("b", ["batch", 3])], 0), "concat: dim 0 of input 0 f32[batch,3] is symbolic; concatenating needs static sizes"],
      ["an empty list", () => g.concat([]), "concat: expects a non-empty array of tensors, got an empty array"],
      ["stack of different shapes", () => g.stack([f32("a", [2, 3]), f32("b", [2, 4])]), "stack: every input must have the same shape: input 0 is f32[2,3], input 1 is f32[2,4]"],
      ["dim out of range", () => g.concat([f32("a", [2, 3])], 2), "concat: dim 2 out of range for shape [2,3] (expected -2 ≤ dim < 2)"],
    ],
  },
  tril: {
    good: [
      ["a batch of matrices", () => g.tril(f32("x", ["batch", 3, 4])), "f32[batch,3,4]"],
      ["a bool mask", () => g.tril(bool("x", [4, 4]), -1), "bool[4,4]"],
    ],
    bad: [
      ["a vector", () => g.tril(f32("x", [4])), "tril: expected a tensor of rank ≥ 2 (a matrix or a batch of matrices), got f32[4]"],
      ["symbolic matrix dims", () => g.tril(f32("x", [3, "n"])), "tril: the last two dims of f32[3,n] must be static"],
      ["a fractional diagonal", () => g.tril(f32("x", [3, 3]), 0.5), "tril: diagonal must be an integer, got number 0.5"],
    ],
  },
  triu: {
    good: [["above the diagonal", () => g.triu(f64("x", [2, 5]), 1), "f64[2,5]"]],
    bad: [["a scalar", () => g.triu(f32("x", [])), "triu: expected a tensor of rank ≥ 2 (a matrix or a batch of matrices), got f32[]"]],
  },
  embedding: {
    good: [
      ["rows for a batch of sequences", () => g.embedding(i32("i", ["batch", 7]), f32("w", [10, 4])), "f32[batch,7,4]"],
      ["the layer helper with a negative padding index", () => g.embeddingLayer(i32("i", [3]), 10, 4, "emb", { paddingIdx: -1 }), "f32[3,4]"],
    ],
    bad: [
      ["float indices", () => g.embedding(f32("i", [3]), f32("w", [10, 4])), "embedding: indices must be integer (i32), got f32[3]"],
      ["a 1-D weight", () => g.embedding(i32("i", [3]), f32("w", [10])), "embedding: weight must be 2-D [numEmbeddings, dim], got f32[10]"],
      ["a padding index out of range", () => g.embedding(i32("i", [3]), f32("w", [4, 3]), { paddingIdx: 4 }), "embedding: paddingIdx 4 is out of range for 4 embeddings (weight f32[4,3])"],
      ["an integer weight", () => g.embedding(i32("i", [3]), i32("w", [4, 3])), "embedding: weight must be float, got i32[4,3]"],
    ],
  },
  embedding_backward: {
    good: [["rows summed into the table", () => g.embeddingBackward(i32("i", ["batch", 7]), f32("g", ["batch", 7, 4]), 10), "f32[10,4]"]],
    bad: [
      ["a grad of another shape", () => g.embeddingBackward(i32("i", [3]), f32("g", [4, 2]), 10), "embedding_backward: grad f32[4,2] must have the shape of indices [3] plus the embedding dim"],
      ["float indices", () => g.embeddingBackward(f32("i", [3]), f32("g", [3, 2]), 10), "embedding_backward: indices must be integer (i32), got f32[3]"],
    ],
  },
  softmax: softmaxLike("softmax", g.softmax),
  log_softmax: softmaxLike("log_softmax", g.logSoftmax),
  nll_loss: {
    good: [
      ["mean over the batch", () => g.nllLoss(f32("lp", ["batch", 10]), i32("y", ["batch"])), "f32[]"],
      ["reduction none keeps rows", () => g.nllLoss(f32("lp", ["batch", 10]), i32("y", ["batch"]), { reduction: "none" }), "f32[batch]"],
      ["class weights", () => g.nllLoss(f32("lp", [4, 3]), i32("y", [4]), { weight: f32("w", [3]) }), "f32[]"],
      ["class dim 1 of a 3-d input", () => g.nllLoss(f64("lp", [2, 5, 7]), i32("y", [2, 7]), { reduction: "sum" }), "f64[]"],
    ],
    bad: [
      ["float targets", () => g.nllLoss(f32("lp", ["batch", 10]), f32("y", ["batch"])), "nll_loss: target must be integer class labels i32[batch], got f32[batch]"],
      [
        "targets with the class dim",
        () => g.nllLoss(f32("lp", ["batch", 10]), i32("y", ["batch", 10])),
        "nll_loss: target shape [batch,10] does not match input f32[batch,10] without its class dim 1: expected [batch]",
      ],
      ["a weight per row", () => g.nllLoss(f32("lp", [4, 3]), i32("y", [4]), { weight: f32("w", [4]) }), "nll_loss: class weight must be f32[3] (one per class), got f32[4]"],
      ["integer log-probabilities", () => g.nllLoss(i32("lp", [4, 3]), i32("y", [4])), "nll_loss: expected a float input (logits or log-probabilities) (f32 or f64), got i32[4,3]"],
      ["a scalar input", () => g.nllLoss(f32("lp", []), i32("y", [])), "nll_loss: input must have a class dim, got f32[]"],
    ],
  },
  nll_loss_backward: {
    good: [["the input's type", () => g.nllLossBackward(f32("lp", [4, 3]), i32("y", [4]), f32("g", []), { dim: 1, reduction: "mean", ignoreIndex: -100, weighted: false }), "f32[4,3]"]],
    bad: [
      [
        "grad of the wrong shape",
        () => g.nllLossBackward(f32("lp", [4, 3]), i32("y", [4]), f32("g", [4]), { dim: 1, reduction: "mean", ignoreIndex: -100, weighted: false }),
        "nll_loss_backward: grad must have shape [], got f32[4]",
      ],
    ],
  },
  cross_entropy: {
    good: [
      ["integer targets", () => g.crossEntropy(f32("z", ["batch", 3]), i32("y", ["batch"])), "f32[]"],
      ["probability targets", () => g.crossEntropy(f32("z", ["batch", 3]), f32("p", ["batch", 3])), "f32[]"],
      ["reduction none, class dim 0 of a 1-d input", () => g.crossEntropy(f64("z", [5]), i32("y", []), { reduction: "none" }), "f64[]"],
      ["options", () => g.crossEntropy(f32("z", [4, 3]), i32("y", [4]), { weight: f32("w", [3]), labelSmoothing: 0.1, ignoreIndex: 0, reduction: "sum" }), "f32[]"],
      ["class dim last of a 3-d input", () => g.crossEntropy(f32("z", [2, 7, 5]), i32("y", [2, 7]), { dim: -1, reduction: "none" }), "f32[2,7]"],
    ],
    bad: [
      ["float targets of the row shape", () => g.crossEntropy(f32("z", ["batch", 3]), f32("y", ["batch"])), "cross_entropy: target must be integer class labels i32[batch] or class probabilities f32[batch,3], got f32[batch]"],
      ["label smoothing above 1", () => g.crossEntropy(f32("z", [4, 3]), i32("y", [4]), { labelSmoothing: 1.5 }), "cross_entropy: labelSmoothing must be in [0, 1], got 1.5"],
      ["class dim out of range", () => g.crossEntropy(f32("z", [4, 3]), i32("y", [4]), { dim: 2 }), "cross_entropy: dim 2 out of range for shape [4,3] (expected -2 ≤ dim < 2)"],
      ["a weight of another dtype", () => g.crossEntropy(f32("z", [4, 3]), i32("y", [4]), { weight: f64("w", [3]) }), "cross_entropy: class weight must be f32[3] (one per class), got f64[3]"],
    ],
  },
  cross_entropy_backward: {
    good: [
      [
        "the logits' type",
        () =>
          g.crossEntropyBackward(f32("z", ["batch", 3]), i32("y", ["batch"]), f32("g", ["batch"]), {
            dim: 1,
            reduction: "none",
            ignoreIndex: -100,
            labelSmoothing: 0,
            target: "index",
            weighted: false,
          }),
        "f32[batch,3]",
      ],
    ],
    bad: [
      [
        "a scalar grad for reduction none",
        () =>
          g.crossEntropyBackward(f32("z", ["batch", 3]), i32("y", ["batch"]), f32("g", []), {
            dim: 1,
            reduction: "none",
            ignoreIndex: -100,
            labelSmoothing: 0,
            target: "index",
            weighted: false,
          }),
        "cross_entropy_backward: grad must have shape [batch], got f32[]",
      ],
    ],
  },
  layer_norm: {
    good: [
      ["over the last dim, weight and bias", () => g.layerNormRaw(f32("x", ["batch", 8]), { dims: 1, eps: 1e-5, weight: true, bias: true }, f32("w", [8]), f32("b", [8])), "f32[batch,8]"],
      ["over two dims, bias only", () => g.layerNormRaw(f64("x", [2, 3, 4]), { dims: 2, eps: 0, weight: false, bias: true }, undefined, f64("b", [3, 4])), "f64[2,3,4]"],
      ["layerNorm builds it", () => g.layerNorm(f32("x", [2, 5]), [5]), "f32[2,5]"],
    ],
    bad: [
      ["integer input", () => g.layerNormRaw(i32("x", [2, 3]), { dims: 1, eps: 1e-5, weight: false, bias: false }), "layer_norm: expected a float input (f32 or f64), got i32[2,3]"],
      ["more dims than the input", () => g.layerNormRaw(f32("x", [2, 3]), { dims: 3, eps: 1e-5, weight: false, bias: false }), "layer_norm: dims (the number of normalized trailing dims) must be an integer in [1, 2] for input f32[2,3], got 3"],
      ["negative eps", () => g.layerNormRaw(f32("x", [2, 3]), { dims: 1, eps: -1, weight: false, bias: false }), "layer_norm: eps must be a finite number ≥ 0, got -1"],
      ["a weight of another shape", () => g.layerNormRaw(f32("x", [2, 3]), { dims: 1, eps: 1e-5, weight: true, bias: false }, f32("w", [2])), "layer_norm: weight must be f32[3] (the normalized shape of input f32[2,3]), got f32[2]"],
      ["a missing bias", () => g.layerNormRaw(f32("x", [2, 3]), { dims: 1, eps: 1e-5, weight: false, bias: true }), "layer_norm: expected 1 affine input(s) (weight false, bias true), got 0"],
      ["an untyped call without attributes", () => g.layerNormRaw(f32("x", [2, 3]), undefined as never), "layerNormRaw: invalid arguments (Cannot read properties of undefined (reading 'weight'))"],
    ],
  },
  layer_norm_backward: {
    good: [
      ["with a weight", () => g.layerNormBackwardRaw(f32("x", ["batch", 8]), f32("g", ["batch", 8]), { dims: 1, eps: 1e-5, weight: true }, f32("w", [8])), "f32[batch,8]"],
      ["without", () => g.layerNormBackwardRaw(f64("x", [2, 3]), f64("g", [2, 3]), { dims: 2, eps: 1e-5, weight: false }), "f64[2,3]"],
    ],
    bad: [
      ["a grad of another shape", () => g.layerNormBackwardRaw(f32("x", [2, 3]), f32("g", [3]), { dims: 1, eps: 1e-5, weight: false }), "layer_norm_backward: grad must be f32[2,3] like the input, got f32[3]"],
      ["a weight of another dtype", () => g.layerNormBackwardRaw(f32("x", [2, 3]), f32("g", [2, 3]), { dims: 1, eps: 1e-5, weight: true }, f64("w", [3])), "layer_norm_backward: weight must be f32[3] (the normalized shape of input f32[2,3]), got f64[3]"],
    ],
  },
  attention_softmax: {
    good: [
      ["causal with a broadcast additive mask", () => g.attentionSoftmaxRaw(f32("s", ["batch", 4, 5, 5]), { scale: 0.5, mask: "add", causal: true }, f32("m", [5, 5])), "f32[batch,4,5,5]"],
      ["a bool mask", () => g.attentionSoftmaxRaw(f64("s", [3, 2]), { scale: 1, mask: "bool", causal: false }, bool("m", [3, 1])), "f64[3,2]"],
    ],
    bad: [
      ["a mask that does not broadcast", () => g.attentionSoftmaxRaw(f32("s", [2, 4, 5]), { scale: 1, mask: "add", causal: false }, f32("m", [4, 4])), "attention_softmax: mask f32[4,4] does not broadcast to the scores f32[2,4,5]"],
      ["an integer mask", () => g.attentionSoftmaxRaw(f32("s", [4, 5]), { scale: 1, mask: "add", causal: false }, i32("m", [4, 5])), "attention_softmax: an additive mask must be f32, got i32[4,5]"],
      ["a float mask called bool", () => g.attentionSoftmaxRaw(f32("s", [4, 5]), { scale: 1, mask: "bool", causal: false }, f32("m", [4, 5])), "attention_softmax: a bool mask must be bool, got f32[4,5]"],
      ["causal over symbolic lengths", () => g.attentionSoftmaxRaw(f32("s", ["q", "k"]), { scale: 1, mask: "none", causal: true }), "attention_softmax: causal needs scores [..., L, S] with static L and S, got f32[q,k]"],
      ["an infinite scale", () => g.attentionSoftmaxRaw(f32("s", [4, 5]), { scale: Infinity, mask: "none", causal: false }), "attention_softmax: scale must be a finite number, got Infinity"],
    ],
  },
  batch_norm_stats: {
    good: [["[2, C] of an image batch", () => g.batchNormStatsRaw(f32("x", ["batch", 16, 24, 24])), "f32[2,16]"]],
    bad: [
      ["a vector", () => g.batchNormStatsRaw(f32("x", [4])), "batch_norm_stats: expected an input [N, C, …] with a channel dim, got f32[4]"],
      ["integers", () => g.batchNormStatsRaw(i32("x", [4, 2])), "batch_norm_stats: expected a float input (f32 or f64), got i32[4,2]"],
    ],
  },
  batch_norm: {
    good: [
      ["weight and bias", () => g.batchNormRaw(f32("x", ["batch", 3, 5]), f32("s", [2, 3]), { eps: 1e-5, weight: true, bias: true }, f32("w", [3]), f32("b", [3])), "f32[batch,3,5]"],
      ["no affine", () => g.batchNormRaw(f64("x", [2, 3]), f64("s", [2, 3]), { eps: 0, weight: false, bias: false }), "f64[2,3]"],
    ],
    bad: [
      ["statistics of another channel count", () => g.batchNormRaw(f32("x", [2, 3]), f32("s", [2, 4]), { eps: 1e-5, weight: false, bias: false }), "batch_norm: stats must be f32[2,3] (mean and variance per channel of input f32[2,3]), got f32[2,4]"],
      ["a weight per element", () => g.batchNormRaw(f32("x", [2, 3, 4]), f32("s", [2, 3]), { eps: 1e-5, weight: true, bias: false }, f32("w", [3, 4])), "batch_norm: weight and bias must be f32[3] (one per channel of input f32[2,3,4]), got f32[3,4]"],
      ["negative eps", () => g.batchNormRaw(f32("x", [2, 3]), f32("s", [2, 3]), { eps: -1, weight: false, bias: false }), "batch_norm: eps must be a finite number ≥ 0, got -1"],
    ],
  },
  batch_norm_backward_stats: {
    good: [["[2, C]", () => g.batchNormBackwardStatsRaw(f32("x", [4, 3, 2]), f32("s", [2, 3]), f32("g", [4, 3, 2]), 1e-5), "f32[2,3]"]],
    bad: [
      ["a grad of another shape", () => g.batchNormBackwardStatsRaw(f32("x", [4, 3]), f32("s", [2, 3]), f32("g", [3]), 1e-5), "batch_norm_backward_stats: grad must be f32[4,3] like the input, got f32[3]"],
      ["an untyped call without attributes", () => g.batchNormRaw(f32("x", [4, 3]), f32("s", [2, 3]), null as never), "batchNormRaw: invalid arguments (Cannot read properties of null (reading 'weight'))"],
    ],
  },
  softmax_backward: {
    good: [["keeps the shape", () => g.softmaxBackwardRaw(f32("y", ["batch", 3]), f32("g", ["batch", 3]), 0.5), "f32[batch,3]"]],
    bad: [
      ["a grad of another shape", () => g.softmaxBackwardRaw(f32("y", [2, 3]), f32("g", [2, 1]), 1), "softmax_backward: grad must be f32[2,3] like the softmax output, got f32[2,1]"],
      ["an untyped scale", () => g.softmaxBackwardRaw(f32("y", [2, 3]), f32("g", [2, 3]), "1" as never), "softmax_backward: scale must be a finite number, got string \"1\""],
      ["a scalar", () => g.softmaxBackwardRaw(f32("y", []), f32("g", []), 1), "softmax_backward: expected a softmax output with a dim, got f32[]"],
    ],
  },
  binary_cross_entropy_with_logits: {
    good: [
      ["mean", () => g.binaryCrossEntropyWithLogits(f32("z", ["batch"]), f32("t", ["batch"])), "f32[]"],
      ["none", () => g.binaryCrossEntropyWithLogits(f64("z", [2, 3]), f64("t", [2, 3]), { reduction: "none" }), "f64[2,3]"],
    ],
    bad: [
      ["a target of another shape", () => g.binaryCrossEntropyWithLogits(f32("z", [4]), f32("t", [4, 1])), "binary_cross_entropy_with_logits: target must be f32[4] like the logits, got f32[4,1]"],
      ["integer logits", () => g.binaryCrossEntropyWithLogits(i32("z", [4]), i32("t", [4])), "binary_cross_entropy_with_logits: expected a float logits (f32 or f64), got i32[4]"],
    ],
  },
};

describe.each(opNames.map((op) => ({ op })))("$op", ({ op }) => {
  const cases = CASES[op];
  test("has good and bad cases", () => {
    expect(cases.good.length).toBeGreaterThan(0);
    expect(cases.bad.length).toBeGreaterThan(0);
  });
  test.each(cases.good.map(([description, build, type]) => ({ description, build, type })))("good: $description → $type", ({ build, type }) => {
    const t = build();
    expect(t.diagnostics).toEqual([]);
    expect(typeText(t)).toBe(type);
    // the case exercises this op's row (DSL helpers may wrap it, e.g. 1-d matmul in a reshape)
    const ops = new Set<string>();
    const walk = (node: Tensor): void => {
      ops.add(node.op);
      node.inputs.forEach(walk);
    };
    walk(t);
    expect(ops.has(op)).toBe(true);
  });
  test.each(cases.bad.map(([description, build, message]) => ({ description, build, message })))("bad: $description", ({ build, message }) => {
    const t = build();
    expect(t.type).toBeUndefined();
    expect(messagesOf(t)).toEqual([message]);
  });
});

test("every op of the table has cases (and no case names an unknown op)", () => {
  expect(Object.keys(CASES).sort()).toEqual([...opNames].sort());
});

describe("arity and propagation", () => {
  test("a wrong number of inputs is reported with the op's range", () => {
    expect(messagesOf(makeTensor("nll_loss", { dim: 1, reduction: "mean", ignoreIndex: -100, weighted: false }, [f32("lp", [2, 3])]))).toEqual([
      "nll_loss: expected 2 to 3 inputs, got 1",
    ]);
    expect(messagesOf(makeTensor("input", { name: "x", shape: [], dtype: "f32" }, [f32("y", [])]))).toEqual(["input: expected 0 inputs, got 1"]);
  });

  test("a node on top of an ill-typed node is ill-typed without a second diagnostic", () => {
    const bad = g.matmul(f32("a", [2, 3]), f32("b", [4, 5]));
    const downstream = g.softmax(g.relu(g.add(bad, 1)), -1);
    expect(downstream.type).toBeUndefined();
    expect(downstream.diagnostics).toEqual([]);
    expect(messagesOf(downstream)).toEqual(["matmul: inner dims differ: f32[2,3] @ f32[4,5] (3 ≠ 4)"]);
  });

  test("independent errors are all reported, in graph order", () => {
    const first = g.exp(i32("a", [2]));
    const second = g.sum(f32("b", [2]), 3);
    const both = g.add(first, second);
    expect(messagesOf(both)).toEqual([
      "exp: expected a float input (f32 or f64), got i32[2]",
      "sum: dim 3 out of range for shape [2] (expected -1 ≤ dim < 1)",
    ]);
  });

  test("an ill-typed handle prints as such", () => {
    expect(String(g.exp(i32("a", [2])))).toBe("Tensor(exp : <ill-typed>)");
    expect(String(g.exp(f32("a", [2])))).toBe("Tensor(exp : f32[2])");
  });
});

describe("DSL helpers built from rows", () => {
  const goods: ReadonlyArray<readonly [string, () => Tensor, string]> = [
    ["flatten all dims", () => g.flatten(f32("x", [2, 3, 4])), "f32[24]"],
    ["flatten from dim 1 keeps a symbolic batch", () => g.flatten(f32("x", ["batch", 28, 28]), 1), "f32[batch,784]"],
    ["flatten a middle range", () => g.flatten(f32("x", [2, 3, 4, 5]), 1, 2), "f32[2,12,5]"],
    ["flatten a scalar gives [1]", () => g.flatten(f32("x", [])), "f32[1]"],
    ["unsqueeze at the end", () => g.unsqueeze(f32("x", ["batch", 3]), -1), "f32[batch,3,1]"],
    ["unsqueeze at the front", () => g.unsqueeze(f32("x", ["batch", 3]), 0), "f32[1,batch,3]"],
    ["squeeze a size-1 dim", () => g.squeeze(f32("x", [2, 1, 3]), 1), "f32[2,3]"],
    ["linear: x @ Wᵀ + b", () => g.linear(f32("x", ["batch", 4]), f32("W", [3, 4]), f32("b", [3])), "f32[batch,3]"],
    ["dense creates nn.Linear params", () => g.dense(f32("x", ["batch", 784]), 784, 128, "fc1"), "f32[batch,128]"],
    ["pick: y_hat[range(n), y]", () => g.pick(f32("p", ["batch", 3]), i32("y", ["batch"])), "f32[batch]"],
    ["mseLoss", () => g.mseLoss(f32("a", ["batch", 2]), f32("b", ["batch", 2])), "f32[]"],
    ["square", () => g.square(f32("a", [2])), "f32[2]"],
  ];
  test.each(goods.map(([description, build, type]) => ({ description, build, type })))("$description → $type", ({ build, type }) => {
    expect(typeText(build())).toBe(type);
  });

  const bads: ReadonlyArray<readonly [string, () => Tensor, string]> = [
    ["flatten startDim out of range", () => g.flatten(f32("x", [1, 3]), 2), "flatten: dim 2 out of range for shape [1,3] (expected -2 ≤ dim < 2)"],
    ["flatten endDim out of range", () => g.flatten(f32("x", [1, 3]), 0, -3), "flatten: dim -3 out of range for shape [1,3] (expected -2 ≤ dim < 2)"],
    ["flatten start after end", () => g.flatten(f32("x", [1, 3, 4]), 2, 1), "flatten: startDim 2 comes after endDim 1 in f32[1,3,4]"],
    ["flatten over two symbols", () => g.flatten(f32("x", ["batch", "n"])), "reshape: cannot infer -1 in [-1] from [batch,n]: it would be a product of symbolic dims"],
    ["unsqueeze out of range", () => g.unsqueeze(f32("x", [1, 3]), 3), "unsqueeze: dim 3 out of range for shape [1,3] (expected -3 ≤ dim < 3)"],
    ["squeeze out of range", () => g.squeeze(f32("x", [1, 3]), 5), "squeeze: dim 5 out of range for shape [1,3] (expected -2 ≤ dim < 2)"],
    ["squeeze a non-1 dim", () => g.squeeze(f32("x", [2, 3]), 0), "squeeze: dim 0 of f32[2,3] has size 2, expected 1"],
    ["squeeze a symbolic dim", () => g.squeeze(f32("x", ["batch", 3]), 0), "squeeze: dim 0 of f32[batch,3] has size batch, expected 1"],
    ["linear with a weight of the wrong orientation", () => g.linear(f32("x", ["batch", 4]), f32("W", [4, 3])), "matmul: inner dims differ: f32[batch,4] @ f32[3,4] (4 ≠ 3)"],
    ["dense with the wrong inFeatures", () => g.dense(f32("x", ["batch", 784]), 512, 10, "fc"), "matmul: inner dims differ: f32[batch,784] @ f32[512,10] (784 ≠ 512)"],
    ["pick with float indices", () => g.pick(f32("p", [3, 4]), f32("y", [3])), "gather: index must be integer (i32), got f32[3,1]"],
  ];
  test.each(bads.map(([description, build, message]) => ({ description, build, message })))("$description", ({ build, message }) => {
    expect(messagesOf(build())).toEqual([message]);
  });

  test("dense names its params like nn.Linear and initialises them with bound 1/√in", () => {
    const graph = g.buildGraph(g.model({ outputs: { y: g.dense(f32("x", ["batch", 4]), 4, 2, "fc") } }));
    expect(graph._tag).toBe("Right");
    if (graph._tag !== "Right") return;
    const params = g.graphParams(graph.right).map((p) => [p.attrs.name, g.formatType(p.type), g.formatInit(p.attrs.init)]);
    expect(params).toEqual([
      ["fc.weight", "f32[2,4]", "kaiming_uniform(fan_in=4)"],
      ["fc.bias", "f32[2]", "kaiming_uniform(fan_in=4)"],
    ]);
    const noBias = g.dense(f32("x", ["batch", 4]), 4, 2, "fc", { bias: false });
    expect(noBias.op).toBe("matmul");
  });

  test("embeddingLayer names its weight like nn.Embedding, N(0, 1) with the padding row zeros", () => {
    const graph = g.buildGraph(g.model({ outputs: { y: g.embeddingLayer(input("ids", ["batch", 5], "i32"), 200, 8, "tok", { paddingIdx: -1 }) } }));
    if (graph._tag !== "Right") throw new Error(g.formatDiagnostics(graph.left));
    const params = g.graphParams(graph.right).map((p) => [p.attrs.name, g.formatType(p.type), g.formatInit(p.attrs.init)]);
    expect(params).toEqual([["tok.weight", "f32[200,8]", "normal(0,1,zero_row=199)"]]);
    const weight = g.initParams(graph.right, 7)["tok.weight"]?.data ?? new Float64Array(0);
    expect(Array.from(weight.subarray(199 * 8))).toEqual(new Array(8).fill(0));
    const rest = Array.from(weight.subarray(0, 199 * 8));
    const mean = rest.reduce((a, b) => a + b, 0) / rest.length;
    const std = Math.sqrt(rest.reduce((a, b) => a + (b - mean) ** 2, 0) / rest.length);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(std - 1)).toBeLessThan(0.05);
    // without paddingIdx every row is drawn
    const plain = g.embeddingLayer(input("ids", [3], "i32"), 4, 2, "emb");
    expect(plain.inputs[1]?.call).toEqual({ op: "param", attrs: { name: "emb.weight", shape: [4, 2], dtype: "f32", init: { kind: "normal", mean: 0, std: 1 } } });
  });
});

describe("describeValue in DSL messages (the runtime's description plus tensors and JS types)", () => {
  test("names tensors, gives primitives their JS type and delegates the rest to @graft/runtime", () => {
    expect(g.describeValue(g.relu(input("x", [2])))).toBe("a tensor (relu : f32[2])");
    expect(g.describeValue(Number.NaN)).toBe("number NaN");
    expect(g.describeValue("f16")).toBe('string "f16"');
    expect(g.describeValue(5n)).toBe("bigint 5n");
    expect(g.describeValue(undefined)).toBe("undefined");
    expect(g.describeValue([1, 2])).toBe("an Array of length 2 ([1,2])");
    expect(g.describeValue(new Float32Array(3))).toBe("a Float32Array of length 3");
    expect(g.describeValue({ kind: "bogus" })).toBe('an object {"kind":"bogus"}');
  });
});
