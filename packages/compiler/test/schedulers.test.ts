// Learning-rate schedulers against the lr sequences of torch.optim.lr_scheduler (torch 1.13),
// printed by test/fixtures/pytorch/schedulers.py: base lr 0.1, the lr of epochs 0, 1, 2, …
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import {
  attachScheduler,
  cosineAnnealingLR,
  createScheduler,
  exponentialLR,
  linearLR,
  lrSequence,
  multiStepLR,
  oneCycleLR,
  parseLrSchedule,
  reduceLROnPlateau,
  stepLR,
  type SchedulerSpec,
} from "../src/toolkit/train/schedulers.js";

const TORCH: ReadonlyArray<readonly [string, SchedulerSpec, readonly number[], (readonly number[])?]> = [
  ["StepLR(step_size=3, gamma=0.5)", stepLR({ stepSize: 3, gamma: 0.5 }), [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125]],
  [
    "MultiStepLR(milestones=[2, 5, 5, 8], gamma=0.1)",
    multiStepLR({ milestones: [2, 5, 5, 8], gamma: 0.1 }),
    [0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.00010000000000000005, 0.00010000000000000005, 0.00010000000000000005, 1.0000000000000006e-5, 1.0000000000000006e-5],
  ],
  [
    "ExponentialLR(gamma=0.9)",
    exponentialLR({ gamma: 0.9 }),
    [0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002, 0.05904900000000002, 0.05314410000000002, 0.04782969000000002],
  ],
  [
    "CosineAnnealingLR(T_max=5, eta_min=0.001)",
    cosineAnnealingLR({ tMax: 5, etaMin: 0.001 }),
    [
      0.1, 0.0905463412215599, 0.06579634122155989, 0.035203658778440096, 0.010453658778440105, 0.001, 0.010453658778440102, 0.03520365877844012, 0.06579634122155993, 0.09054634122155995,
      0.10000000000000005, 0.09054634122155998, 0.06579634122155995,
    ],
  ],
  [
    "LinearLR(start_factor=0.25, end_factor=1.0, total_iters=4)",
    linearLR({ startFactor: 0.25, endFactor: 1, totalIters: 4 }),
    [0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002],
  ],
  [
    "OneCycleLR(max_lr=0.5, total_steps=10)",
    oneCycleLR({ maxLr: 0.5, totalSteps: 10 }),
    [0.020000000000000018, 0.26, 0.5, 0.47524231600673683, 0.40587282697488153, 0.30563101096814466, 0.19437098903185537, 0.09412917302511849, 0.024759683993263143, 2e-6],
  ],
  [
    "OneCycleLR(max_lr=0.5, total_steps=8, pct_start=0.25, anneal_strategy='linear', div_factor=10, final_div_factor=100)",
    oneCycleLR({ maxLr: 0.5, totalSteps: 8, pctStart: 0.25, annealStrategy: "linear", divFactor: 10, finalDivFactor: 100 }),
    [0.05, 0.5, 0.41675, 0.3335, 0.25025, 0.16700000000000004, 0.08374999999999999, 0.0005000000000000004],
  ],
  [
    "ReduceLROnPlateau(factor=0.5, patience=2)",
    reduceLROnPlateau({ factor: 0.5, patience: 2 }),
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125],
    [1.0, 0.9, 0.95, 0.92, 0.91, 0.9, 0.89999, 0.93, 0.94, 0.95, 0.96, 0.97],
  ],
  [
    "ReduceLROnPlateau(mode='max', factor=0.1, patience=1, threshold=0.01, threshold_mode='abs', cooldown=2, min_lr=0.0005)",
    reduceLROnPlateau({ mode: "max", factor: 0.1, patience: 1, threshold: 0.01, thresholdMode: "abs", cooldown: 2, minLr: 0.0005 }),
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002],
    [0.5, 0.505, 0.52, 0.52, 0.51, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6],
  ],
];

