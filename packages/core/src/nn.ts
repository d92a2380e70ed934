/**
 * @file Layers with training and evaluation semantics, randomness, normalization and attention,
 * as compositions of op-table rows (PyTorch's functional names and defaults, camelCase):
 * `dropout`, `rand`, `randn`, `bernoulli`, `batchNorm`, `layerNorm`, `groupNorm`,
 * `scaledDotProductAttention`, and the layer helpers `batchNormLayer`, `layerNormLayer`,
 * `multiHeadAttention` (params with PyTorch's names, shapes and default initialisation).
 *
 * Mode-dependent values are `mode_switch(train, eval)` nodes and running statistics are
 * `state_update` nodes (ops/modes.ts): the compiler's `mode` pass specialises a graph to one
 * mode, so every back end sees plain ops. Bad arguments are diagnostics at the caller's line.
 */
import { slice } from "./movement.js";
import { add, dimSize, div, ge, log, lt, matmul, mean, minimum, mul, param, permute, reshape, scalar, sqrt, sub, transpose, where, abs } from "./api.js";
import { error } from "./diagnostics.js";
import { isFloat } from "./dtype.js";
import { kaimingUniform, ones, xavierUniform, zeros } from "./init.js";
import { captureLoc, withSourceLoc } from "./loc.js";
import type { OpCall } from "./ops/attrs.js";
import { broadcastShapes, formatShape, formatType, type Dim, type Shape } from "./shape.js";
import { makeTensor, Tensor } from "./tensor.js";
import { attentionSoftmaxRaw, layerNormRaw } from "./ops/norm.js";
import { batchNormRaw, batchNormStatsRaw } from "./ops/batch-norm.js";

/** An ill-typed node carrying `message` at the caller's line (reported by `check`). */
const rejectedCall = (inputs: readonly Tensor[], message: string): Tensor => {
  const loc = captureLoc();
  const call: OpCall = { op: "constant", attrs: { value: [], shape: [], dtype: "f32" } };
  return new Tensor(call, inputs.filter((t) => t instanceof Tensor), loc, undefined, [error("type", message, loc)]);
};

/**
 * Makes a function total over any JS arguments (untyped callers): whatever it would throw becomes
 * an ill-typed node with the message at the caller's line, like the DSL's own functions.
 */
const total = <F extends (...args: never[]) => Tensor>(op: string, build: F): F => {
  const guardedBuild = (...args: unknown[]): Tensor => {
    try {
      const out = (build as unknown as (...values: unknown[]) => unknown)(...args);
      if (out instanceof Tensor) return out;
      return rejectedCall(args.filter((a): a is Tensor => a instanceof Tensor), `${op}: invalid arguments`);
    } catch (thrown) {
      return rejectedCall(args.filter((a): a is Tensor => a instanceof Tensor), `${op}: invalid arguments (${thrown instanceof Error ? thrown.message : String(thrown)})`);
    }
  };
  return guardedBuild as unknown as F;
};

const typeOf = (t: Tensor): string => (t.type === undefined ? "<ill-typed>" : formatType(t.type));

// ----- modes ------------------------------------------------------------------------------------

/** `train` in training mode, `evaluation` otherwise (the `mode` pass chooses; one type). */
export const modeSwitch = total("modeSwitch", (train: Tensor, evaluation: Tensor): Tensor => makeTensor("mode_switch", {}, [train, evaluation]));

/** `value`; in training mode, the state param `state` takes `next` after the step. */
export const stateUpdate = total("stateUpdate", (value: Tensor, state: Tensor, next: Tensor): Tensor => makeTensor("state_update", {}, [value, state, next]));

// ----- randomness -------------------------------------------------------------------------------

/** The name of the random ops' counter: an i32 state param the training step advances by one. */
export const RANDOM_COUNTER = "random.counter";

let counterHandle: Tensor | undefined;
/** The counter every random op reads (one handle, so one param per graph). */
export const randomCounter = (): Tensor => {
  counterHandle ??= withSourceLoc(undefined, () => param(RANDOM_COUNTER, [], zeros, "i32"));
  return counterHandle;
};

