// Any batch size in chunks of the compiled ones: the chunk plan, the recombination of rows,
// means and sums (a property: chunked equals whole), and every error message.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FeedError, planChunks, prepareBatch, runChunked, toFeedRows, type BatchedFunction, type Batching, type FeedArray } from "../src/index.js";

const feedError = (run: () => unknown): FeedError => {
  try {
    run();
  } catch (error) {
    if (error instanceof FeedError) return error;
    throw error;
  }
  throw new Error("expected a FeedError");
};

describe("planChunks", () => {
  it("runs full chunks of the largest size, then pads the rest into the smallest size that holds it", () => {
    expect(planChunks(70, [1, 32], true)).toEqual([
      { start: 0, rows: 32, size: 32 },
      { start: 32, rows: 32, size: 32 },
      { start: 64, rows: 6, size: 32 },
    ]);
    expect(planChunks(5, [4, 8, 2], true)).toEqual([{ start: 0, rows: 5, size: 8 }]);
    expect(planChunks(9, [4, 8, 2], true)).toEqual([
      { start: 0, rows: 8, size: 8 },
      { start: 8, rows: 1, size: 2 },
    ]);
  });

  it("without padding, covers the rest exactly with the fewest chunks, or gives undefined", () => {
    expect(planChunks(70, [1, 32], false)).toEqual([
      { start: 0, rows: 32, size: 32 },
      { start: 32, rows: 32, size: 32 },
      ...Array.from({ length: 6 }, (_, i) => ({ start: 64 + i, rows: 1, size: 1 })),
    ]);
    expect(planChunks(11, [5, 3], false)).toEqual([
      { start: 0, rows: 5, size: 5 },
      { start: 5, rows: 3, size: 3 },
      { start: 8, rows: 3, size: 3 },
    ]);
    expect(planChunks(7, [4], false)).toBeUndefined();
    expect(planChunks(3, [], true)).toBeUndefined();
  });

  it("covers every row once, in order, with compiled sizes (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }), fc.boolean(), (rows, batches, padding) => {
        const chunks = planChunks(rows, batches, padding);
        if (chunks === undefined) {
          expect(padding).toBe(false);
          return;
        }
        let next = 0;
        for (const chunk of chunks) {
          expect(chunk.start).toBe(next);
          expect(batches).toContain(chunk.size);
          expect(chunk.rows).toBeGreaterThan(0);
          expect(chunk.rows).toBeLessThanOrEqual(chunk.size);
          if (!padding) expect(chunk.rows).toBe(chunk.size);
          next += chunk.rows;
        }
        expect(next).toBe(rows);
      }),
    );
  });
});

describe("runChunked equals the whole batch (property)", () => {
  // A "model" on rows of 2 values: out[i] = 2·x[i] (rows), the mean of x over real rows, the
  // sum of x, and cross-entropy-like per-row values averaged over labels other than -1.
  const batching: Extract<Batching, { chunkable: true }> = {
    chunkable: true,
    inputs: ["x", "y"],
    outputs: {
      doubled: { kind: "rows" },
      same: { kind: "same" },
      average: { kind: "mean", weight: "rows" },
      total: { kind: "sum", weight: "rows" },
      labelled: { kind: "mean", weight: "labels", input: "y", ignoreIndex: -1 },
    },
  };
  const run = (size: number, feeds: Record<string, FeedArray>): Record<string, FeedArray> => {
    const x = feeds["x"] ?? new Float32Array(0);
    const y = feeds["y"] ?? new Int32Array(0);
    expect(x).toHaveLength(2 * size);
    const sums = [0, 0];
    let labelled = 0;
    let counted = 0;
    for (let row = 0; row < size; row++) {
      sums[0] = (sums[0] ?? 0) + (x[2 * row] ?? 0);
      sums[1] = (sums[1] ?? 0) + (x[2 * row + 1] ?? 0);
      if (y[row] !== -1) {
        labelled += x[2 * row] ?? 0;
        counted++;
      }
    }
    return {
      doubled: Float64Array.from(x, (v) => 2 * v),
      same: new Float64Array([42]),
      average: Float64Array.from(sums, (s) => s / size),
      total: new Float64Array([(sums[0] ?? 0) + (sums[1] ?? 0)]),
      labelled: new Float64Array([labelled / counted]),
    };
  };

  it("for any rows, sizes and ignored labels (padding with the ignore label only where the means allow)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 }), fc.integer({ min: -1, max: 2 })), { minLength: 1, maxLength: 60 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
        (table, batches) => {
          const rows = table.length;
          const x = Float64Array.from(table.flatMap(([a, b]) => [a, b]));
          const y = Int32Array.from(table.map(([, , label]) => label));
          const chunks = planChunks(rows, [...batches, 1], false);
          if (chunks === undefined) throw new Error("1 is a size");
          const inputs = [
            { name: "x", dtype: "f64" as const, rowSize: 2, batched: true },
            { name: "y", dtype: "i32" as const, rowSize: 1, batched: true },
          ];
          const result = runChunked(batching, chunks, inputs, { x, y }, run);
          const whole = run(rows, { x, y });
          expect(result["doubled"]).toEqual(whole["doubled"]);
          expect(result["same"]).toEqual(whole["same"]);
          expect(result["total"]?.[0]).toBeCloseTo(whole["total"]?.[0] ?? Number.NaN, 9);
          for (const name of ["average", "labelled"]) {
            const expected = whole[name] ?? new Float64Array(0);
            const actual = result[name] ?? new Float64Array(0);
            expect(actual).toHaveLength(expected.length);
            expected.forEach((value, i) => (Number.isNaN(value) ? expect(actual[i]).toBeNaN() : expect(actual[i]).toBeCloseTo(value, 9)));
          }
        },
      ),
    );
  });

  it("pads with the ignore label, so a padded chunk's labelled mean counts only real rows", () => {
    const only: Extract<Batching, { chunkable: true }> = { chunkable: true, inputs: ["x", "y"], outputs: { labelled: { kind: "mean", weight: "labels", input: "y", ignoreIndex: -1 } } };
    const x = Float64Array.from([1, 0, 2, 0, 3, 0, 100, 0, 5, 0]);
    const y = Int32Array.from([0, 1, 0, -1, 2]);
    const seen: number[][] = [];
    const result = runChunked(only, planChunks(5, [4], true) ?? [], [
      { name: "x", dtype: "f64", rowSize: 2, batched: true },
      { name: "y", dtype: "i32", rowSize: 1, batched: true },
    ], { x, y }, (size, feeds) => {
      seen.push(Array.from(feeds["y"] ?? []));
      return run(size, feeds);
    });
    expect(seen).toEqual([[0, 1, 0, -1], [2, -1, -1, -1]]);
    expect(result["labelled"]?.[0]).toBeCloseTo((1 + 2 + 3 + 5) / 4, 12);
  });
});

