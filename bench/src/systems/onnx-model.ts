/**
 * A tiny ONNX model writer (protobuf wire format by hand, no dependency) for the
 * graphs the onnxruntime peer runs: MatMul / Add / Relu / Conv over float32 tensors with
 * fixed shapes, weights as initializers, integer-list attributes (Conv's pads, ...).
 */

type Bytes = number[];

function varint(n: number): Bytes {
  const out: Bytes = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}

const VARINT = 0;
const LEN = 2;

function tag(field: number, wire: number): Bytes {
  return varint((field << 3) | wire);
}

function int(field: number, v: number): Bytes {
  return [...tag(field, VARINT), ...varint(v)];
}

function bytes(field: number, b: ArrayLike<number>): Bytes {
  const out = [...tag(field, LEN), ...varint(b.length)];
  for (let i = 0; i < b.length; i++) out.push(b[i] ?? 0);
  return out;
}

function str(field: number, s: string): Bytes {
  return bytes(field, new TextEncoder().encode(s));
}

function msg(field: number, ...parts: Bytes[]): Bytes {
  return bytes(field, parts.flat());
}

const FLOAT = 1;

/** A float32 graph input or output with a fixed shape. */
export interface ValueInfo {
  readonly name: string;
  readonly dims: readonly number[];
}

/** A float32 constant (initializer). */
export interface Initializer extends ValueInfo {
  readonly data: Float32Array;
}

/** One node: ONNX operator name, input and output value names, integer-list attributes. */
export interface OnnxNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** e.g. Conv's `{ kernel_shape: [3, 3], pads: [1, 1, 1, 1] }` (INTS attributes). */
  readonly attrs?: Readonly<Record<string, readonly number[]>>;
}

/** A whole graph. */
export interface OnnxGraph {
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers: readonly Initializer[];
}

function valueInfo(field: number, v: ValueInfo): Bytes {
  // ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: {dim_value=1}}}}}
  const shape = msg(2, ...v.dims.map((d) => msg(1, int(1, d))));
  return msg(field, str(1, v.name), msg(2, msg(1, int(1, FLOAT), shape)));
}

function initializer(t: Initializer): Bytes {
  // TensorProto{dims=1, data_type=2, name=8, raw_data=9} (raw data little-endian, as on x86/ARM)
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return msg(5, ...t.dims.map((d) => int(1, d)), int(2, FLOAT), str(8, t.name), bytes(9, raw));
}

const INTS = 7;

function intsAttribute(name: string, values: readonly number[]): Bytes {
  // AttributeProto{name=1, ints=8 (repeated, unpacked), type=20}
  return msg(5, str(1, name), ...values.map((v) => int(8, v)), int(20, INTS));
}

function node(n: OnnxNode, i: number): Bytes {
  const attrs = Object.entries(n.attrs ?? {}).map(([name, values]) => intsAttribute(name, values));
  return msg(1, ...n.inputs.map((s) => str(1, s)), ...n.outputs.map((s) => str(2, s)), str(3, `n${i}`), str(4, n.op), ...attrs);
}

/** Serialises a graph as an ONNX ModelProto (IR version 8, opset 17). */
export function onnxModel(g: OnnxGraph): Uint8Array {
  const graph = msg(
    7,
    ...g.nodes.map(node),
    str(2, "graph"),
    ...g.initializers.map(initializer),
    ...g.inputs.map((v) => valueInfo(11, v)),
    ...g.outputs.map((v) => valueInfo(12, v)),
  );
  return Uint8Array.from([...int(1, 8), ...msg(8, str(1, ""), int(2, 17)), ...str(2, "graft-bench"), ...graph]);
}
