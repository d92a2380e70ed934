/**
 * @file float32 arithmetic as PyTorch's CPU kernels do it, for the reference back end.
 *
 * The core interpreter computes every op in float64 and rounds its result to float32 once
 * (`precision: "f32"`). That is exact for elementwise ops (+ − × ÷ √ round correctly either way)
 * but not for ops that accumulate: PyTorch adds in float32, in an order fixed by its kernels, and
 * the seed tutorials' printed costs depend on it — three of the 22 published values lie within
 * one float32 ulp of a 6-decimal rounding boundary. These kernels reproduce PyTorch's CPU order:
 *
 * - sum / mean: `cascade_sum` (ATen SumKernel): a reduction over the trailing (contiguous) dims
 *   is `vectorized_inner_sum` with 8-float vectors (AVX2 / NEON) when it has ≥ 8 elements, else
 *   `row_sum` (4 interleaved accumulators); a reduction over leading dims is the outer variant;
 *   both cascade every 16 rows (`multi_row_sum`). Other dim patterns add in row-major order.
 *   mean = sum / n.
 * - matmul: one fused multiply-add per term, k ascending (a BLAS sgemm micro-kernel).
 * - softmax / log_softmax: the `_vec_(log_)softmax_lastdim` algorithms: max, exp(x − max),
 *   a `reduce_all` sum (8 lanes, then lanes in order), then `e · (1/sum)` or `(x − max) − log(sum)`.
 * - logsumexp: `log(sum(exp(x − max))) + max` with the sum above (infinite max replaced by 0).
 * - nll_loss and cross_entropy with integer targets and no label smoothing: log_softmax as above,
 *   then `nll_loss_out_frame`'s cascaded float32 sum of −w·logp[y] (and of the weights), / total;
 *   their backward ops as `nll_loss_backward` (−w·grad/total at the label) followed, for
 *   cross_entropy, by `log_softmax_backward` (g − exp(logp)·Σg).
 *
 * Every other op (and every f64 op) is the core reference: float64, rounded once. Each kernel
 * returns float64 storage holding float32 values.
 */
import { type NDArray, type Node, type OpAttrs } from "@graft/core";

const f = Math.fround;

// ----- PyTorch's cascade summation (ATen/native/cpu/SumKernel.cpp) -----------------------------------

const NUM_LEVELS = 4;
const ILP = 4;
const LANES = 8;

const ceilLog2 = (x: number): number => (x <= 2 ? 1 : Math.ceil(Math.log2(x)));

/**
 * `multi_row_sum`: `nrows` float32 accumulators over `size` rows, cascaded into 4 levels every
 * `level_step` (≥ 16) rows. `load(row, k)` reads column k of a row.
 */
const multiRowSum = (load: (row: number, k: number) => number, nrows: number, size: number): number[] => {
  const levelPower = Math.max(4, Math.floor(ceilLog2(size) / NUM_LEVELS));
  const levelStep = 2 ** levelPower;
  const acc = Array.from({ length: NUM_LEVELS }, () => new Array<number>(nrows).fill(0));
  const level = (j: number): number[] => acc[j] as number[];
  let i = 0;
  while (i + levelStep <= size) {
    for (let j = 0; j < levelStep; j++, i++) for (let k = 0; k < nrows; k++) level(0)[k] = f((level(0)[k] as number) + load(i, k));
    for (let j = 1; j < NUM_LEVELS; j++) {
      for (let k = 0; k < nrows; k++) {
        level(j)[k] = f((level(j)[k] as number) + (level(j - 1)[k] as number));
        level(j - 1)[k] = 0;
      }
      // (i & (level_mask << j·level_power)) != 0, without 32-bit overflow
      if (Math.floor(i / 2 ** (j * levelPower)) % levelStep !== 0) break;
    }
  }
  for (; i < size; i++) for (let k = 0; k < nrows; k++) level(0)[k] = f((level(0)[k] as number) + load(i, k));
  for (let j = 1; j < NUM_LEVELS; j++) for (let k = 0; k < nrows; k++) level(0)[k] = f((level(0)[k] as number) + (level(j)[k] as number));
  return level(0);
};

