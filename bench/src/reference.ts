/**
 * Plain-JS float64 reference implementations of the benchmark workloads: matmul, MLP
 * forward, softmax cross-entropy forward + backward, MLP backward and one Adam step.
 * Slow and simple on purpose; they define the numbers every system must reproduce within
 * float32 tolerance.
 */
import type { AdamConfig, MlpData } from "./data.js";

/** Float64 copy of any numeric array. */
export function toF64(a: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ?? 0;
  return out;
}

/** `C[m,n] = A[m,k] @ B[k,n]`, all row-major. */
export function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p] ?? 0;
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] = (c[ci + j] ?? 0) + aip * (b[bp + j] ?? 0);
    }
  }
  return c;
}

/** `C[m,n] = A^T @ B` with A stored `[k,m]` and B `[k,n]`. */
export function matmulTN(a: Float64Array, b: Float64Array, k: number, m: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let p = 0; p < k; p++) {
    const ap = p * m;
    const bp = p * n;
    for (let i = 0; i < m; i++) {
      const api = a[ap + i] ?? 0;
      if (api === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j] = (c[ci + j] ?? 0) + api * (b[bp + j] ?? 0);
    }
  }
  return c;
}

/** `C[m,n] = A @ B^T` with A stored `[m,k]` and B `[n,k]`. */
export function matmulNT(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[ai + p] ?? 0) * (b[bj + p] ?? 0);
      c[i * n + j] = s;
    }
  }
  return c;
}

/** Result of a softmax cross-entropy (mean over rows) and its gradient wrt the logits. */
export interface CeResult {
  readonly loss: number;
  /** `(softmax(logits) - onehot(labels)) / rows`, row-major `[rows, classes]`. */
  readonly grad: Float64Array;
}

/** Mean softmax cross-entropy `LSE(z) - z[y]` (max-shifted) and its gradient. */
export function softmaxCrossEntropy(logits: Float64Array, labels: Int32Array, rows: number, classes: number): CeResult {
  const grad = new Float64Array(rows * classes);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) max = Math.max(max, logits[o + j] ?? 0);
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp((logits[o + j] ?? 0) - max);
    const lse = max + Math.log(sum);
    const y = labels[r] ?? 0;
    total += lse - (logits[o + y] ?? 0);
    for (let j = 0; j < classes; j++) grad[o + j] = Math.exp((logits[o + j] ?? 0) - lse) / rows;
    grad[o + y] = (grad[o + y] ?? 0) - 1 / rows;
  }
  return { loss: total / rows, grad };
}

/** MLP parameters in float64, same layout as `MlpData` (`[in, out]` weights). */
export interface MlpParams64 {
  readonly weights: Float64Array[];
  readonly biases: Float64Array[];
}

/** The initial MLP parameters of a case, promoted to float64. */
export function mlpParams64(data: MlpData): MlpParams64 {
  return { weights: data.weights.map(toF64), biases: data.biases.map(toF64) };
}

/** Forward pass: returns the pre-activations of every layer (last = logits) and the layer inputs. */
export function mlpForward(
  params: MlpParams64,
  x: Float64Array,
  batch: number,
  sizes: readonly number[],
): { inputs: Float64Array[]; pre: Float64Array[] } {
  const inputs: Float64Array[] = [];
  const pre: Float64Array[] = [];
  let h = x;
  const layers = sizes.length - 1;
  for (let l = 0; l < layers; l++) {
    const fanIn = sizes[l] ?? 0;
    const fanOut = sizes[l + 1] ?? 0;
    const w = params.weights[l];
    const b = params.biases[l];
    if (w === undefined || b === undefined) throw new Error(`missing layer ${l}`);
    inputs.push(h);
    const z = matmul(h, w, batch, fanIn, fanOut);
    for (let r = 0; r < batch; r++) for (let j = 0; j < fanOut; j++) z[r * fanOut + j] = (z[r * fanOut + j] ?? 0) + (b[j] ?? 0);
    pre.push(z);
    if (l + 1 < layers) {
      const a = new Float64Array(z.length);
      for (let i = 0; i < z.length; i++) a[i] = Math.max(0, z[i] ?? 0);
      h = a;
    }
  }
  return { inputs, pre };
}

/** MLP logits for `data.x` with `params`. */
export function mlpLogits(params: MlpParams64, data: MlpData): Float64Array {
  const { pre } = mlpForward(params, toF64(data.x), data.batch, data.sizes);
  const logits = pre[pre.length - 1];
  if (logits === undefined) throw new Error("MLP without layers");
  return logits;
}

