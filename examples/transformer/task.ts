/**
 * @file The transformer example's task: sort 8 random digits, generated with a seed.
 *
 * A sequence is 17 tokens, `d1 … d8 SEP s1 … s8`: eight digits (tokens 0–9, drawn uniformly and
 * independently), the separator (token 10) and the same digits in ascending order. The model reads
 * `x = tokens[0..16)` and learns to predict `y = tokens[1..17)`; the positions whose target is an
 * input digit or the separator get `IGNORE_INDEX` (−100), so the loss is taken on SEP→s1 … s7→s8
 * only. Evaluation is greedy autoregressive generation: the model sees `d1 … d8 SEP`, emits s1,
 * sees it, emits s2, … (never the true sorted digits: no teacher forcing).
 *
 * The held-out sequences are drawn first (distinct); training batches are drawn afresh from
 * another stream of the same seed, and any draw equal to a held-out sequence is redrawn, so the
 * model never trains on a held-out sequence.
 */
import { Prng } from "@graft/compiler";

/** Digits to sort per sequence. */
export const DIGITS = 8;
/** The separator token (digits are tokens 0–9). */
export const SEP = 10;
/** Token ids: the ten digits and the separator. */
export const VOCAB = 11;
/** Tokens of a whole sequence: d1 … d8 SEP s1 … s8. */
export const SEQUENCE_LENGTH = 2 * DIGITS + 1;
/** Tokens the model reads (the sequence without its last token). */
export const CONTEXT = SEQUENCE_LENGTH - 1;
/** The target of a position that takes no loss (PyTorch's `ignore_index` default). */
export const IGNORE_INDEX = -100;
/** The position whose output is the first sorted digit (it reads SEP). */
export const FIRST_OUTPUT = DIGITS;

/** Token rows, i32 `[rows, CONTEXT]` (a model input or target as a host tensor). */
export interface TokenTensor {
  readonly shape: readonly [number, number];
  readonly dtype: "i32";
  readonly data: Int32Array;
}

/** A batch: the tokens the model reads and the next tokens it should predict (−100: no loss). */
export interface TokenBatch {
  readonly x: TokenTensor;
  readonly y: TokenTensor;
}

/** `count` digit strings, row-major `[count, DIGITS]`. */
export interface DigitRows {
  readonly count: number;
  readonly digits: Int32Array;
}

/** The task of one seed: its held-out sequences and its stream of training batches. */
export interface SortTask {
  readonly seed: number;
  readonly heldOut: DigitRows;
  /** True when `digits[offset … offset + DIGITS)` is a held-out sequence. */
  isHeldOut(digits: ArrayLike<number>, offset?: number): boolean;
  /** The next training batch (never a held-out sequence); `x` and `y` are i32 `[batchSize, CONTEXT]`. */
  nextBatch(batchSize: number): TokenBatch;
}

/** The number a digit string spells (d1 most significant): a key for sets of sequences. */
export const sequenceKey = (digits: ArrayLike<number>, offset = 0): number => {
  let key = 0;
  for (let i = 0; i < DIGITS; i++) key = key * 10 + (digits[offset + i] ?? 0);
  return key;
};

/** Fills `out[offset … offset + DIGITS)` with uniform random digits. */
const drawDigits = (prng: Prng, out: Int32Array, offset: number): void => {
  for (let i = 0; i < DIGITS; i++) out[offset + i] = prng.nextInt(10);
};

/** The digits of `digits[offset … offset + DIGITS)` in ascending order. */
export const sortedDigits = (digits: ArrayLike<number>, offset = 0): Int32Array => {
  const row = Int32Array.from({ length: DIGITS }, (_, i) => digits[offset + i] ?? 0);
  return row.sort();
};

/**
 * Writes row `row` of a batch: `x` gets d1 … d8 SEP s1 … s7, `y` gets −100 × 8 then s1 … s8
 * (both `[rows, CONTEXT]`).
 */
export const encodeExample = (digits: ArrayLike<number>, offset: number, x: Int32Array, y: Int32Array, row: number): void => {
  const sorted = sortedDigits(digits, offset);
  const base = row * CONTEXT;
  for (let i = 0; i < DIGITS; i++) {
    x[base + i] = digits[offset + i] ?? 0;
    y[base + i] = IGNORE_INDEX;
  }
  x[base + DIGITS] = SEP;
  for (let i = 0; i < DIGITS; i++) {
    if (i < DIGITS - 1) x[base + DIGITS + 1 + i] = sorted[i] ?? 0;
    y[base + DIGITS + i] = sorted[i] ?? 0;
  }
};

/** The batch of `rows` (all of them): x and y as i32 `[count, CONTEXT]`. */
export const encodeRows = (rows: DigitRows): TokenBatch => {
  const x = new Int32Array(rows.count * CONTEXT);
  const y = new Int32Array(rows.count * CONTEXT);
  for (let row = 0; row < rows.count; row++) encodeExample(rows.digits, row * DIGITS, x, y, row);
  return { x: { shape: [rows.count, CONTEXT], dtype: "i32", data: x }, y: { shape: [rows.count, CONTEXT], dtype: "i32", data: y } };
};

/** The most held-out sequences a task may have (a tenth of all 10^8 digit strings). */
export const MAX_HELD_OUT = 10_000_000;

/**
 * The sorting task of `seed` with `heldOut` distinct held-out sequences. Deterministic: the same
 * seed gives the same held-out set and the same training batches.
 */
