/**
 * @file Reverse-mode automatic differentiation as a graph transform. Given a graph with a scalar
 * loss, `grad` returns a new graph whose outputs also hold `grad:<name>` = ∂loss/∂name for every
 * requested param (and input). Every node's cotangent is built with the VJP rule of its op-table
 * row (written with ops of the table), so the backward graph is an ordinary graph: it prints,
 * checks, fuses, compiles — and can be differentiated again (Hessian-vector products).
 */
import * as E from "fp-ts/lib/Either.js";
import {
  add,
  error,
  formatLoc,
  formatType,
  full,
  graphFromTensors,
  graphInputs,
  graphParams,
  isFloat,
  rowOf,
  scalar,
  shapeEquals,
  tensorsOf,
  withCall,
  withSourceLoc,
  type Diagnostic,
  type Diagnostics,
  type Gradient,
  type Graph,
  type Node,
  type OpName,
  type Tensor,
  type VjpRule,
} from "@graft/core";

/** What to differentiate with respect to. */
export interface GradOptions {
  /** Param names; default: every float param of the graph. */
  readonly wrt?: readonly string[];
  /** Float input names (e.g. for saliency maps); default: none. */
  readonly inputs?: readonly string[];
}

/** The output name holding ∂loss/∂`name`. */
export const gradOutputName = (name: string): string => `grad:${name}`;

/** The prefix of gradient outputs. */
export const GRAD_PREFIX = "grad:";

/** Looks up an op's gradient entry; `grad` uses the op table's, tests may inject others. */
export type GradientLookup = <K extends OpName>(op: K) => Gradient<K>;

const tableGradient: GradientLookup = (op) => rowOf(op).gradient;

/** Tensors `output` depends on, inputs first, not looking past `leaves`. */
const definitionOrder = (output: Tensor, leaves: ReadonlySet<Tensor>): Tensor[] => {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: Array<{ readonly tensor: Tensor; expanded: boolean }> = [{ tensor: output, expanded: false }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { readonly tensor: Tensor; expanded: boolean };
    if (seen.has(top.tensor)) {
      stack.pop();
      continue;
    }
    if (!top.expanded && !leaves.has(top.tensor)) {
      top.expanded = true;
      for (const input of top.tensor.inputs) if (!seen.has(input)) stack.push({ tensor: input, expanded: false });
      continue;
    }
    stack.pop();
    seen.add(top.tensor);
    order.push(top.tensor);
  }
  return order;
};

/**
 * Reverse mode over the tensors of a composite's definition: the cotangents of `leaves` (the
 * composite's inputs) given `seed` for `output`, with each op's own rule (nested composites
 * through their definitions in turn).
 */
const backpropagate = (output: Tensor, leaves: readonly Tensor[], seed: Tensor, lookup: GradientLookup): Array<Tensor | undefined> => {
  const leafSet = new Set(leaves);
  const order = definitionOrder(output, leafSet);
  const reachesLeaf = new Set<Tensor>();
  for (const tensor of order) if (leafSet.has(tensor) || tensor.inputs.some((input) => reachesLeaf.has(input))) reachesLeaf.add(tensor);
  const cotangents = new Map<Tensor, Tensor>([[output, seed]]);
  for (const tensor of [...order].reverse()) {
    const cotangent = cotangents.get(tensor);
    if (leafSet.has(tensor) || cotangent === undefined) continue;
    const rule = withCall(tensor.call, (op, attrs) => {
      const gradient = resolveGradient(op, lookup);
      return "rule" in gradient ? () => gradient.rule({ inputs: tensor.inputs, output: tensor, grad: cotangent, attrs }) : undefined;
    });
    if (rule === undefined) continue;
    const results = rule();
    tensor.inputs.forEach((input, k) => {
      const result = results[k];
      if (result === undefined || !reachesLeaf.has(input) || input.dtype === undefined || !isFloat(input.dtype)) return;
      const previous = cotangents.get(input);
      cotangents.set(input, previous === undefined ? result : add(previous, result));
    });
  }
  return leaves.map((leaf) => cotangents.get(leaf));
};

