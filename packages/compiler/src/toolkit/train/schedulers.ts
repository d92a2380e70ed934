/**
 * @file Learning-rate schedulers with PyTorch's names and exact semantics (`torch.optim.
 * lr_scheduler`, the recursive "chainable" forms PyTorch computes, so the sequences agree to the
 * last bit): StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR (warm-up),
 * OneCycleLR and ReduceLROnPlateau. A spec is plain data; a scheduler is a small state machine
 * over it, like PyTorch's: constructing it gives epoch 0's lr, `step()` moves to the next epoch
 * (OneCycleLR: the next batch), `step(metric)` for ReduceLROnPlateau.
 *
 * ```ts
 * const scheduler = attachScheduler(trainer, cosineAnnealingLR({ tMax: epochs }));
 * for (let epoch = 0; epoch < epochs; epoch++) { trainEpoch(trainer); scheduler.step(); }
 * ```
 */
import * as E from "fp-ts/lib/Either.js";
import { error, type Diagnostics } from "@graft/core";

/** `StepLR(step_size, gamma=0.1)`: lr × gamma every `stepSize` epochs. */
export interface StepLR {
  readonly kind: "step";
  readonly stepSize: number;
  readonly gamma: number;
}
/** `MultiStepLR(milestones, gamma=0.1)`: lr × gamma at each milestone (repeated milestones compound). */
export interface MultiStepLR {
  readonly kind: "multistep";
  readonly milestones: readonly number[];
  readonly gamma: number;
}
/** `ExponentialLR(gamma)`: lr × gamma every epoch. */
export interface ExponentialLR {
  readonly kind: "exponential";
  readonly gamma: number;
}
/** `CosineAnnealingLR(T_max, eta_min=0)`: half a cosine from the base lr to etaMin over tMax epochs (then back up, as PyTorch). */
export interface CosineAnnealingLR {
  readonly kind: "cosine";
  /** Undefined: the number of epochs (`graft train`). */
  readonly tMax: number | undefined;
  readonly etaMin: number;
}
/** `LinearLR(start_factor=1/3, end_factor=1, total_iters=5)`: linear warm-up of the lr's factor. */
export interface LinearLR {
  readonly kind: "linear";
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
}
/**
 * `OneCycleLR(max_lr, total_steps, pct_start=0.3, anneal_strategy='cos', cycle_momentum=True,
 * base_momentum=0.85, max_momentum=0.95, div_factor=25, final_div_factor=1e4, three_phase=False)`,
 * stepped per batch; with cycleMomentum the momentum (Adam's β1) runs inversely to the lr.
 */
export interface OneCycleLR {
  readonly kind: "onecycle";
  /** Undefined: the optimizer's lr. */
  readonly maxLr: number | undefined;
  /** Undefined: epochs × batches per epoch (`graft train`). */
  readonly totalSteps: number | undefined;
  readonly pctStart: number;
  readonly annealStrategy: "cos" | "linear";
  readonly divFactor: number;
  readonly finalDivFactor: number;
  readonly threePhase: boolean;
  readonly cycleMomentum: boolean;
  readonly baseMomentum: number;
  readonly maxMomentum: number;
}
/** `ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=1e-4, threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8)`. */
export interface ReduceLROnPlateau {
  readonly kind: "plateau";
  readonly mode: "min" | "max";
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: "rel" | "abs";
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
}

/** Any scheduler spec (plain data). */
export type SchedulerSpec = StepLR | MultiStepLR | ExponentialLR | CosineAnnealingLR | LinearLR | OneCycleLR | ReduceLROnPlateau;

