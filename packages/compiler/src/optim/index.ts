/**
 * @file Optimizers as pure graph transforms: a graph with `grad:<param>` outputs becomes one
 * training-step function `(feeds, params, optimizer state) → (loss, new params, new state)` whose
 * state updates copy the new values back (see `ProgramFunction` in backend/types.ts).
 *
 * ```ts
 * const step = trainStep(gradGraph, sgd({ lr: 0.1, momentum: 0.9 }));
 * const parsed = parseOptimizer("adam:lr=1e-3,beta2=0.99");
 * ```
 */
import * as E from "fp-ts/lib/Either.js";
import { error, type Diagnostics, type Graph } from "@graft/core";
import type { ProgramFunction } from "../program/types.js";
import { adam, adamRule, adamw, validateAdam, type AdamOptimizer } from "./adam.js";
import { sgd, sgdRule, validateSgd, type SgdOptimizer } from "./sgd.js";
import { applyOptimizer, type OptimizerRule, type TrainStepOptions } from "./step.js";

export { adam, adamw, adamRule, adamUpdate, validateAdam, type AdamOptimizer, type AdamOptions } from "./adam.js";
export { sgd, sgdRule, sgdUpdate, validateSgd, type SgdOptimizer, type SgdOptions } from "./sgd.js";
export {
  applyOptimizer,
  updateOutputName,
  UPDATE_PREFIX,
  type OptimizerRule,
  type ParamUpdate,
  type ParamUpdateContext,
  type TrainStepOptions,
} from "./step.js";

/** Any configured optimizer (plain data). */
export type Optimizer = SgdOptimizer | AdamOptimizer;

/** The update rule of an optimizer. */
export const optimizerRule = (optimizer: Optimizer): OptimizerRule => (optimizer.kind === "sgd" ? sgdRule(optimizer) : adamRule(optimizer));

/** Checks an optimizer's hyper-parameters (PyTorch's checks); empty when valid. */
export const validateOptimizer = (optimizer: Optimizer): Diagnostics => (optimizer.kind === "sgd" ? validateSgd(optimizer) : validateAdam(optimizer));

/**
 * The training step of `graph` (a graph with a loss and `grad:<param>` outputs, e.g. from
 * `grad`) under `optimizer`: outputs the loss and the graph's other non-gradient outputs, plus
 * `update:<name>` for each param and state param, with the matching state updates.
 */
export const trainStep = (graph: Graph, optimizer: Optimizer, options: TrainStepOptions = {}): E.Either<Diagnostics, ProgramFunction> =>
  applyOptimizer(graph, optimizerRule(optimizer), options);

// ----- spec strings ---------------------------------------------------------------------------------

type Kind = Optimizer["kind"];
type Value = { readonly kind: "number"; readonly key: string } | { readonly kind: "boolean"; readonly key: string };

const num = (key: string): Value => ({ kind: "number", key });
const bool = (key: string): Value => ({ kind: "boolean", key });

/** Spec keys (PyTorch's snake_case names) and the option each sets. */
const KEYS: Readonly<Record<Kind, Readonly<Record<string, Value>>>> = {
  sgd: { lr: num("lr"), momentum: num("momentum"), dampening: num("dampening"), nesterov: bool("nesterov"), weight_decay: num("weightDecay"), maximize: bool("maximize") },
  adam: { lr: num("lr"), beta1: num("beta1"), beta2: num("beta2"), eps: num("eps"), weight_decay: num("weightDecay"), amsgrad: bool("amsgrad"), maximize: bool("maximize") },
  adamw: { lr: num("lr"), beta1: num("beta1"), beta2: num("beta2"), eps: num("eps"), weight_decay: num("weightDecay"), amsgrad: bool("amsgrad"), maximize: bool("maximize") },
};

const isKind = (name: string): name is Kind => Object.prototype.hasOwnProperty.call(KEYS, name);