/** The VJP of a composite from its definition: `grad` backpropagated through the ops `decompose` builds. */
const decompositionRule =
  <K extends OpName>(op: K, lookup: GradientLookup): VjpRule<K> =>
  ({ inputs, grad, attrs }) => {
    const definition = rowOf(op).decompose;
    if (definition === undefined) throw new Error(`${op}: its gradient comes from its decomposition, but its row has no decompose`);
    return backpropagate(definition(inputs, attrs), inputs, grad, lookup);
  };

/** An op's gradient as a rule or a reason: a composite without a rule of its own differentiates its definition. */
const resolveGradient = <K extends OpName>(op: K, lookup: GradientLookup): { readonly rule: VjpRule<K> } | { readonly none: string } => {
  const gradient = lookup(op);
  return "fromDecomposition" in gradient ? { rule: decompositionRule(op, lookup) } : gradient;
};

const where = (node: Node): string => (node.loc === undefined ? "" : ` at ${formatLoc(node.loc)}`);

/** One requested leaf. */
interface Target {
  readonly node: Node;
  readonly name: string;
}

/** Resolves `wrt` and `inputs` to leaf nodes, or the diagnostics of bad names and integer leaves. */
const resolveTargets = (graph: Graph, options: GradOptions): E.Either<Diagnostics, readonly Target[]> => {
  const diagnostics: Diagnostic[] = [];
  const params = graphParams(graph);
  const inputs = graphInputs(graph);
  const targets: Target[] = [];
  const wanted = options.wrt ?? params.filter((node) => isFloat(node.type.dtype)).map((node) => node.attrs.name);
  for (const name of wanted) {
    const node = params.find((p) => p.attrs.name === name);
    if (node === undefined) {
      diagnostics.push(error("grad/unknown", `grad: the graph has no param named '${name}' (params: ${params.map((p) => p.attrs.name).join(", ") || "none"})`));
      continue;
    }
    if (!isFloat(node.type.dtype)) {
      diagnostics.push(
        error("grad/integer", `grad: cannot differentiate with respect to param '${name}' of type ${formatType(node.type)}: only float params have gradients`, node.loc),
      );
      continue;
    }
    targets.push({ node, name });
  }
  for (const name of options.inputs ?? []) {
    const node = inputs.find((i) => i.attrs.name === name);
    if (node === undefined) {
      diagnostics.push(error("grad/unknown", `grad: the graph has no input named '${name}' (inputs: ${inputs.map((i) => i.attrs.name).join(", ") || "none"})`));
      continue;
    }
    if (!isFloat(node.type.dtype)) {
      diagnostics.push(
        error(
          "grad/integer",
          `grad: cannot differentiate with respect to integer input '${name}' (${formatType(node.type)}): gradients exist only for float inputs`,
          node.loc,
        ),
      );
      continue;
    }
    if (targets.some((t) => t.name === name)) {
      diagnostics.push(error("grad/ambiguous", `grad: '${name}' names both a param and an input; the output ${gradOutputName(name)} would be ambiguous`, node.loc));
      continue;
    }
    targets.push({ node, name });
  }
  for (const target of targets) {
    const output = gradOutputName(target.name);
    if (graph.outputs.some((o) => o.name === output))
      diagnostics.push(
        error("grad/exists", `grad: graph ${graph.name} already has an output named '${output}' (differentiate a graph without gradient outputs, or rename that output)`),
      );
  }
  return diagnostics.length > 0 ? E.left(diagnostics) : E.right(targets);
};

/** Nodes that depend on one of `sources` through float values only (a gradient can flow back to them). */
const floatDescendants = (graph: Graph, sources: ReadonlySet<number>): boolean[] => {
  const marks = new Array<boolean>(graph.nodes.length).fill(false);
  for (const node of graph.nodes)
    marks[node.id] = isFloat(node.type.dtype) && (sources.has(node.id) || node.inputs.some((input) => marks[input] === true));
  return marks;
};

/** Nodes the loss depends on (the loss included). */
const lossAncestors = (graph: Graph, loss: number): boolean[] => {
  const marks = new Array<boolean>(graph.nodes.length).fill(false);
  marks[loss] = true;
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    if (marks[id] !== true) continue;
    for (const input of graph.nodes[id]?.inputs ?? []) marks[input] = true;
  }
  return marks;
};

