/**
 * @file Kernel IR → WebAssembly text. One module per function specialisation: it imports the
 * session's memory (`env.memory`), holds one WAT function per kernel with every buffer offset,
 * extent and stride baked in as a constant, and exports `run`, which calls the kernels in order
 * and returns 0, or s > 0 when the kernel `checked[s − 1]` refused its input (a gather index or a
 * class target out of range).
 *
 * - map kernels: the fused expression tree in f32 (i32/bool values stay integers; comparisons are
 *   lane masks under SIMD), SIMD f32x4 on the innermost loop when every access has stride 0 or 1
 *   there and it has ≥ 4 iterations (scalar remainder), values invariant in the innermost loop
 *   hoisted out of it;
 * - reduce kernels: register accumulation over trailing reduced axes (SIMD lanes, then a
 *   horizontal combine), read-modify-write of the output otherwise (SIMD along kept axes);
 * - row kernels mirror `@graft/runtime`'s kernels-js.ts; contiguous rows (inner = 1) of softmax,
 *   logsumexp and cross-entropy (forward/backward) take a SIMD path when the row is all finite
 *   (checked in the max pass), else the exact scalar path;
 * - matmul: gemm.ts's register-blocked f32x4 GEMM (a batch loop around it when batched).
 *
 * With `ctx.threads` (two threads over a shared memory, see threads.ts) the module imports a
 * shared memory and `env.spawn(task) → i32` / `env.join()`, and exports `task(task)`: a matmul
 * of at least `threads.minFlops` gives rows [split, m) of every batch element to the helper
 * worker (`task` runs them with the worker's own packing scratch) while the main thread computes
 * rows [0, split), then joins. `split` is a multiple of the register tile's rows, so each thread
 * walks exactly the tiles the one-thread code walks and every element of C is computed by the
 * same instructions in the same order: results are bit-identical to one thread. Elementwise
 * (map) kernels of at least `threads.minMapElements` elements split their leading axis the same
 * way (at a multiple of 4 elements, so SIMD and scalar-remainder elements stay the same). When
 * `spawn` returns 0 (no usable worker) the main thread computes everything.
 */
import type { CrossEntropyAttrs } from "@graft/core";
import { exprChildren, exprSome, kernelReads, kernelWrites, mapAccesses, type BufferInfo, type Expr, type Kernel, type Rows } from "../kernels.js";
import { emitGemmFunction, gemmScratchBytes, planGemm, type GemmSpec } from "./gemm.js";
import { erf, exp, expNeg, f32c, f64c, FunctionBuilder, i32c, Lanes, log, log1pNonNeg, logSigmoid, powFunctions, sigmoid, tanh, type ValType } from "./mathlib.js";

/** Where everything lives in memory, and what the engine supports. */
export interface CodegenContext {
  /** Element offset of every buffer (relative to the arena start). */
  readonly offsets: readonly number[];
  readonly buffers: readonly BufferInfo[];
  /** Byte address of arena element 0. */
  readonly base: number;
  /** Byte address and size of the GEMM packing scratch area. */
  readonly scratch: number;
  readonly scratchBytes: number;
  /** Use relaxed-SIMD FMA (engine support detected by the caller). */
  readonly relaxedSimd: boolean;
  /** Fuse cross_entropy with its backward when safe (default true; off to test the two kernels). */
  readonly fuseCrossEntropy?: boolean;
  /** Software-pipeline fused index-target cross-entropy rows (default true; off to test the plain fused form). */
  readonly pipelineCrossEntropy?: boolean;
  /** Split big matmuls with one helper worker over a shared memory (module header above); absent: one thread. */
  readonly threads?: ThreadsContext | undefined;
}

/** How a two-thread module splits its matmuls. */
export interface ThreadsContext {
  /** Byte address of the helper worker's GEMM packing scratch area (`scratchBytes` long, like the main one). */
  readonly scratch: number;
  /** Smallest matmul (2·batch·m·n·k flops) worth the synchronisation. */
  readonly minFlops: number;
  /** Smallest elementwise (map) kernel, in elements, split by its leading axis (e.g. Adam's update of a big weight). */
  readonly minMapElements: number;
}

/**
 * Default {@link ThreadsContext.minFlops}, measured on the MLP train step (2-core EPYC VM): a
 * hand-off to the worker costs ~1–2 µs while it polls (within a run) and 10–90 µs when it must be
 * woken, so splitting pays from ~0.3 MFLOP (~8 µs on one thread: 8 → 6 µs); a 0.5 MFLOP matmul
 * goes from 12 to 8 µs, a 0.04 MFLOP one from 1.4 to 2.4 µs.
 */
export const DEFAULT_THREAD_MIN_FLOPS = 5e5;

/** Default {@link ThreadsContext.minMapElements} (Adam's update of a 256×128 weight: 23 → ~13 µs). */
export const DEFAULT_THREAD_MIN_MAP_ELEMENTS = 1 << 15;

/** The largest wasm32 memory in 64 KiB pages (shared memories must declare a maximum). */
export const MAX_MEMORY_PAGES = 65536;

/** A kernel the generator cannot compile; `kernel` is its index in the schedule. */
export class KernelCompileError extends Error {
  constructor(
    message: string,
    readonly kernel: number,
  ) {
    super(message);
    this.name = "KernelCompileError";
  }
}

/** The module text and, per status code s > 0, the kernel index s − 1 that can fail at run time. */
export interface ModuleText {
  readonly wat: string;
  /** Kernels that return a status (gather/scatter index checks). */
  readonly checked: readonly number[];
  /** Kernels split between the threads, by task number (empty with one thread). */
  readonly tasks: readonly number[];
}

// ----- expression helpers -----------------------------------------------------------------------

const childrenOf = exprChildren;
const readsOf = (e: Expr): Array<Extract<Expr, { kind: "read" }>> => (e.kind === "read" ? [e] : childrenOf(e).flatMap(readsOf));
const usesIota = (e: Expr): boolean => exprSome(e, (x) => x.kind === "iota");
const mapReads = (e: Expr, f: (strides: readonly number[]) => readonly number[]): Expr => mapAccesses(e, (access) => ({ ...access, strides: f(access.strides) }));

/**
 * Merges adjacent axes every stride vector walks contiguously and that `kind` puts in the same
 * class (e.g. kept vs reduced). Returns the new shape, a map old stride vector → new, and the
 * old→new axis groups. Unchanged when the expression uses iota.
 */
const collapse = (shape: readonly number[], strideSets: ReadonlyArray<readonly number[]>, kind: (axis: number) => number, iota: boolean): { shape: number[]; groups: number[][] } => {
  if (shape.length <= 1 || iota) return { shape: [...shape], groups: shape.map((_, axis) => [axis]) };
  const groups: number[][] = [[0]];
  for (let axis = 1; axis < shape.length; axis++) {
    const group = groups[groups.length - 1] as number[];
    const previous = group[group.length - 1] as number;
    const mergeable = kind(axis) === kind(previous) && strideSets.every((s) => (s[previous] ?? 0) === (s[axis] ?? 0) * (shape[axis] ?? 1));
    if (mergeable) group.push(axis);
    else groups.push([axis]);
  }
  return { shape: groups.map((g) => g.reduce((p, axis) => p * (shape[axis] ?? 1), 1)), groups };
};

const regroup = (strides: readonly number[], groups: readonly number[][]): number[] => groups.map((g) => strides[g[g.length - 1] as number] ?? 0);

