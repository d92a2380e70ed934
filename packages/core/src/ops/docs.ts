/**
 * @file The words of the op reference (`docs/ops.md`, written by `pnpm docs:ops`): per op of the
 * table, the DSL call that makes it, its shape rule in words, its gradient in words and its
 * PyTorch equivalent. The reference lists the ops of `opTable` in table order and reads the
 * kind, the arity and whether (or why not) a gradient exists from the rows themselves; an op
 * without an entry here is listed as undocumented. Add the entry with the row.
 */
import type { OpName } from "./attrs.js";

/** What the op reference says about one op. */
export interface OpDoc {
  /** The DSL call(s) that create the op, e.g. `gather(x, dim, index)`. */
  readonly signature: string;
  /** The output's shape and dtype from the inputs', in words. */
  readonly shape: string;
  /** The gradient in words (when the row has a rule; a row without one says why itself). */
  readonly gradient?: string;
  /** The PyTorch equivalent (and how graft differs, if it does). */
  readonly torch: string;
}

const unary = (signature: string, torch: string, gradient: string, types = "float"): OpDoc => ({
  signature,
  shape: `same shape and dtype as \`x\` (${types})`,
  gradient,
  torch,
});
const BROADCAST = "inputs broadcast as in NumPy/PyTorch (same dtype required, no implicit promotion); result has the broadcast shape";
const binary = (signature: string, torch: string, gradient: string): OpDoc => ({ signature, shape: `${BROADCAST} and the inputs' dtype (not bool)`, gradient, torch });
const compare = (signature: string, torch: string): OpDoc => ({ signature, shape: `${BROADCAST}, dtype bool`, torch });
const REDUCED = "`x` with `dims` removed (kept as size 1 with `keepdim`); `dims` default to all, negative dims count from the end";
const reduction = (signature: string, torch: string, gradient: string, dtype: string): OpDoc => ({ signature, shape: `${REDUCED}; ${dtype}`, gradient, torch });
const LOSS_SHAPE = "scalar with reduction `mean`/`sum`, the per-row losses (`x` without the class dim) with `none`";

