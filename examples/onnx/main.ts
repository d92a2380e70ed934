/**
 * @file Beyond one machine (`pnpm example onnx`): the blobs MLP leaves graft as ONNX. Its whole
 * training step (Adam) is exported as a plain ONNX graph and run in a loop by ONNX Runtime —
 * graft computes nothing during training — then the trained weights are written as safetensors
 * (PyTorch's names), the forward is exported with them, and ONNX Runtime serves it on a test
 * set. Needs onnxruntime-node, a peer of the benchmark (`pnpm bench:peers` installs it in bench/peers).
 *
 *   pnpm example onnx [--steps 300] [--out artifacts/onnx]
 */
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import { formatDiagnostics } from "@graft/core";
import { exportOnnx, writeFileAtomic } from "@graft/compiler";
import { decodeSafetensors, encodeSafetensors, hyperValue } from "@graft/runtime";
import { BLOB_CLASSES, makeBlobs } from "../blobs/data.js";
import blobsModel from "../blobs/model.js";

/** What this example uses of onnxruntime-node. */
interface OrtTensor {
  readonly data: ArrayLike<number>;
}
interface Ort {
  readonly Tensor: new (type: string, data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: { create(model: Uint8Array): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const loadOrt = (): Ort | undefined => {
  for (const project of ["bench/peers/package.json", "bench/package.json"])
    try {
      return createRequire(join(root, project))("onnxruntime-node") as Ort;
    } catch {
      // not installed there
    }
  return undefined;
};

const { values } = parseArgs({ options: { steps: { type: "string", default: "300" }, out: { type: "string", default: "artifacts/onnx" } } });
const steps = Number(values.steps);
const out = resolve(values.out ?? "artifacts/onnx");
const ort = loadOrt();
if (ort === undefined) {
  console.error("onnx example: onnxruntime-node is not installed; run `pnpm bench:peers`");
  process.exit(2);
}
const unwrap = <T>(result: E.Either<Parameters<typeof formatDiagnostics>[0], T>): T => {
  if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
  return result.right;
};

// 1. the training step as ONNX, and its starting state (params, Adam's moments, hyper scalars)
const step = unwrap(exportOnnx(blobsModel, { train: "adam:lr=0.01" }));
await mkdir(out, { recursive: true });
await writeFileAtomic(join(out, "blobs-train.onnx"), step.bytes);
console.log(`wrote ${join(out, "blobs-train.onnx")} (${step.bytes.length} bytes): inputs ${step.inputs.join(", ")}`);
const state = new Map([...decodeSafetensors(step.initialState ?? new Uint8Array(0)).tensors].map(([name, t]) => [name, { data: Float32Array.from(t.data), shape: [...t.shape] }]));

// 2. train in ONNX Runtime: feed the batch and the state, take every '<name>.new' back
const train = makeBlobs({ samples: 400, seed: 80 });
const session = await ort.InferenceSession.create(step.bytes);
const batch = 32;
for (let i = 0; i < steps; i++) {
  const start = (i * batch) % (train.count - batch);
  const feeds: Record<string, OrtTensor> = {
    x: new ort.Tensor("float32", train.features.slice(start * 2, (start + batch) * 2), [batch, 2]),
    y: new ort.Tensor("int32", train.labels.slice(start, start + batch), [batch]),
  };
  const hyper = step.hyper;
  if (hyper !== undefined) {
    const t = (state.get(hyper.step)?.data[0] ?? 0) + 1;
    for (const scalar of hyper.scalars) state.set(scalar.param, { data: Float32Array.of(hyperValue(scalar.formula, hyper.lr, t)), shape: [] });
  }
  for (const [name, tensor] of state) feeds[name] = new ort.Tensor("float32", tensor.data, tensor.shape);
  const result = await session.run(feeds);
  for (const [name, tensor] of state) {
    const updated = result[`${name}.new`];
    if (updated !== undefined) state.set(name, { data: Float32Array.from(updated.data), shape: tensor.shape });
  }
  if (i % 50 === 0 || i === steps - 1) console.log(`step ${i + 1}: loss ${Number(result.loss?.data[0]).toFixed(4)}`);
}

// 3. the trained weights as safetensors (PyTorch's names: load_state_dict reads them)
const params = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"];
const weights = encodeSafetensors(params.map((name) => ({ name, dtype: "F32" as const, shape: state.get(name)?.shape ?? [], data: state.get(name)?.data ?? new Float32Array(0) })));
await writeFileAtomic(join(out, "blobs.safetensors"), weights);

// 4. serve: the forward with the trained weights, in ONNX Runtime
const forward = unwrap(exportOnnx(blobsModel, { weights }));
await writeFileAtomic(join(out, "blobs.onnx"), forward.bytes);
const test = makeBlobs({ samples: 400, seed: 7 });
const served = await (await ort.InferenceSession.create(forward.bytes)).run({ x: new ort.Tensor("float32", test.features, [test.count, 2]) });
const logits = served.logits?.data ?? [];
let correct = 0;
for (let row = 0; row < test.count; row++) {
  let best = 0;
  for (let c = 1; c < BLOB_CLASSES; c++) if ((logits[row * BLOB_CLASSES + c] ?? 0) > (logits[row * BLOB_CLASSES + best] ?? 0)) best = c;
  if (best === test.labels[row]) correct++;
}
console.log(`wrote ${join(out, "blobs.safetensors")} and ${join(out, "blobs.onnx")}; ONNX Runtime test accuracy ${((100 * correct) / test.count).toFixed(1)}%`);
