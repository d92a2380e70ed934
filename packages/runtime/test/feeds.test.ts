import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { FeedError, flattenNested, toFeedArray, validateFeed, validateLabels } from "../src/index.js";
import type { FeedSpec } from "../src/feeds.js";

function feedError(run: () => unknown): FeedError {
  try {
    run();
  } catch (error) {
    if (error instanceof FeedError) return error;
    throw error;
  }
  throw new Error("expected a FeedError, nothing was thrown");
}

const x: FeedSpec = { shape: [8, 4], dtype: "f32" };

describe("validateFeed", () => {
  it("accepts a typed array of the input's kind and length", () => {
    expect(() => validateFeed("x", x, new Float32Array(32))).not.toThrow();
    expect(() => validateFeed("t", { shape: [2], dtype: "f64" }, new Float64Array(2))).not.toThrow();
    expect(() => validateFeed("y", { shape: [8], dtype: "i32" }, new Int32Array(8))).not.toThrow();
    expect(() => validateFeed("m", { shape: [2, 2], dtype: "bool" }, new Uint8Array(4))).not.toThrow();
    expect(() => validateFeed("s", { shape: [], dtype: "f32" }, new Float32Array(1))).not.toThrow();
  });

  it("refuses a missing value, naming the input, the kind and the shape", () => {
    const error = feedError(() => validateFeed("x", x, undefined));
    expect(error.message).toBe("input x: no value was fed; expected a Float32Array (f32) of shape [8,4] = 32 elements");
    expect(error.inputName).toBe("x");
    expect(error.name).toBe("FeedError");
  });

  it("refuses a typed array of the wrong kind", () => {
    expect(feedError(() => validateFeed("x", x, new Float64Array(32))).message).toBe(
      "input x: expected a Float32Array (f32) of shape [8,4] = 32 elements, got a Float64Array of length 32",
    );
    expect(feedError(() => validateFeed("mask", { shape: [3], dtype: "bool" }, new Uint8ClampedArray(3))).message).toBe(
      "input mask: expected a Uint8Array (bool) of shape [3] = 3 elements, got a Uint8ClampedArray of length 3",
    );
    expect(feedError(() => validateFeed("y", { shape: [3], dtype: "i32" }, new Float32Array(3))).message).toBe(
      "input y: expected an Int32Array (i32) of shape [3] = 3 elements, got a Float32Array of length 3",
    );
  });

  it("refuses values that are not arrays at all", () => {
    expect(feedError(() => validateFeed("x", x, null)).message).toBe(
      "input x: expected a Float32Array (f32) of shape [8,4] = 32 elements, got null",
    );
    expect(feedError(() => validateFeed("x", x, 3)).message).toBe(
      "input x: expected a Float32Array (f32) of shape [8,4] = 32 elements, got 3",
    );
    expect(feedError(() => validateFeed("x", x, new Map())).message).toBe(
      "input x: expected a Float32Array (f32) of shape [8,4] = 32 elements, got a Map",
    );
    expect(feedError(() => validateFeed("x", x, new DataView(new ArrayBuffer(128)))).message).toBe(
      "input x: expected a Float32Array (f32) of shape [8,4] = 32 elements, got a DataView",
    );
  });

  it("refuses the wrong length, with the expected shape, the element count and the actual length", () => {
    expect(feedError(() => validateFeed("x", x, new Float32Array(28))).message).toBe(
      "input x: expected shape [8,4] = 32 elements, got a Float32Array of length 28 (7 rows of [4], but the program takes 8)",
    );
    expect(feedError(() => validateFeed("x", x, new Float32Array(31))).message).toBe(
      "input x: expected shape [8,4] = 32 elements, got a Float32Array of length 31 (not a whole number of rows of [4] = 4 elements)",
    );
    expect(feedError(() => validateFeed("b", { shape: [3], dtype: "f64" }, new Float64Array(2))).message).toBe(
      "input b: expected shape [3] = 3 elements, got a Float64Array of length 2",
    );
  });

  it("accepts a subclass such as Node's Buffer for bool", () => {
    expect(() => validateFeed("m", { shape: [2], dtype: "bool" }, Buffer.from([0, 1]))).not.toThrow();
  });
});

