/**
 * @file Analyses the lowering runs on a graph before emitting kernels: what the compiled back ends
 * can compile, unbound symbolic dims, matmul
 * epilogue chains (`matmul → add(bias row) → relu`), transposed matmuls computed as one swapped
 * matmul, the key that lets a cross_entropy and its backward share one logsumexp buffer, and
 * which inputs are class labels (checked before a run).
 */
import { error, formatType, sizeOf, stridesOf, symbolsOf, unboundDims, type Diagnostics, type Graph, type Node, type NodeId } from "@graft/core";
import type { Rows } from "./kernels.js";

const COMPILED_DTYPES = new Set(["f32", "i32", "bool"]);

/** Static check that every node can be compiled by the JS/WASM back ends. */
export const checkCompilable = (graph: Graph): Diagnostics =>
  graph.nodes.flatMap((node) =>
    COMPILED_DTYPES.has(node.type.dtype)
      ? []
      : [error("backend", `${node.op} produces ${node.type.dtype}: the compiled back ends compute in f32/i32/bool (f64 is for the reference interpreter)`, node.loc)],
  );

/**
 * Which ops count as reading class labels. The two callers want different answers:
 * - `"losses"` (the lowering, one node at a time as it emits kernels): the index targets of
 *   `cross_entropy` and of `nll_loss`. Their backward ops read the same targets, which the forward
 *   kernel of the same function has checked already; `one_hot` compiles to `label == iota` (an
 *   out-of-range label gives a zero row, as jax.nn.one_hot does) and is not checked.
 * - `"all"` (the reference interpreter, which scans a whole function before evaluating): also
 *   `cross_entropy_backward`, `nll_loss_backward` and `one_hot`, whose float64 semantics refuse
 *   a label out of range, so the run refuses it up front with the feed's name.
 */
export type LabelReaders = "losses" | "all";

/** A node's read of class labels: its target node, the class count (undefined while symbolic) and the ignored label. */
export interface LabelRead {
  readonly target: NodeId;
  readonly classes: number | undefined;
  readonly ignoreIndex: number | undefined;
}

/**
 * The class labels `node` reads, if it reads any for `readers`; `shapeOf` gives the shape of a
 * node (symbolic in a graph, concrete in a lowering), from which the class count of a loss comes.
 */
export const labelRead = (node: Node, shapeOf: (id: NodeId) => readonly (number | string)[], readers: LabelReaders): LabelRead | undefined => {
  const classesAt = (logits: NodeId | undefined, axis: number): number | undefined => {
    const size = logits === undefined ? undefined : shapeOf(logits)[axis];
    return typeof size === "number" ? size : undefined;
  };
  const [first, second] = node.inputs;
  switch (node.op) {
    case "cross_entropy":
    case "cross_entropy_backward":
      if (node.attrs.target !== "index" || (node.op === "cross_entropy_backward" && readers === "losses") || second === undefined) return undefined;
      return { target: second, classes: classesAt(first, node.attrs.dim), ignoreIndex: node.attrs.ignoreIndex };
    case "nll_loss":
    case "nll_loss_backward":
      if ((node.op === "nll_loss_backward" && readers === "losses") || second === undefined) return undefined;
      return { target: second, classes: classesAt(first, node.attrs.dim), ignoreIndex: node.attrs.ignoreIndex };
    case "one_hot":
      return readers === "all" && first !== undefined ? { target: first, classes: node.attrs.numClasses, ignoreIndex: undefined } : undefined;
    default:
      return undefined;
  }
};

/** An i32 input read as class labels: each value must lie in [0, classes) or be `ignoreIndex`. */
export interface LabelInput {
  readonly input: string;
  readonly classes: number;
  readonly ignoreIndex: number | undefined;
}

/**
 * The i32 inputs of a graph that are class labels (`labelRead` with `"all"`), fed directly, with a
 * known class count, in node order. The reference back end checks them before running (PyTorch
 * raises on such labels too).
 */
export const labelInputs = (graph: Graph): LabelInput[] =>
  graph.nodes.flatMap((node) => {
    const read = labelRead(node, (id) => graph.nodes[id]?.type.shape ?? [], "all");
    const leaf = read === undefined ? undefined : graph.nodes[read.target];
    return read === undefined || leaf?.op !== "input" || read.classes === undefined ? [] : [{ input: leaf.attrs.name, classes: read.classes, ignoreIndex: read.ignoreIndex }];
  });

/** Unbound symbolic dims at this specialisation, as diagnostics. */
export const unboundAt = (graph: Graph, bindings: ReadonlyMap<string, number>): Diagnostics => {
  const unbound = graph.nodes.flatMap((node) => symbolsOf(node.type.shape).filter((symbol) => !bindings.has(symbol)).map((symbol) => ({ node, symbol })));
  if (unbound.length === 0) return [];
  const fromInputs = unboundDims(graph);
  if (fromInputs.length > 0) return fromInputs;
  return unbound.slice(0, 1).map(({ node, symbol }) => error("backend", `${node.op}: symbolic dim '${symbol}' of ${formatType(node.type)} has no size at this specialisation`, node.loc));
};



/** A matmul whose bias-row add (and relu) run in its epilogue. */
export interface Epilogue {
  readonly matmul: NodeId;
  readonly bias: NodeId | undefined;
  readonly relu: boolean;
}

