/**
 * @file The normalization and attention row kernels (kernels.ts `layer_norm`,
 * `layer_norm_backward`, `attention_softmax`, `softmax_backward`), mirroring `@graft/runtime`'s
 * kernels-norm.ts: every row is contiguous, so each pass over it is SIMD (4 lanes, unrolled by
 * `ROW_UNROLL`) with a scalar tail — statistics in f32 accumulators per unrolled slot.
 */
import type { Kernel, Rows } from "../kernels.js";
import { addrOf, type CodegenContext } from "./context.js";
import { horizontal } from "./expr.js";
import { expNeg, Lanes } from "./mathlib.js";
import { forRows, ROW_UNROLL, rowPass, RowSum, vty } from "./rows.js";
import { f32c, type FunctionBuilder, get, i32c, ld, st } from "./wat-builder.js";

/** `value` as a splat for vector lanes, itself for scalar ones. */
const splatOf = (b: FunctionBuilder, value: string): ((L: Lanes) => string) => {
  const scalar = b.bind("f32", value, "sv");
  const vector = b.bind("v128", `(f32x4.splat ${scalar})`, "vv");
  return (L) => (L.vector ? vector : scalar);
};

/** Byte offset of element c of a row-wide operand (weight, bias): c·4. */
const elementAt = (c: string): string => `(i32.shl ${c} ${i32c(2)})`;

/**
 * Mean and 1/√(biased variance + eps) of the row at `base` (two SIMD passes), as scalar/splat
 * getters. The first pass sums x − x₀ (x₀ the row's first element), so a row far from 0 (1000 ± 1)
 * keeps its mean to f32 precision of the deviations, not of the values.
 */
const rowMoments = (b: FunctionBuilder, V: Lanes, x: number, rows: Rows, base: string, eps: number): { readonly mean: (L: Lanes) => string; readonly rstd: (L: Lanes) => string } => {
  const first = splatOf(b, ld("f32", x, base));
  const total = new RowSum(b);
  rowPass(b, rows, base, V, (L, at) => total.add(L, L.sub(ld(vty(L), x, at), first(L))));
  const mean = splatOf(b, `(f32.add ${first(new Lanes(false))} (f32.div ${total.total()} ${f32c(rows.size)}))`);
  const squares = new RowSum(b);
  rowPass(b, rows, base, V, (L, at) => {
    const d = b.bind(L.type, L.sub(ld(vty(L), x, at), mean(L)), "d");
    squares.add(L, L.mul(d, d));
  });
  const rstd = splatOf(b, `(f32.div ${f32c(1)} (f32.sqrt (f32.add (f32.div ${squares.total()} ${f32c(rows.size)}) ${f32c(eps)})))`);
  return { mean, rstd };
};

const contiguousRows = (rows: number, size: number): Rows => ({ outer: rows, size, inner: 1 });

export const layerNormKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "layer_norm" }>, b: FunctionBuilder): void => {
  const rows = contiguousRows(kernel.rows, kernel.size);
  if (rows.size === 0) return;
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const weight = kernel.weight === undefined ? undefined : addrOf(ctx, kernel.weight);
  const bias = kernel.bias === undefined ? undefined : addrOf(ctx, kernel.bias);
  const V = new Lanes(true, ctx.relaxedSimd);
  forRows(b, rows, (_row, base) => {
    const { mean, rstd } = rowMoments(b, V, x, rows, base, kernel.eps);
    rowPass(b, rows, base, V, (L, at, c) => {
      let v = L.mul(L.sub(ld(vty(L), x, at), mean(L)), rstd(L));
      if (weight !== undefined) v = L.mul(v, ld(vty(L), weight, elementAt(c)));
      if (bias !== undefined) v = L.add(v, ld(vty(L), bias, elementAt(c)));
      b.emit(st(vty(L), out, at, v));
    });
  });
};

export const layerNormBackwardKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "layer_norm_backward" }>, b: FunctionBuilder): void => {
  const rows = contiguousRows(kernel.rows, kernel.size);
  if (rows.size === 0) return;
  const x = addrOf(ctx, kernel.x);
  const grad = addrOf(ctx, kernel.grad);
  const out = addrOf(ctx, kernel.out);
  const weight = kernel.weight === undefined ? undefined : addrOf(ctx, kernel.weight);
  const V = new Lanes(true, ctx.relaxedSimd);
  // ĝ = grad ⊙ weight
  const scaled = (L: Lanes, at: string, c: string): string => (weight === undefined ? ld(vty(L), grad, at) : L.mul(ld(vty(L), grad, at), ld(vty(L), weight, elementAt(c))));
  forRows(b, rows, (_row, base) => {
    const { mean, rstd } = rowMoments(b, V, x, rows, base, kernel.eps);
    const gradTotal = new RowSum(b);
    const projection = new RowSum(b);
    rowPass(b, rows, base, V, (L, at, c) => {
      const g = b.bind(L.type, scaled(L, at, c), "g");
      gradTotal.add(L, g);
      projection.add(L, L.mul(g, L.sub(ld(vty(L), x, at), mean(L))));
    });
    const gradMean = splatOf(b, `(f32.div ${gradTotal.total()} ${f32c(rows.size)})`);
    // mean(ĝ⊙x̂)·rstd = Σ ĝ(x − μ)·rstd²/n
    const projectionMean = splatOf(b, `(f32.mul (f32.div ${projection.total()} ${f32c(rows.size)}) (f32.mul ${rstd(new Lanes(false))} ${rstd(new Lanes(false))}))`);
    rowPass(b, rows, base, V, (L, at, c) => {
      const centered = L.sub(ld(vty(L), x, at), mean(L));
      b.emit(st(vty(L), out, at, L.mul(rstd(L), L.sub(L.sub(scaled(L, at, c), gradMean(L)), L.mul(centered, projectionMean(L))))));
    });
  });
};

