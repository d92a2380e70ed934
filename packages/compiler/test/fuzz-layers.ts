/**
 * @file Random models of layers whose shapes fit, for the fuzzer (fuzz-graphs.test.ts): an image,
 * a sequence, token ids or flat features, then 1–5 layers each chosen among those that take the
 * current shape — conv2d (stride, padding incl. "same"/"valid"/per side, dilation, groups incl.
 * depthwise), convTranspose2d, conv1d, max/avg/adaptive pooling, batch/layer/group norm, dropout,
 * slice, pad (three modes), concat, flip, tril/triu, attention and multi-head attention — and a
 * linear head with a cross-entropy loss (always when the case trains). The random op draws come
 * from a list of naturals, so fast-check generates and replays cases. `build` tags each case with
 * the layers it holds, which the fuzzer counts to report and bound its coverage.
 */
import fc from "fast-check";
import * as C from "@graft/core";
import type { HostFeeds, HostTensor } from "../src/backend/types.js";

/** What a generated layer model is made of; every layer the generator can add has a tag. */
export const LAYER_TAGS = [
  "conv2d", "conv2d_depthwise", "conv_transpose2d", "conv1d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "max_pool1d", "avg_pool1d",
  "batch_norm", "layer_norm", "group_norm", "dropout_eval", "dropout_train", "slice", "pad", "concat", "flip", "tril_triu",
  "embedding", "attention", "multi_head_attention",
] as const;
export type LayerTag = (typeof LAYER_TAGS)[number];

export const layerCaseArb = fc.record({
  /** 0–3 image [N,C,H,W] (3: a bigger one), 4–5 sequence [N,C,L], 6–7 token ids → embedding [N,T,D], 8 flat [N,F]. */
  start: fc.nat({ max: 8 }),
  sizes: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
  layers: fc.array(fc.record({ kind: fc.nat(), draws: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }) }), { minLength: 1, maxLength: 5 }),
  head: fc.boolean(),
  /** Train with SGD (a head and a loss then): forward, evaluate, trainStep, forward again. */
  train: fc.boolean(),
  feedSeed: fc.nat(),
});
export type LayerCase = typeof layerCaseArb extends fc.Arbitrary<infer T> ? T : never;

/** Draws from one layer's naturals: `next(n)` is in [0, n). */
type Draw = (n: number) => number;
const drawsOf = (draws: readonly number[]): Draw => {
  let index = 0;
  return (n) => (draws[index++ % draws.length] ?? 0) % Math.max(1, n);
};

/** The static dims after the batch dim. */
const dimsOf = (x: C.Tensor): number[] => x.shape.slice(1).filter((d): d is number => typeof d === "number");

const divisors = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

interface Layer {
  readonly tag: LayerTag;
  /** Whether the layer takes an input of these dims (after batch), keeping sizes small. */
  readonly fits: (dims: readonly number[]) => boolean;
  readonly apply: (x: C.Tensor, dims: readonly number[], next: Draw, name: string) => C.Tensor;
  /** A layer of one input rank (convolutions, pooling, attention): the first layer of a case is one when the start fits any. */
  readonly specific?: true;
}

const small = (dims: readonly number[], limit = 7): boolean => dims.every((d) => d <= limit);

/** A pooling window that fits `size` with padding ≤ kernel/2: [kernel, stride, padding, dilation]. */
const poolWindow = (size: number, next: Draw, dilated: boolean): [number, number, number, number] => {
  let kernel = 1 + next(3);
  const padding = next(Math.floor(kernel / 2) + 1);
  let dilation = dilated ? 1 + next(2) : 1;
  if (dilation * (kernel - 1) + 1 > size + 2 * padding) dilation = 1;
  if (kernel > size + 2 * padding) kernel = Math.min(kernel, size);
  return [kernel, 1 + next(kernel), Math.min(padding, Math.floor(kernel / 2)), dilation];
};

