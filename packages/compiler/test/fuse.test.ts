/**
 * The fuse pass: each seed formulation of the softmax cross-entropy becomes one cross_entropy,
 * every sign/reduction variant the seeds use is recognised, nothing that is not exactly
 * equivalent is touched, and rewritten nodes keep the user's location.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import {
  buildGraph,
  formatDiagnostics,
  full,
  gather,
  graphFromTensors,
  input,
  log,
  logSoftmax,
  mean,
  mul,
  ndarray,
  neg,
  nllLoss,
  oneHot,
  pick,
  printGraph,
  reshape,
  run,
  scatterAdd,
  sigmoid,
  softmax,
  sum,
  unsqueeze,
  type Diagnostics,
  type Feeds,
  type Graph,
  type Model,
  type NDArray,
  type Tensor,
} from "@graft/core";
import { fuse, fuseGraph, type FuseRule } from "../src/passes/fuse.js";
import { pipeline } from "../src/passes/index.js";
import { xTrain, yTrain } from "../../../examples/seed-toy/data.js";
import modelCe from "../../../examples/seed-toy/model.js";
import modelNll from "../../../examples/seed-toy/model-nll.js";
import modelOneHot from "../../../examples/seed-toy/model-onehot.js";
import modelGather from "../../../examples/seed-toy/model-gather.js";
import modelLowLevel from "../../../examples/seed-toy/model-low-level.js";

const orThrow = <A>(result: E.Either<Diagnostics, A>): A => {
  if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
  return result.right;
};

const lossGraph = (loss: Tensor, outputs: Record<string, Tensor> = {}): Graph =>
  orThrow(graphFromTensors("t", Object.entries(outputs).map(([name, tensor]) => ({ name, tensor })), loss));

const opsOf = (graph: Graph): string[] => graph.nodes.map((node) => node.op);
const countOp = (graph: Graph, op: string): number => opsOf(graph).filter((o) => o === op).length;
/** Counts `= op[` / `= op ` occurrences in the printed IR. */
const countPrinted = (graph: Graph, op: string): number => printGraph(graph).split("\n").filter((line) => new RegExp(`= ${op}(\\[| )`).test(line)).length;

const valueOf = (graph: Graph, feeds: Feeds, params: Feeds = {}, name = "loss"): NDArray => {
  const value = run(graph, feeds, params)[name];
  if (value === undefined) throw new Error(`no output ${name}`);
  return value;
};

