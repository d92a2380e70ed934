/**
 * @file The canonicalize/fuse pass (`fuse`): recognises the ways the seeds write the softmax
 * cross-entropy and rewrites each into the stable fused ops.
 *
 * | pattern (signs: `neg` or `mul` by a constant −1, anywhere)              | rewritten to                    |
 * |-------------------------------------------------------------------------|---------------------------------|
 * | `log(softmax(x, d))`                                                    | `log_softmax(x, d)`             |
 * | `nll_loss(log_softmax(x, d), y, {dim: d, …})` (or `log(softmax)`)       | `cross_entropy(x, y, {…})`      |
 * | `−mean(sum(one_hot(y, C) * log_softmax(x, d), d))`, `−sum(sum(…, d))`, `−sum(…)` | `cross_entropy(x, y)` (mean / sum) |
 * | one-hot built as `scatter_add(shape(x), d, unsqueeze(y, d), 1)`          | same                            |
 * | `−mean(log(gather(softmax(x, d), d, unsqueeze(y, d))))` and `pick`, or `sum` | `cross_entropy(x, y)` (mean / sum) |
 *
 * A rewrite fires only when it is exactly equivalent: the class dim of the softmax is the dim
 * the one-hot / gather / nll reads, the reductions cover every dim, the one-hot has x's class
 * count, shapes match without broadcasting, and the total sign is negative. Otherwise the graph
 * is left alone. Intermediates used elsewhere stay for their other users; everything no output
 * reaches any more is removed. Rewritten nodes keep the user's location of the node they replace.
 *
 * Domain: the one-hot and gather forms are rewritten to `cross_entropy` with PyTorch's defaults
 * (ignore_index −100), so the two agree on every label in [0, C) — the domain of the seed's
 * `scatter_` / `y_hat[range(n), y]`, which raise outside it. For a label outside [0, C) the
 * fused form raises a "target at row r is v" error (so does graft's gather; graft's `one_hot`
 * silently gives a zero row), except −100, which it ignores (pinned in test/fuse.test.ts).
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import {
  graphFromTensors,
  makeTensor,
  shapeEquals,
  withCall,
  type CrossEntropyAttrs,
  type Diagnostics,
  type Graph,
  type Node,
  type NodeId,
  type Reduction,
  type Shape,
  type SourceLoc,
  type Tensor,
} from "@graft/core";
import type { Pass } from "./index.js";

// ----- model -----------------------------------------------------------------------------------

/** The name of each rewrite rule, as reported in {@link FuseResult.rewrites}. */
export type FuseRule = "log-softmax" | "nll-to-cross-entropy" | "one-hot-to-cross-entropy" | "gather-to-cross-entropy";

/** One rewrite that took effect, in the node ids of the graph its round started from. */
export interface Rewrite {
  readonly rule: FuseRule;
  /** 0 for rewrites of the input graph itself; later rounds see the previous round's output. */
  readonly round: number;
  /** The node that was replaced (its value is now computed by the fused op). */
  readonly root: NodeId;
  /** Every node of the matched pattern, the root included. */
  readonly covers: readonly NodeId[];
  /** The user's location the fused node carries. */
  readonly loc: SourceLoc | undefined;
}

/** The fused graph and the rewrites that took effect. */
export interface FuseResult {
  readonly graph: Graph;
  readonly rewrites: readonly Rewrite[];
}

/** A match: what to build instead of `root`, from the new handles of the nodes in `reads`. */
interface Match {
  readonly rule: FuseRule;
  readonly covers: readonly NodeId[];
  /** Input-graph nodes the replacement reads. */
  readonly reads: readonly NodeId[];
  readonly build: (handle: (id: NodeId) => Tensor | undefined, loc: SourceLoc | undefined) => Tensor | undefined;
}

// ----- pattern helpers -----------------------------------------------------------------------------

const nodeAt = (graph: Graph, id: NodeId | undefined): Node | undefined => (id === undefined ? undefined : graph.nodes[id]);

/** True when an odd number of the flags are set (the product of the signs is negative). */
const odd = (flags: readonly boolean[]): boolean => flags.filter(Boolean).length % 2 === 1;

/** A constant −1 that broadcasts without growing its partner (scalar or all-ones shape). */
const isMinusOne = (node: Node | undefined): boolean =>
  node !== undefined && node.op === "constant" && node.attrs.value.length === 1 && node.attrs.value[0] === -1 && node.type.shape.every((dim) => dim === 1);

