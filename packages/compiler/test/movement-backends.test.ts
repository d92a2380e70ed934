/**
 * @file The data-movement ops on random shapes (empty dims, single elements, every pad mode,
 * steps, negative bounds), forward and with their gradients (grad pass): JS and WASM against the
 * f32 reference interpreter. Movement is copying, so values must agree exactly; the gradients'
 * sums (reflect/replicate pads, repeated embedding rows) within f32 rounding.
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { jsBackend } from "../src/backend/js/backend.js";
import { wasmBackend } from "../src/backend/wasm/backend.js";
import { grad } from "../src/passes/grad.js";
import type { Backend } from "../src/backend/types.js";
import { hostFeeds } from "./backend-cases.js";

type Mode = "constant" | "reflect" | "replicate";
interface Case {
  readonly shape: number[];
  readonly op: "slice" | "pad" | "flip" | "concat" | "tril" | "embedding";
  readonly ints: number[];
  readonly mode: Mode;
  readonly seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  shape: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }),
  op: fc.constantFrom("slice", "pad", "flip", "concat", "tril", "embedding"),
  ints: fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 6, maxLength: 6 }),
  mode: fc.constantFrom<Mode>("constant", "reflect", "replicate"),
  seed: fc.nat(1000),
});

/** The model of a case (undefined when the op rejects this shape, e.g. reflect wider than a dim), its feeds. */
const build = (c: Case): { graph: C.Graph; feeds: Record<string, C.NDArray> } | undefined => {
  const random = C.mulberry32(c.seed);
  const values = (shape: readonly number[]): C.NDArray => ({ shape, dtype: "f32", data: Float64Array.from({ length: C.sizeOf(shape) }, () => Math.fround(random() * 4 - 2)) });
  const x = C.param("x", c.shape, C.zeros);
  const rank = c.shape.length;
  const at = (i: number): number => c.ints[i] ?? 0;
  const dim = Math.abs(at(0)) % rank;
  let out: C.Tensor;
  const feeds: Record<string, C.NDArray> = {};
  switch (c.op) {
    case "slice":
      out = C.slice(x, dim, at(1), at(2), (Math.abs(at(3)) % 3) + 1);
      break;
    case "pad": {
      const pads = c.ints.slice(0, 2 * Math.min(rank, 2)).map((n, i) => {
        const size = c.shape[rank - 1 - Math.floor(i / 2)] ?? 1;
        return c.mode === "constant" ? n : c.mode === "reflect" ? Math.abs(n) % Math.max(size, 1) : Math.abs(n);
      });
      out = C.pad(x, pads, { mode: c.mode, value: 0.75 });
      break;
    }
    case "flip":
      out = C.flip(x, at(1) > 0 && rank > 1 ? [dim, (dim + 1) % rank] : [dim]);
      break;
    case "concat": {
      const other = C.input("o", c.shape.map((size, axis) => (axis === dim ? Math.abs(at(1)) % 3 : size)));
      feeds["o"] = values(other.shape as number[]);
      out = C.concat([x, C.exp(other), x], dim);
      break;
    }
    case "tril":
      out = rank >= 2 ? (at(1) > 0 ? C.triu(x, at(2)) : C.tril(x, at(2))) : C.slice(x, 0);
      break;
    case "embedding": {
      const num = Math.max(c.shape[0] ?? 1, 1);
      const indices = C.input("i", [3, 2], "i32");
      feeds["i"] = { shape: [3, 2], dtype: "i32", data: Float64Array.from({ length: 6 }, () => Math.floor(random() * num)) };
      out = C.embedding(indices, C.reshape(x, [c.shape[0] ?? 1, -1]), { paddingIdx: at(1) > 2 ? 0 : undefined });
      break;
    }
  }
  if (out.type === undefined || C.sizeOf(c.shape) === 0 && c.op === "embedding") return undefined;
  const cotangent = C.input("g", out.shape);
  feeds["g"] = values(out.shape as number[]);
  const built = C.buildGraph(C.model({ name: c.op, outputs: { y: out }, loss: C.sum(C.mul(out, cotangent)) }));
  if (E.isLeft(built)) return undefined;
  const withGrad = grad(built.right);
  if (E.isLeft(withGrad)) throw new Error(C.formatDiagnostics(withGrad.left));
  return { graph: withGrad.right, feeds };
};

const agree = (backend: Backend, name: string) =>
  it(`${name}: forward and gradient of random movement graphs equal the f32 reference`, async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const made = build(c);
        if (made === undefined) return;
        checked++;
        const { graph, feeds } = made;
        const session = await backend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 3 });
        const state = session.getState();
        const params = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, { shape: [...v.shape], dtype: v.dtype, data: Float64Array.from(v.data) }]));
        const reference = C.run(graph, feeds, params, { precision: "f32" });
        const outputs = session.run("f", hostFeeds(feeds));
        for (const [output, expected] of Object.entries(reference)) {
          const actual = Array.from(outputs[output]?.data ?? []);
          expect(actual.length, `${c.op} ${output}`).toBe(expected.data.length);
          expected.data.forEach((e, i) => expect(Math.abs((actual[i] ?? NaN) - e), `${JSON.stringify(c)} ${output}[${i}]`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(e))));
        }
      }),
      { seed: 1212, numRuns: 60 },
    );
    expect(checked).toBeGreaterThan(30);
  });

describe("data movement on the compiled back ends", () => {
  agree(jsBackend, "JS");
  agree(wasmBackend, "WASM");
});

describe("embedding indices out of range", () => {
  const graph = (() => {
    const built = C.buildGraph(C.model({ name: "emb", outputs: { y: C.embedding(C.input("ids", [2, 3], "i32"), C.param("w", [5, 2], C.ones)) } }));
    if (E.isLeft(built)) throw new Error(C.formatDiagnostics(built.left));
    return built.right;
  })();
  const ids = { ids: { shape: [2, 3], dtype: "i32" as const, data: Int32Array.from([0, 4, 1, 7, -1, 2]) } };
  for (const [name, backend] of [["JS", jsBackend], ["WASM", wasmBackend]] as const)
    it(`${name}: a fed index outside [0, rows) is refused before any kernel runs, naming the input, the position and the value`, async () => {
      const session = await backend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 1 });
      expect(() => session.run("f", ids)).toThrow("input ids: index at position 3 is 7, expected 0 ≤ index < 5; 2 of 6 indices are out of range");
    });
  it("the reference interpreter: a RangeError naming the op, the value and the table size", () => {
    expect(() => C.run(graph, { ids: { shape: [2, 3], dtype: "i32", data: Float64Array.from(ids.ids.data) } }, { w: { shape: [5, 2], dtype: "f32", data: new Float64Array(10) } })).toThrow(
      "embedding: index 7 at flat position 3 is out of range for 5 embeddings",
    );
  });
});
