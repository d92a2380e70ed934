/**
 * @file `graft import <model.onnx> -o <model.ts>`: an ONNX model (as `torch.onnx.export` writes
 * it) becomes a graft model file and its weights, `<model>.safetensors` next to it (see
 * onnx/import.ts); `graft compile model.ts --weights model.safetensors -o model.mjs` bundles it.
 *
 * Exit codes: 0 written, 1 the ONNX model uses ops graft does not have or does not check, 2 bad
 * arguments, a file that cannot be read or is not an ONNX model, or a failed write.
 */
import { basename, dirname, relative, resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { formatDiagnostics } from "@graft/core";
import { importOnnx } from "../../../onnx/import.js";
import { EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, type CliCommand, type CliContext } from "../context.js";
import { displayPath } from "../load-model.js";
import { failFor, readOptionalFile, writeOutputs } from "../command-steps.js";

/** Parsed options of `graft import`. */
export interface ImportCommandOptions {
  readonly out: string;
}

/** Where the weights of an imported model go: `model.ts` → `model.safetensors`. */
export const importedWeightsPath = (modelPath: string): string => `${modelPath.replace(/\.(m|c)?[tj]s$/i, "")}.safetensors`;

/** Runs `graft import` on `context`; sets the exit code. */
export const runImport = async (file: string, options: ImportCommandOptions, context: CliContext): Promise<void> => {
  const { io } = context;
  const fail = failFor("import", context);
  const read = await readOptionalFile(file, file, context, fail);
  if (E.isLeft(read) || read.right === undefined) return;
  const bytes = read.right;
  const out = resolve(io.cwd, options.out);
  const weightsPath = importedWeightsPath(out);
  const imported = importOnnx(bytes, { source: displayPath(resolve(io.cwd, file), io.cwd), weightsFile: relative(dirname(out), weightsPath) || basename(weightsPath) });
  if (E.isLeft(imported)) {
    io.err(`${formatDiagnostics(imported.left)}\n`);
    io.err(`graft import: ${file}: nothing written\n`);
    context.exit(imported.left.every((d) => d.code === "onnx/malformed") ? EXIT_USAGE : EXIT_DIAGNOSTICS);
    return;
  }
  const written = await writeOutputs([[weightsPath, imported.right.weights], [out, imported.right.source]], context, fail);
  if (E.isLeft(written)) return;
  const show = (path: string): string => displayPath(path, io.cwd);
  io.out(`${show(out)}: model ${imported.right.model.name} (outputs ${Object.keys(imported.right.model.outputs).join(", ")})\n`);
  io.out(`${show(weightsPath)}: its weights\n`);
  io.out(`bundle it: graft compile ${show(out)} --weights ${show(weightsPath)} -o model.mjs\n`);
  context.exit(EXIT_OK);
};

/** The `import` command. */
export const importCommand: CliCommand = {
  name: "import",
  register: (program, context) => {
    program
      .command("import")
      .description("import an ONNX model (e.g. from torch.onnx.export) as a graft model file and its safetensors weights")
      .argument("<model.onnx>", "an ONNX model file")
      .requiredOption("-o, --out <file>", "the model file to write, e.g. model.ts (weights go to model.safetensors)")
      .action(async (file: string, options: ImportCommandOptions) => runImport(file, options, context));
  },
};
