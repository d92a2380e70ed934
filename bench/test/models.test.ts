import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildGraph, conv2d, graphParams, input, model, param, run } from "@graft/core";
import { cnnModel } from "../../examples/mnist-cnn/model.js";
import { CHECK_RUNS, compareChecks, convChecks, expectedFor, modelParamDelta, modelTrainChecks } from "../src/checks.js";
import { asConv, asModel, makeGemmData, uniformF32 } from "../src/data.js";
import { denseFromNchwToNhwcKernel, denseFromNhwcKernel, hwioToOihw, nchwToNhwc, nhwcToNchw, oihwToHwio, oneHotIgnoring, transpose2d } from "../src/layouts.js";
import { makeCnnData, makeConvData, makeTransformerData, paramOf, transformerConfig } from "../src/model-data.js";
import { conv2dForward, toF64 } from "../src/reference.js";
import { modelTrainSteps } from "../src/reference-model.js";
import { CASES } from "../src/workloads.js";

const TINY_TRANSFORMER = { vocab: 7, context: 6, width: 16, heads: 2, layers: 2, mlp: 32, dropout: 0.1 };

describe("conv2d workload", () => {
  it("is batch 16, 64→64 channels, 32×32, 3×3, padding 1, with its FLOP count", () => {
    const spec = CASES.find((c) => c.case.workload === "conv2d");
    expect(spec?.flops).toBe(2 * 16 * 64 * 32 * 32 * 64 * 3 * 3);
    expect(spec?.case.caseName).toBe("16x64x32x32 k3 -> 64");
  });

  it("has seeded data with PyTorch's Conv2d init bounds", () => {
    const d = makeConvData(2, 3, 4, 5, 3, 1);
    expect(d.x).toHaveLength(2 * 3 * 5 * 5);
    expect(d.weight).toHaveLength(4 * 3 * 3 * 3);
    expect(d.bias).toHaveLength(4);
    const bound = 1 / Math.sqrt(3 * 3 * 3);
    for (const v of [...d.weight, ...d.bias]) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    expect(Array.from(makeConvData(2, 3, 4, 5, 3, 1).x)).toEqual(Array.from(d.x));
  });

  it("reference equals graft's float64 interpreter (random sizes and paddings)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 3, max: 6 }), fc.constantFrom(1, 3), fc.integer({ min: 0, max: 2 }), (n, cin, cout, size, k, pad) => {
        const d = makeConvData(n, cin, cout, size, k, pad);
        const mine = conv2dForward(toF64(d.x), toF64(d.weight), toF64(d.bias), d);
        const x = input("x", [n, cin, size, size]);
        const out = conv2d(x, param("w", [cout, cin, k, k]), param("b", [cout]), { padding: pad });
        const graph = buildGraph(model({ name: "conv", outputs: { out } }));
        if (E.isLeft(graph)) throw new Error("conv graph did not build");
        const ref = run(
          graph.right,
          { x: { shape: [n, cin, size, size], dtype: "f32", data: toF64(d.x) } },
          { w: { shape: [cout, cin, k, k], dtype: "f32", data: toF64(d.weight) }, b: { shape: [cout], dtype: "f32", data: toF64(d.bias) } },
        )["out"];
        expect(ref?.shape).toEqual([n, cout, size + 2 * pad - k + 1, size + 2 * pad - k + 1]);
        expect(mine).toHaveLength(ref?.data.length ?? -1);
        mine.forEach((v, i) => expect(v).toBeCloseTo(ref?.data[i] ?? NaN, 12));
      }),
      { numRuns: 20 },
    );
  });

  it("checks the output's checksums within float32 tolerance", () => {
    const d = makeConvData(1, 2, 2, 4, 3, 1);
    const c = { workload: "conv2d" as const, caseName: "tiny" };
    const expected = expectedFor(c, d);
    expect(Object.keys(expected).sort()).toEqual(["out.norm", "out.sum", "out.wsum"]);
    const exact = Float32Array.from(conv2dForward(toF64(d.x), toF64(d.weight), toF64(d.bias), d));
    expect(compareChecks(expected, convChecks(exact)).agrees).toBe(true);
    // a transposed output (NHWC instead of NCHW) is caught
    expect(compareChecks(expected, convChecks(nchwToNhwc(exact, 1, 2, 4, 4))).agrees).toBe(false);
  });
});

