// A small seeded pseudo-random generator for data handling (shuffles, splits, noise):
// xoshiro128** (Blackman & Vigna), seeded from a 64-bit integer through splitmix64.
//
// Every result is bit-identical across runs, machines and JS engines: the generator uses only
// 32-bit integer operations, floats are built from its bits, and normal() uses the polar form
// of Box–Muller with sqrt (exactly rounded by IEEE 754) and a logarithm computed here from
// + − × ÷ only, since Math.log may differ in the last bit between engines.

const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;
const MASK_64 = (1n << 64n) - 1n;

/** The 128-bit state of a `Prng`, as four unsigned 32-bit words. */
export type PrngState = readonly [number, number, number, number];

/** An array-like whose elements can be swapped in place: a plain array or a typed array. */
export interface MutableIndexed<T> {
  length: number;
  [index: number]: T;
}

/** Seeded xoshiro128** generator. Not for cryptography. */
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * @param seed any safe integer (negative seeds are taken modulo 2^64); equal seeds give
   * equal sequences, and nearby seeds give unrelated ones.
   * @throws RangeError when the seed is not a safe integer
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Prng: the seed must be a safe integer, got ${String(seed)}`);
    }
    let counter = BigInt.asUintN(64, BigInt(seed));
    const splitmix64 = (): bigint => {
      counter = (counter + 0x9e3779b97f4a7c15n) & MASK_64;
      let z = counter;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
      return z ^ (z >> 31n);
    };
    const first = splitmix64();
    const second = splitmix64();
    this.s0 = Number(first & 0xffffffffn);
    this.s1 = Number(first >> 32n);
    this.s2 = Number(second & 0xffffffffn);
    this.s3 = Number(second >> 32n);
    // splitmix64 never gives two zero outputs in a row, so the state is never all zero.
  }

  /**
   * A generator that continues from a saved `state()`.
   * @throws RangeError when a word is not an unsigned 32-bit integer or all words are zero
   */
  static fromState(state: PrngState): Prng {
    if (!state.every((word) => Number.isInteger(word) && word >= 0 && word < TWO_POW_32) || state.every((word) => word === 0)) {
      throw new RangeError(`Prng.fromState: expected four unsigned 32-bit words, not all zero, got [${state.join(", ")}]`);
    }
    const generator = new Prng(0);
    [generator.s0, generator.s1, generator.s2, generator.s3] = state;
    return generator;
  }

  /** The current state, to save and later resume with `Prng.fromState`. */
  state(): PrngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** The next unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const shifted = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= shifted;
    this.s3 = rotateLeft(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** A uniform float in [0, 1) with 53 random bits (uses two 32-bit outputs). */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 2 ** 26 + low) / TWO_POW_53;
  }

  /** A uniform float in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.nextFloat();
  }

  /**
   * A uniform integer in [0, bound), without modulo bias.
   * @throws RangeError unless bound is an integer in [1, 2^32]
   */
  nextInt(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > TWO_POW_32) {
      throw new RangeError(`Prng.nextInt: the bound must be an integer in [1, 2^32], got ${bound}`);
    }
    // Reject the top partial block of 2^32 so that every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % bound);
    for (;;) {
      const value = this.nextUint32();
      if (value < limit) return value % bound;
    }
  }

  /**
   * A normal sample (polar Box–Muller). Each call draws a fresh pair and keeps one value, so
   * the sequence depends on `state()` alone.
   */
  normal(mean = 0, std = 1): number {
    for (;;) {
      const u = 2 * this.nextFloat() - 1;
      const v = 2 * this.nextFloat() - 1;
      const radiusSquared = u * u + v * v;
      if (radiusSquared > 0 && radiusSquared < 1) {
        return mean + std * u * Math.sqrt((-2 * portableLog(radiusSquared)) / radiusSquared);
      }
    }
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffleInPlace<A extends MutableIndexed<unknown>>(items: A): A {
    for (let index = items.length - 1; index > 0; index--) {
      const other = this.nextInt(index + 1);
      const held = items[index];
      items[index] = items[other];
      items[other] = held;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const order = new Int32Array(n);
    for (let index = 0; index < n; index++) order[index] = index;
    return this.shuffleInPlace(order);
  }
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

const LN2_HIGH = 6.93147180369123816490e-1; // ln 2 rounded so that e·LN2_HIGH is exact
const LN2_LOW = 1.90821492927058770002e-10; // ln 2 − LN2_HIGH
const SQRT2 = Math.SQRT2;
const bitsView = new DataView(new ArrayBuffer(8));

/**
 * ln(x) from + − × ÷ and the float's bits only, so it gives the same bits on every engine
 * (within a few ulp of Math.log). NaN for x < 0 or NaN, −∞ for 0, +∞ for +∞.
 */
export function portableLog(x: number): number {
  if (Number.isNaN(x) || x < 0) return Number.NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  let exponent = 0;
  let value = x;
  if (value < 2 ** -1022) {
    value *= 2 ** 54; // subnormal: scale into the normal range
    exponent -= 54;
  }
  bitsView.setFloat64(0, value);
  const highWord = bitsView.getUint32(0);
  exponent += ((highWord >>> 20) & 0x7ff) - 1023;
  bitsView.setUint32(0, (highWord & 0x800fffff) | (1023 << 20)); // mantissa in [1, 2)
  let mantissa = bitsView.getFloat64(0);
  if (mantissa > SQRT2) {
    mantissa /= 2;
    exponent += 1;
  }
  // ln m = 2·atanh(f) = 2(f + f³/3 + f⁵/5 + …) with f = (m−1)/(m+1), |f| ≤ 0.172.
  const f = (mantissa - 1) / (mantissa + 1);
  const f2 = f * f;
  let series = 1 / 25;
  for (let odd = 23; odd >= 1; odd -= 2) series = 1 / odd + f2 * series;
  return exponent * LN2_HIGH + (2 * f * series + exponent * LN2_LOW);
}
