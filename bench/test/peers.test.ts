// bench/scripts/peers.mjs: the peers live outside the workspace install. Run on a copy of the
// script in a temporary bench folder without the peers (no install is attempted here).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const bench = resolve(dirname(fileURLToPath(import.meta.url)), "..");
let copy = "";
beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), "graft-bench-peers-"));
  mkdirSync(join(copy, "bench", "scripts"), { recursive: true });
  mkdirSync(join(copy, "bench", "peers"), { recursive: true });
  copyFileSync(join(bench, "scripts", "peers.mjs"), join(copy, "bench", "scripts", "peers.mjs"));
  copyFileSync(join(bench, "peers", "package.json"), join(copy, "bench", "peers", "package.json"));
});
afterAll(() => {
  if (copy !== "") rmSync(copy, { recursive: true, force: true });
});
const peers = (...args: string[]) => spawnSync(process.execPath, [join(copy, "bench", "scripts", "peers.mjs"), ...args], { encoding: "utf8" });

describe("bench peers", () => {
  test("are pinned apart from the workspace: bench/package.json no longer lists them", () => {
    const manifest = JSON.parse(readFileSync(join(bench, "package.json"), "utf8")) as { dependencies: Record<string, string>; scripts: Record<string, string> };
    const pinned = JSON.parse(readFileSync(join(bench, "peers", "package.json"), "utf8")) as { dependencies: Record<string, string> };
    expect(Object.keys(pinned.dependencies).sort()).toEqual(["@jax-js/jax", "@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "onnxruntime-node"]);
    for (const name of Object.keys(pinned.dependencies)) expect(manifest.dependencies).not.toHaveProperty(name);
    expect(manifest.scripts.bench).toMatch(/^node scripts\/peers\.mjs ensure && /);
    const lock = JSON.parse(readFileSync(join(bench, "peers", "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string }> };
    for (const [name, version] of Object.entries(pinned.dependencies)) expect(lock.packages[`node_modules/${name}`]?.version).toBe(version);
  });

  test("typecheck without the peers says what it skipped and succeeds", () => {
    const run = peers("typecheck");
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("bench peers not installed (pnpm bench:peers): bench/src/main.ts and the peer systems not type-checked\n");
    expect(run.status).toBe(0);
  });

  test("an unknown command is a usage error", () => {
    const run = peers("upgrade");
    expect(run.stderr).toBe("usage: node bench/scripts/peers.mjs install|ensure|typecheck\n");
    expect(run.status).toBe(2);
  });

  test("a failed npm ci names the command and stops (exit 1)", () => {
    // no package-lock.json in the copy: npm ci refuses
    writeFileSync(join(copy, "bench", "peers", ".npmrc"), "offline=true\n");
    const run = peers("install");
    expect(run.stderr).toContain("bench peers: installing @tensorflow/tfjs, @tensorflow/tfjs-backend-wasm, @jax-js/jax, onnxruntime-node into bench/peers (npm ci, once)\n");
    expect(run.stderr).toMatch(/bench peers: `npm ci --ignore-scripts --no-audit --no-fund --loglevel=error` failed \(exit \d+\)\n$/);
    expect(run.status).toBe(1);
  });
});