/** A place where no gradient flows back: node `node` does not pass one to its input `input`. */
interface Cut {
  readonly node: Node;
  readonly input: number;
  readonly reason: string;
}

/** The reason an op has no gradient at all, or undefined when it has a rule. */
const noneReason = (node: Node, lookup: GradientLookup): string | undefined =>
  withCall(node, (op) => {
    const gradient = lookup(op);
    return "none" in gradient ? gradient.none : undefined;
  });

const cutReason = (node: Node, lookup: GradientLookup, blockedEdges: ReadonlySet<string>, input: number): string | undefined => {
  const none = noneReason(node, lookup);
  if (none !== undefined) return none;
  if (!isFloat(node.type.dtype)) return `its output is ${node.type.dtype}, which carries no gradient`;
  if (blockedEdges.has(`${node.id}:${input}`)) return `its gradient rule passes nothing to input #${input}`;
  return undefined;
};

/**
 * Explains why a target that the loss depends on received no gradient: every path from it to the
 * loss is cut by an op without a gradient. Lists every cut on those paths.
 */
const explainMissing = (
  graph: Graph,
  target: Target,
  onPath: readonly boolean[],
  blockedEdges: ReadonlySet<string>,
  lookup: GradientLookup,
): { readonly diagnostic: Diagnostic; readonly cuts: readonly number[] } => {
  const reach = floatDescendants(graph, new Set([target.node.id]));
  const cuts: Cut[] = [];
  for (const node of graph.nodes) {
    if (onPath[node.id] !== true) continue;
    node.inputs.forEach((input, k) => {
      if (reach[input] !== true) return;
      const reason = cutReason(node, lookup, blockedEdges, k);
      if (reason !== undefined && !cuts.some((cut) => cut.node.id === node.id)) cuts.push({ node, input: k, reason });
    });
  }
  const kind = target.node.op === "param" ? "param" : "input";
  const through = cuts.map((cut) => `${cut.node.op}${where(cut.node)}, which has no gradient (${cut.reason})`).join("; and through ");
  const diagnostic = error(
    "grad/no-gradient",
    `grad: ${kind} '${target.name}' reaches the loss only through ${through || "ops without a gradient"}, so its gradient is undefined`,
    target.node.loc,
  );
  return { diagnostic, cuts: cuts.map((cut) => cut.node.id) };
};

/**
 * Reverse-mode autodiff with an explicit gradient lookup (the op table's in `grad`). Exposed so
 * tests can check how bad VJP rules are reported.
 */
