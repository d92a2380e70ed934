#!/usr/bin/env node
// The benchmark's peers (TensorFlow.js, jax-js, onnxruntime-node: ~600 MB) are not part of the
// workspace install. They are pinned in bench/peers/package.json + package-lock.json and:
//   node bench/scripts/peers.mjs install    npm ci in bench/peers (no install scripts), then link
//                                           each peer into bench/node_modules (`pnpm bench:peers`)
//   node bench/scripts/peers.mjs ensure     install only when a peer is missing or not linked
//                                           (what `pnpm bench` runs first)
//   node bench/scripts/peers.mjs typecheck  type-check the bench's driver and peer systems
//                                           (bench/tsconfig.json) when the peers are installed;
//                                           says so and succeeds when they are not
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const bench = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const peersDir = join(bench, "peers");
const peerNames = Object.keys(JSON.parse(readFileSync(join(peersDir, "package.json"), "utf8")).dependencies);
const installed = (name) => join(peersDir, "node_modules", name);
const linked = (name) => join(bench, "node_modules", name);

const isInstalled = () => peerNames.every((name) => existsSync(join(installed(name), "package.json")));
const linkTarget = (name) => relative(dirname(linked(name)), installed(name));
const isLinked = (name) => {
  try {
    return lstatSync(linked(name)).isSymbolicLink() && readlinkSync(linked(name)) === linkTarget(name);
  } catch {
    return false;
  }
};

const run = (command, args, cwd) => {
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.error !== undefined || result.status !== 0) {
    console.error(`bench peers: \`${command} ${args.join(" ")}\` failed${result.error === undefined ? ` (exit ${result.status})` : `: ${result.error.message}`}`);
    process.exit(1);
  }
};

const install = () => {
  console.error(`bench peers: installing ${peerNames.join(", ")} into bench/peers (npm ci, once)`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  run(npm, ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], peersDir);
  link();
};

const link = () => {
  for (const name of peerNames) {
    if (isLinked(name)) continue;
    mkdirSync(dirname(linked(name)), { recursive: true });
    rmSync(linked(name), { recursive: true, force: true });
    symlinkSync(linkTarget(name), linked(name), "dir");
  }
};

const command = process.argv[2];
if (command === "install") install();
else if (command === "ensure") {
  if (!isInstalled()) install();
  else link();
} else if (command === "typecheck") {
  if (!isInstalled()) {
    console.log("bench peers not installed (pnpm bench:peers): bench/src/main.ts and the peer systems not type-checked");
  } else {
    link(); // `pnpm install` may have removed the links
    run(join(bench, "..", "node_modules", ".bin", "tsc"), ["--noEmit", "-p", join(bench, "tsconfig.json")], bench);
  }
} else {
  console.error("usage: node bench/scripts/peers.mjs install|ensure|typecheck");
  process.exit(2);
}
