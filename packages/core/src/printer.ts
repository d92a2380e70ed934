/**
 * @file The printed IR: one node a line, jaxpr-like:
 * `%7 = log_softmax[dim=1] %6 : f32[batch,10]`.
 */
import type { Graph, Node } from "./graph.js";
import { formatLoc } from "./loc.js";
import { formatAttrPairs } from "./ops/rules.js";
import { formatType } from "./shape.js";
import { rowOf, withCall } from "./tensor.js";

export interface PrintOptions {
  /** Append `# file:line:col` of the user's call to each line. */
  readonly locations?: boolean;
}

/** `op[attrs]` of a node. */
export const formatOp = (node: Node): string =>
  withCall(node, (op, attrs) => {
    const row = rowOf(op);
    const text = row.formatAttrs !== undefined ? row.formatAttrs(attrs) : formatAttrPairs(attrs);
    return text === "" ? op : `${op}[${text}]`;
  });

export const formatNode = (node: Node, options: PrintOptions = {}): string => {
  const args = node.inputs.map((id) => ` %${id}`).join("");
  const where = options.locations === true && node.loc !== undefined ? `  # ${formatLoc(node.loc)}` : "";
  return `%${node.id} = ${formatOp(node)}${args} : ${formatType(node.type)}${where}`;
};

/** The whole graph as text. */
export const printGraph = (graph: Graph, options: PrintOptions = {}): string => {
  const lines = [`graph ${graph.name} {`, ...graph.nodes.map((node) => `  ${formatNode(node, options)}`)];
  lines.push(`  return ${graph.outputs.map((output) => `${output.name}=%${output.id}`).join(", ")}`, "}");
  return lines.join("\n");
};
