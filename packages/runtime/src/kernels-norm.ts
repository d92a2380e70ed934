// Library kernels of the JS back end for the fused normalization and attention rows (core's
// ops/norm.ts): layer_norm and its backward over contiguous rows, the attention softmax (scale,
// bool / additive / causal mask, softmax over the last dim) and softmax_backward. One call per
// kernel, one pass over each row's statistics and one writing it. Imports nothing.

export type F32 = Float32Array;
export type I32 = Int32Array;

/** Mean and 1/√(biased variance + eps) of the row at `at` (two passes: exact for rows far from 0). */
function moments(F: F32, at: number, size: number, eps: number, into: Float64Array): void {
  let total = 0;
  for (let c = 0; c < size; c++) total += F[at + c] as number;
  const mean = total / size;
  let squares = 0;
  for (let c = 0; c < size; c++) {
    const d = (F[at + c] as number) - mean;
    squares += d * d;
  }
  into[0] = mean;
  into[1] = 1 / Math.sqrt(squares / size + eps);
}

const stats = new Float64Array(2);

/** layer_norm of `rows` contiguous rows of `size`: (x − mean)·rstd ⊙ weight + bias (w, b: −1 when absent). */
export function layerNormRows(F: F32, x: number, w: number, b: number, out: number, rows: number, size: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const at = r * size;
    moments(F, x + at, size, eps, stats);
    const mean = stats[0] as number;
    const rstd = stats[1] as number;
    for (let c = 0; c < size; c++) {
      let v = ((F[x + at + c] as number) - mean) * rstd;
      if (w >= 0) v *= F[w + c] as number;
      if (b >= 0) v += F[b + c] as number;
      F[out + at + c] = v;
    }
  }
}

/** ∂x of layer_norm: rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)) per row, ĝ = g ⊙ weight (w: −1 when absent). */
export function layerNormBackwardRows(F: F32, x: number, g: number, w: number, out: number, rows: number, size: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const at = r * size;
    moments(F, x + at, size, eps, stats);
    const mean = stats[0] as number;
    const rstd = stats[1] as number;
    let gradTotal = 0;
    let projection = 0;
    for (let c = 0; c < size; c++) {
      const scaled = (F[g + at + c] as number) * (w >= 0 ? (F[w + c] as number) : 1);
      gradTotal += scaled;
      projection += scaled * ((F[x + at + c] as number) - mean);
    }
    const gradMean = gradTotal / size;
    const projectionMean = (projection * rstd) / size;
    for (let c = 0; c < size; c++) {
      const scaled = (F[g + at + c] as number) * (w >= 0 ? (F[w + c] as number) : 1);
      F[out + at + c] = rstd * (scaled - gradMean - ((F[x + at + c] as number) - mean) * rstd * projectionMean);
    }
  }
}

/**
 * softmax over rows of `size` of x·scale, masked: `maskKind` 1 = bool mask (I, 0 → −inf), 2 =
 * additive mask (F), 0 = none; row r reads mask row r mod maskRows. `queries` > 0: causal, key
 * c > query (r mod queries) is −inf. A row whose every score is −inf is 0 (PyTorch's SDPA).
 */
export function attentionSoftmaxRows(F: F32, I: I32, x: number, mask: number, maskKind: number, maskRows: number, out: number, rows: number, size: number, scale: number, queries: number): void {
  for (let r = 0; r < rows; r++) {
    const at = r * size;
    const maskAt = maskKind === 0 ? 0 : mask + (r % maskRows) * size;
    const visible = queries > 0 ? Math.min(size, (r % queries) + 1) : size;
    let max = -Infinity;
    for (let c = 0; c < size; c++) {
      let s = Math.fround((F[x + at + c] as number) * scale);
      if (maskKind === 1 && (I[maskAt + c] as number) === 0) s = -Infinity;
      else if (maskKind === 2) s = Math.fround(s + (F[maskAt + c] as number));
      if (c >= visible) s = -Infinity;
      F[out + at + c] = s;
      if (s > max || s !== s) max = s;
    }
    if (max === -Infinity) {
      for (let c = 0; c < size; c++) F[out + at + c] = 0;
      continue;
    }
    let total = 0;
    for (let c = 0; c < size; c++) {
      const e = Math.exp((F[out + at + c] as number) - max);
      F[out + at + c] = e;
      total += e;
    }
    const inv = 1 / total;
    for (let c = 0; c < size; c++) F[out + at + c] = (F[out + at + c] as number) * inv;
  }
}

/** scale·y⊙(g − Σ g⊙y) over rows of `size`. */
export function softmaxBackwardRows(F: F32, y: number, g: number, out: number, rows: number, size: number, scale: number): void {
  for (let r = 0; r < rows; r++) {
    const at = r * size;
    let dot = 0;
    for (let c = 0; c < size; c++) dot += (F[g + at + c] as number) * (F[y + at + c] as number);
    for (let c = 0; c < size; c++) F[out + at + c] = scale * (F[y + at + c] as number) * ((F[g + at + c] as number) - dot);
  }
}

/** Per channel c of x [outer, channels, inner]: mean and biased variance over outer × inner (two passes) into out[c], out[channels + c]. */
export function channelStats(F: F32, x: number, out: number, outer: number, channels: number, inner: number): void {
  const count = outer * inner;
  for (let c = 0; c < channels; c++) {
    let total = 0;
    for (let n = 0; n < outer; n++) {
      const at = x + (n * channels + c) * inner;
      for (let j = 0; j < inner; j++) total += F[at + j] as number;
    }
    const mean = total / count;
    let squares = 0;
    for (let n = 0; n < outer; n++) {
      const at = x + (n * channels + c) * inner;
      for (let j = 0; j < inner; j++) {
        const d = (F[at + j] as number) - mean;
        squares += d * d;
      }
    }
    F[out + c] = mean;
    F[out + channels + c] = squares / count;
  }
}

/** Per channel c: Σ g and Σ g·(x − mean)·rstd (s = [mean…, variance…]) into out[c], out[channels + c]. */
export function channelBackwardStats(F: F32, x: number, s: number, g: number, out: number, outer: number, channels: number, inner: number, eps: number): void {
  for (let c = 0; c < channels; c++) {
    const mean = F[s + c] as number;
    const rstd = 1 / Math.sqrt((F[s + channels + c] as number) + eps);
    let gradTotal = 0;
    let projection = 0;
    for (let n = 0; n < outer; n++) {
      const at = (n * channels + c) * inner;
      for (let j = 0; j < inner; j++) {
        const gv = F[g + at + j] as number;
        gradTotal += gv;
        projection += gv * ((F[x + at + j] as number) - mean);
      }
    }
    F[out + c] = gradTotal;
    F[out + channels + c] = projection * rstd;
  }
}
