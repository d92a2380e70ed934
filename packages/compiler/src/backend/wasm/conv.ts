/**
 * @file Convolution kernels: im2col + the packed GEMM of gemm.ts, one image and group at a time
 * (the col matrix [cg·kh·kw, ho·wo] lives in the kernel's `col` buffer): forward
 * `out = W_g @ col`; transposed `col = W_gᵀ @ y` then col2im (scatter-add); weight gradient
 * `dW_g += dy @ colᵀ` over the batch, or transposed `dW_gᵀ += col @ dyᵀ` (then one transpose)
 * when that packs less (lower-conv.ts `weightGradTransposed`). Stride-1 rows of up to 64 columns
 * are copied (im2col) and added back (col2im) by straight-line f32x4 code per column tap, their
 * valid ranges known at compile time. Depthwise forward convolutions are direct (depthwise.ts),
 * pooling is in pool.ts, the two-thread splits in conv-split.ts.
 */
import type { Kernel } from "../kernels.js";
import { addrOf, type CodegenContext, KernelCompileError } from "./context.js";
import { gemmScratchBytes, planGemm, type GemmSpec } from "./gemm-plan.js";
import { depthwiseKernel, directDepthwise } from "./depthwise.js";
import { emitGemmFunction } from "./gemm.js";
import type { GemmTable } from "./matmul.js";
import { f32c, FunctionBuilder, get, i32c, iadd, imul } from "./wat-builder.js";

type ConvKernel = Extract<Kernel, { kind: "conv" }>;

const gemmCall = (ctx: CodegenContext, gemms: GemmTable, index: number, spec: GemmSpec): string => {
  let need: number;
  try {
    need = gemmScratchBytes(spec);
  } catch (thrown) {
    throw new KernelCompileError(`conv GEMM ${spec.m}×${spec.k}×${spec.n}: ${thrown instanceof Error ? thrown.message : String(thrown)}`, index);
  }
  if (need > ctx.scratchBytes) throw new KernelCompileError(`conv GEMM ${spec.m}×${spec.k}×${spec.n} needs ${need} bytes of packing scratch, more than the ${ctx.scratchBytes} reserved`, index);
  const key = JSON.stringify(spec);
  let entry = gemms.functions.get(key);
  if (entry === undefined) {
    const name = `gemm${gemms.functions.size}`;
    entry = { name, text: emitGemmFunction(name, spec) };
    gemms.functions.set(key, entry);
  }
  return entry.name;
};

const select = (a: string, b: string, cond: string): string => `(select ${a} ${b} ${cond})`;

/** Stride-1 columns: the output columns [lo, hi) whose input column ow + iw0 lies in [0, w). */
const validColumns = (b: FunctionBuilder, g: ConvKernel["geometry"], iw0: string, lo: string, hi: string): void => {
  b.set(lo, select(`(i32.sub ${i32c(0)} ${get(iw0)})`, i32c(0), `(i32.lt_s ${get(iw0)} ${i32c(0)})`));
  b.set(lo, select(i32c(g.wo), get(lo), `(i32.gt_s ${get(lo)} ${i32c(g.wo)})`));
  b.set(hi, `(i32.sub ${i32c(g.w)} ${get(iw0)})`);
  b.set(hi, select(i32c(g.wo), get(hi), `(i32.gt_s ${get(hi)} ${i32c(g.wo)})`));
  b.set(hi, select(get(lo), get(hi), `(i32.lt_s ${get(hi)} ${get(lo)})`));
};

/** Input channels [from, to) of a group: the im2col rows (c0·kh + i)·kw + j of c0 in that range. */
export interface ChannelRange {
  readonly from: number;
  readonly to: number;
}

/** Stride-1 rows short enough to copy with straight-line code, one column tap j at a time. */
export const UNROLL_MAX_KW = 7;
export const UNROLL_MAX_WO = 64;
const unrolledRows = (g: ConvKernel["geometry"]): boolean => g.sw === 1 && g.kw <= UNROLL_MAX_KW && g.wo <= UNROLL_MAX_WO;

