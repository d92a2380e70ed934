/**
 * Cross-checks: the numbers each system reports after its first run, the float64
 * reference values they are compared with, and the comparison itself.
 *
 * A system pulls its results back to JS (float32) and summarises them with the helpers
 * here (`checksum`, `mlpTrainChecks`, ...); the summaries are computed in float64 in JS,
 * so only the system's own float32 arithmetic differs from the reference.
 */
import type { CeData, GemmData, MlpData, WorkloadData } from "./data.js";
import type { BenchCase, WorkloadName } from "./harness.js";
import type { ConvData, ModelData } from "./model-data.js";
import { conv2dForward, matmul, mlpLogits, mlpParams64, mlpTrainSteps, softmaxCrossEntropy, toF64 } from "./reference.js";
import { modelTrainSteps } from "./reference-model.js";

/**
 * How many `run()`s the harness does on a freshly prepared state before `check()`.
 * Two train steps, so that Adam's moment updates and bias correction are checked too (on
 * the first step they cancel out: every element moves by about lr * sign(g)).
 */
export const CHECK_RUNS: Readonly<Record<WorkloadName, number>> = {
  mlp_train_step: 2,
  softmax_ce: 1,
  sgemm: 1,
  inference: 1,
  conv2d: 1,
  cnn_train_step: 2,
  transformer_train_step: 2,
  compile: 1,
};

/** Numbers a system reports for cross-checking, by name (e.g. `"loss"`, `"out.norm"`). */
export type CheckValues = Record<string, number>;

/** An expected check value and its absolute tolerance. */
export interface Expected {
  readonly value: number;
  readonly tol: number;
}

/** Expected values by name; a system must report every one of them. */
export type ExpectedValues = Record<string, Expected>;

/** Fixed pseudo-random weight in [-0.5, 0.5) for element `i` of a weighted checksum. */
function probe(i: number): number {
  return (Math.imul(i + 1, 0x9e3779b1) >>> 0) / 4294967296 - 0.5;
}

/**
 * Summaries of an array: `sum`, L2 `norm`, and `wsum`, a sum weighted by fixed
 * pseudo-random numbers (catches permuted or transposed results that sum and norm miss).
 */
export function checksum(prefix: string, values: ArrayLike<number>): CheckValues {
  let sum = 0;
  let sq = 0;
  let wsum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    sum += v;
    sq += v * v;
    wsum += v * probe(i);
  }
  return { [`${prefix}.sum`]: sum, [`${prefix}.norm`]: Math.sqrt(sq), [`${prefix}.wsum`]: wsum };
}

/**
 * Expected checksums of a float64 array with tolerances scaled to float32 rounding:
 * with `rtol` the relative error allowed per element (in the L2 sense), each summary's
 * tolerance is its Cauchy-Schwarz bound `rtol * ||x|| * ||probe||` plus a tiny floor.
 */
export function expectedChecksum(prefix: string, values: Float64Array, rtol: number): ExpectedValues {
  const sums = checksum(prefix, values);
  const norm = sums[`${prefix}.norm`] ?? 0;
  let probeSq = 0;
  for (let i = 0; i < values.length; i++) probeSq += probe(i) * probe(i);
  const floor = 1e-30;
  return {
    [`${prefix}.sum`]: { value: sums[`${prefix}.sum`] ?? 0, tol: rtol * norm * Math.sqrt(values.length) + floor },
    [`${prefix}.norm`]: { value: norm, tol: rtol * norm + floor },
    [`${prefix}.wsum`]: { value: sums[`${prefix}.wsum`] ?? 0, tol: rtol * norm * Math.sqrt(probeSq) + floor },
  };
}

/** Names of the MLP parameters in check keys: `w0..w3`, `b0..b3`. */
export function mlpParamNames(data: MlpData): string[] {
  const layers = data.sizes.length - 1;
  const names: string[] = [];
  for (let l = 0; l < layers; l++) names.push(`w${l}`);
  for (let l = 0; l < layers; l++) names.push(`b${l}`);
  return names;
}

