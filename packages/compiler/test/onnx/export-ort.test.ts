// The exported ONNX models run in onnxruntime-node: the forward of every example model equals the
// bundle's forward (batch 1, 32 and a size only the dynamic dim allows), and the exported training
// step run 20 times gives the bundle's 20 trainStep losses, for SGD with momentum and Adam.
import type { Model } from "@graft/core";
import { decodeSafetensors } from "@graft/runtime";
import { afterAll, describe, expect, it } from "vitest";
import blobs from "../../../../examples/blobs/model.js";
import mnist from "../../../../examples/mnist/model.js";
import seedToy from "../../../../examples/seed-toy/model.js";
import cnnTrainModel from "../fixtures/onnx/cnn-train-model.js";
import movementModel from "../fixtures/onnx/movement-model.js";
import movementPadsModel from "../fixtures/onnx/movement-pads-model.js";
import opsModel from "../fixtures/onnx/ops-model.js";
import { createSession, loadOrt, ORT_MISSING, type Ort, type OrtTensor } from "./ort.js";
import { expectClose, exported, loadBundle, numbers, removeBundles, startingState, stepsSideBySide } from "./ort-steps.js";

const ort = await loadOrt();
afterAll(removeBundles);

/** Deterministic inputs in [-1, 1) and labels in [0, classes). */
const features = (rows: number, width: number, salt: number): Float32Array => Float32Array.from({ length: rows * width }, (_, i) => (((i * 7919 + salt * 104729) % 2003) / 1001.5) - 1);
/** Learnable labels: the signs of a row's first two features, modulo the classes. */
const labels = (x: Float32Array, width: number, classes: number): Int32Array =>
  Int32Array.from({ length: x.length / width }, (_, row) => (((x[row * width] ?? 0) > 0 ? 1 : 0) + ((x[row * width + 1] ?? 0) > 0 ? 2 : 0)) % classes);

/** `inputDims` is one row's input shape when it is not [width] (a CNN's [C, H, W]). */
const examples: ReadonlyArray<{ readonly name: string; readonly model: Model; readonly width: number; readonly classes: number; readonly inputDims?: readonly number[] }> = [
  { name: "seed toy", model: seedToy, width: 4, classes: 3 },
  { name: "blobs", model: blobs, width: 2, classes: 4 },
  { name: "mnist MLP", model: mnist, width: 784, classes: 10 },
];
/** The small CNN (conv–relu–maxpool, grouped strided conv, avg pool, dense): its training step only. */
const cnnExample = { name: "small CNN", model: cnnTrainModel, width: 2 * 8 * 8, classes: 3, inputDims: [2, 8, 8] };

describe.runIf(ort !== undefined)("ONNX export in onnxruntime-node", () => {
  const runtime = ort as Ort;
  for (const example of examples) {
    it(`${example.name}: the exported forward equals the bundle's forward at batch 1, 32 and 7 (dynamic), and at a fixed batch 32`, async () => {
      const bundle = await loadBundle(example.model, { batches: [1, 7, 32] });
      const dynamic = await createSession(runtime, exported(example.model, {}).bytes);
      const fixed = await createSession(runtime, exported(example.model, { batch: 32 }).bytes);
      for (const rows of [1, 32, 7]) {
        const x = features(rows, example.width, rows);
        const expected = bundle.forward({ x }).logits ?? new Float32Array(0);
        const feeds = { x: new runtime.Tensor("float32", x, [rows, example.width]) };
        const got = await dynamic.run(feeds);
        expect(got.logits?.dims).toEqual([rows, example.classes]);
        expectClose(numbers(got.logits), expected, 1e-5, `${example.name} logits at batch ${rows}`);
        if (rows === 32) expectClose(numbers((await fixed.run(feeds)).logits), expected, 1e-5, `${example.name} logits at fixed batch 32`);
      }
    });
  }

  const trainings = [
    ...["sgd:lr=0.05,momentum=0.9", "adam:lr=1e-3"].flatMap((optimizer) => examples.map((example) => ({ optimizer, example }))),
    ...["sgd:lr=0.1,momentum=0.9", "adam:lr=1e-3"].map((optimizer) => ({ optimizer, example: cnnExample })),
    ...["adamw:lr=1e-3,weight_decay=0.01", "adagrad:lr=0.05,lr_decay=0.01", "rmsprop:lr=0.01,momentum=0.5"].flatMap((optimizer) => examples.filter((e) => e.name === "blobs").map((example) => ({ optimizer, example }))),
  ];
  for (const { optimizer, example } of trainings) {
    {
      it(`${example.name}, ${optimizer}: 20 exported training steps in ORT give the bundle's 20 trainStep losses`, async () => {
        const rows = 32;
        const bundle = await loadBundle(example.model, { batches: [rows], train: optimizer });
        const step = exported(example.model, { train: optimizer, weights: bundle.saveWeights() });
        const session = await createSession(runtime, step.bytes);
        const state = startingState(step.initialState);
        const hyper = step.hyper;
        const { graft: graftLosses, ort: ortLosses } = await stepsSideBySide(runtime, bundle, session, step, state, 20, (i) => {
          const x = features(rows, example.width, i);
          const y = labels(x, example.width, example.classes);
          return { bundle: { x, y }, ort: { x: new runtime.Tensor("float32", x, [rows, ...(example.inputDims ?? [example.width])]), y: new runtime.Tensor("int32", y, [rows]) } };
        });
        expect(new Set(step.outputs)).toEqual(new Set(["logits", "loss", ...[...state.keys()].filter((n) => !(hyper?.scalars ?? []).some((s) => s.param === n)).map((n) => `${n}.new`)]));
        expectClose(ortLosses, graftLosses, 1e-5, `${example.name} ${optimizer} losses`);
        expect(graftLosses[19]).toBeLessThan(graftLosses[0] ?? 0);
      });
    }
  }
});

