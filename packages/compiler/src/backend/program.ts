/**
 * @file Compiling a ProgramSpec for a back end: specialise each function to the concrete dims of
 * its feeds (cached), lower it to kernels, plan memory, and hand the plan to the back end's code
 * generator. Sessions share one arena whose state region is fixed for all specialisations.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { bindDims, error, GraftError, graphParams, initParams, stridesOf, type Diagnostics, type Dtype, type Graph, type SourceLoc } from "@graft/core";
import { readSlot, runFunction, writeSlot, type Arena, type ArenaDtype, type FeedArray, type FunctionImage, type Slot } from "@graft/runtime";
import { lowerGraph, type LoweredFunction } from "./lower.js";
import { kernelWrites } from "./kernels.js";
import { updateInPlace } from "./rewrites.js";
import { DEFAULT_MAX_MEMORY_BYTES, ELEMENT_BYTES, formatMemorySize, planMemory, planState, type MemoryPlan, type StateLayout } from "./memory.js";
import type { BackendName, HostArray, HostFeeds, HostTensor, RunOptions, Session, SessionOptions } from "./types.js";
import type { ProgramFunction, ProgramSpec, StateUpdate } from "../program/types.js";

/** A function lowered and placed in memory at concrete dims: everything a code generator needs. */
export { planState };

export interface FunctionPlan {
  readonly name: string;
  /** The bindings of symbolic dims, as a cache key. */
  readonly key: string;
  readonly lowered: LoweredFunction;
  readonly memory: MemoryPlan;
  /** Kernels the `in-place` rewrite made write straight into their param (see rewrites.ts). */
  readonly inPlace: readonly number[];
  /** The runtime image without its `run` (added by the back end). */
  readonly image: Omit<FunctionImage, "run">;
}

const arenaDtype = (dtype: Dtype): ArenaDtype => (dtype === "f64" ? "f32" : dtype);

/** The persistent state of a program: every param of every function, by name. */
export const programState = (spec: ProgramSpec): StateLayout =>
  planState(spec.functions.flatMap((fn) => graphParams(fn.graph).map((node) => ({ name: node.attrs.name, dtype: node.type.dtype, shape: node.type.shape as readonly number[] }))));

