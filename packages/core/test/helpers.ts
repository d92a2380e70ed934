/**
 * @file Shared helpers of the core test suite: type-check a handle, evaluate one output with
 * the reference interpreter, compare float arrays.
 */
import * as E from "fp-ts/lib/Either.js";
import { expect } from "vitest";
import { check, evaluateGraph, formatType, fromNested, model, type Diagnostics, type Dtype, type Graph, type NDArray, type NestedNumbers, type Tensor } from "@graft/core";

/** The graph of a model whose only output is `t`; fails the test on diagnostics. */
export const graphOf = (t: Tensor, name = "t"): Graph => {
  const built = check(model({ name: "test", outputs: { [name]: t } }));
  if (E.isLeft(built)) throw new Error(`unexpected diagnostics: ${built.left.map((d) => d.message).join("; ")}`);
  return built.right;
};

/** The diagnostics of a model whose only output is `t`; fails the test when it type-checks. */
export const diagnosticsOf = (t: Tensor): Diagnostics => {
  const built = check(model({ name: "test", outputs: { t } }));
  if (E.isRight(built)) throw new Error(`expected diagnostics, but it type-checks as ${t.type === undefined ? "?" : formatType(t.type)}`);
  return built.left;
};

/** The messages (without locations) of the diagnostics of `t`'s model. */
export const messagesOf = (t: Tensor): string[] => diagnosticsOf(t).map((d) => d.message);

/** The inferred type as text (`f32[batch,3]`), or `<ill-typed>`. */
export const typeText = (t: Tensor): string => (t.type === undefined ? "<ill-typed>" : formatType(t.type));

/** Shorthand for an array fed to an input: `arr([[1, 2], [3, 4]])`, `arr([0, 2], "i32")`. */
export const arr = (value: NestedNumbers, dtype: Dtype = "f32"): NDArray => fromNested(value, dtype);

/** Evaluates `t` with the reference interpreter; fails the test on diagnostics. */
export const evaluate = (t: Tensor, feeds: Readonly<Record<string, NDArray>> = {}, params: Readonly<Record<string, NDArray>> = {}): NDArray => {
  const graph = graphOf(t);
  const result = evaluateGraph(graph, feeds, params);
  if (E.isLeft(result)) throw new Error(`evaluation failed: ${result.left.map((d) => d.message).join("; ")}`);
  const output = graph.outputs[0];
  const value = output === undefined ? undefined : result.right[output.id];
  if (value === undefined) throw new Error("no output value");
  return value;
};

/** The diagnostics of evaluating `t` (fails the test when evaluation succeeds). */
export const evaluationErrors = (t: Tensor, feeds: Readonly<Record<string, NDArray>> = {}, params: Readonly<Record<string, NDArray>> = {}): Diagnostics => {
  const result = evaluateGraph(graphOf(t), feeds, params);
  if (E.isRight(result)) throw new Error("expected the evaluation to fail");
  return result.left;
};

/** Same-position equality where NaN equals NaN and every other value must be within `tolerance` (relative to max(1, |expected|)). */
export const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-12): void => {
  expect(actual.length, "length").toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(e)) expect(a, `element ${i}`).toBeNaN();
    else if (!Number.isFinite(e)) expect(a, `element ${i}`).toBe(e);
    else expect(Math.abs(a - e), `element ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(e)));
  }
};
