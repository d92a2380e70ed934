// Convolution and pooling in the ONNX exporter: a small CNN's exported forward (Conv with groups
// and per-side pads, ConvTranspose, MaxPool with ceil mode, AveragePool, GlobalAveragePool,
// 1-D Conv/pools) equals the bundle's forward in onnxruntime-node; a training step is refused
// with the message naming the gradient op.
import * as E from "fp-ts/lib/Either.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { compileBundle } from "../../src/bundle/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { createSession, loadOrt, type Ort } from "./ort.js";

const ort = await loadOrt();
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const x = C.input("x", ["batch", 2, 9, 8]);
const y = C.input("y", ["batch"], "i32");
const c1 = C.relu(C.conv2dLayer(x, 2, 4, [3, 2], "conv1", { padding: [1, 0, 2, 1], groups: 2, dilation: [1, 2] }));
const up = C.convTranspose2d(c1, C.param("up.weight", [4, 2, 2, 2], C.kaimingUniform({ a: Math.sqrt(5) })), undefined, { stride: 2, padding: 1, outputPadding: 1 });
const pooled = C.maxPool2d(up, 3, { stride: 2, padding: 1, ceilMode: true });
const averaged = C.avgPool2d(pooled, 2, { padding: 1, countIncludePad: false });
const seq = C.reshape(averaged, ["batch", 2, -1]);
const s1 = C.avgPool1d(C.maxPool1d(C.conv1d(seq, C.param("c1d.weight", [4, 2, 3], C.kaimingUniform({ a: Math.sqrt(5) })), undefined, { padding: "same" }), 2), 2, { ceilMode: true });
const features = C.flatten(C.adaptiveAvgPool2d(C.reshape(s1, ["batch", 4, 1, -1]), 1), 1);
const logits = C.dense(features, 4, 3, "fc");
const cnn = C.model({ name: "onnx_cnn", outputs: { logits, pooled }, loss: C.crossEntropy(logits, y) });

describe.runIf(ort !== undefined)("ONNX export of convolution and pooling in onnxruntime-node", () => {
  it("the exported forward equals the bundle's forward", async () => {
    const runtime = ort as Ort;
    const compiled = await compileBundle(cnn, { batches: [3] });
    if (E.isLeft(compiled)) throw new Error(C.formatDiagnostics(compiled.left));
    const dir = mkdtempSync(join(tmpdir(), "graft-onnx-conv-"));
    dirs.push(dir);
    writeFileSync(join(dir, "model.mjs"), compiled.right.code);
    const { load } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as {
      load: (w?: undefined, o?: { seed: number }) => Promise<{ forward(f: object): Record<string, Float32Array>; saveWeights(): Uint8Array }>;
    };
    const bundle = await load(undefined, { seed: 4 });
    const images = Float32Array.from({ length: 3 * 2 * 9 * 8 }, (_, i) => Math.sin(i * 0.61));
    const expected = bundle.forward({ x: images });
    const exported = exportOnnx(cnn, { weights: bundle.saveWeights() });
    if (E.isLeft(exported)) throw new Error(C.formatDiagnostics(exported.left));
    const session = await createSession(runtime, exported.right.bytes);
    const got = await session.run({ x: new runtime.Tensor("float32", images, [3, 2, 9, 8]) });
    for (const name of ["logits", "pooled"]) {
      const a = Array.from(got[name]?.data as Float32Array);
      const b = Array.from(expected[name] ?? []);
      expect(a.length, name).toBe(b.length);
      a.forEach((v, i) => expect(Math.abs(v - (b[i] as number)), `${name}[${i}]: ONNX Runtime ${v}, graft ${b[i]}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b[i] as number))));
    }
  });
});

describe("ONNX export of a convolutional training step", () => {
  it("is refused, naming the gradient op that has no ONNX form", () => {
    const result = exportOnnx(cnn, { train: "sgd:lr=0.1" });
    expect(E.isLeft(result)).toBe(true);
    if (E.isLeft(result)) expect(C.formatDiagnostics(result.left)).toMatch(/conv2d_weight_grad \(a convolution's weight gradient\) has no ONNX op: training steps of convolutional models are not exported yet \(export the forward\)/);
  });
});
