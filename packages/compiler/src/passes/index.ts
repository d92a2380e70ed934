/**
 * @file The pass registry: every named pass is a pure `Graph → Either<Diagnostics, Graph>`,
 * printable before/after with `graft print --after <name> model.ts`. Passes run in this order.
 */
import type * as E from "fp-ts/lib/Either.js";
import type { Diagnostics, Graph } from "@graft/core";
import { fuse } from "./fuse.js";
import { grad } from "./grad.js";

export type Pass = (graph: Graph) => E.Either<Diagnostics, Graph>;

export interface NamedPass {
  readonly name: string;
  readonly description: string;
  readonly run: Pass;
}

/** The pipeline, in order. Each pass module appends its entry here (one line each). */
export const pipeline: readonly NamedPass[] = [
  { name: "fuse", description: "canonicalize the softmax family: log(softmax) → log_softmax; nll(log_softmax), one-hot and gather cross-entropy → cross_entropy", run: fuse },
  { name: "grad", description: "reverse-mode autodiff: adds grad:<param> outputs for every float param (needs a scalar loss)", run: (graph) => grad(graph) },
];
