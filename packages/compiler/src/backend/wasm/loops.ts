/**
 * @file Loop nests of map and reduce kernels: pointers per stride vector, hoisting of values
 * invariant along the innermost axis, SIMD inner loops with a scalar remainder.
 */
import { type Expr, exprChildren, type Kernel } from "../kernels.js";
import { type CodegenContext } from "./context.js";
import { collapse, ExprCompiler, type Hoisted, horizontal, horizontalInt, mapReads, readsOf, regroup, sizeOf, usesIota, type VT } from "./expr.js";
import { Lanes } from "./mathlib.js";
import { f32c, f64c, FunctionBuilder, get, i32c, iadd, imul, ld, st, type ValType, ZERO } from "./wat-builder.js";

// ----- loop nests for map and reduce kernels --------------------------------------------------

export interface Nest {
  readonly b: FunctionBuilder;
  readonly shape: readonly number[];
  /** Counter locals of every axis but the last. */
  readonly counters: readonly string[];
  /** Pointer local per stride vector key. */
  readonly pointers: Map<string, { readonly local: string; readonly strides: readonly number[] }>;
}

export const strideKey = (strides: readonly number[]): string => strides.join(",");

export const makeNest = (b: FunctionBuilder, shape: readonly number[], strideSets: ReadonlyArray<readonly number[]>): Nest => {
  const pointers = new Map<string, { local: string; strides: readonly number[] }>();
  for (const s of strideSets) if (!pointers.has(strideKey(s))) pointers.set(strideKey(s), { local: b.local("i32", "p"), strides: s });
  return { b, shape, counters: shape.slice(0, -1).map(() => b.local("i32", "i")), pointers };
};

/** Loops over every axis but the last (`from` first axis), then `inner()` with pointers set for the row. */
export const outerLoops = (nest: Nest, inner: () => void, from = 0, to = nest.shape.length - 1): void => {
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
export const bump = (nest: Nest, lanes: number, except?: string): void => {
  const last = nest.shape.length - 1;
  for (const [key, { local, strides }] of nest.pointers) {
    const step = (strides[last] ?? 0) * 4 * lanes;
    if (step !== 0 && key !== except) nest.b.set(local, `(i32.add ${get(local)} ${i32c(step)})`);
  }
};

/** The maximal subtrees invariant along the innermost axis that contain a read or an iota. */
export const invariantRoots = (e: Expr, last: number): Expr[] => {
  const invariant = (x: Expr): boolean => {
    switch (x.kind) {
      case "read":
        return (x.access.strides[last] ?? 0) === 0;
      case "const":
        return true;
      case "iota":
        return x.axis !== last;
      default:
        return exprChildren(x).every(invariant);
    }
  };
  const interesting = (x: Expr): boolean => x.kind !== "const";
  const roots: Expr[] = [];
  const walk = (x: Expr): void => {
    if (invariant(x)) {
      if (interesting(x)) roots.push(x);
      return;
    }
    exprChildren(x).forEach(walk);
  };
  walk(e);
  return roots;
};

export const splat = (code: string, type: VT): string => (type === "f32" ? `(f32x4.splat ${code})` : type === "i32" ? `(i32x4.splat ${code})` : `(i32x4.splat (i32.sub ${ZERO} ${code}))`);

/** Computes hoisted values (scalar, and splatted when `vector`) at the current point. */
export const hoist = (b: FunctionBuilder, compiler: ExprCompiler, roots: readonly Expr[], vector: boolean): void => {
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
export const requireForwardStrides = (expr: Expr): void => {
  for (const read of readsOf(expr))
    if (read.access.strides.some((stride) => stride < 0) || read.access.offset < 0)
      throw new Error(`a strided read with negative stride or offset (strides [${read.access.strides.join(",")}], offset ${read.access.offset}) is not supported`);
};

export const mapKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "map" }>, b: FunctionBuilder): void => {
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

export const reduceKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "reduce" }>, b: FunctionBuilder): void => {
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

