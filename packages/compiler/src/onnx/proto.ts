/**
 * @file The ONNX schema as generated protobufjs code (`onnx-proto`, the published onnx.proto)
 * and the small conversions between graft's dtypes/arrays and ONNX tensors.
 */
import onnxProto from "onnx-proto";
import type { Dtype } from "@graft/core";

export const onnx = onnxProto.onnx;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

/** ONNX TensorProto.DataType codes graft uses. */
export const DATA_TYPE = { f32: 1, i32: 6, i64: 7, bool: 9, f64: 11 } as const;

/** The ONNX element type of a graft dtype. */
export const onnxDataType = (dtype: Dtype): number => DATA_TYPE[dtype];

/** The graft dtype of an ONNX element type, undefined when graft has none (int64 maps to i32). */
export const graftDtype = (dataType: number): Dtype | undefined =>
  dataType === DATA_TYPE.f32 ? "f32" : dataType === DATA_TYPE.f64 ? "f64" : dataType === DATA_TYPE.i32 || dataType === DATA_TYPE.i64 ? "i32" : dataType === DATA_TYPE.bool ? "bool" : undefined;

/** A tensor of `dtype` with row-major `values` (raw little-endian data, as onnx.numpy_helper writes). */
export const tensorProto = (name: string, dtype: Dtype | "i64", dims: readonly number[], values: ArrayLike<number>): TensorProto => {
  const count = values.length;
  let bytes: Uint8Array;
  if (dtype === "f32") bytes = new Uint8Array(Float32Array.from(values).buffer);
  else if (dtype === "f64") bytes = new Uint8Array(Float64Array.from(values).buffer);
  else if (dtype === "i32") bytes = new Uint8Array(Int32Array.from(values).buffer);
  else if (dtype === "i64") bytes = new Uint8Array(BigInt64Array.from(Array.from({ length: count }, (_, i) => BigInt(Math.trunc(values[i] as number)))).buffer);
  else bytes = Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
  return { name, dataType: dtype === "i64" ? DATA_TYPE.i64 : onnxDataType(dtype), dims: [...dims], rawData: bytes };
};

/** A Long from protobufjs (or a number) as a safe JS number. */
export const toNumber = (value: number | { toNumber(): number } | null | undefined): number => (value === null || value === undefined ? 0 : typeof value === "number" ? value : value.toNumber());

/** The values of a TensorProto as float64 (raw data or the typed fields), undefined with the reason when unreadable. */
export const tensorValues = (tensor: onnxProto.onnx.ITensorProto): { readonly values: Float64Array; readonly dims: number[] } | string => {
  const dims = (tensor.dims ?? []).map((d) => toNumber(d));
  const size = dims.reduce((a, b) => a * b, 1);
  const type = tensor.dataType ?? 0;
  if (tensor.dataLocation === 1) return "its data is stored in an external file, which graft does not read";
  const raw = tensor.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) {
    const width = type === DATA_TYPE.f32 || type === DATA_TYPE.i32 ? 4 : type === DATA_TYPE.f64 || type === DATA_TYPE.i64 ? 8 : type === DATA_TYPE.bool ? 1 : 0;
    if (width === 0) return `its element type ${type} is not supported (graft reads float, double, int32, int64 and bool)`;
    if (raw.length !== size * width) return `its raw data has ${raw.length} bytes, expected ${size * width} for dims [${dims.join(",")}]`;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = new Float64Array(size);
    for (let i = 0; i < size; i++)
      values[i] =
        type === DATA_TYPE.f32
          ? view.getFloat32(i * 4, true)
          : type === DATA_TYPE.i32
            ? view.getInt32(i * 4, true)
            : type === DATA_TYPE.f64
              ? view.getFloat64(i * 8, true)
              : type === DATA_TYPE.i64
                ? Number(view.getBigInt64(i * 8, true))
                : view.getUint8(i);
    return { values, dims };
  }
  const typed: ReadonlyArray<number | { toNumber(): number }> | null | undefined =
    type === DATA_TYPE.f32 ? tensor.floatData : type === DATA_TYPE.f64 ? tensor.doubleData : type === DATA_TYPE.i64 ? tensor.int64Data : type === DATA_TYPE.i32 || type === DATA_TYPE.bool ? tensor.int32Data : undefined;
  if (typed === undefined) return `its element type ${type} is not supported (graft reads float, double, int32, int64 and bool)`;
  const list = typed ?? [];
  if (list.length !== size) return `it has ${list.length} values, expected ${size} for dims [${dims.join(",")}]`;
  return { values: Float64Array.from(list, (v) => toNumber(v)), dims };
};
