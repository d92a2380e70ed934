/**
 * @file The training API: compile a model and an optimizer into a program, open a session on a
 * back end, and step it.
 *
 * ```ts
 * const trainer = await createTrainer(model, { optimizer: sgd({ lr: 0.1 }), backend: "reference" });
 * for (let epoch = 0; epoch <= 1000; epoch++) {
 *   const { loss } = trainer.step({ x, y }); // the loss before this step's update
 * }
 * const { logits } = trainer.forward({ x });
 * ```
 */
import * as E from "fp-ts/lib/Either.js";
import { GraftError, graphInputs, graphParams, type Graph, type Model } from "@graft/core";
import { checkHyperparameter, checkLearningRate, FeedError, hyperOptions, hyperValue, momentumOption } from "@graft/runtime";
import type { Backend, BackendName, HostFeeds, HostTensor, Session } from "../../backend/types.js";
import type { HyperSchedule, ProgramFunction, ProgramSpec } from "../../program/types.js";
import { referenceBackend } from "../../backend/reference.js";
import { GRAD_NORM_OUTPUT, parseOptimizer, type Optimizer } from "../../optim/index.js";
import { buildTrainingProgram, EVALUATE, FORWARD, TRAIN_STEP } from "./program.js";

/** Options of `createTrainer`. */
export interface TrainerOptions {
  /** An optimizer (`sgd({ lr: 0.1 })`) or a spec string (`"adam:lr=1e-3"`). */
  readonly optimizer: Optimizer | string;
  /** A back end or its name (default "reference"); "js" and "wasm" are loaded on demand. */
  readonly backend?: Backend | BackendName;
  /** Seed of the params' initialisers (default 0). */
  readonly seed?: number;
  /** Run the `fuse` pass first (see `buildTrainingProgram`). */
  readonly fuse?: boolean;
  /** Params to train (default: every float param). */
  readonly wrt?: readonly string[];
  /** Worker threads (WASM back end). */
  readonly threads?: number;
  /**
   * Clip the gradients by their global 2-norm before each update, as
   * `torch.nn.utils.clip_grad_norm_(params, max_norm)` (eps 1e-6); `step` returns the total norm.
   */
  readonly clipGradNorm?: number;
  /** Clamp every gradient element to [−v, v] before each update, as `clip_grad_value_`. */
  readonly clipGradValue?: number;
  /** The most bytes the compiled program's arena may take (js and wasm back ends; default 4 GiB). */
  readonly maxMemory?: number | undefined;
}

/** What `Trainer.step` returns. */
export interface StepResult {
  /** The loss of the batch before this step's update. */
  readonly loss: number;
  /** The model's outputs on the batch (e.g. logits), computed before the update — no extra forward pass. */
  readonly outputs: Record<string, HostTensor>;
  /** With `clipGradNorm`: the gradients' total 2-norm before clipping (what `clip_grad_norm_` returns). */
  readonly gradNorm?: number;
}

/** What `Trainer.evaluate` returns. */
export interface EvaluateResult {
  readonly loss: number;
  /** The model's outputs. */
  readonly outputs: Record<string, HostTensor>;
}

/** Options of one `Trainer.step`. */
export interface StepOptions {
  /** The learning rate of this step and the ones after (as `setLearningRate(lr)` first). */
  readonly lr?: number;
}