/**
 * Check values of `mlp_train_step` after `CHECK_RUNS.mlp_train_step` (2) steps from the
 * initial state: the `loss` computed by the last step, and checksums of each parameter's
 * total update `delta_<name> = p_after - p_init` (computed here in float64 against the
 * shared initial values).
 * @param loss the loss the last step computed (at the parameters before that step)
 * @param weights the parameters after the steps, `[in, out]` layout like `MlpData.weights`
 * @param biases the biases after the steps
 */
export function mlpTrainChecks(
  data: MlpData,
  loss: number,
  weights: readonly ArrayLike<number>[],
  biases: readonly ArrayLike<number>[],
): CheckValues {
  const names = mlpParamNames(data);
  const after = [...weights, ...biases];
  const before = [...data.weights, ...data.biases];
  let out: CheckValues = { loss };
  names.forEach((name, k) => {
    const a = after[k];
    const b = before[k];
    if (a === undefined || b === undefined) return;
    const delta = new Float64Array(b.length);
    for (let i = 0; i < b.length; i++) delta[i] = (a[i] ?? 0) - (b[i] ?? 0);
    out = { ...out, ...checksum(`delta_${name}`, delta) };
  });
  return out;
}

/** Check values of `softmax_ce`: the mean loss and checksums of the gradient wrt the logits. */
export function ceChecks(loss: number, grad: ArrayLike<number>): CheckValues {
  return { loss, ...checksum("grad", grad) };
}

/** Check values of `sgemm`: checksums of C. */
export function gemmChecks(c: ArrayLike<number>): CheckValues {
  return checksum("c", c);
}

/** Check values of `inference`: checksums of the logits. */
export function inferenceChecks(logits: ArrayLike<number>): CheckValues {
  return checksum("logits", logits);
}

/** Check values of `conv2d`: checksums of the output `[n, cout, ho, wo]` (NCHW order). */
export function convChecks(out: ArrayLike<number>): CheckValues {
  return checksum("out", out);
}

/**
 * Check values of the model train steps after `CHECK_RUNS` (2) steps with dropout 0: the
 * last step's `loss`, and checksums of every float param's total change `delta_<name>`
 * (trained weights and BatchNorm running statistics), in PyTorch's layout, with the elements
 * of `data.unchecked` (exact gradient 0) left out.
 * @param params every param of `data.params` after the steps, by name, PyTorch layout
 */
export function modelTrainChecks(data: ModelData, loss: number, params: Readonly<Record<string, ArrayLike<number>>>): CheckValues {
  let out: CheckValues = { loss };
  for (const name of Object.keys(data.params)) {
    const after = params[name];
    if (after !== undefined) out = { ...out, ...checksum(`delta_${name}`, modelParamDelta(data, name, after)) };
  }
  return out;
}

/** `after - initial` of a model param in float64, with the elements of `data.unchecked` set to 0. */
export function modelParamDelta(data: ModelData, name: string, after: ArrayLike<number>): Float64Array {
  const before = data.params[name]?.data ?? new Float32Array(0);
  const delta = new Float64Array(before.length);
  for (let i = 0; i < delta.length; i++) delta[i] = (after[i] ?? 0) - (before[i] ?? 0);
  const skip = data.unchecked[name];
  if (skip !== undefined) delta.fill(0, skip.from, skip.to);
  return delta;
}

function expectedConv(data: ConvData): ExpectedValues {
  return expectedChecksum("out", conv2dForward(toF64(data.x), toF64(data.weight), toF64(data.bias), data), 1e-4);
}

function expectedModelTrain(data: ModelData, steps: number): ExpectedValues {
  const ref = modelTrainSteps(data, steps);
  let out: ExpectedValues = { loss: { value: ref.loss, tol: 1e-4 * Math.abs(ref.loss) + 1e-6 } };
  for (const name of Object.keys(data.params)) {
    const after = ref.params[name];
    if (after === undefined) continue;
    const delta = modelParamDelta(data, name, after);
    // as for the MLP: Adam moves each element by ~lr, 2e-3 relative leaves room for float32
    // rounding and sign flips of near-zero gradients (running statistics move smoothly)
    out = { ...out, ...expectedChecksum(`delta_${name}`, delta, 2e-3) };
  }
  return out;
}

