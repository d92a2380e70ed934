/**
 * @file ONNX import: an ONNX model (as `torch.onnx.export` writes it, for the ops graft has)
 * becomes a graft model — built in memory, and as the source of a model file (`model.ts`) —
 * plus its weights as safetensors under the initializers' names, so that
 * `graft compile model.ts --weights model.safetensors` makes a standalone bundle of it.
 *
 * One table row per ONNX op (`importTable`); every node whose op has no row is reported in one
 * message with its node name. Every graft call is made once in memory (shapes and dtypes are
 * checked by graft's own rules) and written once as source, by the same `call`.
 */
import * as E from "fp-ts/lib/Either.js";
import * as core from "@graft/core";
import { buildGraph, error, formatDiagnostics, isTensor, type Diagnostics, type Dim, type Dtype, type Model, type Shape, type Tensor } from "@graft/core";
import { encodeSafetensors, SAFETENSORS_DTYPE, type SafetensorsTensorInput } from "@graft/runtime";
import { DATA_TYPE, graftDtype, onnx, tensorValues, toNumber, type AttributeProto, type NodeProto, type TensorProto } from "./proto.js";

/** An imported model. */
export interface OnnxImport {
  readonly model: Model;
  /** The TypeScript model file. */
  readonly source: string;
  /** The params' values (safetensors, under the ONNX initializer names). */
  readonly weights: Uint8Array;
}

/** Options of {@link importOnnx}. */
export interface OnnxImportOptions {
  /** The file's name, for messages and the generated header (default `model.onnx`). */
  readonly source?: string | undefined;
  /** The weights file the generated header tells `graft compile` to use (default `model.safetensors`). */
  readonly weightsFile?: string | undefined;
}

/** A value of the ONNX graph: a graft tensor and the variable that holds it in the source. */
interface Value {
  readonly tensor: Tensor;
  readonly expr: string;
}

/** A value known when importing (initializer or Constant): its numbers and dims. */
interface Known {
  readonly values: Float64Array;
  readonly dims: number[];
  readonly dataType: number;
}

/** A literal argument of a graft call, written as JSON. */
interface Literal {
  readonly literal: unknown;
}
/** A list of graft values (concat's tensors). */
interface ValueList {
  readonly list: readonly Value[];
}
type Arg = Value | Literal | ValueList;
const lit = (literal: unknown): Literal => ({ literal });

const attr = (node: NodeProto, name: string): AttributeProto | undefined => (node.attribute ?? []).find((a) => a.name === name);
const intAttr = (node: NodeProto, name: string, fallback: number): number => {
  const found = attr(node, name);
  return found === undefined ? fallback : toNumber(found.i);
};
const floatAttr = (node: NodeProto, name: string, fallback: number): number => attr(node, name)?.f ?? fallback;
const intsAttr = (node: NodeProto, name: string): number[] | undefined => {
  const found = attr(node, name);
  return found === undefined ? undefined : (found.ints ?? []).map((v) => toNumber(v));
};

/** The context a row converts one node in. */
export interface ImportContext {
  /** The graft value of input `index` of the node (a known value becomes a param or a scalar). */
  readonly value: (index: number) => E.Either<string, Value>;
  /** The known numbers of input `index` (shapes, axes), undefined when it is computed. */
  readonly known: (index: number) => Known | undefined;
  /** True when the node has input `index`. */
  readonly has: (index: number) => boolean;
  /** Calls graft function `fn` with `args` (in memory and in the source). */
  readonly call: (fn: string, ...args: Arg[]) => E.Either<string, Value>;
  /** The model's opset of the default ONNX domain. */
  readonly opset: number;
}

type Row = (context: ImportContext, node: NodeProto) => E.Either<string, Value>;

const chain2 = (a: E.Either<string, Value>, b: E.Either<string, Value>, f: (a: Value, b: Value) => E.Either<string, Value>): E.Either<string, Value> =>
  E.isLeft(a) ? a : E.isLeft(b) ? b : f(a.right, b.right);

const unaryRow =
  (fn: string): Row =>
  (context) =>
    E.chain((x: Value) => context.call(fn, x))(context.value(0));
const binaryRow =
  (fn: string): Row =>
  (context) =>
    chain2(context.value(0), context.value(1), (a, b) => context.call(fn, a, b));

/** Normalises an axis against a rank. */
const axisIn = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** The static product of dims, or undefined when one is symbolic. */
const product = (dims: readonly Dim[]): number | undefined => (dims.every((d) => typeof d === "number") ? (dims as number[]).reduce((a, b) => a * b, 1) : undefined);

