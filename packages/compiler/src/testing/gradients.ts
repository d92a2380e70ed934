/**
 * @file Gradient checking: compares the gradients `grad` derives symbolically with central finite
 * differences, both evaluated in float64 by the reference interpreter.
 *
 * ```ts
 * const report = checkGradients(myModel, { feeds: { x, y }, tolerance: 1e-6 });
 * expectGradientsMatch((t) => logsumexp(t.x, 1), { feeds: { x } }); // throws a readable diff
 * ```
 */
import * as E from "fp-ts/lib/Either.js";
import {
  buildGraph,
  constant,
  error,
  evaluateGraph,
  formatShape,
  GraftError,
  graphFromTensors,
  graphInputs,
  graphParams,
  initParams,
  input,
  isFloat,
  mulberry32,
  mul,
  sum,
  type Diagnostics,
  type Feeds,
  type Graph,
  type Model,
  type NDArray,
  type Tensor,
} from "@graft/core";
import { grad, gradOutputName } from "../passes/grad.js";

/**
 * What to check: a model, a graph with a loss, or a function from input tensors (one per feed,
 * with the feed's shape and dtype) to a tensor. A non-scalar result is reduced to the scalar
 * `sum(result * r)` with a fixed pseudo-random `r`, so every component of its VJP is exercised.
 */
export type GradientSubject = Model | Graph | ((inputs: Readonly<Record<string, Tensor>>) => Tensor);

/** Options of `checkGradients`. */
export interface CheckGradientsOptions {
  /** A value for every input of the subject. */
  readonly feeds: Feeds;
  /** Param values; default: the params' initialisers with `seed`. */
  readonly params?: Feeds;
  /** Seed of the default param values and of the projection of a non-scalar function result. */
  readonly seed?: number;
  /**
   * Param or input names to check. Default: every float param of a model or graph; every float
   * input of a function.
   */
  readonly wrt?: readonly string[];
  /** Central-difference step (default 1e-6). */
  readonly eps?: number;
  /**
   * A component passes when |analytic − numeric| ≤ tolerance · (1 + |numeric|) + rounding, where
   * rounding = 8 · 2⁻⁵² · M / eps bounds the floating-point error of the central difference, M
   * being the largest magnitude among the loss at the two points and the float feeds and params
   * (default tolerance 1e-5). Near ordinary values the rounding term is negligible; with entries
   * such as 1e8 or 3e38 finite differences cannot resolve the gradient and the check is as loose
   * as that (see `rounding` in the report).
   */
  readonly tolerance?: number;
}

/** One component where the two gradients disagree. */
export interface GradientMismatch {
  /** Row-major index into the leaf. */
  readonly index: readonly number[];
  readonly analytic: number;
  readonly numeric: number;
  /** |analytic − numeric| / (1 + |numeric|), Infinity when either is not finite. */
  readonly error: number;
}

/** The check of one leaf. */
export interface GradientCheck {
  readonly name: string;
  readonly kind: "param" | "input";
  readonly shape: readonly number[];
  readonly analytic: Float64Array;
  readonly numeric: Float64Array;
  /** The largest scaled error over the leaf's components. */
  readonly maxError: number;
  /** Components that fail the tolerance, worst first. */
  readonly mismatches: readonly GradientMismatch[];
  readonly ok: boolean;
}

/** The result of `checkGradients`: one check per leaf. */
export interface GradientReport {
  readonly ok: boolean;
  /** The loss at the given point. */
  readonly loss: number;
  readonly eps: number;
  readonly tolerance: number;
  /** The largest rounding allowance any component got (see `tolerance`). */
  readonly rounding: number;
  readonly checks: readonly GradientCheck[];
}

/** Ulps of rounding allowed per unit of magnitude in a central difference (see `tolerance`). */
const ROUNDING_ULPS = 8;

/** The largest finite magnitude among the float values of `values`. */
const largestMagnitude = (values: Feeds): number => {
  let largest = 0;
  for (const value of Object.values(values))
    if (isFloat(value.dtype)) for (const v of value.data) if (Number.isFinite(v)) largest = Math.max(largest, Math.abs(v));
  return largest;
};

const PROJECTION_LOW = 0.5;

/** A Graph (has nodes), as opposed to a Model. */
export const isGraph = (value: Model | Graph): value is Graph => "nodes" in value && Array.isArray(value.nodes);

