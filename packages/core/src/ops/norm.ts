/**
 * @file The fused normalization and attention rows: layer_norm (group norm is a layer_norm of the
 * grouped view) and its backward, attention_softmax (scale → mask → softmax over the last dim,
 * as F.scaled_dot_product_attention computes it) and softmax_backward. Each is a composite:
 * `decompose` defines it in primitives (the reference of every back end that does not fuse it),
 * the JS and WASM back ends compute it as one row kernel. The forward rows' gradients are the
 * backward rows; the backward rows differentiate their decompositions (second derivatives).
 */
import * as E from "fp-ts/lib/Either.js";
import { add, constant, div, eq, exp, max, mean, mul, sqrt, sub, sum, where } from "../api.js";
import { forEachRow, rowLayout, type NDArray } from "../ndarray.js";
import { broadcastShapes, formatShape, formatType, shapeEquals, sizeOf, type Shape, type TensorType } from "../shape.js";
import { describeValue, makeTensor, type Tensor } from "../tensor.js";
import type { OpAttrs } from "./attrs.js";
import type { OpDef } from "./def.js";
import { ok, requireFloat, sumTo } from "./rules.js";
import { guarded } from "../guard.js";

// ----- builders (what gradient rules, decompositions and nn.ts make) ----------------------------

/**
 * `guarded(op, build)` looked up at call time: untyped callers (attributes missing or of the wrong
 * type) get a diagnostic, never a throw. (guard.ts imports the table through tensor.ts, so it is
 * not initialised yet when the table's modules load.)
 */
export const lazyGuarded =
  <F extends (...args: never[]) => Tensor>(op: string, build: F): F =>
    ((...args: never[]): Tensor => guarded(op, build)(...args)) as unknown as F;

export const layerNormRaw = lazyGuarded("layerNormRaw", (x: Tensor, attrs: OpAttrs["layer_norm"], weight?: Tensor, bias?: Tensor): Tensor =>
  makeTensor("layer_norm", attrs, [x, ...(attrs.weight && weight !== undefined ? [weight] : []), ...(attrs.bias && bias !== undefined ? [bias] : [])]),
);
export const layerNormBackwardRaw = lazyGuarded("layerNormBackwardRaw", (x: Tensor, grad: Tensor, attrs: OpAttrs["layer_norm_backward"], weight?: Tensor): Tensor =>
  makeTensor("layer_norm_backward", attrs, [x, grad, ...(attrs.weight && weight !== undefined ? [weight] : [])]),
);
export const attentionSoftmaxRaw = lazyGuarded("attentionSoftmaxRaw", (x: Tensor, attrs: OpAttrs["attention_softmax"], mask?: Tensor): Tensor =>
  makeTensor("attention_softmax", attrs, attrs.mask === "none" || mask === undefined ? [x] : [x, mask]),
);
export const softmaxBackwardRaw = lazyGuarded("softmaxBackwardRaw", (y: Tensor, grad: Tensor, scale: number): Tensor => makeTensor("softmax_backward", { scale }, [y, grad]));

// ----- shape and dtype rules ---------------------------------------------------------------------

/** A number as written, anything else described (untyped callers). */
const shown = (value: unknown): string => (typeof value === "number" ? String(value) : describeValue(value));

const checkEps = (eps: unknown): E.Either<string, number> => (typeof eps === "number" && eps >= 0 && Number.isFinite(eps) ? E.right(eps) : E.left(`eps must be a finite number ≥ 0, got ${shown(eps)}`));
const checkScale = (scale: unknown): E.Either<string, number> => (typeof scale === "number" && Number.isFinite(scale) ? E.right(scale) : E.left(`scale must be a finite number, got ${shown(scale)}`));

