#!/usr/bin/env node
// `pnpm example <name> [args]`: runs examples/<name>/main.ts through the TypeScript loader.
import "./register.mjs";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const examplesDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../../examples");
const [name, ...rest] = process.argv.slice(2);
const available = readdirSync(examplesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(examplesDir, entry.name, "main.ts")))
  .map((entry) => entry.name);
if (name === undefined || !available.includes(name)) {
  console.error(`usage: pnpm example <name> [args]\nexamples: ${available.join(", ")}`);
  process.exit(2);
}
const entry = join(examplesDir, name, "main.ts");
process.argv = [process.argv[0] ?? "node", entry, ...rest];
await import(pathToFileURL(entry).href);
