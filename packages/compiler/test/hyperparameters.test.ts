// Issue 14: every optimizer hyperparameter that does not shape the step is a run-time scalar.
// Changing one mid-training (trainer.setHyperparameter, bundle m.setHyperparameter) equals PyTorch
// changing optimizer.param_groups[0][name]: the literal numbers were printed by
// test/fixtures/pytorch/hyperparameters.py (torch 1.13, float64).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { add, constant, model, mul, param, sum, zeros } from "@graft/core";
import type { HostFeeds } from "../src/backend/types.js";
import { compileBundle } from "../src/bundle/index.js";
import { createTrainer } from "../src/toolkit/train/index.js";
import mlp from "./fixtures/bundle/mlp.js";

/** L(w) = ½ Σ a·w² + Σ c·w in float64 (as fixtures/pytorch/hyperparameters.py). */
const quadratic = () => {
  const w = param("w", [3], zeros, "f64");
  const a = constant([1, 2, 0.5], "f64");
  const c = constant([-1, 0.5, 0.25], "f64");
  return model({ name: "quadratic", outputs: {}, loss: add(mul(0.5, sum(mul(a, mul(w, w)))), sum(mul(c, w))) });
};

type Changes = Readonly<Record<number, Readonly<Record<string, number>>>>;

/** Six steps from w0 = [1, -2, 0.5]; `changes[i]` is applied with setHyperparameter before step i. */
const trajectory = async (optimizer: string, changes: Changes): Promise<number[][]> => {
  const trainer = await createTrainer(quadratic(), { optimizer });
  trainer.setState({ w: { shape: [3], dtype: "f64", data: Float64Array.of(1, -2, 0.5) } });
  const w: number[][] = [];
  for (let i = 0; i < 6; i++) {
    for (const [name, value] of Object.entries(changes[i] ?? {})) trainer.setHyperparameter(name, value);
    trainer.step({});
    w.push(Array.from(trainer.getState().w?.data ?? []));
  }
  return w;
};

const CASES: ReadonlyArray<{ readonly name: string; readonly optimizer: string; readonly changes: Changes; readonly expected: readonly (readonly number[])[] }> = [
  {
    // SGD(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01); {momentum: 0.5, dampening: 0.3} before step 3, {weight_decay: 0.2, lr: 0.05} before step 5
    name: "sgd",
    optimizer: "sgd:lr=0.1,momentum=0.9,dampening=0.1,weight_decay=0.01",
    changes: { 2: { momentum: 0.5, dampening: 0.3 }, 4: { weight_decay: 0.2, lr: 0.05 } },
    expected: [
      [0.999, -1.648, 0.4495],
      [0.9972909, -1.0780767999999998, 0.36091795],
      [0.9959278833699999, -0.6764297942399998, 0.286242154185],
      [0.994834273700741, -0.4154326193104318, 0.22118541137309547],
      [0.987777831787995, -0.33569501389113654, 0.1907521830914785],
      [0.9777629418965263, -0.2874776951118714, 0.1621121404649288],
    ],
  },
  {
    // Adam(lr=0.1, weight_decay=0.01); {betas: (0.9, 0.9), eps: 0.1} before step 3, {betas: (0.5, 0.99), weight_decay: 0.3} before step 5
    name: "adam",
    optimizer: "adam:lr=0.1,weight_decay=0.01",
    changes: { 2: { beta2: 0.9, eps: 0.1 }, 4: { beta1: 0.5, beta2: 0.99, weight_decay: 0.3 } },
    expected: [
      [0.9000000999999, -1.9000000002840909, 0.40000000198019803],
      [0.9666533289765541, -1.8001963147069786, 0.3004179726025715],
      [0.9978447927958973, -1.6361483134835353, 0.17097774609359317],
      [1.0183035301590144, -1.499266911952711, 0.060202855478619366],
      [0.9532545615044629, -1.4649261997138252, 0.03313183329474113],
      [0.8782803026191863, -1.4210533380873522, 0.0009671196618927236],
    ],
  },
  {
    // AdamW(lr=0.1, weight_decay=0.1); {weight_decay: 0.5} before step 3, {betas: (0.8, 0.95), eps: 1e-3} before step 5
    name: "adamw",
    optimizer: "adamw:lr=0.1,weight_decay=0.1",
    changes: { 2: { weight_decay: 0.5 }, 4: { beta1: 0.8, beta2: 0.95, eps: 1e-3 } },
    expected: [
      [0.99, -1.8800000002857142, 0.39500000199999996],
      [1.0545135771463205, -1.761447934671105, 0.29149158753885396],
      [0.9493276271633293, -1.574060537297117, 0.17817063562529056],
      [0.9093775267825228, -1.397034481133853, 0.07189500846143648],
      [0.927975700098013, -1.1589877326095301, -0.10557446828508334],
      [0.960491422733684, -0.9549558363349377, -0.25203838605699597],
    ],
  },
  {
    // RMSprop(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1); {alpha: 0.5, eps: 0.01} before step 3, {momentum: 0.9, weight_decay: 0} before step 5
    name: "rmsprop",
    optimizer: "rmsprop:lr=0.01,alpha=0.9,momentum=0.5,centered=true,weight_decay=0.1",
    changes: { 2: { alpha: 0.5, eps: 0.01 }, 4: { momentum: 0.9, weight_decay: 0 } },
    expected: [
      [0.966666677777774, -1.966666666966967, 0.46666666868686857],
      [0.9306021633573074, -1.9247415171273017, 0.42496230281658565],
      [0.9054979377838185, -1.8836380108574975, 0.3847476005906175],
      [0.8942496120368915, -1.83867348169446, 0.3415473757161411],
      [0.8995526789227887, -1.7671400750070745, 0.2747804752970056],
      [0.921424247378652, -1.6610014810476186, 0.1794988325525403],
    ],
  },
  {
    // Adagrad(lr=0.1, lr_decay=0.05, weight_decay=0.1); {lr_decay: 0.5, eps: 0.1} before step 3, {weight_decay: 0.3} before step 5
    name: "adagrad",
    optimizer: "adagrad:lr=0.1,lr_decay=0.05,weight_decay=0.1",
    changes: { 2: { lr_decay: 0.5, eps: 0.1 }, 4: { weight_decay: 0.3 } },
    expected: [
      [0.9000000000999999, -1.9000000000027026, 0.4000000000181818],
      [0.9094765446560271, -1.8346512816926193, 0.3366470436309007],
      [0.9093707591550174, -1.8075774280479544, 0.3132092609888496],
      [0.9093093457122624, -1.7888142459595895, 0.2968206126196643],
      [0.8896009313371193, -1.7735884882837767, 0.28310374634880353],
      [0.8771915822703169, -1.7618251702423646, 0.2725062068574423],
    ],
  },
];

