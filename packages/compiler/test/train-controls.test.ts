// Training controls of issue 14: the learning rate as a run-time scalar (trainer and bundles).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import type { HostFeeds } from "../src/backend/types.js";
import { compileBundle } from "../src/bundle/index.js";
import { add, constant, model, mul, param, sum, zeros } from "@graft/core";
import { adagrad, adam, adamw, formatOptimizer, parseOptimizer, rmsprop, sgd, type Optimizer } from "../src/optim/index.js";
import { attachScheduler, createTrainer, oneCycleLR, type TrainerOptions } from "../src/toolkit/train/index.js";
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

// ----- RMSprop and Adagrad ------------------------------------------------------------------------

/** L(w) = ½ Σ a·w² + Σ c·w in float64 (as optim.test.ts and fixtures/pytorch/optimizers.py). */
const quadratic = () => {
  const w = param("w", [3], zeros, "f64");
  const a = constant([1, 2, 0.5], "f64");
  const c = constant([-1, 0.5, 0.25], "f64");
  return model({ name: "quadratic", outputs: {}, loss: add(mul(0.5, sum(mul(a, mul(w, w)))), sum(mul(c, w))) });
};

const trajectory = async (optimizer: Optimizer | string, steps: number, options: Partial<TrainerOptions> = {}): Promise<{ readonly w: number[][]; readonly norms: number[] }> => {
  const trainer = await createTrainer(quadratic(), { optimizer, ...options });
  trainer.setState({ w: { shape: [3], dtype: "f64", data: Float64Array.of(1, -2, 0.5) } });
  const w: number[][] = [];
  const norms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const result = trainer.step({});
    if (result.gradNorm !== undefined) norms.push(result.gradNorm);
    w.push(Array.from(trainer.getState().w?.data ?? []));
  }
  return { w, norms };
};

const expectClose = (actual: readonly (readonly number[])[], expected: readonly (readonly number[])[], digits = 12): void => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, step) => row.forEach((value, i) => expect(value, `step ${step + 1}, [${i}]`).toBeCloseTo(expected[step]?.[i] ?? Number.NaN, digits)));
};

describe("RMSprop and Adagrad: four steps against torch.optim (float64, fixtures/pytorch/optimizers.py)", () => {
  const EXPECTED: Readonly<Record<string, readonly (readonly number[])[]>> = {
    rmsprop: [
      [1.0, -1.9000000028571429, 0.400000019999996],
      [1.0, -1.8312164102852004, 0.33291798985510945],
      [1.0, -1.7759880933169159, 0.27998229945978975],
      [1.0, -1.7287684177945941, 0.23538907373372983],
    ],
    rmsprop_centered_momentum_wd: [
      [0.966667777740742, -1.9666666966966697, 0.46666686868564433],
      [0.9306041365661518, -1.9247415789111928, 0.42496271710944],
      [0.9049572654905402, -1.8817609826294663, 0.38256015278886457],
      [0.8936430016632756, -1.8399263597766522, 0.3417204260766665],
    ],
    adagrad: [
      [1.0, -1.9000000000028572, 0.40000000002],
      [1.0, -1.8313987131353202, 0.3331035268668785],
      [1.0, -1.7764606196220267, 0.28045618138292905],
      [1.0, -1.7296108871630325, 0.23622313269014963],
    ],
    adagrad_decay_init_wd: [
      [0.9859971993557983, -1.9017776037183958, 0.438603987744904],
      [0.9747936871728138, -1.837014157679924, 0.39126484395498834],
      [0.9657031312542023, -1.7872802884047307, 0.3526260676564716],
      [0.9582385460543484, -1.7465557411077128, 0.320004902597828],
    ],
  };
  const cases: ReadonlyArray<readonly [string, Optimizer | string]> = [
    ["rmsprop", rmsprop({ lr: 0.01 })],
    ["rmsprop_centered_momentum_wd", "rmsprop:lr=0.01,alpha=0.9,eps=1e-6,weight_decay=0.1,momentum=0.5,centered=true"],
    ["adagrad", adagrad({ lr: 0.1 })],
    ["adagrad_decay_init_wd", "adagrad:lr=0.1,lr_decay=0.05,weight_decay=0.1,initial_accumulator_value=0.5,eps=1e-8"],
  ];
  for (const [name, optimizer] of cases) it(name, async () => expectClose((await trajectory(optimizer, 4)).w, EXPECTED[name] ?? []));

  it("keeps its state as explicit params (Adagrad's accumulator starts at initial_accumulator_value)", async () => {
    const trainer = await createTrainer(quadratic(), { optimizer: "adagrad:initial_accumulator_value=0.5" });
    expect(Array.from(trainer.getState()["adagrad.sum.w"]?.data ?? [])).toEqual([0.5, 0.5, 0.5]);
    const centered = await createTrainer(quadratic(), { optimizer: "rmsprop:centered=true,momentum=0.9" });
    expect(Object.keys(centered.getState()).sort()).toEqual(["rmsprop.alpha", "rmsprop.eps", "rmsprop.grad_avg.w", "rmsprop.lr", "rmsprop.momentum", "rmsprop.momentum_buffer.w", "rmsprop.one_minus_alpha", "rmsprop.square_avg.w", "w"]);
  });
});

