#!/usr/bin/env node
// Builds one workspace package for publishing: `dist/` gets the JavaScript and the declaration
// files that `tsc -p tsconfig.build.json` emits from `src/`. Run in the package's folder
// (`pnpm --filter @graft/core build`) or with the folder as argument. @graft/compiler's build
// reads the declarations of core and runtime from their `dist/` (core those of runtime), so build those first
// (`pnpm pack:all` does it in order).
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const packageDir = resolve(process.argv[2] ?? process.cwd());
const config = join(packageDir, "tsconfig.build.json");
if (!existsSync(config)) {
  console.error(`build-package: ${packageDir} has no tsconfig.build.json`);
  process.exit(2);
}
rmSync(join(packageDir, "dist"), { recursive: true, force: true });
const tsc = join(root, "node_modules", ".bin", "tsc");
const result = spawnSync(tsc, ["-p", config], { stdio: "inherit" });
if (result.error !== undefined) {
  console.error(`build-package: cannot run ${tsc}: ${result.error.message}`);
  process.exit(2);
}
process.exit(result.status ?? 1);
