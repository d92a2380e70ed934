/**
 * @file Convolution and pooling rows (PyTorch semantics, NCHW, weight [out, in/groups, kh, kw]).
 *
 * Primitives: conv2d, conv_transpose2d, conv2d_weight_grad, max_pool2d, max_pool2d_backward,
 * avg_pool2d. Their gradients are table ops: conv2d's input gradient is a conv_transpose2d and
 * conv_transpose2d's a conv2d; both weight gradients are conv2d_weight_grad (the conv over the
 * batch); avg_pool2d's is a depthwise conv_transpose2d. Composites: conv1d, max_pool1d,
 * avg_pool1d (the 2-D rows over a unit height) and adaptive_avg_pool2d (a matmul with a constant
 * pooling matrix).
 */
import * as E from "fp-ts/lib/Either.js";
import { isFloat } from "../dtype.js";
import { formatType, type Dim, type Shape, type TensorType } from "../shape.js";
import type { Tensor } from "../tensor.js";
import type { Conv2dAttrs, OpAttrs, Pool2dAttrs } from "./attrs.js";
import type { OpDef } from "./def.js";
import { ok } from "./rules.js";
import { constant, matmul, mul, reshape, sum } from "../api.js";
import { avgPool2dRaw, convTranspose2dRaw, conv2dRaw, conv2dWeightGradRaw, maxPool2dBackwardRaw, maxPool2dRaw } from "./conv-nodes.js";

/**
 * Where the taps of a convolution meet: image side [n, ci, h, w], output side [n, co, ho, wo],
 * weight [co, ci/groups, kh, kw]; image row = oh·sh − pt + i·dh (likewise columns). The same
 * geometry describes conv2d (image → output), conv_transpose2d (output side → image side) and
 * the weight gradient (both sides → weight).
 */
export interface ConvGeometry {
  readonly n: number;
  readonly ci: number;
  readonly h: number;
  readonly w: number;
  readonly co: number;
  readonly ho: number;
  readonly wo: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  /** Top and left padding (the bottom and right padding only shape ho, wo); may be negative inside gradients. */
  readonly pt: number;
  readonly pl: number;
  readonly dh: number;
  readonly dw: number;
  readonly groups: number;
}

/** Output size of a conv/pool along one dim (floor), or with PyTorch's ceil-mode rule. */
export const convOutSize = (size: number, padBefore: number, padAfter: number, kernel: number, stride: number, dilation: number, ceilMode = false): number => {
  const span = size + padBefore + padAfter - dilation * (kernel - 1) - 1;
  if (!ceilMode) return Math.floor(span / stride) + 1;
  let out = Math.ceil(span / stride) + 1;
  if ((out - 1) * stride >= size + padBefore) out--;
  return out;
};

/** The image-side size a transposed convolution produces along one dim. */
export const convTransposeOutSize = (size: number, padBefore: number, padAfter: number, kernel: number, stride: number, dilation: number, outputPadding: number): number =>
  (size - 1) * stride - padBefore - padAfter + dilation * (kernel - 1) + outputPadding + 1;

const concrete = (shape: Shape): number[] | undefined => (shape.every((d): d is number => typeof d === "number") ? (shape as number[]) : undefined);

const allPositiveInts = (values: readonly number[]): boolean => values.every((v) => Number.isInteger(v) && v >= 1);

/** Checks stride/dilation/groups (positive integers) and padding (integers; non-negative unless `allowNegative`). */
const checkConvAttrs = (attrs: Conv2dAttrs): string | undefined => {
  if (attrs.stride.length !== 2 || !allPositiveInts(attrs.stride)) return `stride must be two positive integers, got [${attrs.stride.join(",")}]`;
  if (attrs.dilation.length !== 2 || !allPositiveInts(attrs.dilation)) return `dilation must be two positive integers, got [${attrs.dilation.join(",")}]`;
  if (!Number.isInteger(attrs.groups) || attrs.groups < 1) return `groups must be a positive integer, got ${attrs.groups}`;
  if (attrs.padding.length !== 4 || !attrs.padding.every(Number.isInteger)) return `padding must be integers [top, bottom, left, right], got [${attrs.padding.join(",")}]`;
  return undefined;
};

/** The rank-4 float checks shared by the rows: returns the concrete [C, H, W] of a batched NCHW tensor. */
const nchw = (type: TensorType, what: string): E.Either<string, { readonly batch: Dim; readonly c: number; readonly h: number; readonly w: number }> => {
  if (type.shape.length !== 4) return E.left(`${what} must be 4-D [batch, channels, height, width], got ${formatType(type)}`);
  if (!isFloat(type.dtype)) return E.left(`${what} must be float (f32 or f64), got ${formatType(type)}`);
  const [batch, c, h, w] = type.shape as [Dim, Dim, Dim, Dim];
  if (typeof c !== "number" || typeof h !== "number" || typeof w !== "number")
    return E.left(`${what} ${formatType(type)} needs concrete channel, height and width dims (only the batch may be named)`);
  return E.right({ batch, c, h, w });
};

