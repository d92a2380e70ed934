/**
 * @file Gradient cases of the convolution and pooling rows for grad-ops.test.ts: random small
 * geometries (stride, per-side padding, dilation, groups incl. depthwise, ceil mode) in float64.
 */
import fc from "fast-check";
import * as C from "@graft/core";
import type { NDArray, OpName, Tensor } from "@graft/core";

type Feeds = Record<string, NDArray>;
export interface ConvRuleCase {
  readonly arb: fc.Arbitrary<{ readonly feeds: Feeds; readonly build: (t: Readonly<Record<string, Tensor>>) => Tensor; readonly wrt?: readonly string[] }>;
}

const f64 = (shape: readonly number[], data: readonly number[]): NDArray => ({ shape: [...shape], dtype: "f64", data: Float64Array.from(data) });
const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
const smooth = (shape: readonly number[]): fc.Arbitrary<NDArray> =>
  fc.array(fc.double({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }), { minLength: size(shape), maxLength: size(shape) }).map((d) => f64(shape, d));
/** Distinct values 1/8 apart (no ties inside a pooling window). */
const distinct = (shape: readonly number[]): fc.Arbitrary<NDArray> =>
  fc.uniqueArray(fc.integer({ min: -200, max: 200 }), { minLength: size(shape), maxLength: size(shape) }).map((ks) => f64(shape, ks.map((k) => k / 8 + 1 / 16)));
const get = (t: Readonly<Record<string, Tensor>>, name: string): Tensor => {
  const tensor = t[name];
  if (tensor === undefined) throw new Error(`no input ${name}`);
  return tensor;
};

export interface ConvShape {
  readonly n: number;
  readonly groups: number;
  readonly cg: number;
  readonly og: number;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly dilation: [number, number];
  readonly padding: [number, number, number, number];
  readonly h: number;
  readonly w: number;
}

/**
 * The fields of a random conv geometry but its input size (for `fc.record`): 1–2 images and
 * groups, 1–3 kernel taps, stride and dilation 1–2, padding 0–2 a side, input channels per group
 * in `cg` and output channels per group in `og` (inclusive ranges).
 */
export const convGeometryFields = (cg: readonly [number, number], og: readonly [number, number]) => ({
  n: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 2 }),
  cg: fc.integer({ min: cg[0], max: cg[1] }),
  og: fc.integer({ min: og[0], max: og[1] }),
  kernel: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
});

/** A random conv geometry whose padded input holds the dilated kernel. */
export const convShape: fc.Arbitrary<ConvShape> = fc
  .record({
    ...convGeometryFields([1, 2], [1, 2]),
    extra: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })),
  })
  .map(({ extra, ...s }) => ({
    ...s,
    h: Math.max(1, s.dilation[0] * (s.kernel[0] - 1) + 1 - s.padding[0] - s.padding[1]) + extra[0],
    w: Math.max(1, s.dilation[1] * (s.kernel[1] - 1) + 1 - s.padding[2] - s.padding[3]) + extra[1],
  }));

const convOptions = (s: ConvShape): C.Conv2dOptions => ({ stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups });

export const poolShape = fc
  .record({
    planes: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    kernel: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    ceilMode: fc.boolean(),
    extra: fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 })),
    padWish: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })),
  })
  .map(({ extra, padWish, ...s }) => {
    const eff = [s.dilation[0] * (s.kernel[0] - 1) + 1, s.dilation[1] * (s.kernel[1] - 1) + 1] as const;
    const padding: [number, number] = [Math.min(padWish[0], Math.floor(eff[0] / 2)), Math.min(padWish[1], Math.floor(eff[1] / 2))];
    return { ...s, padding, h: eff[0] + extra[0], w: eff[1] + extra[1] };
  });

