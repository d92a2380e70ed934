/**
 * @file `graft train` with an image-shaped x (f32[batch,1,8,8]): each CSV row's 64 pixel columns
 * are reshaped into the feature shape; a column count that does not make the shape is refused
 * naming x's shape, the expected and the actual count; `--standardize` (one mean/std per pixel,
 * stored with x's feature shape), `--out` and `--export` work with image shapes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import { seededSplit } from "../src/toolkit/data/loader.js";
import { runCli, REPO_ROOT, type CliRun } from "./cli-run.js";

const dir = mkdtempSync(join(tmpdir(), "graft-train-images-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CNN = "packages/compiler/test/fixtures/train/tiny-cnn.ts";
const graft = (argv: readonly string[]): Promise<CliRun> => runCli(["train", ...argv], REPO_ROOT);

/**
 * Seeded 8×8 images of three classes: a horizontal bar (0), a vertical bar (1), a diagonal (2), at
 * random positions, on noise, with pixel values around 100 (so unstandardised training is hard).
 */
const images = (count: number, seed: number): { readonly pixels: number[][]; readonly labels: number[] } => {
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const pixels: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 3;
    const at = 1 + Math.floor(next() * 6);
    const image = Array.from({ length: 64 }, () => 100 + 10 * next());
    for (let k = 0; k < 8; k++) {
      const [row, column] = label === 0 ? [at, k] : label === 1 ? [k, at] : [k, k];
      image[row * 8 + column] = 160 + 10 * next();
    }
    pixels.push(image.map((value) => Math.round(value * 100) / 100));
    labels.push(label);
  }
  return { pixels, labels };
};

/** The dtype each tensor has in a safetensors file's header (decodeSafetensors reads I64 as I32). */
const headerDtypes = (bytes: Uint8Array): Record<string, string> => {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, { dtype?: string }>;
  return Object.fromEntries(Object.entries(header).flatMap(([name, entry]) => (name === "__metadata__" ? [] : [[name, entry.dtype ?? ""]])));
};

const data = images(150, 7);
const header = [...Array.from({ length: 64 }, (_, i) => `p${Math.floor(i / 8)}_${i % 8}`), "label"].join(",");
const csvPath = join(dir, "bars.csv");
writeFileSync(csvPath, `${header}\n${data.pixels.map((row, i) => [...row, data.labels[i]].join(",")).join("\n")}\n`);

