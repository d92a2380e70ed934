/**
 * @file ONNX export: the forward graph of a model (evaluation mode: `forward`, its outputs
 * without the loss) or, with an optimizer, the whole training step as one plain ONNX graph of
 * standard ops. Params are initializers under their safetensors names; in a training step they
 * are graph inputs too (the initializers are their starting values), with the optimizer's state
 * and run-time hyper scalars, and each updated tensor is an output `<name>.new`.
 */
import * as E from "fp-ts/lib/Either.js";
import { error, graphParams, isStaticShape, sizeOf, type Diagnostic, type Diagnostics, type Dtype, type Graph, type Model, type OpName, type TensorType } from "@graft/core";
import { decodeSafetensors, dependsOnStep, encodeSafetensors, initValues, SAFETENSORS_DTYPE, WeightsError, type HyperFormula, type HyperScalar } from "@graft/runtime";
import { parseOptimizer, UPDATE_PREFIX, type Optimizer } from "../optim/index.js";
import { buildProgram, TRAIN_STEP } from "../program/build.js";
import { BATCH_DIM } from "../bundle/layout.js";
import type { ProgramFunction } from "../program/types.js";
import { Emitter, type DimSource } from "./emitter.js";
import { gemmMatches, liveNodes } from "./gemm.js";
import { onnxFusedComposites, onnxTable, type Lowering, type LoweringNode } from "./ops.js";
import { onnx, onnxDataType, tensorProto, type ModelProto, type TensorProto, type ValueInfoProto } from "./proto.js";

/** The opsets graft exports (ONNX domain ""). */
export const MIN_OPSET = 13;
export const MAX_OPSET = 21;
export const DEFAULT_OPSET = 17;
/**
 * The default opset of a function that draws random numbers: BitwiseXor (opset 18) keeps the
 * random op's hash one op per XOR; below, each XOR is computed nibble by nibble (random.ts), which
 * made the transformer's Adam step ~4.5× slower in onnxruntime-node.
 */
export const RANDOM_DEFAULT_OPSET = 18;

/** Names of optimizer state in a checkpoint (`adam.m.fc1.weight`, `sgd.lr`, …). */
const OPTIMIZER_STATE = /^(sgd|adam|adamw|adagrad|rmsprop)\./;

/** The IR version an opset needs (ONNX's versioning table: opset 13–18 → IR 8, 19–20 → 9, 21 → 10). */
const irVersionOf = (opset: number): number => (opset <= 18 ? 8 : opset <= 20 ? 9 : 10);

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** The ONNX opset (default 17, or 18 when the exported function draws random numbers). */
  readonly opset?: number | undefined;
  /** The size of the `batch` dim, or `dynamic` (default): a dynamic ONNX dim named `batch`. */
  readonly batch?: number | "dynamic" | undefined;
  /** safetensors weights for the params (default: their initialisers at `seed`). */
  readonly weights?: Uint8Array | undefined;
  /** The name of the weights, for messages. */
  readonly weightsSource?: string | undefined;
  /** Seed of the initialisers of params the weights do not hold (default 0, as a bundle's load()). */
  readonly seed?: number | undefined;
  /** Export the training step with this optimizer (`adam:lr=1e-3` or an Optimizer). */
  readonly train?: string | Optimizer | undefined;
}

/** An exported model. */
export interface OnnxExport {
  readonly bytes: Uint8Array;
  /** The opset written. */
  readonly opset: number;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** The training step's hyper scalars (inputs the caller computes before each step), when any. */
  readonly hyper: { readonly lr: number; readonly step: string; readonly scalars: readonly HyperScalar[] } | undefined;
  /** A training step's starting state: every param, optimizer-state and hyper-scalar input, as safetensors (undefined for a forward export). */
  readonly initialState: Uint8Array | undefined;
}

const typedArray = (dtype: Dtype, values: ArrayLike<number>): Float32Array | Float64Array | Int32Array | Uint8Array =>
  dtype === "f32" ? Float32Array.from(values) : dtype === "f64" ? Float64Array.from(values) : dtype === "i32" ? Int32Array.from(values) : Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));

