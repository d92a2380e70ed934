// The reference back end: the Backend contract (persistent state by name, state updates, feed and
// label validation that changes nothing on error), program checks, and its float32 arithmetic.
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import {
  add,
  buildGraph,
  crossEntropy,
  formatDiagnostics,
  full,
  gather,
  GraftError,
  input,
  kaimingUniform,
  logSoftmax,
  logsumexp,
  matmul,
  mean,
  model,
  mul,
  nllLoss,
  oneHot,
  param,
  run,
  softmax,
  sum,
  tanh,
  zeros,
  type Graph,
  type Model,
  type NDArray,
} from "@graft/core";
import { FeedError } from "@graft/runtime";
import { checkProgram, evaluateReference, labelInputs, referenceBackend } from "../src/backend/reference.js";
import { matmulF32, softmaxF32, sumF32 } from "../src/backend/reference-f32.js";
import type { HostTensor, Session } from "../src/backend/types.js";
import type { ProgramSpec } from "../src/program/types.js";

const graphOf = (m: Model): Graph => {
  const graph = buildGraph(m);
  if (E.isLeft(graph)) throw new Error(formatDiagnostics(graph.left));
  return graph.right;
};

/** A counter program: `bump` adds x to param `total`; `peek` reads it. */
const counter = (): ProgramSpec => {
  const x = input("x", ["n"]);
  const total = param("total", [2], zeros);
  const next = add(total, sum(x));
  return {
    functions: [
      { name: "bump", graph: graphOf(model({ name: "bump", outputs: { next } })), updates: [{ param: "total", output: "next" }] },
      { name: "peek", graph: graphOf(model({ name: "peek", outputs: { total: mul(total, 1) } })), updates: [] },
    ],
  };
};

const f32 = (shape: readonly number[], values: readonly number[]): HostTensor => ({ shape, dtype: "f32", data: Float32Array.from(values) });
const i32 = (shape: readonly number[], values: readonly number[]): HostTensor => ({ shape, dtype: "i32", data: Int32Array.from(values) });

/** A classifier with labels: cross_entropy over 3 classes. */
const classifier = async (): Promise<Session> => {
  const x = input("x", ["batch", 2]);
  const y = input("y", ["batch"], "i32");
  const W = param("W", [2, 3], kaimingUniform(2));
  const z = matmul(x, W);
  const graph = graphOf(model({ name: "clf", outputs: { z }, loss: crossEntropy(z, y) }));
  return referenceBackend.createSession({ functions: [{ name: "eval", graph, updates: [] }] }, { seed: 7 });
};

describe("sessions", () => {
  it("keep params as persistent state shared by name across functions, updated after each call", async () => {
    const session = await referenceBackend.createSession(counter());
    expect(session.backend).toBe("reference");
    // state-update outputs are applied, not returned (as in the compiled back ends)
    expect(session.run("bump", { x: f32([3], [1, 2, 3]) })).toEqual({});
    expect(session.getState().total).toEqual({ shape: [2], dtype: "f32", data: Float32Array.of(6, 6) });
    session.run("bump", { x: f32([1], [0.5]) });
    expect(Array.from(session.run("peek", {}).total?.data ?? [])).toEqual([6.5, 6.5]);
    expect(session.getState().total).toEqual({ shape: [2], dtype: "f32", data: Float32Array.of(6.5, 6.5) });
    session.setState({ total: f32([2], [1, -1]) });
    expect(Array.from(session.run("peek", {}).total?.data ?? [])).toEqual([1, -1]);
  });

  it("initialise params from their initialisers with the seed, rounded to float32", async () => {
    const a = (await classifier()).getState().W;
    const b = (await classifier()).getState().W;
    expect(a?.data).toBeInstanceOf(Float32Array);
    expect(a?.data).toEqual(b?.data);
    const bound = 1 / Math.sqrt(2);
    expect(Array.from(a?.data ?? []).every((v) => Math.abs(v) <= bound && v !== 0)).toBe(true);
  });

  it("return outputs as typed arrays of their dtype, copies of the state", async () => {
    const session = await referenceBackend.createSession(counter());
    const out = session.run("peek", {});
    out.total?.data.fill(99);
    expect(Array.from(session.getState().total?.data ?? [])).toEqual([0, 0]);
  });

  it("refuse an unknown function and use after dispose", async () => {
    const session = await referenceBackend.createSession(counter());
    expect(() => session.run("nope", {})).toThrow("reference session: no function named 'nope' (functions: bump, peek)");
    session.dispose();
    expect(() => session.run("peek", {})).toThrow("reference session: used after dispose()");
    expect(() => session.getState()).toThrow("reference session: used after dispose()");
  });
});