export const stepLR = (o: { readonly stepSize: number; readonly gamma?: number }): StepLR => ({ kind: "step", stepSize: o.stepSize, gamma: o.gamma ?? 0.1 });
export const multiStepLR = (o: { readonly milestones: readonly number[]; readonly gamma?: number }): MultiStepLR => ({ kind: "multistep", milestones: [...o.milestones], gamma: o.gamma ?? 0.1 });
export const exponentialLR = (o: { readonly gamma: number }): ExponentialLR => ({ kind: "exponential", gamma: o.gamma });
export const cosineAnnealingLR = (o: { readonly tMax?: number; readonly etaMin?: number } = {}): CosineAnnealingLR => ({ kind: "cosine", tMax: o.tMax, etaMin: o.etaMin ?? 0 });
export const linearLR = (o: { readonly startFactor?: number; readonly endFactor?: number; readonly totalIters?: number } = {}): LinearLR => ({
  kind: "linear",
  startFactor: o.startFactor ?? 1 / 3,
  endFactor: o.endFactor ?? 1,
  totalIters: o.totalIters ?? 5,
});
export const oneCycleLR = (
  o: {
    readonly maxLr?: number;
    readonly totalSteps?: number;
    readonly pctStart?: number;
    readonly annealStrategy?: "cos" | "linear";
    readonly divFactor?: number;
    readonly finalDivFactor?: number;
    readonly threePhase?: boolean;
    readonly cycleMomentum?: boolean;
    readonly baseMomentum?: number;
    readonly maxMomentum?: number;
  } = {},
): OneCycleLR => ({
  kind: "onecycle",
  maxLr: o.maxLr,
  totalSteps: o.totalSteps,
  pctStart: o.pctStart ?? 0.3,
  annealStrategy: o.annealStrategy ?? "cos",
  divFactor: o.divFactor ?? 25,
  finalDivFactor: o.finalDivFactor ?? 1e4,
  threePhase: o.threePhase ?? false,
  cycleMomentum: o.cycleMomentum ?? true,
  baseMomentum: o.baseMomentum ?? 0.85,
  maxMomentum: o.maxMomentum ?? 0.95,
});
export const reduceLROnPlateau = (
  o: {
    readonly mode?: "min" | "max";
    readonly factor?: number;
    readonly patience?: number;
    readonly threshold?: number;
    readonly thresholdMode?: "rel" | "abs";
    readonly cooldown?: number;
    readonly minLr?: number;
    readonly eps?: number;
  } = {},
): ReduceLROnPlateau => ({
  kind: "plateau",
  mode: o.mode ?? "min",
  factor: o.factor ?? 0.1,
  patience: o.patience ?? 10,
  threshold: o.threshold ?? 1e-4,
  thresholdMode: o.thresholdMode ?? "rel",
  cooldown: o.cooldown ?? 0,
  minLr: o.minLr ?? 0,
  eps: o.eps ?? 1e-8,
});

/** True for schedulers PyTorch steps once per batch (OneCycleLR) rather than once per epoch. */
export const stepsPerBatch = (spec: SchedulerSpec): boolean => spec.kind === "onecycle";

/** A running scheduler. */
export interface Scheduler {
  readonly spec: SchedulerSpec;
  /** The lr in effect now (epoch `lastEpoch`). */
  readonly lr: number;
  /** 0 after construction, +1 per `step`. */
  readonly lastEpoch: number;
  /** OneCycleLR with cycleMomentum: the momentum (β1) in effect now; undefined otherwise. */
  readonly momentum: number | undefined;
  /** Moves to the next epoch (OneCycleLR: batch) and returns its lr; ReduceLROnPlateau needs the epoch's `metric`. */
  step(metric?: number): number;
}

/** Context for specs with defaults that depend on the run. */
export interface SchedulerContext {
  /** The optimizer's lr (the base lr). */
  readonly lr: number;
  readonly epochs?: number;
  readonly batchesPerEpoch?: number;
}

/** Python's `%` (the result has the divisor's sign). */
const pyMod = (a: number, b: number): number => ((a % b) + b) % b;

const fail = (message: string): never => {
  throw new RangeError(message);
};

const positiveInt = (what: string, value: number): number => (Number.isInteger(value) && value > 0 ? value : fail(`${what} must be a positive integer, got ${value}`));
const nonNegative = (what: string, value: number): number => (Number.isFinite(value) && value >= 0 ? value : fail(`${what} must be a finite number ≥ 0, got ${value}`));

/**
 * Starts a scheduler for base lr `context.lr`, as constructing PyTorch's scheduler does: its
 * `lr` is epoch 0's. Throws a RangeError naming the option when the spec is invalid (as
 * PyTorch's constructors check) or a run-dependent default (cosine t_max, onecycle total_steps)
 * is missing from `context`.
 */
