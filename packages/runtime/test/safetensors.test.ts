import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import {
  findDuplicateKey,
  SAFETENSORS_MAX_HEADER_BYTES,
  WeightsError,
  decodeSafetensors,
  encodeSafetensors,
  isPyTorchInt64,
  safetensorsDtypeOf,
  type SafetensorsDtype,
  type SafetensorsTensorInput,
} from "../src/safetensors.js";

/** A file from a header text and buffer bytes; the length prefix is the header's byte length. */
function fileOf(headerText: string, buffer: readonly number[] = []): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(buffer, 8 + header.length);
  return out;
}

/** A file whose header has the given tensors entries (as JSON values) and buffer. */
function fileWithEntries(entries: Record<string, unknown>, buffer: readonly number[] = []): Uint8Array {
  return fileOf(JSON.stringify(entries), buffer);
}

function decodeError(bytes: Uint8Array, ...rest: [Parameters<typeof decodeSafetensors>[1]?, string?]): WeightsError {
  try {
    decodeSafetensors(bytes, ...rest);
  } catch (error) {
    if (error instanceof WeightsError) return error;
    throw error;
  }
  throw new Error("decodeSafetensors did not throw");
}

function encodeError(...args: Parameters<typeof encodeSafetensors>): WeightsError {
  try {
    encodeSafetensors(...args);
  } catch (error) {
    if (error instanceof WeightsError) return error;
    throw error;
  }
  throw new Error("encodeSafetensors did not throw");
}

function bytesOf(data: ArrayBufferView): number[] {
  return Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

describe("encodeSafetensors: golden file", () => {
  // Built by hand from the spec: the header is compact JSON, metadata first, then tensors in
  // the order given, padded with spaces to a multiple of 8; offsets are relative to the
  // buffer; data is little-endian and contiguous in the order given.
  const header =
    '{"__metadata__":{"format":"pt"},' + // 32 bytes
    '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' + // 53 bytes: 8 = 2 × 4
    '"n":{"dtype":"I32","shape":[],"data_offsets":[8,12]},' + // 53 bytes: a scalar, 1 × 4
    '"m":{"dtype":"BOOL","shape":[3],"data_offsets":[12,15]}}'; // 56 bytes: 3 × 1
  const golden = [
    [0xc8, 0, 0, 0, 0, 0, 0, 0], // N = 200 = 194 rounded up to a multiple of 8, u64 little-endian
    Array.from(header, (char) => char.charCodeAt(0)),
    [0x20, 0x20, 0x20, 0x20, 0x20, 0x20], // 6 spaces of padding
    [0x00, 0x00, 0x80, 0x3f], // 1.0f  = 0x3f800000
    [0x00, 0x00, 0x00, 0xc0], // -2.0f = 0xc0000000
    [0x07, 0x00, 0x00, 0x00], // 7
    [0x01, 0x00, 0x01], // true, false, true
  ].flat();
  const tensors: SafetensorsTensorInput[] = [
    { name: "w", dtype: "F32", shape: [2], data: new Float32Array([1, -2]) },
    { name: "n", dtype: "I32", shape: [], data: new Int32Array([7]) },
    { name: "m", dtype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) },
  ];

  it("writes the hand-built bytes exactly", () => {
    expect(header.length).toBe(32 + 53 + 53 + 56);
    expect(golden.length).toBe(8 + 200 + 15);
    expect(Array.from(encodeSafetensors(tensors, { format: "pt" }))).toEqual(golden);
  });

  it("reads the hand-built bytes back", () => {
    const decoded = decodeSafetensors(Uint8Array.from(golden));
    expect(decoded.metadata).toEqual({ format: "pt" });
    expect([...decoded.tensors.keys()]).toEqual(["w", "n", "m"]);
    expect(decoded.tensors.get("w")).toEqual({ name: "w", dtype: "F32", shape: [2], data: new Float32Array([1, -2]) });
    expect(decoded.tensors.get("n")).toEqual({ name: "n", dtype: "I32", shape: [], data: new Int32Array([7]) });
    expect(decoded.tensors.get("m")).toEqual({ name: "m", dtype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) });
  });

  it("writes an empty file as '{}' padded to 8 bytes, and omits metadata when none is given", () => {
    expect(Array.from(encodeSafetensors([]))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    expect(decodeSafetensors(encodeSafetensors([]))).toEqual({ tensors: new Map(), metadata: {} });
  });

  it("escapes names and keeps integer-like names in the order given", () => {
    const bytes = encodeSafetensors([
      { name: "b\"\\", dtype: "F64", shape: [1], data: new Float64Array([0.5]) },
      { name: "10", dtype: "F64", shape: [1], data: new Float64Array([1]) },
      { name: "2", dtype: "F64", shape: [1], data: new Float64Array([2]) },
    ]);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))));
    expect(headerText.trimEnd()).toBe(
      '{"b\\"\\\\":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"10":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},"2":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}',
    );
    const decoded = decodeSafetensors(bytes);
    expect([...decoded.tensors.keys()]).toEqual(["b\"\\", "10", "2"]);
    expect(Array.from(decoded.tensors.get("2")?.data ?? [])).toEqual([2]);
  });
});

