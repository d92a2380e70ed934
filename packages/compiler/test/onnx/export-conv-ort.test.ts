// Convolution and pooling in the ONNX exporter: a small CNN's exported forward (Conv with groups
// and per-side pads, ConvTranspose, MaxPool with ceil mode, AveragePool, GlobalAveragePool,
// 1-D Conv/pools) equals the bundle's forward in onnxruntime-node; its training step (ConvTranspose
// with output padding as a zero Pad, the weight gradients of grouped and dilated convs, MaxPool's
// gradient with ceil mode) gives the bundle's losses; below opset 16 max pooling's gradient is
// refused; gradients with negative padding (crops, zero extensions) give the bundle's weights.
import * as E from "fp-ts/lib/Either.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { decodeSafetensors } from "@graft/runtime";
import { compileBundle } from "../../src/bundle/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { createSession, loadOrt, type Ort } from "./ort.js";
import { expectClose, exported, loadBundle, removeBundles, startingState, stepsSideBySide } from "./ort-steps.js";

const ort = await loadOrt();
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  removeBundles();
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
  it("below opset 16 is refused: max pooling's gradient needs ScatterElements with reduction=add", () => {
    const result = exportOnnx(cnn, { train: "sgd:lr=0.1", opset: 15 });
    expect(E.isLeft(result)).toBe(true);
    if (E.isLeft(result))
      expect(C.formatDiagnostics(result.left)).toContain("max_pool2d_backward (max pooling's gradient) needs ScatterElements with reduction=add, opset 16 or later (exporting opset 15); use --opset 16");
  });
});

// The gradient primitives as a model's outputs, fed directly: ties in the pooled input (the gradient
// goes to each window's first maximum, PyTorch's rule) and a grouped, strided, dilated weight
// gradient with asymmetric padding whose Conv over the batch overshoots the kernel.
const px = C.input("px", [2, 2, 5, 5]);
const pg = C.input("pg", [2, 2, 3, 3]);
const gx = C.input("gx", [2, 4, 9, 8]);
const gg = C.input("gg", [2, 6, 4, 3]);
const poolGrad = C.maxPool2dBackwardRaw(px, pg, { kernel: [2, 2], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: true });
const overlapGrad = C.maxPool2dBackwardRaw(px, C.input("pg2", [2, 2, 4, 4]), { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceilMode: false });
const weightGrad = C.conv2dWeightGradRaw(gx, gg, { stride: [2, 3], padding: [1, 2, 0, 1], dilation: [2, 1], groups: 2, kernel: [3, 2] });
const primitives = C.model({ name: "onnx_grad_primitives", outputs: { poolGrad, overlapGrad, weightGrad } });

