/**
 * @file WAT building blocks for the WASM back end: a function builder (locals + statements), lane
 * helpers that write the same algorithm for scalar `f32` and SIMD `f32x4`, and the math library —
 * f32 exp/log/tanh/sigmoid/log_sigmoid as inline polynomials, and a scalar f64 pow.
 *
 * Accuracy (checked in the tests against `Math.fround(Math.<f>(x))` on f32 inputs):
 * - `exp`: ≤ 2 ulp over the whole range, including subnormal results; −inf and x < −103.97 → 0,
 *   x > 88.72 and +inf → +inf, NaN → NaN (exactly like `Math.exp` rounded to f32).
 * - `expNeg`: the row kernels' fast exp for arguments ≤ 88 (x − max, x − lse): ≤ 2 ulp, but
 *   results below e^−86.5 (≈ 2.6e−38) are flushed to 0 and NaN inputs are not supported (the
 *   row kernels only take this path for rows whose values are all finite).
 * - `log`: ≤ 1 ulp (Cephes logf), subnormals normalised; log(±0) = −inf, log(x < 0) = NaN,
 *   log(+inf) = +inf, NaN → NaN.
 * - `erf`: ≤ 7 ulp (erf-f32.ts).
 * - `tanh`, `sigmoid`, `logSigmoid`: a few ulp (Cephes tanhf; sigmoid/log-sigmoid through exp,
 *   log1p as log(w)·u/(w − 1)).
 * - `$pow64`: JavaScript `Math.pow` semantics (including pow(±1, ±inf) = NaN) in f64: integer
 *   exponents by binary exponentiation (exact for integer results), others through a f64 log/exp
 *   pair accurate to ~1e−16, so f32 results match `Math.fround(Math.pow(a, b))`.
 */

import { ERF_CLAMP, ERF_DENOMINATOR, ERF_NUMERATOR } from "../erf-f32.js";
import { f32c, f64c, fmtFloat, FunctionBuilder, i32c, type ValType } from "./wat-builder.js";

// ----- lanes ----------------------------------------------------------------------------------

/**
 * One algorithm, two widths: `Lanes(false)` writes scalar f32/i32 code, `Lanes(true)` f32x4/i32x4
 * code. Comparisons give 0/1 (scalar) or all-ones lane masks (vector); `select(a, b, m)` picks `a`
 * where `m` holds.
 */
export class Lanes {
  /** Float type prefix (`f32` / `f32x4`). */
  readonly f: string;
  /** Integer type prefix (`i32` / `i32x4`). */
  readonly i: string;
  /** The WASM value type of a value. */
  readonly type: ValType;

  constructor(
    readonly vector: boolean,
    /** Use `f32x4.relaxed_madd` for `fma` (vector only). */
    readonly relaxed = false,
    /** Which copy of an unrolled loop body this is (for per-copy accumulators). */
    readonly slot = 0,
  ) {
    this.f = vector ? "f32x4" : "f32";
    this.i = vector ? "i32x4" : "i32";
    this.type = vector ? "v128" : "f32";
  }

  /** The integer value type. */
  get itype(): ValType {
    return this.vector ? "v128" : "i32";
  }

