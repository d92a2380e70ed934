/**
 * Peer: TensorFlow.js 4.22 (`@tensorflow/tfjs`, for gradients and optimizers) on its WASM
 * backend (`@tensorflow/tfjs-backend-wasm`, XNNPACK kernels), single-threaded.
 *
 * Written the way a tfjs user would get the best speed: `tf.fused.matMul` with bias and
 * ReLU epilogue (what `tf.layers.dense` uses), `tf.losses.softmaxCrossEntropy`,
 * `optimizer.minimize` with `tf.train.adam`. Labels are one-hot encoded in `prepare` (tfjs
 * has no sparse cross-entropy), outside the timed region.
 *
 * Completion: the WASM backend runs kernels synchronously, so a result is computed when
 * the op returns; `run()` still reads the loss (a scalar) with `dataSync()`, and fences
 * large outputs by reading one element of them (a 1-element slice), so the timed region
 * neither skips work nor pays for copying megabytes out of the WASM heap.
 *
 * `conv2d` and the model train steps are in tfjs-models.ts.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";
import { ceChecks, gemmChecks, inferenceChecks, mlpTrainChecks } from "../checks.js";
import type { MlpData, WorkloadData } from "../data.js";
import { asCe, asConv, asGemm, asMlp, asModel } from "../data.js";
import { prepareCnnTrain, prepareConv, prepareTransformerTrain } from "./tfjs-models.js";
import type { BenchCase, PreparedRun, System, SystemInfo } from "../harness.js";

/** Reads one element of `t` (a data dependency on all of it) and disposes it. */
function fence(t: tf.Tensor): void {
  if (t.size <= 16) {
    t.dataSync();
  } else {
    const one = tf.slice(t, new Array<number>(t.rank).fill(0), new Array<number>(t.rank).fill(1));
    one.dataSync();
    one.dispose();
  }
}

/** Loads the WASM backend from the package's dist folder; returns the .wasm files read. */
async function initWasmBackend(): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + "/";
  tfwasm.setWasmPaths(dist);
  tfwasm.setThreadsCount(1);
  // Record which binary Emscripten actually reads (it uses fs in Node).
  const seen: string[] = [];
  const origSync = fs.readFileSync;
  const spy = function (this: unknown, ...args: Parameters<typeof fs.readFileSync>): ReturnType<typeof fs.readFileSync> {
    const p = args[0];
    if (typeof p === "string" && p.endsWith(".wasm")) seen.push(p.slice(p.lastIndexOf("/") + 1));
    return origSync.apply(this, args);
  };
  (fs as { readFileSync: typeof fs.readFileSync }).readFileSync = spy as typeof fs.readFileSync;
  try {
    const ok = await tf.setBackend("wasm");
    if (!ok || tf.getBackend() !== "wasm") throw new Error("tf.setBackend('wasm') failed");
  } finally {
    (fs as { readFileSync: typeof fs.readFileSync }).readFileSync = origSync;
  }
  return seen;
}

interface MlpTensors {
  readonly x: tf.Tensor2D;
  readonly oneHot: tf.Tensor2D;
  readonly weights: tf.Variable[];
  readonly biases: tf.Variable[];
}

function mlpTensors(d: MlpData): MlpTensors {
  const inDim = d.sizes[0] ?? 0;
  const classes = d.sizes[d.sizes.length - 1] ?? 0;
  return {
    x: tf.tensor2d(d.x, [d.batch, inDim]),
    oneHot: tf.tensor2d(d.oneHot, [d.batch, classes]),
    weights: d.weights.map((w, l) => tf.variable(tf.tensor2d(w, [d.sizes[l] ?? 0, d.sizes[l + 1] ?? 0]), true, `w${l}`)),
    biases: d.biases.map((b, l) => tf.variable(tf.tensor1d(b), true, `b${l}`)),
  };
}

function mlpForward(m: MlpTensors, x: tf.Tensor2D): tf.Tensor2D {
  let h: tf.Tensor2D = x;
  const layers = m.weights.length;
  for (let l = 0; l < layers; l++) {
    const w = m.weights[l];
    const b = m.biases[l];
    if (w === undefined || b === undefined) throw new Error(`missing layer ${l}`);
    h = tf.fused.matMul({ a: h, b: w, bias: b, activation: l + 1 < layers ? "relu" : "linear" }) as tf.Tensor2D;
  }
  return h;
}

function disposeMlp(m: MlpTensors): void {
  tf.dispose([m.x, m.oneHot, ...m.weights, ...m.biases]);
}