/** A conv's kernel, dilation and padding (the same on both sides when `symmetric`) along one dim of `size` such that the output is not empty. */
const convAxis = (size: number, next: Draw, symmetric: boolean): { kernel: number; dilation: number; pads: [number, number] } => {
  const kernel = 1 + next(3);
  const dilation = 1 + next(2);
  const before = next(2);
  const pads: [number, number] = [before, symmetric ? before : next(2)];
  if (dilation * (kernel - 1) + 1 <= size + pads[0] + pads[1]) return { kernel, dilation, pads };
  return { kernel: 1, dilation: 1, pads };
};

const LAYERS: readonly Layer[] = [
  {
    tag: "conv2d",
    specific: true,
    fits: (dims) => dims.length === 3 && small(dims, 10),
    apply: (x, [channels = 1, height = 1, width = 1], next, name) => {
      // now and then wide enough for the WASM GEMM's full tiles and their tails
      const out = next(4) === 0 ? 5 + next(12) : 1 + next(4);
      const groupChoices = divisors(gcd(channels, out));
      const groups = groupChoices[next(groupChoices.length)] ?? 1;
      const mode = next(4);
      const h = convAxis(height, next, mode === 2);
      const w = convAxis(width, next, mode === 2);
      const padding = mode === 0 ? "same" : mode === 1 ? "valid" : mode === 2 ? ([h.pads[0], w.pads[0]] as const) : ([h.pads[0], h.pads[1], w.pads[0], w.pads[1]] as const);
      const fitsValid = mode !== 1 || (h.dilation * (h.kernel - 1) < height && w.dilation * (w.kernel - 1) < width);
      const stride = mode === 0 ? 1 : ([1 + next(2), 1 + next(2)] as const);
      return C.conv2dLayer(x, channels, out, fitsValid ? [h.kernel, w.kernel] : [1, 1], name, {
        stride,
        padding,
        dilation: fitsValid ? [h.dilation, w.dilation] : 1,
        groups,
        bias: next(3) > 0,
      });
    },
  },
  {
    tag: "conv2d_depthwise",
    specific: true,
    fits: (dims) => dims.length === 3 && small(dims),
    apply: (x, [channels = 1, height = 1, width = 1], next, name) => {
      const kernel = Math.min(1 + next(3), height + 2, width + 2);
      return C.conv2dLayer(x, channels, channels * (1 + next(2)), kernel, name, { groups: channels, padding: 1, stride: 1 + next(2) });
    },
  },
  {
    tag: "conv_transpose2d",
    specific: true,
    fits: (dims) => dims.length === 3 && small(dims, 6),
    apply: (x, [channels = 1, height = 1, width = 1], next, name) => {
      const groupChoices = divisors(channels);
      const groups = groupChoices[next(groupChoices.length)] ?? 1;
      const out = groups * (1 + next(2));
      const kernel = 1 + next(3);
      const stride = 1 + next(2);
      const dilation = 1 + next(2);
      const padding = next(2);
      const outputPadding = next(Math.max(stride, dilation));
      const size = (n: number): number => (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + outputPadding + 1;
      const fine = size(height) >= 1 && size(width) >= 1;
      const weight = C.param(`${name}.weight`, [channels, out / groups, kernel, kernel], C.kaimingUniform({ a: Math.sqrt(5) }));
      const bias = next(2) === 0 ? undefined : C.param(`${name}.bias`, [out], C.uniform(-0.3, 0.3));
      return C.convTranspose2d(x, weight, bias, { stride, padding: fine ? padding : 0, dilation, groups, outputPadding });
    },
  },
  {
    tag: "conv1d",
    specific: true,
    fits: (dims) => dims.length === 2 && small(dims, 9),
    apply: (x, [channels = 1, length = 1], next, name) => {
      const out = 1 + next(4);
      const groupChoices = divisors(gcd(channels, out));
      const groups = groupChoices[next(groupChoices.length)] ?? 1;
      const mode = next(4);
      const axis = convAxis(length, next, mode === 2);
      const padding = mode === 0 ? "same" : mode === 1 ? "valid" : mode === 2 ? axis.pads[0] : axis.pads;
      const fitsValid = mode !== 1 || axis.dilation * (axis.kernel - 1) < length;
      const weight = C.param(`${name}.weight`, [out, channels / groups, fitsValid ? axis.kernel : 1], C.kaimingUniform({ a: Math.sqrt(5) }));
      const bias = next(2) === 0 ? undefined : C.param(`${name}.bias`, [out], C.uniform(-0.3, 0.3));
      return C.conv1d(x, weight, bias, { stride: mode === 0 ? 1 : 1 + next(2), padding, dilation: fitsValid ? axis.dilation : 1, groups });
    },
  },
  {
    tag: "max_pool2d",
    specific: true,
    fits: (dims) => dims.length === 3,
    apply: (x, [, height = 1, width = 1], next) => {
      const [kh, sh, ph, dh] = poolWindow(height, next, true);
      const [kw, sw, pw, dw] = poolWindow(width, next, true);
      return C.maxPool2d(x, [kh, kw], { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], ceilMode: next(2) === 0 });
    },
  },
  {
    tag: "avg_pool2d",
    specific: true,
    fits: (dims) => dims.length === 3,
    apply: (x, [, height = 1, width = 1], next) => {
      const [kh, sh, ph] = poolWindow(height, next, false);
      const [kw, sw, pw] = poolWindow(width, next, false);
      return C.avgPool2d(x, [kh, kw], { stride: [sh, sw], padding: [ph, pw], ceilMode: next(2) === 0, countIncludePad: next(2) === 0 });
    },
  },
  {
    tag: "adaptive_avg_pool2d",
    specific: true,
    fits: (dims) => dims.length === 3,
    apply: (x, [, height = 1, width = 1], next) => C.adaptiveAvgPool2d(x, [1 + next(Math.min(height, 3)), 1 + next(Math.min(width, 3))]),
  },
  {
    tag: "max_pool1d",
    specific: true,
    fits: (dims) => dims.length === 2,
    apply: (x, [, length = 1], next) => {
      const [kernel, stride, padding, dilation] = poolWindow(length, next, true);
      return C.maxPool1d(x, kernel, { stride, padding, dilation, ceilMode: next(2) === 0 });
    },
  },
  {
    tag: "avg_pool1d",
    specific: true,
    fits: (dims) => dims.length === 2,
    apply: (x, [, length = 1], next) => {
      const [kernel, stride, padding] = poolWindow(length, next, false);
      return C.avgPool1d(x, kernel, { stride, padding, ceilMode: next(2) === 0, countIncludePad: next(2) === 0 });
    },
  },
  { tag: "batch_norm", fits: (dims) => dims.length >= 1 && dims.length <= 3, apply: (x, [channels = 1], next, name) => C.batchNormLayer(x, channels, name, { momentum: [0.1, 0.5, 1][next(3)] ?? 0.1 }) },
  {
    tag: "layer_norm",
    fits: (dims) => dims.length >= 1,
    apply: (x, dims, next, name) => C.layerNormLayer(x, dims.slice(dims.length - 1 - next(Math.min(2, dims.length))), name, { elementwiseAffine: next(3) > 0 }),
  },
  {
    tag: "group_norm",
    fits: (dims) => dims.length >= 2,
    apply: (x, [channels = 1], next, name) => {
      const groupChoices = divisors(channels);
      const affine = next(2) === 0;
      return C.groupNorm(x, groupChoices[next(groupChoices.length)] ?? 1, affine ? { weight: C.param(`${name}.weight`, [channels], C.uniform(0.5, 1.5)), bias: C.param(`${name}.bias`, [channels], C.uniform(-0.5, 0.5)) } : {});
    },
  },
  { tag: "dropout_eval", fits: () => true, apply: (x, _dims, next) => C.dropout(x, [0.25, 0.5, 0.75][next(3)] ?? 0.5) },
  {
    tag: "slice",
    fits: (dims) => dims.length >= 1,
    apply: (x, dims, next) => {
      const specs = Array.from({ length: 1 + next(Math.min(2, dims.length)) }, () => {
        const axis = next(dims.length);
        const size = dims[axis] ?? 1;
        const start = next(size);
        const stop = start + 1 + next(size - start) + (next(4) === 0 ? 3 : 0);
        return { dim: axis + 1, start: next(2) === 0 ? start - size : start, stop: next(3) === 0 && stop < size ? stop - size : stop, step: 1 + next(3) };
      });
      const unique = specs.filter((spec, i) => specs.findIndex((other) => other.dim === spec.dim) === i);
      return unique.length === 1 && unique[0] !== undefined ? C.slice(x, unique[0].dim, unique[0].start, unique[0].stop, unique[0].step) : C.slice(x, unique);
    },
  },
  {
    tag: "pad",
    fits: (dims) => dims.length >= 1 && small(dims),
    apply: (x, dims, next) => {
      const mode = (["constant", "reflect", "replicate"] as const)[next(3)] ?? "constant";
      const padded = 1 + next(Math.min(2, dims.length));
      const pads: number[] = [];
      for (let i = 0; i < padded; i++) {
        const size = dims[dims.length - 1 - i] ?? 1;
        // reflect: below the size; constant: may crop (negative) but leaves at least one element
        const amount = (): number => (mode === "reflect" ? next(size) : mode === "constant" ? next(4) - 1 : next(3));
        let [before, after] = [amount(), amount()];
        if (size + before + after < 1) [before, after] = [0, 0];
        pads.push(before, after);
      }
      return C.pad(x, pads, { mode, value: next(3) - 1 });
    },
  },
  {
    tag: "concat",
    fits: (dims) => dims.length >= 1,
    apply: (x, dims, next) => {
      const axis = 1 + next(dims.length);
      const other = [C.relu(x), C.slice(x, axis, 0, 1), C.neg(x)][next(3)] ?? x;
      return next(2) === 0 ? C.concat([x, other], axis) : C.concat([other, x, other], axis - 1 - dims.length);
    },
  },
  { tag: "flip", fits: (dims) => dims.length >= 1, apply: (x, dims, next) => C.flip(x, next(2) === 0 || dims.length === 1 ? [1 + next(dims.length)] : [-1, 1]) },
  { tag: "tril_triu", fits: (dims) => dims.length >= 2, apply: (x, _dims, next) => (next(2) === 0 ? C.tril(x, next(3) - 1) : C.triu(x, next(3) - 1)) },
  {
    tag: "attention",
    specific: true,
    fits: (dims) => dims.length === 2,
    apply: (x, _dims, next) => {
      const keys = next(2) === 0 ? x : C.tanh(x);
      return C.scaledDotProductAttention(x, keys, next(2) === 0 ? keys : C.relu(x), { causal: next(2) === 0, ...(next(3) === 0 ? { scale: 0.5 } : {}) });
    },
  },
  {
    tag: "multi_head_attention",
    specific: true,
    fits: (dims) => dims.length === 2,
    apply: (x, [, width = 1], next, name) => {
      const heads = divisors(width);
      return C.multiHeadAttention(x, width, heads[next(heads.length)] ?? 1, name, { causal: next(2) === 0 });
    },
  },
];

