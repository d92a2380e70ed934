/**
 * @file Scheduling: lowers a graph specialised to concrete dims into kernels over buffers.
 *
 * - Elementwise nodes with one consumer are inlined into it as expressions (fusion); views
 *   (transpose, expand, unit-dim reshape) are strides, never copies.
 * - A node becomes a buffer when it is a leaf, an output, a non-elementwise op, used more than
 *   once, or when a consumer needs memory (matmul operands, row-kernel inputs).
 * - `matmul → add(bias row) → relu` becomes one matmul kernel with an epilogue, and
 *   `transpose(matmul(a, b))` is computed as `matmul(bᵀ, aᵀ)` (weight gradients).
 * - cross_entropy and its backward on the same logits share a per-row logsumexp buffer.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  constantValue,
  concretize,
  isComposite,
  randomKey,
  opNames,
  opTable,
  type OpKind,
  type OpName,
  sizeOf,
  stridesOf,
  useCounts,
  type Diagnostics,
  type Graph,
  type Node,
  type NodeId,
} from "@graft/core";
import { decompose } from "../passes/decompose.js";
import { specialiseMode, type ModeResult } from "../passes/mode.js";
import { loweredComposites } from "./fused.js";
import { INDEX_MAPS, indexMapExpr, type IndexMapContext } from "./index-maps.js";
import { checkCompilable, findBatchSums, findEpilogues, isContiguous, isUnitReshape, rowsOf, findSwappedTransposes, labelRead, lseKey, unboundAt, type Epilogue } from "./lower-analyses.js";

export { checkCompilable };
import { lowerConvNode } from "./lower-conv.js";
import { lowerNormNode } from "./lower-norm.js";
import { stackBatchRows, sumBatchDepth } from "./rewrites.js";
import type { Access, BinaryOp, BufferId, BufferInfo, Expr, Kernel, Rows, UnaryOp } from "./kernels.js";
import type { LabelCheck, LoweredFunction, LoweredIo, NodeView } from "./lower-types.js";

export type { LoweredFunction, LoweredIo } from "./lower-types.js";

// ----- op sets, from the op table's `kind` -----------------------------------------------------

const primitivesOfKind = (kind: OpKind): OpName[] => opNames.filter((op) => opTable[op].kind === kind && !isComposite(op));
/** Elementwise primitives whose expression is not `unary`/`binary` (attributes or three operands). */
const SPECIAL_ELEMENTWISE: ReadonlySet<OpName> = new Set<OpName>(["cast", "where"]);
/** Unary math: one `unary` expression node each (the codegens switch over `UnaryOp`). */
export const UNARY_OPS: ReadonlySet<OpName> = new Set(primitivesOfKind("elementwise").filter((op) => opTable[op].arity[1] === 1 && !SPECIAL_ELEMENTWISE.has(op)));
/** Broadcasting arithmetic and comparisons: one `binary` expression node each. */
export const BINARY_OPS: ReadonlySet<OpName> = new Set(primitivesOfKind("elementwise").filter((op) => opTable[op].arity[0] === 2 && opTable[op].arity[1] === 2));
/** Ops computed as expressions inside map kernels: the elementwise primitives, one_hot (`label == iota`), the index maps (index-maps.ts) and the random ops (a hash of iotas). */
export const ELEMENTWISE: ReadonlySet<OpName> = new Set<OpName>([...primitivesOfKind("elementwise"), "one_hot", ...INDEX_MAPS, ...primitivesOfKind("random")]);
/** Shape ops: strided views of their input, never copies unless a consumer needs memory. */
export const VIEW_OPS: ReadonlySet<OpName> = new Set(primitivesOfKind("shape"));
const isUnaryOp = (op: OpName): op is UnaryOp => UNARY_OPS.has(op);
const isBinaryOp = (op: OpName): op is BinaryOp => BINARY_OPS.has(op);
/** Splat constants with more elements than this are fill kernels; smaller ones are embedded values. */
export const FILL_ABOVE = 256;

const formatShapeOf = (shape: readonly number[]): string => `[${shape.join(",")}]`;


/** The graph at concrete dims, what lowering knows about it, and what it has emitted so far. */
interface Lowering {
  readonly graph: Graph;
  readonly shapes: readonly number[][];
  readonly uses: readonly number[];
  readonly consumers: readonly (readonly NodeId[])[];
  readonly outputIds: ReadonlySet<NodeId>;
  /** Epilogue fusion: nodes computed inside a fused matmul, and the last node of each fused chain. */
  readonly absorbed: ReadonlySet<NodeId>;
  readonly epilogues: ReadonlyMap<NodeId, Epilogue>;
  /** Shared logsumexp: the LSE buffer of each cross_entropy key, keys with a backward, forward node by key. */
  readonly lseBuffers: Map<string, BufferId>;
  readonly backwardKeys: ReadonlySet<string>;
  readonly forwardByKey: ReadonlyMap<string, NodeId>;
  /** transpose(matmul) nodes computed as one swapped matmul, and those matmuls. */
  readonly swappedTransposes: ReadonlySet<NodeId>;
  readonly swappedMatmuls: ReadonlySet<NodeId>;
  /** sum-over-batch nodes of a matmul (a weight gradient), by id, with their matmuls; and those matmuls. */
  readonly batchSums: ReadonlyMap<NodeId, NodeId>;
  readonly batchSummedMatmuls: ReadonlySet<NodeId>;
  readonly buffers: BufferInfo[];
  readonly kernels: Kernel[];
  /** Fill kernels of large splat constants: they read nothing, so they run first. */
  readonly fills: Kernel[];
  readonly views: Map<NodeId, NodeView>;
  readonly state: Map<string, BufferId>;
  readonly inputs: LoweredIo[];
  readonly labels: LabelCheck[];
}

