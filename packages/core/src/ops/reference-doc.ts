/**
 * @file The op reference (`docs/ops.md`), generated from the op table: every row of `opTable`
 * in table order, with its kind, arity, whether it is a composite and its gradient (a rule, its
 * decomposition's, or the reason for none) read from the row, and the words of `opDocs` (signature, shape rule, gradient, PyTorch equivalent).
 * `pnpm docs:ops` writes it; a test fails when the checked-in file differs.
 */
import type { OpName } from "./attrs.js";
import { opDocs } from "./docs.js";
import { opNames, opTable } from "./table.js";

/** The command that regenerates `docs/ops.md`. */
export const OP_REFERENCE_COMMAND = "pnpm docs:ops";

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

const arityText = ([min, max]: readonly [number, number]): string => (min === max ? `${min}` : `${min}–${max}`);

/** The gradient column: the row's reason when it has none, else the words of its rule. */
const gradientText = (name: OpName): string => {
  const row = opTable[name];
  if ("none" in row.gradient) return `none: ${row.gradient.none}`;
  const words = opDocs[name]?.gradient;
  if ("fromDecomposition" in row.gradient) return `${words === undefined ? "" : `${words}, `}from its decomposition`;
  return words ?? "yes (rule in the table, not described yet)";
};

/** The op reference as Markdown. */
export const opReferenceMarkdown = (): string => {
  const undocumented = opNames.filter((name) => opDocs[name] === undefined);
  const kinds = [...new Set(opNames.map((name) => opTable[name].kind))];
  const lines = [
    "# graft op reference",
    "",
    `<!-- generated from the op table (packages/core/src/ops/table.ts, words in ops/docs.ts) by \`${OP_REFERENCE_COMMAND}\`: do not edit -->`,
    "",
    `${opNames.length} ops, one row of the op table each (shape and dtype rule, float64 reference semantics, gradient rule).`,
    "The DSL functions of `@graft/core` build them; several functions share one op (e.g. `view`,",
    "`flatten`, `unsqueeze` and `squeeze` are `reshape`). `g` is the cotangent of the op's output.",
    "Dims may be negative (counted from the end). Dtypes: f32, f64, i32, bool; ops never promote",
    "dtypes implicitly (`cast` first). A composite is defined by other ops of the table (its",
    "`decompose`); the `decompose` pass expands it unless the back end fuses it.",
    "",
  ];
  if (undocumented.length > 0) lines.push(`Undocumented (add their entry to packages/core/src/ops/docs.ts): ${undocumented.map((name) => `\`${name}\``).join(", ")}.`, "");
  for (const kind of kinds) {
    lines.push(`## ${kind}`, "", "| op | signature | shape rule | gradient | PyTorch |", "|---|---|---|---|---|");
    for (const name of opNames.filter((op) => opTable[op].kind === kind)) {
      const doc = opDocs[name];
      const arity = arityText(opTable[name].arity);
      const composite = opTable[name].decompose === undefined ? "" : ", composite";
      lines.push(
        `| \`${name}\` (${arity} input${arity === "1" ? "" : "s"}${composite}) | ${cell(doc === undefined ? "—" : `\`${doc.signature.replace(/ · /g, "` · `")}\``)} | ${cell(doc?.shape ?? "undocumented")} | ${cell(gradientText(name))} | ${cell(doc?.torch ?? "—")} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
};
