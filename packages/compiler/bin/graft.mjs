#!/usr/bin/env node
// The `graft` CLI entry: runs the CLI under the TypeScript loader (so that model files, which
// are TypeScript, load directly) — from `src/cli.ts` in the workspace, from the build in
// `dist/cli.js` in an installed package (which ships no sources).
import "./register.mjs";
import { existsSync } from "node:fs";

const source = new URL("../src/cli.ts", import.meta.url);
const { main } = await import(existsSync(source) ? source.href : new URL("../dist/cli.js", import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
