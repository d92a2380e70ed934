/**
 * @file What every CLI command gets: where to write, the working directory, the pass pipeline,
 * and a way to set the process exit code. Commands register themselves on the commander program
 * (see `commands/index.ts`), so `compile`, `train`, ... are new modules, not edits to `cli.ts`.
 */
import type { Command } from "commander";
import type { AtomicFileSystem } from "../data/atomic.js";
import type { NamedPass } from "../../passes/index.js";

/** Where the CLI writes; tests pass buffers, the binary passes the process streams. */
export interface CliIo {
  /** Normal output (the IR, summaries). Text is written as given; callers end lines with "\n". */
  readonly out: (text: string) => void;
  /** Diagnostics, warnings and errors. */
  readonly err: (text: string) => void;
  /** The directory relative paths are resolved against. */
  readonly cwd: string;
}

/** Exit code: success. */
export const EXIT_OK = 0;
/** Exit code: the model has errors (or warnings under --strict). */
export const EXIT_DIAGNOSTICS = 1;
/** Exit code: a usage error, or a model file that cannot be loaded. */
export const EXIT_USAGE = 2;

/** What a command's action gets. */
export interface CliContext {
  readonly io: CliIo;
  /** The pass pipeline (`print --after`, `check`); the registry's by default, replaceable in tests. */
  readonly pipeline: readonly NamedPass[];
  /** Sets the exit code `main` returns; the highest code set wins. */
  readonly exit: (code: number) => void;
  /** The file system every written file goes through (default node's; tests simulate faults). */
  readonly fileSystem?: AtomicFileSystem | undefined;
}

/** A CLI command module: adds its subcommand to the program. */
export interface CliCommand {
  readonly name: string;
  readonly register: (program: Command, context: CliContext) => void;
}

const guarded = new WeakSet<NodeJS.WriteStream>();

/**
 * A reader that went away (`graft print m.ts | head`) is not an error: the rest is dropped.
 * (The stream may already have an "error" listener — the loader's worker pipes into stdout —
 * that re-emits when it is the last one, so ours is always added, once.)
 */
const ignoreBrokenPipe = (stream: NodeJS.WriteStream): void => {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on("error", (thrown: NodeJS.ErrnoException) => {
    if (thrown.code !== "EPIPE") throw thrown;
  });
};

/** The process's streams and working directory. */
export const processIo = (): CliIo => {
  ignoreBrokenPipe(process.stdout);
  ignoreBrokenPipe(process.stderr);
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    cwd: process.cwd(),
  };
};