/** The output columns [lo, hi) of column tap j whose input column ow − pl + j·dw lies in [0, w), at compile time. */
const columnsOf = (g: ConvKernel["geometry"], j: number): { readonly iw0: number; readonly lo: number; readonly hi: number } => {
  const iw0 = j * g.dw - g.pl;
  const lo = Math.min(g.wo, Math.max(0, -iw0));
  return { iw0, lo, hi: Math.max(lo, Math.min(g.wo, g.w - iw0)) };
};

/**
 * Visits the rows of the col matrix (stride-1 widths, {@link unrolledRows}): for each channel, row
 * tap i, output row oh and (unrolled) column tap j, `valid(dst, src, j)` where the input row exists
 * (dst: the col row segment's byte address, src: the input row's), else `outside(dst)`.
 */
const forEachColRow = (
  b: FunctionBuilder,
  g: ConvKernel["geometry"],
  image: string,
  col: number,
  valid: (dst: string, src: string, j: number) => void,
  outside: (dst: string) => void,
  channels: ChannelRange = { from: 0, to: g.ci / g.groups },
): void => {
  const P = g.ho * g.wo;
  const [c0, i, oh] = ["c0", "ki", "oh"].map((hint) => b.local("i32", hint)) as [string, string, string];
  const ih = b.local("i32", "ih");
  const dst = b.local("i32", "dst");
  const src = b.local("i32", "src");
  b.forRange(c0, channels.from, channels.to, 1, () =>
    b.forRange(i, 0, g.kh, 1, () =>
      b.forRange(oh, 0, g.ho, 1, () => {
        b.set(ih, iadd(`(i32.sub ${imul(get(oh), g.sh)} ${i32c(g.pt)})`, imul(get(i), g.dh)));
        // row (c0·kh + i)·kw + j of the col matrix, at output row oh
        b.set(dst, iadd(i32c(col), `(i32.shl ${iadd(imul(iadd(imul(get(c0), g.kh), get(i)), g.kw * P), imul(get(oh), g.wo))} ${i32c(2)})`));
        b.when(
          `(i32.lt_u ${get(ih)} ${i32c(g.h)})`,
          () => {
            b.set(src, iadd(image, `(i32.shl ${iadd(imul(get(c0), g.h * g.w), imul(get(ih), g.w))} ${i32c(2)})`));
            for (let j = 0; j < g.kw; j++) valid(j === 0 ? get(dst) : `(i32.add ${get(dst)} ${i32c(j * P * 4)})`, get(src), j);
          },
          () => {
            for (let j = 0; j < g.kw; j++) outside(j === 0 ? get(dst) : `(i32.add ${get(dst)} ${i32c(j * P * 4)})`);
          },
        );
      }),
    ),
  );
};

/**
 * {@link forEachColRow} with the column tap's compile-time valid columns: `valid(at, other, columns)`
 * with local `at` set to the col row segment's byte address and `other` the input row's.
 */
const forEachColSegment = (
  b: FunctionBuilder,
  kernel: ConvKernel,
  image: string,
  col: number,
  valid: (at: string, other: string, columns: ReturnType<typeof columnsOf>) => void,
  outside: (dst: string) => void,
  channels?: ChannelRange,
): void => {
  const g = kernel.geometry;
  const at = b.local("i32", "at");
  forEachColRow(
    b,
    g,
    image,
    col,
    (dst, src, j) => {
      const columns = columnsOf(g, j);
      b.set(at, dst);
      valid(get(at), src, columns);
    },
    outside,
    channels,
  );
};