/** A hyper scalar's formula as text, with the compiled option values: `lr / (1 − 0.9^t)`, `beta2 (compiled 0.999)`. */
export const formatHyperFormula = (formula: HyperFormula): string => {
  switch (formula.kind) {
    case "lr":
      return "lr";
    case "one_minus_lr_times":
      return `1 − lr·${formula.value}`;
    case "lr_over_bias_correction":
      return `lr / (1 − ${formula.value}^t)`;
    case "sqrt_bias_correction":
      return `√(1 − ${formula.value}^t)`;
    case "lr_decay":
      return `lr / (1 + (t − 1)·${formula.value})`;
    case "option":
      return `${formula.option} (compiled ${formula.value})`;
    case "one_minus_option":
      return `1 − ${formula.option} (compiled ${formula.value})`;
  }
};

/** True when a hyper scalar depends on the step number t. */
export { dependsOnStep };

/** The suffix of an updated tensor's output in an exported training step. */
export const NEW_SUFFIX = ".new";

const fail = (message: string, code = "onnx/export"): E.Either<Diagnostics, never> => E.left([error(code, message)]);

const valueInfo = (name: string, type: TensorType, batch: number | "dynamic"): ValueInfoProto => ({
  name,
  type: {
    tensorType: {
      elemType: onnxDataType(type.dtype),
      shape: { dim: type.shape.map((dim) => (typeof dim === "number" ? { dimValue: dim } : dim === BATCH_DIM && batch !== "dynamic" ? { dimValue: batch } : { dimParam: dim })) },
    },
  },
});

/** The starting values of the params: the weights file where it has them, else their initialisers. */
const paramValues = (graph: Graph, options: OnnxExportOptions, allowed: (name: string) => boolean): E.Either<Diagnostics, Map<string, ArrayLike<number>>> => {
  const values = new Map<string, ArrayLike<number>>();
  const source = options.weightsSource ?? "weights";
  const params = graphParams(graph);
  if (options.weights !== undefined) {
    let decoded;
    try {
      decoded = decodeSafetensors(options.weights, undefined, source);
    } catch (thrown) {
      if (thrown instanceof WeightsError) return fail(thrown.message, "onnx/weights");
      throw thrown;
    }
    const problems: string[] = [];
    for (const [name, tensor] of decoded.tensors) {
      const node = params.find((p) => p.attrs.name === name);
      if (node === undefined) {
        if (!allowed(name)) problems.push(`${source}: '${name}' is not a param of model ${graph.name} (its params: ${params.map((p) => p.attrs.name).join(", ")})`);
        continue;
      }
      const expected = `${node.type.dtype}[${node.type.shape.join(",")}]`;
      const actual = `${tensor.dtype.toLowerCase()}[${tensor.shape.join(",")}]`;
      if (expected !== actual) problems.push(`${source}: '${name}' is ${actual}, expected ${expected}`);
      else values.set(name, tensor.data);
    }
    if (problems.length > 0) return E.left(problems.map((message) => error("onnx/weights", message)));
  }
  for (const node of params) {
    if (values.has(node.attrs.name)) continue;
    if (!isStaticShape(node.type.shape)) return fail(`param ${node.attrs.name} has symbolic shape [${node.type.shape.join(",")}]; ONNX initializers need static shapes`);
    values.set(node.attrs.name, initValues(node.attrs.init, node.type.shape as readonly number[], options.seed ?? 0, node.attrs.name));
  }
  return E.right(values);
};

/** Where each symbolic dim of the graph can be read: the first input that has it. */
const dimSources = (graph: Graph): Map<string, DimSource> => {
  const sources = new Map<string, DimSource>();
  for (const node of graph.nodes)
    if (node.op === "input")
      node.type.shape.forEach((dim, axis) => {
        if (typeof dim === "string" && !sources.has(dim)) sources.set(dim, { input: node.attrs.name, axis });
      });
  return sources;
};

interface Lowered {
  readonly nodes: Emitter["nodes"];
  readonly inputs: ValueInfoProto[];
  readonly outputs: ValueInfoProto[];
  readonly params: readonly { readonly name: string; readonly type: TensorType }[];
}

