// Whole random graphs (chains of 3–8 ops with broadcasting) against finite differences, gradients
// of gradients (a Hessian-vector product), and `grad` composed after `fuse`.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import {
  add,
  buildGraph,
  crossEntropy,
  div,
  evaluateGraph,
  exp,
  flatten,
  graphFromTensors,
  input,
  log,
  logSoftmax,
  logsumexp,
  matmul,
  max,
  mean,
  model,
  mul,
  mulberry32,
  nllLoss,
  param,
  printGraph,
  softmax,
  sqrt,
  sub,
  sum,
  tanh,
  sigmoid,
  tensorsOf,
  transpose,
  unsqueeze,
  where,
  zeros,
  type Dtype,
  type Graph,
  type NDArray,
  type Tensor,
} from "@graft/core";
import { fuse } from "../src/passes/fuse.js";
import { grad, gradOutputName } from "../src/passes/grad.js";
import { pipeline } from "../src/passes/index.js";
import { checkGradients, formatGradientReport } from "../src/testing/gradients.js";

const right = <A>(result: E.Either<readonly { readonly message: string }[], A>): A => {
  if (E.isLeft(result)) throw new Error(result.left.map((d) => d.message).join("\n"));
  return result.right;
};

// ----- random chains ------------------------------------------------------------------------------------

type Step = { readonly kind: string; readonly a: number; readonly b: number; readonly c: boolean };
const KINDS = ["tanh", "sigmoid", "exp_tanh", "log1p_sq", "sqrt1p_sq", "add", "sub", "mul", "div", "sum", "mean", "logsumexp", "max", "softmax", "log_softmax", "transpose", "flatten", "unsqueeze", "matmul", "where"] as const;

/**
 * Builds a chain from a start shape and steps, creating extra inputs with broadcast-compatible
 * shapes as it goes, and the feeds for them from `seed`.
 */
const buildChain = (start: readonly number[], steps: readonly Step[], ending: "project" | "cross_entropy", seed: number) => {
  const random = mulberry32(seed);
  const feeds: Record<string, NDArray> = {};
  const fresh = (name: string, shape: readonly number[], dtype: Dtype = "f64"): Tensor => {
    const n = shape.reduce((p, d) => p * d, 1);
    const data = Float64Array.from({ length: n }, () => (dtype === "bool" ? (random() < 0.5 ? 1 : 0) : -1.5 + 3 * random()));
    feeds[name] = { shape: [...shape], dtype, data };
    return input(name, shape, dtype);
  };
  let cur = fresh("x0", start);
  let used = 0;
  const dimOf = (k: number): number => k % Math.max(cur.rank, 1);
  for (const [i, step] of steps.entries()) {
    const shape = cur.shape as readonly number[];
    const broadcastable = (): number[] => shape.map((d, axis) => ((step.a >> axis) & 1 ? 1 : d)).slice(step.b % (shape.length + 1));
    switch (step.kind) {
      case "tanh":
        cur = tanh(cur);
        break;
      case "sigmoid":
        cur = sigmoid(cur);
        break;
      case "exp_tanh":
        cur = exp(tanh(cur));
        break;
      case "log1p_sq":
        cur = log(add(mul(cur, cur), 1));
        break;
      case "sqrt1p_sq":
        cur = sqrt(add(mul(cur, cur), 1));
        break;
      case "add":
      case "sub":
      case "mul": {
        const other = fresh(`e${i}`, step.c && shape.length < 3 ? [2, ...shape] : broadcastable());
        const f = step.kind === "add" ? add : step.kind === "sub" ? sub : mul;
        cur = step.c ? f(other, cur) : f(cur, other);
        break;
      }
      case "div": {
        const other = fresh(`e${i}`, broadcastable());
        cur = div(cur, add(mul(other, other), 1));
        break;
      }
      case "sum":
      case "mean":
      case "logsumexp":
      case "max":
        if (cur.rank === 0) continue;
        cur = (step.kind === "sum" ? sum : step.kind === "mean" ? mean : step.kind === "logsumexp" ? logsumexp : max)(cur, dimOf(step.a), step.c);
        break;
      case "softmax":
      case "log_softmax":
        if (cur.rank === 0) continue;
        cur = (step.kind === "softmax" ? softmax : logSoftmax)(cur, dimOf(step.a));
        break;
      case "transpose":
        if (cur.rank < 2) continue;
        cur = transpose(cur, dimOf(step.a), dimOf(step.b));
        break;
      case "flatten":
        cur = flatten(cur);
        break;
      case "unsqueeze":
        if (cur.rank >= 3) continue;
        cur = unsqueeze(cur, step.a % (cur.rank + 1));
        break;
      case "matmul": {
        if (cur.rank === 0) continue;
        const inner = shape[shape.length - 1] ?? 1;
        cur = matmul(cur, fresh(`w${i}`, [inner, 1 + (step.b % 3)]));
        break;
      }
      case "where":
        cur = where(fresh(`m${i}`, shape, "bool"), cur, mul(cur, 2));
        break;
    }
    used++;
  }
  if (ending === "cross_entropy" && cur.rank === 2) {
    const rows = cur.shape[0] as number;
    const classes = cur.shape[1] as number;
    feeds.y = { shape: [rows], dtype: "i32", data: Float64Array.from({ length: rows }, () => Math.floor(random() * classes)) };
    cur = crossEntropy(cur, input("y", [rows], "i32"));
  }
  return { out: cur, feeds, used };
};