/** `row_sum`: 4 interleaved accumulators (`multi_row_sum`), the tail into the first, then combined. */
const rowSum = (load: (i: number) => number, size: number): number => {
  const sizeIlp = Math.floor(size / ILP);
  const partial = multiRowSum((row, k) => load(row * ILP + k), ILP, sizeIlp);
  let first = partial[0] as number;
  for (let i = sizeIlp * ILP; i < size; i++) first = f(first + load(i));
  for (let k = 1; k < ILP; k++) first = f(first + (partial[k] as number));
  return first;
};

/** `vectorized_inner_sum` of one contiguous row (≥ 8 elements): 8 lanes of `row_sum` over vectors, the scalar tail, then the lanes. */
const innerSum = (load: (i: number) => number, size: number): number => {
  if (size < LANES) return rowSum(load, size);
  const vectors = Math.floor(size / LANES);
  let acc = 0;
  for (let i = vectors * LANES; i < size; i++) acc = f(acc + load(i));
  for (let lane = 0; lane < LANES; lane++) acc = f(acc + rowSum((v) => load(v * LANES + lane), vectors));
  return acc;
};

/**
 * Sum of `x` over `dims` in float32, in PyTorch's order (see the file comment). The result is laid
 * out like the core reduction (reduced dims removed, row-major).
 */
export const sumF32 = (x: NDArray, dims: readonly number[]): Float64Array => {
  const rank = x.shape.length;
  const sorted = [...new Set(dims)].sort((a, b) => a - b);
  const reducedSize = sorted.reduce((p, axis) => p * (x.shape[axis] ?? 1), 1);
  const outSize = reducedSize === 0 ? x.shape.filter((_, axis) => !sorted.includes(axis)).reduce((p, d) => p * d, 1) : x.data.length / reducedSize;
  const out = new Float64Array(outSize);
  if (reducedSize === 0) return out;
  const value = (i: number): number => x.data[i] as number;
  const trailing = sorted.every((axis, i) => axis === rank - sorted.length + i);
  const leading = sorted.every((axis, i) => axis === i);
  if (trailing) {
    // inner reduction: every output reads one contiguous row
    for (let o = 0; o < outSize; o++) out[o] = innerSum((i) => value(o * reducedSize + i), reducedSize);
    return out;
  }
  if (leading) {
    // outer reduction: column j of a [reducedSize, outSize] matrix
    const column = (j: number) => (row: number): number => value(row * outSize + j);
    let j = 0;
    if (outSize >= LANES) {
      // vectorized_outer_sum: groups of 4 vectors use multi_row_sum, then vectors use row_sum
      for (; j + ILP * LANES <= outSize; j += ILP * LANES) {
        const sums = multiRowSum((row, k) => value(row * outSize + j + k), ILP * LANES, reducedSize);
        sums.forEach((s, k) => (out[j + k] = s));
      }
      for (; j + LANES <= outSize; j += LANES) for (let k = 0; k < LANES; k++) out[j + k] = rowSum(column(j + k), reducedSize);
    } else {
      // scalar_outer_sum: groups of 4 columns use multi_row_sum
      for (; j + ILP <= outSize; j += ILP) {
        const sums = multiRowSum((row, k) => value(row * outSize + j + k), ILP, reducedSize);
        sums.forEach((s, k) => (out[j + k] = s));
      }
    }
    for (; j < outSize; j++) out[j] = rowSum(column(j), reducedSize);
    return out;
  }
  // any other pattern: row-major order into each output
  const keptStrides: number[] = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let axis = rank - 1; axis >= 0; axis--) {
    if (sorted.includes(axis)) continue;
    keptStrides[axis] = stride;
    stride *= x.shape[axis] ?? 1;
  }
  const index = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < x.data.length; flat++) {
    let o = 0;
    for (let axis = 0; axis < rank; axis++) o += (index[axis] as number) * (keptStrides[axis] as number);
    out[o] = f((out[o] as number) + value(flat));
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      if ((index[axis] as number) < (x.shape[axis] ?? 1)) break;
      index[axis] = 0;
    }
  }
  return out;
};