const dtypeArbitrary = fc.constantFrom<SafetensorsDtype>("F32", "F64", "I32", "BOOL");
const shapeArbitrary = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });

function dataArbitrary(dtype: SafetensorsDtype, count: number): fc.Arbitrary<SafetensorsTensorInput["data"]> {
  switch (dtype) {
    case "F32":
      return fc.array(fc.float(), { minLength: count, maxLength: count }).map((values) => Float32Array.from(values));
    case "F64":
      return fc.array(fc.double(), { minLength: count, maxLength: count }).map((values) => Float64Array.from(values));
    case "I32":
    case "I64":
      return fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: count, maxLength: count }).map((values) => Int32Array.from(values));
    case "BOOL":
      return fc.array(fc.boolean(), { minLength: count, maxLength: count }).map((values) => Uint8Array.from(values, Number));
  }
}

const tensorArbitrary = (name: string): fc.Arbitrary<SafetensorsTensorInput> =>
  fc.tuple(dtypeArbitrary, shapeArbitrary).chain(([dtype, shape]) =>
    dataArbitrary(dtype, shape.reduce((product, dim) => product * dim, 1)).map((data) => ({ name, dtype, shape, data })),
  );

const tensorsArbitrary: fc.Arbitrary<SafetensorsTensorInput[]> = fc
  .uniqueArray(fc.string({ unit: "binary", maxLength: 8 }).filter((name) => name !== "__metadata__"), { maxLength: 6 })
  .chain((names) => fc.tuple(...names.map(tensorArbitrary)));

const metadataArbitrary = fc.option(fc.dictionary(fc.string({ unit: "binary" }), fc.string({ unit: "binary" })), { nil: undefined });

