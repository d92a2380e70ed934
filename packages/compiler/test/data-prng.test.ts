import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Prng, portableLog } from "../src/toolkit/data/prng.js";

describe("Prng: xoshiro128** seeded by splitmix64", () => {
  // Reference values from the authors' C code (splitmix64.c seeding xoshiro128starstar.c with
  // the low then high 32 bits of two splitmix64 outputs), compiled with gcc.
  const reference: Array<[number, number[], number[]]> = [
    [0, [2065550767, 3793791033, 2713282036, 1853398634], [3737715805, 2584255861, 2876756834, 3286328325, 1553311962, 1625202774]],
    [42, [803958421, 3184996902, 2993090819, 686809907], [1776835114, 4165204688, 17111135, 2317295270, 2792088233, 2554630222]],
    [-1, [459615264, 3839455607, 3690365641, 3919575143], [477689756, 2493998634, 555695776, 607808419, 61340979, 301466976]],
    [
      Number.MAX_SAFE_INTEGER,
      [4021704095, 616124332, 3074421144, 818148089],
      [1233166643, 1287031142, 661813442, 2960669951, 2601079046, 1036114921],
    ],
  ];

  it.each(reference)("seed %d gives the reference state and outputs", (seed, state, outputs) => {
    const generator = new Prng(seed);
    expect(generator.state()).toEqual(state);
    expect(outputs.map(() => generator.nextUint32())).toEqual(outputs);
  });

  it("builds 53-bit floats from two outputs: (a >>> 5)·2^26 + (b >>> 6), over 2^53", () => {
    const generator = new Prng(42);
    // From the seed-42 outputs above: 1776835114, 4165204688 then 17111135, 2317295270.
    expect(generator.nextFloat()).toBe(((1776835114 >>> 5) * 2 ** 26 + (4165204688 >>> 6)) / 2 ** 53);
    expect(generator.nextFloat()).toBe(((17111135 >>> 5) * 2 ** 26 + (2317295270 >>> 6)) / 2 ** 53);
  });

  it("pins the normal and permutation sequences so that a change to them is deliberate", () => {
    const generator = new Prng(42);
    expect([generator.normal(), generator.normal(), generator.normal(), generator.normal()]).toEqual([
      1.0873020675225118, 0.7409935464462171, 0.42664902821655437, 0.26985745925227,
    ]);
    expect(Array.from(new Prng(42).permutation(10))).toEqual([1, 0, 9, 6, 2, 5, 3, 7, 8, 4]);
  });

  it("resumes from a saved state", () => {
    const generator = new Prng(7);
    generator.nextUint32();
    const resumed = Prng.fromState(generator.state());
    expect([resumed.nextUint32(), resumed.nextFloat(), resumed.normal()]).toEqual([
      generator.nextUint32(),
      generator.nextFloat(),
      generator.normal(),
    ]);
  });

  it("refuses bad seeds, bounds and states with messages", () => {
    expect(() => new Prng(1.5)).toThrow("Prng: the seed must be a safe integer, got 1.5");
    expect(() => new Prng(Number.NaN)).toThrow("Prng: the seed must be a safe integer, got NaN");
    expect(() => new Prng(0).nextInt(0)).toThrow("Prng.nextInt: the bound must be an integer in [1, 2^32], got 0");
    expect(() => new Prng(0).nextInt(2 ** 32 + 1)).toThrow("got 4294967297");
    expect(() => Prng.fromState([0, 0, 0, 0])).toThrow(
      "Prng.fromState: expected four unsigned 32-bit words, not all zero, got [0, 0, 0, 0]",
    );
    expect(() => Prng.fromState([1, -1, 0, 0])).toThrow("got [1, -1, 0, 0]");
  });
});

describe("Prng: distributions", () => {
  it("nextFloat lies in [0, 1) and uniform in [low, high)", () => {
    const generator = new Prng(1);
    for (let draw = 0; draw < 10_000; draw++) {
      const value = generator.nextFloat();
      expect(value >= 0 && value < 1).toBe(true);
      const scaled = generator.uniform(-3, 5);
      expect(scaled >= -3 && scaled < 5).toBe(true);
    }
  });

  it("nextInt is uniform over [0, bound) (chi-square, 6 classes)", () => {
    const generator = new Prng(2);
    const counts = new Array<number>(6).fill(0);
    const draws = 60_000;
    for (let draw = 0; draw < draws; draw++) {
      const value = generator.nextInt(6);
      counts[value] = (counts[value] ?? 0) + 1;
    }
    const expected = draws / 6;
    const chiSquare = counts.reduce((total, count) => total + (count - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(20.5); // p = 0.001 for 5 degrees of freedom
  });

  it("normal has mean ≈ 0, variance ≈ 1, and the right tails", () => {
    const generator = new Prng(3);
    const count = 100_000;
    let sum = 0;
    let sumSquares = 0;
    let beyondTwo = 0;
    for (let draw = 0; draw < count; draw++) {
      const value = generator.normal();
      sum += value;
      sumSquares += value * value;
      if (Math.abs(value) > 2) beyondTwo++;
    }
    const mean = sum / count;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(sumSquares / count - mean * mean - 1)).toBeLessThan(0.02);
    expect(Math.abs(beyondTwo / count - 0.0455)).toBeLessThan(0.004); // P(|z| > 2) = 0.0455
    const shifted = new Prng(3).normal(10, 0.5);
    expect(shifted).toBeCloseTo(10 + 0.5 * new Prng(3).normal(), 12);
  });

  it("shuffleInPlace gives a permutation of plain and typed arrays, the same for the same seed", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.integer(), (values, seed) => {
        const shuffled = new Prng(seed).shuffleInPlace([...values]);
        expect([...shuffled].sort((a, b) => a - b)).toEqual([...values].sort((a, b) => a - b));
        expect(Array.from(new Prng(seed).shuffleInPlace(Int32Array.from(values.map((value) => value | 0))))).toEqual(
          shuffled.map((value) => value | 0),
        );
      }),
    );
  });

  it("shuffleInPlace reaches every permutation of 3 items about equally often", () => {
    const generator = new Prng(4);
    const counts = new Map<string, number>();
    for (let draw = 0; draw < 60_000; draw++) {
      const key = generator.shuffleInPlace(["a", "b", "c"]).join("");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    for (const count of counts.values()) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });
});

describe("portableLog", () => {
  it("agrees with Math.log within 3 ulp over the whole range", () => {
    fc.assert(
      fc.property(fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }), (x) => {
        const expected = Math.log(x);
        const ulp = Math.max(Math.abs(expected), 2 ** -1022) * 2 ** -52;
        expect(Math.abs(portableLog(x) - expected)).toBeLessThanOrEqual(3 * ulp);
      }),
      { numRuns: 20_000 },
    );
  });

  it("handles the special values like Math.log", () => {
    expect(portableLog(0)).toBe(-Infinity);
    expect(portableLog(Infinity)).toBe(Infinity);
    expect(portableLog(-1)).toBeNaN();
    expect(portableLog(Number.NaN)).toBeNaN();
    expect(portableLog(1)).toBe(0);
    expect(portableLog(Number.MIN_VALUE)).toBe(Math.log(Number.MIN_VALUE));
  });
});
