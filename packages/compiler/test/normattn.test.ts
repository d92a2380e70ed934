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
import { createTrainer } from "../src/toolkit/train/index.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { decodeSafetensors } from "@graft/runtime";
import { compileBundle } from "../src/bundle/index.js";
import { hostFeeds } from "./backend-cases.js";
import * as fc from "fast-check";
import { checkGradients, formatGradientReport } from "../src/testing/gradients.js";

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

// scripts/torch-normattn.py (torch 1.13): BatchNorm1d(2, momentum=0.2, eps=1e-3) train then eval, LayerNorm([2,3], eps=1e-4)
const TORCH = {"bn_train": [0.7127337455749512, -1.2925766706466675, 0.3785153329372406, -0.5520926117897034, 0.42120373249053955, 0.8636111617088318, 0.044296931475400925, 2.7180442810058594, -1.9610135555267334, -0.19816666841506958, 0.6866481900215149, -0.021203696727752686], "running_mean": [0.01666666753590107, 0.17499999701976776], "running_var": [2.008333444595337, 1.2787500619888306], "num_batches_tracked": 1, "bn_eval": [1.1405574083328247, -2.034024477005005, 0.6114603877067566, -1.048607349395752, 0.16685113310813904, 0.719332218170166, 0.08236343413591385, 4.315139293670654, -3.0922183990478516, -0.6066224575042725, 0.49833980202674866, -0.3856299817562103], "ln": [0.4509652256965637, -2.8180105686187744, 0.2663184106349945, -1.424278974533081, 0.3734726309776306, -1.9670453071594238, -0.30411118268966675, 3.1411118507385254, -0.6363057494163513, -0.30822235345840454, -0.13219454884529114, 1.6404169797897339]};
const X = arr([2, 2, 3], [1, -2, 0.5, 3, 0.25, -1, 0, 4, -3, 2, -0.5, 1.5]);

describe("normalization against PyTorch", () => {
  it("batchNormLayer: training output and running statistics, then evaluation with them", () => {
    const x = C.input("x", ["batch", 2, 3]);
    const graph = graphOf({ y: C.batchNormLayer(x, 2, "bn1", { momentum: 0.2, eps: 1e-3 }) });
    expect(C.graphParams(graph).map((p) => p.attrs.name).sort()).toEqual(["bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var", "bn1.weight"]);
    const params = { "bn1.weight": arr([2], [1.5, -0.5]), "bn1.bias": arr([2], [0.1, 0.2]), "bn1.running_mean": arr([2], [0, 0]), "bn1.running_var": arr([2], [1, 1]), "bn1.num_batches_tracked": arr([], [0], "i32") };
    const train = right(specialiseMode("train")(graph));
    expect(train.updates.map((u) => u.param)).toEqual(["bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"]);
    const out = C.run(train.graph, { x: X }, params);
    expectClose(out.y?.data ?? [], TORCH.bn_train, 1e-5, "train");
    expectClose(out["update:bn1.running_mean"]?.data ?? [], TORCH.running_mean, 1e-6, "running_mean");
    expectClose(out["update:bn1.running_var"]?.data ?? [], TORCH.running_var, 1e-6, "running_var");
    expect(Array.from(out["update:bn1.num_batches_tracked"]?.data ?? [])).toEqual([TORCH.num_batches_tracked]);
    const evaluation = right(modePass("eval")(graph));
    const evalOut = C.run(evaluation, { x: X }, { ...params, "bn1.running_mean": arr([2], TORCH.running_mean), "bn1.running_var": arr([2], TORCH.running_var) });
    expectClose(evalOut.y?.data ?? [], TORCH.bn_eval, 1e-5, "eval");
  });

  it("layerNormLayer over the last two dims", () => {
    const graph = graphOf({ y: C.layerNormLayer(C.input("x", ["batch", 2, 3]), [2, 3], "ln", { eps: 1e-4 }) });
    const out = C.run(graph, { x: X }, { "ln.weight": arr([2, 3], [1, 2, 0.5, -1, 1, 3]), "ln.bias": arr([2, 3], [0, 0.1, 0.2, 0.3, 0.4, 0.5]) });
    expectClose(out.y?.data ?? [], TORCH.ln, 1e-5, "layerNorm");
  });

  it("a training step updates the running statistics as state and trains only weight and bias", () => {
    const x = C.input("x", ["batch", 2, 3]);
    const y = C.batchNormLayer(x, 2, "bn1", { momentum: 0.2, eps: 1e-3 });
    const program = right(buildProgram(C.model({ name: "bn", outputs: { y }, loss: C.mean(C.mul(y, y)) }), { optimizer: sgd({ lr: 0.1 }) }));
    const step = program.spec.functions.find((f) => f.name === "trainStep");
    expect(step?.updates.map((u) => u.param).sort()).toEqual(["bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var", "bn1.weight"]);
    expect(program.graph.nodes.some((n) => n.op === "mode_switch" || n.op === "state_update")).toBe(false);
  });
});