export interface RandomOptions {
  /** The seed (an integer, default 0); the ops of a graph draw distinct streams of it. */
  readonly seed?: number;
}

/** U[0, 1) of `shape` (PyTorch's torch.rand), counter-based: the same values on every back end. */
export const rand = total("rand", (shape: Shape, options: RandomOptions = {}): Tensor => makeTensor("random_uniform", { shape: [...shape], seed: options.seed ?? 0, stream: -1 }, [randomCounter()]));

/** N(0, 1) of `shape` (torch.randn) by Box–Muller from two uniform draws. */
export const randn = total("randn", (shape: Shape, options: RandomOptions = {}): Tensor => {
  // u1 in (0, 1], so the log is finite
  const radius = sqrt(mul(log(sub(1, rand(shape, options))), -2));
  return mul(radius, cos2pi(rand(shape, options)));
});

/**
 * cos(2πu) for u in [0, 1): reduced to a = min(v, ½ − v) ∈ [0, ¼] with v = |u − ½|, then the
 * Taylor polynomial of cos(2πa) to x¹⁴ (error < 2·10⁻¹⁰), negated where v < ¼.
 */
const cos2pi = (u: Tensor): Tensor => {
  const v = () => abs(sub(u, 0.5));
  const x = mul(minimum(v(), sub(0.5, v())), 2 * Math.PI);
  const x2 = mul(x, x);
  // Σ (−1)ᵏ x²ᵏ/(2k)! for k = 7 … 0, by Horner in x²
  const coefficient = (k: number): number => {
    let factorial = 1;
    for (let i = 2; i <= 2 * k; i++) factorial *= i;
    return (k % 2 === 0 ? 1 : -1) / factorial;
  };
  let poly: Tensor = scalar(coefficient(7));
  for (let k = 6; k >= 0; k--) poly = add(mul(poly, x2), coefficient(k));
  return where(lt(v(), 0.25), neg1(poly), poly);
};
const neg1 = (t: Tensor): Tensor => mul(t, -1);

/** 1 with probability p, else 0, elementwise (torch.bernoulli); p is a float tensor. */
export const bernoulli = total("bernoulli", (p: Tensor, options: RandomOptions = {}): Tensor => {
  if (p.type !== undefined && !isFloat(p.type.dtype)) return rejectedCall([p], `bernoulli: p must be a float tensor of probabilities, got ${typeOf(p)}`);
  return where(lt(rand(p.shape, options), p), 1, 0);
});

/**
 * PyTorch's F.dropout: in training mode each element is zeroed with probability p and the
 * others scaled by 1/(1 − p); the identity in evaluation mode. p must be in [0, 1).
 */
export const dropout = total("dropout", (x: Tensor, p = 0.5, options: RandomOptions = {}): Tensor => {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) return rejectedCall([x], `dropout: p must be a probability in [0, 1), got ${String(p)}`);
  if (p === 0) return x;
  const keep = ge(rand(x.shape, options), p);
  return modeSwitch(where(keep, mul(x, 1 / (1 - p)), 0), x);
});

// ----- normalization ----------------------------------------------------------------------------

export interface BatchNormOptions {
  readonly weight?: Tensor | undefined;
  readonly bias?: Tensor | undefined;
  /** The running statistics' update weight (default 0.1). */
  readonly momentum?: number;
  readonly eps?: number;
  /** A counter of training batches (i32 scalar), incremented in training mode (nn.BatchNorm's num_batches_tracked). */
  readonly numBatchesTracked?: Tensor | undefined;
}

/** [1, C, 1, …] for an input of `rank`: a per-channel vector broadcast along dim 1. */
const channelView = (t: Tensor, channels: Dim, rank: number): Tensor => reshape(t, [1, channels, ...new Array<number>(rank - 2).fill(1)]);

