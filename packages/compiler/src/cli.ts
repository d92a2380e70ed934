/**
 * @file The `graft` command line: `graft check <model.ts>`, `graft print <model.ts>`, and the
 * commands later modules register (see `toolkit/cli/commands/index.ts`). `bin/graft.mjs` runs it under
 * the TypeScript loader and exits with the code `main` returns.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { pipeline as defaultPipeline, type NamedPass } from "./passes/index.js";
import { commands } from "./toolkit/cli/commands/index.js";
import type { AtomicFileSystem } from "./toolkit/data/atomic.js";
import { EXIT_OK, EXIT_USAGE, processIo, type CliContext, type CliIo } from "./toolkit/cli/context.js";

export type { CliCommand, CliContext, CliIo } from "./toolkit/cli/context.js";
export type { JsonCheckReport, JsonDiagnostic, JsonFileResult } from "./toolkit/cli/commands/check.js";
export { EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE } from "./toolkit/cli/context.js";

/** Overrides for `main`, for tests and embedding. */
export interface MainOptions {
  /** Where to write (default: the process's stdout/stderr and working directory). */
  readonly io?: CliIo;
  /** The pass pipeline (default: the registry in passes/index.ts). */
  readonly pipeline?: readonly NamedPass[];
  /** The file system written files go through (default node's; tests simulate ENOSPC, EROFS, …). */
  readonly fileSystem?: AtomicFileSystem;
}

/** The version of @graft/compiler (its package.json: `../package.json` from src/ and from dist/). */
export const graftVersion = (): string => {
  const manifest: unknown = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const version = typeof manifest === "object" && manifest !== null && "version" in manifest ? manifest.version : undefined;
  return typeof version === "string" ? version : "unknown";
};

/** The commander program with every command registered on `context`. */
export const createProgram = (context: CliContext): Command => {
  const program = new Command("graft")
    .description("graft: a compiler for neural-network models written in TypeScript")
    .version(graftVersion(), "-V, --version", "print graft's version")
    .exitOverride()
    .showHelpAfterError("(run graft --help for usage)")
    .configureOutput({ writeOut: context.io.out, writeErr: context.io.err });
  for (const command of commands) command.register(program, context);
  return program;
};

/**
 * Runs the CLI on `argv` (the arguments after the program name) and returns the exit code:
 * 0 success, 1 diagnostics in the model, 2 usage or loading errors.
 */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  let code = EXIT_OK;
  const context: CliContext = {
    io: options.io ?? processIo(),
    pipeline: options.pipeline ?? defaultPipeline,
    exit: (next) => {
      code = Math.max(code, next);
    },
    fileSystem: options.fileSystem,
  };
  const program = createProgram(context);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // --help and --version end with exit code 0; parse errors were already printed by commander
      return thrown.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    throw thrown;
  }
  return code;
}
