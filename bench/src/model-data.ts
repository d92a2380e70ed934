/**
 * Shared data of the convolution and whole-model workloads: `conv2d` (one convolution
 * forward) and the train steps of the repository's examples (`cnn_train_step`: the
 * mnist-cnn model, `transformer_train_step`: the transformer model).
 *
 * The model workloads take their architecture and their initial parameters from graft's
 * own model definitions (examples/mnist-cnn/model.ts, examples/transformer/model.ts): the
 * params are graft's seeded initialisation (`initParams`, PyTorch's default init schemes,
 * rounded to float32), stored under their PyTorch names in PyTorch's layout (conv weights
 * `[out, in, kh, kw]`, linear weights `[out, in]`). The peers copy them in (converting to
 * their own layouts outside the timed region), so every system starts from the same numbers.
 */
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, GraftError, graphParams, initParams, type Model } from "@graft/core";
import { cnnModel, CNN_CONFIG } from "../../examples/mnist-cnn/model.js";
import { transformerModel, TRANSFORMER_CONFIG, type TransformerConfig } from "../../examples/transformer/model.js";
import { ADAM, labelsI32, uniformF32, type AdamConfig } from "./data.js";

/** A float32 tensor: row-major data and its shape. */
export interface F32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** `conv2d` forward: x `[n, cin, h, w]`, weight `[cout, cin, k, k]`, bias `[cout]`, stride 1, padding `pad`. */
export interface ConvData {
  readonly kind: "conv";
  readonly n: number;
  readonly cin: number;
  readonly cout: number;
  readonly h: number;
  readonly w: number;
  readonly k: number;
  readonly pad: number;
  /** Uniform in [-1, 1). */
  readonly x: Float32Array;
  /** PyTorch Conv2d init: U(±1/sqrt(cin·k·k)). */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** Elements [from, to) of a param that are not checked, and why. */
export interface UncheckedRange {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

/** Which example model a model workload trains. */
export type ModelName = "cnn" | "transformer";

/**
 * One Adam step of an example model on a fixed batch.
 *
 * `params` holds every float32 param of the model under its PyTorch name (trainable weights
 * and the BatchNorm running statistics), in PyTorch's layout; `trained` lists the ones Adam
 * updates. Integer state (BatchNorm's `num_batches_tracked`) is not shared data: each system
 * keeps its own counter.
 */
export interface ModelData {
  readonly kind: "model";
  readonly model: ModelName;
  readonly batch: number;
  /** Input: cnn f32 `[batch, 1, 28, 28]` in [0, 1); transformer i32 token ids `[batch, context]`. */
  readonly x: Float32Array | Int32Array;
  readonly xShape: readonly number[];
  /** Targets: cnn i32 `[batch]`; transformer i32 `[batch, context]` with -100 where no loss is taken. */
  readonly y: Int32Array;
  readonly yShape: readonly number[];
  /** Initial float32 params by PyTorch name (graft's initialisation, seed 0). */
  readonly params: Readonly<Record<string, F32Tensor>>;
  /** The params Adam updates (the others are BatchNorm running statistics). */
  readonly trained: readonly string[];
  /**
   * Param elements whose change is not checked (their delta counts as 0 in the checksums), with
   * the reason. All are elements whose exact gradient is 0, so what Adam does with them is
   * float32 rounding noise divided by its own magnitude: steps of ~lr with arbitrary signs,
   * different on every system. A conv bias followed by a training-mode BatchNorm (the batch
   * mean subtracts it); the key part of an attention's in_proj_bias (q·(k + b) adds the same
   * q·b to every score of a query, which the softmax cancels).
   */
  readonly unchecked: Readonly<Record<string, UncheckedRange>>;
  /** Dropout probability of the timed steps (the example's); checks use dropout 0. */
  readonly dropout: number;
  readonly adam: AdamConfig;
  /** The transformer's architecture (transformer data only). */
  readonly transformer?: TransformerConfig;
}

/** The conv2d case's data (seeded, deterministic). */
export function makeConvData(n: number, cin: number, cout: number, size: number, k: number, pad: number): ConvData {
  const bound = 1 / Math.sqrt(cin * k * k);
  const tag = `${n}x${cin}x${size}x${size}/${cout}x${k}x${k}`;
  return {
    kind: "conv",
    n,
    cin,
    cout,
    h: size,
    w: size,
    k,
    pad,
    x: uniformF32(`conv/x/${tag}`, n * cin * size * size, -1, 1),
    weight: uniformF32(`conv/w/${tag}`, cout * cin * k * k, -bound, bound),
    bias: uniformF32(`conv/b/${tag}`, cout, -bound, bound),
  };
}

/** The example model of the data, with dropout `dropout` (0 removes the dropout ops). */
export function exampleModel(d: ModelData, dropout: number): Model {
  return d.model === "cnn" ? cnnModel({ dropout }) : transformerModel({ ...transformerConfig(d), dropout });
}

/** The transformer architecture of transformer data (an error for other data). */
export function transformerConfig(d: ModelData): TransformerConfig {
  if (d.transformer === undefined) throw new Error(`${d.model} data has no transformer config`);
  return d.transformer;
}

/** The float params of a model as graft initialises them (seed 0), rounded to float32; and the trained ones. */
function initialParams(model: Model, seed: number): { params: Record<string, F32Tensor>; trained: string[] } {
  const built = buildGraph(model);
  if (E.isLeft(built)) throw new GraftError(built.left);
  const graph = built.right;
  const values = initParams(graph, seed);
  const params: Record<string, F32Tensor> = {};
  const trained: string[] = [];
  for (const node of graphParams(graph)) {
    const name = node.attrs.name;
    const value = values[name];
    if (value === undefined || node.type.dtype !== "f32") continue;
    params[name] = { shape: value.shape, data: Float32Array.from(value.data) };
    if (!name.endsWith(".running_mean") && !name.endsWith(".running_var")) trained.push(name);
  }
  return { params, trained };
}

/** `cnn_train_step` data: seeded images in [0, 1) and labels, the mnist-cnn model's initial params. */
export function makeCnnData(batch: number): ModelData {
  const { params, trained } = initialParams(cnnModel({ dropout: 0 }), 0);
  const side = CNN_CONFIG.image;
  return {
    kind: "model",
    model: "cnn",
    batch,
    x: uniformF32(`cnn/x/${batch}`, batch * side * side, 0, 1),
    xShape: [batch, 1, side, side],
    y: labelsI32(`cnn/y/${batch}`, batch, CNN_CONFIG.classes),
    yShape: [batch],
    params,
    trained,
    unchecked: Object.fromEntries(
      ["conv1.bias", "conv2.bias"].map((name) => [
        name,
        { from: 0, to: params[name]?.data.length ?? 0, reason: "a conv bias before a training-mode BatchNorm: exact gradient 0" },
      ]),
    ),
    dropout: CNN_CONFIG.dropout,
    adam: ADAM,
  };
}

/**
 * `transformer_train_step` data, shaped like the example's task: random token ids, and
 * targets that are -100 (no loss) on the first half of every sequence, random digits (not
 * the separator, the last token id) on the second half.
 */
export function makeTransformerData(batch: number, config: TransformerConfig = TRANSFORMER_CONFIG): ModelData {
  const { params, trained } = initialParams(transformerModel({ ...config, dropout: 0 }), 0);
  const { vocab, context } = config;
  const tokens = labelsI32(`transformer/x/${batch}`, batch * context, vocab);
  const digits = labelsI32(`transformer/y/${batch}`, batch * context, vocab - 1);
  const y = digits.map((d, i) => (i % context < context / 2 ? -100 : d));
  return {
    kind: "model",
    model: "transformer",
    batch,
    x: tokens,
    xShape: [batch, context],
    y,
    yShape: [batch, context],
    params,
    trained,
    unchecked: Object.fromEntries(
      Array.from({ length: config.layers }, (_, i) => [
        `blocks.${i}.attn.in_proj_bias`,
        { from: config.width, to: 2 * config.width, reason: "the key bias of attention: exact gradient 0 (the softmax cancels it)" },
      ]),
    ),
    dropout: config.dropout,
    adam: ADAM,
    transformer: config,
  };
}

/** A param of the model data, or an error naming it. */
export function paramOf(d: ModelData, name: string): F32Tensor {
  const p = d.params[name];
  if (p === undefined) throw new Error(`${d.model} data has no param ${name} (has ${Object.keys(d.params).join(", ")})`);
  return p;
}
