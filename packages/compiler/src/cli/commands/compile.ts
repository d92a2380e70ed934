/**
 * @file `graft compile <model.ts> -o <out.mjs>`: a standalone bundle (one ESM file, no imports)
 * with its `.d.mts`, and with `--emit-ts` the TypeScript module it was bundled from.
 *
 * ```
 * graft compile examples/mnist/model.ts --train adam:lr=1e-3 --batch 32 -o dist/mnist.mjs
 * ```
 */
import { readFile } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import { Command, InvalidArgumentError, Option } from "commander";
import { formatDiagnostics } from "@graft/core";
import { compileBundle, formatBytes, loadModelFile, writeBundle } from "../../bundle/index.js";

/** Parsed options of `graft compile`. */
export interface CompileCommandOptions {
  readonly out: string;
  readonly backend?: "js" | "wasm" | undefined;
  readonly train?: string | undefined;
  readonly batch?: readonly number[] | undefined;
  readonly dim?: Readonly<Record<string, number>> | undefined;
  readonly weights?: string | undefined;
  readonly emitTs?: boolean | undefined;
}

/** Where the command writes (the process's streams by default). */
export interface CompileIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const defaultIo: CompileIo = { out: (text) => process.stdout.write(`${text}\n`), err: (text) => process.stderr.write(`${text}\n`) };

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
  const match = /^\s*([A-Za-z_][\w]*)\s*=\s*([0-9]+)\s*$/.exec(value);
  const size = Number(match?.[2]);
  if (match === null || match[1] === undefined || !Number.isSafeInteger(size) || size < 1)
    throw new InvalidArgumentError(`expected name=size with a positive integer size (e.g. seq=128), got '${value}'`);
  if (Object.prototype.hasOwnProperty.call(previous, match[1])) throw new InvalidArgumentError(`dim '${match[1]}' is given twice`);
  return { ...previous, [match[1]]: size };
};

/**
 * Runs `graft compile`: loads the model file, compiles, writes the bundle and reports its size.
 * @returns the exit code (0 on success, 1 on any error, reported on `io.err`)
 */
export const runCompile = async (modelPath: string, options: CompileCommandOptions, io: CompileIo = defaultIo): Promise<number> => {
  let weights: Uint8Array | undefined;
  if (options.weights !== undefined) {
    try {
      weights = new Uint8Array(await readFile(options.weights));
    } catch (caught) {
      io.err(`graft compile: cannot read --weights ${options.weights}: ${caught instanceof Error ? caught.message : String(caught)}`);
      return 1;
    }
  }
  const model = await loadModelFile(modelPath);
  if (E.isLeft(model)) {
    io.err(formatDiagnostics(model.left));
    return 1;
  }
  const bundle = await compileBundle(model.right, {
    backend: options.backend,
    train: options.train,
    batches: options.batch,
    dims: options.dim,
    weights,
    weightsSource: options.weights,
  });
  if (E.isLeft(bundle)) {
    io.err(formatDiagnostics(bundle.left));
    return 1;
  }
  const written = await writeBundle(options.out, bundle.right, { emitTs: options.emitTs === true });
  const { sizes, info } = bundle.right;
  const weightsNote = sizes.weights > 0 ? `; embedded weights ${formatBytes(sizes.weights)} (base64)` : "";
  io.out(`wrote ${written.module}: ${formatBytes(sizes.total)} (runtime + kernels ${formatBytes(sizes.code)} minified, ${formatBytes(sizes.gzip)} gzipped${weightsNote})`);
  io.out(`      ${written.dts}`);
  if (written.source !== undefined) io.out(`      ${written.source}`);
  const shapes = info.batches.length === 0 ? "fixed shapes" : `batch ${info.batches.join(", ")}`;
  io.out(`${info.name}: ${Object.keys(info.functions).join(", ")} at ${shapes}, ${info.backend} kernels${info.optimizer === null ? "" : `, ${info.optimizer}`}`);
  return 0;
};

/** Adds the `compile` command to a commander program. */
export const registerCompile = (program: Command, io: CompileIo = defaultIo): Command =>
  program
    .command("compile")
    .description("compile a model into a standalone ES module (no imports; runs in Node and browsers) with its .d.mts")
    .argument("<model>", "model file (TypeScript) whose default export is a model")
    .requiredOption("-o, --out <file>", "the bundle to write, e.g. model.mjs")
    .addOption(new Option("--backend <name>", "kernel back end").choices(["js", "wasm"]).default("js"))
    .option("--train <optimizer>", "add trainStep/evaluate with this optimizer, e.g. sgd:lr=0.1,momentum=0.9 or adam:lr=1e-3")
    .option("--batch <sizes>", "batch sizes to specialise for, e.g. 32 or 1,32 (default 1, or 32 with --train)", parseBatches)
    .option("--dim <name=size>", "size of another symbolic dim (repeatable)", parseDim)
    .option("--weights <file>", "safetensors weights to embed (load() then starts from them)")
    .option("--emit-ts", "also write the TypeScript module the bundle is built from")
    .action(async (modelPath: string, options: CompileCommandOptions) => {
      process.exitCode = await runCompile(modelPath, options, io);
    });

/** A standalone program with just `compile` (for tests and until the main CLI registers it). */
export const compileProgram = (io: CompileIo = defaultIo): Command => registerCompile(new Command("graft").exitOverride(), io);