const shapeOf = (L: Lowering, id: NodeId): number[] => (L.shapes[id] as number[] | undefined) ?? [];
const nodeOf = (L: Lowering, id: NodeId): Node => L.graph.nodes[id] as Node;

const newBuffer = (L: Lowering, info: Omit<BufferInfo, "id">): BufferId => {
  L.buffers.push({ ...info, id: L.buffers.length });
  return L.buffers.length - 1;
};

const contiguousView = (buffer: BufferId, shape: readonly number[]): NodeView => ({ buffer, offset: 0, strides: stridesOf(shape) });

const identity = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);


/** The analyses of a graph at concrete dims, and empty outputs. */
const startLowering = (graph: Graph, bindings: ReadonlyMap<string, number>): Lowering => {
  const shapes = graph.nodes.map((node) => concretize(node.type.shape, bindings));
  const uses = useCounts(graph);
  const consumers: NodeId[][] = graph.nodes.map(() => []);
  for (const node of graph.nodes) for (const input of node.inputs) consumers[input]?.push(node.id);
  const outputIds = new Set(graph.outputs.map((o) => o.id));
  const { absorbed, epilogues } = findEpilogues(graph, shapes, uses, consumers, outputIds);
  const swappedTransposes = findSwappedTransposes(graph, uses, outputIds, absorbed);
  const batchSums = findBatchSums(graph, shapes, uses, outputIds, absorbed);
  return {
    graph,
    shapes,
    uses,
    consumers,
    outputIds,
    absorbed,
    epilogues,
    lseBuffers: new Map(),
    backwardKeys: new Set(graph.nodes.filter((n) => n.op === "cross_entropy_backward").map(lseKey)),
    forwardByKey: new Map(graph.nodes.filter((n) => n.op === "cross_entropy" && (uses[n.id] ?? 0) > 0).map((n) => [lseKey(n), n.id])),
    swappedTransposes,
    swappedMatmuls: new Set([...swappedTransposes].map((id) => (graph.nodes[id] as Node).inputs[0] as NodeId)),
    batchSums,
    batchSummedMatmuls: new Set(batchSums.values()),
    buffers: [],
    kernels: [],
    fills: [],
    views: new Map(),
    state: new Map(),
    inputs: [],
    labels: [],
  };
};

// ----- operand access ---------------------------------------------------------------------------

/** Whether a node stays an expression (not materialised) when its consumer is elementwise. */
const inlinable = (L: Lowering, node: Node): boolean => {
  if (L.views.has(node.id) || L.swappedTransposes.has(node.id)) return false;
  if (node.op === "constant") return node.attrs.value.length === 1;
  if (node.op === "dim_size") return true;
  if (VIEW_OPS.has(node.op)) return true;
  return ELEMENTWISE.has(node.op) && L.uses[node.id] === 1 && !L.outputIds.has(node.id);
};

/** The strided view of a node without computing anything, when it is one. */
const viewOf = (L: Lowering, id: NodeId): NodeView | undefined => {
  const existing = L.views.get(id);
  if (existing !== undefined) return existing;
  const node = nodeOf(L, id);
  const input = node.inputs[0];
  if (input === undefined) return undefined;
  const inShape = shapeOf(L, input);
  const outShape = shapeOf(L, id);
  if (node.op === "transpose") {
    const base = viewOf(L, input);
    return base && { ...base, strides: node.attrs.perm.map((axis) => base.strides[axis] ?? 0) };
  }
  if (node.op === "slice") {
    const base = viewOf(L, input);
    if (base === undefined) return undefined;
    const { dims, starts, steps } = node.attrs;
    const offset = dims.reduce((at, axis, i) => at + (starts[i] ?? 0) * (base.strides[axis] ?? 0), base.offset);
    return { ...base, offset, strides: base.strides.map((stride, axis) => (dims.includes(axis) ? stride * (steps[dims.indexOf(axis)] ?? 1) : stride)) };
  }
  if (node.op === "expand") {
    const base = viewOf(L, input);
    if (base === undefined) return undefined;
    const lead = outShape.length - inShape.length;
    return { ...base, strides: outShape.map((size, axis) => (axis < lead || (inShape[axis - lead] === 1 && size !== 1) ? 0 : (base.strides[axis - lead] ?? 0))) };
  }
  if (node.op === "reshape") {
    const base = viewOf(L, input);
    if (base === undefined) return undefined;
    if (isUnitReshape(inShape, outShape)) {
      const kept = base.strides.filter((_, axis) => inShape[axis] !== 1);
      let next = 0;
      return { ...base, strides: outShape.map((size) => (size === 1 ? 0 : (kept[next++] ?? 0))) };
    }
    return isContiguous(base, inShape) ? { ...base, strides: stridesOf(outShape) } : undefined;
  }
  return undefined;
};

