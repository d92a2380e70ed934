/**
 * @file fast-check properties of the language:
 * - random elementwise graphs (broadcasting inputs, unary/binary/where ops) evaluate exactly as
 *   direct JS math computed with an independent broadcasting oracle;
 * - random, often ill-typed, sequences of DSL calls never throw: the checker returns
 *   diagnostics (with this file's locations), and a graph that checks evaluates without throwing
 *   to arrays of exactly the inferred shapes.
 */
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import * as g from "@graft/core";
import type { Dim, Dtype, NDArray, Shape, Tensor } from "@graft/core";

const thisFile = fileURLToPath(import.meta.url);

// ----- random elementwise graphs against direct JS math -----------------------------------------

const UNARY = ["neg", "exp", "log", "sqrt", "abs", "sign", "relu", "sigmoid", "logSigmoid", "tanh"] as const;
const BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"] as const;
const COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"] as const;
type UnaryName = (typeof UNARY)[number];
type BinaryName = (typeof BINARY)[number];
type CompareName = (typeof COMPARE)[number];

type Expr =
  | { readonly kind: "input"; readonly index: number }
  | { readonly kind: "const"; readonly value: number }
  | { readonly kind: "unary"; readonly op: UnaryName; readonly a: Expr }
  | { readonly kind: "binary"; readonly op: BinaryName; readonly a: Expr; readonly b: Expr }
  | { readonly kind: "where"; readonly cmp: CompareName; readonly a: Expr; readonly b: Expr; readonly yes: Expr; readonly no: Expr };

/** Direct JS math: the textbook definitions (sigmoid and log-sigmoid in their stable forms). */
const UNARY_MATH: Readonly<Record<UnaryName, (x: number) => number>> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sign: Math.sign,
  relu: (x) => (Number.isNaN(x) ? x : Math.max(x, 0)),
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  logSigmoid: (x) => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))),
  tanh: Math.tanh,
};
const BINARY_MATH: Readonly<Record<BinaryName, (a: number, b: number) => number>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.min(a, b)),
};
const COMPARE_MATH: Readonly<Record<CompareName, (a: number, b: number) => boolean>> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
};

const NUM_INPUTS = 3;
const exprArb: fc.Arbitrary<Expr> = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.nat(NUM_INPUTS - 1).map((index): Expr => ({ kind: "input", index })),
    fc.constantFrom(-2, -0.5, 0, 1, 3).map((value): Expr => ({ kind: "const", value })),
    fc.record({ kind: fc.constant("unary" as const), op: fc.constantFrom(...UNARY), a: tie("expr") }),
    fc.record({ kind: fc.constant("binary" as const), op: fc.constantFrom(...BINARY), a: tie("expr"), b: tie("expr") }),
    fc.record({ kind: fc.constant("where" as const), cmp: fc.constantFrom(...COMPARE), a: tie("expr"), b: tie("expr"), yes: tie("expr"), no: tie("expr") }),
  ),
})).expr;

/** An output shape and, per input, a right-aligned suffix of it with some dims set to 1. */
const shapesArb = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }).chain((out) =>
  fc.array(
    fc.tuple(fc.nat(out.length), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })).map(([drop, ones]) => out.map((dim, i) => (ones[i] === true ? 1 : dim)).slice(drop)),
    { minLength: NUM_INPUTS, maxLength: NUM_INPUTS },
  ),
);

const valueArb = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 1, -1, Infinity, -Infinity, Number.NaN) },
);

const caseArb = shapesArb.chain((shapes) =>
  fc.record({
    shapes: fc.constant(shapes),
    data: fc.tuple(...shapes.map((shape) => fc.array(valueArb, { minLength: g.sizeOf(shape), maxLength: g.sizeOf(shape) }))),
    expr: exprArb,
  }),
);

// one handle per input name: two distinct inputs may not share a name
const inputHandles = new WeakMap<readonly (readonly number[])[], Map<number, Tensor>>();
const inputOf = (index: number, shapes: readonly (readonly number[])[]): Tensor => {
  const handles = inputHandles.get(shapes) ?? new Map<number, Tensor>();
  inputHandles.set(shapes, handles);
  const made = handles.get(index) ?? g.input(`x${index}`, shapes[index] ?? [], "f64");
  handles.set(index, made);
  return made;
};

