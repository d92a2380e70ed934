/**
 * @file Composites and the `decompose` pass: every composite row's float64 semantics equal its
 * definition's, the pass expands exactly the composites a back end does not fuse (keeping the
 * user's locations), it runs in the pipeline after `fuse`, `grad` differentiates composites
 * through their definitions, and each activation compiles to one map kernel.
 */
import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { compositeNames, evaluateGraph, formatDiagnostics, formatLoc, printGraph, type Graph, type NDArray, type OpName, type Tensor } from "@graft/core";
import { allComposites, decompose, decomposeWith, type DefinitionLookup } from "../src/passes/decompose.js";
import { pipeline, runPipeline } from "../src/passes/index.js";
import { grad } from "../src/passes/grad.js";
import { BINARY_OPS, ELEMENTWISE, lowerGraph, UNARY_OPS, VIEW_OPS } from "../src/backend/lower.js";
import { fusedComposites, loweredComposites } from "../src/backend/fused.js";
import { hostFeeds, randomArray } from "./backend-cases.js";
import { main } from "../src/cli.js";

const graphOf = (outputs: Record<string, Tensor>, loss?: Tensor): Graph => {
  const built = C.buildGraph(C.model({ name: "g", outputs, ...(loss === undefined ? {} : { loss }) }));
  if (E.isLeft(built)) throw new Error(formatDiagnostics(built.left));
  return built.right;
};
const right = <A>(result: E.Either<C.Diagnostics, A>): A => {
  if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
  return result.right;
};
const f64 = (shape: readonly number[], data: readonly number[]): NDArray => ({ shape: [...shape], dtype: "f64", data: Float64Array.from(data) });
const opsOf = (graph: Graph): OpName[] => graph.nodes.map((node) => node.op);

/** Evaluates every output of a graph in float64. */
const outputsOf = (graph: Graph, feeds: Readonly<Record<string, NDArray>>): Record<string, Float64Array> => {
  const values = right(evaluateGraph(graph, feeds, {}));
  return Object.fromEntries(graph.outputs.map((o) => [o.name, (values[o.id] as NDArray).data]));
};

/** Same NaNs and infinities; finite values within `rel` of each other (scaled by the row's magnitude). */
const expectSameValues = (actual: Float64Array, expected: Float64Array, rel: number, label: string): void => {
  expect(actual.length, label).toBe(expected.length);
  const scale = Math.max(1, ...Array.from(expected).filter(Number.isFinite).map(Math.abs));
  expected.forEach((e, i) => {
    const a = actual[i] as number;
    if (!Number.isFinite(e)) expect(a, `${label}[${i}]`).toBe(e);
    else expect(Math.abs(a - e), `${label}[${i}]: ${a} vs ${e}`).toBeLessThanOrEqual(rel * scale);
  });
};

// ----- every composite: row semantics = definition ---------------------------------------------------

const SPECIAL = [0, -0, 1, -1, 0.5, -3.7, 7, 20.5, -20.5, 30, -40, 1e-10, -1e-10, 300, -800, 1e6, Infinity, -Infinity, Number.NaN];
const unaryCase = (build: (x: Tensor) => Tensor) => ({ shape: [SPECIAL.length], specials: SPECIAL, build: (x: Tensor) => build(x) });
// rows of the softmax family: ordinary, huge, −inf entries, all −inf, +inf, NaN
const ROWS = [[1, 2, 3, 4], [300, 200, 500, 100], [3e38, 3e38, -3e38, 0], [-Infinity, 1, 2, -Infinity], [-Infinity, -Infinity, -Infinity, -Infinity], [Infinity, 1, 2, 3], [Number.NaN, 1, 2, 3]];
const rowCase = (build: (x: Tensor) => Tensor) => ({ shape: [ROWS.length, 4], specials: ROWS.flat(), build });