/** A node as an expression over an iteration space; `map[d]` is the iteration axis of node dim d (-1: index 0). */
const exprOf = (L: Lowering, id: NodeId, map: readonly number[], rank: number): Expr => {
  const node = nodeOf(L, id);
  const shape = shapeOf(L, id);
  const view = L.views.get(id) ?? (inlinable(L, node) ? viewOf(L, id) : undefined);
  if (view !== undefined) {
    const strides = new Array<number>(rank).fill(0);
    map.forEach((axis, d) => {
      if (axis >= 0 && shape[d] !== 1) strides[axis] = (strides[axis] as number) + (view.strides[d] ?? 0);
    });
    return { kind: "read", access: { buffer: view.buffer, offset: view.offset, strides }, dtype: node.type.dtype };
  }
  if (!inlinable(L, node)) {
    materialize(L, id);
    return exprOf(L, id, map, rank);
  }
  return expandExpr(L, id, map, rank);
};

/** What the index maps (index-maps.ts) need of a lowering. */
const indexMapContext = (L: Lowering): IndexMapContext => ({
  shapeOf: (id) => shapeOf(L, id),
  nodeOf: (id) => nodeOf(L, id),
  exprOf: (id, map, rank) => exprOf(L, id, map, rank),
  checkIndices: (input, count) => void L.labels.push({ input, numClasses: count, ignoreIndex: undefined, noun: "index" }),
});

const expandExpr = (L: Lowering, id: NodeId, map: readonly number[], rank: number): Expr => {
  const node = nodeOf(L, id);
  const shape = shapeOf(L, id);
  const inputMap = (inputId: NodeId): number[] => {
    const inShape = shapeOf(L, inputId);
    const lead = shape.length - inShape.length;
    return inShape.map((size, d) => (size === 1 && shape[d + lead] !== 1 ? -1 : (map[d + lead] ?? -1)));
  };
  const arg = (index: number): Expr => {
    const inputId = node.inputs[index] as NodeId;
    return exprOf(L, inputId, inputMap(inputId), rank);
  };
  if (isUnaryOp(node.op)) return { kind: "unary", op: node.op, arg: arg(0) };
  if (isBinaryOp(node.op)) return { kind: "binary", op: node.op, lhs: arg(0), rhs: arg(1), integer: nodeOf(L, node.inputs[0] as NodeId).type.dtype !== "f32" };
  switch (node.op) {
    case "constant":
      return { kind: "const", value: constantValue(node.attrs.value[0] ?? 0, node.attrs.dtype) };
    case "dim_size":
      return { kind: "const", value: sizeOf(node.attrs.dims.map((axis) => shapeOf(L, node.inputs[0] as NodeId)[axis] ?? 1)) };
    case "where":
      return { kind: "select", cond: arg(0), then: arg(1), else: arg(2) };
    case "random_uniform": {
      // the element's row-major index in the op's own shape, from the iteration axes it maps to
      let index: Expr = { kind: "const", value: 0 };
      let stride = 1;
      for (let d = shape.length - 1; d >= 0; d--) {
        const axis = map[d] ?? -1;
        if (axis >= 0 && (shape[d] ?? 1) !== 1) {
          const term: Expr = { kind: "binary", op: "mul", lhs: { kind: "iota", axis }, rhs: { kind: "const", value: stride }, integer: true };
          index = { kind: "binary", op: "add", lhs: index, rhs: term, integer: true };
        }
        stride *= shape[d] ?? 1;
      }
      return { kind: "random", key: randomKey(node.attrs.seed, node.attrs.stream), counter: arg(0), index };
    }
    case "cast":
      return node.attrs.dtype === "f32" ? arg(0) : { kind: "cast", to: node.attrs.dtype === "bool" ? "bool" : "i32", arg: arg(0) };
    case "one_hot": {
      const labelId = node.inputs[0] as NodeId;
      const label = exprOf(L, labelId, map.slice(0, -1), rank);
      const axis = map[map.length - 1] ?? -1;
      const index: Expr = axis < 0 ? { kind: "const", value: 0 } : { kind: "iota", axis };
      return { kind: "select", cond: { kind: "binary", op: "eq", lhs: label, rhs: index, integer: true }, then: { kind: "const", value: 1 }, else: { kind: "const", value: 0 } };
    }
    case "transpose": {
      const inMap = new Array<number>(shape.length).fill(-1);
      node.attrs.perm.forEach((axis, d) => (inMap[axis] = map[d] ?? -1));
      return exprOf(L, node.inputs[0] as NodeId, inMap, rank);
    }
    case "expand":
      return arg(0);
    case "slice": {
      // a slice of a computed value: the value in memory, then the view
      materialize(L, node.inputs[0] as NodeId);
      const view = viewOf(L, id);
      if (view === undefined) throw new Error(`internal: no view of slice %${id}`);
      L.views.set(id, view);
      return exprOf(L, id, map, rank);
    }
    case "pad":
    case "flip":
    case "embedding":
    case "arange":
      return indexMapExpr(indexMapContext(L), node, shape, map, rank);
    case "reshape": {
      const inputId = node.inputs[0] as NodeId;
      const inShape = shapeOf(L, inputId);
      if (isUnitReshape(inShape, shape)) {
        const kept = map.filter((_, d) => shape[d] !== 1);
        let next = 0;
        return exprOf(L, inputId, inShape.map((size) => (size === 1 ? -1 : (kept[next++] ?? -1))), rank);
      }
      // a general reshape needs its input in memory, contiguous
      materializeContiguous(L, inputId);
      L.views.set(id, { ...(L.views.get(inputId) as NodeView), strides: stridesOf(shape) });
      return exprOf(L, id, map, rank);
    }
    default:
      throw new Error(`internal: ${node.op} is not an elementwise expression`);
  }
};

