// Library kernels of the JS back end: row kernels (softmax family, losses), gather/scatter and
// matmul, over Float32Array (F) and Int32Array (I) views of one arena. Offsets are in elements.
// Imports nothing (inlined into bundles). Reductions: 0 = mean, 1 = sum, 2 = none.

export type F32 = Float32Array;
export type I32 = Int32Array;

/** softmax (log = 0) or log_softmax (log = 1) of rows `outer × size × inner`, max-shifted. */
export function softmaxRows(F: F32, x: number, out: number, outer: number, size: number, inner: number, log: number): void {
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let max = -Infinity;
      for (let c = 0; c < size; c++) {
        const v = F[x + base + c * inner] as number;
        if (v > max || v !== v) max = v;
      }
      const shift = max === -Infinity ? 0 : max;
      let total = 0;
      for (let c = 0; c < size; c++) total += Math.exp((F[x + base + c * inner] as number) - shift);
      if (log) {
        const lt = Math.log(total);
        for (let c = 0; c < size; c++) F[out + base + c * inner] = (F[x + base + c * inner] as number) - shift - lt;
      } else {
        const inv = 1 / total;
        for (let c = 0; c < size; c++) F[out + base + c * inner] = Math.exp((F[x + base + c * inner] as number) - shift) * inv;
      }
    }
}

/**
 * The row's max shift (0 when ±inf) and log Σ exp(x − shift), kept apart so huge logits lose
 * nothing; returns the row's max.
 */
function rowStats(F: F32, at: number, size: number, stride: number, into: Float64Array): number {
  let max = -Infinity;
  for (let c = 0; c < size; c++) {
    const v = F[at + c * stride] as number;
    if (v > max || v !== v) max = v;
  }
  const shift = max === Infinity || max === -Infinity ? 0 : max;
  let total = 0;
  for (let c = 0; c < size; c++) total += Math.exp((F[at + c * stride] as number) - shift);
  into[0] = shift;
  into[1] = Math.log(total);
  return max;
}

/**
 * rowStats for cross_entropy: a row with a +inf logit has log Σ NaN, so its loss and gradient are
 * NaN, as PyTorch's log_softmax (x − max is NaN there); logsumexp keeps +inf (torch.logsumexp).
 */
function ceRowStats(F: F32, at: number, size: number, stride: number, into: Float64Array): void {
  if (rowStats(F, at, size, stride, into) === Infinity) into[1] = Number.NaN;
}

const stats = new Float64Array(2);

function rowLse(F: F32, at: number, size: number, stride: number): number {
  rowStats(F, at, size, stride, stats);
  return (stats[1] as number) + (stats[0] as number);
}

/** logsumexp of every row. */
export function lseRows(F: F32, x: number, out: number, outer: number, size: number, inner: number): void {
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) F[out + o * inner + i] = rowLse(F, x + o * size * inner + i, size, inner);
}

/** Index of the first maximum of every row (NaN counts as the maximum). */
export function argmaxRows(F: ArrayLike<number>, I: I32, x: number, out: number, outer: number, size: number, inner: number): void {
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const base = x + o * size * inner + i;
      let best = 0;
      let bestValue = -Infinity;
      for (let c = 0; c < size; c++) {
        const v = F[base + c * inner] as number;
        if (v !== v) {
          best = c;
          break;
        }
        if (v > bestValue) {
          bestValue = v;
          best = c;
        }
      }
      I[out + o * inner + i] = best;
    }
}

function weightSum(F: F32, w: number, size: number): number {
  if (w < 0) return size;
  let total = 0;
  for (let c = 0; c < size; c++) total += F[w + c] as number;
  return total;
}

/** Σ w[y] over non-ignored rows (the mean denominator of index targets). */
function labelWeightTotal(F: F32, I: I32, t: number, w: number, rows: number, ignoreIndex: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const y = I[t + r] as number;
    if (y !== ignoreIndex) total += w < 0 ? 1 : (F[w + y] as number);
  }
  return total;
}

