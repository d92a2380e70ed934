/**
 * @file The `mode` pass: specialises a graph to training or evaluation semantics (PyTorch's
 * `module.train()` / `module.eval()`), so that back ends see only plain ops.
 *
 * - `mode_switch(train, eval)` becomes the input of the mode;
 * - `state_update(value, param, next)` becomes `value`; in training mode `next` is collected as
 *   the param's new value (batch norm's running statistics), which the program builder turns
 *   into `update:<param>` outputs and state updates of the training step;
 * - `random_uniform` ops not yet numbered (stream −1, as the DSL makes them) get their `stream`
 *   in graph order, so each draws its own values; in training mode every counter they read is advanced by one per step.
 *
 * A graph without such ops comes back unchanged.
 */
import * as E from "fp-ts/lib/Either.js";
import { add, error, graphFromTensors, makeTensor, withCall, withSourceLoc, type Diagnostic, type Diagnostics, type Graph, type OpAttrs, type Tensor } from "@graft/core";

export type Mode = "train" | "eval";

/**
 * A graph specialised to one mode; in training mode it has an output `update:<param>` with the
 * new value of each state param, listed in `updates`.
 */
export interface ModeResult {
  readonly graph: Graph;
  readonly updates: ReadonlyArray<{ readonly param: string; readonly output: string }>;
}

const MODE_OPS = new Set(["mode_switch", "state_update", "random_uniform"]);

/** True when a graph has mode-dependent or random ops. */
export const hasModeOps = (graph: Graph): boolean => graph.nodes.some((node) => MODE_OPS.has(node.op));

export interface ModeOptions {
  /**
   * Number the unnumbered random ops (default true). The lowering passes false: a graph compiled
   * as written then draws what the reference interpreter draws from it.
   */
  readonly numberStreams?: boolean;
}

/** Specialises `graph` to `mode`, with the state updates of a training step. */
export const specialiseMode = (mode: Mode, options: ModeOptions = {}) => (graph: Graph): E.Either<Diagnostics, ModeResult> => {
  if (!hasModeOps(graph)) return E.right({ graph, updates: [] });
  const tensors: Tensor[] = [];
  const updates = new Map<string, Tensor>();
  const counters = new Map<string, Tensor>();
  const diagnostics: Diagnostic[] = [];
  // streams already numbered (a graph specialised before) keep theirs: the pass is idempotent
  let stream = 1 + Math.max(-1, ...graph.nodes.flatMap((node) => (node.op === "random_uniform" ? [node.attrs.stream] : [])));
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((id) => tensors[id]).filter((t): t is Tensor => t !== undefined);
    const [first, second, third] = inputs;
    const paramName = (id: number | undefined): string | undefined => {
      const source = id === undefined ? undefined : graph.nodes[id];
      return source?.op === "param" ? source.attrs.name : undefined;
    };
    if (node.op === "mode_switch" && first !== undefined && second !== undefined) {
      tensors.push(mode === "train" ? first : second);
      continue;
    }
    if (node.op === "state_update" && first !== undefined && second !== undefined && third !== undefined) {
      const name = paramName(node.inputs[1]);
      if (name === undefined) diagnostics.push(error("mode", `state_update: the state must be a param, got a ${graph.nodes[node.inputs[1] ?? -1]?.op ?? "missing"} node`, node.loc));
      else if (mode === "train") {
        if (updates.has(name)) diagnostics.push(error("mode", `state_update: the state param '${name}' is updated twice in one step`, node.loc));
        updates.set(name, third);
      }
      tensors.push(first);
      continue;
    }
    if (node.op === "random_uniform" && first !== undefined) {
      const name = paramName(node.inputs[0]);
      if (name === undefined) diagnostics.push(error("mode", `random_uniform: the counter must be an i32 param, got a ${graph.nodes[node.inputs[0] ?? -1]?.op ?? "missing"} node`, node.loc));
      else counters.set(name, first);
      tensors.push(makeTensor("random_uniform", node.attrs.stream >= 0 || options.numberStreams === false ? node.attrs : { ...node.attrs, stream: stream++ }, inputs, node.loc));
      continue;
    }
    tensors.push(withCall(node, (op, attrs) => makeTensor(op, attrs as OpAttrs[typeof op], inputs, node.loc)));
  }
  if (mode === "train")
    for (const [name, counter] of counters) {
      if (updates.has(name)) diagnostics.push(error("mode", `the random counter '${name}' is also updated by a state_update`));
      updates.set(name, withSourceLoc(undefined, () => add(counter, 1)));
    }
  if (diagnostics.length > 0) return E.left(diagnostics);
  const outputs = [
    ...graph.outputs.flatMap((output) => {
      const tensor = tensors[output.id];
      return tensor === undefined ? [] : [{ name: output.name, tensor }];
    }),
    ...[...updates].map(([param, tensor]) => ({ name: stateOutputName(param), tensor })),
  ];
  const clash = graph.outputs.find((o) => updates.has(o.name.slice(UPDATE.length)) && o.name.startsWith(UPDATE));
  if (clash !== undefined) return E.left([error("mode", `the model has an output named '${clash.name}', which the training step uses for a state update; rename it`)]);
  return E.map((specialised: Graph): ModeResult => ({ graph: specialised, updates: [...updates.keys()].map((param) => ({ param, output: stateOutputName(param) })) }))(
    graphFromTensors(graph.name, outputs, graph.loss === undefined ? undefined : tensors[graph.loss]),
  );
};

const UPDATE = "update:";

/** The output name of a state param's new value (the optimizers' `update:<name>`). */
export const stateOutputName = (param: string): string => `${UPDATE}${param}`;

/** The graph in `mode` (training mode: with an `update:<param>` output per state update), for `graft print --mode`. */
export const modePass = (mode: Mode) => (graph: Graph): E.Either<Diagnostics, Graph> => E.map((result: ModeResult) => result.graph)(specialiseMode(mode)(graph));
