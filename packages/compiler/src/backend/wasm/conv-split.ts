/**
 * @file Convolution and pooling kernels on two threads (a module with `CodegenContext.threads`):
 * the main thread computes the first half of the images (convolution forward and transposed,
 * direct depthwise included) or of the planes (pooling), the helper worker the rest, through view
 * buffers that start at its first image / plane (as `splitMap` does for elementwise kernels).
 * Each image and plane is computed by the same instructions as on one thread, so results are
 * bit-identical. The worker packs GEMM operands in its own scratch area and keeps its im2col
 * matrix after them (the split is skipped when both do not fit there). A weight gradient sums
 * over the batch, so it splits its transposed rows instead (`splitWeightGrad`): each thread takes
 * the rows of some input channels for every image, summed in the same order as on one thread.
 */
import type { BufferId, Kernel } from "../kernels.js";
import { addrOf, type CodegenContext } from "./context.js";
import { directDepthwise } from "./depthwise.js";
import { gemmScratchBytes, planGemm, type GemmSpec } from "./gemm-plan.js";
import { splitRow } from "./matmul.js";

type ConvKernel = Extract<Kernel, { kind: "conv" }>;
type PoolKernel = Extract<Kernel, { kind: "pool" }>;

/** The two halves of a split kernel and the layout the second half reads through. */
export interface KernelSplit<K> {
  readonly first: K;
  readonly second: K;
  readonly secondCtx: CodegenContext;
}

/** Adds view buffers (each `[buffer, element offset from it, size]`, or an absolute byte address) to a layout. */
const withViews = (ctx: CodegenContext, views: ReadonlyArray<{ readonly of: BufferId; readonly shift: number; readonly size: number } | { readonly at: number; readonly size: number }>): { readonly ctx: CodegenContext; readonly ids: readonly BufferId[] } => {
  const offsets = [...ctx.offsets];
  const buffers = [...ctx.buffers];
  const ids = views.map((view) => {
    const id = Math.max(buffers.length, offsets.length);
    if ("of" in view) {
      const info = ctx.buffers[view.of];
      offsets[id] = (ctx.offsets[view.of] ?? 0) + view.shift;
      buffers[id] = { id, kind: info?.kind ?? "temp", dtype: info?.dtype ?? "f32", size: view.size };
    } else {
      // an address outside the arena (the worker's scratch area): element offset from the arena base
      offsets[id] = (view.at - ctx.base) / 4;
      buffers[id] = { id, kind: "temp", dtype: "f32", size: view.size };
    }
    return id;
  });
  return { ctx: { ...ctx, offsets, buffers }, ids };
};

/** Pooling split by planes: the worker takes planes [half, planes). Undefined below `minMapElements` input elements or with one plane. */
export const splitPool = (ctx: CodegenContext, kernel: PoolKernel): KernelSplit<PoolKernel> | undefined => {
  const threads = ctx.threads;
  const g = kernel.geometry;
  const half = Math.floor(g.planes / 2);
  if (threads === undefined || half === 0 || g.planes * g.h * g.w < threads.minMapElements) return undefined;
  const rest = g.planes - half;
  const outPlane = kernel.op === "max_backward" ? g.h * g.w : g.ho * g.wo;
  const views = [
    { of: kernel.x, shift: half * g.h * g.w, size: rest * g.h * g.w },
    { of: kernel.out, shift: half * outPlane, size: rest * outPlane },
    ...(kernel.grad === undefined ? [] : [{ of: kernel.grad, shift: half * g.ho * g.wo, size: rest * g.ho * g.wo }]),
  ];
  const { ctx: secondCtx, ids } = withViews(ctx, views);
  const [x = kernel.x, out = kernel.out, grad] = ids;
  return {
    first: { ...kernel, geometry: { ...g, planes: half } },
    second: { ...kernel, x, out, grad: kernel.grad === undefined ? undefined : grad, geometry: { ...g, planes: rest } },
    secondCtx,
  };
};

const F32 = 4;
const ALIGN = 64;

/**
 * Convolution (forward, transposed) split by images: the worker takes images [half, n). Undefined
 * for weight gradients, one image, fewer than `minFlops`, or when the worker's im2col matrix does
 * not fit its scratch area after its GEMM packing.
 */