/** Turns the subject into a graph with a scalar loss, and the default names to check. */
const subjectGraph = (subject: GradientSubject, feeds: Feeds, seed: number): E.Either<Diagnostics, { readonly graph: Graph; readonly wrt: readonly string[] }> => {
  if (typeof subject === "function") {
    const inputs = Object.fromEntries(Object.entries(feeds).map(([name, value]) => [name, input(name, value.shape, value.dtype)]));
    const result = subject(inputs);
    let loss = result;
    if (result.type !== undefined && result.type.shape.length > 0) {
      if (!isFloat(result.type.dtype))
        return E.left([error("check-gradients", `checkGradients: the function returned ${result.type.dtype}${formatShape(result.type.shape)}, which has no gradient`)]);
      const shape = result.type.shape;
      if (!shape.every((dim): dim is number => typeof dim === "number"))
        return E.left([error("check-gradients", `checkGradients: the function's result has symbolic shape ${formatShape(shape)}; give its inputs static shapes`)]);
      const random = mulberry32(seed ^ 0x9e3779b9);
      const size = shape.reduce((p, d) => p * d, 1);
      // r ∈ ±[0.5, 1.5): no component is multiplied by (nearly) zero
      const weights = Array.from({ length: size }, () => (random() < 0.5 ? -1 : 1) * (PROJECTION_LOW + random()));
      loss = sum(mul(result, constant({ shape, dtype: result.type.dtype, data: Float64Array.from(weights) }, result.type.dtype)));
    }
    const graph = graphFromTensors("check_gradients", [], loss);
    return E.map((g: Graph) => ({
      graph: g,
      wrt: graphInputs(g)
        .filter((node) => isFloat(node.type.dtype))
        .map((node) => node.attrs.name),
    }))(graph);
  }
  const graph = isGraph(subject) ? E.right(subject) : buildGraph(subject);
  return E.map((g: Graph) => ({
    graph: g,
    wrt: graphParams(g)
      .filter((node) => isFloat(node.type.dtype))
      .map((node) => node.attrs.name),
  }))(graph);
};

const unravel = (flat: number, shape: readonly number[]): number[] => {
  const index = new Array<number>(shape.length).fill(0);
  let rest = flat;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis] ?? 1;
    index[axis] = rest % size;
    rest = Math.floor(rest / size);
  }
  return index;
};

const orThrow = <A>(result: E.Either<Diagnostics, A>): A => {
  if (E.isLeft(result)) throw new GraftError(result.left);
  return result.right;
};

/**
 * Compares symbolic gradients with central finite differences (float64, reference interpreter).
 * @throws GraftError when the subject cannot be differentiated or evaluated (no scalar loss,
 * an unknown name, a bad feed) — the diagnostics say why.
 */