describe("safetensors round trips (property)", () => {
  it("decode(encode(tensors)) gives back every tensor, byte for byte, in the order written", () => {
    fc.assert(
      fc.property(tensorsArbitrary, metadataArbitrary, (tensors, metadata) => {
        const bytes = encodeSafetensors(tensors, metadata);
        const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(headerLength % 8).toBe(0);
        const dataBytes = tensors.reduce((total, tensor) => total + tensor.data.byteLength, 0);
        expect(bytes.length).toBe(8 + headerLength + dataBytes);

        const decoded = decodeSafetensors(bytes, tensors);
        expect(decoded.metadata).toEqual(metadata ?? {});
        // Zero-size tensors may share an offset with their neighbour, so compare as sets
        // when there are any, and in order otherwise.
        const nonEmptyNames = tensors.filter((tensor) => tensor.data.length > 0).map((tensor) => tensor.name);
        expect([...decoded.tensors.keys()].filter((name) => nonEmptyNames.includes(name))).toEqual(nonEmptyNames);
        expect(new Set(decoded.tensors.keys())).toEqual(new Set(tensors.map((tensor) => tensor.name)));
        for (const tensor of tensors) {
          const found = decoded.tensors.get(tensor.name);
          expect(found?.dtype).toBe(tensor.dtype);
          expect(found?.shape).toEqual(tensor.shape);
          expect(found?.data.constructor).toBe(tensor.data.constructor);
          expect(found === undefined ? [] : bytesOf(found.data)).toEqual(bytesOf(tensor.data));
        }
        // The data section sits right after the header, in the order written.
        let position = 8 + headerLength;
        for (const tensor of tensors) {
          expect(Array.from(bytes.subarray(position, position + tensor.data.byteLength))).toEqual(bytesOf(tensor.data));
          position += tensor.data.byteLength;
        }
      }),
    );
  });

  it("any truncation of a valid file is refused with a WeightsError", () => {
    fc.assert(
      fc.property(tensorsArbitrary, fc.nat(), (tensors, cut) => {
        const bytes = encodeSafetensors(tensors);
        const truncated = bytes.subarray(0, cut % bytes.length);
        expect(() => decodeSafetensors(truncated)).toThrow(WeightsError);
      }),
    );
  });

  it("a corrupted byte either still decodes or throws a WeightsError, never anything else", () => {
    fc.assert(
      fc.property(tensorsArbitrary, fc.nat(), fc.integer({ min: 0, max: 255 }), (tensors, where, value) => {
        const bytes = encodeSafetensors(tensors).slice();
        bytes[where % bytes.length] = value;
        try {
          decodeSafetensors(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(WeightsError);
        }
      }),
    );
  });

  it("returns aligned copies, also from an unaligned Node Buffer view", () => {
    const bytes = encodeSafetensors([{ name: "x", dtype: "F64", shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) }]);
    const backing = Buffer.alloc(bytes.length + 3);
    backing.set(bytes, 3);
    const unaligned = backing.subarray(3);
    const decoded = decodeSafetensors(unaligned);
    const x = decoded.tensors.get("x");
    expect(x?.data).toEqual(new Float64Array([1, 2, 3, 4]));
    expect(x?.data.byteOffset).toBe(0);
    backing.fill(0);
    expect(x?.data).toEqual(new Float64Array([1, 2, 3, 4]));
  });
});