// ----- softmax family (ATen/native/cpu/SoftMaxKernel.cpp) ------------------------------------------

/** `vec::reduce_all` with +: 8 lanes accumulate x[l], x[l+8], …; the partial tail vector; then lane 0 + lane 1 + …. */
const reduceAllSum = (values: readonly number[]): number => {
  const size = values.length;
  if (size === 0) return 0;
  if (size < LANES) return values.reduce((acc, v, i) => (i === 0 ? v : f(acc + v)), 0);
  const lanes = values.slice(0, LANES);
  let d = LANES;
  for (; d < size - (size % LANES); d += LANES) for (let l = 0; l < LANES; l++) lanes[l] = f((lanes[l] as number) + (values[d + l] as number));
  for (let l = 0; d + l < size; l++) lanes[l] = f((lanes[l] as number) + (values[d + l] as number));
  return lanes.reduce((acc, v, i) => (i === 0 ? v : f(acc + v)), 0);
};

/** Calls `row(indices)` with the flat indices of every row along `dim` of a row-major `shape`. */
const forRows = (shape: readonly number[], dim: number, row: (indices: readonly number[]) => void): void => {
  const size = shape[dim] ?? 1;
  const inner = shape.slice(dim + 1).reduce((p, d) => p * d, 1);
  const outer = shape.slice(0, dim).reduce((p, d) => p * d, 1);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) row(Array.from({ length: size }, (_, c) => o * size * inner + c * inner + i));
};

const rowMax = (values: readonly number[]): number => values.reduce((m, v) => (v > m || Number.isNaN(v) ? v : m), -Infinity);

/** softmax along `dim`: exp(x − max) · (1 / Σ). */
export const softmaxF32 = (x: NDArray, dim: number): Float64Array => {
  const out = new Float64Array(x.data.length);
  forRows(x.shape, dim, (indices) => {
    const values = indices.map((i) => x.data[i] as number);
    const max = rowMax(values);
    const exps = values.map((v) => f(Math.exp(f(v - max))));
    const inverse = f(1 / reduceAllSum(exps));
    indices.forEach((i, c) => (out[i] = f((exps[c] as number) * inverse)));
  });
  return out;
};

/** log_softmax along `dim`: (x − max) − log(Σ exp(x − max)), in that order (PyTorch issue 11752). */
export const logSoftmaxF32 = (x: NDArray, dim: number): Float64Array => {
  const out = new Float64Array(x.data.length);
  forRows(x.shape, dim, (indices) => {
    const values = indices.map((i) => x.data[i] as number);
    const max = rowMax(values);
    const logSum = f(Math.log(reduceAllSum(values.map((v) => f(Math.exp(f(v - max)))))));
    indices.forEach((i, c) => (out[i] = f(f((values[c] as number) - max) - logSum)));
  });
  return out;
};

/** logsumexp over `dims`: log(sum(exp(x − max))) + max, an infinite max replaced by 0. */
export const logsumexpF32 = (x: NDArray, dims: readonly number[]): Float64Array => {
  const maxima = reduceMax(x, dims);
  const shifts = maxima.map((m) => (Number.isFinite(m) ? m : 0));
  const shifted = new Float64Array(x.data.length);
  forEachWithOutput(x.shape, dims, (flat, o) => (shifted[flat] = f(Math.exp(f((x.data[flat] as number) - (shifts[o] as number))))));
  const sums = sumF32({ shape: x.shape, dtype: x.dtype, data: shifted }, dims);
  return sums.map((s, o) => f(f(Math.log(s)) + (shifts[o] as number)));
};