/** x float with at least `dims` ≥ 1 dims; the trailing `dims` dims are the normalized shape. */
const checkNormalized = (x: TensorType, dims: unknown, eps: unknown): E.Either<string, Shape> => {
  const float = requireFloat(x);
  if (E.isLeft(float)) return float;
  if (typeof dims !== "number" || !Number.isInteger(dims) || dims < 1 || dims > x.shape.length)
    return E.left(`dims (the number of normalized trailing dims) must be an integer in [1, ${x.shape.length}] for input ${formatType(x)}, got ${shown(dims)}`);
  const epsilon = checkEps(eps);
  if (E.isLeft(epsilon)) return epsilon;
  return E.right(x.shape.slice(x.shape.length - dims));
};

/** An affine input (weight or bias): the normalized shape, the input's dtype. */
const checkAffine = (what: string, t: TensorType | undefined, normalized: Shape, x: TensorType): E.Either<string, void> => {
  if (t === undefined) return E.left(`missing ${what}`);
  return shapeEquals(t.shape, normalized) && t.dtype === x.dtype ? E.right(undefined) : E.left(`${what} must be ${x.dtype}${formatShape(normalized)} (the normalized shape of input ${formatType(x)}), got ${formatType(t)}`);
};

const layerNormInfer: OpDef<"layer_norm">["infer"] = (types, attrs) => {
  const [x, ...affine] = types;
  if (x === undefined) return E.left("missing input");
  const normalized = checkNormalized(x, attrs.dims, attrs.eps);
  if (E.isLeft(normalized)) return normalized;
  const expected = (attrs.weight === true ? 1 : 0) + (attrs.bias === true ? 1 : 0);
  if (affine.length !== expected) return E.left(`expected ${expected} affine input(s) (weight ${String(attrs.weight)}, bias ${String(attrs.bias)}), got ${affine.length}`);
  const checks = [...(attrs.weight === true ? [["weight", affine[0]] as const] : []), ...(attrs.bias === true ? [["bias", affine[attrs.weight === true ? 1 : 0]] as const] : [])];
  for (const [what, t] of checks) {
    const checked = checkAffine(what, t, normalized.right, x);
    if (E.isLeft(checked)) return checked;
  }
  return ok(x.shape, x.dtype);
};

const layerNormBackwardInfer: OpDef<"layer_norm_backward">["infer"] = ([x, grad, weight, ...rest], attrs) => {
  if (x === undefined || grad === undefined) return E.left("missing input");
  const normalized = checkNormalized(x, attrs.dims, attrs.eps);
  if (E.isLeft(normalized)) return normalized;
  if (!shapeEquals(grad.shape, x.shape) || grad.dtype !== x.dtype) return E.left(`grad must be ${formatType(x)} like the input, got ${formatType(grad)}`);
  if (rest.length > 0 || (attrs.weight !== true && weight !== undefined)) return E.left("unexpected input after the weight");
  if (attrs.weight === true) {
    const checked = checkAffine("weight", weight, normalized.right, x);
    if (E.isLeft(checked)) return checked;
  }
  return ok(x.shape, x.dtype);
};

const MASKS: readonly unknown[] = ["none", "bool", "add"];

const attentionSoftmaxInfer: OpDef<"attention_softmax">["infer"] = ([x, mask, ...rest], attrs) => {
  if (x === undefined) return E.left("missing input");
  const float = requireFloat(x, "input (attention scores)");
  if (E.isLeft(float)) return float;
  if (x.shape.length < 1) return E.left(`expected scores with a key dim, got ${formatType(x)}`);
  const scale = checkScale(attrs.scale);
  if (E.isLeft(scale)) return scale;
  if (!MASKS.includes(attrs.mask)) return E.left(`mask must be "none", "bool" or "add", got ${describeValue(attrs.mask)}`);
  if (typeof attrs.causal !== "boolean") return E.left(`causal must be true or false, got ${describeValue(attrs.causal)}`);
  if (attrs.causal) {
    const queries = x.shape[x.shape.length - 2];
    const keys = x.shape[x.shape.length - 1];
    if (typeof queries !== "number" || typeof keys !== "number") return E.left(`causal needs scores [..., L, S] with static L and S, got ${formatType(x)}`);
  }
  if (rest.length > 0) return E.left("unexpected input after the mask");
  if (attrs.mask === "none") return mask === undefined ? ok(x.shape, x.dtype) : E.left('unexpected mask input (mask is "none")');
  if (mask === undefined) return E.left(`missing the ${attrs.mask} mask`);
  const dtype = attrs.mask === "bool" ? "bool" : x.dtype;
  if (mask.dtype !== dtype) return E.left(`a${attrs.mask === "add" ? "n additive" : " bool"} mask must be ${dtype}, got ${formatType(mask)}`);
  const joint = broadcastShapes(mask.shape, x.shape);
  if (E.isLeft(joint) || !shapeEquals(joint.right, x.shape)) return E.left(`mask ${formatType(mask)} does not broadcast to the scores ${formatType(x)}`);
  return ok(x.shape, x.dtype);
};

