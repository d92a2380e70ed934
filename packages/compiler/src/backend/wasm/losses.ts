/**
 * @file Loss kernels: cross-entropy forward, backward, fused and pipelined (sharing one setup
 * `ceSetup` and one row tail `storeRowLoss` on the row skeleton of rows.ts), nll_loss
 * forward/backward and binary cross-entropy with logits.
 */
import { type CrossEntropyAttrs } from "@graft/core";
import { type Kernel, reductionCode, type Rows } from "../kernels.js";
import { addrOf, type CodegenContext } from "./context.js";
import { horizontal } from "./expr.js";
import { exp, expNeg, Lanes, log, log1pNonNeg } from "./mathlib.js";
import { vty, forRows, newRowLse, ROW_UNROLL, rowExpShifted, type RowLse, rowLse, rowLseExact, rowMaxFinite, rowPass, RowSum } from "./rows.js";
import { f32c, f64c, FunctionBuilder, get, i32c, iadd, ld, st, ZERO } from "./wat-builder.js";

/** What the cross-entropy kernels share: addresses and attributes of one (x, target, weight). */
export interface CeSetup {
  readonly ctx: CodegenContext;
  readonly b: FunctionBuilder;
  readonly rows: Rows;
  readonly attrs: CrossEntropyAttrs;
  readonly x: number;
  readonly t: number;
  readonly w: number | undefined;
  readonly eps: number;
  readonly prob: boolean;
  readonly size: number;
  /** SIMD lanes for passes over contiguous rows, else undefined. */
  readonly vector: Lanes | undefined;
}

export const ceSetup = (ctx: CodegenContext, b: FunctionBuilder, kernel: Extract<Kernel, { kind: "cross_entropy" | "cross_entropy_backward" }>): CeSetup => ({
  ctx,
  b,
  rows: kernel.rows,
  attrs: kernel.attrs,
  x: addrOf(ctx, kernel.x),
  t: addrOf(ctx, kernel.target),
  w: kernel.weight === undefined ? undefined : addrOf(ctx, kernel.weight),
  eps: kernel.attrs.labelSmoothing,
  prob: kernel.attrs.target === "prob",
  size: kernel.rows.size,
  vector: kernel.rows.inner === 1 ? new Lanes(true, ctx.relaxedSimd) : undefined,
});


/** w[c] for element c of a row (1 without weights). */
export const classWeight = (s: CeSetup, L: Lanes, c: string): string => (s.w === undefined ? L.fc(1) : ld(vty(L), s.w, `(i32.shl ${c} ${i32c(2)})`));

/** w[y] as f64 code. */
export const labelWeight = (s: CeSetup, y: string): string => (s.w === undefined ? f64c(1) : `(f64.promote_f32 ${ld("f32", s.w, `(i32.shl ${y} ${i32c(2)})`)})`);

/** Byte offset of x[row][y] relative to the buffers. */
export const labelAt = (s: CeSetup, base: string, y: string): string => (s.rows.inner === 1 ? iadd(base, `(i32.shl ${y} ${i32c(2)})`) : iadd(base, `(i32.mul ${y} ${i32c(s.rows.inner * 4)})`));

/**
 * Loss of one row (kernels-js crossEntropy) given its LSE l = shift + logSum, into `loss` (f64);
 * adds the row's weight to `denominator`. l − x_c is computed as (shift − x_c) + logSum, so a
 * small loss next to large logits keeps its precision.
 */
export const ceRowLoss = (s: CeSetup, base: string, y: string, l: RowLse, wTotal: string, loss: string, denominator: string): void => {
  const { b, eps, size } = s;
  const shift = get(l.shift);
  const logSum = b.bind("f64", `(f64.promote_f32 ${get(l.logSum)})`, "ls");
  const vsh = b.bind("v128", `(f32x4.splat ${shift})`, "vsh");
  const shiftOf = (L: Lanes): string => (L.vector ? vsh : shift);
  if (!s.prob) {
    const wy = b.bind("f64", labelWeight(s, y), "wy");
    b.set(loss, `(f64.mul (f64.mul ${f64c(1 - eps)} ${wy}) (f64.add (f64.promote_f32 (f32.sub ${shift} ${ld("f32", s.x, labelAt(s, base, y))})) ${logSum}))`);
    if (eps > 0) {
      const smooth = new RowSum(b);
      rowPass(b, s.rows, base, s.vector, (L, at, c) => smooth.add(L, L.mul(classWeight(s, L, c), L.sub(shiftOf(L), ld(vty(L), s.x, at)))));
      b.set(loss, `(f64.add ${get(loss)} (f64.mul ${f64c(eps / size)} (f64.add (f64.promote_f32 ${smooth.total()}) (f64.mul ${logSum} ${wTotal}))))`);
    }
    b.set(denominator, `(f64.add ${get(denominator)} ${wy})`);
    return;
  }
  const terms = new RowSum(b);
  const mass = new RowSum(b);
  rowPass(b, s.rows, base, s.vector, (L, at, c) => {
    const tc = b.bind(L.type, L.add(L.mul(L.fc(1 - eps), ld(vty(L), s.t, at)), L.fc(eps / size)), "tc");
    const wt = b.bind(L.type, L.mul(classWeight(s, L, c), tc), "wt");
    const skip = b.bind(L.itype, L.fop("eq", tc, L.fc(0)), "z");
    terms.add(L, L.select(L.fc(0), L.mul(wt, L.sub(shiftOf(L), ld(vty(L), s.x, at))), skip));
    mass.add(L, wt);
  });
  b.set(loss, `(f64.add (f64.promote_f32 ${terms.total()}) (f64.mul ${logSum} (f64.promote_f32 ${mass.total()})))`);
  b.set(denominator, `(f64.add ${get(denominator)} ${f64c(1)})`);
};

