// The training API: the program it compiles, the trainer over a back end, and the metrics.
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import {
  add,
  buildGraph,
  crossEntropy,
  formatDiagnostics,
  GraftError,
  graphInputs,
  input,
  log,
  matmul,
  mean,
  model,
  mul,
  neg,
  oneHot,
  param,
  softmax,
  sum,
  zeros,
  type Diagnostics,
  type Graph,
} from "@graft/core";
import { FeedError } from "@graft/runtime";
import { referenceBackend } from "../src/backend/reference.js";
import type { Backend, HostTensor } from "../src/backend/types.js";
import type { ProgramSpec } from "../src/program/types.js";
import { sgd } from "../src/optim/index.js";
import { accuracy, addToMean, buildTrainingProgram, createTrainer, predictions, runningMean } from "../src/toolkit/train/index.js";

const classifier = (name = "clf") => {
  const x = input("x", ["batch", 2]);
  const y = input("y", ["batch"], "i32");
  const W = param("W", [2, 3], zeros);
  const b = param("b", [3], zeros);
  const z = add(matmul(x, W), b);
  return model({ name, outputs: { z }, loss: crossEntropy(z, y) });
};

const f32 = (shape: readonly number[], values: readonly number[]): HostTensor => ({ shape, dtype: "f32", data: Float32Array.from(values) });
const i32 = (shape: readonly number[], values: readonly number[]): HostTensor => ({ shape, dtype: "i32", data: Int32Array.from(values) });
const batch = { x: f32([4, 2], [1, 0, 0, 1, -1, 0, 0, -1]), y: i32([4], [0, 1, 2, 1]) };

const program = (m: Parameters<typeof buildTrainingProgram>[0], options = {}): ProgramSpec => {
  const built = buildTrainingProgram(m, sgd({ lr: 0.5 }), options);
  if (E.isLeft(built)) throw new Error(formatDiagnostics(built.left));
  return built.right;
};

const fn = (spec: ProgramSpec, name: string) => {
  const found = spec.functions.find((f) => f.name === name);
  if (found === undefined) throw new Error(`no function ${name}`);
  return found;
};

describe("buildTrainingProgram", () => {
  it("compiles forward (no labels), evaluate (loss, no updates) and trainStep (loss and updates)", () => {
    const spec = program(classifier());
    expect(spec.functions.map((f) => f.name)).toEqual(["forward", "evaluate", "trainStep"]);
    const forward = fn(spec, "forward");
    expect(graphInputs(forward.graph).map((n) => n.attrs.name)).toEqual(["x"]);
    expect(forward.graph.outputs.map((o) => o.name)).toEqual(["z"]);
    expect(forward.graph.loss).toBeUndefined();
    expect(fn(spec, "evaluate").graph.outputs.map((o) => o.name)).toEqual(["z", "loss"]);
    expect(fn(spec, "evaluate").updates).toEqual([]);
    const step = fn(spec, "trainStep");
    expect(step.updates).toEqual([
      { param: "W", output: "update:W" },
      { param: "b", output: "update:b" },
    ]);
    expect(step.graph.outputs.map((o) => o.name)).toEqual(["z", "loss", "update:W", "update:b"]);
  });

  it("runs the fuse pass first by default, and not when asked", () => {
    const x = input("x", ["batch", 2]);
    const y = input("y", ["batch"], "i32");
    const z = matmul(x, param("W", [2, 3], zeros));
    const lowLevel = model({ outputs: { z }, loss: mean(sum(mul(oneHot(y, 3), neg(log(softmax(z, 1)))), 1)) });
    const ops = (spec: ProgramSpec) => new Set(fn(spec, "trainStep").graph.nodes.map((n) => n.op));
    expect(ops(program(lowLevel)).has("cross_entropy")).toBe(true);
    expect(ops(program(lowLevel, { fuse: false })).has("cross_entropy")).toBe(false);
    expect(ops(program(lowLevel, { fuse: false })).has("log")).toBe(true);
  });

  it("accepts a graph, and trains only the params in wrt", () => {
    const graph = buildGraph(classifier());
    if (E.isLeft(graph)) throw new Error("model");
    const spec = program(graph.right as Graph, { wrt: ["b"] });
    expect(fn(spec, "trainStep").updates.map((u) => u.param)).toEqual(["b"]);
  });

  it("refuses a model without a loss, and passes on model, grad and optimizer diagnostics", () => {
    const messages = (result: E.Either<Diagnostics, ProgramSpec>): string[] => (E.isLeft(result) ? result.left.map((d) => d.message) : []);
    const { outputs } = classifier();
    expect(messages(buildTrainingProgram(model({ name: "inference", outputs }), sgd()))).toEqual([
      "buildTrainingProgram: model inference has no loss; declare one with model({ outputs, loss })",
    ]);
    const x = input("x", [2, 3]);
    expect(messages(buildTrainingProgram(model({ outputs: {}, loss: mean(matmul(x, x)) }), sgd()))[0]).toMatch(/matmul: inner dims differ/);
    expect(messages(buildTrainingProgram(classifier(), sgd(), { wrt: ["nope"] }))).toEqual(["grad: the graph has no param named 'nope' (params: W, b)"]);
    expect(messages(buildTrainingProgram(classifier(), sgd({ lr: -1 })))).toEqual(["sgd: invalid learning rate -1 (expected a finite number ≥ 0)"]);
  });
});