/** ONNX Reshape's target (0 copies a dim, −1 is inferred) against graft's symbolic shape. */
const reshapeTarget = (input: Shape, target: readonly number[], allowZero: boolean): E.Either<string, Dim[]> => {
  const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? (input[i] ?? 0) : d));
  const inferred = out.indexOf(-1);
  if (inferred < 0) return E.right(out);
  const rest = out.filter((_, i) => i !== inferred);
  const symbols = input.filter((d): d is string => typeof d === "string");
  const restSymbols = rest.filter((d): d is string => typeof d === "string");
  const staticIn = product(input.filter((d) => typeof d === "number"));
  const staticRest = product(rest.filter((d) => typeof d === "number"));
  if (staticIn === undefined || staticRest === undefined || staticRest === 0) return E.left(`cannot infer the -1 of shape [${target.join(",")}] from [${input.join(",")}]`);
  const leftover = symbols.filter((s) => !restSymbols.includes(s));
  if (leftover.length === 0 && restSymbols.length === symbols.length) return E.right(out.map((d, i) => (i === inferred ? staticIn / staticRest : d)));
  if (leftover.length === 1 && staticIn === staticRest) return E.right(out.map((d, i) => (i === inferred ? (leftover[0] as string) : d)));
  return E.left(`cannot infer the -1 of shape [${target.join(",")}] from [${input.join(",")}]`);
};

const reduceRow =
  (fn: string): Row =>
  (context, node) =>
    E.chain((x: Value) => {
      const rank = x.tensor.rank;
      const axes = intsAttr(node, "axes") ?? (context.has(1) ? Array.from(context.known(1)?.values ?? [], Number) : undefined);
      if (context.has(1) && context.known(1) === undefined) return E.left("its axes are computed at run time; graft needs them known");
      const keepdim = intAttr(node, "keepdims", 1) === 1;
      if (axes !== undefined && axes.length === 0 && intAttr(node, "noop_with_empty_axes", 0) === 1) return E.right(x);
      const dims = axes === undefined || axes.length === 0 ? Array.from({ length: rank }, (_, i) => i) : axes.map((a) => axisIn(a, rank));
      return context.call(fn, x, lit(dims), lit(keepdim));
    })(context.value(0));

/** Softmax/LogSoftmax: along `axis` from opset 13; before, over the input flattened to 2-D at `axis` (default 1), which is the same only for the last axis. */
const softmaxRow = (fn: "softmax" | "logSoftmax", context: ImportContext, node: NodeProto): E.Either<string, Value> =>
  E.chain((x: Value) => {
    if (context.opset >= 13) return context.call(fn, x, lit(intAttr(node, "axis", -1)));
    const axis = axisIn(intAttr(node, "axis", 1), x.tensor.rank);
    return axis === x.tensor.rank - 1
      ? context.call(fn, x, lit(axis))
      : E.left(`before opset 13 it normalises over the input flattened at axis ${axis}, which graft does not do for a rank-${x.tensor.rank} input; re-export with opset_version=13 or later`);
  })(context.value(0));

/** The spatial attributes of Conv and the pools, as graft takes them (2-D: NCHW). */
interface Spatial {
  readonly kernel: [number, number];
  readonly strides: [number, number];
  readonly dilations: [number, number];
  /** ONNX order: [top, left, bottom, right]. */
  readonly pads: [number, number, number, number];
}

/** Reads kernel_shape (or the weight's kernel), strides, dilations, pads and auto_pad (NOTSET or VALID) of a 2-D Conv or pool. */
const spatialAttrs = (node: NodeProto, x: Value, weightKernel: readonly Dim[] | undefined): E.Either<string, Spatial> => {
  if (x.tensor.rank !== 4) return E.left(`graft imports it for 4-D inputs [N,C,H,W]; input '${(node.input ?? [])[0] ?? ""}' has rank ${x.tensor.rank}`);
  const autoPad = attr(node, "auto_pad")?.s;
  const autoPadText = autoPad === undefined || autoPad === null ? "NOTSET" : new TextDecoder().decode(autoPad);
  if (autoPadText !== "NOTSET" && autoPadText !== "VALID" && autoPadText !== "")
    return E.left(`auto_pad ${autoPadText} is not supported (graft reads NOTSET with explicit pads, and VALID); re-export with explicit padding`);
  const kernel = intsAttr(node, "kernel_shape") ?? weightKernel?.map((d) => (typeof d === "number" ? d : 0));
  if (kernel === undefined || kernel.length !== 2 || kernel.some((k) => !(k >= 1))) return E.left(`expected a 2-D kernel_shape, got ${JSON.stringify(kernel ?? null)}`);
  const pair = (name: string): E.Either<string, [number, number]> => {
    const values = intsAttr(node, name) ?? [1, 1];
    return values.length === 2 ? E.right([values[0] ?? 1, values[1] ?? 1]) : E.left(`expected 2 ${name}, got [${values.join(",")}]`);
  };
  const strides = pair("strides");
  if (E.isLeft(strides)) return strides;
  const dilations = pair("dilations");
  if (E.isLeft(dilations)) return dilations;
  const pads = autoPadText === "VALID" ? [0, 0, 0, 0] : (intsAttr(node, "pads") ?? [0, 0, 0, 0]);
  if (pads.length !== 4) return E.left(`expected 4 pads [top, left, bottom, right], got [${pads.join(",")}]`);
  return E.right({ kernel: [kernel[0] ?? 1, kernel[1] ?? 1], strides: strides.right, dilations: dilations.right, pads: [pads[0] ?? 0, pads[1] ?? 0, pads[2] ?? 0, pads[3] ?? 0] });
};