/** Σ_c w_c·t_c of one row (the mass multiplying softmax in the gradient) into `mass` (f64). */
export const ceRowMass = (s: CeSetup, base: string, y: string, wTotal: string, mass: string): void => {
  const { b, eps, size } = s;
  if (!s.prob) {
    b.set(mass, `(f64.add (f64.mul ${f64c(1 - eps)} ${labelWeight(s, y)}) (f64.mul ${f64c(eps / size)} ${wTotal}))`);
    return;
  }
  const sum = new RowSum(b);
  rowPass(b, s.rows, base, s.vector, (L, at, c) => sum.add(L, L.mul(classWeight(s, L, c), L.add(L.mul(L.fc(1 - eps), ld(vty(L), s.t, at)), L.fc(eps / size)))));
  b.set(mass, `(f64.promote_f32 ${sum.total()})`);
};

/**
 * The exact scalar gradient row: out = scale·(exp((x − shift) − logSum)·mass − w·tc). The shift and
 * log Σ stay apart: their f32 sum would lose log Σ next to a huge shift (3e38 + log 2 = 3e38).
 */
export const ceRowGradExact = (s: CeSetup, base: string, y: string, l: RowLse, scale: string, mass: string, out: number): void => {
  const { b, eps, size } = s;
  const S = new Lanes(false);
  const scale32 = b.bind("f32", `(f32.demote_f64 ${scale})`, "sc");
  const mass32 = b.bind("f32", `(f32.demote_f64 ${mass})`, "ms");
  rowPass(b, s.rows, base, undefined, (_L, at, c) => {
    const p = exp(b, S, `(f32.sub (f32.sub ${ld("f32", s.x, at)} ${get(l.shift)}) ${get(l.logSum)})`);
    const tc = s.prob ? `(f32.add (f32.mul ${f32c(1 - eps)} ${ld("f32", s.t, at)}) ${f32c(eps / size)})` : `(f32.add (select ${f32c(1 - eps)} ${f32c(0)} (i32.eq ${c} ${y})) ${f32c(eps / size)})`;
    b.emit(st("f32", out, at, `(f32.mul ${scale32} (f32.sub (f32.mul ${p} ${mass32}) (f32.mul ${classWeight(s, S, c)} ${tc})))`));
  });
};

/**
 * The SIMD gradient row of a contiguous, all-finite row, from `p` = softmax of element(s) at `at`
 * (code per lane width): out = scale·mass·p − scale·w·tc, the target class of index targets
 * rewritten exactly afterwards.
 */
export const ceRowGradFast = (s: CeSetup, base: string, y: string, scale: string, mass: string, out: number, p: (L: Lanes, at: string) => string, unit?: string): void => {
  const { b, eps, size } = s;
  const S = new Lanes(false);
  const V = s.vector ?? new Lanes(true);
  if (!s.prob) {
    // p(…)·unit is the probability; unit folds into the factor a
    const a = b.bind("f32", unit === undefined ? `(f32.demote_f64 (f64.mul ${scale} ${mass}))` : `(f32.mul (f32.demote_f64 (f64.mul ${scale} ${mass})) ${unit})`, "a");
    const c0 = b.bind("f32", `(f32.demote_f64 (f64.mul ${scale} ${f64c(eps / size)}))`, "c0");
    const va = b.bind("v128", `(f32x4.splat ${a})`, "va");
    const vc0 = b.bind("v128", `(f32x4.splat ${c0})`, "vc0");
    // the target class's probability, taken before the pass may overwrite what `p` reads
    const yAt = b.bind("i32", labelAt(s, base, y), "ya");
    const py = b.bind("f32", unit === undefined ? p(S, yAt) : `(f32.mul ${p(S, yAt)} ${unit})`, "py");
    rowPass(b, s.rows, base, V, (L, at, c) => {
      let value = L.mul(p(L, at), L.vector ? va : a);
      if (eps > 0) value = L.sub(value, L.mul(classWeight(s, L, c), L.vector ? vc0 : c0));
      b.emit(st(vty(L), out, at, value));
    });
    b.emit(st("f32", out, yAt, `(f32.demote_f64 (f64.mul ${scale} (f64.sub (f64.mul (f64.promote_f32 ${py}) ${mass}) (f64.mul ${labelWeight(s, y)} ${f64c(1 - eps + eps / size)}))))`));
    return;
  }
  const scale32 = b.bind("f32", `(f32.demote_f64 ${scale})`, "sc");
  const mass32 = b.bind("f32", `(f32.demote_f64 ${mass})`, "ms");
  const vs = b.bind("v128", `(f32x4.splat ${scale32})`, "vs");
  const vm = b.bind("v128", `(f32x4.splat ${mass32})`, "vm");
  const vunit = unit === undefined ? undefined : b.bind("v128", `(f32x4.splat ${unit})`, "vu");
  rowPass(b, s.rows, base, V, (L, at, c) => {
    const tc = L.add(L.mul(L.fc(1 - eps), ld(vty(L), s.t, at)), L.fc(eps / size));
    const prob = unit === undefined ? p(L, at) : L.mul(p(L, at), L.vector ? (vunit ?? unit) : unit);
    b.emit(st(vty(L), out, at, L.mul(L.vector ? vs : scale32, L.sub(L.mul(prob, L.vector ? vm : mass32), L.mul(classWeight(s, L, c), tc)))));
  });
};