const softmaxBackwardInfer: OpDef<"softmax_backward">["infer"] = ([y, grad], attrs) => {
  if (y === undefined || grad === undefined) return E.left("missing input");
  const float = requireFloat(y, "softmax output");
  if (E.isLeft(float)) return float;
  if (y.shape.length < 1) return E.left(`expected a softmax output with a dim, got ${formatType(y)}`);
  const scale = checkScale(attrs.scale);
  if (E.isLeft(scale)) return scale;
  return shapeEquals(grad.shape, y.shape) && grad.dtype === y.dtype ? ok(y.shape, y.dtype) : E.left(`grad must be ${formatType(y)} like the softmax output, got ${formatType(grad)}`);
};

// ----- reference semantics (float64) -------------------------------------------------------------

/** Rows of `size` elements: the trailing `dims` dims of `shape`. */
const normRows = (shape: readonly number[], dims: number): { readonly rows: number; readonly size: number } => {
  const size = sizeOf(shape.slice(shape.length - dims));
  return { rows: size === 0 ? 0 : sizeOf(shape) / size, size };
};

/** Mean and 1/√(biased variance + eps) of row `r`. */
const rowMoments = (x: NDArray, base: number, size: number, eps: number): { readonly mean: number; readonly rstd: number } => {
  let total = 0;
  for (let c = 0; c < size; c++) total += x.data[base + c] as number;
  const mu = total / size;
  let squares = 0;
  for (let c = 0; c < size; c++) squares += ((x.data[base + c] as number) - mu) ** 2;
  return { mean: mu, rstd: 1 / Math.sqrt(squares / size + eps) };
};

const layerNormValues = ([x, ...affine]: readonly NDArray[], attrs: OpAttrs["layer_norm"]): Float64Array => {
  if (x === undefined) return new Float64Array(0);
  const weight = attrs.weight ? affine[0] : undefined;
  const bias = attrs.bias ? affine[attrs.weight ? 1 : 0] : undefined;
  const { rows, size } = normRows(x.shape, attrs.dims);
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * size;
    const { mean: mu, rstd } = rowMoments(x, base, size, attrs.eps);
    for (let c = 0; c < size; c++) {
      const normalized = ((x.data[base + c] as number) - mu) * rstd;
      out[base + c] = normalized * (weight === undefined ? 1 : (weight.data[c] as number)) + (bias === undefined ? 0 : (bias.data[c] as number));
    }
  }
  return out;
};

