/**
 * @file The fused rows of training-mode batch norm over [N, C, *] (statistics per channel C over
 * every other dim): batch_norm_stats (the batch mean and biased variance, [2, C]), batch_norm
 * (the normalization with given statistics, ⊙ weight + bias per channel) and
 * batch_norm_backward_stats (per channel Σg and Σg⊙x̂, from which the backward of both is
 * elementwise). Composites: `decompose` defines each in primitives; the JS and WASM back ends
 * compute the statistics as one channel kernel and the normalization as one map kernel.
 */
import * as E from "fp-ts/lib/Either.js";
import { add, div, dimSize, mean, mul, neg, reshape, sqrt, sub, sum } from "../api.js";
import type { NDArray } from "../ndarray.js";
import { formatShape, formatType, shapeEquals, sizeOf, type Dim, type TensorType } from "../shape.js";
import { describeValue, makeTensor, type Tensor } from "../tensor.js";
import type { OpAttrs } from "./attrs.js";
import type { OpDef } from "./def.js";
import { ok, requireFloat } from "./rules.js";
import { lazyGuarded } from "./norm.js";

// lazyGuarded (norm.ts): untyped callers get a diagnostic, never a throw
export const batchNormStatsRaw = lazyGuarded("batchNormStatsRaw", (x: Tensor): Tensor => makeTensor("batch_norm_stats", {}, [x]));
export const batchNormRaw = lazyGuarded("batchNormRaw", (x: Tensor, stats: Tensor, attrs: OpAttrs["batch_norm"], weight?: Tensor, bias?: Tensor): Tensor =>
  makeTensor("batch_norm", attrs, [x, stats, ...(attrs.weight && weight !== undefined ? [weight] : []), ...(attrs.bias && bias !== undefined ? [bias] : [])]),
);
export const batchNormBackwardStatsRaw = lazyGuarded("batchNormBackwardStatsRaw", (x: Tensor, stats: Tensor, grad: Tensor, eps: number): Tensor => makeTensor("batch_norm_backward_stats", { eps }, [x, stats, grad]));

// ----- shape and dtype rules ---------------------------------------------------------------------

/** x float [N, C, *]: its channel count. */
const checkChannels = (x: TensorType): E.Either<string, Dim> => {
  const float = requireFloat(x);
  if (E.isLeft(float)) return float;
  const channels = x.shape[1];
  return channels === undefined ? E.left(`expected an input [N, C, …] with a channel dim, got ${formatType(x)}`) : E.right(channels);
};

const checkEps = (eps: unknown): E.Either<string, number> =>
  typeof eps === "number" && eps >= 0 && Number.isFinite(eps) ? E.right(eps) : E.left(`eps must be a finite number ≥ 0, got ${typeof eps === "number" ? String(eps) : describeValue(eps)}`);

/** stats: [2, C] of the input's dtype. */
const checkStats = (what: string, t: TensorType | undefined, x: TensorType, channels: Dim): E.Either<string, void> => {
  if (t === undefined) return E.left(`missing ${what}`);
  return shapeEquals(t.shape, [2, channels]) && t.dtype === x.dtype ? E.right(undefined) : E.left(`${what} must be ${x.dtype}${formatShape([2, channels])} (mean and variance per channel of input ${formatType(x)}), got ${formatType(t)}`);
};

const statsInfer: OpDef<"batch_norm_stats">["infer"] = ([x, ...rest]) => {
  if (x === undefined) return E.left("missing input");
  if (rest.length > 0) return E.left("unexpected input after x");
  return E.map((channels: Dim) => ({ shape: [2, channels], dtype: x.dtype }))(checkChannels(x));
};

const batchNormInfer: OpDef<"batch_norm">["infer"] = ([x, stats, ...affine], attrs) => {
  if (x === undefined) return E.left("missing input");
  const channels = checkChannels(x);
  if (E.isLeft(channels)) return channels;
  const eps = checkEps(attrs.eps);
  if (E.isLeft(eps)) return eps;
  const checked = checkStats("stats", stats, x, channels.right);
  if (E.isLeft(checked)) return checked;
  const expected = (attrs.weight === true ? 1 : 0) + (attrs.bias === true ? 1 : 0);
  if (affine.length !== expected) return E.left(`expected ${expected} affine input(s) (weight ${String(attrs.weight)}, bias ${String(attrs.bias)}), got ${affine.length}`);
  for (const t of affine)
    if (t === undefined || !shapeEquals(t.shape, [channels.right]) || t.dtype !== x.dtype)
      return E.left(`weight and bias must be ${x.dtype}${formatShape([channels.right])} (one per channel of input ${formatType(x)}), got ${t === undefined ? "none" : formatType(t)}`);
  return ok(x.shape, x.dtype);
};

