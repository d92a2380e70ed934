/**
 * @file Which functions may run a batch of any size in chunks: a pure analysis of a graph that
 * follows the batch dim through every node and finds the ops that mix the batch's rows (a
 * reduction over it, a matmul contracting it, a softmax or gather along it, statistics of the
 * batch used by later rows, …). Outputs whose rows stay independent are concatenated from the
 * chunks; a mean or sum over the rows (the loss) is recombined by weighting each chunk by its
 * real rows — by its counted labels for cross-entropy, whose mean skips `ignoreIndex` rows.
 *
 * The result is recorded in a bundle's `info` (`info.functions.forward.batching`) and used by the
 * runtime (runtime/src/batching.ts).
 */
import { formatLoc, type Graph, type Node, type NodeId } from "@graft/core";
import type { Batching, RowCombine } from "@graft/runtime";

/** The symbolic dim that is the batch. */
export const BATCH = "batch";

/** How one node depends on the batch's rows. */
type RowState =
  /** Does not depend on any row (params, constants, inputs without a batch dim, …). */
  | { readonly kind: "free" }
  /** Row i (along `axis`) depends only on row i of the inputs. */
  | { readonly kind: "rows"; readonly axis: number }
  /** An affine function of a mean (or a linear one of a sum) over the rows, weighted as `weight` says. */
  | { readonly kind: "mean" | "sum"; readonly weight: Weight }
  /** Mixes rows: `reason` names the op. */
  | { readonly kind: "coupled"; readonly reason: string };

type Weight = { readonly by: "rows" } | { readonly by: "labels"; readonly input: string; readonly ignoreIndex: number };

const FREE: RowState = { kind: "free" };

const sameWeight = (a: Weight, b: Weight): boolean =>
  a.by === "rows" ? b.by === "rows" : b.by === "labels" && a.input === b.input && a.ignoreIndex === b.ignoreIndex;

const describe = (node: Node): string => `${node.op} (node %${node.id}${node.loc === undefined ? "" : `, ${formatLoc(node.loc)}`})`;

const batchAxis = (node: Node): number => node.type.shape.indexOf(BATCH);

/** The axis of the output that an input's `axis` maps to under right-aligned (NumPy) broadcasting. */
const broadcastAxis = (input: Node, axis: number, output: Node): number => axis + (output.type.shape.length - input.type.shape.length);

