// The program image (@graft/runtime image.ts, artifacts.ts) on hand-made images and WASM bundles: the paths a
// generated module cannot reach through its typed API, and WASM index checks at run time.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, describe, expect, it } from "vitest";
import { compileBundle } from "../src/bundle/index.js";
import { createModel, jsRun, loadJsArtifact, loadWasmArtifact, type ImageTemplate, type ProgramImage, type RunKernels, type WasmArtifact, type WasmEntry } from "@graft/runtime";
import pick from "./fixtures/bundle/gather.js";

const template = <Entry = RunKernels>(overrides: Partial<ImageTemplate<Entry>> = {}): ImageTemplate<Entry> =>
  ({
    batch: null,
    name: "forward",
    inputs: [{ name: "x", dtype: "f32", shape: [2], offset: 16 }],
    outputs: [{ name: "y", dtype: "f32", shape: [2], offset: 16 }],
    consts: [],
    labels: [],
    updates: [],
    elements: 32,
    entry: jsRun<null>([(F) => void F.set([(F[16] ?? 0) * 2, (F[17] ?? 0) * 2], 16)], null),
    ...overrides,
  }) as ImageTemplate<Entry>;

const image = <Artifact, Entry>(functions: ProgramImage<Artifact, Entry>["functions"], artifact: Artifact): ProgramImage<Artifact, Entry> => ({
  info: { name: "handmade", backend: artifact === null ? "js" : "wasm", batches: [], dims: {}, optimizer: null, inputs: [], outputs: [], functions: {}, weights: [], state: [] },
  state: [],
  functions,
  elements: 32,
  artifact,
  weights: "",
});

/** The smallest valid WASM module: no imports, no exports. */
const EMPTY_MODULE = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]).toString("base64");

describe("bundle runtime", () => {
  it("refuses an unknown function and a function without images", async () => {
    const model = await createModel(image({ forward: [template()], empty: [] }, null), loadJsArtifact);
    expect(() => model.call("predict", {})).toThrow("bundle: unknown function predict; this bundle has forward, empty");
    expect(() => model.call("empty", {})).toThrow("bundle: function empty has no compiled image");
    expect(model.call("forward", { x: new Float32Array([1, 2]) })).toEqual({ y: new Float32Array([2, 4]) });
  });

  it("validates load()'s options from untyped JS (issue 16, item 18)", async () => {
    const handmade = image({ forward: [template()] }, null);
    const load = (weights: unknown, options: unknown) => createModel(handmade, loadJsArtifact, weights as undefined, options as undefined);
    await expect(load(undefined, null)).resolves.toBeDefined();
    await expect(load(null, undefined)).resolves.toBeDefined();
    await expect(load(undefined, { seed: 2 ** 32 - 1 })).resolves.toBeDefined();
    const refused: Array<[unknown, string]> = [
      [{ seed: "abc" }, 'load: options.seed must be an integer 0 ≤ seed < 2^32, got the string "abc"'],
      [{ seed: "1" }, 'load: options.seed must be an integer 0 ≤ seed < 2^32, got the string "1"'],
      [{ seed: Number.NaN }, "load: options.seed must be an integer 0 ≤ seed < 2^32, got NaN"],
      [{ seed: 2 ** 40 }, "load: options.seed must be an integer 0 ≤ seed < 2^32, got 1099511627776"],
      [{ seed: 2 ** 32 }, "load: options.seed must be an integer 0 ≤ seed < 2^32, got 4294967296"],
      [{ seed: -1 }, "load: options.seed must be an integer 0 ≤ seed < 2^32, got -1"],
      [{ seed: 1.5 }, "load: options.seed must be an integer 0 ≤ seed < 2^32, got 1.5"],
      [{ seed: 1n }, "load: options.seed must be an integer 0 ≤ seed < 2^32, got 1"],
      [{ seed: null }, "load: options.seed must be an integer 0 ≤ seed < 2^32, got null"],
      [{ threads: 2 }, "load: unknown option 'threads'; the options are: seed"],
      [7, "load: options must be an object such as { seed: 1 }, got number"],
      [[1], "load: options must be an object such as { seed: 1 }, got an Array of length 1"],
    ];
    for (const [options, message] of refused) await expect(load(undefined, options)).rejects.toThrow(message);
    await expect(load(undefined, { seed: 2 ** 40 })).rejects.toBeInstanceOf(RangeError);
    await expect(load(undefined, { seed: "abc" })).rejects.toBeInstanceOf(TypeError);
  });

  it("refuses a WASM module without the entry point's export", async () => {
    const artifact: WasmArtifact = { module: EMPTY_MODULE, base: 0 };
    await expect(createModel(image({ forward: [template<WasmEntry>({ entry: { export: "run0", checks: [] } })] }, artifact), loadWasmArtifact)).rejects.toThrow(
      "bundle: the WASM module exports no function run0",
    );
  });
});

describe("WASM bundles", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("report a failed index check with the op and the user's line, then keep working", async () => {
    const bundle = await compileBundle(pick, { backend: "wasm", batches: [2] });
    if (E.isLeft(bundle)) throw new Error(bundle.left.map((d) => d.message).join("\n"));
    expect(bundle.right.source).toMatch(/checks: \["gather \(node %\d+, .*gather\.ts:8:\d+\): an index is out of range for the dim it indexes"\]/);
    const dir = mkdtempSync(join(tmpdir(), "graft-bundle-wasm-"));
    dirs.push(dir);
    writeFileSync(join(dir, "model.mjs"), bundle.right.code);
    const { load } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as {
      load: () => Promise<{ forward(feeds: Record<string, unknown>): { picked: Float32Array } }>;
    };
    const m = await load();
    const x = new Float32Array([10, 11, 12, 13, 20, 21, 22, 23]);
    expect(m.forward({ x, index: new Int32Array([3, 0]) }).picked).toEqual(new Float32Array([13, 20]));
    expect(() => m.forward({ x, index: new Int32Array([1, 4]) })).toThrow(/^forward: gather \(node %\d+, .*gather\.ts:8:\d+\): an index is out of range for the dim it indexes$/);
    expect(m.forward({ x, index: new Int32Array([2, 1]) }).picked).toEqual(new Float32Array([12, 21]));
  });
});
