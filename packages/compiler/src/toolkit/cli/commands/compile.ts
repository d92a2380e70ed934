/**
 * @file `graft compile <model.ts> -o <out.mjs> [--backend js|wasm] [--train <optimizer>]
 * [--batch N[,M…]] [--dim name=size …] [--weights w.safetensors] [--emit-ts]`: a standalone
 * bundle — one ES module with no imports that runs in Node and in browsers — with its type
 * declarations (`out.d.mts`) and, with `--emit-ts`, the TypeScript module it was bundled from
 * (`out.mts`). Prints the bundle's size: runtime + kernels minified and gzipped, weights apart.
 *
 * ```
 * graft compile examples/mnist/model.ts --train adam:lr=1e-3 -o dist/mnist.mjs
 * ```
 *
 * Exit codes: 0 written, 1 the model does not check or cannot be compiled, 2 bad arguments, a
 * model file that cannot be loaded, or weights that cannot be read or do not fit.
 */
import { basename, dirname, extname, join, resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { InvalidArgumentError, Option } from "commander";
import { formatDiagnostics } from "@graft/core";
import { compileBundle, formatBytes, writeBundle, type WrittenBundle } from "../../../bundle/index.js";
import { EXIT_OK, EXIT_USAGE, type CliCommand, type CliContext } from "../context.js";
import { displayPath } from "../load-model.js";
import { exitCodeFor, failFor, loadModelStep, readOptionalFile, reportingWriteErrors, writeOptionsFor } from "../command-steps.js";
import { MAX_MEMORY_HELP, parseMemorySize } from "../memory-option.js";

/** Parsed options of `graft compile`. */
export interface CompileCommandOptions {
  /** The bundle to write; default `<model>.mjs` next to the model file. */
  readonly out?: string | undefined;
  readonly backend?: "js" | "wasm" | undefined;
  readonly train?: string | undefined;
  readonly batch?: readonly number[] | undefined;
  readonly dim?: Readonly<Record<string, number>> | undefined;
  readonly weights?: string | undefined;
  readonly emitTs?: boolean | undefined;
  readonly maxMemory?: number | undefined;
}

const SIZE = /^[0-9]+$/;

/** `--batch 32` or `--batch 1,32`: positive integers. */
export const parseBatches = (value: string): number[] =>
  value.split(",").map((part) => {
    const text = part.trim();
    const size = Number(text);
    if (!SIZE.test(text) || !Number.isSafeInteger(size) || size < 1) throw new InvalidArgumentError(`expected positive integers separated by commas (e.g. 32 or 1,32), got '${value}'`);
    return size;
  });

/** `--dim seq=128` (repeatable): adds one size to the previous ones. */
export const parseDim = (value: string, previous: Readonly<Record<string, number>> = {}): Record<string, number> => {
  const match = /^\s*([A-Za-z_]\w*)\s*=\s*([0-9]+)\s*$/.exec(value);
  const name = match?.[1];
  const size = Number(match?.[2]);
  if (name === undefined || !Number.isSafeInteger(size) || size < 1) throw new InvalidArgumentError(`expected name=size with a positive integer size (e.g. seq=128), got '${value}'`);
  if (Object.prototype.hasOwnProperty.call(previous, name)) throw new InvalidArgumentError(`dim '${name}' is given twice`);
  return { ...previous, [name]: size };
};

/** Diagnostics about the command's arguments or files (exit 2) rather than the model (exit 1). */
const USAGE_CODES = ["bundle/weights", "memory", "bundle/dim", "bundle/batch", "bundle/backend", "optimizer/spec", "optimizer/options"];
const exitCodeOf = exitCodeFor(USAGE_CODES);

/** `-o`'s default: the model file with `.mjs` for its extension, in the model's folder. */
export const defaultBundlePath = (modelPath: string): string => join(dirname(modelPath), `${basename(modelPath, extname(modelPath))}.mjs`);

/** Runs `graft compile` on `context`; sets the exit code. */
export const runCompile = async (file: string, options: CompileCommandOptions, context: CliContext): Promise<void> => {
  const { io } = context;
  const fail = failFor("compile", context);
  const read = await readOptionalFile(options.weights, `--weights ${options.weights ?? ""}`, context, fail);
  if (E.isLeft(read)) return;
  const weights = read.right;
  const loaded = await loadModelStep(file, context, fail);
  if (E.isLeft(loaded)) return;
  const outPath = options.out === undefined ? defaultBundlePath(loaded.right.path) : resolve(io.cwd, options.out);
  if (outPath === loaded.right.path) {
    fail(`the bundle ${displayPath(outPath, io.cwd)} would replace the model file; pass -o <file.mjs>`, EXIT_USAGE);
    return;
  }
  const bundle = await compileBundle(loaded.right.model, {
    backend: options.backend,
    train: options.train,
    batches: options.batch,
    dims: options.dim,
    weights,
    weightsSource: options.weights,
    maxMemory: options.maxMemory,
  });
  if (E.isLeft(bundle)) {
    io.err(`${formatDiagnostics(bundle.left)}\n`);
    io.err(`graft compile: ${loaded.right.display}: no bundle written\n`);
    context.exit(exitCodeOf(bundle.left));
    return;
  }
  const writing = await reportingWriteErrors(() => writeBundle(outPath, bundle.right, { emitTs: options.emitTs === true, ...writeOptionsFor(context) }), fail);
  if (E.isLeft(writing)) return;
  const written: WrittenBundle = writing.right;
  const { sizes, info } = bundle.right;
  const show = (path: string): string => displayPath(path, io.cwd);
  const weightsNote = sizes.weights > 0 ? `; embedded weights ${formatBytes(sizes.weights)} (base64)` : "";
  io.out(`${show(written.module)}: ${formatBytes(sizes.total)} — runtime + kernels ${formatBytes(sizes.code)} minified, ${formatBytes(sizes.gzip)} gzipped${weightsNote}\n`);
  io.out(`${show(written.dts)}: type declarations\n`);
  if (written.source !== undefined) io.out(`${show(written.source)}: the TypeScript module the bundle was built from\n`);
  const shapes = info.batches.length === 0 ? "fixed shapes" : `batch ${info.batches.join(", ")}`;
  io.out(`model ${info.name}: ${Object.keys(info.functions).join(", ")} at ${shapes}, ${info.backend} kernels${info.optimizer === null ? "" : `, ${info.optimizer}`}\n`);
  const chunked = Object.entries(info.functions).flatMap(([name, fn]) => (fn.batching?.chunkable === true ? [name] : []));
  const fixed = Object.values(info.functions).flatMap((fn) => (fn.batching !== undefined && !fn.batching.chunkable ? [fn.batching.reason] : []));
  if (info.batches.length > 0)
    io.out(chunked.length > 0 ? `any batch size (in chunks of the compiled ones): ${chunked.join(", ")}\n` : `compiled batch sizes only: ${fixed[0] ?? "no function takes others"}\n`);
  context.exit(EXIT_OK);
};

/** The `compile` command. */
export const compileCommand: CliCommand = {
  name: "compile",
  register: (program, context) => {
    program
      .command("compile")
      .description("compile a model into a standalone ES module (no imports; runs in Node and browsers) with its .d.mts")
      .argument("<model.ts>", "a TypeScript module whose default export is a model")
      .option("-o, --out <file>", "the bundle to write (default: <model>.mjs next to the model; declarations go to <model>.d.mts)")
      .addOption(new Option("--backend <name>", "kernel back end").choices(["js", "wasm"]).default("js"))
      .option("--train <optimizer>", "add trainStep and evaluate with this optimizer, e.g. sgd:lr=0.1,momentum=0.9 or adam:lr=1e-3")
      .option("--batch <sizes>", "batch sizes to specialise for, e.g. 32 or 1,32 (default: 1, or 32 with --train)", parseBatches)
      .option("--dim <name=size>", "size of another symbolic dim of the inputs (repeatable)", parseDim)
      .option("--weights <file>", "safetensors weights to embed: load() starts from them")
      .option("--emit-ts", "also write the TypeScript module the bundle is built from (out.mts)")
      .option("--max-memory <size>", MAX_MEMORY_HELP, parseMemorySize)
      .action(async (file: string, options: CompileCommandOptions) => runCompile(file, options, context));
  },
};