const compositeCases: Partial<Record<OpName, ReturnType<typeof unaryCase>>> = {
  gelu: unaryCase((x) => C.add(C.gelu(x), C.mul(C.gelu(x, { approximate: "tanh" }), 0))),
  silu: unaryCase(C.silu),
  softplus: unaryCase((x) => C.softplus(x, { beta: 2, threshold: 15 })),
  leaky_relu: unaryCase((x) => C.leakyRelu(x, 0.2)),
  elu: unaryCase((x) => C.elu(x, 0.5)),
  hardtanh: unaryCase((x) => C.hardtanh(x, -2, 3)),
  clamp: unaryCase((x) => C.clamp(x, { min: -2, max: 3 })),
  softmax: rowCase((x) => C.softmax(x, 1)),
  log_softmax: rowCase((x) => C.logSoftmax(x, 1)),
  logsumexp: rowCase((x) => C.logsumexp(x, 1)),
  // the fused normalization and attention rows (the backward rows take the specials as their cotangent too)
  layer_norm: rowCase((x) => C.layerNormRaw(x, { dims: 1, eps: 1e-5, weight: false, bias: false })),
  layer_norm_backward: rowCase((x) => C.layerNormBackwardRaw(x, x, { dims: 2, eps: 1e-5, weight: false })),
  attention_softmax: rowCase((x) => C.attentionSoftmaxRaw(x, { scale: 0.5, mask: "none", causal: true })),
  softmax_backward: rowCase((x) => C.softmaxBackwardRaw(C.softmax(x, 1), x, 0.5)),
  // batch norm over [N = 7, C = 4]: the special values are the batch
  batch_norm_stats: rowCase((x) => C.batchNormStatsRaw(x)),
  batch_norm: rowCase((x) => C.batchNormRaw(x, C.batchNormStatsRaw(x), { eps: 1e-5, weight: false, bias: false })),
  batch_norm_backward_stats: rowCase((x) => C.batchNormBackwardStatsRaw(x, C.batchNormStatsRaw(x), x, 1e-5)),
  concat: rowCase((x) => C.concat([x, C.neg(x), C.slice(x, 1, 1, 3)], 1)),
  tril: rowCase((x) => C.tril(x, 1)),
  triu: rowCase((x) => C.triu(x, -1)),
  conv1d: { shape: [1, 1, SPECIAL.length], specials: SPECIAL, build: (x) => C.conv1d(x, C.constant([[[0.5, -2, 3]]], "f64"), C.constant([0.25], "f64"), { padding: 1, dilation: 2 }) },
  max_pool1d: { shape: [1, 1, SPECIAL.length], specials: SPECIAL, build: (x) => C.maxPool1d(x, 3, { stride: 2, padding: 1 }) },
  avg_pool1d: { shape: [1, 1, SPECIAL.length], specials: SPECIAL, build: (x) => C.avgPool1d(x, 2, { ceilMode: true }) },
  adaptive_avg_pool2d: { shape: [1, 1, 1, SPECIAL.length], specials: SPECIAL, build: (x) => C.adaptiveAvgPool2d(x, [1, 5]) },
};

