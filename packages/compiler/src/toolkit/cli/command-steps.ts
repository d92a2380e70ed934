/**
 * @file The steps that `compile`, `export` and `import` share: reporting a failure as
 * `graft <command>: <message>` with its exit code, reading a file named by an option, and
 * writing outputs atomically through the context's file system (a failed write is one line,
 * exit 2, the previous files intact). Each step reports its own failure and returns Left, so a
 * command stops at the first Left.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { AtomicWriteError, ensureDirectoryFor, writeFileAtomic, type WriteFileAtomicOptions } from "../data/atomic.js";
import type { Diagnostics } from "@graft/core";
import { EXIT_DIAGNOSTICS, EXIT_USAGE, type CliContext } from "./context.js";
import { loadModel, type LoadedModel } from "./load-model.js";

/** Reports a failure of the command and sets its exit code. */
export type Fail = (message: string, code: number) => void;

/** A step's failure, already reported to the user. */
export type Reported = "reported";

/** `fail` for `graft <command>`: writes `graft <command>: <message>` to stderr and sets the exit code. */
export const failFor =
  (command: string, context: CliContext): Fail =>
  (message, code) => {
    context.io.err(`graft ${command}: ${message}\n`);
    context.exit(code);
  };

const messageOf = (thrown: unknown): string => (thrown instanceof Error ? thrown.message : String(thrown));

/**
 * Reads the file `path` (relative to the working folder) that `what` names (e.g. `--weights w.safetensors`);
 * a file that cannot be read is reported with exit 2. Undefined when no path was given.
 */
export const readOptionalFile = async (path: string | undefined, what: string, context: CliContext, fail: Fail): Promise<E.Either<Reported, Uint8Array | undefined>> => {
  if (path === undefined) return E.right(undefined);
  try {
    return E.right(new Uint8Array(await readFile(resolve(context.io.cwd, path))));
  } catch (thrown) {
    fail(`cannot read ${what}: ${messageOf(thrown)}`, EXIT_USAGE);
    return E.left("reported");
  }
};

/** The atomic writer's options for the context (its injected file system, in tests). */
export const writeOptionsFor = (context: CliContext): Pick<WriteFileAtomicOptions, "fileSystem"> => (context.fileSystem === undefined ? {} : { fileSystem: context.fileSystem });

/**
 * Runs `write` (atomic writes of the command's outputs); an `AtomicWriteError` is reported as one
 * line with exit 2, anything else is a bug and propagates.
 */
export const reportingWriteErrors = async <T>(write: () => Promise<T>, fail: Fail): Promise<E.Either<Reported, T>> => {
  try {
    return E.right(await write());
  } catch (thrown) {
    if (thrown instanceof AtomicWriteError) {
      fail(thrown.message, EXIT_USAGE);
      return E.left("reported");
    }
    throw thrown;
  }
};

/** Writes each `[path, bytes]` atomically, in order, creating the folder of the first. */
export const writeOutputs = async (files: ReadonlyArray<readonly [string, Uint8Array | string]>, context: CliContext, fail: Fail): Promise<E.Either<Reported, void>> =>
  reportingWriteErrors(async () => {
    const options = writeOptionsFor(context);
    const first = files[0];
    if (first !== undefined) await ensureDirectoryFor(first[0], options);
    for (const [path, data] of files) await writeFileAtomic(path, data, options);
  }, fail);

/** Loads the model file; one that cannot be loaded is reported with exit 2. */
export const loadModelStep = async (file: string, context: CliContext, fail: Fail): Promise<E.Either<Reported, LoadedModel>> => {
  const loaded = await loadModel(file, context.io.cwd);
  if (E.isLeft(loaded)) {
    fail(loaded.left, EXIT_USAGE);
    return E.left("reported");
  }
  return loaded;
};

/**
 * The exit code for a command's diagnostics: 2 when every one is about its arguments or files
 * (a code in `usageCodes`), 1 when the model itself is at fault.
 */
export const exitCodeFor =
  (usageCodes: readonly string[]) =>
  (diagnostics: Diagnostics): number =>
    diagnostics.every((d) => usageCodes.includes(d.code)) ? EXIT_USAGE : EXIT_DIAGNOSTICS;
