/**
 * @file The graph IR: nodes in topological order with node ids = indices, built from tensor
 * handles, and turned back into handles for passes that construct new nodes with the DSL.
 */
import * as E from "fp-ts/lib/Either.js";
import { error, type Diagnostic, type Diagnostics } from "./diagnostics.js";
import { isFloat } from "./dtype.js";
import { formatLoc, type SourceLoc } from "./loc.js";
import type { OpAttrs, OpCall } from "./ops/attrs.js";
import { formatType, shapeEquals, symbolsOf, type TensorType } from "./shape.js";
import { describeValue, isTensor, makeTensor, Tensor, withCall } from "./tensor.js";

export type NodeId = number;

/** One node of the IR. `op`/`attrs` are a discriminated union, so `node.op === "softmax"` narrows `node.attrs`. */
export type Node = OpCall & {
  readonly id: NodeId;
  readonly inputs: readonly NodeId[];
  readonly type: TensorType;
  readonly loc: SourceLoc | undefined;
};

/** A named output of a graph. */
export interface GraphOutput {
  readonly name: string;
  readonly id: NodeId;
}

/** An immutable, type-checked dataflow graph. Nodes are topologically sorted; `nodes[i].id === i`. */
export interface Graph {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly outputs: readonly GraphOutput[];
  /** The scalar loss, when the model declares one (also listed in outputs as "loss"). */
  readonly loss: NodeId | undefined;
}

/** A model as the user declares it: named outputs and an optional scalar loss. */
export interface Model {
  readonly name: string;
  readonly outputs: Readonly<Record<string, Tensor>>;
  readonly loss: Tensor | undefined;
}

/** Declares a model. `graft check`/`print`/`compile` take a module whose default export is one. */
export const model = (spec: { readonly name?: string; readonly outputs?: Readonly<Record<string, Tensor>>; readonly loss?: Tensor }): Model => ({
  name: spec.name ?? "model",
  outputs: { ...(spec.outputs ?? {}) },
  loss: spec.loss,
});

/**
 * What is wrong with a value meant to be a Model, checked structurally (for user modules, which
 * may be untyped JS): `it is …` for a value that is not model-shaped at all, `its output 'a' is
 * number 1, expected a tensor` for one that is; undefined for a model.
 */
export const modelProblem = (value: unknown): string | undefined => {
  // a Graph has a name and outputs too
  if (typeof value !== "object" || value === null || !("outputs" in value) || !("name" in value) || "nodes" in value) return `it is ${describeValue(value)}`;
  const { name, outputs } = value as { readonly name: unknown; readonly outputs: unknown };
  const loss: unknown = (value as { readonly loss?: unknown }).loss;
  if (typeof name !== "string") return `its name is ${describeValue(name)}, expected a string`;
  if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs) || isTensor(outputs))
    return `its outputs are ${describeValue(outputs)}, expected an object of named tensors`;
  for (const [key, output] of Object.entries(outputs)) if (!isTensor(output)) return `its output '${key}' is ${describeValue(output)}, expected a tensor`;
  if (loss !== undefined && !isTensor(loss)) return `its loss is ${describeValue(loss)}, expected a tensor or undefined`;
  return undefined;
};

/** True when a value is a Model, checked structurally (see {@link modelProblem}). */
export const isModel = (value: unknown): value is Model => modelProblem(value) === undefined;

/** `input:x` for a leaf with a name (an ill-typed leaf from untyped code may have none). */
const leafKey = (tensor: Tensor): string | undefined => {
  const call = tensor.call;
  if ((call.op !== "input" && call.op !== "param") || typeof call.attrs.name !== "string") return undefined;
  return `${call.op}:${call.attrs.name}`;
};

/**
 * Builds the IR from named output handles: a topological order of everything they depend on.
 * Leaves with the same name are one node (they must agree on type); every diagnostic recorded on
 * a handle is returned, with the user's locations.
 */
