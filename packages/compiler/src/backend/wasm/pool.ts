/**
 * @file Pooling kernels (max / avg / max-backward) over [planes, h, w]. Windows that lie wholly
 * inside the input (the interior, known at compile time from the static geometry) run with every
 * tap unrolled at a constant offset from the window's corner and branch-free maxima (bit blends),
 * four windows per f32x4 when the stride along w is 1 or 2; the windows that touch padding or the ceil-mode edge take the checked loop over their taps.
 * Max ties go to the first maximum in window order and NaN beats a number, as in PyTorch.
 */
import type { Kernel } from "../kernels.js";
import { addrOf, type CodegenContext } from "./context.js";
import { f32c, FunctionBuilder, get, i32c, iadd, imul } from "./wat-builder.js";

type PoolKernel = Extract<Kernel, { kind: "pool" }>;
type PoolGeometry = PoolKernel["geometry"];

/** Most taps a window is unrolled for; bigger windows take the checked loop everywhere. */
export const POOL_UNROLL_TAPS = 49;

/** The output positions [lo, hi) along one axis whose windows lie inside the input (hi ≤ lo: none). */
export const interiorRange = (size: number, outSize: number, kernel: number, stride: number, pad: number, dilation: number): readonly [number, number] => {
  const lo = Math.min(outSize, Math.ceil(pad / stride));
  // the last tap o·stride − pad + (kernel − 1)·dilation must be < size
  const hi = Math.max(lo, Math.min(outSize, Math.floor((size - 1 + pad - (kernel - 1) * dilation) / stride) + 1));
  return [lo, hi];
};

interface PoolLocals {
  readonly p: string;
  readonly oh: string;
  readonly ow: string;
  readonly value: string;
  readonly acc: string;
  /** Byte address of the best tap so far in x (max_backward), −1 before the first. */
  readonly best: string;
  /** Flat index of the current output position over every plane. */
  readonly window: string;
  /** Scratch of the checked window and the max folds. */
  readonly i: string;
  readonly j: string;
  readonly ih: string;
  readonly iw: string;
  readonly at: string;
  readonly seen: string;
  readonly take: string;
}

/** Stores the window's result (or, backward, adds its cotangent to the best tap's input position). */
const finishWindow = (ctx: CodegenContext, kernel: PoolKernel, b: FunctionBuilder, l: PoolLocals): void => {
  const g = kernel.geometry;
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const dst = `(i32.add ${i32c(out)} (i32.shl ${get(l.window)} ${i32c(2)}))`;
  if (kernel.op === "max") b.emit(`(f32.store ${dst} ${get(l.acc)})`);
  else if (kernel.op === "avg") {
    const divisors = addrOf(ctx, kernel.divisors);
    b.emit(`(f32.store ${dst} (f32.mul ${get(l.acc)} (f32.load offset=${divisors} (i32.shl ${iadd(imul(get(l.oh), g.wo), get(l.ow))} ${i32c(2)}))))`);
  } else {
    const grad = addrOf(ctx, kernel.grad);
    b.when(`(i32.ge_s ${get(l.best)} ${i32c(0)})`, () => {
      b.set(l.at, `(i32.add ${get(l.best)} ${i32c(out - x)})`);
      b.emit(`(f32.store ${get(l.at)} (f32.add (f32.load ${get(l.at)}) (f32.load offset=${grad} (i32.shl ${get(l.window)} ${i32c(2)}))))`);
    });
  }
  b.set(l.window, `(i32.add ${get(l.window)} ${i32c(1)})`);
};

/** Folds the tap at byte address `at` (value already in `l.value`) into the running max / sum. */
const foldTap = (kernel: PoolKernel, b: FunctionBuilder, l: PoolLocals, at: string, first: boolean): void => {
  if (kernel.op === "avg") {
    b.set(l.acc, first ? get(l.value) : `(f32.add ${get(l.acc)} ${get(l.value)})`);
    return;
  }
  if (first) {
    b.set(l.acc, get(l.value));
    if (kernel.op === "max_backward") b.set(l.best, at);
    return;
  }
  // first maximum wins; NaN beats a number
  const better = `(i32.or (f32.gt ${get(l.value)} ${get(l.acc)}) (i32.and (f32.ne ${get(l.value)} ${get(l.value)}) (f32.eq ${get(l.acc)} ${get(l.acc)})))`;
  // V8 compiles a float `select` to a branch, which random data mispredicts: blend the bits with
  // the mask −take instead (i32 `select` is a conditional move)
  b.set(l.take, `(i32.sub ${i32c(0)} ${better})`);
  const blend = (taken: string, kept: string): string => `(i32.or (i32.and ${taken} ${get(l.take)}) (i32.and ${kept} (i32.xor ${get(l.take)} ${i32c(-1)})))`;
  b.set(l.acc, `(f32.reinterpret_i32 ${blend(`(i32.reinterpret_f32 ${get(l.value)})`, `(i32.reinterpret_f32 ${get(l.acc)})`)})`);
  if (kernel.op === "max_backward") b.set(l.best, `(select ${at} ${get(l.best)} ${get(l.take)})`);
};