function prepareTrainStep(d: MlpData): PreparedRun {
  const m = mlpTensors(d);
  const vars = [...m.weights, ...m.biases];
  const opt = tf.train.adam(d.adam.lr, d.adam.beta1, d.adam.beta2, d.adam.eps);
  let lastLoss = NaN;
  return {
    run() {
      const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(m.oneHot, mlpForward(m, m.x)) as tf.Scalar, true, vars);
      if (cost === null) throw new Error("minimize returned no cost");
      lastLoss = cost.dataSync()[0] ?? NaN;
      cost.dispose();
    },
    async check() {
      return mlpTrainChecks(
        d,
        lastLoss,
        m.weights.map((w) => w.dataSync()),
        m.biases.map((b) => b.dataSync()),
      );
    },
    liveCount: () => tf.memory().numTensors,
    dispose() {
      opt.dispose();
      disposeMlp(m);
    },
  };
}

function prepareInference(d: MlpData): PreparedRun {
  const m = mlpTensors(d);
  let last: tf.Tensor | undefined;
  return {
    run() {
      last?.dispose();
      last = tf.tidy(() => mlpForward(m, m.x));
      fence(last);
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return inferenceChecks(last.dataSync());
    },
    liveCount: () => tf.memory().numTensors,
    dispose() {
      last?.dispose();
      disposeMlp(m);
    },
  };
}

function prepareCe(data: WorkloadData): PreparedRun {
  const d = asCe(data);
  const logits = tf.tensor2d(d.logits, [d.rows, d.classes]);
  const oneHot = tf.tensor2d(d.oneHot, [d.rows, d.classes]);
  const lossOf = (z: tf.Tensor): tf.Scalar => tf.losses.softmaxCrossEntropy(oneHot, z) as tf.Scalar;
  const vg = tf.valueAndGrad(lossOf);
  let last: { value: tf.Scalar; grad: tf.Tensor } | undefined;
  let lastLoss = NaN;
  return {
    run() {
      if (last !== undefined) tf.dispose([last.value, last.grad]);
      last = vg(logits);
      lastLoss = last.value.dataSync()[0] ?? NaN;
      fence(last.grad);
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return ceChecks(lastLoss, last.grad.dataSync());
    },
    liveCount: () => tf.memory().numTensors,
    dispose() {
      if (last !== undefined) tf.dispose([last.value, last.grad]);
      tf.dispose([logits, oneHot]);
    },
  };
}

function prepareGemm(data: WorkloadData): PreparedRun {
  const d = asGemm(data);
  const a = tf.tensor2d(d.a, [d.m, d.k]);
  const b = tf.tensor2d(d.b, [d.k, d.n]);
  let last: tf.Tensor | undefined;
  return {
    run() {
      last?.dispose();
      last = tf.matMul(a, b);
      fence(last);
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return gemmChecks(last.dataSync());
    },
    liveCount: () => tf.memory().numTensors,
    dispose() {
      last?.dispose();
      tf.dispose([a, b]);
    },
  };
}

/** The tfjs-wasm peer system. */
export const tfjsWasm: System = {
  name: "tfjs-wasm",
  peer: true,
  async setup(): Promise<SystemInfo> {
    tf.enableProdMode();
    const binaries = await initWasmBackend();
    const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) === true;
    const mt = (await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")) === true;
    return {
      backend: `tfjs ${tf.version.tfjs}, wasm backend (XNNPACK)`,
      threads: tfwasm.getThreadsCount(),
      simd,
      notes:
        `binary ${binaries.join(", ") || "(not seen)"}; WASM_HAS_SIMD_SUPPORT=${simd}, WASM_HAS_MULTITHREAD_SUPPORT=${mt}; ` +
        "prod mode; fused matMul+bias+relu and conv2d+bias; NHWC activations, HWIO/[in,out] kernels (converted outside timing); " +
        "BN via tf.moments + tf.batchNorm with running-stat updates; dropout tf.dropout (timed runs); " +
        "CNN conv weight gradient via tf.customGrad (no Conv2DBackpropFilter on wasm), token embedding as a one-hot matmul (no UnsortedSegmentSum); " +
        "one-hot labels prepared outside timing; completion fenced by a 1-element read",
    };
  },
  async prepare(c: BenchCase, data: WorkloadData): Promise<PreparedRun | "unsupported"> {
    switch (c.workload) {
      case "mlp_train_step":
        return prepareTrainStep(asMlp(data));
      case "inference":
        return prepareInference(asMlp(data));
      case "softmax_ce":
        return prepareCe(data);
      case "sgemm":
        return prepareGemm(data);
      case "conv2d":
        return prepareConv(asConv(data));
      case "cnn_train_step":
        return prepareCnnTrain(asModel(data, "cnn"));
      case "transformer_train_step":
        return prepareTransformerTrain(asModel(data, "transformer"));
      case "compile":
        return "unsupported";
    }
  },
};
