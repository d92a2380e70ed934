/**
 * @file `graft train` beyond classification checkpoints: regression (MSE/R²), `--standardize`
 * (fitted on the training split only, stored with the weights, applied by the exported bundle),
 * `--out weights.safetensors`, `--export model.mjs`, and exit code 1 with its message for every
 * model that does not fit the training contract.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import { gatherRows, seededSplit } from "../src/toolkit/data/loader.js";
import { parseCsv, parseJsonData } from "../src/toolkit/data/tabular.js";
import { applyStandardizer, fitStandardizer, regressionMetrics } from "../src/toolkit/train/index.js";
import { makeBlobs } from "../../../examples/blobs/data.js";
import { runCli, type CliRun as Run } from "./cli-run.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const FIXTURES = "packages/compiler/test/fixtures/train";
const dir = mkdtempSync(join(tmpdir(), "graft-train-out-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


const graft = (argv: string[]): Promise<Run> => runCli(argv, root);

const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** A seeded linear-regression table on features of very different scales: y = 0.002·a − 3·b + 40·c + 5 + noise. */
const regressionRows = (rows: number): number[][] => {
  let state = 12345;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: rows }, () => {
    const a = 1000 + 2000 * next();
    const b = 5 * next();
    const c = 0.05 * next();
    return [a, b, c, 0.002 * a - 3 * b + 40 * c + 5 + 0.01 * (next() - 0.5)];
  });
};
const rows = regressionRows(300);
const regressionCsv = file("regression.csv", `a,b,c,target\n${rows.map((row) => row.join(",")).join("\n")}\n`);