/** The vocabulary of the token start. */
export const VOCABULARY = 5;
/** The classes of the head. */
export const CLASSES = 3;

export interface BuiltLayerCase {
  readonly model: C.Model;
  readonly tags: ReadonlySet<LayerTag>;
  /** The optimizer of the bundle program (a head and a loss when set). */
  readonly train: string | undefined;
  /** Whether the model has the head and its loss (then it has `evaluate`). */
  readonly loss: boolean;
}

/** Builds the model of a case: start, layers that fit, and the head. */
export const buildLayerCase = (fuzz: LayerCase): BuiltLayerCase => {
  const size = (index: number, min: number, max: number): number => min + ((fuzz.sizes[index] ?? 0) % (max - min + 1));
  const tags = new Set<LayerTag>();
  let x: C.Tensor;
  if (fuzz.start <= 2) x = C.input("x", ["batch", size(0, 1, 3), size(1, 2, 6), size(2, 2, 6)]);
  else if (fuzz.start === 3) x = C.input("x", ["batch", size(0, 4, 9), size(1, 6, 10), size(2, 6, 10)]);
  else if (fuzz.start <= 5) x = C.input("x", ["batch", size(0, 1, 4), size(1, 2, 8)]);
  else if (fuzz.start <= 7) {
    tags.add("embedding");
    const width = 2 * size(1, 1, 3);
    x = C.embeddingLayer(C.input("tokens", ["batch", size(0, 2, 5)], "i32"), VOCABULARY, width, "embed", fuzz.sizes[2] !== undefined && fuzz.sizes[2] % 3 === 0 ? { paddingIdx: 1 } : {});
  } else x = C.input("x", ["batch", size(0, 1, 6)]);
  fuzz.layers.forEach((layer, index) => {
    const dims = dimsOf(x);
    const fitting = LAYERS.filter((candidate) => candidate.fits(dims));
    const specific = fitting.filter((candidate) => candidate.specific === true);
    // the first layer is one of the start's own kind (conv, pool, attention) when there is one
    const choices = index === 0 && specific.length > 0 ? specific : fitting;
    const chosen = choices[layer.kind % choices.length];
    if (chosen === undefined) return;
    x = chosen.apply(x, dims, drawsOf(layer.draws), `l${index}`);
    tags.add(chosen.tag === "dropout_eval" && fuzz.train ? "dropout_train" : chosen.tag);
    if (chosen.tag === "dropout_eval") tags.add("dropout_eval");
  });
  if (!fuzz.head && !fuzz.train) return { model: C.model({ name: "layers", outputs: { out: x } }), tags, train: undefined, loss: false };
  const features = dimsOf(x).reduce((a, b) => a * b, 1);
  const logits = C.dense(C.reshape(x, ["batch", features]), features, CLASSES, "head");
  const loss = C.crossEntropy(logits, C.input("y", ["batch"], "i32"));
  return { model: C.model({ name: "layers", outputs: { logits, out: x }, loss }), tags, train: fuzz.train ? "sgd:lr=0.1,momentum=0.9" : undefined, loss: true };
};