const sameDtype = (types: readonly TensorType[]): string | undefined => {
  const first = types[0];
  const other = types.find((t) => t.dtype !== first?.dtype);
  return first !== undefined && other !== undefined ? `dtype mismatch: ${formatType(first)} and ${formatType(other)} (insert a cast)` : undefined;
};

const paddedTooSmall = (what: string, h: number, w: number, attrs: Conv2dAttrs, kh: number, kw: number, input: TensorType): string | undefined => {
  const [pt, pb, pl, pr] = attrs.padding;
  const [dh, dw] = attrs.dilation;
  const effH = dh * (kh - 1) + 1;
  const effW = dw * (kw - 1) + 1;
  const ph = h + pt + pb;
  const pw = w + pl + pr;
  if (effH <= ph && effW <= pw) return undefined;
  const dilated = dh === 1 && dw === 1 ? "" : ` (dilated ${effH}×${effW})`;
  return `${what} ${kh}×${kw}${dilated} is larger than the padded input ${ph}×${pw} (input ${formatType(input)}, padding [${attrs.padding.join(",")}])`;
};

const checkBias = (bias: TensorType | undefined, channels: number): string | undefined =>
  bias === undefined || (bias.shape.length === 1 && bias.shape[0] === channels) ? undefined : `bias must be [${channels}] (one per output channel), got ${formatType(bias)}`;

interface ConvTypes {
  readonly out: TensorType;
  readonly geometry: (n: number) => ConvGeometry;
}

/** The operands of conv2d / conv_transpose2d, checked: x and weight 4-D floats of one dtype (with the bias), the weight's first dim concrete. */
interface ConvOperands {
  readonly x: TensorType;
  readonly weight: TensorType;
  readonly bias: TensorType | undefined;
  readonly xs: { readonly batch: Dim; readonly c: number; readonly h: number; readonly w: number };
  /** The weight's dims 1–3 (channels per group, kh, kw). */
  readonly ws: { readonly c: number; readonly h: number; readonly w: number };
  /** The weight's dim 0. */
  readonly lead: number;
}

/** Checks shared by the conv rows, in order; `attrsBad` adds the row's own attribute check. */
const convOperands = (inputs: readonly TensorType[], attrs: Conv2dAttrs, weightLayout: string, attrsBad?: string): E.Either<string, ConvOperands> => {
  const [x, weight, bias] = inputs;
  if (x === undefined || weight === undefined) return E.left("missing input");
  const bad = checkConvAttrs(attrs) ?? attrsBad;
  if (bad !== undefined) return E.left(bad);
  const xs = nchw(x, "input");
  if (E.isLeft(xs)) return xs;
  const ws = nchw(weight, "weight");
  if (E.isLeft(ws)) return E.left(ws.left.replace("[batch, channels, height, width]", weightLayout));
  const lead = weight.shape[0];
  if (typeof lead !== "number") return E.left(`weight ${formatType(weight)} needs concrete dims`);
  const mismatch = sameDtype(bias === undefined ? [x, weight] : [x, weight, bias]);
  if (mismatch !== undefined) return E.left(mismatch);
  return E.right({ x, weight, bias, xs: xs.right, ws: ws.right, lead });
};

const inferConv2d = (inputs: readonly TensorType[], attrs: Conv2dAttrs): E.Either<string, ConvTypes> => {
  const operands = convOperands(inputs, attrs, "[out_channels, in_channels/groups, kh, kw]");
  if (E.isLeft(operands)) return operands;
  const { x, weight, bias, xs, lead: co } = operands.right;
  const { c, h, w } = xs;
  const { c: perGroup, h: kh, w: kw } = operands.right.ws;
  const g = attrs.groups;
  if (c % g !== 0) return E.left(`groups ${g} must divide the input's ${c} channels (input ${formatType(x)})`);
  if (co % g !== 0) return E.left(`groups ${g} must divide the weight's ${co} output channels (weight ${formatType(weight)})`);
  if (perGroup * g !== c)
    return E.left(`input has ${c} channels, weight expects ${perGroup * g}${g === 1 ? "" : ` (${perGroup} per group × ${g} groups)`} (weight ${formatType(weight)})`);
  const small = paddedTooSmall("kernel", h, w, attrs, kh, kw, x);
  if (small !== undefined) return E.left(small);
  const biasBad = checkBias(bias, co);
  if (biasBad !== undefined) return E.left(biasBad);
  const [pt, pb, pl, pr] = attrs.padding;
  const ho = convOutSize(h, pt, pb, kh, attrs.stride[0], attrs.dilation[0]);
  const wo = convOutSize(w, pl, pr, kw, attrs.stride[1], attrs.dilation[1]);
  return E.right({
    out: { shape: [xs.batch, co, ho, wo], dtype: x.dtype },
    geometry: (n) => ({ n, ci: c, h, w, co, ho, wo, kh, kw, sh: attrs.stride[0], sw: attrs.stride[1], pt, pl, dh: attrs.dilation[0], dw: attrs.dilation[1], groups: g }),
  });
};