const toTensor = (expr: Expr, shapes: readonly (readonly number[])[]): Tensor => {
  switch (expr.kind) {
    case "input":
      return inputOf(expr.index, shapes);
    case "const":
      return g.scalar(expr.value, "f64");
    case "unary":
      return g[expr.op](toTensor(expr.a, shapes));
    case "binary":
      return g[expr.op](toTensor(expr.a, shapes), toTensor(expr.b, shapes));
    case "where":
      return g.where(g[expr.cmp](toTensor(expr.a, shapes), toTensor(expr.b, shapes)), toTensor(expr.yes, shapes), toTensor(expr.no, shapes));
  }
};

const inputsUsed = (expr: Expr): number[] => {
  switch (expr.kind) {
    case "input":
      return [expr.index];
    case "const":
      return [];
    case "unary":
      return inputsUsed(expr.a);
    case "binary":
      return [...inputsUsed(expr.a), ...inputsUsed(expr.b)];
    case "where":
      return [...inputsUsed(expr.a), ...inputsUsed(expr.b), ...inputsUsed(expr.yes), ...inputsUsed(expr.no)];
  }
};

/** The value of input `index` at output position `at` (right-aligned, size-1 dims broadcast). */
const readBroadcast = (shape: readonly number[], data: readonly number[], at: readonly number[]): number => {
  let flat = 0;
  const offset = at.length - shape.length;
  shape.forEach((size, axis) => {
    flat = flat * size + (size === 1 ? 0 : (at[axis + offset] as number));
  });
  return data[flat] as number;
};

const mathAt = (expr: Expr, shapes: readonly (readonly number[])[], data: readonly (readonly number[])[], at: readonly number[]): number => {
  const rec = (e: Expr): number => mathAt(e, shapes, data, at);
  switch (expr.kind) {
    case "input":
      return readBroadcast(shapes[expr.index] ?? [], data[expr.index] ?? [], at);
    case "const":
      return expr.value;
    case "unary":
      return UNARY_MATH[expr.op](rec(expr.a));
    case "binary":
      return BINARY_MATH[expr.op](rec(expr.a), rec(expr.b));
    case "where":
      return COMPARE_MATH[expr.cmp](rec(expr.a), rec(expr.b)) ? rec(expr.yes) : rec(expr.no);
  }
};

describe("property: random elementwise graphs evaluate exactly as direct JS math", () => {
  test("f64 reference interpreter = JS math, element by element (NaN, ±0 and ±inf included)", () => {
    let nonTrivial = 0;
    fc.assert(
      fc.property(caseArb, ({ shapes, data, expr }) => {
        const used = [...new Set(inputsUsed(expr))];
        // independent shape: the largest rank of the used inputs, the non-1 size where any has one
        const rank = Math.max(0, ...used.map((i) => (shapes[i] ?? []).length));
        const outShape = Array.from({ length: rank }, (_, axis) =>
          Math.max(1, ...used.map((i) => shapes[i] ?? []).map((s) => (s[axis - (rank - s.length)] ?? 1))),
        );
        const t = toTensor(expr, shapes);
        expect(t.diagnostics).toEqual([]);
        expect(t.type).toEqual({ shape: outShape, dtype: "f64" });
        const built = g.check(g.model({ outputs: { out: t } }));
        if (E.isLeft(built)) throw new Error(g.formatDiagnostics(built.left));
        const feeds: Record<string, NDArray> = {};
        for (const i of used) feeds[`x${i}`] = g.ndarray(shapes[i] ?? [], "f64", data[i] ?? []);
        const value = g.run(built.right, feeds).out;
        expect(value?.shape).toEqual(outShape);
        const size = g.sizeOf(outShape);
        const at = new Array<number>(rank).fill(0);
        for (let flat = 0; flat < size; flat++) {
          let rest = flat;
          for (let axis = rank - 1; axis >= 0; axis--) {
            const dim = outShape[axis] as number;
            at[axis] = rest % dim;
            rest = Math.floor(rest / dim);
          }
          const expected = mathAt(expr, shapes, data, at);
          const actual = value?.data[flat];
          if (!Object.is(actual, expected)) throw new Error(`at [${at.join(",")}]: interpreter ${actual} ≠ JS ${expected}`);
        }
        if (expr.kind !== "input" && expr.kind !== "const") nonTrivial++;
      }),
      { seed: 42, numRuns: 300 },
    );
    expect(nonTrivial).toBeGreaterThan(150);
  });
});

