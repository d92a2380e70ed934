// Bundle compilation: programs, layouts (batch sizes, other dims), emission (ts-morph source,
// esbuild output with no eval/new Function/imports), sizes, and every compile-time error.
import * as E from "fp-ts/lib/Either.js";
import { crossEntropy, dense, input, matmul, model, mul, orthogonal, param, relu, sum, xavierUniform, type Diagnostics, type Model } from "@graft/core";
import { decodeSafetensors, initValues } from "@graft/runtime";
import { describe, expect, it } from "vitest";
import { bundleModule, bundleProgram, compileBundle, declarationPath, sourcePath, type CompileBundleOptions } from "../src/bundle/index.js";
import { literal } from "../src/bundle/emit.js";
import { compileFixture } from "./fixtures/bundle/harness.js";
import badShapes from "./fixtures/bundle/bad-shapes.js";
import mlp from "./fixtures/bundle/mlp.js";
import sequence from "./fixtures/bundle/sequence.js";

const messages = (diagnostics: Diagnostics): string[] => diagnostics.map((d) => d.message);

/** The messages of a compile that must fail. */
const compileErrors = async (m: Model, options: CompileBundleOptions = {}): Promise<string[]> => {
  const result = await compileBundle(m, options);
  if (E.isRight(result)) throw new Error("expected the compile to fail");
  return messages(result.left);
};

const mnistLike = (): Model => {
  const x = input("x", ["batch", 784]);
  const y = input("y", ["batch"], "i32");
  const h1 = relu(dense(x, 784, 256, "fc1"));
  const h2 = relu(dense(h1, 256, 128, "fc2"));
  const h3 = relu(dense(h2, 128, 64, "fc3"));
  const logits = dense(h3, 64, 10, "fc4");
  return model({ name: "mnist_mlp", outputs: { logits }, loss: crossEntropy(logits, y) });
};