export const createScheduler = (spec: SchedulerSpec, context: SchedulerContext): Scheduler => {
  const base = nonNegative("scheduler: the base learning rate", context.lr);
  let lr = base;
  let lastEpoch = 0;
  let momentum: number | undefined;
  let compute: (metric: number | undefined) => number;
  switch (spec.kind) {
    case "step": {
      positiveInt("StepLR: step_size", spec.stepSize);
      compute = () => (lastEpoch === 0 || lastEpoch % spec.stepSize !== 0 ? lr : lr * spec.gamma);
      break;
    }
    case "multistep": {
      const counts = new Map<number, number>();
      for (const milestone of spec.milestones) counts.set(nonNegative("MultiStepLR: a milestone", milestone), (counts.get(milestone) ?? 0) + 1);
      compute = () => {
        const count = counts.get(lastEpoch);
        return count === undefined ? lr : lr * spec.gamma ** count;
      };
      break;
    }
    case "exponential":
      compute = () => (lastEpoch === 0 ? lr : lr * spec.gamma);
      break;
    case "cosine": {
      const tMax = positiveInt("CosineAnnealingLR: T_max", spec.tMax ?? context.epochs ?? fail("CosineAnnealingLR: T_max is required (the number of epochs by default)"));
      const etaMin = spec.etaMin;
      compute = () => {
        if (lastEpoch === 0) return lr;
        if (pyMod(lastEpoch - 1 - tMax, 2 * tMax) === 0) return lr + ((base - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2;
        return ((1 + Math.cos((Math.PI * lastEpoch) / tMax)) / (1 + Math.cos((Math.PI * (lastEpoch - 1)) / tMax))) * (lr - etaMin) + etaMin;
      };
      break;
    }
    case "linear": {
      if (!(spec.startFactor > 0 && spec.startFactor <= 1)) fail(`LinearLR: start_factor must be in (0, 1], got ${spec.startFactor}`);
      if (!(spec.endFactor >= 0 && spec.endFactor <= 1)) fail(`LinearLR: end_factor must be in [0, 1], got ${spec.endFactor}`);
      positiveInt("LinearLR: total_iters", spec.totalIters);
      const { startFactor, endFactor, totalIters } = spec;
      compute = () => {
        if (lastEpoch === 0) return lr * startFactor;
        if (lastEpoch > totalIters) return lr;
        return lr * (1 + (endFactor - startFactor) / (totalIters * startFactor + (lastEpoch - 1) * (endFactor - startFactor)));
      };
      break;
    }
    case "onecycle": {
      const maxLr = nonNegative("OneCycleLR: max_lr", spec.maxLr ?? base);
      const totalSteps = positiveInt(
        "OneCycleLR: total_steps",
        spec.totalSteps ??
          (context.epochs !== undefined && context.batchesPerEpoch !== undefined ? context.epochs * context.batchesPerEpoch : fail("OneCycleLR: total_steps is required (epochs × batches per epoch by default)")),
      );
      if (!(spec.pctStart >= 0 && spec.pctStart <= 1)) fail(`OneCycleLR: pct_start must be in [0, 1], got ${spec.pctStart}`);
      const initialLr = maxLr / spec.divFactor;
      const minLr = initialLr / spec.finalDivFactor;
      const { baseMomentum: low, maxMomentum: high } = spec;
      const phases: ReadonlyArray<{ readonly end: number; readonly from: number; readonly to: number; readonly fromMomentum: number; readonly toMomentum: number }> = spec.threePhase
        ? [
            { end: spec.pctStart * totalSteps - 1, from: initialLr, to: maxLr, fromMomentum: high, toMomentum: low },
            { end: 2 * spec.pctStart * totalSteps - 2, from: maxLr, to: initialLr, fromMomentum: low, toMomentum: high },
            { end: totalSteps - 1, from: initialLr, to: minLr, fromMomentum: high, toMomentum: high },
          ]
        : [
            { end: spec.pctStart * totalSteps - 1, from: initialLr, to: maxLr, fromMomentum: high, toMomentum: low },
            { end: totalSteps - 1, from: maxLr, to: minLr, fromMomentum: low, toMomentum: high },
          ];
      const anneal =
        spec.annealStrategy === "cos"
          ? (start: number, end: number, pct: number): number => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1)
          : (start: number, end: number, pct: number): number => (end - start) * pct + start;
      compute = () => {
        if (lastEpoch > totalSteps) fail(`OneCycleLR: stepped ${lastEpoch} times, more than total_steps = ${totalSteps}`);
        let start = 0;
        for (const [i, phase] of phases.entries()) {
          if (lastEpoch <= phase.end || i === phases.length - 1) {
            const pct = (lastEpoch - start) / (phase.end - start);
            if (spec.cycleMomentum) momentum = anneal(phase.fromMomentum, phase.toMomentum, pct);
            return anneal(phase.from, phase.to, pct);
          }
          start = phase.end;
        }
        return lr;
      };
      break;
    }
    case "plateau": {
      if (!(spec.factor < 1)) fail(`ReduceLROnPlateau: factor must be < 1, got ${spec.factor}`);
      const worse = spec.mode === "min" ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      let best = worse;
      let badEpochs = 0;
      let cooldownCounter = 0;
      const isBetter = (a: number): boolean => {
        if (spec.mode === "min") return spec.thresholdMode === "rel" ? a < best * (1 - spec.threshold) : a < best - spec.threshold;
        return spec.thresholdMode === "rel" ? a > best * (spec.threshold + 1) : a > best + spec.threshold;
      };
      compute = (metric) => {
        if (metric === undefined || Number.isNaN(metric)) fail(`ReduceLROnPlateau: step(metric) needs the epoch's metric (e.g. the validation loss), got ${String(metric)}`);
        const current = metric ?? Number.NaN;
        if (isBetter(current)) {
          best = current;
          badEpochs = 0;
        } else badEpochs += 1;
        if (cooldownCounter > 0) {
          cooldownCounter -= 1;
          badEpochs = 0;
        }
        if (badEpochs > spec.patience) {
          cooldownCounter = spec.cooldown;
          badEpochs = 0;
          const reduced = Math.max(lr * spec.factor, spec.minLr);
          if (lr - reduced > spec.eps) return reduced;
        }
        return lr;
      };
      break;
    }
  }
  // construction: epoch 0 (what PyTorch's constructor's first step() computes)
  if (spec.kind !== "plateau") lr = compute(undefined);
  return {
    spec,
    get lr() {
      return lr;
    },
    get lastEpoch() {
      return lastEpoch;
    },
    get momentum() {
      return momentum;
    },
    step(metric?: number): number {
      lastEpoch += 1;
      lr = compute(metric);
      return lr;
    },
  };
};

/** Something with a settable learning rate (a `Trainer`), and a momentum for OneCycleLR's cycle_momentum. */
export interface LearningRateTarget {
  readonly learningRate: number;
  setLearningRate(lr: number): void;
  /** The current momentum (β1), undefined when the optimizer has none. */
  readonly momentum?: number | undefined;
  setMomentum?(m: number): void;
}

/**
 * A scheduler driving `trainer`'s learning rate (PyTorch's `Scheduler(optimizer, …)`): sets epoch
 * 0's lr now and the new lr on every `step`.
 */
export const attachScheduler = (trainer: LearningRateTarget, spec: SchedulerSpec, context: Omit<SchedulerContext, "lr"> = {}): Scheduler => {
  const scheduler = createScheduler(spec, { ...context, lr: trainer.learningRate });
  const cycles = scheduler.momentum !== undefined;
  if (cycles && (trainer.momentum === undefined || trainer.setMomentum === undefined))
    throw new RangeError("OneCycleLR: cycle_momentum needs an optimizer compiled with momentum (sgd:momentum=…, rmsprop:momentum=…, adam, adamw); or pass cycle_momentum=false");
  const apply = (): void => {
    trainer.setLearningRate(scheduler.lr);
    if (scheduler.momentum !== undefined) trainer.setMomentum?.(scheduler.momentum);
  };
  apply();
  return {
    spec,
    get lr() {
      return scheduler.lr;
    },
    get lastEpoch() {
      return scheduler.lastEpoch;
    },
    get momentum() {
      return scheduler.momentum;
    },
    step(metric?: number): number {
      const lr = scheduler.step(metric);
      apply();
      return lr;
    },
  };
};

/** The lrs of epochs 0 … n − 1 (metrics: ReduceLROnPlateau's, one per epoch). */
export const lrSequence = (spec: SchedulerSpec, context: SchedulerContext, n: number, metrics: readonly number[] = []): number[] => {
  const scheduler = createScheduler(spec, context);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(scheduler.lr);
    if (i < n - 1) scheduler.step(metrics[i]);
  }
  return out;
};