export const attentionSoftmaxKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "attention_softmax" }>, b: FunctionBuilder): void => {
  const rows = contiguousRows(kernel.rows, kernel.size);
  if (rows.size === 0) return;
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const mask = kernel.mask === undefined ? undefined : addrOf(ctx, kernel.mask);
  const V = new Lanes(true, ctx.relaxedSimd);
  const scale = splatOf(b, f32c(kernel.scale));
  const minusInf = (L: Lanes): string => L.fc(-Infinity);
  forRows(b, rows, (row, base) => {
    const maskBase = mask === undefined || kernel.maskKind === "none" ? undefined : b.bind("i32", `(i32.mul (i32.rem_u ${row} ${i32c(kernel.maskRows)}) ${i32c(kernel.size * 4)})`, "mb");
    const visible = kernel.causalQueries > 0 ? b.bind("i32", `(i32.add (i32.rem_u ${row} ${i32c(kernel.causalQueries)}) ${i32c(1)})`, "vis") : undefined;
    const visibleSplat = visible === undefined ? undefined : b.bind("v128", `(i32x4.splat ${visible})`, "visv");
    // pass 1: the masked scores into `out`, their max and whether one is NaN
    const max = b.local("f32", "mx");
    const vmax = Array.from({ length: ROW_UNROLL }, () => b.local("v128", "vmx"));
    const nan = b.local("i32", "nan");
    const vnan = b.local("v128", "vnan");
    b.set(max, f32c(-Infinity));
    b.set(nan, i32c(0));
    for (const v of vmax) b.set(v, `(f32x4.splat ${f32c(-Infinity)})`);
    b.set(vnan, "(v128.const i32x4 0 0 0 0)");
    rowPass(b, rows, base, V, (L, at, c) => {
      let s = L.mul(ld(vty(L), x, at), scale(L));
      if (mask !== undefined && maskBase !== undefined) {
        const maskAt = `(i32.add ${maskBase} ${elementAt(c)})`;
        if (kernel.maskKind === "bool") {
          const kept = L.vector ? `(i32x4.ne ${ld("v128", mask, maskAt)} (v128.const i32x4 0 0 0 0))` : `(i32.ne ${ld("i32", mask, maskAt)} ${i32c(0)})`;
          s = L.select(s, minusInf(L), kept);
        } else s = L.add(s, ld(vty(L), mask, maskAt));
      }
      if (visible !== undefined && visibleSplat !== undefined) {
        const shown = L.vector ? `(i32x4.lt_s (i32x4.add (i32x4.splat ${c}) (v128.const i32x4 0 1 2 3)) ${visibleSplat})` : `(i32.lt_s ${c} ${visible})`;
        s = L.select(s, minusInf(L), shown);
      }
      const score = b.bind(L.type, s, "s");
      b.emit(st(vty(L), out, at, score));
      if (L.vector) {
        const slot = vmax[L.slot] ?? (vmax[0] as string);
        b.set(slot, `(f32x4.pmax ${get(slot)} ${score})`);
        b.set(vnan, `(v128.or ${get(vnan)} (f32x4.ne ${score} ${score}))`);
      } else {
        b.set(max, `(f32.max ${get(max)} ${score})`);
        b.set(nan, `(i32.or ${get(nan)} (f32.ne ${score} ${score}))`);
      }
    });
    const top = b.bind("f32", `(f32.max ${get(max)} ${horizontal("max", vmax.map(get).reduce((p, q) => `(f32x4.pmax ${p} ${q})`), b)})`, "top");
    const anyNan = `(i32.or ${get(nan)} (v128.any_true ${get(vnan)}))`;
    const fill = (value: number): void => rowPass(b, rows, base, V, (L, at) => b.emit(st(vty(L), out, at, L.fc(value))));
    // a NaN or +inf score makes the row NaN, a row of −inf only is 0 (PyTorch's SDPA)
    b.when(
      `(i32.or ${anyNan} (f32.eq ${top} ${f32c(Infinity)}))`,
      () => fill(Number.NaN),
      () =>
        b.when(
          `(f32.eq ${top} ${f32c(-Infinity)})`,
          () => fill(0),
          () => {
            const shift = splatOf(b, top);
            const total = new RowSum(b);
            rowPass(b, rows, base, V, (L, at) => {
              const e = b.bind(L.type, expNeg(b, L, L.sub(ld(vty(L), out, at), shift(L))), "e");
              total.add(L, e);
              b.emit(st(vty(L), out, at, e));
            });
            const inverse = splatOf(b, `(f32.div ${f32c(1)} ${total.total()})`);
            rowPass(b, rows, base, V, (L, at) => b.emit(st(vty(L), out, at, L.mul(ld(vty(L), out, at), inverse(L)))));
          },
        ),
    );
  });
};