/**
 * cross_entropy = LSE(x) − x[y] per row (index targets, prob = 0) or −Σ t·log_softmax (prob = 1),
 * with class weights (w ≥ 0), ignore_index, label smoothing eps; computed as (max − x[y]) + log Σ.
 * Writes each row's (max shift, log Σ) to `lse` (2 floats a row) when lse ≥ 0, for the backward.
 */
export function crossEntropy(F: F32, I: I32, x: number, t: number, w: number, out: number, lse: number, outer: number, size: number, inner: number, reduction: number, ignoreIndex: number, eps: number, prob: number): void {
  let total = 0;
  let denominator = 0;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const row = o * inner + i;
      const base = o * size * inner + i;
      let loss = 0;
      if (!prob) {
        const y = I[t + row] as number;
        if (y === ignoreIndex) {
          if (lse >= 0) F[lse + 2 * row] = F[lse + 2 * row + 1] = 0;
          if (reduction === 2) F[out + row] = 0;
          continue;
        }
        ceRowStats(F, x + base, size, inner, stats);
        const shift = stats[0] as number;
        const logSum = stats[1] as number;
        if (lse >= 0) {
          F[lse + 2 * row] = shift;
          F[lse + 2 * row + 1] = logSum;
        }
        const wy = w < 0 ? 1 : (F[w + y] as number);
        loss = (1 - eps) * wy * (shift - (F[x + base + y * inner] as number) + logSum);
        if (eps > 0) {
          let smooth = 0;
          for (let c = 0; c < size; c++) smooth += (w < 0 ? 1 : (F[w + c] as number)) * (shift - (F[x + base + c * inner] as number) + logSum);
          loss += (eps / size) * smooth;
        }
        denominator += wy;
      } else {
        ceRowStats(F, x + base, size, inner, stats);
        const shift = stats[0] as number;
        const logSum = stats[1] as number;
        if (lse >= 0) {
          F[lse + 2 * row] = shift;
          F[lse + 2 * row + 1] = logSum;
        }
        for (let c = 0; c < size; c++) {
          const tc = (1 - eps) * (F[t + base + c * inner] as number) + eps / size;
          if (tc !== 0) loss += (w < 0 ? 1 : (F[w + c] as number)) * tc * (shift - (F[x + base + c * inner] as number) + logSum);
        }
        denominator += 1;
      }
      if (reduction === 2) F[out + row] = loss;
      else total += loss;
    }
  if (reduction === 0) F[out] = total / denominator;
  else if (reduction === 1) F[out] = total;
}

/** ∂cross_entropy/∂x = scale·(softmax(x)·Σ w t − w⊙t), softmax = exp(x − max − log Σ) from the saved row stats when lse ≥ 0. */
export function crossEntropyBackward(F: F32, I: I32, x: number, t: number, g: number, w: number, out: number, lse: number, outer: number, size: number, inner: number, reduction: number, ignoreIndex: number, eps: number, prob: number): void {
  const rows = outer * inner;
  const denominator = reduction !== 0 ? 1 : prob ? rows : labelWeightTotal(F, I, t, w, rows, ignoreIndex);
  const wTotal = weightSum(F, w, size);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const row = o * inner + i;
      const base = o * size * inner + i;
      const y = prob ? -1 : (I[t + row] as number);
      if (!prob && y === ignoreIndex) {
        for (let c = 0; c < size; c++) F[out + base + c * inner] = 0;
        continue;
      }
      const scale = (reduction === 2 ? (F[g + row] as number) : (F[g] as number)) / denominator;
      if (lse >= 0) {
        stats[0] = F[lse + 2 * row] as number;
        stats[1] = F[lse + 2 * row + 1] as number;
      } else ceRowStats(F, x + base, size, inner, stats);
      const shift = stats[0] as number;
      const logSum = stats[1] as number;
      let mass: number;
      if (!prob) mass = (1 - eps) * (w < 0 ? 1 : (F[w + y] as number)) + (eps / size) * wTotal;
      else {
        mass = 0;
        for (let c = 0; c < size; c++) mass += (w < 0 ? 1 : (F[w + c] as number)) * ((1 - eps) * (F[t + base + c * inner] as number) + eps / size);
      }
      for (let c = 0; c < size; c++) {
        const p = Math.exp((F[x + base + c * inner] as number) - shift - logSum);
        const tc = prob ? (1 - eps) * (F[t + base + c * inner] as number) + eps / size : (c === y ? 1 - eps : 0) + eps / size;
        F[out + base + c * inner] = scale * (p * mass - (w < 0 ? 1 : (F[w + c] as number)) * tc);
      }
    }
}