describe("lr sequences equal PyTorch's (bit for bit, except through cos)", () => {
  for (const [name, spec, expected, metrics] of TORCH)
    it(name, () => {
      const actual = lrSequence(spec, { lr: 0.1 }, expected.length, metrics);
      // V8's Math.cos and glibc's cos may differ in the last bit, and CosineAnnealingLR's recursive
      // form divides by 1 + cos(…), which magnifies that: those agree to 1e-13 relative
      if (spec.kind === "cosine") actual.forEach((lr, i) => expect(Math.abs(lr - (expected[i] ?? Number.NaN)), `epoch ${i}`).toBeLessThan(1e-13 * (expected[i] ?? 0)));
      else expect(actual).toEqual(expected);
    });
});

describe("attachScheduler drives a trainer's learning rate", () => {
  it("sets epoch 0's lr on construction and each new lr on step", () => {
    const seen: number[] = [];
    const trainer = {
      learningRate: 0.1,
      setLearningRate(lr: number) {
        this.learningRate = lr;
        seen.push(lr);
      },
    };
    const scheduler = attachScheduler(trainer, linearLR({ startFactor: 0.25, totalIters: 4 }));
    expect(trainer.learningRate).toBe(0.025);
    scheduler.step();
    expect(trainer.learningRate).toBe(0.043750000000000004);
    expect(scheduler.lastEpoch).toBe(1);
    expect(seen).toEqual([0.025, 0.043750000000000004]);
  });
  it("cosine's T_max and onecycle's total_steps default from the run", () => {
    expect(lrSequence(cosineAnnealingLR(), { lr: 0.1, epochs: 5 }, 3)).toEqual(lrSequence(cosineAnnealingLR({ tMax: 5 }), { lr: 0.1 }, 3));
    expect(lrSequence(oneCycleLR(), { lr: 0.5, epochs: 2, batchesPerEpoch: 5 }, 10)).toEqual(lrSequence(oneCycleLR({ maxLr: 0.5, totalSteps: 10 }), { lr: 0.1 }, 10));
  });
});

describe("bad schedules", () => {
  it("throws a RangeError naming the option", () => {
    expect(() => createScheduler(stepLR({ stepSize: 0 }), { lr: 0.1 })).toThrow(new RangeError("StepLR: step_size must be a positive integer, got 0"));
    expect(() => createScheduler(cosineAnnealingLR(), { lr: 0.1 })).toThrow(new RangeError("CosineAnnealingLR: T_max is required (the number of epochs by default)"));
    expect(() => createScheduler(linearLR({ startFactor: 0 }), { lr: 0.1 })).toThrow(new RangeError("LinearLR: start_factor must be in (0, 1], got 0"));
    expect(() => createScheduler(reduceLROnPlateau(), { lr: 0.1 }).step()).toThrow(
      new RangeError("ReduceLROnPlateau: step(metric) needs the epoch's metric (e.g. the validation loss), got undefined"),
    );
    const cycle = createScheduler(oneCycleLR({ totalSteps: 2 }), { lr: 0.1 });
    cycle.step();
    cycle.step();
    expect(() => cycle.step()).toThrow(new RangeError("OneCycleLR: stepped 3 times, more than total_steps = 2"));
  });
});

