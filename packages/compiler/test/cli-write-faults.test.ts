/**
 * @file `graft compile` writes (issue 16, items 1, 12, 18): a bundle, its .d.mts and .mts are
 * written atomically; a full disk (ENOSPC mid-write), a read-only file system (EROFS) or a path
 * that is a directory (EISDIR) is one line naming the file and the cause, exit 2, and the
 * previous file stays whole. Bad optimizer strings are exit 2 as in `graft train`.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import type { AtomicFileSystem } from "../src/toolkit/data/atomic.js";
import { faultyFileSystem, FAULT_MESSAGES, type Fault } from "./fault-fs.js";
import { runCli, type CliRun as Run } from "./cli-run.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const MLP = join(root, "packages/compiler/test/fixtures/bundle/mlp.ts");
const NOPARAM = join(root, "packages/compiler/test/fixtures/cli/noparam.ts");
const cwd = mkdtempSync(join(tmpdir(), "graft-write-faults-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));


const graft = (argv: string[], fileSystem?: AtomicFileSystem): Promise<Run> => runCli(argv, cwd, fileSystem === undefined ? {} : { fileSystem });

const snapshot = (folder: string): Record<string, string> => Object.fromEntries(readdirSync(folder).map((name) => [name, readFileSync(join(folder, name), "utf8")]));

describe("graft compile: a failed write keeps the previous files (item 1)", () => {
  const cases: Array<[Fault, string]> = [];
  for (const fault of ["ENOSPC", "EROFS", "EISDIR"] as const) for (const file of ["a.mjs", "a.d.mts", "a.mts"]) cases.push([fault, file]);

  test.each(cases)("%s writing %s", async (fault, file) => {
    const folder = join(cwd, `${fault}-${file}`);
    const out = join(folder, "a.mjs");
    const first = await graft(["compile", MLP, "-o", out, "--emit-ts"]);
    expect(first.code).toBe(0);
    // The previous files are of another build (sgd step), so a replaced file would show.
    const before = snapshot(folder);
    const run = await graft(["compile", MLP, "-o", out, "--emit-ts", "--train", "sgd:lr=0.1"], faultyFileSystem(file, fault));
    expect(run.err).toBe(`graft compile: could not write ${join(folder, file)}: ${FAULT_MESSAGES[fault]}; the previous file is unchanged\n`);
    expect(run.code).toBe(2);
    expect(snapshot(folder)[file]).toBe(before[file]);
    expect(readdirSync(folder).sort()).toEqual(Object.keys(before).sort());
  });

  test("a fresh file on a full disk leaves nothing behind", async () => {
    const folder = join(cwd, "fresh");
    mkdirSync(folder);
    const run = await graft(["compile", MLP, "-o", join(folder, "b.mjs")], faultyFileSystem("b.mjs", "ENOSPC"));
    expect(run.err).toBe(`graft compile: could not write ${join(folder, "b.mjs")}: ENOSPC: no space left on device; no file was created\n`);
    expect(run.code).toBe(2);
    expect(readdirSync(folder)).toEqual([]);
  });

  test("-o a directory, -o a device, -o under a file", async () => {
    const folder = join(cwd, "is-a-dir.mjs");
    mkdirSync(folder);
    let run = await graft(["compile", MLP, "-o", folder]);
    expect(run.err).toBe(`graft compile: could not write ${folder}: it is a directory; nothing was changed\n`);
    expect(run.code).toBe(2);
    run = await graft(["compile", MLP, "-o", "/dev/null"]);
    expect(run.err).toBe("graft compile: could not write /dev/null: it is not a regular file (a device, FIFO or socket); nothing was changed\n");
    expect(run.code).toBe(2);
    await graft(["compile", MLP, "-o", join(cwd, "plain.mjs")]);
    run = await graft(["compile", MLP, "-o", join(cwd, "plain.mjs", "c.mjs")]);
    expect(run.err).toBe(`graft compile: could not write ${join(cwd, "plain.mjs", "c.mjs")}: cannot create the folder ${join(cwd, "plain.mjs")}: EEXIST: file already exists; no file was created\n`);
    expect(run.code).toBe(2);
  });
});

describe("graft compile: bad arguments exit 2 (item 12)", () => {
  test.each([
    ["adam:lr=-1", "adam: invalid learning rate -1 (expected a finite number ≥ 0)"],
    ["adam:lr=1e400", "adam: invalid learning rate Infinity (expected a finite number ≥ 0)"],
    ["adam:beta1=1.5", "adam: invalid beta1 1.5 (expected 0 ≤ beta1 < 1)"],
    ["sgd:lr=0.1,momentum=-0.5", "sgd: invalid momentum -0.5 (expected a finite number ≥ 0)"],
    ["sgd:lr=0.1,nesterov=true", "sgd: nesterov momentum requires a momentum > 0 and zero dampening (got momentum 0, dampening 0)"],
  ])("--train %s", async (spec, message) => {
    const run = await graft(["compile", MLP, "-o", join(cwd, "never.mjs"), "--train", spec]);
    expect(run.err).toBe(`optimizer "${spec}": ${message}\ngraft compile: ${MLP}: no bundle written\n`);
    expect(run.code).toBe(2);
  });
});

describe("graft compile --train on a model without params (item 18)", () => {
  test("says there is nothing to train", async () => {
    const run = await graft(["compile", NOPARAM, "-o", join(cwd, "never.mjs"), "--train", "sgd:lr=0.1"]);
    expect(run.err).toContain("optimizer: model noparam has no params, so there is nothing to train; declare weights with param(...) or a layer such as dense(...)");
    expect(run.code).toBe(1);
  });
});