/** Σ w over classes (or the class count) as f64 code. */
export const weightTotal = (s: CeSetup): string => {
  if (s.w === undefined) return f64c(s.size);
  const { b } = s;
  const wt = b.local("f32", "wt");
  const q = b.local("i32", "q");
  b.set(wt, f32c(0));
  b.forRange(q, 0, s.size, 1, () => b.set(wt, `(f32.add ${get(wt)} ${ld("f32", s.w ?? 0, `(i32.shl ${get(q)} ${i32c(2)})`)})`));
  return b.bind("f64", `(f64.promote_f32 ${get(wt)})`, "wtot");
};

/**
 * Returns status 1 from the kernel when a class target is outside [0, classes) and is not
 * ignore_index (targets computed in the graph are not validated before the run, as feeds are).
 */
export const checkTarget = (b: FunctionBuilder, y: string, classes: number, ignoreIndex: number): void =>
  b.when(`(i32.and (i32.ne ${y} ${i32c(ignoreIndex)}) (i32.ge_u ${y} ${i32c(classes)}))`, () => b.emit(`(return ${i32c(1)})`));

/** Σ w[y] (or the count) over rows whose label is not ignored: the mean denominator (f64 code). */
export const labelWeightTotal = (b: FunctionBuilder, t: number, w: number | undefined, rowCount: number, ignoreIndex: number, classes: number): string => {
  const totalW = b.local("f64", "lw");
  const r = b.local("i32", "r");
  b.set(totalW, f64c(0));
  b.forRange(r, 0, rowCount, 1, () => {
    const y = b.bind("i32", ld("i32", t, `(i32.shl ${get(r)} ${i32c(2)})`), "y");
    checkTarget(b, y, classes, ignoreIndex);
    b.when(`(i32.ne ${y} ${i32c(ignoreIndex)})`, () =>
      b.set(totalW, `(f64.add ${get(totalW)} ${w === undefined ? f64c(1) : `(f64.promote_f32 ${ld("f32", w, `(i32.shl ${y} ${i32c(2)})`)})`})`),
    );
  });
  return get(totalW);
};

/**
 * The row skeleton of the cross-entropy kernels: per row its target (index targets are checked
 * against the class count; -1 for probability targets); a row whose target is ignore_index runs
 * `ignored` and nothing else, every other row runs `body`.
 */
export const forCeRows = (s: CeSetup, ignored: (rowAt: string, base: string) => void, body: (rowAt: string, base: string, y: string) => void): void => {
  const { b } = s;
  forRows(b, s.rows, (row, base) => {
    const rowAt = `(i32.shl ${row} ${i32c(2)})`;
    const next = b.label("next");
    b.block(`(block ${next}`, () => {
      const y = s.prob ? i32c(-1) : b.bind("i32", ld("i32", s.t, rowAt), "y");
      if (!s.prob) checkTarget(b, y, s.size, s.attrs.ignoreIndex);
      if (!s.prob)
        b.when(`(i32.eq ${y} ${i32c(s.attrs.ignoreIndex)})`, () => {
          ignored(rowAt, base);
          b.emit(`(br ${next})`);
        });
      body(rowAt, base, y);
    });
  });
};

/** The backward's scale denominator: 1 (sum/none), the row count (prob targets) or Σ w[y]. */
export const backwardDenominator = (s: CeSetup): string => {
  const rowCount = s.rows.outer * s.rows.inner;
  const reduction = reductionCode(s.attrs.reduction);
  return s.b.bind("f64", reduction !== 0 ? f64c(1) : s.prob ? f64c(rowCount) : labelWeightTotal(s.b, s.t, s.w, rowCount, s.attrs.ignoreIndex, s.size), "bden");
};

