// docs/ops.md is generated from the op table (`pnpm docs:ops`): it must be current, list every
// row of the table, and read gradients from the rows.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { opNames, opTable } from "../src/index.js";
import { opDocs } from "../src/ops/docs.js";
import { OP_REFERENCE_COMMAND, opReferenceMarkdown } from "../src/ops/reference-doc.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

describe("docs/ops.md", () => {
  test("is what the generator writes from the current op table", () => {
    const checkedIn = readFileSync(join(root, "docs", "ops.md"), "utf8");
    const current = opReferenceMarkdown();
    if (checkedIn !== current) {
      const lines = checkedIn.split("\n");
      const first = current.split("\n").findIndex((line, index) => line !== lines[index]);
      expect.fail(`docs/ops.md is stale (first difference at line ${first + 1}): run \`${OP_REFERENCE_COMMAND}\` (npx -y pnpm@10.34.9 docs:ops) to regenerate it from the op table`);
    }
  });

  test("has one line per op of the table, with the row's reason where it has no gradient", () => {
    const text = opReferenceMarkdown();
    for (const name of opNames) expect(text).toContain(`| \`${name}\` (`);
    expect(text).toContain(`| none: argmax is piecewise constant: it has no gradient |`);
    expect(text).toContain(`${opNames.length} ops`);
  });

  test("every documented name is an op of the table", () => {
    for (const name of Object.keys(opDocs)) expect(opTable).toHaveProperty(name);
  });
});