export const createSortTask = (seed: number, heldOut: number): SortTask => {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`sort task: the seed must be an integer ≥ 0, got ${seed}`);
  if (!Number.isSafeInteger(heldOut) || heldOut < 1 || heldOut > MAX_HELD_OUT) throw new RangeError(`sort task: the held-out count must be an integer in [1, ${MAX_HELD_OUT}], got ${heldOut}`);
  const heldOutPrng = new Prng(seed * 2);
  const trainPrng = new Prng(seed * 2 + 1);
  const keys = new Set<number>();
  const digits = new Int32Array(heldOut * DIGITS);
  for (let row = 0; row < heldOut; ) {
    drawDigits(heldOutPrng, digits, row * DIGITS);
    const key = sequenceKey(digits, row * DIGITS);
    if (keys.has(key)) continue;
    keys.add(key);
    row++;
  }
  const isHeldOut = (candidate: ArrayLike<number>, offset = 0): boolean => keys.has(sequenceKey(candidate, offset));
  return {
    seed,
    heldOut: { count: heldOut, digits },
    isHeldOut,
    nextBatch: (batchSize) => {
      if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`sort task: the batch size must be an integer ≥ 1, got ${batchSize}`);
      const rows = new Int32Array(batchSize * DIGITS);
      for (let row = 0; row < batchSize; row++) {
        do drawDigits(trainPrng, rows, row * DIGITS);
        while (keys.has(sequenceKey(rows, row * DIGITS)));
      }
      return encodeRows({ count: batchSize, digits: rows });
    },
  };
};

/** Logits `[rows, CONTEXT, VOCAB]` of the token rows `x` `[rows, CONTEXT]`. */
export type ForwardLogits = (x: Int32Array, rows: number) => Float32Array;

/** The most likely token of the `VOCAB` logits at `logits[base …]` (ties: the lowest id, as `argmax`). */
export const argmaxToken = (logits: Float32Array, base: number): number => {
  let best = 0;
  for (let token = 1; token < VOCAB; token++) if ((logits[base + token] ?? -Infinity) > (logits[base + best] ?? -Infinity)) best = token;
  return best;
};

/**
 * Greedy autoregressive generation: every row starts as `d1 … d8 SEP` (the rest of the window 0,
 * which causal attention never lets the earlier positions see); each forward appends, to every row
 * at once, the most likely token at the current position. `DIGITS` forwards in all; returns the
 * generated digits `[count, DIGITS]`. Ties go to the lowest token id (as `argmax`).
 */
export const generateSorted = (forward: ForwardLogits, inputs: DigitRows): Int32Array => {
  const { count } = inputs;
  const x = new Int32Array(count * CONTEXT);
  for (let row = 0; row < count; row++) {
    x.set(inputs.digits.subarray(row * DIGITS, (row + 1) * DIGITS), row * CONTEXT);
    x[row * CONTEXT + DIGITS] = SEP;
  }
  const generated = new Int32Array(count * DIGITS);
  for (let step = 0; step < DIGITS; step++) {
    const position = FIRST_OUTPUT + step;
    const logits = forward(x, count);
    if (logits.length !== count * CONTEXT * VOCAB) throw new Error(`generate: expected ${count}×${CONTEXT}×${VOCAB} logits, got ${logits.length}`);
    for (let row = 0; row < count; row++) {
      const base = (row * CONTEXT + position) * VOCAB;
      const best = argmaxToken(logits, base);
      generated[row * DIGITS + step] = best;
      if (position + 1 < CONTEXT) x[row * CONTEXT + position + 1] = best;
    }
  }
  return generated;
};

/** The fraction of rows whose generated digits equal their sorted input digits exactly. */
export const sequenceAccuracy = (inputs: DigitRows, generated: Int32Array): number => {
  let correct = 0;
  for (let row = 0; row < inputs.count; row++) {
    const sorted = sortedDigits(inputs.digits, row * DIGITS);
    if (sorted.every((digit, i) => generated[row * DIGITS + i] === digit)) correct++;
  }
  return correct / inputs.count;
};

/** The fraction of generated digits equal to the sorted digit at their place. */
export const digitAccuracy = (inputs: DigitRows, generated: Int32Array): number => {
  let correct = 0;
  for (let row = 0; row < inputs.count; row++) {
    const sorted = sortedDigits(inputs.digits, row * DIGITS);
    sorted.forEach((digit, i) => {
      if (generated[row * DIGITS + i] === digit) correct++;
    });
  }
  return correct / (inputs.count * DIGITS);
};

/**
 * Rows of a batch whose every scored position (target ≠ −100) has its target as the most likely
 * token, given teacher-forced logits `[rows, CONTEXT, VOCAB]` and targets `y` `[rows, CONTEXT]`.
 * With evaluation semantics this equals greedy generation's exact-sequence hits: when every
 * teacher-forced prediction is right, generation follows the true prefix at every step.
 */
export const teacherForcedHits = (logits: Float32Array, y: Int32Array): number => {
  const rows = y.length / CONTEXT;
  if (!Number.isInteger(rows) || logits.length !== y.length * VOCAB) throw new Error(`teacherForcedHits: ${logits.length} logits for ${y.length} targets (expected ${VOCAB} logits per target, ${CONTEXT} targets per row)`);
  let hits = 0;
  for (let row = 0; row < rows; row++) {
    let right = true;
    for (let position = 0; position < CONTEXT && right; position++) {
      const target = y[row * CONTEXT + position] ?? IGNORE_INDEX;
      if (target === IGNORE_INDEX) continue;
      const base = (row * CONTEXT + position) * VOCAB;
      right = argmaxToken(logits, base) === target;
    }
    if (right) hits++;
  }
  return hits;
};