describe("diagnostics at the user's line", () => {
  it("dropout p outside [0, 1)", () => {
    const x = C.input("x", [3]);
    expect(messagesOf({ y: C.dropout(x, 1) })).toEqual(["dropout: p must be a probability in [0, 1), got 1"]);
    expect(messagesOf({ y: C.dropout(x, -0.1) })).toEqual(["dropout: p must be a probability in [0, 1), got -0.1"]);
    const line = new Error().stack?.split("\n")[1]?.match(/:(\d+):\d+\)?$/)?.[1];
    expect(loc({ y: C.dropout(x, 2) })).toBe(Number(line) + 1);
  });
  it("layerNorm with a wrong normalized shape, batchNorm with wrong running stats", () => {
    expect(messagesOf({ y: C.layerNorm(C.input("x", [2, 3, 5]), [4]) })).toEqual(["layerNorm: normalizedShape [4] does not match the last dims of input f32[2,3,5]"]);
    expect(messagesOf({ y: C.batchNorm(C.input("x", [2, 3, 5]), C.param("m", [4]), C.param("v", [3])) })).toEqual(["batchNorm: running_mean f32[4] does not match the 3 channels of input f32[2,3,5] (expected [3])"]);
    expect(messagesOf({ y: C.groupNorm(C.input("x", [2, 6, 5]), 4) })).toEqual(["groupNorm: 6 channels of input f32[2,6,5] are not divisible into 4 groups"]);
  });
  it("attention: a mask of the wrong shape, heads not dividing the width", () => {
    const q = C.input("q", [2, 4, 8]);
    expect(messagesOf({ y: C.scaledDotProductAttention(q, q, q, { mask: C.input("m", [3, 3], "bool") }) })).toEqual([
      "scaledDotProductAttention: mask bool[3,3] does not broadcast to the attention scores f32[2,4,4] (query f32[2,4,8], key f32[2,4,8])",
    ]);
    expect(messagesOf({ y: C.multiHeadAttention(C.input("x", [2, 4, 10]), 10, 3, "attn") })).toEqual(["multiHeadAttention: numHeads 3 does not divide embedDim 10"]);
  });
});

describe("attention", () => {
  it("causal scaledDotProductAttention: the first query sees only the first key; multiHeadAttention has PyTorch's params", () => {
    const q = C.input("q", [1, 3, 2]);
    const v = C.input("v", [1, 3, 2]);
    const graph = graphOf({ y: C.scaledDotProductAttention(q, q, v, { causal: true }), m: C.multiHeadAttention(C.input("x", ["batch", 3, 4]), 4, 2, "attn", { causal: true }) });
    const out = C.run(graph, { q: arr([1, 3, 2], [1, 0, 0, 1, 1, 1]), v: arr([1, 3, 2], [1, 2, 3, 4, 5, 6]), x: arr([1, 3, 4], Array.from({ length: 12 }, (_, i) => i / 10)) }, C.initParams(graph, 1));
    expect(Array.from(out.y?.data ?? []).slice(0, 2)).toEqual([1, 2]);
    expect(C.graphParams(graph).map((p) => `${p.attrs.name}${C.formatShape(p.type.shape)}`).sort()).toEqual(["attn.in_proj_bias[12]", "attn.in_proj_weight[12,4]", "attn.out_proj.bias[4]", "attn.out_proj.weight[4,4]"]);
  });
});