export const graphFromTensors = (name: string, outputs: ReadonlyArray<{ readonly name: string; readonly tensor: Tensor }>, loss: Tensor | undefined): E.Either<Diagnostics, Graph> => {
  const diagnostics: Diagnostic[] = [];
  // untyped callers may pass anything: every root must be a tensor
  const badRoots = [
    ...outputs.flatMap((output) => (isTensor(output.tensor) ? [] : [`output '${output.name}' is ${describeValue(output.tensor)}, expected a tensor`])),
    ...(loss === undefined || isTensor(loss) ? [] : [`the loss is ${describeValue(loss)}, expected a tensor`]),
  ];
  if (badRoots.length > 0) return E.left(badRoots.map((message) => error("model", `model ${name}: ${message}`)));
  const ids = new Map<Tensor, NodeId>();
  const open = new Set<Tensor>();
  const leaves = new Map<string, { readonly id: NodeId; readonly tensor: Tensor }>();
  const nodes: Node[] = [];
  const roots = [...outputs.map((output) => output.tensor), ...(loss === undefined ? [] : [loss])];
  // iterative post-order DFS (graphs can be deep). `open` holds the tensors being expanded: the
  // path from a root, so meeting one again is a cycle; each tensor is expanded once, so the
  // stack holds at most Σ fan-in entries
  const stack: Array<{ readonly tensor: Tensor; expanded: boolean }> = roots.map((tensor) => ({ tensor, expanded: false })).reverse();
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { readonly tensor: Tensor; expanded: boolean };
    if (ids.has(top.tensor)) {
      stack.pop();
      continue;
    }
    if (!top.expanded) {
      if (open.has(top.tensor)) return E.left([error("cycle", `${typeof top.tensor.op === "string" ? top.tensor.op : "a tensor"}: this tensor depends on itself (its inputs were changed after it was created); a graph must be acyclic`, top.tensor.loc)]);
      const inputs: readonly unknown[] = Array.isArray(top.tensor.inputs) ? top.tensor.inputs : [];
      const bad = inputs.find((input) => !isTensor(input));
      if (bad !== undefined || !Array.isArray(top.tensor.inputs))
        return E.left([error("model", `${typeof top.tensor.op === "string" ? top.tensor.op : "a tensor"}: an input is ${describeValue(bad ?? top.tensor.inputs)}, expected a tensor (tensors must be made by the ops of @graft/core)`, top.tensor.loc)]);
      top.expanded = true;
      open.add(top.tensor);
      for (const input of [...top.tensor.inputs].reverse()) if (!ids.has(input)) stack.push({ tensor: input, expanded: false });
      continue;
    }
    stack.pop();
    open.delete(top.tensor);
    const tensor = top.tensor;
    diagnostics.push(...tensor.diagnostics);
    const key = leafKey(tensor);
    const existing = key === undefined ? undefined : leaves.get(key);
    if (existing !== undefined) {
      const same = existing.tensor.type !== undefined && tensor.type !== undefined && shapeEquals(existing.tensor.type.shape, tensor.type.shape) && existing.tensor.type.dtype === tensor.type.dtype;
      const leafName = `${tensor.call.op} '${key?.split(":").slice(1).join(":") ?? ""}'`;
      const first = `first at ${whereIs(existing.tensor.loc)}`;
      diagnostics.push(
        same
          ? error("duplicate-leaf", `${leafName} is declared twice (${first}): two distinct tensors cannot share a name; create it once and use that tensor in both places`, tensor.loc)
          : error("duplicate-leaf", `${leafName} is declared twice with different types: ${describe(existing.tensor)} (${first}) and ${describe(tensor)}`, tensor.loc),
      );
      ids.set(tensor, existing.id);
      continue;
    }
    const id = nodes.length;
    ids.set(tensor, id);
    if (key !== undefined) leaves.set(key, { id, tensor });
    if (tensor.type !== undefined)
      nodes.push({ ...tensor.call, id, inputs: tensor.inputs.map((input) => ids.get(input) ?? -1), type: tensor.type, loc: tensor.loc } as Node);
    else nodes.push({ ...tensor.call, id, inputs: tensor.inputs.map((input) => ids.get(input) ?? -1), type: { shape: [], dtype: "f32" }, loc: tensor.loc } as Node);
  }
  if (loss !== undefined && loss.type !== undefined && (loss.type.shape.length !== 0 || !isFloat(loss.type.dtype)))
    diagnostics.push(error("loss", `the loss must be a float scalar, got ${formatType(loss.type)} (reduce it, e.g. mean(...))`, loss.loc));
  if (diagnostics.some((d) => d.severity === "error")) return E.left(diagnostics);
  const namedOutputs = outputs.map((output) => ({ name: output.name, id: ids.get(output.tensor) ?? -1 }));
  const lossId = loss === undefined ? undefined : ids.get(loss);
  return E.right({
    name,
    nodes,
    outputs: lossId === undefined || namedOutputs.some((o) => o.name === "loss") ? namedOutputs : [...namedOutputs, { name: "loss", id: lossId }],
    loss: lossId,
  });
};