/** Calls f(flat, outputIndex) for every element, outputIndex being its position in the reduced layout. */
const forEachWithOutput = (shape: readonly number[], dims: readonly number[], fn: (flat: number, o: number) => void): void => {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let axis = rank - 1; axis >= 0; axis--) {
    if (dims.includes(axis)) continue;
    strides[axis] = stride;
    stride *= shape[axis] ?? 1;
  }
  const size = shape.reduce((p, d) => p * d, 1);
  const index = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < size; flat++) {
    let o = 0;
    for (let axis = 0; axis < rank; axis++) o += (index[axis] as number) * (strides[axis] as number);
    fn(flat, o);
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      if ((index[axis] as number) < (shape[axis] ?? 1)) break;
      index[axis] = 0;
    }
  }
};

const reduceMax = (x: NDArray, dims: readonly number[]): Float64Array => {
  const outSize = x.shape.filter((_, axis) => !dims.includes(axis)).reduce((p, d) => p * d, 1);
  const out = new Float64Array(outSize).fill(-Infinity);
  forEachWithOutput(x.shape, dims, (flat, o) => {
    const v = x.data[flat] as number;
    if (v > (out[o] as number) || Number.isNaN(v)) out[o] = v;
  });
  return out;
};

// ----- matmul -------------------------------------------------------------------------------------------

/** a·b + c rounded once to float32 (a·b is exact in float64 for float32 operands). */
const fma32 = (a: number, b: number, c: number): number => f(a * b + c);

/** Batched matmul with broadcast batch dims; each output is a float32 FMA chain over k. */
export const matmulF32 = (a: NDArray, b: NDArray, outShape: readonly number[]): Float64Array => {
  const m = a.shape[a.shape.length - 2] ?? 1;
  const k = a.shape[a.shape.length - 1] ?? 1;
  const n = b.shape[b.shape.length - 1] ?? 1;
  const batchShape = outShape.slice(0, -2);
  const batches = batchShape.reduce((p, d) => p * d, 1);
  const batchStrides = (shape: readonly number[]): number[] => {
    const own = shape.slice(0, -2);
    const offset = batchShape.length - own.length;
    const strides: number[] = [];
    let stride = 1;
    for (let axis = batchShape.length - 1; axis >= 0; axis--) {
      const size = axis - offset >= 0 ? (own[axis - offset] ?? 1) : 1;
      strides[axis] = size === 1 ? 0 : stride;
      stride *= size;
    }
    return strides;
  };
  const aStrides = batchStrides(a.shape);
  const bStrides = batchStrides(b.shape);
  const out = new Float64Array(batches * m * n);
  for (let batch = 0; batch < batches; batch++) {
    let rest = batch;
    let aBatch = 0;
    let bBatch = 0;
    for (let axis = batchShape.length - 1; axis >= 0; axis--) {
      const size = batchShape[axis] ?? 1;
      const index = rest % size;
      rest = Math.floor(rest / size);
      aBatch += index * (aStrides[axis] ?? 0);
      bBatch += index * (bStrides[axis] ?? 0);
    }
    const aBase = aBatch * m * k;
    const bBase = bBatch * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc = fma32(a.data[aBase + i * k + p] as number, b.data[bBase + p * n + j] as number, acc);
        out[batch * m * n + i * n + j] = acc;
      }
  }
  return out;
};

// ----- nll_loss / cross_entropy (ATen/native/LossNLL.cpp, nll_loss_out_frame) ----------------------------

const CASCADE_LEVELS = 8;