/** ∂x = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)) per row, ĝ = grad ⊙ weight, x̂ the normalized row. */
const layerNormBackwardValues = ([x, grad, weight]: readonly NDArray[], attrs: OpAttrs["layer_norm_backward"]): Float64Array => {
  if (x === undefined || grad === undefined) return new Float64Array(0);
  const { rows, size } = normRows(x.shape, attrs.dims);
  const out = new Float64Array(x.data.length);
  const scaled = (base: number, c: number): number => (grad.data[base + c] as number) * (attrs.weight && weight !== undefined ? (weight.data[c] as number) : 1);
  for (let r = 0; r < rows; r++) {
    const base = r * size;
    const { mean: mu, rstd } = rowMoments(x, base, size, attrs.eps);
    let gradTotal = 0;
    let projection = 0;
    for (let c = 0; c < size; c++) {
      const g = scaled(base, c);
      gradTotal += g;
      projection += g * ((x.data[base + c] as number) - mu) * rstd;
    }
    for (let c = 0; c < size; c++) out[base + c] = rstd * (scaled(base, c) - gradTotal / size - ((x.data[base + c] as number) - mu) * rstd * (projection / size));
  }
  return out;
};

/** The flat index into `mask` (right-aligned, broadcasting) of element `k` of `shape`. */
const broadcastReader = (mask: NDArray, shape: readonly number[]): ((k: number) => number) => {
  const lead = shape.length - mask.shape.length;
  const maskStrides = mask.shape.map((_, axis) => sizeOf(mask.shape.slice(axis + 1)));
  return (k) => {
    let rest = k;
    let at = 0;
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      const size = shape[axis] ?? 1;
      const index = rest % size;
      rest = (rest - index) / size;
      const maskAxis = axis - lead;
      if (maskAxis >= 0 && (mask.shape[maskAxis] ?? 1) !== 1) at += index * (maskStrides[maskAxis] ?? 0);
    }
    return mask.data[at] as number;
  };
};

/**
 * softmax over the last dim of x·scale, masked: a bool mask's false and the causal mask's keys
 * j > i (query i = the row's index along dim −2) are −inf, an additive mask is added. A row whose
 * every score is −inf gives 0 (PyTorch's SDPA, `_safe_softmax`); NaN and +inf give NaN rows.
 */
const attentionSoftmaxValues = ([x, mask]: readonly NDArray[], attrs: OpAttrs["attention_softmax"]): Float64Array => {
  if (x === undefined) return new Float64Array(0);
  const size = x.shape[x.shape.length - 1] ?? 1;
  const queries = x.shape[x.shape.length - 2] ?? 1;
  const maskAt = mask === undefined || attrs.mask === "none" ? undefined : broadcastReader(mask, x.shape);
  const out = new Float64Array(x.data.length);
  const scores = new Float64Array(size);
  const rows = size === 0 ? 0 : x.data.length / size;
  for (let r = 0; r < rows; r++) {
    const base = r * size;
    const query = r % queries;
    let top = -Infinity;
    for (let c = 0; c < size; c++) {
      let s = (x.data[base + c] as number) * attrs.scale;
      if (maskAt !== undefined) s = attrs.mask === "bool" ? (maskAt(base + c) !== 0 ? s : -Infinity) : s + maskAt(base + c);
      if (attrs.causal && c > query) s = -Infinity;
      scores[c] = s;
      if (s > top || Number.isNaN(s)) top = s;
    }
    if (top === -Infinity) continue;
    let total = 0;
    for (let c = 0; c < size; c++) total += Math.exp((scores[c] as number) - top);
    for (let c = 0; c < size; c++) out[base + c] = Math.exp((scores[c] as number) - top) / total;
  }
  return out;
};

const softmaxBackwardValues = ([y, grad]: readonly NDArray[], attrs: OpAttrs["softmax_backward"]): Float64Array => {
  if (y === undefined || grad === undefined) return new Float64Array(0);
  const out = new Float64Array(y.data.length);
  forEachRow(rowLayout(y.shape, y.shape.length - 1), (base, stride) => {
    const size = y.shape[y.shape.length - 1] ?? 1;
    let dot = 0;
    for (let c = 0; c < size; c++) dot += (grad.data[base + c * stride] as number) * (y.data[base + c * stride] as number);
    for (let c = 0; c < size; c++) out[base + c * stride] = attrs.scale * (y.data[base + c * stride] as number) * ((grad.data[base + c * stride] as number) - dot);
  });
  return out;
};