describe("bundle programs and layouts", () => {
  it("forward only by default (no labels needed); forward, trainStep and evaluate with --train", () => {
    const inference = bundleProgram(mlp);
    const training = bundleProgram(mlp, { train: "adam:lr=1e-3" });
    if (E.isLeft(inference) || E.isLeft(training)) throw new Error("expected programs");
    expect(inference.right.spec.functions.map((fn) => fn.name)).toEqual(["forward"]);
    expect(inference.right.optimizer).toBeUndefined();
    expect(training.right.spec.functions.map((fn) => fn.name).sort()).toEqual(["evaluate", "forward", "trainStep"]);
    expect(training.right.optimizer).toBe("adam:lr=0.001,beta1=0.9,beta2=0.999,eps=1e-8,weight_decay=0,amsgrad=false,maximize=false");
    expect(training.right.weights).toEqual(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
  });

  it("defaults to batch 1 for inference bundles and 32 for training bundles", async () => {
    expect((await compileFixture({})).info.batches).toEqual([1]);
    const training = await compileFixture({ train: "sgd:lr=0.1" });
    expect(training.info.batches).toEqual([32]);
    expect(training.info.functions["trainStep"]?.inputs.map((t) => [t.name, t.shape])).toEqual([["x", [32, 6]], ["y", [32]]]);
  });

  it("sizes other symbolic dims with dims (--dim), and fixed-shape models need no batch", async () => {
    const seq = await compileBundle(sequence, { dims: { seq: 5 }, batches: [4] });
    if (E.isLeft(seq)) throw new Error(messages(seq.left).join("\n"));
    expect(seq.right.info.inputs).toEqual([{ name: "x", dtype: "f32", shape: [4, 5], dims: ["batch", "seq"] }]);
    expect(seq.right.info.dims).toEqual({ seq: 5 });
    const fixed = model({ name: "fixed", outputs: { y: mul(input("x", [2, 3]), param("w", [3])) } });
    const compiled = await compileBundle(fixed);
    if (E.isLeft(compiled)) throw new Error(messages(compiled.left).join("\n"));
    expect(compiled.right.info.batches).toEqual([]);
    expect(compiled.right.info.inputs[0]?.shape).toEqual([2, 3]);
  });

  const programErrors: ReadonlyArray<[string, Model, CompileBundleOptions, string[] | RegExp]> = [
    ["a model with nothing but a loss", model({ name: "only_loss", loss: sum(mul(input("x", ["batch", 2]), param("w", [2]))) }), {}, ["model only_loss has no outputs besides its loss; declare what forward returns, e.g. model({ outputs: { logits }, loss })"]],
    ["--train on a model without a loss", sequence, { train: "sgd:lr=0.1", dims: { seq: 2 } }, ["buildTrainingProgram: model sequence has no loss; declare one with model({ outputs, loss })"]],
    ["an unknown optimizer", mlp, { train: "adamax:lr=1" }, [`optimizer "adamax:lr=1": unknown optimizer 'adamax'; expected one of sgd, adam, adamw, rmsprop, adagrad`]],
    ["a bad optimizer option", mlp, { train: "sgd:lr=-1" }, ['optimizer "sgd:lr=-1": sgd: invalid learning rate -1 (expected a finite number ≥ 0)']],
    ["an unsized symbolic dim", sequence, {}, ["model sequence: symbolic dim 'seq' needs a size; pass --dim seq=<size>"]],
    ["an unknown --dim", sequence, { dims: { seq: 2, width: 3 } }, ["--dim width=3: model sequence has no symbolic dim 'width' (its symbolic dims: batch, seq)"]],
    ["--dim batch", sequence, { dims: { seq: 2, batch: 3 } }, ["--dim batch=3: set the batch size with --batch"]],
    ["a dim size of 0", sequence, { dims: { seq: 0 } }, ["--dim seq=0: a dim size must be a positive integer"]],
    ["no batch sizes", mlp, { batches: [] }, ["--batch: give at least one batch size"]],
    ["a batch size of 0", mlp, { batches: [2, 0] }, ["--batch 0: a batch size must be a positive integer"]],
    ["a fractional batch size", mlp, { batches: [1.5] }, ["--batch 1.5: a batch size must be a positive integer"]],
    ["a batch size listed twice", mlp, { batches: [2, 2] }, ["--batch 2,2: a batch size is listed twice"]],
    ["--batch on a fixed-shape model", model({ name: "fixed", outputs: { y: input("x", [2]) } }), { batches: [4] }, ["--batch 4: model fixed has no 'batch' dim in its inputs, so its shapes are fixed; drop --batch"]],
  ];
  it.each(programErrors)("refuses %s", async (_, m, options, expected) => {
    const errors = await compileErrors(m, options);
    if (Array.isArray(expected)) expect(errors).toEqual(expected);
    else expect(errors.join("\n")).toMatch(expected);
  });

  it("refuses a model that does not check, with the user's line", async () => {
    const result = await compileBundle(badShapes);
    expect(E.isLeft(result)).toBe(true);
    if (E.isLeft(result)) {
      expect(result.left[0]?.loc?.file).toMatch(/bad-shapes\.ts$/);
      expect(result.left[0]?.loc?.line).toBe(7);
    }
  });

  it("refuses weights to embed that do not fit, with the file's name", async () => {
    const errors = await compileErrors(mlp, { weights: new Uint8Array(4), weightsSource: "w.safetensors" });
    expect(errors).toEqual(["w.safetensors: file has 4 bytes, fewer than the 8-byte header length that starts every safetensors file"]);
  });
});

describe("bundle emission", () => {
  it("is one ESM file with no imports, no eval and no new Function", async () => {
    const bundle = await compileFixture();
    expect(bundle.code).not.toMatch(/\beval\s*\(/);
    expect(bundle.code).not.toMatch(/new\s+Function/);
    expect(bundle.code).not.toMatch(/\bimport\s*[\s{*"'(]/);
    expect(bundle.code).not.toMatch(/\brequire\s*\(/);
    expect(bundle.code).not.toContain("node:");
    expect(bundle.code).toMatch(/export\s*\{[^}]*\bas load\b[^}]*\}|export\s*\{\s*load\s*\}/);
  });

  it("writes readable, typed TypeScript: kernels as functions headed by their ops, data as literals", async () => {
    const { source } = await compileFixture();
    expect(source).toMatch(/^\/\*\*\n \* graft bundle of model "tiny_mlp": backend js, batch 2, 3, trained with sgd:lr=0\.1,momentum=0\.9,/);
    expect(source).toContain('import { crossEntropy, crossEntropyBackward, matmul } from "@graft/runtime/kernels-js";');
    expect(source).toContain("const lib = { crossEntropy, crossEntropyBackward, matmul };");
    expect(source).toContain("const forwardBatch2Kernels: readonly JsKernel<typeof lib>[] = [\n  // matmul: matmul, add, relu\n  function(F, I, lib) {\n    lib.matmul(");
    expect(source).toContain('inputs: [{ name: "x", dtype: "f32", shape: [2, 6], dims: ["batch", 6] }],');
    expect(source).toContain('forward: (feeds) => model.call("forward", feeds) as ForwardOutputs,');
    expect(source).toContain("export async function load(weights?: WeightsInput, options?: LoadOptions): Promise<GraftModel> {");
  });

  it("leaves unused library kernels and the rest of @graft/core out", async () => {
    const { code } = await compileFixture({});
    expect(code).not.toContain("softmaxRows");
    expect(code).not.toContain("bceLogits");
    expect(code).not.toContain("fp-ts");
    expect(code).toContain("kaiming_uniform");
  });

  // issue 6's target, kept with the runtime's later features (chunking, plain-array feeds, hyper scalars)
  it("keeps the MNIST MLP training bundle within 40 KB minified (weights apart)", async () => {
    const bundle = await compileBundle(mnistLike(), { train: "adam:lr=1e-3" });
    if (E.isLeft(bundle)) throw new Error(messages(bundle.left).join("\n"));
    expect(bundle.right.sizes.weights).toBe(0);
    expect(bundle.right.sizes.code).toBeLessThanOrEqual(40 * 1024);
    expect(bundle.right.sizes.gzip).toBeLessThan(bundle.right.sizes.code);
  });

  it("keeps the MNIST MLP Adam training bundle with WASM kernels within 50 KB minified: one module for every function", async () => {
    const bundle = await compileBundle(mnistLike(), { train: "adam:lr=1e-3", backend: "wasm" });
    if (E.isLeft(bundle)) throw new Error(messages(bundle.left).join("\n"));
    expect(bundle.right.sizes.weights).toBe(0);
    expect(bundle.right.sizes.code).toBeLessThanOrEqual(50 * 1024);
    // one module (forward, evaluate and trainStep are its exports run0, run1, run2)
    expect(bundle.right.source.match(/module: "/g)).toHaveLength(1);
    expect([...bundle.right.source.matchAll(/export: "(run\d+)"/g)].map((match) => match[1])).toEqual(["run0", "run1", "run2"]);
  });

  it("writes state rows as stateEntry calls without their defaults, and info.state read from them equals the layout's", async () => {
    for (const train of ["adam:lr=1e-3", "sgd:lr=0.1,momentum=0.9,weight_decay=0.01"]) {
      const bundle = await compileBundle(mnistLike(), { train });
      if (E.isLeft(bundle)) throw new Error(messages(bundle.left).join("\n"));
      const loaded = (await import(`data:text/javascript,${encodeURIComponent(bundle.right.code)}`)) as { load(): Promise<{ info: unknown }> };
      const { info } = await loaded.load();
      expect(info).toEqual(bundle.right.info);
      expect(bundle.right.info.state.length).toBeGreaterThan(bundle.right.info.weights.length);
    }
    const adam = await compileBundle(mnistLike(), { train: "adam:lr=1e-3" });
    if (E.isLeft(adam)) throw new Error(messages(adam.left).join("\n"));
    expect(adam.right.source).toContain('stateEntry("adam.m.fc1.bias", [256], 48),');
    expect(adam.right.source).toMatch(/stateEntry\("fc1\.weight", \[256, 784\], \d+, \{ kind: "kaiming_uniform", fanIn: 784 \}, true\)/);
    expect(adam.right.source).toContain("...stateInfos([");
  });

  it("holds only the initialisers its params use: nn.Linear's alone, or all of them for an orthogonal or xavier param", async () => {
    const linear = await compileBundle(mnistLike());
    if (E.isLeft(linear)) throw new Error(messages(linear.left).join("\n"));
    expect(linear.right.source).toContain("const model = await modelLoader(basicInitValues)(bundle, loadJsArtifact, weights, options);");
    expect(linear.right.code).not.toContain("orthogonal");
    const x = input("x", ["batch", 4]);
    const special = model({ name: "special", outputs: { y: matmul(matmul(x, param("q", [4, 3], orthogonal(2))), param("g", [3, 2], xavierUniform())) } });
    const bundle = await compileBundle(special);
    if (E.isLeft(bundle)) throw new Error(messages(bundle.left).join("\n"));
    expect(bundle.right.source).toContain("const model = await createModel(bundle, loadJsArtifact, weights, options);");
    const loaded = (await import(`data:text/javascript,${encodeURIComponent(bundle.right.code)}`)) as { load(weights?: undefined, options?: { seed: number }): Promise<{ saveWeights(): Uint8Array }> };
    const saved = decodeSafetensors((await loaded.load(undefined, { seed: 5 })).saveWeights());
    expect([...(saved.tensors.get("q")?.data ?? [])]).toEqual([...Float32Array.from(initValues(orthogonal(2), [4, 3], 5, "q"))]);
    expect([...(saved.tensors.get("g")?.data ?? [])]).toEqual([...Float32Array.from(initValues(xavierUniform(), [3, 2], 5, "g"))]);
  });

  it("bundleModule refuses sources that import core directly or do not embed the given weights", async () => {
    await expect(bundleModule(`import { buildGraph } from "@graft/core";\nexport const f = buildGraph;`)).rejects.toThrow(/@graft\/core may not enter a bundle \(imported by .*bundle\.ts\)/);
    await expect(bundleModule("export const weights = '';", { weights: "AAAA" })).rejects.toThrow("bundleModule: the source does not embed the given weights");
  });

  it("formats literals compactly with identifier keys unquoted", () => {
    expect(literal({ name: "x", shape: [2, 6], "a-b": null, skip: undefined })).toBe('{ name: "x", shape: [2, 6], "a-b": null }');
    expect(literal([Infinity, -Infinity, NaN])).toBe("[Infinity, -Infinity, NaN]");
    expect(literal({ long: "y".repeat(130) })).toBe(`{\nlong: "${"y".repeat(130)}"\n}`);
    expect(literal([])).toBe("[]");
  });

  it("puts the declarations where TypeScript looks for them", () => {
    expect(declarationPath("/out/model.mjs")).toBe("/out/model.d.mts");
    expect(declarationPath("/out/model.js")).toBe("/out/model.d.ts");
    expect(declarationPath("/out/model.cjs")).toBe("/out/model.d.cts");
    expect(declarationPath("/out/model")).toBe("/out/model.d.ts");
    expect(sourcePath("/out/model.mjs")).toBe("/out/model.mts");
    expect(sourcePath("/out/model.js")).toBe("/out/model.ts");
  });
});
