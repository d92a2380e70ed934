/**
 * jax-js's implementations of the conv and model workloads (see jax-js.ts for the device
 * set-up and the ownership rules: every call consumes its array arguments, `.ref` adds a
 * reference): `conv2d`, and the train steps of the examples' CNN and transformer, each step
 * `valueAndGrad(loss)` + a hand-written Adam (no @jax-js/optax on npm).
 *
 * jit or eager, whichever is faster for jax-js: its `jit` compiles `lax.convGeneralDilated`
 * into a generic fused loop about 10× slower than the eager conv routine (measured here, CPU
 * time: conv2d at batch 4 1.2 s jitted vs 0.11 s eager; the CNN step at batch 64 1.47 s vs
 * 0.80 s), while the transformer step gains from jit (0.12 s vs 0.32 s). So `conv2d` and the
 * CNN step run eagerly (op by op on the wasm device), the transformer step under `jit`.
 *
 * Layouts: NCHW activations and OIHW conv kernels (`lax.convGeneralDilated`'s, as graft's);
 * dense kernels `[in, out]` (flax's), converted in `prepare` and back for the check.
 *
 * Built from jax-js primitives where it has no layer: batch norm from `np.mean` (batch
 * statistics, running statistics returned as aux outputs of the loss), 2×2 max pooling as a
 * reshape to `[N, C, H/2, 2, W/2, 2]` and `np.max` over the window axes, layer norm from
 * `np.mean`, attention from `np.matmul` + `nn.softmax` with an additive causal mask, GELU as
 * `nn.gelu(x, { approximate: false })` (the erf form), dropout as `random.bernoulli` with a key
 * made from the step number on the host (`random.key(step)`, split on the device per dropout
 * site), the token embedding as a one-hot matmul (np.take's gradient, a scatter, does not
 * jit). The check runs (the first two) use a step built without dropout; the timed runs a
 * second step function with the example's dropout, continuing from the same state.
 */
import { blockUntilReady, jit, lax, nn, numpy as np, random, tree, valueAndGrad } from "@jax-js/jax";
import { convChecks, modelTrainChecks } from "../checks.js";
import type { AdamConfig } from "../data.js";
import type { ConvData, ModelData } from "../model-data.js";
import { paramOf, transformerConfig } from "../model-data.js";
import { CNN_CONFIG } from "../../../examples/mnist-cnn/model.js";
import { oneHotIgnoring, transpose2d } from "../layouts.js";
import type { PreparedRun } from "../harness.js";

type Arr = np.Array;
// `type` (not `interface`) so that jax-js's JsTree typing accepts it.
type Tree = { [name: string]: Arr };

async function readF32(a: Arr): Promise<Float32Array> {
  const d = await a.ref.data();
  if (!(d instanceof Float32Array)) throw new Error(`expected float32 data, got ${d.constructor.name}`);
  return d;
}

/** conv2d forward: `lax.convGeneralDilated` (NCHW, OIHW) plus the bias. */
export function prepareConv(d: ConvData): PreparedRun {
  const x = np.array(d.x, { shape: [d.n, d.cin, d.h, d.w] });
  const weight = np.array(d.weight, { shape: [d.cout, d.cin, d.k, d.k] });
  const bias = np.array(d.bias, { shape: [1, d.cout, 1, 1] });
  const pad: [number, number][] = [
    [d.pad, d.pad],
    [d.pad, d.pad],
  ];
  // eager, not jit: see the file comment
  const f = (xx: Arr, ww: Arr, bb: Arr): Arr => lax.convGeneralDilated(xx, ww, [1, 1], pad).add(bb);
  let last: Arr | undefined;
  return {
    async run() {
      last?.dispose();
      last = f(x.ref, weight.ref, bias.ref);
      await last.blockUntilReady();
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return convChecks(await readF32(last));
    },
    dispose() {
      last?.dispose();
      x.dispose();
      weight.dispose();
      bias.dispose();
    },
  };
}

/** A param in jax-js's layout (`to`), and the way back to PyTorch's for the check. */
interface Layout {
  readonly to: (data: Float32Array) => { data: Float32Array; shape: number[] };
  readonly back: (data: Float32Array) => Float32Array;
}

/** PyTorch layout kept. */
const keep = (shape: readonly number[]): Layout => ({ to: (data) => ({ data, shape: [...shape] }), back: (data) => data });

/** A dense weight `[out, in]` as a kernel `[in, out]`. */
const kernel = (shape: readonly number[]): Layout => {
  const [out, inp] = shape;
  if (out === undefined || inp === undefined || shape.length !== 2) throw new Error(`not a matrix: [${shape.join(",")}]`);
  return { to: (data) => ({ data: transpose2d(data, out, inp), shape: [inp, out] }), back: (data) => transpose2d(data, inp, out) };
};

