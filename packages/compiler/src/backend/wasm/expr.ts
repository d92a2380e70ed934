/**
 * @file The expression compiler of map and reduce kernels: value classes (f32 / i32 / bool), scalar
 * and SIMD code of every elementwise op of the kernel IR, and the axis collapsing and horizontal
 * combines the loop nests use.
 */
import { RANDOM_COUNTER_MULTIPLIER } from "@graft/core";
import { type Expr, exprChildren, exprSome, mapAccesses, groupAxes } from "../kernels.js";
import { type CodegenContext } from "./context.js";
import { erf, exp, Lanes, log, logSigmoid, sigmoid, tanh } from "./mathlib.js";
import { FunctionBuilder, get, i32c, ld, ZERO } from "./wat-builder.js";

// ----- expression helpers -----------------------------------------------------------------------

export const readsOf = (e: Expr): Array<Extract<Expr, { kind: "read" }>> => (e.kind === "read" ? [e] : exprChildren(e).flatMap(readsOf));
export const usesIota = (e: Expr): boolean => exprSome(e, (x) => x.kind === "iota");
export const mapReads = (e: Expr, f: (strides: readonly number[]) => readonly number[]): Expr => mapAccesses(e, (access) => ({ ...access, strides: f(access.strides) }));

/**
 * Merges adjacent axes every stride vector walks contiguously and that `kind` puts in the same
 * class (e.g. kept vs reduced). Returns the new shape, a map old stride vector → new, and the
 * old→new axis groups. Unchanged when the expression uses iota.
 */
export const collapse = (shape: readonly number[], strideSets: ReadonlyArray<readonly number[]>, kind: (axis: number) => number, iota: boolean): { shape: number[]; groups: number[][] } => {
  if (shape.length <= 1 || iota) return { shape: [...shape], groups: shape.map((_, axis) => [axis]) };
  const groups = groupAxes(shape, strideSets, kind);
  return { shape: groups.map((g) => g.reduce((p, axis) => p * (shape[axis] ?? 1), 1)), groups };
};

export const regroup = (strides: readonly number[], groups: readonly number[][]): number[] => groups.map((g) => strides[g[g.length - 1] as number] ?? 0);

/** Value classes of expressions: f32, i32 (integers; bool buffers read as 0/1), bool (a comparison result). */
export type VT = "f32" | "i32" | "bool";

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** JavaScript ToInt32 of an f64 (`Math.trunc(x) | 0`): truncate, wrap modulo 2³², NaN and ±inf → 0. */
export const toInt32 = (b: FunctionBuilder, code: string): string => {
  const t = b.bind("f64", `(f64.trunc ${code})`, "ti");
  const wrapped = `(f64.sub ${t} (f64.mul (f64.floor (f64.div ${t} (f64.const 4294967296))) (f64.const 4294967296)))`;
  return `(select (i32.trunc_sat_f64_u ${wrapped}) ${ZERO} (f64.lt (f64.abs ${t}) (f64.const inf)))`;
};

/** Horizontal combine of an f32x4 (sum: (l0 + l1) + (l2 + l3)). */
export const horizontal = (op: "add" | "max" | "min", v: string, b: FunctionBuilder): string => {
  const x = b.bind("v128", v, "hv");
  const lane = (i: number): string => `(f32x4.extract_lane ${i} ${x})`;
  return `(f32.${op} (f32.${op} ${lane(0)} ${lane(1)}) (f32.${op} ${lane(2)} ${lane(3)}))`;
};
export const horizontalInt = (op: "add" | "max_s" | "min_s", v: string, b: FunctionBuilder): string => {
  const x = b.bind("v128", v, "hv");
  const lane = (i: number): string => `(i32x4.extract_lane ${i} ${x})`;
  const combine = (p: string, q: string): string => {
    if (op === "add") return `(i32.add ${p} ${q})`;
    const pp = b.bind("i32", p, "hi");
    const qq = b.bind("i32", q, "hi");
    return `(select ${pp} ${qq} (i32.${op === "max_s" ? "gt_s" : "lt_s"} ${pp} ${qq}))`;
  };
  return combine(combine(lane(0), lane(1)), combine(lane(2), lane(3)));
};

// ----- the expression compiler ----------------------------------------------------------------

export interface Hoisted {
  readonly type: VT;
  readonly scalar: string;
  vector?: string;
}

/** Compiles expressions for one loop body: reads through per-stride-vector pointers. */
export class ExprCompiler {
  private readonly natural = new Map<Expr, VT>();