const shapeMismatch = (t: Tensor | undefined, expected: Shape): boolean =>
  t !== undefined && t.type !== undefined && (t.rank !== expected.length || t.shape.some((d, i) => d !== expected[i]));

/**
 * PyTorch's F.batch_norm over [N, C], [N, C, L] or [N, C, H, W] (statistics per channel C).
 * Training mode: normalizes with the batch mean and biased variance, and updates the running
 * mean and variance (`(1 − momentum)·running + momentum·batch`, the variance unbiased) as state;
 * evaluation mode: normalizes with the running statistics.
 */
export const batchNorm = total("batchNorm", (x: Tensor, runningMean: Tensor, runningVar: Tensor, options: BatchNormOptions = {}): Tensor => {
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  if (x.type === undefined) return rejectedCall([x], "batchNorm: the input is ill-typed");
  if (x.rank < 2 || x.rank > 5) return rejectedCall([x], `batchNorm: expected an input [N,C], [N,C,L] or [N,C,H,W], got ${typeOf(x)}`);
  if (!isFloat(x.type.dtype)) return rejectedCall([x], `batchNorm: expected a float input, got ${typeOf(x)}`);
  if (!(momentum >= 0 && momentum <= 1)) return rejectedCall([x], `batchNorm: momentum must be in [0, 1], got ${momentum}`);
  if (!(eps >= 0)) return rejectedCall([x], `batchNorm: eps must be a number ≥ 0, got ${eps}`);
  const channels = x.shape[1] as Dim;
  for (const [name, t] of [["running_mean", runningMean], ["running_var", runningVar], ["weight", options.weight], ["bias", options.bias]] as const)
    if (shapeMismatch(t, [channels]))
      return rejectedCall([x], `batchNorm: ${name} ${t === undefined ? "" : typeOf(t)} does not match the ${String(channels)} channels of input ${typeOf(x)} (expected [${String(channels)}])`);
  const rank = x.rank;
  const dims = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== 1);
  // training: the batch statistics as one fused row ([2, C]: mean, biased variance), the normalization and affine as one map (ops/batch-norm.ts)
  const stats = batchNormStatsRaw(x);
  const statRow = (row: number): Tensor => reshape(slice(stats, 0, row, row + 1), [channels]);
  const count = dimSize(x, dims);
  const unbiasedVar = mul(statRow(1), div(count, sub(count, 1)));
  let train = batchNormRaw(x, stats, { eps, weight: options.weight !== undefined, bias: options.bias !== undefined }, options.weight, options.bias);
  train = stateUpdate(train, runningMean, add(mul(runningMean, 1 - momentum), mul(statRow(0), momentum)));
  train = stateUpdate(train, runningVar, add(mul(runningVar, 1 - momentum), mul(unbiasedVar, momentum)));
  if (options.numBatchesTracked !== undefined) train = stateUpdate(train, options.numBatchesTracked, add(options.numBatchesTracked, 1));
  // evaluation: the running statistics, a per-channel affine (one map)
  let evaluation = div(sub(x, channelView(runningMean, channels, rank)), sqrt(add(channelView(runningVar, channels, rank), eps)));
  if (options.weight !== undefined) evaluation = mul(evaluation, channelView(options.weight, channels, rank));
  if (options.bias !== undefined) evaluation = add(evaluation, channelView(options.bias, channels, rank));
  return modeSwitch(train, evaluation);
});

export interface LayerNormOptions {
  readonly weight?: Tensor | undefined;
  readonly bias?: Tensor | undefined;
  readonly eps?: number;
}