/** Value classes of expressions: f32, i32 (integers; bool buffers read as 0/1), bool (a comparison result). */
type VT = "f32" | "i32" | "bool";

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const ld = (type: "f32" | "i32" | "v128" | "f64", offset: number, ptr: string): string => `(${type}.load offset=${offset}${type === "v128" ? " align=4" : ""} ${ptr})`;
const st = (type: "f32" | "i32" | "v128", offset: number, ptr: string, value: string): string =>
  `(${type}.store offset=${offset}${type === "v128" ? " align=4" : ""} ${ptr} ${value})`;
const get = (local: string): string => `(local.get ${local})`;
const ZERO = i32c(0);
const iadd = (a: string, b: string): string => (b === ZERO ? a : a === ZERO ? b : `(i32.add ${a} ${b})`);
const imul = (a: string, n: number): string => (n === 0 ? ZERO : n === 1 ? a : `(i32.mul ${a} ${i32c(n)})`);

/** JavaScript ToInt32 of an f64 (`Math.trunc(x) | 0`): truncate, wrap modulo 2³², NaN and ±inf → 0. */
const toInt32 = (b: FunctionBuilder, code: string): string => {
  const t = b.bind("f64", `(f64.trunc ${code})`, "ti");
  const wrapped = `(f64.sub ${t} (f64.mul (f64.floor (f64.div ${t} (f64.const 4294967296))) (f64.const 4294967296)))`;
  return `(select (i32.trunc_sat_f64_u ${wrapped}) ${ZERO} (f64.lt (f64.abs ${t}) (f64.const inf)))`;
};

/** Horizontal combine of an f32x4 (sum: (l0 + l1) + (l2 + l3)). */
const horizontal = (op: "add" | "max" | "min", v: string, b: FunctionBuilder): string => {
  const x = b.bind("v128", v, "hv");
  const lane = (i: number): string => `(f32x4.extract_lane ${i} ${x})`;
  return `(f32.${op} (f32.${op} ${lane(0)} ${lane(1)}) (f32.${op} ${lane(2)} ${lane(3)}))`;
};
const horizontalInt = (op: "add" | "max_s" | "min_s", v: string, b: FunctionBuilder): string => {
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

interface Hoisted {
  readonly type: VT;
  readonly scalar: string;
  vector?: string;
}

/** Compiles expressions for one loop body: reads through per-stride-vector pointers. */
class ExprCompiler {
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
    }
    throw new Error("unreachable expression kind");
  }
}

const usesPow = (e: Expr): boolean => (e.kind === "binary" && e.op === "pow" && !(e.rhs.kind === "const" && !e.integer && (e.rhs.value === 2 || e.rhs.value === 1))) || childrenOf(e).some(usesPow);

// ----- loop nests for map and reduce kernels --------------------------------------------------

interface Nest {
  readonly b: FunctionBuilder;
  readonly shape: readonly number[];
  /** Counter locals of every axis but the last. */
  readonly counters: readonly string[];
  /** Pointer local per stride vector key. */
  readonly pointers: Map<string, { readonly local: string; readonly strides: readonly number[] }>;
}

const strideKey = (strides: readonly number[]): string => strides.join(",");

const makeNest = (b: FunctionBuilder, shape: readonly number[], strideSets: ReadonlyArray<readonly number[]>): Nest => {
  const pointers = new Map<string, { local: string; strides: readonly number[] }>();
  for (const s of strideSets) if (!pointers.has(strideKey(s))) pointers.set(strideKey(s), { local: b.local("i32", "p"), strides: s });
  return { b, shape, counters: shape.slice(0, -1).map(() => b.local("i32", "i")), pointers };
};

/** Loops over every axis but the last (`from` first axis), then `inner()` with pointers set for the row. */
const outerLoops = (nest: Nest, inner: () => void, from = 0, to = nest.shape.length - 1): void => {
  const { b } = nest;
  const rec = (axis: number): void => {
    if (axis >= to) {
      // pointers at the start of the innermost loop
      for (const { local, strides } of nest.pointers.values()) {
        let code = ZERO;
        nest.counters.forEach((counter, d) => {
          code = iadd(code, imul(get(counter), (strides[d] ?? 0) * 4));
        });
        b.set(local, code);
      }
      inner();
      return;
    }
    b.forRange(nest.counters[axis] as string, 0, nest.shape[axis] ?? 1, 1, () => rec(axis + 1));
  };
  rec(from);
};

/** Advances every pointer by `lanes` elements of the innermost axis. */
const bump = (nest: Nest, lanes: number, except?: string): void => {
  const last = nest.shape.length - 1;
  for (const [key, { local, strides }] of nest.pointers) {
    const step = (strides[last] ?? 0) * 4 * lanes;
    if (step !== 0 && key !== except) nest.b.set(local, `(i32.add ${get(local)} ${i32c(step)})`);
  }
};

/** The maximal subtrees invariant along the innermost axis that contain a read or an iota. */
const invariantRoots = (e: Expr, last: number): Expr[] => {
  const invariant = (x: Expr): boolean => {
    switch (x.kind) {
      case "read":
        return (x.access.strides[last] ?? 0) === 0;
      case "const":
        return true;
      case "iota":
        return x.axis !== last;
      default:
        return childrenOf(x).every(invariant);
    }
  };
  const interesting = (x: Expr): boolean => x.kind !== "const";
  const roots: Expr[] = [];
  const walk = (x: Expr): void => {
    if (invariant(x)) {
      if (interesting(x)) roots.push(x);
      return;
    }
    childrenOf(x).forEach(walk);
  };
  walk(e);
  return roots;
};

const splat = (code: string, type: VT): string => (type === "f32" ? `(f32x4.splat ${code})` : type === "i32" ? `(i32x4.splat ${code})` : `(i32x4.splat (i32.sub ${ZERO} ${code}))`);

/** Computes hoisted values (scalar, and splatted when `vector`) at the current point. */
const hoist = (b: FunctionBuilder, compiler: ExprCompiler, roots: readonly Expr[], vector: boolean): void => {
  compiler.hoisted.clear();
  const S = new Lanes(false);
  for (const root of roots) {
    const type = compiler.concrete(root);
    const scalar = b.bind(type === "f32" ? "f32" : "i32", compiler.gen(root, type, S), "h");
    const entry: Hoisted = { type, scalar };
    if (vector) entry.vector = b.bind("v128", splat(scalar, type), "hv");
    compiler.hoisted.set(root, entry);
  }
};

// ----- map --------------------------------------------------------------------------------------

/** Pointers only move forward: a negative stride (no lowering produces one today) is refused at compile time. */
const requireForwardStrides = (expr: Expr): void => {
  for (const read of readsOf(expr))
    if (read.access.strides.some((stride) => stride < 0) || read.access.offset < 0)
      throw new Error(`a strided read with negative stride or offset (strides [${read.access.strides.join(",")}], offset ${read.access.offset}) is not supported`);
};

const mapKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "map" }>, b: FunctionBuilder): void => {
  requireForwardStrides(kernel.expr);
  if (kernel.shape.some((d) => d === 0)) return;
  const rawShape = kernel.shape.length === 0 ? [1] : kernel.shape;
  const rawExpr = kernel.shape.length === 0 ? mapReads(kernel.expr, () => [0]) : kernel.expr;
  const strideSets = readsOf(rawExpr).map((r) => r.access.strides);
  const { shape, groups } = collapse(rawShape, [...strideSets, rawShape.map((_, axis) => sizeOf(rawShape.slice(axis + 1)))], () => 0, usesIota(rawExpr));
  const expr = groups.length === rawShape.length ? rawExpr : mapReads(rawExpr, (s) => regroup(s, groups));
  const last = shape.length - 1;
  const extent = shape[last] ?? 1;
  const nest = makeNest(b, shape, readsOf(expr).map((r) => r.access.strides));
  const j = b.local("i32", "j");
  const o = b.local("i32", "o");
  const outBuffer = ctx.buffers[kernel.out];
  const outType: VT = outBuffer === undefined || outBuffer.dtype === "f32" || outBuffer.dtype === "f64" ? "f32" : outBuffer.dtype === "bool" ? "bool" : "i32";
  const outBase = ctx.base + (ctx.offsets[kernel.out] ?? 0) * 4;
  const index = (axis: number): string => (axis === last ? get(j) : get(nest.counters[axis] ?? j));
  const compiler = new ExprCompiler(ctx, b, (s) => nest.pointers.get(strideKey(s))?.local ?? "$missing", index, last, new Map());
  const roots = invariantRoots(expr, last);
  const vectorOk = extent >= 4 && readsOf(expr).every((r) => (r.access.strides[last] ?? 0) <= 1 && (r.access.strides[last] ?? 0) >= 0) && !compiler.scalarOnly(expr, outType, new Set(roots));
  const V = new Lanes(true, ctx.relaxedSimd);
  const S = new Lanes(false);
  const store = (L: Lanes): void => {
    const value = compiler.gen(expr, outType, L);
    if (L.vector) b.emit(st("v128", outBase, get(o), outType === "bool" ? `(v128.and ${value} ${L.ic(1)})` : value));
    else b.emit(st(outType === "f32" ? "f32" : "i32", outBase, get(o), value));
    b.set(o, `(i32.add ${get(o)} ${i32c(L.vector ? 16 : 4)})`);
  };
  b.set(o, ZERO);
  outerLoops(nest, () => {
    hoist(b, compiler, roots, vectorOk);
    const vectorEnd = vectorOk ? extent - (extent % 4) : 0;
    b.forRange(j, 0, vectorEnd, 4, () => {
      store(V);
      bump(nest, 4);
    });
    b.forRange(j, vectorEnd, extent, 1, () => {
      store(S);
      bump(nest, 1);
    });
  });
};

// ----- reduce -------------------------------------------------------------------------------------

const reduceKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "reduce" }>, b: FunctionBuilder): void => {
  requireForwardStrides(kernel.expr);
  const outBuffer = ctx.buffers[kernel.out];
  const int = outBuffer !== undefined && outBuffer.dtype !== "f32" && outBuffer.dtype !== "f64";
  const acc: VT = int ? "i32" : "f32";
  const outBase = ctx.base + (ctx.offsets[kernel.out] ?? 0) * 4;
  const init = kernel.op === "sum" ? 0 : kernel.op === "max" ? -Infinity : Infinity;
  const intInit = kernel.op === "sum" ? 0 : kernel.op === "max" ? -2147483648 : 2147483647;
  const S = new Lanes(false);
  const V = new Lanes(true, ctx.relaxedSimd);
  const fill = (value: string, vectorValue: string): void => {
    const q = b.local("i32", "q");
    const count = kernel.outSize;
    b.forRange(q, 0, count - (count % 4), 4, () => b.emit(st("v128", outBase, `(i32.shl ${get(q)} ${i32c(2)})`, vectorValue)));
    b.forRange(q, count - (count % 4), count, 1, () => b.emit(st(int ? "i32" : "f32", outBase, `(i32.shl ${get(q)} ${i32c(2)})`, value)));
  };
  if (kernel.outSize === 0) return;
  if (kernel.shape.some((d) => d === 0)) {
    const value = init * kernel.scale;
    if (int) fill(i32c(kernel.op === "sum" ? 0 : intInit), V.ic(kernel.op === "sum" ? 0 : intInit));
    else fill(f32c(value), V.fc(value));
    return;
  }
  const rawShape = kernel.shape.length === 0 ? [1] : kernel.shape;
  const rawExpr = kernel.shape.length === 0 ? mapReads(kernel.expr, () => [0]) : kernel.expr;
  const rawOut = kernel.shape.length === 0 ? [0] : kernel.outStrides;
  const reduced = new Set(kernel.reducedAxes);
  const { shape, groups } = collapse(rawShape, [...readsOf(rawExpr).map((r) => r.access.strides), rawOut], (axis) => (reduced.has(axis) ? 1 : 0), usesIota(rawExpr));
  const expr = groups.length === rawShape.length ? rawExpr : mapReads(rawExpr, (s) => regroup(s, groups));
  const outStrides = regroup(rawOut, groups);
  const isReduced = groups.map((g) => reduced.has(g[0] as number));
  const rank = shape.length;
  const last = rank - 1;
  const extent = shape[last] ?? 1;
  const firstReduced = isReduced.indexOf(true);
  const trailing = firstReduced >= 0 && isReduced.slice(firstReduced).every((x) => x);
  const nest = makeNest(b, shape, [...readsOf(expr).map((r) => r.access.strides), outStrides]);
  const outKey = strideKey(outStrides);
  const outPtr = nest.pointers.get(outKey)?.local ?? "$missing";
  const j = b.local("i32", "j");
  const index = (axis: number): string => (axis === last ? get(j) : get(nest.counters[axis] ?? j));
  const compiler = new ExprCompiler(ctx, b, (s) => nest.pointers.get(strideKey(s))?.local ?? "$missing", index, last, new Map());
  const contiguousReads = readsOf(expr).every((r) => (r.access.strides[last] ?? 0) >= 0 && (r.access.strides[last] ?? 0) <= 1);
  const roots = invariantRoots(expr, last);

  const fop = kernel.op === "sum" ? "add" : kernel.op;
  const combine = (L: Lanes, a: string, c: string): string => {
    if (!int) return L.fop(fop, a, c);
    if (kernel.op === "sum") return L.iop("add", a, c);
    if (L.vector) return L.iop(kernel.op === "max" ? "max_s" : "min_s", a, c);
    const x = b.bind("i32", a, "ra");
    const y = b.bind("i32", c, "rb");
    return `(select ${x} ${y} (i32.${kernel.op === "max" ? "gt_s" : "lt_s"} ${x} ${y}))`;
  };
  const finish = (value: string): string => {
    if (kernel.scale === 1) return value;
    if (!int) return `(f32.mul ${value} ${f32c(kernel.scale)})`;
    return `(i32.trunc_sat_f64_s (f64.mul (f64.convert_i32_s ${value}) ${f64c(kernel.scale)}))`;
  };
  const scalarType: ValType = int ? "i32" : "f32";
  const initCode = (L: Lanes): string => (int ? L.ic(intInit) : L.fc(init));
  const horizontalCombine = (v: string): string => (int ? horizontalInt(kernel.op === "sum" ? "add" : kernel.op === "max" ? "max_s" : "min_s", v, b) : horizontal(fop as "add" | "max" | "min", v, b));

  /** Register accumulation over the innermost loop (and, in the trailing case, the reduced axes before it). */
  const accumulateInner = (accS: string, accV: string | undefined): void => {
    hoist(b, compiler, roots, accV !== undefined);
    const vectorEnd = accV !== undefined ? extent - (extent % 4) : 0;
    b.forRange(j, 0, vectorEnd, 4, () => {
      if (accV !== undefined) b.set(accV, combine(V, get(accV), compiler.gen(expr, acc, V)));
      bump(nest, 4);
    });
    b.forRange(j, vectorEnd, extent, 1, () => {
      b.set(accS, combine(S, get(accS), compiler.gen(expr, acc, S)));
      bump(nest, 1);
    });
  };
  const vectorInner = extent >= 4 && contiguousReads && !compiler.scalarOnly(expr, acc, new Set(roots));

  if (trailing) {
    // out[o++] = reduce over the trailing axes, in registers
    const o = b.local("i32", "o");
    b.set(o, ZERO);
    const accS = b.local(scalarType, "acc");
    const accV = vectorInner ? b.local("v128", "accv") : undefined;
    const keptAxes = firstReduced;
    const rec = (axis: number): void => {
      if (axis === keptAxes) {
        b.set(accS, initCode(S));
        if (accV !== undefined) b.set(accV, initCode(V));
        outerLoops(nest, () => accumulateInner(accS, accV), keptAxes, last);
        const total = accV === undefined ? get(accS) : combine(S, horizontalCombine(get(accV)), get(accS));
        b.emit(st(int ? "i32" : "f32", outBase, get(o), finish(total)));
        b.set(o, `(i32.add ${get(o)} ${i32c(4)})`);
        return;
      }
      b.forRange(nest.counters[axis] as string, 0, shape[axis] ?? 1, 1, () => rec(axis + 1));
    };
    // pointers for the first reduced row are set by outerLoops from `keptAxes`
    rec(0);
    return;
  }

  // general: initialise the output, combine into it, scale at the end
  if (int) fill(i32c(intInit), V.ic(intInit));
  else fill(f32c(init), V.fc(init));
  const outStoreType = int ? "i32" : "f32";
  if (isReduced[last] === true) {
    const accS = b.local(scalarType, "acc");
    const accV = vectorInner ? b.local("v128", "accv") : undefined;
    outerLoops(nest, () => {
      b.set(accS, initCode(S));
      if (accV !== undefined) b.set(accV, initCode(V));
      accumulateInner(accS, accV);
      const total = accV === undefined ? get(accS) : combine(S, horizontalCombine(get(accV)), get(accS));
      b.emit(st(outStoreType, outBase, get(outPtr), combine(S, ld(outStoreType, outBase, get(outPtr)), total)));
    });
  } else {
    const vectorOk = vectorInner && outStrides[last] === 1;
    outerLoops(nest, () => {
      hoist(b, compiler, roots, vectorOk);
      const vectorEnd = vectorOk ? extent - (extent % 4) : 0;
      b.forRange(j, 0, vectorEnd, 4, () => {
        b.emit(st("v128", outBase, get(outPtr), combine(V, ld("v128", outBase, get(outPtr)), compiler.gen(expr, acc, V))));
        bump(nest, 4);
      });
      b.forRange(j, vectorEnd, extent, 1, () => {
        b.emit(st(outStoreType, outBase, get(outPtr), combine(S, ld(outStoreType, outBase, get(outPtr)), compiler.gen(expr, acc, S))));
        bump(nest, 1);
      });
    });
  }
  if (kernel.scale !== 1) {
    const q = b.local("i32", "q");
    const count = kernel.outSize;
    const at = `(i32.shl ${get(q)} ${i32c(2)})`;
    if (!int) b.forRange(q, 0, count - (count % 4), 4, () => b.emit(st("v128", outBase, at, `(f32x4.mul ${ld("v128", outBase, at)} ${V.fc(kernel.scale)})`)));
    b.forRange(q, int ? 0 : count - (count % 4), count, 1, () => b.emit(st(outStoreType, outBase, at, finish(ld(outStoreType, outBase, at)))));
  }
};

