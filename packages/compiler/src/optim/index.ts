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
import { adagrad, adagradRule, validateAdagrad, type AdagradOptimizer } from "./adagrad.js";
import { rmsprop, rmspropRule, validateRmsprop, type RmspropOptimizer } from "./rmsprop.js";
import { sgd, sgdRule, validateSgd, type SgdOptimizer } from "./sgd.js";
import { applyOptimizer, type OptimizerRule, type TrainStepOptions } from "./step.js";

export { adam, adamw, adamRule, adamUpdate, validateAdam, type AdamOptimizer, type AdamOptions } from "./adam.js";
export { sgd, sgdRule, sgdUpdate, validateSgd, type SgdOptimizer, type SgdOptions } from "./sgd.js";
export { rmsprop, rmspropRule, rmspropUpdate, validateRmsprop, type RmspropOptimizer, type RmspropOptions } from "./rmsprop.js";
export { adagrad, adagradRule, adagradUpdate, validateAdagrad, type AdagradOptimizer, type AdagradOptions } from "./adagrad.js";
export {
  applyOptimizer,
  GRAD_NORM_OUTPUT,
  updateOutputName,
  UPDATE_PREFIX,
  type OptimizerRule,
  type ParamUpdate,
  type ParamUpdateContext,
  type TrainStepOptions,
} from "./step.js";

/** Any configured optimizer (plain data). */
export type Optimizer = SgdOptimizer | AdamOptimizer | RmspropOptimizer | AdagradOptimizer;

/** The update rule of an optimizer. */
export const optimizerRule = (optimizer: Optimizer): OptimizerRule => {
  switch (optimizer.kind) {
    case "sgd":
      return sgdRule(optimizer);
    case "rmsprop":
      return rmspropRule(optimizer);
    case "adagrad":
      return adagradRule(optimizer);
    default:
      return adamRule(optimizer);
  }
};

/** Checks an optimizer's hyper-parameters (PyTorch's checks); empty when valid. */
export const validateOptimizer = (optimizer: Optimizer): Diagnostics => {
  switch (optimizer.kind) {
    case "sgd":
      return validateSgd(optimizer);
    case "rmsprop":
      return validateRmsprop(optimizer);
    case "adagrad":
      return validateAdagrad(optimizer);
    default:
      return validateAdam(optimizer);
  }
};

/**
 * The training step of `graph` (a graph with a loss and `grad:<param>` outputs, e.g. from
 * `grad`) under `optimizer`: outputs the loss and the graph's other non-gradient outputs, plus
 * `update:<name>` for each param and state param, with the matching state updates.
 */
export const trainStep = (graph: Graph, optimizer: Optimizer, options: TrainStepOptions = {}): E.Either<Diagnostics, ProgramFunction> =>
  applyOptimizer(graph, optimizerRule(optimizer), options);

// ----- spec strings ---------------------------------------------------------------------------------

type Kind = Optimizer["kind"];
type Value =
  | { readonly kind: "number"; readonly key: string }
  | { readonly kind: "boolean"; readonly key: string }
  /** Two numbers, `betas=0.9,0.999` (the comma-separated continuation belongs to the key). */
  | { readonly kind: "pair"; readonly keys: readonly [string, string] };

const num = (key: string): Value => ({ kind: "number", key });
const bool = (key: string): Value => ({ kind: "boolean", key });

const ADAM_KEYS: Readonly<Record<string, Value>> = {
  lr: num("lr"),
  betas: { kind: "pair", keys: ["beta1", "beta2"] },
  eps: num("eps"),
  weight_decay: num("weightDecay"),
  amsgrad: bool("amsgrad"),
  maximize: bool("maximize"),
};

/** Spec keys (PyTorch's snake_case names) and the option each sets. */
const KEYS: Readonly<Record<Kind, Readonly<Record<string, Value>>>> = {
  sgd: { lr: num("lr"), momentum: num("momentum"), dampening: num("dampening"), nesterov: bool("nesterov"), weight_decay: num("weightDecay"), maximize: bool("maximize") },
  adam: ADAM_KEYS,
  adamw: ADAM_KEYS,
  rmsprop: { lr: num("lr"), alpha: num("alpha"), eps: num("eps"), weight_decay: num("weightDecay"), momentum: num("momentum"), centered: bool("centered"), maximize: bool("maximize") },
  adagrad: {
    lr: num("lr"),
    lr_decay: num("lrDecay"),
    weight_decay: num("weightDecay"),
    initial_accumulator_value: num("initialAccumulatorValue"),
    eps: num("eps"),
    maximize: bool("maximize"),
  },
};

