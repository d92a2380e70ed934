// The fused normalization and attention rows (core ops/norm.ts, ops/batch-norm.ts) exported to
// ONNX and run in onnxruntime-node (fixtures/onnx/norm-model.ts): layer norm as LayerNormalization
// from opset 17 and as its definition at opset 16, batch norm's statistics and BatchNormalization,
// group norm, attention with a bool mask hiding a whole row (0 there, not NaN), a trained additive
// mask, a causal mask with a scale, and their backward rows in a training step.
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import normModel from "../fixtures/onnx/norm-model.js";
import { onnx } from "../../src/onnx/proto.js";
import { createSession, loadOrt, ORT_MISSING, type Ort } from "./ort.js";
import { expectClose, exported, loadBundle, numbers, removeBundles, startingState, stepsSideBySide } from "./ort-steps.js";

const ort = await loadOrt();
afterAll(removeBundles);

const features = (rows: number, salt: number): Float32Array => Float32Array.from({ length: rows * 24 }, (_, i) => Math.sin(i * 0.7 + salt) * 1.5);
const opTypes = (bytes: Uint8Array): Set<string> => new Set((onnx.ModelProto.decode(bytes).graph?.node ?? []).map((node) => node.opType ?? ""));

describe("the fused normalization rows' ONNX ops", () => {
  it("layer norm is LayerNormalization from opset 17, its definition below; batch norm's normalization is BatchNormalization", () => {
    expect(opTypes(exported(normModel, {}).bytes).has("LayerNormalization")).toBe(true);
    expect(opTypes(exported(normModel, { opset: 16 }).bytes).has("LayerNormalization")).toBe(false);
    expect(opTypes(exported(normModel, { train: "sgd:lr=0.1" }).bytes).has("BatchNormalization")).toBe(true);
  });
});

describe.runIf(ort !== undefined)("the fused normalization rows exported to ONNX, in onnxruntime-node", () => {
  const runtime = ort as Ort;
  for (const opset of [16, 17])
    it(`opset ${opset}: the forward equals the bundle's at batch 1 and 5; 5 SGD steps give its losses, params and running statistics`, async () => {
      const forwardBundle = await loadBundle(normModel, { batches: [1, 5] });
      const session = await createSession(runtime, exported(normModel, { opset }).bytes);
      for (const rows of [1, 5]) {
        const x = features(rows, rows);
        const got = numbers((await session.run({ x: new runtime.Tensor("float32", x, [rows, 4, 6]) })).logits);
        expect(got.some(Number.isNaN)).toBe(false);
        expectClose(got, forwardBundle.forward({ x }).logits ?? [], 1e-5, `logits at batch ${rows}`);
      }
      const rows = 6;
      const bundle = await loadBundle(normModel, { batches: [rows], train: "sgd:lr=0.1,momentum=0.9" });
      const step = exported(normModel, { train: "sgd:lr=0.1,momentum=0.9", weights: bundle.saveWeights(), opset });
      const trainSession = await createSession(runtime, step.bytes);
      const state = startingState(step.initialState);
      const losses = await stepsSideBySide(runtime, bundle, trainSession, step, state, 5, (i) => {
        const x = features(rows, i);
        const y = Int32Array.from({ length: rows }, (_, r) => (r + i) % 3);
        return { bundle: { x, y }, ort: { x: new runtime.Tensor("float32", x, [rows, 4, 6]), y: new runtime.Tensor("int32", y, [rows]) } };
      });
      expectClose(losses.ort, losses.graft, 1e-5, "losses");
      for (const [name, tensor] of decodeSafetensors(bundle.saveWeights()).tensors) expectClose(state.get(name)?.values ?? [], tensor.data, 1e-5, `${name} after 5 steps`);
    });
});

describe.runIf(ort === undefined)("the fused normalization rows exported to ONNX, in onnxruntime-node", () => {
  it.skip(ORT_MISSING, () => undefined);
});