/** im2col for stride-1 widths: each row segment as straight-line code (zeros, f32x4 copies, scalar tail, zeros). */
const im2colUnrolled = (b: FunctionBuilder, kernel: ConvKernel, image: string, col: number, channels?: ChannelRange): void => {
  const g = kernel.geometry;
  forEachColSegment(
    b,
    kernel,
    image,
    col,
    (at, src, { iw0, lo, hi }) => {
      for (let ow = 0; ow < lo; ow++) b.emit(`(f32.store offset=${ow * 4} ${at} ${f32c(0)})`);
      let ow = lo;
      for (; ow + 4 <= hi; ow += 4) b.emit(`(v128.store offset=${ow * 4} align=4 ${at} (v128.load offset=${(ow + iw0) * 4} align=4 ${src}))`);
      for (; ow < hi; ow++) b.emit(`(f32.store offset=${ow * 4} ${at} (f32.load offset=${(ow + iw0) * 4} ${src}))`);
      for (ow = hi; ow < g.wo; ow++) b.emit(`(f32.store offset=${ow * 4} ${at} ${f32c(0)})`);
    },
    (dst) => b.emit(`(memory.fill ${dst} ${i32c(0)} ${i32c(g.wo * 4)})`),
    channels,
  );
};

/** col2im for stride-1 widths: image row += each col row segment, straight-line f32x4 adds. */
const col2imUnrolled = (b: FunctionBuilder, kernel: ConvKernel, image: string, col: number): void =>
  forEachColSegment(
    b,
    kernel,
    image,
    col,
    (at, to, { iw0, lo, hi }) => {
      let ow = lo;
      for (; ow + 4 <= hi; ow += 4) {
        const target = `offset=${(ow + iw0) * 4} align=4 ${to}`;
        b.emit(`(v128.store ${target} (f32x4.add (v128.load ${target}) (v128.load offset=${ow * 4} align=4 ${at})))`);
      }
      for (; ow < hi; ow++) b.emit(`(f32.store offset=${(ow + iw0) * 4} ${to} (f32.add (f32.load offset=${(ow + iw0) * 4} ${to}) (f32.load offset=${ow * 4} ${at})))`);
    },
    () => undefined,
  );