/** Lowers every node of `fn`'s graph with the mapping table; output `name` is renamed by `outputName`. */
const lowerGraph = (fn: ProgramFunction, opset: number, batch: number | "dynamic", outputName: (name: string) => string): E.Either<Diagnostics, Lowered> => {
  const graph = fn.graph;
  const emitter = new Emitter(opset, dimSources(graph));
  const names: string[] = [];
  const inputs: ValueInfoProto[] = [];
  const params: Array<{ readonly name: string; readonly type: TensorType }> = [];
  const diagnostics: Diagnostic[] = [];
  const gemms = gemmMatches(graph);
  const live = liveNodes(graph, gemms);
  for (const node of graph.nodes) {
    const gemm = gemms.get(node.id);
    if (gemm !== undefined && live.has(node.id)) {
      names.push(emitter.op("Gemm", [names[gemm.a] ?? "", names[gemm.w] ?? "", names[gemm.bias] ?? ""], { transB: 1 }));
      continue;
    }
    if (node.op !== "input" && node.op !== "param" && !live.has(node.id)) {
      names.push("");
      continue;
    }
    if (node.op === "input") {
      names.push(node.attrs.name);
      inputs.push(valueInfo(node.attrs.name, node.type, batch));
      continue;
    }
    if (node.op === "param") {
      names.push(node.attrs.name);
      params.push({ name: node.attrs.name, type: node.type });
      continue;
    }
    const row = onnxTable[node.op] as Lowering<OpName>;
    const lowering: LoweringNode<OpName> = {
      attrs: node.attrs,
      type: node.type,
      inputs: node.inputs.map((id) => names[id] ?? ""),
      inputTypes: node.inputs.map((id) => graph.nodes[id]?.type ?? { shape: [], dtype: "f32" }),
    };
    const lowered = row(emitter, lowering);
    if (E.isLeft(lowered)) {
      diagnostics.push(error("onnx/export", `onnx export: ${node.op} (node %${node.id}): ${lowered.left}`, node.loc));
      names.push("");
    } else names.push(lowered.right);
  }
  if (diagnostics.length > 0) return E.left(diagnostics);
  const taken = new Set([...inputs.map((i) => i.name ?? ""), ...params.map((p) => p.name)]);
  const outputs: ValueInfoProto[] = [];
  for (const output of graph.outputs) {
    const name = outputName(output.name);
    const node = graph.nodes[output.id];
    if (node === undefined) continue;
    if (taken.has(name)) return fail(`onnx export: output '${name}' has the name of an input or param of model ${graph.name}; ONNX value names must be unique, rename it`);
    taken.add(name);
    emitter.op("Identity", [names[output.id] ?? ""], {}, name);
    outputs.push(valueInfo(name, node.type, batch));
  }
  return E.right({ nodes: emitter.nodes, inputs, outputs, params });
};

const parseTrain = (train: string | Optimizer): E.Either<Diagnostics, Optimizer> => (typeof train === "string" ? parseOptimizer(train) : E.right(train));

/**
 * Exports `model` as an ONNX model (ModelProto bytes): the forward graph, or with `train` the
 * training step. Left with the model's diagnostics or why it cannot be exported.
 */
