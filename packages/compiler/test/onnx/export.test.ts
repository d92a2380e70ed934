// graft export --format onnx without a runtime: what the file holds (initializers under the
// safetensors names, dynamic or fixed batch dims, the training step's inputs and outputs), every
// error path with its exact message and exit code, and the ONNX checker (python onnx) when present.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { add, compositeNames, crossEntropy, input, model as graftModel, opNames, param, zeros } from "@graft/core";
import { decodeSafetensors, encodeSafetensors } from "@graft/runtime";
import { afterAll, describe, expect, it } from "vitest";
import mnist from "../../../../examples/mnist/model.js";
import seedToy from "../../../../examples/seed-toy/model.js";
import { cnnModel } from "../../../../examples/mnist-cnn/model.js";
import { transformerModel } from "../../../../examples/transformer/model.js";
import { main, type CliIo } from "../../src/cli.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { onnxFusedComposites, onnxTable } from "../../src/onnx/ops.js";
import { onnx, type ValueInfoProto } from "../../src/onnx/proto.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../../..");
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const scratch = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "graft-onnx-export-"));
  dirs.push(dir);
  return dir;
};
const graft = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
  let out = "";
  let err = "";
  const io: CliIo = { out: (text) => void (out += text), err: (text) => void (err += text), cwd: root };
  const code = await main(argv, { io });
  return { code, out, err };
};

const dimsOf = (info: ValueInfoProto | null | undefined): Array<string | number> =>
  (info?.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0)));

