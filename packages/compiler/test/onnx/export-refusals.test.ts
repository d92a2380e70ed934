// What the ONNX exporter still refuses, each with a message naming the op, the node, the user's
// line and why (the refusals of a symbolic class dim, a bad opset or batch, and max pooling's
// gradient below opset 16 are tested with the rest of their files). The lowerings' other Lefts —
// interior padding, a conv weight gradient or a negative conv padding over symbolic dims — guard
// graphs the DSL does not build (slice and conv2d need static dims there) and are not reachable
// from a model.
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { transformerModel } from "../../../../examples/transformer/model.js";
import { exportOnnx, type OnnxExportOptions } from "../../src/onnx/export.js";

/** The messages of a refused export (with their source lines), or a failure naming what was written. */
const refusal = (model: C.Model, options: OnnxExportOptions): string[] => {
  const result = exportOnnx(model, options);
  if (E.isRight(result)) return expect.fail(`exported ${result.right.outputs.join(", ")}, expected a refusal`);
  return result.left.map((d) => `${d.loc === undefined ? "" : `line ${d.loc.line}: `}${d.message}`);
};

const lineOf = (tensor: C.Tensor): number => tensor.loc?.line ?? -1;

describe("ONNX export: the refusals that remain", () => {
  it("tril/triu below opset 14 (Trilu)", () => {
    const x = C.input("x", ["batch", 3, 3]);
    const lower = C.tril(x);
    expect(refusal(C.model({ name: "mask", outputs: { lower } }), { opset: 13 })).toEqual([`line ${lineOf(lower)}: onnx export: tril (node %1): Trilu needs opset 14 or later (exporting opset 13); use --opset 14`]);
  });

  it("an embedding's gradient below opset 16 (ScatterND with reduction=add): the transformer's training step at opset 15", () => {
    const messages = refusal(transformerModel(), { train: "adam:lr=1e-3", opset: 15 });
    expect(messages.length).toBeGreaterThan(0);
    for (const message of messages) expect(message).toMatch(/^line \d+: onnx export: embedding_backward \(node %\d+\): ScatterND with reduction=add needs opset 16 or later \(exporting opset 15\); use --opset 16$/);
  });

  it("adaptive average pooling to a size that does not divide the input (overlapping windows)", () => {
    const x = C.input("x", ["batch", 2, 7, 7]);
    const pooled = C.adaptiveAvgPool2d(x, [3, 2]);
    expect(refusal(C.model({ name: "adaptive", outputs: { pooled } }), {})).toEqual([
      `line ${lineOf(pooled)}: onnx export: adaptive_avg_pool2d (node %1): adaptive_avg_pool2d to 3×2 from 7×7 has overlapping windows, which ONNX's pools do not express (use an output size that divides the input)`,
    ]);
  });
});
