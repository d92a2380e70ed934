// ONNX import: a PyTorch-exported MLP (fixture made by make_fixtures.py with torch.onnx.export)
// and two CNNs (Conv, pooling, BatchNormalization, Pad) import, compile to a bundle and reproduce
// PyTorch's outputs; through the CLI too. Unsupported ops and malformed files are refused with clear
// messages.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { check, formatDiagnostics, fromNested, initParams, run, type Model } from "@graft/core";
import { decodeSafetensors } from "@graft/runtime";
import { afterAll, describe, expect, it } from "vitest";
import blobs from "../../../../examples/blobs/model.js";
import { compileBundle } from "../../src/bundle/index.js";
import { main, type CliIo } from "../../src/cli.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { onnx, type TensorProto } from "../../src/onnx/proto.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../../..");
const fixtures = join(here, "../fixtures/onnx");
const expected = JSON.parse(readFileSync(join(fixtures, "mlp.expected.json"), "utf8")) as { x: { shape: number[]; data: number[] }; y: { shape: number[]; data: number[] } };

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
/** A scratch folder inside the workspace, so that a written model file resolves @graft/core. */
const scratch = (): string => {
  const dir = mkdtempSync(join(here, "../../.tmp-onnx-"));
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

const expectClose = (actual: ArrayLike<number>, want: ArrayLike<number>, rtol: number): void => {
  expect(actual.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs((actual[i] as number) - (want[i] as number)), `element ${i}: ${actual[i]} vs ${want[i]}`).toBeLessThanOrEqual(rtol * Math.abs(want[i] as number) + 1e-7);
};

type Load = (weights?: unknown) => Promise<{ forward(feeds: Record<string, unknown>): Record<string, Float32Array> }>;

describe("graft import of PyTorch-exported models", () => {
  it("imports the MLP (Flatten, Gemm, Tanh, Relu, Sigmoid, Mul, Sub, Softmax) and its bundle reproduces PyTorch's outputs within 1e-5", async () => {
    const imported = importOnnx(readFileSync(join(fixtures, "mlp.onnx")), { source: "mlp.onnx" });
    if (E.isLeft(imported)) throw new Error(formatDiagnostics(imported.left));
    expect([...decodeSafetensors(imported.right.weights).tensors.keys()].sort()).toEqual(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight"]);
    expect(imported.right.source).toContain('const fc1_weight = param("fc1.weight", [16,6], zeros);');
    expect(imported.right.source).toContain('const x = input("x", ["batch",3,2]);');
    const bundle = await compileBundle(imported.right.model, { batches: [5], weights: imported.right.weights });
    if (E.isLeft(bundle)) throw new Error(formatDiagnostics(bundle.left));
    const dir = scratch();
    writeFileSync(join(dir, "mlp.mjs"), bundle.right.code);
    const m = await ((await import(/* @vite-ignore */ pathToFileURL(join(dir, "mlp.mjs")).href)) as { load: Load }).load();
    expectClose(m.forward({ x: Float32Array.from(expected.x.data) }).y ?? [], expected.y.data, 1e-5);
  });

  it("graft import writes model.ts and model.safetensors; graft compile bundles them; the bundle matches PyTorch", async () => {
    const dir = scratch();
    const rel = relative(root, dir);
    const imported = await graft(["import", "packages/compiler/test/fixtures/onnx/mlp.onnx", "-o", `${rel}/mlp.ts`]);
    expect(imported.err).toBe("");
    expect(imported.code).toBe(0);
    expect(imported.out).toBe(`${rel}/mlp.ts: model torch_jit (outputs y)\n${rel}/mlp.safetensors: its weights\nbundle it: graft compile ${rel}/mlp.ts --weights ${rel}/mlp.safetensors -o model.mjs\n`);
    const compiled = await graft(["compile", `${rel}/mlp.ts`, "--weights", `${rel}/mlp.safetensors`, "--batch", "5", "-o", `${rel}/mlp.mjs`]);
    expect(compiled.err).toBe("");
    expect(compiled.code).toBe(0);
    const m = await ((await import(/* @vite-ignore */ pathToFileURL(join(dir, "mlp.mjs")).href)) as { load: Load }).load();
    expectClose(m.forward({ x: Float32Array.from(expected.x.data) }).y ?? [], expected.y.data, 1e-5);
  });

  const cnnCases = [
    { name: "cnn", covers: "Conv with padding, Relu, MaxPool, Flatten, Gemm", params: ["conv.bias", "conv.weight", "fc.bias", "fc.weight"] },
    {
      name: "cnn2",
      covers: "BatchNormalization (eval), strided grouped and dilated Convs, padded MaxPool, ceil_mode MaxPool, AveragePool both count_include_pad ways, Pad, GlobalAveragePool, Concat",
      params: ["bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.weight", "conv2.bias", "conv2.weight", "conv3.weight", "fc.bias", "fc.weight", "onnx::Conv_38", "onnx::Conv_39"],
    },
  ];
  for (const { name, covers, params } of cnnCases)
    it(`imports the PyTorch CNN ${name}.onnx (${covers}) and its bundle reproduces PyTorch's outputs within 1e-5`, async () => {
      const want = JSON.parse(readFileSync(join(fixtures, `${name}.expected.json`), "utf8")) as typeof expected;
      const imported = importOnnx(readFileSync(join(fixtures, `${name}.onnx`)), { source: `${name}.onnx` });
      if (E.isLeft(imported)) throw new Error(formatDiagnostics(imported.left));
      expect([...decodeSafetensors(imported.right.weights).tensors.keys()].sort()).toEqual(params);
      const batch = want.x.shape[0] ?? 0;
      const bundle = await compileBundle(imported.right.model, { batches: [batch], weights: imported.right.weights });
      if (E.isLeft(bundle)) throw new Error(formatDiagnostics(bundle.left));
      const dir = scratch();
      writeFileSync(join(dir, `${name}.mjs`), bundle.right.code);
      const m = await ((await import(/* @vite-ignore */ pathToFileURL(join(dir, `${name}.mjs`)).href)) as { load: Load }).load();
      const y = m.forward({ x: Float32Array.from(want.x.data) }).y ?? [];
      expect(y.length).toBe(want.y.data.length);
      expectClose(y, want.y.data, 1e-5);
    });

  const cliSources: Record<string, RegExp[]> = {
    cnn: [/conv2d\(x, conv_weight, conv_bias, \{"stride":\[1,1\],"dilation":\[1,1\],"padding":\[1,1,1,1\],"groups":1\}\)/, /maxPool2d\(v\w*, \[2,2\], \{"stride":\[2,2\],"padding":\[0,0\],"dilation":\[1,1\],"ceilMode":false\}\)/],
    // conv3 has no bias: the written call passes undefined for it
    cnn2: [/conv2d\(v\w*, conv3_weight, undefined, \{"stride":\[1,1\],"dilation":\[2,2\],"padding":\[0,0,0,0\],"groups":1\}\)/, /padDims\(v\w*, \[0,0,1,1\], \[0,0,1,1\], \{"mode":"constant","value":0\}\)/],
  };
  for (const [name, patterns] of Object.entries(cliSources))
    it(`graft import of ${name}.onnx writes a model file with conv/pool calls; graft compile bundles it; the bundle matches PyTorch`, async () => {
      const want = JSON.parse(readFileSync(join(fixtures, `${name}.expected.json`), "utf8")) as typeof expected;
      const dir = scratch();
      const rel = relative(root, dir);
      const imported = await graft(["import", `packages/compiler/test/fixtures/onnx/${name}.onnx`, "-o", `${rel}/${name}.ts`]);
      expect(imported.err).toBe("");
      expect(imported.code).toBe(0);
      const source = readFileSync(join(dir, `${name}.ts`), "utf8");
      for (const pattern of patterns) expect(source).toMatch(pattern);
      const compiled = await graft(["compile", `${rel}/${name}.ts`, "--weights", `${rel}/${name}.safetensors`, "--batch", "3", "-o", `${rel}/${name}.mjs`]);
      expect(compiled.err).toBe("");
      expect(compiled.code).toBe(0);
      const m = await ((await import(/* @vite-ignore */ pathToFileURL(join(dir, `${name}.mjs`)).href)) as { load: Load }).load();
      expectClose(m.forward({ x: Float32Array.from(want.x.data) }).y ?? [], want.y.data, 1e-5);
    });

  it("an op graft does not have: one message listing every unsupported op with its node name, exit 1, nothing written", async () => {
    const dir = scratch();
    const rel = relative(root, dir);
    const bytes = onnx.ModelProto.encode({
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        name: "lrn",
        node: [
          { opType: "LRN", name: "/norm/LRN", input: ["x"], output: ["n"], attribute: [{ name: "size", type: onnx.AttributeProto.AttributeType.INT, i: 3 }] },
          { opType: "Relu", name: "/Relu", input: ["n"], output: ["r"] },
          { opType: "Einsum", name: "/Einsum", input: ["r", "r"], output: ["y"] },
        ],
        input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "batch" }, { dimValue: 2 }, { dimValue: 3 }, { dimValue: 3 }] } } } }],
        output: [{ name: "y" }],
      },
    }).finish();
    writeFileSync(join(dir, "lrn.onnx"), bytes);
    const result = await graft(["import", `${rel}/lrn.onnx`, "-o", `${rel}/lrn.ts`]);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`${rel}/lrn.onnx: 2 nodes with ONNX ops graft does not have: LRN (node '/norm/LRN'), Einsum (node '/Einsum'). graft reads: Constant, Identity,`);
    expect(result.err).toContain(`graft import: ${rel}/lrn.onnx: nothing written\n`);
    expect(() => readFileSync(join(dir, "lrn.ts"))).toThrow();
  });

  it("Conv, pools, BatchNormalization and Pad refuse what graft cannot compute, naming the node and the reason", () => {
    const { INT, INTS, STRING } = onnx.AttributeProto.AttributeType;
    const ints = (name: string, values: number[]) => ({ name, type: INTS, ints: values });
    const int = (name: string, value: number) => ({ name, type: INT, i: value });
    const text = (name: string, value: string) => ({ name, type: STRING, s: new TextEncoder().encode(value) });
    const f32 = (name: string, dims: number[]): TensorProto => ({ name, dataType: 1, dims, floatData: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => 1) });
    const single = (opType: string, inputs: string[], outputs: string[], attribute: object[], initializer: TensorProto[] = [], rank = 4): string => {
      const bytes = onnx.ModelProto.encode({
        opsetImport: [{ domain: "", version: 13 }],
        graph: {
          name: "one",
          node: [{ opType, name: "n", input: inputs, output: outputs, attribute }],
          initializer,
          input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "batch" }, { dimValue: 2 }, { dimValue: 4 }, { dimValue: 4 }].slice(0, rank) } } } }],
          output: [{ name: outputs[0] }],
        },
      }).finish();
      const imported = importOnnx(bytes, { source: "m.onnx" });
      return E.isLeft(imported) ? (imported.left[0]?.message ?? "") : "imported";
    };
    const w = f32("w", [3, 2, 3, 3]);
    expect(single("Conv", ["x", "w"], ["y"], [text("auto_pad", "SAME_UPPER")], [w])).toBe(
      "m.onnx: Conv (node 'n'): auto_pad SAME_UPPER is not supported (graft reads NOTSET with explicit pads, and VALID); re-export with explicit padding",
    );
    expect(single("Conv", ["x", "w"], ["y"], [text("auto_pad", "VALID"), ints("pads", [1, 1, 1, 1])], [w])).toBe("imported");
    expect(single("Conv", ["x", "w"], ["y"], [], [f32("w", [3, 2, 3])], 3)).toBe("m.onnx: Conv (node 'n'): graft imports it for 4-D inputs [N,C,H,W]; input 'x' has rank 3");
    expect(single("Conv", ["x", "w"], ["y"], [int("group", 2)], [w])).toMatch(/^m\.onnx: Conv \(node 'n'\): conv2d: /);
    expect(single("MaxPool", ["x"], ["y", "indices"], [ints("kernel_shape", [2, 2])])).toBe("m.onnx: MaxPool (node 'n'): graft computes only its first output (its Indices are not supported)");
    expect(single("MaxPool", ["x"], ["y"], [ints("kernel_shape", [2, 2]), ints("pads", [0, 0, 1, 1])])).toBe(
      "m.onnx: MaxPool (node 'n'): asymmetric pads [0,0,1,1] (top, left, bottom, right): graft's pools pad both sides of a dim the same",
    );
    expect(single("MaxPool", ["x"], ["y"], [ints("kernel_shape", [2])])).toBe("m.onnx: MaxPool (node 'n'): expected a 2-D kernel_shape, got [2]");
    expect(single("MaxPool", ["x"], ["y"], [ints("kernel_shape", [2, 2]), ints("strides", [2])])).toBe("m.onnx: MaxPool (node 'n'): expected 2 strides, got [2]");
    expect(single("AveragePool", ["x"], ["y"], [ints("kernel_shape", [2, 2]), ints("dilations", [2, 2])])).toBe("m.onnx: AveragePool (node 'n'): dilations [2,2]: graft's avgPool2d has no dilation");
    expect(single("GlobalAveragePool", ["x"], ["y"], [], [], 3)).toBe("m.onnx: GlobalAveragePool (node 'n'): graft imports it for 4-D inputs [N,C,H,W]; got rank 3");
    const bn = ["scale", "b", "mean", "var"].map((name) => f32(name, [2]));
    expect(single("BatchNormalization", ["x", "scale", "b", "mean", "var"], ["y", "running_mean", "running_var"], [], bn)).toBe(
      "m.onnx: BatchNormalization (node 'n'): graft computes only its first output (the running mean and variance outputs of training mode are not supported)",
    );
    expect(single("BatchNormalization", ["x", "scale", "b", "mean", "var"], ["y"], [int("training_mode", 1)], bn)).toBe(
      "m.onnx: BatchNormalization (node 'n'): training_mode 1 is not supported (graft imports the inference form)",
    );
    expect(single("BatchNormalization", ["x", "scale", "b", "mean", "var"], ["y"], [], [...bn.slice(0, 2), f32("mean", [3]), bn[3] ?? f32("var", [2])])).toMatch(/^m\.onnx: BatchNormalization \(node 'n'\): sub: /);
    const pads = (values: number[]): TensorProto => ({ name: "pads", dataType: 7, dims: [values.length], rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    expect(single("Pad", ["x", "pads"], ["y"], [text("mode", "wrap")], [pads([0, 0, 1, 1, 0, 0, 1, 1])])).toBe("m.onnx: Pad (node 'n'): mode wrap is not supported (graft pads constant, reflect and edge)");
    expect(single("Pad", ["x", "pads"], ["y"], [], [pads([1, 1])])).toBe("m.onnx: Pad (node 'n'): expected 8 pads for a rank-4 input, got [1,1]");
    expect(single("Pad", ["x", "pads"], ["y"], [text("mode", "edge")], [pads([0, 0, 1, 1, 0, 0, 1, 1])])).toBe("imported");
  });

  it("BatchNormalization and Pad compute ONNX's semantics in graft's interpreter", () => {
    const tensor = (name: string, values: number[]): TensorProto => ({ name, dataType: 1, dims: [values.length], floatData: values });
    const bytes = onnx.ModelProto.encode({
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        name: "bn",
        node: [
          { opType: "BatchNormalization", name: "bn", input: ["x", "scale", "b", "mean", "var"], output: ["n"], attribute: [{ name: "epsilon", type: onnx.AttributeProto.AttributeType.FLOAT, f: 0.5 }] },
          { opType: "Pad", name: "pad", input: ["n", "pads", "value"], output: ["y"] },
        ],
        initializer: [
          tensor("scale", [2, 3]),
          tensor("b", [1, -1]),
          tensor("mean", [0.5, 2]),
          tensor("var", [3.5, 1.5]),
          { name: "pads", dataType: 7, dims: [6], rawData: new Uint8Array(BigInt64Array.from([0n, 0n, 1n, 0n, 0n, 0n]).buffer) },
          { name: "value", dataType: 1, dims: [], floatData: [7] },
        ],
        input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "batch" }, { dimValue: 2 }, { dimValue: 2 }] } } } }],
        output: [{ name: "y" }],
      },
    }).finish();
    const imported = importOnnx(bytes, { source: "bn.onnx" });
    if (E.isLeft(imported)) throw new Error(formatDiagnostics(imported.left));
    const graph = check(imported.right.model);
    if (E.isLeft(graph)) throw new Error(formatDiagnostics(graph.left));
    const params = Object.fromEntries([...decodeSafetensors(imported.right.weights).tensors].map(([name, t]) => [name, { shape: [...t.shape], dtype: "f32" as const, data: Float64Array.from(t.data) }]));
    const y = run(graph.right, { x: fromNested([[[2.5, -1.5], [4, 0]]], "f32") }, params).y;
    expect(y?.shape).toEqual([1, 2, 3]);
    // channel 0: (x − 0.5) / sqrt(4) · 2 + 1; channel 1: (x − 2) / sqrt(2) · 3 − 1; the last dim padded before with 7
    expectClose(y?.data ?? [], [7, 3, -1, 7, 3 * Math.SQRT2 - 1, -3 * Math.SQRT2 - 1], 1e-6);
  });

  it("malformed files: not protobuf, no graph, a missing file", async () => {
    const garbage = importOnnx(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]), { source: "bad.onnx" });
    expect(E.isLeft(garbage) && garbage.left[0]?.message).toMatch(/^bad\.onnx: not an ONNX model \(protobuf decoding failed: .+\)$/);
    const empty = importOnnx(new Uint8Array(0), { source: "empty.onnx" });
    expect(E.isLeft(empty) && empty.left[0]?.message).toBe("empty.onnx: not an ONNX model (no graph with nodes and outputs)");
    const badInitializer = onnx.ModelProto.encode({
      graph: { name: "g", node: [{ opType: "Relu", input: ["w"], output: ["y"] }], initializer: [{ name: "w", dataType: 1, dims: [4], rawData: new Uint8Array(3) }], output: [{ name: "y" }] },
    }).finish();
    const truncated = importOnnx(badInitializer, { source: "w.onnx" });
    expect(E.isLeft(truncated) && truncated.left[0]?.message).toBe("w.onnx: initializer 'w': its raw data has 3 bytes, expected 16 for dims [4]");
    const dangling = importOnnx(onnx.ModelProto.encode({ graph: { name: "g", node: [{ opType: "Relu", name: "r", input: ["nowhere"], output: ["y"] }], output: [{ name: "y" }] } }).finish(), { source: "d.onnx" });
    expect(E.isLeft(dangling) && dangling.left[0]?.message).toBe("d.onnx: Relu (node 'r'): its input 'nowhere' is not produced by any node, input or initializer");
    const cli = await graft(["import", "packages/compiler/test/fixtures/onnx/missing.onnx", "-o", "x.ts"]);
    expect(cli.code).toBe(2);
    expect(cli.err).toMatch(/^graft import: cannot read packages\/compiler\/test\/fixtures\/onnx\/missing\.onnx: ENOENT/);
    const dir = scratch();
    writeFileSync(join(dir, "bad.onnx"), Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    const cliBad = await graft(["import", `${relative(root, dir)}/bad.onnx`, "-o", `${relative(root, dir)}/bad.ts`]);
    expect(cliBad.code).toBe(2);
    expect(cliBad.err).toContain("not an ONNX model (protobuf decoding failed:");
  });

  it("opset < 13 Softmax: the last axis imports, another axis of a higher-rank input is refused with the reason", () => {
    const softmaxModel = (rank: number, opset: number): Uint8Array =>
      onnx.ModelProto.encode({
        opsetImport: [{ domain: "", version: opset }],
        graph: {
          name: "s",
          node: [{ opType: "Softmax", name: "sm", input: ["x"], output: ["y"], attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }],
          input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "batch" }, ...Array.from({ length: rank - 1 }, () => ({ dimValue: 3 }))] } } } }],
          output: [{ name: "y" }],
        },
      }).finish();
    expect(E.isRight(importOnnx(softmaxModel(2, 11)))).toBe(true);
    expect(E.isRight(importOnnx(softmaxModel(3, 13)))).toBe(true);
    const old = importOnnx(softmaxModel(3, 11), { source: "old.onnx" });
    expect(E.isLeft(old) && old.left[0]?.message).toBe(
      "old.onnx: Softmax (node 'sm'): before opset 13 it normalises over the input flattened at axis 1, which graft does not do for a rank-3 input; re-export with opset_version=13 or later",
    );
  });

  it("Slice (PyTorch's INT64_MAX end, a step) and Concat import as graft's slice and concat", () => {
    const int64s = (name: string, values: bigint[]): TensorProto => ({ name, dataType: 7, dims: [values.length], rawData: new Uint8Array(BigInt64Array.from(values).buffer) });
    const bytes = onnx.ModelProto.encode({
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        name: "sc",
        node: [
          { opType: "Slice", name: "s", input: ["x", "starts", "ends", "axes", "steps"], output: ["sliced"] },
          { opType: "Concat", name: "c", input: ["sliced", "x"], output: ["y"], attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
        ],
        initializer: [int64s("starts", [1n]), int64s("ends", [9223372036854775807n]), int64s("axes", [1n]), int64s("steps", [2n])],
        input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "batch" }, { dimValue: 6 }] } } } }],
        output: [{ name: "y" }],
      },
    }).finish();
    const imported = importOnnx(bytes, { source: "sc.onnx" });
    if (E.isLeft(imported)) throw new Error(formatDiagnostics(imported.left));
    expect(imported.right.source).toContain('slice(x, [{"dim":1,"start":1,"stop":9007199254740991,"step":2}])');
    expect(imported.right.source).toMatch(/concat\(\[v, x\], 1\)/);
    const graph = check(imported.right.model);
    if (E.isLeft(graph)) throw new Error(formatDiagnostics(graph.left));
    const x = [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]];
    expect(Array.from(run(graph.right, { x: fromNested(x, "f32") }, {}).y?.data ?? [])).toEqual([1, 3, 5, 0, 1, 2, 3, 4, 5, 7, 9, 11, 6, 7, 8, 9, 10, 11]);
  });

  it("graft's own export imports back: the blobs MLP round-trips to the same outputs", () => {
    const exported = exportOnnx(blobs, {});
    if (E.isLeft(exported)) throw new Error(formatDiagnostics(exported.left));
    const imported = importOnnx(exported.right.bytes, { source: "blobs.onnx" });
    if (E.isLeft(imported)) throw new Error(formatDiagnostics(imported.left));
    const outputsOf = (m: Model, params: ReturnType<typeof initParams>, labels = false): number[] => {
      const graph = check(m);
      if (E.isLeft(graph)) throw new Error(formatDiagnostics(graph.left));
      return Array.from(run(graph.right, { x: fromNested([[0.5, -1], [2, 0.25], [-0.75, 1.5]], "f32"), ...(labels ? { y: fromNested([0, 1, 2], "i32") } : {}) }, params).logits?.data ?? []);
    };
    const original = check(blobs);
    if (E.isLeft(original)) throw new Error(formatDiagnostics(original.left));
    const params = initParams(original.right, 0);
    const weights = Object.fromEntries([...decodeSafetensors(imported.right.weights).tensors].map(([name, t]) => [name, { shape: [...t.shape], dtype: "f32" as const, data: Float64Array.from(t.data) }]));
    expect(Object.keys(weights).sort()).toEqual(Object.keys(params).sort());
    expectClose(outputsOf(imported.right.model, weights), outputsOf(blobs, params, true), 1e-6);
  });
});
