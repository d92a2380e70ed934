// Optimizers as graph transforms: trajectories against literal numbers hand-computed with PyTorch's
// rules, the state they keep, the spec parser, and bad input.
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import {
  add,
  buildGraph,
  constant,
  formatDiagnostics,
  graphParams,
  input,
  matmul,
  mean,
  model,
  mul,
  param,
  sum,
  tanh,
  zeros,
  type Diagnostics,
  type Graph,
} from "@graft/core";
import type { ProgramFunction } from "../src/program/types.js";
import { adam, adamw, applyOptimizer, formatOptimizer, parseOptimizer, sgd, trainStep, type Optimizer, type OptimizerRule } from "../src/optim/index.js";
import { grad } from "../src/passes/grad.js";
import { createTrainer } from "../src/toolkit/train/index.js";

/*
 * The expected trajectories below were computed independently in float64 with this Python, a
 * literal transcription of torch.optim.SGD / Adam / AdamW (PyTorch 2.x single-tensor rules):
 *
 *   a = [1.0, 2.0, 0.5]; c = [-1.0, 0.5, 0.25]; w0 = [1.0, -2.0, 0.5]
 *   def grad(w): return [ai*wi + ci for ai, wi, ci in zip(a, w, c)]   # L = ½Σ a w² + Σ c w
 *   def sgd(steps, lr, momentum=0, dampening=0, nesterov=False, wd=0, maximize=False):
 *       w = list(w0); buf = None
 *       for _ in range(steps):
 *           g = grad(w); g = [-x for x in g] if maximize else g
 *           if wd: g = [gi + wd*wi for gi, wi in zip(g, w)]
 *           if momentum:
 *               buf = list(g) if buf is None else [momentum*b + (1-dampening)*gi for b, gi in zip(buf, g)]
 *               g = [gi + momentum*b for gi, b in zip(g, buf)] if nesterov else list(buf)
 *           w = [wi - lr*gi for wi, gi in zip(w, g)]
 *   def adam(steps, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0, decoupled=False, amsgrad=False):
 *       w = list(w0); m = v = vmax = [0.0]*3
 *       for t in range(1, steps+1):
 *           g = grad(w)
 *           if wd:
 *               if decoupled: w = [wi*(1 - lr*wd) for wi in w]
 *               else: g = [gi + wd*wi for gi, wi in zip(g, w)]
 *           m = [b1*mi + (1-b1)*gi for ...]; v = [b2*vi + (1-b2)*gi*gi for ...]
 *           vv = vmax = [max(x, y) for x, y in zip(vmax, v)] if amsgrad else v
 *           denom = [sqrt(x)/sqrt(1 - b2**t) + eps for x in vv]
 *           w = [wi - (lr/(1 - b1**t))*mi/di for ...]
 */
const EXPECTED: Readonly<Record<string, readonly (readonly number[])[]>> = {
  sgd: [
    [1.0, -1.65, 0.45],
    [1.0, -1.3699999999999999, 0.4025],
    [1.0, -1.146, 0.357375],
    [1.0, -0.9667999999999999, 0.31450625],
  ],
  sgd_momentum: [
    [1.0, -1.65, 0.45],
    [1.0, -1.055, 0.3575],
    [1.0, -0.35849999999999993, 0.23137499999999997],
    [1.0, 0.29005000000000014, 0.08129374999999997],
  ],
  sgd_nesterov_wd: [
    [0.9981, -1.3312, 0.40405],
    [0.99575461, -0.6326947199999999, 0.27649255500000003],
    [0.993285739341, -0.053227934432000024, 0.12844462092050002],
    [0.9909663164173621, 0.3241654458907808, -0.02955379524374646],
  ],
  sgd_dampening_wd: [
    [0.995, -1.64, 0.4475],
    [0.9864725, -1.05842, 0.35559875],
    [0.97557609875, -0.38471950999999993, 0.232785486875],
    [0.963577396293125, 0.24759168059500003, 0.0882306684621875],
  ],
  sgd_maximize: [
    [1.0, -2.35, 0.55],
    [1.0, -2.9450000000000003, 0.6275000000000001],
  ],
  adam: [
    [1.0, -1.9000000002857143, 0.40000000199999997],
    [1.0, -1.800196489808013, 0.30041223175342857],
    [1.0, -1.7007384002451225, 0.20158627762118425],
    [1.0, -1.6017891601069658, 0.10393906689883128],
  ],
  adam_l2_amsgrad: [
    [0.900000009999999, -1.9000000002702702, 0.4000000018181818],
    [0.845140480308294, -1.8003523989830974, 0.3007772965586258],
    [0.8534556121356417, -1.7013176984971168, 0.20298002029414314],
    [0.8894385880486454, -1.60317368915687, 0.1073628696692237],
  ],
  adamw: [
    [0.99, -1.8800000002857142, 0.39500000199999996],
    [1.0545135771463205, -1.761447934671105, 0.29149158753885396],
    [0.9915081702491821, -1.6445184546839613, 0.18983029912684474],
    [0.9479226874603208, -1.5294037544309507, 0.09043519533094213],
  ],
};