describe("gradients against central finite differences", () => {
  const f64 = (shape: readonly number[], data: readonly number[]): NDArray => ({ shape, dtype: "f64", data: Float64Array.from(data) });
  const values = (n: number) => fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n });
  const weighted = (y: C.Tensor, seed: number): C.Tensor => {
    const size = y.shape.reduce<number>((a, d) => a * (d as number), 1);
    const r = Array.from({ length: size }, (_, i) => Math.sin(seed + i * 1.7));
    return C.sum(C.mul(y, C.constant(C.ndarray(y.shape as number[], "f64", r), "f64")));
  };
  const check = (graph: Graph, feeds: Record<string, NDArray>, params: Record<string, NDArray>, wrt: readonly string[]): void => {
    const report = checkGradients(graph, { feeds, params, wrt, tolerance: 1e-5 });
    if (!report.ok) throw new Error(formatGradientReport(report));
  };
  const lossGraph = (y: C.Tensor, mode: "train" | "eval" | undefined): Graph => {
    const graph = right(C.buildGraph(C.model({ name: "g", outputs: {}, loss: weighted(y, 3) })));
    return mode === undefined ? graph : right(modePass(mode)(graph));
  };

  it("batchNorm in training and evaluation mode (input, weight, bias)", () => {
    fc.assert(
      fc.property(values(24), fc.constantFrom<"train" | "eval">("train", "eval"), (data, mode) => {
        const x = C.input("x", [4, 3, 2], "f64");
        const w = C.param("w", [3], C.zeros, "f64");
        const b = C.param("b", [3], C.zeros, "f64");
        const y = C.batchNorm(x, C.param("rm", [3], C.zeros, "f64"), C.param("rv", [3], C.zeros, "f64"), { weight: w, bias: b });
        check(lossGraph(y, mode), { x: f64([4, 3, 2], data) }, { w: f64([3], [1.5, -0.5, 2]), b: f64([3], [0.1, 0.2, 0.3]), rm: f64([3], [0.1, -0.2, 0.3]), rv: f64([3], [1, 2, 0.5]) }, ["x", "w", "b"]);
      }),
      { numRuns: 12 },
    );
  });

  it("layerNorm and groupNorm", () => {
    fc.assert(
      fc.property(values(24), (data) => {
        const x = C.input("x", [2, 4, 3], "f64");
        const w = C.param("w", [4, 3], C.zeros, "f64");
        const y = C.add(C.layerNorm(x, [4, 3], { weight: w }), C.groupNorm(x, 2, { eps: 1e-3 }));
        check(lossGraph(y, undefined), { x: f64([2, 4, 3], data) }, { w: f64([4, 3], Array.from({ length: 12 }, (_, i) => 0.5 + i / 10)) }, ["x", "w"]);
      }),
      { numRuns: 12 },
    );
  });

  it("multiHeadAttention (input and every param)", () => {
    fc.assert(
      fc.property(values(24), (data) => {
        const x = C.input("x", [2, 3, 4]);
        const y = C.multiHeadAttention(x, 4, 2, "attn", { causal: true });
        const graph = lossGraph(C.cast(y, "f64"), undefined);
        const params = C.initParams(graph, 5);
        const nonZero = { ...params, "attn.in_proj_bias": arr([12], Array.from({ length: 12 }, (_, i) => i / 20)), "attn.out_proj.bias": arr([4], [0.1, 0.2, 0.3, 0.4]) };
        check(graph, { x: arr([2, 3, 4], data) }, nonZero, ["x", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias"]);
      }),
      { numRuns: 6 },
    );
  });

  it("scaledDotProductAttention with a causal and a float mask", () => {
    fc.assert(
      fc.property(values(24), (data) => {
        const q = C.input("q", [2, 3, 4], "f64");
        const mask = C.constant([[0, -1, 0.5], [0, 0, 0], [1, 0, -2]], "f64");
        const y = C.scaledDotProductAttention(q, C.mul(q, 0.5), C.tanh(q), { causal: true, mask });
        check(lossGraph(y, undefined), { q: f64([2, 3, 4], data) }, {}, ["q"]);
      }),
      { numRuns: 12 },
    );
  });
});