// ----- row kernels -----------------------------------------------------------------------------------

/** Byte address of a buffer's element 0. */
const addrOf = (ctx: CodegenContext, buffer: number | undefined): number => ctx.base + (buffer === undefined ? 0 : (ctx.offsets[buffer] ?? 0)) * 4;

/**
 * Loops over the rows of a layout. `body(row, base)`: `row` = o·inner + i (i32 code), `base` = the
 * byte offset of the row's element 0 relative to its buffer.
 */
const forRows = (b: FunctionBuilder, rows: Rows, body: (row: string, base: string) => void): void => {
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
const ROW_UNROLL = 4;

const rowPass = (b: FunctionBuilder, rows: Rows, base: string, vectorLanes: Lanes | undefined, body: (L: Lanes, at: string, c: string) => void): void => {
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
class RowSum {
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
const rowMaxFinite = (b: FunctionBuilder, x: number, rows: Rows, base: string): { max: string; finite: string } => {
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
const rowMaxExact = (b: FunctionBuilder, x: number, rows: Rows, base: string): string => {
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
interface RowLse {
  readonly shift: string;
  readonly logSum: string;
}

const newRowLse = (b: FunctionBuilder): RowLse => ({ shift: b.local("f32", "lsh"), logSum: b.local("f32", "lls") });
const lseValue = (l: RowLse): string => `(f32.add ${get(l.logSum)} ${get(l.shift)})`;

/** The exact scalar logsumexp of a row (kernels-js rowLse: shift 0 when the max is ±inf). */
const rowLseExact = (b: FunctionBuilder, x: number, rows: Rows, base: string, into: RowLse): void => {
  const S = new Lanes(false);
  const max = b.bind("f32", rowMaxExact(b, x, rows, base), "m");
  b.set(into.shift, `(select ${f32c(0)} ${max} (f32.eq (f32.abs ${max}) ${f32c(Infinity)}))`);
  const sum = new RowSum(b);
  rowPass(b, rows, base, undefined, (L, at) => sum.add(L, exp(b, S, `(f32.sub ${ld("f32", x, at)} ${get(into.shift)})`)));
  b.set(into.logSum, log(b, S, sum.total()));
};

/** logsumexp of a row: SIMD (max pass, exp pass) for all-finite contiguous rows, exact otherwise. */
const rowLse = (ctx: CodegenContext, b: FunctionBuilder, x: number, rows: Rows, base: string, into: RowLse): void => {
  if (rows.inner !== 1) {
    rowLseExact(b, x, rows, base, into);
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
    () => rowLseExact(b, x, rows, base, into),
  );
};

/**
 * One SIMD pass over a contiguous row with a given shift s (e.g. the target logit): e = exp(x − s)
 * stored at `into`, Σe and max(x − s). `ok` holds when no exp could have overflowed
 * (max(x − s) ≤ 88) and every value was finite (Σe finite); otherwise the caller redoes the row
 * exactly.
 */
const rowExpShifted = (ctx: CodegenContext, b: FunctionBuilder, x: number, rows: Rows, base: string, shift: string, into: number | undefined): { sum: string; ok: string } => {
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

const softmaxKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "softmax" }>, b: FunctionBuilder): void => {
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

const logsumexpKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "logsumexp" }>, b: FunctionBuilder): void => {
  const x = addrOf(ctx, kernel.x);
  const out = addrOf(ctx, kernel.out);
  const l = newRowLse(b);
  forRows(b, kernel.rows, (row, base) => {
    rowLse(ctx, b, x, kernel.rows, base, l);
    b.emit(st("f32", out, `(i32.shl ${row} ${i32c(2)})`, lseValue(l)));
  });
};

const argmaxKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "argmax" }>, b: FunctionBuilder): void => {
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

const reductionCode = (reduction: "mean" | "sum" | "none"): 0 | 1 | 2 => (reduction === "mean" ? 0 : reduction === "sum" ? 1 : 2);

/** What the cross-entropy kernels share: addresses and attributes of one (x, target, weight). */
interface CeSetup {
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

const ceSetup = (ctx: CodegenContext, b: FunctionBuilder, kernel: Extract<Kernel, { kind: "cross_entropy" | "cross_entropy_backward" }>): CeSetup => ({
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

const vty = (L: Lanes): "v128" | "f32" => (L.vector ? "v128" : "f32");

/** w[c] for element c of a row (1 without weights). */
const classWeight = (s: CeSetup, L: Lanes, c: string): string => (s.w === undefined ? L.fc(1) : ld(vty(L), s.w, `(i32.shl ${c} ${i32c(2)})`));

/** w[y] as f64 code. */
const labelWeight = (s: CeSetup, y: string): string => (s.w === undefined ? f64c(1) : `(f64.promote_f32 ${ld("f32", s.w, `(i32.shl ${y} ${i32c(2)})`)})`);

/** Byte offset of x[row][y] relative to the buffers. */
const labelAt = (s: CeSetup, base: string, y: string): string => (s.rows.inner === 1 ? iadd(base, `(i32.shl ${y} ${i32c(2)})`) : iadd(base, `(i32.mul ${y} ${i32c(s.rows.inner * 4)})`));

/**
 * Loss of one row (kernels-js crossEntropy) given its LSE l = shift + logSum, into `loss` (f64);
 * adds the row's weight to `denominator`. l − x_c is computed as (shift − x_c) + logSum, so a
 * small loss next to large logits keeps its precision.
 */
const ceRowLoss = (s: CeSetup, base: string, y: string, l: RowLse, wTotal: string, loss: string, denominator: string): void => {
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
const ceRowMass = (s: CeSetup, base: string, y: string, wTotal: string, mass: string): void => {
  const { b, eps, size } = s;
  if (!s.prob) {
    b.set(mass, `(f64.add (f64.mul ${f64c(1 - eps)} ${labelWeight(s, y)}) (f64.mul ${f64c(eps / size)} ${wTotal}))`);
    return;
  }
  const sum = new RowSum(b);
  rowPass(b, s.rows, base, s.vector, (L, at, c) => sum.add(L, L.mul(classWeight(s, L, c), L.add(L.mul(L.fc(1 - eps), ld(vty(L), s.t, at)), L.fc(eps / size)))));
  b.set(mass, `(f64.promote_f32 ${sum.total()})`);
};

/** The exact scalar gradient row: out = scale·(exp(x − l)·mass − w·tc). */
const ceRowGradExact = (s: CeSetup, base: string, y: string, l: string, scale: string, mass: string, out: number): void => {
  const { b, eps, size } = s;
  const S = new Lanes(false);
  const scale32 = b.bind("f32", `(f32.demote_f64 ${scale})`, "sc");
  const mass32 = b.bind("f32", `(f32.demote_f64 ${mass})`, "ms");
  rowPass(b, s.rows, base, undefined, (_L, at, c) => {
    const p = exp(b, S, `(f32.sub ${ld("f32", s.x, at)} ${l})`);
    const tc = s.prob ? `(f32.add (f32.mul ${f32c(1 - eps)} ${ld("f32", s.t, at)}) ${f32c(eps / size)})` : `(f32.add (select ${f32c(1 - eps)} ${f32c(0)} (i32.eq ${c} ${y})) ${f32c(eps / size)})`;
    b.emit(st("f32", out, at, `(f32.mul ${scale32} (f32.sub (f32.mul ${p} ${mass32}) (f32.mul ${classWeight(s, S, c)} ${tc})))`));
  });
};

/**
 * The SIMD gradient row of a contiguous, all-finite row, from `p` = softmax of element(s) at `at`
 * (code per lane width): out = scale·mass·p − scale·w·tc, the target class of index targets
 * rewritten exactly afterwards.
 */
const ceRowGradFast = (s: CeSetup, base: string, y: string, scale: string, mass: string, out: number, p: (L: Lanes, at: string) => string, unit?: string): void => {
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
const weightTotal = (s: CeSetup): string => {
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
const checkTarget = (b: FunctionBuilder, y: string, classes: number, ignoreIndex: number): void =>
  b.when(`(i32.and (i32.ne ${y} ${i32c(ignoreIndex)}) (i32.ge_u ${y} ${i32c(classes)}))`, () => b.emit(`(return ${i32c(1)})`));

/** Σ w[y] (or the count) over rows whose label is not ignored: the mean denominator (f64 code). */
const labelWeightTotal = (b: FunctionBuilder, t: number, w: number | undefined, rowCount: number, ignoreIndex: number, classes: number): string => {
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

/** The backward's scale denominator: 1 (sum/none), the row count (prob targets) or Σ w[y]. */
const backwardDenominator = (s: CeSetup): string => {
  const rowCount = s.rows.outer * s.rows.inner;
  const reduction = reductionCode(s.attrs.reduction);
  return s.b.bind("f64", reduction !== 0 ? f64c(1) : s.prob ? f64c(rowCount) : labelWeightTotal(s.b, s.t, s.w, rowCount, s.attrs.ignoreIndex, s.size), "bden");
};

/** Writes the reduced loss at the end of a forward kernel. */
/** Where a cross-entropy kernel puts each row's results: the saved LSE, and the loss (per row, or summed). */
interface CeRowSinks {
  readonly lse: number | undefined;
  readonly out: number | undefined;
  readonly reduction: 0 | 1 | 2 | undefined;
  readonly total: string;
  readonly loss: string;
  readonly denominator: string;
  readonly wTotal: string;
}

/** After a row's logsumexp: save it for a backward kernel, then write (none) or accumulate (mean/sum) the row's loss. */
const storeRowLoss = (s: CeSetup, sinks: CeRowSinks, rowAt: string, base: string, y: string, l: RowLse): void => {
  const { b } = s;
  const { lse, out, reduction, total, loss } = sinks;
  if (lse !== undefined) b.emit(st("f32", lse, rowAt, lseValue(l)));
  if (out === undefined || reduction === undefined) return;
  ceRowLoss(s, base, y, l, sinks.wTotal, loss, sinks.denominator);
  if (reduction === 2) b.emit(st("f32", out, rowAt, `(f32.demote_f64 ${get(loss)})`));
  else b.set(total, `(f64.add ${get(total)} ${get(loss)})`);
};

const finishLoss = (b: FunctionBuilder, reduction: 0 | 1 | 2, out: number, total: string, denominator: string): void => {
  if (reduction === 0) b.emit(st("f32", out, ZERO, `(f32.demote_f64 (f64.div ${total} ${denominator}))`));
  else if (reduction === 1) b.emit(st("f32", out, ZERO, `(f32.demote_f64 ${total})`));
};

const crossEntropyKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "cross_entropy" }>, b: FunctionBuilder): void => {
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
  forRows(b, s.rows, (row, base) => {
    const rowAt = `(i32.shl ${row} ${i32c(2)})`;
    const next = b.label("next");
    b.block(`(block ${next}`, () => {
      const y = s.prob ? i32c(-1) : b.bind("i32", ld("i32", s.t, rowAt), "y");
      if (!s.prob) checkTarget(b, y, s.size, s.attrs.ignoreIndex);
      if (!s.prob)
        b.when(`(i32.eq ${y} ${i32c(kernel.attrs.ignoreIndex)})`, () => {
          if (lse !== undefined) b.emit(st("f32", lse, rowAt, f32c(0)));
          if (reduction === 2) b.emit(st("f32", out, rowAt, f32c(0)));
          b.emit(`(br ${next})`);
        });
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
          () => rowLseExact(b, s.x, s.rows, base, l),
        );
      } else rowLse(ctx, b, s.x, s.rows, base, l);
      storeRowLoss(s, { lse, out, reduction, total, loss, denominator, wTotal }, rowAt, base, y, l);
    });
  });
  if (out !== undefined && reduction !== undefined) finishLoss(b, reduction, out, get(total), get(denominator));
};

const crossEntropyBackwardKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "cross_entropy_backward" }>, b: FunctionBuilder): void => {
  const s = ceSetup(ctx, b, kernel);
  const g = addrOf(ctx, kernel.grad);
  const out = addrOf(ctx, kernel.out);
  const lse = kernel.lse === undefined ? undefined : addrOf(ctx, kernel.lse);
  const reduction = reductionCode(kernel.attrs.reduction);
  const denominator = backwardDenominator(s);
  const wTotal = weightTotal(s);
  const l = b.local("f32", "l");
  const computed = newRowLse(b);
  const mass = b.local("f64", "mass");
  forRows(b, s.rows, (row, base) => {
    const next = b.label("next");
    b.block(`(block ${next}`, () => {
      const rowAt = `(i32.shl ${row} ${i32c(2)})`;
      const y = s.prob ? i32c(-1) : b.bind("i32", ld("i32", s.t, rowAt), "y");
      if (!s.prob) checkTarget(b, y, s.size, s.attrs.ignoreIndex);
      if (!s.prob)
        b.when(`(i32.eq ${y} ${i32c(kernel.attrs.ignoreIndex)})`, () => {
          rowPass(b, s.rows, base, s.vector, (L, at) => b.emit(st(vty(L), out, at, L.fc(0))));
          b.emit(`(br ${next})`);
        });
      const scale = b.bind("f64", `(f64.div (f64.promote_f32 ${ld("f32", g, reduction === 2 ? rowAt : ZERO)}) ${denominator})`, "scale");
      if (lse !== undefined) b.set(l, ld("f32", lse, rowAt));
      else {
        rowLse(ctx, b, s.x, s.rows, base, computed);
        b.set(l, lseValue(computed));
      }
      ceRowMass(s, base, y, wTotal, mass);
      if (s.vector === undefined) {
        ceRowGradExact(s, base, y, get(l), scale, get(mass), out);
        return;
      }
      const vl = b.bind("v128", `(f32x4.splat ${get(l)})`, "vl");
      b.when(
        `(f32.eq (f32.sub ${get(l)} ${get(l)}) ${f32c(0)})`,
        () => ceRowGradFast(s, base, y, scale, get(mass), out, (L, at) => expNeg(b, L, L.sub(ld(vty(L), s.x, at), L.vector ? vl : get(l)))),
        () => ceRowGradExact(s, base, y, get(l), scale, get(mass), out),
      );
    });
  });
};

/**
 * The fused cross-entropy (+ backward) for index targets on contiguous rows, software-pipelined:
 * row r's exp pass (e = exp(x − x[y]) stored in the gradient row, Σe, max(x − x[y])) also rescales
 * row r − 1's stored e into its gradient (e·a − w·c0), so that pass costs no loop of its own. When
 * no row is pending, the rescale runs on a dummy row in the scratch area (no branch in the loop).
 * The target class of each row is written last, exactly. Rows that could overflow or hold a
 * non-finite value (and ignored rows) are written by the exact path and leave nothing pending.
 */
const crossEntropyPipelinedKernel = (
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
        if (lse !== undefined) b.emit(st("f32", lse, rowAt, f32c(0)));
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
          rowLseExact(b, s.x, s.rows, base, l);
          ceRowGradExact(s, base, y, lseValue(l), scale, get(mass), dOut);
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
const crossEntropyFusedKernel = (
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
  forRows(b, s.rows, (row, base) => {
    const rowAt = `(i32.shl ${row} ${i32c(2)})`;
    const next = b.label("next");
    b.block(`(block ${next}`, () => {
      const y = s.prob ? i32c(-1) : b.bind("i32", ld("i32", s.t, rowAt), "y");
      if (!s.prob) checkTarget(b, y, s.size, s.attrs.ignoreIndex);
      if (!s.prob)
        b.when(`(i32.eq ${y} ${i32c(s.attrs.ignoreIndex)})`, () => {
          if (lse !== undefined) b.emit(st("f32", lse, rowAt, f32c(0)));
          if (reduction === 2 && out !== undefined) b.emit(st("f32", out, rowAt, f32c(0)));
          rowPass(b, s.rows, base, V, (L, at) => b.emit(st(vty(L), dOut, at, L.fc(0))));
          b.emit(`(br ${next})`);
        });
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
          rowLseExact(b, s.x, s.rows, base, l);
          ceRowGradExact(s, base, y, lseValue(l), scale, get(mass), dOut);
        },
      );
      storeRowLoss(s, { lse, out, reduction, total, loss, denominator, wTotal }, rowAt, base, y, l);
    });
  });
  if (out !== undefined && reduction !== undefined) finishLoss(b, reduction, out, get(total), get(denominator));
};

const nllLossKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "nll_loss" }>, b: FunctionBuilder): void => {
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

const nllLossBackwardKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "nll_loss_backward" }>, b: FunctionBuilder): void => {
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

const bceKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "bce_logits" }>, b: FunctionBuilder): void => {
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

/** gather / scatter_add over contiguous operands; returns 1 when an index is out of range. */
const gatherKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "gather" }>, b: FunctionBuilder): void => {
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

// ----- matmul ------------------------------------------------------------------------------------

type Layout = "plain" | "trans" | "strided";

/** How an m×k operand with (row, col) element strides is stored: row-major, its transpose, or neither. */
const layoutOf = (rowsCount: number, cols: number, row: number, col: number): Layout => {
  if ((cols === 1 || col === 1) && (rowsCount === 1 || row === cols)) return "plain";
  if ((rowsCount === 1 || row === 1) && (cols === 1 || col === rowsCount)) return "trans";
  return "strided";
};

interface GemmTable {
  readonly functions: Map<string, { readonly name: string; readonly text: string }>;
  /** Per task number: the kernel index and the worker's part, emitted into the `task` function. */
  readonly tasks: Array<{ readonly kernel: number; readonly emit: (b: FunctionBuilder) => void }>;
}

/** First row of the worker's part: about half of `m`, on a register-tile boundary (`mr`) so both parts walk the one-thread tiles. */
export const splitRow = (m: number, mr: number): number => Math.min(m, Math.max(mr, Math.round(m / 2 / mr) * mr));

const matmulKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "matmul" }>, b: FunctionBuilder, gemms: GemmTable, index: number): void => {
  const { m, n, k, batch } = kernel;
  if (m === 0 || n === 0 || batch === 0) return;
  const a = addrOf(ctx, kernel.a.buffer) + kernel.a.offset * 4;
  const bb = addrOf(ctx, kernel.b.buffer) + kernel.b.offset * 4;
  const c = addrOf(ctx, kernel.out);
  const bias = kernel.bias === undefined ? 0 : addrOf(ctx, kernel.bias.buffer) + kernel.bias.offset * 4;
  const aLayout = layoutOf(m, k, kernel.a.rowStride, kernel.a.colStride);
  const bLayout = layoutOf(k, n, kernel.b.rowStride, kernel.b.colStride);
  const loopBatch = (fb: FunctionBuilder, body: (aOff: string, bOff: string, cOff: string) => void): void => {
    if (batch === 1) {
      body(ZERO, ZERO, ZERO);
      return;
    }
    const counter = fb.local("i32", "s");
    fb.forRange(counter, 0, batch, 1, () => body(imul(get(counter), kernel.a.batchStride * 4), imul(get(counter), kernel.b.batchStride * 4), imul(get(counter), m * n * 4)));
  };
  if (k > 0 && aLayout !== "strided" && bLayout !== "strided") {
    const spec: GemmSpec = { m, n, k, transA: aLayout === "trans", transB: bLayout === "trans", bias: kernel.bias !== undefined, relu: kernel.relu, accumulate: false, useRelaxedSimd: ctx.relaxedSimd };
    let need: number;
    let mr: number;
    try {
      need = gemmScratchBytes(spec);
      mr = planGemm(spec).mr;
    } catch (thrown) {
      throw new KernelCompileError(`matmul ${m}×${k}×${n}: ${thrown instanceof Error ? thrown.message : String(thrown)}`, index);
    }
    if (need > ctx.scratchBytes) throw new KernelCompileError(`matmul ${m}×${k}×${n} needs ${need} bytes of packing scratch, more than the ${ctx.scratchBytes} reserved`, index);
    const key = JSON.stringify(spec);
    let entry = gemms.functions.get(key);
    if (entry === undefined) {
      const name = `gemm${gemms.functions.size}`;
      entry = { name, text: emitGemmFunction(name, spec) };
      gemms.functions.set(key, entry);
    }
    const fn = entry.name;
    const rows = (fb: FunctionBuilder, from: number, to: number, scratch: number): void =>
      loopBatch(fb, (aOff, bOff, cOff) => fb.emit(`(call $${fn} ${iadd(i32c(a), aOff)} ${iadd(i32c(bb), bOff)} ${iadd(i32c(c), cOff)} ${i32c(bias)} ${i32c(from)} ${i32c(to)} ${i32c(scratch)})`));
    const threads = ctx.threads;
    const split = splitRow(m, mr);
    if (threads === undefined || 2 * batch * m * n * k < threads.minFlops || split >= m) {
      rows(b, 0, m, ctx.scratch);
      return;
    }
    const task = gemms.tasks.length;
    gemms.tasks.push({ kernel: index, emit: (fb) => rows(fb, split, m, threads.scratch) });
    b.when(
      `(call $spawn ${i32c(task)})`,
      () => {
        rows(b, 0, split, ctx.scratch);
        b.emit("(call $join)");
      },
      () => rows(b, 0, m, ctx.scratch),
    );
    return;
  }
  // strided operands (or k = 0): a plain scalar triple loop with the same epilogue
  const i = b.local("i32", "mi");
  const j = b.local("i32", "mj");
  const p = b.local("i32", "mp");
  const accumulator = b.local("f32", "macc");
  loopBatch(b, (aOff, bOff, cOff) => {
    const aBase = b.bind("i32", aOff, "ab");
    const bBase = b.bind("i32", bOff, "bb");
    const cBase = b.bind("i32", cOff, "cb");
    b.forRange(i, 0, m, 1, () =>
      b.forRange(j, 0, n, 1, () => {
        b.set(accumulator, f32c(0));
        b.forRange(p, 0, k, 1, () => {
          const aAt = iadd(aBase, iadd(imul(get(i), kernel.a.rowStride * 4), imul(get(p), kernel.a.colStride * 4)));
          const bAt = iadd(bBase, iadd(imul(get(p), kernel.b.rowStride * 4), imul(get(j), kernel.b.colStride * 4)));
          b.set(accumulator, `(f32.add ${get(accumulator)} (f32.mul ${ld("f32", a, aAt)} ${ld("f32", bb, bAt)}))`);
        });
        if (kernel.bias !== undefined) b.set(accumulator, `(f32.add ${get(accumulator)} ${ld("f32", bias, `(i32.shl ${get(j)} ${i32c(2)})`)})`);
        if (kernel.relu) b.set(accumulator, `(select ${get(accumulator)} ${f32c(0)} (i32.eqz (f32.le ${get(accumulator)} ${f32c(0)})))`);
        b.emit(st("f32", c, iadd(cBase, `(i32.shl ${iadd(imul(get(i), n), get(j))} ${i32c(2)})`), get(accumulator)));
      }),
    );
  });
};

