// Every TypeScript block of README.md and docs/*.md is type-checked and run, as written: the
// blocks are written to a temporary folder under examples/ (so that @graft/* and fast-check
// resolve as in a file of the workspace), next to what they refer to — `./seed-toy/` (a link to
// examples/seed-toy), `./mnist.mjs` (examples/mnist/model.ts compiled with --train
// adam:lr=1e-3) and `./iris.mjs` (a 4-feature, 3-class classifier) — then `tsc --noEmit` checks them all and each runs under node with graft's loader.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { main, type CliIo } from "../src/cli.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A ```ts block of a Markdown file: its text and the line of its opening fence. */
export interface CodeBlock {
  readonly doc: string;
  readonly line: number;
  readonly code: string;
}

/** The ```ts blocks of `markdown` (`doc` names it in messages). */
export const typescriptBlocks = (doc: string, markdown: string): CodeBlock[] => {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== "```ts") continue;
    const end = lines.findIndex((line, j) => j > i && line.trim() === "```");
    if (end < 0) throw new Error(`${doc}:${i + 1}: a \`\`\`ts block is never closed`);
    blocks.push({ doc, line: i + 1, code: lines.slice(i + 1, end).join("\n") });
    i = end;
  }
  return blocks;
};

const docs = ["README.md", ...readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];
const blocks = docs.flatMap((doc) => typescriptBlocks(doc, readFileSync(join(root, doc), "utf8")));
const fileOf = (block: CodeBlock): string => `${block.doc.replace(/[/.]/g, "_")}_line_${block.line}.ts`;

const IRIS_MODEL = `import { crossEntropy, dense, input, model, relu } from "@graft/core";
const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const logits = dense(relu(dense(x, 4, 8, "fc1")), 8, 3, "fc2");
export default model({ name: "iris", outputs: { logits }, loss: crossEntropy(logits, y) });
`;

let dir = "";
beforeAll(async () => {
  dir = mkdtempSync(join(root, "examples", ".doc-blocks-"));
  symlinkSync(join(root, "examples", "seed-toy"), join(dir, "seed-toy"), "dir");
  let err = "";
  const io: CliIo = { out: () => undefined, err: (text) => void (err += text), cwd: dir };
  const code = await main(["compile", join(root, "examples/mnist/model.ts"), "--train", "adam:lr=1e-3", "-o", "mnist.mjs"], { io });
  if (code !== 0) throw new Error(`cannot compile the mnist bundle the README's blocks import: ${err}`);
  writeFileSync(join(dir, "iris-model.ts"), IRIS_MODEL);
  const iris = await main(["compile", join(dir, "iris-model.ts"), "--batch", "32", "-o", "iris.mjs"], { io });
  if (iris !== 0) throw new Error(`cannot compile the iris bundle the README's blocks import: ${err}`);
  for (const block of blocks) writeFileSync(join(dir, fileOf(block)), `${block.code}\n`);
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: "../../tsconfig.json", include: ["*.ts"] }));
}, 120_000);

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe("TypeScript blocks of the README and docs/", () => {
  test("there are blocks in the README and in docs/api.md", () => {
    expect(blocks.filter((b) => b.doc === "README.md").length).toBeGreaterThanOrEqual(6);
    expect(blocks.filter((b) => b.doc === "docs/api.md").length).toBeGreaterThanOrEqual(5);
    expect(typescriptBlocks("x.md", "a\n```ts\nconst a = 1;\n```\n```sh\nls\n```\n```ts\nb\n```\n")).toEqual([
      { doc: "x.md", line: 2, code: "const a = 1;" },
      { doc: "x.md", line: 8, code: "b" },
    ]);
  });

  test("type-check (tsc --noEmit, the workspace's strict settings)", () => {
    const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", dir], { encoding: "utf8" });
    // name the document and line instead of the temporary file
    const report = (tsc.stdout + tsc.stderr).replace(/[\w/.-]*?([\w]+)_md_line_(\d+)\.ts\((\d+),(\d+)\)/g, (_, doc: string, start: string, line: string, column: string) => {
      const name = doc.startsWith("docs_") ? `docs/${doc.slice("docs_".length)}.md` : `${doc}.md`;
      return `${name}:${Number(start) + Number(line)}:${column} (block at line ${start})`;
    });
    expect(report).toBe("");
    expect(tsc.status).toBe(0);
  });

  test.each(blocks.map((block) => [`${block.doc}:${block.line}`, block] as const))("%s runs", (_, block) => {
    const run = spawnSync(process.execPath, [join(root, "packages/compiler/bin/run-ts.mjs"), join(dir, fileOf(block))], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    expect(run.stderr, `${block.doc}:${block.line} failed:\n${run.stdout}`).toBe("");
    expect(run.status).toBe(0);
  });
});