/** Makes `id` a contiguous buffer (a copy kernel when it is only a strided view). */
const materializeContiguous = (L: Lowering, id: NodeId): NodeView => {
  const existing = L.views.get(id) ?? viewOf(L, id);
  // kernels take whole buffers: a view into the middle of one (a slice) is copied
  if (existing !== undefined && existing.offset === 0 && isContiguous(existing, shapeOf(L, id))) {
    L.views.set(id, existing);
    return existing;
  }
  if (existing === undefined) {
    materialize(L, id);
    const made = L.views.get(id) as NodeView;
    if (made.offset === 0 && isContiguous(made, shapeOf(L, id))) return made;
  }
  const shape = shapeOf(L, id);
  const node = nodeOf(L, id);
  const out = newBuffer(L, { kind: "temp", dtype: node.type.dtype, size: sizeOf(shape) });
  const source = L.views.get(id) ?? (viewOf(L, id) as NodeView);
  L.kernels.push({ kind: "map", out, shape, expr: { kind: "read", access: { buffer: source.buffer, offset: source.offset, strides: [...source.strides] }, dtype: node.type.dtype }, nodes: [id] });
  const view = contiguousView(out, shape);
  L.views.set(id, view);
  return view;
};

const contiguousBuffer = (L: Lowering, id: NodeId): BufferId => materializeContiguous(L, id).buffer;

/**
 * A matmul operand as (buffer, offset, one batch stride, row and column strides). Transposed
 * L.views are free; an operand whose batch dims cannot be walked with one stride over the
 * output's batch dims (e.g. [2,1,m,k] against [1,3,k,n]) is first expanded into memory.
 */
const matmulOperand = (L: Lowering, id: NodeId, outBatch: readonly number[]) => {
  const shape = shapeOf(L, id);
  const batchDims = shape.length - 2;
  const lead = outBatch.length - batchDims;
  const isMatrixLayout = (v: NodeView): boolean => {
    const row = v.strides[batchDims] ?? 0;
    const col = v.strides[batchDims + 1] ?? 0;
    const rows = shape[batchDims] ?? 1;
    const cols = shape[batchDims + 1] ?? 1;
    return (col === 1 && (row === cols || rows === 1)) || (row === 1 && (col === rows || cols === 1));
  };
  /** Strides over the output's batch dims (0 where this operand broadcasts). */
  const batchStrides = (v: NodeView): number[] =>
    outBatch.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : (v.strides[d - lead] ?? 0)));
  /** One stride s with stride_d = s · Π outBatch[d+1:] on every non-unit dim, if there is one. */
  const singleStride = (strides: readonly number[]): number | undefined => {
    let s: number | undefined;
    for (let d = 0; d < outBatch.length; d++) {
      if (outBatch[d] === 1) continue;
      const inner = sizeOf(outBatch.slice(d + 1));
      const candidate = (strides[d] ?? 0) / inner;
      if (s === undefined) s = candidate;
      else if (candidate !== s) return undefined;
    }
    return s ?? 0;
  };
  let view = viewOf(L, id);
  if (view === undefined || !isMatrixLayout(view)) view = materializeContiguous(L, id);
  let batchStride = singleStride(batchStrides(view));
  if (batchStride === undefined || !Number.isInteger(batchStride)) {
    const fullShape = [...outBatch, shape[batchDims] ?? 1, shape[batchDims + 1] ?? 1];
    const rank = fullShape.length;
    const map = shape.map((size, d) => (size === 1 && fullShape[d + lead] !== 1 ? -1 : d + lead));
    const out = newBuffer(L, { kind: "temp", dtype: nodeOf(L, id).type.dtype, size: sizeOf(fullShape) });
    L.kernels.push({ kind: "map", out, shape: fullShape, expr: exprOf(L, id, map, rank), nodes: [id] });
    view = contiguousView(out, fullShape);
    batchStride = sizeOf(fullShape.slice(-2));
    return { buffer: view.buffer, offset: 0, batchStride, rowStride: view.strides[rank - 2] ?? 0, colStride: view.strides[rank - 1] ?? 0 };
  }
  return { buffer: view.buffer, offset: view.offset, batchStride, rowStride: view.strides[batchDims] ?? 0, colStride: view.strides[batchDims + 1] ?? 0 };
};

const emitMatmul = (L: Lowering, id: NodeId, aId: NodeId, bId: NodeId, out: BufferId, bias: NodeId | undefined, relu: boolean, swap: boolean, covered: readonly NodeId[]): void => {
  const kernel = matmulKernelOf(L, id, aId, bId, out, bias, relu, swap, covered);
  L.kernels.push(swap ? kernel : stackBatchRows(kernel));
};

