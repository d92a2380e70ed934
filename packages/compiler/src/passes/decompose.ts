/**
 * @file The `decompose` pass: expands every composite op (a row with `decompose`) that the back
 * end does not compute as a fused kernel into the ops of its definition, until only primitives
 * and fused composites remain. The expansion is built with the DSL at the composite's source
 * location, so diagnostics and `print --locations` still point at the user's line. A graph
 * without such composites is returned as it is.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  compositeNames,
  error,
  formatType,
  graphFromTensors,
  rowOf,
  withCall,
  withSourceLoc,
  makeTensor,
  type Decompose,
  type Diagnostics,
  type Graph,
  type OpAttrs,
  type OpName,
  type Tensor,
} from "@graft/core";

/** The composites a back end computes as fused kernels (every other composite is expanded before it sees the graph). */
export type FusedComposites = ReadonlySet<OpName>;

/** Expansions nest (a composite may be defined with another); deeper than this is a cycle in the table. */
const MAX_DEPTH = 16;

/** Looks up an op's definition; `decompose` uses the op table's, tests may inject others. */
export type DefinitionLookup = <K extends OpName>(op: K) => Decompose<K> | undefined;

const tableDefinition: DefinitionLookup = (op) => rowOf(op).decompose;

/** One round: every composite node not in `fused` replaced by its definition. */
const expandOnce = (graph: Graph, fused: FusedComposites, definitionOf: DefinitionLookup): E.Either<Diagnostics, Graph> => {
  const tensors: Tensor[] = [];
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((id) => tensors[id]).filter((t): t is Tensor => t !== undefined);
    const tensor = withSourceLoc(node.loc, () =>
      withCall(node, (op, attrs) => {
        const definition = definitionOf(op);
        return definition !== undefined && !fused.has(op) ? definition(inputs, attrs) : makeTensor(op, attrs as OpAttrs[typeof op], inputs, node.loc);
      }),
    );
    if (tensor.type !== undefined && formatType(tensor.type) !== formatType(node.type))
      return E.left([error("internal", `decompose: the definition of ${node.op} built ${formatType(tensor.type)} for a node of type ${formatType(node.type)}`, node.loc)]);
    tensors.push(tensor);
  }
  const outputs = graph.outputs.flatMap((output) => {
    const tensor = tensors[output.id];
    return tensor === undefined ? [] : [{ name: output.name, tensor }];
  });
  return graphFromTensors(graph.name, outputs, graph.loss === undefined ? undefined : tensors[graph.loss]);
};

/** `decompose` with an explicit definition lookup (the op table's in `decompose`); exposed for tests. */
export const decomposeWith =
  (definitionOf: DefinitionLookup) =>
  (fused: FusedComposites) =>
  (graph: Graph): E.Either<Diagnostics, Graph> => {
    const expandsHere = (op: OpName): boolean => definitionOf(op) !== undefined && !fused.has(op);
    let current = graph;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      if (!current.nodes.some((node) => expandsHere(node.op))) return E.right(current);
      const next = expandOnce(current, fused, definitionOf);
      if (E.isLeft(next)) return next;
      current = next.right;
    }
    const left = [...new Set(current.nodes.filter((node) => expandsHere(node.op)).map((node) => node.op))];
    return E.left([error("internal", `decompose: ${left.join(", ")} still composite after ${MAX_DEPTH} expansions (a definition that uses itself?)`)]);
  };

/**
 * The pass for a back end that fuses `fused`: expands every other composite (and the composites
 * their definitions use) into primitives. Pure; a graph with nothing to expand comes back unchanged.
 */
export const decompose: (fused: FusedComposites) => (graph: Graph) => E.Either<Diagnostics, Graph> = decomposeWith(tableDefinition);

/** Every composite of the op table (a back end that computes every row itself, like the reference interpreter). */
export const allComposites: FusedComposites = new Set(compositeNames);