const inferConvTranspose2d = (inputs: readonly TensorType[], attrs: OpAttrs["conv_transpose2d"]): E.Either<string, ConvTypes> => {
  const outputPaddingBad =
    attrs.outputPadding.length !== 2 || !attrs.outputPadding.every((p) => Number.isInteger(p) && p >= 0) ? `outputPadding must be two non-negative integers, got [${attrs.outputPadding.join(",")}]` : undefined;
  const operands = convOperands(inputs, attrs, "[in_channels, out_channels/groups, kh, kw]", outputPaddingBad);
  if (E.isLeft(operands)) return operands;
  const { x, weight, bias, xs, lead: cin } = operands.right;
  const { c, h, w } = xs;
  const g = attrs.groups;
  if (c % g !== 0) return E.left(`groups ${g} must divide the input's ${c} channels (input ${formatType(x)})`);
  if (cin !== c) return E.left(`input has ${c} channels, weight expects ${cin} (weight ${formatType(weight)})`);
  const { c: outPerGroup, h: kh, w: kw } = operands.right.ws;
  const cout = outPerGroup * g;
  const biasBad = checkBias(bias, cout);
  if (biasBad !== undefined) return E.left(biasBad);
  const [pt, pb, pl, pr] = attrs.padding;
  const hy = convTransposeOutSize(h, pt, pb, kh, attrs.stride[0], attrs.dilation[0], attrs.outputPadding[0]);
  const wy = convTransposeOutSize(w, pl, pr, kw, attrs.stride[1], attrs.dilation[1], attrs.outputPadding[1]);
  if (hy < 1 || wy < 1) return E.left(`output size ${hy}×${wy} is not positive (input ${formatType(x)}, padding [${attrs.padding.join(",")}])`);
  return E.right({
    out: { shape: [xs.batch, cout, hy, wy], dtype: x.dtype },
    geometry: (n) => ({ n, ci: cout, h: hy, w: wy, co: c, ho: h, wo: w, kh, kw, sh: attrs.stride[0], sw: attrs.stride[1], pt, pl, dh: attrs.dilation[0], dw: attrs.dilation[1], groups: g }),
  });
};

const inferWeightGrad = (inputs: readonly TensorType[], attrs: OpAttrs["conv2d_weight_grad"]): E.Either<string, ConvTypes> => {
  const [x, dy] = inputs;
  if (x === undefined || dy === undefined) return E.left("missing input");
  const bad = checkConvAttrs(attrs);
  if (bad !== undefined) return E.left(bad);
  const xs = nchw(x, "input");
  if (E.isLeft(xs)) return xs;
  const ds = nchw(dy, "output gradient");
  if (E.isLeft(ds)) return ds;
  const mismatch = sameDtype([x, dy]);
  if (mismatch !== undefined) return E.left(mismatch);
  const [kh, kw] = attrs.kernel;
  const { c, h, w } = xs.right;
  const { c: co, h: ho, w: wo } = ds.right;
  const g = attrs.groups;
  if (c % g !== 0 || co % g !== 0) return E.left(`groups ${g} must divide the input's ${c} and the output's ${co} channels`);
  const [pt, pb, pl, pr] = attrs.padding;
  const eh = convOutSize(h, pt, pb, kh, attrs.stride[0], attrs.dilation[0]);
  const ew = convOutSize(w, pl, pr, kw, attrs.stride[1], attrs.dilation[1]);
  if (eh !== ho || ew !== wo || xs.right.batch !== ds.right.batch)
    return E.left(`output gradient ${formatType(dy)} does not match the convolution of ${formatType(x)} (expected [${String(xs.right.batch)},${co},${eh},${ew}])`);
  return E.right({
    out: { shape: [co, c / g, kh, kw], dtype: x.dtype },
    geometry: (n) => ({ n, ci: c, h, w, co, ho, wo, kh, kw, sh: attrs.stride[0], sw: attrs.stride[1], pt, pl, dh: attrs.dilation[0], dw: attrs.dilation[1], groups: g }),
  });
};

/**
 * Calls f(imageIndex, outputIndex, weightIndex) for every tap of the convolution, in a fixed order;
 * imageIndex is −1 for a tap that reads the zero padding (PyTorch computes those taps: a NaN or
 * infinite weight times the padding is NaN, so is a weight gradient over a non-finite cotangent).
 */
export const forEachConvTap = (g: ConvGeometry, f: (image: number, output: number, weight: number) => void): void => {
  const inPerGroup = g.ci / g.groups;
  const outPerGroup = g.co / g.groups;
  for (let n = 0; n < g.n; n++)
    for (let o = 0; o < g.co; o++) {
      const group = Math.floor(o / outPerGroup);
      for (let cg = 0; cg < inPerGroup; cg++) {
        const c = group * inPerGroup + cg;
        for (let i = 0; i < g.kh; i++)
          for (let j = 0; j < g.kw; j++) {
            const weight = ((o * inPerGroup + cg) * g.kh + i) * g.kw + j;
            for (let oh = 0; oh < g.ho; oh++) {
              const ih = oh * g.sh - g.pt + i * g.dh;
              for (let ow = 0; ow < g.wo; ow++) {
                const iw = ow * g.sw - g.pl + j * g.dw;
                const inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
                f(inside ? ((n * g.ci + c) * g.h + ih) * g.w + iw : -1, ((n * g.co + o) * g.ho + oh) * g.wo + ow, weight);
              }
            }
          }
      }
    }
};