/** L(w) = ½ Σ a·w² + Σ c·w in float64. */
const quadratic = () => {
  const w = param("w", [3], zeros, "f64");
  const a = constant([1, 2, 0.5], "f64");
  const c = constant([-1, 0.5, 0.25], "f64");
  return model({ name: "quadratic", outputs: {}, loss: add(mul(0.5, sum(mul(a, mul(w, w)))), sum(mul(c, w))) });
};

const trajectory = async (optimizer: Optimizer, steps: number): Promise<number[][]> => {
  const trainer = await createTrainer(quadratic(), { optimizer });
  trainer.setState({ w: { shape: [3], dtype: "f64", data: Float64Array.of(1, -2, 0.5) } });
  const out: number[][] = [];
  for (let i = 0; i < steps; i++) {
    trainer.step({});
    out.push(Array.from(trainer.getState().w?.data ?? []));
  }
  return out;
};

const expectTrajectory = (actual: number[][], expected: readonly (readonly number[])[] | undefined): void => {
  expect(actual.length).toBe(expected?.length);
  actual.forEach((w, step) => w.forEach((value, i) => expect(value, `step ${step + 1}, w[${i}]`).toBeCloseTo(expected?.[step]?.[i] ?? Number.NaN, 12)));
};

describe("trajectories match PyTorch's update rules (float64, literal numbers)", () => {
  const cases: ReadonlyArray<readonly [string, Optimizer, number]> = [
    ["sgd", sgd({ lr: 0.1 }), 4],
    ["sgd_momentum", sgd({ lr: 0.1, momentum: 0.9 }), 4],
    ["sgd_nesterov_wd", sgd({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }), 4],
    ["sgd_dampening_wd", sgd({ lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.05 }), 4],
    ["sgd_maximize", sgd({ lr: 0.1, momentum: 0.5, maximize: true }), 2],
    ["adam", adam({ lr: 0.1 }), 4],
    ["adam_l2_amsgrad", adam({ lr: 0.1, beta1: 0.8, beta2: 0.99, weightDecay: 0.1, amsgrad: true }), 4],
    ["adamw", adamw({ lr: 0.1, weightDecay: 0.1 }), 4],
  ];
  for (const [name, optimizer, steps] of cases) it(name, async () => expectTrajectory(await trajectory(optimizer, steps), EXPECTED[name]));

  it("the step's loss is computed before its update", async () => {
    const trainer = await createTrainer(quadratic(), { optimizer: sgd({ lr: 0.1 }) });
    trainer.setState({ w: { shape: [3], dtype: "f64", data: Float64Array.of(1, -2, 0.5) } });
    // L(w0) = ½(1 + 8 + 0.125) + (−1 − 1 + 0.125) = 2.6875
    expect(trainer.step({}).loss).toBe(2.6875);
    expect(trainer.evaluate({}).loss).toBeCloseTo(0.5 * (1 + 2 * 1.65 ** 2 + 0.5 * 0.45 ** 2) + (-1 - 0.825 + 0.1125), 12);
  });
});

const gradGraph = (): Graph => {
  const built = E.chain(grad)(buildGraph(quadratic()));
  if (E.isLeft(built)) throw new Error(formatDiagnostics(built.left));
  return built.right;
};

const stepOf = (optimizer: Optimizer): ProgramFunction => {
  const step = trainStep(gradGraph(), optimizer);
  if (E.isLeft(step)) throw new Error(formatDiagnostics(step.left));
  return step.right;
};

