/**
 * tfjs-wasm's implementations of the conv and model workloads (see tfjs-wasm.ts for the
 * backend set-up): `conv2d`, and the train steps of the examples' CNN and transformer,
 * written as a tfjs user would (channels-last tensors, `tf.fused` conv/matMul with bias and
 * ReLU epilogues, `tf.moments` + `tf.batchNorm` as tf.layers' BatchNormalization does in
 * training, `optimizer.minimize` with `tf.train.adam`).
 *
 * Layouts: tfjs's idiomatic NHWC activations, HWIO conv kernels and `[in, out]` dense kernels;
 * the shared PyTorch-layout params are converted in `prepare` (fc1's kernel rows are permuted so
 * that it reads the NHWC flattening) and converted back for the check (layouts.ts).
 *
 * Dropout: `tf.dropout` (tfjs's own random stream). The check runs (the first two) use dropout
 * 0, the timed runs the example's rate, on the same variables.
 *
 * Missing kernels of the WASM backend, built from its own primitives:
 * - `Conv2DBackpropFilter` (the conv weight gradient) is not registered for 'wasm': the CNN's
 *   convolutions are a `tf.customGrad` whose input gradient is `tf.conv2dTranspose` (WASM's
 *   Conv2DBackpropInput) and whose weight gradient is itself a forward `tf.conv2d` (XNNPACK) of
 *   the input with batch and channels swapped, filtered by the output gradient (the standard
 *   identity dW[i,j,c,o] = Σ_{n,y,x} x[n,y+i,x+j,c]·dy[n,y,x,o]);
 * - `UnsortedSegmentSum` (the gradient of `tf.gather`) is not registered: the token embedding
 *   is a one-hot `[tokens, vocab]` matmul with the embedding table (vocab 11).
 */
import * as tf from "@tensorflow/tfjs";
import { convChecks, modelTrainChecks } from "../checks.js";
import type { ConvData, ModelData } from "../model-data.js";
import { paramOf, transformerConfig } from "../model-data.js";
import { CNN_CONFIG } from "../../../examples/mnist-cnn/model.js";
import { denseFromNchwToNhwcKernel, denseFromNhwcKernel, hwioToOihw, nchwToNhwc, nhwcToNchw, oihwToHwio, oneHotIgnoring, transpose2d } from "../layouts.js";
import type { PreparedRun } from "../harness.js";

/** Reads one element of `t` (a data dependency on all of it). */
function fence(t: tf.Tensor): void {
  const one = tf.slice(t, new Array<number>(t.rank).fill(0), new Array<number>(t.rank).fill(1));
  one.dataSync();
  one.dispose();
}

/** conv2d forward, NHWC input and HWIO kernel (tfjs's layout), bias fused. */
export function prepareConv(d: ConvData): PreparedRun {
  const x = tf.tensor4d(nchwToNhwc(d.x, d.n, d.cin, d.h, d.w), [d.n, d.h, d.w, d.cin]);
  const filter = tf.tensor4d(oihwToHwio(d.weight, d.cout, d.cin, d.k, d.k), [d.k, d.k, d.cin, d.cout]);
  const bias = tf.tensor1d(d.bias);
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [d.pad, d.pad],
    [d.pad, d.pad],
    [0, 0],
  ];
  let last: tf.Tensor4D | undefined;
  return {
    run() {
      last?.dispose();
      last = tf.fused.conv2d({ x, filter, strides: 1, pad, bias });
      fence(last);
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      const [n, h, w, c] = last.shape;
      return convChecks(nhwcToNchw(last.dataSync(), n, c, h, w));
    },
    liveCount: () => tf.memory().numTensors,
    dispose() {
      last?.dispose();
      tf.dispose([x, filter, bias]);
    },
  };
}

/** How a trained variable maps back to the PyTorch-layout param it was made from. */
interface Binding {
  readonly name: string;
  readonly variable: tf.Variable;
  /** tfjs layout → PyTorch layout. */
  readonly back: (data: Float32Array) => Float32Array;
}

const same = (data: Float32Array): Float32Array => data;

/** A variable from a shared param, converted by `to` (and back by `back` for the check). */
function bind(d: ModelData, name: string, shape: number[], to: (data: Float32Array) => Float32Array, back: (data: Float32Array) => Float32Array, trainable = true): Binding {
  return { name, variable: tf.variable(tf.tensor(to(paramOf(d, name).data), shape), trainable, name), back };
}

