// Library kernels of the JS back end for convolution and pooling (NCHW, float32 arena views).
// Geometry arrays: conv [n, ci, h, w, co, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw, groups];
// pool [planes, h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw].
type F32 = Float32Array;

/**
 * mode 0: out (output side) = a (image) ⊛ b (weight) + bias; mode 1 (transposed): out (image
 * side) = a (output side) ⊛ᵀ b (weight) + bias; mode 2: out (weight) = Σ a (image) · b (output
 * cotangent). Offsets are element offsets into F; bias −1 for none.
 */
export function conv(F: F32, mode: number, a: number, b: number, bias: number, out: number, geometry: readonly number[]): void {
  const [n = 0, ci = 0, h = 0, w = 0, co = 0, ho = 0, wo = 0, kh = 0, kw = 0, sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1, groups = 1] = geometry;
  const cg = ci / groups;
  const og = co / groups;
  const outSize = mode === 0 ? n * co * ho * wo : mode === 1 ? n * ci * h * w : co * cg * kh * kw;
  const acc = new Float64Array(outSize);
  for (let b0 = 0; b0 < n; b0++)
    for (let o = 0; o < co; o++) {
      const group = Math.floor(o / og);
      for (let c0 = 0; c0 < cg; c0++) {
        const c = group * cg + c0;
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const wi = ((o * cg + c0) * kh + i) * kw + j;
            for (let oh = 0; oh < ho; oh++) {
              const ih = oh * sh - pt + i * dh;
              const rowInside = ih >= 0 && ih < h;
              const imageRow = ((b0 * ci + c) * h + ih) * w;
              const outRow = ((b0 * co + o) * ho + oh) * wo;
              for (let ow = 0; ow < wo; ow++) {
                const iw = ow * sw - pl + j * dw;
                if (!rowInside || iw < 0 || iw >= w) {
                  // a tap into the zero padding: 0 · weight (or 0 · cotangent) is NaN when that is not finite, as in PyTorch
                  if (mode === 0) acc[outRow + ow] = (acc[outRow + ow] as number) + 0 * (F[b + wi] as number);
                  else if (mode === 2) acc[wi] = (acc[wi] as number) + 0 * (F[b + outRow + ow] as number);
                  continue;
                }
                if (mode === 0) acc[outRow + ow] = (acc[outRow + ow] as number) + (F[a + imageRow + iw] as number) * (F[b + wi] as number);
                else if (mode === 1) acc[imageRow + iw] = (acc[imageRow + iw] as number) + (F[a + outRow + ow] as number) * (F[b + wi] as number);
                else acc[wi] = (acc[wi] as number) + (F[a + imageRow + iw] as number) * (F[b + outRow + ow] as number);
              }
            }
          }
      }
    }
  const channels = mode === 0 ? co : ci;
  const plane = mode === 0 ? ho * wo : h * w;
  for (let k = 0; k < outSize; k++) F[out + k] = (acc[k] as number) + (bias >= 0 && mode !== 2 ? (F[bias + (Math.floor(k / plane) % channels)] as number) : 0);
}

/** op 0: max (first maximum, NaN wins, −∞ padding); 1: avg (× divisor reciprocal per output position); 2: max backward (grad to each window's first maximum). */
export function pool(F: F32, op: number, x: number, grad: number, divisors: number, out: number, geometry: readonly number[]): void {
  const [planes = 0, h = 0, w = 0, ho = 0, wo = 0, kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1] = geometry;
  if (op === 2) F.fill(0, out, out + planes * h * w);
  for (let p = 0; p < planes; p++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++) {
        let best = -1;
        let value = -Infinity;
        let total = 0;
        for (let i = 0; i < kh; i++) {
          const ih = oh * sh - ph + i * dh;
          if (ih < 0 || ih >= h) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * sw - pw + j * dw;
            if (iw < 0 || iw >= w) continue;
            const at = (p * h + ih) * w + iw;
            const v = F[x + at] as number;
            total += v;
            if (best < 0 || v > value || (v !== v && value === value)) {
              best = at;
              value = v;
            }
          }
        }
        const window = (p * ho + oh) * wo + ow;
        if (op === 0) F[out + window] = best < 0 ? -Infinity : value;
        else if (op === 1) F[out + window] = total * (F[divisors + oh * wo + ow] as number);
        else if (best >= 0) F[out + best] = (F[out + best] as number) + (F[grad + window] as number);
      }
}