// ----- definitions in primitives (`decompose`) and gradients --------------------------------------

const trailing = (t: Tensor, dims: number): number[] => Array.from({ length: dims }, (_, i) => t.rank - dims + i);
const leading = (t: Tensor, dims: number): number[] => Array.from({ length: t.rank - dims }, (_, i) => i);
/** Σ over `dims`, or `t` itself when there are none (sum over [] would reduce every dim). */
const sumOver = (t: Tensor, dims: readonly number[]): Tensor => (dims.length === 0 ? t : sum(t, dims));

/** (x − mean)·rstd over the trailing dims, and rstd, in primitives (x − mean rebuilt per use: one node with two consumers is its own buffer). */
const standardized = (x: Tensor, dims: number, eps: number): { readonly normalized: Tensor; readonly rstd: Tensor } => {
  const over = trailing(x, dims);
  const mu = mean(x, over, true);
  const centered = () => sub(x, mu);
  const rstd = div(1, sqrt(add(mean(mul(centered(), centered()), over, true), eps)));
  return { normalized: mul(centered(), rstd), rstd };
};

const layerNormDefinition = ([x, ...affine]: readonly Tensor[], attrs: OpAttrs["layer_norm"]): Tensor => {
  if (x === undefined) throw new Error("internal: layer_norm decomposed without its input");
  let y = standardized(x, attrs.dims, attrs.eps).normalized;
  const weight = attrs.weight ? affine[0] : undefined;
  const bias = attrs.bias ? affine[attrs.weight ? 1 : 0] : undefined;
  if (weight !== undefined) y = mul(y, weight);
  if (bias !== undefined) y = add(y, bias);
  return y;
};

const layerNormBackwardDefinition = ([x, grad, weight]: readonly Tensor[], attrs: OpAttrs["layer_norm_backward"]): Tensor => {
  if (x === undefined || grad === undefined) throw new Error("internal: layer_norm_backward decomposed without its inputs");
  const over = trailing(x, attrs.dims);
  const { normalized, rstd } = standardized(x, attrs.dims, attrs.eps);
  const scaled = () => (attrs.weight && weight !== undefined ? mul(grad, weight) : grad);
  return mul(rstd, sub(sub(scaled(), mean(scaled(), over, true)), mul(normalized, mean(mul(scaled(), normalized), over, true))));
};

/** The causal mask of scores [..., L, S]: key j visible from query i when j ≤ i (static L, S). */
const causalMask = (x: Tensor): Tensor => {
  const queries = x.shape[x.rank - 2];
  const keys = x.shape[x.rank - 1];
  if (typeof queries !== "number" || typeof keys !== "number") throw new Error(`internal: causal attention_softmax of ${formatShape(x.shape)} decomposed without static lengths`);
  return constant(Array.from({ length: queries }, (_, i) => Array.from({ length: keys }, (_, j) => j <= i)), "bool");
};

const attentionSoftmaxDefinition = ([x, mask]: readonly Tensor[], attrs: OpAttrs["attention_softmax"]): Tensor => {
  if (x === undefined) throw new Error("internal: attention_softmax decomposed without its input");
  const last = x.rank - 1;
  let scores = attrs.scale === 1 ? x : mul(x, attrs.scale);
  if (mask !== undefined && attrs.mask === "bool") scores = where(mask, scores, -Infinity);
  if (mask !== undefined && attrs.mask === "add") scores = add(scores, mask);
  if (attrs.causal) scores = where(causalMask(x), scores, -Infinity);
  // e / Σe with e = exp(s − max); a row of −inf only (max −inf) is 0 (shift 0, e = 0, Σ taken as 1)
  const rowMax = max(scores, [last], true);
  const dead = () => eq(rowMax, -Infinity);
  const exps = exp(sub(scores, where(dead(), 0, rowMax)));
  return div(exps, where(dead(), 1, sum(exps, [last], true)));
};