  /** A float constant (splatted under SIMD). */
  fc(x: number): string {
    const v = fmtFloat(x);
    return this.vector ? `(v128.const f32x4 ${v} ${v} ${v} ${v})` : `(f32.const ${v})`;
  }
  /** An integer constant (splatted under SIMD). */
  ic(n: number): string {
    const v = n | 0;
    return this.vector ? `(v128.const i32x4 ${v} ${v} ${v} ${v})` : `(i32.const ${v})`;
  }
  /** A float instruction `f32.<op>` / `f32x4.<op>`. */
  fop(op: string, ...args: string[]): string {
    return `(${this.f}.${op} ${args.join(" ")})`;
  }
  /** An integer instruction `i32.<op>` / `i32x4.<op>`. */
  iop(op: string, ...args: string[]): string {
    return `(${this.i}.${op} ${args.join(" ")})`;
  }
  /** a + b. */
  add(a: string, b: string): string {
    return this.fop("add", a, b);
  }
  /** a − b. */
  sub(a: string, b: string): string {
    return this.fop("sub", a, b);
  }
  /** a · b. */
  mul(a: string, b: string): string {
    return this.fop("mul", a, b);
  }
  /** a / b. */
  div(a: string, b: string): string {
    return this.fop("div", a, b);
  }
  /** a·b + c (fused when relaxed SIMD is on). */
  fma(a: string, b: string, c: string): string {
    return this.vector && this.relaxed ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : this.add(this.mul(a, b), c);
  }
  /** max(x, lo), keeping a NaN x. */
  atLeast(x: string, lo: string): string {
    return this.vector ? `(f32x4.pmax ${x} ${lo})` : `(f32.max ${x} ${lo})`;
  }
  /** min(x, hi), keeping a NaN x. */
  atMost(x: string, hi: string): string {
    return this.vector ? `(f32x4.pmin ${x} ${hi})` : `(f32.min ${x} ${hi})`;
  }
  /** Float bits as integers. */
  bits(x: string): string {
    return this.vector ? x : `(i32.reinterpret_f32 ${x})`;
  }
  /** Integer bits as a float. */
  float(x: string): string {
    return this.vector ? x : `(f32.reinterpret_i32 ${x})`;
  }
  /** Bitwise and. */
  and(a: string, b: string): string {
    return this.vector ? `(v128.and ${a} ${b})` : `(i32.and ${a} ${b})`;
  }
  /** Bitwise or. */
  or(a: string, b: string): string {
    return this.vector ? `(v128.or ${a} ${b})` : `(i32.or ${a} ${b})`;
  }
  /** `a` where mask `m` holds, else `b` (both evaluated). */
  select(a: string, b: string, m: string): string {
    return this.vector ? `(v128.bitselect ${a} ${b} ${m})` : `(select ${a} ${b} ${m})`;
  }
  /** Horner: c[0]·xⁿ + … + c[n]. */
  horner(x: string, coefficients: readonly number[]): string {
    const [first, ...rest] = coefficients;
    let acc = this.fc(first ?? 0);
    for (const c of rest) acc = this.fma(acc, x, this.fc(c));
    return acc;
  }
}

// ----- exp ------------------------------------------------------------------------------------

const LOG2E = 1.4426950408889634;
/** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits. */
const ROUND_MAGIC = 12582912;
const ROUND_MAGIC_BITS = 0x4b400000;
/** Cody–Waite split of ln 2 (Cephes): C1 has few bits, so n·C1 is exact. */
const LN2_C1 = 0.693359375;
const LN2_C2 = -2.1219444e-4;
/** exp(r) ≈ 1 + r + … on [−ln2/2, ln2/2]: degree-5 minimax (max error ≈ 1.5 ulp). */
const EXP_POLY = [0.008247390389442444, 0.04189976677298546, 0.16668395698070526, 0.4999912679195404, 0.9999994039535522, 1];

/** e^x for any f32 (see the file comment). Emits helper statements into `b`. */
export const exp = (b: FunctionBuilder, L: Lanes, x: string): string => {
  const x0 = b.bind(L.type, L.atMost(L.atLeast(x, L.fc(-104)), L.fc(89)), "ex");
  const t = b.bind(L.type, L.fma(x0, L.fc(LOG2E), L.fc(ROUND_MAGIC)), "et");
  const n = b.bind(L.type, L.sub(t, L.fc(ROUND_MAGIC)), "en");
  const r = b.bind(L.type, L.sub(L.sub(x0, L.mul(n, L.fc(LN2_C1))), L.mul(n, L.fc(LN2_C2))), "er");
  const p = L.horner(r, EXP_POLY);
  // 2ⁿ as two normal powers of two, so subnormal results round once
  const ni = b.bind(L.itype, L.iop("sub", L.bits(t), L.ic(ROUND_MAGIC_BITS)), "ei");
  const n1 = b.bind(L.itype, L.iop("shr_s", ni, i32c(1)), "ei");
  const n2 = L.iop("sub", ni, n1);
  const pow2 = (k: string): string => L.float(L.iop("shl", L.iop("add", k, L.ic(127)), i32c(23)));
  return L.mul(L.mul(p, pow2(n1)), pow2(n2));
};

/**
 * e^x for x ≤ 88 that is not NaN (the row kernels' x − max): cheaper scaling; results below
 * e^−86.5 are 0.
 */
