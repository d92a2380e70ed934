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
import { formatDiagnostics, type Diagnostics } from "@graft/core";
import { exportOnnx, writeFileAtomic } from "@graft/compiler";
import { decodeSafetensors, encodeSafetensors, hyperValue } from "@graft/runtime";
import { BLOB_CLASSES, makeBlobs } from "../blobs/data.js";
import blobsModel from "../blobs/model.js";

/** What this example uses of onnxruntime-node. */
interface OrtTensor {
  readonly data: ArrayLike<number>;
}
export interface Ort {
  readonly Tensor: new (type: string, data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: { create(model: Uint8Array): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

/** onnxruntime-node from the benchmark's peers, or undefined when it is not installed. */
export const loadOrt = (): Ort | undefined => {
  for (const project of ["bench/peers/package.json", "bench/package.json"])
    try {
      return createRequire(join(root, project))("onnxruntime-node") as Ort;
    } catch {
      // not installed there
    }
  return undefined;
};

const unwrap = <T>(result: E.Either<Diagnostics, T>): T => {
  if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
  return result.right;
};

/** What {@link trainInOrt} did. */
export interface OrtRun {
  /** The loss of every step, as ONNX Runtime computed it. */
  readonly losses: readonly number[];
  /** ONNX Runtime's accuracy with the exported forward and the trained weights on 400 test points. */
  readonly accuracy: number;
  /** The trained params as safetensors. */
  readonly weights: Uint8Array;
  /** The exported training step and forward. */
  readonly trainingStep: Uint8Array;
  readonly forward: Uint8Array;
}

/** Trains the blobs MLP for `steps` Adam steps (batch 32) in ONNX Runtime, then serves it there. */
export const trainInOrt = async (ort: Ort, steps: number, onStep?: (step: number, loss: number) => void): Promise<OrtRun> => {
  // 1. the training step as ONNX, and its starting state (params, Adam's moments, hyper scalars)
  const step = unwrap(exportOnnx(blobsModel, { train: "adam:lr=0.01" }));
  const state = new Map([...decodeSafetensors(step.initialState ?? new Uint8Array(0)).tensors].map(([name, t]) => [name, { data: Float32Array.from(t.data), shape: [...t.shape] }]));

  // 2. train in ONNX Runtime: feed the batch and the state, take every '<name>.new' back
  const train = makeBlobs({ samples: 400, seed: 80 });
  const session = await ort.InferenceSession.create(step.bytes);
  const batch = 32;
  const losses: number[] = [];
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
    losses.push(Number(result.loss?.data[0]));
    onStep?.(i + 1, losses[i] ?? Number.NaN);
  }

  // 3. the trained weights as safetensors (PyTorch's names: load_state_dict reads them)
  const params = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"];
  const weights = encodeSafetensors(params.map((name) => ({ name, dtype: "F32" as const, shape: state.get(name)?.shape ?? [], data: state.get(name)?.data ?? new Float32Array(0) })));

  // 4. serve: the forward with the trained weights, in ONNX Runtime
  const forward = unwrap(exportOnnx(blobsModel, { weights }));
  const test = makeBlobs({ samples: 400, seed: 7 });
  const served = await (await ort.InferenceSession.create(forward.bytes)).run({ x: new ort.Tensor("float32", test.features, [test.count, 2]) });
  const logits = served.logits?.data ?? [];
  let correct = 0;
  for (let row = 0; row < test.count; row++) {
    let best = 0;
    for (let c = 1; c < BLOB_CLASSES; c++) if ((logits[row * BLOB_CLASSES + c] ?? 0) > (logits[row * BLOB_CLASSES + best] ?? 0)) best = c;
    if (best === test.labels[row]) correct++;
  }
  return { losses, accuracy: correct / test.count, weights, trainingStep: step.bytes, forward: forward.bytes };
};

const main = async (args: readonly string[]): Promise<number> => {
  const { values } = parseArgs({ args: [...args], options: { steps: { type: "string", default: "300" }, out: { type: "string", default: "artifacts/onnx" } } });
  const steps = Number(values.steps);
  if (!Number.isSafeInteger(steps) || steps < 1) {
    console.error(`onnx example: --steps must be a positive integer, got '${values.steps}'`);
    return 2;
  }
  const ort = loadOrt();
  if (ort === undefined) {
    console.error("onnx example: onnxruntime-node is not installed; run `pnpm bench:peers`");
    return 2;
  }
  const out = resolve(values.out ?? "artifacts/onnx");
  const run = await trainInOrt(ort, steps, (step, loss) => {
    if (step % 50 === 1 || step === steps) console.log(`step ${step}: loss ${loss.toFixed(4)} (ONNX Runtime)`);
  });
  await mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, "blobs-train.onnx"), run.trainingStep);
  await writeFileAtomic(join(out, "blobs.safetensors"), run.weights);
  await writeFileAtomic(join(out, "blobs.onnx"), run.forward);
  console.log(`wrote blobs-train.onnx, blobs.safetensors and blobs.onnx to ${out}; ONNX Runtime test accuracy ${(100 * run.accuracy).toFixed(1)}%`);
  return 0;
};

const entry = process.argv[1];
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (thrown: unknown) => {
      console.error(thrown);
      process.exitCode = 1;
    },
  );
}
