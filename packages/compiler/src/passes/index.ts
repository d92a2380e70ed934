/**
 * @file The pass registry: every named pass is a pure `Graph → Either<Diagnostics, Graph>`,
 * printable before/after with `graft print --after <name> model.ts`. Passes run in this order.
 *
 * ## Errors and warnings
 *
 * A pass fails with `Left(diagnostics)`; it never fails for a warning. Findings that must not
 * stop compilation (lints) come from an entry's optional `lint` hook: a `Linter` that sees the
 * graph as it reaches that entry (before the entry's own `run`) and returns diagnostics.
 * Warnings (severity "warning") are collected and passed along; an "error" from a linter fails
 * the pipeline like a Left. `Pass` keeps its one-line type, so transformation passes never deal
 * with warnings, and a pure checker can be an entry whose `run` is the identity.
 *
 * `runPipeline` runs the entries (optionally only up to and including one of them) and returns
 * the final graph with every warning. `graft check` runs `checkedPrefix(pipeline)` — every entry
 * up to the last one with a `lint` hook — and prints the warnings (with `--strict` it fails on
 * them); later entries transform for compilation (e.g. `grad` needs a loss) and are left to
 * `compile`. `graft print --after <name>` prints the graph after that entry.
 */
import * as E from "fp-ts/lib/Either.js";
import { error, unboundDims, type Diagnostic, type Diagnostics, type Graph } from "@graft/core";
import { loweredComposites } from "../backend/fused.js";
import { decompose } from "./decompose.js";
import { fuse } from "./fuse.js";
import { grad } from "./grad.js";
import { lintGraph } from "./lint.js";

/** A transformation or check: a pure function of the graph. */
export type Pass = (graph: Graph) => E.Either<Diagnostics, Graph>;

/** Findings about a graph that do not change it; warnings do not stop the pipeline. */
export type Linter = (graph: Graph) => Diagnostics;

/** An entry of the pipeline: a pass with its name (for `--after`) and an optional linter. */
export interface NamedPass {
  readonly name: string;
  readonly description: string;
  readonly run: Pass;
  /** Warnings about the graph that reaches this entry, reported without failing (see the file comment). */
  readonly lint?: Linter;
}

/** Checks the graph as written: unbound symbolic dims (errors) and loss-math lints (warnings). */
export const lintPass: NamedPass = { name: "lint", description: "symbolic dims no input binds (errors), and loss-math warnings on the graph as written (double softmax, cross-entropy on probabilities, nll on logits, ...)", run: E.right, lint: (graph) => [...unboundDims(graph), ...lintGraph(graph)] };
/** Rewrites the softmax family into its stable fused forms. */
export const fusePass: NamedPass = { name: "fuse", description: "canonicalize the softmax family: log(softmax) → log_softmax; nll(log_softmax), one-hot and gather cross-entropy → cross_entropy", run: fuse };
/** Expands the composites the JS/WASM back ends do not fuse into primitives (passes/decompose.ts). */
export const decomposePass: NamedPass = {
  name: "decompose",
  description: "expand composite ops (gelu, silu, softplus, ...) into primitives, keeping those the JS/WASM back ends fuse (softmax family, cross-entropy losses)",
  run: decompose(loweredComposites),
};
/** Reverse-mode autodiff of the loss. */
export const gradPass: NamedPass = { name: "grad", description: "reverse-mode autodiff: adds grad:<param> outputs for every float param (needs a scalar loss)", run: (graph) => grad(graph) };

/**
 * The passes a program's functions are compiled from (program/build.ts): everything before
 * differentiation, which the program builder runs itself with the params to train.
 */
export const forwardPasses: readonly NamedPass[] = [lintPass, fusePass, decomposePass];

/** The pipeline, in order (`graft print --after`, `graft check`). A new pass adds its entry here (one line). */
export const pipeline: readonly NamedPass[] = [...forwardPasses, gradPass];

/** The graph after the pipeline (or a prefix of it), every warning on the way, and the entries that ran. */
export interface PipelineResult {
  readonly graph: Graph;
  readonly warnings: Diagnostics;
  readonly ran: readonly string[];
}

/** Options of `runPipeline`. */
export interface RunPipelineOptions {
  /** Stop after the entry of this name (it runs). Unknown names fail with the list of names. */
  readonly until?: string;
}

/** The entries `graft check` runs: the pipeline up to and including its last entry with a `lint` hook. */
export const checkedPrefix = (passes: readonly NamedPass[]): readonly NamedPass[] => {
  let last = -1;
  passes.forEach((pass, index) => {
    if (pass.lint !== undefined) last = index;
  });
  return passes.slice(0, last + 1);
};

/** `lint, fuse, grad`, or `(none)`, for messages. */
export const describePassNames = (passes: readonly NamedPass[]): string => (passes.length === 0 ? "(none)" : passes.map((pass) => pass.name).join(", "));

const thrownMessage = (thrown: unknown): string => (thrown instanceof Error ? thrown.message : String(thrown));

/**
 * Runs `passes` in order on `graph`. Left holds the warnings collected so far followed by the
 * errors that stopped it. A pass or linter that throws is reported as an `internal` error
 * naming it, instead of escaping.
 */
export const runPipeline = (graph: Graph, passes: readonly NamedPass[] = pipeline, options: RunPipelineOptions = {}): E.Either<Diagnostics, PipelineResult> => {
  const until = options.until;
  const stop = until === undefined ? passes.length - 1 : passes.findIndex((pass) => pass.name === until);
  if (stop < 0) return E.left([error("pipeline", `unknown pass '${until ?? ""}'; the passes are: ${describePassNames(passes)}`)]);
  const warnings: Diagnostic[] = [];
  const ran: string[] = [];
  let current = graph;
  for (const pass of passes.slice(0, stop + 1)) {
    try {
      const found = pass.lint === undefined ? [] : pass.lint(current);
      warnings.push(...found.filter((d) => d.severity === "warning"));
      const lintErrors = found.filter((d) => d.severity === "error");
      if (lintErrors.length > 0) return E.left([...warnings, ...lintErrors]);
      const result = pass.run(current);
      if (E.isLeft(result)) return E.left([...warnings, ...result.left]);
      current = result.right;
    } catch (thrown) {
      return E.left([...warnings, error("internal", `internal error in pass '${pass.name}': ${thrownMessage(thrown)}`)]);
    }
    ran.push(pass.name);
  }
  return E.right({ graph: current, warnings, ran });
};
