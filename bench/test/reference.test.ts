import { describe, expect, it } from "vitest";
import type { MlpData } from "../src/data.js";
import { ADAM, Rng, makeCeData, makeMlpData, oneHotF32, uniformF32, labelsI32 } from "../src/data.js";
import { adamInit, adamStep, matmul, matmulNT, matmulTN, mlpLossAndGrads, mlpParams64, mlpTrainSteps, softmaxCrossEntropy, toF64 } from "../src/reference.js";
import { checksum, compareChecks, expectedChecksum, expectedFor, mlpTrainChecks } from "../src/checks.js";

function tinyMlp(): MlpData {
  const sizes = [5, 4, 3];
  const batch = 3;
  const labels = labelsI32("t/labels", batch, 3);
  return {
    kind: "mlp",
    sizes,
    batch,
    x: uniformF32("t/x", batch * 5, -1, 1),
    labels,
    oneHot: oneHotF32(labels, 3),
    weights: [uniformF32("t/w0", 20, -0.5, 0.5), uniformF32("t/w1", 12, -0.5, 0.5)],
    biases: [uniformF32("t/b0", 4, -0.5, 0.5), uniformF32("t/b1", 3, -0.5, 0.5)],
    adam: ADAM,
  };
}

describe("data", () => {
  it("is deterministic and seeded by role", () => {
    expect(Array.from(uniformF32("a", 5, 0, 1))).toEqual(Array.from(uniformF32("a", 5, 0, 1)));
    expect(uniformF32("a", 5, 0, 1)[0]).not.toEqual(uniformF32("b", 5, 0, 1)[0]);
    const r = new Rng("x");
    for (let i = 0; i < 1000; i++) {
      const u = r.uniform();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
  });

  it("uses PyTorch Linear init bounds and shares parameters across batch sizes", () => {
    const a = makeMlpData(4);
    const b = makeMlpData(8);
    const w0a = a.weights[0] ?? new Float32Array();
    const w0b = b.weights[0] ?? new Float32Array();
    expect(w0a.length).toBe(784 * 256);
    expect(w0a.every((v, i) => v === w0b[i])).toBe(true);
    const bound = 1 / Math.sqrt(784);
    expect(w0a.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0)).toBeLessThanOrEqual(bound);
    expect(a.oneHot.reduce((s, v) => s + v, 0)).toBe(4);
  });
});