describe.runIf(ort !== undefined)("every lowering in onnxruntime-node (a model using each op family)", () => {
  const runtime = ort as Ort;
  const rows = 6;
  const x = features(rows, 4, 3);
  const t = features(rows, 5, 4);
  // row 2 and 5 carry the ignored class 2
  const y = Int32Array.from([0, 1, 2, 3, 4, 2]);
  const feedsOf = (): Record<string, OrtTensor> => ({
    x: new runtime.Tensor("float32", x, [rows, 4]),
    y: new runtime.Tensor("int32", y, [rows]),
    t: new runtime.Tensor("float32", t, [rows, 5]),
  });

  it("forward: logits, a bounded transform, the activations and argmax (i32) equal the bundle's", async () => {
    const bundle = await loadBundle(opsModel, { batches: [rows] });
    const expected = bundle.forward({ x });
    const got = await (await createSession(runtime, exported(opsModel, {}).bytes)).run({ x: new runtime.Tensor("float32", x, [rows, 4]) });
    expectClose(numbers(got.logits), expected.logits ?? [], 1e-5, "logits");
    expectClose(numbers(got.bounded), expected.bounded ?? [], 1e-5, "bounded");
    expectClose(numbers(got.activated), expected.activated ?? [], 1e-5, "activated");
    expect(got.pred?.type).toBe("int32");
    expect(numbers(got.pred)).toEqual(Array.from(expected.pred ?? []));
  });

  it("forward at opsets 13, 18 (reduce axes as inputs) and 21 equals opset 17's", async () => {
    const feeds = { x: new runtime.Tensor("float32", x, [rows, 4]) };
    const reference = await (await createSession(runtime, exported(opsModel, {}).bytes)).run(feeds);
    for (const opset of [13, 18, 21]) {
      const got = await (await createSession(runtime, exported(opsModel, { opset }).bytes)).run(feeds);
      for (const name of ["logits", "bounded", "activated", "pred"]) expectClose(numbers(got[name]), numbers(reference[name]), 1e-6, `${name} at opset ${opset}`);
    }
  });

  for (const opset of [17, 18]) it(`training step (SGD), opset ${opset}: 5 steps give the bundle's losses and final weights`, async () => {
    const bundle = await loadBundle(opsModel, { batches: [rows], train: "sgd:lr=0.1" });
    const step = exported(opsModel, { train: "sgd:lr=0.1", weights: bundle.saveWeights(), opset });
    const session = await createSession(runtime, step.bytes);
    const state = startingState(step.initialState);
    const losses = await stepsSideBySide(runtime, bundle, session, step, state, 5, () => ({ bundle: { x, y, t }, ort: feedsOf() }));
    expectClose(losses.ort, losses.graft, 1e-5, "ops model losses");
    const final = decodeSafetensors(bundle.saveWeights()).tensors;
    for (const name of ["W", "b"]) expectClose(state.get(name)?.values ?? [], final.get(name)?.data ?? [], 1e-5, `${name} after 5 steps`);
  });
});