describe("parseLrSchedule: the --lr-schedule syntax", () => {
  const parsed = (text: string): SchedulerSpec | string => {
    const result = parseLrSchedule(text);
    return E.isLeft(result) ? result.left.map((d) => d.message).join("\n") : result.right;
  };
  it("names (graft's short ones or PyTorch's class names) and PyTorch's option names", () => {
    expect(parsed("cosine")).toEqual(cosineAnnealingLR());
    expect(parsed("CosineAnnealingLR:T_max=50,eta_min=1e-5")).toEqual(cosineAnnealingLR({ tMax: 50, etaMin: 1e-5 }));
    expect(parsed("step:step_size=30,gamma=0.1")).toEqual(stepLR({ stepSize: 30, gamma: 0.1 }));
    expect(parsed("multistep:milestones=30,80,gamma=0.5")).toEqual(multiStepLR({ milestones: [30, 80], gamma: 0.5 }));
    expect(parsed("exponential:gamma=0.95")).toEqual(exponentialLR({ gamma: 0.95 }));
    expect(parsed("warmup:start_factor=0.1,total_iters=3")).toEqual(linearLR({ startFactor: 0.1, totalIters: 3 }));
    expect(parsed("onecycle:max_lr=0.1,anneal_strategy=linear,three_phase=true")).toEqual(oneCycleLR({ maxLr: 0.1, annealStrategy: "linear", threePhase: true }));
    expect(parsed("plateau:mode=max,patience=3,threshold_mode=abs")).toEqual(reduceLROnPlateau({ mode: "max", patience: 3, thresholdMode: "abs" }));
  });
  it("clear errors", () => {
    expect(parsed("")).toBe('empty lr schedule; expected e.g. "cosine" or "step:step_size=10,gamma=0.5"');
    expect(parsed("triangle")).toBe(
      "lr schedule \"triangle\": unknown schedule 'triangle'; expected one of step, multistep, exponential, cosine, linear (warmup), onecycle, plateau (or PyTorch's class names)",
    );
    expect(parsed("step")).toBe("lr schedule \"step\": step needs step_size");
    expect(parsed("step:step_size=ten")).toBe("lr schedule \"step:step_size=ten\": option 'step_size' must be a number, got 'ten'");
    expect(parsed("cosine:t_max=5,gama=0.1")).toBe("lr schedule \"cosine:t_max=5,gama=0.1\": unknown option 'gama' for cosine; expected one of t_max, eta_min");
    expect(parsed("plateau:mode=up")).toBe("lr schedule \"plateau:mode=up\": option 'mode' must be one of min, max, got 'up'");
    expect(parsed("multistep:milestones=3,x")).toBe("lr schedule \"multistep:milestones=3,x\": option 'milestones' must be numbers, e.g. milestones=30,80, got '3,x'");
  });
});

describe("OneCycleLR cycles the momentum (cycle_momentum, base 0.85, max 0.95) as PyTorch", () => {
  it("the momentum (SGD) or β1 (Adam) of each step equals torch's", () => {
    const scheduler = createScheduler(oneCycleLR({ maxLr: 0.5, totalSteps: 10 }), { lr: 0.1 });
    const momenta: number[] = [];
    for (let i = 0; i < 10; i++) {
      momenta.push(scheduler.momentum ?? Number.NaN);
      if (i < 9) scheduler.step();
    }
    const torch = [0.95, 0.8999999999999999, 0.85, 0.854951556604879, 0.8688255099070633, 0.8888739533021842, 0.9111260466978157, 0.9311744900929366, 0.945048443395121, 0.95];
    momenta.forEach((m, i) => expect(Math.abs(m - (torch[i] ?? Number.NaN)), `step ${i}`).toBeLessThan(1e-15));
    expect(createScheduler(oneCycleLR({ totalSteps: 4, cycleMomentum: false }), { lr: 0.1 }).momentum).toBeUndefined();
  });
  it("needs an optimizer with a momentum", () => {
    const trainer = { learningRate: 0.1, momentum: undefined, setLearningRate: () => undefined, setMomentum: () => undefined };
    expect(() => attachScheduler(trainer, oneCycleLR({ totalSteps: 4 }))).toThrow(
      new RangeError("OneCycleLR: cycle_momentum needs an optimizer compiled with momentum (sgd:momentum=…, rmsprop:momentum=…, adam, adamw); or pass cycle_momentum=false"),
    );
    expect(() => attachScheduler(trainer, oneCycleLR({ totalSteps: 4, cycleMomentum: false }))).not.toThrow();
    expect(parseLrSchedule("onecycle:cycle_momentum=false,base_momentum=0.8,max_momentum=0.9")).toEqual(E.right(oneCycleLR({ cycleMomentum: false, baseMomentum: 0.8, maxMomentum: 0.9 })));
  });
});
