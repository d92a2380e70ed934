import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import { confusionCounts, parseMnistArgs, percent, RECIPES, trainMnist, writeArtifacts } from "./main.js";

const dir = mkdtempSync(join(tmpdir(), "graft-mnist-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("command line", () => {
  it("defaults to the 784-256-128-64-10 recipe and parses every option", () => {
    expect(parseMnistArgs([])).toEqual({ demo: false, out: undefined, arch: "256" });
    expect(
      parseMnistArgs(["--demo", "--arch", "520", "--epochs", "3", "--batch-size", "32", "--optimizer", "sgd:lr=0.1", "--lr-drops", "none", "--augment", "off", "--backend", "js", "--seed", "5", "--train-size", "100", "--test-size", "50", "--out", "x"]),
    ).toEqual({ demo: true, out: "x", arch: "520", epochs: 3, batchSize: 32, optimizer: "sgd:lr=0.1", lrDrops: [], augment: false, backend: "js", seed: 5, trainSize: 100, testSize: 50 });
    expect(parseMnistArgs(["--lr-drops", "4, 7"]).lrDrops).toEqual([4, 7]);
    expect(RECIPES["256"].optimizer).toBe("adam:lr=1e-3");
    expect(RECIPES["520"].optimizer).toBe("sgd:lr=0.01,momentum=0.5");
  });

  it("refuses bad options with a message naming them", () => {
    expect(() => parseMnistArgs(["--arch", "100"])).toThrow("--arch must be 256 (784-256-128-64-10) or 520 (784-520-320-240-120-10), got '100'");
    expect(() => parseMnistArgs(["--backend", "gpu"])).toThrow("--backend must be js, wasm or reference, got 'gpu'");
    expect(() => parseMnistArgs(["--augment", "yes"])).toThrow("--augment must be on or off, got 'yes'");
    expect(() => parseMnistArgs(["--lr-drops", "a"])).toThrow("--lr-drops takes epochs ≥ 1 separated by commas, or none; got 'a'");
    expect(() => parseMnistArgs(["--epochs", "0"])).toThrow("--epochs must be an integer ≥ 1, got '0'");
    expect(() => parseMnistArgs(["--seed", "1.5"])).toThrow("--seed must be an integer ≥ 0, got '1.5'");
    expect(() => parseMnistArgs(["--bogus"])).toThrow("Unknown option '--bogus'");
  });

  it("formats accuracies with one decimal", () => {
    expect(percent(0.9755)).toBe("97.5%");
    expect(percent(0.97551)).toBe("97.6%");
    expect(percent(1)).toBe("100.0%");
  });
});

describe("the lr drops (MultiStepLR on the same compiled step)", () => {
  it("epoch 2 runs at lr × 0.1 after a drop at epoch 1, with the same trainer", async () => {
    const run = await trainMnist({ epochs: 2, trainSize: 64, testSize: 16, progress: null, lrDrops: [1], augment: false, backend: "js" });
    try {
      expect(run.history.map((epoch) => epoch.lr)).toEqual([1e-3, 1e-3 * 0.1]);
      expect(run.trainer.learningRate).toBe(1e-3 * 0.1);
    } finally {
      run.trainer.dispose();
    }
  });
});

describe("a short MNIST run (2 epochs on 2,000 digits)", () => {
  it("reaches a sane test accuracy and writes every artifact", async () => {
    const run = await trainMnist({ epochs: 2, trainSize: 2000, testSize: 500, progress: null, lrDrops: [], augment: false });
    try {
      expect(run.history).toHaveLength(2);
      const epoch = run.history[1];
      expect(epoch?.loss).toBeLessThan(2);
      expect(run.testAccuracy).toBeGreaterThan(0.8);
      expect(epoch?.testAccuracy).toBe(run.testAccuracy);
      const confusion = confusionCounts(run.test.labels, run.testPredictions);
      expect(confusion.flat().reduce((a, b) => a + b, 0)).toBe(500);
      expect(confusion.reduce((sum, row, d) => sum + (row[d] ?? 0), 0) / 500).toBeCloseTo(run.testAccuracy, 10);

      const artifacts = await writeArtifacts(run, dir);
      expect(artifacts.files).toEqual(expect.arrayContaining(["weights.safetensors", "metrics.svg", "confusion.svg", "metrics.json"]));
      const weights = decodeSafetensors(readFileSync(join(dir, "weights.safetensors")));
      expect([...weights.tensors.keys()].sort()).toEqual(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight", "fc4.bias", "fc4.weight"]);
      expect(weights.tensors.get("fc1.weight")?.shape).toEqual([256, 784]);
      expect(readFileSync(join(dir, "confusion.svg"), "utf8")).toContain("<svg");
      if (artifacts.files.includes("mnist.mjs")) expect(artifacts.bundle).toMatch(/predicts like the trained model/);
    } finally {
      run.trainer.dispose();
    }
  }, 60_000);
});
