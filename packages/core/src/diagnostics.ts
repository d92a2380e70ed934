/**
 * @file Diagnostics: every error and warning graft reports, with the user's location.
 */
import { formatLoc, type SourceLoc } from "./loc.js";

/** One finding. `code` is stable and machine-readable (e.g. `shape`, `dtype`, `lint/double-softmax`). */
export interface Diagnostic {
  readonly severity: "error" | "warning";
  readonly code: string;
  readonly message: string;
  readonly loc?: SourceLoc | undefined;
  /** How to fix it, for lints. */
  readonly hint?: string | undefined;
}

export type Diagnostics = readonly Diagnostic[];

export const error = (code: string, message: string, loc?: SourceLoc): Diagnostic => ({ severity: "error", code, message, loc });

export const warning = (code: string, message: string, loc?: SourceLoc, hint?: string): Diagnostic => ({
  severity: "warning",
  code,
  message,
  loc,
  hint,
});

/** `model.ts:12:15 matmul: inner dims differ: …` for errors, `model.ts:9:3 warning: …` for warnings. */
export const formatDiagnostic = (diagnostic: Diagnostic): string => {
  const where = diagnostic.loc === undefined ? "" : `${formatLoc(diagnostic.loc)} `;
  const kind = diagnostic.severity === "warning" ? "warning: " : "";
  const hint = diagnostic.hint === undefined ? "" : `\n  fix: ${diagnostic.hint}`;
  return `${where}${kind}${diagnostic.message}${hint}`;
};

export const formatDiagnostics = (diagnostics: Diagnostics): string => diagnostics.map(formatDiagnostic).join("\n");

export const hasErrors = (diagnostics: Diagnostics): boolean => diagnostics.some((d) => d.severity === "error");

/** An exception carrying diagnostics, for APIs that throw (runtime feeds, convenience wrappers). */
export class GraftError extends Error {
  readonly diagnostics: Diagnostics;
  constructor(diagnostics: Diagnostics) {
    super(formatDiagnostics(diagnostics));
    this.name = "GraftError";
    this.diagnostics = diagnostics;
  }
}
