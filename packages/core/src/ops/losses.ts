/**
 * @file Loss rows with PyTorch's semantics: nll_loss, cross_entropy (computed as
 * logsumexp(x) − x[y] per row), their backward ops, and binary_cross_entropy_with_logits.
 */
import * as E from "fp-ts/lib/Either.js";
import { isFloat, isInteger } from "../dtype.js";
import { forEachRow, rowLayout, type NDArray } from "../ndarray.js";
import { formatShape, formatType, shapeEquals, type Shape, type TensorType } from "../shape.js";
import {
  add,
  cast,
  crossEntropyBackward,
  dimSize,
  div,
  eq,
  expand,
  full,
  logSigmoid,
  logSoftmax,
  mean,
  mul,
  ne,
  neg,
  nllLoss,
  nllLossBackward,
  oneHot,
  permute,
  reshape,
  scalar,
  sigmoid,
  softmax,
  sub,
  sum,
  unsqueeze,
  where,
} from "../api.js";
import type { Tensor } from "../tensor.js";
import type { CrossEntropyAttrs, NllLossAttrs, Reduction } from "./attrs.js";
import type { OpDef } from "./def.js";
import { describeValue } from "../tensor.js";
import { checkDim, ok, requireFloat } from "./rules.js";

// ----- shape and dtype rules ------------------------------------------------------------------

const withoutDim = (shape: Shape, dim: number): Shape => shape.filter((_, axis) => axis !== dim);

interface LossInputs {
  readonly input: TensorType;
  readonly target: TensorType;
  readonly weight: TensorType | undefined;
}

/** Checks input/target/weight of nll_loss and cross_entropy; returns the per-row (reduction none) shape. */
const REDUCTIONS: readonly unknown[] = ["mean", "sum", "none"];

const checkLossInputs = (types: readonly TensorType[], attrs: NllLossAttrs & { readonly target?: "index" | "prob"; readonly labelSmoothing?: number }): E.Either<string, LossInputs> => {
  const [input, target, weight] = types;
  if (input === undefined || target === undefined) return E.left("missing input");
  // attributes reach generated code: from untyped callers they must be checked, not trusted
  if (!Number.isSafeInteger(attrs.ignoreIndex)) return E.left(`ignoreIndex must be an integer, got ${describeValue(attrs.ignoreIndex)}`);
  if (!REDUCTIONS.includes(attrs.reduction)) return E.left(`reduction must be "mean", "sum" or "none", got ${describeValue(attrs.reduction)}`);
  if (attrs.labelSmoothing !== undefined && typeof attrs.labelSmoothing !== "number") return E.left(`labelSmoothing must be a number in [0, 1], got ${describeValue(attrs.labelSmoothing)}`);
  const float = requireFloat(input, "input (logits or log-probabilities)");
  if (E.isLeft(float)) return float;
  if (input.shape.length === 0) return E.left(`input must have a class dim, got ${formatType(input)}`);
  const dim = checkDim(input.shape, attrs.dim);
  if (E.isLeft(dim)) return dim;
  const classes = input.shape[attrs.dim];
  const rowShape = withoutDim(input.shape, attrs.dim);
  if (attrs.target === "prob") {
    if (!isFloat(target.dtype) || !shapeEquals(target.shape, input.shape))
      return E.left(`probability target must be ${input.dtype}${formatShape(input.shape)} like the input, got ${formatType(target)}`);
  } else if (!isInteger(target.dtype)) {
    const probHint = attrs.target === undefined ? "" : ` or class probabilities ${input.dtype}${formatShape(input.shape)}`;
    return E.left(`target must be integer class labels i32${formatShape(rowShape)}${probHint}, got ${formatType(target)}`);
  } else if (!shapeEquals(target.shape, rowShape)) {
    return E.left(`target shape ${formatShape(target.shape)} does not match input ${formatType(input)} without its class dim ${attrs.dim}: expected ${formatShape(rowShape)}`);
  }
  if (attrs.weighted) {
    if (weight === undefined) return E.left("missing class weight");
    if (weight.shape.length !== 1 || weight.shape[0] !== classes || weight.dtype !== input.dtype)
      return E.left(`class weight must be ${input.dtype}[${classes}] (one per class), got ${formatType(weight)}`);
  } else if (weight !== undefined) return E.left("unexpected weight input");
  const smoothing = attrs.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) return E.left(`labelSmoothing must be in [0, 1], got ${smoothing}`);
  return E.right({ input, target, weight });
};

