// The onnx example: the blobs MLP trained by ONNX Runtime with graft's exported training step
// learns the blobs, and its exported forward serves them (skipped without onnxruntime-node).
import { decodeSafetensors } from "@graft/runtime";
import { describe, expect, it } from "vitest";
import { loadOrt, trainInOrt } from "./main.js";

const ort = loadOrt();

describe("onnx example", () => {
  it.runIf(ort !== undefined)("300 Adam steps in ONNX Runtime bring the loss down and the served forward classifies the test blobs", async () => {
    if (ort === undefined) return;
    const run = await trainInOrt(ort, 300);
    expect(run.losses).toHaveLength(300);
    expect(run.losses[299]).toBeLessThan((run.losses[0] ?? 0) / 2);
    expect(run.accuracy).toBeGreaterThan(0.95);
    expect([...decodeSafetensors(run.weights).tensors.keys()]).toEqual(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]);
  });
  it.skipIf(ort !== undefined)("skipped: onnxruntime-node is not installed (pnpm bench:peers)", () => undefined);
});