export const exportOnnx = (model: Model | Graph, options: OnnxExportOptions = {}): E.Either<Diagnostics, OnnxExport> => {
  const chosen = options.opset;
  if (chosen !== undefined && (!Number.isInteger(chosen) || chosen < MIN_OPSET || chosen > MAX_OPSET)) return fail(`onnx export: opset ${chosen} is not supported; graft exports opsets ${MIN_OPSET} to ${MAX_OPSET}`, "onnx/opset");
  const batch = options.batch ?? "dynamic";
  if (batch !== "dynamic" && !(Number.isSafeInteger(batch) && batch >= 1)) return fail(`onnx export: batch must be a positive integer or 'dynamic', got ${String(batch)}`, "onnx/batch");
  const optimizer = options.train === undefined ? undefined : parseTrain(options.train);
  if (optimizer !== undefined && E.isLeft(optimizer)) return optimizer;
  const program = buildProgram(model, { optimizer: optimizer?.right, caller: "graft export --train", fused: onnxFusedComposites });
  if (E.isLeft(program)) return program;
  const training = optimizer !== undefined;
  const fn = training ? program.right.spec.functions.find((f) => f.name === TRAIN_STEP) : program.right.spec.functions[0];
  if (fn === undefined) return fail("onnx export: the program has no function to export");
  const opset = chosen ?? (fn.graph.nodes.some((node) => node.op === "random_uniform") ? RANDOM_DEFAULT_OPSET : DEFAULT_OPSET);
  const stateNames = new Set(graphParams(fn.graph).map((p) => p.attrs.name));
  // a forward export reads the params of a checkpoint and leaves its optimizer state
  const values = paramValues(fn.graph, options, (name) => OPTIMIZER_STATE.test(name) || stateNames.has(name));
  if (E.isLeft(values)) return values;
  const hyper = fn.hyper;
  const lowered = lowerGraph(fn, opset, batch, (name) => (name.startsWith(UPDATE_PREFIX) ? `${name.slice(UPDATE_PREFIX.length)}${NEW_SUFFIX}` : name));
  if (E.isLeft(lowered)) return lowered;
  const start = (p: { readonly name: string }): ArrayLike<number> => values.right.get(p.name) ?? [];
  // a training step takes every param and state tensor as an input (runtimes such as
  // onnxruntime-node only feed declared inputs that are not initializers): their starting values
  // come apart, as safetensors
  const initializers: TensorProto[] = training ? [] : lowered.right.params.map((p) => tensorProto(p.name, p.type.dtype, p.type.shape as readonly number[], start(p)));
  const initialState = training
    ? encodeSafetensors(
        [...lowered.right.params]
          .sort((a, b) => (a.type.dtype === "f64" ? 0 : a.type.dtype === "bool" ? 2 : 1) - (b.type.dtype === "f64" ? 0 : b.type.dtype === "bool" ? 2 : 1))
          .map((p) => ({ name: p.name, dtype: SAFETENSORS_DTYPE[p.type.dtype], shape: p.type.shape as readonly number[], data: typedArray(p.type.dtype, start(p)) })),
        hyper === undefined ? { "graft.function": TRAIN_STEP } : { "graft.function": TRAIN_STEP, "graft.hyper": JSON.stringify(hyper) },
      )
    : undefined;
  const inputs = training ? [...lowered.right.inputs, ...lowered.right.params.map((p) => valueInfo(p.name, p.type, batch))] : lowered.right.inputs;
  const metadata = [
    { key: "graft.function", value: training ? TRAIN_STEP : "forward" },
    ...(hyper === undefined ? [] : [{ key: "graft.hyper", value: JSON.stringify(hyper) }]),
  ];
  const graphName = fn.graph.name;
  const doc = training
    ? `graft training step of ${graphName}: feed the inputs and every param/state tensor (starting values: the .state.safetensors written with it), then feed each '<name>${NEW_SUFFIX}' output back as '<name>' for the next step.` +
      (hyper === undefined
        ? ""
        : ` Before each step feed the hyper scalars ${hyper.scalars.map((s) => `${s.param} = ${formatHyperFormula(s.formula)}`).join(", ")}${hyper.scalars.some((s) => dependsOnStep(s.formula)) ? ` with t = ${hyper.step} + 1` : ""} (lr ${hyper.lr}; metadata 'graft.hyper' has them as JSON).`)
    : `graft forward of ${graphName} (evaluation mode)`;
  const modelProto: ModelProto = {
    irVersion: irVersionOf(opset),
    producerName: "graft",
    producerVersion: "0.1.0",
    opsetImport: [{ domain: "", version: opset }],
    docString: doc,
    metadataProps: metadata,
    graph: { name: graphName, node: lowered.right.nodes, initializer: initializers, input: inputs, output: lowered.right.outputs },
  };
  const bytes = onnx.ModelProto.encode(modelProto).finish();
  return E.right({ bytes, opset, inputs: inputs.map((i) => i.name ?? ""), outputs: lowered.right.outputs.map((o) => o.name ?? ""), hyper, initialState });
};
