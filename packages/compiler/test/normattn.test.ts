/**
 * @file Modes, randomness, normalization and attention (core/src/nn.ts, ops/modes.ts,
 * passes/mode.ts): the mode pass, same random bits on the reference, JS and WASM, PyTorch's
 * numbers (scripts/torch-normattn.py), diagnostics at the user's line, gradients.
 */
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import { jsBackend } from "../src/backend/js/backend.js";
import { wasmBackend } from "../src/backend/wasm/backend.js";
import { modePass, specialiseMode } from "../src/passes/mode.js";
import { buildProgram } from "../src/program/build.js";
import { sgd } from "../src/optim/index.js";
import { hostFeeds } from "./backend-cases.js";

const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void => {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs((actual[i] as number) - (expected[i] as number)), `${label}[${i}]`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(expected[i] as number)));
};

const arr = (shape: readonly number[], data: readonly number[], dtype: C.Dtype = "f32"): NDArray => ({ shape, dtype, data: Float64Array.from(data) });
const right = <A>(either: E.Either<C.Diagnostics, A>): A => {
  if (E.isLeft(either)) throw new Error(C.formatDiagnostics(either.left));
  return either.right;
};
const graphOf = (outputs: Record<string, C.Tensor>, loss?: C.Tensor): Graph => right(C.buildGraph(C.model({ name: "m", outputs, ...(loss === undefined ? {} : { loss }) })));
const messagesOf = (outputs: Record<string, C.Tensor>): string[] => {
  const built = C.buildGraph(C.model({ name: "m", outputs }));
  return E.isLeft(built) ? built.left.map((d) => d.message) : [];
};
const loc = (outputs: Record<string, C.Tensor>): number | undefined => {
  const built = C.buildGraph(C.model({ name: "m", outputs }));
  return E.isLeft(built) ? built.left[0]?.loc?.line : undefined;
};

describe("the mode pass", () => {
  it("dropout is the identity in evaluation mode and scales kept elements by 1/(1-p) in training mode", () => {
    const x = C.input("x", [4, 50]);
    const graph = graphOf({ y: C.dropout(x, 0.25) });
    const feeds = { x: arr([4, 50], Array.from({ length: 200 }, (_, i) => 1 + (i % 7))) };
    const evaluation = right(modePass("eval")(graph));
    expect(evaluation.nodes.map((n) => n.op)).toEqual(["input"]);
    const train = right(specialiseMode("train")(graph));
    expect(train.updates).toEqual([{ param: "random.counter", output: "update:random.counter" }]);
    const counter = arr([], [0], "i32");
    const out = C.run(train.graph, feeds, { "random.counter": counter });
    const y = out.y?.data ?? new Float64Array();
    let kept = 0;
    y.forEach((v, i) => {
      const xv = feeds.x.data[i] as number;
      if (v !== 0) {
        kept++;
        expect(v).toBeCloseTo(xv / 0.75, 12);
      }
    });
    expect(kept).toBeGreaterThan(120);
    expect(kept).toBeLessThan(180);
    // the counter advances: the next step draws another mask
    expect(Array.from(out["update:random.counter"]?.data ?? [])).toEqual([1]);
    const next = C.run(train.graph, feeds, { "random.counter": arr([], [1], "i32") });
    expect(Array.from(next.y?.data ?? [])).not.toEqual(Array.from(y));
  });

  it("numbers the random ops' streams once (idempotent) so two dropouts draw different masks", () => {
    const x = C.input("x", [64]);
    const graph = right(modePass("train")(graphOf({ a: C.dropout(x, 0.5), b: C.dropout(x, 0.5) })));
    const streams = graph.nodes.flatMap((n) => (n.op === "random_uniform" ? [n.attrs.stream] : []));
    expect(streams).toEqual([0, 1]);
    expect(right(modePass("eval")(graph)).nodes.flatMap((n) => (n.op === "random_uniform" ? [n.attrs.stream] : []))).toEqual([0, 1]);
    const out = C.run(graph, { x: arr([64], new Array<number>(64).fill(1)) }, { "random.counter": arr([], [0], "i32") });
    expect(Array.from(out.a?.data ?? [])).not.toEqual(Array.from(out.b?.data ?? []));
  });
});

describe("randomness: the same bits on the reference, JS and WASM", () => {
  const graph = (): Graph => {
    const x = C.input("x", [3, 37]);
    return right(modePass("train")(graphOf({ drop: C.dropout(x, 0.3, { seed: 7 }), u: C.rand([5, 9], { seed: 11 }), n: C.randn([64]), b: C.bernoulli(C.sigmoid(x)) })));
  };
  const feeds = { x: arr([3, 37], Array.from({ length: 111 }, (_, i) => Math.fround(Math.sin(i)))) };
  for (const [name, backend] of [["js", () => Promise.resolve(jsBackend)], ["wasm", () => Promise.resolve(wasmBackend)]] as const)
    it(`${name}: dropout masks, rand, randn and bernoulli match the reference at counters 0 and 1`, async () => {
      const g = graph();
      const session = await (await backend()).createSession({ functions: [{ name: "f", graph: g, updates: [{ param: "random.counter", output: "update:random.counter" }] }] });
      // each run advances the counter (a state update)
      for (const counter of [0, 1]) {
        const reference = C.run(g, feeds, { "random.counter": arr([], [counter], "i32") }, { precision: "f32" });
        const outputs = session.run("f", hostFeeds(feeds));
        // the masks bit for bit; the kept values x/(1-p) within f32 rounding
        expect(Array.from(outputs.drop?.data ?? [], (v) => v === 0), `mask at ${counter}`).toEqual(Array.from(reference.drop?.data ?? [], (v) => v === 0));
        expectClose(outputs.drop?.data ?? [], reference.drop?.data ?? [], 1e-6, "dropout");
        for (const key of ["u", "b"]) expect(Array.from(outputs[key]?.data ?? []), `${key} at ${counter}`).toEqual(Array.from(reference[key]?.data ?? []));
        expectClose(outputs.n?.data ?? [], reference.n?.data ?? [], 1e-5, "randn");
      }
    });
});