/** Epilogue fusion: `matmul → add(bias row) → relu` chains, by their last node. */
export const findEpilogues = (graph: Graph, shapes: readonly number[][], uses: readonly number[], consumers: readonly (readonly NodeId[])[], outputIds: ReadonlySet<NodeId>): { absorbed: Set<NodeId>; epilogues: Map<NodeId, Epilogue> } => {
  const shapeOf = (id: NodeId): number[] => (shapes[id] as number[] | undefined) ?? [];
  const nodeOf = (id: NodeId): Node => graph.nodes[id] as Node;

const absorbed = new Set<NodeId>();
const epilogues = new Map<NodeId, { matmul: NodeId; bias: NodeId | undefined; relu: boolean }>();
for (const node of graph.nodes) {
  if (node.op !== "matmul" || uses[node.id] !== 1 || outputIds.has(node.id)) continue;
  const [consumer] = consumers[node.id] ?? [];
  const addNode = consumer === undefined ? undefined : nodeOf(consumer);
  if (addNode === undefined || addNode.op !== "add") continue;
  const biasId = addNode.inputs[0] === node.id ? addNode.inputs[1] : addNode.inputs[0];
  if (biasId === undefined || addNode.inputs[0] === addNode.inputs[1]) continue;
  const biasShape = shapeOf(biasId);
  const outShape = shapeOf(node.id);
  const n = outShape[outShape.length - 1] as number;
  const biasIsRow = biasShape.length <= outShape.length && sizeOf(biasShape) === n && biasShape[biasShape.length - 1] === n && shapeOf(addNode.id).join() === outShape.join();
  if (!biasIsRow) continue;
  let last: NodeId = addNode.id;
  let relu = false;
  const [afterAdd] = consumers[addNode.id] ?? [];
  if (uses[addNode.id] === 1 && !outputIds.has(addNode.id) && afterAdd !== undefined && nodeOf(afterAdd).op === "relu") {
    relu = true;
    last = afterAdd;
    absorbed.add(addNode.id);
  }
  absorbed.add(node.id);
  epilogues.set(last, { matmul: node.id, bias: biasId, relu });
}
  return { absorbed, epilogues };
};

/** The key of a cross_entropy (or its backward): equal keys share one logsumexp buffer. */
export const lseKey = (node: Node): string => {
  if (node.op !== "cross_entropy" && node.op !== "cross_entropy_backward") return "";
  const { dim, reduction, ignoreIndex, labelSmoothing, target, weighted } = node.attrs;
  return JSON.stringify([node.inputs[0], node.inputs[1], weighted ? node.inputs[node.op === "cross_entropy" ? 2 : 3] : -1, dim, reduction, ignoreIndex, labelSmoothing, target]);
};

/** transpose(matmul) over the last two dims is computed as one swapped matmul: never inline it. */
export const findSwappedTransposes = (graph: Graph, uses: readonly number[], outputIds: ReadonlySet<NodeId>, absorbed: ReadonlySet<NodeId>): Set<NodeId> => {
  const nodeOf = (id: NodeId): Node => graph.nodes[id] as Node;
  return new Set(
    graph.nodes
      .filter((node) => {
        if (node.op !== "transpose") return false;
        const r = node.attrs.perm.length;
        const input = node.inputs[0] as NodeId;
        const swaps = r >= 2 && node.attrs.perm.every((axis, d) => (d < r - 2 ? axis === d : d === r - 2 ? axis === r - 1 : axis === r - 2));
        return swaps && nodeOf(input).op === "matmul" && uses[input] === 1 && !outputIds.has(input) && !absorbed.has(input);
      })
      .map((node) => node.id),
  );
};

/**
 * sum(matmul(a, b)) over exactly the matmul's batch dims — a weight gradient Σ_b A_bᵀ G_b as the
 * matmul VJP's sumTo builds it — where the matmul feeds nothing else: the sum nodes, each with
 * its matmul (lowering may compute the pair as one GEMM, `sumBatchDepth`).
 */
export const findBatchSums = (graph: Graph, shapes: readonly (readonly number[])[], uses: readonly number[], outputIds: ReadonlySet<NodeId>, absorbed: ReadonlySet<NodeId>): Map<NodeId, NodeId> => {
  const sums = new Map<NodeId, NodeId>();
  for (const node of graph.nodes) {
    if (node.op !== "sum") continue;
    const input = node.inputs[0] as NodeId;
    const batchDims = (shapes[input]?.length ?? 0) - 2;
    const dims = [...node.attrs.dims].sort((x, y) => x - y);
    const overBatch = batchDims >= 1 && dims.length === batchDims && dims.every((axis, i) => axis === i);
    if (overBatch && graph.nodes[input]?.op === "matmul" && uses[input] === 1 && !outputIds.has(input) && !absorbed.has(input)) sums.set(node.id, input);
  }
  return sums;
};

// ----- layouts ---------------------------------------------------------------------------------

/** Removing size-1 dims leaves the same sequence: a reshape that only adds or drops unit dims. */
export const isUnitReshape = (from: readonly number[], to: readonly number[]): boolean => {
  const a = from.filter((d) => d !== 1);
  const b = to.filter((d) => d !== 1);
  return a.length === b.length && a.every((d, i) => d === b[i]);
};

/** A view walks `shape` row-major without gaps (unit dims may have any stride). */
export const isContiguous = (view: { readonly strides: readonly number[] }, shape: readonly number[]): boolean => {
  const expected = stridesOf(shape);
  return shape.every((size, axis) => size === 1 || view.strides[axis] === expected[axis]);
};

/** The rows along dims first..last of `shape`: outer × size × inner. */
export const rowsOf = (shape: readonly number[], first: number, last = first): Rows => ({
  outer: sizeOf(shape.slice(0, first)),
  size: sizeOf(shape.slice(first, last + 1)),
  inner: sizeOf(shape.slice(last + 1)),
});