/** The matmul kernel of node `id` (its operands' copies, when they need one, are emitted). */
const matmulKernelOf = (L: Lowering, id: NodeId, aId: NodeId, bId: NodeId, out: BufferId, bias: NodeId | undefined, relu: boolean, swap: boolean, covered: readonly NodeId[]): Extract<Kernel, { kind: "matmul" }> => {
  // swap: compute (a@b)ᵀ = bᵀ@aᵀ straight into `out`
  const aShape = shapeOf(L, aId);
  const bShape = shapeOf(L, bId);
  const outShape = shapeOf(L, id);
  const outBatch = outShape.slice(0, -2);
  let a = matmulOperand(L, aId, outBatch);
  let b = matmulOperand(L, bId, outBatch);
  let m = aShape[aShape.length - 2] as number;
  let n = bShape[bShape.length - 1] as number;
  const k = aShape[aShape.length - 1] as number;
  if (swap) {
    const transposedA = { ...b, rowStride: b.colStride, colStride: b.rowStride };
    const transposedB = { ...a, rowStride: a.colStride, colStride: a.rowStride };
    a = transposedA;
    b = transposedB;
    [m, n] = [n, m];
  }
  const batch = sizeOf(outBatch);
  const biasView = bias === undefined ? undefined : { buffer: contiguousBuffer(L, bias), offset: 0 };
  return { kind: "matmul", out, batch, m, n, k, a, b, bias: biasView, relu, nodes: [id, ...covered] };
};

// ----- kernels, by node -------------------------------------------------------------------------

/** The node a kernel computes, and where its result goes. */
interface Target {
  readonly id: NodeId;
  readonly node: Node;
  readonly shape: number[];
  readonly dtype: Node["type"]["dtype"];
  readonly size: number;
  /** A new contiguous buffer for the result (an output buffer for a graph output). */
  readonly newOut: () => BufferId;
  /** Records the buffer that holds the result. */
  readonly done: (buffer: BufferId) => void;
}

/** Leaves: inputs, params and constants are buffers. */
const lowerLeaf = (L: Lowering, t: Target): boolean => {
  const { node, shape, dtype, size, done } = t;
  switch (node.op) {
    case "input": {
      const buffer = newBuffer(L, { kind: "input", dtype, size, name: node.attrs.name });
      L.inputs.push({ name: node.attrs.name, buffer, shape, dtype });
      done(buffer);
      return true;
    }
    case "param": {
      const buffer = newBuffer(L, { kind: "state", dtype, size, name: node.attrs.name });
      L.state.set(node.attrs.name, buffer);
      done(buffer);
      return true;
    }
    case "constant": {
      // a large splat (full, zeros, …) is a fill kernel, never embedded data: its size may be huge;
      // it runs first, like the constant it replaces (out of the way of fusions)
      if (node.attrs.value.length === 1 && size > FILL_ABOVE) {
        const out = t.newOut();
        L.fills.push({ kind: "map", out, shape, expr: { kind: "const", value: constantValue(node.attrs.value[0] ?? 0, dtype) }, nodes: [t.id] });
        done(out);
        return true;
      }
      const values = node.attrs.value.length === 1 ? new Array<number>(size).fill(constantValue(node.attrs.value[0] ?? 0, dtype)) : node.attrs.value.map((v) => constantValue(v, dtype));
      done(newBuffer(L, { kind: "const", dtype, size, values }));
      return true;
    }
    default:
      return false;
  }
};

/** matmul, and transpose(matmul) over the last two dims as bᵀ @ aᵀ written directly. */
const lowerMatmul = (L: Lowering, t: Target): boolean => {
  const { id, node, shape, newOut, done } = t;
  switch (node.op) {
    case "matmul": {
      const out = newOut();
      emitMatmul(L, id, node.inputs[0] as NodeId, node.inputs[1] as NodeId, out, undefined, false, false, []);
      done(out);
      return true;
    }
    case "transpose": {
      // transpose(matmul(a, b)) over the last two dims = bᵀ @ aᵀ, written directly
      const inputId = node.inputs[0] as NodeId;
      const inputNode = nodeOf(L, inputId);
      const r = shape.length;
      const swapsLastTwo = r >= 2 && node.attrs.perm.every((axis, d) => (d < r - 2 ? axis === d : d === r - 2 ? axis === r - 1 : axis === r - 2));
      if (swapsLastTwo && inputNode.op === "matmul" && L.uses[inputId] === 1 && !L.outputIds.has(inputId) && !L.views.has(inputId)) {
        const out = newOut();
        emitMatmul(L, inputId, inputNode.inputs[0] as NodeId, inputNode.inputs[1] as NodeId, out, undefined, false, true, [id]);
        done(out);
        return true;
      }
      return false;
    }
    default:
      return false;
  }
};