export const expNeg = (b: FunctionBuilder, L: Lanes, x: string): string => {
  // no clamp: lanes below −86.5 (including −inf, whose reduction gives NaN) are masked to 0 below
  const x0 = b.bind(L.type, x, "fx");
  const t = b.bind(L.type, L.fma(x0, L.fc(LOG2E), L.fc(ROUND_MAGIC)), "ft");
  const n = b.bind(L.type, L.sub(t, L.fc(ROUND_MAGIC)), "fn");
  const r = b.bind(L.type, L.sub(L.sub(x0, L.mul(n, L.fc(LN2_C1))), L.mul(n, L.fc(LN2_C2))), "fr");
  const p = L.horner(r, EXP_POLY);
  const scaled = L.float(L.iop("add", L.bits(p), L.iop("shl", L.bits(t), i32c(23))));
  const tiny = L.fop("lt", x0, L.fc(-86.5));
  return L.vector ? `(v128.andnot ${scaled} ${tiny})` : `(select ${L.fc(0)} ${scaled} ${tiny})`;
};

// ----- log ------------------------------------------------------------------------------------

const SQRT_HALF = 0.7071067811865476;
const LOG_POLY = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1];
const FLT_MIN = 1.1754943508222875e-38;

/** ln x for any f32 (see the file comment). */
export const log = (b: FunctionBuilder, L: Lanes, x: string): string => {
  const x0 = b.bind(L.type, x, "lx");
  const small = b.bind(L.itype, L.fop("lt", x0, L.fc(FLT_MIN)), "ls");
  const xs = L.select(L.mul(x0, L.fc(8388608)), x0, small);
  const bitsX = b.bind(L.itype, L.bits(xs), "lb");
  // exponent, minus 23 for normalised subnormals
  const adjust = L.vector ? L.and(small, L.ic(23)) : `(select ${i32c(23)} ${i32c(0)} ${small})`;
  const e0 = L.iop("sub", L.iop("sub", L.iop("shr_s", bitsX, i32c(23)), L.ic(126)), adjust);
  const m = b.bind(L.type, L.float(L.or(L.and(bitsX, L.ic(0x007fffff)), L.ic(0x3f000000))), "lm");
  const lo = b.bind(L.itype, L.fop("lt", m, L.fc(SQRT_HALF)), "ll");
  // m < √½: e − 1 and 2m − 1; else m − 1 (vector masks are −1, so adding them subtracts 1)
  const e = L.vector ? L.iop("add", e0, lo) : L.iop("sub", e0, lo);
  const ef = b.bind(L.type, L.vector ? `(f32x4.convert_i32x4_s ${e})` : `(f32.convert_i32_s ${e})`, "le");
  const m1 = b.bind(L.type, L.sub(m, L.fc(1)), "lm");
  const f = b.bind(L.type, L.select(L.add(m1, m), m1, lo), "lf");
  const z = b.bind(L.type, L.mul(f, f), "lz");
  let y = L.mul(L.mul(L.horner(f, LOG_POLY), f), z);
  y = L.add(y, L.mul(ef, L.fc(LN2_C2)));
  y = L.sub(y, L.mul(L.fc(0.5), z));
  const r = L.add(L.add(f, y), L.mul(ef, L.fc(LN2_C1)));
  // special inputs: 0 → −inf, < 0 → NaN, +inf and NaN → themselves
  const regular = L.and(L.fop("gt", x0, L.fc(0)), L.fop("lt", x0, L.fc(Infinity)));
  const special = L.select(L.fc(-Infinity), L.select(L.fc(NaN), x0, L.fop("lt", x0, L.fc(0))), L.fop("eq", x0, L.fc(0)));
  return L.select(r, special, regular);
};

/** ln(1 + u) for u ≥ 0 (finite): log(w)·u/(w − 1) with w = 1 + u, or u when w rounds to 1. */
export const log1pNonNeg = (b: FunctionBuilder, L: Lanes, u: string): string => {
  const u0 = b.bind(L.type, u, "pu");
  const w = b.bind(L.type, L.add(L.fc(1), u0), "pw");
  const general = L.div(L.mul(log(b, L, w), u0), L.sub(w, L.fc(1)));
  return L.select(u0, general, L.fop("eq", w, L.fc(1)));
};

// ----- tanh, sigmoid, log-sigmoid -------------------------------------------------------------

const TANH_POLY = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];

/** copysign(magnitude ≥ 0, sign of x). */
const withSignOf = (L: Lanes, magnitude: string, x: string): string =>
  L.vector ? `(v128.or ${magnitude} (v128.and ${x} ${L.ic(-0x80000000)}))` : `(f32.copysign ${magnitude} ${x})`;