describe("optimizer state is explicit params", () => {
  it("plain SGD keeps no state", () => {
    const step = stepOf(sgd({ lr: 0.1 }));
    expect(step.name).toBe("trainStep");
    expect(step.updates).toEqual([{ param: "w", output: "update:w" }]);
    expect(step.graph.outputs.map((o) => o.name)).toEqual(["loss", "update:w"]);
  });

  it("SGD with momentum keeps a buffer and a step counter", () => {
    const step = stepOf(sgd({ lr: 0.1, momentum: 0.9 }));
    expect(step.updates.map((u) => u.param)).toEqual(["w", "sgd.momentum_buffer.w", "sgd.step"]);
    expect(graphParams(step.graph).map((p) => `${p.attrs.name}:${p.type.dtype}[${p.type.shape.join(",")}]:${p.attrs.init.kind}`)).toEqual([
      "w:f64[3]:zeros",
      "sgd.step:f64[]:zeros",
      "sgd.momentum_buffer.w:f64[3]:zeros",
      "sgd.momentum:f64[]:constant",
      "sgd.one_minus_dampening:f64[]:constant",
      "sgd.lr:f64[]:constant",
    ]);
  });

  it("Adam keeps m, v and a step counter; amsgrad adds vmax; AdamW uses its own prefix", async () => {
    expect(stepOf(adam()).updates.map((u) => u.param)).toEqual(["w", "adam.m.w", "adam.v.w", "adam.step"]);
    expect(stepOf(adam({ amsgrad: true })).updates.map((u) => u.param)).toEqual(["w", "adam.m.w", "adam.v.w", "adam.vmax.w", "adam.step"]);
    expect(stepOf(adamw()).updates.map((u) => u.param)).toEqual(["w", "adamw.m.w", "adamw.v.w", "adamw.step"]);
    const trainer = await createTrainer(quadratic(), { optimizer: adam() });
    trainer.step({});
    trainer.step({});
    expect(Array.from(trainer.getState()["adam.step"]?.data ?? [])).toEqual([2]);
  });

  it("an f32 model gets an f32 step counter, and the step output keeps the model's outputs", () => {
    const x = input("x", ["batch", 2]);
    const w = param("w", [2, 2]);
    const z = tanh(matmul(x, w));
    const built = E.chain(grad)(buildGraph(model({ outputs: { z }, loss: mean(z) })));
    const step = E.chain((g: Graph) => trainStep(g, adam(), { name: "fit" }))(built);
    if (E.isLeft(step)) throw new Error(formatDiagnostics(step.left));
    expect(step.right.name).toBe("fit");
    expect(graphParams(step.right.graph).find((p) => p.attrs.name === "adam.step")?.type.dtype).toBe("f32");
    expect(step.right.graph.outputs.map((o) => o.name)).toEqual(["z", "loss", "update:w", "update:adam.m.w", "update:adam.v.w", "update:adam.step"]);
  });
});

describe("bad input", () => {
  const left = (result: E.Either<Diagnostics, unknown>): string[] => (E.isLeft(result) ? result.left.map((d) => d.message) : ["<no error>"]);

  it("a graph without gradients or without a loss", () => {
    const plain = buildGraph(quadratic());
    if (E.isLeft(plain)) throw new Error("model");
    expect(left(trainStep(plain.right, sgd()))).toEqual(["optimizer: graph quadratic has no grad:<param> outputs; differentiate it first (grad)"]);
    expect(left(trainStep({ ...gradGraph(), loss: undefined }, sgd()))).toEqual(["optimizer: graph quadratic has no loss; a training step needs one"]);
  });

  it("invalid hyper-parameters, as PyTorch checks them", () => {
    expect(left(trainStep(gradGraph(), sgd({ lr: -1, momentum: -0.5, weightDecay: Number.NaN, dampening: Infinity })))).toEqual([
      "sgd: invalid learning rate -1 (expected a finite number ≥ 0)",
      "sgd: invalid momentum -0.5 (expected a finite number ≥ 0)",
      "sgd: invalid weight_decay NaN (expected a finite number ≥ 0)",
      "sgd: invalid dampening Infinity (expected a finite number)",
    ]);
    expect(left(trainStep(gradGraph(), sgd({ nesterov: true, momentum: 0.9, dampening: 0.1 })))).toEqual([
      "sgd: nesterov momentum requires a momentum > 0 and zero dampening (got momentum 0.9, dampening 0.1)",
    ]);
    expect(left(trainStep(gradGraph(), adamw({ lr: -1, eps: -1, beta1: 1, beta2: -0.1, weightDecay: -2 })))).toEqual([
      "adamw: invalid learning rate -1 (expected a finite number ≥ 0)",
      "adamw: invalid epsilon -1 (expected a finite number ≥ 0)",
      "adamw: invalid beta1 1 (expected 0 ≤ beta1 < 1)",
      "adamw: invalid beta2 -0.1 (expected 0 ≤ beta2 < 1)",
      "adamw: invalid weight_decay -2 (expected a finite number ≥ 0)",
    ]);
  });

  it("a model param that uses the optimizer's state prefix", () => {
    const p = param("adam.m.x", [2], zeros, "f64");
    const built = E.chain(grad)(buildGraph(model({ outputs: {}, loss: sum(mul(p, p)) })));
    const result = E.chain((g: Graph) => trainStep(g, adam()))(built);
    expect(left(result)).toEqual(["optimizer: the model's param 'adam.m.x' uses the prefix 'adam.' reserved for adam's state; rename it"]);
  });

  it("a grad output that names no param", () => {
    const g = gradGraph();
    const renamed: Graph = { ...g, outputs: g.outputs.map((o) => (o.name === "grad:w" ? { ...o, name: "grad:ghost" } : o)) };
    expect(left(trainStep(renamed, sgd()))).toEqual(["optimizer: output grad:ghost does not belong to a param of graph quadratic"]);
  });

  it("a param of symbolic shape (hand-built graph)", () => {
    const g = gradGraph();
    const nodes = g.nodes.map((node) => (node.op === "param" ? { ...node, type: { ...node.type, shape: ["n"] } } : node));
    expect(left(trainStep({ ...g, nodes }, sgd()))).toEqual(["optimizer: param w has symbolic shape [n]"]);
  });

  it("a custom rule that updates a slot it never read", () => {
    const rule: OptimizerRule = { prefix: "odd", validate: () => [], update: ({ param: p }) => ({ param: p, slots: { ghost: p } }) };
    expect(left(applyOptimizer(gradGraph(), rule))).toEqual(["optimizer odd: updates slot 'ghost' of w without reading it"]);
  });
});

