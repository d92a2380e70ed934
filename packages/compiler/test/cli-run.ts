// Runs the `graft` CLI in-process for tests, capturing what it writes (shared by the CLI tests).
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { main, type MainOptions } from "../src/cli.js";
import type { CliIo } from "../src/toolkit/cli/context.js";

/** What one CLI run did: its exit code and what it wrote to stdout and stderr. */
export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** The repository root, where the CLI tests run by default. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Runs `graft <argv>` in-process in `cwd` (default the repository root) with `options` (file system, pipeline). */
export const runCli = async (argv: readonly string[], cwd: string = REPO_ROOT, options: Omit<MainOptions, "io"> = {}): Promise<CliRun> => {
  let out = "";
  let err = "";
  const io: CliIo = { out: (text) => void (out += text), err: (text) => void (err += text), cwd };
  const code = await main([...argv], { ...options, io });
  return { code, out, err };
};
