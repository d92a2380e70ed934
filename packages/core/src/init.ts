/**
 * @file Parameter initialisers as the language declares them (`zeros`, `kaimingUniform(fanIn)`,
 * ...). The values they stand for (and the seeded PRNG behind them) are computed by
 * `@graft/runtime`'s init.ts, which in-process sessions and bundles share.
 */
import type { Init } from "@graft/runtime";

export { calculateGain, fanInAndFanOut, hashString, initNeedsMatrix, initValues, mulberry32, type Init } from "@graft/runtime";
import { calculateGain } from "@graft/runtime";

export const zeros: Init = { kind: "zeros" };
export const ones: Init = { kind: "ones" };
export const constantInit = (value: number): Init => ({ kind: "constant", value });
export const uniform = (low: number, high: number): Init => ({ kind: "uniform", low, high });
export const normal = (mean: number, std: number): Init => ({ kind: "normal", mean, std });
/** Options of the Kaiming initialisers, as PyTorch's `kaiming_normal_(tensor, a, mode, nonlinearity)`. */
export interface KaimingOptions {
  /** The negative slope of the rectifier after this layer (leaky_relu only; default 0). */
  readonly a?: number;
  /** "fan_in" (default) keeps the forward pass's variance, "fan_out" the backward pass's. */
  readonly mode?: "fan_in" | "fan_out";
  /** Default "leaky_relu" (with a = 0 that is relu's gain √2), as PyTorch. */
  readonly nonlinearity?: string;
}

const kaiming = (distribution: "uniform" | "normal", options: KaimingOptions): Init => ({
  kind: "kaiming",
  distribution,
  gain: calculateGain(options.nonlinearity ?? "leaky_relu", options.a ?? 0),
  mode: options.mode ?? "fan_in",
});

/**
 * `kaimingUniform(fanIn)`: U(−1/√fanIn, 1/√fanIn), nn.Linear's default. `kaimingUniform({ a, mode,
 * nonlinearity })`: PyTorch's `kaiming_uniform_`, bound √3·gain/√fan from the param's shape.
 */
export function kaimingUniform(fanIn: number): Init;
export function kaimingUniform(options?: KaimingOptions): Init;
export function kaimingUniform(arg: number | KaimingOptions = {}): Init {
  return typeof arg === "number" ? { kind: "kaiming_uniform", fanIn: arg } : kaiming("uniform", arg);
}

/** PyTorch's `kaiming_normal_`: N(0, (gain/√fan)²) with fans from the param's shape (rank ≥ 2). */
export const kaimingNormal = (options: KaimingOptions = {}): Init => kaiming("normal", options);

/** PyTorch's `xavier_uniform_` (Glorot): U(−b, b), b = gain·√(6 / (fan_in + fan_out)). */
export const xavierUniform = (gain = 1): Init => ({ kind: "xavier", distribution: "uniform", gain });

/** PyTorch's `xavier_normal_` (Glorot): N(0, std²), std = gain·√(2 / (fan_in + fan_out)). */
export const xavierNormal = (gain = 1): Init => ({ kind: "xavier", distribution: "normal", gain });

/** PyTorch's `orthogonal_`: a (semi-)orthogonal matrix of the param flattened to [shape[0], rest], times gain. */
export const orthogonal = (gain = 1): Init => ({ kind: "orthogonal", gain });

/** Glorot is Xavier. */
export const glorotUniform = xavierUniform;
export const glorotNormal = xavierNormal;

export const formatInit = (init: Init): string => {
  switch (init.kind) {
    case "zeros":
    case "ones":
      return init.kind;
    case "constant":
      return `constant(${init.value})`;
    case "uniform":
      return `uniform(${init.low},${init.high})`;
    case "normal":
      return `normal(${init.mean},${init.std}${init.zeroRow === undefined ? "" : `,zero_row=${init.zeroRow.index}`})`;
    case "kaiming_uniform":
      return `kaiming_uniform(fan_in=${init.fanIn})`;
    case "xavier":
      return `xavier_${init.distribution}(gain=${init.gain})`;
    case "kaiming":
      return `kaiming_${init.distribution}(gain=${init.gain},mode=${init.mode})`;
    case "orthogonal":
      return `orthogonal(gain=${init.gain})`;
  }
};
