/**
 * @file `graft check <model.ts...> [--strict] [--json]`: type-checks each model and runs the
 * pipeline's checks (its entries up to the last linter, see passes/index.ts), printing every
 * diagnostic (errors and lint warnings) to stderr with the user's file:line:col — or, with
 * `--json`, one JSON document on stdout for editors and CI.
 * Exit 0 when there are no errors, 1 on errors (or on warnings with --strict), 2 when a file
 * cannot be loaded (the other files are still checked).
 */
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, hasErrors, type Diagnostic, type Diagnostics, type Graph } from "@graft/core";
import { checkedPrefix, runPipeline } from "../../../passes/index.js";
import { EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, type CliCommand, type CliContext } from "../context.js";
import { displayPath, loadModel } from "../load-model.js";
import { countSummary, formatReport, plural } from "../report.js";

interface CheckOptions {
  readonly strict?: boolean;
  readonly json?: boolean;
}

/** One diagnostic of `graft check --json`; `line`/`column` are 1-based, null when it has no location. */
export interface JsonDiagnostic {
  readonly file: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly code: string;
  readonly severity: "error" | "warning";
  readonly message: string;
  readonly hint?: string;
}

/** One file of `graft check --json`. */
export interface JsonFileResult {
  readonly file: string;
  /** "ok", "failed" (errors, or warnings under --strict) or "unloadable" (exit 2). */
  readonly status: "ok" | "failed" | "unloadable";
  readonly model: string | null;
  readonly errors: number;
  readonly warnings: number;
}

/** The document `graft check --json` writes to stdout. */
export interface JsonCheckReport {
  readonly files: readonly JsonFileResult[];
  readonly diagnostics: readonly JsonDiagnostic[];
}

/** A diagnostic as JSON: its location's file (shown relative to `cwd`), or `file` when it has none. */
export const jsonDiagnostic = (diagnostic: Diagnostic, file: string, cwd: string): JsonDiagnostic => ({
  file: diagnostic.loc === undefined ? file : displayPath(diagnostic.loc.file, cwd),
  line: diagnostic.loc?.line ?? null,
  column: diagnostic.loc?.column ?? null,
  code: diagnostic.code,
  severity: diagnostic.severity,
  message: diagnostic.message,
  ...(diagnostic.hint === undefined ? {} : { hint: diagnostic.hint }),
});

interface FileOutcome {
  readonly result: JsonFileResult;
  readonly diagnostics: readonly JsonDiagnostic[];
  readonly exit: number;
}

const checkFile = async (file: string, options: CheckOptions, context: CliContext): Promise<FileOutcome> => {
  const { io } = context;
  const json = options.json === true;
  const loaded = await loadModel(file, io.cwd);
  if (E.isLeft(loaded)) {
    if (!json) io.err(`graft check: ${loaded.left}\n`);
    return {
      result: { file, status: "unloadable", model: null, errors: 1, warnings: 0 },
      diagnostics: [{ file, line: null, column: null, code: "cli/load", severity: "error", message: loaded.left }],
      exit: EXIT_USAGE,
    };
  }
  const { model, display } = loaded.right;
  const built = buildGraph(model);
  const checked = E.chain((graph: Graph) => runPipeline(graph, checkedPrefix(context.pipeline)))(built);
  const diagnostics: Diagnostics = E.isLeft(checked) ? checked.left : checked.right.warnings;
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const failed = hasErrors(diagnostics) || (options.strict === true && diagnostics.length > 0);
  if (!json) {
    io.err(formatReport(diagnostics));
    if (failed) {
      const strictNote = options.strict === true && !hasErrors(diagnostics) ? " (--strict: warnings are errors)" : "";
      io.err(`${display}: ${countSummary(diagnostics)}${strictNote}\n`);
    } else {
      const nodes = E.isRight(built) ? built.right.nodes.length : 0;
      io.out(`${display}: ok, model ${model.name} (${plural(nodes, "node")}, ${plural(diagnostics.length, "warning")})\n`);
    }
  }
  return {
    result: { file: display, status: failed ? "failed" : "ok", model: model.name, errors, warnings: diagnostics.length - errors },
    diagnostics: diagnostics.map((d) => jsonDiagnostic(d, display, io.cwd)),
    exit: failed ? EXIT_DIAGNOSTICS : EXIT_OK,
  };
};

/** `graft check`. */
export const checkCommand: CliCommand = {
  name: "check",
  register: (program, context) => {
    program
      .command("check")
      .description("type-check model files and lint them: prints diagnostics with file:line:col (exit 1 on errors)")
      .argument("<model.ts...>", "TypeScript modules whose default export is a model")
      .option("--strict", "treat warnings as errors")
      .option("--json", "write {files, diagnostics} as JSON to stdout (diagnostics: file, line, column, code, severity, message)")
      .action(async (files: string[], options: CheckOptions) => {
        const outcomes: FileOutcome[] = [];
        for (const file of files) outcomes.push(await checkFile(file, options, context));
        if (options.json === true) {
          const report: JsonCheckReport = { files: outcomes.map((o) => o.result), diagnostics: outcomes.flatMap((o) => o.diagnostics) };
          context.io.out(`${JSON.stringify(report, null, 2)}\n`);
        }
        for (const outcome of outcomes) context.exit(outcome.exit);
      });
  },
};
