/**
 * @file Parameter initialisers as the language declares them (`zeros`, `kaimingUniform(fanIn)`,
 * ...). The values they stand for (and the seeded PRNG behind them) are computed by
 * `@graft/runtime`'s init.ts, which in-process sessions and bundles share.
 */
import type { Init } from "@graft/runtime";

export { hashString, initValues, mulberry32, type Init } from "@graft/runtime";

export const zeros: Init = { kind: "zeros" };
export const ones: Init = { kind: "ones" };
export const constantInit = (value: number): Init => ({ kind: "constant", value });
export const uniform = (low: number, high: number): Init => ({ kind: "uniform", low, high });
export const normal = (mean: number, std: number): Init => ({ kind: "normal", mean, std });
export const kaimingUniform = (fanIn: number): Init => ({ kind: "kaiming_uniform", fanIn });

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
      return `normal(${init.mean},${init.std})`;
    case "kaiming_uniform":
      return `kaiming_uniform(fan_in=${init.fanIn})`;
  }
};
