/**
 * @file Index maps of the lowering: `pad`, `flip`, `embedding` and `arange` as expressions of a
 * map kernel. Positions are computed from iotas; the input's own expression is evaluated at them
 * (`exprAt`: iotas become positions, reads become `indexed` reads at Σ position·stride), so chains
 * of index maps and their elementwise inputs fuse into one kernel. Positions are clamped into
 * their dims: an `indexed` read never leaves its buffer.
 */
import type { Node, NodeId, OpName } from "@graft/core";
import type { BinaryOp, Expr } from "./kernels.js";

/** Ops lowered here (the lowering counts them as elementwise: expressions inside map kernels). */
export const INDEX_MAPS: ReadonlySet<OpName> = new Set<OpName>(["pad", "flip", "embedding", "arange"]);

/** What an index map needs of the lowering. */
export interface IndexMapContext {
  readonly shapeOf: (id: NodeId) => readonly number[];
  readonly nodeOf: (id: NodeId) => Node;
  /** A node as an expression over the kernel's iteration space (`map[d]`: the axis of dim d, -1 for index 0). */
  readonly exprOf: (id: NodeId, map: readonly number[], rank: number) => Expr;
  /** Integer inputs used as row indices into `count` rows: checked before each run. */
  readonly checkIndices: (input: string, count: number) => void;
}

const int = (op: BinaryOp, lhs: Expr, rhs: Expr): Expr => ({ kind: "binary", op, lhs, rhs, integer: true });
const num = (value: number): Expr => ({ kind: "const", value });
const clampInt = (e: Expr, low: number, high: number): Expr => int("minimum", int("maximum", e, num(low)), num(high));
const both = (a: Expr | undefined, b: Expr): Expr => (a === undefined ? b : { kind: "select", cond: a, then: b, else: num(0) });

/**
 * A node's expression evaluated at computed per-dim positions (i32 expressions over the kernel's
 * iteration space): its expression over its own dims, with every iota replaced by its position and
 * every read turned into an `indexed` read at Σ position·stride. Index maps compose this way, and
 * their elementwise inputs are computed in the same kernel.
 */
const exprAt = (L: IndexMapContext, id: NodeId, positions: readonly Expr[], iterationRank: number): Expr => {
  const rank = L.shapeOf(id).length;
  const zeros = new Array<number>(iterationRank).fill(0);
  const indexOf = (strides: readonly number[]): Expr => {
    const terms = positions.flatMap((position, d) => {
      const stride = strides[d] ?? 0;
      if (stride === 0 || (position.kind === "const" && position.value === 0)) return [];
      return [stride === 1 ? position : int("mul", position, num(stride))];
    });
    return terms.reduce<Expr | undefined>((acc, term) => (acc === undefined ? term : int("add", acc, term)), undefined) ?? num(0);
  };
  const substitute = (e: Expr): Expr => {
    switch (e.kind) {
      case "read":
        return { kind: "indexed", access: { ...e.access, strides: zeros }, dtype: e.dtype, index: indexOf(e.access.strides) };
      case "indexed":
        return { ...e, access: { ...e.access, strides: zeros }, index: substitute(e.index) };
      case "iota":
        return positions[e.axis] ?? num(0);
      case "const":
        return e;
      case "unary":
      case "cast":
        return { ...e, arg: substitute(e.arg) };
      case "binary":
        return { ...e, lhs: substitute(e.lhs), rhs: substitute(e.rhs) };
      case "select":
        return { ...e, cond: substitute(e.cond), then: substitute(e.then), else: substitute(e.else) };
      case "random":
        return { ...e, counter: substitute(e.counter), index: substitute(e.index) };
    }
  };
  return substitute(L.exprOf(id, Array.from({ length: rank }, (_, d) => d), rank));
};

/** pad, flip, embedding and arange as expressions: positions computed from iotas, reads at them. */
export const indexMapExpr = (L: IndexMapContext, node: Node, shape: readonly number[], map: readonly number[], iterationRank: number): Expr => {
  const position = (d: number): Expr => ((map[d] ?? -1) < 0 ? num(0) : { kind: "iota", axis: map[d] as number });
  switch (node.op) {
    case "arange": {
      const { start, step, dtype } = node.attrs;
      if (dtype === "i32") return int("add", num(start), int("mul", num(step), position(0)));
      return { kind: "binary", op: "add", lhs: num(start), rhs: { kind: "binary", op: "mul", lhs: num(step), rhs: position(0), integer: false }, integer: false };
    }
    case "flip": {
      const positions = shape.map((size, d) => (node.attrs.dims.includes(d) ? int("sub", num(size - 1), position(d)) : position(d)));
      return exprAt(L, node.inputs[0] as NodeId, positions, iterationRank);
    }
    case "pad": {
      const inputId = node.inputs[0] as NodeId;
      const inShape = L.shapeOf(inputId);
      const { before, interior, mode, value } = node.attrs;
      if (inShape.some((size) => size === 0)) return num(value);
      let valid: Expr | undefined;
      const positions = inShape.map((size, d): Expr => {
        const b = before[d] ?? 0;
        const s = (interior[d] ?? 0) + 1;
        const j = b === 0 ? position(d) : int("sub", position(d), num(b));
        if (b === 0 && s === 1 && shape[d] === size) return j;
        if (mode === "replicate") return clampInt(j, 0, size - 1);
        if (mode === "reflect") {
          const r: Expr = { kind: "unary", op: "abs", arg: j };
          return int("sub", num(size - 1), { kind: "unary", op: "abs", arg: int("sub", num(size - 1), r) });
        }
        // constant: in range (and on the interior grid) reads, elsewhere the value
        const last = (size - 1) * s;
        const clamped = clampInt(j, 0, last);
        valid = both(valid, int("eq", j, clamped));
        if (s === 1) return clamped;
        const k = int("div", clamped, num(s));
        valid = both(valid, int("eq", int("mul", k, num(s)), clamped));
        return k;
      });
      const read = exprAt(L, inputId, positions, iterationRank);
      return valid === undefined ? read : { kind: "select", cond: valid, then: read, else: num(value) };
    }
    case "embedding": {
      const [indicesId, weightId] = node.inputs as [NodeId, NodeId];
      const weightShape = L.shapeOf(weightId);
      const count = weightShape[0] ?? 0;
      const indicesNode = L.nodeOf(indicesId);
      if (indicesNode.op === "input") L.checkIndices(indicesNode.attrs.name, count);
      const row = clampInt(L.exprOf(indicesId, map.slice(0, -1), iterationRank), 0, Math.max(count - 1, 0));
      return exprAt(L, weightId, [row, position(shape.length - 1)], iterationRank);
    }
    default:
      throw new Error(`internal: ${node.op} is not an index map`);
  }
};