const addBias = (out: Float64Array, bias: Float64Array | undefined, channels: number, plane: number): Float64Array => {
  if (bias !== undefined) for (let at = 0; at < out.length; at++) out[at] = (out[at] as number) + (bias[Math.floor(at / plane) % channels] as number);
  return out;
};

const geometryOf = (types: E.Either<string, ConvTypes>, n: number): ConvGeometry => {
  if (E.isLeft(types)) throw new Error(`internal: ${types.left}`);
  return types.right.geometry(n);
};

const typeOf = (array: { readonly shape: readonly number[]; readonly dtype: TensorType["dtype"] }): TensorType => ({ shape: array.shape, dtype: array.dtype });

// ----- pooling ------------------------------------------------------------------------------

/** A pooling window's geometry on a [n·c, h, w] stack of planes. */
export interface PoolGeometry {
  readonly planes: number;
  readonly h: number;
  readonly w: number;
  readonly ho: number;
  readonly wo: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
  readonly dh: number;
  readonly dw: number;
}

const inferPool = (x: TensorType | undefined, attrs: Pool2dAttrs): E.Either<string, { readonly out: TensorType; readonly geometry: (n: number) => PoolGeometry }> => {
  if (x === undefined) return E.left("missing input");
  const { kernel, stride, padding, dilation } = attrs;
  if (kernel.length !== 2 || !allPositiveInts(kernel)) return E.left(`kernel size must be two positive integers, got [${kernel.join(",")}]`);
  if (stride.length !== 2 || !allPositiveInts(stride)) return E.left(`stride must be two positive integers, got [${stride.join(",")}]`);
  if (dilation.length !== 2 || !allPositiveInts(dilation)) return E.left(`dilation must be two positive integers, got [${dilation.join(",")}]`);
  if (padding.length !== 2 || !padding.every((p) => Number.isInteger(p) && p >= 0)) return E.left(`padding must be two non-negative integers, got [${padding.join(",")}]`);
  const xs = nchw(x, "input");
  if (E.isLeft(xs)) return xs;
  const [kh, kw] = kernel;
  const [dh, dw] = dilation;
  const [ph, pw] = padding;
  if (2 * ph > dh * (kh - 1) + 1 || 2 * pw > dw * (kw - 1) + 1)
    return E.left(`padding [${padding.join(",")}] must be at most half of the effective kernel size ${dh * (kh - 1) + 1}×${dw * (kw - 1) + 1}`);
  const { c, h, w } = xs.right;
  const small = paddedTooSmall("kernel", h, w, { stride, padding: [ph, ph, pw, pw], dilation, groups: 1 }, kh, kw, x);
  if (small !== undefined) return E.left(small);
  const ho = convOutSize(h, ph, ph, kh, stride[0], dh, attrs.ceilMode);
  const wo = convOutSize(w, pw, pw, kw, stride[1], dw, attrs.ceilMode);
  return E.right({
    out: { shape: [xs.right.batch, c, ho, wo], dtype: x.dtype },
    geometry: (n) => ({ planes: n * c, h, w, ho, wo, kh, kw, sh: stride[0], sw: stride[1], ph, pw, dh, dw }),
  });
};

/** The flat input index of every tap of window (plane, oh, ow) inside the input, in window order. */
export const forEachWindow = (g: PoolGeometry, f: (window: number, taps: readonly number[]) => void): void => {
  const taps: number[] = [];
  for (let p = 0; p < g.planes; p++)
    for (let oh = 0; oh < g.ho; oh++)
      for (let ow = 0; ow < g.wo; ow++) {
        taps.length = 0;
        for (let i = 0; i < g.kh; i++) {
          const ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          for (let j = 0; j < g.kw; j++) {
            const iw = ow * g.sw - g.pw + j * g.dw;
            if (iw >= 0 && iw < g.w) taps.push((p * g.h + ih) * g.w + iw);
          }
        }
        f((p * g.ho + oh) * g.wo + ow, taps);
      }
};

/** The first maximum of a window (NaN wins, as in PyTorch), or -1 for an empty window. */
export const windowArgmax = (data: ArrayLike<number>, taps: readonly number[]): number => {
  let best = -1;
  let value = -Infinity;
  for (const t of taps) {
    const v = data[t] as number;
    if (best < 0 || v > value || (Number.isNaN(v) && !Number.isNaN(value))) {
      best = t;
      value = v;
    }
  }
  return best;
};