describe("random graphs: chains of 3–8 ops with broadcasting vs finite differences", () => {
  const stepArb = fc.record({ kind: fc.constantFrom(...KINDS), a: fc.integer({ min: 0, max: 7 }), b: fc.integer({ min: 0, max: 7 }), c: fc.boolean() });
  it("every input's gradient matches", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 }),
        fc.array(stepArb, { minLength: 3, maxLength: 8 }),
        fc.constantFrom<"project" | "cross_entropy">("project", "cross_entropy"),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (start, steps, ending, seed) => {
          const chain = buildChain(start, steps, ending, seed);
          fc.pre(chain.used >= 3);
          const report = checkGradients(() => chain.out, { feeds: chain.feeds, tolerance: 1e-6, wrt: Object.keys(chain.feeds).filter((name) => chain.feeds[name]?.dtype === "f64") });
          if (!report.ok) throw new Error(`${steps.map((s) => s.kind).join(" → ")}\n${formatGradientReport(report)}`);
        },
      ),
      { seed: 20240611, numRuns: 100 },
    );
  });
});

// ----- Hessian-vector products ------------------------------------------------------------------------------

/** A smooth model whose gradient graph is itself differentiable (log_softmax + nll, tanh, broadcasting). */
const smoothModel = () => {
  const x = input("x", [4, 3], "f64");
  const y = input("y", [4], "i32");
  const W = param("W", [3, 2], zeros, "f64");
  const b = param("b", [2], zeros, "f64");
  const z = add(matmul(x, W), b);
  return model({ name: "smooth", outputs: {}, loss: add(nllLoss(logSoftmax(z, 1), y), mean(mul(tanh(z), z))) });
};

const feedsFor = () => ({
  x: { shape: [4, 3], dtype: "f64" as const, data: Float64Array.from([0.5, -1, 2, 1.5, 0.3, -0.7, -1.2, 0.8, 0.1, 0.9, -0.4, 1.1]) },
  y: { shape: [4], dtype: "i32" as const, data: Float64Array.from([1, 0, 1, 1]) },
});

/** The HVP graph: loss₂ = Σ grad:W ⊙ v, differentiated again w.r.t. W. */
const hvpGraph = (gradGraph: Graph): E.Either<readonly { readonly message: string }[], Graph> => {
  const tensors = tensorsOf(gradGraph);
  const gradW = tensors[gradGraph.outputs.find((o) => o.name === gradOutputName("W"))?.id ?? -1];
  if (gradW === undefined) throw new Error("no grad:W");
  const v = input("v", [3, 2], "f64");
  return E.chain((g: Graph) => grad(g, { wrt: ["W"] }))(graphFromTensors("hvp", [], sum(mul(gradW, v))));
};

