// Initialisers with PyTorch's conventions (issue 14 item 6). The gains and fans are literal
// torch 1.13 numbers printed by packages/compiler/test/fixtures/pytorch/init.py; the values
// themselves come from graft's seeded PRNG (not torch's), so they are checked by their bounds,
// moments and orthogonality.
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import {
  buildGraph,
  calculateGain,
  fanInAndFanOut,
  glorotUniform,
  initValues,
  kaimingNormal,
  kaimingUniform,
  model,
  orthogonal,
  param,
  sum,
  xavierNormal,
  xavierUniform,
  type Init,
} from "../src/index.js";

const std = (values: Float64Array): number => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
};
const maxAbs = (values: Float64Array): number => values.reduce((a, b) => Math.max(a, Math.abs(b)), 0);

describe("calculate_gain and fans, as PyTorch", () => {
  it("gains", () => {
    expect(["linear", "conv2d", "sigmoid"].map((name) => calculateGain(name))).toEqual([1, 1, 1]);
    expect(calculateGain("tanh")).toBe(1.6666666666666667);
    expect(calculateGain("relu")).toBe(1.4142135623730951);
    expect(calculateGain("leaky_relu")).toBe(1.4141428569978354);
    expect(calculateGain("leaky_relu", 0.2)).toBe(1.3867504905630728);
    expect(calculateGain("selu")).toBe(0.75);
    expect(() => calculateGain("gelu")).toThrow(
      new RangeError("calculate_gain: unsupported nonlinearity 'gelu' (expected linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu or selu)"),
    );
  });
  it("fans of a [out, in, *kernel] weight", () => {
    expect(fanInAndFanOut([5, 3])).toEqual({ fanIn: 3, fanOut: 5 });
    expect(fanInAndFanOut([8, 4, 3, 3])).toEqual({ fanIn: 36, fanOut: 72 });
    expect(fanInAndFanOut([2, 3, 5])).toEqual({ fanIn: 15, fanOut: 10 });
    expect(() => fanInAndFanOut([4])).toThrow(new RangeError("fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape [4])"));
  });
});

describe("Xavier/Glorot and Kaiming", () => {
  const values = (init: Init, shape: readonly number[], seed = 0): Float64Array => initValues(init, shape, seed, "w");
  it("xavier_uniform: U(−b, b), b = gain·√(6/(fan_in + fan_out)); seeded", () => {
    const w = values(xavierUniform(2), [64, 128]);
    const bound = 2 * Math.sqrt(6 / 192);
    expect(maxAbs(w)).toBeLessThanOrEqual(bound);
    expect(maxAbs(w)).toBeGreaterThan(0.99 * bound);
    expect(values(xavierUniform(2), [64, 128])).toEqual(w);
    expect(values(xavierUniform(2), [64, 128], 1)).not.toEqual(w);
    expect(glorotUniform).toBe(xavierUniform);
  });
  it("xavier_normal: std = gain·√(2/(fan_in + fan_out)), fans of a conv weight", () => {
    expect(std(values(xavierNormal(), [256, 256])) / Math.sqrt(2 / 512)).toBeCloseTo(1, 1.7);
    expect(std(values(xavierNormal(), [32, 16, 3, 3])) / Math.sqrt(2 / (144 + 288))).toBeCloseTo(1, 1.7);
  });
  it("kaiming_normal: std = gain/√fan, leaky_relu with a = 0 by default (gain √2), mode fan_out", () => {
    // 40,000+ samples: the sample std is within 2% of the target
    expect(std(values(kaimingNormal(), [512, 200])) / (Math.sqrt(2) / Math.sqrt(200))).toBeCloseTo(1, 1.7);
    expect(std(values(kaimingNormal({ mode: "fan_out", nonlinearity: "tanh" }), [100, 400])) / (5 / 3 / Math.sqrt(100))).toBeCloseTo(1, 1.7);
  });
  it("kaiming_uniform: bound √3·gain/√fan_in; kaimingUniform(fanIn) keeps nn.Linear's default", () => {
    const w = values(kaimingUniform({ nonlinearity: "relu" }), [50, 60]);
    expect(maxAbs(w)).toBeLessThanOrEqual(Math.sqrt(6 / 60));
    expect(maxAbs(w)).toBeGreaterThan(0.99 * Math.sqrt(6 / 60));
    expect(kaimingUniform(60)).toEqual({ kind: "kaiming_uniform", fanIn: 60 });
  });
});

describe("orthogonal", () => {
  /** Gram matrix of the rows (rows ≤ cols) or of the columns. */
  const gram = (w: Float64Array, rows: number, cols: number): number[][] => {
    const byRows = rows <= cols;
    const n = byRows ? rows : cols;
    const at = (i: number, k: number): number => (byRows ? (w[i * cols + k] ?? 0) : (w[k * cols + i] ?? 0));
    const len = byRows ? cols : rows;
    return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Array.from({ length: len }, (_, k) => at(i, k) * at(j, k)).reduce((a, b) => a + b, 0)));
  };
  const expectIdentity = (g: number[][], scale: number): void =>
    g.forEach((row, i) => row.forEach((value, j) => expect(value, `[${i}][${j}]`).toBeCloseTo(i === j ? scale : 0, 12)));
  it("a tall matrix has orthonormal columns, a wide one orthonormal rows, times gain²", () => {
    expectIdentity(gram(initValues(orthogonal(), [6, 4], 0, "w"), 6, 4), 1);
    expectIdentity(gram(initValues(orthogonal(2), [3, 5], 0, "w"), 3, 5), 4);
  });
  it("a conv weight is flattened to [out, in·kernel]", () => {
    expectIdentity(gram(initValues(orthogonal(), [4, 2, 2, 2], 7, "conv"), 4, 8), 1);
  });
});

describe("a 1-D param with an initialiser that needs fans", () => {
  it("is a diagnostic at the param, as PyTorch's ValueError", () => {
    const built = buildGraph(model({ outputs: {}, loss: sum(param("b", [4], xavierUniform())) }));
    expect(E.isLeft(built) ? built.left.map((d) => d.message) : []).toEqual([
      expect.stringContaining("param b: xavier_uniform(gain=1) needs a param of 2 or more dimensions (its fan in and fan out), got [4]"),
    ]);
    expect(() => initValues(orthogonal(), 12, 0, "w")).toThrow(new RangeError("param w: initialiser orthogonal needs the param's shape, not only its size"));
  });
});
