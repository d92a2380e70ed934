/**
 * @file The batch-rows analysis: which functions may run any batch size in chunks, how their
 * outputs recombine, and — when not — the exact reason naming the op and the user's line.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import {
  add,
  binaryCrossEntropyWithLogits,
  buildGraph,
  clamp,
  crossEntropy,
  dense,
  gather,
  gelu,
  input,
  matmul,
  max,
  mean,
  model,
  mseLoss,
  mul,
  param,
  relu,
  scalar,
  softmax,
  silu,
  sub,
  sum,
  transpose,
  type Graph,
  type Model,
  type Tensor,
} from "@graft/core";
import { batchRows } from "../src/analysis/batch-rows.js";
import { buildTrainingProgram } from "../src/toolkit/train/program.js";
import { sgd } from "../src/optim/index.js";

const graphOf = (m: Model): Graph => {
  const built = buildGraph(m);
  if (E.isLeft(built)) throw new Error(built.left.map((d) => d.message).join("\n"));
  return built.right;
};
const outputs = (tensors: Record<string, Tensor>, loss?: Tensor): Graph => graphOf(model({ name: "m", outputs: tensors, ...(loss === undefined ? {} : { loss }) }));
const LINE = /batch-rows\.test\.ts:\d+:\d+/;

const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const logits = dense(relu(dense(x, 4, 8, "fc1")), 8, 3, "fc2");

describe("chunkable functions", () => {
  it("an MLP's logits: rows", () => {
    expect(batchRows(outputs({ logits }))).toEqual({ chunkable: true, inputs: ["x"], outputs: { logits: { kind: "rows" } } });
  });

  it("activations (erf, gelu, silu, clamp, … as composites or primitives): rows", () => {
    const h = clamp(silu(gelu(dense(x, 4, 8, "act"))), { min: -2, max: 2 });
    expect(batchRows(outputs({ h }))).toEqual({ chunkable: true, inputs: ["x"], outputs: { h: { kind: "rows" } } });
  });

  it("cross-entropy's mean: weighted by the labels it does not ignore", () => {
    expect(batchRows(outputs({ logits }, crossEntropy(logits, y)))).toEqual({
      chunkable: true,
      inputs: ["x", "y"],
      outputs: { logits: { kind: "rows" }, loss: { kind: "mean", weight: "labels", input: "y", ignoreIndex: -100 } },
    });
    expect(batchRows(outputs({}, crossEntropy(logits, y, { reduction: "sum", ignoreIndex: 7 })))).toEqual({
      chunkable: true,
      inputs: ["x", "y"],
      outputs: { loss: { kind: "sum", weight: "labels", input: "y", ignoreIndex: 7 } },
    });
  });

  it("mseLoss, BCE, and a loss plus an L2 penalty of the weights: means weighted by rows", () => {
    const target = input("t", ["batch", 3]);
    const w = param("penalised.w", [3, 8]);
    const l2 = mul(scalar(0.01), sum(mul(w, w)));
    const graph = outputs({ mse: mseLoss(logits, target), bce: binaryCrossEntropyWithLogits(logits, target), penalised: add(mseLoss(logits, target), l2) });
    const result = batchRows(graph);
    expect(result).toEqual({
      chunkable: true,
      inputs: ["x", "t"],
      outputs: { mse: { kind: "mean", weight: "rows" }, bce: { kind: "mean", weight: "rows" }, penalised: { kind: "mean", weight: "rows" } },
    });
  });

  it("a sum over the rows, a per-column mean, and an output that does not depend on the batch", () => {
    const w = param("w", [4]);
    expect(batchRows(outputs({ total: sum(x), columnMeans: mean(x, 0), w: relu(w), rowMax: max(x, 1) }))).toEqual({
      chunkable: true,
      inputs: ["x"],
      outputs: { total: { kind: "sum", weight: "rows" }, columnMeans: { kind: "mean", weight: "rows" }, w: { kind: "same" }, rowMax: { kind: "rows" } },
    });
  });

  it("the forward and evaluate functions of a training program; not its training step", () => {
    const program = buildTrainingProgram(model({ name: "m", outputs: { logits }, loss: crossEntropy(logits, y) }), sgd({ lr: 0.1 }));
    if (E.isLeft(program)) throw new Error("program");
    const [forward, evaluate, step] = program.right.functions;
    expect(forward !== undefined && batchRows(forward.graph).chunkable).toBe(true);
    expect(evaluate !== undefined && batchRows(evaluate.graph).chunkable).toBe(true);
    expect(step === undefined ? undefined : batchRows(step.graph, { updatesState: step.updates.length > 0, name: step.name })).toEqual({
      chunkable: false,
      reason: "trainStep updates its state once per batch (an optimizer step)",
    });
    // even without its updates, the gradient mixes the rows
    const gradient = step === undefined ? undefined : batchRows(step.graph);
    expect(gradient?.chunkable).toBe(false);
  });
});

describe("functions whose rows are coupled name the op and the line", () => {
  const reason = (graph: Graph): string => {
    const result = batchRows(graph);
    if (result.chunkable) throw new Error("expected a coupled function");
    return result.reason;
  };

  it("batch statistics used by the rows (a batch norm)", () => {
    const centred = sub(x, mean(x, 0, true));
    expect(reason(outputs({ centred }))).toMatch(new RegExp(`^output centred: sub \\(node %\\d+, .*${LINE.source}\\) combines a mean or sum over the batch's rows with the rows themselves$`));
  });

  it("a softmax over the batch dim", () => {
    expect(reason(outputs({ p: softmax(x, 0) }))).toMatch(/^output p: softmax \(node %1, .*batch-rows\.test\.ts:\d+:\d+\) normalises over the batch dim$/);
  });

  it("a matmul contracting the batch dim (a Gram matrix)", () => {
    expect(reason(outputs({ gram: matmul(transpose(x), x) }))).toMatch(/^output gram: matmul \(node %2, .*\) contracts the batch dim \(a sum over the batch's rows\)$/);
  });

  it("a max over the batch dim", () => {
    expect(reason(outputs({ m: max(x, 0) }))).toMatch(/^output m: max \(node %1, .*\) takes the max over the batch dim$/);
  });

  it("a gather along the batch dim", () => {
    const index = input("i", ["batch", 4], "i32");
    expect(reason(outputs({ g: gather(x, 0, index) }))).toMatch(/^output g: gather \(node %2, .*\) gathers along the batch dim \(reads other rows\)$/);
  });

  it("cross-entropy with class weights", () => {
    const loss = crossEntropy(logits, y, { weight: param("class_weight", [3]) });
    expect(reason(outputs({}, loss))).toMatch(/^output loss: cross_entropy \(node %\d+, .*\) averages over the class weights of the batch's labels \(reduction mean with class weights\)$/);
  });

  it("a sum over the rows plus a constant, and a mean times the rows", () => {
    expect(reason(outputs({ s: add(sum(x), scalar(1)) }))).toMatch(/^output s: add \(node %\d+, .*\) adds a constant to a sum over the batch's rows$/);
    expect(reason(outputs({ s: mul(mean(x), x) }))).toMatch(/^output s: mul \(node %\d+, .*\) combines a mean or sum over the batch's rows with the rows themselves$/);
  });

  it("no batch dim, or a batch dim that is not first", () => {
    expect(batchRows(outputs({ z: relu(input("z", [3, 4])) }), { name: "forward" })).toEqual({ chunkable: false, reason: "forward has no 'batch' dim in its inputs" });
    expect(batchRows(outputs({ z: relu(input("z", [3, "batch"])) }))).toEqual({ chunkable: false, reason: "input z has the batch dim at position 1, not first" });
    expect(batchRows(outputs({ t: transpose(x) }))).toEqual({ chunkable: false, reason: "output t has the batch dim at position 1, not first" });
  });
});
