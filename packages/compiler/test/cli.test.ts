/**
 * @file The `graft` CLI: `main` run in-process with captured output (check, print, --after,
 * warnings and --strict, every loading error), and one end-to-end run of bin/graft.mjs.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import { error, warning, type Graph } from "@graft/core";
import { checkedPrefix, pipeline, runPipeline, type NamedPass } from "../src/passes/index.js";
import { runCli, type CliRun as Run } from "./cli-run.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const fixture = (name: string): string => `packages/compiler/test/fixtures/cli/${name}.ts`;


/** Runs `main` in-process from the repository root, capturing what it writes. */
const graft = (argv: string[], passes?: readonly NamedPass[]): Promise<Run> => runCli(argv, root, passes === undefined ? {} : { pipeline: passes });

const SEED_TOY_IR = `graph seed_toy {
  %0 = input[name=x] : f32[batch,4]
  %1 = param[name=W, init=zeros] : f32[4,3]
  %2 = matmul %0 %1 : f32[batch,3]
  %3 = param[name=b, init=zeros] : f32[1]
  %4 = add %2 %3 : f32[batch,3]
  %5 = input[name=y] : i32[batch]
  %6 = cross_entropy[dim=1] %4 %5 : f32[]
  return logits=%4, loss=%6
}
`;

/** The 1-based line and column of `call` in a fixture file. */
const lineOf = (file: string, call: string): string => {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  const index = lines.findIndex((line) => line.includes(call) && !line.trimStart().startsWith("//"));
  return `${index + 1}:${(lines[index] ?? "").indexOf(call) + 1}`;
};

describe("graft print", () => {
  test("prints the seed-toy IR", async () => {
    expect(await graft(["print", "examples/seed-toy/model.ts"])).toEqual({ code: 0, out: SEED_TOY_IR, err: "" });
  });

  test("--locations appends each node's file:line:col", async () => {
    const { code, out } = await graft(["print", "--locations", "examples/seed-toy/model.ts"]);
    expect(code).toBe(0);
    expect(out.split("\n")[3]).toBe("  %2 = matmul %0 %1 : f32[batch,3]  # examples/seed-toy/model.ts:9:15");
  });

  test("--after runs the pipeline up to and including the pass", async () => {
    const ran: string[] = [];
    const tagging = (name: string): NamedPass => ({
      name,
      description: `test pass ${name}`,
      run: (graph: Graph) => {
        ran.push(name);
        return E.right({ ...graph, name: `${graph.name}+${name}` });
      },
    });
    const { code, out } = await graft(["print", "examples/seed-toy/model.ts", "--after", "second"], [tagging("first"), tagging("second"), tagging("third")]);
    expect(code).toBe(0);
    expect(ran).toEqual(["first", "second"]);
    expect(out.split("\n")[0]).toBe("graph seed_toy+first+second {");
  });

  test("--after grad prints the backward graph of the real pipeline", async () => {
    const { code, out } = await graft(["print", "examples/seed-toy/model.ts", "--after", "grad"]);
    expect(code).toBe(0);
    expect(out).toContain("grad:W=");
    expect(out).toContain("cross_entropy_backward");
  });

  test("an unknown pass lists the available ones (exit 2)", async () => {
    const { code, out, err } = await graft(["print", "examples/seed-toy/model.ts", "--after", "fusee"]);
    expect({ code, out }).toEqual({ code: 2, out: "" });
    expect(err).toBe(`graft print: unknown pass 'fusee'; the passes are: ${pipeline.map((p) => p.name).join(", ")}\n`);
    expect((await graft(["print", "examples/seed-toy/model.ts", "--after", "fuse"], [])).err).toBe("graft print: unknown pass 'fuse'; the passes are: (none)\n");
  });

  test("a model with errors prints its diagnostics instead (exit 1)", async () => {
    const { code, out, err } = await graft(["print", fixture("bad-matmul")]);
    expect({ code, out }).toEqual({ code: 1, out: "" });
    expect(err).toContain(`${fixture("bad-matmul")}:${lineOf(fixture("bad-matmul"), "matmul(")} matmul: inner dims differ`);
  });

  test("a pass that fails stops print with its diagnostics (exit 1)", async () => {
    const failing: NamedPass = { name: "boom", description: "fails", run: () => E.left([error("boom", "boom: this graph is not supported")]) };
    const { code, err } = await graft(["print", "examples/seed-toy/model.ts", "--after", "boom"], [failing]);
    expect(code).toBe(1);
    expect(err).toBe(`boom: this graph is not supported\nexamples/seed-toy/model.ts: 1 error, 0 warnings\n`);
  });
});