/** sum, mean, max, min: one reduce kernel over the input expression. */
const lowerReduce = (L: Lowering, t: Target): boolean => {
  const { id, node, size, newOut, done } = t;
  switch (node.op) {
    case "sum":
    case "mean":
    case "max":
    case "min": {
      const inputId = node.inputs[0] as NodeId;
      const summedMatmul = L.batchSums.get(id);
      if (summedMatmul !== undefined) {
        // Σ over the batch of a matmul: one GEMM over the stacked inner dim when the operands allow
        const matmulNode = nodeOf(L, summedMatmul);
        const batched = matmulKernelOf(L, summedMatmul, matmulNode.inputs[0] as NodeId, matmulNode.inputs[1] as NodeId, -1, undefined, false, false, []);
        const summed = sumBatchDepth({ ...batched, nodes: [summedMatmul, id] });
        if (summed !== undefined) {
          const out = newOut();
          L.kernels.push({ ...summed, out });
          done(out);
          return true;
        }
        const matmulOut = newBuffer(L, { kind: "temp", dtype: matmulNode.type.dtype, size: sizeOf(shapeOf(L, summedMatmul)) });
        L.kernels.push({ ...batched, out: matmulOut });
        L.views.set(summedMatmul, contiguousView(matmulOut, shapeOf(L, summedMatmul)));
      }
      const inShape = shapeOf(L, inputId);
      const rank = inShape.length;
      const out = newOut();
      const dims = node.attrs.dims;
      const outStrides = new Array<number>(rank).fill(0);
      let stride = 1;
      for (let axis = rank - 1; axis >= 0; axis--) {
        if (dims.includes(axis)) continue;
        outStrides[axis] = stride;
        stride *= inShape[axis] as number;
      }
      const count = sizeOf(dims.map((axis) => inShape[axis] ?? 1));
      const expr = exprOf(L, inputId, identity(rank), rank);
      L.kernels.push({
        kind: "reduce",
        op: node.op === "mean" ? "sum" : node.op,
        out,
        shape: inShape,
        reducedAxes: [...dims],
        outStrides,
        outSize: size,
        expr,
        scale: node.op === "mean" ? 1 / count : 1,
        nodes: [id],
      });
      done(out);
      return true;
    }
    default:
      return false;
  }
};

/** Row kernels: logsumexp over contiguous dims, softmax, log_softmax, argmax. */
const lowerRows = (L: Lowering, t: Target): boolean => {
  const { id, node, shape, size, newOut, done } = t;
  switch (node.op) {
    case "logsumexp": {
      const inputId = node.inputs[0] as NodeId;
      const dims = [...node.attrs.dims].sort((p, q) => p - q);
      const first = dims[0] ?? 0;
      const last = dims[dims.length - 1] ?? first;
      if (last - first + 1 !== dims.length && dims.length > 0) return false;
      const x = contiguousBuffer(L, inputId);
      const out = newOut();
      // over no dims (a rank-0 input), every element is a row of one
      const rows = dims.length === 0 ? { outer: size, size: 1, inner: 1 } : rowsOf(shapeOf(L, inputId), first, last);
      L.kernels.push({ kind: "logsumexp", x, out, rows, nodes: [id] });
      done(out);
      return true;
    }
    case "softmax":
    case "log_softmax": {
      const x = contiguousBuffer(L, node.inputs[0] as NodeId);
      const out = newOut();
      L.kernels.push({ kind: "softmax", log: node.op === "log_softmax", x, out, rows: rowsOf(shape, node.attrs.dim), nodes: [id] });
      done(out);
      return true;
    }
    case "argmax": {
      const inputId = node.inputs[0] as NodeId;
      const x = contiguousBuffer(L, inputId);
      const out = newOut();
      L.kernels.push({ kind: "argmax", x, out, rows: rowsOf(shapeOf(L, inputId), node.attrs.dim), nodes: [id] });
      done(out);
      return true;
    }
    default:
      return false;
  }
};