describe("createTrainer", () => {
  it("steps, returning the loss before the update, and learns", async () => {
    const trainer = await createTrainer(classifier(), { optimizer: "sgd:lr=0.5", seed: 3 });
    expect(trainer.backend).toBe("reference");
    expect(trainer.optimizer).toEqual(sgd({ lr: 0.5 }));
    expect(trainer.inputs).toEqual(["x", "y"]);
    const first = trainer.step(batch).loss;
    expect(first).toBeCloseTo(Math.log(3), 6);
    let last = first;
    for (let i = 0; i < 50; i++) last = trainer.step(batch).loss;
    expect(last).toBeLessThan(0.5 * first);
    const logits = trainer.forward(batch).z;
    expect(logits?.shape).toEqual([4, 3]);
    expect(accuracy(logits ?? f32([0, 3], []), batch.y.data)).toBe(1);
    trainer.dispose();
  });

  it("step also returns the model's outputs on the batch, computed before the update", async () => {
    const trainer = await createTrainer(classifier(), { optimizer: "sgd:lr=0.5", seed: 3 });
    const before = trainer.evaluate(batch).outputs.z;
    const step = trainer.step(batch);
    expect(Object.keys(step.outputs)).toEqual(["z"]);
    expect(step.outputs.z).toEqual(before);
    expect(trainer.evaluate(batch).outputs.z).not.toEqual(before);
    trainer.dispose();
  });

  it("evaluates without changing the state; get/setState round-trip", async () => {
    const trainer = await createTrainer(classifier(), { optimizer: sgd({ lr: 0.5 }) });
    const before = trainer.getState();
    const result = trainer.evaluate(batch);
    expect(result.loss).toBeCloseTo(Math.log(3), 6);
    expect(Object.keys(result.outputs)).toEqual(["z"]);
    expect(trainer.getState()).toEqual(before);
    trainer.step(batch);
    const trained = trainer.getState();
    trainer.setState(before);
    expect(trainer.evaluate(batch).loss).toBeCloseTo(Math.log(3), 6);
    trainer.setState(trained);
    expect(trainer.evaluate(batch).loss).toBeLessThan(Math.log(3));
  });

  it("refuses feeds the model does not have, and bad labels, naming them", async () => {
    const trainer = await createTrainer(classifier(), { optimizer: sgd() });
    expect(() => trainer.step({ ...batch, z: f32([1], [1]) })).toThrow(FeedError);
    expect(() => trainer.step({ ...batch, z: f32([1], [1]) })).toThrow("input z: the model has no input named 'z' (its inputs: x, y)");
    expect(() => trainer.step({ x: batch.x, y: i32([4], [0, 1, 5, 1]) })).toThrow("input y: label at row 2 is 5, expected 0 ≤ label < 3 (or ignore_index -100)");
    expect(() => trainer.forward({ y: batch.y })).toThrow("input x: no value was fed; expected f32[batch,2]");
  });

  it("rejects a bad optimizer spec and an invalid model with GraftErrors", async () => {
    await expect(createTrainer(classifier(), { optimizer: "sgd:lr=fast" })).rejects.toThrow(GraftError);
    await expect(createTrainer(classifier(), { optimizer: "sgd:lr=fast" })).rejects.toThrow("optimizer \"sgd:lr=fast\": option 'lr' must be a number, got 'fast'");
    await expect(createTrainer(model({ name: "m", outputs: {} }), { optimizer: sgd() })).rejects.toThrow("buildTrainingProgram: model m has no loss");
  });

  it("refuses an unknown back end by name", async () => {
    await expect(createTrainer(classifier(), { optimizer: sgd(), backend: "tpu" as "js" })).rejects.toThrow("unknown backend 'tpu'; expected one of reference, js, wasm");
  });

  it("uses a Backend object: checks support first, passes the seed and threads", async () => {
    const seen: unknown[] = [];
    const spy: Backend = {
      name: "reference",
      supports: (spec) => referenceBackend.supports(spec),
      createSession: (spec, options) => {
        seen.push(options);
        return referenceBackend.createSession(spec, options);
      },
    };
    await createTrainer(classifier(), { optimizer: sgd(), backend: spy, seed: 11, threads: 2 });
    expect(seen).toEqual([{ seed: 11, threads: 2 }]);
    const refusing: Backend = { ...spy, supports: () => [{ severity: "error", code: "backend", message: "softmax is not supported" }] };
    await expect(createTrainer(classifier(), { optimizer: sgd(), backend: refusing })).rejects.toThrow("softmax is not supported");
  });
});

