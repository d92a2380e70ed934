// safetensors reader and writer for the runtime. Imports only sibling runtime files: it is inlined
// into every standalone bundle, so it only uses globals (TextEncoder, TextDecoder, DataView, BigInt).
//
// Format (https://huggingface.co/docs/safetensors):
//   8 bytes    N, unsigned 64-bit little-endian: the length of the header
//   N bytes    UTF-8 JSON object, starting with '{', possibly padded with spaces:
//              { "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//                "__metadata__": { "<key>": "<string value>" } }
//   the rest   the byte buffer; data_offsets are relative to its start, every byte of it
//              belongs to exactly one tensor (no holes, no overlaps, no trailing bytes).
// Tensors are little-endian, row-major.
//
// I64: graft has no 64-bit integers. PyTorch stores some integer state as int64 (BatchNorm's
// `num_batches_tracked`), so graft writes its i32 values of those tensors as I64 (see
// `safetensorsDtypeOf`) and reads I64 tensors as I32 after checking every value fits in int32.

import { describeJson, describeValue, formatShape, typedArrayKind } from "./describe.js";

/**
 * Element types graft reads and writes in safetensors files. I64 holds int32 values: it is
 * written from an Int32Array (sign-extended) and read back as I32 (range-checked).
 */
export type SafetensorsDtype = "F32" | "F64" | "I32" | "I64" | "BOOL";

/** The typed arrays that hold tensor elements: F32, F64, I32, and BOOL (one byte, 0 or 1). */
export type SafetensorsData = Float32Array | Float64Array | Int32Array | Uint8Array;

/** The name, element type and shape of a tensor in a safetensors file. */
export interface SafetensorsTensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

/** A tensor to write: its spec and its elements in row-major order (an Int32Array for I32 and I64). */
export interface SafetensorsTensorInput extends SafetensorsTensorSpec {
  readonly data: SafetensorsData;
}

/**
 * A decoded tensor; `data` is a fresh, aligned copy whose type matches `dtype`. An I64 tensor of
 * the file is decoded as I32 (its values checked to fit), so `dtype` is never I64.
 */
export type DecodedTensor =
  | { readonly name: string; readonly dtype: "F32"; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly name: string; readonly dtype: "F64"; readonly shape: readonly number[]; readonly data: Float64Array }
  | { readonly name: string; readonly dtype: "I32"; readonly shape: readonly number[]; readonly data: Int32Array }
  | { readonly name: string; readonly dtype: "BOOL"; readonly shape: readonly number[]; readonly data: Uint8Array };

/** The content of a safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name, in the order their data appears in the file. */
  readonly tensors: ReadonlyMap<string, DecodedTensor>;
  /** The `__metadata__` string map (empty when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** A weights file (or weights to be written) is malformed or does not fit the model. */
export class WeightsError extends Error {
  override readonly name = "WeightsError";
}

/** The largest header accepted, as in the reference implementation (100 MB). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = "__metadata__";
const SUPPORTED_DTYPES: readonly SafetensorsDtype[] = ["F32", "F64", "I32", "I64", "BOOL"];

/** The safetensors dtype of each graft dtype (f32, f64, i32, bool). */
export const SAFETENSORS_DTYPE = { f32: "F32", f64: "F64", i32: "I32", bool: "BOOL" } as const satisfies Readonly<Record<string, SafetensorsDtype>>;
const ITEM_SIZE: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F64: 8, I32: 4, I64: 8, BOOL: 1 };

/**
 * The names of graft's i32 params that PyTorch stores as int64: BatchNorm's
 * `num_batches_tracked` (`bn1.num_batches_tracked`, or the bare name). Other i32 tensors (e.g.
 * graft's own `random.counter`) have no PyTorch counterpart and stay I32.
 */
export const isPyTorchInt64 = (name: string): boolean => name === "num_batches_tracked" || name.endsWith(".num_batches_tracked");

/**
 * The safetensors dtype graft writes a tensor of graft dtype `dtype` named `name` with: I64 for
 * an i32 tensor whose PyTorch counterpart is int64 ({@link isPyTorchInt64}), so that
 * `load_state_dict(strict=True)` gets the dtype PyTorch saved, else {@link SAFETENSORS_DTYPE}.
 */