// ----- the --lr-schedule syntax ---------------------------------------------------------------------

type Kind = SchedulerSpec["kind"];
type OptionType = { readonly kind: "number" } | { readonly kind: "list" } | { readonly kind: "boolean" } | { readonly kind: "enum"; readonly values: readonly string[] };

const N: OptionType = { kind: "number" };
const OPTIONS: Readonly<Record<Kind, Readonly<Record<string, OptionType>>>> = {
  step: { step_size: N, gamma: N },
  multistep: { milestones: { kind: "list" }, gamma: N },
  exponential: { gamma: N },
  cosine: { t_max: N, eta_min: N },
  linear: { start_factor: N, end_factor: N, total_iters: N },
  onecycle: {
    max_lr: N,
    total_steps: N,
    pct_start: N,
    anneal_strategy: { kind: "enum", values: ["cos", "linear"] },
    cycle_momentum: { kind: "boolean" },
    base_momentum: N,
    max_momentum: N,
    div_factor: N,
    final_div_factor: N,
    three_phase: { kind: "boolean" },
  },
  plateau: {
    mode: { kind: "enum", values: ["min", "max"] },
    factor: N,
    patience: N,
    threshold: N,
    threshold_mode: { kind: "enum", values: ["rel", "abs"] },
    cooldown: N,
    min_lr: N,
    eps: N,
  },
};
const REQUIRED: Readonly<Record<Kind, readonly string[]>> = { step: ["step_size"], multistep: ["milestones"], exponential: ["gamma"], cosine: [], linear: [], onecycle: [], plateau: [] };

