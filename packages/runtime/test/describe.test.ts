import { describe, expect, it } from "vitest";
import { describeValue } from "../src/index.js";

describe("describeValue (the one description of any value in messages)", () => {
  it("names each kind of value", () => {
    class Widget {}
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    const cases: Array<[unknown, string]> = [
      [null, "null"],
      [undefined, "undefined"],
      [Number.NaN, "NaN"],
      [-0.5, "-0.5"],
      [true, "true"],
      [5n, "5n"],
      [Symbol("s"), "Symbol(s)"],
      ["f16", '"f16"'],
      ["x".repeat(50), JSON.stringify(`${"x".repeat(40)}…`)],
      [() => 1, "a function"],
      [new Float32Array(4), "a Float32Array of length 4"],
      [new Int32Array(0), "an Int32Array of length 0"],
      [[2, -1], "an Array of length 2 ([2,-1])"],
      [Array.from({ length: 30 }, (_, index) => index), "an Array of length 30 ([0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,1...)"],
      [[1n], "an Array of length 1 ([...])"],
      [new Map(), "a Map"],
      [new Widget(), "a Widget"],
      [{ kind: "bogus" }, 'an object {"kind":"bogus"}'],
      [Object.create(null), "an object {}"],
      [cyclic, 'an object {"self":{"self":{"self":{"self":{"sel...'],
    ];
    for (const [value, expected] of cases) expect(describeValue(value)).toBe(expected);
  });
});
