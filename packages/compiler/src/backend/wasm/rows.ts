/**
 * @file Row kernels (softmax, logsumexp, argmax) and the row skeleton every row kernel is built
 * from (`forRows`, `rowPass`, `RowSum`, the max / logsumexp passes), mirroring `@graft/runtime`'s
 * kernels-js.ts; plus gather / scatter_add.
 */
import { type Kernel, type Rows } from "../kernels.js";
import { addrOf, type CodegenContext } from "./context.js";
import { horizontal, sizeOf } from "./expr.js";
import { exp, expNeg, Lanes, log } from "./mathlib.js";
import { f32c, FunctionBuilder, get, i32c, iadd, imul, ld, st, ZERO } from "./wat-builder.js";

export const vty = (L: Lanes): "v128" | "f32" => (L.vector ? "v128" : "f32");

// ----- row kernels -----------------------------------------------------------------------------------


/**
 * Loops over the rows of a layout. `body(row, base)`: `row` = o·inner + i (i32 code), `base` = the
 * byte offset of the row's element 0 relative to its buffer.
 */
export const forRows = (b: FunctionBuilder, rows: Rows, body: (row: string, base: string) => void): void => {
  const o = b.local("i32", "ro");
  if (rows.inner === 1) {
    b.forRange(o, 0, rows.outer, 1, () => {
      const base = b.bind("i32", imul(get(o), rows.size * 4), "rb");
      body(get(o), base);
    });
    return;
  }
  const i = b.local("i32", "ri");
  b.forRange(o, 0, rows.outer, 1, () =>
    b.forRange(i, 0, rows.inner, 1, () => {
      const row = b.bind("i32", iadd(imul(get(o), rows.inner), get(i)), "rr");
      const base = b.bind("i32", `(i32.shl ${iadd(imul(get(o), rows.size * rows.inner), get(i))} ${i32c(2)})`, "rb");
      body(row, base);
    }),
  );
};

/**
 * One pass over a row's elements: `body(L, at, c)` with `at` the byte offset (relative to the
 * buffers) of element c (scalar) or elements c..c+3 (vector, contiguous rows of ≥ 4 only).
 */
/** Vectors per iteration of the unrolled row loops (V8 pays a stack check per loop iteration). */
export const ROW_UNROLL = 4;

export const rowPass = (b: FunctionBuilder, rows: Rows, base: string, vectorLanes: Lanes | undefined, body: (L: Lanes, at: string, c: string) => void): void => {
  const c = b.local("i32", "c");
  const at = b.local("i32", "at");
  const size = rows.size;
  const stride = rows.inner * 4;
  const vectorEnd = vectorLanes !== undefined && rows.inner === 1 ? size - (size % 4) : 0;
  const unrolledEnd = vectorLanes !== undefined && rows.inner === 1 ? size - (size % (4 * ROW_UNROLL)) : 0;
  b.set(at, base);
  if (vectorLanes !== undefined) {
    // slot k of an unrolled iteration gets its own lanes object, so accumulators can be per slot
    b.forRange(c, 0, unrolledEnd, 4 * ROW_UNROLL, () => {
      for (let k = 0; k < ROW_UNROLL; k++) body(new Lanes(true, vectorLanes.relaxed, k), k === 0 ? get(at) : `(i32.add ${get(at)} ${i32c(16 * k)})`, k === 0 ? get(c) : `(i32.add ${get(c)} ${i32c(4 * k)})`);
      b.set(at, `(i32.add ${get(at)} ${i32c(16 * ROW_UNROLL)})`);
    });
    b.forRange(c, unrolledEnd, vectorEnd, 4, () => {
      body(vectorLanes, get(at), get(c));
      b.set(at, `(i32.add ${get(at)} ${i32c(16)})`);
    });
  }
  b.forRange(c, vectorEnd, size, 1, () => {
    body(new Lanes(false), get(at), get(c));
    b.set(at, `(i32.add ${get(at)} ${i32c(stride)})`);
  });
};

