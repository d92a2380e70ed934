/**
 * @file Builds the node list of an ONNX graph: fresh value names, constants, and the run-time
 * values of graft's symbolic dims (read from the shape of an input that has them).
 */
import type { Dim, Dtype, Shape } from "@graft/core";
import { onnx, tensorProto, type AttributeProto, type NodeProto } from "./proto.js";

/** An attribute value: numbers are ints unless wrapped with {@link float}. */
export type AttrValue = number | string | readonly number[] | { readonly float: number } | { readonly tensor: ReturnType<typeof tensorProto> };

/** Marks a float attribute. */
export const float = (value: number): { readonly float: number } => ({ float: value });

const attribute = (name: string, value: AttrValue): AttributeProto => {
  const type = onnx.AttributeProto.AttributeType;
  if (typeof value === "number") return { name, type: type.INT, i: value };
  if (typeof value === "string") return { name, type: type.STRING, s: new TextEncoder().encode(value) };
  if ("float" in value) return { name, type: type.FLOAT, f: value.float };
  if ("tensor" in value) return { name, type: type.TENSOR, t: value.tensor };
  return { name, type: type.INTS, ints: [...(value as readonly number[])] };
};

/** Where a symbolic dim can be read at run time: axis `axis` of graph input `input`. */
export interface DimSource {
  readonly input: string;
  readonly axis: number;
}

/** Collects ONNX nodes with unique value names. */
export class Emitter {
  readonly nodes: NodeProto[] = [];
  readonly opset: number;
  private counter = 0;
  private readonly dimSources: ReadonlyMap<string, DimSource>;
  private readonly dimValues = new Map<string, string>();

  constructor(opset: number, dimSources: ReadonlyMap<string, DimSource>) {
    this.opset = opset;
    this.dimSources = dimSources;
  }

  /** A fresh value name. */
  fresh(hint: string): string {
    this.counter += 1;
    return `graft::${hint}_${this.counter}`;
  }

  /** Appends a node with one output and returns its name (or `output` when given). */
  op(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      name: `${opType}_${this.nodes.length}`,
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attrs).map(([name, value]) => attribute(name, value)),
    });
    return out;
  }

  /** Appends a node with several outputs (e.g. MaxPool's values and Indices) and returns their names. */
  opOutputs(opType: string, inputs: readonly string[], outputCount: number, attrs: Readonly<Record<string, AttrValue>> = {}): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      name: `${opType}_${this.nodes.length}`,
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(attrs).map(([name, value]) => attribute(name, value)),
    });
    return outputs;
  }

  /** A Constant node holding `values` (one value fills the shape). */
  constant(dtype: Dtype | "i64", dims: readonly number[], values: readonly number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    const full = values.length === size ? values : Array.from({ length: size }, () => values[0] ?? 0);
    const name = this.fresh("const");
    return this.op("Constant", [], { value: { tensor: tensorProto(name, dtype, dims, full) } }, name);
  }

  /** A scalar constant. */
  scalar(dtype: Dtype | "i64", value: number): string {
    return this.constant(dtype, [], [value]);
  }

  /** A 1-D int64 constant (axes, shapes). */
  int64s(values: readonly number[]): string {
    return this.constant("i64", [values.length], values);
  }

  /** An int64[1] tensor holding the run-time size of a dim. */
  dim(dim: Dim): string | undefined {
    if (typeof dim === "number") return this.int64s([dim]);
    const known = this.dimValues.get(dim);
    if (known !== undefined) return known;
    const source = this.dimSources.get(dim);
    if (source === undefined) return undefined;
    const shape = this.op("Shape", [source.input]);
    const value = this.op("Gather", [shape, this.int64s([source.axis])], { axis: 0 });
    this.dimValues.set(dim, value);
    return value;
  }

  /** An int64[rank] tensor holding a shape, symbolic dims read at run time. */
  shape(shape: Shape): string | undefined {
    if (shape.every((d) => typeof d === "number")) return this.int64s(shape as readonly number[]);
    const parts: string[] = [];
    for (const dim of shape) {
      const part = this.dim(dim);
      if (part === undefined) return undefined;
      parts.push(part);
    }
    return this.op("Concat", parts, { axis: 0 });
  }

  /** ReduceSum/ReduceMean/… over `axes`: axes an input (ReduceSum from opset 13, the others from 18) or an attribute. */
  reduce(opType: "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceLogSumExp", x: string, axes: readonly number[], keepdims: boolean): string {
    if (axes.length === 0) return this.op("Identity", [x]);
    const axesAsInput = opType === "ReduceSum" ? this.opset >= 13 : this.opset >= 18;
    return axesAsInput ? this.op(opType, [x, this.int64s(axes)], { keepdims: keepdims ? 1 : 0 }) : this.op(opType, [x], { axes, keepdims: keepdims ? 1 : 0 });
  }

  /** Unsqueeze at `axes` (axes an input from opset 13). */
  unsqueeze(x: string, axes: readonly number[]): string {
    return this.opset >= 13 ? this.op("Unsqueeze", [x, this.int64s(axes)]) : this.op("Unsqueeze", [x], { axes });
  }
}