const whereIs = (loc: SourceLoc | undefined): string => (loc === undefined ? "an unknown location" : formatLoc(loc));

const describe = (tensor: Tensor): string => (tensor.type === undefined ? "<ill-typed>" : formatType(tensor.type));

/** Type-checks a model and builds its IR (a value that is not a model, from untyped JS, is a diagnostic). */
export const buildGraph = (m: Model): E.Either<Diagnostics, Graph> => {
  const problem = modelProblem(m);
  if (problem !== undefined) return E.left([error("model", `not a model: ${problem}; make one with model({ name, outputs, loss })`)]);
  return graphFromTensors(m.name, Object.entries(m.outputs).map(([name, tensor]) => ({ name, tensor })), m.loss);
};

/**
 * Symbolic dims that no input carries (e.g. `full(["batch"], 0)` in a model without a batch
 * input): nothing can give them a size, so the graph cannot be compiled. One diagnostic per
 * dim, at the first node that has it.
 */
export const unboundDims = (graph: Graph): Diagnostics => {
  const bound = new Set(graphInputs(graph).flatMap((node) => symbolsOf(node.type.shape)));
  const reported = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  for (const node of graph.nodes)
    for (const symbol of symbolsOf(node.type.shape)) {
      if (bound.has(symbol) || reported.has(symbol)) continue;
      reported.add(symbol);
      diagnostics.push(
        error("unbound-dim", `${node.op}: symbolic dim '${symbol}' of ${formatType(node.type)} is not a dim of any input, so nothing gives it a size; use a static size or a dim of an input`, node.loc),
      );
    }
  return diagnostics;
};

/** Type-checks a model: Right with no diagnostics, or Left with them. */
export const check = (m: Model): E.Either<Diagnostics, Graph> => buildGraph(m);

/**
 * Rebuilds tensor handles for every node (index = node id), keeping each node's location, so a
 * pass can build new nodes with the DSL and turn the result back into a Graph.
 */
export const tensorsOf = (graph: Graph): Tensor[] => {
  const tensors: Tensor[] = [];
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((id) => tensors[id]).filter((t): t is Tensor => t !== undefined);
    tensors.push(withCall(node, (op, attrs) => makeTensor(op, attrs as OpAttrs[typeof op], inputs, node.loc)));
  }
  return tensors;
};

/** The input leaves of a graph, in node order. */
export const graphInputs = (graph: Graph): ReadonlyArray<Extract<Node, { op: "input" }>> =>
  graph.nodes.filter((node): node is Extract<Node, { op: "input" }> => node.op === "input");

/** The param leaves of a graph, in node order. */
export const graphParams = (graph: Graph): ReadonlyArray<Extract<Node, { op: "param" }>> =>
  graph.nodes.filter((node): node is Extract<Node, { op: "param" }> => node.op === "param");

/** The node of a named output. */
export const outputNode = (graph: Graph, name: string): Node | undefined => {
  const output = graph.outputs.find((o) => o.name === name);
  return output === undefined ? undefined : graph.nodes[output.id];
};

/** Number of consumers of every node (outputs count as consumers). */
export const useCounts = (graph: Graph): number[] => {
  const counts = new Array<number>(graph.nodes.length).fill(0);
  for (const node of graph.nodes) for (const input of node.inputs) counts[input] = (counts[input] ?? 0) + 1;
  for (const output of graph.outputs) counts[output.id] = (counts[output.id] ?? 0) + 1;
  return counts;
};