/** A model being trained: a session of its training program. */
export interface Trainer {
  readonly program: ProgramSpec;
  readonly optimizer: Optimizer;
  readonly backend: BackendName;
  /** Every input name the model reads (features and labels). */
  readonly inputs: readonly string[];
  /** One optimizer step on a batch (feeds not used by the step, e.g. extra columns, are refused). */
  step(batch: HostFeeds, options?: StepOptions): StepResult;
  /** The current learning rate (the optimizer's `lr` until changed). */
  readonly learningRate: number;
  /**
   * Sets the learning rate of the next steps. It is a run-time scalar of the compiled step: no
   * recompiling. Throws a RangeError for a negative or non-finite value.
   */
  setLearningRate(lr: number): void;
  /** The number of optimizer steps taken (restored by `setState` with the optimizer's step counter). */
  readonly stepsTaken: number;
  /**
   * The optimizer's current momentum (SGD's or RMSprop's `momentum`, Adam's β1), a run-time scalar
   * like the lr; undefined when the compiled step has none (SGD or RMSprop without momentum, Adagrad).
   */
  readonly momentum: number | undefined;
  /** Sets the momentum of the next steps (what OneCycleLR cycles). Throws when `momentum` is undefined or `m` is not in [0, 1]. */
  setMomentum(m: number): void;
  /**
   * The optimizer's run-time hyperparameters and their current values, with PyTorch's names —
   * what `optimizer.param_groups[0]` holds: `lr` and, as the optimizer has them, `momentum`,
   * `dampening`, `weight_decay`, `beta1`, `beta2` (PyTorch's `betas`), `eps`, `alpha`, `lr_decay`.
   * Options that shape the step (nesterov, amsgrad, centered, maximize, a weight_decay or SGD/RMSprop
   * momentum compiled as 0, Adagrad's initial_accumulator_value) are not among them.
   */
  readonly hyperparameters: Readonly<Record<string, number>>;
  /**
   * Sets one of `hyperparameters` for the next steps, as `optimizer.param_groups[0][name] = value`
   * in PyTorch: no recompiling. Throws when the step has no such run-time hyperparameter (the
   * message lists those it has) or the value is out of PyTorch's range.
   */
  setHyperparameter(name: string, value: number): void;
  /** The model's outputs; labels may be given and are ignored. */
  forward(feeds: HostFeeds): Record<string, HostTensor>;
  /** The loss and the outputs, without changing any state. */
  evaluate(feeds: HostFeeds): EvaluateResult;
  /** The params and the optimizer state, by name (copies). */
  getState(): Record<string, HostTensor>;
  /** Replaces some of the params or optimizer state (checked first, all or nothing). */
  setState(values: Readonly<Record<string, HostTensor>>): void;
  dispose(): void;
}

/**
 * The state values of a training step's hyper scalars (see `ProgramFunction.hyper`) for learning
 * rate `lr` at step `t` (1 on the first step), with `options` (e.g. `{ beta2: 0.99 }`) replacing
 * the compiled hyperparameters: what to `setState` before running the step directly on a
 * session. Empty for a step without hyper scalars.
 */
export const hyperValues = (fn: ProgramFunction, lr: number, t: number, options?: Readonly<Record<string, number>>): Record<string, HostTensor> => {
  const schedule = fn.hyper;
  if (schedule === undefined) return {};
  const dtypes = new Map(graphParams(fn.graph).map((node) => [node.attrs.name, node.type.dtype]));
  return Object.fromEntries(
    schedule.scalars.map(({ param, formula }) => {
      const value = hyperValue(formula, lr, t, options);
      const dtype = dtypes.get(param) ?? "f32";
      return [param, { shape: [], dtype, data: dtype === "f64" ? Float64Array.of(value) : Float32Array.of(value) }];
    }),
  );
};

const BACKENDS: readonly BackendName[] = ["reference", "js", "wasm"];

/** Resolves a back end by name; "js"/"wasm" are imported lazily from the back-end registry. */
export const resolveBackend = async (backend: Backend | BackendName): Promise<Backend> => {
  if (typeof backend !== "string") return backend;
  if (!BACKENDS.includes(backend)) throw new Error(`unknown backend '${String(backend)}'; expected one of ${BACKENDS.join(", ")}`);
  if (backend === "reference") return referenceBackend;
  try {
    const registry = await import("../../backend/index.js");
    return await registry.getBackend(backend);
  } catch (thrown) {
    throw new Error(`backend '${backend}' is not available: ${thrown instanceof Error ? thrown.message : String(thrown)}`);
  }
};

const inputNames = (graph: Graph): string[] => graphInputs(graph).map((node) => node.attrs.name);

const only = (feeds: HostFeeds, names: readonly string[]): HostFeeds => Object.fromEntries(Object.entries(feeds).filter(([name]) => names.includes(name)));

/** Splits a function's outputs into the scalar loss and the model's outputs. */
const withLoss = (outputs: Record<string, HostTensor>): { readonly loss: number; readonly outputs: Record<string, HostTensor> } => {
  const { loss, ...rest } = outputs;
  return { loss: loss?.data[0] ?? Number.NaN, outputs: rest };
};

/**
 * Compiles `model` with `options.optimizer` (see `buildTrainingProgram`) and opens a session on
 * the chosen back end. Rejects with a GraftError when the model, its gradient or the optimizer is
 * invalid, or an Error when the back end cannot be loaded.
 */