describe("hyperparameters changed mid-training equal PyTorch's param_groups[0][…] = … (float64, fixtures/pytorch/hyperparameters.py)", () => {
  for (const { name, optimizer, changes, expected } of CASES)
    it(name, async () => {
      const actual = await trajectory(optimizer, changes);
      actual.forEach((row, step) => row.forEach((value, i) => expect(value, `step ${step + 1}, w[${i}]`).toBeCloseTo(expected[step]?.[i] ?? Number.NaN, 12)));
    });
});

describe("trainer.hyperparameters and setHyperparameter", () => {
  it("lists the run-time hyperparameters with PyTorch's names and their current values", async () => {
    const adam = await createTrainer(quadratic(), { optimizer: "adam:lr=0.1,weight_decay=0.01" });
    expect(adam.hyperparameters).toEqual({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 });
    adam.setHyperparameter("beta2", 0.99);
    adam.setHyperparameter("lr", 0.5);
    expect(adam.hyperparameters).toEqual({ lr: 0.5, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.01 });
    expect(adam.learningRate).toBe(0.5);
    adam.setMomentum(0.8);
    expect(adam.hyperparameters.beta1).toBe(0.8);
    expect((await createTrainer(quadratic(), { optimizer: "sgd:lr=0.1,momentum=0.9" })).hyperparameters).toEqual({ lr: 0.1, momentum: 0.9, dampening: 0 });
    expect((await createTrainer(quadratic(), { optimizer: "sgd:lr=0.1" })).hyperparameters).toEqual({ lr: 0.1 });
    expect((await createTrainer(quadratic(), { optimizer: "rmsprop" })).hyperparameters).toEqual({ lr: 0.01, alpha: 0.99, eps: 1e-8 });
    expect((await createTrainer(quadratic(), { optimizer: "adagrad" })).hyperparameters).toEqual({ lr: 0.01, lr_decay: 0, eps: 1e-10 });
  });

  it("refuses an option that shapes the step, naming the ones there are", async () => {
    const sgd = await createTrainer(quadratic(), { optimizer: "sgd:lr=0.1" });
    expect(() => sgd.setHyperparameter("weight_decay", 0.1)).toThrow(
      new Error("setHyperparameter: 'weight_decay' is not a run-time hyperparameter (the step has lr); a weight_decay of 0 is compiled out"),
    );
    expect(() => sgd.setHyperparameter("momentum", 0.9)).toThrow(
      "setHyperparameter: 'momentum' is not a run-time hyperparameter (the step has lr); a momentum of 0 is compiled out",
    );
    const adam = await createTrainer(quadratic(), { optimizer: "adam:amsgrad=true" });
    expect(() => adam.setHyperparameter("amsgrad", 0)).toThrow("setHyperparameter: 'amsgrad' is not a run-time hyperparameter (the step has lr, beta1, beta2, eps)");
    expect(() => adam.setHyperparameter("momentum", 0.9)).toThrow("setHyperparameter: 'momentum' is not a run-time hyperparameter (the step has lr, beta1, beta2, eps)");
  });

  it("checks values as PyTorch does, and keeps the old value", async () => {
    const adam = await createTrainer(quadratic(), { optimizer: "adam" });
    expect(() => adam.setHyperparameter("beta2", 1)).toThrow(new RangeError("setHyperparameter: invalid beta2 1 (expected a number in [0, 1))"));
    expect(() => adam.setHyperparameter("eps", -1e-8)).toThrow(new RangeError("setHyperparameter: invalid eps -1e-8 (expected a finite number ≥ 0)"));
    expect(() => adam.setHyperparameter("lr", Number.POSITIVE_INFINITY)).toThrow(new RangeError("setHyperparameter: invalid learning rate Infinity (expected a finite number ≥ 0)"));
    expect(adam.hyperparameters).toEqual({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const sgd = await createTrainer(quadratic(), { optimizer: "sgd:momentum=0.9" });
    expect(() => sgd.setHyperparameter("dampening", Number.NaN)).toThrow(new RangeError("setHyperparameter: invalid dampening NaN (expected a finite number)"));
    expect(() => sgd.setHyperparameter("momentum", 1.5)).toThrow(new RangeError("setHyperparameter: invalid momentum 1.5 (expected a number in [0, 1])"));
  });
});

// ----- bundles ------------------------------------------------------------------------------------

const x = Float32Array.from([0.5, -1, 2, 0.25, 1.5, -0.5, -2, 0.75, 0.1, 1, -1.25, 0.3]);
const y = Int32Array.from([2, 0]);
const batch: HostFeeds = { x: { shape: [2, 6], dtype: "f32", data: x }, y: { shape: [2], dtype: "i32", data: y } };

interface TrainingBundle {
  readonly hyperparameters: Readonly<Record<string, number>>;
  setHyperparameter(name: string, value: number): void;
  trainStep(feeds: Record<string, unknown>): { loss: number };
}

describe("bundles: m.hyperparameters and m.setHyperparameter", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const changes: Changes = { 2: { beta2: 0.9, eps: 1e-3 }, 4: { beta1: 0.5, weight_decay: 0.1 } };
  for (const backend of ["js", "wasm"] as const)
    it(`${backend}: the same losses as the trainer when Adam's β, eps and weight_decay change mid-run; the .d.mts names them`, async () => {
      const trainer = await createTrainer(mlp, { optimizer: "adam:lr=0.01,weight_decay=0.01", backend });
      const expected: number[] = [];
      for (let i = 0; i < 6; i++) {
        for (const [name, value] of Object.entries(changes[i] ?? {})) trainer.setHyperparameter(name, value);
        expected.push(trainer.step(batch).loss);
      }
      trainer.dispose();
      const bundle = await compileBundle(mlp, { train: "adam:lr=0.01,weight_decay=0.01", batches: [2], backend });
      if (E.isLeft(bundle)) throw new Error(bundle.left.map((d) => d.message).join("\n"));
      const dir = mkdtempSync(join(tmpdir(), "graft-bundle-hyper-"));
      dirs.push(dir);
      writeFileSync(join(dir, "model.mjs"), bundle.right.code);
      const { load } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "model.mjs")).href)) as { load: () => Promise<TrainingBundle> };
      const m = await load();
      expect(m.hyperparameters).toEqual({ lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 });
      const got: number[] = [];
      for (let i = 0; i < 6; i++) {
        for (const [name, value] of Object.entries(changes[i] ?? {})) m.setHyperparameter(name, value);
        got.push(m.trainStep({ x, y }).loss);
      }
      got.forEach((loss, i) => expect(loss, `step ${i}`).toBe(expected[i]));
      expect(m.hyperparameters).toEqual({ lr: 0.01, beta1: 0.5, beta2: 0.9, eps: 1e-3, weight_decay: 0.1 });
      expect(() => m.setHyperparameter("amsgrad", 1)).toThrow("setHyperparameter: 'amsgrad' is not a run-time hyperparameter (the step has lr, weight_decay, beta1, beta2, eps)");
      expect(bundle.right.dts).toContain("readonly hyperparameters: Readonly<{ lr: number; weight_decay: number; beta1: number; beta2: number; eps: number }>;");
      expect(bundle.right.dts).toContain('setHyperparameter(name: "lr" | "weight_decay" | "beta1" | "beta2" | "eps", value: number): void;');
    });
});
