/**
 * @file Parameter initialisers: what a param's initial value is ({@link Init}) and its values,
 * deterministic from a seed and the param's name. PyTorch's nn.Linear default is
 * kaiming_uniform(a=√5) for the weight, i.e. U(-1/√fan_in, 1/√fan_in), and the same bound for the
 * bias. In-process sessions (through `@graft/core`) and bundles use these same functions.
 */

/** How a param's initial value is made. */
export type Init =
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }
  | { readonly kind: "constant"; readonly value: number }
  | { readonly kind: "uniform"; readonly low: number; readonly high: number }
  | { readonly kind: "normal"; readonly mean: number; readonly std: number }
  /** PyTorch nn.Linear default: U(-1/√fanIn, 1/√fanIn). */
  | { readonly kind: "kaiming_uniform"; readonly fanIn: number };

/** mulberry32: a small, fast, deterministic 32-bit PRNG. Returns floats in [0, 1). */
export const mulberry32 = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** FNV-1a hash of a string, to derive a per-param seed from the model seed and the param name. */
export const hashString = (text: string): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
};

/**
 * Fills `size` values for `init`, deterministically from `seed` and the param `name` (so a
 * param's initial value does not depend on the order params are declared in).
 */
export const initValues = (init: Init, size: number, seed: number, name: string): Float64Array => {
  const out = new Float64Array(size);
  const random = mulberry32((seed ^ hashString(name)) >>> 0);
  switch (init.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "constant":
      return out.fill(init.value);
    case "uniform":
      for (let i = 0; i < size; i++) out[i] = init.low + (init.high - init.low) * random();
      return out;
    case "kaiming_uniform": {
      const bound = 1 / Math.sqrt(init.fanIn);
      for (let i = 0; i < size; i++) out[i] = -bound + 2 * bound * random();
      return out;
    }
    case "normal":
      for (let i = 0; i < size; i += 2) {
        const u1 = Math.max(random(), Number.MIN_VALUE);
        const u2 = random();
        const radius = Math.sqrt(-2 * Math.log(u1));
        out[i] = init.mean + init.std * radius * Math.cos(2 * Math.PI * u2);
        if (i + 1 < size) out[i + 1] = init.mean + init.std * radius * Math.sin(2 * Math.PI * u2);
      }
      return out;
  }
};