export const safetensorsDtypeOf = (name: string, dtype: keyof typeof SAFETENSORS_DTYPE): SafetensorsDtype =>
  dtype === "i32" && isPyTorchInt64(name) ? "I64" : SAFETENSORS_DTYPE[dtype];

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
/** Valid safetensors dtypes that graft does not read. */
const OTHER_SPEC_DTYPES: readonly string[] = [
  "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
  "I16", "U16", "F16", "BF16", "U32", "U64", "C64",
];
const TYPED_ARRAY_NAME: Readonly<Record<SafetensorsDtype, string>> = {
  F32: "Float32Array",
  F64: "Float64Array",
  I32: "Int32Array",
  I64: "Int32Array",
  BOOL: "Uint8Array",
};
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LONE_SURROGATE = /\p{Surrogate}/u;

// ---------------------------------------------------------------------------------------
// Encoding

/**
 * Serializes tensors to safetensors bytes that `safetensors.torch.load_file` reads.
 * The header is compact JSON (metadata first, then tensors in the given order) padded with
 * spaces to a multiple of 8 bytes; tensor data is stored contiguously in the given order.
 * Throws `WeightsError` for a data array of the wrong type or length, a bad shape, a
 * duplicate or reserved name, a BOOL element other than 0/1, or a non-string metadata value.
 *
 * The data section starts at a multiple of 8 bytes, and the format allows no padding between
 * tensors, so a tensor is aligned to its element size in the file only if the bytes before it
 * are. When mixing dtypes, list wider ones first (F64, then F32/I32, then BOOL), as the
 * reference writer does; readers that copy (like decodeSafetensors) do not care.
 */
export function encodeSafetensors(
  tensors: ReadonlyArray<SafetensorsTensorInput>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const headerParts: string[] = [];
  if (metadata !== undefined) {
    const metadataParts: string[] = [];
    for (const [key, value] of Object.entries(metadata)) {
      checkEncodableString(key, `metadata key ${JSON.stringify(key)}`);
      if (typeof value !== "string") {
        throw new WeightsError(
          `cannot encode safetensors: metadata ${JSON.stringify(key)} must be a string, got ${describeValue(value)}`,
        );
      }
      checkEncodableString(value, `metadata ${JSON.stringify(key)}`);
      metadataParts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
    }
    headerParts.push(`"${METADATA_KEY}":{${metadataParts.join(",")}}`);
  }

  const seenNames = new Set<string>();
  let bufferBytes = 0;
  for (const tensor of tensors) {
    const label = `tensor ${JSON.stringify(tensor.name)}`;
    if (typeof tensor.name !== "string") {
      throw new WeightsError(`cannot encode safetensors: tensor name must be a string, got ${describeValue(tensor.name)}`);
    }
    if (tensor.name === METADATA_KEY) {
      throw new WeightsError(`cannot encode safetensors: the name "${METADATA_KEY}" is reserved for metadata`);
    }
    checkEncodableString(tensor.name, label);
    if (seenNames.has(tensor.name)) {
      throw new WeightsError(`cannot encode safetensors: ${label} appears twice`);
    }
    seenNames.add(tensor.name);
    if (!SUPPORTED_DTYPES.includes(tensor.dtype)) {
      throw new WeightsError(
        `cannot encode safetensors: ${label} has dtype ${describeValue(tensor.dtype)}, expected one of ${SUPPORTED_DTYPES.join(", ")}`,
      );
    }
    const elementCount = checkedElementCount(tensor.shape, (problem) => {
      throw new WeightsError(`cannot encode safetensors: ${label} ${problem}`);
    });
    const expectedArray = TYPED_ARRAY_NAME[tensor.dtype];
    const actualArray = typedArrayKind(tensor.data);
    if (actualArray !== expectedArray) {
      throw new WeightsError(
        `cannot encode safetensors: ${label} has dtype ${tensor.dtype}, so its data must be a ${expectedArray}, got ${actualArray ?? describeValue(tensor.data)}`,
      );
    }
    if (tensor.data.length !== elementCount) {
      throw new WeightsError(
        `cannot encode safetensors: ${label} has shape ${formatShape(tensor.shape)} = ${elementCount} elements, but its data has ${tensor.data.length}`,
      );
    }
    // The data's kind was checked above: a BOOL tensor's data is a Uint8Array.
    if (tensor.dtype === "BOOL") checkBoolValues(tensor.data as Uint8Array, (message) => `cannot encode safetensors: ${label}: ${message}`);
    const byteLength = elementCount * ITEM_SIZE[tensor.dtype];
    headerParts.push(
      `${JSON.stringify(tensor.name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(",")}],"data_offsets":[${bufferBytes},${bufferBytes + byteLength}]}`,
    );
    bufferBytes += byteLength;
  }

  const headerJson = new TextEncoder().encode(`{${headerParts.join(",")}}`);
  const headerLength = Math.ceil(headerJson.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + bufferBytes);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(headerJson, 8);
  out.fill(0x20, 8 + headerJson.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const tensor of tensors) {
    writeElements(view, position, tensor.dtype, tensor.data);
    position += tensor.data.length * ITEM_SIZE[tensor.dtype];
  }
  return out;
}