const lossOutput = (inputs: LossInputs, attrs: { readonly dim: number; readonly reduction: Reduction }): E.Either<string, TensorType> =>
  ok(attrs.reduction === "none" ? withoutDim(inputs.input.shape, attrs.dim) : [], inputs.input.dtype);

/** Backward ops take (input, target, grad[, weight]) and return the input's type. */
const checkBackwardInputs = (types: readonly TensorType[], attrs: NllLossAttrs & { readonly target?: "index" | "prob" }): E.Either<string, TensorType> => {
  const [input, target, grad, weight] = types;
  if (input === undefined || target === undefined || grad === undefined) return E.left("missing input");
  const checked = checkLossInputs(weight === undefined ? [input, target] : [input, target, weight], attrs);
  if (E.isLeft(checked)) return checked;
  const gradShape = attrs.reduction === "none" ? withoutDim(input.shape, attrs.dim) : [];
  return shapeEquals(grad.shape, gradShape) ? ok(input.shape, input.dtype) : E.left(`grad must have shape ${formatShape(gradShape)}, got ${formatType(grad)}`);
};

// ----- reference semantics ----------------------------------------------------------------------

const labelError = (op: string, row: number, label: number, classes: number, ignoreIndex: number): RangeError =>
  new RangeError(`${op}: target at row ${row} is ${label}, expected 0 ≤ target < ${classes} (or ignore_index ${ignoreIndex})`);

/** Per-row losses (unreduced) and the mean denominator, in PyTorch's definition. */
interface RowLosses {
  readonly losses: Float64Array;
  readonly denominator: number;
}

const reduce = (rows: RowLosses, reduction: Reduction): Float64Array => {
  if (reduction === "none") return rows.losses;
  let total = 0;
  for (const value of rows.losses) total += value;
  return Float64Array.of(reduction === "sum" ? total : total / rows.denominator);
};

/** Scale of row `row`'s gradient given the upstream cotangent. */
const rowScale = (grad: NDArray, reduction: Reduction, row: number, denominator: number): number =>
  reduction === "none" ? (grad.data[row] as number) : reduction === "sum" ? (grad.data[0] as number) : (grad.data[0] as number) / denominator;

const weightOf = (weight: NDArray | undefined, c: number): number => (weight === undefined ? 1 : (weight.data[c] as number));

const nllRows = (logProbs: NDArray, target: NDArray, weight: NDArray | undefined, attrs: NllLossAttrs): RowLosses => {
  const layout = rowLayout(logProbs.shape, attrs.dim);
  const losses = new Float64Array(layout.outer * layout.inner);
  let denominator = 0;
  forEachRow(layout, (base, stride, row) => {
    const label = target.data[row] as number;
    if (label === attrs.ignoreIndex) return;
    if (label < 0 || label >= layout.size) throw labelError("nll_loss", row, label, layout.size, attrs.ignoreIndex);
    const w = weightOf(weight, label);
    losses[row] = -w * (logProbs.data[base + label * stride] as number);
    denominator += w;
  });
  return { losses, denominator };
};

/** Row statistics for cross-entropy: the max shift and Σ exp(x − shift) of a row (LSE = shift + log Σ). */
interface RowStats {
  readonly shift: number;
  readonly total: number;
  readonly logTotal: number;
}

const rowStats = (x: NDArray, base: number, stride: number, size: number): RowStats => {
  let max = -Infinity;
  for (let c = 0; c < size; c++) {
    const v = x.data[base + c * stride] as number;
    if (v > max || Number.isNaN(v)) max = v;
  }
  // a +inf logit makes the whole row NaN, as PyTorch's log_softmax (x − max = inf − inf there)
  if (max === Infinity) return { shift: 0, total: Number.NaN, logTotal: Number.NaN };
  const shift = Number.isFinite(max) ? max : 0;
  let total = 0;
  for (let c = 0; c < size; c++) total += Math.exp((x.data[base + c * stride] as number) - shift);
  return { shift, total, logTotal: Math.log(total) };
};