  constructor(
    private readonly ctx: CodegenContext,
    private readonly b: FunctionBuilder,
    /** Pointer local of an access's stride vector. */
    private readonly pointer: (strides: readonly number[]) => string,
    /** Code of the iteration index along an axis (scalar i32). */
    private readonly index: (axis: number) => string,
    /** The innermost axis (for vector iota). */
    private readonly last: number,
    readonly hoisted: Map<Expr, Hoisted>,
  ) {}

  typeOf(e: Expr): VT | "any" {
    if (e.kind === "const") return "any";
    const known = this.natural.get(e);
    if (known !== undefined) return known;
    const t = this.computeType(e);
    this.natural.set(e, t);
    return t;
  }

  /** The concrete class an expression is computed in. */
  concrete(e: Expr): VT {
    const t = this.typeOf(e);
    return t === "any" ? "f32" : t;
  }

  private computeType(e: Expr): VT {
    switch (e.kind) {
      case "read":
      case "indexed":
        return e.dtype === "f32" || e.dtype === "f64" ? "f32" : "i32";
      case "const":
        return "f32";
      case "iota":
        return "i32";
      case "unary":
        return (e.op === "neg" || e.op === "abs" || e.op === "sign") && this.typeOf(e.arg) !== "f32" && this.typeOf(e.arg) !== "any" ? "i32" : "f32";
      case "binary":
        if (e.op === "eq" || e.op === "ne" || e.op === "lt" || e.op === "le" || e.op === "gt" || e.op === "ge") return "bool";
        return e.integer ? "i32" : "f32";
      case "select": {
        const a = this.typeOf(e.then);
        const c = this.typeOf(e.else);
        if (a === "f32" || c === "f32") return "f32";
        if (a === "any" && c === "any") return "f32";
        if (a === "i32" || c === "i32") return "i32";
        return "bool";
      }
      case "cast":
        return e.to === "bool" ? "bool" : "i32";
      case "random":
        return "f32";
    }
  }

  /**
   * True when the expression needs scalar code in the loop (no SIMD form, or an exact f32→i32
   * conversion). Subtrees in `hoisted` are computed once outside the loop, in scalar code.
   */
  scalarOnly(e: Expr, want: VT, hoisted: ReadonlySet<Expr> = new Set()): boolean {
    const t = this.concrete(e);
    if (t === "f32" && want === "i32" && e.kind !== "const") return true;
    if (hoisted.has(e)) return false;
    const scalarOnly = (x: Expr, w: VT): boolean => this.scalarOnly(x, w, hoisted);
    switch (e.kind) {
      case "read":
      case "const":
      case "iota":
        return false;
      // one element at a computed position: scalar loads
      case "indexed":
        return true;
      case "unary":
        return scalarOnly(e.arg, t === "i32" ? "i32" : "f32");
      case "cast":
        return scalarOnly(e.arg, e.to === "bool" ? "bool" : "i32");
      case "binary": {
        if (e.integer && (e.op === "div" || e.op === "pow")) return true;
        if (!e.integer && e.op === "pow" && !(e.rhs.kind === "const" && (e.rhs.value === 2 || e.rhs.value === 1))) return true;
        const operand: VT = e.integer ? "i32" : "f32";
        return scalarOnly(e.lhs, operand) || scalarOnly(e.rhs, operand);
      }
      case "select": {
        const rt = this.concrete(e);
        return scalarOnly(e.cond, "bool") || scalarOnly(e.then, rt) || scalarOnly(e.else, rt);
      }
      case "random":
        return true;
    }
  }

  /** Code of `e` in class `want` at lane width `L`. */
  gen(e: Expr, want: VT, L: Lanes): string {
    const h = this.hoisted.get(e);
    if (h !== undefined) return this.convert(L.vector ? (h.vector ?? h.scalar) : h.scalar, h.type, want, L);
    if (e.kind === "const") return this.constant(e.value, want, L);
    const t = this.concrete(e);
    return this.convert(this.compute(e, t, L), t, want, L);
  }

  private constant(value: number, want: VT, L: Lanes): string {
    if (want === "f32") return L.fc(value);
    const int = Number.isFinite(value) ? Math.trunc(value) | 0 : 0;
    if (want === "i32") return L.ic(int);
    return L.vector ? L.ic(value !== 0 ? -1 : 0) : i32c(value !== 0 ? 1 : 0);
  }

