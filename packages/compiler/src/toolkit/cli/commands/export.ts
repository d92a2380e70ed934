/**
 * @file `graft export <model.ts> --format onnx -o <model.onnx> [--batch 32|dynamic] [--weights
 * w.safetensors] [--opset 17] [--train <optimizer>]`: the model as an ONNX file (see
 * onnx/export.ts). With `--train`, the training step, and its starting state (every param,
 * optimizer-state and hyper-scalar input) as `<model>.state.safetensors` next to it.
 *
 * Exit codes: 0 written, 1 the model does not check or cannot be exported, 2 bad arguments, a
 * model file that cannot be loaded, weights that cannot be read or do not fit, or a failed write.
 */
import { resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { InvalidArgumentError, Option } from "commander";
import { formatDiagnostics } from "@graft/core";
import { formatBytes } from "../../../bundle/index.js";
import { DEFAULT_OPSET, RANDOM_DEFAULT_OPSET, dependsOnStep, exportOnnx, formatHyperFormula } from "../../../onnx/export.js";
import { EXIT_OK, type CliCommand, type CliContext } from "../context.js";
import { displayPath } from "../load-model.js";
import { exitCodeFor, failFor, loadModelStep, readOptionalFile, writeOutputs } from "../command-steps.js";

/** Parsed options of `graft export`. */
export interface ExportCommandOptions {
  readonly format: "onnx";
  readonly out: string;
  readonly batch?: number | "dynamic" | undefined;
  readonly weights?: string | undefined;
  readonly opset?: number | undefined;
  readonly train?: string | undefined;
}

/** `--batch 32` or `--batch dynamic`. */
export const parseExportBatch = (value: string): number | "dynamic" => {
  if (value.trim() === "dynamic") return "dynamic";
  const size = Number(value.trim());
  if (!/^\s*[0-9]+\s*$/.test(value) || !Number.isSafeInteger(size) || size < 1) throw new InvalidArgumentError(`expected a positive integer or 'dynamic', got '${value}'`);
  return size;
};

/** `--opset 17`. */
export const parseOpset = (value: string): number => {
  const opset = Number(value.trim());
  if (!/^\s*[0-9]+\s*$/.test(value) || !Number.isSafeInteger(opset)) throw new InvalidArgumentError(`expected an integer opset such as ${DEFAULT_OPSET}, got '${value}'`);
  return opset;
};

/** Where a training export's starting state goes: `model.onnx` → `model.state.safetensors`. */
export const statePath = (onnxPath: string): string => `${onnxPath.replace(/\.onnx$/i, "")}.state.safetensors`;

const USAGE_CODES = ["onnx/opset", "onnx/batch", "onnx/weights", "optimizer/spec", "optimizer/options"];
const exitCodeOf = exitCodeFor(USAGE_CODES);

/** Runs `graft export` on `context`; sets the exit code. */
export const runExport = async (file: string, options: ExportCommandOptions, context: CliContext): Promise<void> => {
  const { io } = context;
  const fail = failFor("export", context);
  const read = await readOptionalFile(options.weights, `--weights ${options.weights ?? ""}`, context, fail);
  if (E.isLeft(read)) return;
  const weights = read.right;
  const loaded = await loadModelStep(file, context, fail);
  if (E.isLeft(loaded)) return;
  const exported = exportOnnx(loaded.right.model, { opset: options.opset, batch: options.batch, weights, weightsSource: options.weights, train: options.train });
  if (E.isLeft(exported)) {
    io.err(`${formatDiagnostics(exported.left)}\n`);
    io.err(`graft export: ${loaded.right.display}: no ONNX file written\n`);
    context.exit(exitCodeOf(exported.left));
    return;
  }
  const out = resolve(io.cwd, options.out);
  const state = exported.right.initialState;
  const written = await writeOutputs(state === undefined ? [[out, exported.right.bytes]] : [[out, exported.right.bytes], [statePath(out), state]], context, fail);
  if (E.isLeft(written)) return;
  const show = (path: string): string => displayPath(path, io.cwd);
  const { inputs, outputs } = exported.right;
  io.out(`${show(out)}: ONNX opset ${exported.right.opset}, ${formatBytes(exported.right.bytes.length)}; inputs ${inputs.length <= 6 ? inputs.join(", ") : `${inputs.slice(0, 4).join(", ")}, … (${inputs.length})`}; outputs ${outputs.length <= 6 ? outputs.join(", ") : `${outputs.slice(0, 4).join(", ")}, … (${outputs.length})`}\n`);
  if (state !== undefined) io.out(`${show(statePath(out))}: the starting value of every param and state input\n`);
  const hyper = exported.right.hyper;
  if (hyper !== undefined)
    io.out(`before each step feed ${hyper.scalars.map((s) => `${s.param} = ${formatHyperFormula(s.formula)}`).join(", ")} (lr ${hyper.lr}${hyper.scalars.some((s) => dependsOnStep(s.formula)) ? `, t = ${hyper.step} + 1` : ""})\n`);
  context.exit(EXIT_OK);
};

/** The `export` command. */
export const exportCommand: CliCommand = {
  name: "export",
  register: (program, context) => {
    program
      .command("export")
      .description("export a model (its forward, or with --train its whole training step) as an ONNX file of standard ops")
      .argument("<model.ts>", "a TypeScript module whose default export is a model")
      .addOption(new Option("--format <format>", "the file format").choices(["onnx"]).default("onnx"))
      .requiredOption("-o, --out <file>", "the file to write, e.g. model.onnx")
      .option("--batch <size>", "the batch dim: a size, or 'dynamic' (default) for a dynamic ONNX dim", parseExportBatch)
      .option("--weights <file>", "safetensors weights for the params (default: their initialisers, seed 0)")
      .option("--opset <n>", `the ONNX opset (default ${DEFAULT_OPSET}, ${RANDOM_DEFAULT_OPSET} for a function with random ops)`, parseOpset)
      .option("--train <optimizer>", "export the training step with this optimizer, e.g. adam:lr=1e-3 (also writes <out>.state.safetensors)")
      .action(async (file: string, options: ExportCommandOptions) => runExport(file, options, context));
  },
};