export const splitConv = (ctx: CodegenContext, kernel: ConvKernel, gemm: GemmSpec | undefined): KernelSplit<ConvKernel> | undefined => {
  const threads = ctx.threads;
  const g = kernel.geometry;
  const half = Math.floor(g.n / 2);
  const K = (g.ci / g.groups) * g.kh * g.kw;
  const P = g.ho * g.wo;
  if (threads === undefined || kernel.mode === "weight_grad" || half === 0 || 2 * g.n * g.co * P * K < threads.minFlops) return undefined;
  const depthwise = directDepthwise(kernel);
  const colBytes = kernel.col === undefined || depthwise ? 0 : K * P * F32;
  let packing = 0;
  if (gemm !== undefined && !depthwise) {
    try {
      packing = Math.ceil(gemmScratchBytes(gemm) / ALIGN) * ALIGN;
    } catch {
      return undefined;
    }
  }
  if (packing + colBytes > ctx.scratchBytes) return undefined;
  const rest = g.n - half;
  // the image side is [n, ci, h, w], the output side [n, co, ho, wo]; `a` and `out` swap sides when transposed
  const imageSize = g.ci * g.h * g.w;
  const outputSize = g.co * P;
  const [aSize, outSize] = kernel.mode === "forward" ? [imageSize, outputSize] : [outputSize, imageSize];
  const { ctx: viewCtx, ids } = withViews(ctx, [
    { of: kernel.a, shift: half * aSize, size: rest * aSize },
    { of: kernel.out, shift: half * outSize, size: rest * outSize },
    ...(colBytes > 0 ? [{ at: threads.scratch + packing, size: K * P }] : []),
  ]);
  const [a = kernel.a, out = kernel.out, col] = ids;
  const secondCtx: CodegenContext = { ...viewCtx, scratch: threads.scratch };
  if (addrOf(secondCtx, col) < 0) return undefined;
  return {
    first: { ...kernel, geometry: { ...g, n: half } },
    second: { ...kernel, a, out, col: colBytes > 0 ? col : kernel.col, geometry: { ...g, n: rest } },
    secondCtx,
  };
};

/**
 * A transposed weight gradient (conv.ts `weightGradParts`) split by input channels: the main
 * thread takes channels [0, channels), the worker the rest, its im2col rows at `col` (after its
 * GEMM packing, in its scratch area). The split row `channels·kh·kw` is a multiple of the GEMM's
 * register-tile height. Undefined when the GEMM is not the packed one, below `minFlops`, with
 * no such split, or when the worker's rows do not fit its scratch area.
 */
export const splitWeightGrad = (ctx: CodegenContext, kernel: ConvKernel, parts: { readonly spec: GemmSpec; readonly mr: number }): { readonly channels: number; readonly col: number } | undefined => {
  const threads = ctx.threads;
  const g = kernel.geometry;
  const cg = g.ci / g.groups;
  const taps = g.kh * g.kw;
  const P = g.ho * g.wo;
  if (threads === undefined || cg < 2 || 2 * g.n * g.co * P * cg * taps < threads.minFlops) return undefined;
  let packing: number;
  try {
    if (planGemm(parts.spec).strategy !== "packed") return undefined;
    packing = Math.ceil(gemmScratchBytes(parts.spec) / ALIGN) * ALIGN;
  } catch {
    return undefined;
  }
  // the split nearest the middle whose row is on a tile boundary
  const candidates = Array.from({ length: cg - 1 }, (_, i) => i + 1).filter((c) => (c * taps) % parts.mr === 0);
  const channels = candidates.sort((x, y) => Math.abs(2 * x - cg) - Math.abs(2 * y - cg) || x - y)[0];
  if (channels === undefined) return undefined;
  const colBytes = kernel.col === undefined ? 0 : (cg - channels) * taps * P * F32;
  if (packing + colBytes > ctx.scratchBytes) return undefined;
  return { channels, col: threads.scratch + packing };
};

/**
 * A forward or transposed convolution that `splitConv` cannot split by images (its im2col matrix
 * does not fit the worker's scratch area, or one image) shares each image's GEMM rows instead
 * (conv.ts `ConvRowSplit`): rows [rows, m) go to the worker, on a register-tile boundary (as
 * matmul.ts splits), the operand addresses passed in three i32 slots after its GEMM packing.
 * Costs one hand-off per image and group, so only above `minFlops` per image.
 */
export const splitConvRows = (ctx: CodegenContext, kernel: ConvKernel, gemm: GemmSpec | undefined): { readonly rows: number; readonly slot: number } | undefined => {
  const threads = ctx.threads;
  if (threads === undefined || gemm === undefined || kernel.mode === "weight_grad" || directDepthwise(kernel)) return undefined;
  if (2 * gemm.m * gemm.n * gemm.k < threads.minFlops) return undefined;
  let packing: number;
  let mr: number;
  try {
    packing = Math.ceil(gemmScratchBytes(gemm) / ALIGN) * ALIGN;
    mr = planGemm(gemm).mr;
  } catch {
    return undefined;
  }
  const rows = splitRow(gemm.m, mr);
  if (rows <= 0 || rows >= gemm.m || packing + 3 * F32 > ctx.scratchBytes) return undefined;
  return { rows, slot: threads.scratch + packing };
};