/** The state of one node from its inputs' states. */
const nodeState = (graph: Graph, node: Node, states: readonly RowState[]): RowState => {
  const inputs = node.inputs.map((id) => graph.nodes[id]).filter((n): n is Node => n !== undefined);
  const inputStates = node.inputs.map((id) => states[id] ?? FREE);
  const coupled = inputStates.find((state): state is Extract<RowState, { kind: "coupled" }> => state.kind === "coupled");
  if (coupled !== undefined) return coupled;
  const couples = (why: string): RowState => ({ kind: "coupled", reason: `${describe(node)} ${why}` });
  const aggregated = inputStates.find((state) => state.kind === "mean" || state.kind === "sum");
  const outAxis = batchAxis(node);
  const rowsAt = (axis: number): RowState => (axis >= 0 && node.type.shape[axis] === BATCH ? { kind: "rows", axis } : couples("moves the batch dim"));
  /** Elementwise (broadcasting) ops: every batched input's batch dim must land on the output's. */
  const elementwise = (): RowState => {
    if (aggregated !== undefined) return couples("uses a mean or sum over the batch's rows");
    let result: RowState = FREE;
    for (const [index, state] of inputStates.entries()) {
      const input = inputs[index];
      if (state.kind !== "rows" || input === undefined) continue;
      const axis = broadcastAxis(input, state.axis, node);
      if (axis !== outAxis) return couples("broadcasts the batch dim onto another dim");
      result = { kind: "rows", axis };
    }
    return result;
  };
  /** An op applied to a mean/sum and free operands: allowed when it commutes with a weighted average (mean) or a sum. */
  const onAggregate = (addsConstant: boolean): RowState | undefined => {
    if (aggregated === undefined || (aggregated.kind !== "mean" && aggregated.kind !== "sum")) return undefined;
    if (inputStates.some((state) => state.kind === "rows")) return couples("combines a mean or sum over the batch's rows with the rows themselves");
    const others = inputStates.filter((state) => state.kind === "mean" || state.kind === "sum");
    if (others.some((state) => (state.kind !== aggregated.kind || !("weight" in state) || !sameWeight(state.weight, aggregated.weight))))
      return couples("combines means or sums over the batch's rows that are weighted differently");
    if (addsConstant && aggregated.kind === "sum") return couples("adds a constant to a sum over the batch's rows");
    return aggregated;
  };
  // leaves, and nodes of leaves that do not depend on rows: a batch dim there (an input's, or a
  // constant or expand of the batch's shape) has independent (possibly equal) rows
  // random values by element index: a chunk would draw another chunk's values
  if (node.op === "random_uniform" && outAxis >= 0) return couples("draws random values by element index, which change with the chunking");
  if (inputStates.every((state) => state.kind === "free")) return outAxis >= 0 ? { kind: "rows", axis: outAxis } : FREE;

  switch (node.op) {
    case "input":
    case "param":
    case "constant":
    case "arange":
      return FREE; // (leaves have no inputs: handled above)
    case "neg":
      return onAggregate(false) ?? elementwise();
    case "cast":
    case "exp":
    case "log":
    case "sqrt":
    case "abs":
    case "sign":
    case "relu":
    case "sigmoid":
    case "log_sigmoid":
    case "tanh":
    case "erf":
    case "gelu":
    case "silu":
    case "softplus":
    case "leaky_relu":
    case "elu":
    case "hardtanh":
    case "clamp":
    case "pow":
    case "maximum":
    case "minimum":
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge":
    case "where":
    case "tril":
    case "triu":
    case "concat":
      return elementwise();
    case "slice":
    case "pad":
    case "flip": {
      // the batch dim is symbolic, and these ops move only static dims
      const state = inputStates[0];
      if (aggregated !== undefined) return couples("moves elements of a mean or sum over the batch's rows");
      return state !== undefined && state.kind === "rows" ? rowsAt(state.axis) : FREE;
    }
    case "embedding": {
      const [stateIndices, stateWeight] = inputStates;
      if (aggregated !== undefined || stateWeight?.kind === "rows") return couples("looks up rows of a table that depends on the batch");
      return stateIndices?.kind === "rows" ? rowsAt(stateIndices.axis) : FREE;
    }
    case "embedding_backward":
      return couples("sums the batch's rows into embedding rows");
    case "add":
    case "sub": {
      // mean + mean, mean ± constant: still a weighted mean; sum + sum: still a sum
      const both = inputStates.every((state) => state.kind === "mean" || state.kind === "sum");
      return onAggregate(!both) ?? elementwise();
    }
    case "mul":
      return inputStates.filter((state) => state.kind === "mean" || state.kind === "sum").length === 1 ? (onAggregate(false) ?? elementwise()) : elementwise();
    case "div":
      return inputStates[1]?.kind === "free" ? (onAggregate(false) ?? elementwise()) : elementwise();
    case "sum":
    case "mean":
    case "max":
    case "min":
    case "logsumexp": {
      if (aggregated !== undefined) return couples("reduces a mean or sum over the batch's rows");
      const state = inputStates[0];
      if (state === undefined || state.kind !== "rows") return FREE;
      const dims = node.attrs.dims;
      if (dims.includes(state.axis)) {
        if (node.op === "sum" || node.op === "mean") return { kind: node.op, weight: { by: "rows" } };
        return couples(`takes the ${node.op} over the batch dim`);
      }
      return node.attrs.keepdim ? rowsAt(state.axis) : rowsAt(state.axis - dims.filter((dim) => dim < state.axis).length);
    }
    case "argmax": {
      const state = inputStates[0];
      if (aggregated !== undefined) return couples("takes the argmax of a mean or sum over the batch's rows");
      if (state === undefined || state.kind !== "rows") return FREE;
      if (node.attrs.dim === state.axis) return couples("takes the argmax over the batch dim");
      return rowsAt(node.attrs.keepdim || node.attrs.dim > state.axis ? state.axis : state.axis - 1);
    }
    case "dim_size": {
      const state = inputStates[0];
      if (state !== undefined && state.kind === "rows" && node.attrs.dims.includes(state.axis)) return couples("depends on the batch size");
      return FREE;
    }
    case "reshape": {
      const state = inputStates[0];
      if (aggregated !== undefined) return couples("reshapes a mean or sum over the batch's rows");
      if (state === undefined || state.kind !== "rows") return FREE;
      return state.axis === 0 && outAxis === 0 ? { kind: "rows", axis: 0 } : couples("moves the batch dim");
    }
    case "transpose": {
      const state = inputStates[0];
      if (aggregated !== undefined) return couples("transposes a mean or sum over the batch's rows");
      if (state === undefined || state.kind !== "rows") return FREE;
      return rowsAt(node.attrs.perm.indexOf(state.axis));
    }
    case "expand": {
      const state = inputStates[0];
      const input = inputs[0];
      if (aggregated !== undefined) return couples("expands a mean or sum over the batch's rows");
      if (state === undefined || input === undefined || state.kind !== "rows") return outAxis >= 0 ? { kind: "rows", axis: outAxis } : FREE;
      return broadcastAxis(input, state.axis, node) === outAxis ? rowsAt(outAxis) : couples("moves the batch dim");
    }
    case "matmul": {
      if (aggregated !== undefined) return couples("multiplies a mean or sum over the batch's rows");
      const [a, b] = inputs;
      const [stateA, stateB] = inputStates;
      let result: RowState = FREE;
      for (const [input, state, contracted] of [
        [a, stateA, a === undefined ? -1 : a.type.shape.length - 1],
        [b, stateB, b === undefined ? -1 : Math.max(0, b.type.shape.length - 2)],
      ] as const) {
        if (input === undefined || state === undefined || state.kind !== "rows") continue;
        if (state.axis === contracted) return couples("contracts the batch dim (a sum over the batch's rows)");
        const rank = input.type.shape.length;
        // a's rows (second to last), b's columns (last) and the broadcast batch dims keep their place from the right
        const axis = node.type.shape.length - (rank - state.axis);
        if (node.type.shape[axis] !== BATCH || (result.kind === "rows" && result.axis !== axis)) return couples("mixes the batch dims of its operands");
        result = { kind: "rows", axis };
      }
      return result;
    }
    case "one_hot": {
      const state = inputStates[0];
      return state !== undefined && state.kind === "rows" ? rowsAt(state.axis) : FREE;
    }
    case "gather": {
      const [stateX, stateIndex] = inputStates;
      if (aggregated !== undefined) return couples("gathers from a mean or sum over the batch's rows");
      if (stateX?.kind === "rows" && stateX.axis === node.attrs.dim) return couples("gathers along the batch dim (reads other rows)");
      if (stateX?.kind === "rows" && stateIndex?.kind !== "rows") return couples("reads rows of a batched tensor at fixed positions");
      return stateIndex?.kind === "rows" && (stateX?.kind !== "rows" || stateX.axis === stateIndex.axis) ? rowsAt(stateIndex.axis) : couples("mixes the batch dims of its operands");
    }
    case "scatter_add": {
      const [stateIndex, stateSource] = inputStates;
      if (aggregated !== undefined) return couples("scatters a mean or sum over the batch's rows");
      if (stateIndex?.kind === "rows" && stateIndex.axis === node.attrs.dim) return couples("scatters along the batch dim (writes other rows)");
      const axis = stateSource?.kind === "rows" ? stateSource.axis : stateIndex?.kind === "rows" ? stateIndex.axis : -1;
      if (stateIndex?.kind === "rows" && stateSource?.kind === "rows" && stateIndex.axis !== stateSource.axis) return couples("mixes the batch dims of its operands");
      return axis === outAxis ? rowsAt(axis) : couples("moves the batch dim");
    }
    case "conv2d":
    case "conv_transpose2d":
    case "conv1d":
    case "max_pool2d":
    case "max_pool2d_backward":
    case "avg_pool2d":
    case "adaptive_avg_pool2d":
    case "max_pool1d":
    case "avg_pool1d": {
      // image rows: batch dim 0 in, batch dim 0 out; weights and bias must not depend on the batch
      if (aggregated !== undefined) return couples("convolves or pools a mean or sum over the batch's rows");
      const [stateX, ...rest] = inputStates;
      if (stateX?.kind !== "rows" || stateX.axis !== 0) return couples("convolves or pools along the batch dim");
      const batchedRest = node.op === "max_pool2d_backward" ? rest.every((state) => state.kind === "rows" && state.axis === 0) : rest.every((state) => state.kind === "free");
      return batchedRest ? rowsAt(0) : couples("takes a weight that depends on the batch");
    }
    case "conv2d_weight_grad":
      return couples("sums a weight gradient over the batch's rows");
    case "softmax":
    case "log_softmax": {
      const state = inputStates[0];
      if (aggregated !== undefined) return couples("normalises a mean or sum over the batch's rows");
      if (state === undefined || state.kind !== "rows") return FREE;
      return node.attrs.dim === state.axis ? couples("normalises over the batch dim") : rowsAt(state.axis);
    }
    case "cross_entropy":
    case "nll_loss": {
      if (aggregated !== undefined) return couples("takes the loss of a mean or sum over the batch's rows");
      const [stateX, stateTarget, stateWeight] = inputStates;
      const batched = [stateX, stateTarget].find((state): state is Extract<RowState, { kind: "rows" }> => state?.kind === "rows");
      if (batched === undefined) return FREE;
      if (stateWeight !== undefined && stateWeight.kind !== "free") return couples("takes class weights that depend on the batch");
      if (node.attrs.dim === batched.axis) return couples("takes the classes along the batch dim");
      const reduction = node.attrs.reduction;
      if (reduction === "none") return rowsAt(batched.axis === 0 ? 0 : batched.axis - (node.attrs.dim < batched.axis ? 1 : 0));
      if (batched.axis !== 0) return couples("reduces a batch dim that is not the first");
      const byIndex = node.op === "nll_loss" || node.attrs.target === "index";
      if (!byIndex) return { kind: reduction, weight: { by: "rows" } };
      if (node.attrs.weighted) return couples(`averages over the class weights of the batch's labels (reduction ${reduction} with class weights)`);
      const target = inputs[1];
      if (target === undefined || target.op !== "input" || batchAxis(target) !== 0)
        return couples("takes labels computed in the model (not an input), whose ignored rows the runtime cannot count");
      return { kind: reduction, weight: { by: "labels", input: target.attrs.name, ignoreIndex: node.attrs.ignoreIndex } };
    }
    case "binary_cross_entropy_with_logits": {
      if (aggregated !== undefined) return couples("takes the loss of a mean or sum over the batch's rows");
      // elementwise before its reduction: the batch dims of logits and targets must line up from the right
      const fromRight = new Set(inputStates.flatMap((state, index) => (state.kind === "rows" ? [(inputs[index]?.type.shape.length ?? 0) - state.axis] : [])));
      if (fromRight.size > 1) return couples("broadcasts the batch dim onto another dim");
      if (node.attrs.reduction === "none") return rowsAt(node.type.shape.length - ([...fromRight][0] ?? 0));
      return { kind: node.attrs.reduction, weight: { by: "rows" } };
    }
    case "layer_norm":
    case "layer_norm_backward":
    case "attention_softmax":
    case "softmax_backward": {
      // row-local: the batch dim must not be one of the normalized (trailing) dims
      const normalized = node.op === "layer_norm" || node.op === "layer_norm_backward" ? node.attrs.dims : 1;
      const state = elementwise();
      return state.kind === "rows" && state.axis >= node.type.shape.length - normalized ? couples("normalises over the batch dim") : state;
    }
    case "batch_norm_stats":
    case "batch_norm_backward_stats":
      return couples("takes per-channel statistics over the batch's rows");
    case "batch_norm":
      return elementwise();
    case "cross_entropy_backward":
    case "nll_loss_backward":
      return couples("is a gradient (it scales every row by the batch's mean)");
    // programs specialise the mode first (passes/mode.ts); as written, the evaluation semantics
    case "mode_switch":
      return inputStates[1] ?? FREE;
    case "state_update":
      return inputStates[0] ?? FREE;
    case "random_uniform":
      return FREE;
  }
};