  convert(code: string, from: VT, to: VT, L: Lanes): string {
    if (from === to) return code;
    const b = this.b;
    if (to === "f32") {
      if (from === "i32") return L.vector ? `(f32x4.convert_i32x4_s ${code})` : `(f32.convert_i32_s ${code})`;
      return L.vector ? `(v128.and ${code} ${L.fc(1)})` : `(f32.convert_i32_u ${code})`;
    }
    if (to === "i32") {
      if (from === "bool") return L.vector ? `(v128.and ${code} ${L.ic(1)})` : code;
      // JavaScript ToInt32 of the truncated value (NaN and ±inf → 0)
      if (L.vector) return `(i32x4.trunc_sat_f32x4_s ${code})`;
      return toInt32(b, `(f64.promote_f32 ${code})`);
    }
    // to bool
    if (from === "f32") return L.fop("ne", code, L.fc(0));
    return L.vector ? `(i32x4.ne ${code} ${L.ic(0)})` : `(i32.ne ${code} ${ZERO})`;
  }

  private compute(e: Expr, t: VT, L: Lanes): string {
    const b = this.b;
    switch (e.kind) {
      case "read": {
        const buffer = this.ctx.buffers[e.access.buffer];
        const offset = this.ctx.base + ((this.ctx.offsets[e.access.buffer] ?? 0) + e.access.offset) * 4;
        const ptr = get(this.pointer(e.access.strides));
        const float = buffer === undefined || buffer.dtype === "f32" || buffer.dtype === "f64";
        if (L.vector) return (e.access.strides[this.last] ?? 0) === 0 ? `(v128.load32_splat offset=${offset} ${ptr})` : ld("v128", offset, ptr);
        return ld(float ? "f32" : "i32", offset, ptr);
      }
      case "indexed": {
        const buffer = this.ctx.buffers[e.access.buffer];
        const offset = this.ctx.base + ((this.ctx.offsets[e.access.buffer] ?? 0) + e.access.offset) * 4;
        const float = buffer === undefined || buffer.dtype === "f32" || buffer.dtype === "f64";
        return ld(float ? "f32" : "i32", offset, `(i32.shl ${this.gen(e.index, "i32", L)} ${i32c(2)})`);
      }
      case "const":
        return this.constant(e.value, t, L);
      case "iota": {
        const i = this.index(e.axis);
        return L.vector && e.axis === this.last ? `(i32x4.add (i32x4.splat ${i}) (v128.const i32x4 0 1 2 3))` : i;
      }
      case "cast":
        return this.gen(e.arg, e.to === "bool" ? "bool" : "i32", L);
      case "unary": {
        if (t === "i32") {
          const x = b.bind(L.itype, this.gen(e.arg, "i32", L), "ua");
          switch (e.op) {
            case "neg":
              return L.iop("sub", L.ic(0), x);
            case "abs":
              return L.vector ? `(i32x4.abs ${x})` : `(select ${x} (i32.sub ${ZERO} ${x}) (i32.ge_s ${x} ${ZERO}))`;
            default:
              // sign: (x > 0) − (x < 0)
              return L.vector ? `(i32x4.sub (i32x4.lt_s ${x} ${L.ic(0)}) (i32x4.gt_s ${x} ${L.ic(0)}))` : `(i32.sub (i32.gt_s ${x} ${ZERO}) (i32.lt_s ${x} ${ZERO}))`;
          }
        }
        const arg = this.gen(e.arg, "f32", L);
        switch (e.op) {
          case "neg":
            return L.fop("neg", arg);
          case "abs":
            return L.fop("abs", arg);
          case "sqrt":
            return L.fop("sqrt", arg);
          case "exp":
            return exp(b, L, arg);
          case "log":
            return log(b, L, arg);
          case "tanh":
            return tanh(b, L, arg);
          case "sigmoid":
            return sigmoid(b, L, arg);
          case "log_sigmoid":
            return logSigmoid(b, L, arg);
          case "erf":
            return erf(b, L, arg);
          case "relu": {
            // x > 0 or NaN → x, else +0
            const x = b.bind(L.type, arg, "ux");
            return L.vector ? `(v128.andnot ${x} (f32x4.le ${x} ${L.fc(0)}))` : `(select ${x} ${L.fc(0)} (i32.eqz (f32.le ${x} ${L.fc(0)})))`;
          }
          case "sign": {
            // ±1, keeping ±0 and NaN
            const x = b.bind(L.type, arg, "ux");
            const one = L.vector ? `(v128.or ${L.fc(1)} (v128.and ${x} ${L.ic(-0x80000000)}))` : `(f32.copysign ${L.fc(1)} ${x})`;
            return L.select(one, x, L.fop("gt", L.fop("abs", x), L.fc(0)));
          }
        }
        break;
      }
      case "binary": {
        const compare = e.op === "eq" || e.op === "ne" || e.op === "lt" || e.op === "le" || e.op === "gt" || e.op === "ge";
        if (e.integer) {
          const a = this.gen(e.lhs, "i32", L);
          const c = this.gen(e.rhs, "i32", L);
          if (compare) return e.op === "eq" || e.op === "ne" ? L.iop(e.op, a, c) : L.iop(`${e.op}_s`, a, c);
          switch (e.op) {
            case "add":
            case "sub":
            case "mul":
              return L.iop(e.op, a, c);
            case "maximum":
            case "minimum": {
              if (L.vector) return L.iop(e.op === "maximum" ? "max_s" : "min_s", a, c);
              const x = b.bind("i32", a, "ia");
              const y = b.bind("i32", c, "ib");
              return `(select ${x} ${y} (i32.${e.op === "maximum" ? "gt_s" : "lt_s"} ${x} ${y}))`;
            }
            case "div": {
              // Math.trunc(a / b) | 0: b = 0 → 0, b = −1 → −a (wrapping), no traps
              const x = b.bind("i32", a, "ia");
              const y = b.bind("i32", c, "ib");
              const safe = `(select ${i32c(1)} ${y} (i32.or (i32.eqz ${y}) (i32.eq ${y} ${i32c(-1)})))`;
              return `(select ${ZERO} (select (i32.sub ${ZERO} ${x}) (i32.div_s ${x} ${safe}) (i32.eq ${y} ${i32c(-1)})) (i32.eqz ${y}))`;
            }
            default: {
              // pow: Math.trunc(Math.pow(a, b)) | 0
              return toInt32(b, `(call $pow64 (f64.convert_i32_s ${a}) (f64.convert_i32_s ${c}))`);
            }
          }
        }
        if (e.op === "pow" && e.rhs.kind === "const" && (e.rhs.value === 2 || e.rhs.value === 1)) {
          if (e.rhs.value === 1) return this.gen(e.lhs, "f32", L);
          const x = b.bind(L.type, this.gen(e.lhs, "f32", L), "px");
          return L.mul(x, x);
        }
        const a = this.gen(e.lhs, "f32", L);
        const c = this.gen(e.rhs, "f32", L);
        if (compare) return L.fop(e.op, a, c);
        switch (e.op) {
          case "add":
          case "sub":
          case "mul":
          case "div":
            return L.fop(e.op, a, c);
          case "maximum":
            return L.fop("max", a, c);
          case "minimum":
            return L.fop("min", a, c);
          default:
            return `(f32.demote_f64 (call $pow64 (f64.promote_f32 ${a}) (f64.promote_f32 ${c})))`;
        }
      }
      case "select": {
        const cond = b.bind(L.itype, this.gen(e.cond, "bool", L), "sc");
        return L.select(this.gen(e.then, t, L), this.gen(e.else, t, L), cond);
      }
      case "random": {
        // core's randomBits (scalar only): fmix32(fmix32(index ^ key) ^ counter·M), top 24 bits as f32
        const fmix = (code: string): string => {
          const h1 = b.bind("i32", code, "rh");
          const h2 = b.bind("i32", `(i32.mul (i32.xor ${h1} (i32.shr_u ${h1} (i32.const 16))) ${i32c(0x85ebca6b | 0)})`, "rh");
          const h3 = b.bind("i32", `(i32.mul (i32.xor ${h2} (i32.shr_u ${h2} (i32.const 13))) ${i32c(0xc2b2ae35 | 0)})`, "rh");
          return `(i32.xor ${h3} (i32.shr_u ${h3} (i32.const 16)))`;
        };
        const first = fmix(`(i32.xor ${this.gen(e.index, "i32", L)} ${i32c(e.key)})`);
        const bits = fmix(`(i32.xor ${first} (i32.mul ${this.gen(e.counter, "i32", L)} ${i32c(RANDOM_COUNTER_MULTIPLIER)}))`);
        return `(f32.mul (f32.convert_i32_u (i32.shr_u ${bits} (i32.const 8))) (f32.const ${2 ** -24}))`;
      }
    }
    throw new Error("unreachable expression kind");
  }
}

export const usesPow = (e: Expr): boolean => (e.kind === "binary" && e.op === "pow" && !(e.rhs.kind === "const" && !e.integer && (e.rhs.value === 2 || e.rhs.value === 1))) || exprChildren(e).some(usesPow);
