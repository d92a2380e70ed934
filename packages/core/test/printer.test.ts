/**
 * @file The printed IR: exact golden text for the seed's softmax regression (examples/seed-toy)
 * and for an MLP that exercises every attribute format.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import * as g from "@graft/core";
import seedToy from "../../../examples/seed-toy/model.js";

const graphOfModel = (m: g.Model): g.Graph => {
  const built = g.buildGraph(m);
  if (E.isLeft(built)) throw new Error(g.formatDiagnostics(built.left));
  return built.right;
};

describe("seed-toy", () => {
  test("prints the softmax regression", () => {
    expect(g.printGraph(graphOfModel(seedToy))).toBe(
      [
        "graph seed_toy {",
        "  %0 = input[name=x] : f32[batch,4]",
        "  %1 = param[name=W, init=zeros] : f32[4,3]",
        "  %2 = matmul %0 %1 : f32[batch,3]",
        "  %3 = param[name=b, init=zeros] : f32[1]",
        "  %4 = add %2 %3 : f32[batch,3]",
        "  %5 = input[name=y] : i32[batch]",
        "  %6 = cross_entropy[dim=1] %4 %5 : f32[]",
        "  return logits=%4, loss=%6",
        "}",
      ].join("\n"),
    );
  });

  test("with locations, every node points at its line of examples/seed-toy/model.ts", () => {
    const lines = g.printGraph(graphOfModel(seedToy), { locations: true }).split("\n");
    expect(lines.slice(1, 8)).toEqual([
      "  %0 = input[name=x] : f32[batch,4]  # examples/seed-toy/model.ts:4:11",
      "  %1 = param[name=W, init=zeros] : f32[4,3]  # examples/seed-toy/model.ts:6:11",
      "  %2 = matmul %0 %1 : f32[batch,3]  # examples/seed-toy/model.ts:9:15",
      "  %3 = param[name=b, init=zeros] : f32[1]  # examples/seed-toy/model.ts:7:11",
      "  %4 = add %2 %3 : f32[batch,3]  # examples/seed-toy/model.ts:9:11",
      "  %5 = input[name=y] : i32[batch]  # examples/seed-toy/model.ts:5:11",
      "  %6 = cross_entropy[dim=1] %4 %5 : f32[]  # examples/seed-toy/model.ts:11:72",
    ]);
  });
});

test("an MLP: every attribute format", () => {
  const x = g.input("x", ["batch", 28, 28]);
  const h = g.relu(g.dense(g.flatten(x, 1), 784, 128, "fc1"));
  const z = g.dense(h, 128, 10, "fc2");
  const y = g.input("y", ["batch"], "i32");
  const weights = g.constant([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const extra = g.mul(g.sum(g.constant([1, 2, 3]), [0], true), g.scalar(0.5));
  const loss = g.mean(g.add(g.crossEntropy(z, y, { labelSmoothing: 0.1, reduction: "sum", weight: weights, ignoreIndex: 0 }), extra));
  const m = g.model({
    name: "mlp",
    outputs: {
      probs: g.softmax(z, 1),
      pred: g.argmax(z, -1),
      t: g.transpose(z),
      e: g.expand(g.param("q", [1, 10], g.uniform(-1, 1)), ["batch", 10]),
      sa: g.scatterAdd(["batch", 10], 1, g.unsqueeze(y, 1), g.full(["batch", 1], 1)),
      c: g.cast(y, "f32"),
      oh: g.oneHot(y, 10),
      ds: g.dimSize(x, [0]),
      nll: g.nllLoss(g.logSoftmax(z, 1), y, { reduction: "none" }),
    },
    loss,
  });
  expect(g.printGraph(graphOfModel(m))).toBe(`graph mlp {
  %0 = input[name=x] : f32[batch,28,28]
  %1 = reshape[shape=[batch,784]] %0 : f32[batch,784]
  %2 = param[name=fc1.weight, init=kaiming_uniform(fan_in=784)] : f32[128,784]
  %3 = transpose[perm=[1,0]] %2 : f32[784,128]
  %4 = matmul %1 %3 : f32[batch,128]
  %5 = param[name=fc1.bias, init=kaiming_uniform(fan_in=784)] : f32[128]
  %6 = add %4 %5 : f32[batch,128]
  %7 = relu %6 : f32[batch,128]
  %8 = param[name=fc2.weight, init=kaiming_uniform(fan_in=128)] : f32[10,128]
  %9 = transpose[perm=[1,0]] %8 : f32[128,10]
  %10 = matmul %7 %9 : f32[batch,10]
  %11 = param[name=fc2.bias, init=kaiming_uniform(fan_in=128)] : f32[10]
  %12 = add %10 %11 : f32[batch,10]
  %13 = softmax[dim=1] %12 : f32[batch,10]
  %14 = argmax[dim=1, keepdim=false] %12 : i32[batch]
  %15 = transpose[perm=[1,0]] %12 : f32[10,batch]
  %16 = param[name=q, init=uniform(-1,1)] : f32[1,10]
  %17 = expand[shape=[batch,10]] %16 : f32[batch,10]
  %18 = input[name=y] : i32[batch]
  %19 = reshape[shape=[batch,1]] %18 : i32[batch,1]
  %20 = constant[value=1] : f32[batch,1]
  %21 = scatter_add[dim=1, shape=[batch,10]] %19 %20 : f32[batch,10]
  %22 = cast[dtype=f32] %18 : f32[batch]
  %23 = one_hot[numClasses=10, dtype=f32] %18 : f32[batch,10]
  %24 = dim_size[dims=[0], dtype=f32] %0 : f32[]
  %25 = log_softmax[dim=1] %12 : f32[batch,10]
  %26 = nll_loss[dim=1, reduction=none] %25 %18 : f32[batch]
  %27 = constant[value=<10 values>] : f32[10]
  %28 = cross_entropy[dim=1, reduction=sum, ignore_index=0, label_smoothing=0.1, weighted] %12 %18 %27 : f32[]
  %29 = constant[value=[1,2,3]] : f32[3]
  %30 = sum[dims=[0], keepdim=true] %29 : f32[1]
  %31 = constant[value=0.5] : f32[]
  %32 = mul %30 %31 : f32[1]
  %33 = add %28 %32 : f32[1]
  %34 = mean[dims=[0], keepdim=false] %33 : f32[]
  return probs=%13, pred=%14, t=%15, e=%17, sa=%21, c=%22, oh=%23, ds=%24, nll=%26, loss=%34
}`);
});

test("formatNode and formatOp print one node", () => {
  const graph = graphOfModel(g.model({ outputs: { p: g.logSoftmax(g.input("x", ["batch", 10]), 1) } }));
  const node = graph.nodes[1];
  expect(node).toBeDefined();
  if (node === undefined) return;
  expect(g.formatOp(node)).toBe("log_softmax[dim=1]");
  expect(g.formatNode(node)).toBe("%1 = log_softmax[dim=1] %0 : f32[batch,10]");
  // a node without a location prints no comment even with locations on
  expect(g.formatNode({ ...node, loc: undefined }, { locations: true })).toBe("%1 = log_softmax[dim=1] %0 : f32[batch,10]");
});

test("every op name prints in snake_case (digits as PyTorch's: conv2d, max_pool2d)", () => {
  for (const op of g.opNames) expect(op).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
});
