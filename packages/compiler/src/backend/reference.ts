/**
 * @file The reference back end: runs a program with the float64 reference interpreter of
 * @graft/core, rounding every f32 value to float32 after each op (`precision: "f32"`), so an f32
 * program behaves as with float32 storage. It is the executor tests and other back ends are
 * compared against, and it implements the same `Backend` contract: persistent state shared by
 * name across functions, feeds validated before anything runs, all-or-nothing state changes.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  bindDims,
  evaluateGraph,
  error,
  formatShape,
  formatType,
  GraftError,
  graphInputs,
  graphParams,
  initParams,
  roundToF32,
  shapeEquals,
  sizeOf,
  type Diagnostic,
  type Diagnostics,
  type Dtype,
  type Graph,
  type NDArray,
} from "@graft/core";
import { FeedError, toFeedArray, validateLabels } from "@graft/runtime";
import { DEFAULT_MAX_MEMORY_BYTES, formatMemorySize } from "./memory.js";
import { largestParam, paramLocations } from "./program.js";
import { evaluateF32 } from "./reference-f32.js";
import type { Backend, HostArray, HostFeeds, HostTensor, RunOptions, Session, SessionOptions } from "./types.js";
import type { ProgramFunction, ProgramSpec } from "../program/types.js";

/** An i32 input read as class labels: each value must lie in [0, classes) or be `ignoreIndex`. */
export interface LabelInput {
  readonly input: string;
  readonly classes: number;
  readonly ignoreIndex: number | undefined;
}

/**
 * The i32 inputs of a graph that are class labels, with their class count: targets of
 * `cross_entropy` / `nll_loss` (and their backward ops) and labels of `one_hot`, fed directly.
 * Back ends check them before running (PyTorch raises on such labels too).
 */
export const labelInputs = (graph: Graph): LabelInput[] => {
  const found: LabelInput[] = [];
  for (const node of graph.nodes) {
    let target: number | undefined;
    let classes: number | undefined;
    let ignoreIndex: number | undefined;
    if (node.op === "cross_entropy" || node.op === "cross_entropy_backward") {
      if (node.attrs.target !== "index") continue;
      target = node.inputs[1];
      const size = graph.nodes[node.inputs[0] ?? -1]?.type.shape[node.attrs.dim];
      classes = typeof size === "number" ? size : undefined;
      ignoreIndex = node.attrs.ignoreIndex;
    } else if (node.op === "nll_loss" || node.op === "nll_loss_backward") {
      target = node.inputs[1];
      const size = graph.nodes[node.inputs[0] ?? -1]?.type.shape[node.attrs.dim];
      classes = typeof size === "number" ? size : undefined;
      ignoreIndex = node.attrs.ignoreIndex;
    } else if (node.op === "one_hot") {
      target = node.inputs[0];
      classes = node.attrs.numClasses;
    }
    const leaf = target === undefined ? undefined : graph.nodes[target];
    if (leaf === undefined || leaf.op !== "input" || classes === undefined) continue;
    found.push({ input: leaf.attrs.name, classes, ignoreIndex });
  }
  return found;
};

const toHost = (array: NDArray): HostTensor => ({ shape: [...array.shape], dtype: array.dtype, data: hostArray(array.dtype, array.data) });

const hostArray = (dtype: Dtype, data: Float64Array): HostArray => {
  switch (dtype) {
    case "f32":
      return Float32Array.from(data);
    case "f64":
      return Float64Array.from(data);
    case "i32":
      return Int32Array.from(data);
    case "bool":
      return Uint8Array.from(data);
  }
};

const fromHost = (tensor: HostTensor): NDArray => ({ shape: [...tensor.shape], dtype: tensor.dtype, data: Float64Array.from(tensor.data) });

/** A persistent param: its type (static shape) and the first function that declares it. */
export interface StateSlot {
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  readonly declaredIn: string;
}

