/**
 * @file The static layout of a bundle: every function of the program specialised (lowered and
 * memory-planned) at each requested batch size, the persistent state's place in the arena, and
 * the metadata the bundle's `info` and `.d.ts` describe.
 */
import * as E from "fp-ts/lib/Either.js";
import { error, graphInputs, graphParams, outputNode, symbolsOf, type Diagnostic, type Diagnostics, type Dim, type Graph, type Init } from "@graft/core";
import type { ArenaDtype } from "@graft/runtime";
import { planState } from "../backend/memory.js";
import { planFunction, programState, type FunctionPlan } from "../backend/program.js";
import type { HyperSchedule } from "../program/types.js";
import type { BundleProgram } from "./program.js";

/** The symbolic dim `--batch` sets. */
export const BATCH_DIM = "batch";

/** A function input or output: its declared (symbolic) shape and its dtype. */
export interface BundleTensor {
  readonly name: string;
  readonly dtype: ArenaDtype;
  /** As declared, e.g. `["batch", 784]`. */
  readonly dims: readonly Dim[];
}

/** One function specialised at one batch size. */
export interface BundleSpecialisation {
  /** The batch size (undefined when the model has no batch dim). */
  readonly batch: number | undefined;
  readonly plan: FunctionPlan;
}

/** One entry point of the bundle. */
export interface BundleFunction {
  readonly name: string;
  /** The function's graph (kernels name its node ids). */
  readonly graph: Graph;
  readonly inputs: readonly BundleTensor[];
  readonly outputs: readonly BundleTensor[];
  /** One per batch size, in the order given. */
  readonly specialisations: readonly BundleSpecialisation[];
  /** True when a call changes persistent state (an optimizer step). */
  readonly updatesState: boolean;
}

/** A persistent buffer: a model weight or optimizer state. */
export interface BundleState {
  readonly name: string;
  readonly dtype: ArenaDtype;
  readonly shape: readonly number[];
  /** Element offset in the arena. */
  readonly offset: number;
  readonly init: Init;
  /** True for the model's own params (saved by `saveWeights()`), false for optimizer state. */
  readonly weight: boolean;
}

/** Everything a bundle is generated from. */
export interface BundleLayout {
  readonly name: string;
  readonly optimizer: string | undefined;
  /** The training step's run-time hyper scalars (learning rate, bias corrections), when it has any. */
  readonly hyper: HyperSchedule | undefined;
  /** Batch sizes every function is specialised at (empty when the model has no batch dim). */
  readonly batches: readonly number[];
  /** Other symbolic dims and their sizes. */
  readonly dims: Readonly<Record<string, number>>;
  readonly functions: readonly BundleFunction[];
  /** Persistent state in arena order. */
  readonly state: readonly BundleState[];
  /** Model weights in declaration order. */
  readonly weights: readonly string[];
  /** Arena elements: the most any specialisation needs. */
  readonly elements: number;
}

/** Options for {@link planBundle}. */
export interface LayoutOptions {
  /** Batch sizes; omitted: 1 for a forward-only program, 32 for a training one. */
  readonly batches?: readonly number[] | undefined;
  /** Sizes of symbolic dims other than `batch`. */
  readonly dims?: Readonly<Record<string, number>> | undefined;
  /** The most bytes the bundle's arena may take (default 4 GiB). */
  readonly maxMemory?: number | undefined;
}

/** Default batch sizes: 1 for inference bundles, 32 for training bundles. */
export const defaultBatches = (training: boolean): readonly number[] => (training ? [32] : [1]);

const arenaDtype = (dtype: string): ArenaDtype => (dtype === "i32" ? "i32" : dtype === "bool" ? "bool" : "f32");

const positiveInteger = (value: number): boolean => Number.isSafeInteger(value) && value >= 1;

/**
 * Specialises every function of `program` at each batch size (and the given sizes of other
 * symbolic dims). Left when a dim has no size, a size is not a positive integer, or a function
 * cannot be compiled.
 */