// ----- module --------------------------------------------------------------------------------------

const kernelFunction = (ctx: CodegenContext, kernel: Kernel, index: number, gemms: GemmTable): { text: string; checked: boolean; pow: boolean } => {
  const b = new FunctionBuilder();
  const name = `k${index}`;
  switch (kernel.kind) {
    case "map": {
      const split = ctx.threads === undefined ? undefined : splitMap(ctx, kernel, ctx.threads.minMapElements);
      if (split === undefined) mapKernel(ctx, kernel, b);
      else {
        const task = gemms.tasks.length;
        gemms.tasks.push({ kernel: index, emit: (fb) => mapKernel(split.ctx, split.second, fb) });
        b.when(
          `(call $spawn ${i32c(task)})`,
          () => {
            mapKernel(ctx, split.first, b);
            b.emit("(call $join)");
          },
          () => mapKernel(ctx, kernel, b),
        );
      }
      return { text: b.text(name), checked: false, pow: usesPow(kernel.expr) };
    }
    case "reduce":
      reduceKernel(ctx, kernel, b);
      return { text: b.text(name), checked: false, pow: usesPow(kernel.expr) };
    case "matmul":
      matmulKernel(ctx, kernel, b, gemms, index);
      break;
    case "softmax":
      softmaxKernel(ctx, kernel, b);
      break;
    case "logsumexp":
      logsumexpKernel(ctx, kernel, b);
      break;
    case "argmax":
      argmaxKernel(ctx, kernel, b);
      break;
    case "cross_entropy":
      crossEntropyKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "cross_entropy_backward":
      if (kernel.lse === undefined && kernel.rows.inner === 1 && kernel.rows.size > 0) crossEntropyFusedKernel(ctx, undefined, kernel, b);
      else crossEntropyBackwardKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "nll_loss":
      nllLossKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "nll_loss_backward":
      nllLossBackwardKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "bce_logits":
      bceKernel(ctx, kernel, b);
      break;
    case "gather":
      gatherKernel(ctx, kernel, b);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "copy":
      if (kernel.size > 0) b.emit(`(memory.copy ${i32c(addrOf(ctx, kernel.to))} ${i32c(addrOf(ctx, kernel.from))} ${i32c(kernel.size * 4)})`);
      break;
  }
  return { text: b.text(name), checked: false, pow: false };
};