export const convGradCases: { readonly [K in Extract<OpName, "conv2d" | "conv_transpose2d" | "conv1d" | "max_pool2d" | "avg_pool2d" | "adaptive_avg_pool2d" | "max_pool1d" | "avg_pool1d">]: ConvRuleCase } = {
  conv2d: {
    arb: convShape.chain((s) =>
      fc.record({ x: smooth([s.n, s.groups * s.cg, s.h, s.w]), w: smooth([s.groups * s.og, s.cg, ...s.kernel]), b: smooth([s.groups * s.og]) }).map((feeds) => ({
        feeds,
        build: (t: Readonly<Record<string, Tensor>>) => C.conv2d(get(t, "x"), get(t, "w"), get(t, "b"), convOptions(s)),
      })),
    ),
  },
  conv_transpose2d: {
    arb: convShape.chain((s) => {
      const outputPadding: [number, number] = [s.stride[0] > 1 ? 1 : 0, 0];
      const padding: [number, number] = [Math.min(s.padding[0], s.kernel[0] - 1), Math.min(s.padding[2], s.kernel[1] - 1)];
      return fc.record({ x: smooth([s.n, s.groups * s.cg, s.h, s.w]), w: smooth([s.groups * s.cg, s.og, ...s.kernel]), b: smooth([s.groups * s.og]) }).map((feeds) => ({
        feeds,
        build: (t: Readonly<Record<string, Tensor>>) => C.convTranspose2d(get(t, "x"), get(t, "w"), get(t, "b"), { stride: s.stride, padding, outputPadding, dilation: s.dilation, groups: s.groups }),
      }));
    }),
  },
  conv1d: {
    arb: convShape.chain((s) =>
      fc.record({ x: smooth([s.n, s.groups * s.cg, s.w]), w: smooth([s.groups * s.og, s.cg, s.kernel[1]]) }).map((feeds) => ({
        feeds,
        build: (t: Readonly<Record<string, Tensor>>) => C.conv1d(get(t, "x"), get(t, "w"), undefined, { stride: s.stride[1], padding: [s.padding[2], s.padding[3]], dilation: s.dilation[1], groups: s.groups }),
      })),
    ),
  },
  max_pool2d: {
    arb: poolShape.chain((s) =>
      fc.record({ x: distinct([...s.planes, s.h, s.w]) }).map((feeds) => ({
        feeds,
        build: (t: Readonly<Record<string, Tensor>>) => C.maxPool2d(get(t, "x"), s.kernel, { stride: s.stride, padding: s.padding, dilation: s.dilation, ceilMode: s.ceilMode }),
      })),
    ),
  },
  avg_pool2d: {
    arb: fc.tuple(poolShape, fc.boolean()).chain(([s, countIncludePad]) =>
      fc.record({ x: smooth([...s.planes, s.h, s.w]) }).map((feeds) => ({
        feeds,
        build: (t: Readonly<Record<string, Tensor>>) => C.avgPool2d(get(t, "x"), s.kernel, { stride: s.stride, padding: s.padding, ceilMode: s.ceilMode, countIncludePad }),
      })),
    ),
  },
  adaptive_avg_pool2d: {
    arb: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).chain(([h, w, oh, ow]) =>
      fc.record({ x: smooth([2, 1, h, w]) }).map((feeds) => ({ feeds, build: (t: Readonly<Record<string, Tensor>>) => C.adaptiveAvgPool2d(get(t, "x"), [oh, ow]) })),
    ),
  },
  max_pool1d: {
    arb: poolShape.chain((s) =>
      fc.record({ x: distinct([...s.planes, s.w]) }).map((feeds) => ({
        feeds,
        build: (t: Readonly<Record<string, Tensor>>) => C.maxPool1d(get(t, "x"), s.kernel[1], { stride: s.stride[1], padding: s.padding[1], dilation: s.dilation[1], ceilMode: s.ceilMode }),
      })),
    ),
  },
  avg_pool1d: {
    arb: poolShape.chain((s) =>
      fc.record({ x: smooth([...s.planes, s.w]) }).map((feeds) => ({
        feeds,
        build: (t: Readonly<Record<string, Tensor>>) => C.avgPool1d(get(t, "x"), s.kernel[1], { stride: s.stride[1], padding: s.padding[1], ceilMode: s.ceilMode }),
      })),
    ),
  },
};