describe("gradients of gradients", () => {
  it("a Hessian-vector product matches finite differences of the gradient", () => {
    const g1 = right(grad(right(buildGraph(smoothModel()))));
    const hvp = right(hvpGraph(g1));
    const W = Float64Array.from([0.2, -0.5, 0.7, 0.1, -0.3, 0.4]);
    const b = Float64Array.from([0.05, -0.1]);
    const v = Float64Array.from([1, -2, 0.5, 0.25, -1, 3]);
    const params = (w: Float64Array) => ({ W: { shape: [3, 2], dtype: "f64" as const, data: w }, b: { shape: [2], dtype: "f64" as const, data: b } });
    const gradAt = (w: Float64Array): Float64Array => {
      const values = right(evaluateGraph(g1, feedsFor(), params(w)));
      return values[g1.outputs.find((o) => o.name === "grad:W")?.id ?? -1]?.data ?? new Float64Array();
    };
    const eps = 1e-6;
    const plus = gradAt(W.map((w, i) => w + eps * (v[i] ?? 0)));
    const minus = gradAt(W.map((w, i) => w - eps * (v[i] ?? 0)));
    const numeric = plus.map((p, i) => (p - (minus[i] ?? 0)) / (2 * eps));
    const values = right(evaluateGraph(hvp, { ...feedsFor(), v: { shape: [3, 2], dtype: "f64", data: v } }, params(W)));
    const analytic = values[hvp.outputs.find((o) => o.name === "grad:W")?.id ?? -1]?.data ?? new Float64Array();
    expect(analytic.length).toBe(6);
    analytic.forEach((a, i) => expect(a).toBeCloseTo(numeric[i] ?? Number.NaN, 6));
    // not trivially zero: the loss is not linear in W
    expect(Math.max(...analytic.map(Math.abs))).toBeGreaterThan(0.01);
  });

  it("a Hessian-vector product through the fused cross_entropy matches finite differences and nll_loss(log_softmax)'s (issue 14)", () => {
    const x = input("x", [4, 3], "f64");
    const y = input("y", [4], "i32");
    const W = param("W", [3, 2], zeros, "f64");
    const fused = right(hvpGraph(right(grad(right(buildGraph(model({ outputs: {}, loss: crossEntropy(matmul(x, W), y) })))))));
    const g1 = right(grad(right(buildGraph(model({ outputs: {}, loss: nllLoss(logSoftmax(matmul(x, W), 1), y) })))));
    const unfused = right(hvpGraph(g1));
    expect(fused.nodes.some((node) => node.op === "cross_entropy_backward")).toBe(true);
    const w = Float64Array.from([0.2, -0.5, 0.7, 0.1, -0.3, 0.4]);
    const v = Float64Array.from([1, -2, 0.5, 0.25, -1, 3]);
    const params = (data: Float64Array) => ({ W: { shape: [3, 2], dtype: "f64" as const, data } });
    const outputOf = (graph: Graph, name: string, feeds: Parameters<typeof evaluateGraph>[1], data: Float64Array): Float64Array =>
      right(evaluateGraph(graph, feeds, params(data)))[graph.outputs.find((o) => o.name === name)?.id ?? -1]?.data ?? new Float64Array();
    const withV = { ...feedsFor(), v: { shape: [3, 2], dtype: "f64" as const, data: v } };
    const analytic = outputOf(fused, "grad:W", withV, w);
    const eps = 1e-6;
    const plus = outputOf(g1, "grad:W", feedsFor(), w.map((value, i) => value + eps * (v[i] ?? 0)));
    const minus = outputOf(g1, "grad:W", feedsFor(), w.map((value, i) => value - eps * (v[i] ?? 0)));
    expect(analytic.length).toBe(6);
    analytic.forEach((a, i) => expect(a, `[${i}] vs finite differences`).toBeCloseTo(((plus[i] ?? 0) - (minus[i] ?? 0)) / (2 * eps), 6));
    const reference = outputOf(unfused, "grad:W", withV, w);
    analytic.forEach((a, i) => expect(a, `[${i}] vs nll_loss(log_softmax)`).toBeCloseTo(reference[i] ?? Number.NaN, 12));
    expect(Math.max(...analytic.map(Math.abs))).toBeGreaterThan(0.01);
  });
});

describe("grad composes with the pipeline", () => {
  it("is registered after fuse", () => {
    const names = pipeline.map((p) => p.name);
    expect(names).toContain("grad");
    const fuseAt = names.indexOf("fuse");
    if (fuseAt >= 0) expect(names.indexOf("grad")).toBeGreaterThan(fuseAt);
  });

  it("differentiates the fused graph of the seed's low-level loss, and agrees with the unfused gradient", () => {
    const x = input("x", [4, 3], "f64");
    const W = param("W", [3, 3], zeros, "f64");
    const z = matmul(x, W);
    const m = model({ outputs: { z }, loss: mean(sum(mul(input("t", [4, 3], "f64"), sub(0, log(softmax(z, 1)))), 1)) });
    const graph = right(buildGraph(m));
    const fused = right(fuse(graph));
    expect(printGraph(fused)).toContain("log_softmax");
    const params = { W: { shape: [3, 3], dtype: "f64" as const, data: Float64Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, -0.7, 0.8, 0.9]) } };
    const feeds = { x: feedsFor().x, t: { shape: [4, 3], dtype: "f64" as const, data: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]) } };
    const gradient = (g: Graph) => {
      const d = right(grad(g));
      const values = right(evaluateGraph(d, feeds, params));
      return Array.from(values[d.outputs.find((o) => o.name === "grad:W")?.id ?? -1]?.data ?? []);
    };
    const unfused = gradient(graph);
    const viaFuse = gradient(fused);
    expect(unfused.length).toBe(9);
    viaFuse.forEach((v, i) => expect(v).toBeCloseTo(unfused[i] ?? Number.NaN, 12));
    const report = checkGradients(fused, { feeds, params });
    expect(report.ok, formatGradientReport(report)).toBe(true);
  });
});
