// graft export and graft import write through the atomic writer: a full disk or a read-only file
// system is one line naming the file and the cause, exit 2, and the previous file stays as it was.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { main, type CliIo } from "../../src/cli.js";
import type { AtomicFileSystem } from "../../src/toolkit/data/atomic.js";
import { FAULT_MESSAGES, faultyFileSystem } from "../fault-fs.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const graft = async (argv: string[], fileSystem?: AtomicFileSystem): Promise<{ code: number; out: string; err: string }> => {
  let out = "";
  let err = "";
  const io: CliIo = { out: (text) => void (out += text), err: (text) => void (err += text), cwd: root };
  const code = await main(argv, { io, ...(fileSystem === undefined ? {} : { fileSystem }) });
  return { code, out, err };
};

describe("ONNX commands under write faults", () => {
  it("export: ENOSPC on the .onnx and on the training state leave the previous files unchanged", async () => {
    const dir = mkdtempSync(join(tmpdir(), "graft-onnx-faults-"));
    dirs.push(dir);
    const out = join(dir, "toy.onnx");
    writeFileSync(out, "previous");
    const full = await graft(["export", "examples/seed-toy/model.ts", "-o", out], faultyFileSystem("toy.onnx", "ENOSPC", 16));
    expect([full.code, full.err]).toEqual([2, `graft export: could not write ${out}: ${FAULT_MESSAGES.ENOSPC}; the previous file is unchanged\n`]);
    expect(readFileSync(out, "utf8")).toBe("previous");
    const state = join(dir, "toy.state.safetensors");
    writeFileSync(state, "previous state");
    const readOnly = await graft(["export", "examples/seed-toy/model.ts", "--train", "sgd:lr=0.1", "-o", out], faultyFileSystem("toy.state.safetensors", "EROFS"));
    expect([readOnly.code, readOnly.err]).toEqual([2, `graft export: could not write ${state}: ${FAULT_MESSAGES.EROFS}; the previous file is unchanged\n`]);
    expect(readFileSync(state, "utf8")).toBe("previous state");
  });

  it("import: a read-only file system for the weights writes no model file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "graft-onnx-faults-"));
    dirs.push(dir);
    const out = join(dir, "mlp.ts");
    const run = await graft(["import", "packages/compiler/test/fixtures/onnx/mlp.onnx", "-o", out], faultyFileSystem("mlp.safetensors", "EROFS"));
    expect([run.code, run.err]).toEqual([2, `graft import: could not write ${join(dir, "mlp.safetensors")}: ${FAULT_MESSAGES.EROFS}; no file was created\n`]);
    expect(() => readFileSync(out)).toThrow();
  });
});
