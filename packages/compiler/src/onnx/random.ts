/**
 * @file The seeded random op in standard ONNX integer ops: `random_uniform` draws core's
 * `randomBits` — fmix32(fmix32(index ⊕ key) ⊕ counter·0x632be5ab), murmur3's finaliser in
 * wrapping 32-bit arithmetic — so that a runtime reproduces graft's bits exactly.
 *
 * Every 32-bit value is held in int64 in [0, 2³²), which every runtime's integer kernels take:
 * - `h >>> k` is an integer `Div` by 2ᵏ (exact for non-negative values);
 * - `h · c mod 2³²` never overflows int64: with c = c_hi·2¹⁶ + c_lo it is
 *   (h·c_lo + (h·c_hi mod 2¹⁶)·2¹⁶) mod 2³², each product below 2⁴⁸;
 * - `a ⊕ b` is `BitwiseXor` from opset 18; below, it is computed nibble by nibble along a new
 *   axis of 8 (a's and b's nibbles by `Div` and `Mod`, 16·aₖ + bₖ `Gather`ed from a table of the
 *   256 nibble XORs, weighted by 16ᵏ and summed), opset 13 ops only, at 8× the memory of the tensor.
 * The counter is the i32 state param `random.counter`, read as its 32 bits (`Mod` 2³² with the
 * divisor's sign); the key mixes the op's seed and stream at export time; the uniform is the top
 * 24 bits times 2⁻²⁴, exact in f32.
 */
import * as E from "fp-ts/lib/Either.js";
import { RANDOM_COUNTER_MULTIPLIER, randomKey } from "@graft/core";
import type { Emitter } from "./emitter.js";
import type { Lowering } from "./ops.js";
import { DATA_TYPE } from "./proto.js";

/** The opset of ONNX's `BitwiseXor`. */
export const BITWISE_XOR_OPSET = 18;

const TWO_16 = 2 ** 16;
const TWO_32 = 2 ** 32;

/** The XOR tables of an export below opset 18, emitted once per graph. */
interface NibbleTables {
  /** 16⁰ … 16⁷ (int64[8]). */
  readonly weights: string;
  /** 16 (int64 scalar). */
  readonly sixteen: string;
  /** i ↦ (i div 16) ⊕ (i mod 16) for i < 256 (int64[256]). */
  readonly xors: string;
}
const tablesOf = new WeakMap<Emitter, NibbleTables>();
const nibbleTables = (e: Emitter): NibbleTables => {
  const known = tablesOf.get(e);
  if (known !== undefined) return known;
  const tables = {
    weights: e.int64s(Array.from({ length: 8 }, (_, k) => 16 ** k)),
    sixteen: e.scalar("i64", 16),
    xors: e.constant("i64", [256], Array.from({ length: 256 }, (_, i) => (i >> 4) ^ (i & 15))),
  };
  tablesOf.set(e, tables);
  return tables;
};

/** a ⊕ b for int64 values in [0, 2³²) (broadcasting). */
const xor32 = (e: Emitter, a: string, b: string): string => {
  if (e.opset >= BITWISE_XOR_OPSET) return e.op("BitwiseXor", [a, b]);
  // nibble by nibble: 16·aₖ + bₖ indexes the table of the 256 nibble XORs
  const { weights, sixteen, xors } = nibbleTables(e);
  const nibblesOf = (x: string): string => e.op("Mod", [e.op("Div", [e.unsqueeze(x, [-1]), weights]), sixteen]);
  const xored = e.op("Gather", [xors, e.op("Add", [e.op("Mul", [nibblesOf(a), sixteen]), nibblesOf(b)])], { axis: 0 });
  return e.reduce("ReduceSum", e.op("Mul", [xored, weights]), [-1], false);
};

/** h >>> k for int64 values in [0, 2³²). */
const shiftRight = (e: Emitter, h: string, k: number): string => e.op("Div", [h, e.scalar("i64", 2 ** k)]);

/** h · c mod 2³² for int64 h in [0, 2³²) and a 32-bit constant c, without int64 overflow. */
const mulMod32 = (e: Emitter, h: string, c: number): string => {
  const unsigned = c >>> 0;
  const low = unsigned % TWO_16;
  const high = Math.floor(unsigned / TWO_16);
  const lowPart = e.op("Mul", [h, e.scalar("i64", low)]);
  const highPart = e.op("Mul", [e.op("Mod", [e.op("Mul", [h, e.scalar("i64", high)]), e.scalar("i64", TWO_16)]), e.scalar("i64", TWO_16)]);
  return e.op("Mod", [e.op("Add", [lowPart, highPart]), e.scalar("i64", TWO_32)]);
};

/** murmur3's fmix32 (core/src/ops/modes.ts). */
const fmix32 = (e: Emitter, value: string): string => {
  const a = xor32(e, value, shiftRight(e, value, 16));
  const b = mulMod32(e, a, 0x85ebca6b);
  const c = xor32(e, b, shiftRight(e, b, 13));
  const d = mulMod32(e, c, 0xc2b2ae35);
  return xor32(e, d, shiftRight(e, d, 16));
};

export const randomUniformOnnx: Lowering<"random_uniform"> = (e, node) => {
  const { shape, seed, stream } = node.attrs;
  const counter = node.inputs[0] ?? "";
  const target = e.shape(shape);
  if (target === undefined) return E.left(`its shape [${shape.join(",")}] has a symbolic dim that no input of the model carries`);
  // the row-major element index of every element, as core's randomBits reads it
  const size = shape.every((d) => typeof d === "number") ? e.scalar("i64", shape.reduce<number>((a, d) => a * (d as number), 1)) : e.op("ReduceProd", [target], { keepdims: 0 });
  const index = e.op("Reshape", [e.op("Range", [e.scalar("i64", 0), size, e.scalar("i64", 1)]), target]);
  const mixed = fmix32(e, xor32(e, index, e.scalar("i64", randomKey(seed, stream) >>> 0)));
  const counterBits = e.op("Mod", [e.op("Cast", [counter], { to: DATA_TYPE.i64 }), e.scalar("i64", TWO_32)]);
  const bits = fmix32(e, xor32(e, mixed, mulMod32(e, counterBits, RANDOM_COUNTER_MULTIPLIER)));
  // the top 24 bits as a multiple of 2⁻²⁴
  const top = e.op("Cast", [shiftRight(e, bits, 8)], { to: DATA_TYPE.f32 });
  return E.right(e.op("Mul", [top, e.scalar("f32", 2 ** -24)]));
};