/** Loss kernels: cross_entropy (saving its LSE for a backward on the same rows), its backward, nll_loss and its backward, BCE with logits. */
const lowerLoss = (L: Lowering, t: Target): boolean => {
  const { id, node, newOut, done } = t;
  switch (node.op) {
    case "cross_entropy": {
      const [xId, tId, wId] = node.inputs as [NodeId, NodeId, NodeId | undefined];
      const x = contiguousBuffer(L, xId);
      const target = contiguousBuffer(L, tId);
      const weight = wId === undefined ? undefined : contiguousBuffer(L, wId);
      const rows = rowsOf(shapeOf(L, xId), node.attrs.dim);
      const key = lseKey(node);
      const lse = L.backwardKeys.has(key) ? newBuffer(L, { kind: "temp", dtype: "f32", size: 2 * rows.outer * rows.inner }) : undefined;
      if (lse !== undefined) L.lseBuffers.set(key, lse);
      const out = newOut();
      L.kernels.push({ kind: "cross_entropy", x, target, weight, out, lse, rows, attrs: node.attrs, nodes: [id] });
      checkLabels(L, node);
      done(out);
      return true;
    }
    case "cross_entropy_backward": {
      const [xId, tId, gId, wId] = node.inputs as [NodeId, NodeId, NodeId, NodeId | undefined];
      // the forward kernel writes the logsumexp this one reuses, so it runs first
      const forward = L.forwardByKey.get(lseKey(node));
      if (forward !== undefined) materialize(L, forward);
      const rows = rowsOf(shapeOf(L, xId), node.attrs.dim);
      const x = contiguousBuffer(L, xId);
      const target = contiguousBuffer(L, tId);
      const grad = contiguousBuffer(L, gId);
      const weight = wId === undefined ? undefined : contiguousBuffer(L, wId);
      const out = newOut();
      L.kernels.push({ kind: "cross_entropy_backward", x, target, grad, weight, out, lse: L.lseBuffers.get(lseKey(node)), rows, attrs: node.attrs, nodes: [id] });
      done(out);
      return true;
    }
    case "nll_loss":
    case "nll_loss_backward": {
      const [xId, tId, third, fourth] = node.inputs as [NodeId, NodeId, NodeId | undefined, NodeId | undefined];
      const rows = rowsOf(shapeOf(L, xId), node.attrs.dim);
      const x = contiguousBuffer(L, xId);
      const target = contiguousBuffer(L, tId);
      const out = newOut();
      if (node.op === "nll_loss") {
        const weight = third === undefined ? undefined : contiguousBuffer(L, third);
        L.kernels.push({ kind: "nll_loss", x, target, weight, out, rows, attrs: node.attrs, nodes: [id] });
        checkLabels(L, node);
      } else {
        const grad = contiguousBuffer(L, third as NodeId);
        const weight = fourth === undefined ? undefined : contiguousBuffer(L, fourth);
        L.kernels.push({ kind: "nll_loss_backward", x, target, grad, weight, out, rows, attrs: node.attrs, nodes: [id] });
      }
      done(out);
      return true;
    }
    case "binary_cross_entropy_with_logits": {
      const [xId, tId] = node.inputs as [NodeId, NodeId];
      const x = contiguousBuffer(L, xId);
      const target = contiguousBuffer(L, tId);
      const out = newOut();
      L.kernels.push({ kind: "bce_logits", x, target, out, size: sizeOf(shapeOf(L, xId)), reduction: node.attrs.reduction, nodes: [id] });
      done(out);
      return true;
    }
    default:
      return false;
  }
};

/** gather and scatter_add. */
const lowerGather = (L: Lowering, t: Target): boolean => {
  const { id, node, shape, newOut, done } = t;
  switch (node.op) {
    case "gather":
    case "scatter_add": {
      const scatter = node.op === "scatter_add";
      const [first, second] = node.inputs as [NodeId, NodeId];
      const indexId = scatter ? first : second;
      const sourceId = scatter ? second : first;
      const source = contiguousBuffer(L, sourceId);
      const index = contiguousBuffer(L, indexId);
      const out = newOut();
      L.kernels.push({ kind: "gather", scatter, source, index, out, indexShape: shapeOf(L, indexId), sourceShape: scatter ? shape : shapeOf(L, sourceId), dim: node.attrs.dim, nodes: [id] });
      done(out);
      return true;
    }
    case "embedding_backward": {
      // scatter_add along dim 0 of [rows, dim] with each row's index repeated across the row
      const [indicesId, gradId] = node.inputs as [NodeId, NodeId];
      const indicesShape = shapeOf(L, indicesId);
      const rows = sizeOf(indicesShape);
      const width = shape[1] ?? 0;
      const index = newBuffer(L, { kind: "temp", dtype: "i32", size: rows * width });
      const iteration = [...indicesShape, width];
      L.kernels.push({ kind: "map", out: index, shape: iteration, expr: exprOf(L, indicesId, identity(indicesShape.length), iteration.length), nodes: [indicesId] });
      const source = contiguousBuffer(L, gradId);
      const out = newOut();
      L.kernels.push({ kind: "gather", scatter: true, source, index, out, indexShape: [rows, width], sourceShape: shape, dim: 0, nodes: [id] });
      done(out);
      return true;
    }
    default:
      return false;
  }
};

/** Node `id` broadcast (right-aligned) to `shape` in contiguous memory: its own buffer when it has as many elements, else a map kernel's. */
const broadcastBuffer = (L: Lowering, id: NodeId, shape: readonly number[]): BufferId => {
  const own = shapeOf(L, id);
  if (sizeOf(own) === sizeOf(shape)) return contiguousBuffer(L, id);
  const lead = shape.length - own.length;
  const map = own.map((size, d) => (d + lead < 0 || (size === 1 && shape[d + lead] !== 1) ? -1 : d + lead));
  const out = newBuffer(L, { kind: "temp", dtype: nodeOf(L, id).type.dtype, size: sizeOf(shape) });
  L.kernels.push({ kind: "map", out, shape: [...shape], expr: exprOf(L, id, map, shape.length), nodes: [id] });
  return out;
};

/** Convolution and pooling (lower-conv.ts), normalization and attention rows (lower-norm.ts). */
const lowerFamilies = (L: Lowering, t: Target): boolean => {
  const helpers = {
    shapeOf: (id: NodeId) => shapeOf(L, id),
    contiguous: (id: NodeId) => contiguousBuffer(L, id),
    broadcast: (id: NodeId, shape: readonly number[]) => broadcastBuffer(L, id, shape),
    newTemp: (size: number) => newBuffer(L, { kind: "temp", dtype: "f32", size }),
    newConst: (values: readonly number[]) => newBuffer(L, { kind: "const", dtype: "f32", size: values.length, values }),
    push: (kernel: Kernel) => void L.kernels.push(kernel),
  };
  const out = lowerConvNode(helpers, t.node, t.newOut) ?? lowerNormNode(helpers, t.node, t.newOut);
  if (out !== undefined) t.done(out);
  return out !== undefined;
};