const NAMES: Readonly<Record<string, Kind>> = {
  step: "step",
  steplr: "step",
  multistep: "multistep",
  multisteplr: "multistep",
  exponential: "exponential",
  exponentiallr: "exponential",
  cosine: "cosine",
  cosineannealinglr: "cosine",
  linear: "linear",
  warmup: "linear",
  linearlr: "linear",
  onecycle: "onecycle",
  onecyclelr: "onecycle",
  plateau: "plateau",
  reducelronplateau: "plateau",
};

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses `--lr-schedule NAME[:key=value,…]`: NAME is step, multistep, exponential, cosine,
 * linear (or warmup), onecycle or plateau, or PyTorch's class name (CosineAnnealingLR, …); keys
 * are PyTorch's argument names (`step_size`, `gamma`, `milestones=30,80`, `T_max`, `eta_min`,
 * `start_factor`, `total_iters`, `max_lr`, `pct_start`, `anneal_strategy`, `patience`, …).
 */
export const parseLrSchedule = (text: string): E.Either<Diagnostics, SchedulerSpec> => {
  const trimmed = text.trim();
  const bad = (message: string): E.Either<Diagnostics, never> => E.left([error("schedule/spec", `lr schedule "${text}": ${message}`)]);
  if (trimmed === "") return E.left([error("schedule/spec", `empty lr schedule; expected e.g. "cosine" or "step:step_size=10,gamma=0.5"`)]);
  const colon = trimmed.indexOf(":");
  const name = (colon < 0 ? trimmed : trimmed.slice(0, colon)).trim();
  const kind = NAMES[name.toLowerCase()];
  if (kind === undefined)
    return bad(`unknown schedule '${name}'; expected one of step, multistep, exponential, cosine, linear (warmup), onecycle, plateau (or PyTorch's class names)`);
  const options = OPTIONS[kind];
  const values: Record<string, number | boolean | string | number[]> = {};
  const rest = colon < 0 ? "" : trimmed.slice(colon + 1).trim();
  const parts: Array<{ key: string | undefined; raw: string; text: string }> = [];
  for (const part of rest === "" ? [] : rest.split(",")) {
    const eqAt = part.indexOf("=");
    const previous = parts[parts.length - 1];
    if (eqAt < 0 && previous?.key !== undefined && options[previous.key]?.kind === "list") previous.text = `${previous.text},${part.trim()}`;
    else parts.push(eqAt < 0 ? { key: undefined, raw: part.trim(), text: "" } : { key: part.slice(0, eqAt).trim().toLowerCase(), raw: part.trim(), text: part.slice(eqAt + 1).trim() });
  }
  for (const { key, raw, text: value } of parts) {
    if (key === undefined) return bad(`expected key=value, got '${raw}'`);
    const type = options[key];
    if (type === undefined) return bad(`unknown option '${key}' for ${kind}; expected one of ${Object.keys(options).join(", ")}`);
    if (values[key] !== undefined) return bad(`option '${key}' is given twice`);
    switch (type.kind) {
      case "number":
        if (!NUMBER.test(value)) return bad(`option '${key}' must be a number, got '${value}'`);
        values[key] = Number(value);
        break;
      case "list": {
        const items = value.replace(/^[[(](.*)[\])]$/, "$1").split(/[,;]/).map((item) => item.trim());
        if (items.some((item) => !NUMBER.test(item))) return bad(`option '${key}' must be numbers, e.g. ${key}=30,80, got '${value}'`);
        values[key] = items.map(Number);
        break;
      }
      case "boolean":
        if (value !== "true" && value !== "false") return bad(`option '${key}' must be true or false, got '${value}'`);
        values[key] = value === "true";
        break;
      case "enum":
        if (!type.values.includes(value)) return bad(`option '${key}' must be one of ${type.values.join(", ")}, got '${value}'`);
        values[key] = value;
    }
  }
  const missing = REQUIRED[kind].filter((key) => values[key] === undefined);
  if (missing.length > 0) return bad(`${kind} needs ${missing.join(", ")}`);
  const n = (key: string): number | undefined => {
    const value = values[key];
    return typeof value === "number" ? value : undefined;
  };
  const flag = (key: string): boolean | undefined => {
    const value = values[key];
    return typeof value === "boolean" ? value : undefined;
  };
  const word = (key: string): string | undefined => {
    const value = values[key];
    return typeof value === "string" ? value : undefined;
  };
  const defined = <T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
  switch (kind) {
    case "step":
      return E.right(stepLR(defined({ stepSize: n("step_size") ?? 0, gamma: n("gamma") })));
    case "multistep": {
      const milestones = values["milestones"];
      return E.right(multiStepLR(defined({ milestones: Array.isArray(milestones) ? milestones : [], gamma: n("gamma") })));
    }
    case "exponential":
      return E.right(exponentialLR({ gamma: n("gamma") ?? 0 }));
    case "cosine":
      return E.right(cosineAnnealingLR(defined({ tMax: n("t_max"), etaMin: n("eta_min") })));
    case "linear":
      return E.right(linearLR(defined({ startFactor: n("start_factor"), endFactor: n("end_factor"), totalIters: n("total_iters") })));
    case "onecycle": {
      const strategy = word("anneal_strategy");
      return E.right(
        oneCycleLR(
          defined({
            maxLr: n("max_lr"),
            totalSteps: n("total_steps"),
            pctStart: n("pct_start"),
            annealStrategy: strategy === "linear" ? ("linear" as const) : strategy === "cos" ? ("cos" as const) : undefined,
            divFactor: n("div_factor"),
            finalDivFactor: n("final_div_factor"),
            threePhase: flag("three_phase"),
            cycleMomentum: flag("cycle_momentum"),
            baseMomentum: n("base_momentum"),
            maxMomentum: n("max_momentum"),
          }),
        ),
      );
    }
    case "plateau": {
      const mode = word("mode");
      const thresholdMode = word("threshold_mode");
      return E.right(
        reduceLROnPlateau(
          defined({
            mode: mode === "min" ? ("min" as const) : mode === "max" ? ("max" as const) : undefined,
            factor: n("factor"),
            patience: n("patience"),
            threshold: n("threshold"),
            thresholdMode: thresholdMode === "rel" ? ("rel" as const) : thresholdMode === "abs" ? ("abs" as const) : undefined,
            cooldown: n("cooldown"),
            minLr: n("min_lr"),
            eps: n("eps"),
          }),
        ),
      );
    }
  }
};

/** A compact description of a schedule, e.g. `cosine(T_max=20, eta_min=0)`. */
export const formatSchedule = (spec: SchedulerSpec): string => {
  switch (spec.kind) {
    case "step":
      return `StepLR(step_size=${spec.stepSize}, gamma=${spec.gamma})`;
    case "multistep":
      return `MultiStepLR(milestones=[${spec.milestones.join(", ")}], gamma=${spec.gamma})`;
    case "exponential":
      return `ExponentialLR(gamma=${spec.gamma})`;
    case "cosine":
      return `CosineAnnealingLR(T_max=${spec.tMax ?? "epochs"}, eta_min=${spec.etaMin})`;
    case "linear":
      return `LinearLR(start_factor=${spec.startFactor}, end_factor=${spec.endFactor}, total_iters=${spec.totalIters})`;
    case "onecycle":
      return `OneCycleLR(max_lr=${spec.maxLr ?? "lr"}, total_steps=${spec.totalSteps ?? "epochs×batches"}, pct_start=${spec.pctStart}, anneal_strategy=${spec.annealStrategy})`;
    case "plateau":
      return `ReduceLROnPlateau(mode=${spec.mode}, factor=${spec.factor}, patience=${spec.patience})`;
  }
};