/** Adds `by[axis 0] × stride` to the offset of every read (the reads of rows `by`… of a map kernel). */
const shiftReads = (e: Expr, rows: number): Expr => {
  switch (e.kind) {
    case "read":
      return { ...e, access: { ...e.access, offset: e.access.offset + rows * (e.access.strides[0] ?? 0) } };
    case "const":
    case "iota":
      return e;
    case "unary":
    case "cast":
      return { ...e, arg: shiftReads(e.arg, rows) };
    case "binary":
      return { ...e, lhs: shiftReads(e.lhs, rows), rhs: shiftReads(e.rhs, rows) };
    case "select":
      return { ...e, cond: shiftReads(e.cond, rows), then: shiftReads(e.then, rows), else: shiftReads(e.else, rows) };
  }
};

/**
 * A big map kernel split along its leading axis: `first` computes rows [0, rows) (same buffers),
 * `second` the others, reading through shifted offsets and writing through a view buffer that
 * starts at row `rows` of the output (`ctx` knows it). Undefined when the kernel is too small,
 * has one axis, or uses iota (whose index would need shifting).
 */
const splitMap = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "map" }>, minElements: number): { readonly first: Extract<Kernel, { kind: "map" }>; readonly second: Extract<Kernel, { kind: "map" }>; readonly ctx: CodegenContext } | undefined => {
  const [leading, ...rest] = kernel.shape;
  const out = ctx.buffers[kernel.out];
  if (leading === undefined || rest.length === 0 || out === undefined || usesIota(kernel.expr)) return undefined;
  const rowSize = sizeOf(rest);
  if (leading * rowSize < minElements) return undefined;
  let rows = Math.floor(leading / 2);
  // whole SIMD groups on each side when the axes collapse into one flat loop
  while (rows > 0 && (rows * rowSize) % 4 !== 0) rows--;
  if (rows <= 0 || rows >= leading) return undefined;
  const view = Math.max(ctx.buffers.length, ctx.offsets.length);
  const offsets = [...ctx.offsets];
  offsets[view] = (ctx.offsets[kernel.out] ?? 0) + rows * rowSize;
  const buffers = [...ctx.buffers];
  buffers[view] = { ...out, id: view, size: (leading - rows) * rowSize };
  return {
    first: { ...kernel, shape: [rows, ...rest] },
    second: { ...kernel, out: view, shape: [leading - rows, ...rest], expr: shiftReads(kernel.expr, rows) },
    ctx: { ...ctx, offsets, buffers },
  };
};