/** col[(c0·kh + i)·kw + j][oh·wo + ow] = image[c0][oh·sh − pt + i·dh][ow·sw − pl + j·dw] (0 outside), image at byte address `image`. */
const im2col = (b: FunctionBuilder, kernel: ConvKernel, image: string, col: number, channels: ChannelRange = { from: 0, to: kernel.geometry.ci / kernel.geometry.groups }): void => {
  const g = kernel.geometry;
  if (unrolledRows(g)) return im2colUnrolled(b, kernel, image, col, channels);
  const P = g.ho * g.wo;
  const [c0, i, j, oh, ow] = ["c0", "ki", "kj", "oh", "ow"].map((hint) => b.local("i32", hint)) as [string, string, string, string, string];
  const row = b.local("i32", "row");
  const ih = b.local("i32", "ih");
  const dst = b.local("i32", "dst");
  const src = b.local("i32", "src");
  const iw0 = b.local("i32", "iw0");
  const lo = b.local("i32", "lo");
  const hi = b.local("i32", "hi");
  b.forRange(c0, channels.from, channels.to, 1, () =>
    b.forRange(i, 0, g.kh, 1, () =>
      b.forRange(j, 0, g.kw, 1, () => {
        b.set(row, iadd(imul(iadd(imul(get(c0), g.kh), get(i)), g.kw), get(j)));
        b.set(iw0, `(i32.sub ${imul(get(j), g.dw)} ${i32c(g.pl)})`);
        if (g.sw === 1) validColumns(b, g, iw0, lo, hi);
        b.forRange(oh, 0, g.ho, 1, () => {
          b.set(ih, iadd(`(i32.sub ${imul(get(oh), g.sh)} ${i32c(g.pt)})`, imul(get(i), g.dh)));
          b.set(dst, iadd(i32c(col), `(i32.shl ${iadd(imul(get(row), P), imul(get(oh), g.wo))} ${i32c(2)})`));
          b.when(
            `(i32.ge_u ${get(ih)} ${i32c(g.h)})`,
            () => b.emit(`(memory.fill ${get(dst)} ${i32c(0)} ${i32c(g.wo * 4)})`),
            () => {
              b.set(src, iadd(image, `(i32.shl ${iadd(imul(get(c0), g.h * g.w), imul(get(ih), g.w))} ${i32c(2)})`));
              if (g.sw === 1) {
                // zeros left of the image, the row in f32x4 steps (scalar tail), zeros right of it
                const at = (index: string, base: string): string => `(i32.add ${base} (i32.shl ${index} ${i32c(2)}))`;
                b.forDynamic(ow, i32c(0), get(lo), 1, () => b.emit(`(f32.store ${at(get(ow), get(dst))} ${f32c(0)})`));
                b.set(ow, get(lo));
                const vectors = b.label("V");
                b.block(`(block ${vectors}`, () => {
                  const loop = b.label("L");
                  b.block(`(loop ${loop}`, () => {
                    b.emit(`(br_if ${vectors} (i32.gt_s (i32.add ${get(ow)} ${i32c(4)}) ${get(hi)}))`);
                    b.emit(`(v128.store align=4 ${at(get(ow), get(dst))} (v128.load align=4 ${at(`(i32.add ${get(ow)} ${get(iw0)})`, get(src))}))`);
                    b.set(ow, `(i32.add ${get(ow)} ${i32c(4)})`);
                    b.emit(`(br ${loop})`);
                  });
                });
                b.forDynamic(ow, get(ow), get(hi), 1, () => b.emit(`(f32.store ${at(get(ow), get(dst))} (f32.load ${at(`(i32.add ${get(ow)} ${get(iw0)})`, get(src))}))`));
                b.forDynamic(ow, get(hi), i32c(g.wo), 1, () => b.emit(`(f32.store ${at(get(ow), get(dst))} ${f32c(0)})`));
              } else {
                const iw = b.local("i32", "iw");
                b.forRange(ow, 0, g.wo, 1, () => {
                  b.set(iw, iadd(imul(get(ow), g.sw), get(iw0)));
                  const inside = `(i32.lt_u ${get(iw)} ${i32c(g.w)})`;
                  const clamped = select(get(iw), i32c(0), inside);
                  const value = select(`(f32.load (i32.add ${get(src)} (i32.shl ${clamped} ${i32c(2)})))`, f32c(0), inside);
                  b.emit(`(f32.store (i32.add ${get(dst)} (i32.shl ${get(ow)} ${i32c(2)})) ${value})`);
                });
              }
            },
          );
        });
      }),
    ),
  );
};

