/**
 * @file How the CLI shows diagnostics and summaries.
 */
import { formatDiagnostic, type Diagnostics } from "@graft/core";

/** `1 warning`, `2 warnings`. */
export const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? "" : "s"}`;

/** Every diagnostic, one block each, each ending in a newline ("" when there are none). */
export const formatReport = (diagnostics: Diagnostics): string => diagnostics.map((d) => `${formatDiagnostic(d)}\n`).join("");

/** `2 errors, 1 warning`. */
export const countSummary = (diagnostics: Diagnostics): string => {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  return `${plural(errors, "error")}, ${plural(warnings, "warning")}`;
};