/** The float32 nll_loss of log-probabilities (integer targets), or undefined for an invalid label (the core reference reports it). */
const nllF32 = (logProbs: NDArray, target: NDArray, weight: NDArray | undefined, attrs: OpAttrs["nll_loss"]): Float64Array | undefined => {
  const size = logProbs.shape[attrs.dim] ?? 1;
  const inner = logProbs.shape.slice(attrs.dim + 1).reduce((p, d) => p * d, 1);
  const rows = target.data.length;
  const losses = new Float64Array(rows);
  const levelPower = Math.max(4, Math.floor(ceilLog2(rows) / CASCADE_LEVELS));
  const levelMask = 2 ** levelPower - 1;
  const lossSums = new Array<number>(CASCADE_LEVELS).fill(0);
  const weightSums = new Array<number>(CASCADE_LEVELS).fill(0);
  let ignored = 0;
  for (let row = 0; row < rows; row++) {
    const label = target.data[row] as number;
    if (label === attrs.ignoreIndex) {
      ignored++;
      continue;
    }
    if (!(label >= 0 && label < size)) return undefined;
    const o = Math.floor(row / inner);
    const i = row % inner;
    const value = logProbs.data[o * size * inner + label * inner + i] as number;
    const w = weight === undefined ? 1 : (weight.data[label] as number);
    const term = weight === undefined ? value : f(value * w);
    losses[row] = f(-term);
    lossSums[0] = f((lossSums[0] as number) - term);
    weightSums[0] = f((weightSums[0] as number) + w);
    for (let j = 0; j + 1 < CASCADE_LEVELS; j++) {
      if (Math.floor(row / 2 ** (j * levelPower)) % (levelMask + 1) !== 0) break;
      lossSums[j + 1] = f((lossSums[j + 1] as number) + (lossSums[j] as number));
      weightSums[j + 1] = f((weightSums[j + 1] as number) + (weightSums[j] as number));
      lossSums[j] = 0;
      weightSums[j] = 0;
    }
  }
  if (attrs.reduction === "none") return losses;
  const total = lossSums.reduce((acc, v) => f(acc + v), 0);
  if (attrs.reduction === "sum") return Float64Array.of(total);
  const totalWeight = weight === undefined ? rows - ignored : weightSums.reduce((acc, v) => f(acc + v), 0);
  return Float64Array.of(f(total / totalWeight));
};

/** The f32 total weight of the rows nll_loss counts: their number, or the cascaded sum of their weights. */
const totalWeightF32 = (target: NDArray, weight: NDArray | undefined, attrs: OpAttrs["nll_loss"], classes: number): number | undefined => {
  const rows = target.data.length;
  const levelPower = Math.max(4, Math.floor(ceilLog2(rows) / CASCADE_LEVELS));
  const sums = new Array<number>(CASCADE_LEVELS).fill(0);
  let counted = 0;
  for (let row = 0; row < rows; row++) {
    const label = target.data[row] as number;
    if (label === attrs.ignoreIndex) continue;
    if (!(label >= 0 && label < classes)) return undefined;
    counted++;
    sums[0] = f((sums[0] as number) + (weight === undefined ? 1 : (weight.data[label] as number)));
    for (let j = 0; j + 1 < CASCADE_LEVELS; j++) {
      if (Math.floor(row / 2 ** (j * levelPower)) % 2 ** levelPower !== 0) break;
      sums[j + 1] = f((sums[j + 1] as number) + (sums[j] as number));
      sums[j] = 0;
    }
  }
  return weight === undefined ? counted : sums.reduce((acc, v) => f(acc + v), 0);
};

/**
 * `nll_loss_backward_out_frame`: −w[y]·(grad / total_weight) at each row's label (grad per row for
 * reduction none), zeros elsewhere; undefined for an invalid label.
 */
