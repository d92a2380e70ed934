/**
 * @file Analyses the lowering runs on a graph before emitting kernels: what the compiled back ends
 * can compile, unbound symbolic dims, matmul
 * epilogue chains (`matmul → add(bias row) → relu`), transposed matmuls computed as one swapped
 * matmul, and the key that lets a cross_entropy and its backward share one logsumexp buffer.
 */
import { error, formatType, sizeOf, symbolsOf, unboundDims, type Diagnostics, type Graph, type Node, type NodeId } from "@graft/core";

const COMPILED_DTYPES = new Set(["f32", "i32", "bool"]);

/** Static check that every node can be compiled by the JS/WASM back ends. */
export const checkCompilable = (graph: Graph): Diagnostics =>
  graph.nodes.flatMap((node) =>
    COMPILED_DTYPES.has(node.type.dtype)
      ? []
      : [error("backend", `${node.op} produces ${node.type.dtype}: the compiled back ends compute in f32/i32/bool (f64 is for the reference interpreter)`, node.loc)],
  );

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