/** A node reached through sign flips: the id underneath, whether an odd number was peeled, and the peeled nodes. */
interface Signed {
  readonly id: NodeId;
  readonly negative: boolean;
  readonly covers: readonly NodeId[];
}

/**
 * Peels `neg(·)` and `mul(·, −1)` off `id` (and `reshape` when `throughReshape`, which is exact
 * only under a reduction over every dim).
 */
const peel = (graph: Graph, id: NodeId, throughReshape = false): Signed => {
  let current = id;
  let negative = false;
  const covers: NodeId[] = [];
  for (;;) {
    const node = nodeAt(graph, current);
    if (node === undefined) break;
    let next: NodeId | undefined;
    if (node.op === "neg") next = node.inputs[0];
    else if (node.op === "mul") {
      const [a, b] = node.inputs;
      const other = isMinusOne(nodeAt(graph, a)) ? b : isMinusOne(nodeAt(graph, b)) ? a : undefined;
      const otherNode = nodeAt(graph, other);
      if (otherNode !== undefined && shapeEquals(otherNode.type.shape, node.type.shape)) next = other;
    } else if (throughReshape && node.op === "reshape") {
      covers.push(current);
      current = node.inputs[0] ?? current;
      if (current === node.id) break;
      continue;
    }
    if (next === undefined) break;
    covers.push(current);
    current = next;
    negative = !negative;
  }
  return { id: current, negative, covers };
};

/** `log_softmax(x, d)` or `log(softmax(x, d))`: the logits and the class dim. */
interface LogProb {
  readonly logits: NodeId;
  readonly dim: number;
  readonly covers: readonly NodeId[];
}

const logProbOf = (graph: Graph, id: NodeId | undefined): LogProb | undefined => {
  const node = nodeAt(graph, id);
  if (node === undefined) return undefined;
  if (node.op === "log_softmax") {
    const logits = node.inputs[0];
    return logits === undefined ? undefined : { logits, dim: node.attrs.dim, covers: [node.id] };
  }
  if (node.op === "log") {
    const inner = nodeAt(graph, node.inputs[0]);
    const logits = inner?.inputs[0];
    if (inner?.op === "softmax" && logits !== undefined) return { logits, dim: inner.attrs.dim, covers: [node.id, inner.id] };
  }
  return undefined;
};

/** A sum or mean over every dim of its input (a scalar input with no dims counts). */
const reducesAll = (graph: Graph, node: Node): node is Extract<Node, { op: "sum" | "mean" }> => {
  if (node.op !== "sum" && node.op !== "mean") return false;
  const rank = nodeAt(graph, node.inputs[0])?.type.shape.length;
  return rank !== undefined && node.attrs.dims.length === rank;
};

/** The shape of x without its class dim: the per-row shape and the shape of the labels. */
const rowsShape = (shape: Shape, dim: number): Shape => shape.filter((_, axis) => axis !== dim);

/** A one-hot encoding of integer labels along class dim `dim` with `classes` classes. */
interface OneHot {
  readonly dim: number;
  readonly classes: number;
  /** The labels (shape: the one-hot's without `dim`), or an index tensor to reshape to it. */
  readonly labels: NodeId;
  readonly covers: readonly NodeId[];
}

const oneHotOf = (graph: Graph, id: NodeId): OneHot | undefined => {
  const node = nodeAt(graph, id);
  if (node === undefined) return undefined;
  if (node.op === "one_hot") {
    const labels = node.inputs[0];
    return labels === undefined ? undefined : { dim: node.type.shape.length - 1, classes: node.attrs.numClasses, labels, covers: [node.id] };
  }
  // PyTorch's zeros_like(p).scatter_(d, y.unsqueeze(d), 1): one 1 per row, no duplicates
  if (node.op === "scatter_add") {
    const [index, source] = node.inputs;
    const indexNode = nodeAt(graph, index);
    const sourceNode = nodeAt(graph, source);
    const classes = node.attrs.shape[node.attrs.dim];
    if (indexNode === undefined || sourceNode?.op !== "constant" || typeof classes !== "number") return undefined;
    const ones = sourceNode.attrs.value.length > 0 && sourceNode.attrs.value.every((v) => v === 1);
    if (!ones || indexNode.type.shape[node.attrs.dim] !== 1) return undefined;
    return { dim: node.attrs.dim, classes, labels: indexNode.id, covers: [node.id, sourceNode.id] };
  }
  return undefined;
};

