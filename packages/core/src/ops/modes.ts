/**
 * @file Training and evaluation modes, and randomness.
 *
 * - `mode_switch(train, eval)`: a value with two semantics (dropout, batch norm). The `mode` pass
 *   (compiler/src/passes/mode.ts) keeps one input, so back ends only see plain ops; without it
 *   (the reference interpreter on a graph as written) the evaluation semantics hold.
 * - `state_update(value, param, newValue)`: `value`; in training mode the param takes `newValue`
 *   after the step (batch norm's running statistics). The `mode` pass turns it into a state
 *   update of the training step, or drops it in evaluation mode.
 * - `random_uniform(counter)`: U[0, 1) from a counter-based hash of (seed, stream, counter,
 *   element index) — the same 24 bits on every back end; the counter is an explicit i32 state
 *   param the training step advances.
 */
import * as E from "fp-ts/lib/Either.js";
import { formatShape, formatType, shapeEquals, sizeOf } from "../shape.js";
import type { OpDef } from "./def.js";
import { checkShapeDims, ok } from "./rules.js";

/** murmur3's 32-bit finaliser. */
const fmix32 = (value: number): number => {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
};

/** The per-op key of a random op: mixes its seed and stream (computed once, at compile time in the back ends). */
export const randomKey = (seed: number, stream: number): number => fmix32((seed | 0) ^ Math.imul(stream + 1, 0x9e3779b9));

/** The multiplier of the counter in {@link randomBits}. */
export const RANDOM_COUNTER_MULTIPLIER = 0x632be5ab;

/**
 * 32 random bits for one element: fmix(fmix(index ⊕ key) ⊕ (counter · 0x632be5ab)), all in
 * wrapping 32-bit integer arithmetic (the JS and WASM kernels compute exactly this).
 */
export const randomBits = (key: number, counter: number, index: number): number => fmix32(fmix32((index | 0) ^ key) ^ Math.imul(counter | 0, RANDOM_COUNTER_MULTIPLIER));

/** The uniform value of 32 random bits: the top 24 as a multiple of 2⁻²⁴ in [0, 1) (exact in f32). */
export const uniformOfBits = (bits: number): number => (bits >>> 8) * 2 ** -24;

export const modeOps: {
  readonly mode_switch: OpDef<"mode_switch">;
  readonly state_update: OpDef<"state_update">;
  readonly random_uniform: OpDef<"random_uniform">;
} = {
  mode_switch: {
    kind: "mode",
    arity: [2, 2],
    infer: ([train, evaluation]) => {
      if (train === undefined || evaluation === undefined) return E.left("missing input");
      return shapeEquals(train.shape, evaluation.shape) && train.dtype === evaluation.dtype
        ? E.right(evaluation)
        : E.left(`the training value ${formatType(train)} and the evaluation value ${formatType(evaluation)} must have one type`);
    },
    evaluate: ([, evaluation]) => Float64Array.from(evaluation?.data ?? []),
    // evaluation semantics (the mode pass removes the op before `grad` in a training step)
    gradient: { rule: ({ grad }) => [undefined, grad] },
  },
  state_update: {
    kind: "mode",
    arity: [3, 3],
    infer: ([value, state, next]) => {
      if (value === undefined || state === undefined || next === undefined) return E.left("missing input");
      return shapeEquals(state.shape, next.shape) && state.dtype === next.dtype
        ? E.right(value)
        : E.left(`the new value ${formatType(next)} does not match its state ${formatType(state)}`);
    },
    evaluate: ([value]) => Float64Array.from(value?.data ?? []),
    gradient: { rule: ({ grad }) => [grad, undefined, undefined] },
  },
  random_uniform: {
    kind: "random",
    arity: [1, 1],
    infer: ([counter], attrs) => {
      if (counter === undefined) return E.left("missing input");
      if (counter.dtype !== "i32" || counter.shape.length !== 0) return E.left(`the counter must be an i32 scalar, got ${formatType(counter)}`);
      if (!Number.isInteger(attrs.seed)) return E.left(`seed must be an integer, got ${attrs.seed}`);
      return E.chain((shape: typeof attrs.shape) => ok(shape, "f32"))(checkShapeDims(attrs.shape));
    },
    evaluate: ([counter], attrs, out) => {
      const key = randomKey(attrs.seed, attrs.stream);
      const step = counter?.data[0] ?? 0;
      return Float64Array.from({ length: sizeOf(out.shape) }, (_, index) => uniformOfBits(randomBits(key, step, index)));
    },
    gradient: { none: "random values have no gradient" },
    formatAttrs: (attrs) => `shape=${formatShape(attrs.shape)}, seed=${attrs.seed}, stream=${attrs.stream}`,
  },
};