describe("training mode on JS and WASM: batch statistics and running-statistic updates as the reference", () => {
  for (const [name, backend] of [["js", jsBackend], ["wasm", wasmBackend]] as const)
    it(`${name}: two steps of batchNormLayer (2d) in training mode`, async () => {
      const x = C.input("x", ["batch", 3, 2, 2]);
      const train = right(specialiseMode("train")(graphOf({ y: C.batchNormLayer(x, 3, "bn", { momentum: 0.3 }) })));
      const session = await backend.createSession({ functions: [{ name: "f", graph: train.graph, updates: train.updates }] }, { seed: 1 });
      let state: Record<string, NDArray> = { "bn.weight": arr([3], [1, 1, 1]), "bn.bias": arr([3], [0, 0, 0]), "bn.running_mean": arr([3], [0, 0, 0]), "bn.running_var": arr([3], [1, 1, 1]), "bn.num_batches_tracked": arr([], [0], "i32") };
      for (const seed of [1, 2]) {
        const feeds = { x: arr([5, 3, 2, 2], Array.from({ length: 60 }, (_, i) => Math.fround(Math.sin(i * seed) * 2 + seed))) };
        const reference = C.run(train.graph, feeds, state, { precision: "f32" });
        const outputs = session.run("f", hostFeeds(feeds));
        expectClose(outputs.y?.data ?? [], reference.y?.data ?? [], 1e-5, `y at step ${seed}`);
        const after = session.getState();
        for (const u of train.updates) expectClose(after[u.param]?.data ?? [], reference[u.output]?.data ?? [], 1e-5, `${u.param} after step ${seed}`);
        state = { ...state, ...Object.fromEntries(train.updates.map((u) => [u.param, reference[u.output] as NDArray])) };
      }
      expect(Array.from(session.getState()["bn.num_batches_tracked"]?.data ?? [])).toEqual([2]);
    });
});

describe("the trainer: training semantics in trainStep, evaluation semantics in forward and evaluate", () => {
  const net = (): C.Model => {
    const x = C.input("x", ["batch", 4]);
    const y = C.input("y", ["batch"], "i32");
    const h = C.dropout(C.relu(C.batchNormLayer(C.dense(x, 4, 16, "fc1"), 16, "bn1")), 0.3);
    const logits = C.dense(C.layerNormLayer(h, [16], "ln"), 16, 3, "fc2");
    return C.model({ name: "net", outputs: { logits }, loss: C.crossEntropy(logits, y) });
  };
  const batch = {
    x: { shape: [6, 4], dtype: "f32" as const, data: Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 0.7) * 2) },
    y: { shape: [6], dtype: "i32" as const, data: Int32Array.from([0, 1, 2, 1, 0, 2]) },
  };
  it("the same losses (the same dropout masks) on the reference, JS and WASM; forward is deterministic; the state advances", async () => {
    const losses: number[][] = [];
    for (const backend of ["reference", "js", "wasm"] as const) {
      const trainer = await createTrainer(net(), { optimizer: sgd({ lr: 0.1 }), backend, seed: 4 });
      const run: number[] = [];
      for (let i = 0; i < 5; i++) run.push(trainer.step(batch).loss);
      losses.push(run);
      const first = trainer.forward(batch).logits?.data;
      expect(Array.from(trainer.forward(batch).logits?.data ?? [])).toEqual(Array.from(first ?? []));
      expect(trainer.evaluate(batch).outputs.logits?.data).toEqual(first);
      const state = trainer.getState();
      expect(Array.from(state["random.counter"]?.data ?? []), backend).toEqual([5]);
      expect(Array.from(state["bn1.num_batches_tracked"]?.data ?? []), backend).toEqual([5]);
      expect(Array.from(state["bn1.running_mean"]?.data ?? []).some((v) => v !== 0), backend).toBe(true);
      trainer.dispose();
    }
    const [reference, js, wasm] = losses;
    expectClose(js ?? [], reference ?? [], 1e-4, "js losses");
    expectClose(wasm ?? [], reference ?? [], 1e-4, "wasm losses");
  });
});

