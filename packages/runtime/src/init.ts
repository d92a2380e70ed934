/**
 * @file Parameter initialisers: what a param's initial value is ({@link Init}) and its values,
 * deterministic from a seed and the param's name. PyTorch's nn.Linear default is
 * kaiming_uniform(a=√5) for the weight, i.e. U(-1/√fan_in, 1/√fan_in), and the same bound for the
 * bias. In-process sessions (through `@graft/core`) and bundles use these same functions.
 */

/** How a param's initial value is made. */
export type Init =
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }
  | { readonly kind: "constant"; readonly value: number }
  | { readonly kind: "uniform"; readonly low: number; readonly high: number }
  /** `zeroRow`: elements index·width … (index+1)·width are zeros afterwards (nn.Embedding's padding_idx row). */
  | { readonly kind: "normal"; readonly mean: number; readonly std: number; readonly zeroRow?: { readonly index: number; readonly width: number } }
  /** PyTorch nn.Linear default: U(-1/√fanIn, 1/√fanIn). */
  | { readonly kind: "kaiming_uniform"; readonly fanIn: number }
  /** `xavier_uniform_` / `xavier_normal_`: std = gain·√(2 / (fan_in + fan_out)) (uniform: bound √3·std). */
  | { readonly kind: "xavier"; readonly distribution: "uniform" | "normal"; readonly gain: number }
  /** `kaiming_uniform_` / `kaiming_normal_`: std = gain / √fan (fan_in or fan_out) (uniform: bound √3·std). */
  | { readonly kind: "kaiming"; readonly distribution: "uniform" | "normal"; readonly gain: number; readonly mode: "fan_in" | "fan_out" }
  /** `orthogonal_`: a (semi-)orthogonal matrix of the param flattened to [shape[0], rest], times gain. */
  | { readonly kind: "orthogonal"; readonly gain: number };

/** True for initialisers that need the param's shape (fans, or the matrix it flattens to): rank ≥ 2. */
export const initNeedsMatrix = (init: Init): boolean => init.kind === "xavier" || init.kind === "kaiming" || init.kind === "orthogonal";

/**
 * PyTorch's `torch.nn.init._calculate_fan_in_and_fan_out`: for a weight [out, in, *kernel],
 * fan_in = in·∏kernel and fan_out = out·∏kernel. Throws a RangeError below rank 2, as PyTorch.
 */
export const fanInAndFanOut = (shape: readonly number[]): { readonly fanIn: number; readonly fanOut: number } => {
  if (shape.length < 2) throw new RangeError(`fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape [${shape.join(",")}])`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: (shape[0] ?? 1) * receptive };
};

/**
 * PyTorch's `torch.nn.init.calculate_gain(nonlinearity, param)`: 1 for linear, conv and sigmoid,
 * 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky_relu (slope `param`, default 0.01),
 * 3/4 for selu. Throws a RangeError for another name.
 */
export const calculateGain = (nonlinearity: string, param?: number): number => {
  switch (nonlinearity) {
    case "linear":
    case "conv1d":
    case "conv2d":
    case "conv3d":
    case "conv_transpose1d":
    case "conv_transpose2d":
    case "conv_transpose3d":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5.0 / 3;
    case "relu":
      return Math.sqrt(2.0);
    case "leaky_relu": {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope)) throw new RangeError(`calculate_gain: negative_slope ${slope} is not a valid number`);
      return Math.sqrt(2.0 / (1 + slope ** 2));
    }
    case "selu":
      return 3.0 / 4;
    default:
      throw new RangeError(`calculate_gain: unsupported nonlinearity '${nonlinearity}' (expected linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu or selu)`);
  }
};

/** Fills `out` with N(mean, std²) samples (Box–Muller over `random`). */
const fillNormal = (out: Float64Array, random: () => number, mean: number, std: number): Float64Array => {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = Math.max(random(), Number.MIN_VALUE);
    const u2 = random();
    const radius = Math.sqrt(-2 * Math.log(u1));
    out[i] = mean + std * radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = mean + std * radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
};

/**
 * `orthogonal_`: Q of the QR decomposition of a rows×cols normal matrix (transposed when
 * rows < cols), with R's diagonal made positive as PyTorch does — computed by modified
 * Gram–Schmidt (twice, for stability), which yields that Q directly.
 */