describe.runIf(ort !== undefined)("data-movement lowerings in onnxruntime-node (embedding, slice, pad, flip, concat, tril/triu, arange)", () => {
  const runtime = ort as Ort;
  const rows = 5;
  const x = features(rows, 6, 9);
  const ids = Int32Array.from({ length: rows * 3 }, (_, i) => (i * 7) % 10);
  const y = Int32Array.from({ length: rows }, (_, i) => i % 4);
  const ortFeeds = (): Record<string, OrtTensor> => ({ x: new runtime.Tensor("float32", x, [rows, 6]), ids: new runtime.Tensor("int32", ids, [rows, 3]) });

  it("forward equals the bundle's", async () => {
    const bundle = await loadBundle(movementModel, { batches: [rows] });
    const got = await (await createSession(runtime, exported(movementModel, {}).bytes)).run(ortFeeds());
    expectClose(numbers(got.logits), bundle.forward({ x, ids }).logits ?? [], 1e-5, "movement logits");
  });

  it("training step (SGD): 5 steps give the bundle's losses and final weights (embedding_backward, pad as slice's gradient)", async () => {
    const bundle = await loadBundle(movementModel, { batches: [rows], train: "sgd:lr=0.1" });
    const step = exported(movementModel, { train: "sgd:lr=0.1", weights: bundle.saveWeights() });
    const session = await createSession(runtime, step.bytes);
    const state = startingState(step.initialState);
    const losses = await stepsSideBySide(runtime, bundle, session, step, state, 5, () => ({ bundle: { x, ids, y }, ort: { ...ortFeeds(), y: new runtime.Tensor("int32", y, [rows]) } }));
    expectClose(losses.ort, losses.graft, 1e-5, "movement losses");
    const final = decodeSafetensors(bundle.saveWeights()).tensors;
    for (const name of ["W", "emb"]) expectClose(state.get(name)?.values ?? [], final.get(name)?.data ?? [], 1e-5, `${name} after 5 steps`);
  });
});

describe.runIf(ort !== undefined)("more data-movement lowerings in onnxruntime-node (reflect/replicate/cropping pads, stack, padding_idx)", () => {
  const runtime = ort as Ort;
  const rows = 5;
  const x = features(rows, 6, 3);
  const ids = Int32Array.from([0, 3, 6, 1, 1, 0, 5, 2, 4, 6, 6, 6, 2, 0, 3]);
  const y = Int32Array.from([0, 7, 3, 5, 1]);
  const feedsOf = (): Record<string, OrtTensor> => ({ x: new runtime.Tensor("float32", x, [rows, 6]), ids: new runtime.Tensor("int32", ids, [rows, 3]), y: new runtime.Tensor("int32", y, [rows]) });

  it("forward (Gather, Concat, Pad reflect/edge/constant, Slice with negative steps, Trilu, Range) equals the bundle's", async () => {
    const bundle = await loadBundle(movementPadsModel, { batches: [rows] });
    const expected = bundle.forward({ x, ids });
    const got = await (await createSession(runtime, exported(movementPadsModel, { opset: 18 }).bytes)).run({ x: feedsOf().x as OrtTensor, ids: feedsOf().ids as OrtTensor });
    expectClose(numbers(got.picked), expected.picked ?? [], 1e-6, "picked");
    expectClose(numbers(got.logits), expected.logits ?? [], 1e-5, "logits");
  });

  it("training step (SGD), opset 18: 5 steps give the bundle's losses and final weights (ScatterND, ScatterElements, interior pads)", async () => {
    const bundle = await loadBundle(movementPadsModel, { batches: [rows], train: "sgd:lr=0.2" });
    const step = exported(movementPadsModel, { train: "sgd:lr=0.2", weights: bundle.saveWeights(), opset: 18 });
    const session = await createSession(runtime, step.bytes);
    const state = startingState(step.initialState);
    const losses = await stepsSideBySide(runtime, bundle, session, step, state, 5, () => ({ bundle: { x, ids, y }, ort: feedsOf() }));
    expectClose(losses.ort, losses.graft, 1e-5, "movement model losses");
    const final = decodeSafetensors(bundle.saveWeights()).tensors;
    for (const name of ["W", "M", "emb.weight"]) expectClose(state.get(name)?.values ?? [], final.get(name)?.data ?? [], 1e-5, `${name} after 5 steps`);
    // the padding row never moved
    expect((state.get("emb.weight")?.values ?? []).slice(0, 4)).toEqual(new Float64Array(4));
  });
});

describe.runIf(ort === undefined)("ONNX export in onnxruntime-node", () => {
  it.skip(ORT_MISSING, () => undefined);
});