/** A sum over a row pass: one vector accumulator per unrolled slot and a scalar one, combined at the end (f32). */
export class RowSum {
  readonly s: string;
  readonly v: readonly string[];
  constructor(private readonly b: FunctionBuilder) {
    this.s = b.local("f32", "sum");
    this.v = Array.from({ length: ROW_UNROLL }, () => b.local("v128", "sumv"));
    b.set(this.s, f32c(0));
    for (const v of this.v) b.set(v, `(f32x4.splat ${f32c(0)})`);
  }
  add(L: Lanes, value: string): void {
    const target = L.vector ? (this.v[L.slot] ?? (this.v[0] as string)) : this.s;
    this.b.set(target, L.add(get(target), value));
  }
  total(): string {
    const vectors = this.v.map(get).reduce((p, q) => `(f32x4.add ${p} ${q})`);
    return `(f32.add ${horizontal("add", vectors, this.b)} ${get(this.s)})`;
  }
}

/**
 * The max pass of a row (max and an all-finite flag). For contiguous rows of ≥ 4 it is SIMD,
 * unrolled by 4 vectors; NaN is ignored by the max but caught by the finiteness check (the sum of
 * the row's values is finite only when every value is).
 */
export const rowMaxFinite = (b: FunctionBuilder, x: number, rows: Rows, base: string): { max: string; finite: string } => {
  const size = rows.size;
  const max = b.local("f32", "mx");
  const check = b.local("f32", "ck");
  b.set(max, f32c(-Infinity));
  b.set(check, f32c(0));
  const c = b.local("i32", "c");
  const at = b.local("i32", "at");
  b.set(at, base);
  let vectorEnd = 0;
  if (size >= 4) {
    const vmax = b.local("v128", "vmx");
    const vchk = b.local("v128", "vck");
    b.set(vmax, `(f32x4.splat ${f32c(-Infinity)})`);
    b.set(vchk, `(f32x4.splat ${f32c(0)})`);
    const unrolledEnd = size - (size % 16);
    b.forRange(c, 0, unrolledEnd, 16, () => {
      const v = [0, 1, 2, 3].map((k) => b.bind("v128", ld("v128", x + 16 * k, get(at)), "rv"));
      b.set(vmax, `(f32x4.pmax ${get(vmax)} (f32x4.pmax (f32x4.pmax ${v[0]} ${v[1]}) (f32x4.pmax ${v[2]} ${v[3]})))`);
      b.set(vchk, `(f32x4.add ${get(vchk)} (f32x4.add (f32x4.add ${v[0]} ${v[1]}) (f32x4.add ${v[2]} ${v[3]})))`);
      b.set(at, `(i32.add ${get(at)} ${i32c(64)})`);
    });
    vectorEnd = size - (size % 4);
    b.forRange(c, unrolledEnd, vectorEnd, 4, () => {
      const v = b.bind("v128", ld("v128", x, get(at)), "rv");
      b.set(vmax, `(f32x4.pmax ${get(vmax)} ${v})`);
      b.set(vchk, `(f32x4.add ${get(vchk)} ${v})`);
      b.set(at, `(i32.add ${get(at)} ${i32c(16)})`);
    });
    b.set(max, horizontal("max", get(vmax), b));
    b.set(check, horizontal("add", get(vchk), b));
  }
  b.forRange(c, vectorEnd, size, 1, () => {
    const v = b.bind("f32", ld("f32", x, get(at)), "rs");
    b.set(max, `(f32.max ${get(max)} ${v})`);
    b.set(check, `(f32.add ${get(check)} ${v})`);
    b.set(at, `(i32.add ${get(at)} ${i32c(rows.inner * 4)})`);
  });
  return { max: get(max), finite: `(f32.eq (f32.sub ${get(check)} ${get(check)}) ${f32c(0)})` };
};

/** The reference max of a row: NaN wins, as `if (v > max || v !== v) max = v`. */
export const rowMaxExact = (b: FunctionBuilder, x: number, rows: Rows, base: string): string => {
  const max = b.local("f32", "mx");
  b.set(max, f32c(-Infinity));
  rowPass(b, rows, base, undefined, (_L, at) => {
    const v = b.bind("f32", ld("f32", x, at), "rs");
    b.set(max, `(select ${v} ${get(max)} (i32.or (f32.gt ${v} ${get(max)}) (f32.ne ${v} ${v})))`);
  });
  return get(max);
};