/** Other accepted spellings: graft's earlier `beta1`/`beta2`, and camelCase for every key. */
const ALIASES: Readonly<Record<string, Value>> = { beta1: num("beta1"), beta2: num("beta2") };

/** `weightDecay` → `weight_decay`. */
const snakeCase = (key: string): string => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

const lookupKey = (kind: Kind, key: string): { readonly name: string; readonly value: Value } | undefined => {
  const keys = KEYS[kind];
  const snake = snakeCase(key);
  const value = keys[key] ?? keys[snake] ?? ((kind === "adam" || kind === "adamw") ? ALIASES[key] : undefined);
  return value === undefined ? undefined : { name: keys[key] !== undefined || ALIASES[key] !== undefined ? key : snake, value };
};

const isKind = (name: string): name is Kind => Object.prototype.hasOwnProperty.call(KEYS, name);

const specError = (spec: string, message: string): E.Either<Diagnostics, never> => E.left([error("optimizer/spec", `optimizer "${spec}": ${message}`)]);

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Splits `k=v,k2=a,b` into key=value parts; a part without `=` continues a pair-valued key's value. */
const specParts = (rest: string, isPair: (key: string) => boolean): Array<{ readonly raw: string; readonly key: string | undefined; readonly text: string }> => {
  const parts: Array<{ raw: string; key: string | undefined; text: string }> = [];
  for (const part of rest === "" ? [] : rest.split(",")) {
    const eqAt = part.indexOf("=");
    const previous = parts[parts.length - 1];
    if (eqAt < 0 && previous?.key !== undefined && isPair(previous.key) && !previous.text.includes(",")) {
      previous.text = `${previous.text},${part.trim()}`;
      continue;
    }
    parts.push(eqAt < 0 ? { raw: part.trim(), key: undefined, text: "" } : { raw: part.trim(), key: part.slice(0, eqAt).trim(), text: part.slice(eqAt + 1).trim() });
  }
  return parts;
};

/**
 * Parses a CLI optimizer spec: `sgd:lr=0.1,momentum=0.9,nesterov=true`, `adam:lr=1e-3,betas=0.9,0.999`,
 * `adamw:lr=1e-3,weight_decay=0.01`, `rmsprop:lr=0.01,alpha=0.99,centered=true`,
 * `adagrad:lr=0.01,lr_decay=0,initial_accumulator_value=0.1`; a bare name takes PyTorch's
 * defaults. Keys are PyTorch's names (`weight_decay`, `betas`, `eps`, `amsgrad`, `nesterov`, …);
 * `beta1`/`beta2` and camelCase spellings (`weightDecay`) are accepted too. The values are
 * checked as PyTorch does. Left with a message naming the bad part.
 */