export const checkGradients = (subject: GradientSubject, options: CheckGradientsOptions): GradientReport => {
  const eps = options.eps ?? 1e-6;
  const tolerance = options.tolerance ?? 1e-5;
  const seed = options.seed ?? 0;
  const { graph, wrt: defaultWrt } = orThrow(subjectGraph(subject, options.feeds, seed));
  const wrt = options.wrt ?? defaultWrt;
  const paramNames = new Set(graphParams(graph).map((node) => node.attrs.name));
  const inputNames = new Set(graphInputs(graph).map((node) => node.attrs.name));
  const unknown = wrt.filter((name) => !paramNames.has(name) && !inputNames.has(name));
  if (unknown.length > 0)
    throw new GraftError([
      error("check-gradients", `checkGradients: no param or input named ${unknown.map((n) => `'${n}'`).join(", ")} (params: ${[...paramNames].join(", ") || "none"}; inputs: ${[...inputNames].join(", ") || "none"})`),
    ]);
  const wrtParams = wrt.filter((name) => paramNames.has(name));
  const wrtInputs = wrt.filter((name) => !paramNames.has(name));
  const gradGraph = orThrow(grad(graph, { wrt: wrtParams, inputs: wrtInputs }));
  const params: Feeds = options.params ?? initParams(graph, seed);
  const feeds = options.feeds;

  const lossId = graph.loss ?? -1;
  const lossAt = (f: Feeds, p: Feeds): number => {
    const values = orThrow(evaluateGraph(graph, f, p));
    return values[lossId]?.data[0] ?? Number.NaN;
  };
  const analyticValues = orThrow(evaluateGraph(gradGraph, feeds, params));
  const outputValue = (name: string): NDArray | undefined => {
    const output = gradGraph.outputs.find((o) => o.name === name);
    return output === undefined ? undefined : analyticValues[output.id];
  };

  const leafMagnitude = Math.max(largestMagnitude(feeds), largestMagnitude(params));
  let rounding = 0;
  const checks = wrt.map((name): GradientCheck => {
    const kind = paramNames.has(name) ? "param" : "input";
    const source = kind === "param" ? params : feeds;
    const value = source[name];
    const analytic = outputValue(gradOutputName(name));
    if (value === undefined || analytic === undefined) throw new GraftError([error("check-gradients", `checkGradients: no value for ${kind} '${name}'`)]);
    const numeric = new Float64Array(value.data.length);
    const allowance = new Float64Array(value.data.length);
    for (let i = 0; i < value.data.length; i++) {
      const at = (delta: number): number => {
        const data = Float64Array.from(value.data);
        data[i] = (data[i] ?? 0) + delta;
        const moved = { ...source, [name]: { shape: value.shape, dtype: value.dtype, data } };
        return kind === "param" ? lossAt(feeds, moved) : lossAt(moved, params);
      };
      const [plus, minus] = [at(eps), at(-eps)];
      numeric[i] = (plus - minus) / (2 * eps);
      const magnitude = Math.max(leafMagnitude, Number.isFinite(plus) ? Math.abs(plus) : 0, Number.isFinite(minus) ? Math.abs(minus) : 0);
      allowance[i] = (ROUNDING_ULPS * Number.EPSILON * magnitude) / eps;
      rounding = Math.max(rounding, allowance[i] ?? 0);
    }
    const mismatches: GradientMismatch[] = [];
    let maxError = 0;
    numeric.forEach((n, i) => {
      const a = analytic.data[i] ?? Number.NaN;
      const err = Number.isFinite(a) && Number.isFinite(n) ? Math.abs(a - n) / (1 + Math.abs(n)) : Infinity;
      maxError = Math.max(maxError, err);
      const passes = Number.isFinite(err) && Math.abs(a - n) <= tolerance * (1 + Math.abs(n)) + (allowance[i] ?? 0);
      if (!passes) mismatches.push({ index: unravel(i, value.shape), analytic: a, numeric: n, error: err });
    });
    mismatches.sort((x, y) => y.error - x.error);
    return { name, kind, shape: value.shape, analytic: Float64Array.from(analytic.data), numeric, maxError, mismatches, ok: mismatches.length === 0 };
  });
  return { ok: checks.every((c) => c.ok), loss: lossAt(feeds, params), eps, tolerance, rounding, checks };
};

const MAX_ROWS = 8;

const fmt = (value: number): string => (Number.isFinite(value) ? value.toPrecision(10) : String(value));

/** A readable table of a report's mismatches. */
export const formatGradientReport = (report: GradientReport): string => {
  const roundingNote = report.rounding > report.tolerance ? `, rounding allowance up to ${report.rounding.toExponential(2)}` : "";
  const lines = [`gradient check (central differences, eps ${report.eps}, tolerance ${report.tolerance}${roundingNote}; loss ${fmt(report.loss)}):`];
  for (const check of report.checks) {
    const head = `  ${check.kind} ${check.name} ${formatShape(check.shape)}`;
    if (check.ok) {
      lines.push(`${head}: ok (max error ${check.maxError.toExponential(2)})`);
      continue;
    }
    lines.push(`${head}: ${check.mismatches.length} of ${check.numeric.length} components differ (max error ${check.maxError.toExponential(2)})`);
    lines.push(`    ${"index".padEnd(12)} ${"analytic".padStart(18)} ${"numeric".padStart(18)} ${"error".padStart(10)}`);
    for (const m of check.mismatches.slice(0, MAX_ROWS))
      lines.push(`    ${`[${m.index.join(",")}]`.padEnd(12)} ${fmt(m.analytic).padStart(18)} ${fmt(m.numeric).padStart(18)} ${m.error.toExponential(2).padStart(10)}`);
    if (check.mismatches.length > MAX_ROWS) lines.push(`    … ${check.mismatches.length - MAX_ROWS} more`);
  }
  return lines.join("\n");
};

/**
 * `checkGradients`, throwing an Error whose message is the table of mismatching components when
 * any component fails; returns the report otherwise.
 */
export const expectGradientsMatch = (subject: GradientSubject, options: CheckGradientsOptions): GradientReport => {
  const report = checkGradients(subject, options);
  if (!report.ok) throw new Error(formatGradientReport(report));
  return report;
};