/** One window whose taps may fall outside the input: every tap checked. */
const checkedWindow = (ctx: CodegenContext, kernel: PoolKernel, b: FunctionBuilder, l: PoolLocals): void => {
  const g = kernel.geometry;
  const x = addrOf(ctx, kernel.x);
  const { i, j, ih, iw, at, seen } = l;
  b.set(seen, i32c(0));
  b.set(l.best, i32c(-1));
  b.set(l.acc, f32c(kernel.op === "avg" ? 0 : -Infinity));
  b.forRange(i, 0, g.kh, 1, () => {
    b.set(ih, iadd(`(i32.sub ${imul(get(l.oh), g.sh)} ${i32c(g.ph)})`, imul(get(i), g.dh)));
    b.when(`(i32.lt_u ${get(ih)} ${i32c(g.h)})`, () =>
      b.forRange(j, 0, g.kw, 1, () => {
        b.set(iw, iadd(`(i32.sub ${imul(get(l.ow), g.sw)} ${i32c(g.pw)})`, imul(get(j), g.dw)));
        b.when(`(i32.lt_u ${get(iw)} ${i32c(g.w)})`, () => {
          b.set(at, iadd(i32c(x), `(i32.shl ${iadd(iadd(imul(get(l.p), g.h * g.w), imul(get(ih), g.w)), get(iw))} ${i32c(2)})`));
          b.set(l.value, `(f32.load ${get(at)})`);
          if (kernel.op === "avg") foldTap(kernel, b, l, get(at), false);
          else
            b.when(
              get(seen),
              () => foldTap(kernel, b, l, get(at), false),
              () => {
                foldTap(kernel, b, l, get(at), true);
                b.set(seen, i32c(1));
              },
            );
        });
      }),
    );
  });
  finishWindow(ctx, kernel, b, l);
};

/** One window inside the input: taps unrolled at constant offsets from its corner `corner` (a byte address local). */
const interiorWindow = (ctx: CodegenContext, kernel: PoolKernel, b: FunctionBuilder, l: PoolLocals, corner: string): void => {
  const g = kernel.geometry;
  let first = true;
  for (let i = 0; i < g.kh; i++)
    for (let j = 0; j < g.kw; j++) {
      const offset = (i * g.dh * g.w + j * g.dw) * 4;
      b.set(l.value, `(f32.load offset=${offset} ${get(corner)})`);
      foldTap(kernel, b, l, offset === 0 ? get(corner) : `(i32.add ${get(corner)} ${i32c(offset)})`, first);
      first = false;
    }
  finishWindow(ctx, kernel, b, l);
};

interface VectorLocals {
  readonly value: string;
  readonly acc: string;
  /** i32x4 byte addresses of each lane's best tap (max_backward). */
  readonly best: string;
  readonly mask: string;
  readonly at: string;
}

/**
 * Four consecutive windows inside the input (stride w 1 or 2), one per f32x4 lane: each tap's
 * four values are one load (stride 1) or the even lanes of two (stride 2), folded in window order
 * with lane masks (`bitselect`), so every lane computes what {@link interiorWindow} computes.
 */
const interiorWindows4 = (ctx: CodegenContext, kernel: PoolKernel, b: FunctionBuilder, l: PoolLocals, corner: string, v: VectorLocals): void => {
  const g = kernel.geometry;
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  let first = true;
  for (let i = 0; i < g.kh; i++)
    for (let j = 0; j < g.kw; j++) {
      const offset = (i * g.dh * g.w + j * g.dw) * 4;
      const load = (extra: number): string => `(v128.load offset=${offset + extra} align=4 ${get(corner)})`;
      b.set(v.value, g.sw === 1 ? load(0) : `(i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 ${load(0)} ${load(16)})`);
      const tapAddresses = `(i32x4.add (i32x4.splat (i32.add ${get(corner)} ${i32c(offset)})) (v128.const i32x4 0 ${4 * g.sw} ${8 * g.sw} ${12 * g.sw}))`;
      if (first) {
        b.set(v.acc, get(v.value));
        if (kernel.op === "max_backward") b.set(v.best, tapAddresses);
      } else if (kernel.op === "avg") b.set(v.acc, `(f32x4.add ${get(v.acc)} ${get(v.value)})`);
      else {
        // first maximum wins; NaN beats a number (lane by lane, as foldTap)
        b.set(v.mask, `(v128.or (f32x4.gt ${get(v.value)} ${get(v.acc)}) (v128.and (f32x4.ne ${get(v.value)} ${get(v.value)}) (f32x4.eq ${get(v.acc)} ${get(v.acc)})))`);
        b.set(v.acc, `(v128.bitselect ${get(v.value)} ${get(v.acc)} ${get(v.mask)})`);
        if (kernel.op === "max_backward") b.set(v.best, `(v128.bitselect ${tapAddresses} ${get(v.best)} ${get(v.mask)})`);
      }
      first = false;
    }
  const dst = `(i32.add ${i32c(out)} (i32.shl ${get(l.window)} ${i32c(2)}))`;
  if (kernel.op === "max") b.emit(`(v128.store align=4 ${dst} ${get(v.acc)})`);
  else if (kernel.op === "avg") {
    const divisors = addrOf(ctx, kernel.divisors);
    b.emit(`(v128.store align=4 ${dst} (f32x4.mul ${get(v.acc)} (v128.load offset=${divisors} align=4 (i32.shl ${iadd(imul(get(l.oh), g.wo), get(l.ow))} ${i32c(2)}))))`);
  } else {
    const grad = addrOf(ctx, kernel.grad);
    for (let lane = 0; lane < 4; lane++) {
      b.set(v.at, `(i32.add (i32x4.extract_lane ${lane} ${get(v.best)}) ${i32c(out - x)})`);
      b.emit(`(f32.store ${get(v.at)} (f32.add (f32.load ${get(v.at)}) (f32.load offset=${grad + lane * 4} (i32.shl ${get(l.window)} ${i32c(2)}))))`);
    }
  }
  b.set(l.window, `(i32.add ${get(l.window)} ${i32c(4)})`);
};

