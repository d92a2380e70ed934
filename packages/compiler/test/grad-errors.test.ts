// Bad input to `grad` and `checkGradients`: clear diagnostics (with the user's location), never a crash.
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import {
  add,
  argmax,
  buildGraph,
  cast,
  crossEntropy,
  evaluateGraph,
  formatDiagnostic,
  formatDiagnostics,
  full,
  GraftError,
  input,
  isModel,
  matmul,
  mean,
  model,
  mul,
  nllLoss,
  param,
  printGraph,
  relu,
  softmax,
  sum,
  tanh,
  rowOf,
  zeros,
  type Diagnostics,
  type Gradient,
  type Tensor,
  type OpName,
  type VjpRule,
  type Graph,
  type Model,
} from "@graft/core";
import { grad, gradientNames, gradWith, type GradientLookup } from "../src/passes/grad.js";
import { checkGradients, expectGradientsMatch, formatGradientReport } from "../src/testing/gradients.js";

const built = (m: Model): Graph => {
  const graph = buildGraph(m);
  if (E.isLeft(graph)) throw new Error(formatDiagnostics(graph.left));
  return graph.right;
};

const messages = (result: E.Either<Diagnostics, Graph>): string[] => (E.isLeft(result) ? result.left.map(formatDiagnostic) : ["<no error>"]);

const linear = () => {
  const x = input("x", ["batch", 3], "f64");
  const y = input("y", ["batch"], "i32");
  const W = param("W", [3, 2], zeros, "f64");
  const z = matmul(x, W);
  return { x, y, W, z, m: model({ name: "lin", outputs: { z }, loss: crossEntropy(z, y) }) };
};

