/**
 * @file The CLI's habits (issue 13): `--version`, `check` on several files and `--json`,
 * `compile` without `-o`, `print --kernels --backend`, warnings for options a mode ignores, and
 * model files anywhere — outside the workspace and at its root, where `@graft/*` resolve to the
 * graft running the command (the loader's resolve hook). In-process through `main`, and through
 * bin/graft.mjs for files outside the workspace.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { JsonCheckReport } from "../src/toolkit/cli/commands/check.js";
import { ignoredPrintOptions } from "../src/toolkit/cli/commands/print.js";
import { runCli, type CliRun as Run } from "./cli-run.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const bin = join(root, "packages/compiler/bin/graft.mjs");
const fixture = (name: string): string => `packages/compiler/test/fixtures/cli/${name}.ts`;


const graft = (argv: string[]): Promise<Run> => runCli(argv, root);

const MODEL = `import { crossEntropy, dense, input, model } from "@graft/core";

const x = input("x", ["batch", 3]);
const y = input("y", ["batch"], "i32");
const logits = dense(x, 3, 2, "fc");

export default model({ name: "anywhere", outputs: { logits }, loss: crossEntropy(logits, y) });
`;

describe("graft --version", () => {
  test("prints @graft/compiler's version (exit 0)", async () => {
    const { version } = JSON.parse(readFileSync(join(root, "packages/compiler/package.json"), "utf8")) as { version: string };
    expect(await graft(["--version"])).toEqual({ code: 0, out: `${version}\n`, err: "" });
    expect(await graft(["-V"])).toEqual({ code: 0, out: `${version}\n`, err: "" });
  });
});

describe("graft check on several files", () => {
  test("reports each file; the exit code is the worst (1 for a model with errors)", async () => {
    const run = await graft(["check", "examples/seed-toy/model.ts", fixture("bad-matmul"), fixture("double-softmax")]);
    expect(run.code).toBe(1);
    expect(run.out).toBe(
      "examples/seed-toy/model.ts: ok, model seed_toy (7 nodes, 0 warnings)\n" + `${fixture("double-softmax")}: ok, model double_softmax (9 nodes, 1 warning)\n`,
    );
    expect(run.err).toContain(`${fixture("bad-matmul")}:6:16 matmul: inner dims differ: f32[batch,784] @ f32[512,256] (784 ≠ 512)\n${fixture("bad-matmul")}: 1 error, 0 warnings\n`);
    expect(run.err).toContain("warning: cross_entropy is fed the output of softmax");
  });

  test("a file that cannot be loaded does not stop the others (exit 2)", async () => {
    const run = await graft(["check", "missing.ts", "examples/seed-toy/model.ts"]);
    expect(run.code).toBe(2);
    expect(run.err).toBe(`graft check: cannot find model file missing.ts (looked for ${join(root, "missing.ts")})\n`);
    expect(run.out).toBe("examples/seed-toy/model.ts: ok, model seed_toy (7 nodes, 0 warnings)\n");
  });

  test("--json: one document on stdout with every file and diagnostic (file, line, column, code, severity, message)", async () => {
    const run = await graft(["check", "--json", "examples/seed-toy/model.ts", fixture("bad-matmul"), fixture("double-softmax"), "missing.ts"]);
    expect(run.code).toBe(2);
    expect(run.err).toBe("");
    const report = JSON.parse(run.out) as JsonCheckReport;
    expect(report.files).toEqual([
      { file: "examples/seed-toy/model.ts", status: "ok", model: "seed_toy", errors: 0, warnings: 0 },
      { file: fixture("bad-matmul"), status: "failed", model: "bad_matmul", errors: 1, warnings: 0 },
      { file: fixture("double-softmax"), status: "ok", model: "double_softmax", errors: 0, warnings: 1 },
      { file: "missing.ts", status: "unloadable", model: null, errors: 1, warnings: 0 },
    ]);
    expect(report.diagnostics[0]).toEqual({ file: fixture("bad-matmul"), line: 6, column: 16, code: "type", severity: "error", message: "matmul: inner dims differ: f32[batch,784] @ f32[512,256] (784 ≠ 512)" });
    expect(report.diagnostics[1]).toMatchObject({ file: fixture("double-softmax"), line: 8, column: 74, code: "lint/cross-entropy-on-probabilities", severity: "warning" });
    expect(report.diagnostics[1]?.hint).toMatch(/^pass the logits/);
    expect(report.diagnostics[2]).toEqual({ file: "missing.ts", line: null, column: null, code: "cli/load", severity: "error", message: `cannot find model file missing.ts (looked for ${join(root, "missing.ts")})` });
    expect(report.diagnostics).toHaveLength(3);
  });

  test("--json --strict: warnings fail the file", async () => {
    const run = await graft(["check", "--json", "--strict", fixture("double-softmax")]);
    expect(run.code).toBe(1);
    expect((JSON.parse(run.out) as JsonCheckReport).files[0]?.status).toBe("failed");
  });
});

describe("graft print: --backend and ignored options", () => {
  test("--kernels --backend wasm names the back end and checks it compiles the kernels", async () => {
    const run = await graft(["print", "--kernels", "--backend", "wasm", "--batch", "4", "examples/seed-toy/model.ts"]);
    expect(run.code).toBe(0);
    expect(run.err).toBe("");
    expect(run.out).toMatch(/^# wasm back end \(each kernel is a function of one WebAssembly SIMD module over linear memory\)\nfunction forward \[batch=4\]: \d+ kernels\n/);
    const js = await graft(["print", "--memory", "examples/seed-toy/model.ts"]);
    expect(js.out).toMatch(/^# js back end \(each kernel is a generated loop over Float32Array views of one arena\)\nfunction forward \[batch=1\]: arena/);
  });

  test("an unknown --backend is a usage error", async () => {
    const run = await graft(["print", "--kernels", "--backend", "gpu", "examples/seed-toy/model.ts"]);
    expect(run.code).toBe(2);
    expect(run.err).toBe("error: option '--backend <name>' argument 'gpu' is invalid. Allowed choices are js, wasm.\n(run graft --help for usage)\n");
  });

  test("options the mode ignores are warned about on stderr; the output is unchanged", async () => {
    const run = await graft(["print", "--grad", "--train", "adam", "--batch", "8", "--backend", "js", "examples/seed-toy/model.ts"]);
    expect(run.code).toBe(0);
    expect(run.err).toBe(
      "graft print: warning: --train is ignored without --kernels or --memory\n" +
        "graft print: warning: --batch is ignored without --kernels or --memory\n" +
        "graft print: warning: --backend is ignored without --kernels or --memory\n",
    );
    expect(run.out).toMatch(/^graph seed_toy \{/);
    const compiled = await graft(["print", "--kernels", "--locations", "examples/seed-toy/model.ts"]);
    expect(compiled.err).toBe("graft print: warning: --locations is ignored with --kernels/--memory (they print compiled code, not the IR)\n");
    expect(ignoredPrintOptions({ kernels: true, train: "sgd", batch: "2", backend: "wasm" })).toEqual([]);
    expect(ignoredPrintOptions({ locations: true })).toEqual([]);
  });
});

describe("model files anywhere (bin/graft.mjs)", () => {
  let outside = "";
  let inside = "";
  beforeAll(() => {
    outside = mkdtempSync(join(tmpdir(), "graft-anywhere-"));
    mkdirSync(join(outside, "my"));
    writeFileSync(join(outside, "my", "model.ts"), MODEL);
    mkdirSync(join(root, "artifacts"), { recursive: true });
    inside = mkdtempSync(join(root, "artifacts", "cli-anywhere-"));
    writeFileSync(join(inside, "model.ts"), MODEL);
  });
  afterAll(() => {
    for (const dir of [outside, inside]) if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });
  const spawnGraft = (cwd: string, ...argv: string[]) => spawnSync(process.execPath, [bin, ...argv], { cwd, encoding: "utf8" });

  test("a model outside any project: check, and compile writes <model>.mjs next to the model", () => {
    const check = spawnGraft(outside, "check", "my/model.ts");
    expect(check.stderr).toBe("");
    expect(check.stdout).toBe("my/model.ts: ok, model anywhere (8 nodes, 0 warnings)\n");
    expect(check.status).toBe(0);
    const compile = spawnGraft(outside, "compile", "my/model.ts");
    expect(compile.stderr).toBe("");
    expect(compile.status).toBe(0);
    expect(compile.stdout).toMatch(/^my\/model\.mjs: [\d.]+ KB — .*\nmy\/model\.d\.mts: type declarations\n/);
    expect(existsSync(join(outside, "my", "model.d.mts"))).toBe(true);
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", `const { load } = await import(${JSON.stringify(pathToFileURL(join(outside, "my", "model.mjs")).href)}); const m = await load(); console.log(m.forward({ x: [1, 2, 3] }).logits.length);`], { encoding: "utf8" });
    expect(run.stdout).toBe("2\n");
  });

  test("a model in the workspace outside examples/ (no @graft/core next to it)", () => {
    const check = spawnGraft(root, "check", join(inside, "model.ts"));
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/model\.ts: ok, model anywhere/);
  });

  test("a missing @graft package is still reported with the user's file", () => {
    writeFileSync(join(outside, "my", "typo.ts"), `import { model } from "@graft/cor";\nexport default model;\n`);
    const check = spawnGraft(outside, "check", "my/typo.ts");
    expect(check.status).toBe(2);
    expect(check.stderr).toMatch(/^graft check: cannot load my\/typo\.ts: Cannot find package '@graft\/cor' imported from .*my\/typo\.ts\n$/);
  });
});