/** Writes the reduced loss at the end of a forward kernel. */
/** Where a cross-entropy kernel puts each row's results: the saved LSE, and the loss (per row, or summed). */
export interface CeRowSinks {
  readonly lse: number | undefined;
  readonly out: number | undefined;
  readonly reduction: 0 | 1 | 2 | undefined;
  readonly total: string;
  readonly loss: string;
  readonly denominator: string;
  readonly wTotal: string;
}

/**
 * The saved LSE of a cross-entropy row, as the kernel IR lays it out (kernels.ts, and kernels-js):
 * two f32 a row, the max shift at element 2·row and log Σ exp(x − shift) at 2·row + 1 — never their
 * sum, which loses log Σ next to a huge shift. `rowAt` is the row's byte offset in a one-f32-a-row
 * buffer (row·4).
 */
export const savedLse = {
  shiftAt: (rowAt: string): string => `(i32.shl ${rowAt} ${i32c(1)})`,
  logSumAt: (rowAt: string): string => `(i32.add (i32.shl ${rowAt} ${i32c(1)}) ${i32c(4)})`,
  store: (b: FunctionBuilder, lse: number, rowAt: string, shift: string, logSum: string): void => {
    b.emit(st("f32", lse, savedLse.shiftAt(rowAt), shift));
    b.emit(st("f32", lse, savedLse.logSumAt(rowAt), logSum));
  },
  load: (b: FunctionBuilder, lse: number, rowAt: string, into: RowLse): void => {
    b.set(into.shift, ld("f32", lse, savedLse.shiftAt(rowAt)));
    b.set(into.logSum, ld("f32", lse, savedLse.logSumAt(rowAt)));
  },
};

/** After a row's logsumexp: save it for a backward kernel, then write (none) or accumulate (mean/sum) the row's loss. */
export const storeRowLoss = (s: CeSetup, sinks: CeRowSinks, rowAt: string, base: string, y: string, l: RowLse): void => {
  const { b } = s;
  const { lse, out, reduction, total, loss } = sinks;
  if (lse !== undefined) savedLse.store(b, lse, rowAt, get(l.shift), get(l.logSum));
  if (out === undefined || reduction === undefined) return;
  ceRowLoss(s, base, y, l, sinks.wTotal, loss, sinks.denominator);
  if (reduction === 2) b.emit(st("f32", out, rowAt, `(f32.demote_f64 ${get(loss)})`));
  else b.set(total, `(f64.add ${get(total)} ${get(loss)})`);
};

export const finishLoss = (b: FunctionBuilder, reduction: 0 | 1 | 2, out: number, total: string, denominator: string): void => {
  if (reduction === 0) b.emit(st("f32", out, ZERO, `(f32.demote_f64 (f64.div ${total} ${denominator}))`));
  else if (reduction === 1) b.emit(st("f32", out, ZERO, `(f32.demote_f64 ${total})`));
};

export const crossEntropyKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "cross_entropy" }>, b: FunctionBuilder): void => {
  const s = ceSetup(ctx, b, kernel);
  const out = addrOf(ctx, kernel.out);
  const lse = kernel.lse === undefined ? undefined : addrOf(ctx, kernel.lse);
  const reduction = reductionCode(kernel.attrs.reduction);
  const total = b.local("f64", "total");
  const denominator = b.local("f64", "den");
  const loss = b.local("f64", "loss");
  const l = newRowLse(b);
  b.set(total, f64c(0));
  b.set(denominator, f64c(0));
  const wTotal = s.attrs.labelSmoothing > 0 && !s.prob ? weightTotal(s) : f64c(s.size);
  forCeRows(
    s,
    (rowAt) => {
      if (lse !== undefined) savedLse.store(b, lse, rowAt, f32c(0), f32c(0));
      if (reduction === 2) b.emit(st("f32", out, rowAt, f32c(0)));
    },
    (rowAt, base, y) => {
      if (!s.prob && s.vector !== undefined) {
        // shifted by the target logit: one exp pass, no max pass, and the loss is log Σ exactly
        const shift = b.bind("f32", ld("f32", s.x, labelAt(s, base, y)), "sh");
        const { sum, ok } = rowExpShifted(ctx, b, s.x, s.rows, base, shift, undefined);
        b.when(
          ok,
          () => {
            b.set(l.shift, shift);
            b.set(l.logSum, log(b, new Lanes(false), sum));
          },
          () => rowLseExact(b, s.x, s.rows, base, l, "nan"),
        );
      } else rowLse(ctx, b, s.x, s.rows, base, l, "nan");
      storeRowLoss(s, { lse, out, reduction, total, loss, denominator, wTotal }, rowAt, base, y, l);
    },
  );
  if (out !== undefined && reduction !== undefined) finishLoss(b, reduction, out, get(total), get(denominator));
};