/**
 * LSE(x) − x_c, computed as (shift − x_c) + log Σ: when |x| ≫ 2⁵³·log k (e.g. 3e38) the LSE
 * itself rounds log Σ away, and LSE − x_c would lose it (CE of two tied 3e38 logits is log 2, not 0).
 */
const minusLogProb = (stats: RowStats, v: number): number => stats.shift - v + stats.logTotal;

const crossEntropyRows = (x: NDArray, target: NDArray, weight: NDArray | undefined, attrs: CrossEntropyAttrs): RowLosses => {
  const layout = rowLayout(x.shape, attrs.dim);
  const classes = layout.size;
  const eps = attrs.labelSmoothing;
  const losses = new Float64Array(layout.outer * layout.inner);
  let denominator = attrs.target === "prob" ? layout.outer * layout.inner : 0;
  forEachRow(layout, (base, stride, row) => {
    if (attrs.target === "index") {
      const label = target.data[row] as number;
      if (label === attrs.ignoreIndex) return;
      if (label < 0 || label >= classes) throw labelError("cross_entropy", row, label, classes, attrs.ignoreIndex);
      const stats = rowStats(x, base, stride, classes);
      const wLabel = weightOf(weight, label);
      // CE = LSE(x) − x[y], weighted
      let loss = (1 - eps) * wLabel * minusLogProb(stats, x.data[base + label * stride] as number);
      if (eps > 0) {
        let smooth = 0;
        for (let c = 0; c < classes; c++) smooth += weightOf(weight, c) * minusLogProb(stats, x.data[base + c * stride] as number);
        loss += (eps / classes) * smooth;
      }
      losses[row] = loss;
      denominator += wLabel;
    } else {
      const stats = rowStats(x, base, stride, classes);
      let loss = 0;
      for (let c = 0; c < classes; c++) {
        const t = (1 - eps) * (target.data[base + c * stride] as number) + eps / classes;
        if (t !== 0) loss += weightOf(weight, c) * t * minusLogProb(stats, x.data[base + c * stride] as number);
      }
      losses[row] = loss;
    }
  });
  return { losses, denominator };
};

/** ∂CE/∂x = scale · (softmax(x)·Σ wₜtₜ − w⊙t) with t the (smoothed) target. */
const crossEntropyGrad = (x: NDArray, target: NDArray, grad: NDArray, weight: NDArray | undefined, attrs: CrossEntropyAttrs): Float64Array => {
  const { denominator } = crossEntropyRows(x, target, weight, { ...attrs, labelSmoothing: 0 });
  const layout = rowLayout(x.shape, attrs.dim);
  const classes = layout.size;
  const eps = attrs.labelSmoothing;
  const out = new Float64Array(x.data.length);
  let weightTotal = 0;
  for (let c = 0; c < classes; c++) weightTotal += weightOf(weight, c);
  forEachRow(layout, (base, stride, row) => {
    const label = attrs.target === "index" ? (target.data[row] as number) : 0;
    if (attrs.target === "index" && label === attrs.ignoreIndex) return;
    const scale = rowScale(grad, attrs.reduction, row, denominator);
    const stats = rowStats(x, base, stride, classes);
    // total target mass Σ_c w_c t_c of this row
    let mass: number;
    if (attrs.target === "index") mass = (1 - eps) * weightOf(weight, label) + (eps / classes) * weightTotal;
    else {
      mass = 0;
      for (let c = 0; c < classes; c++) mass += weightOf(weight, c) * ((1 - eps) * (target.data[base + c * stride] as number) + eps / classes);
    }
    for (let c = 0; c < classes; c++) {
      // softmax from the max shift, not exp(x − LSE): the LSE of 3e38 logits has lost log Σ
      const p = Math.exp((x.data[base + c * stride] as number) - stats.shift) / stats.total;
      const t = attrs.target === "index" ? (1 - eps) * (c === label ? 1 : 0) + eps / classes : (1 - eps) * (target.data[base + c * stride] as number) + eps / classes;
      out[base + c * stride] = scale * (p * mass - weightOf(weight, c) * t);
    }
  });
  return out;
};

