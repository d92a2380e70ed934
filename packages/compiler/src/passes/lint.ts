/**
 * @file The loss-math linter: warnings for the softmax / cross-entropy mistakes the seeds make
 * or invite. It runs on the graph as the user wrote it (before `fuse`). Each warning carries the
 * user's location, a one-line why, and the fix.
 *
 * | code                                     | fires on                                                            |
 * |------------------------------------------|---------------------------------------------------------------------|
 * | `lint/double-softmax`                    | softmax / log_softmax of a softmax output                           |
 * | `lint/cross-entropy-on-probabilities`    | cross_entropy of softmax / sigmoid output; BCE-with-logits of sigmoid |
 * | `lint/cross-entropy-on-log-probabilities`| cross_entropy of log_softmax / log_sigmoid output                   |
 * | `lint/nll-on-probabilities`              | nll_loss of softmax / sigmoid / exp output                          |
 * | `lint/nll-on-logits`                     | nll_loss of any other computed value (raw scores)                   |
 * | `lint/nll-dim-mismatch`                  | nll_loss of log_softmax taken over another dim than its class dim   |
 * | `lint/unfused-log-softmax`               | log(softmax) with a shape op in between that `fuse` cannot see through |
 *
 * Shape ops (reshape, transpose, expand) are looked through: they do not change what the
 * values are. `nll_loss` of a leaf (an input, param or constant) is not flagged: graft cannot
 * know where it came from.
 */
import * as E from "fp-ts/lib/Either.js";
import { formatLoc, warning, type Diagnostic, type Diagnostics, type Graph, type Node, type NodeId } from "@graft/core";
import { fuseGraph, type Rewrite } from "./fuse.js";

/** Every lint code this module reports. */
export const lintCodes = [
  "lint/double-softmax",
  "lint/cross-entropy-on-probabilities",
  "lint/cross-entropy-on-log-probabilities",
  "lint/nll-on-probabilities",
  "lint/nll-on-logits",
  "lint/nll-dim-mismatch",
  "lint/unfused-log-softmax",
] as const;

export type LintCode = (typeof lintCodes)[number];

const SHAPE_OPS: ReadonlySet<string> = new Set(["reshape", "transpose", "expand"]);
/** What may sit between softmax and log without changing the values (gather picks some of them). */
const SHAPE_OR_PICK_OPS: ReadonlySet<string> = new Set([...SHAPE_OPS, "gather"]);

/** The producer of `id` once shape ops are skipped, with the shape ops passed on the way. */
interface Source {
  readonly node: Node;
  readonly through: readonly Node[];
}

const sourceOf = (graph: Graph, id: NodeId | undefined, lookThrough: ReadonlySet<string> = SHAPE_OPS): Source | undefined => {
  const through: Node[] = [];
  let node = id === undefined ? undefined : graph.nodes[id];
  while (node !== undefined && lookThrough.has(node.op)) {
    through.push(node);
    const next: NodeId | undefined = node.inputs[0];
    node = next === undefined ? undefined : graph.nodes[next];
  }
  return node === undefined ? undefined : { node, through };
};

const at = (node: Node): string => (node.loc === undefined ? `%${node.id}` : formatLoc(node.loc));

const lint = (code: LintCode, message: string, node: Node, fix: string): Diagnostic => warning(code, message, node.loc, fix);

// ----- rules -------------------------------------------------------------------------------------

const doubleSoftmax = (graph: Graph, node: Node): Diagnostic[] => {
  if (node.op !== "softmax" && node.op !== "log_softmax") return [];
  const source = sourceOf(graph, node.inputs[0]);
  if (source?.node.op !== "softmax") return [];
  return [
    lint(
      "lint/double-softmax",
      `${node.op} applied to the output of softmax (${at(source.node)}): its input is already probabilities in [0, 1], so a second softmax squashes them toward uniform and the loss stops tracking the model`,
      node,
      `apply softmax once: pass the logits (the input of the softmax at ${at(source.node)}) here, or use cross_entropy(logits, target)`,
    ),
  ];
};

const LOG_PROBABILITY_OPS: ReadonlySet<string> = new Set(["log_softmax", "log_sigmoid"]);
const PROBABILITY_OPS: ReadonlySet<string> = new Set(["softmax", "sigmoid"]);

const crossEntropyInput = (graph: Graph, node: Node): Diagnostic[] => {
  if (node.op !== "cross_entropy" && node.op !== "binary_cross_entropy_with_logits") return [];
  const source = sourceOf(graph, node.inputs[0]);
  if (source === undefined) return [];
  const producer = source.node.op;
  const applies = node.op === "cross_entropy" ? "log_softmax" : "log_sigmoid";
  if (PROBABILITY_OPS.has(producer) && (node.op === "cross_entropy" || producer === "sigmoid"))
    return [
      lint(
        "lint/cross-entropy-on-probabilities",
        `${node.op} is fed the output of ${producer} (${at(source.node)}), but it applies ${applies} itself: the probabilities are squashed twice and the gradient vanishes`,
        node,
        `pass the logits (the input of the ${producer} at ${at(source.node)}) to ${node.op}`,
      ),
    ];
  if (node.op === "cross_entropy" && LOG_PROBABILITY_OPS.has(producer))
    return [
      lint(
        "lint/cross-entropy-on-log-probabilities",
        `cross_entropy is fed the output of ${producer} (${at(source.node)}), but it applies log_softmax itself: the ${producer} is redundant work${producer === "log_sigmoid" ? " and changes the loss" : ""}`,
        node,
        producer === "log_softmax" ? "pass the logits to cross_entropy, or use nll_loss(log_softmax(logits, dim), target)" : "pass the logits to cross_entropy",
      ),
    ];
  return [];
};