describe("graft train: regression with --standardize, --out and --export", () => {
  test("fits the standardisation on the training split, reports MSE and R², writes weights and a bundle taking raw features", async () => {
    const out = join(dir, "reg", "weights.safetensors");
    const bundlePath = join(dir, "reg", "model.mjs");
    const run = await graft([
      "train", `${FIXTURES}/linear-regression.ts`, "--data", regressionCsv, "--standardize", "--epochs", "60", "--batch-size", "16",
      "--optimizer", "adam:lr=0.05", "--out", out, "--export", bundlePath, "--backend", "js",
    ]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const lines = run.out.split("\n");
    expect(lines[0]).toBe(
      `training ${FIXTURES}/linear-regression.ts (model linear_regression) on ${regressionCsv}: 240 train / 60 test rows, 3 features (standardized), regression on 'target'; adam:lr=0.05, batch 16, js backend`,
    );
    expect(lines.filter((line) => line.startsWith("epoch "))[0]).toMatch(/^epoch {2}1\/60 {2}15\/15 batches .* loss \S+ {2}train mse \S+ r² \S+ {2}test mse \S+ r² \S+$/);
    expect(run.out).toContain(`weights: ${out} (with standardize.mean and standardize.std)\n`);
    expect(run.out).toMatch(new RegExp(`^exported: ${bundlePath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(\\S+ \\S+, forward and evaluate at any batch size, takes raw features \\(standardises them itself\\)\\); declarations: .*model\\.d\\.mts$`, "m"));
    const r2 = Number(/^test MSE: \S+, R²: (\S+)$/m.exec(run.out)?.[1]);
    expect(r2).toBeGreaterThan(0.99);
    expect(run.out).toMatch(/^train MSE: \S+, R²: \S+$/m);

    // the standardisation is the training split's, not the whole file's
    const split = seededSplit(rows.length, 0.2, 0);
    const features = Float32Array.from(rows.flatMap((row) => row.slice(0, 3)));
    const fitted = fitStandardizer(gatherRows(features, 3, split.train), 3, split.train.length);
    const everything = fitStandardizer(features, 3, rows.length);
    const weights = decodeSafetensors(readFileSync(out));
    expect([...weights.tensors.keys()]).toEqual(["fc.bias", "fc.weight", "standardize.mean", "standardize.std"]);
    expect(weights.tensors.get("standardize.mean")?.data).toEqual(fitted.mean);
    expect(weights.tensors.get("standardize.std")?.data).toEqual(fitted.std);
    expect(fitted.mean).not.toEqual(everything.mean);

    // the bundle takes raw rows (plain nested arrays, any number of them) and standardises itself
    const bundle = (await import(pathToFileURL(bundlePath).href)) as {
      load: () => Promise<{ forward: (feeds: object) => { prediction: Float32Array }; evaluate: (feeds: object) => { loss: number }; info: { batches: number[] } }>;
    };
    const m = await bundle.load();
    expect(m.info.batches).toEqual([1, 32]);
    const testRows = Array.from(split.test, (index) => rows[index] ?? []);
    const predicted = m.forward({ x: testRows.map((row) => row.slice(0, 3)) }).prediction;
    expect(predicted).toHaveLength(testRows.length);
    const { r2: bundleR2, mse: bundleMse } = regressionMetrics(predicted, testRows.map((row) => Math.fround(row[3] ?? 0)));
    expect(bundleR2).toBeCloseTo(r2, 3);
    // evaluate takes raw rows too (60 rows: chunks of 32, the last padded): its loss is the MSE of forward's predictions
    const evaluated = m.evaluate({ x: testRows.map((row) => row.slice(0, 3)), y: testRows.map((row) => [row[3] ?? 0]) }).loss;
    expect(evaluated).toBeCloseTo(bundleMse, 4);
    // one raw row, as a flat array
    const first = testRows[0] ?? [];
    const single = m.forward({ x: first.slice(0, 3) }).prediction;
    expect(single[0]).toBeCloseTo(predicted[0] ?? Number.NaN, 4);
  }, 60_000);

  test("a regression checkpoint records --standardize: resuming continues it, resuming without it is refused", async () => {
    const ck = join(dir, "reg-ck");
    const common = ["train", `${FIXTURES}/linear-regression.ts`, "--data", regressionCsv, "--standardize", "--batch-size", "32", "--optimizer", "adam:lr=0.05", "--checkpoint", ck];
    expect((await graft([...common, "--epochs", "2"])).code).toBe(0);
    const resumed = await graft([...common, "--epochs", "3", "--resume"]);
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`resuming from ${join(ck, "checkpoint.safetensors")} after epoch 2`);
    expect([...decodeSafetensors(readFileSync(join(ck, "weights.safetensors"))).tensors.keys()]).toEqual(["fc.bias", "fc.weight", "standardize.mean", "standardize.std"]);
    expect(readFileSync(join(ck, "metrics.svg"), "utf8")).toContain("Mean squared error");
    const refused = await graft(["train", `${FIXTURES}/linear-regression.ts`, "--data", regressionCsv, "--batch-size", "32", "--optimizer", "adam:lr=0.05", "--checkpoint", ck, "--epochs", "4", "--resume"]);
    expect(refused.err).toBe(
      `graft train: --resume: ${join(ck, "checkpoint.safetensors")} was written with --standardize on, this run has off; resume with the same model, data and settings, or pass --force to resume anyway\n`,
    );
    expect(refused.code).toBe(2);
  });

  test("a regression with y : f32[batch] and a flat prediction, without --standardize", async () => {
    const small = file("small-regression.csv", `a,b,c,target\n${regressionRows(60).map(([a, b, c, t]) => [((a ?? 0) - 2000) / 1000, b, (c ?? 0) * 20, t].join(",")).join("\n")}\n`);
    const run = await graft(["train", `${FIXTURES}/regression-flat.ts`, "--data", small, "--epochs", "2", "--split", "0"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain("60 train / 0 test rows, 3 features, regression on 'target'; adam:lr=1e-3, batch 32, wasm backend");
    expect(run.out).toMatch(/^train MSE: \S+, R²: \S+$/m);
    expect(run.out).not.toContain("test MSE");
  });

  test("a target that is not a number names the file, line and column", async () => {
    const bad = file("bad-target.csv", "a,b,c,target\n1,2,3,4.5\n1,2,3,n/a\n");
    const run = await graft(["train", `${FIXTURES}/linear-regression.ts`, "--data", bad]);
    expect(run.err).toBe(`graft train: ${bad}:3 column 'target': 'n/a' is not a number (the target of a regression)\n`);
    expect(run.code).toBe(2);
  });

  test("--classes is refused for a regression", async () => {
    const run = await graft(["train", `${FIXTURES}/linear-regression.ts`, "--data", regressionCsv, "--classes", "3"]);
    expect(run.err).toBe("graft train: --classes is for classification, but the model's y is f32 (numeric targets: a regression)\n");
    expect(run.code).toBe(2);
  });
});

describe("graft train: --out and --export for a classifier", () => {
  const blobs = makeBlobs({ samples: 120, seed: 3 });
  const csv = file("blobs.csv", `x1,x2,label\n${Array.from({ length: blobs.count }, (_, i) => `${blobs.features[2 * i]},${blobs.features[2 * i + 1]},${blobs.labels[i]}`).join("\n")}\n`);

  test("--out writes the weights without a checkpoint folder; --export's bundle predicts like the trained weights", async () => {
    const out = join(dir, "cls", "w.safetensors");
    const bundlePath = join(dir, "cls", "blobs.mjs");
    const run = await graft(["train", "examples/blobs/model.ts", "--data", csv, "--epochs", "20", "--batch-size", "8", "--optimizer", "adam:lr=0.05", "--out", out, "--export", bundlePath]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain(`weights: ${out}\n`);
    expect(run.out).not.toContain("checkpoint:");
    const weights = decodeSafetensors(readFileSync(out));
    expect([...weights.tensors.keys()]).toEqual(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight"]);
    const bundle = (await import(pathToFileURL(bundlePath).href)) as {
      load: (weights?: Uint8Array) => Promise<{ forward: (feeds: object) => { logits: Float32Array }; saveWeights: () => Uint8Array; info: { backend: string } }>;
    };
    const m = await bundle.load();
    expect(m.info.backend).toBe("wasm");
    expect(decodeSafetensors(m.saveWeights()).tensors).toEqual(weights.tensors);
    const x = Array.from({ length: blobs.count }, (_, i) => [blobs.features[2 * i] ?? 0, blobs.features[2 * i + 1] ?? 0]);
    const logits = m.forward({ x }).logits;
    let correct = 0;
    for (let row = 0; row < blobs.count; row++) {
      const scores = Array.from(logits.subarray(4 * row, 4 * row + 4));
      if (scores.indexOf(Math.max(...scores)) === blobs.labels[row]) correct++;
    }
    const trainAccuracy = Number(/^train accuracy: (\S+)%$/m.exec(run.out)?.[1]);
    expect(correct / blobs.count).toBeGreaterThan(0.85);
    expect(trainAccuracy).toBeGreaterThan(85);
  }, 60_000);

  test("--export-train: the bundle also has trainStep (the run's optimizer, compiled for its batch size) on raw features; the standardisation stays fixed", async () => {
    const bundlePath = join(dir, "cls-train", "blobs.mjs");
    const run = await graft(["train", "examples/blobs/model.ts", "--data", csv, "--epochs", "3", "--batch-size", "8", "--optimizer", "sgd:lr=0.1", "--standardize", "--backend", "js", "--export", bundlePath, "--export-train"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^exported: .*blobs\.mjs \(\S+ \S+, forward and evaluate at any batch size, trainStep \(sgd:lr=0\.1,momentum=0,dampening=0,nesterov=false,weight_decay=0,maximize=false\) at batch 1 or 8 or 32, takes raw features \(standardises them itself\)\); declarations: .*blobs\.d\.mts$/m);
    type Trainable = {
      trainStep: (feeds: object) => { loss: number };
      evaluate: (feeds: object) => { loss: number };
      saveWeights: () => Uint8Array;
      hyperparameters: Record<string, number>;
      info: { batches: number[] };
    };
    const m = await ((await import(pathToFileURL(bundlePath).href)) as { load: () => Promise<Trainable> }).load();
    expect(m.info.batches).toEqual([1, 8, 32]);
    expect(m.hyperparameters).toEqual({ lr: 0.1 });
    const rows = Array.from({ length: 8 }, (_, i) => [blobs.features[2 * i] ?? 0, blobs.features[2 * i + 1] ?? 0]);
    const labels = Array.from(blobs.labels.subarray(0, 8));
    const before = decodeSafetensors(m.saveWeights()).tensors;
    const start = m.evaluate({ x: rows, y: labels }).loss;
    for (let i = 0; i < 20; i++) m.trainStep({ x: rows, y: labels });
    expect(m.evaluate({ x: rows, y: labels }).loss).toBeLessThan(start);
    const after = decodeSafetensors(m.saveWeights()).tensors;
    expect(after.get("standardize.mean")).toEqual(before.get("standardize.mean"));
    expect(after.get("standardize.std")).toEqual(before.get("standardize.std"));
    expect(after.get("fc1.weight")).not.toEqual(before.get("fc1.weight"));
  }, 60_000);

  test("--out and --export check the file names", async () => {
    let run = await graft(["train", "examples/blobs/model.ts", "--data", csv, "--out", "w.bin"]);
    expect(run.err).toBe("graft train: --out writes safetensors weights; name the file *.safetensors, got 'w.bin'\n");
    expect(run.code).toBe(2);
    run = await graft(["train", "examples/blobs/model.ts", "--data", csv, "--export", "model.ts"]);
    expect(run.err).toBe("graft train: --export writes an ES module bundle; name the file *.mjs (or *.js), got 'model.ts'\n");
    expect(run.code).toBe(2);
    run = await graft(["train", "examples/blobs/model.ts", "--data", csv, "--export-train"]);
    expect(run.err).toBe("graft train: --export-train needs --export <model.mjs> (it adds trainStep to that bundle)\n");
    expect(run.code).toBe(2);
  });
});

describe("graft train: a model that does not fit the contract exits with 1", () => {
  const csv = file("three.csv", "a,b,c,target\n1,2,3,4\n2,3,4,5\n");
  const expectContract = async (fixture: string, message: string): Promise<void> => {
    const run = await graft(["train", `${FIXTURES}/${fixture}`, "--data", csv]);
    expect(run.err).toBe(`graft train: ${FIXTURES}/${fixture}: ${message}\n`);
    expect(run.code).toBe(1);
  };
  const regression = "graft train (regression) needs an input x : f32[batch,F], targets y : f32[batch] or f32[batch,1], a loss (e.g. mseLoss), and an output of y's type";

  test("a regression without an output of y's type", async () => {
    await expectContract("regression-wide-output.ts", `the model has no output of type f32[batch,1] (y's type) to predict the targets with; ${regression}`);
  });

  test("a regression with two targets per row", async () => {
    await expectContract("regression-wide-targets.ts", `input y is f32[batch,2], expected f32[batch] or f32[batch,1] (one target per row); ${regression}`);
  });

  test("labels that are neither class ids nor targets", async () => {
    await expectContract(
      "bool-labels.ts",
      "input y is bool[batch], expected i32[batch] class ids (or f32[batch] targets for a regression); graft train needs an input x : f32[batch,F], labels y : i32[batch], a loss, and an output f32[batch,C] (e.g. logits)",
    );
  });
});

describe("numeric targets", () => {
  test("reads the label column as float32 numbers from CSV and JSON, naming the first row that is not a number", () => {
    const csv = parseCsv("a,b,price\n1,2,3.25\n4,5,-0.1\n", "h.csv", { target: "number" });
    expect(csv.targets).toEqual(Float32Array.from([3.25, -0.1]));
    expect(csv.labels).toHaveLength(0);
    expect(csv.numSamples).toBe(2);
    const json = parseJsonData('{"x": [[1], [2]], "y": [2.5, 1e3]}', "h.json", { target: "number" });
    expect(json.targets).toEqual(Float32Array.from([2.5, 1000]));
    expect(() => parseJsonData('{"x": [[1], [2]], "y": [2.5, 1e3]}', "h.json")).toThrow("h.json: y[0]: label 2.5 is not an integer class id");
    expect(() => parseCsv("a,price\n1,2\n3,\n", "h.csv", { target: "number" })).toThrow("h.csv:3 column 'price': the value is empty, expected a number (the target of a regression)");
    expect(() => parseJsonData('[{"a": 1, "p": 1}, {"a": 2, "p": "x"}]', "r.json", { target: "number" })).toThrow("r.json: [1].p: 'x' is not a number (the target of a regression)");
  });
});

describe("standardisation", () => {
  test("population mean and std per feature, std 1 for a constant feature, applied in float32", () => {
    const features = Float32Array.from([1, 5, 2, 5, 3, 5, 6, 5]);
    const fitted = fitStandardizer(features, 2, 4);
    expect(Array.from(fitted.mean)).toEqual([3, 5]);
    expect(fitted.std[0]).toBe(Math.fround(Math.sqrt(3.5)));
    expect(fitted.std[1]).toBe(1);
    const applied = applyStandardizer(features, fitted);
    expect(applied[0]).toBe(Math.fround(-2 / Math.fround(Math.sqrt(3.5))));
    expect(applied[1]).toBe(0);
  });

  test("refuses no rows and a ragged table", () => {
    expect(() => fitStandardizer(new Float32Array(0), 2, 0)).toThrow("fitStandardizer: no rows to fit the mean and standard deviation on");
    expect(() => fitStandardizer(new Float32Array(5), 2, 3)).toThrow("fitStandardizer: 5 values are not 3 rows of 2 features");
  });

  test("regression metrics: MSE and scikit-learn's R²", () => {
    expect(regressionMetrics([1, 2, 3], [1, 2, 3])).toEqual({ mse: 0, r2: 1 });
    expect(regressionMetrics([2, 2, 2], [1, 2, 3])).toEqual({ mse: 2 / 3, r2: 0 });
    expect(regressionMetrics([1, 1], [1, 1])).toEqual({ mse: 0, r2: 1 });
    expect(regressionMetrics([0, 1], [1, 1])).toEqual({ mse: 0.5, r2: 0 });
    expect(() => regressionMetrics([1], [1, 2])).toThrow("regressionMetrics: 1 predictions for 2 targets");
  });
});
