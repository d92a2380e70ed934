/**
 * Peer: jax-js (`@jax-js/jax`) on its WASM device.
 *
 * Every workload is one `jit`-compiled function (kernel fusion, compiled on the first call,
 * which the harness times separately as `first_ms`), except `conv2d` and the CNN step, which
 * run eagerly (faster for jax-js: see jax-models.ts). The train step is
 * `jit(valueAndGrad(loss) + hand-written Adam)` (there is no `@jax-js/optax` on npm), with
 * the step counter kept on the device so no host value changes between steps.
 *
 * Memory: jax-js uses reference-counted ownership (every call consumes its array
 * arguments; `.ref` adds a reference). Each `run()` passes `.ref` of the persistent inputs
 * and keeps exactly the returned state, disposing the previous outputs.
 *
 * Completion: `run()` awaits `blockUntilReady` on every output (the documented way to wait
 * for jax-js's lazy dispatch); results stay on the device, nothing is copied out.
 *
 * `conv2d` and the model train steps are in jax-models.ts.
 *
 * Threads: jax-js's WASM device uses Web Workers when `SharedArrayBuffer` and a global
 * `Worker` exist; Node 20 has no global `Worker`, so it runs single-threaded here.
 */
import { blockUntilReady, defaultDevice, init, jit, nn, numpy as np, tree, valueAndGrad } from "@jax-js/jax";
import { ceChecks, gemmChecks, inferenceChecks, mlpTrainChecks } from "../checks.js";
import type { AdamConfig, MlpData, WorkloadData } from "../data.js";
import { asCe, asConv, asGemm, asMlp, asModel } from "../data.js";
import { prepareCnnTrain, prepareConv, prepareTransformerTrain } from "./jax-models.js";
import type { BenchCase, PreparedRun, System, SystemInfo } from "../harness.js";

type Arr = np.Array;
// `type` (not `interface`) so that jax-js's JsTree typing accepts it.
type Params = { w: Arr[]; b: Arr[] };

async function readF32(a: Arr): Promise<Float32Array> {
  // `data()` consumes a reference; pass a new one so `a` stays alive.
  const d = await a.ref.data();
  if (!(d instanceof Float32Array)) throw new Error(`expected float32 data, got ${d.constructor.name}`);
  return d;
}

function mlpParams(d: MlpData): Params {
  return {
    w: d.weights.map((w, l) => np.array(w, { shape: [d.sizes[l] ?? 0, d.sizes[l + 1] ?? 0] })),
    b: d.biases.map((b) => np.array(b)),
  };
}

/** Logits of the MLP; consumes `p` and `x` (each used once). */
function forward(p: Params, x: Arr): Arr {
  let h = x;
  const layers = p.w.length;
  for (let l = 0; l < layers; l++) {
    const w = p.w[l];
    const b = p.b[l];
    if (w === undefined || b === undefined) throw new Error(`missing layer ${l}`);
    h = np.matmul(h, w).add(b);
    if (l + 1 < layers) h = nn.relu(h);
  }
  return h;
}

/** Mean softmax cross-entropy against one-hot `y`; consumes `logits` and `y`. */
function meanCe(logits: Arr, y: Arr, rows: number): Arr {
  return np.sum(nn.logSoftmax(logits, -1).mul(y)).mul(-1 / rows);
}

type AdamState = { p: Params; m: Params; v: Params; t: Arr };

function zerosLike(p: Params): Params {
  return { w: p.w.map((a) => np.zeros(a.shape)), b: p.b.map((a) => np.zeros(a.shape)) };
}

/** One Adam update of one leaf; consumes all its array arguments, returns [p, m, v]. */
function adamLeaf(p: Arr, g: Arr, m: Arr, v: Arr, bc1: Arr, bc2: Arr, cfg: AdamConfig): [Arr, Arr, Arr] {
  const m2 = m.mul(cfg.beta1).add(g.ref.mul(1 - cfg.beta1));
  const v2 = v.mul(cfg.beta2).add(g.ref.mul(g).mul(1 - cfg.beta2));
  const step = m2.ref.div(bc1).div(np.sqrt(v2.ref.div(bc2)).add(cfg.eps)).mul(cfg.lr);
  return [p.sub(step), m2, v2];
}

