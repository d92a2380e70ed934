// The installable packages, as a user outside the repository gets them: runs the README's
// "graft in your own project" recipe as written (pack:all, npm install of the three tarballs in
// a temporary folder, graft check / compile / train, the bundle under plain node, a TypeScript
// script using the trainer API), then type-checks that script against the shipped declarations.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const SECTION = "## graft in your own project";

/** The first ```sh block of the README section `heading`. */
export const shellBlockOf = (readme: string, heading: string): string => {
  const start = readme.indexOf(`${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section '${heading}'`);
  const next = readme.indexOf("\n## ", start + heading.length);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const block = /```sh\n([\s\S]*?)\n```/.exec(section);
  if (block?.[1] === undefined) throw new Error(`README.md section '${heading}' has no sh block`);
  return block[1];
};

let temp = "";
let run: { status: number | null; stdout: string; stderr: string } = { status: null, stdout: "", stderr: "" };

beforeAll(() => {
  temp = mkdtempSync(join(tmpdir(), "graft-outside-"));
  const recipe = shellBlockOf(readFileSync(join(root, "README.md"), "utf8"), SECTION);
  writeFileSync(join(temp, "recipe.sh"), `set -euo pipefail\n${recipe}\n`);
  // TMPDIR: `mktemp -d` in the recipe makes the project inside our temp folder
  const result = spawnSync("bash", [join(temp, "recipe.sh")], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, TMPDIR: temp, npm_config_prefer_offline: "true", npm_config_update_notifier: "false" },
    timeout: 280_000,
  });
  run = { status: result.status, stdout: result.stdout, stderr: result.stderr };
}, 300_000);

afterAll(() => {
  if (temp !== "") rmSync(temp, { recursive: true, force: true });
});

const project = (): string => {
  const dir = readdirSync(temp, { withFileTypes: true }).find((entry) => entry.isDirectory() && existsSync(join(temp, entry.name, "model.ts")));
  if (dir === undefined) throw new Error(`the recipe made no project in ${temp}:\n${run.stderr}`);
  return join(temp, dir.name);
};

describe("scripts/build-package.mjs", () => {
  it("refuses a folder without tsconfig.build.json (exit 2)", () => {
    const result = spawnSync(process.execPath, [join(root, "scripts", "build-package.mjs"), temp], { encoding: "utf8" });
    expect(result.stderr).toBe(`build-package: ${temp} has no tsconfig.build.json\n`);
    expect(result.status).toBe(2);
  });

  it("each package has a build config emitting declarations into dist/ from src/", () => {
    for (const name of ["core", "runtime", "compiler"]) {
      const config = JSON.parse(readFileSync(join(root, "packages", name, "tsconfig.build.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
      expect(config.compilerOptions).toMatchObject({ noEmit: false, declaration: true, rootDir: "src", outDir: "dist" });
    }
  });
});

describe("graft installed from its tarballs in a project outside the workspace", () => {
  it("runs the README recipe: check, compile, the bundle under node, train on a CSV, a trainer script", () => {
    expect(run.stderr, run.stdout).not.toMatch(/Cannot find|ERR_|error TS/);
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain("dist/packages/graft-compiler-0.1.0.tgz");
    expect(run.stdout).toContain("model.ts: ok, model tiny");
    expect(run.stdout).toMatch(/model\.mjs: [\d.]+ KB/);
    expect(run.stdout).toMatch(/Float32Array\(3\) \[/); // the bundle's logits under plain node
    expect(run.stdout).toMatch(/epoch 5\/5 .* loss \d/);
    expect(run.stdout).toContain("accuracy 1\n"); // the trainer script fits its 3 rows
  });

  it("installs the three packages from the tarballs, the compiler's registry dependencies and no fast-check", () => {
    const modules = join(project(), "node_modules");
    for (const name of ["core", "runtime", "compiler"]) {
      const manifest = JSON.parse(readFileSync(join(modules, "@graft", name, "package.json"), "utf8")) as { version: string; license: string; exports: Record<string, unknown> };
      expect(manifest.license).toBe("MIT");
      expect(JSON.stringify(manifest.exports)).toContain("./dist/index.js");
      expect(existsSync(join(modules, "@graft", name, "dist", "index.d.ts"))).toBe(true);
      expect(existsSync(join(modules, "@graft", name, "src"))).toBe(false);
    }
    expect(existsSync(join(modules, "fast-check"))).toBe(false);
    expect(existsSync(join(project(), "model.d.mts"))).toBe(true);
  });

  it("type-checks the trainer script against the installed declarations (with @types/node and the DOM lib, as the README says)", () => {
    const dir = project();
    const types = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "-D", "@types/node@20"], { cwd: dir, encoding: "utf8" });
    expect(types.status, types.stderr).toBe(0);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { target: "ES2022", lib: ["ES2022", "DOM"], module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, types: ["node"] }, include: ["train.ts", "model.ts"] }),
    );
    const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", dir], { encoding: "utf8" });
    // graft's own declarations and the user's files must be clean; onnx-proto's declarations use
    // a global `Long` from @types/long, which TypeScript 7 no longer includes by default (its
    // users need skipLibCheck or "types": ["node", "long"])
    const errors = (tsc.stdout + tsc.stderr).split("\n").filter((line) => line.trim() !== "" && !line.includes("node_modules/onnx-proto/"));
    expect(errors).toEqual([]);
    const withLong = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", dir, "--types", "node,long"], { encoding: "utf8" });
    expect(withLong.stdout + withLong.stderr).toBe("");
    expect(withLong.status).toBe(0);
  });
});
