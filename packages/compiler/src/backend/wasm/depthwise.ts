/**
 * @file Direct depthwise convolution (forward): groups = input channels, one input channel per
 * group (any channel multiplier og = co / groups). im2col + GEMM would run one GEMM of a single
 * row (or og rows) per image and channel; here each output plane is computed in place,
 * `out[n][oc][oh][ow] = Σ_ij w[oc][i][j] · x[n][oc / og][oh·sh − pt + i·dh][ow·sw − pl + j·dw] (+ bias[oc])`,
 * four output columns per f32x4 where every column tap lies inside the input (stride 1), each
 * tap's weight a splat at a constant offset, the column taps unrolled; the edge columns (and
 * strided widths) one output at a time with checked taps. Taps into the zero padding are computed
 * (0 · weight), as PyTorch and the im2col path do. Taps are summed in (i, j) order, then
 * the bias, as the GEMM path does (with relaxed SIMD the vector columns fuse multiply-adds, as the
 * GEMM does).
 */
import type { Kernel } from "../kernels.js";
import { directDepthwise as directDepthwiseConv } from "../lower-conv.js";
import { addrOf, type CodegenContext } from "./context.js";
import { interiorRange } from "./pool.js";
import { f32c, FunctionBuilder, get, i32c, iadd, imul } from "./wat-builder.js";

type ConvKernel = Extract<Kernel, { kind: "conv" }>;

/** Whether a convolution kernel runs as the direct depthwise kernel (its lowering allocated no im2col matrix). */
export const directDepthwise = (kernel: ConvKernel): boolean => directDepthwiseConv(kernel.mode, kernel.geometry);

export const depthwiseKernel = (ctx: CodegenContext, kernel: ConvKernel, b: FunctionBuilder): void => {
  const g = kernel.geometry;
  const og = g.co / g.groups;
  if (g.n === 0 || g.co === 0 || g.ho === 0 || g.wo === 0) return;
  const x = addrOf(ctx, kernel.a);
  const w = addrOf(ctx, kernel.b);
  const out = addrOf(ctx, kernel.out);
  const bias = kernel.bias === undefined ? undefined : addrOf(ctx, kernel.bias);
  const [n, oc, oh, ow] = ["dn", "doc", "doh", "dow"].map((hint) => b.local("i32", hint)) as [string, string, string, string];
  const plane = b.local("i32", "dplane");
  const weights = b.local("i32", "dw");
  const dst = b.local("i32", "ddst");
  const iw = b.local("i32", "diw");
  const acc = b.local("f32", "dacc");
  const vacc = b.local("v128", "dvacc");
  const rows = Array.from({ length: g.kh }, (_, i) => ({ valid: b.local("i32", `dok${i}`), at: b.local("i32", `drow${i}`) }));
  const [owLo, owHi] = g.sw === 1 ? interiorRange(g.w, g.wo, g.kw, 1, g.pl, g.dw) : [0, 0];
  const vectorEnd = owLo + Math.floor(Math.max(0, owHi - owLo) / 4) * 4;
  const weightAt = (i: number, j: number): number => (i * g.kw + j) * 4;

  /** One output column `ow` with every tap checked. */
  const scalarColumn = (): void => {
    b.set(acc, f32c(0));
    const tap = (i: number, j: number, input: string): void => b.set(acc, `(f32.add ${get(acc)} (f32.mul (f32.load offset=${weightAt(i, j)} ${get(weights)}) ${input}))`);
    rows.forEach(({ valid, at }, i) =>
      b.when(
        get(valid),
        () => {
          for (let j = 0; j < g.kw; j++) {
            b.set(iw, iadd(`(i32.sub ${imul(get(ow), g.sw)} ${i32c(g.pl)})`, i32c(j * g.dw)));
            b.when(
              `(i32.lt_u ${get(iw)} ${i32c(g.w)})`,
              () => tap(i, j, `(f32.load (i32.add ${get(at)} (i32.shl ${get(iw)} ${i32c(2)})))`),
              () => tap(i, j, f32c(0)),
            );
          }
        },
        () => {
          for (let j = 0; j < g.kw; j++) tap(i, j, f32c(0));
        },
      ),
    );
    const value = bias === undefined ? get(acc) : `(f32.add ${get(acc)} (f32.load offset=${bias} (i32.shl ${get(oc)} ${i32c(2)})))`;
    b.emit(`(f32.store (i32.add ${get(dst)} (i32.shl ${get(ow)} ${i32c(2)})) ${value})`);
  };

  b.forRange(n, 0, g.n, 1, () =>
    b.forRange(oc, 0, g.co, 1, () => {
      // input plane n, channel oc / og; output plane (n, oc); the weights of oc
      const channel = og === 1 ? get(oc) : `(i32.div_u ${get(oc)} ${i32c(og)})`;
      b.set(plane, iadd(i32c(x), imul(iadd(imul(get(n), g.ci), channel), g.h * g.w * 4)));
      b.set(weights, iadd(i32c(w), imul(get(oc), g.kh * g.kw * 4)));
      b.set(dst, iadd(i32c(out), imul(iadd(imul(get(n), g.co), get(oc)), g.ho * g.wo * 4)));
      b.forRange(oh, 0, g.ho, 1, () => {
        rows.forEach(({ valid, at }, i) => {
          const ih = `(i32.add (i32.sub ${imul(get(oh), g.sh)} ${i32c(g.pt)}) ${i32c(i * g.dh)})`;
          b.set(valid, `(i32.lt_u ${ih} ${i32c(g.h)})`);
          b.set(at, iadd(get(plane), imul(ih, g.w * 4)));
        });
        b.forRange(ow, 0, owLo, 1, scalarColumn);
        b.forRange(ow, owLo, vectorEnd, 4, () => {
          // columns ow..ow+3, every column tap inside the row: ow − pl + j·dw ≥ 0
          b.set(vacc, "(v128.const i64x2 0 0)");
          const tap = (i: number, j: number, input: string): void => {
            const weight = `(v128.load32_splat offset=${weightAt(i, j)} ${get(weights)})`;
            b.set(vacc, ctx.relaxedSimd ? `(f32x4.relaxed_madd ${weight} ${input} ${get(vacc)})` : `(f32x4.add ${get(vacc)} (f32x4.mul ${weight} ${input}))`);
          };
          rows.forEach(({ valid, at }, i) =>
            b.when(
              get(valid),
              () => {
                b.set(iw, `(i32.add ${get(at)} (i32.shl (i32.sub ${get(ow)} ${i32c(g.pl)}) ${i32c(2)}))`);
                for (let j = 0; j < g.kw; j++) tap(i, j, `(v128.load offset=${j * g.dw * 4} align=4 ${get(iw)})`);
              },
              // a row of zero padding: 0 · weight (NaN for a weight that is not finite, as in PyTorch)
              () => {
                for (let j = 0; j < g.kw; j++) tap(i, j, "(v128.const i64x2 0 0)");
              },
            ),
          );
          const value = bias === undefined ? get(vacc) : `(f32x4.add ${get(vacc)} (v128.load32_splat offset=${bias} (i32.shl ${get(oc)} ${i32c(2)})))`;
          b.emit(`(v128.store align=4 (i32.add ${get(dst)} (i32.shl ${get(ow)} ${i32c(2)})) ${value})`);
        });
        b.forRange(ow, Math.max(owLo, vectorEnd), g.wo, 1, scalarColumn);
        b.set(dst, `(i32.add ${get(dst)} ${i32c(g.wo * 4)})`);
      });
    }),
  );
};