export const gradWith =
  (lookup: GradientLookup) =>
  (graph: Graph, options: GradOptions = {}): E.Either<Diagnostics, Graph> => {
    if (graph.loss === undefined)
      return E.left([error("grad/no-loss", `grad: graph ${graph.name} has no loss to differentiate (declare one: model({ outputs, loss }))`)]);
    const lossNode = graph.nodes[graph.loss];
    if (lossNode === undefined) return E.left([error("grad/no-loss", `grad: graph ${graph.name} names loss node %${graph.loss}, which does not exist`)]);
    if (lossNode.type.shape.length !== 0 || !isFloat(lossNode.type.dtype))
      return E.left([
        error("grad/loss", `grad: the loss must be a float scalar, got ${formatType(lossNode.type)} (reduce it first, e.g. mean(...) or sum(...))`, lossNode.loc),
      ]);
    const resolved = resolveTargets(graph, options);
    if (E.isLeft(resolved)) return resolved;
    const targets = resolved.right;

    const needs = floatDescendants(graph, new Set(targets.map((t) => t.node.id)));
    const onPath = lossAncestors(graph, lossNode.id);
    const tensors = tensorsOf(graph);
    const tensorAt = (id: number): Tensor | undefined => tensors[id];
    const cotangents = new Array<Tensor | undefined>(graph.nodes.length).fill(undefined);
    cotangents[lossNode.id] = withSourceLoc(lossNode.loc, () => scalar(1, lossNode.type.dtype));
    const diagnostics: Diagnostic[] = [];
    const blockedEdges = new Set<string>();
    // ops without a gradient on a differentiable path, already reported
    const reported = new Set<number>();

    for (let id = graph.nodes.length - 1; id >= 0; id--) {
      const node = graph.nodes[id];
      const cotangent = cotangents[id];
      if (node === undefined || cotangent === undefined || node.inputs.length === 0) continue;
      if (!node.inputs.some((input) => needs[input] === true)) continue;
      const none = noneReason(node, lookup);
      if (none !== undefined) {
        reported.add(node.id);
        diagnostics.push(
          error("grad/no-gradient", `grad: ${node.op}${where(node)} lies on a differentiable path to the loss but has no gradient (${none})`, node.loc),
        );
        continue;
      }
      const inputs = node.inputs.map(tensorAt).filter((t): t is Tensor => t !== undefined);
      const output = tensorAt(id);
      if (output === undefined || inputs.length !== node.inputs.length) continue;
      const results = withSourceLoc(node.loc, () =>
        withCall(node, (op, attrs) => {
          const gradient = resolveGradient(op, lookup);
          return "rule" in gradient ? gradient.rule({ inputs, output, grad: cotangent, attrs }) : [];
        }),
      );
      node.inputs.forEach((inputId, k) => {
        if (needs[inputId] !== true) return;
        const result = results[k];
        const inputNode = graph.nodes[inputId];
        if (inputNode === undefined) return;
        if (result === undefined) {
          blockedEdges.add(`${id}:${k}`);
          return;
        }
        if (result.type === undefined) {
          const why = result.diagnostics.map((d) => d.message).join("; ") || "one of its inputs is ill-typed";
          diagnostics.push(error("grad/rule", `grad: the gradient rule of ${node.op}${where(node)} built an ill-typed cotangent for input #${k}: ${why}`, node.loc));
          return;
        }
        if (!shapeEquals(result.type.shape, inputNode.type.shape) || result.type.dtype !== inputNode.type.dtype) {
          diagnostics.push(
            error(
              "grad/rule",
              `grad: the gradient rule of ${node.op}${where(node)} returned ${formatType(result.type)} for input #${k} of type ${formatType(inputNode.type)}`,
              node.loc,
            ),
          );
          return;
        }
        const previous = cotangents[inputId];
        cotangents[inputId] = previous === undefined ? result : withSourceLoc(node.loc, () => add(previous, result));
      });
    }

    for (const target of targets)
      if (cotangents[target.node.id] === undefined && onPath[target.node.id] === true) {
        const explanation = explainMissing(graph, target, onPath, blockedEdges, lookup);
        if (!explanation.cuts.every((id) => reported.has(id)) || explanation.cuts.length === 0) diagnostics.push(explanation.diagnostic);
      }
    if (diagnostics.length > 0) return E.left(diagnostics);

    const outputs = graph.outputs.flatMap((o) => {
      const tensor = tensorAt(o.id);
      return tensor === undefined ? [] : [{ name: o.name, tensor }];
    });
    // a target the loss does not depend on has a zero gradient (as in JAX)
    const gradOutputs = targets.map((target) => ({
      name: gradOutputName(target.name),
      tensor: cotangents[target.node.id] ?? withSourceLoc(target.node.loc, () => full(target.node.type.shape, 0, target.node.type.dtype)),
    }));
    return graphFromTensors(graph.name, [...outputs, ...gradOutputs], tensorAt(lossNode.id));
  };

/**
 * Reverse-mode autodiff: adds an output `grad:<name>` = ∂loss/∂name for every param in
 * `options.wrt` (default: every float param) and every input in `options.inputs`.
 *
 * Left (with the user's locations) when the graph has no loss or a non-scalar one, when a name
 * is unknown or an integer leaf, when a requested leaf reaches the loss only through ops without
 * a gradient (argmax, comparisons, casts to integers), or when an op without a gradient lies on
 * a differentiable path (e.g. the second derivative of the fused cross_entropy).
 */
export const grad: (graph: Graph, options?: GradOptions) => E.Either<Diagnostics, Graph> = gradWith(tableGradient);

/** The names `grad` differentiated, from a graph's `grad:` outputs, in output order. */
export const gradientNames = (graph: Graph): string[] =>
  graph.outputs.filter((o) => o.name.startsWith(GRAD_PREFIX)).map((o) => o.name.slice(GRAD_PREFIX.length));