/** The losses: every option of PyTorch's cross_entropy, and BCE with logits, on ordinary and extreme logits. */
const LOGITS = [[1, 2, 3, 4], [300, 200, 500, 100], [-Infinity, 1, 2, -Infinity], [1e4, -1e4, 0, 3], [0.5, 0.5, 0.5, 0.5], [-2, 7, 1, 1]];
const lossChecks: Partial<Record<OpName, () => void>> = {
  cross_entropy: () => {
    const x = C.input("x", [LOGITS.length, 4], "f64");
    const y = C.input("y", [LOGITS.length], "i32");
    const p = C.input("p", [LOGITS.length, 4], "f64");
    const w = C.input("w", [4], "f64");
    const outputs: Record<string, Tensor> = {};
    for (const reduction of ["mean", "sum", "none"] as const)
      for (const labelSmoothing of [0, 0.2])
        for (const weighted of [false, true]) {
          const options = { reduction, labelSmoothing, ignoreIndex: 3, ...(weighted ? { weight: w } : {}) };
          outputs[`index-${reduction}-${labelSmoothing}-${weighted}`] = C.crossEntropy(x, y, options);
          outputs[`prob-${reduction}-${labelSmoothing}-${weighted}`] = C.crossEntropy(x, p, options);
        }
    // class dim 0 of a 1-D input, and dim 1 of a 3-D one
    outputs["vector"] = C.crossEntropy(C.input("v", [4], "f64"), C.input("c", [], "i32"), { labelSmoothing: 0.1 });
    outputs["dim1of3"] = C.crossEntropy(C.input("z", [2, 4, 3], "f64"), C.input("t", [2, 3], "i32"), { labelSmoothing: 0.1, weight: w });
    const graph = graphOf(outputs);
    const expanded = right(decompose(new Set())(graph));
    expect(opsOf(expanded)).not.toContain("cross_entropy");
    const feeds = {
      x: f64([LOGITS.length, 4], LOGITS.flat()),
      y: { shape: [LOGITS.length], dtype: "i32" as const, data: Float64Array.from([3, 2, 1, 0, 3, 1]) },
      // probabilities with zeros where the logits are −inf
      p: f64([LOGITS.length, 4], [0.1, 0.2, 0.3, 0.4, 1, 0, 0, 0, 0, 0.5, 0.5, 0, 0.25, 0.25, 0.25, 0.25, 0.7, 0.1, 0.1, 0.1, 0, 0, 0, 1]),
      w: f64([4], [0.5, 2, 1, 1.5]),
      v: f64([4], [0.3, -1, 2, 0]),
      c: { shape: [], dtype: "i32" as const, data: Float64Array.of(2) },
      z: f64([2, 4, 3], Array.from({ length: 24 }, (_, i) => Math.sin(i) * 3)),
      t: { shape: [2, 3], dtype: "i32" as const, data: Float64Array.from([0, 3, 1, 2, 2, 0]) },
    };
    const expected = outputsOf(graph, feeds);
    const actual = outputsOf(expanded, feeds);
    for (const name of Object.keys(outputs)) expectSameValues(actual[name] as Float64Array, expected[name] as Float64Array, 1e-14, name);
  },
  binary_cross_entropy_with_logits: () => {
    const x = C.input("x", [SPECIAL.length], "f64");
    const t = C.input("t", [SPECIAL.length], "f64");
    const graph = graphOf({ none: C.binaryCrossEntropyWithLogits(x, t, { reduction: "none" }), mean: C.binaryCrossEntropyWithLogits(x, t), sum: C.binaryCrossEntropyWithLogits(x, t, { reduction: "sum" }) });
    const expanded = right(decompose(new Set())(graph));
    expect(opsOf(expanded)).not.toContain("binary_cross_entropy_with_logits");
    const finite = SPECIAL.map((v) => (Number.isFinite(v) ? v : 0));
    const feeds = { x: f64([SPECIAL.length], finite), t: f64([SPECIAL.length], finite.map((_, i) => (i % 3) / 2)) };
    const expected = outputsOf(graph, feeds);
    const actual = outputsOf(expanded, feeds);
    for (const name of ["none", "mean", "sum"]) expectSameValues(actual[name] as Float64Array, expected[name] as Float64Array, 1e-14, name);
  },
};

describe("every composite computes what its definition computes (float64)", () => {
  it("has a case for every composite of the table", () => {
    expect(compositeNames.filter((op) => compositeCases[op] === undefined && lossChecks[op] === undefined)).toEqual([]);
  });

  for (const [op, check] of Object.entries(lossChecks)) it(`${op}: every option agrees with its definition`, () => check?.());

  for (const op of compositeNames) {
    const entry = compositeCases[op];
    if (entry === undefined) continue;
    it(`${op}: special values (±0, ±inf, NaN, huge, tiny) agree, NaN for NaN`, () => {
      const graph = graphOf({ y: entry.build(C.input("x", entry.shape, "f64")) });
      const expanded = right(decompose(new Set())(graph));
      expect(opsOf(expanded)).not.toContain(op);
      const feeds = { x: f64(entry.shape, entry.specials) };
      expectSameValues(outputsOf(expanded, feeds)["y"] as Float64Array, outputsOf(graph, feeds)["y"] as Float64Array, 1e-15, op);
    });
    it(`${op}: random inputs agree`, () => {
      fc.assert(
        fc.property(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: entry.specials.length, maxLength: entry.specials.length }), (data) => {
          const graph = graphOf({ y: entry.build(C.input("x", entry.shape, "f64")) });
          const feeds = { x: f64(entry.shape, data) };
          expectSameValues(outputsOf(right(decompose(new Set())(graph)), feeds)["y"] as Float64Array, outputsOf(graph, feeds)["y"] as Float64Array, 1e-14, op);
        }),
        { seed: 11, numRuns: 30 },
      );
    });
  }

  it("logsumexp over several dims, keepdim or not, agrees with its definition", () => {
    const x = C.input("x", [2, 3, 4], "f64");
    const graph = graphOf({ a: C.logsumexp(x, [0, 2]), b: C.logsumexp(x, [1, 2], true), c: C.logsumexp(x, 1) });
    const feeds = { x: f64([2, 3, 4], Array.from({ length: 24 }, (_, i) => ((i * 37) % 11) - 5 + (i === 7 ? -Infinity : 0))) };
    const expected = outputsOf(graph, feeds);
    const actual = outputsOf(right(decompose(new Set())(graph)), feeds);
    for (const name of ["a", "b", "c"]) expectSameValues(actual[name] as Float64Array, expected[name] as Float64Array, 1e-15, name);
  });
});