/** tanh x (Cephes tanhf): odd polynomial for |x| < 0.625, else 1 − 2/(e^{2|x|} + 1). */
export const tanh = (b: FunctionBuilder, L: Lanes, x: string): string => {
  const x0 = b.bind(L.type, x, "hx");
  const z = b.bind(L.type, L.fop("abs", x0), "hz");
  const e = exp(b, L, L.add(z, z));
  const big = withSignOf(L, L.sub(L.fc(1), L.div(L.fc(2), L.add(e, L.fc(1)))), x0);
  const s = b.bind(L.type, L.mul(x0, x0), "hs");
  const small = L.add(L.mul(L.mul(L.horner(s, TANH_POLY), s), x0), x0);
  return L.select(big, small, L.fop("gt", z, L.fc(0.625)));
};

/** σ(x) = 1/(1 + e^−x) for x ≥ 0, e^x/(1 + e^x) otherwise (as the reference). */
export const sigmoid = (b: FunctionBuilder, L: Lanes, x: string): string => {
  const x0 = b.bind(L.type, x, "sx");
  const e = b.bind(L.type, exp(b, L, L.fop("neg", L.fop("abs", x0))), "se");
  return L.div(L.select(L.fc(1), e, L.fop("ge", x0, L.fc(0))), L.add(L.fc(1), e));
};

/** log σ(x) = min(x, 0) − log1p(e^−|x|). */
export const logSigmoid = (b: FunctionBuilder, L: Lanes, x: string): string => {
  const x0 = b.bind(L.type, x, "gx");
  const e = exp(b, L, L.fop("neg", L.fop("abs", x0)));
  return L.sub(L.fop("min", x0, L.fc(0)), log1pNonNeg(b, L, e));
};

// ----- erf --------------------------------------------------------------------------------------

/** erf x in f32 (erf-f32.ts): x·P(x²)/Q(x²) on x clamped to [−4, 4], clamped to [−1, 1]; NaN → NaN. */
export const erf = (b: FunctionBuilder, L: Lanes, x: string): string => {
  // pmin/pmax (and scalar f32.min/max) keep a NaN x
  const c = b.bind(L.type, L.atLeast(L.atMost(x, L.fc(ERF_CLAMP)), L.fc(-ERF_CLAMP)), "rx");
  const s = b.bind(L.type, L.mul(c, c), "rs");
  // x·(P/Q), not (x·P)/Q: P/Q ≈ 2/√π, so subnormal x lose nothing to an underflowing x·P
  const ratio = L.mul(c, L.div(L.horner(s, ERF_NUMERATOR), L.horner(s, ERF_DENOMINATOR)));
  return L.atLeast(L.atMost(ratio, L.fc(1)), L.fc(-1));
};

// ----- f64 pow ---------------------------------------------------------------------------------

const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;

/**
 * Scalar f64 helper functions `$log64` (x > 0 finite, normal), `$exp64` and `$pow64` (JavaScript
 * `Math.pow` semantics), for `pow` in map kernels.
 */