describe("reference", () => {
  it("matmul variants agree", () => {
    const a = toF64(uniformF32("m/a", 6, -1, 1)); // [2,3]
    const b = toF64(uniformF32("m/b", 12, -1, 1)); // [3,4]
    const c = matmul(a, b, 2, 3, 4);
    const at = new Float64Array(6);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) at[j * 2 + i] = a[i * 3 + j] ?? 0;
    const bt = new Float64Array(12);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) bt[j * 3 + i] = b[i * 4 + j] ?? 0;
    const c2 = matmulTN(at, b, 3, 2, 4);
    const c3 = matmulNT(a, bt, 2, 3, 4);
    for (let i = 0; i < 8; i++) {
      expect(c2[i]).toBeCloseTo(c[i] ?? NaN, 12);
      expect(c3[i]).toBeCloseTo(c[i] ?? NaN, 12);
    }
  });

  it("cross-entropy gradient rows sum to zero and match finite differences", () => {
    const d = makeCeData(3, 5);
    const z = toF64(d.logits);
    const { loss, grad } = softmaxCrossEntropy(z, d.labels, 3, 5);
    expect(loss).toBeGreaterThan(0);
    for (let r = 0; r < 3; r++) {
      let s = 0;
      for (let j = 0; j < 5; j++) s += grad[r * 5 + j] ?? 0;
      expect(Math.abs(s)).toBeLessThan(1e-12);
    }
    const h = 1e-6;
    for (let i = 0; i < 15; i++) {
      const zp = Float64Array.from(z);
      const zm = Float64Array.from(z);
      zp[i] = (zp[i] ?? 0) + h;
      zm[i] = (zm[i] ?? 0) - h;
      const fd = (softmaxCrossEntropy(zp, d.labels, 3, 5).loss - softmaxCrossEntropy(zm, d.labels, 3, 5).loss) / (2 * h);
      expect(grad[i]).toBeCloseTo(fd, 7);
    }
  });

  it("is stable for huge logits", () => {
    const z = Float64Array.from([1e4, -1e4, 3e38, 0]);
    const { loss, grad } = softmaxCrossEntropy(z, Int32Array.from([0, 1]), 2, 2);
    expect(Number.isFinite(loss)).toBe(true);
    for (const g of grad) expect(Number.isFinite(g)).toBe(true);
  });

  it("MLP gradients match central finite differences", () => {
    const d = tinyMlp();
    const params = mlpParams64(d);
    const { grads } = mlpLossAndGrads(params, d);
    const h = 1e-6;
    const all = [...params.weights, ...params.biases];
    const gAll = [...grads.weights, ...grads.biases];
    all.forEach((p, k) => {
      for (let i = 0; i < p.length; i++) {
        const orig = p[i] ?? 0;
        p[i] = orig + h;
        const lp = mlpLossAndGrads(params, d).loss;
        p[i] = orig - h;
        const lm = mlpLossAndGrads(params, d).loss;
        p[i] = orig;
        expect(gAll[k]?.[i]).toBeCloseTo((lp - lm) / (2 * h), 6);
      }
    });
  });

  it("Adam's first step moves each parameter by about lr * sign(g)", () => {
    const p = [Float64Array.from([1, 1, 1])];
    const g = [Float64Array.from([0.5, -2, 0])];
    adamStep(p, g, adamInit(p), ADAM);
    expect(p[0]?.[0]).toBeCloseTo(1 - 1e-3, 9);
    expect(p[0]?.[1]).toBeCloseTo(1 + 1e-3, 9);
    expect(p[0]?.[2]).toBe(1);
  });

  it("one train step lowers the loss on its batch", () => {
    const d = tinyMlp();
    const step = mlpTrainSteps(d, 1);
    const after = mlpLossAndGrads(step.params, d).loss;
    expect(after).toBeLessThan(step.loss);
  });
});

describe("checks", () => {
  it("accepts a float32 rounding of the reference and rejects a perturbed one", () => {
    const exact = toF64(uniformF32("c/x", 1000, -1, 1)).map((v) => v / 3);
    const f32 = Float32Array.from(exact);
    const expected = expectedChecksum("x", exact, 1e-4);
    expect(compareChecks(expected, checksum("x", f32)).agrees).toBe(true);
    const permuted = Float32Array.from(f32).reverse();
    expect(compareChecks(expected, checksum("x", permuted)).agrees).toBe(false);
    const missing = compareChecks(expected, {});
    expect(missing.agrees).toBe(false);
    expect(missing.problems).toHaveLength(3);
  });

  it("train-step checks (after 2 steps) agree for the float32-rounded reference, not for a wrong lr", () => {
    const d = tinyMlp();
    const expected = expectedFor({ workload: "mlp_train_step", caseName: "tiny" }, d);
    const ref = mlpTrainSteps(d, 2);
    const good = mlpTrainChecks(d, ref.loss, ref.params.weights.map((w) => Float32Array.from(w)), ref.params.biases.map((b) => Float32Array.from(b)));
    expect(compareChecks(expected, good).problems).toEqual([]);
    // A step with lr 2e-3 instead of 1e-3.
    const wrong = mlpTrainChecks(
      d,
      ref.loss,
      ref.params.weights.map((w, l) => w.map((v, i) => 2 * v - (d.weights[l]?.[i] ?? 0))),
      ref.params.biases.map((b, l) => b.map((v, i) => 2 * v - (d.biases[l]?.[i] ?? 0))),
    );
    expect(compareChecks(expected, wrong).agrees).toBe(false);
  });
});
