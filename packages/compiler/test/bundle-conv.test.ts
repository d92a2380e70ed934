// A small CNN (conv2dLayer – relu – maxPool2d – conv – avgPool – adaptiveAvgPool2d – dense) as a
// training bundle on both back ends: the bundles carry the conv/pool kernels (JS library calls,
// WASM im2col + GEMM), agree with each other step by step, and learn.
import * as E from "fp-ts/lib/Either.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { adaptiveAvgPool2d, avgPool2d, conv2d, conv2dLayer, crossEntropy, dense, flatten, input, maxPool2d, model, param, relu, kaimingUniform } from "@graft/core";
import { compileBundle } from "../src/bundle/index.js";

interface Loaded {
  forward(feeds: object): Record<string, Float32Array>;
  trainStep(feeds: object): Record<string, Float32Array | number>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const x = input("x", ["batch", 1, 8, 8]);
const y = input("y", ["batch"], "i32");
const h1 = maxPool2d(relu(conv2dLayer(x, 1, 4, 3, "conv1", { padding: 1 })), 2);
const h2 = avgPool2d(relu(conv2d(h1, param("conv2.weight", [6, 2, 3, 3], kaimingUniform({ a: Math.sqrt(5) })), undefined, { padding: "same", groups: 2 })), 2, { ceilMode: true });
const logits = dense(flatten(adaptiveAvgPool2d(h2, 1), 1), 6, 3, "fc");
const cnn = model({ name: "tiny_cnn", outputs: { logits }, loss: crossEntropy(logits, y) });

const loadBundle = async (backend: "js" | "wasm"): Promise<Loaded> => {
  const bundle = await compileBundle(cnn, { backend, batches: [4], train: "sgd:lr=0.5" });
  if (E.isLeft(bundle)) throw new Error(bundle.left.map((d) => d.message).join("\n"));
  const dir = mkdtempSync(join(tmpdir(), "graft-bundle-conv-"));
  dirs.push(dir);
  writeFileSync(join(dir, "model.mjs"), bundle.right.code);
  const { load } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as { load: (w?: undefined, o?: { seed: number }) => Promise<Loaded> };
  return load(undefined, { seed: 3 });
};

describe("a CNN training bundle", () => {
  it("JS and WASM bundles agree step by step and the loss falls", async () => {
    const images = new Float32Array(4 * 64).map((_, i) => Math.sin(i * 0.37) + (Math.floor(i / 64) % 3) * 0.5);
    const labels = new Int32Array([0, 1, 2, 0]);
    const js = await loadBundle("js");
    const wasm = await loadBundle("wasm");
    const losses: number[] = [];
    for (let step = 0; step < 25; step++) {
      const a = js.trainStep({ x: images, y: labels });
      const b = wasm.trainStep({ x: images, y: labels });
      const lossA = Number(a["loss"]);
      const lossB = Number(b["loss"]);
      expect(Math.abs(lossA - lossB), `step ${step}: ${lossA} vs ${lossB}`).toBeLessThan(1e-3 * Math.max(1, Math.abs(lossA)));
      losses.push(lossA);
    }
    expect(losses[losses.length - 1]).toBeLessThan(0.9 * (losses[0] ?? 0));
    const logitsA = js.forward({ x: images })["logits"] ?? new Float32Array();
    const logitsB = wasm.forward({ x: images })["logits"] ?? new Float32Array();
    Array.from(logitsA).forEach((v, i) => expect(Math.abs(v - (logitsB[i] ?? Number.NaN))).toBeLessThan(1e-3));
  });
});
