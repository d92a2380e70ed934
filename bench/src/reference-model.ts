/**
 * The float64 reference of the model train steps (`cnn_train_step`, `transformer_train_step`):
 * graft's own training program of the example model (built with dropout 0, so that it is
 * deterministic and comparable across systems whose random streams differ), evaluated by
 * `@graft/core`'s reference interpreter in float64 (`evaluateGraph`, no float32 rounding),
 * with the program's state updates (Adam moments, BatchNorm running statistics, step counters)
 * applied between steps. The interpreter evaluates each op by its op-table row's reference
 * semantics; none of graft's back-end kernels is involved.
 */
import * as E from "fp-ts/lib/Either.js";
import { evaluateGraph, GraftError, initParams, type NDArray } from "@graft/core";
import { adam, buildTrainingProgram, hyperValues, type ProgramFunction } from "@graft/compiler";
import { exampleModel, type ModelData } from "./model-data.js";

/** Result of reference training steps of a model from its initial params. */
export interface ModelTrainResult {
  /** Loss computed by the last step (at the params before that step). */
  readonly loss: number;
  /** Every float32 param of `ModelData.params` after the steps, by name. */
  readonly params: Readonly<Record<string, Float64Array>>;
}

/** The train step function of the example model with dropout `dropout` and the data's Adam. */
export function trainStepFunction(d: ModelData, dropout: number): ProgramFunction {
  const built = buildTrainingProgram(exampleModel(d, dropout), adam({ lr: d.adam.lr, beta1: d.adam.beta1, beta2: d.adam.beta2, eps: d.adam.eps }));
  if (E.isLeft(built)) throw new GraftError(built.left);
  const step = built.right.functions.find((fn) => fn.name === "trainStep");
  if (step === undefined) throw new Error("the training program has no trainStep");
  return step;
}

/** `steps` train steps (dropout 0) in float64 from the data's initial params and fresh Adam state. */
export function modelTrainSteps(d: ModelData, steps: number): ModelTrainResult {
  const fn = trainStepFunction(d, 0);
  let state: Record<string, NDArray> = initParams(fn.graph, 0);
  for (const [name, p] of Object.entries(d.params)) state[name] = { shape: [...p.shape], dtype: "f32", data: Float64Array.from(p.data) };
  const feeds: Record<string, NDArray> = {
    x: { shape: [...d.xShape], dtype: d.x instanceof Int32Array ? "i32" : "f32", data: Float64Array.from(d.x) },
    y: { shape: [...d.yShape], dtype: "i32", data: Float64Array.from(d.y) },
  };
  let loss = Number.NaN;
  for (let t = 1; t <= steps; t++) {
    for (const [name, v] of Object.entries(hyperValues(fn, d.adam.lr, t))) state[name] = { shape: [...v.shape], dtype: v.dtype, data: Float64Array.from(v.data) };
    const evaluated = evaluateGraph(fn.graph, feeds, state);
    if (E.isLeft(evaluated)) throw new GraftError(evaluated.left);
    const values = evaluated.right;
    const output = (name: string): NDArray => {
      const o = fn.graph.outputs.find((out) => out.name === name);
      const value = o === undefined ? undefined : values[o.id];
      if (value === undefined) throw new Error(`trainStep has no output ${name}`);
      return value;
    };
    loss = output("loss").data[0] ?? Number.NaN;
    const next = { ...state };
    for (const update of fn.updates) next[update.param] = output(update.output);
    state = next;
  }
  const params: Record<string, Float64Array> = {};
  for (const name of Object.keys(d.params)) {
    const value = state[name];
    if (value === undefined) throw new Error(`the reference lost param ${name}`);
    params[name] = value.data;
  }
  return { loss, params };
}