describe("graft check", () => {
  test("a good model exits 0 with a one-line summary", async () => {
    expect(await graft(["check", "examples/seed-toy/model.ts"])).toEqual({ code: 0, out: "examples/seed-toy/model.ts: ok, model seed_toy (7 nodes, 0 warnings)\n", err: "" });
  });

  test("an inference-only model (no loss) checks: only the pipeline's checks run, not grad", async () => {
    const { code, out } = await graft(["check", fixture("inference")]);
    expect(code).toBe(0);
    expect(out).toBe(`${fixture("inference")}: ok, model mlp (14 nodes, 0 warnings)\n`);
  });

  test("a mismatched matmul exits 1 and prints the file:line:col of the call", async () => {
    const file = fixture("bad-matmul");
    const { code, out, err } = await graft(["check", file]);
    expect({ code, out }).toEqual({ code: 1, out: "" });
    expect(err).toBe(`${file}:${lineOf(file, "matmul(")} matmul: inner dims differ: f32[batch,784] @ f32[512,256] (784 ≠ 512)\n${file}: 1 error, 0 warnings\n`);
    // the call is on line 6 of the fixture
    expect(lineOf(file, "matmul(")).toBe("6:16");
  });

  test("lint warnings are printed with their fix; exit 0, or 1 with --strict", async () => {
    const file = fixture("double-softmax");
    const relaxed = await graft(["check", file]);
    expect(relaxed.code).toBe(0);
    expect(relaxed.out).toBe(`${file}: ok, model double_softmax (9 nodes, 1 warning)\n`);
    expect(relaxed.err).toMatch(new RegExp(`^${file}:${lineOf(file, "crossEntropy(")} warning: cross_entropy is fed the output of softmax .*\n  fix: pass the logits`));
    const strict = await graft(["check", "--strict", file]);
    expect(strict.code).toBe(1);
    expect(strict.out).toBe("");
    expect(strict.err.endsWith(`${file}: 0 errors, 1 warning (--strict: warnings are errors)\n`)).toBe(true);
    expect((await graft(["check", "--strict", "examples/seed-toy/model.ts"])).code).toBe(0);
  });

  test("warnings come from lint hooks and errors from passes of a custom pipeline", async () => {
    const linting: NamedPass = {
      name: "nag",
      description: "warns about every model",
      run: E.right,
      lint: (graph) => [warning("test/nag", `graph ${graph.name} has ${graph.nodes.length} nodes`)],
    };
    const nagged = await graft(["check", "examples/seed-toy/model.ts"], [linting]);
    expect(nagged).toEqual({ code: 0, out: "examples/seed-toy/model.ts: ok, model seed_toy (7 nodes, 1 warning)\n", err: "warning: graph seed_toy has 7 nodes\n" });
    const failing: NamedPass = { name: "no", description: "rejects", run: () => E.left([error("test/no", "no: rejected")]), lint: () => [] };
    const rejected = await graft(["check", "examples/seed-toy/model.ts"], [linting, failing]);
    expect(rejected).toEqual({ code: 1, out: "", err: "warning: graph seed_toy has 7 nodes\nno: rejected\nexamples/seed-toy/model.ts: 1 error, 1 warning\n" });
  });

  test("a missing file exits 2 naming the path", async () => {
    expect(await graft(["check", "nope/model.ts"])).toEqual({ code: 2, out: "", err: `graft check: cannot find model file nope/model.ts (looked for ${join(root, "nope/model.ts")})\n` });
    expect((await graft(["print", "nope/model.ts"])).err).toBe(`graft print: cannot find model file nope/model.ts (looked for ${join(root, "nope/model.ts")})\n`);
  });

  test("a directory exits 2", async () => {
    expect(await graft(["check", "examples/seed-toy"])).toEqual({ code: 2, out: "", err: "graft check: examples/seed-toy is not a file: pass a .ts module whose default export is a model\n" });
  });

  test("a module without a default export exits 2", async () => {
    expect(await graft(["check", fixture("no-default")])).toEqual({
      code: 2,
      out: "",
      err: `graft check: ${fixture("no-default")} has no default export: end it with \`export default model({ name, outputs, loss })\`\n`,
    });
  });

  test("a default export that is not a model exits 2 and says what it is", async () => {
    expect(await graft(["check", fixture("not-a-model")])).toEqual({
      code: 2,
      out: "",
      err: `graft check: the default export of ${fixture("not-a-model")} is not a model (it is a tensor (relu : f32[2])): export \`model({ name, outputs, loss })\` from @graft/core\n`,
    });
    expect((await graft(["print", "examples/seed-toy/data.ts"])).err).toBe("graft print: examples/seed-toy/data.ts has no default export: end it with `export default model({ name, outputs, loss })`\n");
  });

  test("a module that throws while loading exits 2 with its message", async () => {
    expect(await graft(["check", fixture("throws")])).toEqual({ code: 2, out: "", err: `graft check: cannot load ${fixture("throws")}: no shape configured for x\n` });
  });
});