/** A dense layer's weight `[out, in]` as a tfjs kernel `[in, out]`. */
function bindDense(d: ModelData, name: string): Binding {
  const [out, inp] = paramOf(d, name).shape;
  if (out === undefined || inp === undefined) throw new Error(`${name} is not a matrix`);
  return bind(d, name, [inp, out], (w) => transpose2d(w, out, inp), (k) => transpose2d(k, inp, out));
}

function bindVector(d: ModelData, name: string, trainable = true): Binding {
  return bind(d, name, [...paramOf(d, name).shape], same, same, trainable);
}

/**
 * A train step over bound variables: check runs at dropout 0, then timed runs at the
 * example's dropout; the check converts every param back to PyTorch's layout.
 */
function trainRun(d: ModelData, bindings: readonly Binding[], lossOf: (dropout: number) => tf.Scalar, inputs: readonly tf.Tensor[]): PreparedRun {
  const opt = tf.train.adam(d.adam.lr, d.adam.beta1, d.adam.beta2, d.adam.eps);
  const trainable = bindings.filter((b) => b.variable.trainable).map((b) => b.variable);
  let dropout = 0;
  let lastLoss = Number.NaN;
  return {
    run() {
      const cost = opt.minimize(() => lossOf(dropout), true, trainable);
      if (cost === null) throw new Error("minimize returned no cost");
      lastLoss = cost.dataSync()[0] ?? Number.NaN;
      cost.dispose();
    },
    async check() {
      dropout = d.dropout;
      const params = Object.fromEntries(bindings.map((b) => [b.name, b.back(b.variable.dataSync() as Float32Array)]));
      return modelTrainChecks(d, lastLoss, params);
    },
    liveCount: () => tf.memory().numTensors,
    dispose() {
      opt.dispose();
      tf.dispose([...bindings.map((b) => b.variable), ...inputs]);
    },
  };
}

/** Training-mode batch norm over all but the last (channel) axis; updates the running statistics. */
function batchNormTrain(h: tf.Tensor, gamma: tf.Variable, beta: tf.Variable, runningMean: tf.Variable, runningVar: tf.Variable, momentum: number): tf.Tensor {
  const axes = h.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(h, axes);
  const count = h.size / (h.shape[h.rank - 1] ?? 1);
  tf.tidy(() => {
    runningMean.assign(tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(mean, momentum)));
    runningVar.assign(tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(variance, (momentum * count) / (count - 1))));
  });
  return tf.batchNorm(h, mean, variance, beta, gamma, 1e-5);
}

/**
 * Valid (unpadded) stride-1 conv2d of NHWC `x` with HWIO `filter`, differentiable on the WASM
 * backend (which lacks Conv2DBackpropFilter): see the file comment.
 */
const conv2dValid = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, filter, save] = args;
  if (!(x instanceof tf.Tensor) || !(filter instanceof tf.Tensor) || typeof save !== "function") throw new Error("conv2dValid(x, filter)");
  const x4 = x as tf.Tensor4D;
  const f4 = filter as tf.Tensor4D;
  save([x4, f4]);
  return {
    value: tf.conv2d(x4, f4, 1, "valid"),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sf] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dy4 = dy as tf.Tensor4D;
      const dx = tf.conv2dTranspose(dy4, sf, sx.shape, 1, "valid");
      // [c, h, w, n] filtered by [ho, wo, n, o] → [c, kh, kw, o] → [kh, kw, c, o]
      const dw = tf.transpose(tf.conv2d(tf.transpose(sx, [3, 1, 2, 0]), tf.transpose(dy4, [1, 2, 0, 3]), 1, "valid"), [1, 2, 0, 3]);
      return [dx, dw];
    },
  };
});

