/**
 * @file `graft print <model.ts> [--after <pass>] [--locations]`: prints the IR, one node a line
 * (`%7 = log_softmax[dim=1] %6 : f32[batch,10]`). With `--after`, the pipeline runs up to and
 * including that pass first; `--locations` appends each node's `# file:line:col`.
 */
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, printGraph, type Diagnostics, type Graph } from "@graft/core";
import { describePassNames, runPipeline } from "../../passes/index.js";
import { EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, type CliCommand } from "../context.js";
import { loadModel } from "../load-model.js";
import { countSummary, formatReport } from "../report.js";

interface PrintOptions {
  readonly after?: string;
  readonly locations?: boolean;
}

/** `graft print`. */
export const printCommand: CliCommand = {
  name: "print",
  register: (program, context) => {
    program
      .command("print")
      .description("print a model's IR (optionally after a pass of the pipeline)")
      .argument("<model.ts>", "a TypeScript module whose default export is a model")
      .option("--after <pass>", `run the pipeline up to and including this pass first (${describePassNames(context.pipeline)})`)
      .option("--locations", "append each node's source location")
      .action(async (file: string, options: PrintOptions) => {
        const { io, pipeline } = context;
        const after = options.after;
        if (after !== undefined && !pipeline.some((pass) => pass.name === after)) {
          io.err(`graft print: unknown pass '${after}'; the passes are: ${describePassNames(pipeline)}\n`);
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
        io.out(`${printGraph(result.right.graph, { locations: options.locations === true })}\n`);
        context.exit(EXIT_OK);
      });
  },
};