/** Loss and gradients of the mean cross-entropy of the MLP. */
export function mlpLossAndGrads(params: MlpParams64, data: MlpData): { loss: number; grads: MlpParams64 } {
  const { sizes, batch } = data;
  const layers = sizes.length - 1;
  const { inputs, pre } = mlpForward(params, toF64(data.x), batch, sizes);
  const logits = pre[layers - 1];
  if (logits === undefined) throw new Error("MLP without layers");
  const ce = softmaxCrossEntropy(logits, data.labels, batch, sizes[layers] ?? 0);
  const gw: Float64Array[] = new Array<Float64Array>(layers);
  const gb: Float64Array[] = new Array<Float64Array>(layers);
  let dz = ce.grad;
  for (let l = layers - 1; l >= 0; l--) {
    const fanIn = sizes[l] ?? 0;
    const fanOut = sizes[l + 1] ?? 0;
    const h = inputs[l];
    const w = params.weights[l];
    if (h === undefined || w === undefined) throw new Error(`missing layer ${l}`);
    gw[l] = matmulTN(h, dz, batch, fanIn, fanOut);
    const db = new Float64Array(fanOut);
    for (let r = 0; r < batch; r++) for (let j = 0; j < fanOut; j++) db[j] = (db[j] ?? 0) + (dz[r * fanOut + j] ?? 0);
    gb[l] = db;
    if (l > 0) {
      const dh = matmulNT(dz, w, batch, fanOut, fanIn);
      const zPrev = pre[l - 1];
      if (zPrev === undefined) throw new Error(`missing pre-activation ${l - 1}`);
      for (let i = 0; i < dh.length; i++) if (!((zPrev[i] ?? 0) > 0)) dh[i] = 0;
      dz = dh;
    }
  }
  return { loss: ce.loss, grads: { weights: gw, biases: gb } };
}

/** Adam optimizer state (first and second moments) for a list of parameters. */
export interface AdamState {
  step: number;
  readonly m: Float64Array[];
  readonly v: Float64Array[];
}

/** Fresh Adam state (zero moments, step 0) shaped like `params`. */
export function adamInit(params: readonly Float64Array[]): AdamState {
  return { step: 0, m: params.map((p) => new Float64Array(p.length)), v: params.map((p) => new Float64Array(p.length)) };
}

/**
 * One Adam step in place, PyTorch semantics:
 * `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; p -= lr (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)`.
 */
export function adamStep(params: Float64Array[], grads: readonly Float64Array[], state: AdamState, cfg: AdamConfig): void {
  state.step += 1;
  const bc1 = 1 - Math.pow(cfg.beta1, state.step);
  const bc2 = 1 - Math.pow(cfg.beta2, state.step);
  for (let k = 0; k < params.length; k++) {
    const p = params[k];
    const g = grads[k];
    const m = state.m[k];
    const v = state.v[k];
    if (p === undefined || g === undefined || m === undefined || v === undefined) throw new Error(`missing parameter ${k}`);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] ?? 0;
      const mi = cfg.beta1 * (m[i] ?? 0) + (1 - cfg.beta1) * gi;
      const vi = cfg.beta2 * (v[i] ?? 0) + (1 - cfg.beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = (p[i] ?? 0) - (cfg.lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + cfg.eps);
    }
  }
}

/** Result of reference training steps from the case's initial parameters. */
export interface TrainStepResult {
  /** Loss computed by the last step (at the parameters before that step). */
  readonly loss: number;
  /** Parameters after the steps. */
  readonly params: MlpParams64;
}

/**
 * `steps` full training steps (forward, backward, Adam update) on the case's batch from
 * its initial state (fresh Adam moments).
 */
export function mlpTrainSteps(data: MlpData, steps: number): TrainStepResult {
  const params = mlpParams64(data);
  const flat = [...params.weights, ...params.biases];
  const state = adamInit(flat);
  let loss = NaN;
  for (let s = 0; s < steps; s++) {
    const r = mlpLossAndGrads(params, data);
    loss = r.loss;
    adamStep(flat, [...r.grads.weights, ...r.grads.biases], state, data.adam);
  }
  return { loss, params };
}

/**
 * `conv2d` forward in float64: x `[n, cin, h, w]`, weight `[cout, cin, k, k]`, bias
 * `[cout]`, stride 1, zero padding `pad` on every side; output `[n, cout, h + 2 pad - k + 1, ...]`.
 */
export function conv2dForward(
  x: Float64Array,
  weight: Float64Array,
  bias: Float64Array,
  dims: { readonly n: number; readonly cin: number; readonly cout: number; readonly h: number; readonly w: number; readonly k: number; readonly pad: number },
): Float64Array {
  const { n, cin, cout, h, w, k, pad } = dims;
  const ho = h + 2 * pad - k + 1;
  const wo = w + 2 * pad - k + 1;
  const out = new Float64Array(n * cout * ho * wo);
  const plane = new Float64Array(ho * wo);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < cout; o++) {
      plane.fill(bias[o] ?? 0);
      for (let c = 0; c < cin; c++) {
        const xBase = (b * cin + c) * h * w;
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) {
            const wv = weight[((o * cin + c) * k + i) * k + j] ?? 0;
            // output rows/cols whose input (y + i - pad, x + j - pad) is inside the image
            const y0 = Math.max(0, pad - i);
            const y1 = Math.min(ho, h + pad - i);
            const x0 = Math.max(0, pad - j);
            const x1 = Math.min(wo, w + pad - j);
            for (let y = y0; y < y1; y++) {
              const row = xBase + (y + i - pad) * w - pad + j;
              const orow = y * wo;
              for (let xo = x0; xo < x1; xo++) plane[orow + xo] = (plane[orow + xo] ?? 0) + wv * (x[row + xo] ?? 0);
            }
          }
        }
      }
      out.set(plane, (b * cout + o) * ho * wo);
    }
  }
  return out;
}