/** avg_pool2d's divisor per output position [ho·wo] (PyTorch: with countIncludePad, the window clipped to the padded input). */
export const avgPoolDivisors = (g: PoolGeometry, countIncludePad: boolean): number[] => {
  const out: number[] = [];
  for (let oh = 0; oh < g.ho; oh++)
    for (let ow = 0; ow < g.wo; ow++) {
      const h0 = oh * g.sh - g.ph;
      const w0 = ow * g.sw - g.pw;
      const h1 = Math.min(h0 + g.kh, g.h + g.ph);
      const w1 = Math.min(w0 + g.kw, g.w + g.pw);
      out.push(countIncludePad ? (h1 - h0) * (w1 - w0) : (Math.min(h1, g.h) - Math.max(h0, 0)) * (Math.min(w1, g.w) - Math.max(w0, 0)));
    }
  return out;
};

const poolGeometry = (x: { readonly shape: readonly number[]; readonly dtype: TensorType["dtype"] }, attrs: Pool2dAttrs): PoolGeometry => {
  const types = inferPool(typeOf(x), attrs);
  if (E.isLeft(types)) throw new Error(`internal: ${types.left}`);
  return types.right.geometry(x.shape[0] ?? 0);
};

/** Padding for a transposed convolution that maps `from` back to exactly `to` (bottom/right padding absorbs the rest). */
const backPadding = (to: number, from: number, before: number, kernel: number, stride: number, dilation: number): number =>
  (from - 1) * stride - before + dilation * (kernel - 1) + 1 - to;

/** The concrete dims of a tensor in a gradient rule (its type is known there). */
const dimsOf = (t: Tensor): number[] => concrete(t.shape) ?? t.shape.map((d) => (typeof d === "number" ? d : 0));

// ----- rows ---------------------------------------------------------------------------------

type ConvRows = {
  readonly [K in "conv2d" | "conv_transpose2d" | "conv2d_weight_grad" | "conv1d" | "max_pool2d" | "max_pool2d_backward" | "avg_pool2d" | "adaptive_avg_pool2d" | "max_pool1d" | "avg_pool1d"]: OpDef<K>;
};

const convBackward = (attrs: Conv2dAttrs): Conv2dAttrs => ({ stride: attrs.stride, padding: attrs.padding, dilation: attrs.dilation, groups: attrs.groups });