/** Pool padding: graft pads each spatial dim the same on both sides. */
const symmetricPads = (spatial: Spatial): E.Either<string, [number, number]> => {
  const [top, left, bottom, right] = spatial.pads;
  return top === bottom && left === right ? E.right([top, left]) : E.left(`asymmetric pads [${spatial.pads.join(",")}] (top, left, bottom, right): graft's pools pad both sides of a dim the same`);
};

/** A node must not ask for outputs graft does not compute (MaxPool's Indices, BatchNormalization's training statistics). */
const onlyFirstOutput = (node: NodeProto, what: string): E.Either<string, void> =>
  (node.output ?? []).slice(1).some((o) => o !== "") ? E.left(`graft computes only its first output (${what} are not supported)`) : E.right(undefined);

/** The import table: one row per ONNX op graft reads. */
export const importTable: Readonly<Record<string, Row>> = {
  Identity: (context) => context.value(0),
  Dropout: (context) => context.value(0),
  Neg: unaryRow("neg"),
  Exp: unaryRow("exp"),
  Log: unaryRow("log"),
  Sqrt: unaryRow("sqrt"),
  Abs: unaryRow("abs"),
  Sign: unaryRow("sign"),
  Relu: unaryRow("relu"),
  Sigmoid: unaryRow("sigmoid"),
  Tanh: unaryRow("tanh"),
  Add: binaryRow("add"),
  Sub: binaryRow("sub"),
  Mul: binaryRow("mul"),
  Div: binaryRow("div"),
  Pow: binaryRow("pow"),
  Max: binaryRow("maximum"),
  Min: binaryRow("minimum"),
  Equal: binaryRow("eq"),
  Less: binaryRow("lt"),
  LessOrEqual: binaryRow("le"),
  Greater: binaryRow("gt"),
  GreaterOrEqual: binaryRow("ge"),
  Where: (context) => {
    const [c, a, b] = [context.value(0), context.value(1), context.value(2)];
    if (E.isLeft(c)) return c;
    return chain2(a, b, (x, y) => context.call("where", c.right, x, y));
  },
  MatMul: binaryRow("matmul"),
  Cast: (context, node) =>
    E.chain((x: Value) => {
      const dtype = graftDtype(intAttr(node, "to", 1));
      return dtype === undefined ? E.left(`Cast to ONNX type ${intAttr(node, "to", 0)} has no graft dtype`) : context.call("cast", x, lit(dtype));
    })(context.value(0)),
  Softmax: (context, node) => softmaxRow("softmax", context, node),
  LogSoftmax: (context, node) => softmaxRow("logSoftmax", context, node),
  LeakyRelu: (context, node) =>
    E.chain((x: Value) => E.chain((scaled: Value) => context.call("maximum", x, scaled))(context.call("mul", x, lit(floatAttr(node, "alpha", 0.01)))))(context.value(0)),
  Transpose: (context, node) =>
    E.chain((x: Value) => context.call("permute", x, lit(intsAttr(node, "perm") ?? Array.from({ length: x.tensor.rank }, (_, i) => x.tensor.rank - 1 - i))))(context.value(0)),
  Flatten: (context, node) =>
    E.chain((x: Value) => {
      const axis = axisIn(intAttr(node, "axis", 1), x.tensor.rank);
      if (axis === 0) return context.call("reshape", x, lit([1, product(x.tensor.shape) ?? -1]));
      const tail = axis === x.tensor.rank - 1 ? E.right(x) : context.call("flatten", x, lit(axis));
      return axis === 1 ? tail : E.chain((t: Value) => context.call("flatten", t, lit(0), lit(axis - 1)))(tail);
    })(context.value(0)),
  Reshape: (context, node) =>
    E.chain((x: Value) => {
      const shape = context.known(1);
      if (shape === undefined) return E.left("its shape is computed at run time; graft needs it known");
      const target = reshapeTarget(x.tensor.shape, Array.from(shape.values, Number), intAttr(node, "allowzero", 0) === 1);
      return E.chain((dims: Dim[]) => context.call("reshape", x, lit(dims)))(target);
    })(context.value(0)),
  Unsqueeze: (context, node) =>
    E.chain((x: Value) => {
      const axes = intsAttr(node, "axes") ?? Array.from(context.known(1)?.values ?? [], Number);
      const rank = x.tensor.rank + axes.length;
      let result: E.Either<string, Value> = E.right(x);
      for (const axis of axes.map((a) => axisIn(a, rank)).sort((a, b) => a - b)) result = E.chain((v: Value) => context.call("unsqueeze", v, lit(axis)))(result);
      return result;
    })(context.value(0)),
  Squeeze: (context, node) =>
    E.chain((x: Value) => {
      const given = intsAttr(node, "axes") ?? (context.has(1) ? Array.from(context.known(1)?.values ?? [], Number) : undefined);
      const axes = given ?? x.tensor.shape.flatMap((d, i) => (d === 1 ? [i] : []));
      let result: E.Either<string, Value> = E.right(x);
      for (const axis of axes.map((a) => axisIn(a, x.tensor.rank)).sort((a, b) => b - a)) result = E.chain((v: Value) => context.call("squeeze", v, lit(axis)))(result);
      return result;
    })(context.value(0)),
  // Y = alpha · A' B' + beta · C; nn.Linear's form (transB, C) is graft's linear
  Gemm: (context, node) => {
    if (intAttr(node, "transA", 0) === 0 && intAttr(node, "transB", 0) === 1 && floatAttr(node, "alpha", 1) === 1 && floatAttr(node, "beta", 1) === 1 && context.has(2)) {
      const [x, w, c] = [context.value(0), context.value(1), context.value(2)];
      if (E.isLeft(x)) return x;
      return chain2(w, c, (weight, bias) => context.call("linear", x.right, weight, bias));
    }
    const a = E.chain((v: Value) => (intAttr(node, "transA", 0) === 1 ? context.call("transpose", v, lit(0), lit(1)) : E.right(v)))(context.value(0));
    const b = E.chain((v: Value) => (intAttr(node, "transB", 0) === 1 ? context.call("transpose", v, lit(0), lit(1)) : E.right(v)))(context.value(1));
    const alpha = floatAttr(node, "alpha", 1);
    const beta = floatAttr(node, "beta", 1);
    let out = chain2(a, b, (x, y) => context.call("matmul", x, y));
    if (alpha !== 1) out = E.chain((v: Value) => context.call("mul", v, lit(alpha)))(out);
    if (!context.has(2)) return out;
    const c = beta === 1 ? context.value(2) : E.chain((v: Value) => context.call("mul", v, lit(beta)))(context.value(2));
    return chain2(out, c, (x, y) => context.call("add", x, y));
  },
  // Slice: starts, ends, axes, steps known (inputs from opset 10, attributes before); INT64_MAX ends clamp
  Slice: (context, node) =>
    E.chain((x: Value) => {
      const list = (index: number, name: string): number[] | undefined => {
        const fromAttr = intsAttr(node, name);
        if (fromAttr !== undefined) return fromAttr;
        if (!context.has(index)) return undefined;
        const known = context.known(index);
        return known === undefined ? undefined : Array.from(known.values, (v) => Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, v)));
      };
      const starts = list(1, "starts");
      const ends = list(2, "ends");
      if (starts === undefined || ends === undefined || (context.has(3) && list(3, "axes") === undefined) || (context.has(4) && list(4, "steps") === undefined))
        return E.left("its starts, ends, axes and steps must be known when importing (constants or initializers)");
      const axes = list(3, "axes") ?? starts.map((_, i) => i);
      const steps = list(4, "steps") ?? starts.map(() => 1);
      return context.call("slice", x, lit(axes.map((dim, i) => ({ dim, start: starts[i], stop: ends[i], step: steps[i] }))));
    })(context.value(0)),
  Concat: (context, node) => {
    const parts: Value[] = [];
    for (let index = 0; index < (node.input ?? []).length; index++) {
      const part = context.value(index);
      if (E.isLeft(part)) return part;
      parts.push(part.right);
    }
    return context.call("concat", { list: parts }, lit(intAttr(node, "axis", 0)));
  },
  // Conv (2-D): pads [top, left, bottom, right] become graft's per-side [top, bottom, left, right]
  Conv: (context, node) => {
    const x = context.value(0);
    if (E.isLeft(x)) return x;
    const weight = context.value(1);
    if (E.isLeft(weight)) return weight;
    const spatial = spatialAttrs(node, x.right, weight.right.tensor.type === undefined ? undefined : weight.right.tensor.shape.slice(2));
    if (E.isLeft(spatial)) return spatial;
    const { strides, dilations, pads } = spatial.right;
    const options = { stride: strides, dilation: dilations, padding: [pads[0], pads[2], pads[1], pads[3]], groups: intAttr(node, "group", 1) };
    if (!context.has(2)) return context.call("conv2d", x.right, weight.right, lit(undefined), lit(options));
    return E.chain((bias: Value) => context.call("conv2d", x.right, weight.right, bias, lit(options)))(context.value(2));
  },
  MaxPool: (context, node) =>
    E.chain((x: Value) => {
      const extra = onlyFirstOutput(node, "its Indices");
      if (E.isLeft(extra)) return extra;
      if (intAttr(node, "storage_order", 0) !== 0) return E.left("storage_order 1 (column major) is not supported");
      const spatial = spatialAttrs(node, x, undefined);
      if (E.isLeft(spatial)) return spatial;
      const padding = symmetricPads(spatial.right);
      if (E.isLeft(padding)) return padding;
      const { kernel, strides, dilations } = spatial.right;
      return context.call("maxPool2d", x, lit(kernel), lit({ stride: strides, padding: padding.right, dilation: dilations, ceilMode: intAttr(node, "ceil_mode", 0) === 1 }));
    })(context.value(0)),
  AveragePool: (context, node) =>
    E.chain((x: Value) => {
      const spatial = spatialAttrs(node, x, undefined);
      if (E.isLeft(spatial)) return spatial;
      if (spatial.right.dilations.some((d) => d !== 1)) return E.left(`dilations [${spatial.right.dilations.join(",")}]: graft's avgPool2d has no dilation`);
      const padding = symmetricPads(spatial.right);
      if (E.isLeft(padding)) return padding;
      const { kernel, strides } = spatial.right;
      return context.call("avgPool2d", x, lit(kernel), lit({ stride: strides, padding: padding.right, ceilMode: intAttr(node, "ceil_mode", 0) === 1, countIncludePad: intAttr(node, "count_include_pad", 0) === 1 }));
    })(context.value(0)),
  GlobalAveragePool: (context) =>
    E.chain((x: Value) => (x.tensor.rank === 4 ? context.call("adaptiveAvgPool2d", x, lit(1)) : E.left(`graft imports it for 4-D inputs [N,C,H,W]; got rank ${x.tensor.rank}`)))(context.value(0)),
  // inference form: (x − mean) / sqrt(var + epsilon) · scale + B, per channel (dim 1), as plain graft ops
  BatchNormalization: (context, node) =>
    E.chain((x: Value) => {
      const extra = onlyFirstOutput(node, "the running mean and variance outputs of training mode");
      if (E.isLeft(extra)) return extra;
      if (intAttr(node, "training_mode", 0) !== 0) return E.left("training_mode 1 is not supported (graft imports the inference form)");
      if (x.tensor.rank < 2) return E.left(`expected an input [N,C,...], got rank ${x.tensor.rank}`);
      const trailing = Array.from({ length: x.tensor.rank - 2 }, () => 1);
      const channel = (index: number): E.Either<string, Value> =>
        E.chain((v: Value) => (v.tensor.rank === 1 ? context.call("reshape", v, lit([v.tensor.shape[0], ...trailing])) : E.left(`input ${index} must be per channel [C], got rank ${v.tensor.rank}`)))(context.value(index));
      const centered = chain2(E.right(x), channel(3), (a, mean) => context.call("sub", a, mean));
      const deviation = E.chain((v: Value) => context.call("sqrt", v))(E.chain((v: Value) => context.call("add", v, lit(floatAttr(node, "epsilon", 1e-5))))(channel(4)));
      const normalized = chain2(centered, deviation, (a, b) => context.call("div", a, b));
      const scaled = chain2(normalized, channel(1), (a, scale) => context.call("mul", a, scale));
      return chain2(scaled, channel(2), (a, bias) => context.call("add", a, bias));
    })(context.value(0)),
  // Pad: pads [begin…, end…] and the constant value known when importing (inputs from opset 11, attributes before)
  Pad: (context, node) =>
    E.chain((x: Value) => {
      const modeBytes = attr(node, "mode")?.s;
      const mode = modeBytes === undefined || modeBytes === null || modeBytes.length === 0 ? "constant" : new TextDecoder().decode(modeBytes);
      const graftMode = mode === "constant" ? "constant" : mode === "reflect" ? "reflect" : mode === "edge" ? "replicate" : undefined;
      if (graftMode === undefined) return E.left(`mode ${mode} is not supported (graft pads constant, reflect and edge)`);
      if (context.has(3)) return E.left("its axes input is not supported; re-export with opset_version below 18");
      const pads = intsAttr(node, "pads") ?? (context.has(1) ? Array.from(context.known(1)?.values ?? [], Number) : undefined);
      if (pads === undefined || (context.has(1) && context.known(1) === undefined)) return E.left("its pads are computed at run time; graft needs them known");
      const rank = x.tensor.rank;
      if (pads.length !== 2 * rank) return E.left(`expected ${2 * rank} pads for a rank-${rank} input, got [${pads.join(",")}]`);
      if (context.has(2) && context.known(2) === undefined) return E.left("its constant_value is computed at run time; graft needs it known");
      const value = context.has(2) ? (context.known(2)?.values[0] ?? 0) : floatAttr(node, "value", 0);
      return context.call("padDims", x, lit(pads.slice(0, rank)), lit(pads.slice(rank)), lit(graftMode === "constant" ? { mode: graftMode, value } : { mode: graftMode }));
    })(context.value(0)),
  ReduceSum: reduceRow("sum"),
  ReduceMean: reduceRow("mean"),
  ReduceMax: reduceRow("max"),
  ReduceMin: reduceRow("min"),
  ReduceLogSumExp: reduceRow("logsumexp"),
};

