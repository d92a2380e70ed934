// The types of a bundle: its .d.mts type-checks a consumer (and rejects wrong input names and
// types), and the TypeScript module it is bundled from (--emit-ts) type-checks under strict.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CompiledBundle } from "../src/bundle/index.js";
import { compileFixture } from "./fixtures/bundle/harness.js";

const require = createRequire(import.meta.url);
const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
const here = dirname(fileURLToPath(import.meta.url));

/** Runs tsc on a project folder; returns its diagnostics ("" when clean). */
const typeCheck = (dir: string): string => {
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "-p", dir], { encoding: "utf8", stdio: "pipe" });
    return "";
  } catch (caught) {
    const failure = caught as { stdout?: string; stderr?: string };
    return `${failure.stdout ?? ""}${failure.stderr ?? ""}`.trim();
  }
};

const CONSUMER = `import { load, type ForwardInputs, type ModelInfo, type TrainStepOutputs } from "./model.mjs";

const m = await load();
const info: ModelInfo = m.info;
const batches: readonly number[] = info.batches;
const x = new Float32Array(12);
const feeds: ForwardInputs = { x };
const logits: Float32Array = m.forward(feeds).logits;
const fromArray: Float32Array = m.forward({ x: [1, 2, 3] }).logits;
const fromRows: Float32Array = m.forward({ x: [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]] }).logits;
const step: TrainStepOutputs = m.trainStep({ x, y: new Int32Array(2) });
const loss: number = step.loss;
const evaluated: number = m.evaluate({ x, y: [0, 1] }).loss;
const bytes: Uint8Array = m.saveWeights({ optimizer: true });
m.loadWeights(bytes);
const again = await load(bytes.buffer, { seed: 3 });
again.loadWeights(new ArrayBuffer(8));

// @ts-expect-error: the input is x, not z
m.forward({ z: x });
// @ts-expect-error: x is f32, an Int32Array is not accepted
m.forward({ x: new Int32Array(12) });
// @ts-expect-error: trainStep needs the labels y
m.trainStep({ x });
// @ts-expect-error: the loss is a number, not an array
const wrong: Float32Array = step.loss;
// @ts-expect-error: forward has no loss output
m.forward({ x }).loss;
// @ts-expect-error: no such function
m.predict({ x });

export { batches, logits, fromArray, fromRows, loss, evaluated, wrong };
`;

describe("bundle types", () => {
  let bundle: CompiledBundle;
  const dirs: string[] = [];
  const project = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), "graft-bundle-types-"));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  beforeAll(async () => {
    bundle = await compileFixture();
  });
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("names every input and output with its shapes", () => {
    expect(bundle.dts).toContain("forward(feeds: ForwardInputs): ForwardOutputs;");
    // nested Arrays (one level per dim) since issue 14
    expect(bundle.dts).toContain("/** f32[2,6] | f32[3,6] (declared f32[batch,6]) */\n  readonly x: Float32Array | readonly number[] | readonly (readonly number[])[];");
    expect(bundle.dts).toContain("/** f32[2,3] | f32[3,3] (declared f32[batch,3]) */\n  readonly logits: Float32Array;");
    expect(bundle.dts).toContain("/** i32[2] | i32[3] (declared i32[batch]) */\n  readonly y: Int32Array | readonly number[];");
    expect(bundle.dts).toContain("/** f32[], returned as a number */\n  readonly loss: number;");
    expect(bundle.dts).toContain("export declare function load(weights?: Uint8Array | ArrayBufferLike, options?: LoadOptions): Promise<GraftModel>;");
  });

  it("the .d.mts type-checks a consumer under strict NodeNext and rejects misuse", () => {
    const dir = project({
      "model.mjs": bundle.code,
      "model.d.mts": bundle.dts,
      "consumer.ts": CONSUMER,
      "package.json": JSON.stringify({ type: "module" }),
      "tsconfig.json": JSON.stringify({
        compilerOptions: { strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022"], types: [], noEmit: true },
        files: ["consumer.ts"],
      }),
    });
    expect(typeCheck(dir)).toBe("");
    // and the misuse lines are errors indeed: without the @ts-expect-error markers tsc fails on each
    writeFileSync(join(dir, "consumer.ts"), CONSUMER.replaceAll("// @ts-expect-error", "//"));
    const errors = typeCheck(dir).split("\n").filter((line) => line.includes("error TS"));
    expect(errors).toHaveLength(6);
  });

  it("the emitted TypeScript module type-checks under strict (against the real runtime sources)", () => {
    const dir = project({
      "model.ts": bundle.source,
      "tsconfig.json": JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "esnext",
          moduleResolution: "bundler",
          target: "es2022",
          lib: ["es2022", "dom"],
          types: [],
          noEmit: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          paths: {
            "@graft/runtime/kernels-js": [resolve(here, "../../runtime/src/kernels-js.ts")],
            "@graft/runtime": [resolve(here, "../../runtime/src/index.ts")],
          },
        },
        files: ["model.ts"],
      }),
    });
    expect(typeCheck(dir)).toBe("");
  });
});