describe("usage", () => {
  test("no arguments prints the help to stderr (exit 2); --help to stdout (exit 0)", async () => {
    const bare = await graft([]);
    expect(bare.code).toBe(2);
    expect(bare.err).toContain("Usage: graft [options] [command]");
    expect(bare.err).toContain("check [options] <model.ts...>");
    expect(bare.err).toContain("print [options] <model.ts>");
    const help = await graft(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: graft [options] [command]");
  });

  test("print --help lists the passes", async () => {
    const { code, out } = await graft(["print", "--help"]);
    expect(code).toBe(0);
    expect(out).toContain(`--after <pass>`);
    expect(out.replace(/\s+/g, " ")).toContain(pipeline.map((p) => p.name).join(", "));
  });

  test("an unknown command or a missing argument exits 2 with commander's message", async () => {
    const unknown = await graft(["frob"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toBe("error: unknown command 'frob'\n(run graft --help for usage)\n");
    const missing = await graft(["check"]);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe("error: missing required argument 'model.ts'\n(run graft --help for usage)\n");
  });
});

describe("runPipeline", () => {
  const identity = (name: string, lint?: NamedPass["lint"]): NamedPass => ({ name, description: name, run: E.right, ...(lint === undefined ? {} : { lint }) });
  const graph: Graph = { name: "g", nodes: [], outputs: [], loss: undefined };

  test("collects warnings, stops at `until`, reports the entries that ran", () => {
    const result = runPipeline(graph, [identity("a", () => [warning("w", "one")]), identity("b"), identity("c", () => [warning("w", "two")])], { until: "b" });
    expect(result).toEqual(E.right({ graph, warnings: [warning("w", "one")], ran: ["a", "b"] }));
  });

  test("an unknown `until` is an error listing the names", () => {
    expect(runPipeline(graph, [identity("a")], { until: "z" })).toEqual(E.left([error("pipeline", "unknown pass 'z'; the passes are: a")]));
  });

  test("an error from a linter fails like a pass, after the warnings so far", () => {
    const result = runPipeline(graph, [identity("a", () => [warning("w", "one")]), identity("b", () => [error("e", "bad"), warning("w", "two")])]);
    expect(result).toEqual(E.left([warning("w", "one"), warning("w", "two"), error("e", "bad")]));
  });

  test("a pass that throws becomes an internal error naming it", () => {
    const throwing: NamedPass = {
      name: "oops",
      description: "throws",
      run: () => {
        throw new Error("index out of bounds");
      },
    };
    expect(runPipeline(graph, [throwing])).toEqual(E.left([error("internal", "internal error in pass 'oops': index out of bounds")]));
  });

  test("check runs the pipeline up to its last linter", () => {
    const passes = [identity("a"), identity("b", () => []), identity("c")];
    expect(checkedPrefix(passes).map((p) => p.name)).toEqual(["a", "b"]);
    expect(checkedPrefix([identity("a")])).toEqual([]);
    expect(checkedPrefix(pipeline).map((p) => p.name)).toContain("lint");
  });
});

test("end to end: bin/graft.mjs under node, as `pnpm graft` runs it", () => {
  const run = (args: string[]) => spawnSync(process.execPath, [join(root, "packages/compiler/bin/graft.mjs"), ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });
  const printed = run(["print", "examples/seed-toy/model.ts"]);
  expect(printed.stderr).toBe("");
  expect(printed.status).toBe(0);
  expect(printed.stdout).toBe(SEED_TOY_IR);
  const checked = run(["check", fixture("bad-matmul")]);
  expect(checked.status).toBe(1);
  expect(checked.stderr).toContain(`${fixture("bad-matmul")}:6:16 matmul: inner dims differ: f32[batch,784] @ f32[512,256] (784 ≠ 512)`);
  // a reader that exits before graft writes (`| true`, `| head`) is not a crash
  const piped = spawnSync("bash", ["-c", `"${process.execPath}" packages/compiler/bin/graft.mjs print examples/seed-toy/model.ts | true; echo "status=\${PIPESTATUS[0]}"`], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(piped.stdout).toBe("status=0\n");
  expect(piped.stderr).toBe("");
});

describe("graft print --mode", () => {
  test("eval: dropout is gone and batch norm reads its running statistics; train: batch statistics, a random mask and the state updates", async () => {
    const evaluation = await graft(["print", fixture("dropout-bn"), "--mode", "eval"]);
    expect(evaluation.code).toBe(0);
    expect(evaluation.out).not.toMatch(/random_uniform|mode_switch|state_update|update:/);
    expect(evaluation.out).toMatch(/param\[name=bn\.running_mean/);
    expect(evaluation.out).toMatch(/return y=%\d+\n/);
    const train = await graft(["print", fixture("dropout-bn"), "--mode", "train"]);
    expect(train.code).toBe(0);
    expect(train.out).toMatch(/random_uniform\[shape=\[batch,2\], seed=0, stream=0\]/);
    expect(train.out).not.toMatch(/mode_switch|state_update/);
    expect(train.out).toMatch(/return y=%\d+, update:bn\.running_mean=%\d+, update:bn\.running_var=%\d+, update:bn\.num_batches_tracked=%\d+, update:random\.counter=%\d+\n/);
    const written = await graft(["print", fixture("dropout-bn")]);
    expect(written.out).toMatch(/mode_switch/);
  });

  test("an unknown mode exits 2", async () => {
    expect(await graft(["print", fixture("dropout-bn"), "--mode", "test"])).toEqual({ code: 2, out: "", err: "graft print: --mode must be train or eval, got test\n" });
  });
});