/** The exact scalar logsumexp of a row (kernels-js rowLse: shift 0 when the max is ±inf). */
/** A row's logsumexp as shift + log Σ exp(x − shift) (two f32 locals, so callers can avoid cancellation). */
export interface RowLse {
  readonly shift: string;
  readonly logSum: string;
}

export const newRowLse = (b: FunctionBuilder): RowLse => ({ shift: b.local("f32", "lsh"), logSum: b.local("f32", "lls") });
export const lseValue = (l: RowLse): string => `(f32.add ${get(l.logSum)} ${get(l.shift)})`;

/**
 * What a row with a +inf element gives: "inf" for logsumexp (torch.logsumexp), "nan" for
 * cross-entropy (PyTorch's log_softmax: x − max is NaN there; kernels-js ceRowStats).
 */
export type PlusInfinityRow = "inf" | "nan";

/** The exact scalar logsumexp of a row (kernels-js rowLse: shift 0 when the max is ±inf). */
export const rowLseExact = (b: FunctionBuilder, x: number, rows: Rows, base: string, into: RowLse, plusInfinity: PlusInfinityRow = "inf"): void => {
  const S = new Lanes(false);
  const max = b.bind("f32", rowMaxExact(b, x, rows, base), "m");
  b.set(into.shift, `(select ${f32c(0)} ${max} (f32.eq (f32.abs ${max}) ${f32c(Infinity)}))`);
  const sum = new RowSum(b);
  rowPass(b, rows, base, undefined, (L, at) => sum.add(L, exp(b, S, `(f32.sub ${ld("f32", x, at)} ${get(into.shift)})`)));
  b.set(into.logSum, log(b, S, sum.total()));
  if (plusInfinity === "nan") b.set(into.logSum, `(select ${f32c(Number.NaN)} ${get(into.logSum)} (f32.eq ${max} ${f32c(Infinity)}))`);
};

/** logsumexp of a row: SIMD (max pass, exp pass) for all-finite contiguous rows, exact otherwise. */
export const rowLse = (ctx: CodegenContext, b: FunctionBuilder, x: number, rows: Rows, base: string, into: RowLse, plusInfinity: PlusInfinityRow = "inf"): void => {
  if (rows.inner !== 1) {
    rowLseExact(b, x, rows, base, into, plusInfinity);
    return;
  }
  const V = new Lanes(true, ctx.relaxedSimd);
  const S = new Lanes(false);
  const { max, finite } = rowMaxFinite(b, x, rows, base);
  const m = b.bind("f32", max, "m");
  b.when(
    finite,
    () => {
      const sum = new RowSum(b);
      const vm = b.bind("v128", `(f32x4.splat ${m})`, "vm");
      rowPass(b, rows, base, V, (L, at) => sum.add(L, expNeg(b, L, L.sub(ld(L.vector ? "v128" : "f32", x, at), L.vector ? vm : m))));
      b.set(into.shift, m);
      b.set(into.logSum, log(b, S, sum.total()));
    },
    () => rowLseExact(b, x, rows, base, into, plusInfinity),
  );
};

/**
 * One SIMD pass over a contiguous row with a given shift s (e.g. the target logit): e = exp(x − s)
 * stored at `into`, Σe and max(x − s). `ok` holds when no exp could have overflowed
 * (max(x − s) ≤ 88) and every value was finite (Σe finite); otherwise the caller redoes the row
 * exactly.
 */