export const crossEntropyBackwardKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "cross_entropy_backward" }>, b: FunctionBuilder): void => {
  const s = ceSetup(ctx, b, kernel);
  const g = addrOf(ctx, kernel.grad);
  const out = addrOf(ctx, kernel.out);
  const lse = kernel.lse === undefined ? undefined : addrOf(ctx, kernel.lse);
  const reduction = reductionCode(kernel.attrs.reduction);
  const denominator = backwardDenominator(s);
  const wTotal = weightTotal(s);
  const l = newRowLse(b);
  const mass = b.local("f64", "mass");
  forCeRows(
    s,
    (_rowAt, base) => rowPass(b, s.rows, base, s.vector, (L, at) => b.emit(st(vty(L), out, at, L.fc(0)))),
    (rowAt, base, y) => {
      const scale = b.bind("f64", `(f64.div (f64.promote_f32 ${ld("f32", g, reduction === 2 ? rowAt : ZERO)}) ${denominator})`, "scale");
      if (lse !== undefined) savedLse.load(b, lse, rowAt, l);
      else rowLse(ctx, b, s.x, s.rows, base, l, "nan");
      ceRowMass(s, base, y, wTotal, mass);
      if (s.vector === undefined) {
        ceRowGradExact(s, base, y, l, scale, get(mass), out);
        return;
      }
      const vsh = b.bind("v128", `(f32x4.splat ${get(l.shift)})`, "vsh");
      const vls = b.bind("v128", `(f32x4.splat ${get(l.logSum)})`, "vls");
      const finite = (v: string): string => `(f32.eq (f32.sub ${v} ${v}) ${f32c(0)})`;
      // p = exp((x − shift) − log Σ): with both finite, every exponent is ≤ 0 (up to rounding)
      b.when(
        `(i32.and ${finite(get(l.shift))} ${finite(get(l.logSum))})`,
        () => ceRowGradFast(s, base, y, scale, get(mass), out, (L, at) => expNeg(b, L, L.sub(L.sub(ld(vty(L), s.x, at), L.vector ? vsh : get(l.shift)), L.vector ? vls : get(l.logSum)))),
        () => ceRowGradExact(s, base, y, l, scale, get(mass), out),
      );
    },
  );
};

/**
 * The fused cross-entropy (+ backward) for index targets on contiguous rows, software-pipelined:
 * row r's exp pass (e = exp(x − x[y]) stored in the gradient row, Σe, max(x − x[y])) also rescales
 * row r − 1's stored e into its gradient (e·a − w·c0), so that pass costs no loop of its own. When
 * no row is pending, the rescale runs on a dummy row in the scratch area (no branch in the loop).
 * The target class of each row is written last, exactly. Rows that could overflow or hold a
 * non-finite value (and ignored rows) are written by the exact path and leave nothing pending.
 */