/** A known value as a safetensors tensor of graft's dtype. */
const safetensorsEntry = (name: string, dtype: Dtype, entry: Known): SafetensorsTensorInput => {
  const shape = entry.dims;
  switch (dtype) {
    case "f64":
      return { name, dtype: SAFETENSORS_DTYPE.f64, shape, data: Float64Array.from(entry.values) };
    case "i32":
      return { name, dtype: SAFETENSORS_DTYPE.i32, shape, data: Int32Array.from(entry.values) };
    case "bool":
      return { name, dtype: SAFETENSORS_DTYPE.bool, shape, data: Uint8Array.from(entry.values, (v) => (v !== 0 ? 1 : 0)) };
    case "f32":
      return { name, dtype: SAFETENSORS_DTYPE.f32, shape, data: Float32Array.from(entry.values) };
  }
};

/** A TS identifier for an ONNX name. */
const identifier = (name: string, taken: Set<string>): string => {
  const base = name.replace(/[^A-Za-z0-9_$]/g, "_").replace(/^([0-9])/, "_$1") || "v";
  let candidate = base;
  for (let i = 2; taken.has(candidate) || RESERVED.has(candidate); i++) candidate = `${base}_${i}`;
  taken.add(candidate);
  return candidate;
};
const RESERVED = new Set(["model", "input", "param", "zeros", "scalar", "default", "const", "let", "var", "function", "class", "import", "export", "new", "this", "return", "if", "else", "for", "while", "delete", "in", "of", "typeof", "void", "with", "yield", "await", "enum", "null", "true", "false"]);