describe("toFeedArray", () => {
  it("returns a typed array of the right kind itself, without copying", () => {
    const data = new Float32Array(32);
    expect(toFeedArray("x", x, data)).toBe(data);
  });

  it("converts a flat Array", () => {
    expect(toFeedArray("x", { shape: [3], dtype: "f32" }, [0.5, -2, 1e30 * 0 + 3])).toEqual(new Float32Array([0.5, -2, 3]));
    expect(toFeedArray("x", { shape: [2], dtype: "f64" }, [0.1, Number.NaN])).toEqual(new Float64Array([0.1, Number.NaN]));
    expect(toFeedArray("y", { shape: [2], dtype: "i32" }, [-(2 ** 31), 2 ** 31 - 1])).toEqual(new Int32Array([-(2 ** 31), 2 ** 31 - 1]));
    expect(toFeedArray("m", { shape: [4], dtype: "bool" }, [true, false, 1, 0])).toEqual(new Uint8Array([1, 0, 1, 0]));
  });

  it("converts every float32 value exactly (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.float()), (values) => {
        const converted = toFeedArray("x", { shape: [values.length], dtype: "f32" }, values);
        expect(Array.from(converted)).toEqual(values);
      }),
    );
  });

  it("rounds f32 elements as Float32Array.from does (as torch.tensor rounds)", () => {
    const values = [5.1, 3.5, 1.4, 0.2, 1e39, -1e-50, Number.NaN];
    expect(toFeedArray("x", { shape: [7], dtype: "f32" }, values)).toEqual(Float32Array.from(values));
    expect(toFeedArray("x", { shape: [1], dtype: "f32" }, [0.1])[0]).toBe(0.10000000149011612);
  });

  it("rounds any number as Float32Array.from does (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.double()), (values) => {
        expect(toFeedArray("x", { shape: [values.length], dtype: "f32" }, values)).toEqual(Float32Array.from(values));
      }),
    );
  });

  it("flattens a nested Array as deep as the rank, row-major", () => {
    expect(toFeedArray("x", { shape: [2, 3], dtype: "f32" }, [[1, 2, 3], [4, 5, 6.1]])).toEqual(Float32Array.from([1, 2, 3, 4, 5, 6.1]));
    expect(toFeedArray("y", { shape: [2, 1, 2], dtype: "i32" }, [[[1, 2]], [[3, 4]]])).toEqual(new Int32Array([1, 2, 3, 4]));
    expect(flattenNested("x", [null, 2], [[1, 2], [3, 4], [5, 6]])).toEqual({ values: [1, 2, 3, 4, 5, 6], shape: [3, 2] });
    expect(flattenNested("x", [null, 2], [])).toEqual({ values: [], shape: [0, 2] });
  });

  it("refuses a nested Array whose shape is ragged, too shallow, too deep or mixed", () => {
    expect(feedError(() => toFeedArray("x", { shape: [2, 3], dtype: "f32" }, [[1, 2, 3], [4, 5]])).message).toBe(
      "input x: element [1] of the Array has 2 entries, expected 3 (shape [2,3])",
    );
    expect(feedError(() => flattenNested("x", [null, 2], [[1, 2], [3, 4, 5]])).message).toBe("input x: element [1] of the Array has 3 entries, expected 2 (shape [N,2])");
    expect(feedError(() => flattenNested("x", [null, 2, 2], [[1, 2], [3, 4]])).message).toBe(
      "input x: a nested Array 2 levels deep cannot be read as shape [N,2,2]; nest it 3 levels deep (one per dim), or pass a flat Array or typed array in row-major order",
    );
    expect(feedError(() => flattenNested("x", [null, 2], [[[1], [2]]])).message).toBe(
      "input x: a nested Array 3 levels deep cannot be read as shape [N,2]; nest it 2 levels deep (one per dim), or pass a flat Array or typed array in row-major order",
    );
    expect(feedError(() => flattenNested("x", [null, 2], [[1, 2], 3])).message).toBe("input x: element [1] of the Array is 3, expected an Array (shape [N,2])");
    expect(feedError(() => flattenNested("x", [null, 2], [[1, [2]]])).message).toBe("input x: element [0][1] of the Array is an Array of length 1, expected a number (shape [N,2])");
    expect(feedError(() => toFeedArray("x", { shape: [2, 2], dtype: "f32" }, [[1, "2"], [3, 4]])).message).toBe('input x: element 1 of the Array is "2", expected a number');
  });

  it("refuses an Array element that i32 would truncate or wrap", () => {
    const message = (value: string): string =>
      `input y: element 0 of the Array is ${value}, expected an integer in [-2147483648, 2147483647] for i32`;
    expect(feedError(() => toFeedArray("y", { shape: [1], dtype: "i32" }, [1.5])).message).toBe(message("1.5"));
    expect(feedError(() => toFeedArray("y", { shape: [1], dtype: "i32" }, [2 ** 31])).message).toBe(message("2147483648"));
  });

  it("refuses an Array element that is not 0, 1, true or false for bool", () => {
    expect(feedError(() => toFeedArray("m", { shape: [2], dtype: "bool" }, [1, 2])).message).toBe(
      "input m: element 1 of the Array is 2, expected 0, 1, true or false",
    );
  });

  it("refuses non-numbers and nested Arrays", () => {
    expect(feedError(() => toFeedArray("x", { shape: [2], dtype: "f64" }, [1, "2"])).message).toBe(
      'input x: element 1 of the Array is "2", expected a number',
    );
    expect(feedError(() => toFeedArray("x", { shape: [2, 2], dtype: "f32" }, [[1, 2], [3, 4], 0, 0])).message).toBe(
      "input x: the Array has 4 entries, expected 2 (shape [2,2])",
    );
  });

  it("refuses an Array of the wrong length", () => {
    expect(feedError(() => toFeedArray("x", x, [1, 2])).message).toBe(
      "input x: expected shape [8,4] = 32 elements, got an Array of length 2 (not a whole number of rows of [4] = 4 elements)",
    );
  });
});