/** max / avg / max-backward windows, one output position at a time (taps outside the input skipped; max pads with −∞). */
export const poolKernel = (ctx: CodegenContext, kernel: PoolKernel, b: FunctionBuilder): void => {
  const g: PoolGeometry = kernel.geometry;
  if (g.planes === 0 || g.ho === 0 || g.wo === 0) return;
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const l: PoolLocals = {
    p: b.local("i32", "pp"),
    oh: b.local("i32", "oh"),
    ow: b.local("i32", "ow"),
    value: b.local("f32", "v"),
    acc: b.local("f32", "acc"),
    best: b.local("i32", "best"),
    window: b.local("i32", "win"),
    i: b.local("i32", "ki"),
    j: b.local("i32", "kj"),
    ih: b.local("i32", "ih"),
    iw: b.local("i32", "iw"),
    at: b.local("i32", "at"),
    seen: b.local("i32", "seen"),
    take: b.local("i32", "take"),
  };
  if (kernel.op === "max_backward") b.emit(`(memory.fill ${i32c(out)} ${i32c(0)} ${i32c(g.planes * g.h * g.w * 4)})`);
  b.set(l.window, i32c(0));
  const [ohLo, ohHi] = interiorRange(g.h, g.ho, g.kh, g.sh, g.ph, g.dh);
  const [owLo, owHi] = interiorRange(g.w, g.wo, g.kw, g.sw, g.pw, g.dw);
  const unrolled = g.kh * g.kw <= POOL_UNROLL_TAPS && ohLo < ohHi && owLo < owHi;
  const checkedRow = (): void => b.forRange(l.ow, 0, g.wo, 1, () => checkedWindow(ctx, kernel, b, l));
  const corner = b.local("i32", "corner");
  const vectors: VectorLocals = { value: b.local("v128", "vv"), acc: b.local("v128", "vacc"), best: b.local("v128", "vbest"), mask: b.local("v128", "vmask"), at: b.local("i32", "vat") };
  b.forRange(l.p, 0, g.planes, 1, () =>
    b.forRange(l.oh, 0, g.ho, 1, () => {
      if (!unrolled) return checkedRow();
      b.when(
        `(i32.and (i32.ge_s ${get(l.oh)} ${i32c(ohLo)}) (i32.lt_s ${get(l.oh)} ${i32c(ohHi)}))`,
        () => {
          b.forRange(l.ow, 0, owLo, 1, () => checkedWindow(ctx, kernel, b, l));
          // the window corner (oh·sh − ph, owLo·sw − pw) of plane p, then sw floats per window
          const row = `(i32.add ${imul(get(l.p), g.h * g.w)} (i32.sub ${imul(get(l.oh), g.sh * g.w)} ${i32c(g.ph * g.w)}))`;
          b.set(corner, iadd(i32c(x), `(i32.shl (i32.add ${row} ${i32c(owLo * g.sw - g.pw)}) ${i32c(2)})`));
          const vectorEnd = g.sw <= 2 ? owLo + Math.floor((owHi - owLo) / 4) * 4 : owLo;
          b.forRange(l.ow, owLo, vectorEnd, 4, () => {
            interiorWindows4(ctx, kernel, b, l, corner, vectors);
            b.set(corner, `(i32.add ${get(corner)} ${i32c(g.sw * 16)})`);
          });
          b.forRange(l.ow, vectorEnd, owHi, 1, () => {
            interiorWindow(ctx, kernel, b, l, corner);
            b.set(corner, `(i32.add ${get(corner)} ${i32c(g.sw * 4)})`);
          });
          b.forRange(l.ow, owHi, g.wo, 1, () => checkedWindow(ctx, kernel, b, l));
        },
        checkedRow,
      );
    }),
  );
};