function writeElements(view: DataView, position: number, dtype: SafetensorsDtype, data: SafetensorsData): void {
  if (dtype === "I64") {
    // int32 values sign-extended to int64, little-endian: the low word, then the high word
    for (let index = 0; index < data.length; index++) {
      const value = data[index] ?? 0;
      view.setInt32(position + 8 * index, value, true);
      view.setInt32(position + 8 * index + 4, value < 0 ? -1 : 0, true);
    }
    return;
  }
  if (HOST_IS_LITTLE_ENDIAN || dtype === "BOOL") {
    new Uint8Array(view.buffer).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    return;
  }
  for (let index = 0; index < data.length; index++) {
    const value = data[index] ?? 0;
    if (dtype === "F32") view.setFloat32(position + 4 * index, value, true);
    else if (dtype === "F64") view.setFloat64(position + 8 * index, value, true);
    else view.setInt32(position + 4 * index, value, true);
  }
}

function checkEncodableString(text: string, what: string): void {
  // serde_json (used by the reference reader) refuses unpaired surrogate escapes.
  if (LONE_SURROGATE.test(text)) {
    throw new WeightsError(`cannot encode safetensors: ${what} contains an unpaired UTF-16 surrogate, which is not valid UTF-8`);
  }
}

// ---------------------------------------------------------------------------------------
// Decoding