describe("model workloads' data", () => {
  it("cnn: images, labels and every float param of examples/mnist-cnn under its PyTorch name", () => {
    const d = makeCnnData(4);
    expect(d.xShape).toEqual([4, 1, 28, 28]);
    expect(d.x).toHaveLength(4 * 28 * 28);
    expect(d.yShape).toEqual([4]);
    for (const label of d.y) expect(label >= 0 && label < 10).toBe(true);
    const graph = buildGraph(cnnModel({ dropout: 0 }));
    if (E.isLeft(graph)) throw new Error("cnn did not build");
    const floats = graphParams(graph.right).filter((p) => p.type.dtype === "f32");
    expect(Object.keys(d.params).sort()).toEqual(floats.map((p) => p.attrs.name).sort());
    for (const p of floats) expect(paramOf(d, p.attrs.name).shape).toEqual(p.type.shape);
    expect(d.trained).not.toContain("bn1.running_mean");
    expect(d.trained).not.toContain("bn2.running_var");
    expect(d.trained).toContain("conv1.weight");
    expect(Object.keys(d.unchecked).sort()).toEqual(["conv1.bias", "conv2.bias"]);
    expect(d.unchecked["conv2.bias"]).toMatchObject({ from: 0, to: 32 });
    expect(d.dropout).toBe(0.25);
  });

  it("transformer: token ids, targets -100 on the first half of each sequence, the key part of in_proj_bias unchecked", () => {
    const d = makeTransformerData(3, TINY_TRANSFORMER);
    expect(d.xShape).toEqual([3, 6]);
    expect(d.x).toBeInstanceOf(Int32Array);
    for (const t of d.x) expect(t >= 0 && t < 7).toBe(true);
    d.y.forEach((t, i) => (i % 6 < 3 ? expect(t).toBe(-100) : expect(t >= 0 && t < 6).toBe(true)));
    expect(paramOf(d, "blocks.1.attn.in_proj_weight").shape).toEqual([48, 16]);
    expect(d.unchecked["blocks.0.attn.in_proj_bias"]).toMatchObject({ from: 16, to: 32 });
    expect(transformerConfig(d)).toEqual(TINY_TRANSFORMER);
  });

  it("narrowing and lookups name what they expected", () => {
    const cnn = makeCnnData(1);
    const gemm = makeGemmData(1, 1, 1);
    expect(() => asConv(gemm)).toThrow("expected conv2d data, got gemm");
    expect(() => asModel(gemm, "cnn")).toThrow("expected cnn model data, got gemm");
    expect(() => asModel(cnn, "transformer")).toThrow("expected transformer model data, got cnn");
    expect(() => transformerConfig(cnn)).toThrow("cnn data has no transformer config");
    expect(() => paramOf(cnn, "fc3.weight")).toThrow(/^cnn data has no param fc3.weight \(has conv1.weight, /);
  });
});

describe("model train-step reference (float64 interpreter of graft's training program)", () => {
  it("first Adam step moves every trained element by at most lr, most by about lr; stats move; step 2's loss differs", () => {
    const d = makeTransformerData(2, TINY_TRANSFORMER);
    const one = modelTrainSteps(d, 1);
    const two = modelTrainSteps(d, 2);
    expect(Number.isFinite(one.loss)).toBe(true);
    expect(one.loss).toBeGreaterThan(0);
    expect(two.loss).not.toBe(one.loss);
    let near = 0;
    let total = 0;
    for (const name of d.trained) {
      const delta = modelParamDelta(d, name, one.params[name] ?? []);
      for (const v of delta) {
        expect(Math.abs(v)).toBeLessThanOrEqual(d.adam.lr * (1 + 1e-6) + 1e-9);
        total++;
        if (Math.abs(Math.abs(v) - d.adam.lr) < 1e-4) near++;
      }
    }
    expect(near / total).toBeGreaterThan(0.5);
  });

  it("cnn: BatchNorm running statistics take momentum 0.1 of the batch statistics", () => {
    const d = makeCnnData(2);
    const one = modelTrainSteps(d, 1);
    const mean = one.params["bn1.running_mean"] ?? new Float64Array();
    const variance = one.params["bn1.running_var"] ?? new Float64Array();
    expect(mean).toHaveLength(16);
    // from zeros and ones: 0.1·batch mean, 0.9 + 0.1·unbiased batch variance (> 0)
    expect(mean.some((m) => m !== 0)).toBe(true);
    for (const v of variance) expect(v).toBeGreaterThan(0.9);
  });

  it("checks: loss and per-param deltas, unchecked elements zeroed on both sides", () => {
    const d = makeTransformerData(2, TINY_TRANSFORMER);
    const c = { workload: "transformer_train_step" as const, caseName: "tiny" };
    expect(CHECK_RUNS.transformer_train_step).toBe(2);
    expect(CHECK_RUNS.cnn_train_step).toBe(2);
    const expected = expectedFor(c, d);
    const ref = modelTrainSteps(d, 2);
    const asF32 = Object.fromEntries(Object.entries(ref.params).map(([name, v]) => [name, Float32Array.from(v)]));
    expect(compareChecks(expected, modelTrainChecks(d, ref.loss, asF32)).agrees).toBe(true);
    // noise in the unchecked key bias does not matter; in the query bias it does
    const bias = Float32Array.from(asF32["blocks.0.attn.in_proj_bias"] ?? []);
    bias[20] = (bias[20] ?? 0) + 0.01;
    expect(compareChecks(expected, modelTrainChecks(d, ref.loss, { ...asF32, "blocks.0.attn.in_proj_bias": bias })).agrees).toBe(true);
    bias[3] = (bias[3] ?? 0) + 0.01;
    const wrong = compareChecks(expected, modelTrainChecks(d, ref.loss, { ...asF32, "blocks.0.attn.in_proj_bias": bias }));
    expect(wrong.agrees).toBe(false);
    expect(wrong.problems.join("\n")).toContain("delta_blocks.0.attn.in_proj_bias.sum: got");
    // a missing param is reported
    const { ["head.bias"]: _dropped, ...rest } = asF32;
    expect(compareChecks(expected, modelTrainChecks(d, ref.loss, rest)).problems).toContain(
      `delta_head.bias.sum: missing (expected ${expected["delta_head.bias.sum"]?.value.toPrecision(8)})`,
    );
  });
});

describe("layouts", () => {
  const dims = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }));

  it("NCHW ↔ NHWC and OIHW ↔ HWIO round-trip and move the right element", () => {
    fc.assert(
      fc.property(dims, ([a, b, c, e]) => {
        const data = uniformF32(`l/${a}${b}${c}${e}`, a * b * c * e, -1, 1);
        expect(nhwcToNchw(nchwToNhwc(data, a, b, c, e), a, b, c, e)).toEqual(data);
        expect(hwioToOihw(oihwToHwio(data, a, b, c, e), a, b, c, e)).toEqual(data);
        // element [n=a-1, c=b-1, h=0, w=e-1]
        expect(nchwToNhwc(data, a, b, c, e)[((a - 1) * c * e + (e - 1)) * b + (b - 1)]).toBe(data[((a - 1) * b + (b - 1)) * c * e + (e - 1)]);
        expect(transpose2d(transpose2d(data, a * b, c * e), c * e, a * b)).toEqual(data);
      }),
    );
  });

  it("a dense weight reading NCHW-flattened activations equals its kernel reading the NHWC flattening", () => {
    fc.assert(
      fc.property(dims, fc.integer({ min: 1, max: 3 }), ([, c, h, w], out) => {
        const act = uniformF32(`a/${c}${h}${w}`, c * h * w, -1, 1);
        const weight = uniformF32(`w/${c}${h}${w}${out}`, out * c * h * w, -1, 1);
        const kernel = denseFromNchwToNhwcKernel(weight, out, c, h, w);
        const nhwc = nchwToNhwc(act, 1, c, h, w);
        for (let o = 0; o < out; o++) {
          let torch = 0;
          let tf = 0;
          for (let i = 0; i < c * h * w; i++) {
            torch += (weight[o * c * h * w + i] ?? 0) * (act[i] ?? 0);
            tf += (nhwc[i] ?? 0) * (kernel[i * out + o] ?? 0);
          }
          expect(tf).toBeCloseTo(torch, 5);
        }
        expect(denseFromNhwcKernel(kernel, out, c, h, w)).toEqual(weight);
      }),
    );
  });

  it("one-hot rows are zero for ignored targets", () => {
    expect(Array.from(oneHotIgnoring(Int32Array.of(2, -100, 0), 3))).toEqual([0, 0, 1, 0, 0, 0, 1, 0, 0]);
  });
});
