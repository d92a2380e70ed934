// `graft compile`: in-process through `main` (captured output, a temp folder as cwd) for every
// option and error, and one end-to-end run of bin/graft.mjs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBatches, parseDim } from "../src/toolkit/cli/commands/compile.js";
import { runCli, type CliRun as Run } from "./cli-run.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const fixture = (name: string): string => join(root, "packages/compiler/test/fixtures/bundle", `${name}.ts`);


let cwd = "";
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), "graft-compile-cli-"));
});
afterAll(() => {
  rmSync(cwd, { recursive: true, force: true });
});

/** Runs `graft …` in-process with the temp folder as the working directory. */
const graft = (...argv: string[]): Promise<Run> => runCli(argv, cwd);

type Loaded = { load: (weights?: Uint8Array) => Promise<{ info: { batches: number[] }; saveWeights(): Uint8Array; forward(feeds: object): { logits: Float32Array } }> };
const importBundle = async (file: string): Promise<Loaded> => (await import(/* @vite-ignore */ `${pathToFileURL(join(cwd, file)).href}?${Date.now()}`)) as Loaded;

describe("graft compile", () => {
  it("writes the bundle and its .d.mts and reports the sizes", async () => {
    const run = await graft("compile", fixture("mlp"), "-o", "out/mlp.mjs", "--train", "sgd:lr=0.1", "--batch", "1,4");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^out\/mlp\.mjs: [\d.]+ KB — runtime \+ kernels [\d.]+ KB minified, [\d.]+ KB gzipped\nout\/mlp\.d\.mts: type declarations\nmodel tiny_mlp: forward, evaluate, trainStep at batch 1, 4, js kernels, sgd:lr=0\.1,momentum=0,/);
    expect(existsSync(join(cwd, "out/mlp.d.mts"))).toBe(true);
    expect(existsSync(join(cwd, "out/mlp.mts"))).toBe(false);
    const { load } = await importBundle("out/mlp.mjs");
    expect((await load()).info.batches).toEqual([1, 4]);
  });

  it("--emit-ts keeps the TypeScript module next to the bundle", async () => {
    const run = await graft("compile", fixture("mlp"), "-o", "typed.mjs", "--emit-ts");
    expect(run.code).toBe(0);
    expect(run.out).toContain("typed.mts: the TypeScript module the bundle was built from\n");
    expect(readFileSync(join(cwd, "typed.mts"), "utf8")).toContain("export async function load(");
  });

  it("--weights embeds safetensors weights that load() starts from", async () => {
    const { load } = await importBundle("typed.mjs");
    const trained = await load();
    const bytes = trained.saveWeights();
    bytes[bytes.length - 1] = 0x3f; // change the last weight's top byte: not the initial values any more
    writeFileSync(join(cwd, "w.safetensors"), bytes);
    const run = await graft("compile", fixture("mlp"), "-o", "embedded.mjs", "--weights", "w.safetensors");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/embedded\.mjs: [\d.]+ KB — runtime \+ kernels [\d.]+ KB minified, [\d.]+ KB gzipped; embedded weights [\d.]+ (B|KB) \(base64\)\n/);
    const embedded = await importBundle("embedded.mjs");
    expect((await embedded.load()).saveWeights()).toEqual(bytes);
  });

  it("--dim sizes other symbolic dims", async () => {
    const run = await graft("compile", fixture("sequence"), "-o", "seq.mjs", "--dim", "seq=5", "--batch", "2");
    expect(run.err).toBe("");
    expect(run.out).toContain("model sequence: forward at batch 2, js kernels\n");
  });

  it("--backend wasm embeds WASM modules", async () => {
    const run = await graft("compile", fixture("mlp"), "-o", "wasm.mjs", "--backend", "wasm");
    expect(run.code).toBe(0);
    expect(run.out).toContain("model tiny_mlp: forward at batch 1, wasm kernels\n");
    const { load } = await importBundle("wasm.mjs");
    expect((await load()).forward({ x: new Float32Array(6) }).logits).toHaveLength(3);
  });

  const failures: ReadonlyArray<[string, string[], number, string | RegExp]> = [
    ["a missing model file", ["compile", "missing.ts", "-o", "x.mjs"], 2, /^graft compile: cannot find model file missing\.ts \(looked for .*missing\.ts\)\n$/],
    ["a module that is not a model", ["compile", fixture("not-a-model"), "-o", "x.mjs"], 2, /^graft compile: the default export of .*not-a-model\.ts is not a model \(it is an object \{"layers":3\}\)/],
    ["a model that does not check", ["compile", fixture("bad-shapes"), "-o", "x.mjs"], 1, /bad-shapes\.ts:7:\d+ .*\ngraft compile: .*bad-shapes\.ts: no bundle written\n$/],
    ["a bad optimizer", ["compile", fixture("mlp"), "-o", "x.mjs", "--train", "lion"], 2, `optimizer "lion": unknown optimizer 'lion'; expected one of sgd, adam, adamw, rmsprop, adagrad\n`],
    ["an unsized dim", ["compile", fixture("sequence"), "-o", "x.mjs"], 2, "model sequence: symbolic dim 'seq' needs a size; pass --dim seq=<size>\n"],
    ["an unreadable weights file", ["compile", fixture("mlp"), "-o", "x.mjs", "--weights", "nope.safetensors"], 2, /^graft compile: cannot read --weights nope\.safetensors: ENOENT/],
    ["weights that do not fit", ["compile", fixture("sequence"), "-o", "x.mjs", "--dim", "seq=2", "--weights", "w.safetensors"], 2, /^w\.safetensors: weights do not match the model \(5 problems\):\n {2}tensor "scale" is missing \(expected F32 \[1\]\)\n/],
    ["a bad --batch", ["compile", fixture("mlp"), "-o", "x.mjs", "--batch", "8,x"], 2, "error: option '--batch <sizes>' argument '8,x' is invalid. expected positive integers separated by commas (e.g. 32 or 1,32), got '8,x'\n"],
    ["a bad --dim", ["compile", fixture("mlp"), "-o", "x.mjs", "--dim", "seq"], 2, "error: option '--dim <name=size>' argument 'seq' is invalid. expected name=size with a positive integer size (e.g. seq=128), got 'seq'\n"],
    ["a --dim given twice", ["compile", fixture("sequence"), "-o", "x.mjs", "--dim", "seq=2", "--dim", "seq=3"], 2, "error: option '--dim <name=size>' argument 'seq=3' is invalid. dim 'seq' is given twice\n"],
    ["an unknown back end", ["compile", fixture("mlp"), "-o", "x.mjs", "--backend", "gpu"], 2, "error: option '--backend <name>' argument 'gpu' is invalid. Allowed choices are js, wasm.\n"],
    // without -o the bundle is <model>.mjs next to the model: refused when that is the model itself
    ["a bundle over the model file", ["compile", join(root, "packages/compiler/test/fixtures/bundle/plain-js.mjs")], 2, /^graft compile: the bundle \/.*\/fixtures\/bundle\/plain-js\.mjs would replace the model file; pass -o <file\.mjs>\n$/],
  ];
  it.each(failures)("refuses %s", async (_, argv, code, message) => {
    const run = await graft(...argv);
    expect(run.code).toBe(code);
    expect(run.out).toBe("");
    if (typeof message === "string") expect(run.err.startsWith(message) || run.err.includes(message)).toBe(true);
    else expect(run.err).toMatch(message);
    expect(existsSync(join(cwd, "x.mjs"))).toBe(false);
  });

  it("parses --batch and --dim values", () => {
    expect(parseBatches("32")).toEqual([32]);
    expect(parseBatches("1, 32")).toEqual([1, 32]);
    expect(() => parseBatches("0")).toThrow("expected positive integers separated by commas (e.g. 32 or 1,32), got '0'");
    expect(() => parseBatches("1.5")).toThrow("got '1.5'");
    expect(parseDim("seq=128", { width: 4 })).toEqual({ width: 4, seq: 128 });
    expect(() => parseDim("seq=0")).toThrow("expected name=size with a positive integer size (e.g. seq=128), got 'seq=0'");
  });

  it("runs end to end through bin/graft.mjs", () => {
    const result = spawnSync(process.execPath, [join(root, "packages/compiler/bin/graft.mjs"), "compile", fixture("mlp"), "-o", join(cwd, "bin.mjs"), "--train", "adam:lr=1e-3"], { encoding: "utf8", cwd: root });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("model tiny_mlp: forward, evaluate, trainStep at batch 32, js kernels, adam:lr=0.001,");
    const check = spawnSync(process.execPath, ["--input-type=module", "-e", `const { load } = await import(${JSON.stringify(pathToFileURL(join(cwd, "bin.mjs")).href)}); const m = await load(); console.log(m.info.optimizer.split(",")[0]);`], { encoding: "utf8", cwd });
    expect(check.stdout).toBe("adam:lr=0.001\n");
  });
});