describe("feeds are validated before anything runs; nothing changes on error", () => {
  const expectUnchanged = async (feeds: Record<string, HostTensor>, message: string | RegExp): Promise<void> => {
    const session = await referenceBackend.createSession(counter());
    session.run("bump", { x: f32([1], [1]) });
    const before = session.getState();
    expect(() => session.run("bump", feeds)).toThrow(message);
    try {
      session.run("bump", feeds);
    } catch (thrown) {
      expect(thrown).toBeInstanceOf(FeedError);
    }
    expect(session.getState()).toEqual(before);
  };

  it("a missing input", () => expectUnchanged({}, "input x: no value was fed; expected f32[n]"));
  it("an unknown input", () => expectUnchanged({ x: f32([1], [1]), X: f32([1], [1]) }, "input X: function bump has no input named 'X' (its inputs: x)"));
  it("a wrong dtype", () => expectUnchanged({ x: i32([1], [1]) }, "input x: expected dtype f32 (f32[n]), got i32"));
  it("a wrong rank", () => expectUnchanged({ x: f32([1, 1], [1]) }, "input x: expected shape [n], got [1,1] (rank 1 ≠ 2)"));
  it("a typed array of the wrong kind", () => expectUnchanged({ x: { shape: [2], dtype: "f32", data: Float64Array.of(1, 2) } }, /input x: expected a Float32Array \(f32\) of shape \[2\] = 2 elements, got a Float64Array of length 2/));
  it("a length that does not match the shape", () => expectUnchanged({ x: f32([3], [1, 2]) }, /input x: expected shape \[3\] = 3 elements, got a Float32Array of length 2/));
  it("an invalid shape", () => expectUnchanged({ x: f32([-1], []) }, "input x: invalid shape [-1]"));

  it("a static dim that differs, and a symbolic dim bound twice differently", async () => {
    const session = await classifier();
    expect(() => session.run("eval", { x: f32([2, 3], [1, 2, 3, 4, 5, 6]), y: i32([2], [0, 1]) })).toThrow("input x: expected shape [batch,2], got [2,3] (dim 1: 2 ≠ 3)");
    expect(() => session.run("eval", { x: f32([2, 2], [1, 2, 3, 4]), y: i32([3], [0, 1, 2]) })).toThrow("input y: dim 'batch' is 3 but input x has batch = 2");
  });

  it("a label out of range names the input, the row and the value", async () => {
    const session = await classifier();
    const before = session.getState();
    expect(() => session.run("eval", { x: f32([3, 2], [1, 2, 3, 4, 5, 6]), y: i32([3], [0, 3, 1]) })).toThrow(
      "input y: label at row 1 is 3, expected 0 ≤ label < 3 (or ignore_index -100)",
    );
    expect(() => session.run("eval", { x: f32([2, 2], [1, 2, 3, 4]), y: i32([2], [-100, 2]) })).not.toThrow();
    expect(session.getState()).toEqual(before);
  });

  it("an error while running (an index out of range) is a GraftError at the user's line, and changes nothing", async () => {
    const x = input("x", [2, 3]);
    const idx = input("idx", [2, 1], "i32");
    const w = param("w", [2, 1], zeros);
    const next = add(w, gather(x, 1, idx));
    const spec = { functions: [{ name: "f", graph: graphOf(model({ outputs: { next } })), updates: [{ param: "w", output: "next" }] }] };
    const session = await referenceBackend.createSession(spec);
    expect(() => session.run("f", { x: f32([2, 3], [1, 2, 3, 4, 5, 6]), idx: i32([2, 1], [0, 5]) })).toThrow(GraftError);
    expect(() => session.run("f", { x: f32([2, 3], [1, 2, 3, 4, 5, 6]), idx: i32([2, 1], [0, 5]) })).toThrow(/reference-backend\.test\.ts:\d+:\d+ gather: index 5 at position \[1,0\] is out of range for dim 1 of size 3/);
    expect(Array.from(session.getState().w?.data ?? [])).toEqual([0, 0]);
  });
});