export const convOps: ConvRows = {
  conv2d: {
    kind: "conv",
    arity: [2, 3],
    infer: (inputs, attrs) => E.map((t: ConvTypes) => t.out)(inferConv2d(inputs, attrs)),
    evaluate: ([x, weight, bias], attrs, out) => {
      const result = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      if (x === undefined || weight === undefined) return result;
      const g = geometryOf(inferConv2d([typeOf(x), typeOf(weight)], attrs), x.shape[0] ?? 0);
      forEachConvTap(g, (image, output, w) => (result[output] = (result[output] as number) + (image < 0 ? 0 : (x.data[image] as number)) * (weight.data[w] as number)));
      return addBias(result, bias?.data, g.co, g.ho * g.wo);
    },
    gradient: {
      rule: ({ inputs: [x, weight, bias], grad, attrs }) => {
        if (x === undefined || weight === undefined) return [];
        const [, , h, w] = dimsOf(x);
        const [, , kh, kw] = dimsOf(weight);
        const [, , ho, wo] = dimsOf(grad);
        const [pt, pb, pl, pr] = attrs.padding;
        // the transposed convolution back to h×w: output padding covers rows the forward never read
        const outputPadding: [number, number] = [
          (h ?? 0) - convTransposeOutSize(ho ?? 0, pt, pb, kh ?? 0, attrs.stride[0], attrs.dilation[0], 0),
          (w ?? 0) - convTransposeOutSize(wo ?? 0, pl, pr, kw ?? 0, attrs.stride[1], attrs.dilation[1], 0),
        ];
        return [
          convTranspose2dRaw(grad, weight, undefined, { ...convBackward(attrs), outputPadding }),
          conv2dWeightGradRaw(x, grad, { ...convBackward(attrs), kernel: [kh ?? 0, kw ?? 0] }),
          bias === undefined ? undefined : sum(grad, [0, 2, 3]),
        ];
      },
    },
    formatAttrs: (a) => `stride=[${a.stride.join(",")}], padding=[${a.padding.join(",")}], dilation=[${a.dilation.join(",")}], groups=${a.groups}`,
  },
  conv_transpose2d: {
    kind: "conv",
    arity: [2, 3],
    infer: (inputs, attrs) => E.map((t: ConvTypes) => t.out)(inferConvTranspose2d(inputs, attrs)),
    evaluate: ([x, weight, bias], attrs, out) => {
      const result = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      if (x === undefined || weight === undefined) return result;
      const g = geometryOf(inferConvTranspose2d([typeOf(x), typeOf(weight)], attrs), x.shape[0] ?? 0);
      // taps into the padding have nowhere to go (PyTorch's col2im drops them too)
      forEachConvTap(g, (image, output, w) => {
        if (image >= 0) result[image] = (result[image] as number) + (x.data[output] as number) * (weight.data[w] as number);
      });
      return addBias(result, bias?.data, g.ci, g.h * g.w);
    },
    gradient: {
      rule: ({ inputs: [x, weight, bias], grad, attrs }) => {
        if (x === undefined || weight === undefined) return [];
        const [, , kh, kw] = dimsOf(weight);
        const backward = convBackward(attrs);
        // the forward is conv2d's input gradient: its adjoint is conv2d, its weight gradient conv2d's with the roles swapped
        // padding that makes the conv land on x's size exactly (output padding is dropped again)
        const [pt, pb, pl, pr] = attrs.padding;
        const [oph, opw] = attrs.outputPadding;
        const padding: [number, number, number, number] = [pt, pb - oph + (oph % attrs.stride[0]), pl, pr - opw + (opw % attrs.stride[1])];
        const geometry = { ...backward, padding };
        return [conv2dRaw(grad, weight, undefined, geometry), conv2dWeightGradRaw(grad, x, { ...geometry, kernel: [kh ?? 0, kw ?? 0] }), bias === undefined ? undefined : sum(grad, [0, 2, 3])];
      },
    },
    formatAttrs: (a) => `stride=[${a.stride.join(",")}], padding=[${a.padding.join(",")}], outputPadding=[${a.outputPadding.join(",")}], dilation=[${a.dilation.join(",")}], groups=${a.groups}`,
  },
  conv2d_weight_grad: {
    kind: "conv",
    arity: [2, 2],
    infer: (inputs, attrs) => E.map((t: ConvTypes) => t.out)(inferWeightGrad(inputs, attrs)),
    evaluate: ([x, dy], attrs, out) => {
      const result = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      if (x === undefined || dy === undefined) return result;
      const g = geometryOf(inferWeightGrad([typeOf(x), typeOf(dy)], attrs), x.shape[0] ?? 0);
      forEachConvTap(g, (image, output, w) => (result[w] = (result[w] as number) + (image < 0 ? 0 : (x.data[image] as number)) * (dy.data[output] as number)));
      return result;
    },
    gradient: { none: "conv2d_weight_grad is a gradient: second derivatives of convolutions are not supported" },
  },
  conv1d: {
    kind: "conv",
    arity: [2, 3],
    infer: ([x, weight, bias], attrs) => {
      if (x === undefined || weight === undefined) return E.left("missing input");
      if (x.shape.length !== 3) return E.left(`input must be 3-D [batch, channels, length], got ${formatType(x)}`);
      if (weight.shape.length !== 3) return E.left(`weight must be 3-D [out_channels, in_channels/groups, kernel], got ${formatType(weight)}`);
      const lifted = inferConv2d([lift(x), lift(weight), ...(bias === undefined ? [] : [bias])], conv1dAs2d(attrs));
      if (E.isLeft(lifted)) return E.left(lifted.left.split(formatType(lift(weight))).join(formatType(weight)).split(formatType(lift(x))).join(formatType(x)).replace(/1×(\d+)/g, "$1").replace(/padding \[0,0,(\d+),(\d+)\]/, "padding [$1,$2]"));
      const [batch, co, , wo] = lifted.right.out.shape as [Dim, Dim, Dim, Dim];
      return ok([batch, co, wo], x.dtype);
    },
    evaluate: ([x, weight, bias], attrs, out) => {
      if (x === undefined || weight === undefined) return new Float64Array(0);
      const lift1 = (a: { readonly shape: readonly number[]; readonly dtype: TensorType["dtype"]; readonly data: Float64Array }) => ({ ...a, shape: [a.shape[0] ?? 1, a.shape[1] ?? 1, 1, a.shape[2] ?? 1] });
      const [batch, co, wo] = out.shape as [number, number, number];
      return convOps.conv2d.evaluate([lift1(x), lift1(weight), ...(bias === undefined ? [] : [bias])], conv1dAs2d(attrs), { shape: [batch, co, 1, wo], dtype: out.dtype });
    },
    decompose: ([x, weight, bias], attrs) => {
      if (x === undefined || weight === undefined) throw new Error("internal: conv1d without inputs");
      const [batch, c, length] = x.shape as [Dim, Dim, Dim];
      const [o, cg, k] = weight.shape as [Dim, Dim, Dim];
      const y = conv2dRaw(reshape(x, [batch, c, 1, length]), reshape(weight, [o, cg, 1, k]), bias, conv1dAs2d(attrs));
      const [yb, yc, , yw] = y.shape as [Dim, Dim, Dim, Dim];
      return reshape(y, [yb, yc, yw]);
    },
    gradient: { fromDecomposition: true },
    formatAttrs: (a) => `stride=${a.stride}, padding=[${a.padding.join(",")}], dilation=${a.dilation}, groups=${a.groups}`,
  },
  max_pool2d: {
    kind: "conv",
    arity: [1, 1],
    infer: ([x], attrs) => E.map((t: { readonly out: TensorType }) => t.out)(inferPool(x, attrs)),
    evaluate: ([x], attrs, out) => {
      const result = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      if (x === undefined) return result;
      forEachWindow(poolGeometry(x, attrs), (window, taps) => {
        const best = windowArgmax(x.data, taps);
        result[window] = best < 0 ? -Infinity : (x.data[best] as number);
      });
      return result;
    },
    gradient: { rule: ({ inputs: [x], grad, attrs }) => [x && maxPool2dBackwardRaw(x, grad, attrs)] },
    formatAttrs: formatPool,
  },
  max_pool2d_backward: {
    kind: "conv",
    arity: [2, 2],
    infer: ([x, dy], attrs) => {
      const pooled = inferPool(x, attrs);
      if (E.isLeft(pooled)) return pooled;
      if (x === undefined || dy === undefined) return E.left("missing input");
      const expected = pooled.right.out;
      if (dy.shape.length !== 4 || !dy.shape.every((d, i) => d === expected.shape[i]) || dy.dtype !== x.dtype)
        return E.left(`output gradient ${formatType(dy)} must be ${formatType(expected)}`);
      return ok(x.shape, x.dtype);
    },
    evaluate: ([x, dy], attrs) => {
      if (x === undefined || dy === undefined) return new Float64Array(0);
      const result = new Float64Array(x.data.length);
      forEachWindow(poolGeometry(x, attrs), (window, taps) => {
        const best = windowArgmax(x.data, taps);
        if (best >= 0) result[best] = (result[best] as number) + (dy.data[window] as number);
      });
      return result;
    },
    gradient: { none: "max_pool2d_backward is a gradient: second derivatives of max pooling are not supported" },
    formatAttrs: formatPool,
  },
  avg_pool2d: {
    kind: "conv",
    arity: [1, 1],
    infer: ([x], attrs) => E.map((t: { readonly out: TensorType }) => t.out)(inferPool(x, attrs)),
    evaluate: ([x], attrs, out) => {
      const result = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      if (x === undefined) return result;
      const g = poolGeometry(x, attrs);
      const divisors = avgPoolDivisors(g, attrs.countIncludePad);
      forEachWindow(g, (window, taps) => {
        const total = taps.reduce((acc, t) => acc + (x.data[t] as number), 0);
        result[window] = total / (divisors[window % (g.ho * g.wo)] as number);
      });
      return result;
    },
    gradient: {
      rule: ({ inputs: [x], grad, attrs }) => {
        if (x === undefined) return [];
        const [n, c, h, w] = dimsOf(x);
        const g = poolGeometry({ shape: [n ?? 0, c ?? 0, h ?? 0, w ?? 0], dtype: "f64" }, attrs);
        const reshaped = mul(grad, reshape(constant(avgPoolDivisors(g, attrs.countIncludePad).map((d) => 1 / d), grad.dtype ?? "f32"), [g.ho, g.wo]));
        const ones = constant(new Array<number>((c ?? 0) * g.kh * g.kw).fill(1), grad.dtype ?? "f32");
        const padding: [number, number, number, number] = [g.ph, backPadding(g.h, g.ho, g.ph, g.kh, g.sh, 1), g.pw, backPadding(g.w, g.wo, g.pw, g.kw, g.sw, 1)];
        return [convTranspose2dRaw(reshaped, reshape(ones, [c ?? 0, 1, g.kh, g.kw]), undefined, { stride: attrs.stride, padding, dilation: [1, 1], groups: c ?? 1, outputPadding: [0, 0] })];
      },
    },
    formatAttrs: (a) => `${formatPool(a)}, countIncludePad=${a.countIncludePad}`,
  },
  adaptive_avg_pool2d: {
    kind: "conv",
    arity: [1, 1],
    infer: ([x], attrs) => {
      if (x === undefined) return E.left("missing input");
      if (attrs.outputSize.length !== 2 || !allPositiveInts(attrs.outputSize)) return E.left(`output size must be two positive integers, got [${attrs.outputSize.join(",")}]`);
      const xs = nchw(x, "input");
      if (E.isLeft(xs)) return xs;
      return ok([xs.right.batch, xs.right.c, attrs.outputSize[0], attrs.outputSize[1]], x.dtype);
    },
    evaluate: ([x], attrs, out) => {
      const result = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      if (x === undefined) return result;
      const [n, c, h, w] = x.shape as [number, number, number, number];
      const matrix = adaptiveMatrix(h, w, attrs.outputSize);
      const cells = attrs.outputSize[0] * attrs.outputSize[1];
      for (let p = 0; p < n * c; p++)
        for (let q = 0; q < cells; q++) {
          let total = 0;
          for (let s = 0; s < h * w; s++) total += (x.data[p * h * w + s] as number) * (matrix[s * cells + q] as number);
          result[p * cells + q] = total;
        }
      return result;
    },
    decompose: ([x], attrs) => {
      if (x === undefined) throw new Error("internal: adaptive_avg_pool2d without input");
      const [batch, c, h, w] = x.shape as [Dim, number, number, number];
      const [oh, ow] = attrs.outputSize;
      const pooling = reshape(constant(adaptiveMatrix(h, w, attrs.outputSize), x.dtype ?? "f32"), [h * w, oh * ow]);
      return reshape(matmul(reshape(x, [batch, c, h * w]), pooling), [batch, c, oh, ow]);
    },
    gradient: { fromDecomposition: true },
  },
  max_pool1d: {
    kind: "conv",
    arity: [1, 1],
    infer: ([x], attrs) => pool1dInfer(x, pool1dAs2d(attrs)),
    evaluate: ([x], attrs, out) => (x === undefined ? new Float64Array(0) : convOps.max_pool2d.evaluate([lift3(x)], pool1dAs2d(attrs), { shape: [out.shape[0] ?? 1, out.shape[1] ?? 1, 1, out.shape[2] ?? 1], dtype: out.dtype })),
    decompose: ([x], attrs) => pool1dDecompose(x, (lifted) => maxPool2dRaw(lifted, pool1dAs2d(attrs))),
    gradient: { fromDecomposition: true },
  },
  avg_pool1d: {
    kind: "conv",
    arity: [1, 1],
    infer: ([x], attrs) => pool1dInfer(x, pool1dAs2d(attrs)),
    evaluate: ([x], attrs, out) =>
      x === undefined ? new Float64Array(0) : convOps.avg_pool2d.evaluate([lift3(x)], { ...pool1dAs2d(attrs), countIncludePad: attrs.countIncludePad }, { shape: [out.shape[0] ?? 1, out.shape[1] ?? 1, 1, out.shape[2] ?? 1], dtype: out.dtype }),
    decompose: ([x], attrs) => pool1dDecompose(x, (lifted) => avgPool2dRaw(lifted, { ...pool1dAs2d(attrs), countIncludePad: attrs.countIncludePad })),
    gradient: { fromDecomposition: true },
  },
};