describe("optimizer specs: PyTorch's names, the old spellings as aliases", () => {
  const parsed = (spec: string): Optimizer | string => {
    const result = parseOptimizer(spec);
    return E.isLeft(result) ? result.left.map((d) => d.message).join("\n") : result.right;
  };
  it("betas=β1,β2 (or betas=(β1,β2)), beta1/beta2, camelCase keys", () => {
    expect(parsed("adam:lr=1e-3,betas=0.8,0.99,amsgrad=true")).toEqual(adam({ lr: 1e-3, betas: [0.8, 0.99], amsgrad: true }));
    expect(parsed("adamw:betas=(0.5,0.9),weight_decay=0.1")).toEqual(adamw({ beta1: 0.5, beta2: 0.9, weightDecay: 0.1 }));
    expect(parsed("adam:beta1=0.8,beta2=0.99")).toEqual(adam({ betas: [0.8, 0.99] }));
    expect(parsed("sgd:lr=0.1,momentum=0.9,nesterov=true,weightDecay=0.01")).toEqual(sgd({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }));
    expect(parsed("rmsprop")).toEqual(rmsprop());
    expect(parsed("adagrad:lrDecay=0.1,initialAccumulatorValue=0.2")).toEqual(adagrad({ lrDecay: 0.1, initialAccumulatorValue: 0.2 }));
  });
  it("round-trips formatOptimizer for RMSprop and Adagrad", () => {
    for (const optimizer of [rmsprop({ lr: 0.05, centered: true, momentum: 0.9 }), adagrad({ lrDecay: 0.01, initialAccumulatorValue: 0.1 })]) expect(parsed(formatOptimizer(optimizer))).toEqual(optimizer);
  });
  it("gives clear errors", () => {
    expect(parsed("adam:betas=0.9")).toBe("optimizer \"adam:betas=0.9\": option 'betas' must be two numbers, e.g. betas=0.9,0.999, got '0.9'");
    expect(parsed("adam:betas=0.9,0.99,beta1=0.5")).toBe("optimizer \"adam:betas=0.9,0.99,beta1=0.5\": option 'beta1' is given twice");
    expect(parsed("rmsprop:alpha=-1,eps=-1")).toBe(
      'optimizer "rmsprop:alpha=-1,eps=-1": rmsprop: invalid epsilon -1 (expected a finite number ≥ 0)\noptimizer "rmsprop:alpha=-1,eps=-1": rmsprop: invalid alpha -1 (expected a finite number ≥ 0)',
    );
    expect(parsed("adagrad:lr_decay=-0.1")).toBe('optimizer "adagrad:lr_decay=-0.1": adagrad: invalid lr_decay -0.1 (expected a finite number ≥ 0)');
    expect(parsed("adagrad:momentum=0.9")).toBe(
      "optimizer \"adagrad:momentum=0.9\": unknown option 'momentum' for adagrad; expected one of lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize",
    );
  });
});

