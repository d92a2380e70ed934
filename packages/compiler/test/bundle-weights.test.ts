// A bundle's weights API, on the bundle file itself (imported from a temp folder): saveWeights
// writes PyTorch-named safetensors, loadWeights validates the whole file before replacing
// anything, embedded weights and optimizer state round-trip, and bad feeds name the input.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { encodeSafetensors } from "@graft/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CompiledBundle } from "../src/bundle/index.js";
import { compileFixture, inputX, labelsY, weightValues } from "./fixtures/bundle/harness.js";

/** The bundle's public API as its .d.mts declares it (for the fixture MLP). */
interface Model {
  readonly info: { readonly weights: ReadonlyArray<{ readonly name: string; readonly shape: readonly number[] }>; readonly state: ReadonlyArray<{ readonly name: string }> };
  forward(feeds: Record<string, unknown>): { logits: Float32Array };
  trainStep(feeds: Record<string, unknown>): { logits: Float32Array; loss: number };
  evaluate(feeds: Record<string, unknown>): { logits: Float32Array; loss: number };
  saveWeights(options?: { optimizer?: boolean }): Uint8Array;
  loadWeights(bytes: unknown): void;
}
type Load = (weights?: unknown, options?: { seed?: number }) => Promise<Model>;

const dirs: string[] = [];
const importBundle = async (bundle: CompiledBundle): Promise<Load> => {
  const dir = mkdtempSync(join(tmpdir(), "graft-bundle-weights-"));
  dirs.push(dir);
  const file = join(dir, "model.mjs");
  writeFileSync(file, bundle.code);
  return ((await import(/* @vite-ignore */ pathToFileURL(file).href)) as { load: Load }).load;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const x2 = new Float32Array(inputX(2, 0));
const y2 = new Int32Array(labelsY(2, 0));
const x3 = new Float32Array(inputX(3, 5));

/** Replaces the 8-byte header length of a safetensors file. */
const withHeaderLength = (bytes: Uint8Array, length: bigint): Uint8Array => {
  const copy = bytes.slice();
  new DataView(copy.buffer).setBigUint64(0, length, true);
  return copy;
};

const F32 = (n: number, value = 0.5): Float32Array => new Float32Array(n).fill(value);
const fixtureWeights = (overrides: Record<string, { dtype?: "F32" | "F64"; shape?: number[]; data?: Float32Array | Float64Array } | null> = {}): Uint8Array => {
  const base: Record<string, { dtype: "F32" | "F64"; shape: number[]; data: Float32Array | Float64Array }> = {
    "fc1.weight": { dtype: "F32", shape: [5, 6], data: F32(30, 0.25) },
    "fc1.bias": { dtype: "F32", shape: [5], data: F32(5, -0.125) },
    "fc2.weight": { dtype: "F32", shape: [3, 5], data: F32(15, 0.5) },
    "fc2.bias": { dtype: "F32", shape: [3], data: F32(3, 1) },
  };
  const tensors = Object.entries(base).flatMap(([name, tensor]) => {
    const override = overrides[name];
    return override === null ? [] : [{ name, ...tensor, ...override }];
  });
  for (const [name, extra] of Object.entries(overrides)) if (!(name in base) && extra !== null) tensors.push({ name, dtype: "F32", shape: [1], data: F32(1), ...extra });
  return encodeSafetensors(tensors as Parameters<typeof encodeSafetensors>[0]);
};

describe("saveWeights / loadWeights", () => {
  let load: Load;
  beforeAll(async () => {
    load = await importBundle(await compileFixture());
  });

  it("saves the model's params under their PyTorch names, optimizer state only on request", async () => {
    const m = await load();
    const names = Object.keys(weightValues(m.saveWeights()));
    expect(names.sort()).toEqual(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
    expect(m.info.weights.map((w) => [w.name, w.shape])).toEqual([["fc1.weight", [5, 6]], ["fc1.bias", [5]], ["fc2.weight", [3, 5]], ["fc2.bias", [3]]]);
    const full = Object.keys(weightValues(m.saveWeights({ optimizer: true })));
    expect(full).toEqual(m.info.state.map((s) => s.name));
    expect(full).toContain("sgd.momentum_buffer.fc1.weight");
  });

  it("loads weights written by another tool (safetensors from encodeSafetensors)", async () => {
    const m = await load();
    m.loadWeights(fixtureWeights());
    expect(weightValues(m.saveWeights())["fc1.bias"]).toEqual([-0.125, -0.125, -0.125, -0.125, -0.125]);
    const viaLoad = await load(fixtureWeights().buffer);
    expect(viaLoad.forward({ x: x3 }).logits).toEqual(m.forward({ x: x3 }).logits);
  });

  it("round-trips optimizer state: training continues identically", async () => {
    const a = await load();
    a.trainStep({ x: x2, y: y2 });
    a.trainStep({ x: x2, y: y2 });
    const b = await load(a.saveWeights({ optimizer: true }));
    const c = await load(a.saveWeights());
    const next = a.trainStep({ x: x2, y: y2 });
    expect(b.trainStep({ x: x2, y: y2 })).toEqual(next);
    expect(b.saveWeights({ optimizer: true })).toEqual(a.saveWeights({ optimizer: true }));
    // weights only: the momentum buffers start from zero again, so the step moves the weights less far
    expect(c.trainStep({ x: x2, y: y2 })).toEqual(next);
    expect(c.saveWeights()).not.toEqual(a.saveWeights());
  });

  const cases: ReadonlyArray<[string, () => unknown, RegExp | string]> = [
    ["a truncated file", () => fixtureWeights().subarray(0, 200), /^loadWeights: (header claims|tensor .* reach past the end)/],
    ["a file cut inside the data", () => fixtureWeights().subarray(0, fixtureWeights().length - 4), /reach past the end of the \d+-byte data buffer/],
    ["fewer than 8 bytes", () => new Uint8Array(3), "loadWeights: file has 3 bytes, fewer than the 8-byte header length that starts every safetensors file"],
    ["a corrupted header", () => {
      const bytes = fixtureWeights();
      bytes[9] = 0x7d; // '}' right after '{"…' breaks the JSON
      return bytes;
    }, /^loadWeights: header is not valid JSON/],
    ["a header claiming more bytes than the file", () => withHeaderLength(fixtureWeights(), BigInt(fixtureWeights().length)), /^loadWeights: header claims \d+ bytes but the file has \d+ .*truncated or not safetensors$/],
    ["a huge header length", () => withHeaderLength(fixtureWeights(), 2n ** 63n), /^loadWeights: header claims 9223372036854775808 bytes but the file has/],
    ["a wrong shape", () => fixtureWeights({ "fc1.weight": { shape: [6, 5] } }), 'loadWeights: weights do not match the model: tensor "fc1.weight" has shape [6,5], expected [5,6]'],
    ["a wrong dtype", () => fixtureWeights({ "fc2.bias": { dtype: "F64", data: new Float64Array(3) } }), 'loadWeights: weights do not match the model: tensor "fc2.bias" has dtype F64, expected F32'],
    ["a missing tensor", () => fixtureWeights({ "fc2.bias": null }), 'loadWeights: weights do not match the model: tensor "fc2.bias" is missing (expected F32 [3])'],
    ["an extra tensor", () => fixtureWeights({ "fc3.weight": {} }), 'loadWeights: weights do not match the model: unexpected tensor "fc3.weight" (F32 [1]) is not in the model'],
    ["optimizer state with a wrong shape", () => fixtureWeights({ "sgd.momentum_buffer.fc1.bias": { shape: [2], data: F32(2) } }), /^loadWeights: weights do not match the model \(\d+ problems\):\n {2}tensor "sgd.momentum_buffer.fc1.bias" has shape \[2\], expected \[5\]/],
    ["not bytes", () => "weights.safetensors", "loadWeights: expected the bytes of a safetensors file (a Uint8Array or an ArrayBuffer), got string"],
    ["an Array of numbers", () => [1, 2, 3], "loadWeights: expected the bytes of a safetensors file (a Uint8Array or an ArrayBuffer), got an Array of length 3"],
  ];
  it.each(cases)("refuses %s before replacing anything", async (_, bytes, message) => {
    const m = await load();
    m.trainStep({ x: x2, y: y2 });
    const before = m.saveWeights({ optimizer: true });
    const output = m.forward({ x: x3 }).logits;
    let caught: unknown;
    try {
      m.loadWeights(bytes());
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).name).toBe("WeightsError");
    if (typeof message === "string") expect((caught as Error).message).toBe(message);
    else expect((caught as Error).message).toMatch(message);
    expect(m.saveWeights({ optimizer: true })).toEqual(before);
    expect(m.forward({ x: x3 }).logits).toEqual(output);
  });

  it("load(bytes) rejects weights that do not fit, naming load", async () => {
    await expect(load(fixtureWeights({ "fc1.weight": { shape: [30] } }))).rejects.toThrow('load: weights do not match the model: tensor "fc1.weight" has shape [30], expected [5,6]');
  });

  it("a seed changes the initial weights; the default seed is 0", async () => {
    const [a, b, c] = await Promise.all([load(), load(undefined, { seed: 0 }), load(undefined, { seed: 7 })]);
    expect(b.saveWeights()).toEqual(a.saveWeights());
    expect(c.saveWeights()).not.toEqual(a.saveWeights());
  });
});

describe("embedded weights", () => {
  it("load() starts from the weights embedded at compile time; load(bytes) overrides them", async () => {
    const bundle = await compileFixture({ weights: fixtureWeights() });
    expect(bundle.sizes.weights).toBeGreaterThan(0);
    expect(bundle.sizes.total).toBe(bundle.sizes.code + bundle.sizes.weights);
    const load = await importBundle(bundle);
    const m = await load();
    expect(weightValues(m.saveWeights())).toEqual(weightValues(fixtureWeights()));
    const other = fixtureWeights({ "fc2.bias": { data: F32(3, 2) } });
    expect(weightValues((await load(other)).saveWeights())["fc2.bias"]).toEqual([2, 2, 2]);
  });
});

describe("feeds", () => {
  let load: Load;
  beforeAll(async () => {
    load = await importBundle(await compileFixture());
  });

  it("picks the specialisation by the feeds' lengths and returns scalars as numbers", async () => {
    const m = await load();
    expect(m.forward({ x: x2 }).logits).toHaveLength(6);
    expect(m.forward({ x: Array.from(x3) }).logits).toHaveLength(9);
    expect(typeof m.evaluate({ x: x2, y: y2 }).loss).toBe("number");
  });

  const bad: ReadonlyArray<[string, () => unknown, string]> = [
    // (forward takes any number of rows since issue 14: only a partial row is refused)
    ["a length of no whole number of rows", () => ({ x: new Float32Array(7) }), "input x: got 7 elements, not a whole number of rows of [6] = 6 elements (expected shape [N,6])"],
    ["no object", () => x2, "forward: expected an object of inputs { x }, got Float32Array of length 12"],
    ["null", () => null, "forward: expected an object of inputs { x }, got null"],
    ["a missing input", () => ({}), "input x: no value was fed; expected a Float32Array (f32) of shape [2,6] = 12 elements"],
    ["an unknown input", () => ({ x: x2, z: x2 }), "unknown input z; forward takes x"],
  ];
  it.each(bad)("forward refuses %s with a FeedError", async (_, feeds, message) => {
    const m = await load();
    expect(() => m.forward(feeds() as Record<string, unknown>)).toThrow(message);
  });

  it("trainStep refuses inputs of different batch sizes and out-of-range labels, changing nothing", async () => {
    const m = await load();
    const before = m.saveWeights({ optimizer: true });
    expect(() => m.trainStep({ x: x2, y: new Int32Array(3) })).toThrow("trainStep: the inputs' lengths (x: 12, y: 3) do not belong to the same batch size (2, 3)");
    expect(() => m.trainStep({ x: x2, y: new Int32Array([0, 3]) })).toThrow(/^input y: label at row 1 is 3, expected 0 ≤ label < 3/);
    expect(m.saveWeights({ optimizer: true })).toEqual(before);
  });
});

describe("info", () => {
  it("is frozen data shared by every instance", async () => {
    const load = await importBundle(await compileFixture({}));
    const [a, b] = await Promise.all([load(), load()]);
    expect(a.info).toBe(b.info);
    expect(Object.isFrozen(a.info) && Object.isFrozen(a.info.weights[0])).toBe(true);
    expect(() => (a.info.weights as unknown as unknown[]).push(1)).toThrow(TypeError);
  });
});