// ----- the pass ---------------------------------------------------------------------------------------

describe("the decompose pass", () => {
  it("returns a graph with nothing to expand as it is (the same object)", () => {
    const x = C.input("x", ["batch", 4]);
    const graph = graphOf({ s: C.softmax(C.relu(x), 1) }, C.logsumexp(C.sum(x, 1), 0));
    expect(decompose(loweredComposites)(graph)).toEqual(E.right(graph));
    expect(right(decompose(loweredComposites)(graph))).toBe(graph);
  });

  it("expands composites the back end does not fuse into primitives, at the composite's source line", () => {
    const x = C.input("x", ["batch", 4]);
    const y = C.gelu(x); const line = new Error().stack?.split("\n")[1]?.match(/:(\d+):\d+\)?$/)?.[1];
    const graph = graphOf({ y, s: C.softmax(y, 1) });
    const expanded = right(decompose(loweredComposites)(graph));
    expect(opsOf(expanded)).toEqual(["input", "constant", "mul", "constant", "constant", "mul", "erf", "add", "mul", "softmax"]);
    const erfNode = expanded.nodes.find((node) => node.op === "erf");
    expect(erfNode?.loc === undefined ? "" : formatLoc(erfNode.loc)).toMatch(new RegExp(`decompose\\.test\\.ts:${line ?? "?"}:\\d+$`));
    expect(expanded.outputs.map((o) => o.name)).toEqual(["y", "s"]);
  });

  it("expands fused composites too for a back end that fuses none (softmax = exp(x − max) / Σ)", () => {
    const graph = graphOf({ s: C.softmax(C.input("x", [2, 3]), 1) });
    expect(opsOf(right(decompose(new Set())(graph)))).toEqual(["input", "max", "sub", "exp", "sum", "div"]);
  });

  it("keeps the loss and its name", () => {
    const x = C.input("x", [3]);
    const expanded = right(decompose(new Set())(graphOf({ out: C.silu(x) }, C.sum(C.softplus(x)))));
    expect(expanded.loss).toBeDefined();
    expect(expanded.outputs.map((o) => o.name)).toEqual(["out", "loss"]);
    expect(opsOf(expanded).filter((op) => C.isComposite(op))).toEqual([]);
  });

  it("declares the fused composites of each back end: the lowering's for JS and WASM, every composite for the reference", () => {
    expect([...loweredComposites].sort()).toEqual(["attention_softmax", "batch_norm", "batch_norm_backward_stats", "batch_norm_stats", "binary_cross_entropy_with_logits", "cross_entropy", "layer_norm", "layer_norm_backward", "log_softmax", "logsumexp", "softmax", "softmax_backward"]);
    expect(fusedComposites.js).toBe(loweredComposites);
    expect(fusedComposites.wasm).toBe(loweredComposites);
    expect([...fusedComposites.reference].sort()).toEqual([...allComposites].sort());
    expect([...allComposites]).toContain("gelu");
  });

  it("a definition that builds the wrong type is an internal error naming the op and both types", () => {
    const wrong: DefinitionLookup = <K extends OpName>(op: K) => (op === "silu" ? ((([x]: readonly Tensor[]) => C.sum(x as Tensor)) as unknown as C.Decompose<K>) : C.rowOf(op).decompose);
    const graph = graphOf({ y: C.silu(C.input("x", [2, 3])) });
    const result = decomposeWith(wrong)(new Set())(graph);
    expect(E.isLeft(result) ? result.left.map((d) => d.message) : []).toEqual(["decompose: the definition of silu built f32[] for a node of type f32[2,3]"]);
  });

  it("a definition that uses itself is reported after 16 expansions", () => {
    const selfish: DefinitionLookup = <K extends OpName>(op: K) => (op === "silu" ? ((([x]: readonly Tensor[]) => C.silu(x as Tensor)) as unknown as C.Decompose<K>) : C.rowOf(op).decompose);
    const result = decomposeWith(selfish)(new Set())(graphOf({ y: C.silu(C.input("x", [2])) }));
    expect(E.isLeft(result) ? result.left.map((d) => d.message) : []).toEqual(["decompose: silu still composite after 16 expansions (a definition that uses itself?)"]);
  });
});

