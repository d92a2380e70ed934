/**
 * Deterministic, seeded input data shared by every system of a benchmark case.
 *
 * Every system gets exactly the same numbers (float32 values; int32 labels), and the
 * float64 reference in `reference.ts` starts from those same float32 values promoted
 * to float64, so any disagreement is the system's arithmetic, not its inputs.
 */
import type { ConvData, ModelData } from "./model-data.js";

/** Layer sizes of the benchmark MLP: 784-256-128-64-10. */
export const MLP_SIZES: readonly number[] = [784, 256, 128, 64, 10];

/** Adam hyper-parameters (PyTorch's defaults, lr 1e-3). */
export interface AdamConfig {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
}

/** The Adam configuration used by `mlp_train_step`: lr 1e-3, betas (0.9, 0.999), eps 1e-8. */
export const ADAM: AdamConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/**
 * An MLP with ReLU between layers and a batch of inputs with integer labels.
 *
 * Layout: layer `i` computes `h_{i+1} = h_i @ weights[i] + biases[i]`, with `weights[i]`
 * stored row-major as `[sizes[i], sizes[i+1]]` (that is `[in, out]`, the transpose of
 * PyTorch's `Linear.weight`), ReLU after every layer but the last. Loss: mean softmax
 * cross-entropy of the logits against `labels`.
 */
export interface MlpData {
  readonly kind: "mlp";
  /** Layer widths, input first: [784, 256, 128, 64, 10]. */
  readonly sizes: readonly number[];
  readonly batch: number;
  /** Inputs, row-major `[batch, sizes[0]]`, uniform in [0, 1) like pixel intensities. */
  readonly x: Float32Array;
  /** Integer class labels in `[0, classes)`, length `batch`. */
  readonly labels: Int32Array;
  /** One-hot float32 copy of `labels`, row-major `[batch, classes]` (for peers that need it). */
  readonly oneHot: Float32Array;
  /** Weights per layer, row-major `[in, out]`, PyTorch Linear init U(-1/sqrt(in), 1/sqrt(in)). */
  readonly weights: readonly Float32Array[];
  /** Biases per layer, length `out`, PyTorch Linear init U(-1/sqrt(in), 1/sqrt(in)). */
  readonly biases: readonly Float32Array[];
  readonly adam: AdamConfig;
}

/** Logits and integer labels for a softmax cross-entropy (mean reduction). */
export interface CeData {
  readonly kind: "ce";
  readonly rows: number;
  readonly classes: number;
  /** Row-major `[rows, classes]`, normal(0, 2) values. */
  readonly logits: Float32Array;
  readonly labels: Int32Array;
  /** One-hot float32 copy of `labels`, row-major `[rows, classes]`. */
  readonly oneHot: Float32Array;
}

/** Two matrices for `C = A @ B`, A `[m, k]`, B `[k, n]`, row-major, uniform in [-1, 1). */
export interface GemmData {
  readonly kind: "gemm";
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly a: Float32Array;
  readonly b: Float32Array;
}

/** The input data of one benchmark case; `kind` tells which workload family it feeds. */
export type WorkloadData = MlpData | CeData | GemmData | ConvData | ModelData;

/** 32-bit FNV-1a hash of a string: turns a tensor's role into its seed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A small, fast, seeded generator (sfc32) producing uniform floats in [0, 1) with 32
 * random bits, identical on every platform.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Seeds from a string (hashed) or a number. */
  constructor(seed: string | number) {
    const s = typeof seed === "string" ? hashString(seed) : seed >>> 0;
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = s;
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  /** Next raw 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

/** A float32 array of `n` values uniform in [lo, hi), from the stream seeded by `seed`. */
export function uniformF32(seed: string, n: number, lo: number, hi: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.uniform();
  return out;
}

/** A float32 array of `n` normal(0, std) values. */
export function normalF32(seed: string, n: number, std: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}

/** `n` integer labels in [0, classes). */
export function labelsI32(seed: string, n: number, classes: number): Int32Array {
  const rng = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(classes);
  return out;
}

/** Row-major `[labels.length, classes]` one-hot encoding. */
export function oneHotF32(labels: Int32Array, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) out[i * classes + (labels[i] ?? 0)] = 1;
  return out;
}

