/**
 * @file Source locations: a diagnostic points at the user's own call (this test file's line and
 * column, found by reading this file), through DSL helpers, and formatted as file:line:col.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import * as g from "@graft/core";
import { diagnosticsOf } from "./helpers.js";

const thisFile = fileURLToPath(import.meta.url);
const source = readFileSync(thisFile, "utf8").split("\n");

/** 1-based line and column of `call` on the line that carries `marker` (V8 reports the column of the called name, after `g.`). */
const locate = (marker: string, call: string): { line: number; column: number } => {
  const index = source.findIndex((text) => text.includes(marker) && text.includes(call) && !text.includes("locate("));
  if (index < 0) throw new Error(`marker ${marker} not found`);
  const column = (source[index] ?? "").indexOf(call) + 1;
  return { line: index + 1, column };
};

describe("a diagnostic carries the caller's file, line and column", () => {
  test("a mismatched matmul points at the matmul call", () => {
    const x = g.input("x", ["batch", 784]);
    const w = g.param("w", [512, 256]);
    const bad = g.matmul(x, w); // MARK-matmul
    const [diagnostic] = diagnosticsOf(bad);
    expect(diagnostic?.loc).toEqual({ file: thisFile, ...locate("MARK-matmul", "matmul(") });
    const { line, column } = locate("MARK-matmul", "matmul(");
    expect(g.formatDiagnostic(diagnostic as g.Diagnostic)).toBe(
      `packages/core/test/locations.test.ts:${line}:${column} matmul: inner dims differ: f32[batch,784] @ f32[512,256] (784 ≠ 512)`,
    );
  });

  test("an activation's type or option error points at its call", () => {
    const bad = g.gelu(g.input("n", [2], "i32")); // MARK-gelu
    const { line, column } = locate("MARK-gelu", "gelu(");
    expect(g.formatDiagnostic(diagnosticsOf(bad)[0] as g.Diagnostic)).toBe(`packages/core/test/locations.test.ts:${line}:${column} gelu: expected a float input (f32 or f64), got i32[2]`);
    const badRange = g.hardtanh(g.input("x", [2]), 3, 1); // MARK-hardtanh
    const at = locate("MARK-hardtanh", "hardtanh(");
    expect(g.formatDiagnostic(diagnosticsOf(badRange)[0] as g.Diagnostic)).toBe(`packages/core/test/locations.test.ts:${at.line}:${at.column} hardtanh: minVal 3 is greater than maxVal 1`);
  });

  test("an error inside a DSL helper (dense → matmul) points at the helper's call site", () => {
    const x = g.input("x", ["batch", 784]);
    const out = g.dense(x, 512, 10, "fc"); // MARK-dense
    expect(diagnosticsOf(out)[0]?.loc).toEqual({ file: thisFile, ...locate("MARK-dense", "dense(") });
  });

  test("every node of a good graph records where it was created", () => {
    const z = g.softmax(g.input("x", [2, 3]), 1); // MARK-softmax
    const graph = g.buildGraph(g.model({ outputs: { z } }));
    expect(E.isRight(graph)).toBe(true);
    if (E.isLeft(graph)) return;
    const [inputNode, softmaxNode] = graph.right.nodes;
    expect(inputNode?.loc).toEqual({ file: thisFile, ...locate("MARK-softmax", "input(") });
    expect(softmaxNode?.loc).toEqual({ file: thisFile, ...locate("MARK-softmax", "softmax(") });
  });

  test("errors raised by the DSL itself (squeeze) and by check (the loss) point at the user's line too", () => {
    const squeezed = g.squeeze(g.input("x", [2, 3]), 0); // MARK-squeeze
    expect(diagnosticsOf(squeezed)[0]?.loc).toEqual({ file: thisFile, ...locate("MARK-squeeze", "squeeze(") });
    const notScalar = g.exp(g.input("x", [3])); // MARK-loss
    const built = g.check(g.model({ outputs: {}, loss: notScalar }));
    expect(E.isLeft(built) ? built.left.map((d) => [d.code, d.message, d.loc]) : []).toEqual([
      ["loss", "the loss must be a float scalar, got f32[3] (reduce it, e.g. mean(...))", { file: thisFile, ...locate("MARK-loss", "exp(") }],
    ]);
  });

  test("withSourceLoc attributes every op built inside it to the given location (for compiler passes)", () => {
    const loc: g.SourceLoc = { file: "/somewhere/model.ts", line: 3, column: 7 };
    const t = g.withSourceLoc(loc, () => g.relu(g.input("x", [2])));
    expect(t.loc).toEqual(loc);
    expect(t.inputs[0]?.loc).toEqual(loc);
    // and the override ends with the callback, even when it throws
    expect(() => g.withSourceLoc(loc, () => { throw new Error("boom"); })).toThrowError("boom");
    expect(g.relu(g.input("x", [2])).loc?.file).toBe(thisFile);
  });
});

describe("formatting", () => {
  test("paths inside the working directory are relative, others absolute", () => {
    expect(g.formatLoc({ file: `${process.cwd()}/models/a.ts`, line: 12, column: 15 })).toBe("models/a.ts:12:15");
    expect(g.formatLoc({ file: "/elsewhere/a.ts", line: 1, column: 2 })).toBe("/elsewhere/a.ts:1:2");
  });

  test("errors, warnings with a fix hint, and diagnostics without a location", () => {
    const loc = { file: "/elsewhere/m.ts", line: 9, column: 3 };
    expect(g.formatDiagnostic(g.error("shape", "matmul: bad", loc))).toBe("/elsewhere/m.ts:9:3 matmul: bad");
    expect(g.formatDiagnostic(g.warning("lint/double-softmax", "softmax of a softmax", loc, "drop one"))).toBe(
      "/elsewhere/m.ts:9:3 warning: softmax of a softmax\n  fix: drop one",
    );
    expect(g.formatDiagnostic(g.error("feed", "missing feed for input x"))).toBe("missing feed for input x");
    expect(g.formatDiagnostics([g.error("a", "one"), g.warning("b", "two")])).toBe("one\nwarning: two");
    expect(g.hasErrors([g.warning("b", "two")])).toBe(false);
    expect(g.hasErrors([g.warning("b", "two"), g.error("a", "one")])).toBe(true);
  });
});
