// Label detection (issue 11 item 5): one labelRead in lower-analyses.ts, asked for "losses" by the
// lowering and for "all" by the reference back end's labelInputs.
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { formatDiagnostics, type Graph, type Tensor } from "@graft/core";
import { labelInputs, labelRead } from "../src/backend/lower-analyses.js";
import { lowerGraph } from "../src/backend/lower.js";

const graphOf = (outputs: Record<string, Tensor>): Graph => {
  const built = C.buildGraph(C.model({ name: "g", outputs }));
  if (E.isLeft(built)) throw new Error(formatDiagnostics(built.left));
  return built.right;
};

const ceAttrs: C.CrossEntropyAttrs = { dim: 1, reduction: "mean", ignoreIndex: 7, labelSmoothing: 0, target: "index", weighted: false };
const nllAttrs: C.NllLossAttrs = { dim: 1, reduction: "mean", ignoreIndex: 5, weighted: false };

/** Every op that reads class labels, each from its own i32 input. */
const everyReader = (classes: number | string): Graph => {
  const x = C.input("x", ["batch", classes]);
  const label = (name: string): Tensor => C.input(name, ["batch"], "i32");
  const grad = C.input("g", []);
  return graphOf({
    ce: C.crossEntropy(x, label("y"), { ignoreIndex: 7 }),
    nll: C.nllLoss(C.logSoftmax(x, 1), label("t")),
    hot: C.oneHot(label("u"), 4),
    ceBack: C.crossEntropyBackward(x, label("v"), grad, ceAttrs),
    nllBack: C.nllLossBackward(C.logSoftmax(x, 1), label("w"), grad, nllAttrs),
    soft: C.crossEntropy(x, C.softmax(x, 1), { labelSmoothing: 0 }),
  });
};

const inputName = (graph: Graph, id: number): string => {
  const node = graph.nodes[id];
  return node?.op === "input" ? node.attrs.name : `%${id}`;
};

const readsOf = (graph: Graph, readers: "losses" | "all"): Array<[string, string, number | undefined, number | undefined]> =>
  graph.nodes.flatMap((node) => {
    const read = labelRead(node, (id) => graph.nodes[id]?.type.shape ?? [], readers);
    return read === undefined ? [] : [[node.op, inputName(graph, read.target), read.classes, read.ignoreIndex] as [string, string, number | undefined, number | undefined]];
  });

describe("labelRead", () => {
  it('"all" finds the labels of the losses, their backward ops and one_hot; never probability targets', () => {
    expect(readsOf(everyReader(4), "all")).toEqual([
      ["cross_entropy", "y", 4, 7],
      ["nll_loss", "t", 4, -100],
      ["one_hot", "u", 4, undefined],
      ["cross_entropy_backward", "v", 4, 7],
      ["nll_loss_backward", "w", 4, 5],
    ]);
  });

  it('"losses" finds only the labels of cross_entropy and nll_loss', () => {
    expect(readsOf(everyReader(4), "losses")).toEqual([
      ["cross_entropy", "y", 4, 7],
      ["nll_loss", "t", 4, -100],
    ]);
  });

  it("leaves the class count undefined while the class dim is symbolic", () => {
    expect(readsOf(everyReader("classes"), "losses")).toEqual([
      ["cross_entropy", "y", undefined, 7],
      ["nll_loss", "t", undefined, -100],
    ]);
  });
});

describe("labelInputs (reference back end) and the lowering's label checks", () => {
  it("labelInputs keeps the fed inputs with a known class count", () => {
    expect(labelInputs(everyReader(4))).toEqual([
      { input: "y", classes: 4, ignoreIndex: 7 },
      { input: "t", classes: 4, ignoreIndex: -100 },
      { input: "u", classes: 4, ignoreIndex: undefined },
      { input: "v", classes: 4, ignoreIndex: 7 },
      { input: "w", classes: 4, ignoreIndex: 5 },
    ]);
    expect(labelInputs(everyReader("classes"))).toEqual([{ input: "u", classes: 4, ignoreIndex: undefined }]);
  });

  it("labelInputs skips labels computed in the graph", () => {
    const x = C.input("x", [3, 4]);
    const computed = C.cast(C.input("y", [3]), "i32");
    expect(labelInputs(graphOf({ ce: C.crossEntropy(x, computed) }))).toEqual([]);
  });

  it("the lowering checks the loss labels at concrete dims, and not computed ones", () => {
    const lowered = lowerGraph(everyReader("classes"), new Map([["batch", 3], ["classes", 4]]));
    if (E.isLeft(lowered)) throw new Error(formatDiagnostics(lowered.left));
    expect(lowered.right.labels).toEqual([
      { input: "y", numClasses: 4, ignoreIndex: 7 },
      { input: "t", numClasses: 4, ignoreIndex: -100 },
    ]);
    const x = C.input("x", [3, 4]);
    const computed = lowerGraph(graphOf({ ce: C.crossEntropy(x, C.cast(C.input("y", [3]), "i32")) }), new Map());
    if (E.isLeft(computed)) throw new Error(formatDiagnostics(computed.left));
    expect(computed.right.labels).toEqual([]);
  });
});