describe.runIf(ort !== undefined)("ONNX lowerings of the gradient primitives in onnxruntime-node", () => {
  it("max_pool2d_backward (ties to the first maximum, overlapping windows) and conv2d_weight_grad equal the bundle's", async () => {
    const runtime = ort as Ort;
    const compiled = await compileBundle(primitives, {});
    if (E.isLeft(compiled)) throw new Error(C.formatDiagnostics(compiled.left));
    const dir = mkdtempSync(join(tmpdir(), "graft-onnx-grad-"));
    dirs.push(dir);
    writeFileSync(join(dir, "model.mjs"), compiled.right.code);
    const { load } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as { load: () => Promise<{ forward(f: object): Record<string, Float32Array> }> };
    const bundle = await load();
    // rounded to a few levels: many windows hold their maximum twice or more
    const feeds = {
      px: Float32Array.from({ length: 2 * 2 * 5 * 5 }, (_, i) => Math.round(Math.sin(i * 1.3) * 1.5)),
      pg: Float32Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => i + 1),
      pg2: Float32Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => (i % 7) + 1),
      gx: Float32Array.from({ length: 2 * 4 * 9 * 8 }, (_, i) => Math.sin(i * 0.37)),
      gg: Float32Array.from({ length: 2 * 6 * 4 * 3 }, (_, i) => Math.cos(i * 0.23)),
    };
    const dims: Record<string, number[]> = { px: [2, 2, 5, 5], pg: [2, 2, 3, 3], pg2: [2, 2, 4, 4], gx: [2, 4, 9, 8], gg: [2, 6, 4, 3] };
    const expected = bundle.forward(feeds);
    const exported = exportOnnx(primitives, {});
    if (E.isLeft(exported)) throw new Error(C.formatDiagnostics(exported.left));
    const session = await createSession(runtime, exported.right.bytes);
    const got = await session.run(Object.fromEntries(Object.entries(feeds).map(([name, data]) => [name, new runtime.Tensor("float32", data, dims[name] ?? [])])));
    for (const name of ["poolGrad", "overlapGrad", "weightGrad"]) {
      const a = Array.from(got[name]?.data as Float32Array);
      const b = Array.from(expected[name] ?? []);
      expect(a.length, name).toBe(b.length);
      a.forEach((v, i) => expect(Math.abs(v - (b[i] as number)), `${name}[${i}]: ONNX Runtime ${v}, graft ${b[i]}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b[i] as number))));
    }
  });
});

describe.runIf(ort !== undefined)("ONNX export of a convolutional training step in onnxruntime-node", () => {
  it("5 exported SGD steps give the bundle's 5 trainStep losses (grouped, dilated and transposed convs, ceil-mode max pool, 1-D conv and pools)", async () => {
    const runtime = ort as Ort;
    const rows = 3;
    const compiled = await compileBundle(cnn, { batches: [rows], train: "sgd:lr=0.1" });
    if (E.isLeft(compiled)) throw new Error(C.formatDiagnostics(compiled.left));
    const dir = mkdtempSync(join(tmpdir(), "graft-onnx-conv-train-"));
    dirs.push(dir);
    writeFileSync(join(dir, "model.mjs"), compiled.right.code);
    const { load } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as {
      load: (w?: undefined, o?: { seed: number }) => Promise<{ trainStep(f: object): { loss: number }; saveWeights(): Uint8Array }>;
    };
    const bundle = await load(undefined, { seed: 5 });
    const exported = exportOnnx(cnn, { train: "sgd:lr=0.1", weights: bundle.saveWeights() });
    if (E.isLeft(exported)) throw new Error(C.formatDiagnostics(exported.left));
    const session = await createSession(runtime, exported.right.bytes);
    const state = new Map<string, { data: Float32Array; dims: number[] }>();
    const initial = exported.right.initialState;
    if (initial === undefined) throw new Error("a training export has an initial state");
    for (const [name, tensor] of decodeSafetensors(initial).tensors) state.set(name, { data: Float32Array.from(tensor.data), dims: [...tensor.shape] });
    for (let step = 0; step < 5; step++) {
      const images = Float32Array.from({ length: rows * 2 * 9 * 8 }, (_, i) => Math.sin(i * 0.61 + step));
      const labels = Int32Array.from({ length: rows }, (_, i) => (i + step) % 3);
      const expected = bundle.trainStep({ x: images, y: labels }).loss;
      const feeds: Record<string, unknown> = { x: new runtime.Tensor("float32", images, [rows, 2, 9, 8]), y: new runtime.Tensor("int32", labels, [rows]) };
      for (const [name, entry] of state) feeds[name] = new runtime.Tensor("float32", entry.data, entry.dims);
      const out = await session.run(feeds as Parameters<typeof session.run>[0]);
      const loss = Number((out.loss?.data as Float32Array | undefined)?.[0]);
      expect(Math.abs(loss - expected), `step ${step}: ONNX Runtime ${loss}, graft ${expected}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected)));
      for (const [name, entry] of state) {
        const updated = out[`${name}.new`];
        if (updated !== undefined) state.set(name, { ...entry, data: Float32Array.from(updated.data as Float32Array) });
      }
    }
  });
});

// A transposed conv with stride 1, dilation 2 and output padding 1 (PyTorch allows it, ORT's
// ConvTranspose does not: the export writes output padding as zeros padded on), then an average
// pool that leaves the last row and column unread. In the training step, the pool's gradient is a
// transposed conv with negative padding (a Pad with zeros), the transposed conv's input gradient a
// conv2d and its weight gradient a conv2d_weight_grad with negative padding (a Slice of the input).
const tx = C.input("x", ["batch", 2, 5, 5]);
const ty = C.input("y", ["batch"], "i32");
const grown = C.convTranspose2d(C.relu(C.conv2dLayer(tx, 2, 3, 2, "conv1")), C.param("up.weight", [3, 2, 3, 3], C.kaimingUniform({ a: Math.sqrt(5) })), undefined, { stride: 1, dilation: 2, outputPadding: 1 });
const cropLogits = C.dense(C.flatten(C.avgPool2d(grown, 4), 1), 2 * 2 * 2, 3, "fc");
const cropModel = C.model({ name: "onnx_crop", outputs: { logits: cropLogits }, loss: C.crossEntropy(cropLogits, ty) });

describe.runIf(ort !== undefined)("ONNX export of a gradient conv with negative padding, in onnxruntime-node", () => {
  it("5 exported SGD steps give the bundle's losses and final weights (negative padding in conv2d, conv2d_weight_grad and conv_transpose2d)", async () => {
    const runtime = ort as Ort;
    const rows = 3;
    const bundle = await loadBundle(cropModel, { batches: [rows], train: "sgd:lr=0.1" });
    const step = exported(cropModel, { train: "sgd:lr=0.1", weights: bundle.saveWeights() });
    const session = await createSession(runtime, step.bytes);
    const state = startingState(step.initialState);
    const losses = await stepsSideBySide(runtime, bundle, session, step, state, 5, (i) => {
      const images = Float32Array.from({ length: rows * 2 * 5 * 5 }, (_, j) => Math.sin(j * 0.43 + i));
      const labels = Int32Array.from({ length: rows }, (_, j) => (j + i) % 3);
      return { bundle: { x: images, y: labels }, ort: { x: new runtime.Tensor("float32", images, [rows, 2, 5, 5]), y: new runtime.Tensor("int32", labels, [rows]) } };
    });
    expectClose(losses.ort, losses.graft, 1e-5, "losses");
    for (const [name, tensor] of decodeSafetensors(bundle.saveWeights()).tensors) expectClose(state.get(name)?.values ?? [], tensor.data, 1e-5, `${name} after 5 steps`);
  });
});