describe("decompose in the pipeline", () => {
  it("runs right after fuse and before grad", () => {
    const names = pipeline.map((pass) => pass.name);
    expect(names.indexOf("decompose")).toBe(names.indexOf("fuse") + 1);
    expect(names.indexOf("grad")).toBeGreaterThan(names.indexOf("decompose"));
  });

  it("`--after decompose` gives the graph the JS/WASM back ends see; fuse has already made cross_entropy, which stays", () => {
    const x = C.input("x", ["batch", 4]);
    const y = C.input("y", ["batch"], "i32");
    const logits = C.matmul(C.elu(x), C.param("W", [4, 3], C.zeros));
    const graph = graphOf({ logits }, C.nllLoss(C.logSoftmax(logits, 1), y));
    const result = right(runPipeline(graph, pipeline, { until: "decompose" }));
    const printed = printGraph(result.graph);
    expect(printed).toContain("cross_entropy[dim=1]");
    expect(printed).not.toContain("elu");
    expect(printed).toContain("tanh");
  });
});

// ----- gradients of composites ------------------------------------------------------------------------

describe("grad through composites", () => {
  it("keeps the composite in the forward graph and builds its backward from the definition", () => {
    const w = C.param("w", [3], C.zeros, "f64");
    const graph = graphOf({}, C.sum(C.gelu(w)));
    const differentiated = right(grad(graph));
    expect(opsOf(differentiated)).toContain("gelu");
    // d gelu = ½(1 + erf(x/√2)) + x·φ(x): the erf of the definition and the exp of erf's rule
    expect(opsOf(differentiated)).toContain("erf");
    expect(opsOf(differentiated)).toContain("exp");
  });

  it("gives the same gradient before and after decompose", () => {
    const w = C.param("w", [5], C.zeros, "f64");
    const loss = C.sum(C.mul(C.elu(C.softplus(w, { beta: 2 })), C.silu(C.hardtanh(w, -0.5, 0.5))));
    const graph = graphOf({}, loss);
    const params = { w: f64([5], [-1.3, -0.3, 0.1, 0.45, 2]) };
    const direct = right(evaluateGraph(right(grad(graph)), {}, params));
    const viaPass = right(evaluateGraph(right(grad(right(decompose(new Set())(graph)))), {}, params));
    const pick = (g: Graph, values: NDArray[]) => (values[g.outputs.find((o) => o.name === "grad:w")?.id ?? -1] as NDArray).data;
    expectSameValues(pick(right(grad(graph)), direct), pick(right(grad(right(decompose(new Set())(graph)))), viaPass), 1e-14, "grad:w");
  });

  it("hardtanh passes no gradient at its bounds, clamp does (PyTorch)", () => {
    const w = C.param("w", [4], C.zeros, "f64");
    const params = { w: f64([4], [-1, 1, 0, 2]) };
    const gradOf = (build: (t: Tensor) => Tensor): number[] => {
      const g = right(grad(graphOf({}, C.sum(build(w)))));
      const values = right(evaluateGraph(g, {}, params));
      return Array.from((values[g.outputs.find((o) => o.name === "grad:w")?.id ?? -1] as NDArray).data);
    };
    expect(gradOf((t) => C.hardtanh(t))).toEqual([0, 0, 1, 0]);
    expect(gradOf((t) => C.clamp(t, { min: -1, max: 1 }))).toEqual([1, 1, 1, 0]);
    expect(gradOf((t) => C.leakyRelu(t, 0.1))).toEqual([0.1, 1, 0.1, 1]);
    gradOf((t) => C.elu(t, 0.5)).forEach((g, i) => expect(g).toBeCloseTo([0.5 * Math.exp(-1), 1, 0.5, 1][i] as number, 15));
  });
});