function expectedMlpTrain(data: MlpData): ExpectedValues {
  const ref = mlpTrainSteps(data, CHECK_RUNS.mlp_train_step);
  const names = mlpParamNames(data);
  const after = [...ref.params.weights, ...ref.params.biases];
  const before = [...data.weights, ...data.biases];
  let out: ExpectedValues = { loss: { value: ref.loss, tol: 1e-4 * Math.abs(ref.loss) + 1e-6 } };
  names.forEach((name, k) => {
    const a = after[k];
    const b = before[k];
    if (a === undefined || b === undefined) return;
    const delta = new Float64Array(b.length);
    // Delta against the float32 initial values, exactly as systems compute it.
    for (let i = 0; i < b.length; i++) delta[i] = (a[i] ?? 0) - (b[i] ?? 0);
    // Adam's steps move each element by ~lr; 2e-3 relative leaves room for float32
    // rounding of p_after and sign flips of a few near-zero gradients.
    out = { ...out, ...expectedChecksum(`delta_${name}`, delta, 2e-3) };
  });
  return out;
}

function expectedCe(data: CeData): ExpectedValues {
  const ref = softmaxCrossEntropy(toF64(data.logits), data.labels, data.rows, data.classes);
  return { loss: { value: ref.loss, tol: 1e-4 * Math.abs(ref.loss) + 1e-6 }, ...expectedChecksum("grad", ref.grad, 1e-4) };
}

function expectedGemm(data: GemmData): ExpectedValues {
  const c = matmul(toF64(data.a), toF64(data.b), data.m, data.k, data.n);
  return expectedChecksum("c", c, 1e-4);
}

function expectedInference(data: MlpData): ExpectedValues {
  return expectedChecksum("logits", mlpLogits(mlpParams64(data), data), 1e-4);
}

/** The float64 reference's expected check values for a case ({} when nothing is checked). */
export function expectedFor(c: BenchCase, data: WorkloadData): ExpectedValues {
  switch (c.workload) {
    case "mlp_train_step":
      if (data.kind !== "mlp") throw new Error("mlp_train_step needs MLP data");
      return expectedMlpTrain(data);
    case "softmax_ce":
      if (data.kind !== "ce") throw new Error("softmax_ce needs CE data");
      return expectedCe(data);
    case "sgemm":
      if (data.kind !== "gemm") throw new Error("sgemm needs GEMM data");
      return expectedGemm(data);
    case "inference":
      if (data.kind !== "mlp") throw new Error("inference needs MLP data");
      return expectedInference(data);
    case "conv2d":
      if (data.kind !== "conv") throw new Error("conv2d needs conv data");
      return expectedConv(data);
    case "cnn_train_step":
    case "transformer_train_step":
      if (data.kind !== "model") throw new Error(`${c.workload} needs model data`);
      return expectedModelTrain(data, CHECK_RUNS[c.workload]);
    case "compile":
      return {};
  }
}

/** Outcome of comparing a system's check values with the reference. */
export interface Agreement {
  readonly agrees: boolean;
  /** One line per mismatching or missing value (empty when `agrees`). */
  readonly problems: string[];
}

/** Compares every expected value; missing or non-finite values disagree. */
export function compareChecks(expected: ExpectedValues, got: CheckValues): Agreement {
  const problems: string[] = [];
  for (const [name, exp] of Object.entries(expected)) {
    const v = got[name];
    if (v === undefined) {
      problems.push(`${name}: missing (expected ${exp.value.toPrecision(8)})`);
      continue;
    }
    const err = Math.abs(v - exp.value);
    if (!Number.isFinite(v) || !(err <= exp.tol)) {
      problems.push(`${name}: got ${v.toPrecision(8)}, expected ${exp.value.toPrecision(8)} ± ${exp.tol.toPrecision(3)}`);
    }
  }
  return { agrees: problems.length === 0, problems };
}