// ----- random (often ill-typed) call sequences never throw ----------------------------------------

const SYMBOLS = ["batch", "n", "m"] as const;
const dimArb: fc.Arbitrary<Dim> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 4, arbitrary: fc.constantFrom<Dim>(...SYMBOLS) },
  { weight: 1, arbitrary: fc.constantFrom<Dim>(0, -1, 2.5) },
);
const shapeArb = fc.array(dimArb, { maxLength: 3 });
const dtypeArb = fc.constantFrom<Dtype>("f32", "f32", "f64", "i32", "bool");

interface Command {
  readonly op: number;
  readonly picks: readonly number[];
  readonly ints: readonly number[];
  readonly shape: Shape;
  readonly flag: boolean;
  readonly dtype: Dtype;
  readonly value: number;
}
const commandArb: fc.Arbitrary<Command> = fc.record({
  op: fc.nat(),
  picks: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
  ints: fc.array(fc.integer({ min: -4, max: 4 }), { minLength: 1, maxLength: 3 }),
  shape: shapeArb,
  flag: fc.boolean(),
  dtype: dtypeArb,
  value: fc.double({ noNaN: false }),
});

type Op = (t: readonly [Tensor, Tensor, Tensor], c: Command) => Tensor;
const first = (c: Command): number => c.ints[0] ?? 0;
const OPS: readonly Op[] = [
  ...UNARY.map((name): Op => ([a]) => g[name](a)),
  ...BINARY.map((name): Op => ([a, b], c) => g[name](a, c.flag ? b : c.value)),
  ...COMPARE.map((name): Op => ([a, b]) => g[name](a, b)),
  ([a], c) => g.cast(a, c.dtype),
  ([a, b, d]) => g.where(a, b, d),
  ...(["sum", "mean", "max", "min", "logsumexp"] as const).map((name): Op => ([a], c) => g[name](a, c.ints.length === 1 ? first(c) : c.flag ? c.ints : undefined, c.flag)),
  ([a], c) => g.argmax(a, first(c), c.flag),
  ([a], c) => g.dimSize(a, c.ints),
  ([a], c) => g.reshape(a, c.flag ? c.shape : [...c.shape, -1]),
  ([a], c) => g.flatten(a, first(c), c.ints[1] ?? -1),
  ([a], c) => g.permute(a, c.ints),
  ([a], c) => g.transpose(a, first(c), c.ints[1] ?? -1),
  ([a], c) => g.expand(a, c.shape),
  ([a], c) => g.unsqueeze(a, first(c)),
  ([a], c) => g.squeeze(a, first(c)),
  ([a, b]) => g.matmul(a, b),
  ([a, b, d], c) => g.linear(a, b, c.flag ? d : undefined),
  ([a], c) => g.oneHot(a, first(c) + 2, c.dtype),
  ([a, b], c) => g.gather(a, first(c), b),
  ([a, b], c) => g.scatterAdd(c.shape, first(c), a, b),
  ([a, b], c) => g.pick(a, b, first(c)),
  ([a], c) => g.softmax(a, first(c)),
  ([a], c) => g.logSoftmax(a, first(c)),
  ([a, b, d], c) => g.nllLoss(a, b, { reduction: c.flag ? "none" : "mean", ...(c.ints.length > 2 ? { weight: d } : {}) }),
  ([a, b, d], c) => g.crossEntropy(a, b, { labelSmoothing: c.flag ? 0.1 : 0, ...(c.ints.length > 2 ? { weight: d } : {}), ...(c.ints.length > 1 ? { dim: first(c) } : {}) }),
  // partners derived from the operand, so that the losses and scatter_add also type-check sometimes
  ([a], c) => g.nllLoss(g.logSoftmax(a, 1), g.argmax(a, 1), { reduction: c.flag ? "sum" : "mean" }),
  ([a], c) => g.crossEntropy(a, g.argmax(a, -1), { dim: -1, ignoreIndex: c.flag ? 0 : -100 }),
  ([a], c) => g.scatterAdd(a.shape, first(c), g.cast(g.mul(a, 0), "i32"), a),
  ([a], c) => g.nllLossBackward(a, g.argmax(a, 1), g.scalar(first(c), a.dtype), { dim: 1, reduction: "mean", ignoreIndex: -100, weighted: false }),
  ([a], c) =>
    g.crossEntropyBackward(a, g.argmax(a, 1), g.scalar(first(c), a.dtype), { dim: 1, reduction: c.flag ? "sum" : "mean", ignoreIndex: -100, weighted: false, labelSmoothing: 0.2, target: "index" }),
  ([a, b]) => g.binaryCrossEntropyWithLogits(a, b),
  ([a, b]) => g.mseLoss(a, b),
  (_t, c) => g.full(c.shape, c.value, c.dtype),
  (_t, c) => g.constant(c.flag ? [[c.value, 1], [2]] : [c.ints], c.dtype),
  (_t, c) => g.param(`p${first(c) + 4}`, c.shape.filter((d): d is number => typeof d === "number"), g.normal(0, 1), c.dtype),
  (_t, c) => g.input(`in${first(c) + 4}`, c.shape, c.dtype),
  // activations (erf and the composites)
  ([a]) => g.erf(a),
  ([a], c) => g.gelu(a, c.flag ? { approximate: "tanh" } : {}),
  ([a]) => g.silu(a),
  ([a], c) => g.softplus(a, { beta: c.flag ? 2 : 1, threshold: c.value }),
  ([a], c) => g.leakyRelu(a, c.value),
  ([a], c) => g.elu(a, c.value),
  ([a], c) => g.hardtanh(a, -Math.abs(c.value), Math.abs(c.value)),
  ([a], c) => g.clamp(a, c.flag ? { min: c.value } : { max: Math.trunc(c.value) }),
  // data movement
  ([a], c) => g.slice(a, first(c), c.ints[1], c.ints[2], c.flag ? 2 : 1),
  ([a], c) => g.pad(a, c.ints.slice(0, 2), { mode: c.flag ? "reflect" : "constant", value: Math.trunc(c.value) }),
  ([a], c) => g.pad(a, c.ints.map(Math.abs), { mode: "replicate" }),
  ([a], c) => g.flip(a, c.ints),
  ([a, b], c) => g.concat(c.flag ? [a, b] : [a, a], first(c)),
  ([a, b], c) => g.stack([a, b], first(c)),
  ([a], c) => g.split(a, Math.abs(first(c)) + 1, c.ints[1] ?? 0)[0] ?? a,
  ([a], c) => g.chunk(a, 2, first(c))[1] ?? a,
  ([a], c) => g.tril(a, first(c)),
  // a [..., 2, 2] block of a, so that the matrix dims are static
  ([a], c) => g.triu(g.stack([g.stack([a, a], -1), g.stack([a, a], -1)], -1), first(c)),
  ([a], c) => g.tril(g.stack([g.stack([a, a], -1), g.stack([a, a], -1)], -1), first(c)),
  (_t, c) => g.arange(first(c), c.ints[1] ?? 3, c.flag ? 1 : 0.5),
  ([a, b]) => g.embedding(a, b),
  ([a]) => g.embedding(g.argmax(a, -1), g.flatten(a, 0, -2)),
  ([a], c) => g.embeddingBackward(g.argmax(a, -1), a, first(c) + 5),
  // a gather that type-checks whenever its operand is float (the picks above rarely do)
  ([a]) => g.gather(a, -1, g.argmax(a, -1, true)),
  // modes, randomness, normalization, attention (nn.ts)
  ([a, b]) => g.modeSwitch(a, b),
  ([a, b], c) => g.stateUpdate(a, g.param(`s${first(c) + 4}`, c.shape.filter((d): d is number => typeof d === "number")), b),
  // a partner derived from the operand, so that it type-checks sometimes
  ([a], c) => g.stateUpdate(a, g.param(`u${first(c) + 4}`, [], g.zeros, a.dtype ?? "f32"), g.sum(a)),
  (_t, c) => g.rand(c.shape, { seed: first(c) }),
  ([a], c) => g.dropout(a, c.flag ? 0.5 : c.value),
  ([a]) => g.bernoulli(a),
  (_t, c) => g.randn(c.shape, { seed: first(c) }),
  ([a, b, d], c) => g.batchNorm(a, b, d, { momentum: c.flag ? 0.1 : c.value }),
  ([a], c) => g.layerNorm(a, c.shape.filter((d): d is number => typeof d === "number")),
  ([a], c) => g.groupNorm(a, first(c) + 1),
  ([a, b, d], c) => g.scaledDotProductAttention(a, b, d, { causal: c.flag }),
  // the fused rows themselves (the DSL builds their forward rows; grad builds the backward ones)
  ([a, b], c) => g.attentionSoftmaxRaw(a, { scale: c.value, mask: c.flag ? "add" : "none", causal: false }, b),
  ([a, b], c) => g.layerNormRaw(a, { dims: 1, eps: 1e-5, weight: c.flag, bias: false }, b),
  ([a], c) => g.attentionSoftmaxRaw(a, { scale: 1, mask: "none", causal: c.flag }),
  ([a, b], c) => g.layerNormBackwardRaw(a, b, { dims: 1, eps: 1e-5, weight: false }, c.flag ? a : undefined),
  ([a], c) => g.layerNormBackwardRaw(a, a, { dims: Math.max(1, a.rank), eps: 1e-5, weight: false }),
  ([a, b], c) => g.softmaxBackwardRaw(a, c.flag ? b : a, c.value),
  ([a]) => g.batchNormStatsRaw(a),
  ([a]) => g.batchNormRaw(a, g.batchNormStatsRaw(a), { eps: 1e-5, weight: false, bias: false }),
  ([a, b]) => g.batchNormBackwardStatsRaw(a, g.batchNormStatsRaw(a), b, 1e-5),
  // convolution and pooling, on the operand as one image row [1, 1, 1, n] (or [1, 1, n])
  ([a, b], c) => g.conv2d(g.reshape(a, [1, 1, 1, -1]), c.flag ? b : g.full([1, 1, 1, 1], 0.5, a.dtype ?? "f32"), undefined, { padding: [0, 0, Math.max(0, first(c)), 0] }),
  ([a], c) => g.convTranspose2d(g.reshape(a, [1, 1, 1, -1]), g.full([1, 2, 1, 2], 0.5, a.dtype ?? "f32"), undefined, { stride: c.flag ? 2 : 1 }),
  ([a]) => g.conv2dWeightGradRaw(g.reshape(a, [1, 1, 1, -1]), g.reshape(a, [1, 1, 1, -1]), { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1, kernel: [1, 1] }),
  ([a], c) => g.conv1d(g.reshape(a, [1, 1, -1]), g.full([1, 1, 1], 2, a.dtype ?? "f32"), undefined, { padding: c.flag ? "same" : "valid" }),
  ([a], c) => g.maxPool2d(g.reshape(a, [1, 1, 1, -1]), [1, Math.max(1, first(c))], { ceilMode: c.flag }),
  ([a]) => g.maxPool2dBackwardRaw(g.reshape(a, [1, 1, 1, -1]), g.reshape(a, [1, 1, 1, -1]), { kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false }),
  ([a], c) => g.avgPool2d(g.reshape(a, [1, 1, 1, -1]), [1, Math.max(1, first(c))], { countIncludePad: c.flag }),
  ([a], c) => g.adaptiveAvgPool2d(g.reshape(a, [1, 1, 1, -1]), [1, Math.max(1, first(c))]),
  ([a], c) => g.maxPool1d(g.reshape(a, [1, 1, -1]), Math.max(1, first(c))),
  ([a], c) => g.avgPool1d(g.reshape(a, [1, 1, -1]), Math.max(1, first(c)), { ceilMode: c.flag }),
];