// ----- gradient building blocks (ops of the table, so they differentiate again) --------------------

/** The pieces of PyTorch's cross-entropy written with table ops, for the gradients the fused rows do not compute. */
interface CeParts {
  /** Class weights shaped to broadcast along the class dim (undefined: all 1). */
  readonly w: Tensor | undefined;
  /** Index targets: the one-hot of each row's label at the class dim, zero rows where ignored. */
  readonly oneHotRows: Tensor | undefined;
  /** The (smoothed) target t̃, zero rows where ignored. */
  readonly target: Tensor;
  /** The row scale S of the upstream cotangent `grad` (reduction none/sum/mean), broadcastable to x. */
  readonly scale: Tensor;
  /** The mean's denominator (Σ w[y] over kept rows, or the row count for probability targets). */
  readonly denominator: Tensor | undefined;
  /** The dims other than the class dim. */
  readonly rowDims: readonly number[];
}

const ceParts = (x: Tensor, target: Tensor, grad: Tensor, weight: Tensor | undefined, attrs: CrossEntropyAttrs): CeParts => {
  const dim = attrs.dim;
  const rank = x.rank;
  const classes = x.shape[dim];
  const dtype = x.dtype ?? "f32";
  const rowDims = x.shape.map((_, axis) => axis).filter((axis) => axis !== dim);
  const w = weight === undefined ? undefined : reshape(weight, x.shape.map((size, axis) => (axis === dim ? size : 1)));
  const eps = attrs.labelSmoothing;
  let oneHotRows: Tensor | undefined;
  let smoothed: Tensor;
  if (attrs.target === "index") {
    if (typeof classes !== "number") throw new Error(`cross_entropy gradient: the class dim must have a static size, got ${String(classes)}`);
    const kept = ne(target, scalar(attrs.ignoreIndex, target.dtype ?? "i32"));
    const valid = unsqueeze(cast(kept, dtype), dim);
    // one_hot puts the classes last: move them to the class dim
    const hot = oneHot(where(kept, target, scalar(0, target.dtype ?? "i32")), classes, dtype);
    const atDim = dim === rank - 1 ? hot : permute(hot, [...Array.from({ length: dim }, (_, a) => a), rank - 1, ...Array.from({ length: rank - 1 - dim }, (_, a) => dim + a)]);
    oneHotRows = mul(atDim, valid);
    smoothed = eps === 0 ? oneHotRows : add(mul(oneHotRows, 1 - eps), mul(valid, eps / classes));
  } else smoothed = eps === 0 ? target : add(mul(target, 1 - eps), eps / (typeof classes === "number" ? classes : Number.NaN));
  let denominator: Tensor | undefined;
  if (attrs.reduction === "mean")
    denominator =
      oneHotRows !== undefined ? sum(w === undefined ? oneHotRows : mul(oneHotRows, w)) : rowDims.length === 0 ? scalar(1, dtype) : dimSize(x, rowDims, dtype);
  const scale = attrs.reduction === "none" ? unsqueeze(grad, dim) : denominator === undefined ? grad : div(grad, denominator);
  return { w, oneHotRows, target: smoothed, scale, denominator, rowDims };
};

/** Sums over every dim but the class dim: [C]. */
const perClass = (t: Tensor, parts: CeParts): Tensor => (parts.rowDims.length === 0 ? t : sum(t, parts.rowDims));

/**
 * ∂/∂weight of a weighted cross-entropy-like quantity Σ S·t̃_k·r_k (r per entry), plus, for the
 * mean over index targets, the denominator's own dependence on the weights: −(total/D)·Σ onehot.
 */