/**
 * Pairs (i, j) of a cross_entropy kernel i and a cross_entropy_backward kernel j > i on the same
 * contiguous rows, operands and attributes that can run as one fused kernel at i: the backward's
 * output touches nothing kernels i..j−1 read or write, and nothing they write is an input of the
 * backward (so computing it early reads the same values and clobbers nothing live).
 */
export const fusableCrossEntropy = (kernels: readonly Kernel[], ctx: Pick<CodegenContext, "offsets" | "buffers">): Map<number, number> => {
  const range = (id: number): readonly [number, number] => {
    const start = ctx.offsets[id] ?? 0;
    return [start, start + Math.max(1, ctx.buffers[id]?.size ?? 1)];
  };
  const overlaps = (a: number, c: number): boolean => {
    const [a0, a1] = range(a);
    const [c0, c1] = range(c);
    return a0 < c1 && c0 < a1;
  };
  const pairs = new Map<number, number>();
  const taken = new Set<number>();
  kernels.forEach((forward, i) => {
    if (forward.kind !== "cross_entropy" || forward.rows.inner !== 1 || forward.rows.size < 1) return;
    for (let j = i + 1; j < kernels.length; j++) {
      const backward = kernels[j];
      if (backward === undefined || backward.kind !== "cross_entropy_backward" || taken.has(j)) continue;
      const same =
        backward.x === forward.x &&
        backward.target === forward.target &&
        backward.weight === forward.weight &&
        (backward.lse === undefined || backward.lse === forward.lse) &&
        JSON.stringify(backward.rows) === JSON.stringify(forward.rows) &&
        JSON.stringify(backward.attrs) === JSON.stringify(forward.attrs);
      if (!same) continue;
      const inputs = [backward.x, backward.target, backward.grad, ...(backward.weight === undefined ? [] : [backward.weight])];
      let safe = true;
      for (let k = i; k < j && safe; k++) {
        const kernel = kernels[k] as Kernel;
        const touched = [...kernelReads(kernel), ...kernelWrites(kernel)];
        if (touched.some((id) => overlaps(id, backward.out))) safe = false;
        const written = kernelWrites(kernel).filter((id) => !(k === i && id === forward.lse));
        if (written.some((id) => inputs.some((input) => overlaps(id, input)) || (backward.lse !== undefined && k > i && overlaps(id, backward.lse)))) safe = false;
      }
      if (safe) {
        pairs.set(i, j);
        taken.add(j);
      }
      return;
    }
  });
  return pairs;
};