/** image[c0][ih][iw] += col[row][p] for every valid tap (the adjoint of im2col); f32x4 over output columns when stride w is 1. */
const col2im = (b: FunctionBuilder, kernel: ConvKernel, image: string, col: number): void => {
  const g = kernel.geometry;
  if (unrolledRows(g)) return col2imUnrolled(b, kernel, image, col);
  const cg = g.ci / g.groups;
  const P = g.ho * g.wo;
  const [c0, i, j, oh, ow] = ["c0", "ki", "kj", "oh", "ow"].map((hint) => b.local("i32", hint)) as [string, string, string, string, string];
  const ih = b.local("i32", "ih");
  const iw = b.local("i32", "iw");
  const iw0 = b.local("i32", "iw0");
  const lo = b.local("i32", "lo");
  const hi = b.local("i32", "hi");
  const from = b.local("i32", "from");
  const to = b.local("i32", "to");
  b.forRange(c0, 0, cg, 1, () =>
    b.forRange(i, 0, g.kh, 1, () =>
      b.forRange(j, 0, g.kw, 1, () => {
        b.set(iw0, `(i32.sub ${imul(get(j), g.dw)} ${i32c(g.pl)})`);
        if (g.sw === 1) validColumns(b, g, iw0, lo, hi);
        b.forRange(oh, 0, g.ho, 1, () => {
          b.set(ih, iadd(`(i32.sub ${imul(get(oh), g.sh)} ${i32c(g.pt)})`, imul(get(i), g.dh)));
          b.when(`(i32.lt_u ${get(ih)} ${i32c(g.h)})`, () => {
            b.set(from, iadd(i32c(col), `(i32.shl ${iadd(imul(iadd(imul(iadd(imul(get(c0), g.kh), get(i)), g.kw), get(j)), P), imul(get(oh), g.wo))} ${i32c(2)})`));
            b.set(to, iadd(image, `(i32.shl ${iadd(imul(get(c0), g.h * g.w), imul(get(ih), g.w))} ${i32c(2)})`));
            const at = (index: string, base: string): string => `(i32.add ${base} (i32.shl ${index} ${i32c(2)}))`;
            if (g.sw === 1) {
              // image[ih][ow + iw0] += col[p] over the valid columns [lo, hi): f32x4 steps, scalar tail
              b.set(ow, get(lo));
              const vectors = b.label("V");
              b.block(`(block ${vectors}`, () => {
                const loop = b.label("L");
                b.block(`(loop ${loop}`, () => {
                  b.emit(`(br_if ${vectors} (i32.gt_s (i32.add ${get(ow)} ${i32c(4)}) ${get(hi)}))`);
                  b.set(iw, at(`(i32.add ${get(ow)} ${get(iw0)})`, get(to)));
                  b.emit(`(v128.store align=4 ${get(iw)} (f32x4.add (v128.load align=4 ${get(iw)}) (v128.load align=4 ${at(get(ow), get(from))})))`);
                  b.set(ow, `(i32.add ${get(ow)} ${i32c(4)})`);
                  b.emit(`(br ${loop})`);
                });
              });
              b.forDynamic(ow, get(ow), get(hi), 1, () => {
                b.set(iw, at(`(i32.add ${get(ow)} ${get(iw0)})`, get(to)));
                b.emit(`(f32.store ${get(iw)} (f32.add (f32.load ${get(iw)}) (f32.load ${at(get(ow), get(from))})))`);
              });
              return;
            }
            b.forRange(ow, 0, g.wo, 1, () => {
              b.set(iw, iadd(imul(get(ow), g.sw), get(iw0)));
              b.when(`(i32.lt_u ${get(iw)} ${i32c(g.w)})`, () => {
                const target = at(get(iw), get(to));
                b.emit(`(f32.store ${target} (f32.add (f32.load ${target}) (f32.load ${at(get(ow), get(from))})))`);
              });
            });
          });
        });
      }),
    ),
  );
};

/** to[blk][c][r] = from[blk][r][c] for `blocks` row-major rows×cols matrices at byte addresses `from`, `to`. */
const transposeBlocks = (b: FunctionBuilder, from: number, to: number, blocks: number, rows: number, cols: number): void => {
  const [blk, r, c] = ["tb", "tr", "tc"].map((hint) => b.local("i32", hint)) as [string, string, string];
  const src = b.local("i32", "tsrc");
  const dst = b.local("i32", "tdst");
  b.set(src, i32c(from));
  b.forRange(blk, 0, blocks, 1, () =>
    b.forRange(r, 0, rows, 1, () => {
      b.set(dst, iadd(i32c(to), `(i32.shl ${iadd(imul(get(blk), rows * cols), get(r))} ${i32c(2)})`));
      b.forRange(c, 0, cols, 1, () => {
        b.emit(`(f32.store ${get(dst)} (f32.load ${get(src)}))`);
        b.set(src, `(i32.add ${get(src)} ${i32c(4)})`);
        b.set(dst, `(i32.add ${get(dst)} ${i32c(rows * 4)})`);
      });
    }),
  );
};

