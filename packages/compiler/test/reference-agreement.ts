/**
 * @file Shared by the back-end kernel tests (norm-kernels, conv-backends, wasm-conv-fast-paths): a
 * model's graph with the gradients `grad` builds, and a back end's outputs against the f32
 * reference interpreter.
 */
import { expect } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import type { Backend } from "../src/backend/types.js";
import { grad } from "../src/passes/grad.js";
import { hostFeeds } from "./backend-cases.js";

/** The graph of a model named `name` with `outputs` and `loss`, plus the gradients of the loss with respect to `inputs`; throws the diagnostics. */
export const gradientGraph = (name: string, loss: C.Tensor, outputs: Record<string, C.Tensor>, inputs: readonly string[]): Graph => {
  const built = C.buildGraph(C.model({ name, outputs, loss }));
  if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
  const withGrads = grad(built.right, { inputs });
  if (E.isLeft(withGrads)) throw new Error(C.formatDiagnostics(withGrads.left));
  return withGrads.right;
};

/**
 * Every output of `graph` on `backend` equals the f32 reference: NaN where the reference has NaN,
 * ±∞ exactly, finite values within `tolerance` × the output's scale (max(1, largest finite |value|)).
 */
export const agreeWithReference = async (backend: Backend, graph: Graph, feeds: Record<string, NDArray>, label: string, tolerance: number): Promise<void> => {
  const reference = C.run(graph, feeds, {}, { precision: "f32" });
  const session = await backend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 1 });
  const outputs = session.run("f", hostFeeds(feeds));
  for (const [name, expected] of Object.entries(reference)) {
    const actual = outputs[name]?.data ?? [];
    expect(actual.length, `${label} ${name}: length`).toBe(expected.data.length);
    const scale = Math.max(1, ...Array.from(expected.data).filter(Number.isFinite).map(Math.abs));
    for (let i = 0; i < expected.data.length; i++) {
      const [got, want] = [actual[i] as number, expected.data[i] as number];
      const where = `${label} ${name}[${i}]: ${got} vs ${want}`;
      if (!Number.isFinite(want)) expect(got, where).toBe(want);
      else expect(Math.abs(got - want), where).toBeLessThanOrEqual(tolerance * scale);
    }
  }
};
