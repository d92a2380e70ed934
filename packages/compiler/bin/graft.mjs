#!/usr/bin/env node
// The `graft` CLI entry: runs packages/compiler/src/cli.ts through the TypeScript loader.
import "./register.mjs";

const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv.slice(2));