describe("setState checks every entry first (all or nothing)", () => {
  it("unknown names, wrong types, wrong arrays", async () => {
    const session = await referenceBackend.createSession(counter());
    expect(() => session.setState({ ghost: f32([2], [1, 2]) })).toThrow("setState: the program has no param named 'ghost' (params: total)");
    expect(() => session.setState({ total: f32([3], [1, 2, 3]) })).toThrow("setState: param total is f32[2], got f32[3]");
    expect(() => session.setState({ total: { shape: [2], dtype: "f32", data: Int32Array.of(1, 2) } })).toThrow(
      /^setState: param total: expected a Float32Array \(f32\) of shape \[2\] = 2 elements, got an Int32Array of length 2$/,
    );
    expect(() => session.setState({ total: f32([2], [5, 5]), ghost: f32([1], [1]) })).toThrow("no param named 'ghost'");
    expect(Array.from(session.getState().total?.data ?? [])).toEqual([0, 0]);
  });
});

describe("program checks", () => {
  const messages = (spec: ProgramSpec): string[] => {
    const checked = checkProgram(spec);
    return E.isLeft(checked) ? checked.left.map((d) => d.message) : [];
  };

  it("accepts a consistent program", () => {
    expect(referenceBackend.supports(counter())).toEqual([]);
  });

  it("reports every inconsistency", async () => {
    const { functions } = counter();
    const [bump, peek] = functions;
    if (bump === undefined || peek === undefined) throw new Error("counter");
    const other = graphOf(model({ name: "other", outputs: { t: mul(param("total", [3], zeros), 2) } }));
    const spec: ProgramSpec = {
      functions: [
        bump,
        { ...peek, name: "bump" },
        { name: "wide", graph: other, updates: [{ param: "total", output: "t" }] },
        { name: "bad", graph: bump.graph, updates: [{ param: "ghost", output: "next" }, { param: "total", output: "nothing" }, { param: "total", output: "next" }, { param: "total", output: "next" }] },
      ],
    };
    expect(messages(spec)).toEqual([
      "program has two functions named 'bump'",
      "param total is f32[3] in function wide but f32[2] in function bump",
      "function bad updates 'ghost', which is not one of its params",
      "function bad updates total from output 'nothing', which it does not have",
      "function bad updates total twice",
    ]);
    expect(messages({ functions: [] })).toEqual(["program has no functions"]);
    const scalar = graphOf(model({ name: "s", outputs: { s: sum(param("total", [2], zeros)) } }));
    expect(messages({ functions: [{ name: "s", graph: scalar, updates: [{ param: "total", output: "s" }] }] })).toEqual(["function s updates total (f32[2]) from output s of type f32[]"]);
    await expect(referenceBackend.createSession({ functions: [] })).rejects.toThrow("program has no functions");
  });
});

describe("labelInputs", () => {
  it("finds the class labels of cross_entropy, nll_loss and one_hot", () => {
    const x = input("x", ["batch", 4]);
    const y = input("y", ["batch"], "i32");
    const t = input("t", ["batch"], "i32");
    const u = input("u", ["batch"], "i32");
    const loss = add(add(crossEntropy(x, y, { ignoreIndex: 7 }), nllLoss(logSoftmax(x, 1), t)), mean(mul(oneHot(u, 4), x)));
    expect(labelInputs(graphOf(model({ outputs: {}, loss })))).toEqual([
      { input: "y", classes: 4, ignoreIndex: 7 },
      { input: "t", classes: 4, ignoreIndex: -100 },
      { input: "u", classes: 4, ignoreIndex: undefined },
    ]);
  });
});

// ----- float32 arithmetic -------------------------------------------------------------------------------

const nd = (shape: readonly number[], data: readonly number[]): NDArray => ({ shape: [...shape], dtype: "f32", data: Float64Array.from(data) });