const fail = (message: string, code = "onnx/import"): E.Either<Diagnostics, never> => E.left([error(code, message)]);

/**
 * Imports ONNX model bytes: Left with one diagnostic naming the file and what is wrong (a file
 * that is not an ONNX model, unsupported ops with their node names, a graph graft cannot type).
 */
export const importOnnx = (bytes: Uint8Array, options: OnnxImportOptions = {}): E.Either<Diagnostics, OnnxImport> => {
  const source = options.source ?? "model.onnx";
  let decoded: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    decoded = onnx.ModelProto.decode(bytes);
  } catch (thrown) {
    return fail(`${source}: not an ONNX model (protobuf decoding failed: ${thrown instanceof Error ? thrown.message : String(thrown)})`, "onnx/malformed");
  }
  const graph = decoded.graph;
  if (graph === null || graph === undefined || ((graph.node ?? []).length === 0 && (graph.output ?? []).length === 0))
    return fail(`${source}: not an ONNX model (no graph with nodes and outputs)`, "onnx/malformed");
  const foreign = (decoded.opsetImport ?? []).filter((o) => (o.domain ?? "") !== "" && o.domain !== "ai.onnx");
  const unsupported = (graph.node ?? []).filter((node) => (node.domain ?? "") !== "" || (node.opType !== "Constant" && importTable[node.opType ?? ""] === undefined));
  if (unsupported.length > 0)
    return fail(
      `${source}: ${unsupported.length} node${unsupported.length === 1 ? "" : "s"} with ONNX ops graft does not have: ${unsupported
        .map((node) => `${node.domain ? `${node.domain}.` : ""}${node.opType ?? "?"} (node '${node.name ?? ""}')`)
        .join(", ")}${foreign.length > 0 ? `; custom domains: ${foreign.map((o) => o.domain).join(", ")}` : ""}. graft reads: Constant, ${Object.keys(importTable).join(", ")}`,
      "onnx/unsupported",
    );

  const defaultOpset = toNumber((decoded.opsetImport ?? []).find((o) => (o.domain ?? "") === "" || o.domain === "ai.onnx")?.version ?? 13);
  const known = new Map<string, Known>();
  const initializers = new Map<string, TensorProto>();
  for (const tensor of graph.initializer ?? []) {
    const values = tensorValues(tensor);
    if (typeof values === "string") return fail(`${source}: initializer '${tensor.name ?? ""}': ${values}`, "onnx/malformed");
    known.set(tensor.name ?? "", { ...values, dataType: tensor.dataType ?? 0 });
    initializers.set(tensor.name ?? "", tensor);
  }

  const taken = new Set<string>();
  const lines: string[] = [];
  const imports = new Set<string>(["input", "model"]);
  const values = new Map<string, Value>();
  const weights: SafetensorsTensorInput[] = [];
  // the DSL looked up by name (the rows name graft functions as the generated source does); every result is checked with isTensor
  const dsl = core as unknown as Readonly<Record<string, (...args: unknown[]) => unknown>>;

  const call = (fn: string, ...args: Arg[]): E.Either<string, Value> => {
    const impl = dsl[fn];
    if (impl === undefined) return E.left(`graft has no function ${fn}`);
    const result = impl(...args.map((a) => ("tensor" in a ? a.tensor : "list" in a ? a.list.map((v) => v.tensor) : a.literal)));
    if (!isTensor(result)) return E.left(`${fn} did not return a tensor`);
    if (result.diagnostics.length > 0) return E.left(result.diagnostics.map((d) => d.message).join("; "));
    imports.add(fn);
    const name = identifier("v", taken);
    lines.push(`const ${name} = ${fn}(${args.map((a) => ("tensor" in a ? a.expr : "list" in a ? `[${a.list.map((v) => v.expr).join(", ")}]` : (JSON.stringify(a.literal) ?? "undefined"))).join(", ")});`);
    return E.right({ tensor: result, expr: name });
  };

  // graph inputs (initializers listed as inputs by old exporters are weights, not feeds)
  for (const info of graph.input ?? []) {
    const name = info.name ?? "";
    if (known.has(name)) continue;
    const tensorType = info.type?.tensorType;
    const dtype = graftDtype(tensorType?.elemType ?? 0);
    if (tensorType === null || tensorType === undefined || dtype === undefined) return fail(`${source}: input '${name}' is not a tensor of float, double, int32, int64 or bool`, "onnx/unsupported");
    const shape: Dim[] = (tensorType.shape?.dim ?? []).map((d, axis) => (d.dimParam ? d.dimParam : d.dimValue !== null && d.dimValue !== undefined && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : `${name}_dim${axis}`));
    const tensor = core.input(name, shape, dtype);
    const expr = identifier(name, taken);
    lines.push(`const ${expr} = input(${JSON.stringify(name)}, ${JSON.stringify(shape)}${dtype === "f32" ? "" : `, ${JSON.stringify(dtype)}`});`);
    values.set(name, { tensor, expr });
  }

  /** A known value used as a tensor: a scalar constant, or a param (its values go to the weights). */
  const materialize = (name: string, entry: Known): E.Either<string, Value> => {
    const existing = values.get(name);
    if (existing !== undefined) return E.right(existing);
    const dtype: Dtype = graftDtype(entry.dataType) ?? "f32";
    if (entry.dims.length === 0 || (entry.values.length === 1 && !initializers.has(name))) {
      const scalarValue = call("scalar", lit(entry.values[0] ?? 0), lit(dtype));
      const shaped = entry.dims.length === 0 || E.isLeft(scalarValue) ? scalarValue : E.chain((v: Value) => call("reshape", v, lit(entry.dims)))(scalarValue);
      if (E.isRight(shaped)) values.set(name, shaped.right);
      return shaped;
    }
    const tensor = core.param(name, entry.dims, core.zeros, dtype);
    imports.add("param");
    imports.add("zeros");
    const expr = identifier(name, taken);
    lines.push(`const ${expr} = param(${JSON.stringify(name)}, ${JSON.stringify(entry.dims)}, zeros${dtype === "f32" ? "" : `, ${JSON.stringify(dtype)}`});`);
    weights.push(safetensorsEntry(name, dtype, entry));
    const value = { tensor, expr };
    values.set(name, value);
    return E.right(value);
  };

  for (const node of graph.node ?? []) {
    const opType = node.opType ?? "";
    const label = `${opType} (node '${node.name ?? ""}')`;
    const inputs = node.input ?? [];
    if (opType === "Constant") {
      const tensor = attr(node, "value")?.t;
      const floatValue = attr(node, "value_float");
      const readValue = tensor !== null && tensor !== undefined ? tensorValues(tensor) : floatValue !== undefined ? { values: Float64Array.of(floatValue.f ?? 0), dims: [] } : "it has no value or value_float";
      if (typeof readValue === "string") return fail(`${source}: ${label}: ${readValue}`, "onnx/malformed");
      known.set(node.output?.[0] ?? "", { ...readValue, dataType: tensor?.dataType ?? DATA_TYPE.f32 });
      continue;
    }
    const context: ImportContext = {
      has: (index) => (inputs[index] ?? "") !== "",
      known: (index) => known.get(inputs[index] ?? ""),
      value: (index) => {
        const name = inputs[index] ?? "";
        const value = values.get(name);
        if (value !== undefined) return E.right(value);
        const entry = known.get(name);
        return entry === undefined ? E.left(`its input '${name}' is not produced by any node, input or initializer`) : materialize(name, entry);
      },
      call,
      opset: defaultOpset,
    };
    const row = importTable[opType];
    if (row === undefined) return fail(`${source}: ${label}: unsupported`, "onnx/unsupported");
    const result = row(context, node);
    if (E.isLeft(result)) return fail(`${source}: ${label}: ${result.left}`, "onnx/import");
    const output = node.output?.[0] ?? "";
    values.set(output, result.right);
  }

  const outputs: Array<{ readonly name: string; readonly value: Value }> = [];
  for (const info of graph.output ?? []) {
    const name = info.name ?? "";
    const entry = known.get(name);
    const value = values.get(name) ?? (entry === undefined ? undefined : materialize(name, entry));
    if (value === undefined) return fail(`${source}: output '${name}' is not produced by any node`, "onnx/malformed");
    if (!("tensor" in value) && E.isLeft(value)) return fail(`${source}: output '${name}': ${value.left}`, "onnx/import");
    outputs.push({ name, value: "tensor" in value ? value : value.right });
  }
  const modelName = graph.name ?? "imported";
  const model = core.model({ name: modelName, outputs: Object.fromEntries(outputs.map((o) => [o.name, o.value.tensor])) });
  const checked = buildGraph(model);
  if (E.isLeft(checked)) return fail(`${source}: the imported graph does not check:\n${formatDiagnostics(checked.left)}`, "onnx/import");
  const weightsFile = options.weightsFile ?? "model.safetensors";
  const producer = [decoded.producerName, decoded.producerVersion].filter((p) => p).join(" ");
  const opset = (decoded.opsetImport ?? []).find((o) => (o.domain ?? "") === "")?.version;
  const text = [
    `// Imported by \`graft import\` from ${source}${producer === "" ? "" : ` (written by ${producer}`}${opset === undefined || opset === null ? (producer === "" ? "" : ")") : `${producer === "" ? " (" : ", "}opset ${toNumber(opset)})`}.`,
    `// The params start at zeros here; their values are in ${weightsFile}:`,
    `//   graft compile <this file> --weights ${weightsFile} -o model.mjs`,
    `import { ${[...imports].sort().join(", ")} } from "@graft/core";`,
    "",
    ...lines,
    "",
    `export default model({ name: ${JSON.stringify(modelName)}, outputs: { ${outputs.map((o) => `${JSON.stringify(o.name)}: ${o.value.expr}`).join(", ")} } });`,
    "",
  ].join("\n");
  const ordered = [...weights].sort((a, b) => (a.dtype === "F64" ? 0 : a.dtype === "BOOL" ? 2 : 1) - (b.dtype === "F64" ? 0 : b.dtype === "BOOL" ? 2 : 1));
  return E.right({ model, source: text, weights: encodeSafetensors(ordered, { format: "pt", source }) });
};