describe("gradient clipping (float64, fixtures/pytorch/optimizers.py)", () => {
  it("by global norm: clip_grad_norm_(max_norm=1) trajectory and the total norms it returns", async () => {
    const { w, norms } = await trajectory(sgd({ lr: 0.1 }), 4, { clipGradNorm: 1 });
    expectClose(w, [
      [1.0, -1.9010050786338755, 0.48585786837626793],
      [1.0, -1.8021010721521744, 0.4710933327812892],
      [1.0, -1.7033024019876069, 0.4556396468703206],
      [1.0, -1.6046268719534735, 0.43941827261476407],
    ]);
    expectClose([norms], [[3.5355339059327378, 3.338600007916379, 3.1419462945675543, 2.9456176381464374]]);
  });

  it("by value: clip_grad_value_(0.5)", async () => {
    const { w, norms } = await trajectory("sgd:lr=0.1", 4, { clipGradValue: 0.5 });
    expectClose(w, [
      [1.0, -1.95, 0.45],
      [1.0, -1.9, 0.4025],
      [1.0, -1.8499999999999999, 0.357375],
      [1.0, -1.7999999999999998, 0.31450625],
    ]);
    expect(norms).toEqual([]);
  });

  it("a norm below max_norm leaves the gradients alone (f32 model, js back end)", async () => {
    const plain = await losses("sgd:lr=0.1", 3, () => undefined);
    const trainer = await createTrainer(mlp, { optimizer: "sgd:lr=0.1", backend: "js", clipGradNorm: 1e6 });
    const clipped = [0, 1, 2].map(() => trainer.step(batch));
    clipped.forEach((result, i) => expect(result.loss).toBeCloseTo(plain[i] ?? Number.NaN, 6));
    expect(clipped[0]?.gradNorm).toBeGreaterThan(0);
    expect(Object.keys(clipped[0]?.outputs ?? {})).toEqual(["logits"]);
  });

  it("refuses a max_norm or clip value that is not a positive finite number", async () => {
    await expect(createTrainer(quadratic(), { optimizer: "sgd", clipGradNorm: 0 })).rejects.toThrow("clip_grad_norm: invalid max_norm 0 (expected a finite number > 0)");
    await expect(createTrainer(quadratic(), { optimizer: "sgd", clipGradValue: Number.POSITIVE_INFINITY })).rejects.toThrow(
      "clip_grad_value: invalid clip_value Infinity (expected a finite number > 0)",
    );
  });
});

describe("OneCycleLR on a trainer: lr and momentum (β1) per step, as torch (float64, fixtures/pytorch/schedulers.py)", () => {
  const TORCH: ReadonlyArray<readonly [string, string, readonly (readonly number[])[]]> = [
    [
      "Adam",
      "adam:lr=0.1",
      [
        [1.0, -1.980000000057143, 0.48000000039999996],
        [1.0, -1.6359689467224476, 0.13681693358055041],
        [1.0, -1.295231358696894, -0.19219628354507606],
        [1.0, -1.052309552869617, -0.41683732224982917],
        [1.0, -0.9589622194593783, -0.49951051800081675],
        [1.0, -0.9589590233630841, -0.4995132350938562],
      ],
    ],
    [
      "SGD(momentum=0.9)",
      "sgd:lr=0.1,momentum=0.9",
      [
        [1.0, -1.93, 0.49],
        [1.0, 1.2207827366860222, 0.03243006470754353],
        [1.0, 2.2614984381777217, -0.40013990103074465],
        [1.0, 1.6356226471646818, -0.6344914372169986],
        [1.0, 1.2147990396773887, -0.6933342058474441],
        [1.0, 1.2147811999650622, -0.6933356877204472],
      ],
    ],
  ];
  for (const [name, optimizer, expected] of TORCH)
    it(`${name} with OneCycleLR(max_lr=0.5, total_steps=6)`, async () => {
      const trainer = await createTrainer(quadratic(), { optimizer });
      trainer.setState({ w: { shape: [3], dtype: "f64", data: Float64Array.of(1, -2, 0.5) } });
      const scheduler = attachScheduler(trainer, oneCycleLR({ maxLr: 0.5, totalSteps: 6 }));
      expect(trainer.momentum).toBe(0.95);
      const w: number[][] = [];
      for (let i = 0; i < 6; i++) {
        trainer.step({});
        scheduler.step();
        w.push(Array.from(trainer.getState().w?.data ?? []));
      }
      expectClose(w, expected);
    });

  it("a step compiled without momentum refuses setMomentum", async () => {
    const trainer = await createTrainer(quadratic(), { optimizer: "sgd:lr=0.1" });
    expect(trainer.momentum).toBeUndefined();
    expect(() => trainer.setMomentum(0.9)).toThrow("setMomentum: the sgd step was compiled without momentum (use sgd:momentum=…, rmsprop:momentum=…, or adam/adamw, whose β1 is the momentum)");
    const adamTrainer = await createTrainer(quadratic(), { optimizer: "adam" });
    expect(() => adamTrainer.setMomentum(1.5)).toThrow(new RangeError("setMomentum: invalid momentum 1.5 (expected a number in [0, 1])"));
  });
});