/** Checks a spec: unique function names, consistent param types, updates that name a param and an output of its type. */
export const checkProgram = (spec: ProgramSpec): E.Either<Diagnostics, ReadonlyMap<string, StateSlot>> => {
  const diagnostics: Diagnostic[] = [];
  const slots = new Map<string, StateSlot>();
  const names = new Set<string>();
  if (spec.functions.length === 0) diagnostics.push(error("program", "program has no functions"));
  for (const fn of spec.functions) {
    if (names.has(fn.name)) diagnostics.push(error("program", `program has two functions named '${fn.name}'`));
    names.add(fn.name);
    for (const node of graphParams(fn.graph)) {
      const shape = node.type.shape.filter((dim): dim is number => typeof dim === "number");
      const existing = slots.get(node.attrs.name);
      if (existing === undefined) slots.set(node.attrs.name, { shape, dtype: node.type.dtype, declaredIn: fn.name });
      else if (!shapeEquals(existing.shape, node.type.shape) || existing.dtype !== node.type.dtype)
        diagnostics.push(
          error(
            "program",
            `param ${node.attrs.name} is ${formatType(node.type)} in function ${fn.name} but ${existing.dtype}${formatShape(existing.shape)} in function ${existing.declaredIn}`,
            node.loc,
          ),
        );
    }
  }
  for (const fn of spec.functions) {
    const params = new Map(graphParams(fn.graph).map((node) => [node.attrs.name, node]));
    for (const update of fn.updates) {
      const param = params.get(update.param);
      const output = fn.graph.outputs.find((o) => o.name === update.output);
      const outputNode = output === undefined ? undefined : fn.graph.nodes[output.id];
      if (param === undefined) diagnostics.push(error("program", `function ${fn.name} updates '${update.param}', which is not one of its params`));
      else if (outputNode === undefined) diagnostics.push(error("program", `function ${fn.name} updates ${update.param} from output '${update.output}', which it does not have`));
      else if (!shapeEquals(param.type.shape, outputNode.type.shape) || param.type.dtype !== outputNode.type.dtype)
        diagnostics.push(
          error("program", `function ${fn.name} updates ${update.param} (${formatType(param.type)}) from output ${update.output} of type ${formatType(outputNode.type)}`),
        );
    }
    const updated = fn.updates.map((u) => u.param);
    const twice = updated.find((name, i) => updated.indexOf(name) !== i);
    if (twice !== undefined) diagnostics.push(error("program", `function ${fn.name} updates ${twice} twice`));
  }
  return diagnostics.length > 0 ? E.left(diagnostics) : E.right(slots);
};

/**
 * Evaluates every node like the core interpreter with `precision: "f32"` (f32 values rounded to
 * float32 after each op), except that f32 reductions, matmuls and the softmax family add in
 * float32 in PyTorch's CPU order (see reference-f32.ts).
 */
export const evaluateReference = (graph: Graph, feeds: Readonly<Record<string, NDArray>>, params: Readonly<Record<string, NDArray>>): E.Either<Diagnostics, NDArray[]> => {
  const missing = graphParams(graph).flatMap((node) => {
    const source = params[node.attrs.name];
    const shape = node.type.shape as readonly number[];
    return source !== undefined && source.data.length === sizeOf(shape)
      ? []
      : [error("param", `param ${node.attrs.name}: expected ${node.type.dtype}${formatShape(shape)}, got ${source === undefined ? "no value" : formatShape(source.shape)}`, node.loc)];
  });
  if (missing.length > 0) return E.left(missing.slice(0, 1));
  return evaluateGraph(graph, feeds, params, { precision: "f32", evaluateNode: evaluateF32 });
};