describe("bundles: the trainer's dropout masks and running statistics", () => {
  for (const backend of ["js", "wasm"] as const)
    it(`${backend} bundle: five training steps give the reference trainer's losses from the same weights`, async () => {
      const m = (() => {
        const x = C.input("x", ["batch", 4]);
        const y = C.input("y", ["batch"], "i32");
        const h = C.dropout(C.relu(C.batchNormLayer(C.dense(x, 4, 8, "fc1"), 8, "bn1")), 0.5);
        const logits = C.dense(h, 8, 3, "fc2");
        return C.model({ name: "drop", outputs: { logits }, loss: C.crossEntropy(logits, y) });
      })();
      const compiled = await compileBundle(m, { backend, train: "sgd:lr=0.1", batches: [6] });
      if (E.isLeft(compiled)) throw new Error(compiled.left.map((d) => d.message).join("\n"));
      const dir = mkdtempSync(join(tmpdir(), "graft-normattn-"));
      try {
        const file = join(dir, "model.mjs");
        writeFileSync(file, compiled.right.code);
        type Loaded = { saveWeights(): Uint8Array; trainStep(feeds: object): { loss: number } };
        const { load } = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as { load: () => Promise<Loaded> };
        const bundle = await load();
        const weights = decodeSafetensors(bundle.saveWeights());
        expect([...weights.tensors.keys()].sort()).toEqual(["bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var", "bn1.weight", "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "random.counter"]);
        const trainer = await createTrainer(m, { optimizer: sgd({ lr: 0.1 }), backend: "reference" });
        const dtypes = { F32: "f32", F64: "f64", I32: "i32", BOOL: "bool" } as const;
        trainer.setState(Object.fromEntries([...weights.tensors].map(([name, t]) => [name, { shape: t.shape, dtype: dtypes[t.dtype], data: t.data }])) as unknown as Parameters<typeof trainer.setState>[0]);
        const feeds = { x: Float32Array.from({ length: 24 }, (_, i) => Math.cos(i * 0.9) * 2), y: Int32Array.from([0, 1, 2, 1, 0, 2]) };
        const batch = { x: { shape: [6, 4], dtype: "f32" as const, data: feeds.x }, y: { shape: [6], dtype: "i32" as const, data: feeds.y } };
        const fromBundle: number[] = [];
        const fromTrainer: number[] = [];
        for (let i = 0; i < 5; i++) {
          fromBundle.push(bundle.trainStep(feeds).loss);
          fromTrainer.push(trainer.step(batch).loss);
        }
        expectClose(fromBundle, fromTrainer, 1e-4, "losses");
        const after = decodeSafetensors(bundle.saveWeights()).tensors;
        expect(Array.from(after.get("random.counter")?.data ?? [])).toEqual([5]);
        expectClose(Array.from(after.get("bn1.running_mean")?.data ?? []), Array.from(trainer.getState()["bn1.running_mean"]?.data ?? []), 1e-4, "running_mean");
        trainer.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
});

// scripts/torch-normattn.py, second line: nn.MultiheadAttention(4, 2, batch_first=True) with a causal mask → LayerNorm(4); BatchNorm1d(4) in eval
const TORCH_MHA = {"keys": ["attn.in_proj_bias[12]", "attn.in_proj_weight[12, 4]", "attn.out_proj.bias[4]", "attn.out_proj.weight[4, 4]", "bn.bias[4]", "bn.num_batches_tracked[]", "bn.running_mean[4]", "bn.running_var[4]", "bn.weight[4]", "ln.bias[4]", "ln.weight[4]"], "attn_ln": [-0.3860793113708496, -0.1651505082845688, 0.8815000653266907, -0.12919889390468597, -0.38996610045433044, -0.1565122753381729, 0.8735684156417847, -0.12454324215650558, 0.878646194934845, -0.7641304135322571, -1.2583961486816406, 0.49258244037628174, -0.35372835397720337, -0.3087617754936218, 0.7981405854225159, 0.07332055270671844, -0.39803096652030945, -0.11420484632253647, 0.8846288919448853, -0.17302244901657104, 0.8865845203399658, -0.7523698210716248, -1.2742760181427002, 0.479978084564209], "bn_eval": [-0.5257626175880432, 0.22610682249069214, -1.1515388488769531, -0.68617844581604, -0.6086438894271851, -1.6350876092910767, -0.8199694156646729, -1.1342154741287231, -1.6278033256530762, -0.8637514114379883, -1.163770079612732, -1.2427105903625488, -0.756802499294281, 0.29230672121047974, -0.9755966067314148, -0.8583195805549622, -0.47837498784065247, -1.5713684558868408, -0.9027471542358398, -1.0126190185546875, -1.6462295055389404, -0.8769902586936951, -1.1024365425109863, -1.2805193662643433]};

describe("layer helpers against PyTorch modules (names, shapes, semantics)", () => {
  it("multiHeadAttention + layerNormLayer and batchNormLayer (eval) give nn.MultiheadAttention/LayerNorm/BatchNorm1d's outputs from the same state dict", () => {
    const x = C.input("x", ["batch", 3, 4]);
    const attnLn = C.layerNormLayer(C.multiHeadAttention(x, 4, 2, "attn", { causal: true }), [4], "ln");
    const bnEval = C.batchNormLayer(C.transpose(x, 1, 2), 4, "bn");
    const graph = right(modePass("eval")(graphOf({ attn_ln: attnLn, bn_eval: bnEval })));
    const params = right(C.buildGraph(C.model({ name: "m", outputs: { attnLn, bnEval } }))).nodes.flatMap((n) => (n.op === "param" ? [n] : []));
    expect(params.map((p) => `${p.attrs.name}[${p.type.shape.join(", ")}]`).sort()).toEqual(TORCH_MHA.keys);
    const names = params.map((p) => p.attrs.name).sort();
    const values = Object.fromEntries(
      params.map((p) => {
        const k = names.indexOf(p.attrs.name);
        const size = p.type.shape.reduce<number>((a, d) => a * (d as number), 1);
        const data = Array.from({ length: size }, (_, i) => Math.fround(Math.sin(0.37 * i + k)));
        if (p.type.dtype === "i32") return [p.attrs.name, arr(p.type.shape as number[], [0], "i32")];
        return [p.attrs.name, arr(p.type.shape as number[], p.attrs.name.endsWith("running_var") ? data.map((v) => Math.fround(1 + Math.fround(v * v))) : data)];
      }),
    );
    const out = C.run(graph, { x: arr([2, 3, 4], Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(0.5 * i)))) }, values);
    expectClose(out.attn_ln?.data ?? [], TORCH_MHA.attn_ln, 1e-5, "attention → layer norm");
    expectClose(out.bn_eval?.data ?? [], TORCH_MHA.bn_eval, 1e-5, "batch norm (eval)");
  });
});