export const opDocs: { readonly [K in OpName]?: OpDoc } = {
  input: { signature: 'input(name, shape, dtype = "f32")', shape: "`shape` (static sizes and symbolic dims such as `\"batch\"`), `dtype`", gradient: "a leaf: `grad(graph, { wrt })` differentiates with respect to inputs by name", torch: "a tensor argument of `forward`" },
  param: { signature: 'param(name, shape, init = zeros, dtype = "f32") · dense(x, in, out, name)', shape: "`shape` (static), `dtype`; initialised by `init` (see the initialisers). `dense` makes `name.weight` [out, in] and `name.bias` [out] like `nn.Linear`", gradient: "a leaf: the trainer's `wrt` (default every float param)", torch: "`nn.Parameter`" },
  constant: { signature: 'constant(nested | NDArray, dtype = "f32") · full(shape, value) · scalar(value)', shape: "the value's shape, `dtype`; plain numbers passed to ops become scalar constants of the other operand's dtype", gradient: "a leaf: no gradient flows into a constant", torch: "`torch.tensor(...)`" },
  neg: unary("neg(x)", "`torch.neg` / `-x`", "−g", "any numeric dtype"),
  exp: unary("exp(x)", "`torch.exp`", "g · exp(x)"),
  log: unary("log(x)", "`torch.log`", "g / x"),
  sqrt: unary("sqrt(x)", "`torch.sqrt`", "g / (2√x)"),
  abs: unary("abs(x)", "`torch.abs`", "g · sign(x)", "any numeric dtype"),
  sign: unary("sign(x)", "`torch.sign`", "0 (piecewise constant)", "any numeric dtype"),
  relu: unary("relu(x)", "`torch.relu`", "g where x > 0, else 0 (0 at x = 0, as PyTorch)"),
  sigmoid: unary("sigmoid(x)", "`torch.sigmoid`", "g · σ(x)(1 − σ(x))"),
  log_sigmoid: unary("logSigmoid(x)", "`F.logsigmoid`", "g · σ(−x)"),
  tanh: unary("tanh(x)", "`torch.tanh`", "g · (1 − tanh²x)"),
  erf: unary("erf(x)", "`torch.erf`", "g · 2/√π · e^(−x²)"),
  gelu: unary('gelu(x, { approximate: "none" | "tanh" })', "`F.gelu` (exact with erf, or the tanh approximation)", "g · (Φ(x) + x·φ(x))"),
  silu: unary("silu(x)", "`F.silu`", "g · σ(x)(1 + x(1 − σ(x)))"),
  softplus: unary("softplus(x, { beta = 1, threshold = 20 })", "`F.softplus` (x where βx > threshold)", "g · σ(βx), g where βx > threshold"),
  leaky_relu: unary("leakyRelu(x, negativeSlope = 0.01)", "`F.leaky_relu`", "g where x > 0, else negativeSlope · g"),
  elu: unary("elu(x, alpha = 1)", "`F.elu`", "g where x > 0, else g · α·eˣ"),
  hardtanh: unary("hardtanh(x, minVal = -1, maxVal = 1)", "`F.hardtanh`", "g strictly inside (minVal, maxVal), else 0"),
  clamp: unary("clamp(x, { min?, max? })", "`torch.clamp` (min > max gives max everywhere, as PyTorch)", "g where min ≤ x ≤ max (the whole g at the bounds, as PyTorch), else 0", "any numeric dtype"),
  cast: { signature: "cast(x, dtype)", shape: "`x`'s shape, the given dtype (float → i32 truncates toward zero)", gradient: "between floats g cast back to `x`'s dtype; none flows from or to i32/bool", torch: "`x.to(dtype)`" },
  add: binary("add(a, b)", "`torch.add` / `a + b`", "g to each input, summed over its broadcast dims"),
  sub: binary("sub(a, b)", "`torch.sub` / `a - b`", "g to a, −g to b, summed over broadcast dims"),
  mul: binary("mul(a, b) · square(x) = mul(x, x)", "`torch.mul` / `a * b`", "g·b to a, g·a to b, summed over broadcast dims"),
  div: binary("div(a, b)", "`torch.div` / `a / b` (i32: truncating, like `torch.div(..., rounding_mode='trunc')`)", "g/b to a, −g·a/b² to b"),
  pow: binary("pow(a, b)", "`torch.pow`", "g·b·aᵇ⁻¹ to a, g·aᵇ·log a to b"),
  maximum: binary("maximum(a, b)", "`torch.maximum` (NaN propagates)", "g to a where a ≥ b, to b where a < b (ties go to a)"),
  minimum: binary("minimum(a, b)", "`torch.minimum` (NaN propagates)", "g to a where a ≤ b, to b where a > b (ties go to a)"),
  eq: compare("eq(a, b)", "`torch.eq` / `a == b`"),
  ne: compare("ne(a, b)", "`torch.ne` / `a != b`"),
  lt: compare("lt(a, b)", "`torch.lt` / `a < b`"),
  le: compare("le(a, b)", "`torch.le` / `a <= b`"),
  gt: compare("gt(a, b)", "`torch.gt` / `a > b`"),
  ge: compare("ge(a, b)", "`torch.ge` / `a >= b`"),
  where: { signature: "where(cond, a, b)", shape: "`cond` (bool), `a` and `b` broadcast together; the dtype of `a` and `b` (equal)", gradient: "g to a where cond, to b elsewhere; none to cond", torch: "`torch.where`" },
  sum: reduction("sum(x, dims?, keepdim = false)", "`torch.sum(x, dim, keepdim)`", "g broadcast back over the reduced dims", "`x`'s dtype"),
  mean: reduction("mean(x, dims?, keepdim = false)", "`torch.mean(x, dim, keepdim)`", "g / n broadcast back (n = number of reduced elements, symbolic dims included)", "float only"),
  max: reduction("max(x, dims?, keepdim = false)", "`torch.amax(x, dim, keepdim)` (values only; `torch.max(x, dim)` also returns indices: use `argmax`)", "g split evenly between tied maxima (as `amax`)", "`x`'s dtype; NaN propagates"),
  min: reduction("min(x, dims?, keepdim = false)", "`torch.amin(x, dim, keepdim)`", "g split evenly between tied minima (as `amin`)", "`x`'s dtype; NaN propagates"),
  logsumexp: reduction("logsumexp(x, dims?, keepdim = false)", "`torch.logsumexp` (max-shifted: finite for ±3e38 and −inf entries)", "g · softmax(x) over the reduced dims", "float only"),
  argmax: { signature: "argmax(x, dim, keepdim = false)", shape: "`x` without `dim` (size 1 with `keepdim`); i32. The first maximum wins; a NaN counts as the maximum", torch: "`torch.argmax(x, dim, keepdim)` (int64 there)" },
  dim_size: { signature: "dimSize(x, dims?, dtype)", shape: "scalar of `dtype`: the number of elements of `x` in `dims`, known at run time for symbolic dims", gradient: "none flows: it depends on the shape, not the values", torch: "`x.shape[d]` / `x[...].numel()` as a tensor" },
  reshape: { signature: "reshape(x, shape) · view(x, shape) · flatten(x, start = 0, end = -1) · unsqueeze(x, dim) · squeeze(x, dim)", shape: "`shape` (one `-1` is inferred; symbolic dims allowed); same element count, `x`'s dtype", gradient: "g reshaped to `x`'s shape", torch: "`torch.reshape` / `view` / `flatten` / `unsqueeze` / `squeeze(dim)` (graft's \`squeeze\` takes one dim and refuses a size other than 1, which PyTorch leaves as is)" },
  transpose: { signature: "permute(x, perm) · transpose(x, dim0 = -2, dim1 = -1)", shape: "`x`'s dims reordered by `perm`", gradient: "g permuted back by the inverse permutation", torch: "`torch.permute` / `torch.transpose` (graft's `transpose` defaults to the last two dims, like `x.mT`)" },
  expand: { signature: "expand(x, shape)", shape: "`shape`: `x` broadcast to it (size-1 dims stretched, new leading dims added)", gradient: "g summed over the broadcast dims", torch: "`x.expand(shape)` / `torch.broadcast_to`" },
  matmul: { signature: "matmul(a, b) · linear(x, weight, bias?) = x @ weightᵀ + bias · dense(x, in, out, name)", shape: "PyTorch's rules: 1-D operands are promoted and the added dim removed; batch dims broadcast; inner dims must match", gradient: "g @ bᵀ to a, aᵀ @ g to b, summed over broadcast batch dims", torch: "`torch.matmul` / `a @ b`; `F.linear`; `nn.Linear`" },
  one_hot: { signature: 'oneHot(labels, numClasses, dtype = "f32")', shape: "`labels`' shape plus a last dim of `numClasses`; the given dtype (labels must be i32 in range)", torch: "`F.one_hot(labels, num_classes)` (int64 there; graft defaults to f32)" },
  gather: { signature: "gather(x, dim, index) · pick(x, index, dim = -1) picks one entry per row", shape: "`index`'s shape (i32, same rank as `x`, sizes ≤ `x`'s outside `dim`); `x`'s dtype", gradient: "scatter_add of g into `x`'s shape along `dim`; none to the index", torch: "`torch.gather(x, dim, index)`; `pick(x, y)` is `x[range(n), y]`" },
  scatter_add: { signature: "scatterAdd(shape, dim, index, src)", shape: "`shape`, `src`'s dtype; `src` has `index`'s shape", gradient: "gather of g along `dim` to src; none to the index", torch: "`torch.zeros(shape).scatter_add_(dim, index, src)`" },
  softmax: { signature: "softmax(x, dim)", shape: "`x`'s shape and dtype (float)", gradient: "y · (g − Σ g·y) over `dim`", torch: "`torch.softmax(x, dim)` (max-shifted; a row of NaN, +inf or only −inf gives NaN, as PyTorch)" },
  log_softmax: { signature: "logSoftmax(x, dim)", shape: "`x`'s shape and dtype (float)", gradient: "g − exp(y) · Σ g over `dim`", torch: "`torch.log_softmax(x, dim)`" },
  nll_loss: { signature: "nllLoss(logProbs, target, { reduction, weight, ignoreIndex, dim })", shape: `${LOSS_SHAPE}; target i32 of \`x\`'s shape without the class dim (default dim 1, or 0 for 1-D input)`, gradient: "nll_loss_backward: −weight[y]·g at each row's label, scaled by the reduction", torch: "`F.nll_loss` (same options; `dim` is graft's: PyTorch's class dim is always 1)" },
  nll_loss_backward: { signature: "nllLossBackward(logProbs, target, g, attrs, weight?)", shape: "`logProbs`' shape and dtype (made by `grad`)", gradient: "linear in g: nll_loss of the cotangent", torch: "autograd's NllLossBackward" },
  cross_entropy: { signature: "crossEntropy(logits, target, { reduction, weight, ignoreIndex, labelSmoothing, dim })", shape: `${LOSS_SHAPE}; target i32 class ids (\`logits\` without the class dim) or float class probabilities (\`logits\`' shape)`, gradient: "cross_entropy_backward: (softmax(x) − target)·scale from the saved logsumexp", torch: "`F.cross_entropy` (same options; `dim` is graft's)" },
  cross_entropy_backward: { signature: "crossEntropyBackward(logits, target, g, attrs, weight?)", shape: "`logits`' shape and dtype (made by `grad`)", gradient: "second derivatives of the fused loss (Hessian-vector products): per row, S·m·p⊙(V − ⟨V,p⟩) to the logits for the cotangent V, and to the targets, the incoming gradient and the class weights", torch: "autograd's CrossEntropyLoss backward (softmax − one-hot)" },
  layer_norm: {
    signature: "layerNorm(x, normalizedShape, { weight, bias, eps }) · layerNormLayer · groupNorm (a layer_norm of the grouped view)",
    shape: "`x`'s shape and dtype (float); weight and bias: the normalized (trailing) shape",
    gradient: "layer_norm_backward to `x`; Σ g⊙x̂ to the weight and Σ g to the bias over the leading dims",
    torch: "`F.layer_norm` (biased variance, eps inside the square root); one fused row kernel on JS/WASM",
  },
  layer_norm_backward: {
    signature: "layerNormBackwardRaw(x, g, { dims, eps, weight }, weight?)",
    shape: "`x`'s shape and dtype (made by `grad`)",
    gradient: "the gradient of its definition in primitives (second derivatives)",
    torch: "autograd's LayerNorm backward: rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)), ĝ = g⊙weight",
  },
  attention_softmax: {
    signature: "scaledDotProductAttention(q, k, v, { causal, mask, scale }) · multiHeadAttention",
    shape: "the scores' shape and dtype (float); a bool or additive (same dtype) mask broadcasting to it",
    gradient: "softmax_backward with the scale to the scores; without it, summed to the mask's shape, to an additive mask",
    torch: "softmax(q·kᵀ·scale + mask) of `F.scaled_dot_product_attention`: a row masked everywhere gives 0 (its `_safe_softmax`, PyTorch ≥ 2.5), a NaN or +inf score a NaN row",
  },
  softmax_backward: {
    signature: "softmaxBackwardRaw(y, g, scale)",
    shape: "`y`'s shape and dtype (made by `grad`)",
    gradient: "the gradient of its definition in primitives (second derivatives)",
    torch: "`torch._softmax_backward_data` (times the scale)",
  },
  batch_norm_stats: {
    signature: "batchNorm(x, runningMean, runningVar, options) / batchNormLayer in training mode · batchNormStatsRaw(x)",
    shape: "[2, C] of `x`'s float dtype for `x` [N, C, *]: the batch mean and biased variance per channel",
    gradient: "G_mean/n + G_var·2(x − μ)/n per channel (elementwise)",
    torch: "the batch statistics of `F.batch_norm(training=True)` (the running variance is updated with the unbiased one); one channel kernel on JS/WASM",
  },
  batch_norm: {
    signature: "batchNorm / batchNormLayer in training mode · batchNormRaw(x, stats, { eps, weight, bias }, weight?, bias?)",
    shape: "`x`'s shape and dtype; stats [2, C], weight and bias [C]",
    gradient: "from batch_norm_backward_stats S = (Σg, Σg⊙x̂): g·w·rstd to `x`, (−w·rstd·Σg, −½·w·rstd²·Σg⊙x̂) to the statistics, Σg⊙x̂ to the weight, Σg to the bias",
    torch: "the normalization of `F.batch_norm(training=True)`: (x − mean)/√(var + eps)·weight + bias; one map kernel on JS/WASM",
  },
  batch_norm_backward_stats: {
    signature: "batchNormBackwardStatsRaw(x, stats, g, eps)",
    shape: "[2, C] (made by `grad`)",
    gradient: "the gradient of its definition in primitives (second derivatives)",
    torch: "the per-channel sums of autograd's BatchNorm backward (`sum_dy`, `sum_dy_xmu`·rstd)",
  },
  binary_cross_entropy_with_logits: { signature: "binaryCrossEntropyWithLogits(logits, target, { reduction })", shape: "scalar for `mean`/`sum`, `logits`' shape for `none`; target: float of `logits`' shape and dtype", gradient: "(σ(x) − t)·g, scaled by the reduction; none to the target", torch: "`F.binary_cross_entropy_with_logits` (no `weight`/`pos_weight`)" },
  mode_switch: {
    signature: "modeSwitch(train, eval) · dropout(x, p) · batchNorm(x, runningMean, runningVar, options)",
    shape: "both inputs of one type; that type",
    gradient: "g to the evaluation input (the `mode` pass keeps one input before `grad` in a training step)",
    torch: "`module.train()` / `module.eval()`",
  },
  state_update: {
    signature: "stateUpdate(value, param, next) · batchNormLayer(x, C, name)",
    shape: "`value`'s type; `next` of `param`'s type",
    gradient: "g to `value`",
    torch: "a module buffer updated in `forward` (`running_mean`, `running_var`, `num_batches_tracked`)",
  },
  random_uniform: {
    signature: "rand(shape, { seed }) · randn · bernoulli(p) · dropout(x, p)",
    shape: "f32 of `shape`; input: the i32 scalar counter `random.counter`",
    torch: "`torch.rand` (counter-based: murmur3 fmix32 of seed, stream, counter, index; not torch's bits)",
  },
  // convolution and pooling (ops/conv.ts)
  conv2d: {
    signature: 'conv2d(x, weight, bias?, { stride, padding: n | [h, w] | [top, bottom, left, right] | "same" | "valid", dilation, groups }) · conv2dLayer(x, in, out, kernel, name, opts)',
    shape: "x [N, C, H, W] (C, H, W numbers), weight [out, C/groups, kh, kw], bias [out] → [N, out, ⌊(H + pt + pb − dh(kh−1) − 1)/sh⌋ + 1, …]; float, one dtype",
    gradient: "conv_transpose2d of g with the weight to x, conv2d_weight_grad(x, g) to the weight, Σ g over N, H, W to the bias",
    torch: "`F.conv2d` (per-side padding is graft's; PyTorch pads per side with `F.pad`); `nn.Conv2d` for `conv2dLayer` (same names and init)",
  },
  conv_transpose2d: {
    signature: "convTranspose2d(x, weight, bias?, { stride, padding, outputPadding, dilation, groups })",
    shape: "x [N, C, H, W], weight [C, out/groups, kh, kw] → [N, out, (H−1)·sh − 2·ph + dh(kh−1) + oph + 1, …]",
    gradient: "conv2d of g with the weight to x, conv2d_weight_grad(g, x) to the weight, Σ g to the bias",
    torch: "`F.conv_transpose2d`",
  },
  conv2d_weight_grad: { signature: "made by `grad` (conv2dWeightGradRaw(x, g, attrs))", shape: "the conv's weight [out, C/groups, kh, kw]; g must be the conv's output shape", torch: "autograd's ConvolutionBackward (weight)" },
  conv1d: { signature: 'conv1d(x, weight, bias?, { stride, padding: n | [left, right] | "same" | "valid", dilation, groups })', shape: "x [N, C, L], weight [out, C/groups, k] → [N, out, L_out]", gradient: "from its decomposition (conv2d over a unit height)", torch: "`F.conv1d`" },
  max_pool2d: {
    signature: "maxPool2d(x, kernel, { stride = kernel, padding, dilation, ceilMode })",
    shape: "x [N, C, H, W] → [N, C, H_out, W_out] (PyTorch's ceil-mode rule); padding ≤ half the effective kernel",
    gradient: "max_pool2d_backward: each window's g to its first maximum (window order, NaN wins)",
    torch: "`F.max_pool2d` (padding is −∞)",
  },
  max_pool2d_backward: { signature: "made by `grad`", shape: "x's shape; g must be the pool's output shape", torch: "autograd's MaxPool2DWithIndicesBackward" },
  avg_pool2d: {
    signature: "avgPool2d(x, kernel, { stride = kernel, padding, ceilMode, countIncludePad = true })",
    shape: "as max_pool2d; each window divided by its size (clipped to the padded input) or, without countIncludePad, by its taps inside the input",
    gradient: "g / divisor spread back over each window: a depthwise conv_transpose2d with a ones kernel",
    torch: "`F.avg_pool2d` (no divisor_override)",
  },
  adaptive_avg_pool2d: { signature: "adaptiveAvgPool2d(x, outputSize)", shape: "x [N, C, H, W] → [N, C, oh, ow]; cell i covers [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉)", gradient: "from its decomposition (a matmul with the constant pooling matrix)", torch: "`F.adaptive_avg_pool2d` (1 is global average pooling)" },
  max_pool1d: { signature: "maxPool1d(x, kernel, { stride, padding, dilation, ceilMode })", shape: "x [N, C, L] → [N, C, L_out]", gradient: "from its decomposition (max_pool2d over a unit height)", torch: "`F.max_pool1d`" },
  avg_pool1d: { signature: "avgPool1d(x, kernel, { stride, padding, ceilMode, countIncludePad })", shape: "x [N, C, L] → [N, C, L_out]", gradient: "from its decomposition (avg_pool2d over a unit height)", torch: "`F.avg_pool1d`" },
};
