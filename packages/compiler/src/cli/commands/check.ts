/**
 * @file `graft check <model.ts> [--strict]`: type-checks the model and runs the pipeline's checks
 * (its entries up to the last linter, see passes/index.ts), printing every diagnostic (errors and
 * lint warnings) to stderr with the user's file:line:col.
 * Exit 0 when there are no errors, 1 on errors (or on warnings with --strict), 2 when the file
 * cannot be loaded.
 */
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, hasErrors, type Diagnostics, type Graph } from "@graft/core";
import { checkedPrefix, runPipeline } from "../../passes/index.js";
import { EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, type CliCommand } from "../context.js";
import { loadModel } from "../load-model.js";
import { countSummary, formatReport, plural } from "../report.js";

interface CheckOptions {
  readonly strict?: boolean;
}

/** `graft check`. */
export const checkCommand: CliCommand = {
  name: "check",
  register: (program, context) => {
    program
      .command("check")
      .description("type-check a model file and lint it: prints diagnostics with file:line:col (exit 1 on errors)")
      .argument("<model.ts>", "a TypeScript module whose default export is a model")
      .option("--strict", "treat warnings as errors")
      .action(async (file: string, options: CheckOptions) => {
        const { io } = context;
        const loaded = await loadModel(file, io.cwd);
        if (E.isLeft(loaded)) {
          io.err(`graft check: ${loaded.left}\n`);
          context.exit(EXIT_USAGE);
          return;
        }
        const { model, display } = loaded.right;
        const built = buildGraph(model);
        const result = E.chain((graph: Graph) => runPipeline(graph, checkedPrefix(context.pipeline)))(built);
        const diagnostics: Diagnostics = E.isLeft(result) ? result.left : result.right.warnings;
        io.err(formatReport(diagnostics));
        const failed = hasErrors(diagnostics) || (options.strict === true && diagnostics.length > 0);
        if (failed) {
          const strictNote = options.strict === true && !hasErrors(diagnostics) ? " (--strict: warnings are errors)" : "";
          io.err(`${display}: ${countSummary(diagnostics)}${strictNote}\n`);
          context.exit(EXIT_DIAGNOSTICS);
          return;
        }
        const nodes = E.isRight(built) ? built.right.nodes.length : 0;
        io.out(`${display}: ok, model ${model.name} (${plural(nodes, "node")}, ${plural(diagnostics.length, "warning")})\n`);
        context.exit(EXIT_OK);
      });
  },
};