/** Adds bias[c] to every element of channel c of [n, channels, plane] at byte address `out`. */
const addBias = (b: FunctionBuilder, out: number, bias: number, n: number, channels: number, plane: number): void => {
  const c = b.local("i32", "bc");
  const p = b.local("i32", "bp");
  const value = b.local("f32", "bv");
  const at = b.local("i32", "ba");
  b.set(at, i32c(out));
  b.forRange(c, 0, n * channels, 1, () => {
    b.set(value, `(f32.load (i32.add ${i32c(bias)} (i32.shl (i32.rem_u ${get(c)} ${i32c(channels)}) ${i32c(2)})))`);
    b.forRange(p, 0, plane, 1, () => {
      b.emit(`(f32.store ${get(at)} (f32.add (f32.load ${get(at)}) ${get(value)}))`);
      b.set(at, `(i32.add ${get(at)} ${i32c(4)})`);
    });
  });
};

/**
 * A weight gradient computed transposed (`kernel.accumulator`), in parts that two threads can
 * share: `zero` clears the accumulator; `rows` adds, for every image and group, the rows of the
 * input channels `channels` — `dW_gᵀ[rows] += col[rows] @ dy_gᵀ` (their im2col rows in `col`,
 * GEMM packing at `scratch`); `finish` transposes the accumulator into the output. `mr` is the
 * GEMM's register-tile height: a split on a multiple of it keeps every tile as on one thread.
 */
export interface WeightGradParts {
  readonly zero: (b: FunctionBuilder) => void;
  readonly rows: (b: FunctionBuilder, channels: ChannelRange, col: number, scratch: number) => void;
  readonly finish: (b: FunctionBuilder) => void;
  readonly spec: GemmSpec;
  readonly mr: number;
}

export const weightGradParts = (ctx: CodegenContext, kernel: ConvKernel, gemms: GemmTable, index: number): WeightGradParts | undefined => {
  const g = kernel.geometry;
  const cg = g.ci / g.groups;
  const og = g.co / g.groups;
  const taps = g.kh * g.kw;
  const K = cg * taps;
  const P = g.ho * g.wo;
  if (kernel.mode !== "weight_grad" || kernel.accumulator === undefined || g.n === 0 || K === 0 || P === 0 || og === 0) return undefined;
  // dW_gᵀ [K, og] += col [K, P] @ dy_gᵀ [P, og] per image, then dW_g = (dW_gᵀ)ᵀ
  const spec: GemmSpec = { relu: false, bias: false, useRelaxedSimd: ctx.relaxedSimd, m: K, n: og, k: P, transA: false, transB: true, accumulate: true };
  const fn = gemmCall(ctx, gemms, index, spec);
  const acc = addrOf(ctx, kernel.accumulator);
  const [a, dy, out] = [addrOf(ctx, kernel.a), addrOf(ctx, kernel.b), addrOf(ctx, kernel.out)];
  return {
    spec,
    mr: planGemm(spec).mr,
    zero: (b) => b.emit(`(memory.fill ${i32c(acc)} ${i32c(0)} ${i32c(g.co * K * 4)})`),
    rows: (b, channels, col, scratch) => {
      const [n, grp] = [b.local("i32", "wn"), b.local("i32", "wg")];
      const [from, to] = [channels.from * taps, channels.to * taps];
      // row r of the col matrix lives at colBase + r·P·4 (its rows [from, to) at col)
      const colBase = col - from * P * 4;
      b.forRange(n, 0, g.n, 1, () =>
        b.forRange(grp, 0, g.groups, 1, () => {
          const block = iadd(imul(get(n), g.groups), get(grp));
          const image = iadd(i32c(a), imul(block, cg * g.h * g.w * 4));
          let colMatrix = image;
          if (kernel.col !== undefined) {
            im2col(b, kernel, b.bind("i32", image, "img"), colBase, channels);
            colMatrix = i32c(colBase);
          }
          const cotangent = iadd(i32c(dy), imul(block, og * P * 4));
          b.emit(`(call $${fn} ${colMatrix} ${cotangent} ${iadd(i32c(acc), imul(get(grp), og * K * 4))} ${i32c(0)} ${i32c(from)} ${i32c(to)} ${i32c(scratch)})`);
        }),
      );
    },
    finish: (b) => transposeBlocks(b, acc, out, g.groups, K, og),
  };
};