/** One Adam step of examples/mnist-cnn (conv–BN–ReLU–maxpool ×2, dense, dropout, dense, CE). */
export function prepareCnnTrain(d: ModelData): PreparedRun {
  const [c0, c1, c2] = CNN_CONFIG.channels;
  const k = CNN_CONFIG.kernel;
  const side = CNN_CONFIG.image;
  const pooled = (side - k + 1) / 2;
  const last = (pooled - k + 1) / 2;
  const conv = (name: string, cout: number, cin: number): Binding =>
    bind(d, name, [k, k, cin, cout], (w) => oihwToHwio(w, cout, cin, k, k), (w) => hwioToOihw(w, cout, cin, k, k));
  const fc1Shape = paramOf(d, "fc1.weight").shape;
  const hidden = fc1Shape[0] ?? 0;
  const b = {
    conv1: conv("conv1.weight", c1, c0),
    conv1b: bindVector(d, "conv1.bias"),
    bn1w: bindVector(d, "bn1.weight"),
    bn1b: bindVector(d, "bn1.bias"),
    bn1m: bindVector(d, "bn1.running_mean", false),
    bn1v: bindVector(d, "bn1.running_var", false),
    conv2: conv("conv2.weight", c2, c1),
    conv2b: bindVector(d, "conv2.bias"),
    bn2w: bindVector(d, "bn2.weight"),
    bn2b: bindVector(d, "bn2.bias"),
    bn2m: bindVector(d, "bn2.running_mean", false),
    bn2v: bindVector(d, "bn2.running_var", false),
    fc1: bind(
      d,
      "fc1.weight",
      [c2 * last * last, hidden],
      (w) => denseFromNchwToNhwcKernel(w, hidden, c2, last, last),
      (kernel) => denseFromNhwcKernel(kernel, hidden, c2, last, last),
    ),
    fc1b: bindVector(d, "fc1.bias"),
    fc2: bindDense(d, "fc2.weight"),
    fc2b: bindVector(d, "fc2.bias"),
  };
  if (!(d.x instanceof Float32Array)) throw new Error("cnn data: x must be float32 images");
  const x = tf.tensor4d(nchwToNhwc(d.x, d.batch, c0, side, side), [d.batch, side, side, c0]);
  const oneHot = tf.tensor2d(oneHotIgnoring(d.y, CNN_CONFIG.classes), [d.batch, CNN_CONFIG.classes]);
  const block = (h: tf.Tensor4D, filter: Binding, bias: Binding, gamma: Binding, beta: Binding, mean: Binding, variance: Binding): tf.Tensor4D => {
    const z = tf.add(conv2dValid(h, filter.variable), bias.variable);
    const normalized = batchNormTrain(z, gamma.variable, beta.variable, mean.variable, variance.variable, 0.1) as tf.Tensor4D;
    return tf.maxPool(tf.relu(normalized), CNN_CONFIG.pool, CNN_CONFIG.pool, "valid");
  };
  const lossOf = (dropout: number): tf.Scalar => {
    const h1 = block(x, b.conv1, b.conv1b, b.bn1w, b.bn1b, b.bn1m, b.bn1v);
    const h2 = block(h1, b.conv2, b.conv2b, b.bn2w, b.bn2b, b.bn2m, b.bn2v);
    const flat = tf.reshape(h2, [d.batch, c2 * last * last]) as tf.Tensor2D;
    let hiddenUnits: tf.Tensor2D = tf.fused.matMul({ a: flat, b: b.fc1.variable as tf.Tensor2D, bias: b.fc1b.variable, activation: "relu" }) as tf.Tensor2D;
    if (dropout > 0) hiddenUnits = tf.dropout(hiddenUnits, dropout) as tf.Tensor2D;
    const logits = tf.fused.matMul({ a: hiddenUnits, b: b.fc2.variable as tf.Tensor2D, bias: b.fc2b.variable });
    return tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar;
  };
  return trainRun(d, Object.values(b), lossOf, [x, oneHot]);
}

/** LayerNorm over the last axis (eps 1e-5) with elementwise weight and bias. */
function layerNorm(h: tf.Tensor2D, weight: tf.Variable, bias: tf.Variable): tf.Tensor2D {
  const { mean, variance } = tf.moments(h, [1], true);
  return tf.add(tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-5))), weight), bias) as tf.Tensor2D;
}

/** GELU, exact (erf) form: x·½(1 + erf(x/√2)). */
function gelu(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as tf.Tensor2D;
}