describe("graft train: image-shaped x", () => {
  test("trains the CNN from a CSV of 64 pixel columns per row, with --standardize, --out and --export (the bundle takes raw images)", async () => {
    const out = join(dir, "cnn", "weights.safetensors");
    const bundlePath = join(dir, "cnn", "cnn.mjs");
    const run = await graft([CNN, "--data", csvPath, "--standardize", "--epochs", "12", "--batch-size", "16", "--optimizer", "adam:lr=0.01", "--out", out, "--export", bundlePath]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out.split("\n")[0]).toBe(
      `training ${CNN} (model tiny_cnn) on ${csvPath}: 120 train / 30 test rows, 64 features as f32[batch,1,8,8] (standardized), 3 classes; adam:lr=0.01, batch 16, wasm backend`,
    );
    const testAccuracy = Number(/^test accuracy: (\S+)%$/m.exec(run.out)?.[1]);
    expect(testAccuracy).toBeGreaterThanOrEqual(90);

    // the standardisation is per pixel, stored with x's feature shape
    const weights = decodeSafetensors(readFileSync(out)).tensors;
    expect([...weights.keys()]).toEqual([
      "bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var", "bn1.weight",
      "conv1.bias", "conv1.weight", "fc.bias", "fc.weight", "standardize.mean", "standardize.std",
    ]);
    // BatchNorm's counter as PyTorch saves it (int64), read back as i32
    expect(headerDtypes(readFileSync(out))["bn1.num_batches_tracked"]).toBe("I64");
    expect(weights.get("bn1.num_batches_tracked")).toEqual({ name: "bn1.num_batches_tracked", dtype: "I32", shape: [], data: Int32Array.of(96) });
    expect(weights.get("standardize.mean")?.shape).toEqual([1, 8, 8]);
    expect(weights.get("standardize.std")?.shape).toEqual([1, 8, 8]);
    const split = seededSplit(data.labels.length, 0.2, 0);
    const meanOfPixel0 = split.train.reduce((sum, row) => sum + (data.pixels[row]?.[0] ?? 0), 0) / split.train.length;
    expect(weights.get("standardize.mean")?.data[0]).toBeCloseTo(meanOfPixel0, 3);

    // the bundle takes raw images, [rows,1,8,8] as nested arrays, and predicts like the run measured
    const bundle = (await import(pathToFileURL(bundlePath).href)) as { load: () => Promise<{ forward: (feeds: object) => { logits: Float32Array }; saveWeights: () => Uint8Array }> };
    const m = await bundle.load();
    // the forward-only bundle keeps the whole state dict, bn1.num_batches_tracked too (which its forward does not read)
    expect(decodeSafetensors(m.saveWeights()).tensors).toEqual(weights);
    expect(headerDtypes(m.saveWeights())["bn1.num_batches_tracked"]).toBe("I64");
    const nested = (row: readonly number[]): number[][][] => [Array.from({ length: 8 }, (_, r) => row.slice(8 * r, 8 * r + 8))];
    const testRows = Array.from(split.test, (index) => data.pixels[index] ?? []);
    const logits = m.forward({ x: testRows.map(nested) }).logits;
    let correct = 0;
    split.test.forEach((index, row) => {
      const scores = Array.from(logits.subarray(3 * row, 3 * row + 3));
      if (scores.indexOf(Math.max(...scores)) === data.labels[index]) correct++;
    });
    expect((100 * correct) / split.test.length).toBeCloseTo(testAccuracy, 1);
  }, 120_000);

  test("trains on the js back end without --standardize, with a checkpoint folder", async () => {
    const ck = join(dir, "ck");
    const run = await graft([CNN, "--data", csvPath, "--epochs", "2", "--batch-size", "32", "--backend", "js", "--checkpoint", ck]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain("120 train / 30 test rows, 64 features as f32[batch,1,8,8], 3 classes; adam:lr=1e-3, batch 32, js backend");
    expect(decodeSafetensors(readFileSync(join(ck, "weights.safetensors"))).tensors.get("conv1.weight")?.shape).toEqual([4, 1, 3, 3]);
  }, 120_000);

  test("a column count that does not make x's shape names the file, x's shape, the expected and the actual count (exit 2)", async () => {
    const narrow = join(dir, "narrow.csv");
    writeFileSync(narrow, `${Array.from({ length: 63 }, (_, i) => `p${i}`).join(",")},label\n${data.pixels.slice(0, 3).map((row, i) => [...row.slice(0, 63), data.labels[i]].join(",")).join("\n")}\n`);
    const run = await graft([CNN, "--data", narrow]);
    expect(run.err).toBe(
      `graft train: ${narrow}: has 63 feature columns (p0, p1, p2, p3, p4, p5, p6, p7, …) besides the label 'label', but the model's x takes 64 (x is f32[batch,1,8,8]: 1·8·8 = 64 values per row)\n`,
    );
    expect(run.code).toBe(2);
    expect(run.out).toBe("");
  });

  test("an x with a symbolic dim after the batch dim is refused (exit 1)", async () => {
    const model = join(REPO_ROOT, "packages/compiler/test/fixtures/train/symbolic-image.ts");
    const run = await graft([model, "--data", csvPath]);
    expect(run.err).toBe(
      "graft train: packages/compiler/test/fixtures/train/symbolic-image.ts: input x is f32[batch,1,h,8], expected f32[batch,F] (or a fixed feature shape such as f32[batch,C,H,W]) with fixed dims after the batch dim; graft train needs an input x : f32[batch,F], labels y : i32[batch], a loss, and an output f32[batch,C] (e.g. logits)\n",
    );
    expect(run.code).toBe(1);
  });
});