/** One Adam update of one leaf; consumes all its array arguments, returns [p, m, v]. */
function adamLeaf(p: Arr, g: Arr, m: Arr, v: Arr, bc1: Arr, bc2: Arr, cfg: AdamConfig): [Arr, Arr, Arr] {
  const m2 = m.mul(cfg.beta1).add(g.ref.mul(1 - cfg.beta1));
  const v2 = v.mul(cfg.beta2).add(g.ref.mul(g).mul(1 - cfg.beta2));
  const step = m2.ref.div(bc1).div(np.sqrt(v2.ref.div(bc2)).add(cfg.eps)).mul(cfg.lr);
  return [p.sub(step), m2, v2];
}

/** The train state: trained params, Adam moments, step counter, non-trained stats (BN running statistics). */
type TrainState = { p: Tree; m: Tree; v: Tree; t: Arr; stats: Tree };

/** A model's loss on (params, stats, extra inputs); returns [loss, new stats]. Consumes its arguments. */
type LossFn = (p: Tree, stats: Tree, inputs: Arr[], key: Arr | undefined) => [Arr, Tree];

/** `valueAndGrad(loss) + Adam`, under `jit` when `compiled`; `withKey`: the loss takes a PRNG key (dropout). */
function trainStep(loss: LossFn, cfg: AdamConfig, withKey: boolean, compiled: boolean) {
  const body = (s: TrainState, inputs: Arr[], key: Arr[]): [Arr, TrainState] => {
    // gradient wrt the first argument (the trained params) only
    const [[lossValue, stats], g] = valueAndGrad((p: Tree, st: Tree, ins: Arr[], keys: Arr[]) => loss(p, st, ins, withKey ? keys[0] : undefined), { hasAux: true })(tree.ref(s.p), s.stats, inputs, key);
    const t = s.t.add(1);
    const bc1 = np.exp(t.ref.mul(Math.log(cfg.beta1))).mul(-1).add(1);
    const bc2 = np.exp(t.ref.mul(Math.log(cfg.beta2))).mul(-1).add(1);
    const p: Tree = {};
    const m: Tree = {};
    const v: Tree = {};
    for (const [name, value] of Object.entries(s.p)) {
      const gi = g[name];
      const mi = s.m[name];
      const vi = s.v[name];
      if (gi === undefined || mi === undefined || vi === undefined) throw new Error(`missing leaf ${name}`);
      [p[name], m[name], v[name]] = adamLeaf(value, gi, mi, vi, bc1.ref, bc2.ref, cfg);
    }
    bc1.dispose();
    bc2.dispose();
    return [lossValue, { p, m, v, t, stats }];
  };
  return compiled ? jit(body) : Object.assign(body, { dispose() {} });
}

/**
 * A model train step: params converted by `layouts` (trained unless in `statNames`), the
 * check step without dropout, the timed step with it (a fresh key per step).
 */
function trainRun(d: ModelData, layouts: Readonly<Record<string, Layout>>, statNames: readonly string[], loss: (dropout: number) => LossFn, inputs: Arr[], compiled: boolean): PreparedRun {
  const p: Tree = {};
  const stats: Tree = {};
  for (const [name, layout] of Object.entries(layouts)) {
    const converted = layout.to(paramOf(d, name).data);
    (statNames.includes(name) ? stats : p)[name] = np.array(converted.data, { shape: converted.shape });
  }
  const zeros = (tr: Tree): Tree => Object.fromEntries(Object.entries(tr).map(([name, a]) => [name, np.zeros(a.shape)]));
  let state: TrainState = { p, m: zeros(p), v: zeros(p), t: np.zeros([]), stats };
  const checkStep = trainStep(loss(0), d.adam, false, compiled);
  const timedStep = trainStep(loss(d.dropout), d.adam, true, compiled);
  let checking = true;
  let steps = 0;
  let lastLoss: Arr | undefined;
  return {
    async run() {
      steps++;
      const [l, next] = checking ? checkStep(state, tree.ref(inputs), []) : timedStep(state, tree.ref(inputs), [random.key(steps)]);
      state = next;
      lastLoss?.dispose();
      lastLoss = l;
      await blockUntilReady([l, next]);
    },
    async check() {
      if (lastLoss === undefined) throw new Error("not run");
      const lossValue = (await readF32(lastLoss))[0] ?? Number.NaN;
      const params: Record<string, Float32Array> = {};
      for (const [name, layout] of Object.entries(layouts)) {
        const value = state.p[name] ?? state.stats[name];
        if (value !== undefined) params[name] = layout.back(await readF32(value));
      }
      checking = false;
      return modelTrainChecks(d, lossValue, params);
    },
    dispose() {
      lastLoss?.dispose();
      tree.dispose(state);
      tree.dispose(inputs);
      checkStep.dispose();
      timedStep.dispose();
    },
  };
}

