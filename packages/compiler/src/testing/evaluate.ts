/**
 * @file Evaluating DSL tensors directly with the float64 reference interpreter — the oracle for
 * property tests of loss math.
 */
import * as E from "fp-ts/lib/Either.js";
import { GraftError, graphFromTensors, run, type Feeds, type NDArray, type Tensor } from "@graft/core";

/**
 * Builds a graph from named tensors and evaluates it on `feeds` (and `params`) in float64.
 * @throws GraftError with the diagnostics (and the user's locations) when a tensor is ill-typed,
 * a feed is missing or wrong, or an op fails at run time (e.g. a label out of range).
 */
export const evaluateTensors = (outputs: Readonly<Record<string, Tensor>>, feeds: Feeds, params: Feeds = {}): Record<string, NDArray> => {
  const graph = graphFromTensors(
    "evaluate",
    Object.entries(outputs).map(([name, tensor]) => ({ name, tensor })),
    undefined,
  );
  if (E.isLeft(graph)) throw new GraftError(graph.left);
  return run(graph.right, feeds, params);
};