const MAX_ELEMENTS = 400;
/** Number of elements with every symbol at its largest size (3). */
const worstSize = (t: Tensor): number => t.shape.reduce<number>((p, d) => p * (typeof d === "number" ? Math.max(d, 0) : 3), 1);

describe("property: random (often ill-typed) DSL call sequences never throw", () => {
  test("check returns diagnostics or a graph; a graph evaluates to arrays of its inferred shapes", () => {
    const stats = { ill: 0, good: 0, evaluated: 0, nodes: 0 };
    const opsEvaluated = new Set<string>();
    fc.assert(
      fc.property(
        fc.array(fc.record({ shape: shapeArb, dtype: dtypeArb }), { minLength: 1, maxLength: 3 }),
        fc.array(commandArb, { minLength: 1, maxLength: 14 }),
        fc.record({ batch: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 3 }) }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (leaves, commands, sizes, dataSeed) => {
          const pool: Tensor[] = leaves.map((leaf, i) => g.input(`x${i}`, leaf.shape, leaf.dtype));
          for (const command of commands) {
            // mostly well-typed operands, so that sequences grow deep enough to say something
            const typed = pool.filter((t) => t.type !== undefined);
            const pick = (k: number): Tensor => {
              const n = command.picks[k] ?? 0;
              const from = n % 4 !== 0 && typed.length > 0 ? typed : pool;
              return from[Math.floor(n / 4) % from.length] as Tensor;
            };
            const op = OPS[command.op % OPS.length] as Op;
            const t = op([pick(0), pick(1), pick(2)], command);
            expect(t).toBeInstanceOf(g.Tensor);
            if (worstSize(t) <= MAX_ELEMENTS) pool.push(t);
          }
          // the whole pool: diagnostics exactly when some handle is ill-typed
          const built = g.check(g.model({ name: "random", outputs: Object.fromEntries(pool.map((t, i) => [`o${i}`, t])) }));
          const illTyped = pool.some((t) => t.type === undefined);
          if (illTyped) {
            stats.ill++;
            expect(E.isLeft(built)).toBe(true);
          }
          if (E.isLeft(built)) {
            expect(built.left.length).toBeGreaterThan(0);
            for (const d of built.left) {
              expect(d.severity).toBe("error");
              expect(d.message.length).toBeGreaterThan(0);
              // every diagnostic points at a line of this file: the user's call
              expect(d.loc?.file).toBe(thisFile);
              expect(typeof g.formatDiagnostic(d)).toBe("string");
            }
          }
          // the well-typed handles alone form a graph (unless a leaf name was reused with another type)
          const wellTyped = pool.filter((t) => t.type !== undefined);
          const goodBuilt = g.check(g.model({ name: "random", outputs: Object.fromEntries(wellTyped.map((t, i) => [`o${i}`, t])) }));
          if (E.isLeft(goodBuilt)) {
            expect(goodBuilt.left.map((d) => d.code)).toEqual(goodBuilt.left.map(() => "duplicate-leaf"));
            return;
          }
          const graph = goodBuilt.right;
          stats.good++;
          expect(g.printGraph(graph).split("\n")).toHaveLength(graph.nodes.length + 3);
          // feed every input with concrete sizes and deterministic small values
          const random = g.mulberry32(dataSeed);
          const bind = (shape: Shape): number[] => shape.map((d) => (typeof d === "number" ? d : sizes[d as keyof typeof sizes] ?? 1));
          const feeds: Record<string, NDArray> = {};
          for (const node of g.graphInputs(graph)) {
            const shape = bind(node.type.shape);
            const values = Array.from({ length: g.sizeOf(shape) }, () => (node.type.dtype === "bool" ? (random() < 0.5 ? 0 : 1) : node.type.dtype === "i32" ? Math.floor(random() * 3) : random() * 4 - 2));
            feeds[node.attrs.name] = g.ndarray(shape, node.type.dtype, values);
          }
          const result = g.evaluateGraph(graph, feeds, g.initParams(graph, dataSeed));
          if (E.isLeft(result)) {
            for (const d of result.left) expect(["runtime", "feed"]).toContain(d.code);
            return;
          }
          stats.evaluated++;
          stats.nodes += graph.nodes.length;
          for (const node of graph.nodes) opsEvaluated.add(node.op);
          graph.nodes.forEach((node, id) => {
            const value = result.right[id];
            const shape = bind(node.type.shape);
            expect(value?.shape, `%${id} ${node.op}`).toEqual(shape);
            expect(value?.data.length, `%${id} ${node.op}`).toBe(g.sizeOf(shape));
            expect(value?.dtype).toBe(node.type.dtype);
          });
        },
      ),
      { seed: 42, numRuns: 400 },
    );
    // the generator must produce both kinds and reach most ops, or the property says little
    expect(stats.ill).toBeGreaterThan(100);
    expect(stats.evaluated).toBeGreaterThan(200);
    expect(stats.nodes / stats.evaluated).toBeGreaterThan(4);
    // every op of the table appears in some evaluated graph
    expect(g.opNames.filter((op) => !opsEvaluated.has(op))).toEqual([]);
  });
});