const backwardStatsInfer: OpDef<"batch_norm_backward_stats">["infer"] = ([x, stats, grad], attrs) => {
  if (x === undefined || grad === undefined) return E.left("missing input");
  const channels = checkChannels(x);
  if (E.isLeft(channels)) return channels;
  const eps = checkEps(attrs.eps);
  if (E.isLeft(eps)) return eps;
  const checked = checkStats("stats", stats, x, channels.right);
  if (E.isLeft(checked)) return checked;
  if (!shapeEquals(grad.shape, x.shape) || grad.dtype !== x.dtype) return E.left(`grad must be ${formatType(x)} like the input, got ${formatType(grad)}`);
  return ok([2, channels.right], x.dtype);
};

// ----- reference semantics (float64) -------------------------------------------------------------

/** [N, C, rest…] as N × C × inner. */
const channelLayout = (shape: readonly number[]): { readonly outer: number; readonly channels: number; readonly inner: number } => ({
  outer: shape[0] ?? 1,
  channels: shape[1] ?? 1,
  inner: sizeOf(shape.slice(2)),
});

/** Calls `f(at)` for every element of channel `c`. */
const forChannel = (layout: ReturnType<typeof channelLayout>, c: number, f: (at: number) => void): void => {
  for (let n = 0; n < layout.outer; n++) for (let j = 0; j < layout.inner; j++) f((n * layout.channels + c) * layout.inner + j);
};

const statsValues = ([x]: readonly NDArray[]): Float64Array => {
  if (x === undefined) return new Float64Array(0);
  const layout = channelLayout(x.shape);
  const count = layout.outer * layout.inner;
  const out = new Float64Array(2 * layout.channels);
  for (let c = 0; c < layout.channels; c++) {
    let total = 0;
    forChannel(layout, c, (at) => (total += x.data[at] as number));
    const mu = total / count;
    let squares = 0;
    forChannel(layout, c, (at) => (squares += ((x.data[at] as number) - mu) ** 2));
    out[c] = mu;
    out[layout.channels + c] = squares / count;
  }
  return out;
};

const batchNormValues = ([x, stats, ...affine]: readonly NDArray[], attrs: OpAttrs["batch_norm"]): Float64Array => {
  if (x === undefined || stats === undefined) return new Float64Array(0);
  const weight = attrs.weight ? affine[0] : undefined;
  const bias = attrs.bias ? affine[attrs.weight ? 1 : 0] : undefined;
  const layout = channelLayout(x.shape);
  const out = new Float64Array(x.data.length);
  for (let c = 0; c < layout.channels; c++) {
    const mu = stats.data[c] as number;
    const rstd = 1 / Math.sqrt((stats.data[layout.channels + c] as number) + attrs.eps);
    const w = weight === undefined ? 1 : (weight.data[c] as number);
    const b = bias === undefined ? 0 : (bias.data[c] as number);
    forChannel(layout, c, (at) => (out[at] = ((x.data[at] as number) - mu) * rstd * w + b));
  }
  return out;
};

const backwardStatsValues = ([x, stats, grad]: readonly NDArray[], attrs: OpAttrs["batch_norm_backward_stats"]): Float64Array => {
  if (x === undefined || stats === undefined || grad === undefined) return new Float64Array(0);
  const layout = channelLayout(x.shape);
  const out = new Float64Array(2 * layout.channels);
  for (let c = 0; c < layout.channels; c++) {
    const mu = stats.data[c] as number;
    const rstd = 1 / Math.sqrt((stats.data[layout.channels + c] as number) + attrs.eps);
    let gradTotal = 0;
    let projection = 0;
    forChannel(layout, c, (at) => {
      gradTotal += grad.data[at] as number;
      projection += (grad.data[at] as number) * ((x.data[at] as number) - mu) * rstd;
    });
    out[c] = gradTotal;
    out[layout.channels + c] = projection;
  }
  return out;
};

// ----- definitions in primitives and gradients -----------------------------------------------------

/** Every dim but the channel dim. */
const reducedDims = (x: Tensor): number[] => Array.from({ length: x.rank }, (_, i) => i).filter((i) => i !== 1);
/** A [C] vector as [1, C, 1, …] for an input of `x`'s rank. */
const perChannel = (t: Tensor, x: Tensor): Tensor => reshape(t, [1, x.shape[1] as Dim, ...new Array<number>(x.rank - 2).fill(1)]);
/** Row `row` of a [2, C] tensor as [C] (the slice and concat rows built directly: the DSL of movement.ts imports this table). */
const rowOf2 = (t: Tensor, row: number, x: Tensor): Tensor => reshape(makeTensor("slice", { dims: [0], starts: [row], stops: [row + 1], steps: [1] }, [t]), [x.shape[1] as Dim]);
/** Two [C] vectors as the rows of [2, C]. */
const stack = ([first, second]: readonly [Tensor, Tensor], x: Tensor): Tensor => makeTensor("concat", { dim: 0 }, [reshape(first, [1, x.shape[1] as Dim]), reshape(second, [1, x.shape[1] as Dim])]);