/** Labels of shape `rows`: `id` itself, the input of the `unsqueeze` that made `id`, or `id` reshaped. */
const labelsFor = (graph: Graph, id: NodeId, rows: Shape): { readonly id: NodeId; readonly reshape: boolean } => {
  const node = nodeAt(graph, id);
  if (node === undefined || shapeEquals(node.type.shape, rows)) return { id, reshape: false };
  const inner = nodeAt(graph, node.inputs[0]);
  if (node.op === "reshape" && inner !== undefined && shapeEquals(inner.type.shape, rows)) return { id: inner.id, reshape: false };
  return { id, reshape: true };
};

const crossEntropyAttrs = (dim: number, reduction: Reduction, ignoreIndex = -100, weighted = false): CrossEntropyAttrs => ({
  dim,
  reduction,
  ignoreIndex,
  weighted,
  labelSmoothing: 0,
  target: "index",
});

/** Builds `cross_entropy(x, labels)` (reshaping the labels when they come as an unsqueezed index). */
const buildCrossEntropy =
  (graph: Graph, logits: NodeId, labels: NodeId, attrs: CrossEntropyAttrs, weight?: NodeId): Match["build"] =>
  (handle, loc) => {
    const x = handle(logits);
    const rows = rowsShape(nodeAt(graph, logits)?.type.shape ?? [], attrs.dim);
    const label = labelsFor(graph, labels, rows);
    const y = handle(label.id);
    const w = weight === undefined ? undefined : handle(weight);
    if (x === undefined || y === undefined || (weight !== undefined && w === undefined)) return undefined;
    const target = label.reshape ? makeTensor("reshape", { shape: rows }, [y], loc) : y;
    return makeTensor("cross_entropy", attrs, w === undefined ? [x, target] : [x, target, w], loc);
  };

const labelsRead = (graph: Graph, logits: NodeId, labels: NodeId, dim: number): NodeId =>
  labelsFor(graph, labels, rowsShape(nodeAt(graph, logits)?.type.shape ?? [], dim)).id;

// ----- rules -------------------------------------------------------------------------------------

/** `log(softmax(x, d))` → `log_softmax(x, d)`. */
const matchLogSoftmax = (graph: Graph, node: Node): Match | undefined => {
  if (node.op !== "log") return undefined;
  const found = logProbOf(graph, node.id);
  if (found === undefined) return undefined;
  return {
    rule: "log-softmax",
    covers: found.covers,
    reads: [found.logits],
    build: (handle, loc) => {
      const x = handle(found.logits);
      return x === undefined ? undefined : makeTensor("log_softmax", { dim: found.dim }, [x], loc);
    },
  };
};

/** `nll_loss(log_softmax(x, d), y, opts)` with the class dim d → `cross_entropy(x, y, opts)`. */
const matchNll = (graph: Graph, node: Node): Match | undefined => {
  if (node.op !== "nll_loss") return undefined;
  const [input, target, weight] = node.inputs;
  const found = logProbOf(graph, input);
  if (found === undefined || target === undefined || found.dim !== node.attrs.dim) return undefined;
  const attrs = crossEntropyAttrs(node.attrs.dim, node.attrs.reduction, node.attrs.ignoreIndex, node.attrs.weighted);
  return {
    rule: "nll-to-cross-entropy",
    covers: [node.id, ...found.covers],
    reads: [found.logits, target, ...(weight === undefined ? [] : [weight])],
    build: buildCrossEntropy(graph, found.logits, target, attrs, weight),
  };
};

/** A sum/mean over every dim under optional sign flips: the reduction, the sign and its input. */
interface Reduced {
  readonly reduction: "sum" | "mean";
  readonly negative: boolean;
  readonly input: NodeId;
  readonly covers: readonly NodeId[];
}

const reducedAll = (graph: Graph, node: Node): Reduced | undefined => {
  const top = peel(graph, node.id);
  const reduce = nodeAt(graph, top.id);
  const input = reduce?.inputs[0];
  if (reduce === undefined || input === undefined || !reducesAll(graph, reduce)) return undefined;
  return { reduction: reduce.op, negative: top.negative, input, covers: [...top.covers, reduce.id] };
};

/**
 * The seeds' low-level form: `mean(sum(one_hot(y) * -log(softmax(x, d)), d))` and its sign
 * variants; `sum(sum(…, d))` and a single `sum(…)` over every dim give reduction sum.
 */