/** PyTorch's F.layer_norm: normalizes over the last dims, which must equal `normalizedShape`; optional elementwise weight and bias of that shape. */
export const layerNorm = total("layerNorm", (x: Tensor, normalizedShape: readonly number[], options: LayerNormOptions = {}): Tensor => {
  const eps = options.eps ?? 1e-5;
  if (x.type === undefined) return rejectedCall([x], "layerNorm: the input is ill-typed");
  const k = normalizedShape.length;
  const trailing = x.shape.slice(x.rank - k);
  if (k === 0 || k > x.rank || trailing.some((d, i) => d !== normalizedShape[i]))
    return rejectedCall([x], `layerNorm: normalizedShape ${formatShape(normalizedShape)} does not match the last dims of input ${typeOf(x)}`);
  if (!isFloat(x.type.dtype)) return rejectedCall([x], `layerNorm: expected a float input, got ${typeOf(x)}`);
  for (const [name, t] of [["weight", options.weight], ["bias", options.bias]] as const)
    if (shapeMismatch(t, normalizedShape)) return rejectedCall([x], `layerNorm: ${name} ${t === undefined ? "" : typeOf(t)} does not have the normalizedShape ${formatShape(normalizedShape)}`);
  // one fused row (ops/norm.ts): statistics, normalization and the affine in one pass per row
  return layerNormRaw(x, { dims: k, eps, weight: options.weight !== undefined, bias: options.bias !== undefined }, options.weight, options.bias);
});

/** PyTorch's F.group_norm: [N, C, *] in `numGroups` groups of C/numGroups channels, normalized per sample and group; per-channel weight and bias. */
export const groupNorm = total("groupNorm", (x: Tensor, numGroups: number, options: LayerNormOptions = {}): Tensor => {
  const eps = options.eps ?? 1e-5;
  if (x.type === undefined) return rejectedCall([x], "groupNorm: the input is ill-typed");
  if (x.rank < 2) return rejectedCall([x], `groupNorm: expected an input [N,C,…], got ${typeOf(x)}`);
  const channels = x.shape[1];
  const rest = x.shape.slice(2);
  if (typeof channels !== "number" || rest.some((d) => typeof d !== "number")) return rejectedCall([x], `groupNorm: the channel and spatial dims must be static, got ${typeOf(x)}`);
  if (!Number.isInteger(numGroups) || numGroups <= 0 || channels % numGroups !== 0)
    return rejectedCall([x], `groupNorm: ${channels} channels of input ${typeOf(x)} are not divisible into ${String(numGroups)} groups`);
  for (const [name, t] of [["weight", options.weight], ["bias", options.bias]] as const)
    if (shapeMismatch(t, [channels])) return rejectedCall([x], `groupNorm: ${name} ${t === undefined ? "" : typeOf(t)} does not match the ${channels} channels of input ${typeOf(x)} (expected [${channels}])`);
  const perGroup = (channels / numGroups) * (rest as number[]).reduce((a, b) => a * b, 1);
  const grouped = reshape(x, [x.shape[0] as Dim, numGroups, perGroup]);
  // the groups are contiguous: a layer_norm row of the grouped view, then the per-channel affine
  let y = reshape(layerNormRaw(grouped, { dims: 1, eps, weight: false, bias: false }), x.shape);
  if (options.weight !== undefined) y = mul(y, channelView(options.weight, channels, x.rank));
  if (options.bias !== undefined) y = add(y, channelView(options.bias, channels, x.rank));
  return y;
});

// ----- attention --------------------------------------------------------------------------------

export interface AttentionOptions {
  /** A lower-triangular mask: query i attends to keys j ≤ i (static lengths). */
  readonly causal?: boolean;
  /** Broadcasts to the scores [..., L, S]: bool (true = attend) or float (added to the scores). */
  readonly mask?: Tensor | undefined;
  /** Multiplies q·kᵀ (default 1/√E). */
  readonly scale?: number;
}

/**
 * PyTorch's F.scaled_dot_product_attention(q [..., L, E], k [..., S, E], v [..., S, Ev]):
 * softmax(q·kᵀ·scale + mask)·v, the softmax max-shifted; a row masked everywhere (every score
 * −inf) gives weights 0 and an output row 0, as PyTorch's SDPA (its `_safe_softmax`, since 2.5).
 */