/** nll_loss of log-probabilities with integer targets. */
export function nllLoss(F: F32, I: I32, x: number, t: number, w: number, out: number, outer: number, size: number, inner: number, reduction: number, ignoreIndex: number): void {
  let total = 0;
  let denominator = 0;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const row = o * inner + i;
      const y = I[t + row] as number;
      let loss = 0;
      if (y !== ignoreIndex) {
        const wy = w < 0 ? 1 : (F[w + y] as number);
        loss = -wy * (F[x + o * size * inner + i + y * inner] as number);
        denominator += wy;
      }
      if (reduction === 2) F[out + row] = loss;
      else total += loss;
    }
  if (reduction === 0) F[out] = total / denominator;
  else if (reduction === 1) F[out] = total;
}

/** ∂nll_loss/∂logp: −w[y]·scale at the target class, 0 elsewhere. */
export function nllLossBackward(F: F32, I: I32, x: number, t: number, g: number, w: number, out: number, outer: number, size: number, inner: number, reduction: number, ignoreIndex: number): void {
  const rows = outer * inner;
  const denominator = reduction === 0 ? labelWeightTotal(F, I, t, w, rows, ignoreIndex) : 1;
  F.fill(0, out, out + outer * size * inner);
  void x;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const row = o * inner + i;
      const y = I[t + row] as number;
      if (y === ignoreIndex) continue;
      const scale = (reduction === 2 ? (F[g + row] as number) : (F[g] as number)) / denominator;
      F[out + o * size * inner + i + y * inner] = -(w < 0 ? 1 : (F[w + y] as number)) * scale;
    }
}

/** binary_cross_entropy_with_logits: max(x,0) − x·t + log1p(exp(−|x|)). */
export function bceLogits(F: F32, x: number, t: number, out: number, n: number, reduction: number): void {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = F[x + i] as number;
    const loss = Math.max(v, 0) - v * (F[t + i] as number) + Math.log1p(Math.exp(-Math.abs(v)));
    if (reduction === 2) F[out + i] = loss;
    else total += loss;
  }
  if (reduction === 0) F[out] = total / n;
  else if (reduction === 1) F[out] = total;
}

/**
 * gather (scatter = 0): out[p] = src[p with p[dim] = index[p]]; scatter_add (scatter = 1):
 * out = 0; out[p with p[dim] = index[p]] += src[p]. `int` = 1 when the values are i32.
 */
export function gather(F: F32, I: I32, source: number, index: number, out: number, indexShape: readonly number[], sourceShape: readonly number[], dim: number, scatter: number, int: number): void {
  const rank = indexShape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) strides[a] = (strides[a + 1] as number) * (sourceShape[a + 1] as number);
  let count = 1;
  for (let a = 0; a < rank; a++) count *= indexShape[a] as number;
  const V: F32 | I32 = int ? I : F;
  if (scatter) {
    let total = 1;
    for (let a = 0; a < rank; a++) total *= sourceShape[a] as number;
    V.fill(0, out, out + total);
  }
  const coords = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < count; flat++) {
    const k = I[index + flat] as number;
    let at = 0;
    for (let a = 0; a < rank; a++) at += (a === dim ? k : (coords[a] as number)) * (strides[a] as number);
    if (scatter) V[out + at] = (V[out + at] as number) + (V[source + flat] as number);
    else V[out + flat] = V[source + at] as number;
    for (let a = rank - 1; a >= 0; a--) {
      coords[a] = (coords[a] as number) + 1;
      if ((coords[a] as number) < (indexShape[a] as number)) break;
      coords[a] = 0;
    }
  }
}