/** A manual log-softmax: `x − logsumexp(x, d, keepdim)` (shape ops allowed around the logsumexp). */
const isManualLogSoftmax = (graph: Graph, node: Node): boolean => node.op === "sub" && sourceOf(graph, node.inputs[1])?.node.op === "logsumexp";

const LEAF_OPS: ReadonlySet<string> = new Set(["input", "param", "constant"]);

const nllInput = (graph: Graph, node: Node): Diagnostic[] => {
  if (node.op !== "nll_loss") return [];
  const source = sourceOf(graph, node.inputs[0]);
  if (source === undefined) return [];
  const producer = source.node;
  if (producer.op === "log_softmax") {
    // the class dim of nll_loss is in its input's coordinates; only compare when no shape op moved it
    if (source.through.length === 0 && producer.attrs.dim !== node.attrs.dim)
      return [
        lint(
          "lint/nll-dim-mismatch",
          `nll_loss reads classes along dim ${node.attrs.dim}, but the log_softmax at ${at(producer)} normalises along dim ${producer.attrs.dim}: the values are not log-probabilities over the classes`,
          node,
          `use log_softmax(x, ${node.attrs.dim}), or pass dim: ${producer.attrs.dim} to nll_loss`,
        ),
      ];
    return [];
  }
  if (producer.op === "log" || producer.op === "log_sigmoid" || LEAF_OPS.has(producer.op) || isManualLogSoftmax(graph, producer)) return [];
  if (PROBABILITY_OPS.has(producer.op) || producer.op === "exp")
    return [
      lint(
        "lint/nll-on-probabilities",
        `nll_loss expects log-probabilities but is fed the output of ${producer.op} (${at(producer)}), which are probabilities: it computes −p[y] instead of −log p[y]`,
        node,
        producer.op === "softmax" ? "use log_softmax instead of softmax, or cross_entropy on the logits" : "take the log first (log_softmax / log_sigmoid), or use cross_entropy on the logits",
      ),
    ];
  return [
    lint(
      "lint/nll-on-logits",
      `nll_loss expects log-probabilities but is fed the output of ${producer.op} (${at(producer)}), which are not normalised: the loss is −x[y], unbounded below`,
      node,
      "use cross_entropy(logits, target), or nll_loss(log_softmax(logits, dim), target)",
    ),
  ];
};

/** `log(reshape/transpose/expand/gather(… softmax))`, unless `fuse` rewrites it away as part of a loss. */
const unfusedLogSoftmax = (graph: Graph, node: Node, fused: ReadonlySet<NodeId>): Diagnostic[] => {
  if (node.op !== "log" || fused.has(node.id)) return [];
  const source = sourceOf(graph, node.inputs[0], SHAPE_OR_PICK_OPS);
  if (source?.node.op !== "softmax" || source.through.length === 0) return [];
  const ops = [...source.through].reverse().map((n) => n.op);
  return [
    lint(
      "lint/unfused-log-softmax",
      `log of softmax (${at(source.node)}) through ${ops.join(" → ")}: fuse only rewrites log(softmax(x)) directly, so this stays unstable (log(0) = −inf once a probability underflows)`,
      node,
      `apply log_softmax(x, ${source.node.attrs.dim}) before the ${ops[0] ?? "shape op"} instead of log after it, or use cross_entropy / nll_loss`,
    ),
  ];
};

/** Nodes a `fuse` rewrite removes entirely (covered by a rewrite and used only inside it). */
const fusedAway = (graph: Graph, rewrites: readonly Rewrite[]): Set<NodeId> => {
  const users = new Map<NodeId, NodeId[]>();
  for (const node of graph.nodes) for (const input of node.inputs) users.set(input, [...(users.get(input) ?? []), node.id]);
  const outputs = new Set(graph.outputs.map((output) => output.id));
  const away = new Set<NodeId>();
  for (const rewrite of rewrites) {
    const covered = new Set(rewrite.covers);
    for (const id of rewrite.covers)
      if (id === rewrite.root || (!outputs.has(id) && (users.get(id) ?? []).every((user) => covered.has(user)))) away.add(id);
  }
  return away;
};

/**
 * Lints a graph as written (before `fuse`): the warnings in node order. Never fails; an
 * error-free graph is expected (run it after type checking).
 */
export const lintGraph = (graph: Graph): Diagnostics => {
  const fused = fuseGraph(graph);
  // only first-round rewrites are in this graph's ids
  const away = E.isRight(fused) ? fusedAway(graph, fused.right.rewrites.filter((rewrite) => rewrite.round === 0)) : new Set<NodeId>();
  return graph.nodes.flatMap((node) => [...doubleSoftmax(graph, node), ...crossEntropyInput(graph, node), ...nllInput(graph, node), ...unfusedLogSoftmax(graph, node, away)]);
};