describe("float32 arithmetic in PyTorch's CPU order", () => {
  it("an inner sum of ≥ 8 elements adds the scalar tail first, then 8 vector lanes", () => {
    // sequential float32 would give 8 + 2^24; PyTorch's vectorized_inner_sum gives 2^24 (each +1 is lost)
    expect(Array.from(sumF32(nd([9], [1, 1, 1, 1, 1, 1, 1, 1, 2 ** 24]), [0]))).toEqual([2 ** 24]);
    expect(Array.from(sumF32(nd([3], [2 ** 24, 1, 1]), [0]))).toEqual([2 ** 24]);
  });

  it("an outer sum of few columns interleaves 4 accumulators (row_sum)", () => {
    // ((x0+x4) + (x1+x5)) + (x2+x6)) + (x3+x7) = (2^24 + 2 + 2 + 2), where sequential gives 2^24
    expect(Array.from(sumF32(nd([8, 1], [2 ** 24, 1, 1, 1, 1, 1, 1, 1]), [0]))).toEqual([2 ** 24 + 6]);
  });

  it("other reductions agree with float64 to float32 precision", () => {
    const data = Array.from({ length: 60 }, (_, i) => Math.fround(Math.sin(i) * 3));
    const x = nd([3, 4, 5], data);
    for (const dims of [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]]) {
      const exact = run(graphOf(model({ outputs: { s: sum(input("x", [3, 4, 5]), dims) } })), { x }).s?.data ?? new Float64Array();
      Array.from(sumF32(x, dims)).forEach((v, i) => expect(v).toBeCloseTo(exact[i] ?? Number.NaN, 5));
    }
  });

  it("matmul is a chain of fused multiply-adds", () => {
    // fma(1+2⁻¹², 1+2⁻¹², −1) = 2⁻¹¹ + 2⁻²⁴; rounding the product first would give 2⁻¹¹
    const a = nd([1, 2], [-1, 1 + 2 ** -12]);
    const b = nd([2, 1], [1, 1 + 2 ** -12]);
    expect(Array.from(matmulF32(a, b, [1, 1]))).toEqual([2 ** -11 + 2 ** -24]);
  });

  it("softmax rows sum to 1 and handle −inf and +inf like PyTorch", () => {
    const s = softmaxF32(nd([2, 3], [1, 2, 3, -Infinity, 0, -Infinity]), 1);
    expect(s[0]! + s[1]! + s[2]!).toBeCloseTo(1, 6);
    expect(Array.from(s.slice(3))).toEqual([0, 1, 0]);
    expect(Array.from(softmaxF32(nd([1, 2], [Infinity, 0]), 1)).every(Number.isNaN)).toBe(true);
  });

  it("a whole model agrees with the core interpreter to float32 precision", () => {
    const x = input("x", ["batch", 3]);
    const y = input("y", ["batch"], "i32");
    const W = param("W", [3, 4], kaimingUniform(3));
    const z = tanh(matmul(x, W));
    const graph = graphOf(model({ outputs: { p: softmax(z, 1), l: logsumexp(z, 1) }, loss: crossEntropy(z, y) }));
    const feeds = { x: nd([5, 3], Array.from({ length: 15 }, (_, i) => Math.fround(Math.cos(i)))), y: { shape: [5], dtype: "i32" as const, data: Float64Array.of(0, 3, 2, 1, 3) } };
    const params = { W: nd([3, 4], Array.from({ length: 12 }, (_, i) => Math.fround(Math.sin(i) / 2))) };
    const exact = run(graph, feeds, params);
    const values = evaluateReference(graph, feeds, params);
    if (E.isLeft(values)) throw new Error(formatDiagnostics(values.left));
    for (const output of graph.outputs) {
      const got = values.right[output.id]?.data ?? new Float64Array();
      Array.from(exact[output.name]?.data ?? []).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 6));
    }
  });

  it("reports an unbound symbolic dim and a missing param", () => {
    const graph = graphOf(model({ outputs: { s: sum(param("p", [2], zeros)) } }));
    const missing = evaluateReference(graph, {}, {});
    expect(E.isLeft(missing) ? missing.left[0]?.message : "").toBe("param p: expected f32[2], got no value");
    const unbound = evaluateReference(graphOf(model({ outputs: { c: full(["n"], 1) } })), {}, {});
    expect(E.isLeft(unbound) ? unbound.left[0]?.message : "").toBe("constant: symbolic dim 'n' of f32[n] is not a dim of any input, so no feed binds it");
  });
});