/** scale·y⊙(g − Σ g⊙y) over the last dim. */
const softmaxBackwardDefinition = ([y, grad]: readonly Tensor[], attrs: OpAttrs["softmax_backward"]): Tensor => {
  if (y === undefined || grad === undefined) throw new Error("internal: softmax_backward decomposed without its inputs");
  const product = mul(y, sub(grad, sum(mul(grad, y), [y.rank - 1], true)));
  return attrs.scale === 1 ? product : mul(product, attrs.scale);
};

export const normOps: {
  readonly layer_norm: OpDef<"layer_norm">;
  readonly layer_norm_backward: OpDef<"layer_norm_backward">;
  readonly attention_softmax: OpDef<"attention_softmax">;
  readonly softmax_backward: OpDef<"softmax_backward">;
} = {
  layer_norm: {
    kind: "norm",
    arity: [1, 3],
    infer: layerNormInfer,
    evaluate: (inputs, attrs) => layerNormValues(inputs, attrs),
    decompose: layerNormDefinition,
    // ∂x by the fused backward row; ∂weight = Σ g⊙x̂ and ∂bias = Σ g over the leading dims
    gradient: {
      rule: ({ grad, inputs: [x, ...affine], attrs }) => {
        if (x === undefined) return [undefined, undefined, undefined];
        const weight = attrs.weight ? affine[0] : undefined;
        const dx = layerNormBackwardRaw(x, grad, { dims: attrs.dims, eps: attrs.eps, weight: attrs.weight }, weight);
        const rows = leading(x, attrs.dims);
        const dWeight = attrs.weight ? sumOver(mul(grad, layerNormRaw(x, { dims: attrs.dims, eps: attrs.eps, weight: false, bias: false })), rows) : undefined;
        const dBias = attrs.bias ? sumOver(grad, rows) : undefined;
        return [dx, ...(attrs.weight ? [dWeight] : []), ...(attrs.bias ? [dBias] : [])];
      },
    },
    formatAttrs: (attrs) => [`dims=${attrs.dims}`, `eps=${attrs.eps}`, attrs.weight ? "weight" : "", attrs.bias ? "bias" : ""].filter((part) => part !== "").join(", "),
  },
  layer_norm_backward: {
    kind: "norm",
    arity: [2, 3],
    infer: layerNormBackwardInfer,
    evaluate: (inputs, attrs) => layerNormBackwardValues(inputs, attrs),
    decompose: layerNormBackwardDefinition,
    gradient: { fromDecomposition: true },
    formatAttrs: (attrs) => [`dims=${attrs.dims}`, `eps=${attrs.eps}`, attrs.weight ? "weight" : ""].filter((part) => part !== "").join(", "),
  },
  attention_softmax: {
    kind: "norm",
    arity: [1, 2],
    infer: attentionSoftmaxInfer,
    evaluate: (inputs, attrs) => attentionSoftmaxValues(inputs, attrs),
    decompose: attentionSoftmaxDefinition,
    // ∂x = scale·y⊙(g − Σg⊙y) (0 in a row masked everywhere: y = 0); an additive mask gets the same without the scale, summed to its shape
    gradient: {
      rule: ({ grad, output, inputs: [, mask], attrs }) => [
        softmaxBackwardRaw(output, grad, attrs.scale),
        attrs.mask === "add" && mask !== undefined ? sumTo(softmaxBackwardRaw(output, grad, 1), mask.shape) : undefined,
      ],
    },
    formatAttrs: (attrs) => [`scale=${attrs.scale}`, attrs.mask === "none" ? "" : `mask=${attrs.mask}`, attrs.causal ? "causal" : ""].filter((part) => part !== "").join(", "),
  },
  softmax_backward: {
    kind: "norm",
    arity: [2, 2],
    infer: softmaxBackwardInfer,
    evaluate: (inputs, attrs) => softmaxBackwardValues(inputs, attrs),
    decompose: softmaxBackwardDefinition,
    gradient: { fromDecomposition: true },
  },
};