export const crossEntropyPipelinedKernel = (
  ctx: CodegenContext,
  forward: Extract<Kernel, { kind: "cross_entropy" }> | undefined,
  backward: Extract<Kernel, { kind: "cross_entropy_backward" }>,
  b: FunctionBuilder,
): void => {
  const s = ceSetup(ctx, b, backward);
  const { eps, size } = s;
  const S = new Lanes(false);
  const V = s.vector ?? new Lanes(true, ctx.relaxedSimd);
  const out = forward === undefined ? undefined : addrOf(ctx, forward.out);
  const lse = forward?.lse === undefined ? undefined : addrOf(ctx, forward.lse);
  const dOut = addrOf(ctx, backward.out);
  const g = addrOf(ctx, backward.grad);
  const reduction = forward === undefined ? undefined : reductionCode(forward.attrs.reduction);
  const backwardReduction = reductionCode(backward.attrs.reduction);
  const dummy = ctx.scratch;
  const total = b.local("f64", "total");
  const denominator = b.local("f64", "den");
  const loss = b.local("f64", "loss");
  const l = newRowLse(b);
  const mass = b.local("f64", "mass");
  // the pending row: absolute byte address of its gradient row, factors, and its target-class fix
  const prev = b.local("i32", "prev");
  const aPrev = b.local("f32", "ap");
  const c0Prev = b.local("f32", "cp");
  const fixAt = b.local("i32", "fixat");
  const fixValue = b.local("f32", "fixv");
  const vaPrev = b.local("v128", "vap");
  const vc0Prev = b.local("v128", "vcp");
  const clearPending = (): void => {
    b.set(prev, i32c(dummy));
    b.set(aPrev, f32c(1));
    b.set(c0Prev, f32c(0));
    b.set(fixAt, i32c(dummy));
    b.set(fixValue, f32c(0));
  };
  b.set(total, f64c(0));
  b.set(denominator, f64c(0));
  clearPending();
  const gradDenominator = backwardDenominator(s);
  const wTotal = weightTotal(s);
  /** e·a − w·c0 for the pending row's element(s) at byte offset `offset` of the row. */
  const rescale = (L: Lanes, offset: string, c: string): void => {
    const at = `(i32.add ${get(prev)} ${offset})`;
    let value = L.mul(ld(vty(L), 0, at), L.vector ? get(vaPrev) : get(aPrev));
    if (eps > 0) value = L.sub(value, L.mul(classWeight(s, L, c), L.vector ? get(vc0Prev) : get(c0Prev)));
    b.emit(st(vty(L), 0, at, value));
  };
  const finishPending = (): void => b.emit(st("f32", 0, get(fixAt), get(fixValue)));
  forRows(b, s.rows, (row, base) => {
    const rowAt = `(i32.shl ${row} ${i32c(2)})`;
    const y = b.bind("i32", ld("i32", s.t, rowAt), "y");
    checkTarget(b, y, size, s.attrs.ignoreIndex);
    const ignored = b.bind("i32", `(i32.eq ${y} ${i32c(s.attrs.ignoreIndex)})`, "ign");
    const yAt = b.bind("i32", iadd(base, `(i32.shl ${y} ${i32c(2)})`), "ya");
    // ignored rows run the pass too (for the pending row) with shift 0, then are zeroed
    const shift = b.bind("f32", `(select ${f32c(0)} ${ld("f32", s.x, `(select ${base} ${yAt} ${ignored})`)} ${ignored})`, "sh");
    b.set(vaPrev, `(f32x4.splat ${get(aPrev)})`);
    b.set(vc0Prev, `(f32x4.splat ${get(c0Prev)})`);
    const vs = b.bind("v128", `(f32x4.splat ${shift})`, "vs");
    const sum = new RowSum(b);
    const maxD = b.local("f32", "md");
    const vmaxD = Array.from({ length: ROW_UNROLL }, () => b.local("v128", "vmd"));
    b.set(maxD, f32c(-Infinity));
    for (const v of vmaxD) b.set(v, `(f32x4.splat ${f32c(-Infinity)})`);
    rowPass(b, s.rows, base, V, (L, at, c) => {
      const d = b.bind(L.type, L.sub(ld(vty(L), s.x, at), L.vector ? vs : shift), "d");
      const vm = vmaxD[L.slot] ?? (vmaxD[0] as string);
      if (L.vector) b.set(vm, `(f32x4.pmax ${get(vm)} ${d})`);
      else b.set(maxD, `(f32.max ${get(maxD)} ${d})`);
      const e = b.bind(L.type, expNeg(b, L, d), "e");
      sum.add(L, e);
      b.emit(st(vty(L), dOut, at, e));
      rescale(L, `(i32.shl ${c} ${i32c(2)})`, c);
    });
    finishPending();
    clearPending();
    const sumE = b.bind("f32", sum.total(), "se");
    const largest = `(f32.max ${get(maxD)} ${horizontal("max", vmaxD.map(get).reduce((p, q) => `(f32x4.pmax ${p} ${q})`), b)})`;
    const ok = `(i32.and (f32.le ${largest} ${f32c(88)}) (f32.eq (f32.sub ${sumE} ${sumE}) ${f32c(0)}))`;
    const next = b.label("next");
    b.block(`(block ${next}`, () => {
      b.when(ignored, () => {
        if (lse !== undefined) savedLse.store(b, lse, rowAt, f32c(0), f32c(0));
        if (reduction === 2 && out !== undefined) b.emit(st("f32", out, rowAt, f32c(0)));
        if (size > 0) b.emit(`(memory.fill (i32.add ${i32c(dOut)} ${base}) ${ZERO} ${i32c(size * 4)})`);
        b.emit(`(br ${next})`);
      });
      const scale = b.bind("f64", `(f64.div (f64.promote_f32 ${ld("f32", g, backwardReduction === 2 ? rowAt : ZERO)}) ${gradDenominator})`, "scale");
      ceRowMass(s, base, y, wTotal, mass);
      b.when(
        ok,
        () => {
          b.set(l.shift, shift);
          b.set(l.logSum, log(b, S, sumE));
          // pending: rescaled during the next row's pass; e_y = 1, so p_y = 1/Σe
          const inv = b.bind("f32", `(f32.div ${f32c(1)} ${sumE})`, "inv");
          b.set(prev, `(i32.add ${i32c(dOut)} ${base})`);
          b.set(aPrev, `(f32.mul (f32.demote_f64 (f64.mul ${scale} ${get(mass)})) ${inv})`);
          b.set(c0Prev, `(f32.demote_f64 (f64.mul ${scale} ${f64c(eps / size)}))`);
          b.set(fixAt, `(i32.add ${i32c(dOut)} ${yAt})`);
          b.set(
            fixValue,
            `(f32.demote_f64 (f64.mul ${scale} (f64.sub (f64.mul (f64.promote_f32 (f32.mul ${ld("f32", dOut, yAt)} ${inv})) ${get(mass)}) (f64.mul ${labelWeight(s, y)} ${f64c(1 - eps + eps / size)}))))`,
          );
        },
        () => {
          rowLseExact(b, s.x, s.rows, base, l, "nan");
          ceRowGradExact(s, base, y, l, scale, get(mass), dOut);
        },
      );
      storeRowLoss(s, { lse, out, reduction, total, loss, denominator, wTotal }, rowAt, base, y, l);
    });
  });
  // the last pending row
  b.set(vaPrev, `(f32x4.splat ${get(aPrev)})`);
  b.set(vc0Prev, `(f32x4.splat ${get(c0Prev)})`);
  rowPass(b, s.rows, ZERO, V, (L, _at, c) => rescale(L, `(i32.shl ${c} ${i32c(2)})`, c));
  finishPending();
  if (out !== undefined && reduction !== undefined) finishLoss(b, reduction, out, get(total), get(denominator));
};