export const planBundle = (program: BundleProgram, options: LayoutOptions = {}): E.Either<Diagnostics, BundleLayout> => {
  const diagnostics: Diagnostic[] = [];
  const functions = program.spec.functions;
  const symbols = new Set(functions.flatMap((fn) => graphInputs(fn.graph).flatMap((node) => symbolsOf(node.type.shape))));
  const dims = options.dims ?? {};
  for (const [name, size] of Object.entries(dims)) {
    if (name === BATCH_DIM) diagnostics.push(error("bundle/dim", `--dim ${name}=${size}: set the batch size with --batch`));
    else if (!symbols.has(name))
      diagnostics.push(error("bundle/dim", `--dim ${name}=${size}: model ${program.name} has no symbolic dim '${name}' (its symbolic dims: ${[...symbols].join(", ") || "none"})`));
    else if (!positiveInteger(size)) diagnostics.push(error("bundle/dim", `--dim ${name}=${size}: a dim size must be a positive integer`));
  }
  for (const symbol of symbols)
    if (symbol !== BATCH_DIM && dims[symbol] === undefined)
      diagnostics.push(error("bundle/dim", `model ${program.name}: symbolic dim '${symbol}' needs a size; pass --dim ${symbol}=<size>`));
  const hasBatch = symbols.has(BATCH_DIM);
  const requested = options.batches;
  if (requested !== undefined) {
    if (requested.length === 0) diagnostics.push(error("bundle/batch", "--batch: give at least one batch size"));
    for (const batch of requested) if (!positiveInteger(batch)) diagnostics.push(error("bundle/batch", `--batch ${batch}: a batch size must be a positive integer`));
    if (new Set(requested).size !== requested.length) diagnostics.push(error("bundle/batch", `--batch ${requested.join(",")}: a batch size is listed twice`));
    if (!hasBatch)
      diagnostics.push(error("bundle/batch", `--batch ${requested.join(",")}: model ${program.name} has no '${BATCH_DIM}' dim in its inputs, so its shapes are fixed; drop --batch`));
  }
  if (diagnostics.length > 0) return E.left(diagnostics);

  const batches = hasBatch ? (requested ?? defaultBatches(program.optimizer !== undefined)) : [];
  // the model params no function reads (num_batches_tracked in a forward-only bundle) too: see BundleProgram.weightSlots
  const state = planState([...programState(program.spec).slots, ...program.weightSlots]);
  const weights = new Set(program.weights);
  const inits = new Map([...program.weightSlots.map((slot) => [slot.name, slot.init] as const), ...functions.flatMap((fn) => graphParams(fn.graph).map((node) => [node.attrs.name, node.attrs.init] as const))]);
  const planned: BundleFunction[] = [];
  for (const fn of functions) {
    const specialisations: BundleSpecialisation[] = [];
    for (const batch of batches.length === 0 ? [undefined] : batches) {
      const bindings = new Map<string, number>(Object.entries(dims));
      if (batch !== undefined) bindings.set(BATCH_DIM, batch);
      const plan = planFunction(fn, bindings, state, { maxMemory: options.maxMemory });
      if (E.isLeft(plan)) return plan;
      specialisations.push({ batch, plan: plan.right });
    }
    const first = specialisations[0]?.plan.image;
    const declared = graphInputs(fn.graph);
    const inputs = (first?.inputs ?? []).map((slot): BundleTensor => ({ name: slot.name, dtype: slot.dtype, dims: declared.find((node) => node.attrs.name === slot.name)?.type.shape ?? slot.shape }));
    const outputs = (first?.outputs ?? []).map((slot): BundleTensor => ({ name: slot.name, dtype: slot.dtype, dims: outputNode(fn.graph, slot.name)?.type.shape ?? slot.shape }));
    planned.push({ name: fn.name, graph: fn.graph, inputs, outputs, specialisations, updatesState: fn.updates.length > 0 });
  }
  return E.right({
    name: program.name,
    optimizer: program.optimizer,
    hyper: program.spec.functions.find((fn) => fn.hyper !== undefined)?.hyper,
    batches,
    dims: { ...dims },
    functions: planned,
    state: state.slots.map((slot) => ({
      name: slot.name,
      dtype: arenaDtype(slot.dtype),
      shape: slot.shape,
      offset: slot.offset,
      init: inits.get(slot.name) ?? { kind: "zeros" },
      weight: weights.has(slot.name),
    })),
    weights: program.weights,
    elements: Math.max(state.elements, ...planned.flatMap((fn) => fn.specialisations.map((s) => s.plan.image.elements))),
  });
};