/** The per-image GEMM of a forward or transposed convolution (undefined: weight gradients, direct depthwise, empty shapes). */
export const convGemmSpec = (ctx: CodegenContext, kernel: ConvKernel): GemmSpec | undefined => {
  const g = kernel.geometry;
  const og = g.co / g.groups;
  const K = (g.ci / g.groups) * g.kh * g.kw;
  const P = g.ho * g.wo;
  if (g.n === 0 || K === 0 || P === 0 || og === 0 || directDepthwise(kernel)) return undefined;
  const base = { relu: false, bias: false, useRelaxedSimd: ctx.relaxedSimd, transB: false, accumulate: false } as const;
  if (kernel.mode === "forward") return { ...base, m: og, n: P, k: K, transA: false };
  if (kernel.mode === "transpose") return { ...base, m: K, n: P, k: og, transA: true };
  return undefined;
};

/**
 * A forward or transposed convolution whose per-image GEMM rows are shared with the worker (an
 * image too big to split the batch, conv-split.ts `splitConvRows`): for each image and group the
 * main thread writes the GEMM's three operand addresses at `slot`, spawns `task` (rows
 * [rows, m) there, {@link convRowTask}), computes rows [0, rows) and joins.
 */
export interface ConvRowSplit {
  readonly task: number;
  readonly rows: number;
  readonly slot: number;
}

/** The worker's side of a {@link ConvRowSplit}: the GEMM rows [rows, m) of the operands at `slot`, packing at `scratch`. */
export const convRowTask = (ctx: CodegenContext, kernel: ConvKernel, gemms: GemmTable, index: number, split: { readonly rows: number; readonly slot: number; readonly scratch: number }): ((fb: FunctionBuilder) => void) => {
  const spec = convGemmSpec(ctx, kernel);
  if (spec === undefined) throw new KernelCompileError("internal: a row split of a convolution without a GEMM", index);
  const fn = gemmCall(ctx, gemms, index, spec);
  const operand = (at: number): string => `(i32.load ${i32c(split.slot + at)})`;
  return (fb) => fb.emit(`(call $${fn} ${operand(0)} ${operand(4)} ${operand(8)} ${i32c(0)} ${i32c(split.rows)} ${i32c(spec.m)} ${i32c(split.scratch)})`);
};