describe("ONNX export: the file", () => {
  it("forward: params are initializers under their safetensors names, the batch dim is dynamic (or fixed with --batch), opset 17", () => {
    const result = exportOnnx(mnist, {});
    if (E.isLeft(result)) throw new Error(result.left[0]?.message);
    const model = onnx.ModelProto.decode(result.right.bytes);
    expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([["", 17]]);
    expect((model.graph?.initializer ?? []).map((t) => t.name)).toEqual(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"]);
    expect((model.graph?.input ?? []).map((i) => [i.name, dimsOf(i)])).toEqual([["x", ["batch", 784]]]);
    expect((model.graph?.output ?? []).map((o) => [o.name, dimsOf(o)])).toEqual([["logits", ["batch", 10]]]);
    expect(result.right.initialState).toBeUndefined();
    // dense layers are Gemms (transB = 1), as PyTorch exports nn.Linear
    expect((model.graph?.node ?? []).map((n) => n.opType)).toEqual(["Gemm", "Relu", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Identity"]);
    const fixed = exportOnnx(mnist, { batch: 32, opset: 13 });
    if (E.isLeft(fixed)) throw new Error(fixed.left[0]?.message);
    const fixedModel = onnx.ModelProto.decode(fixed.right.bytes);
    expect(dimsOf(fixedModel.graph?.input?.[0])).toEqual([32, 784]);
    expect(Number(fixedModel.opsetImport[0]?.version)).toBe(13);
  });

  it("--weights: the initializers hold the file's values", () => {
    const W = Float32Array.from({ length: 12 }, (_, i) => i / 4);
    const result = exportOnnx(seedToy, { weights: encodeSafetensors([{ name: "W", dtype: "F32", shape: [4, 3], data: W }]) });
    if (E.isLeft(result)) throw new Error(result.left[0]?.message);
    const initializer = (onnx.ModelProto.decode(result.right.bytes).graph?.initializer ?? []).find((t) => t.name === "W");
    const raw = initializer?.rawData ?? new Uint8Array(0);
    expect(Array.from(new Float32Array(Uint8Array.from(raw).buffer))).toEqual(Array.from(W));
  });

  it("--weights from a training checkpoint: the params are read, the optimizer state is left", () => {
    const checkpoint = encodeSafetensors([
      { name: "W", dtype: "F32", shape: [4, 3], data: new Float32Array(12).fill(0.5) },
      { name: "adam.m.W", dtype: "F32", shape: [4, 3], data: new Float32Array(12) },
      { name: "adam.step", dtype: "F32", shape: [], data: Float32Array.of(3) },
    ]);
    const result = exportOnnx(seedToy, { weights: checkpoint });
    if (E.isLeft(result)) throw new Error(result.left[0]?.message);
    expect((onnx.ModelProto.decode(result.right.bytes).graph?.initializer ?? []).map((t) => t.name)).toEqual(["W", "b"]);
  });

  it("--train: inputs are the feeds plus every param and state tensor; outputs the loss, the model outputs and every '<name>.new'", () => {
    const result = exportOnnx(seedToy, { train: "adam:lr=0.01" });
    if (E.isLeft(result)) throw new Error(result.left[0]?.message);
    expect(result.right.inputs).toEqual(["x", "y", "W", "b", "adam.m.W", "adam.one_minus_beta1", "adam.step_size", "adam.v.W", "adam.beta2", "adam.one_minus_beta2", "adam.bias_correction2_sqrt", "adam.eps", "adam.m.b", "adam.v.b", "adam.step"]);
    expect(result.right.outputs).toEqual(["logits", "loss", "W.new", "adam.m.W.new", "adam.v.W.new", "b.new", "adam.m.b.new", "adam.v.b.new", "adam.step.new"]);
    const model = onnx.ModelProto.decode(result.right.bytes);
    expect(model.graph?.initializer).toEqual([]);
    expect((model.graph?.node ?? []).every((n) => (n.domain ?? "") === "")).toBe(true);
    expect(model.docString).toContain("Before each step feed the hyper scalars adam.one_minus_beta1 = 1 − beta1 (compiled 0.9), adam.beta2 = beta2 (compiled 0.999), adam.one_minus_beta2 = 1 − beta2 (compiled 0.999), adam.step_size = lr / (1 − 0.9^t), adam.bias_correction2_sqrt = √(1 − 0.999^t), adam.eps = eps (compiled 1e-8) with t = adam.step + 1 (lr 0.01;");
    const state = decodeSafetensors(result.right.initialState ?? new Uint8Array(0)).tensors;
    expect([...state.keys()].sort()).toEqual(["W", "adam.beta2", "adam.bias_correction2_sqrt", "adam.eps", "adam.m.W", "adam.m.b", "adam.one_minus_beta1", "adam.one_minus_beta2", "adam.step", "adam.step_size", "adam.v.W", "adam.v.b", "b"]);
    // the hyper scalars start at their values for step 1
    expect(state.get("adam.step_size")?.data[0]).toBeCloseTo(0.01 / (1 - 0.9), 6);
  });
});

describe("ONNX export: the default opset", () => {
  it("is 17, or 18 (BitwiseXor) when the exported function draws random numbers; an explicit opset is kept", () => {
    const opsetOf = (result: ReturnType<typeof exportOnnx>): [number, number] => {
      if (E.isLeft(result)) throw new Error(result.left[0]?.message);
      return [result.right.opset, Number(onnx.ModelProto.decode(result.right.bytes).opsetImport[0]?.version)];
    };
    const cnn = cnnModel();
    // dropout is the identity in the forward: no random op there
    expect(opsetOf(exportOnnx(cnn, {}))).toEqual([17, 17]);
    expect(opsetOf(exportOnnx(cnn, { train: "adam:lr=1e-3" }))).toEqual([18, 18]);
    expect(opsetOf(exportOnnx(cnn, { train: "adam:lr=1e-3", opset: 16 }))).toEqual([16, 16]);
    expect(opsetOf(exportOnnx(cnnModel({ dropout: 0 }), { train: "adam:lr=1e-3" }))).toEqual([17, 17]);
  });
});

describe("the ONNX mapping table", () => {
  it("lowers every composite itself (so exported files keep LeakyRelu, Elu, Clip, Softmax, …) but the fused normalization and attention rows, which export as their primitives", () => {
    const expanded = ["attention_softmax", "batch_norm", "batch_norm_backward_stats", "batch_norm_stats", "layer_norm", "layer_norm_backward", "softmax_backward"];
    expect([...onnxFusedComposites].sort()).toEqual(compositeNames.filter((op) => !expanded.includes(op)).sort());
    expect(Object.keys(onnxTable).sort()).toEqual([...opNames].sort());
  });
});

describe("ONNX export: errors", () => {
  it("a bad opset, a bad batch, weights that do not fit the model", () => {
    const opset = exportOnnx(seedToy, { opset: 12 });
    expect(E.isLeft(opset) && opset.left.map((d) => d.message)).toEqual(["onnx export: opset 12 is not supported; graft exports opsets 13 to 21"]);
    const batch = exportOnnx(seedToy, { batch: 0 });
    expect(E.isLeft(batch) && batch.left.map((d) => d.message)).toEqual(["onnx export: batch must be a positive integer or 'dynamic', got 0"]);
    const weights = encodeSafetensors([
      { name: "W", dtype: "F32", shape: [3, 4], data: new Float32Array(12) },
      { name: "bias", dtype: "F32", shape: [1], data: new Float32Array(1) },
    ]);
    const bad = exportOnnx(seedToy, { weights, weightsSource: "w.safetensors" });
    expect(E.isLeft(bad) && bad.left.map((d) => d.message)).toEqual(["w.safetensors: 'W' is f32[3,4], expected f32[4,3]", "w.safetensors: 'bias' is not a param of model seed_toy (its params: W, b)"]);
    const garbage = exportOnnx(seedToy, { weights: Uint8Array.of(1, 2, 3), weightsSource: "g.safetensors" });
    expect(E.isLeft(garbage) && garbage.left[0]?.message).toBe("g.safetensors: file has 3 bytes, fewer than the 8-byte header length that starts every safetensors file");
  });

  it("a loss over a symbolic class dim cannot be decomposed: the message names the op, the node and the dim", () => {
    const logits = add(input("x", ["batch", "classes"]), param("bias", [1], zeros));
    const loss = crossEntropy(logits, input("y", ["batch"], "i32"), { labelSmoothing: 0.1 });
    const result = exportOnnx(graftModel({ name: "open_classes", outputs: { loss } }), {});
    expect(E.isLeft(result) && result.left.map((d) => d.message)).toEqual([
      "onnx export: cross_entropy (node %4): its class dim 1 is symbolic (classes); the ONNX decomposition needs a static class count",
    ]);
  });

  it("the CLI: exit 2 for usage errors, 1 for models that cannot be exported, with the message", async () => {
    const dir = scratch();
    const opset = await graft(["export", "examples/seed-toy/model.ts", "--opset", "12", "-o", join(dir, "a.onnx")]);
    expect([opset.code, opset.err]).toEqual([2, "onnx export: opset 12 is not supported; graft exports opsets 13 to 21\ngraft export: examples/seed-toy/model.ts: no ONNX file written\n"]);
    const batch = await graft(["export", "examples/seed-toy/model.ts", "--batch", "0", "-o", join(dir, "a.onnx")]);
    expect(batch.code).toBe(2);
    expect(batch.err).toContain("expected a positive integer or 'dynamic', got '0'");
    const format = await graft(["export", "examples/seed-toy/model.ts", "--format", "tflite", "-o", join(dir, "a.onnx")]);
    expect(format.code).toBe(2);
    expect(format.err).toContain("argument 'tflite' is invalid. Allowed choices are onnx.");
    const missing = await graft(["export", "examples/seed-toy/model.ts", "--weights", join(dir, "none.safetensors"), "-o", join(dir, "a.onnx")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^graft export: cannot read --weights .*none\.safetensors: ENOENT/);
    const noLoss = await graft(["export", "packages/compiler/test/fixtures/onnx/no-loss.ts", "--train", "sgd:lr=0.1", "-o", join(dir, "a.onnx")]);
    expect([noLoss.code, noLoss.err]).toEqual([1, "graft export --train: model no_loss has no loss; declare one with model({ outputs, loss })\ngraft export: packages/compiler/test/fixtures/onnx/no-loss.ts: no ONNX file written\n"]);
    const clash = await graft(["export", "packages/compiler/test/fixtures/onnx/clash.ts", "-o", join(dir, "a.onnx")]);
    expect([clash.code, clash.err]).toEqual([1, "onnx export: output 'x' has the name of an input or param of model clash; ONNX value names must be unique, rename it\ngraft export: packages/compiler/test/fixtures/onnx/clash.ts: no ONNX file written\n"]);
    const scatter = await graft(["export", "packages/compiler/test/fixtures/onnx/ops-model.ts", "--train", "sgd:lr=0.1", "--opset", "15", "-o", join(dir, "a.onnx")]);
    expect(scatter.code).toBe(1);
    expect(scatter.err).toMatch(/^packages\/compiler\/test\/fixtures\/onnx\/ops-model\.ts:\d+:\d+ onnx export: scatter_add \(node %\d+\): ScatterElements with reduction=add needs opset 16 or later \(exporting opset 15\); use --opset 16\n/);
    const badOptimizer = await graft(["export", "examples/seed-toy/model.ts", "--train", "adam:lr=-1", "-o", join(dir, "a.onnx")]);
    expect(badOptimizer.code).toBe(2);
    expect(() => readFileSync(join(dir, "a.onnx"))).toThrow();
  });

  it("the CLI writes the model (and with --train its starting state) and says what it holds", async () => {
    const dir = scratch();
    const out = join(dir, "toy.onnx");
    const forward = await graft(["export", "examples/seed-toy/model.ts", "-o", out]);
    expect(forward.err).toBe("");
    expect(forward.code).toBe(0);
    expect(forward.out).toMatch(/toy\.onnx: ONNX opset 17, [0-9.]+ (B|KB); inputs x; outputs logits\n$/);
    const train = await graft(["export", "examples/seed-toy/model.ts", "--train", "sgd:lr=0.1,momentum=0.9", "-o", join(dir, "toy-train.onnx")]);
    expect(train.code).toBe(0);
    expect(train.out).toContain("toy-train.state.safetensors: the starting value of every param and state input\nbefore each step feed sgd.momentum = momentum (compiled 0.9), sgd.one_minus_dampening = 1 − dampening (compiled 0), sgd.lr = lr (lr 0.1)\n");
    expect([...decodeSafetensors(readFileSync(join(dir, "toy-train.state.safetensors"))).tensors.keys()].sort()).toEqual(["W", "b", "sgd.lr", "sgd.momentum", "sgd.momentum_buffer.W", "sgd.momentum_buffer.b", "sgd.one_minus_dampening", "sgd.step"]);
  });
});

/** A python with the onnx package, or undefined. */
const pythonWithOnnx = ["python3", "/usr/bin/python3"].find((python) => spawnSync(python, ["-c", "import onnx"], { stdio: "ignore" }).status === 0);

describe("the ONNX checker (python onnx, full_check)", () => {
  it.runIf(pythonWithOnnx !== undefined)("accepts the exported forward and training steps (the CNN and transformer steps with dropout's integer ops, batch norm's state)", () => {
    const dir = scratch();
    const files: string[] = [];
    const models = { mnist, toy: seedToy, cnn: cnnModel(), transformer: transformerModel() };
    for (const [name, source, options] of [
      ["mnist", "mnist", {}],
      ["mnist-fixed", "mnist", { batch: 32 }],
      ["mnist-adam", "mnist", { train: "adam:lr=1e-3" }],
      ["toy-sgd", "toy", { train: "sgd:lr=0.1,momentum=0.9" }],
      ["cnn", "cnn", {}],
      // python3-onnx 1.12 knows opsets up to 17: the random op's XOR is then the nibble-by-nibble one
      ["cnn-adam", "cnn", { train: "adam:lr=1e-3", opset: 17 }],
      ["transformer", "transformer", {}],
      ["transformer-adam", "transformer", { train: "adam:lr=1e-3", opset: 17 }],
    ] as const) {
      const result = exportOnnx(models[source], options);
      if (E.isLeft(result)) throw new Error(result.left[0]?.message);
      const file = join(dir, `${name}.onnx`);
      writeFileSync(file, result.right.bytes);
      files.push(file);
    }
    const check = spawnSync(pythonWithOnnx ?? "python3", ["-c", "import onnx, sys\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint('ok')", ...files], { encoding: "utf8" });
    expect(check.stderr).toBe("");
    expect(check.stdout).toBe("ok\n");
  });
  it.skipIf(pythonWithOnnx !== undefined)("skipped: no python with the onnx package (Debian: apt-get install python3-onnx)", () => undefined);
});