interface HeaderEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Parses safetensors bytes into fresh, aligned typed arrays plus the metadata map.
 * Everything is validated before anything is returned (all-or-nothing): the length prefix,
 * the header (UTF-8, a JSON object, well-formed entries, supported dtypes, non-negative
 * integer dims), the data offsets (inside the buffer, sized product(shape)·itemsize, no
 * overlaps, holes or trailing bytes), BOOL values (0 or 1), and, when `expected` is given,
 * that the file holds exactly those tensors with those dtypes and shapes.
 * @param bytes the whole file
 * @param expected the tensors the model needs, if the file must match them exactly
 * @param source how messages name the file, e.g. its path (default "safetensors")
 * @throws WeightsError naming the file, the tensor, the expected and the actual value
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  expected?: ReadonlyArray<SafetensorsTensorSpec>,
  source = "safetensors",
): SafetensorsFile {
  const fail = (message: string): never => {
    throw new WeightsError(`${source}: ${message}`);
  };
  if (bytes.length < 8) {
    fail(`file has ${bytes.length} bytes, fewer than the 8-byte header length that starts every safetensors file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const claimedHeaderLength = view.getBigUint64(0, true);
  if (claimedHeaderLength > BigInt(bytes.length - 8)) {
    fail(
      `header claims ${claimedHeaderLength} bytes but the file has ${bytes.length} (${bytes.length - 8} after the 8-byte length); the file is truncated or not safetensors`,
    );
  }
  if (claimedHeaderLength > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    fail(`header claims ${claimedHeaderLength} bytes, more than the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLength = Number(claimedHeaderLength);
  const dataStart = 8 + headerLength;
  const bufferLength = bytes.length - dataStart;

  const headerBytes = bytes.subarray(8, dataStart);
  if (headerBytes[0] !== 0x7b) {
    fail(
      headerLength === 0
        ? "header is empty, expected a JSON object"
        : `header must be a JSON object starting with '{', found byte 0x${(headerBytes[0] ?? 0).toString(16).padStart(2, "0")} ('${String.fromCharCode(headerBytes[0] ?? 0)}')`,
    );
  }
  let headerText = "";
  try {
    headerText = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (error) {
    fail(`header is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    return fail(`header must be a JSON object, found ${describeValue(header)}`);
  }
  const duplicate = findDuplicateKey(headerText);
  if (duplicate !== undefined) {
    const key = JSON.stringify(duplicate.key);
    fail(
      duplicate.owner === undefined
        ? `header names ${duplicate.key === METADATA_KEY ? key : `tensor ${key}`} twice; a safetensors header must not repeat a key`
        : `${duplicate.owner === METADATA_KEY ? `"${METADATA_KEY}"` : `tensor ${JSON.stringify(duplicate.owner)}`}: key ${key} appears twice in the header; a safetensors header must not repeat a key`,
    );
  }

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, rawEntry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      readMetadata(rawEntry, metadata, fail);
    } else {
      entries.push(readEntry(name, rawEntry, bufferLength, fail));
    }
  }
  checkCoverage(entries, bufferLength, fail);
  for (const entry of entries) {
    if (entry.dtype === "BOOL") {
      checkBoolValues(
        bytes.subarray(dataStart + entry.begin, dataStart + entry.end),
        (message) => `${source}: tensor ${JSON.stringify(entry.name)}: ${message}`,
      );
    }
    if (entry.dtype === "I64") checkInt32Range(view, dataStart + entry.begin, entry, fail);
  }
  if (expected !== undefined) checkExpected(entries, expected, fail);

  const tensors = new Map<string, DecodedTensor>();
  for (const entry of entries) {
    tensors.set(entry.name, readTensor(bytes, dataStart, entry));
  }
  return { tensors, metadata };
}

/**
 * The first key repeated within one object of a JSON text (JSON.parse keeps the last silently;
 * the reference implementation refuses the file), with the key of the object it is in
 * (`undefined` for the top level). Iterative, so any nesting depth is fine. `text` is valid JSON.
 */
export function findDuplicateKey(text: string): { readonly key: string; readonly owner: string | undefined } | undefined {
  interface Level {
    readonly keys: Set<string> | undefined;
    readonly owner: string | undefined;
  }
  const stack: Level[] = [];
  let expectKey = false;
  let lastKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22) {
      let end = i + 1;
      while (end < text.length && text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1;
      const level = stack[stack.length - 1];
      if (expectKey && level?.keys !== undefined) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (level.keys.has(key)) return { key, owner: level.owner };
        level.keys.add(key);
        lastKey = key;
        expectKey = false;
      }
      i = end;
    } else if (code === 0x7b || code === 0x5b) {
      const owner = stack.length === 0 ? undefined : stack.length === 1 ? lastKey : stack[stack.length - 1]?.owner;
      stack.push({ keys: code === 0x7b ? new Set() : undefined, owner });
      expectKey = code === 0x7b;
    } else if (code === 0x7d || code === 0x5d) {
      stack.pop();
    } else if (code === 0x2c) {
      expectKey = stack[stack.length - 1]?.keys !== undefined;
    }
  }
  return undefined;
}

function readMetadata(rawMetadata: unknown, into: Record<string, string>, fail: (message: string) => never): void {
  if (rawMetadata === null) return;
  if (typeof rawMetadata !== "object" || Array.isArray(rawMetadata)) {
    fail(`"${METADATA_KEY}" must be an object of strings, found ${describeValue(rawMetadata)}`);
  }
  for (const [key, value] of Object.entries(rawMetadata as object)) {
    if (typeof value !== "string") {
      fail(`"${METADATA_KEY}" value ${JSON.stringify(key)} must be a string, found ${describeValue(value)}`);
    }
    Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
  }
}

function readEntry(name: string, rawEntry: unknown, bufferLength: number, fail: (message: string) => never): HeaderEntry {
  const label = `tensor ${JSON.stringify(name)}`;
  if (typeof rawEntry !== "object" || rawEntry === null || Array.isArray(rawEntry)) {
    return fail(`${label}: header entry must be an object with dtype, shape and data_offsets, found ${describeValue(rawEntry)}`);
  }
  const fields = rawEntry as Record<string, unknown>;
  for (const field of ["dtype", "shape", "data_offsets"]) {
    if (!Object.prototype.hasOwnProperty.call(fields, field)) fail(`${label}: header entry has no "${field}"`);
  }
  const { dtype, shape, data_offsets: offsets } = fields;
  if (typeof dtype !== "string") return fail(`${label}: dtype must be a string, found ${describeValue(dtype)}`);
  if (!(SUPPORTED_DTYPES as readonly string[]).includes(dtype)) {
    return fail(
      OTHER_SPEC_DTYPES.includes(dtype)
        ? `${label}: dtype ${dtype} is not supported by graft (supported: ${SUPPORTED_DTYPES.join(", ")}); convert the tensor before saving, e.g. tensor.float() in PyTorch`
        : `${label}: unknown dtype ${JSON.stringify(dtype)} (supported: ${SUPPORTED_DTYPES.join(", ")})`,
    );
  }
  const knownDtype = dtype as SafetensorsDtype;
  if (!Array.isArray(shape)) return fail(`${label}: shape must be an array of integers, found ${describeValue(shape)}`);
  const elementCount = checkedElementCount(shape, (problem) => fail(`${label}: ${problem}`));
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0)) {
    return fail(`${label}: data_offsets must be [begin, end] with integers 0 ≤ begin ≤ end, found ${describeValue(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`${label}: data_offsets [${begin},${end}] end before they begin`);
  if (end > bufferLength) {
    fail(`${label}: data_offsets [${begin},${end}] reach past the end of the ${bufferLength}-byte data buffer`);
  }
  const neededBytes = elementCount * ITEM_SIZE[knownDtype];
  if (end - begin !== neededBytes) {
    fail(
      `${label}: data_offsets [${begin},${end}] hold ${end - begin} bytes, but ${knownDtype} ${formatShape(shape)} needs ${neededBytes} (${elementCount} elements × ${ITEM_SIZE[knownDtype]} bytes)`,
    );
  }
  return { name, dtype: knownDtype, shape: shape as number[], begin, end };
}

/** Sorts entries by offset (in place) and checks that they tile the buffer exactly. */
function checkCoverage(entries: HeaderEntry[], bufferLength: number, fail: (message: string) => never): void {
  entries.sort((left, right) => left.begin - right.begin || left.end - right.end);
  let covered = 0;
  let previous: HeaderEntry | undefined;
  for (const entry of entries) {
    if (entry.begin < covered && previous !== undefined) {
      fail(
        `tensors ${JSON.stringify(previous.name)} [${previous.begin},${previous.end}] and ${JSON.stringify(entry.name)} [${entry.begin},${entry.end}] overlap in the data buffer`,
      );
    }
    if (entry.begin > covered) {
      const where = previous === undefined ? `before tensor ${JSON.stringify(entry.name)}` : `between tensors ${JSON.stringify(previous.name)} and ${JSON.stringify(entry.name)}`;
      fail(`bytes [${covered},${entry.begin}) of the data buffer belong to no tensor (${where}); the safetensors format forbids holes`);
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== bufferLength) {
    fail(
      `the data buffer has ${bufferLength - covered} trailing bytes [${covered},${bufferLength}) that belong to no tensor; the safetensors format forbids them`,
    );
  }
}

function checkExpected(
  entries: readonly HeaderEntry[],
  expected: ReadonlyArray<SafetensorsTensorSpec>,
  fail: (message: string) => never,
): void {
  const found = new Map(entries.map((entry) => [entry.name, entry]));
  const expectedNames = new Set<string>();
  const problems: string[] = [];
  for (const spec of expected) {
    if (expectedNames.has(spec.name)) {
      throw new WeightsError(`decodeSafetensors: the expected tensors list ${JSON.stringify(spec.name)} twice`);
    }
    expectedNames.add(spec.name);
    const label = `tensor ${JSON.stringify(spec.name)}`;
    const entry = found.get(spec.name);
    if (entry === undefined) {
      problems.push(`${label} is missing (expected ${spec.dtype} ${formatShape(spec.shape)})`);
      continue;
    }
    // I64 and I32 both hold graft's i32 (I64 values are range-checked when read)
    if (entry.dtype !== spec.dtype && !(isInteger(entry.dtype) && isInteger(spec.dtype))) problems.push(`${label} has dtype ${entry.dtype}, expected ${spec.dtype}`);
    if (formatShape(entry.shape) !== formatShape(spec.shape)) {
      problems.push(`${label} has shape ${formatShape(entry.shape)}, expected ${formatShape(spec.shape)}`);
    }
  }
  for (const entry of entries) {
    if (!expectedNames.has(entry.name)) {
      problems.push(`unexpected tensor ${JSON.stringify(entry.name)} (${entry.dtype} ${formatShape(entry.shape)}) is not in the model`);
    }
  }
  if (problems.length === 1) fail(`weights do not match the model: ${problems[0] ?? ""}`);
  if (problems.length > 1) fail(`weights do not match the model (${problems.length} problems):\n  ${problems.join("\n  ")}`);
}

const isInteger = (dtype: SafetensorsDtype): boolean => dtype === "I32" || dtype === "I64";

/** Checks that every element of an I64 tensor fits in int32 (graft holds it as i32). */
function checkInt32Range(view: DataView, start: number, entry: HeaderEntry, fail: (message: string) => never): void {
  for (let index = 0; 8 * index < entry.end - entry.begin; index++) {
    const low = view.getInt32(start + 8 * index, true);
    const high = view.getInt32(start + 8 * index + 4, true);
    if (high !== (low < 0 ? -1 : 0)) {
      const value = view.getBigInt64(start + 8 * index, true);
      fail(
        `tensor ${JSON.stringify(entry.name)}: I64 element ${index} is ${value}, outside the int32 range [${INT32_MIN}, ${INT32_MAX}] graft holds integer tensors in`,
      );
    }
  }
}

function readTensor(bytes: Uint8Array, dataStart: number, entry: HeaderEntry): DecodedTensor {
  const { name, shape } = entry;
  if (entry.dtype === "I64") {
    // range-checked in decodeSafetensors: each element's low word is its value
    const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart + entry.begin, entry.end - entry.begin);
    const data = new Int32Array((entry.end - entry.begin) / 8);
    for (let index = 0; index < data.length; index++) data[index] = view.getInt32(8 * index, true);
    return { name, dtype: "I32", shape, data };
  }
  const byteLength = entry.end - entry.begin;
  const storage = new ArrayBuffer(byteLength);
  const start = dataStart + entry.begin;
  // subarray, not slice: Node's Buffer.slice returns a view, and views may be unaligned.
  new Uint8Array(storage).set(bytes.subarray(start, start + byteLength));
  if (entry.dtype === "BOOL") return { name, dtype: "BOOL", shape, data: new Uint8Array(storage) };
  const tensor: DecodedTensor =
    entry.dtype === "F32"
      ? { name, dtype: "F32", shape, data: new Float32Array(storage) }
      : entry.dtype === "F64"
        ? { name, dtype: "F64", shape, data: new Float64Array(storage) }
        : { name, dtype: "I32", shape, data: new Int32Array(storage) };
  if (!HOST_IS_LITTLE_ENDIAN) {
    // the bytes are little-endian: read each element through a DataView
    const view = new DataView(storage);
    const { data } = tensor;
    for (let index = 0; index < data.length; index++)
      data[index] = tensor.dtype === "F32" ? view.getFloat32(4 * index, true) : tensor.dtype === "F64" ? view.getFloat64(8 * index, true) : view.getInt32(4 * index, true);
  }
  return tensor;
}

// ---------------------------------------------------------------------------------------
// Helpers

/** product(shape) after checking every dim is a non-negative safe integer. */
function checkedElementCount(shape: readonly unknown[], fail: (problem: string) => never): number {
  if (!Array.isArray(shape)) return fail(`shape must be an array of integers, found ${describeValue(shape)}`);
  let count = 1;
  for (let axis = 0; axis < shape.length; axis++) {
    const dim = shape[axis];
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      return fail(`shape ${describeJson(shape)} has dim ${axis} = ${describeValue(dim)}, expected a non-negative integer`);
    }
    count *= dim;
  }
  if (!Number.isSafeInteger(count)) return fail(`shape ${formatShape(shape as number[])} has more than 2^53 elements`);
  return count;
}

function checkBoolValues(data: Uint8Array, message: (problem: string) => string): void {
  for (let index = 0; index < data.length; index++) {
    const value = data[index] ?? 0;
    if (value > 1) throw new WeightsError(message(`BOOL element ${index} is ${value}, expected 0 or 1`));
  }
}