const weightGradient = (perEntry: Tensor, total: Tensor, parts: CeParts, attrs: CrossEntropyAttrs): Tensor => {
  const direct = perClass(mul(mul(parts.scale, parts.target), perEntry), parts);
  if (attrs.reduction !== "mean" || parts.oneHotRows === undefined || parts.denominator === undefined) return direct;
  return sub(direct, mul(div(total, parts.denominator), perClass(parts.oneHotRows, parts)));
};

/**
 * The VJP of `cross_entropy_backward` (second derivatives of the fused loss), with V the
 * cotangent of G = S·(softmax(x)·m − w⊙t̃), m = Σ w⊙t̃ per row:
 * ∂x = S·m·p⊙(V − ⟨V,p⟩), ∂t = S·(1−ε)·w⊙(⟨V,p⟩ − V) for probability targets,
 * ∂grad = ⟨V, G/S⟩ reduced as the loss was, ∂w as `weightGradient`.
 */
const crossEntropyBackwardVjp = (x: Tensor, target: Tensor, grad: Tensor, weight: Tensor | undefined, output: Tensor, cotangent: Tensor, attrs: CrossEntropyAttrs): ReadonlyArray<Tensor | undefined> => {
  const parts = ceParts(x, target, grad, weight, attrs);
  const dim = attrs.dim;
  const p = softmax(x, dim);
  const weighted = parts.w === undefined ? parts.target : mul(parts.target, parts.w);
  const mass = sum(weighted, [dim], true);
  const unscaled = sub(mul(p, mass), weighted);
  const vp = sum(mul(cotangent, p), [dim], true);
  const dx = mul(mul(parts.scale, mass), mul(p, sub(cotangent, vp)));
  const dTarget = attrs.target === "prob" ? mul(parts.scale, mul(sub(vp, cotangent), parts.w === undefined ? 1 - attrs.labelSmoothing : mul(parts.w, 1 - attrs.labelSmoothing))) : undefined;
  const vh = mul(cotangent, unscaled);
  const dGrad = attrs.reduction === "none" ? sum(vh, [dim]) : parts.denominator === undefined ? sum(vh) : div(sum(vh), parts.denominator);
  const dWeight = weight === undefined ? undefined : weightGradient(sub(vp, cotangent), sum(mul(cotangent, output)), parts, attrs);
  return [dx, dTarget, dGrad, dWeight];
};

const bceValue = (x: number, t: number): number => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));

/** Prints the class dim and only the options that differ from PyTorch's defaults. */
const formatLossAttrs = (attrs: NllLossAttrs & { readonly labelSmoothing?: number; readonly target?: "index" | "prob" }): string =>
  [
    `dim=${attrs.dim}`,
    attrs.reduction === "mean" ? "" : `reduction=${attrs.reduction}`,
    attrs.ignoreIndex === -100 ? "" : `ignore_index=${attrs.ignoreIndex}`,
    (attrs.labelSmoothing ?? 0) === 0 ? "" : `label_smoothing=${attrs.labelSmoothing}`,
    attrs.target === "prob" ? "target=prob" : "",
    attrs.weighted ? "weighted" : "",
  ]
    .filter((part) => part !== "")
    .join(", ");

// ----- definitions in other ops (the composites' `decompose`) --------------------------------------

const reduceRows = (rows: Tensor, reduction: Reduction): Tensor => (reduction === "none" ? rows : reduction === "sum" ? sum(rows) : mean(rows));

/**
 * cross_entropy as log_softmax and nll_loss: (1 − ε)·nll + ε/C·Σ_c w_c·(−log p_c) per row for
 * class targets (ignored rows 0; the mean divides by Σ w[y] over the rows not ignored, as nll_loss
 * does), and Σ_c w_c·t′_c·(−log p_c) with t′ = (1 − ε)t + ε/C for probability targets (terms with
 * t′ = 0 skipped, so a −inf logit there costs nothing; the mean divides by the number of rows).
 */