describe("grad: diagnostics", () => {
  it("refuses a graph without a loss", () => {
    const { z } = linear();
    expect(messages(grad(built(model({ name: "noloss", outputs: { z } }))))).toEqual([
      "grad: graph noloss has no loss to differentiate (declare one: model({ outputs, loss }))",
    ]);
  });

  it("refuses a non-scalar loss, at the loss's location", () => {
    const graph = built(linear().m);
    const z = graph.outputs.find((o) => o.name === "z")?.id;
    const [message] = messages(grad({ ...graph, loss: z }));
    expect(message).toMatch(/^packages\/compiler\/test\/grad-errors\.test\.ts:\d+:\d+ grad: the loss must be a float scalar, got f64\[batch,2\] \(reduce it first, e\.g\. mean\(\.\.\.\) or sum\(\.\.\.\)\)$/);
  });

  it("refuses a loss node that does not exist", () => {
    expect(messages(grad({ ...built(linear().m), loss: 99 }))).toEqual(["grad: graph lin names loss node %99, which does not exist"]);
  });

  it("refuses a gradient with respect to an integer input, at the input's location", () => {
    const [message] = messages(grad(built(linear().m), { inputs: ["y"] }));
    expect(message).toMatch(/grad-errors\.test\.ts:\d+:\d+ grad: cannot differentiate with respect to integer input 'y' \(i32\[batch\]\): gradients exist only for float inputs$/);
  });

  it("refuses an integer param", () => {
    const k = param("k", [2], zeros, "i32");
    const w = param("w", [2], zeros, "f64");
    const graph = built(model({ outputs: {}, loss: sum(mul(cast(k, "f64"), w)) }));
    expect(messages(grad(graph, { wrt: ["k"] }))[0]).toMatch(/grad: cannot differentiate with respect to param 'k' of type i32\[2\]: only float params have gradients$/);
  });

  it("refuses unknown names, listing the ones that exist", () => {
    expect(messages(grad(built(linear().m), { wrt: ["V"], inputs: ["q"] }))).toEqual([
      "grad: the graph has no param named 'V' (params: W)",
      "grad: the graph has no input named 'q' (inputs: x, y)",
    ]);
    const bare = built(model({ outputs: {}, loss: mean(full([2], 1, "f64")) }));
    expect(messages(grad(bare, { wrt: ["V"], inputs: ["q"] }))).toEqual(["grad: the graph has no param named 'V' (params: none)", "grad: the graph has no input named 'q' (inputs: none)"]);
  });

  it("refuses a name that is both a param and an input", () => {
    const p = param("x", [2], zeros, "f64");
    const i = input("x", [2], "f64");
    const graph = built(model({ outputs: {}, loss: sum(mul(p, i)) }));
    expect(messages(grad(graph, { wrt: ["x"], inputs: ["x"] }))[0]).toMatch(/grad: 'x' names both a param and an input; the output grad:x would be ambiguous$/);
  });

  it("refuses to overwrite existing gradient outputs", () => {
    const once = grad(built(linear().m));
    if (E.isLeft(once)) throw new Error("first grad failed");
    expect(messages(grad(once.right))).toEqual([
      "grad: graph lin already has an output named 'grad:W' (differentiate a graph without gradient outputs, or rename that output)",
    ]);
  });

  it("names argmax and its location when a param reaches the loss only through it", () => {
    const { x, W } = linear();
    const graph = built(model({ outputs: {}, loss: mean(cast(argmax(matmul(x, W), 1), "f64")) }));
    const [message] = messages(grad(graph));
    expect(message).toMatch(
      /^packages\/compiler\/test\/grad-errors\.test\.ts:\d+:\d+ grad: param 'W' reaches the loss only through argmax at packages\/compiler\/test\/grad-errors\.test\.ts:\d+:\d+, which has no gradient \(argmax is piecewise constant: it has no gradient\), so its gradient is undefined$/,
    );
  });

  it("names a cast to an integer type as the cut", () => {
    const w = param("w", [3], zeros, "f64");
    const graph = built(model({ outputs: {}, loss: sum(cast(cast(w, "i32"), "f64")) }));
    expect(messages(grad(graph))[0]).toMatch(/reaches the loss only through cast at .*grad-errors\.test\.ts:\d+:\d+, which has no gradient \(its output is i32, which carries no gradient\)/);
  });

  it("names every cut when there are several", () => {
    const w = param("w", [3], zeros, "f64");
    const graph = built(model({ outputs: {}, loss: add(sum(cast(cast(w, "i32"), "f64")), mean(cast(argmax(w, 0), "f64"))) }));
    expect(messages(grad(graph))[0]).toMatch(/only through cast at .*\(its output is i32, which carries no gradient\); and through argmax at .*\(argmax is piecewise constant: it has no gradient\)/);
  });

  it("names an input through which a rule passes no gradient (nll_loss's class weight, as in PyTorch)", () => {
    // (a cross-entropy probability target used to be the example; it is differentiable since issue 14)
    const W = param("W", [3, 2], zeros, "f64");
    const logits = input("logits", [4, 2], "f64");
    const y = input("y", [4], "i32");
    const graph = built(model({ outputs: {}, loss: nllLoss(logits, y, { weight: sum(W, 0) }) }));
    expect(messages(grad(graph))[0]).toMatch(/param 'W' reaches the loss only through nll_loss at .*, which has no gradient \(its gradient rule passes nothing to input #2\)/);
  });

  it("gives a zero gradient to a requested leaf the loss does not depend on", () => {
    const { m } = linear();
    const unused = param("unused", [2, 2], zeros, "f64");
    const graph = built(model({ name: "lin", outputs: { ...m.outputs, u: unused }, loss: m.loss }));
    const result = grad(graph);
    if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
    expect(gradientNames(result.right)).toEqual(["W", "unused"]);
    const values = evaluateGraph(result.right, { x: { shape: [1, 3], dtype: "f64", data: Float64Array.of(1, 2, 3) }, y: { shape: [1], dtype: "i32", data: Float64Array.of(0) } }, {
      W: { shape: [3, 2], dtype: "f64", data: new Float64Array(6) },
      unused: { shape: [2, 2], dtype: "f64", data: new Float64Array(4) },
    });
    if (E.isLeft(values)) throw new Error(formatDiagnostics(values.left));
    const id = result.right.outputs.find((o) => o.name === "grad:unused")?.id ?? -1;
    expect(Array.from(values.right[id]?.data ?? [])).toEqual([0, 0, 0, 0]);
  });

  it("keeps the user's locations on the backward nodes", () => {
    const result = grad(built(linear().m));
    if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
    const printed = printGraph(result.right, { locations: true });
    expect(printed).toMatch(/cross_entropy_backward\[dim=1\] %\d+ %\d+ %\d+ : f64\[batch,2\] {2}# packages\/compiler\/test\/grad-errors\.test\.ts:\d+:\d+/);
    expect(result.right.nodes.every((node) => node.loc !== undefined)).toBe(true);
  });
});

describe("grad: bad gradient rules are reported, not trusted", () => {
  const m = model({ outputs: {}, loss: sum(tanh(param("w", [2, 3], zeros, "f64"))) });
  /** The op table's gradients, with tanh's rule replaced. */
  const withTanhRule =
    (rule: VjpRule<"tanh">): GradientLookup =>
    <K extends OpName>(op: K): Gradient<K> =>
      op === "tanh" ? ({ rule } as unknown as Gradient<K>) : rowOf(op).gradient;

  it("a rule returning the wrong shape", () => {
    const lookup = withTanhRule(({ grad: g }) => [sum(g, 0)]);
    expect(messages(gradWith(lookup)(built(m)))[0]).toMatch(/grad: the gradient rule of tanh at .* returned f64\[3\] for input #0 of type f64\[2,3\]$/);
  });

  it("a rule building an ill-typed cotangent", () => {
    const lookup = withTanhRule(({ grad: g }) => [matmul(g, g)]);
    expect(messages(gradWith(lookup)(built(m)))[0]).toMatch(/grad: the gradient rule of tanh at .* built an ill-typed cotangent for input #0: matmul: inner dims differ: f64\[2,3\] @ f64\[2,3\] \(3 ≠ 2\)$/);
  });
});

describe("checkGradients: errors and reports", () => {
  const x = { shape: [2], dtype: "f64" as const, data: Float64Array.of(0, 1) };

  it("reports a mismatch as a readable table (relu at its kink)", () => {
    const kink = (t: Readonly<Record<string, Tensor>>) => sum(relu(t.x ?? full([], 0)));
    const report = checkGradients(kink, { feeds: { x } });
    expect(report.ok).toBe(false);
    const [mismatch] = report.checks[0]?.mismatches ?? [];
    expect(mismatch?.index).toEqual([0]);
    expect(mismatch?.analytic).toBe(0);
    expect(mismatch?.numeric).toBeCloseTo(0.5, 9);
    expect(() => expectGradientsMatch(kink, { feeds: { x } })).toThrow(
      /gradient check \(central differences, eps 0\.000001, tolerance 0\.00001; loss [-\d.]+\):\n {2}input x \[2\]: 1 of 2 components differ \(max error 3\.33e-1\)\n {4}index +analytic +numeric +error\n {4}\[0\] +0\.000000000 +0\.5000000000 +3\.33e-1/,
    );
  });

  it("reports ok leaves and returns the report when everything matches", () => {
    const report = expectGradientsMatch((t) => tanh(t.x ?? full([], 0)), { feeds: { x } });
    expect(report.ok).toBe(true);
    expect(formatGradientReport(report)).toMatch(/input x \[2\]: ok \(max error \d\.\d\de-\d+\)/);
  });

  it("truncates long mismatch lists", () => {
    const many = { shape: [12], dtype: "f64" as const, data: new Float64Array(12) };
    const report = checkGradients((t) => relu(t.x ?? full([], 0)), { feeds: { x: many } });
    expect(formatGradientReport(report)).toMatch(/… 4 more$/);
  });

  it("refuses a function whose result has no gradient", () => {
    expect(() => checkGradients((t) => argmax(t.x ?? full([], 0), 0, true), { feeds: { x } })).toThrow(GraftError);
    expect(() => checkGradients((t) => argmax(t.x ?? full([], 0), 0, true), { feeds: { x } })).toThrow("checkGradients: the function returned i32[1], which has no gradient");
  });

  it("refuses a result of symbolic shape", () => {
    expect(() => checkGradients(() => full(["n"], 1, "f64"), { feeds: { x } })).toThrow("checkGradients: the function's result has symbolic shape [n]; give its inputs static shapes");
  });

  it("refuses unknown names", () => {
    expect(() => checkGradients(linear().m, { feeds: {}, wrt: ["nope", "W"] })).toThrow("checkGradients: no param or input named 'nope' (params: W; inputs: x, y)");
  });

  it("passes on grad's diagnostics and bad feeds", () => {
    expect(() => checkGradients(linear().m, { feeds: {}, wrt: ["y"] })).toThrow("cannot differentiate with respect to integer input 'y'");
    expect(() => checkGradients(linear().m, { feeds: {} })).toThrow(/missing feed for input x: expected f64\[batch,3\]/);
  });

  it("checks a graph as a graph (isModel does not mistake one for a model)", () => {
    const graph = built(linear().m);
    expect(isModel(graph)).toBe(false);
    const xs = { shape: [1, 3], dtype: "f64" as const, data: Float64Array.of(1, 2, 3) };
    expect(checkGradients(graph, { feeds: { x: xs, y: { shape: [1], dtype: "i32", data: Float64Array.of(1) } } }).ok).toBe(true);
  });

  it("checks a model with default param values from its initialisers", () => {
    const xs = { shape: [2, 3], dtype: "f64" as const, data: Float64Array.of(1, 2, 3, -1, 0.5, 2) };
    const ys = { shape: [2], dtype: "i32" as const, data: Float64Array.of(1, 0) };
    const report = checkGradients(linear().m, { feeds: { x: xs, y: ys } });
    expect(report.ok).toBe(true);
    expect(report.loss).toBeCloseTo(Math.log(2), 12);
    expect(report.checks.map((c) => [c.name, c.kind])).toEqual([["W", "param"]]);
  });
});