const nllBackwardF32 = (logProbs: NDArray, target: NDArray, grad: NDArray, weight: NDArray | undefined, attrs: OpAttrs["nll_loss"]): Float64Array | undefined => {
  const size = logProbs.shape[attrs.dim] ?? 1;
  const inner = logProbs.shape.slice(attrs.dim + 1).reduce((p, d) => p * d, 1);
  const total = attrs.reduction === "mean" ? totalWeightF32(target, weight, attrs, size) : 1;
  if (total === undefined) return undefined;
  const out = new Float64Array(logProbs.data.length);
  const scalarGrad = attrs.reduction === "none" ? 0 : f(-(attrs.reduction === "mean" ? f((grad.data[0] as number) / total) : (grad.data[0] as number)));
  for (let row = 0; row < target.data.length; row++) {
    const label = target.data[row] as number;
    if (label === attrs.ignoreIndex) continue;
    if (!(label >= 0 && label < size)) return undefined;
    const g = attrs.reduction === "none" ? -(grad.data[row] as number) : scalarGrad;
    const w = weight === undefined ? 1 : (weight.data[label] as number);
    out[Math.floor(row / inner) * size * inner + label * inner + (row % inner)] = f(w * g);
  }
  return out;
};

/** `_vec_log_softmax_backward`: g − exp(logp) · Σ g along `dim`, with the f32 log_softmax output. */
const logSoftmaxBackwardF32 = (logProbs: Float64Array, grad: Float64Array, shape: readonly number[], dim: number): Float64Array => {
  const out = new Float64Array(grad.length);
  forRows(shape, dim, (indices) => {
    const total = reduceAllSum(indices.map((i) => grad[i] as number));
    for (const i of indices) out[i] = f((grad[i] as number) - f(f(Math.exp(logProbs[i] as number)) * total));
  });
  return out;
};

// ----- dispatch -------------------------------------------------------------------------------------------

/**
 * The float32 value of `node` computed PyTorch's way, or undefined when the core reference
 * (float64, rounded once) applies: a non-f32 node, an op without accumulation, or options these
 * kernels do not cover (label smoothing, probability targets).
 */
export const evaluateF32 = (node: Node, inputs: readonly NDArray[], out: { readonly shape: readonly number[] }): Float64Array | undefined => {
  if (node.type.dtype !== "f32") return undefined;
  const [x, second, third] = inputs;
  if (x === undefined) return undefined;
  switch (node.op) {
    case "sum":
      return sumF32(x, node.attrs.dims);
    case "mean": {
      const count = node.attrs.dims.reduce((p, axis) => p * (x.shape[axis] ?? 1), 1);
      return sumF32(x, node.attrs.dims).map((s) => f(s / count));
    }
    case "matmul":
      return second === undefined ? undefined : matmulF32(x, second, out.shape);
    case "softmax":
      return softmaxF32(x, node.attrs.dim);
    case "log_softmax":
      return logSoftmaxF32(x, node.attrs.dim);
    case "logsumexp":
      return logsumexpF32(x, node.attrs.dims);
    case "nll_loss":
      return second === undefined ? undefined : nllF32(x, second, third, node.attrs);
    case "cross_entropy": {
      if (second === undefined || node.attrs.target !== "index" || node.attrs.labelSmoothing !== 0) return undefined;
      const logProbs = { shape: x.shape, dtype: x.dtype, data: logSoftmaxF32(x, node.attrs.dim) };
      return nllF32(logProbs, second, third, node.attrs);
    }
    case "nll_loss_backward": {
      const [, , grad, weight] = inputs;
      return second === undefined || grad === undefined ? undefined : nllBackwardF32(x, second, grad, weight, node.attrs);
    }
    case "cross_entropy_backward": {
      const [, , grad, weight] = inputs;
      if (second === undefined || grad === undefined || node.attrs.target !== "index" || node.attrs.labelSmoothing !== 0) return undefined;
      const logProbs = logSoftmaxF32(x, node.attrs.dim);
      const nllGrad = nllBackwardF32({ shape: x.shape, dtype: x.dtype, data: logProbs }, second, grad, weight, node.attrs);
      return nllGrad === undefined ? undefined : logSoftmaxBackwardF32(logProbs, nllGrad, x.shape, node.attrs.dim);
    }
    default:
      return undefined;
  }
};