describe("validateLabels", () => {
  it("accepts labels in range and ignore_index", () => {
    expect(() => validateLabels("y", new Int32Array([0, 2, 1, -100]), 3, -100)).not.toThrow();
    expect(() => validateLabels("y", new Int32Array(0), 3, undefined)).not.toThrow();
  });

  it("names the first offending row and its value", () => {
    const error = feedError(() => validateLabels("y", new Int32Array([0, 1, 2, 7]), 3, -100));
    expect(error.message).toBe("input y: label at row 3 is 7, expected 0 ≤ label < 3 (or ignore_index -100)");
    expect(error.inputName).toBe("y");
  });

  it("omits ignore_index when there is none, and counts the other bad rows", () => {
    expect(feedError(() => validateLabels("y", new Int32Array([0, -1, 3, 1]), 3, undefined)).message).toBe(
      "input y: label at row 1 is -1, expected 0 ≤ label < 3; 2 of 4 labels are out of range",
    );
  });

  it("refuses a negative label that is not the ignore_index", () => {
    expect(feedError(() => validateLabels("target", new Int32Array([-1]), 10, -100)).message).toBe(
      "input target: label at row 0 is -1, expected 0 ≤ label < 10 (or ignore_index -100)",
    );
  });

  it("refuses labels that are not an Int32Array and a bad class count", () => {
    const floatLabels = new Float32Array([0, 1]) as unknown as Int32Array;
    expect(feedError(() => validateLabels("y", floatLabels, 3, undefined)).message).toBe(
      "input y: labels must be an Int32Array, got a Float32Array",
    );
    expect(feedError(() => validateLabels("y", new Int32Array(1), 0, undefined)).message).toBe(
      "input y: the number of classes must be a positive integer, got 0",
    );
    // embedding indices: positions and indices, no ignore_index
    expect(feedError(() => validateLabels("ids", new Int32Array([0, 5, 9, 1]), 5, undefined, "index")).message).toBe("input ids: index at position 1 is 5, expected 0 ≤ index < 5; 2 of 4 indices are out of range");
    expect(feedError(() => validateLabels("ids", new Int32Array([-3]), 5, undefined, "index")).message).toBe("input ids: index at position 0 is -3, expected 0 ≤ index < 5");
  });

  it("finds exactly the out-of-range labels (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -3, max: 6 })), fc.integer({ min: 1, max: 5 }), (values, numClasses) => {
        const firstBad = values.findIndex((label) => label < 0 || label >= numClasses);
        const run = (): void => validateLabels("y", Int32Array.from(values), numClasses, undefined);
        if (firstBad < 0) expect(run).not.toThrow();
        else expect(run).toThrow(`label at row ${firstBad} is ${values[firstBad]},`);
      }),
    );
  });
});

describe("runtime contract", () => {
  it("feeds.ts imports only sibling runtime files: it is inlined into standalone bundles", () => {
    const source = readFileSync(new URL("../src/feeds.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/^\s*(import|export)\b[^;]*\bfrom\s+["'](?!\.\/)/m);
    expect(source).not.toMatch(/\b(require|import)\s*\(/);
  });
});