describe("decodeSafetensors: malformed files", () => {
  const f32Pair = [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]; // [1, 2] as F32

  it("refuses a file shorter than the length prefix", () => {
    expect(decodeError(new Uint8Array(5)).message).toBe(
      "safetensors: file has 5 bytes, fewer than the 8-byte header length that starts every safetensors file",
    );
  });

  it("names the file in messages when given a source", () => {
    expect(decodeError(new Uint8Array(0), undefined, "model.safetensors").message).toMatch(/^model\.safetensors: file has 0 bytes/);
  });

  it("refuses a header longer than the file", () => {
    const bytes = new Uint8Array(1234);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(decodeError(bytes).message).toBe(
      "safetensors: header claims 1099511627776 bytes but the file has 1234 (1226 after the 8-byte length); the file is truncated or not safetensors",
    );
  });

  it("refuses a header larger than the 100 MB cap even when the file is that large", () => {
    const claimed = SAFETENSORS_MAX_HEADER_BYTES + 8;
    const bytes = new Uint8Array(8 + claimed);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(claimed), true);
    expect(decodeError(bytes).message).toBe("safetensors: header claims 100000008 bytes, more than the 100000000-byte limit");
  });

  it("refuses a header that is not valid UTF-8", () => {
    const bytes = fileOf('{"a":1}');
    bytes[10] = 0xff;
    expect(decodeError(bytes).message).toBe("safetensors: header is not valid UTF-8");
  });

  it("refuses a header that is not JSON", () => {
    expect(decodeError(fileOf('{"w": }')).message).toMatch(/^safetensors: header is not valid JSON: .+/);
  });

  it("refuses a header with a duplicate key, even when both entries are identical (issue 16, item 14)", () => {
    const entry = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';
    expect(decodeError(fileOf(`{"w":${entry},"w":${entry}}`, f32Pair)).message).toBe(
      'safetensors: header names tensor "w" twice; a safetensors header must not repeat a key',
    );
    expect(decodeError(fileOf(`{"__metadata__":{"a":"1"},"__metadata__":{"a":"1"},"w":${entry}}`, f32Pair)).message).toBe(
      'safetensors: header names "__metadata__" twice; a safetensors header must not repeat a key',
    );
    expect(decodeError(fileOf(`{"__metadata__":{"a":"1","a":"2"},"w":${entry}}`, f32Pair)).message).toBe(
      'safetensors: "__metadata__": key "a" appears twice in the header; a safetensors header must not repeat a key',
    );
    expect(decodeError(fileOf(`{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32Pair)).message).toBe(
      'safetensors: tensor "w": key "dtype" appears twice in the header; a safetensors header must not repeat a key',
    );
    // Escaped spellings of one key are the same key; keys in different objects are not duplicates.
    expect(decodeError(fileOf(`{"w":${entry},"\\u0077":${entry}}`, f32Pair)).message).toMatch(/tensor "w" twice/);
    expect(decodeSafetensors(fileOf(`{"a\\"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32Pair)).tensors.size).toBe(2);
  });

  it("finds duplicate keys at any depth without recursion", () => {
    const deep = `${"[".repeat(100_000)}{"k":1,"k":2}${"]".repeat(100_000)}`;
    expect(findDuplicateKey(deep)).toEqual({ key: "k", owner: undefined });
    expect(findDuplicateKey('{"a":[{"x":1},{"x":1}],"b":"a"}')).toBeUndefined();
  });

  it("refuses a header that is not a JSON object", () => {
    expect(decodeError(fileOf("[1,2]")).message).toBe("safetensors: header must be a JSON object starting with '{', found byte 0x5b ('[')");
    expect(decodeError(fileOf("")).message).toBe("safetensors: header is empty, expected a JSON object");
  });

  it("refuses an entry that is not an object", () => {
    expect(decodeError(fileWithEntries({ w: 5 })).message).toBe(
      'safetensors: tensor "w": header entry must be an object with dtype, shape and data_offsets, found 5',
    );
  });

  it.each(["dtype", "shape", "data_offsets"])("refuses an entry without %s", (field) => {
    const entry: Record<string, unknown> = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
    delete entry[field];
    expect(decodeError(fileWithEntries({ w: entry }, f32Pair)).message).toBe(`safetensors: tensor "w": header entry has no "${field}"`);
  });

  it("refuses a dtype that is not a string, unknown, or not supported", () => {
    const entry = (dtype: unknown): Uint8Array => fileWithEntries({ w: { dtype, shape: [2], data_offsets: [0, 8] } }, f32Pair);
    expect(decodeError(entry(3)).message).toBe('safetensors: tensor "w": dtype must be a string, found 3');
    expect(decodeError(entry("F17")).message).toBe('safetensors: tensor "w": unknown dtype "F17" (supported: F32, F64, I32, I64, BOOL)');
    expect(decodeError(entry("F16")).message).toBe(
      'safetensors: tensor "w": dtype F16 is not supported by graft (supported: F32, F64, I32, I64, BOOL); convert the tensor before saving, e.g. tensor.float() in PyTorch',
    );
  });

  it("refuses a bad shape", () => {
    const entry = (shape: unknown): Uint8Array => fileWithEntries({ w: { dtype: "F32", shape, data_offsets: [0, 8] } }, f32Pair);
    expect(decodeError(entry("2")).message).toBe('safetensors: tensor "w": shape must be an array of integers, found "2"');
    expect(decodeError(entry([2, -1])).message).toBe(
      'safetensors: tensor "w": shape [2,-1] has dim 1 = -1, expected a non-negative integer',
    );
    expect(decodeError(entry([1.5])).message).toBe('safetensors: tensor "w": shape [1.5] has dim 0 = 1.5, expected a non-negative integer');
    expect(decodeError(entry(["2"])).message).toBe('safetensors: tensor "w": shape ["2"] has dim 0 = "2", expected a non-negative integer');
  });

  it("refuses malformed data_offsets", () => {
    const entry = (offsets: unknown): Uint8Array => fileWithEntries({ w: { dtype: "F32", shape: [2], data_offsets: offsets } }, f32Pair);
    const message = (found: string): string =>
      `safetensors: tensor "w": data_offsets must be [begin, end] with integers 0 ≤ begin ≤ end, found ${found}`;
    expect(decodeError(entry(8)).message).toBe(message("8"));
    expect(decodeError(entry([0, 8, 9])).message).toBe(message("an Array of length 3 ([0,8,9])"));
    expect(decodeError(entry([-1, 8])).message).toBe(message("an Array of length 2 ([-1,8])"));
    expect(decodeError(entry([0, 0.5])).message).toBe(message("an Array of length 2 ([0,0.5])"));
    expect(decodeError(entry([8, 0])).message).toBe('safetensors: tensor "w": data_offsets [8,0] end before they begin');
  });

  it("refuses data_offsets past the end of the buffer", () => {
    const bytes = fileWithEntries({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32Pair);
    expect(decodeError(bytes).message).toBe('safetensors: tensor "w": data_offsets [0,16] reach past the end of the 8-byte data buffer');
  });

  it("refuses data_offsets whose length is not product(shape) × itemsize", () => {
    const bytes = fileWithEntries({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32Pair);
    expect(decodeError(bytes).message).toBe(
      'safetensors: tensor "w": data_offsets [0,8] hold 8 bytes, but F32 [3] needs 12 (3 elements × 4 bytes)',
    );
  });

  it("refuses overlapping tensors", () => {
    const bytes = fileWithEntries(
      {
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      },
      f32Pair,
    );
    expect(decodeError(bytes).message).toBe('safetensors: tensors "a" [0,8] and "b" [4,8] overlap in the data buffer');
  });

  it("refuses holes between tensors and before the first one", () => {
    const between = fileWithEntries(
      {
        b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
      },
      [...f32Pair, 0, 0, 0, 0],
    );
    expect(decodeError(between).message).toBe(
      'safetensors: bytes [4,8) of the data buffer belong to no tensor (between tensors "a" and "b"); the safetensors format forbids holes',
    );
    const before = fileWithEntries({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32Pair);
    expect(decodeError(before).message).toBe(
      'safetensors: bytes [0,4) of the data buffer belong to no tensor (before tensor "a"); the safetensors format forbids holes',
    );
  });

  it("refuses trailing bytes after the last tensor", () => {
    const bytes = fileWithEntries({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32Pair);
    expect(decodeError(bytes).message).toBe(
      "safetensors: the data buffer has 4 trailing bytes [4,8) that belong to no tensor; the safetensors format forbids them",
    );
    expect(decodeError(fileOf("{}", [1])).message).toBe(
      "safetensors: the data buffer has 1 trailing bytes [0,1) that belong to no tensor; the safetensors format forbids them",
    );
  });

  it("refuses metadata that is not a map of strings", () => {
    expect(decodeError(fileWithEntries({ __metadata__: ["a"] })).message).toBe(
      'safetensors: "__metadata__" must be an object of strings, found an Array of length 1 (["a"])',
    );
    expect(decodeError(fileWithEntries({ __metadata__: { epoch: 3 } })).message).toBe(
      'safetensors: "__metadata__" value "epoch" must be a string, found 3',
    );
  });

  it("accepts null metadata, padding, and zero-size tensors", () => {
    const bytes = fileOf(
      JSON.stringify({
        __metadata__: null,
        empty: { dtype: "F32", shape: [0, 3], data_offsets: [8, 8] },
        w: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      }) + "   ",
      f32Pair,
    );
    const decoded = decodeSafetensors(bytes);
    expect(decoded.metadata).toEqual({});
    expect([...decoded.tensors.keys()]).toEqual(["w", "empty"]);
    expect(decoded.tensors.get("empty")?.data).toEqual(new Float32Array(0));
    expect(decoded.tensors.get("w")?.data).toEqual(new Float32Array([1, 2]));
  });

  it("keeps a metadata key named __proto__ as plain data", () => {
    const decoded = decodeSafetensors(fileOf('{"__metadata__":{"__proto__":"x"}}'));
    expect(Object.getOwnPropertyDescriptor(decoded.metadata, "__proto__")?.value).toBe("x");
    expect(Object.getPrototypeOf(decoded.metadata)).toBe(Object.prototype);
  });

  it("refuses BOOL elements other than 0 and 1", () => {
    const bytes = fileWithEntries({ mask: { dtype: "BOOL", shape: [3], data_offsets: [0, 3] } }, [1, 0, 2]);
    expect(decodeError(bytes).message).toBe('safetensors: tensor "mask": BOOL element 2 is 2, expected 0 or 1');
  });
});

describe("decodeSafetensors: expected tensors", () => {
  const bytes = encodeSafetensors([
    { name: "fc.weight", dtype: "F32", shape: [3, 2], data: new Float32Array(6) },
    { name: "fc.bias", dtype: "F32", shape: [3], data: new Float32Array(3) },
  ]);

  it("accepts exactly the expected tensors in any order", () => {
    const decoded = decodeSafetensors(bytes, [
      { name: "fc.bias", dtype: "F32", shape: [3] },
      { name: "fc.weight", dtype: "F32", shape: [3, 2] },
    ]);
    expect(decoded.tensors.size).toBe(2);
  });

  it("names a missing tensor with its expected dtype and shape", () => {
    const error = decodeError(bytes, [
      { name: "fc.weight", dtype: "F32", shape: [3, 2] },
      { name: "fc.bias", dtype: "F32", shape: [3] },
      { name: "out.bias", dtype: "F32", shape: [10] },
    ], "model.safetensors");
    expect(error.message).toBe('model.safetensors: weights do not match the model: tensor "out.bias" is missing (expected F32 [10])');
  });

  it("names an unexpected extra tensor", () => {
    expect(decodeError(bytes, [{ name: "fc.weight", dtype: "F32", shape: [3, 2] }]).message).toBe(
      'safetensors: weights do not match the model: unexpected tensor "fc.bias" (F32 [3]) is not in the model',
    );
  });

  it("names a wrong dtype and a wrong shape with the expected and actual values", () => {
    expect(
      decodeError(bytes, [
        { name: "fc.weight", dtype: "F32", shape: [3, 2] },
        { name: "fc.bias", dtype: "F64", shape: [3] },
      ]).message,
    ).toBe('safetensors: weights do not match the model: tensor "fc.bias" has dtype F32, expected F64');
    expect(
      decodeError(bytes, [
        { name: "fc.weight", dtype: "F32", shape: [2, 3] },
        { name: "fc.bias", dtype: "F32", shape: [3] },
      ]).message,
    ).toBe('safetensors: weights do not match the model: tensor "fc.weight" has shape [3,2], expected [2,3]');
  });

  it("lists every mismatch at once", () => {
    expect(decodeError(bytes, [{ name: "fc.weight", dtype: "I32", shape: [6] }, { name: "b", dtype: "F32", shape: [] }]).message).toBe(
      [
        "safetensors: weights do not match the model (4 problems):",
        '  tensor "fc.weight" has dtype F32, expected I32',
        '  tensor "fc.weight" has shape [3,2], expected [6]',
        '  tensor "b" is missing (expected F32 [])',
        '  unexpected tensor "fc.bias" (F32 [3]) is not in the model',
      ].join("\n"),
    );
  });

  it("refuses an expected list that names a tensor twice", () => {
    const spec = { name: "fc.bias", dtype: "F32", shape: [3] } as const;
    expect(decodeError(bytes, [spec, spec]).message).toBe('decodeSafetensors: the expected tensors list "fc.bias" twice');
  });
});

describe("encodeSafetensors: bad tensors", () => {
  const ok = { name: "w", dtype: "F32", shape: [2], data: new Float32Array(2) } as const;

  it("refuses data of the wrong typed-array kind", () => {
    expect(encodeError([{ ...ok, data: new Float64Array(2) }]).message).toBe(
      'cannot encode safetensors: tensor "w" has dtype F32, so its data must be a Float32Array, got Float64Array',
    );
    expect(encodeError([{ name: "m", dtype: "BOOL", shape: [1], data: new Int32Array(1) }]).message).toBe(
      'cannot encode safetensors: tensor "m" has dtype BOOL, so its data must be a Uint8Array, got Int32Array',
    );
  });

  it("refuses data whose length is not product(shape)", () => {
    expect(encodeError([{ ...ok, shape: [2, 3] }]).message).toBe(
      'cannot encode safetensors: tensor "w" has shape [2,3] = 6 elements, but its data has 2',
    );
  });

  it("refuses a bad dim, an unknown dtype, a duplicate or reserved name", () => {
    expect(encodeError([{ ...ok, shape: [-2] }]).message).toBe(
      'cannot encode safetensors: tensor "w" shape [-2] has dim 0 = -2, expected a non-negative integer',
    );
    const badDtype = { ...ok, dtype: "F16" } as unknown as SafetensorsTensorInput;
    expect(encodeError([badDtype]).message).toBe(
      'cannot encode safetensors: tensor "w" has dtype "F16", expected one of F32, F64, I32, I64, BOOL',
    );
    expect(encodeError([ok, ok]).message).toBe('cannot encode safetensors: tensor "w" appears twice');
    expect(encodeError([{ ...ok, name: "__metadata__" }]).message).toBe(
      'cannot encode safetensors: the name "__metadata__" is reserved for metadata',
    );
  });

  it("refuses BOOL elements other than 0 and 1", () => {
    expect(encodeError([{ name: "m", dtype: "BOOL", shape: [2], data: new Uint8Array([1, 255]) }]).message).toBe(
      'cannot encode safetensors: tensor "m": BOOL element 1 is 255, expected 0 or 1',
    );
  });

  it("refuses non-string metadata and unpaired surrogates", () => {
    const metadata = { epoch: 3 } as unknown as Record<string, string>;
    expect(encodeError([ok], metadata).message).toBe('cannot encode safetensors: metadata "epoch" must be a string, got 3');
    expect(encodeError([{ ...ok, name: "a\ud800" }]).message).toBe(
      'cannot encode safetensors: tensor "a\\ud800" contains an unpaired UTF-16 surrogate, which is not valid UTF-8',
    );
  });
});

describe("runtime contract", () => {
  it("safetensors.ts imports only sibling runtime files: it is inlined into standalone bundles", () => {
    const source = readFileSync(new URL("../src/safetensors.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/^\s*(import|export)\b[^;]*\bfrom\s+["'](?!\.\/)/m);
    expect(source).not.toMatch(/\b(require|import)\s*\(/);
  });
});

describe("I64: PyTorch's int64 tensors as graft's i32", () => {
  const int64Bytes = (values: readonly bigint[]): number[] => {
    const out = new Uint8Array(8 * values.length);
    values.forEach((value, index) => new DataView(out.buffer).setBigInt64(8 * index, value, true));
    return Array.from(out);
  };

  it("writes I32 data as sign-extended little-endian int64 and reads it back as I32", () => {
    const values = Int32Array.of(0, 1, -1, 2147483647, -2147483648, 123456);
    const bytes = encodeSafetensors([{ name: "bn.num_batches_tracked", dtype: "I64", shape: [6], data: values }]);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)).trimEnd()).toBe('{"bn.num_batches_tracked":{"dtype":"I64","shape":[6],"data_offsets":[0,48]}}');
    expect(Array.from(bytes.subarray(8 + headerLength))).toEqual(int64Bytes([0n, 1n, -1n, 2147483647n, -2147483648n, 123456n]));
    const decoded = decodeSafetensors(bytes, [{ name: "bn.num_batches_tracked", dtype: "I32", shape: [6] }]).tensors.get("bn.num_batches_tracked");
    expect(decoded?.dtype).toBe("I32");
    expect(decoded?.data).toEqual(values);
    // an expected I64 accepts an I32 tensor too (both hold graft's i32)
    const i32File = encodeSafetensors([{ name: "n", dtype: "I32", shape: [], data: Int32Array.of(7) }]);
    expect(decodeSafetensors(i32File, [{ name: "n", dtype: "I64", shape: [] }]).tensors.get("n")?.data).toEqual(Int32Array.of(7));
  });

  it("round trips any int32 values through I64 (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 20 }), (values) => {
        const data = Int32Array.from(values);
        const decoded = decodeSafetensors(encodeSafetensors([{ name: "t", dtype: "I64", shape: [data.length], data }])).tensors.get("t");
        expect(decoded?.data).toEqual(data);
      }),
    );
  });

  it("refuses an I64 value outside int32, naming the tensor, the element, the value and the range", () => {
    const file = (value: bigint): Uint8Array =>
      fileWithEntries({ "bn1.num_batches_tracked": { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, int64Bytes([5n, value]));
    expect(decodeError(file(2147483648n), undefined, "weights.safetensors").message).toBe(
      'weights.safetensors: tensor "bn1.num_batches_tracked": I64 element 1 is 2147483648, outside the int32 range [-2147483648, 2147483647] graft holds integer tensors in',
    );
    expect(decodeError(file(-9223372036854775808n)).message).toBe(
      'safetensors: tensor "bn1.num_batches_tracked": I64 element 1 is -9223372036854775808, outside the int32 range [-2147483648, 2147483647] graft holds integer tensors in',
    );
    expect(decodeSafetensors(file(-2147483648n)).tensors.get("bn1.num_batches_tracked")?.data).toEqual(Int32Array.of(5, -2147483648));
  });

  it("refuses I64 data whose length is not 8 bytes per element", () => {
    const bytes = fileWithEntries({ "bn1.num_batches_tracked": { dtype: "I64", shape: [], data_offsets: [0, 4] } }, [1, 0, 0, 0]);
    expect(decodeError(bytes).message).toBe(
      'safetensors: tensor "bn1.num_batches_tracked": data_offsets [0,4] hold 4 bytes, but I64 [] needs 8 (1 elements × 8 bytes)',
    );
  });

  it("an I64 tensor for an f32 param is a dtype mismatch", () => {
    const bytes = encodeSafetensors([{ name: "w", dtype: "I64", shape: [1], data: Int32Array.of(1) }]);
    expect(decodeError(bytes, [{ name: "w", dtype: "F32", shape: [1] }]).message).toBe('safetensors: weights do not match the model: tensor "w" has dtype I64, expected F32');
  });

  it("writes I64 for i32 tensors named num_batches_tracked only", () => {
    expect(isPyTorchInt64("bn1.num_batches_tracked")).toBe(true);
    expect(isPyTorchInt64("num_batches_tracked")).toBe(true);
    expect(isPyTorchInt64("random.counter")).toBe(false);
    expect(isPyTorchInt64("my_num_batches_tracked")).toBe(false);
    expect(safetensorsDtypeOf("features.1.num_batches_tracked", "i32")).toBe("I64");
    expect(safetensorsDtypeOf("features.1.num_batches_tracked", "f32")).toBe("F32");
    expect(safetensorsDtypeOf("random.counter", "i32")).toBe("I32");
  });

  it("refuses I64 data that is not an Int32Array", () => {
    expect(encodeError([{ name: "n", dtype: "I64", shape: [1], data: Float32Array.of(1) }]).message).toBe(
      'cannot encode safetensors: tensor "n" has dtype I64, so its data must be a Int32Array, got Float32Array',
    );
  });
});