/** The state of every node of `graph`, by node id. */
export const rowStates = (graph: Graph): RowState[] => {
  const states: RowState[] = [];
  for (const node of graph.nodes) states.push(nodeState(graph, node, states));
  return states;
};

/**
 * Whether a function (its graph; `updatesState` when it changes state, as a training step does)
 * may run a batch of any size in chunks of its compiled batch sizes, and how each output is
 * assembled from the chunks. Not chunkable when it has no batch dim, changes state, batches an
 * input or output on a dim other than the first, or mixes rows (the reason names the op).
 */
export const batchRows = (graph: Graph, options: { readonly updatesState?: boolean; readonly name?: string } = {}): Batching => {
  const name = options.name ?? "the function";
  if (options.updatesState === true) return { chunkable: false, reason: `${name} updates its state once per batch (an optimizer step)` };
  const inputs = graph.nodes.filter((node): node is Extract<Node, { op: "input" }> => node.op === "input");
  const batched = inputs.filter((node) => batchAxis(node) >= 0);
  if (batched.length === 0) return { chunkable: false, reason: `${name} has no '${BATCH}' dim in its inputs` };
  const notFirst = batched.find((node) => batchAxis(node) !== 0);
  if (notFirst !== undefined) return { chunkable: false, reason: `input ${notFirst.attrs.name} has the batch dim at position ${batchAxis(notFirst)}, not first` };
  const states = rowStates(graph);
  const outputs: Record<string, RowCombine> = {};
  for (const output of graph.outputs) {
    const state = states[output.id as NodeId] ?? FREE;
    switch (state.kind) {
      case "coupled":
        return { chunkable: false, reason: `output ${output.name}: ${state.reason}` };
      case "free":
        outputs[output.name] = { kind: "same" };
        break;
      case "rows":
        if (state.axis !== 0) return { chunkable: false, reason: `output ${output.name} has the batch dim at position ${state.axis}, not first` };
        outputs[output.name] = { kind: "rows" };
        break;
      case "mean":
      case "sum":
        outputs[output.name] = state.weight.by === "rows" ? { kind: state.kind, weight: "rows" } : { kind: state.kind, weight: "labels", input: state.weight.input, ignoreIndex: state.weight.ignoreIndex };
        break;
    }
  }
  return { chunkable: true, inputs: batched.map((node) => node.attrs.name), outputs };
};
