#!/usr/bin/env node
// Runs any TypeScript file of the workspace: `node run-ts.mjs file.ts args...`.
import "./register.mjs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [file, ...rest] = process.argv.slice(2);
if (file === undefined) {
  console.error("usage: run-ts <file.ts> [args...]");
  process.exit(2);
}
process.argv = [process.argv[0] ?? "node", resolve(file), ...rest];
await import(pathToFileURL(resolve(file)).href);