const matchOneHot = (graph: Graph, node: Node): Match | undefined => {
  const outer = reducedAll(graph, node);
  if (outer === undefined) return undefined;
  // optional inner sum over the class dim
  const middle = peel(graph, outer.input);
  const middleNode = nodeAt(graph, middle.id);
  const inner = middleNode?.op === "sum" && middleNode.attrs.dims.length === 1 ? middleNode : undefined;
  const productSigned = inner === undefined ? middle : peel(graph, inner.inputs[0] ?? -1);
  const product = nodeAt(graph, productSigned.id);
  if (product?.op !== "mul") return undefined;
  // without an inner sum, only a sum over everything is a cross-entropy reduction
  if (inner === undefined && outer.reduction !== "sum") return undefined;
  const [a, b] = product.inputs;
  if (a === undefined || b === undefined) return undefined;
  for (const [first, second] of [
    [a, b],
    [b, a],
  ] as const) {
    const hotSigned = peel(graph, first);
    const logSigned = peel(graph, second);
    const hot = oneHotOf(graph, hotSigned.id);
    const logProb = logProbOf(graph, logSigned.id);
    if (hot === undefined || logProb === undefined) continue;
    const logits = nodeAt(graph, logProb.logits);
    const hotNode = nodeAt(graph, hotSigned.id);
    if (logits === undefined || hotNode === undefined) continue;
    const shape = logits.type.shape;
    const exact =
      hot.dim === logProb.dim &&
      shape[logProb.dim] === hot.classes &&
      (inner === undefined || inner.attrs.dims[0] === logProb.dim) &&
      shapeEquals(product.type.shape, shape) &&
      shapeEquals(hotNode.type.shape, shape) &&
      odd([outer.negative, middle.negative, inner !== undefined && productSigned.negative, hotSigned.negative, logSigned.negative]);
    if (!exact) continue;
    const labels = labelsRead(graph, logProb.logits, hot.labels, logProb.dim);
    return {
      rule: "one-hot-to-cross-entropy",
      covers: [
        ...outer.covers,
        ...middle.covers,
        ...(inner === undefined ? [] : [inner.id, ...productSigned.covers]),
        product.id,
        ...hotSigned.covers,
        ...hot.covers,
        ...logSigned.covers,
        ...logProb.covers,
      ],
      reads: [logProb.logits, labels],
      build: buildCrossEntropy(graph, logProb.logits, hot.labels, crossEntropyAttrs(logProb.dim, outer.reduction)),
    };
  }
  return undefined;
};

/** `−mean(log(gather(softmax(x, d), d, unsqueeze(y, d))))`, `pick`, `gather(log_softmax)`, or with `sum`. */
const matchGather = (graph: Graph, node: Node): Match | undefined => {
  const outer = reducedAll(graph, node);
  if (outer === undefined) return undefined;
  // reshapes (pick's squeeze) are exact here: the reduction covers every element
  const picked = peel(graph, outer.input, true);
  const pickedNode = nodeAt(graph, picked.id);
  let gatherSigned: Signed;
  let logNode: Node | undefined;
  if (pickedNode?.op === "log") {
    gatherSigned = peel(graph, pickedNode.inputs[0] ?? -1, true);
    if (gatherSigned.negative) return undefined; // log of a negated probability
    logNode = pickedNode;
  } else gatherSigned = { id: picked.id, negative: false, covers: [] };
  const gathered = nodeAt(graph, gatherSigned.id);
  if (gathered?.op !== "gather") return undefined;
  const [source, index] = gathered.inputs;
  const indexNode = nodeAt(graph, index);
  if (source === undefined || indexNode === undefined || indexNode.type.shape[gathered.attrs.dim] !== 1) return undefined;
  let logits: NodeId;
  let dim: number;
  let sourceCovers: readonly NodeId[];
  const sourceNode = nodeAt(graph, source);
  if (logNode !== undefined) {
    const probsInput = sourceNode?.inputs[0];
    if (sourceNode?.op !== "softmax" || probsInput === undefined) return undefined;
    logits = probsInput;
    dim = sourceNode.attrs.dim;
    sourceCovers = [sourceNode.id];
  } else {
    const found = logProbOf(graph, source);
    if (found === undefined) return undefined;
    logits = found.logits;
    dim = found.dim;
    sourceCovers = found.covers;
  }
  if (dim !== gathered.attrs.dim || !odd([outer.negative, picked.negative])) return undefined;
  return {
    rule: "gather-to-cross-entropy",
    covers: [...outer.covers, ...picked.covers, ...(logNode === undefined ? [] : [logNode.id]), ...gatherSigned.covers, gathered.id, ...sourceCovers],
    reads: [logits, labelsRead(graph, logits, indexNode.id, dim)],
    build: buildCrossEntropy(graph, logits, indexNode.id, crossEntropyAttrs(dim, outer.reduction)),
  };
};