function formatPool(a: Pool2dAttrs): string {
  return `kernel=[${a.kernel.join(",")}], stride=[${a.stride.join(",")}], padding=[${a.padding.join(",")}], dilation=[${a.dilation.join(",")}], ceilMode=${a.ceilMode}`;
}

function lift(type: TensorType): TensorType {
  const [a, b, c] = type.shape as [Dim, Dim, Dim];
  return { shape: [a, b, 1, c], dtype: type.dtype };
}

function lift3<A extends { readonly shape: readonly number[] }>(a: A): A {
  return { ...a, shape: [a.shape[0] ?? 1, a.shape[1] ?? 1, 1, a.shape[2] ?? 1] };
}

function conv1dAs2d(attrs: OpAttrs["conv1d"]): Conv2dAttrs {
  return { stride: [1, attrs.stride], padding: [0, 0, attrs.padding[0], attrs.padding[1]], dilation: [1, attrs.dilation], groups: attrs.groups };
}

function pool1dAs2d(attrs: OpAttrs["max_pool1d"]): Pool2dAttrs {
  return { kernel: [1, attrs.kernel], stride: [1, attrs.stride], padding: [0, attrs.padding], dilation: [1, attrs.dilation], ceilMode: attrs.ceilMode };
}

function pool1dInfer(x: TensorType | undefined, attrs: Pool2dAttrs): E.Either<string, TensorType> {
  if (x === undefined) return E.left("missing input");
  if (x.shape.length !== 3) return E.left(`input must be 3-D [batch, channels, length], got ${formatType(x)}`);
  const pooled = inferPool(lift(x), attrs);
  if (E.isLeft(pooled)) return E.left(pooled.left.split(formatType(lift(x))).join(formatType(x)).replace(/padding \[0,0,(\d+),\d+\]/, "padding $1").replace(/\[0,(\d+)\]/g, "$1").replace(/1×(\d+)/g, "$1"));
  const [batch, c, , wo] = pooled.right.out.shape as [Dim, Dim, Dim, Dim];
  return ok([batch, c, wo], x.dtype);
}