export const rowExpShifted = (ctx: CodegenContext, b: FunctionBuilder, x: number, rows: Rows, base: string, shift: string, into: number | undefined): { sum: string; ok: string } => {
  const V = new Lanes(true, ctx.relaxedSimd);
  const vs = b.bind("v128", `(f32x4.splat ${shift})`, "vs");
  const sum = new RowSum(b);
  const maxD = b.local("f32", "md");
  const vmaxD = Array.from({ length: ROW_UNROLL }, () => b.local("v128", "vmd"));
  b.set(maxD, f32c(-Infinity));
  for (const v of vmaxD) b.set(v, `(f32x4.splat ${f32c(-Infinity)})`);
  rowPass(b, rows, base, V, (L, at) => {
    const d = b.bind(L.type, L.sub(ld(vty(L), x, at), L.vector ? vs : shift), "d");
    const vm = vmaxD[L.slot] ?? (vmaxD[0] as string);
    if (L.vector) b.set(vm, `(f32x4.pmax ${get(vm)} ${d})`);
    else b.set(maxD, `(f32.max ${get(maxD)} ${d})`);
    const e = b.bind(L.type, expNeg(b, L, d), "e");
    sum.add(L, e);
    if (into !== undefined) b.emit(st(vty(L), into, at, e));
  });
  const total = b.bind("f32", sum.total(), "se");
  const largest = b.bind("f32", `(f32.max ${get(maxD)} ${horizontal("max", vmaxD.map(get).reduce((p, q) => `(f32x4.pmax ${p} ${q})`), b)})`, "mx");
  return { sum: total, ok: `(i32.and (f32.le ${largest} ${f32c(88)}) (f32.eq (f32.sub ${total} ${total}) ${f32c(0)}))` };
};

export const softmaxKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "softmax" }>, b: FunctionBuilder): void => {
  const { rows } = kernel;
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const S = new Lanes(false);
  const V = new Lanes(true, ctx.relaxedSimd);
  const exact = (base: string): void => {
    const max = b.bind("f32", rowMaxExact(b, x, rows, base), "m");
    const shift = b.bind("f32", `(select ${f32c(0)} ${max} (f32.eq ${max} ${f32c(-Infinity)}))`, "sh");
    const sum = new RowSum(b);
    rowPass(b, rows, base, undefined, (L, at) => sum.add(L, exp(b, S, `(f32.sub ${ld("f32", x, at)} ${shift})`)));
    const total = b.bind("f32", sum.total(), "tot");
    if (kernel.log) {
      const lt = b.bind("f32", log(b, S, total), "lt");
      rowPass(b, rows, base, undefined, (_L, at) => b.emit(st("f32", out, at, `(f32.sub (f32.sub ${ld("f32", x, at)} ${shift}) ${lt})`)));
    } else {
      const inv = b.bind("f32", `(f32.div ${f32c(1)} ${total})`, "inv");
      rowPass(b, rows, base, undefined, (_L, at) => b.emit(st("f32", out, at, `(f32.mul ${exp(b, S, `(f32.sub ${ld("f32", x, at)} ${shift})`)} ${inv})`)));
    }
  };
  forRows(b, rows, (_row, base) => {
    if (rows.inner !== 1) {
      exact(base);
      return;
    }
    const { max, finite } = rowMaxFinite(b, x, rows, base);
    const m = b.bind("f32", max, "m");
    b.when(
      finite,
      () => {
        const vm = b.bind("v128", `(f32x4.splat ${m})`, "vm");
        const shiftOf = (L: Lanes): string => (L.vector ? vm : m);
        const type = (L: Lanes): "v128" | "f32" => (L.vector ? "v128" : "f32");
        const sum = new RowSum(b);
        rowPass(b, rows, base, V, (L, at) => {
          const e = b.bind(L.type, expNeg(b, L, L.sub(ld(type(L), x, at), shiftOf(L))), "e");
          sum.add(L, e);
          if (!kernel.log) b.emit(st(type(L), out, at, e));
        });
        const total = b.bind("f32", sum.total(), "tot");
        if (kernel.log) {
          const lt = b.bind("f32", log(b, S, total), "lt");
          const vlt = b.bind("v128", `(f32x4.splat ${lt})`, "vlt");
          rowPass(b, rows, base, V, (L, at) => b.emit(st(type(L), out, at, L.sub(L.sub(ld(type(L), x, at), shiftOf(L)), L.vector ? vlt : lt))));
        } else {
          const inv = b.bind("f32", `(f32.div ${f32c(1)} ${total})`, "inv");
          const vinv = b.bind("v128", `(f32x4.splat ${inv})`, "vinv");
          rowPass(b, rows, base, V, (L, at) => b.emit(st(type(L), out, at, L.mul(ld(type(L), out, at), L.vector ? vinv : inv))));
        }
      },
      () => exact(base),
    );
  });
};

