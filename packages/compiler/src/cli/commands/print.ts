/**
 * @file `graft print <model.ts> [--after <pass>] [--grad] [--locations] [--kernels] [--memory]`:
 * prints the IR, one node a line (`%7 = log_softmax[dim=1] %6 : f32[batch,10]`). With `--after`,
 * the pipeline runs up to and including that pass first (`--grad` = `--after grad`: the
 * forward+backward graph); `--locations` appends each node's `# file:line:col`. `--kernels` and
 * `--memory` compile the program (the forward function, or with `--train <spec>` also the
 * training step) at `--batch N` and print its kernels / its arena plan.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { buildGraph, error, printGraph, type Diagnostics, type Graph } from "@graft/core";
import { planFunction, programState } from "../../backend/program.js";
import { formatKernels, formatMemory } from "../../backend/report.js";
import type { ProgramSpec } from "../../program/types.js";
import { parseOptimizer, type Optimizer } from "../../optim/index.js";
import { buildTrainingProgram } from "../../train/program.js";
import { describePassNames, runPipeline } from "../../passes/index.js";
import { EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, type CliCommand } from "../context.js";
import { loadModel } from "../load-model.js";
import { MAX_MEMORY_HELP, parseMemorySize } from "../memory-option.js";
import { countSummary, formatReport } from "../report.js";

interface PrintOptions {
  readonly after?: string;
  readonly grad?: boolean;
  readonly locations?: boolean;
  readonly kernels?: boolean;
  readonly memory?: boolean;
  readonly train?: string;
  readonly batch?: string;
  readonly maxMemory?: number;
}

/**
 * Checks `--batch` and `--train` (bad arguments: exit 2, before the model is loaded).
 * @returns the batch size and the optimizer, or the message
 */
export const parseCompiledOptions = (options: Pick<PrintOptions, "batch" | "train">): E.Either<string, { readonly batch: number; readonly optimizer: Optimizer | undefined }> => {
  const text = (options.batch ?? "1").trim();
  const batch = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(batch) || batch < 1) return E.left(`--batch must be a positive integer, got ${options.batch ?? ""}`);
  if (options.train === undefined) return E.right({ batch, optimizer: undefined });
  const optimizer = parseOptimizer(options.train);
  if (E.isLeft(optimizer)) return E.left(`--train: ${optimizer.left.map((d) => d.message).join("; ")}`);
  return E.right({ batch, optimizer: optimizer.right });
};

/** The compiled view: every function of the program planned with every symbolic dim bound to `batch`. */
const printCompiled = (graph: Graph, batch: number, optimizer: Optimizer | undefined, options: PrintOptions): E.Either<Diagnostics, string> => {
  const spec: E.Either<Diagnostics, ProgramSpec> =
    optimizer === undefined ? E.right({ functions: [{ name: "forward", graph, updates: [] }] }) : buildTrainingProgram(graph, optimizer);
  return pipe(
    spec,
    E.chain((program) => {
      const state = programState(program);
      const symbols = new Set(program.functions.flatMap((fn) => fn.graph.nodes.flatMap((node) => node.type.shape.filter((dim): dim is string => typeof dim === "string"))));
      const bindings = new Map([...symbols].map((symbol) => [symbol, batch]));
      return pipe(
        program.functions.map((fn) => planFunction(fn, bindings, state, { maxMemory: options.maxMemory })),
        E.sequenceArray,
        E.map((plans) =>
          plans
            .flatMap((plan) => [...(options.kernels === true ? [formatKernels(plan)] : []), ...(options.memory === true ? [formatMemory(plan, state.elements)] : [])])
            .join("\n\n"),
        ),
      );
    }),
  );
};

/** `graft print`. */
export const printCommand: CliCommand = {
  name: "print",
  register: (program, context) => {
    program
      .command("print")
      .description("print a model's IR (optionally after a pass of the pipeline)")
      .argument("<model.ts>", "a TypeScript module whose default export is a model")
      .option("--after <pass>", `run the pipeline up to and including this pass first (${describePassNames(context.pipeline)})`)
      .option("--grad", "print the forward+backward graph (same as --after grad)")
      .option("--locations", "append each node's source location")
      .option("--kernels", "print the compiled kernels and the nodes each covers")
      .option("--memory", "print the arena plan (state, scratch, reuse)")
      .option("--train <spec>", "with --kernels/--memory: include the training step, e.g. adam:lr=1e-3")
      .option("--batch <n>", "with --kernels/--memory: the size every symbolic dim is compiled at", "1")
      .option("--max-memory <size>", `with --kernels/--memory: ${MAX_MEMORY_HELP}`, parseMemorySize)
      .action(async (file: string, options: PrintOptions) => {
        const { io, pipeline } = context;
        const after = options.grad === true ? "grad" : options.after;
        if (after !== undefined && !pipeline.some((pass) => pass.name === after)) {
          io.err(`graft print: unknown pass '${after}'; the passes are: ${describePassNames(pipeline)}\n`);
          context.exit(EXIT_USAGE);
          return;
        }
        const compiledOptions = options.kernels === true || options.memory === true ? parseCompiledOptions(options) : E.right(undefined);
        if (E.isLeft(compiledOptions)) {
          io.err(`graft print: ${compiledOptions.left}\n`);
          context.exit(EXIT_USAGE);
          return;
        }
        const loaded = await loadModel(file, io.cwd);
        if (E.isLeft(loaded)) {
          io.err(`graft print: ${loaded.left}\n`);
          context.exit(EXIT_USAGE);
          return;
        }
        const built = buildGraph(loaded.right.model);
        const result: E.Either<Diagnostics, { readonly graph: Graph; readonly warnings: Diagnostics }> =
          after === undefined ? E.map((graph: Graph) => ({ graph, warnings: [] }))(built) : E.chain((graph: Graph) => runPipeline(graph, pipeline, { until: after }))(built);
        if (E.isLeft(result)) {
          io.err(formatReport(result.left));
          io.err(`${loaded.right.display}: ${countSummary(result.left)}\n`);
          context.exit(EXIT_DIAGNOSTICS);
          return;
        }
        io.err(formatReport(result.right.warnings));
        if (compiledOptions.right !== undefined) {
          const compiled = printCompiled(result.right.graph, compiledOptions.right.batch, compiledOptions.right.optimizer, options);
          if (E.isLeft(compiled)) {
            io.err(formatReport(compiled.left));
            context.exit(EXIT_DIAGNOSTICS);
            return;
          }
          io.out(`${compiled.right}\n`);
          context.exit(EXIT_OK);
          return;
        }
        io.out(`${printGraph(result.right.graph, { locations: options.locations === true })}\n`);
        context.exit(EXIT_OK);
      });
  },
};