export const scaledDotProductAttention = total("scaledDotProductAttention", (q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor => {
  if (q.type === undefined || k.type === undefined || v.type === undefined) return rejectedCall([q, k, v], "scaledDotProductAttention: an input is ill-typed");
  if (q.rank < 2 || k.rank < 2 || v.rank < 2) return rejectedCall([q, k, v], `scaledDotProductAttention: query, key and value need 2 or more dims, got ${typeOf(q)}, ${typeOf(k)}, ${typeOf(v)}`);
  const depth = q.shape[q.rank - 1] as Dim;
  if (k.shape[k.rank - 1] !== depth) return rejectedCall([q, k, v], `scaledDotProductAttention: query ${typeOf(q)} and key ${typeOf(k)} differ in their last dim`);
  if (k.shape[k.rank - 2] !== v.shape[v.rank - 2]) return rejectedCall([q, k, v], `scaledDotProductAttention: key ${typeOf(k)} and value ${typeOf(v)} differ in their sequence dim (-2)`);
  if (typeof depth !== "number" && options.scale === undefined) return rejectedCall([q, k, v], `scaledDotProductAttention: the default scale 1/√E needs a static last dim, got query ${typeOf(q)}; pass scale`);
  const scale = options.scale ?? 1 / Math.sqrt(depth as number);
  const scores = matmul(q, transpose(k, -2, -1));
  if (scores.type === undefined) return scores;
  const scoresType = typeOf(scores);
  const mask = options.mask;
  if (mask !== undefined) {
    if (mask.type === undefined) return rejectedCall([q, k, v, mask], "scaledDotProductAttention: the mask is ill-typed");
    const broadcast = broadcastShapes(mask.shape, scores.shape);
    const joint = broadcast._tag === "Right" ? broadcast.right : undefined;
    if (joint === undefined || joint.length !== scores.rank || joint.some((d, i) => d !== scores.shape[i]))
      return rejectedCall([q, k, v, mask], `scaledDotProductAttention: mask ${typeOf(mask)} does not broadcast to the attention scores ${scoresType} (query ${typeOf(q)}, key ${typeOf(k)})`);
  }
  if (options.causal === true) {
    const queries = q.shape[q.rank - 2];
    const keys = k.shape[k.rank - 2];
    if (typeof queries !== "number" || typeof keys !== "number") return rejectedCall([q, k, v], `scaledDotProductAttention: causal needs static sequence lengths, got query ${typeOf(q)} and key ${typeOf(k)}`);
  }
  // scale → mask → softmax as one fused row (ops/norm.ts attention_softmax)
  const maskKind = mask === undefined ? "none" : mask.type?.dtype === "bool" ? "bool" : "add";
  return matmul(attentionSoftmaxRaw(scores, { scale, mask: maskKind, causal: options.causal === true }, mask), v);
});

export interface MultiHeadAttentionOptions extends Omit<AttentionOptions, "scale"> {
  /** in_proj_bias and out_proj.bias (default true). */
  readonly bias?: boolean;
  /** Key and value inputs (default: the query, self-attention). */
  readonly key?: Tensor;
  readonly value?: Tensor;
}

/**
 * nn.MultiheadAttention(embedDim, numHeads, batch_first=True) on x [N, L, E]: params
 * `<name>.in_proj_weight` [3E, E] (xavier uniform), `<name>.in_proj_bias` [3E] (zeros),
 * `<name>.out_proj.weight` [E, E] (U(±1/√E)), `<name>.out_proj.bias` [E] (zeros) — one packed
 * input projection, as PyTorch's state dict holds it. Returns the attention output [N, L, E]
 * (not the averaged weights).
 */
export const multiHeadAttention = total("multiHeadAttention", (query: Tensor, embedDim: number, numHeads: number, name: string, options: MultiHeadAttentionOptions = {}): Tensor => {
  if (!Number.isInteger(numHeads) || numHeads <= 0 || embedDim % numHeads !== 0)
    return rejectedCall([query], `multiHeadAttention: numHeads ${String(numHeads)} does not divide embedDim ${embedDim}`);
  if (query.type === undefined) return rejectedCall([query], "multiHeadAttention: the query is ill-typed");
  const key = options.key ?? query;
  const value = options.value ?? query;
  for (const [what, t] of [["query", query], ["key", key], ["value", value]] as const)
    if (t.rank !== 3 || t.shape[2] !== embedDim) return rejectedCall([query], `multiHeadAttention: ${what} ${typeOf(t)} is not [N, L, ${embedDim}] (batch first, embedDim ${embedDim})`);
  const headDim = embedDim / numHeads;
  const inWeight = param(`${name}.in_proj_weight`, [3 * embedDim, embedDim], xavierUniform());
  const inBias = options.bias === false ? undefined : param(`${name}.in_proj_bias`, [3 * embedDim], zeros);
  // rows [i·E, (i+1)·E) of the packed projection: q, k, v
  const rows = (t: Tensor, index: number): Tensor => slice(t, 0, index * embedDim, (index + 1) * embedDim);
  const project = (x: Tensor, index: number): Tensor => {
    const projected = matmul(x, transpose(rows(inWeight, index), 0, 1));
    const biased = inBias === undefined ? projected : add(projected, rows(inBias, index));
    // [N, L, E] → [N, H, L, D]
    return permute(reshape(biased, [x.shape[0] as Dim, x.shape[1] as Dim, numHeads, headDim]), [0, 2, 1, 3]);
  };
  const attended = scaledDotProductAttention(project(query, 0), project(key, 1), project(value, 2), { causal: options.causal ?? false, mask: options.mask });
  const merged = reshape(permute(attended, [0, 2, 1, 3]), [query.shape[0] as Dim, query.shape[1] as Dim, embedDim]);
  const outWeight = param(`${name}.out_proj.weight`, [embedDim, embedDim], kaimingUniform(embedDim));
  const out = matmul(merged, transpose(outWeight, 0, 1));
  return options.bias === false ? out : add(out, param(`${name}.out_proj.bias`, [embedDim], zeros));
});

// ----- layer helpers ----------------------------------------------------------------------------

export interface BatchNormLayerOptions {
  readonly eps?: number;
  readonly momentum?: number;
  /** weight (ones) and bias (zeros) (default true). */
  readonly affine?: boolean;
}

/**
 * nn.BatchNorm1d/2d(numFeatures) on [N, C, ...]: params `<name>.weight` (ones), `<name>.bias`
 * (zeros), state `<name>.running_mean` (zeros), `<name>.running_var` (ones) and
 * `<name>.num_batches_tracked` (i32 zeros; PyTorch's is int64).
 */
export const batchNormLayer = total("batchNormLayer", (x: Tensor, numFeatures: number, name: string, options: BatchNormLayerOptions = {}): Tensor => {
  const affine = options.affine ?? true;
  return batchNorm(x, param(`${name}.running_mean`, [numFeatures], zeros), param(`${name}.running_var`, [numFeatures], ones), {
    weight: affine ? param(`${name}.weight`, [numFeatures], ones) : undefined,
    bias: affine ? param(`${name}.bias`, [numFeatures], zeros) : undefined,
    ...(options.eps === undefined ? {} : { eps: options.eps }),
    ...(options.momentum === undefined ? {} : { momentum: options.momentum }),
    numBatchesTracked: param(`${name}.num_batches_tracked`, [], zeros, "i32"),
  });
});

/** nn.LayerNorm(normalizedShape): params `<name>.weight` (ones) and `<name>.bias` (zeros) of normalizedShape. */
export const layerNormLayer = total("layerNormLayer", (x: Tensor, normalizedShape: readonly number[], name: string, options: { readonly eps?: number; readonly elementwiseAffine?: boolean; readonly bias?: boolean } = {}): Tensor => {
  const affine = options.elementwiseAffine ?? true;
  return layerNorm(x, normalizedShape, {
    weight: affine ? param(`${name}.weight`, [...normalizedShape], ones) : undefined,
    bias: affine && options.bias !== false ? param(`${name}.bias`, [...normalizedShape], zeros) : undefined,
    ...(options.eps === undefined ? {} : { eps: options.eps }),
  });
});