const crossEntropyDefinition = ([x, target, weight]: readonly Tensor[], attrs: CrossEntropyAttrs): Tensor => {
  if (x === undefined || target === undefined) throw new Error("internal: cross_entropy decomposed without its inputs");
  const { dim, reduction, ignoreIndex, labelSmoothing: eps } = attrs;
  const nllOptions = { dim, ignoreIndex, ...(weight === undefined ? {} : { weight }) };
  const logp = logSoftmax(x, dim);
  const classes = dimSize(x, dim);
  // the class weight along `dim`, broadcasting over the other dims
  const weightAlong = (t: Tensor): Tensor => (weight === undefined ? t : mul(t, reshape(weight, x.shape.map((_, axis) => (axis === dim ? -1 : 1)))));
  if (attrs.target === "prob") {
    const smoothed = eps === 0 ? target : add(mul(target, 1 - eps), div(eps, classes));
    const terms = where(eq(smoothed, 0), 0, weightAlong(mul(smoothed, neg(logp))));
    return reduceRows(sum(terms, dim), reduction);
  }
  if (eps === 0) return nllLoss(logp, target, { ...nllOptions, reduction });
  const nllRows = nllLoss(logp, target, { ...nllOptions, reduction: "none" });
  const smoothRows = where(ne(target, ignoreIndex), sum(weightAlong(neg(logp)), dim), 0);
  const rows = add(mul(nllRows, 1 - eps), mul(div(smoothRows, classes), eps));
  if (reduction !== "mean") return reduceRows(rows, reduction);
  // Σ w[y] over the rows not ignored: nll_loss of −1 everywhere, summed
  const denominator = nllLoss(full(x.shape, -1, x.dtype ?? "f32"), target, { ...nllOptions, reduction: "sum" });
  return div(sum(rows), denominator);
};

/** BCE with logits per element: (1 − t)·x − log σ(x) (= max(x, 0) − x·t + log(1 + e^−|x|)). */
const bceDefinition = ([x, target]: readonly Tensor[], attrs: { readonly reduction: Reduction }): Tensor => {
  if (x === undefined || target === undefined) throw new Error("internal: binary_cross_entropy_with_logits decomposed without its inputs");
  return reduceRows(sub(mul(sub(1, target), x), logSigmoid(x)), attrs.reduction);
};

