// The basic initialisers a bundle of nn.Linear-style params takes instead of all of them (init.ts).
import { describe, expect, it } from "vitest";
import { BASIC_INITS, basicInitValues, initValues, type Init } from "../src/init.js";

describe("basicInitValues", () => {
  it("gives initValues' values, bit for bit, for the basic kinds", () => {
    const basic: Init[] = [{ kind: "zeros" }, { kind: "ones" }, { kind: "constant", value: 0.3 }, { kind: "uniform", low: -2, high: 3 }, { kind: "kaiming_uniform", fanIn: 7 }];
    expect(basic.map((init) => init.kind)).toEqual(BASIC_INITS);
    for (const init of basic)
      for (const shape of [[7, 5], 12, [3, 11, 2]]) expect(basicInitValues(init, shape, 3, "fc.weight")).toEqual(initValues(init, shape, 3, "fc.weight"));
  });

  it("refuses the other kinds, naming the param, the kind and the basic ones", () => {
    expect(() => basicInitValues({ kind: "orthogonal", gain: 1 }, [3, 3], 0, "q")).toThrow(
      new RangeError("param q: initialiser orthogonal is not one of the basic initialisers (zeros, ones, constant, uniform, kaiming_uniform)"),
    );
    expect(() => basicInitValues({ kind: "normal", mean: 0, std: 1 }, 4, 0, "n")).toThrow(
      new RangeError("param n: initialiser normal is not one of the basic initialisers (zeros, ones, constant, uniform, kaiming_uniform)"),
    );
  });
});