/** Elementwise roots and views that must become memory: one map kernel (a reshape of contiguous memory is a view of it). */
const lowerElementwise = (L: Lowering, t: Target): void => {
  const { id, node, shape, newOut, done } = t;
  if (node.op === "reshape" && !L.outputIds.has(id)) {
    // a reshape of contiguous memory is the same memory
    const inputView = materializeContiguous(L, node.inputs[0] as NodeId);
    L.views.set(id, { ...inputView, strides: stridesOf(shape) });
    return;
  }
  if (!ELEMENTWISE.has(node.op) && !VIEW_OPS.has(node.op) && node.op !== "dim_size")
    throw new Error(`internal: no kernel for ${node.op} at ${formatShapeOf(shape)}`);
  // elementwise root, or a view that must become memory
  const out = newOut();
  L.kernels.push({ kind: "map", out, shape, expr: expandExpr(L, id, identity(shape.length), shape.length), nodes: [id] });
  done(out);
};

/** Emits the kernel computing node `id` into a new contiguous buffer. */
const materialize = (L: Lowering, id: NodeId): void => {
  if (L.views.has(id)) return;
  const node = nodeOf(L, id);
  const shape = shapeOf(L, id);
  const dtype = node.type.dtype;
  const size = sizeOf(shape);
  const kind = L.outputIds.has(id) ? "output" : "temp";
  const t: Target = { id, node, shape, dtype, size, newOut: () => newBuffer(L, { kind, dtype, size }), done: (buffer) => void L.views.set(id, contiguousView(buffer, shape)) };
  const epilogue = L.epilogues.get(id);
  if (epilogue !== undefined) {
    const matmulNode = nodeOf(L, epilogue.matmul);
    const out = t.newOut();
    emitMatmul(L, epilogue.matmul, matmulNode.inputs[0] as NodeId, matmulNode.inputs[1] as NodeId, out, epilogue.bias, epilogue.relu, false, epilogue.relu ? [node.inputs[0] as NodeId, id] : [id]);
    t.done(out);
    return;
  }
  for (const lower of [lowerLeaf, lowerMatmul, lowerReduce, lowerRows, lowerLoss, lowerGather, lowerFamilies]) if (lower(L, t)) return;
  lowerElementwise(L, t);
};

/** Records the class labels `node` reads (labelRead, "losses") for the check before each run. */
const checkLabels = (L: Lowering, node: Node): void => {
  const read = labelRead(node, (id) => shapeOf(L, id), "losses");
  if (read === undefined || read.classes === undefined) return;
  const target = nodeOf(L, read.target);
  L.labels.push({ input: target.op === "input" ? target.attrs.name : `%${read.target}`, numClasses: read.classes, ignoreIndex: read.ignoreIndex });
};

/**
 * Lowers one graph with concrete dims `bindings` to kernels: leaves first (stable buffer ids for
 * I/O), then every node that needs memory, then the outputs (contiguous). Composites other than
 * the ones the lowering fuses (`loweredComposites`) are expanded first, so a composite reaching
 * here needs no kernel of its own (node ids in `Kernel.nodes` are then those of the expanded
 * graph, as `graft print --after decompose` shows it).
 */
export const lowerGraph = (input: Graph, bindings: ReadonlyMap<string, number>): E.Either<Diagnostics, LoweredFunction> => {
  // a graph as written has evaluation semantics (programs specialise each function first)
  const specialised = E.map((result: ModeResult) => result.graph)(specialiseMode("eval", { numberStreams: false })(input));
  if (E.isLeft(specialised)) return specialised;
  const expanded = decompose(loweredComposites)(specialised.right);
  if (E.isLeft(expanded)) return expanded;
  const graph = expanded.right;
  const unsupported = checkCompilable(graph);
  if (unsupported.length > 0) return E.left(unsupported);
  const unbound = unboundAt(graph, bindings);
  if (unbound.length > 0) return E.left(unbound);
  const L = startLowering(graph, bindings);
  for (const node of graph.nodes) if (node.op === "input" || node.op === "param") materialize(L, node.id);
  for (const node of graph.nodes) {
    if (L.absorbed.has(node.id) || L.views.has(node.id) || L.swappedMatmuls.has(node.id) || L.batchSummedMatmuls.has(node.id)) continue;
    const needsMemory = L.outputIds.has(node.id) || L.epilogues.has(node.id) || !(inlinable(L, node) || (L.consumers[node.id] ?? []).length === 0);
    if (needsMemory && (L.uses[node.id] ?? 0) > 0) materialize(L, node.id);
  }
  const outputs: LoweredIo[] = [];
  for (const output of graph.outputs) {
    const view = materializeContiguous(L, output.id);
    const node = nodeOf(L, output.id);
    outputs.push({ name: output.name, buffer: view.buffer, shape: shapeOf(L, output.id), dtype: node.type.dtype });
  }
  return E.right({ buffers: L.buffers, kernels: [...L.fills, ...L.kernels], inputs: L.inputs, outputs, state: L.state, labels: L.labels.filter((l) => !l.input.startsWith("%")) });
};

export type { Access };
