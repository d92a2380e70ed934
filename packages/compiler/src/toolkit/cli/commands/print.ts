/**
 * @file `graft print <model.ts> [--after <pass>] [--grad] [--locations] [--kernels] [--memory]`:
 * prints the IR, one node a line (`%7 = log_softmax[dim=1] %6 : f32[batch,10]`). With `--after`,
 * the pipeline runs up to and including that pass first (`--grad` = `--after grad`: the
 * forward+backward graph); `--locations` appends each node's `# file:line:col`. `--kernels` and
 * `--memory` compile the program (the forward function, or with `--train <spec>` also the
 * training step) at `--batch N` and print its kernels / its arena plan. `--mode train|eval`
 * specialises the graph to training or evaluation semantics first (passes/mode.ts: dropout,
 * batch norm; in training mode with an `update:<param>` output per state update).
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { buildGraph, error, printGraph, type Diagnostics, type Graph } from "@graft/core";
import { planFunction, programState } from "../../../backend/program.js";
import { formatKernels, formatMemory } from "../../../backend/report.js";
import { Option } from "commander";
import { getBackend } from "../../../backend/index.js";
import type { Backend } from "../../../backend/types.js";
import type { ProgramSpec } from "../../../program/types.js";
import { parseOptimizer, type Optimizer } from "../../../optim/index.js";
import { buildTrainingProgram } from "../../train/program.js";
import { describePassNames, runPipeline } from "../../../passes/index.js";
import { modePass } from "../../../passes/mode.js";
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
  readonly backend?: "js" | "wasm";
  readonly mode?: string;
  readonly maxMemory?: number;
}

/**
 * Options that the chosen mode of `print` does not use, as warnings: `--train`, `--batch`,
 * `--backend` and `--max-memory` only matter with `--kernels`/`--memory`, `--locations` only without them.
 */
export const ignoredPrintOptions = (options: PrintOptions): string[] => {
  const compiled = options.kernels === true || options.memory === true;
  const given = (flag: string, value: unknown): string[] => (value === undefined || value === false ? [] : [flag]);
  const ignored = compiled
    ? given("--locations", options.locations)
    : [...given("--train", options.train), ...given("--batch", options.batch), ...given("--backend", options.backend), ...given("--max-memory", options.maxMemory)];
  const reason = compiled ? "with --kernels/--memory (they print compiled code, not the IR)" : "without --kernels or --memory";
  return ignored.map((flag) => `graft print: warning: ${flag} is ignored ${reason}`);
};

/** What each back end makes of the kernels that `--kernels` lists. */
const BACKEND_NOTES: Readonly<Record<"js" | "wasm", string>> = {
  js: "each kernel is a generated loop over Float32Array views of one arena",
  wasm: "each kernel is a function of one WebAssembly SIMD module over linear memory",
};

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
const printCompiled = (graph: Graph, batch: number, optimizer: Optimizer | undefined, options: PrintOptions, backend: Backend): E.Either<Diagnostics, string> => {
  const spec: E.Either<Diagnostics, ProgramSpec> =
    optimizer === undefined ? E.right({ functions: [{ name: "forward", graph, updates: [] }] }) : buildTrainingProgram(graph, optimizer);
  return pipe(
    spec,
    E.chain((program) => {
      const unsupported = backend.supports(program);
      return unsupported.length > 0 ? E.left(unsupported) : E.right(program);
    }),
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
      .option("--mode <mode>", "specialise the graph to training (train) or evaluation (eval) semantics first")
      .option("--batch <n>", "with --kernels/--memory: the size every symbolic dim is compiled at (default 1)")
      .addOption(new Option("--backend <name>", "with --kernels/--memory: the back end that must compile them (default js)").choices(["js", "wasm"]))
      .option("--max-memory <size>", `with --kernels/--memory: ${MAX_MEMORY_HELP}`, parseMemorySize)
      .action(async (file: string, options: PrintOptions) => {
        const { io, pipeline } = context;
        for (const warning of ignoredPrintOptions(options)) io.err(`${warning}\n`);
        const after = options.grad === true ? "grad" : options.after;
        if (after !== undefined && !pipeline.some((pass) => pass.name === after)) {
          io.err(`graft print: unknown pass '${after}'; the passes are: ${describePassNames(pipeline)}\n`);
          context.exit(EXIT_USAGE);
          return;
        }
        const mode = options.mode;
        if (mode !== undefined && mode !== "train" && mode !== "eval") {
          io.err(`graft print: --mode must be train or eval, got ${mode}\n`);
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
        const written = buildGraph(loaded.right.model);
        const built = mode === undefined ? written : E.chain(modePass(mode))(written);
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
          const backendName = options.backend ?? "js";
          const backend = await getBackend(backendName);
          const compiled = printCompiled(result.right.graph, compiledOptions.right.batch, compiledOptions.right.optimizer, options, backend);
          if (E.isLeft(compiled)) {
            io.err(formatReport(compiled.left));
            context.exit(EXIT_DIAGNOSTICS);
            return;
          }
          io.out(`# ${backendName} back end (${BACKEND_NOTES[backendName]})\n${compiled.right}\n`);
          context.exit(EXIT_OK);
          return;
        }
        io.out(`${printGraph(result.right.graph, { locations: options.locations === true })}\n`);
        context.exit(EXIT_OK);
      });
  },
};