/**
 * Values the back ends must treat as the reference does: NaN, ±inf, −0 and a tiny magnitude. No
 * huge finite values: f32 sums of them overflow where the reference's float64 sums do not.
 */
const SPECIAL_VALUES = [Number.NaN, Infinity, -Infinity, -0, 1e-30];

/**
 * Right feeds for a layer case's function: features in [-2, 2] (with `special`, 5% of them
 * SPECIAL_VALUES), token ids and labels in range, `batch` rows.
 */
export const layerFeeds = (graph: C.Graph, seed: number, batch = 2, special = false): HostFeeds => {
  const random = C.mulberry32(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const node of C.graphInputs(graph)) {
    const shape = node.type.shape.map((dim) => (typeof dim === "number" ? dim : batch));
    const count = shape.reduce((a, b) => a * b, 1);
    const name = node.attrs.name;
    feeds[name] =
      node.type.dtype === "i32"
        ? { shape, dtype: "i32", data: Int32Array.from({ length: count }, () => Math.floor(random() * (name === "y" ? CLASSES : VOCABULARY))) }
        : { shape, dtype: "f32", data: Float32Array.from({ length: count }, () => (special && random() < 0.05 ? SPECIAL_VALUES[Math.floor(random() * SPECIAL_VALUES.length)] ?? 0 : random() * 4 - 2)) };
  }
  return feeds;
};
