// `pnpm docs:ops`: writes docs/ops.md, the op reference generated from the op table.
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { opReferenceMarkdown } from "../packages/core/src/ops/reference-doc.js";

const target = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."), "docs", "ops.md");
writeFileSync(target, opReferenceMarkdown());
console.log(`wrote ${target}`);
