// Training controls of issue 14: the learning rate as a run-time scalar (trainer and bundles).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import type { HostFeeds } from "../src/backend/types.js";
import { compileBundle } from "../src/bundle/index.js";
import { createTrainer } from "../src/train/index.js";
import mlp from "./fixtures/bundle/mlp.js";

const x = Float32Array.from([0.5, -1, 2, 0.25, 1.5, -0.5, -2, 0.75, 0.1, 1, -1.25, 0.3]);
const y = Int32Array.from([2, 0]);
const batch: HostFeeds = { x: { shape: [2, 6], dtype: "f32", data: x }, y: { shape: [2], dtype: "i32", data: y } };

/** Losses of `steps` steps, with `lrAt(i)` set before step i (undefined: unchanged). */
const losses = async (optimizer: string, steps: number, lrAt: (i: number) => number | undefined, backend: "reference" | "js" = "js"): Promise<number[]> => {
  const trainer = await createTrainer(mlp, { optimizer, backend });
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const lr = lrAt(i);
    if (lr !== undefined) trainer.setLearningRate(lr);
    out.push(trainer.step(batch).loss);
  }
  trainer.dispose();
  return out;
};

describe("the learning rate is a run-time scalar of the compiled step", () => {
  it("setLearningRate changes the next steps without recompiling; lr 0 freezes the weights", async () => {
    const trainer = await createTrainer(mlp, { optimizer: "sgd:lr=0.1", backend: "js" });
    expect(trainer.learningRate).toBe(0.1);
    trainer.step(batch);
    trainer.setLearningRate(0);
    expect(trainer.learningRate).toBe(0);
    const before = trainer.getState()["fc1.weight"]?.data.slice();
    trainer.step(batch);
    expect(trainer.getState()["fc1.weight"]?.data).toEqual(before);
    expect(trainer.stepsTaken).toBe(2);
    trainer.dispose();
  });

  it("a trainer whose lr drops matches one step by step: step(feeds, { lr }) = setLearningRate then step", async () => {
    const dropped = await losses("adam:lr=0.01", 6, (i) => (i === 3 ? 0.001 : undefined));
    const trainer = await createTrainer(mlp, { optimizer: "adam:lr=0.01", backend: "js" });
    const viaOption = [0, 1, 2, 3, 4, 5].map((i) => trainer.step(batch, i === 3 ? { lr: 0.001 } : {}).loss);
    expect(viaOption).toEqual(dropped);
    expect(trainer.learningRate).toBe(0.001);
    // and differs from never dropping it
    expect((await losses("adam:lr=0.01", 6, () => undefined))[5]).not.toBe(dropped[5]);
  });

  it("Adam's bias corrections follow the step count restored by setState", async () => {
    const a = await createTrainer(mlp, { optimizer: "adam:lr=0.01", backend: "js" });
    for (let i = 0; i < 3; i++) a.step(batch);
    const b = await createTrainer(mlp, { optimizer: "adam:lr=0.01", backend: "js" });
    b.setState(a.getState());
    expect(b.stepsTaken).toBe(3);
    expect(b.step(batch).loss).toBe(a.step(batch).loss);
    expect(b.getState()["fc2.weight"]?.data).toEqual(a.getState()["fc2.weight"]?.data);
  });

  it("refuses a bad learning rate with PyTorch's check", async () => {
    const trainer = await createTrainer(mlp, { optimizer: "sgd:lr=0.1" });
    expect(() => trainer.setLearningRate(-1)).toThrow(new RangeError("setLearningRate: invalid learning rate -1 (expected a finite number ≥ 0)"));
    expect(() => trainer.step(batch, { lr: Number.NaN })).toThrow(new RangeError("step: options.lr: invalid learning rate NaN (expected a finite number ≥ 0)"));
    expect(trainer.learningRate).toBe(0.1);
  });
});

interface TrainingBundle {
  readonly learningRate: number;
  setLearningRate(lr: number): void;
  trainStep(feeds: Record<string, unknown>, options?: { readonly lr?: number }): { loss: number };
}

describe("bundles: m.setLearningRate and trainStep(feeds, { lr })", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const loadBundle = async (train: string, backend: "js" | "wasm"): Promise<{ load: () => Promise<TrainingBundle>; dts: string }> => {
    const bundle = await compileBundle(mlp, { train, batches: [2], backend });
    if (E.isLeft(bundle)) throw new Error(bundle.left.map((d) => d.message).join("\n"));
    const dir = mkdtempSync(join(tmpdir(), "graft-bundle-lr-"));
    dirs.push(dir);
    writeFileSync(join(dir, "model.mjs"), bundle.right.code);
    const module = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as { load: () => Promise<TrainingBundle> };
    return { load: module.load, dts: bundle.right.dts };
  };

  for (const backend of ["js", "wasm"] as const)
    it(`${backend}: the same losses as the trainer when the lr drops mid-run`, async () => {
      const expected = await losses("adam:lr=0.01", 6, (i) => (i === 2 ? 0.002 : i === 4 ? 0.0005 : undefined));
      const { load, dts } = await loadBundle("adam:lr=0.01", backend);
      const m = await load();
      expect(m.learningRate).toBe(0.01);
      const got: number[] = [];
      for (let i = 0; i < 6; i++) {
        if (i === 2) m.setLearningRate(0.002);
        got.push(m.trainStep({ x, y }, i === 4 ? { lr: 0.0005 } : {}).loss);
      }
      expect(m.learningRate).toBe(0.0005);
      got.forEach((loss, i) => expect(loss, `step ${i}`).toBeCloseTo(expected[i] ?? Number.NaN, 5));
      expect(() => m.setLearningRate(-0.5)).toThrow("setLearningRate: invalid learning rate -0.5 (expected a finite number ≥ 0)");
      expect(dts).toContain("setLearningRate(lr: number): void;");
      expect(dts).toContain("trainStep(feeds: TrainStepInputs, options?: { readonly lr?: number }): TrainStepOutputs;");
      expect(dts).toContain("readonly learningRate: number;");
    });
});