const orthogonal = (shape: readonly number[], random: () => number, gain: number): Float64Array => {
  const rows = shape[0] ?? 1;
  const size = shape.reduce((a, b) => a * b, 1);
  const cols = rows === 0 ? 0 : size / rows;
  const flat = fillNormal(new Float64Array(size), random, 0, 1);
  const tall = rows >= cols;
  const m = tall ? rows : cols;
  const n = tall ? cols : rows;
  // columns of the m×n (tall) matrix: a[j][i]
  const a = Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => (tall ? (flat[i * cols + j] ?? 0) : (flat[j * cols + i] ?? 0))));
  for (let j = 0; j < n; j++) {
    const column = a[j] ?? new Float64Array(m);
    for (let pass = 0; pass < 2; pass++)
      for (let k = 0; k < j; k++) {
        const q = a[k] ?? new Float64Array(m);
        let dot = 0;
        for (let i = 0; i < m; i++) dot += (q[i] ?? 0) * (column[i] ?? 0);
        for (let i = 0; i < m; i++) column[i] = (column[i] ?? 0) - dot * (q[i] ?? 0);
      }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += (column[i] ?? 0) ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < m; i++) column[i] = norm === 0 ? 0 : (column[i] ?? 0) / norm;
  }
  const out = new Float64Array(size);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? (a[c]?.[r] ?? 0) : (a[r]?.[c] ?? 0));
  return out;
};

/** mulberry32: a small, fast, deterministic 32-bit PRNG. Returns floats in [0, 1). */
export const mulberry32 = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** FNV-1a hash of a string, to derive a per-param seed from the model seed and the param name. */
export const hashString = (text: string): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
};

/** Fills the values of a param: {@link initValues}, or {@link basicInitValues} for the kinds it knows. */
export type Initialise = (init: Init, shape: number | readonly number[], seed: number, name: string) => Float64Array;

/** The initialisers {@link basicInitValues} computes: no fans, no matrices, no normal samples. */
export const BASIC_INITS: ReadonlyArray<Init["kind"]> = ["zeros", "ones", "constant", "uniform", "kaiming_uniform"];

/**
 * {@link initValues} for the kinds in {@link BASIC_INITS} only (nn.Linear's default among them): a
 * bundle whose state uses only those takes this one, and the others' code stays out of it.
 * @throws RangeError for another kind
 */
export const basicInitValues: Initialise = (init, shape, seed, name) => {
  const size = typeof shape === "number" ? shape : shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  const random = mulberry32((seed ^ hashString(name)) >>> 0);
  switch (init.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "constant":
      return out.fill(init.value);
    case "uniform":
      for (let i = 0; i < size; i++) out[i] = init.low + (init.high - init.low) * random();
      return out;
    case "kaiming_uniform": {
      const bound = 1 / Math.sqrt(init.fanIn);
      for (let i = 0; i < size; i++) out[i] = -bound + 2 * bound * random();
      return out;
    }
    default:
      throw new RangeError(`param ${name}: initialiser ${init.kind} is not one of the basic initialisers (${BASIC_INITS.join(", ")})`);
  }
};

/**
 * Fills the values of a param for `init`, deterministically from `seed` and the param `name` (so
 * a param's initial value does not depend on the order params are declared in). `shape` is the
 * param's shape (or just its size, enough for initialisers that do not need fans).
 * @throws RangeError when `init` needs a shape of rank ≥ 2 and does not get one
 */
export const initValues: Initialise = (init, shape, seed, name) => {
  const size = typeof shape === "number" ? shape : shape.reduce((a, b) => a * b, 1);
  const random = (): (() => number) => mulberry32((seed ^ hashString(name)) >>> 0);
  const dims = (): readonly number[] => {
    if (typeof shape === "number") throw new RangeError(`param ${name}: initialiser ${init.kind} needs the param's shape, not only its size`);
    return shape;
  };
  switch (init.kind) {
    case "zeros":
    case "ones":
    case "constant":
    case "uniform":
    case "kaiming_uniform":
      return basicInitValues(init, shape, seed, name);
    case "normal": {
      const out = fillNormal(new Float64Array(size), random(), init.mean, init.std);
      if (init.zeroRow !== undefined) out.fill(0, init.zeroRow.index * init.zeroRow.width, (init.zeroRow.index + 1) * init.zeroRow.width);
      return out;
    }
    case "xavier":
    case "kaiming": {
      const { fanIn, fanOut } = fanInAndFanOut(dims());
      const std = init.kind === "xavier" ? init.gain * Math.sqrt(2.0 / (fanIn + fanOut)) : init.gain / Math.sqrt(init.mode === "fan_in" ? fanIn : fanOut);
      if (init.distribution === "normal") return fillNormal(new Float64Array(size), random(), 0, std);
      const bound = Math.sqrt(3.0) * std;
      return basicInitValues({ kind: "uniform", low: -bound, high: bound }, size, seed, name);
    }
    case "orthogonal": {
      const matrix = dims();
      if (matrix.length < 2) throw new RangeError(`param ${name}: orthogonal initialisation needs a tensor of 2 or more dimensions (shape [${matrix.join(",")}])`);
      return orthogonal(matrix, random(), init.gain);
    }
  }
};