describe("parseOptimizer", () => {
  const parsed = (spec: string): Optimizer | string => {
    const result = parseOptimizer(spec);
    return E.isLeft(result) ? result.left.map((d) => d.message).join("\n") : result.right;
  };

  it("parses the CLI spec strings with PyTorch's names and defaults", () => {
    expect(parsed("sgd:lr=0.1,momentum=0.9")).toEqual(sgd({ lr: 0.1, momentum: 0.9 }));
    expect(parsed(" adam:lr=1e-3 ")).toEqual(adam({ lr: 1e-3 }));
    expect(parsed("ADAMW")).toEqual(adamw());
    expect(parsed("sgd:lr=.5, nesterov=true, momentum=0.9, weight_decay=1E-4, dampening=0, maximize=false")).toEqual(
      sgd({ lr: 0.5, nesterov: true, momentum: 0.9, weightDecay: 1e-4, dampening: 0, maximize: false }),
    );
    expect(parsed("adam:beta1=0.8,beta2=0.99,eps=1e-6,amsgrad=true,weight_decay=0.01,maximize=true")).toEqual(
      adam({ beta1: 0.8, beta2: 0.99, eps: 1e-6, amsgrad: true, weightDecay: 0.01, maximize: true }),
    );
  });

  it("round-trips formatOptimizer", () => {
    for (const optimizer of [sgd({ lr: 0.1, momentum: 0.9, nesterov: true }), adam({ lr: 3e-4, amsgrad: true }), adamw({ weightDecay: 0.05 })]) {
      const text = formatOptimizer(optimizer);
      expect(parsed(text)).toEqual(optimizer);
    }
    expect(formatOptimizer(sgd({ lr: 0.1 }))).toBe("sgd:lr=0.1,momentum=0,dampening=0,nesterov=false,weight_decay=0,maximize=false");
  });

  it("gives clear errors", () => {
    expect(parsed("")).toBe('empty optimizer spec; expected e.g. "sgd:lr=0.1" or "adam:lr=1e-3"');
    expect(parsed("lion:lr=1")).toBe('optimizer "lion:lr=1": unknown optimizer \'lion\'; expected one of sgd, adam, adamw, rmsprop, adagrad');
    expect(parsed("sgd:lr")).toBe("optimizer \"sgd:lr\": expected key=value, got 'lr'");
    expect(parsed("sgd:lr=0.1,momentun=0.9")).toBe(
      "optimizer \"sgd:lr=0.1,momentun=0.9\": unknown option 'momentun' for sgd; expected one of lr, momentum, dampening, nesterov, weight_decay, maximize",
    );
    expect(parsed("adam:beta1=0.9,beta1=0.8")).toBe("optimizer \"adam:beta1=0.9,beta1=0.8\": option 'beta1' is given twice");
    expect(parsed("sgd:lr=fast")).toBe("optimizer \"sgd:lr=fast\": option 'lr' must be a number, got 'fast'");
    expect(parsed("sgd:nesterov=yes")).toBe("optimizer \"sgd:nesterov=yes\": option 'nesterov' must be true or false, got 'yes'");
    expect(parsed("sgd:lr=-0.1")).toBe('optimizer "sgd:lr=-0.1": sgd: invalid learning rate -0.1 (expected a finite number ≥ 0)');
    expect(parsed("sgd:lr=0.1,nesterov=true")).toBe(
      'optimizer "sgd:lr=0.1,nesterov=true": sgd: nesterov momentum requires a momentum > 0 and zero dampening (got momentum 0, dampening 0)',
    );
  });
});