export const logsumexpKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "logsumexp" }>, b: FunctionBuilder): void => {
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const l = newRowLse(b);
  forRows(b, kernel.rows, (row, base) => {
    rowLse(ctx, b, x, kernel.rows, base, l);
    b.emit(st("f32", out, `(i32.shl ${row} ${i32c(2)})`, lseValue(l)));
  });
};

export const argmaxKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "argmax" }>, b: FunctionBuilder): void => {
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const best = b.local("i32", "best");
  const bestValue = b.local("f32", "bv");
  forRows(b, kernel.rows, (row, base) => {
    b.set(best, ZERO);
    b.set(bestValue, f32c(-Infinity));
    const done = b.label("done");
    b.block(`(block ${done}`, () =>
      rowPass(b, kernel.rows, base, undefined, (_L, at, c) => {
        const v = b.bind("f32", ld("f32", x, at), "v");
        b.when(`(f32.ne ${v} ${v})`, () => {
          b.set(best, c);
          b.emit(`(br ${done})`);
        });
        b.when(`(f32.gt ${v} ${get(bestValue)})`, () => {
          b.set(bestValue, v);
          b.set(best, c);
        });
      }),
    );
    b.emit(st("i32", out, `(i32.shl ${row} ${i32c(2)})`, get(best)));
  });
};


/** gather / scatter_add over contiguous operands; returns 1 when an index is out of range. */
export const gatherKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "gather" }>, b: FunctionBuilder): void => {
  const { indexShape, sourceShape, dim } = kernel;
  const rank = indexShape.length;
  const strides = sourceShape.map((_, axis) => sizeOf(sourceShape.slice(axis + 1)));
  const source = addrOf(ctx, kernel.source);
  const index = addrOf(ctx, kernel.index);
  const out = addrOf(ctx, kernel.out);
  const sourceBuffer = ctx.buffers[kernel.source];
  const int = sourceBuffer !== undefined && sourceBuffer.dtype !== "f32" && sourceBuffer.dtype !== "f64";
  const limit = sourceShape[dim] ?? 0;
  if (kernel.scatter && sizeOf(sourceShape) > 0) b.emit(`(memory.fill ${i32c(out)} ${ZERO} ${i32c(sizeOf(sourceShape) * 4)})`);
  if (indexShape.some((d) => d === 0) || rank === 0) {
    b.emit(ZERO);
    return;
  }
  const counters = indexShape.map(() => b.local("i32", "g"));
  const flat = b.local("i32", "flat");
  b.set(flat, ZERO);
  const rec = (axis: number): void => {
    if (axis === rank) {
      const k = b.bind("i32", ld("i32", index, get(flat)), "k");
      b.when(`(i32.ge_u ${k} ${i32c(limit)})`, () => b.emit(`(return ${i32c(1)})`));
      let at = ZERO;
      for (let a = 0; a < rank; a++) at = iadd(at, a === dim ? imul(k, (strides[a] ?? 0) * 4) : imul(get(counters[a] as string), (strides[a] ?? 0) * 4));
      const atLocal = b.bind("i32", at, "at");
      if (kernel.scatter) {
        const type = int ? "i32" : "f32";
        b.emit(st(type, out, atLocal, `(${type}.add ${ld(type, out, atLocal)} ${ld(type, source, get(flat))})`));
      } else b.emit(st("i32", out, get(flat), ld("i32", source, atLocal)));
      b.set(flat, `(i32.add ${get(flat)} ${i32c(4)})`);
      return;
    }
    b.forRange(counters[axis] as string, 0, indexShape[axis] ?? 1, 1, () => rec(axis + 1));
  };
  rec(0);
  b.emit(ZERO);
};