/**
 * C[b] = A[b] @ B[b] (+ bias) (relu), A and B given by element strides (transposes are free).
 * Register-blocked: 4×4 outputs accumulate in locals over k (float64, rounded once on store),
 * so each loaded element of A and B is used four times.
 */
export function matmul(F: F32, out: number, batch: number, m: number, n: number, k: number, a: number, aBatch: number, aRow: number, aCol: number, b: number, bBatch: number, bRow: number, bCol: number, bias: number, relu: number): void {
  for (let s = 0; s < batch; s++) {
    const aBase = a + s * aBatch;
    const bBase = b + s * bBatch;
    const cBase = out + s * m * n;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const a0 = aBase + i * aRow;
      const a1 = a0 + aRow;
      const a2 = a1 + aRow;
      const a3 = a2 + aRow;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        let bp = bBase + j * bCol;
        let ap = 0;
        for (let p = 0; p < k; p++) {
          const b0 = F[bp] as number;
          const b1 = F[bp + bCol] as number;
          const b2 = F[bp + 2 * bCol] as number;
          const b3 = F[bp + 3 * bCol] as number;
          const x0 = F[a0 + ap] as number;
          const x1 = F[a1 + ap] as number;
          const x2 = F[a2 + ap] as number;
          const x3 = F[a3 + ap] as number;
          c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
          c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
          c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
          c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
          bp += bRow;
          ap += aCol;
        }
        store4(F, cBase + i * n + j, c00, c01, c02, c03, bias, j, relu);
        store4(F, cBase + (i + 1) * n + j, c10, c11, c12, c13, bias, j, relu);
        store4(F, cBase + (i + 2) * n + j, c20, c21, c22, c23, bias, j, relu);
        store4(F, cBase + (i + 3) * n + j, c30, c31, c32, c33, bias, j, relu);
      }
      for (; j < n; j++) for (let r = 0; r < 4; r++) storeOne(F, cBase + (i + r) * n + j, dot(F, aBase + (i + r) * aRow, aCol, bBase + j * bCol, bRow, k), bias, j, relu);
    }
    for (; i < m; i++) for (let j = 0; j < n; j++) storeOne(F, cBase + i * n + j, dot(F, aBase + i * aRow, aCol, bBase + j * bCol, bRow, k), bias, j, relu);
  }
}

function dot(F: F32, a: number, aStride: number, b: number, bStride: number, k: number): number {
  let sum = 0;
  for (let p = 0; p < k; p++) sum += (F[a + p * aStride] as number) * (F[b + p * bStride] as number);
  return sum;
}

function storeOne(F: F32, at: number, value: number, bias: number, j: number, relu: number): void {
  const v = bias >= 0 ? Math.fround(value) + (F[bias + j] as number) : value;
  F[at] = relu && !(v > 0) && v === v ? 0 : v;
}

function store4(F: F32, at: number, c0: number, c1: number, c2: number, c3: number, bias: number, j: number, relu: number): void {
  storeOne(F, at, c0, bias, j, relu);
  storeOne(F, at + 1, c1, bias, j + 1, relu);
  storeOne(F, at + 2, c2, bias, j + 2, relu);
  storeOne(F, at + 3, c3, bias, j + 3, relu);
}
export { conv, pool } from "./kernels-conv.js";
export { attentionSoftmaxRows, channelBackwardStats, channelStats, layerNormBackwardRows, layerNormRows, softmaxBackwardRows } from "./kernels-norm.js";