/**
 * cross_entropy and its backward in one kernel over contiguous rows (inner = 1): one exp per
 * element instead of two. The exp pass keeps e = exp(x − s) in the gradient row (s = the target
 * logit for index targets — so the row loss is log Σe exactly, and no max pass is needed — or the
 * row max for probability targets); the gradient is then e·(scale·mass/Σe) − scale·w·tc. Rows
 * where that could overflow or that hold a non-finite value take the exact path of both kernels.
 */
export const crossEntropyFusedKernel = (
  ctx: CodegenContext,
  forward: Extract<Kernel, { kind: "cross_entropy" }> | undefined,
  backward: Extract<Kernel, { kind: "cross_entropy_backward" }>,
  b: FunctionBuilder,
): void => {
  if (backward.attrs.target === "index" && backward.rows.inner === 1 && backward.rows.size * 4 <= ctx.scratchBytes && ctx.pipelineCrossEntropy !== false) {
    crossEntropyPipelinedKernel(ctx, forward, backward, b);
    return;
  }
  const s = ceSetup(ctx, b, backward);
  const V = s.vector ?? new Lanes(true, ctx.relaxedSimd);
  const out = forward === undefined ? undefined : addrOf(ctx, forward.out);
  const lse = forward?.lse === undefined ? undefined : addrOf(ctx, forward.lse);
  const dOut = addrOf(ctx, backward.out);
  const g = addrOf(ctx, backward.grad);
  const reduction = forward === undefined ? undefined : reductionCode(forward.attrs.reduction);
  const backwardReduction = reductionCode(backward.attrs.reduction);
  const total = b.local("f64", "total");
  const denominator = b.local("f64", "den");
  const loss = b.local("f64", "loss");
  const l = newRowLse(b);
  const mass = b.local("f64", "mass");
  b.set(total, f64c(0));
  b.set(denominator, f64c(0));
  const gradDenominator = backwardDenominator(s);
  const wTotal = weightTotal(s);
  forCeRows(
    s,
    (rowAt, base) => {
      if (lse !== undefined) savedLse.store(b, lse, rowAt, f32c(0), f32c(0));
      if (reduction === 2 && out !== undefined) b.emit(st("f32", out, rowAt, f32c(0)));
      rowPass(b, s.rows, base, V, (L, at) => b.emit(st(vty(L), dOut, at, L.fc(0))));
    },
    (rowAt, base, y) => {
      const scale = b.bind("f64", `(f64.div (f64.promote_f32 ${ld("f32", g, backwardReduction === 2 ? rowAt : ZERO)}) ${gradDenominator})`, "scale");
      ceRowMass(s, base, y, wTotal, mass);
      const shift = b.bind("f32", s.prob ? rowMaxFinite(b, s.x, s.rows, base).max : ld("f32", s.x, labelAt(s, base, y)), "sh");
      const { sum, ok } = rowExpShifted(ctx, b, s.x, s.rows, base, shift, dOut);
      b.when(
        ok,
        () => {
          b.set(l.shift, shift);
          b.set(l.logSum, log(b, new Lanes(false), sum));
          const inv = b.bind("f32", `(f32.div ${f32c(1)} ${sum})`, "inv");
          ceRowGradFast(s, base, y, scale, get(mass), dOut, (L, at) => ld(vty(L), dOut, at), inv);
        },
        () => {
          rowLseExact(b, s.x, s.rows, base, l, "nan");
          ceRowGradExact(s, base, y, l, scale, get(mass), dOut);
        },
      );
      storeRowLoss(s, { lse, out, reduction, total, loss, denominator, wTotal }, rowAt, base, y, l);
    },
  );
  if (out !== undefined && reduction !== undefined) finishLoss(b, reduction, out, get(total), get(denominator));
};

