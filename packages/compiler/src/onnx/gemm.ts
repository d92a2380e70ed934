/**
 * @file The one rewrite of the ONNX exporter: `add(matmul(A, transpose(W)), b)` — graft's
 * `linear`/`dense`, with A and W matrices and b broadcasting to the product — is one ONNX `Gemm`
 * (transB = 1), as PyTorch exports `nn.Linear`. The matmul is absorbed when the add is its only
 * consumer; the transpose is then emitted only if something else reads it (a backward pass does).
 */
import { shapeEquals, type Graph, type NodeId } from "@graft/core";

/** A Gemm: Y = A · Wᵀ + bias. */
export interface GemmMatch {
  readonly a: NodeId;
  readonly w: NodeId;
  readonly bias: NodeId;
}

/** How many nodes and outputs read each node. */
const readers = (graph: Graph): number[] => {
  const counts = graph.nodes.map(() => 0);
  for (const node of graph.nodes) for (const input of node.inputs) counts[input] = (counts[input] ?? 0) + 1;
  for (const output of graph.outputs) counts[output.id] = (counts[output.id] ?? 0) + 1;
  if (graph.loss !== undefined) counts[graph.loss] = (counts[graph.loss] ?? 0) + 1;
  return counts;
};

/** The add nodes that are Gemms, by id. */
export const gemmMatches = (graph: Graph): Map<NodeId, GemmMatch> => {
  const counts = readers(graph);
  const matches = new Map<NodeId, GemmMatch>();
  for (const node of graph.nodes) {
    if (node.op !== "add" || (node.type.dtype !== "f32" && node.type.dtype !== "f64")) continue;
    for (const [productId, bias] of [
      [node.inputs[0], node.inputs[1]],
      [node.inputs[1], node.inputs[0]],
    ] as const) {
      const product = productId === undefined ? undefined : graph.nodes[productId];
      if (product === undefined || bias === undefined || product.op !== "matmul" || counts[product.id] !== 1 || !shapeEquals(product.type.shape, node.type.shape)) continue;
      const [a, t] = product.inputs;
      const transposed = t === undefined ? undefined : graph.nodes[t];
      const left = a === undefined ? undefined : graph.nodes[a];
      const biasNode = graph.nodes[bias];
      if (left === undefined || transposed === undefined || biasNode === undefined || left.type.shape.length !== 2 || biasNode.type.shape.length > 2) continue;
      if (transposed.op !== "transpose" || transposed.attrs.perm.join(",") !== "1,0") continue;
      const w = transposed.inputs[0];
      if (w === undefined || a === undefined) continue;
      matches.set(node.id, { a, w, bias });
      break;
    }
  }
  return matches;
};

/** The nodes an export computes: what the outputs need, reading a Gemm's A, W and bias rather than its product. */
export const liveNodes = (graph: Graph, gemms: ReadonlyMap<NodeId, GemmMatch>): Set<NodeId> => {
  const live = new Set<NodeId>();
  const stack = [...graph.outputs.map((o) => o.id), ...(graph.loss === undefined ? [] : [graph.loss])];
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    if (live.has(id)) continue;
    live.add(id);
    const gemm = gemms.get(id);
    stack.push(...(gemm === undefined ? (graph.nodes[id]?.inputs ?? []) : [gemm.a, gemm.w, gemm.bias]));
  }
  return live;
};