const statsDefinition = ([x]: readonly Tensor[]): Tensor => {
  if (x === undefined) throw new Error("internal: batch_norm_stats decomposed without its input");
  const dims = reducedDims(x);
  const mu = mean(x, dims);
  const centered = () => sub(x, perChannel(mu, x));
  return stack([mu, mean(mul(centered(), centered()), dims)], x);
};

const batchNormDefinition = ([x, stats, ...affine]: readonly Tensor[], attrs: OpAttrs["batch_norm"]): Tensor => {
  if (x === undefined || stats === undefined) throw new Error("internal: batch_norm decomposed without its inputs");
  const rstd = div(1, sqrt(add(perChannel(rowOf2(stats, 1, x), x), attrs.eps)));
  let y = mul(sub(x, perChannel(rowOf2(stats, 0, x), x)), rstd);
  const weight = attrs.weight ? affine[0] : undefined;
  const bias = attrs.bias ? affine[attrs.weight ? 1 : 0] : undefined;
  if (weight !== undefined) y = mul(y, perChannel(weight, x));
  if (bias !== undefined) y = add(y, perChannel(bias, x));
  return y;
};

const backwardStatsDefinition = ([x, stats, grad]: readonly Tensor[], attrs: OpAttrs["batch_norm_backward_stats"]): Tensor => {
  if (x === undefined || stats === undefined || grad === undefined) throw new Error("internal: batch_norm_backward_stats decomposed without its inputs");
  const dims = reducedDims(x);
  const rstd = div(1, sqrt(add(perChannel(rowOf2(stats, 1, x), x), attrs.eps)));
  const normalized = mul(sub(x, perChannel(rowOf2(stats, 0, x), x)), rstd);
  return stack([sum(grad, dims), sum(mul(grad, normalized), dims)], x);
};

export const batchNormOps: {
  readonly batch_norm_stats: OpDef<"batch_norm_stats">;
  readonly batch_norm: OpDef<"batch_norm">;
  readonly batch_norm_backward_stats: OpDef<"batch_norm_backward_stats">;
} = {
  batch_norm_stats: {
    kind: "norm",
    arity: [1, 1],
    infer: statsInfer,
    evaluate: (inputs) => statsValues(inputs),
    decompose: statsDefinition,
    // ∂x = G_mean/n + G_var·2(x − μ)/n per channel: elementwise, no reduction
    gradient: {
      rule: ({ grad, inputs: [x], output }) => {
        if (x === undefined) return [undefined];
        const count = dimSize(x, reducedDims(x));
        const centered = sub(x, perChannel(rowOf2(output, 0, x), x));
        return [add(div(perChannel(rowOf2(grad, 0, x), x), count), mul(perChannel(rowOf2(grad, 1, x), x), div(mul(centered, 2), count)))];
      },
    },
  },
  batch_norm: {
    kind: "norm",
    arity: [2, 4],
    infer: batchNormInfer,
    evaluate: (inputs, attrs) => batchNormValues(inputs, attrs),
    decompose: batchNormDefinition,
    // with S = (Σg, Σg⊙x̂) per channel (one fused row): ∂x = g·w·rstd, ∂mean = −w·rstd·Σg,
    // ∂var = −½·w·rstd²·Σg⊙x̂, ∂weight = Σg⊙x̂, ∂bias = Σg
    gradient: {
      rule: ({ grad, inputs: [x, stats, ...affine], attrs }) => {
        if (x === undefined || stats === undefined) return [undefined, undefined, undefined, undefined];
        const weight = attrs.weight ? affine[0] : undefined;
        const sums = batchNormBackwardStatsRaw(x, stats, grad, attrs.eps);
        const rstd = div(1, sqrt(add(rowOf2(stats, 1, x), attrs.eps)));
        const scale = weight === undefined ? rstd : mul(weight, rstd);
        const dx = mul(grad, perChannel(scale, x));
        const dMean = neg(mul(scale, rowOf2(sums, 0, x)));
        const dVar = mul(mul(mul(scale, rstd), rowOf2(sums, 1, x)), -0.5);
        return [dx, stack([dMean, dVar], x), ...(attrs.weight ? [rowOf2(sums, 1, x)] : []), ...(attrs.bias ? [rowOf2(sums, 0, x)] : [])];
      },
    },
    formatAttrs: (attrs) => [`eps=${attrs.eps}`, attrs.weight ? "weight" : "", attrs.bias ? "bias" : ""].filter((part) => part !== "").join(", "),
  },
  batch_norm_backward_stats: {
    kind: "norm",
    arity: [3, 3],
    infer: backwardStatsInfer,
    evaluate: (inputs, attrs) => backwardStatsValues(inputs, attrs),
    decompose: backwardStatsDefinition,
    gradient: { fromDecomposition: true },
  },
};