/** Validates `feeds` against a function's inputs; returns them as interpreter arrays. Throws FeedError. */
const checkFeeds = (fn: ProgramFunction, feeds: HostFeeds): Record<string, NDArray> => {
  const inputs = graphInputs(fn.graph);
  const expected = inputs.map((node) => node.attrs.name);
  for (const name of Object.keys(feeds))
    if (!expected.includes(name))
      throw new FeedError(name, `input ${name}: function ${fn.name} has no input named '${name}' (its inputs: ${expected.join(", ") || "none"})`);
  const bindings = new Map<string, { readonly size: number; readonly by: string }>();
  const arrays: Record<string, NDArray> = {};
  const typed = new Map<string, HostArray>();
  for (const node of inputs) {
    const name = node.attrs.name;
    const want = formatType(node.type);
    const feed = feeds[name];
    if (feed === undefined) throw new FeedError(name, `input ${name}: no value was fed; expected ${want}`);
    if (feed.dtype !== node.type.dtype) throw new FeedError(name, `input ${name}: expected dtype ${node.type.dtype} (${want}), got ${feed.dtype}`);
    if (feed.shape.length !== node.type.shape.length)
      throw new FeedError(name, `input ${name}: expected shape ${formatShape(node.type.shape)}, got ${formatShape(feed.shape)} (rank ${node.type.shape.length} ≠ ${feed.shape.length})`);
    node.type.shape.forEach((dim, axis) => {
      const actual = feed.shape[axis] ?? -1;
      if (!Number.isSafeInteger(actual) || actual < 0) throw new FeedError(name, `input ${name}: invalid shape ${formatShape(feed.shape)}`);
      if (typeof dim === "number") {
        if (dim !== actual) throw new FeedError(name, `input ${name}: expected shape ${formatShape(node.type.shape)}, got ${formatShape(feed.shape)} (dim ${axis}: ${dim} ≠ ${actual})`);
        return;
      }
      const bound = bindings.get(dim);
      if (bound === undefined) bindings.set(dim, { size: actual, by: name });
      else if (bound.size !== actual) throw new FeedError(name, `input ${name}: dim '${dim}' is ${actual} but input ${bound.by} has ${dim} = ${bound.size}`);
    });
    const data = toFeedArray(name, { shape: feed.shape, dtype: node.type.dtype }, feed.data);
    typed.set(name, data);
    arrays[name] = { shape: [...feed.shape], dtype: node.type.dtype, data: Float64Array.from(data) };
  }
  for (const label of labelInputs(fn.graph)) {
    const data = typed.get(label.input);
    if (data instanceof Int32Array) validateLabels(label.input, data, label.classes, label.ignoreIndex);
  }
  return arrays;
};

/** Validates one state entry against its slot. Throws an Error naming it. */
const checkStateEntry = (name: string, slot: StateSlot | undefined, value: HostTensor, known: readonly string[]): NDArray => {
  if (slot === undefined) throw new Error(`setState: the program has no param named '${name}' (params: ${known.join(", ")})`);
  if (value.dtype !== slot.dtype || !shapeEquals(value.shape, slot.shape))
    throw new Error(`setState: param ${name} is ${slot.dtype}${formatShape(slot.shape)}, got ${value.dtype}${formatShape(value.shape)}`);
  try {
    toFeedArray(name, { shape: slot.shape, dtype: slot.dtype }, value.data);
  } catch (thrown) {
    throw new Error(`setState: param ${name}: ${thrown instanceof Error ? thrown.message.replace(/^input [^:]+: /, "") : String(thrown)}`);
  }
  return fromHost(value);
};

/** The float64 values one run of `fn` holds at most (every node), refused above `limit` bytes. */
const referenceMemory = (fn: ProgramFunction, feeds: Readonly<Record<string, NDArray>>, limit: number): Diagnostics => {
  const bound = bindDims(fn.graph, feeds);
  if (E.isLeft(bound)) return [];
  const bytes = fn.graph.nodes.reduce((total, node) => total + node.type.shape.reduce<number>((size, dim) => size * (typeof dim === "number" ? dim : (bound.right.get(dim) ?? 1)), 1) * 8, 0);
  return bytes <= limit
    ? []
    : [error("memory", `${fn.name} would hold ${formatMemorySize(bytes)} of float64 values, more than the memory limit of ${formatMemorySize(limit)} (--max-memory); use smaller feeds or raise the limit`)];
};

class ReferenceSession implements Session {
  readonly backend = "reference" as const;
  private state: Readonly<Record<string, NDArray>>;
  private disposed = false;

  constructor(
    private readonly functions: ReadonlyMap<string, ProgramFunction>,
    private readonly slots: ReadonlyMap<string, StateSlot>,
    initial: Readonly<Record<string, NDArray>>,
    private readonly maxMemory: number,
  ) {
    this.state = initial;
  }