const expectClose = (actual: NDArray, expected: NDArray, rtol = 1e-12): void => {
  expect(actual.shape).toEqual(expected.shape);
  actual.data.forEach((a, i) => {
    const e = expected.data[i] as number;
    expect(Math.abs(a - e), `element ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(rtol * (1 + Math.abs(e)));
  });
};

// ----- the seed-toy model files ------------------------------------------------------------------

const seedFeeds: Feeds = {
  x: ndarray([8, 4], "f32", xTrain.flat()),
  y: ndarray([8], "i32", yTrain),
};
// non-zero params so that the formulations are told apart (at W = 0 every one gives log 3)
const seedParams: Feeds = {
  W: ndarray([4, 3], "f32", [0.3, -0.2, 0.1, -0.4, 0.25, 0.05, 0.2, -0.1, -0.3, 0.15, 0.35, -0.25]),
  b: ndarray([1], "f32", [0.1]),
};

const fusedModel = (m: Model): { readonly before: Graph; readonly after: Graph } => {
  const before = orThrow(buildGraph(m));
  return { before, after: orThrow(fuse(before)) };
};

describe("seed-toy model files after fuse", () => {
  const singleCrossEntropy: ReadonlyArray<readonly [string, Model, number]> = [
    ["model.ts", modelCe, 11],
    ["model-nll.ts", modelNll, 11],
    ["model-onehot.ts", modelOneHot, 14],
    ["model-gather.ts", modelGather, 13],
  ];

  test.each(singleCrossEntropy)("%s: exactly one cross_entropy, no softmax/log_softmax/log/nll_loss", (file, m, line) => {
    const { before, after } = fusedModel(m);
    expect(countPrinted(after, "cross_entropy")).toBe(1);
    for (const op of ["softmax", "log_softmax", "log", "nll_loss"]) expect(countPrinted(after, op), op).toBe(0);
    expect(countOp(after, "cross_entropy")).toBe(1);
    expect(opsOf(after).filter((op) => ["softmax", "log_softmax", "log", "nll_loss", "one_hot", "gather", "mul", "sum", "mean", "neg"].includes(op))).toEqual([]);
    // cross_entropy(z, y) with z the logits output and y the label input
    const ce = after.nodes.find((node) => node.op === "cross_entropy");
    const logits = after.outputs.find((o) => o.name === "logits");
    expect(ce?.inputs[0]).toBe(logits?.id);
    const target = after.nodes[ce?.inputs[1] ?? -1];
    expect(target?.op === "input" ? target.attrs.name : undefined).toBe("y");
    expect(printGraph(after)).toMatch(/= cross_entropy\[dim=1\] %\d+ %\d+ : f32\[\]$/m);
    // the fused node keeps the user's line (the loss expression in the model file)
    expect(ce?.loc?.file.endsWith(`examples/seed-toy/${file}`)).toBe(true);
    expect(ce?.loc?.line).toBe(line);
    // and computes the same loss
    expectClose(valueOf(after, seedFeeds, seedParams), valueOf(before, seedFeeds, seedParams), 1e-12);
  });

  test("all four formulations compute the same loss as F.cross_entropy", () => {
    const reference = valueOf(orThrow(buildGraph(modelCe)), seedFeeds, seedParams);
    for (const m of [modelNll, modelOneHot, modelGather]) expectClose(valueOf(orThrow(buildGraph(m)), seedFeeds, seedParams), reference, 1e-12);
    // at W = 0, b = 0 every formulation is log 3 = 1.098612, the first line of the seed's tables
    const zeros: Feeds = { W: ndarray([4, 3], "f32"), b: ndarray([1], "f32") };
    expect(valueOf(orThrow(buildGraph(modelCe)), seedFeeds, zeros).data[0]).toBeCloseTo(1.098612, 6);
  });

  test("model-low-level.ts: only the exact part fuses, into cross_entropy(softmax(z), y)", () => {
    const { before, after } = fusedModel(modelLowLevel);
    expect(countOp(after, "cross_entropy")).toBe(1);
    expect(countOp(after, "softmax")).toBe(1);
    expect(countOp(after, "log") + countOp(after, "log_softmax") + countOp(after, "nll_loss")).toBe(0);
    const ce = after.nodes.find((node) => node.op === "cross_entropy");
    const ceInput = after.nodes[ce?.inputs[0] ?? -1];
    expect(ceInput?.op).toBe("softmax");
    const logits = after.outputs.find((o) => o.name === "logits");
    expect(ceInput?.inputs[0]).toBe(logits?.id);
    expect(ce?.loc?.line).toBe(18);
    const fusedLoss = valueOf(after, seedFeeds, seedParams);
    expectClose(fusedLoss, valueOf(before, seedFeeds, seedParams), 1e-12);
    // a different function from F.cross_entropy(z, y): fusing it into cross_entropy(z, y) would be wrong
    const plain = valueOf(orThrow(buildGraph(modelCe)), seedFeeds, seedParams);
    expect(Math.abs((fusedLoss.data[0] ?? 0) - (plain.data[0] ?? 0))).toBeGreaterThan(1e-3);
  });

  test("fuse is registered in the pipeline", () => {
    const entry = pipeline.find((pass) => pass.name === "fuse");
    expect(entry?.run).toBe(fuse);
  });
});

// ----- the variants --------------------------------------------------------------------------------

const N = 5;
const C = 3;
const z = input("z", ["n", C], "f64");
const y = input("y", ["n"], "i32");
const p = softmax(z, 1);
const oh = oneHot(y, C, "f64");
const feeds: Feeds = {
  z: ndarray([N, C], "f64", [0.5, -1.2, 2.0, 3.1, 0.0, -0.7, -2.2, 1.4, 0.9, 0.3, 0.3, -4.0, 1.0, 2.0, 3.0]),
  y: ndarray([N], "i32", [2, 0, 1, 1, 0]),
};

interface Variant {
  readonly name: string;
  readonly loss: Tensor;
  readonly rule: FuseRule;
  /** The printed cross_entropy op expected after fusion. */
  readonly printed: string;
  readonly feeds?: Feeds;
}

const ceMean = "cross_entropy[dim=1]";
const ceSum = "cross_entropy[dim=1, reduction=sum]";

const z3 = input("z3", ["n", 2, C], "f64");
const y3 = input("y3", ["n", 2], "i32");
const zT = input("zT", [C, "n"], "f64");
const feeds3: Feeds = {
  z3: ndarray([N, 2, C], "f64", Array.from({ length: N * 2 * C }, (_, i) => Math.sin(i * 1.7) * 3)),
  y3: ndarray([N, 2], "i32", [0, 1, 2, 2, 1, 0, 0, 0, 2, 1]),
  zT: ndarray([C, N], "f64", Array.from({ length: C * N }, (_, i) => Math.cos(i * 0.9) * 2)),
  y: feeds.y as NDArray,
};

const variants: readonly Variant[] = [
  { name: "nll_loss(log_softmax(z), y)", loss: nllLoss(logSoftmax(z, 1), y), rule: "nll-to-cross-entropy", printed: ceMean },
  { name: "nll_loss(log(softmax(z)), y)", loss: nllLoss(log(p), y), rule: "nll-to-cross-entropy", printed: ceMean },
  { name: "mean(sum(oh * -log(p), 1))", loss: mean(sum(mul(oh, neg(log(p))), 1)), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "mean(sum(-log(p) * oh, 1))", loss: mean(sum(mul(neg(log(p)), oh), 1)), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "mean(sum(-(oh * log(p)), 1))", loss: mean(sum(neg(mul(oh, log(p))), 1)), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "mean(-sum(oh * log(p), 1))", loss: mean(neg(sum(mul(oh, log(p)), 1))), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "-mean(sum(oh * log(p), 1))", loss: neg(mean(sum(mul(oh, log(p)), 1))), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "mean(sum(-oh * log(p), 1))", loss: mean(sum(mul(neg(oh), log(p)), 1)), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "mean(sum(oh * (log(p) * -1), 1))", loss: mean(sum(mul(oh, mul(log(p), -1)), 1)), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "-(-(-mean(sum(oh * log(p), 1))))", loss: neg(neg(neg(mean(sum(mul(oh, log(p)), 1))))), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "mean(sum(oh * -log_softmax(z), 1))", loss: mean(sum(mul(oh, neg(logSoftmax(z, 1))), 1)), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "mean(sum(oh * -log(p), 1, keepdim))", loss: mean(sum(mul(oh, neg(log(p))), 1, true)), rule: "one-hot-to-cross-entropy", printed: ceMean },
  { name: "sum(sum(oh * -log(p), 1))", loss: sum(sum(mul(oh, neg(log(p))), 1)), rule: "one-hot-to-cross-entropy", printed: ceSum },
  { name: "sum(oh * -log(p))", loss: sum(mul(oh, neg(log(p)))), rule: "one-hot-to-cross-entropy", printed: ceSum },
  {
    name: "scatter_add one-hot (the seed's zeros_like(p).scatter_(1, y.unsqueeze(1), 1))",
    loss: mean(sum(mul(scatterAdd(["n", C], 1, unsqueeze(y, 1), full(["n", 1], 1, "f64")), neg(log(p))), 1)),
    rule: "one-hot-to-cross-entropy",
    printed: ceMean,
  },
  { name: "-mean(log(gather(p, 1, unsqueeze(y, 1))))", loss: neg(mean(log(gather(p, 1, unsqueeze(y, 1))))), rule: "gather-to-cross-entropy", printed: ceMean },
  { name: "-mean(log(pick(p, y)))", loss: neg(mean(log(pick(p, y)))), rule: "gather-to-cross-entropy", printed: ceMean },
  { name: "mean(-log(pick(p, y)))", loss: mean(neg(log(pick(p, y)))), rule: "gather-to-cross-entropy", printed: ceMean },
  { name: "mean(log(pick(p, y)) * -1)", loss: mean(mul(log(pick(p, y)), -1)), rule: "gather-to-cross-entropy", printed: ceMean },
  { name: "-sum(log(pick(p, y)))", loss: neg(sum(log(pick(p, y)))), rule: "gather-to-cross-entropy", printed: ceSum },
  { name: "-mean(pick(log_softmax(z), y))", loss: neg(mean(pick(logSoftmax(z, 1), y))), rule: "gather-to-cross-entropy", printed: ceMean },
  { name: "-mean(pick(log(p), y))", loss: neg(mean(pick(log(p), y))), rule: "gather-to-cross-entropy", printed: ceMean },
  {
    name: "class dim 0: -mean(log(pick(softmax(zT, 0), y, 0)))",
    loss: neg(mean(log(pick(softmax(zT, 0), y, 0)))),
    rule: "gather-to-cross-entropy",
    printed: "cross_entropy[dim=0]",
    feeds: feeds3,
  },
  {
    name: "rank 3, class dim 2: mean(sum(one_hot(y3) * -log(softmax(z3, 2)), 2))",
    loss: mean(sum(mul(oneHot(y3, C, "f64"), neg(log(softmax(z3, 2)))), 2)),
    rule: "one-hot-to-cross-entropy",
    printed: "cross_entropy[dim=2]",
    feeds: feeds3,
  },
  {
    name: "rank 3, class dim 1: nll_loss(log_softmax(z3ᵀ, 1), y3)",
    loss: nllLoss(logSoftmax(reshape(z3, ["n", C, 2]), 1), y3),
    rule: "nll-to-cross-entropy",
    printed: "cross_entropy[dim=1]",
    feeds: feeds3,
  },
];

describe("recognised variants fuse into one cross_entropy of the same value", () => {
  test.each(variants.map((v) => [v.name, v] as const))("%s", (_name, variant) => {
    const before = lossGraph(variant.loss);
    const result = orThrow(fuseGraph(before));
    const after = result.graph;
    expect(result.rewrites.map((r) => r.rule)).toEqual([variant.rule]);
    expect(countOp(after, "cross_entropy")).toBe(1);
    for (const op of ["softmax", "log_softmax", "log", "nll_loss", "one_hot", "scatter_add", "gather", "neg"]) expect(countOp(after, op), op).toBe(0);
    expect(printGraph(after)).toContain(`= ${variant.printed} `);
    const ce = after.nodes.find((node) => node.op === "cross_entropy");
    const root = before.nodes[before.loss ?? -1];
    expect(ce?.loc).toEqual(root?.loc);
    expect(ce?.loc?.file.endsWith("fuse.test.ts")).toBe(true);
    const f = variant.feeds ?? feeds;
    expectClose(valueOf(after, f), valueOf(before, f), 1e-12);
  });
});

describe("nll_loss options carry over exactly", () => {
  const w = input("w", [C], "f64");
  const weighted: Feeds = { ...feeds, w: ndarray([C], "f64", [0.5, 2, 1.25]) };
  const cases: ReadonlyArray<readonly [string, Tensor, string, Feeds]> = [
    ["reduction sum", nllLoss(logSoftmax(z, 1), y, { reduction: "sum" }), "cross_entropy[dim=1, reduction=sum]", feeds],
    ["reduction none", nllLoss(logSoftmax(z, 1), y, { reduction: "none" }), "cross_entropy[dim=1, reduction=none]", feeds],
    ["ignore_index", nllLoss(logSoftmax(z, 1), y, { ignoreIndex: 1 }), "cross_entropy[dim=1, ignore_index=1]", feeds],
    ["class weight", nllLoss(logSoftmax(z, 1), y, { weight: w }), "cross_entropy[dim=1, weighted]", weighted],
    ["weight + ignore + sum", nllLoss(log(p), y, { weight: w, ignoreIndex: 0, reduction: "sum" }), "cross_entropy[dim=1, reduction=sum, ignore_index=0, weighted]", weighted],
  ];
  test.each(cases)("%s", (_name, loss, printed, f) => {
    const before = orThrow(graphFromTensors("t", [{ name: "out", tensor: loss }], undefined));
    const after = orThrow(fuse(before));
    expect(printGraph(after)).toContain(`= ${printed} `);
    expect(countOp(after, "nll_loss") + countOp(after, "log_softmax")).toBe(0);
    expectClose(valueOf(after, f, {}, "out"), valueOf(before, f, {}, "out"), 1e-12);
  });
});

describe("log(softmax(x)) → log_softmax(x)", () => {
  test("rewritten with the log's location, the same values, and stable where log(softmax) is not", () => {
    const x = input("x", [2, 3], "f64");
    const ls = log(softmax(x, 1));
    const before = orThrow(graphFromTensors("t", [{ name: "out", tensor: ls }], undefined));
    const after = orThrow(fuse(before));
    expect(printGraph(after).split("\n").slice(1, -2)).toEqual(["  %0 = input[name=x] : f64[2,3]", "  %1 = log_softmax[dim=1] %0 : f64[2,3]"]);
    expect(after.nodes[1]?.loc).toEqual(ls.loc);
    const f: Feeds = { x: ndarray([2, 3], "f64", [1, 2, 3, 1e4, -1e4, 0]) };
    const fused = valueOf(after, f, {}, "out");
    const unfused = valueOf(before, f, {}, "out");
    expectClose(ndarray([3], "f64", fused.data.slice(0, 3)), ndarray([3], "f64", unfused.data.slice(0, 3)), 1e-14);
    // the unfused form underflows: log(0) = -inf for the -1e4 entry; the fused one is exact
    expect(unfused.data[4]).toBe(-Infinity);
    expect(Array.from(fused.data.slice(3))).toEqual([0, -2e4, -1e4]);
  });

  test("a softmax used elsewhere is kept for its other users", () => {
    const loss = nllLoss(log(p), y);
    const before = lossGraph(loss, { probs: p });
    const after = orThrow(fuse(before));
    expect(countOp(after, "softmax")).toBe(1);
    expect(countOp(after, "cross_entropy")).toBe(1);
    expect(countOp(after, "log")).toBe(0);
    expectClose(valueOf(after, feeds, {}, "probs"), valueOf(before, feeds, {}, "probs"), 0);
    expectClose(valueOf(after, feeds), valueOf(before, feeds), 1e-12);
  });
});

describe("not exactly equivalent: no cross_entropy", () => {
  const w = input("w", [C], "f64");
  const idx2 = input("idx2", ["n", 2], "i32");
  const sq = input("sq", [C, C], "f64");
  const rowIdx = input("rowIdx", [1, C], "i32");
  const y3x = input("y3x", [C], "i32");
  const extra: Feeds = { ...feeds, ...feeds3, idx2: ndarray([N, 2], "i32", [0, 1, 2, 2, 1, 0, 0, 0, 2, 1]), sq: ndarray([C, C], "f64", [1, 2, 3, 4, 5, 6, 7, 8, 9]), rowIdx: ndarray([1, C], "i32", [2, 0, 1]), y3x: ndarray([C], "i32", [1, 2, 2]), w: ndarray([C], "f64", [1, 2, 3]) };
  const cases: ReadonlyArray<readonly [string, Tensor, boolean]> = [
    // [name, loss, whether log(softmax) → log_softmax still fires inside]
    ["positive sign: mean(sum(oh * log(p), 1))", mean(sum(mul(oh, log(p)), 1)), true],
    ["two negations: mean(sum(-oh * -log(p), 1))", mean(sum(mul(neg(oh), neg(log(p))), 1)), true],
    ["mean over classes too: mean(oh * -log(p)) = CE / C", mean(mul(oh, neg(log(p)))), true],
    ["softmax over another dim than the one-hot", mean(sum(mul(oh, neg(log(softmax(z, 0)))), 1)), true],
    ["sum over the batch dim, not the classes", mean(sum(mul(oh, neg(log(p))), 0)), true],
    ["square logits, softmax over the rows, one sum over everything", sum(mul(oneHot(y3x, C, "f64"), neg(log(softmax(sq, 0))))), true],
    ["one_hot with 1 class broadcast over 3", mean(sum(mul(oneHot(y, 1, "f64"), neg(log(p))), 1)), true],
    ["scaled by -2", mean(sum(mul(oh, mul(log(p), -2)), 1)), true],
    ["class weights multiplied in", mean(sum(mul(mul(oh, w), neg(log(p))), 1)), true],
    ["log(sigmoid) instead of log(softmax)", mean(sum(mul(oh, neg(log(sigmoid(z)))), 1)), false],
    ["per-row only (no reduction over rows): -log(pick(p, y))", neg(log(pick(p, y))), false],
    ["partial mean over rank 3: mean over dim 0 only", mean(sum(mul(oneHot(y3, C, "f64"), neg(log(softmax(z3, 2)))), 2), 0), true],
    ["gather along another dim than the softmax", neg(mean(log(gather(softmax(sq, 1), 0, rowIdx)))), false],
    ["two picks per row", neg(mean(log(gather(p, 1, idx2)))), false],
    ["nll over another dim than the log_softmax", nllLoss(logSoftmax(reshape(z3, ["n", C, 2]), 2), y3), false],
    ["a shape op between softmax and log", neg(mean(log(reshape(p, ["n", 1, C])))), false],
  ];
  test.each(cases)("%s", (_name, loss, logSoftmaxInside) => {
    const before = orThrow(graphFromTensors("t", [{ name: "out", tensor: loss }], undefined));
    const result = orThrow(fuseGraph(before));
    const after = result.graph;
    expect(countOp(after, "cross_entropy")).toBe(0);
    expect(result.rewrites.map((r) => r.rule)).toEqual(logSoftmaxInside ? ["log-softmax"] : []);
    if (!logSoftmaxInside) expect(printGraph(after, { locations: true })).toBe(printGraph(before, { locations: true }));
    const f = Object.fromEntries(Object.entries(extra).filter(([name]) => before.nodes.some((n) => n.op === "input" && n.attrs.name === name)));
    expectClose(valueOf(after, f, {}, "out"), valueOf(before, f, {}, "out"), 1e-12);
  });
});

describe("the domain of the one-hot and gather rewrites: labels in [0, C)", () => {
  // Documented in fuse.ts: PyTorch's scatter_ / indexing raise outside [0, C); graft's one_hot
  // gives a zero row there, gather raises. The fused cross_entropy raises, except for −100.
  const run5 = (graph: Graph, labels: number[]): number | string => {
    try {
      return valueOf(graph, { z: feeds.z as NDArray, y: ndarray([N], "i32", labels) }).data[0] ?? Number.NaN;
    } catch (thrown) {
      return thrown instanceof Error ? thrown.message.replace(/^\S+ /, "") : String(thrown);
    }
  };
  const before = lossGraph(mean(sum(mul(oh, neg(log(p))), 1)));
  const after = orThrow(fuse(before));

  test("inside the domain the values agree", () => {
    const a = run5(after, [0, 1, 2, 0, 1]);
    const b = run5(before, [0, 1, 2, 0, 1]);
    expect(typeof a === "number" && typeof b === "number" && Math.abs(a - b) <= 1e-12 * (1 + Math.abs(b))).toBe(true);
  });

  test("a label of 5: the one-hot form silently drops the row, the fused form names it", () => {
    expect(typeof run5(before, [0, 1, 5, 0, 1])).toBe("number");
    expect(run5(after, [0, 1, 5, 0, 1])).toBe("cross_entropy: target at row 2 is 5, expected 0 ≤ target < 3 (or ignore_index -100)");
  });

  test("a label of −100: the one-hot form counts the row in the mean, the fused form ignores it", () => {
    const a = run5(after, [0, 1, -100, 0, 1]);
    const b = run5(before, [0, 1, -100, 0, 1]);
    expect(typeof a === "number" && typeof b === "number").toBe(true);
    // fused: mean over the 4 labelled rows; one-hot: the same sum over 5 rows
    expect((a as number) * 4).toBeCloseTo((b as number) * 5, 12);
  });
});

describe("purity", () => {
  test("the input graph is not mutated, and fuse is idempotent", () => {
    const before = lossGraph(mean(sum(mul(oh, neg(log(p))), 1)), { probs: p });
    const snapshot = printGraph(before, { locations: true });
    const nodes = before.nodes;
    const once = orThrow(fuse(before));
    expect(printGraph(before, { locations: true })).toBe(snapshot);
    expect(before.nodes).toBe(nodes);
    const twice = orThrow(fuse(once));
    expect(printGraph(twice, { locations: true })).toBe(printGraph(once, { locations: true }));
    expect(orThrow(fuseGraph(once)).rewrites).toEqual([]);
  });

  test("dead nodes are removed, live ones kept in topological order", () => {
    const before = lossGraph(neg(mean(log(pick(p, y)))), { logits: z });
    const after = orThrow(fuse(before));
    expect(opsOf(after)).toEqual(["input", "input", "cross_entropy"]);
    after.nodes.forEach((node, id) => {
      expect(node.id).toBe(id);
      for (const input of node.inputs) expect(input).toBeLessThan(id);
    });
    expect(after.loss).toBe(2);
    expect(after.outputs).toEqual([
      { name: "logits", id: 0 },
      { name: "loss", id: 2 },
    ]);
  });
});