export const lossOps: {
  readonly nll_loss: OpDef<"nll_loss">;
  readonly nll_loss_backward: OpDef<"nll_loss_backward">;
  readonly cross_entropy: OpDef<"cross_entropy">;
  readonly cross_entropy_backward: OpDef<"cross_entropy_backward">;
  readonly binary_cross_entropy_with_logits: OpDef<"binary_cross_entropy_with_logits">;
} = {
  nll_loss: {
    kind: "loss",
    formatAttrs: formatLossAttrs,
    arity: [2, 3],
    infer: (types, attrs) => E.chain((inputs: LossInputs) => lossOutput(inputs, attrs))(checkLossInputs(types, attrs)),
    evaluate: ([logProbs, target, weight], attrs) => (logProbs === undefined || target === undefined ? new Float64Array(0) : reduce(nllRows(logProbs, target, weight, attrs), attrs.reduction)),
    gradient: {
      rule: ({ grad, inputs: [logProbs, target, weight], attrs }) => [logProbs && target && nllLossBackward(logProbs, target, grad, attrs, weight), undefined, undefined],
    },
  },
  nll_loss_backward: {
    kind: "loss",
    formatAttrs: formatLossAttrs,
    arity: [3, 4],
    infer: (types, attrs) => checkBackwardInputs(types, attrs),
    evaluate: ([logProbs, target, grad, weight], attrs) => {
      if (logProbs === undefined || target === undefined || grad === undefined) return new Float64Array(0);
      const { denominator } = nllRows(logProbs, target, weight, attrs);
      const layout = rowLayout(logProbs.shape, attrs.dim);
      const out = new Float64Array(logProbs.data.length);
      forEachRow(layout, (base, stride, row) => {
        const label = target.data[row] as number;
        if (label === attrs.ignoreIndex) return;
        out[base + label * stride] = -weightOf(weight, label) * rowScale(grad, attrs.reduction, row, denominator);
      });
      return out;
    },
    // linear in grad: its transpose is nll_loss of the cotangent
    gradient: {
      rule: ({ grad, inputs: [, target, , weight], attrs }) => [undefined, undefined, target && nllLoss(grad, target, { ...attrs, ...(weight === undefined ? {} : { weight }) }), undefined],
    },
  },
  cross_entropy: {
    kind: "loss",
    formatAttrs: formatLossAttrs,
    arity: [2, 3],
    infer: (types, attrs) => E.chain((inputs: LossInputs) => lossOutput(inputs, attrs))(checkLossInputs(types, attrs)),
    evaluate: ([x, target, weight], attrs) => (x === undefined || target === undefined ? new Float64Array(0) : reduce(crossEntropyRows(x, target, weight, attrs), attrs.reduction)),
    decompose: crossEntropyDefinition,
    // (softmax(x) − target) · scale, from the row's logsumexp
    gradient: {
      rule: ({ grad, inputs: [x, target, weight], output, attrs }) => {
        if (x === undefined || target === undefined) return [undefined, undefined, undefined];
        const dx = crossEntropyBackward(x, target, grad, attrs, weight);
        if (attrs.target === "index" && weight === undefined) return [dx, undefined, undefined];
        // probability targets (distillation) and class weights, as PyTorch differentiates them
        const parts = ceParts(x, target, grad, weight, attrs);
        const nlp = neg(logSoftmax(x, attrs.dim));
        const dTarget = attrs.target === "prob" ? mul(parts.scale, mul(nlp, parts.w === undefined ? 1 - attrs.labelSmoothing : mul(parts.w, 1 - attrs.labelSmoothing))) : undefined;
        const dWeight = weight === undefined ? undefined : weightGradient(nlp, mul(grad, output), parts, attrs);
        return [dx, dTarget, dWeight];
      },
    },
  },
  cross_entropy_backward: {
    kind: "loss",
    formatAttrs: formatLossAttrs,
    arity: [3, 4],
    infer: (types, attrs) => checkBackwardInputs(types, attrs),
    evaluate: ([x, target, grad, weight], attrs) =>
      x === undefined || target === undefined || grad === undefined ? new Float64Array(0) : crossEntropyGrad(x, target, grad, weight, attrs),
    // second derivatives of the fused loss (Hessian-vector products)
    gradient: {
      rule: ({ grad: cotangent, inputs: [x, target, grad, weight], output, attrs }) =>
        x === undefined || target === undefined || grad === undefined ? [undefined, undefined, undefined, undefined] : crossEntropyBackwardVjp(x, target, grad, weight, output, cotangent, attrs),
    },
  },
  binary_cross_entropy_with_logits: {
    kind: "loss",
    arity: [2, 2],
    infer: ([x, t], attrs) => {
      if (x === undefined || t === undefined) return E.left("missing input");
      if (!REDUCTIONS.includes(attrs.reduction)) return E.left(`reduction must be "mean", "sum" or "none", got ${describeValue(attrs.reduction)}`);
      const float = requireFloat(x, "logits");
      if (E.isLeft(float)) return float;
      if (t.dtype !== x.dtype || !shapeEquals(t.shape, x.shape)) return E.left(`target must be ${formatType(x)} like the logits, got ${formatType(t)}`);
      return ok(attrs.reduction === "none" ? x.shape : [], x.dtype);
    },
    evaluate: ([x, t], attrs) => {
      if (x === undefined || t === undefined) return new Float64Array(0);
      const losses = x.data.map((v, i) => bceValue(v, t.data[i] as number));
      return reduce({ losses, denominator: losses.length }, attrs.reduction);
    },
    decompose: bceDefinition,
    // (σ(x) − t) · g, scaled by 1/n for the mean
    gradient: {
      rule: ({ grad, inputs: [x, t], attrs }) => {
        if (x === undefined || t === undefined) return [undefined, undefined];
        const g = attrs.reduction === "none" ? grad : expand(attrs.reduction === "mean" ? div(grad, dimSize(x)) : grad, x.shape);
        // ∂/∂t of max(x,0) − x·t + log(1 + e^−|x|) is −x (targets are differentiable in PyTorch)
        return [mul(sub(sigmoid(x), t), g), mul(neg(x), g)];
      },
    },
  },
};