/** One Adam step of examples/transformer (pre-LN decoder, causal MHA with packed in_proj, GELU, dropout, CE ignoring -100). */
export function prepareTransformerTrain(d: ModelData): PreparedRun {
  const { vocab, context, width, heads, layers } = transformerConfig(d);
  const headDim = width / heads;
  const rows = d.batch * context;
  const bindings: Binding[] = [];
  const add = (binding: Binding): tf.Variable => {
    bindings.push(binding);
    return binding.variable;
  };
  const tokEmb = add(bindVector(d, "tok_emb.weight"));
  const posEmb = add(bindVector(d, "pos_emb.weight"));
  const blocks = Array.from({ length: layers }, (_, i) => {
    const p = `blocks.${i}`;
    return {
      ln1w: add(bindVector(d, `${p}.ln1.weight`)),
      ln1b: add(bindVector(d, `${p}.ln1.bias`)),
      inW: add(bindDense(d, `${p}.attn.in_proj_weight`)),
      inB: add(bindVector(d, `${p}.attn.in_proj_bias`)),
      outW: add(bindDense(d, `${p}.attn.out_proj.weight`)),
      outB: add(bindVector(d, `${p}.attn.out_proj.bias`)),
      ln2w: add(bindVector(d, `${p}.ln2.weight`)),
      ln2b: add(bindVector(d, `${p}.ln2.bias`)),
      fcW: add(bindDense(d, `${p}.mlp.fc.weight`)),
      fcB: add(bindVector(d, `${p}.mlp.fc.bias`)),
      projW: add(bindDense(d, `${p}.mlp.proj.weight`)),
      projB: add(bindVector(d, `${p}.mlp.proj.bias`)),
    };
  });
  const lnfW = add(bindVector(d, "ln_f.weight"));
  const lnfB = add(bindVector(d, "ln_f.bias"));
  const headW = add(bindDense(d, "head.weight"));
  const headB = add(bindVector(d, "head.bias"));
  if (!(d.x instanceof Int32Array)) throw new Error("transformer data: x must be int32 token ids");
  const tokens = tf.tensor2d(oneHotIgnoring(d.x, vocab), [rows, vocab]);
  const oneHot = tf.tensor2d(oneHotIgnoring(d.y, vocab), [rows, vocab]);
  const weights = tf.tensor1d(Float32Array.from(d.y, (t) => (t === -100 ? 0 : 1)));
  // additive causal mask: 0 where key j ≤ query i, -1e9 above the diagonal (exp underflows to 0)
  const mask = tf.tensor2d(Float32Array.from({ length: context * context }, (_, i) => (i % context <= Math.floor(i / context) ? 0 : -1e9)), [context, context]);
  const dense = (h: tf.Tensor2D, w: tf.Variable, b: tf.Variable): tf.Tensor2D => tf.fused.matMul({ a: h, b: w as tf.Tensor2D, bias: b }) as tf.Tensor2D;
  const drop = (h: tf.Tensor2D, rate: number): tf.Tensor2D => (rate > 0 ? (tf.dropout(h, rate) as tf.Tensor2D) : h);
  const toHeads = (t: tf.Tensor2D): tf.Tensor4D => tf.transpose(tf.reshape(t, [d.batch, context, heads, headDim]), [0, 2, 1, 3]);
  const lossOf = (dropout: number): tf.Scalar => {
    const embedded = tf.add(tf.reshape(tf.matMul(tokens, tokEmb), [d.batch, context, width]), posEmb);
    let h = drop(tf.reshape(embedded, [rows, width]) as tf.Tensor2D, dropout);
    for (const blk of blocks) {
      const qkv = dense(layerNorm(h, blk.ln1w, blk.ln1b), blk.inW, blk.inB);
      const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const scores = tf.add(tf.mul(tf.matMul(toHeads(q), toHeads(k), false, true), 1 / Math.sqrt(headDim)), mask);
      const attended = tf.matMul(tf.softmax(scores), toHeads(v));
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [rows, width]) as tf.Tensor2D;
      h = tf.add(h, drop(dense(merged, blk.outW, blk.outB), dropout)) as tf.Tensor2D;
      const expanded = gelu(dense(layerNorm(h, blk.ln2w, blk.ln2b), blk.fcW, blk.fcB));
      h = tf.add(h, drop(dense(expanded, blk.projW, blk.projB), dropout)) as tf.Tensor2D;
    }
    const logits = dense(layerNorm(h, lnfW, lnfB), headW, headB);
    // mean over the positions with a target (SUM_BY_NONZERO_WEIGHTS, tfjs's default reduction)
    return tf.losses.softmaxCrossEntropy(oneHot, logits, weights) as tf.Scalar;
  };
  return trainRun(d, bindings, lossOf, [tokens, oneHot, weights, mask]);
}
