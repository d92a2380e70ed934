import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import * as C from "@graft/core";
import { jsBackend } from "../src/backend/js/backend.js";
import { agreementCases, graphOf, hostFeeds, randomArray } from "./backend-cases.js";
import type { Backend } from "../src/backend/types.js";

/** Relative-or-absolute closeness with NaN/inf equality. */
export const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void => {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      expect(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)), `${label}[${i}]: ${a} vs ${e}`).toBe(true);
      continue;
    }
    expect(Math.abs(a - e), `${label}[${i}]: ${a} vs ${e}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(e)));
  }
};

export const agreementSuite = (backend: () => Promise<Backend>, tolerance: number): void => {
  for (const testCase of agreementCases()) {
    it(`${testCase.name} matches the reference interpreter`, async () => {
      const graph = graphOf(testCase.model);
      const params = C.initParams(graph, 3);
      const reference = C.run(graph, testCase.feeds, params, { precision: "f32" });
      const session = await (await backend()).createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 3 });
      const outputs = session.run("f", hostFeeds(testCase.feeds));
      for (const [name, expected] of Object.entries(reference)) {
        const actual = outputs[name];
        expect(actual, `output ${name}`).toBeDefined();
        expect(actual?.shape).toEqual(expected.shape);
        expectClose(actual?.data ?? [], expected.data, tolerance, `${testCase.name}.${name}`);
      }
    });
  }

  it("random elementwise graphs with broadcasting match the reference", async () => {
    const ops = ["add", "sub", "mul", "maximum", "exp", "tanh", "sigmoid", "relu", "neg"] as const;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...ops), fc.nat(3)), { minLength: 2, maxLength: 8 }), fc.nat(1000), async (steps, seed) => {
        const leaves = [C.input("a", [3, 4]), C.input("b", [4]), C.input("c", [3, 1])];
        const values: C.Tensor[] = [...leaves];
        for (const [op, pick] of steps) {
          const lhs = values[values.length - 1] as C.Tensor;
          const rhs = values[pick % values.length] as C.Tensor;
          values.push(op === "exp" ? C.exp(C.tanh(lhs)) : op === "tanh" ? C.tanh(lhs) : op === "sigmoid" ? C.sigmoid(lhs) : op === "relu" ? C.relu(lhs) : op === "neg" ? C.neg(lhs) : C[op](lhs, rhs));
        }
        const graph = graphOf(C.model({ name: "random", outputs: { out: values[values.length - 1] as C.Tensor, sum: C.sum(values[values.length - 1] as C.Tensor, 0) } }));
        const used = new Set(graph.nodes.flatMap((n) => (n.op === "input" ? [n.attrs.name] : [])));
        const feeds = Object.fromEntries(Object.entries({ a: randomArray([3, 4], seed), b: randomArray([4], seed + 1), c: randomArray([3, 1], seed + 2) }).filter(([k]) => used.has(k)));
        const reference = C.run(graph, feeds, {}, { precision: "f32" });
        const session = await (await backend()).createSession({ functions: [{ name: "f", graph, updates: [] }] });
        const outputs = session.run("f", hostFeeds(feeds));
        for (const name of ["out", "sum"]) expectClose(outputs[name]?.data ?? [], reference[name]?.data ?? [], tolerance, name);
      }),
      { seed: 7, numRuns: 40 },
    );
  });

  it("a bad feed throws before anything changes, and state survives", async () => {
    const xIn = C.input("x", ["batch", 3]);
    const w = C.param("w", [3, 2], C.uniform(-1, 1));
    const yIn = C.input("y", ["batch"], "i32");
    const graph = graphOf(C.model({ name: "m", outputs: { z: C.matmul(xIn, w) }, loss: C.crossEntropy(C.matmul(xIn, w), yIn) }));
    const session = await (await backend()).createSession({ functions: [{ name: "f", graph, updates: [{ param: "w", output: "z" }] }] });
    const before = session.getState();
    expect(() => session.run("f", { x: { shape: [2, 4], dtype: "f32", data: new Float32Array(8) }, y: { shape: [2], dtype: "i32", data: new Int32Array(2) } })).toThrow(/input x: expected shape \[batch,3\], got \[2,4\]/);
    expect(() => session.run("f", { x: { shape: [2, 3], dtype: "f32", data: new Float32Array(6) }, y: { shape: [2], dtype: "i32", data: Int32Array.from([0, 5]) } })).toThrow(/input y: label at row 1 is 5, expected 0 ≤ label < 2/);
    expect(() => session.run("f", { x: { shape: [2, 3], dtype: "f32", data: new Float32Array(6) } })).toThrow(/missing feed for input y/);
    expect(session.getState()).toEqual(before);
  });
};

describe("JS back end", () => {
  agreementSuite(async () => jsBackend, 2e-6);
});

describe("JS back end: erf kernel", () => {
  it("is within 2 ulp of float32 erf on [-6, 6] and keeps ±0, ±inf, NaN and subnormals", async () => {
    const grid = Array.from({ length: 24001 }, (_, i) => Math.fround(-6 + i / 2000));
    const specials = [0, -0, Infinity, -Infinity, Number.NaN, 1e-40, -1e-45, 1e-20, 3e38];
    const values = Float32Array.from([...grid, ...specials]);
    const graph = graphOf(C.model({ name: "erf", outputs: { y: C.erf(C.input("x", [values.length])) } }));
    const session = await jsBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] });
    const out = session.run("f", { x: { shape: [values.length], dtype: "f32", data: values } }).y?.data ?? [];
    const bits = new Int32Array(1);
    const floats = new Float32Array(bits.buffer);
    const ordered = (v: number): number => {
      floats[0] = v;
      const b = bits[0] as number;
      return b < 0 ? -0x80000000 - b : b;
    };
    let worst = 0;
    values.forEach((x, i) => {
      const expected = Math.fround(C.erfValue(x));
      const actual = out[i] as number;
      if (Number.isNaN(expected)) return expect(actual).toBeNaN();
      if (!Number.isFinite(x) || x === 0) return expect(Object.is(actual, expected), `erf(${x}) = ${actual}`).toBe(true);
      worst = Math.max(worst, Math.abs(ordered(actual) - ordered(expected)));
    });
    expect(worst).toBeLessThanOrEqual(2);
  });
});

describe("compiled sessions: fetch, unknown names, setState", () => {
  const program = async () => {
    const xIn = C.input("x", ["batch", 3]);
    const w = C.param("w", [3, 2], C.uniform(-1, 1));
    const graph = graphOf(C.model({ name: "m", outputs: { z: C.matmul(xIn, w), s: C.sum(C.matmul(xIn, w)) } }));
    return jsBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] });
  };
  const x = { x: { shape: [2, 3], dtype: "f32" as const, data: Float32Array.of(1, 2, 3, 4, 5, 6) } };

  it("copies out only the fetched outputs", async () => {
    const session = await program();
    expect(Object.keys(session.run("f", x, { fetch: ["s"] }))).toEqual(["s"]);
    expect(Object.keys(session.run("f", x, { fetch: [] }))).toEqual([]);
    expect(Object.keys(session.run("f", x))).toEqual(["z", "s"]);
    expect(() => session.run("f", x, { fetch: ["nope"] })).toThrow("unknown output nope; f returns z, s");
  });

  it("an op the back end cannot compile is a diagnostic naming it and the user's line, never a fallback", async () => {
    const x64 = C.input("x", [2], "f64");
    const graph = graphOf(C.model({ name: "f64", outputs: { y: C.exp(x64) } }));
    expect(jsBackend.supports({ functions: [{ name: "f", graph, updates: [] }] }).map((d) => d.message)).toEqual([
      "input produces f64: the compiled back ends compute in f32/i32/bool (f64 is for the reference interpreter)",
      "exp produces f64: the compiled back ends compute in f32/i32/bool (f64 is for the reference interpreter)",
    ]);
    const session = await jsBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] });
    expect(() => session.run("f", { x: { shape: [2], dtype: "f64", data: Float64Array.of(1, 2) } })).toThrow(/backend-js\.test\.ts:\d+:\d+ input produces f64/);
  });

  it("refuses unknown functions and inputs by name", async () => {
    const session = await program();
    expect(() => session.run("g", x)).toThrow("unknown function g; this program has f");
    expect(() => session.run("f", { ...x, typo: x.x })).toThrow("unknown input typo; f takes x");
  });

  it("setState checks every entry before writing any", async () => {
    const session = await program();
    const before = session.getState();
    expect(() => session.setState({ w: { shape: [2, 3], dtype: "f32", data: new Float32Array(6) } })).toThrow("state w: expected shape [3,2], got [2,3] (6 values)");
    expect(() => session.setState({ v: { shape: [1], dtype: "f32", data: new Float32Array(1) } })).toThrow("unknown state v");
    expect(() => session.setState({ w: { shape: [3, 2], dtype: "i32", data: new Int32Array(6) } })).toThrow("state w: expected f32 data");
    expect(session.getState()).toEqual(before);
    session.setState({ w: { shape: [3, 2], dtype: "f32", data: Float32Array.of(1, 0, 0, 1, 0, 0) } });
    expect(Array.from(session.run("f", x).z?.data ?? [])).toEqual([1, 2, 4, 5]);
  });
});
