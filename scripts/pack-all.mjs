#!/usr/bin/env node
// `pnpm pack:all`: builds @graft/core, @graft/runtime and @graft/compiler (JavaScript +
// declarations in each package's dist/) and writes their tarballs to dist/packages/ with
// `pnpm pack`, which applies each package's `publishConfig` (exports pointing at dist/) and
// replaces `workspace:*` with the version. Prints the tarball paths, one a line.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const destination = join(root, "dist", "packages");
// in dependency order: core imports runtime, compiler both (their builds read the declarations in dist/)
const packages = ["runtime", "core", "compiler"];

const run = (command, args, cwd) => {
  const result = spawnSync(command, args, { cwd, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (result.error !== undefined || result.status !== 0) {
    process.stderr.write(result.stdout ?? "");
    console.error(`pack:all: \`${command} ${args.join(" ")}\` failed in ${cwd}${result.error === undefined ? "" : `: ${result.error.message}`}`);
    process.exit(1);
  }
};

// pnpm when run through `pnpm pack:all` (npm_execpath), else the pnpm on the PATH, else the
// workspace's pinned pnpm (`packageManager`) through npx
const pnpmCommand = () => {
  const execPath = process.env.npm_execpath;
  if (execPath !== undefined && /pnpm/.test(execPath)) return [process.execPath, execPath];
  if (spawnSync("pnpm", ["--version"], { stdio: "ignore" }).status === 0) return ["pnpm"];
  const { packageManager } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  return ["npx", "--yes", packageManager];
};
const pnpm = pnpmCommand();

rmSync(destination, { recursive: true, force: true });
mkdirSync(destination, { recursive: true });
for (const name of packages) {
  const dir = join(root, "packages", name);
  run(process.execPath, [join(root, "scripts", "build-package.mjs"), dir], root);
  const [command = "pnpm", ...prefix] = pnpm;
  run(command, [...prefix, "pack", "--pack-destination", destination], dir);
}
for (const file of readdirSync(destination).sort()) console.log(join("dist", "packages", file));