describe("metrics", () => {
  const logits = { shape: [3, 3], data: Float32Array.of(0.1, 2, 0.3, 5, 5, 1, Number.NaN, 0, 9) };

  it("predictions: the first maximum, NaN wins, along any dim", () => {
    expect(Array.from(predictions(logits))).toEqual([1, 0, 0]);
    expect(Array.from(predictions({ shape: [2, 3], data: [1, 5, 2, 4, 0, 3] }, 0))).toEqual([1, 0, 1]);
    expect(() => predictions({ shape: [2], data: [1, 2] }, 1)).toThrow("predictions: dim 1 out of range for logits of shape [2]");
    expect(() => predictions({ shape: [], data: [1] })).toThrow("predictions: dim -1 out of range for logits of shape []");
  });

  it("accuracy, with ignored rows", () => {
    expect(accuracy(logits, [1, 0, 2])).toBeCloseTo(2 / 3, 12);
    expect(accuracy(logits, Int32Array.of(1, -100, 2), { ignoreIndex: -100 })).toBe(0.5);
    expect(accuracy(logits, [-1, -1, -1], { ignoreIndex: -1 })).toBeNaN();
    expect(() => accuracy(logits, [1, 0])).toThrow("accuracy: 2 labels for 3 rows of logits of shape [3,3]");
  });

  it("a running weighted mean", () => {
    const empty = runningMean();
    expect(empty.mean).toBeNaN();
    const m = addToMean(addToMean(empty, 2, 3), 4);
    expect(m).toEqual({ total: 10, count: 4, mean: 2.5 });
    expect(addToMean(empty, 5, 0).mean).toBeNaN();
    expect(() => addToMean(m, 1, -1)).toThrow("addToMean: weight must be a finite number ≥ 0, got -1");
  });
});