function take(tr: Tree, name: string): Arr {
  const a = tr[name];
  if (a === undefined) throw new Error(`no array ${name}`);
  return a;
}

/** `x @ kernel + bias` over the last axis; consumes all three. */
const dense = (x: Arr, w: Arr, b: Arr): Arr => np.matmul(x, w).add(b);

/** Inverted dropout of `x` with keep mask `random.bernoulli(key, 1 - p)`; consumes x and key. */
function dropoutOf(x: Arr, p: number, key: Arr): Arr {
  const keepMask = random.bernoulli(key, 1 - p, x.shape);
  return np.where(keepMask, x.mul(1 / (1 - p)), 0);
}

/** Mean cross-entropy of `logits` [R, K] against one-hot rows (all-zero rows are ignored); consumes both. */
function meanCe(logits: Arr, oneHot: Arr): Arr {
  const count = np.sum(oneHot.ref);
  return np.sum(nn.logSoftmax(logits, -1).mul(oneHot)).mul(-1).div(count);
}

/** `count` independent keys from `key` (consumed). */
function splitKey(key: Arr, count: number): Arr[] {
  return np.split(random.split(key, count), count, 0).map((k) => k.reshape([2]));
}

/** One Adam step of examples/mnist-cnn. */
export function prepareCnnTrain(d: ModelData): PreparedRun {
  const [c0, c1, c2] = CNN_CONFIG.channels;
  const k = CNN_CONFIG.kernel;
  const side = CNN_CONFIG.image;
  const pool = CNN_CONFIG.pool;
  const names = Object.keys(d.params);
  const layouts: Record<string, Layout> = Object.fromEntries(names.map((name) => [name, name.startsWith("fc") && name.endsWith(".weight") ? kernel(paramOf(d, name).shape) : keep(paramOf(d, name).shape)]));
  const statNames = names.filter((name) => !d.trained.includes(name));
  if (!(d.x instanceof Float32Array)) throw new Error("cnn data: x must be float32 images");
  const x = np.array(d.x, { shape: [d.batch, c0, side, side] });
  const oneHot = np.array(oneHotIgnoring(d.y, CNN_CONFIG.classes), { shape: [d.batch, CNN_CONFIG.classes] });
  const channel = (a: Arr, c: number): Arr => a.reshape([1, c, 1, 1]);
  /** conv → BN (train) → ReLU → max pool; returns [h, running mean, running var]. */
  const block = (h: Arr, p: Tree, stats: Tree, conv: string, bn: string, cout: number): [Arr, Arr, Arr] => {
    const z = lax.convGeneralDilated(h, take(p, `${conv}.weight`), [1, 1], "VALID").add(channel(take(p, `${conv}.bias`), cout));
    const [n, , hh, ww] = z.shape;
    if (n === undefined || hh === undefined || ww === undefined) throw new Error("conv output is not 4-d");
    const count = n * hh * ww;
    const mean = np.mean(z.ref, [0, 2, 3], { keepdims: true });
    const centered = z.sub(mean.ref);
    const variance = np.mean(centered.ref.mul(centered.ref), [0, 2, 3], { keepdims: true });
    const normalized = centered.div(np.sqrt(variance.ref.add(1e-5)));
    const y = normalized.mul(channel(take(p, `${bn}.weight`), cout)).add(channel(take(p, `${bn}.bias`), cout));
    const runMean = take(stats, `${bn}.running_mean`).mul(0.9).add(mean.reshape([cout]).mul(0.1));
    const runVar = take(stats, `${bn}.running_var`).mul(0.9).add(variance.reshape([cout]).mul((0.1 * count) / (count - 1)));
    const pooled = np.max(nn.relu(y).reshape([n, cout, hh / pool, pool, ww / pool, pool]), [3, 5]);
    return [pooled, runMean, runVar];
  };
  const loss =
    (dropout: number): LossFn =>
    (p, stats, inputs, key) => {
      const [xb, yb] = inputs;
      if (xb === undefined || yb === undefined) throw new Error("cnn step: inputs [x, oneHot]");
      const [h1, m1, v1] = block(xb, p, stats, "conv1", "bn1", c1);
      const [h2, m2, v2] = block(h1, p, stats, "conv2", "bn2", c2);
      const flat = h2.reshape([d.batch, -1]);
      let hidden = nn.relu(dense(flat, take(p, "fc1.weight"), take(p, "fc1.bias")));
      if (key !== undefined) hidden = dropoutOf(hidden, dropout, key);
      const logits = dense(hidden, take(p, "fc2.weight"), take(p, "fc2.bias"));
      const newStats: Tree = { "bn1.running_mean": m1, "bn1.running_var": v1, "bn2.running_mean": m2, "bn2.running_var": v2 };
      return [meanCe(logits, yb), newStats];
    };
  // eager: jax-js's jit turns convolutions into generic fused loops, slower than its eager conv
  return trainRun(d, layouts, statNames, loss, [x, oneHot], false);
}