export const nllLossKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "nll_loss" }>, b: FunctionBuilder): void => {
  const { rows, attrs } = kernel;
  const x = addrOf(ctx, kernel.x);
  const t = addrOf(ctx, kernel.target);
  const w = kernel.weight === undefined ? undefined : addrOf(ctx, kernel.weight);
  const out = addrOf(ctx, kernel.out);
  const reduction = reductionCode(attrs.reduction);
  const total = b.local("f64", "total");
  const denominator = b.local("f64", "den");
  const loss = b.local("f64", "loss");
  b.set(total, f64c(0));
  b.set(denominator, f64c(0));
  forRows(b, rows, (row, base) => {
    const rowAt = `(i32.shl ${row} ${i32c(2)})`;
    const y = b.bind("i32", ld("i32", t, rowAt), "y");
    checkTarget(b, y, rows.size, attrs.ignoreIndex);
    b.set(loss, f64c(0));
    b.when(`(i32.ne ${y} ${i32c(attrs.ignoreIndex)})`, () => {
      const wy = b.bind("f64", w === undefined ? f64c(1) : `(f64.promote_f32 ${ld("f32", w, `(i32.shl ${y} ${i32c(2)})`)})`, "wy");
      b.set(loss, `(f64.neg (f64.mul ${wy} (f64.promote_f32 ${ld("f32", x, iadd(base, `(i32.mul ${y} ${i32c(rows.inner * 4)})`))})))`);
      b.set(denominator, `(f64.add ${get(denominator)} ${wy})`);
    });
    if (reduction === 2) b.emit(st("f32", out, rowAt, `(f32.demote_f64 ${get(loss)})`));
    else b.set(total, `(f64.add ${get(total)} ${get(loss)})`);
  });
  if (reduction === 0) b.emit(st("f32", out, ZERO, `(f32.demote_f64 (f64.div ${get(total)} ${get(denominator)}))`));
  else if (reduction === 1) b.emit(st("f32", out, ZERO, `(f32.demote_f64 ${get(total)})`));
};

export const nllLossBackwardKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "nll_loss_backward" }>, b: FunctionBuilder): void => {
  const { rows, attrs } = kernel;
  const t = addrOf(ctx, kernel.target);
  const g = addrOf(ctx, kernel.grad);
  const w = kernel.weight === undefined ? undefined : addrOf(ctx, kernel.weight);
  const out = addrOf(ctx, kernel.out);
  const reduction = reductionCode(attrs.reduction);
  const rowCount = rows.outer * rows.inner;
  const denominator = b.bind("f64", reduction === 0 ? labelWeightTotal(b, t, w, rowCount, attrs.ignoreIndex, rows.size) : f64c(1), "den");
  const count = rows.outer * rows.size * rows.inner;
  if (count > 0) b.emit(`(memory.fill ${i32c(out)} ${ZERO} ${i32c(count * 4)})`);
  forRows(b, rows, (row, base) => {
    const rowAt = `(i32.shl ${row} ${i32c(2)})`;
    const y = b.bind("i32", ld("i32", t, rowAt), "y");
    checkTarget(b, y, rows.size, attrs.ignoreIndex);
    b.when(`(i32.ne ${y} ${i32c(attrs.ignoreIndex)})`, () => {
      const scale = `(f64.div (f64.promote_f32 ${ld("f32", g, reduction === 2 ? rowAt : ZERO)}) ${denominator})`;
      const wy = w === undefined ? f64c(1) : `(f64.promote_f32 ${ld("f32", w, `(i32.shl ${y} ${i32c(2)})`)})`;
      b.emit(st("f32", out, iadd(base, `(i32.mul ${y} ${i32c(rows.inner * 4)})`), `(f32.demote_f64 (f64.mul (f64.neg ${wy}) ${scale}))`));
    });
  });
};

export const bceKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "bce_logits" }>, b: FunctionBuilder): void => {
  const x = addrOf(ctx, kernel.x);
  const t = addrOf(ctx, kernel.target);
  const out = addrOf(ctx, kernel.out);
  const reduction = reductionCode(kernel.reduction);
  const V = new Lanes(true, ctx.relaxedSimd);
  const rows: Rows = { outer: 1, size: kernel.size, inner: 1 };
  const sum = new RowSum(b);
  rowPass(b, rows, ZERO, V, (L, at) => {
    const ty = L.vector ? "v128" : "f32";
    const v = b.bind(L.type, ld(ty, x, at), "v");
    const e = exp(b, L, L.fop("neg", L.fop("abs", v)));
    const loss = L.add(L.sub(L.fop("max", v, L.fc(0)), L.mul(v, ld(ty, t, at))), log1pNonNeg(b, L, e));
    if (reduction === 2) b.emit(st(ty, out, at, loss));
    else sum.add(L, loss);
  });
  if (reduction === 0) b.emit(st("f32", out, ZERO, `(f32.div ${sum.total()} ${f32c(kernel.size)})`));
  else if (reduction === 1) b.emit(st("f32", out, ZERO, sum.total()));
};