export const createTrainer = async (model: Model | Graph, options: TrainerOptions): Promise<Trainer> => {
  const optimizer = typeof options.optimizer === "string" ? parseOptimizer(options.optimizer) : E.right(options.optimizer);
  if (E.isLeft(optimizer)) throw new GraftError(optimizer.left);
  const program = buildTrainingProgram(model, optimizer.right, {
    ...(options.fuse === undefined ? {} : { fuse: options.fuse }),
    ...(options.wrt === undefined ? {} : { wrt: options.wrt }),
    ...(options.clipGradNorm === undefined ? {} : { clipGradNorm: options.clipGradNorm }),
    ...(options.clipGradValue === undefined ? {} : { clipGradValue: options.clipGradValue }),
  });
  if (E.isLeft(program)) throw new GraftError(program.left);
  const spec = program.right;
  const backend = await resolveBackend(options.backend ?? "reference");
  const unsupported = backend.supports(spec).filter((d) => d.severity === "error");
  if (unsupported.length > 0) throw new GraftError(unsupported);
  const session: Session = await backend.createSession(spec, {
    seed: options.seed ?? 0,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.maxMemory === undefined ? {} : { maxMemory: options.maxMemory }),
  });
  const stepFunction = spec.functions.find((fn) => fn.name === TRAIN_STEP);
  const schedule: HyperSchedule | undefined = stepFunction?.hyper;
  const inputsOf = new Map(spec.functions.map((fn) => [fn.name, inputNames(fn.graph)]));
  const allInputs = [...new Set(spec.functions.flatMap((fn) => inputNames(fn.graph)))];
  const call = (name: string, feeds: HostFeeds): Record<string, HostTensor> => {
    const unknown = Object.keys(feeds).find((key) => !allInputs.includes(key));
    if (unknown !== undefined) throw new FeedError(unknown, `input ${unknown}: the model has no input named '${unknown}' (its inputs: ${allInputs.join(", ")})`);
    return session.run(name, only(feeds, inputsOf.get(name) ?? []));
  };
  let learningRate = optimizer.right.lr;
  let stepsTaken = 0;
  // the run-time hyperparameters besides the lr, at their compiled values until set
  const hyperparameters: Record<string, number> = hyperOptions(schedule?.scalars ?? []);
  const momentumName = momentumOption(hyperparameters);
  const setLearningRate = (lr: number): void => {
    learningRate = checkLearningRate("setLearningRate", lr);
  };
  return {
    program: spec,
    optimizer: optimizer.right,
    backend: backend.name,
    inputs: allInputs,
    get learningRate() {
      return learningRate;
    },
    get stepsTaken() {
      return stepsTaken;
    },
    get momentum() {
      return momentumName === undefined ? undefined : hyperparameters[momentumName];
    },
    setMomentum: (m: number) => {
      if (momentumName === undefined)
        throw new Error(`setMomentum: the ${optimizer.right.kind} step was compiled without momentum (use sgd:momentum=…, rmsprop:momentum=…, or adam/adamw, whose β1 is the momentum)`);
      if (typeof m !== "number" || !(m >= 0 && m <= 1)) throw new RangeError(`setMomentum: invalid momentum ${String(m)} (expected a number in [0, 1])`);
      hyperparameters[momentumName] = m;
    },
    get hyperparameters() {
      return Object.freeze({ lr: learningRate, ...hyperparameters });
    },
    setHyperparameter: (name: string, value: number) => {
      const checked = checkHyperparameter("setHyperparameter", hyperparameters, name, value);
      if (name === "lr") learningRate = checked;
      else hyperparameters[name] = checked;
    },
    setLearningRate,
    step: (batch, stepOptions = {}) => {
      if (stepOptions.lr !== undefined) learningRate = checkLearningRate("step: options.lr", stepOptions.lr);
      if (stepFunction !== undefined && schedule !== undefined) session.setState(hyperValues(stepFunction, learningRate, stepsTaken + 1, hyperparameters));
      const { loss, outputs } = withLoss(call(TRAIN_STEP, batch));
      stepsTaken += 1;
      const { [GRAD_NORM_OUTPUT]: norm, ...rest } = outputs;
      return norm === undefined ? { loss, outputs } : { loss, outputs: rest, gradNorm: norm.data[0] ?? Number.NaN };
    },
    forward: (feeds) => call(FORWARD, feeds),
    evaluate: (feeds) => withLoss(call(EVALUATE, feeds)),
    getState: () => session.getState(),
    setState: (values) => {
      session.setState(values);
      const counter = schedule === undefined ? undefined : values[schedule.step];
      if (counter !== undefined) stepsTaken = counter.data[0] ?? stepsTaken;
    },
    dispose: () => session.dispose(),
  };
};