export const parseOptimizer = (spec: string): E.Either<Diagnostics, Optimizer> => {
  const trimmed = spec.trim();
  if (trimmed === "") return E.left([error("optimizer/spec", `empty optimizer spec; expected e.g. "sgd:lr=0.1" or "adam:lr=1e-3"`)]);
  const colon = trimmed.indexOf(":");
  const name = (colon < 0 ? trimmed : trimmed.slice(0, colon)).trim().toLowerCase();
  const rest = colon < 0 ? "" : trimmed.slice(colon + 1).trim();
  if (!isKind(name)) return specError(spec, `unknown optimizer '${name}'; expected one of ${Object.keys(KEYS).join(", ")}`);
  const numbers: Record<string, number> = {};
  const booleans: Record<string, boolean> = {};
  const seen = new Set<string>();
  for (const { raw, key, text } of specParts(rest, (key) => lookupKey(name, key)?.value.kind === "pair")) {
    if (key === undefined) return specError(spec, `expected key=value, got '${raw}'`);
    const option = lookupKey(name, key);
    if (option === undefined) return specError(spec, `unknown option '${key}' for ${name}; expected one of ${Object.keys(KEYS[name]).join(", ")}`);
    const targets = option.value.kind === "pair" ? option.value.keys : [option.value.key];
    if (seen.has(option.name) || targets.some((target) => seen.has(target))) return specError(spec, `option '${key}' is given twice`);
    seen.add(option.name);
    targets.forEach((target) => seen.add(target));
    if (option.value.kind === "pair") {
      const values = text.replace(/^\((.*)\)$/, "$1").split(",").map((v) => v.trim());
      const [first, second] = values;
      if (values.length !== 2 || first === undefined || second === undefined || !NUMBER.test(first) || !NUMBER.test(second))
        return specError(spec, `option '${key}' must be two numbers, e.g. ${key}=0.9,0.999, got '${text}'`);
      numbers[option.value.keys[0]] = Number(first);
      numbers[option.value.keys[1]] = Number(second);
    } else if (option.value.kind === "number") {
      if (!NUMBER.test(text)) return specError(spec, `option '${key}' must be a number, got '${text}'`);
      numbers[option.value.key] = Number(text);
    } else {
      if (text !== "true" && text !== "false") return specError(spec, `option '${key}' must be true or false, got '${text}'`);
      booleans[option.value.key] = text === "true";
    }
  }
  const optimizer = build(name, numbers, booleans);
  const invalid = validateOptimizer(optimizer);
  return invalid.length > 0 ? E.left(invalid.map((d) => ({ ...d, message: `optimizer "${spec}": ${d.message}` }))) : E.right(optimizer);
};

const build = (kind: Kind, n: Readonly<Record<string, number>>, b: Readonly<Record<string, boolean>>): Optimizer => {
  switch (kind) {
    case "sgd":
      return sgd({ lr: n.lr, momentum: n.momentum, dampening: n.dampening, nesterov: b.nesterov, weightDecay: n.weightDecay, maximize: b.maximize });
    case "rmsprop":
      return rmsprop({ lr: n.lr, alpha: n.alpha, eps: n.eps, weightDecay: n.weightDecay, momentum: n.momentum, centered: b.centered, maximize: b.maximize });
    case "adagrad":
      return adagrad({ lr: n.lr, lrDecay: n.lrDecay, weightDecay: n.weightDecay, initialAccumulatorValue: n.initialAccumulatorValue, eps: n.eps, maximize: b.maximize });
    default: {
      const options = { lr: n.lr, beta1: n.beta1, beta2: n.beta2, eps: n.eps, weightDecay: n.weightDecay, amsgrad: b.amsgrad, maximize: b.maximize };
      return kind === "adam" ? adam(options) : adamw(options);
    }
  }
};

/** The spec string of an optimizer (every option), parseable by `parseOptimizer`. */
export const formatOptimizer = (optimizer: Optimizer): string => {
  const o = optimizer;
  const parts = ((): string[] => {
    switch (o.kind) {
      case "sgd":
        return [`lr=${o.lr}`, `momentum=${o.momentum}`, `dampening=${o.dampening}`, `nesterov=${o.nesterov}`, `weight_decay=${o.weightDecay}`, `maximize=${o.maximize}`];
      case "rmsprop":
        return [`lr=${o.lr}`, `alpha=${o.alpha}`, `eps=${o.eps}`, `weight_decay=${o.weightDecay}`, `momentum=${o.momentum}`, `centered=${o.centered}`, `maximize=${o.maximize}`];
      case "adagrad":
        return [`lr=${o.lr}`, `lr_decay=${o.lrDecay}`, `weight_decay=${o.weightDecay}`, `initial_accumulator_value=${o.initialAccumulatorValue}`, `eps=${o.eps}`, `maximize=${o.maximize}`];
      default:
        return [`lr=${o.lr}`, `beta1=${o.beta1}`, `beta2=${o.beta2}`, `eps=${o.eps}`, `weight_decay=${o.weightDecay}`, `amsgrad=${o.amsgrad}`, `maximize=${o.maximize}`];
    }
  })();
  return `${o.kind}:${parts.join(",")}`;
};