  private alive(): void {
    if (this.disposed) throw new Error("reference session: used after dispose()");
  }

  run(name: string, feeds: HostFeeds, options: RunOptions = {}): Record<string, HostTensor> {
    this.alive();
    const fn = this.functions.get(name);
    if (fn === undefined) throw new Error(`reference session: no function named '${name}' (functions: ${[...this.functions.keys()].join(", ")})`);
    const arrays = checkFeeds(fn, feeds);
    const tooBig = referenceMemory(fn, arrays, this.maxMemory);
    if (tooBig.length > 0) throw new GraftError(tooBig);
    const result = evaluateReference(fn.graph, arrays, this.state);
    if (E.isLeft(result)) throw new GraftError(result.left);
    const values = result.right;
    const outputs: Record<string, NDArray> = {};
    for (const output of fn.graph.outputs) {
      const value = values[output.id];
      if (value !== undefined) outputs[output.name] = value;
    }
    const next: Record<string, NDArray> = { ...this.state };
    for (const update of fn.updates) {
      const value = outputs[update.output];
      if (value !== undefined) next[update.param] = value;
    }
    this.state = next;
    // like the compiled sessions: state-update outputs are applied, not returned
    const updateSources = new Set(fn.updates.map((update) => update.output));
    const fetch = options.fetch;
    return Object.fromEntries(
      Object.entries(outputs)
        .filter(([key]) => !updateSources.has(key) && (fetch === undefined || fetch.includes(key)))
        .map(([key, value]) => [key, toHost(value)]),
    );
  }

  getState(): Record<string, HostTensor> {
    this.alive();
    return Object.fromEntries(Object.entries(this.state).map(([name, value]) => [name, toHost(value)]));
  }

  setState(values: Readonly<Record<string, HostTensor>>): void {
    this.alive();
    const known = [...this.slots.keys()];
    const checked = Object.entries(values).map(([name, value]) => [name, checkStateEntry(name, this.slots.get(name), value, known)] as const);
    this.state = { ...this.state, ...Object.fromEntries(checked) };
  }

  dispose(): void {
    this.disposed = true;
  }
}

/** The reference back end (float64 interpreter with float32 rounding of f32 values). */
export const referenceBackend: Backend = {
  name: "reference",
  supports: (spec: ProgramSpec): Diagnostics => {
    const checked = checkProgram(spec);
    return E.isLeft(checked) ? checked.left : [];
  },
  createSession: (spec: ProgramSpec, options: SessionOptions = {}): Promise<Session> => {
    const checked = checkProgram(spec);
    if (E.isLeft(checked)) return Promise.reject(new GraftError(checked.left));
    const maxMemory = options.maxMemory ?? DEFAULT_MAX_MEMORY_BYTES;
    // the interpreter holds every value in float64
    const paramSizes = new Map(spec.functions.flatMap((fn) => graphParams(fn.graph).map((node) => [node.attrs.name, sizeOf(node.type.shape as readonly number[])] as const)));
    const stateBytes = [...paramSizes.values()].reduce((total, size) => total + size * 8, 0);
    if (stateBytes > maxMemory) {
      const largest = largestParam(
        [...paramSizes].map(([name, size]) => ({ name, size })),
        paramLocations(spec.functions.map((fn) => fn.graph)),
      );
      return Promise.reject(new GraftError([error("memory/state", `the program's params need ${formatMemorySize(stateBytes)} as float64, more than the memory limit of ${formatMemorySize(maxMemory)} (--max-memory)`, largest?.loc)]));
    }
    const initial: Record<string, NDArray> = {};
    for (const fn of spec.functions) for (const [name, value] of Object.entries(initParams(fn.graph, options.seed ?? 0))) initial[name] ??= value.dtype === "f32" ? { ...value, data: roundToF32(value.data) } : value;
    return Promise.resolve(new ReferenceSession(new Map(spec.functions.map((fn) => [fn.name, fn])), checked.right, initial, maxMemory));
  },
};