describe("toFeedRows", () => {
  it("counts the rows of typed arrays, flat and nested Arrays, rounding f32 as Float32Array.from", () => {
    expect(toFeedRows("x", "f32", [2], new Float32Array(6))).toEqual({ array: new Float32Array(6), rows: 3 });
    expect(toFeedRows("x", "f32", [2], [5.1, 3.5])).toEqual({ array: Float32Array.from([5.1, 3.5]), rows: 1 });
    expect(toFeedRows("x", "f32", [2], [[5.1, 3.5], [1, 2], [3, 4]])).toEqual({ array: Float32Array.from([5.1, 3.5, 1, 2, 3, 4]), rows: 3 });
    expect(toFeedRows("y", "i32", [], [1, 2, 0])).toEqual({ array: Int32Array.from([1, 2, 0]), rows: 3 });
  });

  it("refuses a partial row, with the row shape", () => {
    expect(feedError(() => toFeedRows("x", "f32", [4], new Float32Array(7))).message).toBe("input x: got 7 elements, not a whole number of rows of [4] = 4 elements (expected shape [N,4])");
    expect(feedError(() => toFeedRows("x", "f32", [2, 2], [1, 2, 3])).message).toBe("input x: got 3 elements, not a whole number of rows of [2,2] = 4 elements (expected shape [N,2,2])");
    expect(feedError(() => toFeedRows("x", "f32", [2], "text")).message).toBe('input x: expected a Float32Array (f32) of shape [2] = 2 elements, got "text"');
  });
});

describe("prepareBatch", () => {
  const fn = (batching: Batching, batches: readonly number[] = [4]): BatchedFunction => ({
    name: "evaluate",
    inputs: [
      { name: "x", dtype: "f32", dims: ["batch", 2] },
      { name: "y", dtype: "i32", dims: ["batch"] },
    ],
    batching,
    batches,
    rowDims: { x: [2], y: [] },
    labels: [{ input: "y", numClasses: 3, ignoreIndex: -100 }],
  });
  const chunkable: Batching = { chunkable: true, inputs: ["x", "y"], outputs: { out: { kind: "rows" }, loss: { kind: "mean", weight: "rows" } } };
  const never = (): Record<string, FeedArray> => {
    throw new Error("must not run");
  };

  it("hands feeds at a compiled batch size to one image, converted", () => {
    const prepared = prepareBatch(fn(chunkable), { x: [[1, 2], [3, 4], [5, 6], [7, 8]], y: [0, 1, 2, 0] }, never);
    expect(prepared).toEqual({ kind: "image", feeds: { x: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), y: Int32Array.from([0, 1, 2, 0]) } });
  });

  it("refuses different row counts, an empty batch, labels out of range (the whole batch's row) and a mean that padding would change", () => {
    expect(feedError(() => prepareBatch(fn(chunkable), { x: new Float32Array(10), y: new Int32Array(4) }, never)).message).toBe(
      "evaluate: the inputs hold different numbers of rows (x: 5, y: 4); feed one row of each per sample",
    );
    expect(feedError(() => prepareBatch(fn(chunkable), { x: [], y: [] }, never)).message).toBe("evaluate: the batch is empty (0 rows)");
    expect(feedError(() => prepareBatch(fn(chunkable, [4, 1]), { x: new Float32Array(10), y: Int32Array.from([0, 1, 2, 0, 3]) }, never)).message).toBe(
      "input y: label at row 4 is 3, expected 0 ≤ label < 3 (or ignore_index -100)",
    );
    expect(feedError(() => prepareBatch(fn(chunkable), { x: new Float32Array(10), y: new Int32Array(5) }, never)).message).toBe(
      "evaluate: a batch of 5 rows is not a sum of the compiled batch sizes (4), and padding the last chunk would change loss (a mean over the rows); compile with a batch size of 1 too (--batch 4,1)",
    );
  });

  it("gives a function that is not chunkable its converted feeds back (the caller names the sizes)", () => {
    const prepared = prepareBatch(fn({ chunkable: false, reason: "trainStep updates its state once per batch (an optimizer step)" }), { x: [[1, 2]], y: new Int32Array(1) }, never);
    expect(prepared).toEqual({ kind: "image", feeds: { x: Float32Array.from([1, 2]), y: new Int32Array(1) } });
  });
});

it("batching.ts imports only sibling runtime files: it is inlined into standalone bundles", () => {
  const source = readFileSync(new URL("../src/batching.ts", import.meta.url), "utf8");
  const imports = [...source.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
  expect(imports).toEqual(["./feeds.js", "./session.js"]);
});