/** LayerNorm over the last axis (eps 1e-5); consumes all three. */
function layerNorm(h: Arr, w: Arr, b: Arr): Arr {
  const mu = np.mean(h.ref, -1, { keepdims: true });
  const centered = h.sub(mu);
  const variance = np.mean(centered.ref.mul(centered.ref), -1, { keepdims: true });
  return centered.div(np.sqrt(variance.add(1e-5))).mul(w).add(b);
}

/** One Adam step of examples/transformer. */
export function prepareTransformerTrain(d: ModelData): PreparedRun {
  const { vocab, context, width, heads, layers } = transformerConfig(d);
  const headDim = width / heads;
  const rows = d.batch * context;
  const names = Object.keys(d.params);
  const isKernel = (name: string): boolean => name.endsWith("_weight") || (name.endsWith(".weight") && (name.includes("proj") || name.includes(".fc.") || name.startsWith("head")));
  const layouts: Record<string, Layout> = Object.fromEntries(names.map((name) => [name, isKernel(name) ? kernel(paramOf(d, name).shape) : keep(paramOf(d, name).shape)]));
  if (!(d.x instanceof Int32Array)) throw new Error("transformer data: x must be int32 token ids");
  // one-hot tokens: the gradient of np.take is a scatter, which jax-js's jit refuses
  // ("routine primitive scatter input is not imm"), so the embedding is a one-hot matmul
  const tokens = np.array(oneHotIgnoring(d.x, vocab), { shape: [rows, vocab] });
  const oneHot = np.array(oneHotIgnoring(d.y, vocab), { shape: [rows, vocab] });
  const mask = np.array(
    Float32Array.from({ length: context * context }, (_, i) => (i % context <= Math.floor(i / context) ? 0 : -1e9)),
    { shape: [context, context] },
  );
  const toHeads = (t: Arr): Arr => t.reshape([d.batch, context, heads, headDim]).transpose([0, 2, 1, 3]);
  const loss =
    (dropout: number): LossFn =>
    (p, stats, inputs, key) => {
      const [tok, yb, causal] = inputs;
      if (tok === undefined || yb === undefined || causal === undefined) throw new Error("transformer step: inputs [tokens, oneHot, mask]");
      const keys = key === undefined ? [] : splitKey(key, 1 + 2 * layers);
      const drop = (h: Arr, i: number): Arr => {
        const k = keys[i];
        return k === undefined ? h : dropoutOf(h, dropout, k);
      };
      const embedded = np.matmul(tok, take(p, "tok_emb.weight")).reshape([d.batch, context, width]).add(take(p, "pos_emb.weight"));
      let h = drop(embedded.reshape([rows, width]), 0);
      for (let layer = 0; layer < layers; layer++) {
        const pre = `blocks.${layer}`;
        const w = (name: string): Arr => take(p, `${pre}.${name}`);
        const qkv = dense(layerNorm(h.ref, w("ln1.weight"), w("ln1.bias")), w("attn.in_proj_weight"), w("attn.in_proj_bias"));
        const [q, k, v] = np.split(qkv, 3, 1);
        if (q === undefined || k === undefined || v === undefined) throw new Error("split into q, k, v");
        const scores = np.matmul(toHeads(q), toHeads(k).transpose([0, 1, 3, 2])).mul(1 / Math.sqrt(headDim)).add(causal.ref);
        const attended = np.matmul(nn.softmax(scores, -1), toHeads(v));
        const merged = attended.transpose([0, 2, 1, 3]).reshape([rows, width]);
        h = h.add(drop(dense(merged, w("attn.out_proj.weight"), w("attn.out_proj.bias")), 1 + 2 * layer));
        const expanded = nn.gelu(dense(layerNorm(h.ref, w("ln2.weight"), w("ln2.bias")), w("mlp.fc.weight"), w("mlp.fc.bias")), { approximate: false });
        h = h.add(drop(dense(expanded, w("mlp.proj.weight"), w("mlp.proj.bias")), 2 + 2 * layer));
      }
      causal.dispose();
      const logits = dense(layerNorm(h, take(p, "ln_f.weight"), take(p, "ln_f.bias")), take(p, "head.weight"), take(p, "head.bias"));
      return [meanCe(logits, yb), stats];
    };
  return trainRun(d, layouts, [], loss, [tokens, oneHot, mask], true);
}