const rules: ReadonlyArray<(graph: Graph, node: Node) => Match | undefined> = [matchNll, matchOneHot, matchGather, matchLogSoftmax];

// ----- rewriting ---------------------------------------------------------------------------------

/** The first rule matching at each node. */
const findMatches = (graph: Graph): ReadonlyMap<NodeId, Match> => {
  const matches = new Map<NodeId, Match>();
  for (const node of graph.nodes) {
    for (const rule of rules) {
      const match = rule(graph, node);
      if (match !== undefined) {
        matches.set(node.id, match);
        break;
      }
    }
  }
  return matches;
};

/** Replaced roots the outputs still reach once every match is applied (outermost matches hide inner ones). */
const liveRoots = (graph: Graph, matches: ReadonlyMap<NodeId, Match>): NodeId[] => {
  const seen = new Set<NodeId>();
  const stack = graph.outputs.map((output) => output.id);
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(matches.get(id)?.reads ?? nodeAt(graph, id)?.inputs ?? []));
  }
  return [...matches.keys()].filter((id) => seen.has(id)).sort((p, q) => p - q);
};

/** Rebuilds the graph in node order with `replace` substituted, keeping locations; unreachable nodes drop out. */
const rebuild = (graph: Graph, matches: ReadonlyMap<NodeId, Match>): E.Either<Diagnostics, { readonly graph: Graph; readonly applied: readonly NodeId[] }> => {
  const handles: Array<Tensor | undefined> = [];
  const handle = (id: NodeId): Tensor | undefined => handles[id];
  const applied: NodeId[] = [];
  for (const node of graph.nodes) {
    const match = matches.get(node.id);
    const replacement = match?.build(handle, node.loc);
    // exactness guard: the fused value must have the replaced node's dtype and element count
    const fitted = replacement?.type === undefined || replacement.type.dtype !== node.type.dtype ? undefined : fitShape(replacement, node);
    if (fitted !== undefined) {
      handles.push(fitted);
      applied.push(node.id);
      continue;
    }
    const inputs = node.inputs.map(handle).filter((t): t is Tensor => t !== undefined);
    handles.push(withCall(node, (op, attrs) => makeTensor(op, attrs, inputs, node.loc)));
  }
  const outputs = graph.outputs.map((output) => ({ name: output.name, tensor: handle(output.id) })).filter((o): o is { name: string; tensor: Tensor } => o.tensor !== undefined);
  const loss = graph.loss === undefined ? undefined : handle(graph.loss);
  return pipe(
    graphFromTensors(graph.name, outputs, loss),
    E.map((rebuilt) => ({ graph: rebuilt, applied })),
  );
};

/** A scalar loss computed with keepdim reductions has shape [1, …]: reshape the fused scalar back. */
const fitShape = (replacement: Tensor, node: Node): Tensor | undefined => {
  if (replacement.type === undefined) return undefined;
  if (shapeEquals(replacement.type.shape, node.type.shape)) return replacement;
  const ones = (shape: Shape): boolean => shape.every((dim) => dim === 1);
  return ones(replacement.type.shape) && ones(node.type.shape) ? makeTensor("reshape", { shape: node.type.shape }, [replacement], node.loc) : undefined;
};

const MAX_ROUNDS = 4;

/**
 * Runs the rewrites to a fixpoint and reports which took effect (in the ids of the graph each
 * round started from; rounds after the first are rare and only add to the list).
 */
export const fuseGraph = (graph: Graph): E.Either<Diagnostics, FuseResult> => {
  let current = graph;
  const rewrites: Rewrite[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const matches = findMatches(current);
    const live = new Map<NodeId, Match>();
    for (const id of liveRoots(current, matches)) {
      const match = matches.get(id);
      if (match !== undefined) live.set(id, match);
    }
    const rebuilt = rebuild(current, live);
    if (E.isLeft(rebuilt)) return rebuilt;
    const source = current;
    rewrites.push(
      ...rebuilt.right.applied.flatMap((root): Rewrite[] => {
        const match = live.get(root);
        return match === undefined ? [] : [{ rule: match.rule, round, root, covers: match.covers, loc: source.nodes[root]?.loc }];
      }),
    );
    current = rebuilt.right.graph;
    if (rebuilt.right.applied.length === 0) break;
  }
  return E.right({ graph: current, rewrites });
};

/** The `fuse` pass: {@link fuseGraph} without the report. */
export const fuse: Pass = (graph) => E.map((result: FuseResult) => result.graph)(fuseGraph(graph));
