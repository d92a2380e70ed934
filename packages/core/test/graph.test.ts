/**
 * @file The graph IR: building from handles (topological order, shared leaves, duplicate leaves,
 * the loss), model values, rebuilding handles from a graph, and the graph queries.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import * as g from "@graft/core";
import { input } from "@graft/core";

const build = (m: g.Model): g.Graph => {
  const built = g.buildGraph(m);
  if (E.isLeft(built)) throw new Error(g.formatDiagnostics(built.left));
  return built.right;
};
const messages = (m: g.Model): string[] => {
  const built = g.check(m);
  return E.isLeft(built) ? built.left.map((d) => d.message) : [];
};

describe("buildGraph", () => {
  test("nodes are topologically sorted with id = index, inputs before users", () => {
    const x = input("x", [2, 2]);
    const graph = build(g.model({ outputs: { a: g.add(g.exp(x), g.log(x)), b: g.neg(x) } }));
    graph.nodes.forEach((node, index) => {
      expect(node.id).toBe(index);
      for (const id of node.inputs) expect(id).toBeLessThan(index);
    });
    expect(graph.nodes.map((n) => n.op)).toEqual(["input", "exp", "log", "add", "neg"]);
    expect(graph.outputs).toEqual([
      { name: "a", id: 3 },
      { name: "b", id: 4 },
    ]);
    expect(graph.loss).toBeUndefined();
  });

  test("a handle used twice is one node", () => {
    const x = input("x", [3]);
    const h = g.relu(x);
    const graph = build(g.model({ outputs: { a: g.add(h, h), b: x } }));
    expect(graph.nodes.map((n) => n.op)).toEqual(["input", "relu", "add"]);
    expect(graph.outputs).toEqual([
      { name: "a", id: 2 },
      { name: "b", id: 0 },
    ]);
  });

  test("an input and a param may share a name: they are different leaves", () => {
    const graph = build(g.model({ outputs: { a: g.add(input("w", [2]), g.param("w", [2])) } }));
    expect(graph.nodes.map((n) => n.op)).toEqual(["input", "param", "add"]);
  });

  // issue 16 (13): two distinct leaves with one name were merged into one (the first's initialiser won)
  test("two distinct leaves with one name are an error pointing at both lines, even with the same type", () => {
    const first = g.param("W", [2], g.zeros);
    const second = g.param("W", [2], g.ones);
    const built = g.check(g.model({ outputs: { y: g.add(first, second) } }));
    const diagnostics = E.isLeft(built) ? built.left : [];
    expect(diagnostics.map((d) => [d.code, d.message, d.loc?.line])).toEqual([
      ["duplicate-leaf", `param 'W' is declared twice (first at ${g.formatLoc(first.loc as g.SourceLoc)}): two distinct tensors cannot share a name; create it once and use that tensor in both places`, second.loc?.line],
    ]);
    expect(second.loc?.line).toBe((first.loc?.line ?? 0) + 1);
    const a = input("x", [3]);
    const b = input("x", [3]);
    expect(messages(g.model({ outputs: { a, b } }))).toEqual([
      `input 'x' is declared twice (first at ${g.formatLoc(a.loc as g.SourceLoc)}): two distinct tensors cannot share a name; create it once and use that tensor in both places`,
    ]);
  });

  test("the same leaf name with two types is an error naming both", () => {
    const x = input("x", [3]);
    expect(messages(g.model({ outputs: { a: x, b: input("x", [4], "i32") } }))).toEqual([
      `input 'x' is declared twice with different types: f32[3] (first at ${g.formatLoc(x.loc as g.SourceLoc)}) and i32[4]`,
    ]);
    const W = g.param("W", [3]);
    expect(messages(g.model({ outputs: { a: W, b: g.param("W", [3, 1]) } }))).toEqual([
      `param 'W' is declared twice with different types: f32[3] (first at ${g.formatLoc(W.loc as g.SourceLoc)}) and f32[3,1]`,
    ]);
  });

  test("the loss is listed as an output named loss, unless one is already", () => {
    const x = input("x", [2]);
    const loss = g.sum(x);
    const graph = build(g.model({ name: "m", outputs: { y: x }, loss }));
    expect(graph.name).toBe("m");
    expect(graph.loss).toBe(1);
    expect(graph.outputs).toEqual([
      { name: "y", id: 0 },
      { name: "loss", id: 1 },
    ]);
    const named = build(g.model({ outputs: { loss }, loss }));
    expect(named.outputs).toEqual([{ name: "loss", id: 1 }]);
  });

  test("the loss must be a float scalar", () => {
    expect(messages(g.model({ outputs: {}, loss: input("x", [3]) }))).toEqual(["the loss must be a float scalar, got f32[3] (reduce it, e.g. mean(...))"]);
    expect(messages(g.model({ outputs: {}, loss: g.sum(input("x", [3], "i32")) }))).toEqual(["the loss must be a float scalar, got i32[] (reduce it, e.g. mean(...))"]);
  });

  test("model() defaults: name 'model', no outputs", () => {
    const m = g.model({});
    expect(m).toEqual({ name: "model", outputs: {}, loss: undefined });
    expect(build(m)).toEqual({ name: "model", nodes: [], outputs: [], loss: undefined });
  });

  test("deep graphs do not overflow the stack", () => {
    // a fixed location skips the stack capture, so 20 000 nodes build quickly
    const t = g.withSourceLoc({ file: "deep.ts", line: 1, column: 1 }, () => {
      let deep = input("x", [1]);
      for (let i = 0; i < 20_000; i++) deep = g.neg(deep);
      return deep;
    });
    expect(build(g.model({ outputs: { t } })).nodes.length).toBe(20_001);
  });
});

describe("isModel", () => {
  test("accepts models and rejects everything else", () => {
    expect(g.isModel(g.model({}))).toBe(true);
    expect(g.isModel({ name: "m", outputs: {} })).toBe(true);
    for (const value of [undefined, null, 3, "model", {}, { name: 3, outputs: {} }, { outputs: {} }, input("x", [1])]) expect(g.isModel(value)).toBe(false);
  });
});

describe("graph queries", () => {
  const x = input("x", ["batch", 4]);
  const W = g.param("W", [4, 3]);
  const y = input("y", ["batch"], "i32");
  const z = g.matmul(x, W);
  const graph = build(g.model({ outputs: { z }, loss: g.crossEntropy(z, y) }));

  test("graphInputs, graphParams, outputNode", () => {
    expect(g.graphInputs(graph).map((n) => n.attrs.name)).toEqual(["x", "y"]);
    expect(g.graphParams(graph).map((n) => n.attrs.name)).toEqual(["W"]);
    expect(g.outputNode(graph, "z")?.op).toBe("matmul");
    expect(g.outputNode(graph, "loss")?.op).toBe("cross_entropy");
    expect(g.outputNode(graph, "nope")).toBeUndefined();
  });

  test("useCounts counts consumers and outputs", () => {
    // x, W, matmul (used by CE and output z), y, cross_entropy (output loss)
    expect(g.useCounts(graph)).toEqual([1, 1, 2, 1, 1]);
  });

  test("tensorsOf rebuilds handles that print to the same graph, keeping locations", () => {
    const tensors = g.tensorsOf(graph);
    expect(tensors.map((t) => t.op)).toEqual(graph.nodes.map((n) => n.op));
    const rebuilt = g.graphFromTensors(
      graph.name,
      graph.outputs.filter((o) => o.name !== "loss").map((o) => ({ name: o.name, tensor: tensors[o.id] as g.Tensor })),
      graph.loss === undefined ? undefined : tensors[graph.loss],
    );
    expect(E.isRight(rebuilt)).toBe(true);
    if (E.isLeft(rebuilt)) return;
    expect(g.printGraph(rebuilt.right, { locations: true })).toBe(g.printGraph(graph, { locations: true }));
  });
});