/**
 * The WAT module of a schedule: helper functions, one function per kernel, and `run`.
 * @throws KernelCompileError naming the kernel it cannot compile.
 */
export const moduleText = (kernels: readonly Kernel[], ctx: CodegenContext): ModuleText => {
  const gemms: GemmTable = { functions: new Map(), tasks: [] };
  const functions: string[] = [];
  const calls: string[] = [];
  const checked: number[] = [];
  let pow = false;
  const fused = ctx.fuseCrossEntropy === false ? new Map<number, number>() : fusableCrossEntropy(kernels, ctx);
  const absorbed = new Set(fused.values());
  kernels.forEach((kernel, index) => {
    let compiled: { text: string; checked: boolean; pow: boolean };
    if (absorbed.has(index)) return;
    try {
      const partner = fused.get(index);
      const backward = partner === undefined ? undefined : kernels[partner];
      if (kernel.kind === "cross_entropy" && backward !== undefined && backward.kind === "cross_entropy_backward") {
        const b = new FunctionBuilder();
        crossEntropyFusedKernel(ctx, kernel, backward, b);
        b.emit(ZERO);
        compiled = { text: b.text(`k${index}`, [], "i32"), checked: true, pow: false };
      } else compiled = kernelFunction(ctx, kernel, index, gemms);
    } catch (thrown) {
      if (thrown instanceof KernelCompileError) throw thrown;
      throw new KernelCompileError(thrown instanceof Error ? thrown.message : String(thrown), index);
    }
    functions.push(compiled.text);
    pow ||= compiled.pow;
    if (compiled.checked) {
      checked.push(index);
      calls.push(`  (if (call $k${index}) (then (return ${i32c(checked.length)})))`);
    } else calls.push(`  (call $k${index})`);
  });
  const threaded = ctx.threads !== undefined;
  const task = new FunctionBuilder();
  for (const [number, { emit }] of gemms.tasks.entries()) task.when(`(i32.eq (local.get $task) ${i32c(number)})`, () => {
    emit(task);
    task.emit("(return)");
  });
  if (threaded) task.emit("(unreachable)");
  const wat = [
    "(module",
    threaded ? `(import "env" "memory" (memory 1 ${MAX_MEMORY_PAGES} shared))` : '(import "env" "memory" (memory 1))',
    ...(threaded ? ['(import "env" "spawn" (func $spawn (param i32) (result i32)))', '(import "env" "join" (func $join))'] : []),
    ...(pow ? [powFunctions()] : []),
    ...[...gemms.functions.values()].map((g) => g.text),
    ...functions,
    ...(threaded ? [task.text("task", [["task", "i32"]]).replace("(func $task", '(func $task (export "task")')] : []),
    '(func $run (export "run") (result i32)',
    ...calls,
    `  ${ZERO})`,
    ")",
  ].join("\n");
  return { wat, checked, tasks: gemms.tasks.map((t) => t.kernel) };
};