function pool1dDecompose(x: Tensor | undefined, pool: (lifted: Tensor) => Tensor): Tensor {
  if (x === undefined) throw new Error("internal: pool1d without input");
  const [batch, c, length] = x.shape as [Dim, Dim, Dim];
  const y = pool(reshape(x, [batch, c, 1, length]));
  const [yb, yc, , yw] = y.shape as [Dim, Dim, Dim, Dim];
  return reshape(y, [yb, yc, yw]);
}

/** PyTorch's adaptive windows: cell i covers [⌊i·size/out⌋, ⌈(i+1)·size/out⌉); the matrix [h·w, oh·ow] averages each. */
export function adaptiveMatrix(h: number, w: number, outputSize: readonly [number, number]): number[] {
  const [oh, ow] = outputSize;
  const cells = oh * ow;
  const matrix = new Array<number>(h * w * cells).fill(0);
  for (let i = 0; i < oh; i++) {
    const h0 = Math.floor((i * h) / oh);
    const h1 = Math.ceil(((i + 1) * h) / oh);
    for (let j = 0; j < ow; j++) {
      const w0 = Math.floor((j * w) / ow);
      const w1 = Math.ceil(((j + 1) * w) / ow);
      const share = 1 / ((h1 - h0) * (w1 - w0));
      for (let r = h0; r < h1; r++) for (let s = w0; s < w1; s++) matrix[(r * w + s) * cells + i * ow + j] = share;
    }
  }
  return matrix;
}