function prepareTrainStep(d: MlpData): PreparedRun {
  const inDim = d.sizes[0] ?? 0;
  const classes = d.sizes[d.sizes.length - 1] ?? 0;
  const cfg = d.adam;
  const x = np.array(d.x, { shape: [d.batch, inDim] });
  const y = np.array(d.oneHot, { shape: [d.batch, classes] });
  const loss = (p: Params, xb: Arr, yb: Arr): Arr => meanCe(forward(p, xb), yb, d.batch);
  const step = jit((s: AdamState, xb: Arr, yb: Arr): [Arr, AdamState] => {
    const [lossValue, g] = valueAndGrad(loss)(tree.ref(s.p), xb, yb);
    const t = s.t.add(1);
    // 1 - beta^t, computed on the device from the step counter.
    const bc1 = np.exp(t.ref.mul(Math.log(cfg.beta1))).mul(-1).add(1);
    const bc2 = np.exp(t.ref.mul(Math.log(cfg.beta2))).mul(-1).add(1);
    const leaves = (k: "w" | "b"): [Arr[], Arr[], Arr[]] => {
      const ps: Arr[] = [];
      const ms: Arr[] = [];
      const vs: Arr[] = [];
      s.p[k].forEach((p, i) => {
        const gi = g[k][i];
        const mi = s.m[k][i];
        const vi = s.v[k][i];
        if (gi === undefined || mi === undefined || vi === undefined) throw new Error(`missing leaf ${k}${i}`);
        const [p2, m2, v2] = adamLeaf(p, gi, mi, vi, bc1.ref, bc2.ref, cfg);
        ps.push(p2);
        ms.push(m2);
        vs.push(v2);
      });
      return [ps, ms, vs];
    };
    const [pw, mw, vw] = leaves("w");
    const [pb, mb, vb] = leaves("b");
    bc1.dispose();
    bc2.dispose();
    return [lossValue, { p: { w: pw, b: pb }, m: { w: mw, b: mb }, v: { w: vw, b: vb }, t }];
  });
  const p0 = mlpParams(d);
  let state: AdamState = { p: p0, m: zerosLike(p0), v: zerosLike(p0), t: np.zeros([]) };
  let lastLoss: Arr | undefined;
  return {
    async run() {
      const [l, next] = step(state, x.ref, y.ref);
      state = next;
      lastLoss?.dispose();
      lastLoss = l;
      await blockUntilReady([l, next]);
    },
    async check() {
      if (lastLoss === undefined) throw new Error("not run");
      const lossValue = (await readF32(lastLoss))[0] ?? NaN;
      const weights = await Promise.all(state.p.w.map(readF32));
      const biases = await Promise.all(state.p.b.map(readF32));
      return mlpTrainChecks(d, lossValue, weights, biases);
    },
    dispose() {
      lastLoss?.dispose();
      tree.dispose(state);
      x.dispose();
      y.dispose();
      step.dispose();
    },
  };
}

function prepareInference(d: MlpData): PreparedRun {
  const x = np.array(d.x, { shape: [d.batch, d.sizes[0] ?? 0] });
  const params = mlpParams(d);
  const f = jit((p: Params, xb: Arr): Arr => forward(p, xb));
  let last: Arr | undefined;
  return {
    async run() {
      last?.dispose();
      last = f(tree.ref(params), x.ref);
      await last.blockUntilReady();
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return inferenceChecks(await readF32(last));
    },
    dispose() {
      last?.dispose();
      tree.dispose(params);
      x.dispose();
      f.dispose();
    },
  };
}

function prepareCe(data: WorkloadData): PreparedRun {
  const d = asCe(data);
  const logits = np.array(d.logits, { shape: [d.rows, d.classes] });
  const y = np.array(d.oneHot, { shape: [d.rows, d.classes] });
  const f = jit((z: Arr, yb: Arr): [Arr, Arr] => valueAndGrad((zz: Arr, yy: Arr) => meanCe(zz, yy, d.rows))(z, yb));
  let last: [Arr, Arr] | undefined;
  return {
    async run() {
      if (last !== undefined) tree.dispose(last);
      last = f(logits.ref, y.ref);
      await blockUntilReady(last);
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      const lossValue = (await readF32(last[0]))[0] ?? NaN;
      return ceChecks(lossValue, await readF32(last[1]));
    },
    dispose() {
      if (last !== undefined) tree.dispose(last);
      logits.dispose();
      y.dispose();
      f.dispose();
    },
  };
}

function prepareGemm(data: WorkloadData): PreparedRun {
  const d = asGemm(data);
  const a = np.array(d.a, { shape: [d.m, d.k] });
  const b = np.array(d.b, { shape: [d.k, d.n] });
  const mm = jit((u: Arr, v: Arr): Arr => np.matmul(u, v));
  let last: Arr | undefined;
  return {
    async run() {
      last?.dispose();
      last = mm(a.ref, b.ref);
      await last.blockUntilReady();
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return gemmChecks(await readF32(last));
    },
    dispose() {
      last?.dispose();
      a.dispose();
      b.dispose();
      mm.dispose();
    },
  };
}

/** The jax-js peer system (WASM device). */
export const jaxJs: System = {
  name: "jax-js",
  peer: true,
  async setup(): Promise<SystemInfo> {
    const devices = await init("wasm");
    if (!devices.includes("wasm")) throw new Error(`jax-js: no wasm device (got ${devices.join(", ")})`);
    defaultDevice("wasm");
    const workers = typeof SharedArrayBuffer !== "undefined" && typeof (globalThis as { Worker?: unknown }).Worker !== "undefined";
    const relaxed = relaxedSimd();
    return {
      backend: "jax-js 0.1.25, wasm device, jit",
      threads: workers ? navigatorThreads() : 1,
      simd: true,
      notes:
        `global Worker ${workers ? "present (multi-threaded)" : "absent in Node 20 (single-threaded)"}; ` +
        `relaxed-SIMD madd ${relaxed ? "available" : "not available in this Node (plain f32x4 mul+add)"}; ` +
        "kernels generated per jit with f32x4 SIMD paths; one-hot labels prepared outside timing; completion via blockUntilReady; " +
        "conv via lax.convGeneralDilated, conv2d and the CNN step eager (jit makes its conv ~10x slower), the transformer step jit; " +
        "BN, max pool, layer norm, attention from np primitives; GELU nn.gelu exact (erfc); dropout random.bernoulli, key from the step number",
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

/** The probe jax-js uses to pick relaxed-SIMD fused multiply-add (f32x4.relaxed_madd). */
function relaxedSimd(): boolean {
  const hex = "0061736d0100000001080160037b7b7b017b030201000a0d010b00200020012002fd85020b";
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  try {
    return WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

function navigatorThreads(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return nav?.hardwareConcurrency ?? 1;
}