// ----- lowering ---------------------------------------------------------------------------------------

describe("lowering: op sets from OpDef.kind, one map kernel per activation", () => {
  it("derives the unary, binary, elementwise and view sets from the table", () => {
    expect([...UNARY_OPS].sort()).toEqual(["abs", "erf", "exp", "log", "log_sigmoid", "neg", "relu", "sigmoid", "sign", "sqrt", "tanh"]);
    expect([...BINARY_OPS].sort()).toEqual(["add", "div", "eq", "ge", "gt", "le", "lt", "maximum", "minimum", "mul", "ne", "pow", "sub"]);
    expect([...ELEMENTWISE].sort()).toEqual([...UNARY_OPS, ...BINARY_OPS, "cast", "where", "one_hot", "pad", "flip", "embedding", "arange", "random_uniform"].sort());
    expect([...VIEW_OPS].sort()).toEqual(["expand", "reshape", "slice", "transpose"]);
    for (const op of ELEMENTWISE) expect(C.isComposite(op), op).toBe(false);
  });

  const activations: Record<string, (x: Tensor) => Tensor> = {
    erf: C.erf,
    gelu: C.gelu,
    geluTanh: (x) => C.gelu(x, { approximate: "tanh" }),
    silu: C.silu,
    softplus: C.softplus,
    leakyRelu: C.leakyRelu,
    elu: C.elu,
    hardtanh: C.hardtanh,
    clamp: (x) => C.clamp(x, { min: 0, max: 6 }),
  };
  for (const [name, f] of Object.entries(activations))
    it(`${name} of a matmul output is one map kernel after the matmul`, () => {
      const x = C.input("x", ["batch", 8]);
      const graph = graphOf({ y: f(C.matmul(x, C.param("W", [8, 4], C.zeros))) });
      const lowered = right(lowerGraph(graph, new Map([["batch", 32]])));
      expect(lowered.kernels.map((k) => k.kind)).toEqual(["matmul", "map"]);
    });
});

describe("data movement compiles to views and index maps inside map kernels", () => {
  const kinds = (outputs: Record<string, Tensor>): string[] => right(lowerGraph(graphOf(outputs), new Map([["batch", 4]]))).kernels.map((k) => k.kind);
  it("concat of three computed inputs, padded, flipped, sliced and masked is one map kernel", () => {
    const x = C.input("x", ["batch", 3, 4]);
    const joined = C.concat([C.exp(x), C.slice(x, 2, 1, 3), C.tanh(x)], 2);
    expect(kinds({ y: C.tril(C.flip(C.pad(joined, [1, 1, 2, 0], { mode: "reflect" }), [1]), 1) })).toEqual(["map"]);
  });
  it("a slice is a view: its consumer reads it in place, no copy", () => {
    const x = C.input("x", ["batch", 8]);
    expect(kinds({ y: C.mul(C.slice(x, 1, 1, 7, 2), 2) })).toEqual(["map"]);
  });
  it("an embedding lookup fuses into its consumer; its gradient is one scatter-add", () => {
    const ids = C.input("ids", ["batch", 5], "i32");
    expect(kinds({ y: C.relu(C.embedding(ids, C.param("w", [10, 3]))) })).toEqual(["map"]);
    expect(kinds({ g: C.embeddingBackward(ids, C.input("d", ["batch", 5, 3]), 10) })).toEqual(["map", "gather"]);
  });
});

// ----- a back end that fuses nothing ------------------------------------------------------------------