export const softmaxBackwardKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "softmax_backward" }>, b: FunctionBuilder): void => {
  const rows = contiguousRows(kernel.rows, kernel.size);
  if (rows.size === 0) return;
  const y = addrOf(ctx, kernel.y);
  const grad = addrOf(ctx, kernel.grad);
  const out = addrOf(ctx, kernel.out);
  const V = new Lanes(true, ctx.relaxedSimd);
  const scale = splatOf(b, f32c(kernel.scale));
  forRows(b, rows, (_row, base) => {
    const dot = new RowSum(b);
    rowPass(b, rows, base, V, (L, at) => dot.add(L, L.mul(ld(vty(L), grad, at), ld(vty(L), y, at))));
    const total = splatOf(b, dot.total());
    rowPass(b, rows, base, V, (L, at) => b.emit(st(vty(L), out, at, L.mul(L.mul(scale(L), ld(vty(L), y, at)), L.sub(ld(vty(L), grad, at), total(L))))));
  });
};

/** Loops over the segments of channel `c` of [outer, channels, inner]: `body(base)` with base the segment's byte offset. */
const forChannelSegments = (b: FunctionBuilder, kernel: { readonly outer: number; readonly channels: number; readonly inner: number }, c: string, body: (base: string) => void): void => {
  const n = b.local("i32", "n");
  b.forRange(n, 0, kernel.outer, 1, () => body(b.bind("i32", `(i32.mul (i32.add (i32.mul ${get(n)} ${i32c(kernel.channels)}) ${c}) ${i32c(kernel.inner * 4)})`, "cb")));
};

export const channelStatsKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "channel_stats" }>, b: FunctionBuilder): void => {
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const segment = contiguousRows(1, kernel.inner);
  const V = new Lanes(true, ctx.relaxedSimd);
  const count = f32c(kernel.outer * kernel.inner);
  const c = b.local("i32", "ch");
  b.forRange(c, 0, kernel.channels, 1, () => {
    // sums of x − x₀ (x₀ the channel's first element), as the layer norm rows
    const first = splatOf(b, ld("f32", x, `(i32.mul ${get(c)} ${i32c(kernel.inner * 4)})`));
    const total = new RowSum(b);
    forChannelSegments(b, kernel, get(c), (base) => rowPass(b, segment, base, V, (L, at) => total.add(L, L.sub(ld(vty(L), x, at), first(L)))));
    const mean = splatOf(b, `(f32.add ${first(new Lanes(false))} (f32.div ${total.total()} ${count}))`);
    const squares = new RowSum(b);
    forChannelSegments(b, kernel, get(c), (base) =>
      rowPass(b, segment, base, V, (L, at) => {
        const d = b.bind(L.type, L.sub(ld(vty(L), x, at), mean(L)), "d");
        squares.add(L, L.mul(d, d));
      }),
    );
    const at = b.bind("i32", `(i32.shl ${get(c)} ${i32c(2)})`, "co");
    b.emit(st("f32", out, at, mean(new Lanes(false))));
    b.emit(st("f32", out + kernel.channels * 4, at, `(f32.div ${squares.total()} ${count})`));
  });
};

export const channelBackwardStatsKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "channel_backward_stats" }>, b: FunctionBuilder): void => {
  const x = addrOf(ctx, kernel.x);
  const stats = addrOf(ctx, kernel.stats);
  const grad = addrOf(ctx, kernel.grad);
  const out = addrOf(ctx, kernel.out);
  const segment = contiguousRows(1, kernel.inner);
  const V = new Lanes(true, ctx.relaxedSimd);
  const c = b.local("i32", "ch");
  b.forRange(c, 0, kernel.channels, 1, () => {
    const at = b.bind("i32", `(i32.shl ${get(c)} ${i32c(2)})`, "co");
    const mean = splatOf(b, ld("f32", stats, at));
    const rstd = b.bind("f32", `(f32.div ${f32c(1)} (f32.sqrt (f32.add ${ld("f32", stats + kernel.channels * 4, at)} ${f32c(kernel.eps)})))`, "rs");
    const gradTotal = new RowSum(b);
    const projection = new RowSum(b);
    forChannelSegments(b, kernel, get(c), (base) =>
      rowPass(b, segment, base, V, (L, elementAt) => {
        const g = b.bind(L.type, ld(vty(L), grad, elementAt), "g");
        gradTotal.add(L, g);
        projection.add(L, L.mul(g, L.sub(ld(vty(L), x, elementAt), mean(L))));
      }),
    );
    b.emit(st("f32", out, at, gradTotal.total()));
    b.emit(st("f32", out + kernel.channels * 4, at, `(f32.mul ${projection.total()} ${rstd})`));
  });
};