const bindingsKey = (bindings: ReadonlyMap<string, number>): string =>
  [...bindings.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** Options of the planner. */
export interface PlanOptions {
  /** The most bytes a program's arena may take (default {@link DEFAULT_MAX_MEMORY_BYTES}). */
  readonly maxMemory?: number | undefined;
}

const describeBindings = (bindings: ReadonlyMap<string, number>): string => (bindings.size === 0 ? "" : ` at ${bindingsKey(bindings)}`);

/** Where the user declared each param of some graphs (the first location found per name). */
export const paramLocations = (graphs: readonly Graph[]): ReadonlyMap<string, SourceLoc> => {
  const locations = new Map<string, SourceLoc>();
  for (const graph of graphs) for (const node of graphParams(graph)) if (node.loc !== undefined && !locations.has(node.attrs.name)) locations.set(node.attrs.name, node.loc);
  return locations;
};

/**
 * The largest of some named sizes (ties: one the user declared — a model param rather than its
 * optimizer slot — then the first), with its location when known.
 */
export const largestParam = <P extends { readonly name: string; readonly size: number }>(params: readonly P[], locations: ReadonlyMap<string, SourceLoc>): { readonly param: P; readonly loc: SourceLoc | undefined } | undefined => {
  const located = (p: P): number => (locations.has(p.name) ? 1 : 0);
  const param = [...params].sort((a, b) => b.size - a.size || located(b) - located(a))[0];
  return param === undefined ? undefined : { param, loc: locations.get(param.name) };
};

/**
 * The state of a program when it fits `limit`, else the diagnostic saying how big it is, at the
 * user's line of the largest param (`locations`, from {@link paramLocations}).
 */
export const checkStateMemory = (state: StateLayout, options: PlanOptions = {}, locations: ReadonlyMap<string, SourceLoc> = new Map()): Diagnostics => {
  const limit = options.maxMemory ?? DEFAULT_MAX_MEMORY_BYTES;
  const bytes = state.elements * ELEMENT_BYTES;
  if (bytes <= limit) return [];
  const largest = largestParam(state.slots, locations);
  const note = largest === undefined ? "" : ` (the largest is ${largest.param.name} [${largest.param.shape.join(",")}], ${formatMemorySize(largest.param.size * ELEMENT_BYTES)})`;
  return [error("memory/state", `the program's params and optimizer state need ${formatMemorySize(bytes)}${note}, more than the memory limit of ${formatMemorySize(limit)} (--max-memory)`, largest?.loc)];
};

/** Lowers and plans one function at `bindings`; Left when its arena would exceed the memory limit. */
export const planFunction = (fn: ProgramFunction, bindings: ReadonlyMap<string, number>, state: StateLayout, options: PlanOptions = {}): E.Either<Diagnostics, FunctionPlan> =>
  pipe(
    checkStateMemory(state, options, paramLocations([fn.graph])),
    (problems) => (problems.length > 0 ? E.left(problems) : lowerGraph(fn.graph, bindings)),
    E.map((unfused) => updateInPlace(unfused, fn.updates)),
    E.chain((planned) => {
      const memory = planMemory(planned.lowered, state);
      const limit = options.maxMemory ?? DEFAULT_MAX_MEMORY_BYTES;
      const bytes = memory.elements * ELEMENT_BYTES;
      if (bytes <= limit) return E.right({ ...planned, memory });
      const largest = [...planned.lowered.buffers].sort((a, b) => b.size - a.size)[0];
      const node = largest === undefined ? undefined : planned.lowered.kernels.find((kernel) => kernelWrites(kernel).includes(largest.id))?.nodes[0];
      const at = node === undefined ? undefined : fn.graph.nodes[node];
      const what = largest === undefined ? "" : `; its largest buffer holds ${largest.size} elements (${formatMemorySize(largest.size * ELEMENT_BYTES)})${at === undefined ? (largest.name === undefined ? "" : `: ${largest.kind} ${largest.name}`) : `, from ${at.op}`}`;
      return E.left([
        error(
          "memory",
          `${fn.name}${describeBindings(bindings)} needs an arena of ${formatMemorySize(bytes)}, more than the memory limit of ${formatMemorySize(limit)} (--max-memory)${what}; use a smaller batch or dims, or raise the limit`,
          at?.loc,
        ),
      ]);
    }),
    E.map(({ lowered, remaining, inPlace, memory }) => {
      const offset = (buffer: number): number => memory.offsets[buffer] ?? 0;
      const updateSources = new Set(fn.updates.map((u) => u.output));
      const slot = (io: LoweredFunction["inputs"][number]): Slot => ({ name: io.name, dtype: arenaDtype(io.dtype), shape: io.shape, offset: offset(io.buffer) });
      const updates = remaining.flatMap((update) => {
        const source = lowered.outputs.find((o) => o.name === update.output);
        const target = state.slots.find((s) => s.name === update.param);
        return source === undefined || target === undefined ? [] : [{ from: offset(source.buffer), to: target.offset, size: target.size }];
      });
      const image: Omit<FunctionImage, "run"> = {
        name: fn.name,
        inputs: lowered.inputs.map(slot),
        outputs: lowered.outputs.filter((o) => !updateSources.has(o.name)).map(slot),
        consts: lowered.buffers.flatMap((b) => (b.kind === "const" && b.values !== undefined ? [{ offset: offset(b.id), dtype: arenaDtype(b.dtype), values: b.values }] : [])),
        labels: lowered.labels,
        updates,
        elements: memory.elements,
      };
      return { name: fn.name, key: bindingsKey(bindings), lowered, memory, inPlace, image };
    }),
  );

/** What a back end supplies to a compiled session. */
export interface CodeGenerator {
  readonly name: BackendName;
  readonly arena: (elements: number) => Arena;
  /** Compiles a plan's kernels into a runnable schedule (synchronously: specialisations appear mid-run). */
  readonly compile: (plan: FunctionPlan) => (F: Float32Array, I: Int32Array) => void;
}

const toHost = (dtype: Dtype, shape: readonly number[], data: FeedArray): HostTensor => ({ shape, dtype, data: data as HostArray });

/** A session over compiled kernels: specialises functions to feed shapes on first use and caches them. */
export const createCompiledSession = (spec: ProgramSpec, generator: CodeGenerator, options: SessionOptions = {}): Session => {
  const state = programState(spec);
  const planOptions: PlanOptions = { maxMemory: options.maxMemory };
  const tooBig = checkStateMemory(state, planOptions, paramLocations(spec.functions.map((fn) => fn.graph)));
  if (tooBig.length > 0) throw new GraftError(tooBig);
  const arena = generator.arena(state.elements);
  const previous: { last: FunctionImage | undefined } = { last: undefined };
  const cache = new Map<string, FunctionImage>();
  const stateSlots: Slot[] = state.slots.map((s) => ({ name: s.name, dtype: arenaDtype(s.dtype), shape: s.shape, offset: s.offset }));
  // initial state from the params' initialisers
  for (const fn of spec.functions) {
    const values = initParams(fn.graph, options.seed ?? 0);
    for (const slot of stateSlots) {
      const value = values[slot.name];
      if (value !== undefined) writeSlot(arena, slot, slot.dtype === "f32" ? Float32Array.from(value.data) : Int32Array.from(value.data));
    }
  }
  const allInputs = new Set(spec.functions.flatMap((f) => f.graph.nodes.flatMap((node) => (node.op === "input" ? [node.attrs.name] : []))));
  const specialise = (name: string, feeds: HostFeeds): FunctionImage => {
    const fn = spec.functions.find((f) => f.name === name);
    if (fn === undefined) throw new GraftError([error("function", `unknown function ${name}; this program has ${spec.functions.map((f) => f.name).join(", ")}`)]);
    const bound = bindDims(fn.graph, Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, { shape: v.shape, dtype: v.dtype }])));
    if (E.isLeft(bound)) throw new GraftError(bound.left);
    const key = `${name}|${bindingsKey(bound.right)}`;
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const plan = planFunction(fn, bound.right, state, planOptions);
    if (E.isLeft(plan)) throw new GraftError(plan.left);
    const image: FunctionImage = { ...plan.right.image, run: generator.compile(plan.right) };
    cache.set(key, image);
    return image;
  };
  return {
    backend: generator.name,
    run(name: string, feeds: HostFeeds, options: RunOptions = {}): Record<string, HostTensor> {
      // feeds for other functions' inputs (e.g. labels passed to forward) are ignored; unknown names are errors
      const taken = new Set(spec.functions.find((f) => f.name === name)?.graph.nodes.flatMap((node) => (node.op === "input" ? [node.attrs.name] : [])) ?? []);
      const unknown = Object.keys(feeds).filter((k) => !taken.has(k) && !allInputs.has(k));
      if (unknown.length > 0) throw new GraftError(unknown.map((k) => error("feed", `unknown input ${k}; ${name} takes ${[...taken].join(", ") || "no inputs"}`)));
      const used: HostFeeds = Object.fromEntries(Object.entries(feeds).filter(([k]) => taken.has(k)));
      const image = specialise(name, used);
      const data = Object.fromEntries(Object.entries(used).map(([k, v]) => [k, v.data]));
      const outputs = runFunction(arena, image, data, previous, options.fetch);
      return Object.fromEntries(image.outputs.flatMap((slot) => {
        const data = outputs[slot.name];
        return data === undefined ? [] : [[slot.name, toHost(slot.dtype, slot.shape, data)]];
      }));
    },
    getState(): Record<string, HostTensor> {
      return Object.fromEntries(stateSlots.map((slot) => [slot.name, toHost(slot.dtype, slot.shape, readSlot(arena, slot))]));
    },
    setState(values: Readonly<Record<string, HostTensor>>): void {
      const problems: string[] = [];
      for (const [name, value] of Object.entries(values)) {
        const slot = stateSlots.find((s) => s.name === name);
        if (slot === undefined) problems.push(`unknown state ${name}`);
        else if (value.data.length !== slot.shape.reduce((a, b) => a * b, 1) || value.shape.join() !== slot.shape.join())
          problems.push(`state ${name}: expected shape [${slot.shape.join(",")}], got [${value.shape.join(",")}] (${value.data.length} values)`);
        else if ((slot.dtype === "f32") !== value.data instanceof Float32Array) problems.push(`state ${name}: expected ${slot.dtype} data`);
      }
      if (problems.length > 0) throw new GraftError(problems.map((message) => error("state", message)));
      for (const [name, value] of Object.entries(values)) {
        const slot = stateSlots.find((s) => s.name === name);
        if (slot !== undefined) writeSlot(arena, slot, value.data as FeedArray);
      }
    },
    dispose(): void {
      cache.clear();
    },
  };
};
