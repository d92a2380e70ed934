/**
 * Layout conversions between graft's (PyTorch's) tensor layouts and the peers' native ones,
 * done outside the timed region: when a peer's idiomatic layout differs (tfjs: NHWC images,
 * HWIO conv kernels, `[in, out]` dense kernels), its parameters are converted in `prepare`
 * and converted back before the check, so the check compares PyTorch-layout values.
 */

/** Row-major `[rows, cols]` → `[cols, rows]`. */
export function transpose2d(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] ?? 0;
  return out;
}

/** `[n, c, h, w]` → `[n, h, w, c]`. */
export function nchwToNhwc(data: ArrayLike<number>, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x] ?? 0;
  return out;
}

/** `[n, h, w, c]` → `[n, c, h, w]`. */
export function nhwcToNchw(data: ArrayLike<number>, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((b * c + ch) * h + y) * w + x] = data[((b * h + y) * w + x) * c + ch] ?? 0;
  return out;
}

/** Conv kernel `[out, in, kh, kw]` (PyTorch) → `[kh, kw, in, out]` (TensorFlow). */
export function oihwToHwio(data: ArrayLike<number>, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(o * i * kh * kw);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = data[((a * i + b) * kh + y) * kw + x] ?? 0;
  return out;
}

/** Conv kernel `[kh, kw, in, out]` → `[out, in, kh, kw]`. */
export function hwioToOihw(data: ArrayLike<number>, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(o * i * kh * kw);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[((a * i + b) * kh + y) * kw + x] = data[((y * kw + x) * i + b) * o + a] ?? 0;
  return out;
}

/**
 * A dense weight `[out, c·h·w]` (PyTorch, reading a flattened NCHW activation) as the dense
 * kernel `[h·w·c, out]` that reads the same activation flattened in NHWC order: the same
 * function of the image, for a peer that keeps activations NHWC.
 */
export function denseFromNchwToNhwcKernel(weight: ArrayLike<number>, out: number, c: number, h: number, w: number): Float32Array {
  const kernel = new Float32Array(out * c * h * w);
  for (let o = 0; o < out; o++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) kernel[((y * w + x) * c + ch) * out + o] = weight[o * c * h * w + (ch * h + y) * w + x] ?? 0;
  return kernel;
}

/** The inverse of `denseFromNchwToNhwcKernel`. */
export function denseFromNhwcKernel(kernel: ArrayLike<number>, out: number, c: number, h: number, w: number): Float32Array {
  const weight = new Float32Array(out * c * h * w);
  for (let o = 0; o < out; o++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) weight[o * c * h * w + (ch * h + y) * w + x] = kernel[((y * w + x) * c + ch) * out + o] ?? 0;
  return weight;
}

/** One-hot `[labels.length, classes]` with an all-zero row for labels outside [0, classes) (e.g. -100). */
export function oneHotIgnoring(labels: Int32Array, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  labels.forEach((label, i) => {
    if (label >= 0 && label < classes) out[i * classes + label] = 1;
  });
  return out;
}