export const convKernel = (ctx: CodegenContext, kernel: ConvKernel, b: FunctionBuilder, gemms: GemmTable, index: number, rowSplit?: ConvRowSplit): void => {
  const g = kernel.geometry;
  const cg = g.ci / g.groups;
  const og = g.co / g.groups;
  const K = cg * g.kh * g.kw;
  const P = g.ho * g.wo;
  if (g.n === 0 || K === 0 || P === 0 || og === 0) return;
  if (directDepthwise(kernel)) return depthwiseKernel(ctx, kernel, b);
  const a = addrOf(ctx, kernel.a);
  const w = addrOf(ctx, kernel.b);
  const out = addrOf(ctx, kernel.out);
  const col = addrOf(ctx, kernel.col);
  const n = b.local("i32", "cn");
  const grp = b.local("i32", "cg");
  const base = { relu: false, bias: false, useRelaxedSimd: ctx.relaxedSimd } as const;
  const imageAt = (array: number): string => iadd(i32c(array), imul(iadd(imul(get(n), g.groups), get(grp)), cg * g.h * g.w * 4));
  const outputAt = (array: number): string => iadd(i32c(array), imul(iadd(imul(get(n), g.groups), get(grp)), og * P * 4));
  const weightAt = iadd(i32c(w), imul(get(grp), og * K * 4));
  // a 1×1 convolution without stride or padding reads the image itself as its col matrix
  const pointwise = kernel.col === undefined;
  const colOf = (image: string): string => {
    if (pointwise) return image;
    im2col(b, kernel, b.bind("i32", image, "img"), col);
    return i32c(col);
  };
  /** One per-image GEMM call of m rows (shared with the worker under a row split). */
  const gemm = (fn: string, aOperand: string, bOperand: string, cOperand: string, m: number): void => {
    if (rowSplit === undefined) {
      b.emit(`(call $${fn} ${aOperand} ${bOperand} ${cOperand} ${i32c(0)} ${i32c(0)} ${i32c(m)} ${i32c(ctx.scratch)})`);
      return;
    }
    const operands = [aOperand, bOperand, cOperand].map((operand) => b.bind("i32", operand, "op"));
    operands.forEach((operand, at) => b.emit(`(i32.store ${i32c(rowSplit.slot + 4 * at)} ${operand})`));
    const call = (rows: number): string => `(call $${fn} ${operands.join(" ")} ${i32c(0)} ${i32c(0)} ${i32c(rows)} ${i32c(ctx.scratch)})`;
    b.when(
      `(call $spawn ${i32c(rowSplit.task)})`,
      () => {
        b.emit(call(rowSplit.rows));
        b.emit("(call $join)");
      },
      () => b.emit(call(m)),
    );
  };
  switch (kernel.mode) {
    case "forward": {
      const fn = gemmCall(ctx, gemms, index, convGemmSpec(ctx, kernel) ?? { ...base, m: og, n: P, k: K, transA: false, transB: false, accumulate: false });
      b.forRange(n, 0, g.n, 1, () =>
        b.forRange(grp, 0, g.groups, 1, () => {
          gemm(fn, weightAt, colOf(imageAt(a)), outputAt(out), og);
        }),
      );
      if (kernel.bias !== undefined) addBias(b, out, addrOf(ctx, kernel.bias), g.n, g.co, P);
      return;
    }
    case "transpose": {
      const fn = gemmCall(ctx, gemms, index, convGemmSpec(ctx, kernel) ?? { ...base, m: K, n: P, k: og, transA: true, transB: false, accumulate: false });
      b.emit(`(memory.fill ${i32c(out)} ${i32c(0)} ${i32c(g.n * g.ci * g.h * g.w * 4)})`);
      b.forRange(n, 0, g.n, 1, () =>
        b.forRange(grp, 0, g.groups, 1, () => {
          gemm(fn, weightAt, outputAt(a), pointwise ? imageAt(out) : i32c(col), K);
          if (!pointwise) col2im(b, kernel, b.bind("i32", imageAt(out), "img"), col);
        }),
      );
      if (kernel.bias !== undefined) addBias(b, out, addrOf(ctx, kernel.bias), g.n, g.ci, g.h * g.w);
      return;
    }
    case "weight_grad": {
      const dy = addrOf(ctx, kernel.b);
      const parts = weightGradParts(ctx, kernel, gemms, index);
      if (parts !== undefined) {
        parts.zero(b);
        parts.rows(b, { from: 0, to: cg }, col, ctx.scratch);
        parts.finish(b);
        return;
      }
      const fn = gemmCall(ctx, gemms, index, { ...base, m: og, n: K, k: P, transA: false, transB: true, accumulate: true });
      b.emit(`(memory.fill ${i32c(out)} ${i32c(0)} ${i32c(g.co * K * 4)})`);
      b.forRange(n, 0, g.n, 1, () =>
        b.forRange(grp, 0, g.groups, 1, () => {
          const colMatrix = colOf(imageAt(a));
          b.emit(`(call $${fn} ${outputAt(dy)} ${colMatrix} ${iadd(i32c(out), imul(get(grp), og * K * 4))} ${i32c(0)} ${i32c(0)} ${i32c(og)} ${i32c(ctx.scratch)})`);
        }),
      );
      return;
    }
  }
};