const specError = (spec: string, message: string): E.Either<Diagnostics, never> => E.left([error("optimizer/spec", `optimizer "${spec}": ${message}`)]);

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses a CLI optimizer spec: `sgd:lr=0.1,momentum=0.9,nesterov=true`, `adam:lr=1e-3`,
 * `adamw:lr=1e-3,weight_decay=0.01`; a bare name takes PyTorch's defaults. Keys are PyTorch's
 * names (`weight_decay`, `beta1`, `beta2`, `eps`, `amsgrad`, `maximize`, …); the values are
 * checked as PyTorch does. Left with a message naming the bad part.
 */
export const parseOptimizer = (spec: string): E.Either<Diagnostics, Optimizer> => {
  const trimmed = spec.trim();
  if (trimmed === "") return E.left([error("optimizer/spec", `empty optimizer spec; expected e.g. "sgd:lr=0.1" or "adam:lr=1e-3"`)]);
  const colon = trimmed.indexOf(":");
  const name = (colon < 0 ? trimmed : trimmed.slice(0, colon)).trim().toLowerCase();
  const rest = colon < 0 ? "" : trimmed.slice(colon + 1).trim();
  if (!isKind(name)) return specError(spec, `unknown optimizer '${name}'; expected one of ${Object.keys(KEYS).join(", ")}`);
  const keys = KEYS[name];
  const numbers: Record<string, number> = {};
  const booleans: Record<string, boolean> = {};
  const seen = new Set<string>();
  for (const part of rest === "" ? [] : rest.split(",")) {
    const eqAt = part.indexOf("=");
    if (eqAt < 0) return specError(spec, `expected key=value, got '${part.trim()}'`);
    const key = part.slice(0, eqAt).trim();
    const text = part.slice(eqAt + 1).trim();
    const option = keys[key];
    if (option === undefined) return specError(spec, `unknown option '${key}' for ${name}; expected one of ${Object.keys(keys).join(", ")}`);
    if (seen.has(key)) return specError(spec, `option '${key}' is given twice`);
    seen.add(key);
    if (option.kind === "number") {
      if (!NUMBER.test(text)) return specError(spec, `option '${key}' must be a number, got '${text}'`);
      numbers[option.key] = Number(text);
    } else {
      if (text !== "true" && text !== "false") return specError(spec, `option '${key}' must be true or false, got '${text}'`);
      booleans[option.key] = text === "true";
    }
  }
  const adamOptions = {
    lr: numbers.lr,
    beta1: numbers.beta1,
    beta2: numbers.beta2,
    eps: numbers.eps,
    weightDecay: numbers.weightDecay,
    amsgrad: booleans.amsgrad,
    maximize: booleans.maximize,
  };
  const optimizer: Optimizer =
    name === "sgd"
      ? sgd({ lr: numbers.lr, momentum: numbers.momentum, dampening: numbers.dampening, nesterov: booleans.nesterov, weightDecay: numbers.weightDecay, maximize: booleans.maximize })
      : name === "adam"
        ? adam(adamOptions)
        : adamw(adamOptions);
  const invalid = validateOptimizer(optimizer);
  return invalid.length > 0 ? E.left(invalid.map((d) => ({ ...d, message: `optimizer "${spec}": ${d.message}` }))) : E.right(optimizer);
};

/** The spec string of an optimizer (every option), parseable by `parseOptimizer`. */
export const formatOptimizer = (optimizer: Optimizer): string => {
  const o = optimizer;
  const parts =
    o.kind === "sgd"
      ? [`lr=${o.lr}`, `momentum=${o.momentum}`, `dampening=${o.dampening}`, `nesterov=${o.nesterov}`, `weight_decay=${o.weightDecay}`, `maximize=${o.maximize}`]
      : [`lr=${o.lr}`, `beta1=${o.beta1}`, `beta2=${o.beta2}`, `eps=${o.eps}`, `weight_decay=${o.weightDecay}`, `amsgrad=${o.amsgrad}`, `maximize=${o.maximize}`];
  return `${o.kind}:${parts.join(",")}`;
};
