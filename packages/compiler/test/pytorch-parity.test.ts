// Issue 14, numerics: graft against literal PyTorch values. Every number here was printed by
// test/fixtures/pytorch/*.py, run with Debian's python3-torch (torch 1.13, CPU); the script
// named in each describe block produced it.
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { GraftError, input, maximum, minimum, model, mul, ones, param, pow, sum, buildGraph, run, type NDArray, type Tensor } from "@graft/core";
import { adam, adamw } from "../src/optim/index.js";
import { createTrainer } from "../src/train/index.js";
import { grad } from "../src/passes/grad.js";

const f64 = (data: readonly number[], shape: readonly number[] = [data.length]): NDArray => ({ shape: [...shape], dtype: "f64", data: Float64Array.from(data) });

/** ∂sum(f(inputs))/∂input for every input, in float64 on the reference interpreter. */
const gradients = (feeds: Readonly<Record<string, NDArray>>, build: (x: Readonly<Record<string, Tensor>>) => Tensor): Record<string, number[]> => {
  const leaves = Object.fromEntries(Object.entries(feeds).map(([name, value]) => [name, input(name, value.shape, "f64")]));
  const graph = buildGraph(model({ name: "f", outputs: {}, loss: sum(build(leaves)) }));
  if (E.isLeft(graph)) throw new GraftError(graph.left);
  const differentiated = grad(graph.right, { wrt: [], inputs: Object.keys(feeds) });
  if (E.isLeft(differentiated)) throw new GraftError(differentiated.left);
  const out = run(differentiated.right, feeds);
  return Object.fromEntries(Object.keys(feeds).map((name) => [name, [...(out[`grad:${name}`]?.data ?? [])]]));
};

describe("maximum/minimum split the gradient ½–½ at ties (numerics.py)", () => {
  const feeds = { a: f64([1, 2, 3]), b: f64([1, 1, 4]) };
  it("maximum([1,2,3],[1,1,4]): grad a = [0.5, 1, 0], grad b = [0.5, 0, 1]", () => {
    expect(gradients(feeds, (x) => maximum(x.a as Tensor, x.b as Tensor))).toEqual({ a: [0.5, 1, 0], b: [0.5, 0, 1] });
  });
  it("minimum([1,2,3],[1,1,4]): grad a = [0.5, 0, 1], grad b = [0.5, 1, 0]", () => {
    expect(gradients(feeds, (x) => minimum(x.a as Tensor, x.b as Tensor))).toEqual({ a: [0.5, 0, 1], b: [0.5, 1, 0] });
  });
});

describe("pow's gradient at base 0 (numerics.py)", () => {
  it("pow([0,0,0],[2,1,0.5]): grad a = [0, 1, +inf], grad b = [0, 0, 0]", () => {
    expect(gradients({ a: f64([0, 0, 0]), b: f64([2, 1, 0.5]) }, (x) => pow(x.a as Tensor, x.b as Tensor))).toEqual({ a: [0, 1, Infinity], b: [0, 0, 0] });
  });
});

describe("Adam/AdamW bias corrections in float64, rounded once (numerics.py)", () => {
  // loss = 0.5·p, so the gradient is 0.5; p starts at 1
  const oneParam = () => {
    const p = param("p", [1], ones);
    return model({ name: "one", outputs: {}, loss: sum(mul(p, 0.5)) });
  };
  for (const backend of ["reference", "js", "wasm"] as const)
    for (const optimizer of [adam({ lr: 0.1 }), adamw({ lr: 0.1, weightDecay: 0 })])
      it(`one ${optimizer.kind} step, lr 0.1, p = 1, gradient 0.5 gives 0.900000036 in float32 on ${backend}`, async () => {
        const trainer = await createTrainer(oneParam(), { optimizer, backend });
        trainer.step({});
        expect(trainer.getState().p?.data[0]).toBe(Math.fround(0.900000036));
        trainer.dispose();
      });
});
