/**
 * @file What the examples' command lines share: option checks (integers, back ends, on/off), the
 * default artifacts folder, how a folder is shown, percentages, and running `main` when the file
 * is the script Node was started with.
 */
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BackendName } from "@graft/compiler";

/** `97.6%`: a fraction as a percentage with one decimal. */
export const percent = (fraction: number): string => `${(100 * fraction).toFixed(1)}%`;

/** `2026-12-03-104730`: local date and time, for folder names. */
export const timestamp = (date: Date): string => {
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
};

/** The output folder: `out` when given, else `artifacts/<prefix>-<timestamp>` (absolute). */
export const artifactsDir = (out: string | undefined, prefix: string): string => resolve(out ?? join("artifacts", `${prefix}-${timestamp(new Date())}`));

/** `dir` relative to the working directory when it lies below it ("." for itself), else absolute. */
export const shownDir = (dir: string): string => {
  const shown = relative(process.cwd(), dir) || ".";
  return shown.startsWith("..") ? dir : shown;
};

/** The integer value of option `--name` (undefined when not given); throws unless it is an integer ≥ `min`. */
export const integerOption = (name: string, text: string | undefined, min: number): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${text}'`);
  return value;
};

/** The `--backend` value (undefined when not given); throws unless it is js, wasm or reference. */
export const backendOption = (text: string | undefined): BackendName | undefined => {
  if (text !== undefined && text !== "js" && text !== "wasm" && text !== "reference") throw new Error(`--backend must be js, wasm or reference, got '${text}'`);
  return text;
};

/** An on/off option `--name` as a boolean (undefined when not given); throws for any other text. */
export const onOffOption = (name: string, text: string | undefined): boolean | undefined => {
  if (text !== undefined && text !== "on" && text !== "off") throw new Error(`--${name} must be on or off, got '${text}'`);
  return text === undefined ? undefined : text === "on";
};

/**
 * Runs `main` with the command-line arguments when `moduleUrl` (the caller's `import.meta.url`)
 * is the script Node was started with; a thrown error is printed as `<name>: <message>` (the
 * prefix once: not again when the message has it) and sets exit code 1.
 */
export function runIfScript(moduleUrl: string, name: string, main: (argv: readonly string[]) => Promise<void>): void {
  const entry = process.argv[1];
  if (entry === undefined || resolve(entry) !== fileURLToPath(moduleUrl)) return;
  main(process.argv.slice(2)).catch((thrown: unknown) => {
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    console.error(message.startsWith(`${name}:`) ? message : `${name}: ${message}`);
    process.exitCode = 1;
  });
}