describe("compiled training graphs with composites", () => {
  const x = C.input("x", ["batch", 5]);
  const y = C.input("y", ["batch"], "i32");
  const h = C.dense(x, 5, 6, "fc1");
  // every activation on the hidden layer, summed into the next layer's input
  const act = [C.gelu(h), C.gelu(h, { approximate: "tanh" }), C.silu(h), C.softplus(h, { beta: 2, threshold: 1 }), C.leakyRelu(h, 0.1), C.elu(h, 0.7), C.hardtanh(h, -0.5, 0.5), C.clamp(h, { min: -0.3 }), C.erf(h)].reduce((a, b) => C.add(a, b));
  const logits = C.dense(act, 6, 3, "fc2");
  const loss = C.add(C.crossEntropy(logits, y, { labelSmoothing: 0.1, weight: C.constant([1, 2, 0.5]) }), C.mul(C.logsumexp(C.sum(C.softmax(logits, 1), 0), 0), 0.1));
  const graph = graphOf({ logits }, loss);
  const feeds = { x: randomArray([4, 5], 7, 4), y: { shape: [4], dtype: "i32" as const, data: Float64Array.from([0, 2, 1, 2]) } };
  const graphs = {
    // grad on a graph as written: it differentiates the composites through their definitions, the lowering expands the forward ones
    "composites differentiated by grad": right(grad(graph)),
    // a back end that fuses nothing: every composite, the softmax family and cross-entropy included, expanded before grad
    "primitives only (nothing fused)": right(grad(right(decompose(new Set())(graph)))),
  };

  it("the primitive-only graph has no composite left", () => {
    expect(graphs["primitives only (nothing fused)"].nodes.filter((node) => C.isComposite(node.op)).map((node) => node.op)).toEqual([]);
  });

  for (const [label, compiled] of Object.entries(graphs))
    it(`${label}: loss, logits and every gradient agree with the reference on JS and WASM`, async () => {
      for (const backend of [(await import("../src/backend/js/backend.js")).jsBackend, (await import("../src/backend/wasm/backend.js")).wasmBackend]) {
        const session = await backend.createSession({ functions: [{ name: "step", graph: compiled, updates: [] }] }, { seed: 3 });
        const params = Object.fromEntries(Object.entries(session.getState()).map(([name, v]) => [name, { shape: [...v.shape], dtype: v.dtype, data: Float64Array.from(v.data) }]));
        // the reference differentiates the graph as written, composites evaluated by their own rows
        const expected = C.run(right(grad(graph)), feeds, params, { precision: "f32" });
        const actual = session.run("step", hostFeeds(feeds));
        expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
        for (const [name, value] of Object.entries(expected)) {
          const got = actual[name]?.data ?? [];
          value.data.forEach((e, i) => expect(Math.abs((got[i] ?? Number.NaN) - e), `${backend.name} ${name}[${i}]: ${got[i]} vs ${e}`).toBeLessThanOrEqual(5e-5 * Math.max(1, Math.abs(e))));
        }
      }
    });
});

describe("graft print on composites", () => {
  const fixture = "packages/compiler/test/fixtures/cli/activations.ts";
  const graft = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = "";
    let err = "";
    const cwd = new URL("../../..", import.meta.url).pathname;
    const code = await main(argv, { io: { out: (text) => void (out += text), err: (text) => void (err += text), cwd } });
    return { code, out, err };
  };

  it("prints the composites as written, and their primitives with --after decompose", async () => {
    const written = await graft(["print", fixture]);
    expect(written.out).toContain("%6 = gelu[approximate=none] %5 : f32[batch,8]");
    expect(written.out).toContain("%7 = silu %6 : f32[batch,8]");
    const expanded = await graft(["print", "--after", "decompose", fixture]);
    expect(expanded.code).toBe(0);
    expect(expanded.out).toContain("%11 = erf %10 : f32[batch,8]");
    expect(expanded.out).toContain("%14 = sigmoid %13 : f32[batch,8]");
    expect(expanded.out).toContain("cross_entropy[dim=1]");
    expect(expanded.out).not.toMatch(/gelu|silu/);
  });

  it("--kernels shows gelu as one map kernel after its matmul (with bias epilogue)", async () => {
    const { code, out } = await graft(["print", "--kernels", "--batch", "2", fixture]);
    expect(code).toBe(0);
    expect(out).toContain("k0: matmul [2×4] @ [4×8]ᵀ epilogue(+bias)");
    expect(out).toContain("k1: map[2×8] mul·mul·erf·add·mul");
  });
});