export const powFunctions = (): string => {
  const atanhTerms = Array.from({ length: 12 }, (_, k) => 1 / (2 * (11 - k) + 1));
  const horner = (x: string, cs: readonly number[]): string => cs.slice(1).reduce((acc, c) => `(f64.add (f64.mul ${acc} ${x}) ${f64c(c)})`, f64c(cs[0] ?? 0));
  const taylor = Array.from({ length: 14 }, (_, k) => {
    let f = 1;
    for (let j = 2; j <= 13 - k; j++) f *= j;
    return 1 / f;
  });
  const log64 = `(func $log64 (param $x f64) (result f64) (local $bits i64) (local $e f64) (local $m f64) (local $s f64) (local $s2 f64)
  (local.set $bits (i64.reinterpret_f64 (local.get $x)))
  (local.set $e (f64.convert_i64_s (i64.sub (i64.shr_u (local.get $bits) (i64.const 52)) (i64.const 1022))))
  (local.set $m (f64.reinterpret_i64 (i64.or (i64.and (local.get $bits) (i64.const 0x000fffffffffffff)) (i64.const 0x3fe0000000000000))))
  (if (f64.lt (local.get $m) ${f64c(SQRT_HALF)}) (then
    (local.set $m (f64.add (local.get $m) (local.get $m)))
    (local.set $e (f64.sub (local.get $e) (f64.const 1)))))
  (local.set $s (f64.div (f64.sub (local.get $m) (f64.const 1)) (f64.add (local.get $m) (f64.const 1))))
  (local.set $s2 (f64.mul (local.get $s) (local.get $s)))
  (f64.add (f64.mul (local.get $e) ${f64c(LN2_HI)})
    (f64.add (f64.mul (f64.add (local.get $s) (local.get $s)) ${horner("(local.get $s2)", atanhTerms)}) (f64.mul (local.get $e) ${f64c(LN2_LO)}))))`;
  const exp64 = `(func $exp64 (param $y f64) (result f64) (local $n f64) (local $r f64) (local $ni i32) (local $n1 i32)
  (if (f64.ne (local.get $y) (local.get $y)) (then (return (local.get $y))))
  (if (f64.gt (local.get $y) (f64.const 709.8)) (then (return (f64.const inf))))
  (if (f64.lt (local.get $y) (f64.const -745.2)) (then (return (f64.const 0))))
  (local.set $n (f64.nearest (f64.mul (local.get $y) ${f64c(1 / Math.LN2)})))
  (local.set $r (f64.sub (f64.sub (local.get $y) (f64.mul (local.get $n) ${f64c(LN2_HI)})) (f64.mul (local.get $n) ${f64c(LN2_LO)})))
  (local.set $ni (i32.trunc_f64_s (local.get $n)))
  (local.set $n1 (i32.shr_s (local.get $ni) (i32.const 1)))
  (f64.mul (f64.mul ${horner("(local.get $r)", taylor)}
      (f64.reinterpret_i64 (i64.shl (i64.extend_i32_s (i32.add (local.get $n1) (i32.const 1023))) (i64.const 52))))
    (f64.reinterpret_i64 (i64.shl (i64.extend_i32_s (i32.add (i32.sub (local.get $ni) (local.get $n1)) (i32.const 1023))) (i64.const 52)))))`;
  const pow64 = `(func $pow64 (param $a f64) (param $b f64) (result f64) (local $mag f64) (local $int i32) (local $odd i32) (local $r f64) (local $n i32) (local $sq f64)
  (if (f64.eq (local.get $b) (f64.const 0)) (then (return (f64.const 1))))
  (if (i32.or (f64.ne (local.get $a) (local.get $a)) (f64.ne (local.get $b) (local.get $b))) (then (return (f64.const nan))))
  (local.set $mag (f64.abs (local.get $a)))
  (if (f64.eq (f64.abs (local.get $b)) (f64.const inf)) (then
    (if (f64.eq (local.get $mag) (f64.const 1)) (then (return (f64.const nan))))
    (return (select (f64.const inf) (f64.const 0) (i32.eq (f64.gt (local.get $mag) (f64.const 1)) (f64.gt (local.get $b) (f64.const 0)))))))
  (local.set $int (f64.eq (f64.floor (local.get $b)) (local.get $b)))
  (local.set $odd (i32.and (local.get $int) (f64.ne (f64.mul (f64.floor (f64.mul (local.get $b) (f64.const 0.5))) (f64.const 2)) (local.get $b))))
  (if (i32.and (f64.lt (local.get $a) (f64.const 0)) (i32.and (f64.ne (local.get $mag) (f64.const inf)) (i32.eqz (local.get $int))))
    (then (return (f64.const nan))))
  (if (f64.eq (local.get $mag) (f64.const 0))
    (then (local.set $r (select (f64.const inf) (f64.const 0) (f64.lt (local.get $b) (f64.const 0)))))
    (else (if (f64.eq (local.get $mag) (f64.const inf))
      (then (local.set $r (select (f64.const inf) (f64.const 0) (f64.gt (local.get $b) (f64.const 0)))))
      (else (if (i32.and (local.get $int) (f64.le (f64.abs (local.get $b)) (f64.const 1073741824)))
        ;; integer exponent: binary exponentiation (exact whenever the result is an exact integer)
        (then
          (local.set $n (i32.trunc_f64_s (f64.abs (local.get $b))))
          (local.set $sq (local.get $mag))
          (local.set $r (f64.const 1))
          (block $done (loop $next
            (if (i32.and (local.get $n) (i32.const 1)) (then (local.set $r (f64.mul (local.get $r) (local.get $sq)))))
            (local.set $n (i32.shr_u (local.get $n) (i32.const 1)))
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $sq (f64.mul (local.get $sq) (local.get $sq)))
            (br $next)))
          (if (f64.lt (local.get $b) (f64.const 0)) (then (local.set $r (f64.div (f64.const 1) (local.get $r))))))
        (else (local.set $r (call $exp64 (f64.mul (local.get $b) (call $log64 (local.get $mag)))))))))))
  (select (f64.neg (local.get $r)) (local.get $r)
    (i32.and (local.get $odd) (i64.lt_s (i64.reinterpret_f64 (local.get $a)) (i64.const 0)))))`;
  return [log64, exp64, pow64].join("\n");
};