/**
 * The benchmark MLP's initial parameters, PyTorch `nn.Linear` style: weight and bias
 * both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (what kaiming_uniform(a=sqrt(5)) amounts to).
 * The same parameters for every batch size.
 */
export function mlpParams(sizes: readonly number[]): { weights: Float32Array[]; biases: Float32Array[] } {
  const weights: Float32Array[] = [];
  const biases: Float32Array[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l] ?? 0;
    const fanOut = sizes[l + 1] ?? 0;
    const bound = 1 / Math.sqrt(fanIn);
    weights.push(uniformF32(`mlp/w${l}`, fanIn * fanOut, -bound, bound));
    biases.push(uniformF32(`mlp/b${l}`, fanOut, -bound, bound));
  }
  return { weights, biases };
}

/** The MLP case data for a batch size: shared parameters, seeded inputs and labels. */
export function makeMlpData(batch: number, sizes: readonly number[] = MLP_SIZES): MlpData {
  const { weights, biases } = mlpParams(sizes);
  const inDim = sizes[0] ?? 0;
  const classes = sizes[sizes.length - 1] ?? 0;
  const labels = labelsI32(`mlp/labels/${batch}`, batch, classes);
  return {
    kind: "mlp",
    sizes,
    batch,
    x: uniformF32(`mlp/x/${batch}`, batch * inDim, 0, 1),
    labels,
    oneHot: oneHotF32(labels, classes),
    weights,
    biases,
    adam: ADAM,
  };
}

/** Softmax cross-entropy case data: normal(0, 2) logits and uniform integer labels. */
export function makeCeData(rows: number, classes: number): CeData {
  const labels = labelsI32(`ce/labels/${rows}x${classes}`, rows, classes);
  return {
    kind: "ce",
    rows,
    classes,
    logits: normalF32(`ce/logits/${rows}x${classes}`, rows * classes, 2),
    labels,
    oneHot: oneHotF32(labels, classes),
  };
}

/** SGEMM case data, both operands uniform in [-1, 1). */
export function makeGemmData(m: number, k: number, n: number): GemmData {
  return {
    kind: "gemm",
    m,
    k,
    n,
    a: uniformF32(`gemm/a/${m}x${k}`, m * k, -1, 1),
    b: uniformF32(`gemm/b/${k}x${n}`, k * n, -1, 1),
  };
}

/** Narrows `data` to MLP data or throws (for systems' `prepare`). */
export function asMlp(data: WorkloadData): MlpData {
  if (data.kind !== "mlp") throw new Error(`expected MLP data, got ${data.kind}`);
  return data;
}

/** Narrows `data` to cross-entropy data or throws. */
export function asCe(data: WorkloadData): CeData {
  if (data.kind !== "ce") throw new Error(`expected cross-entropy data, got ${data.kind}`);
  return data;
}

/** Narrows `data` to GEMM data or throws. */
export function asGemm(data: WorkloadData): GemmData {
  if (data.kind !== "gemm") throw new Error(`expected GEMM data, got ${data.kind}`);
  return data;
}

/** Narrows `data` to conv2d data or throws. */
export function asConv(data: WorkloadData): ConvData {
  if (data.kind !== "conv") throw new Error(`expected conv2d data, got ${data.kind}`);
  return data;
}

/** Narrows `data` to model (train step) data of `model`, or throws. */
export function asModel(data: WorkloadData, model: ModelData["model"]): ModelData {
  if (data.kind !== "model") throw new Error(`expected ${model} model data, got ${data.kind}`);
  if (data.model !== model) throw new Error(`expected ${model} model data, got ${data.model}`);
  return data;
}
