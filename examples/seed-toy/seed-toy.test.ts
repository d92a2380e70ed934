// The seed tutorial's softmax regression reproduces its published tables exactly (6 decimals,
// float32 arithmetic): `pnpm example seed-toy` and `pnpm example seed-toy --variant low-level`.
import { describe, expect, it } from "vitest";
import type { BackendName } from "@graft/compiler";
import { epochLine, formatFixed, trainSeedToy, variants } from "./train.js";

/** F.cross_entropy(z, y) — the seed's "Training with F.cross_entropy" table. */
const HIGH_LEVEL = [1.098612, 0.76105, 0.689991, 0.643229, 0.604117, 0.568255, 0.533922, 0.500291, 0.466908, 0.433507, 0.399962];
/** The seed's low-level program (softmax applied twice) — its "Training with Low-level Cross Entropy Loss" table. */
const LOW_LEVEL = [1.098612, 0.901535, 0.839114, 0.807826, 0.788472, 0.774822, 0.764449, 0.756191, 0.749398, 0.743671, 0.738749];

const table = (costs: readonly number[]): string[] => costs.map((cost, i) => `Epoch ${String(i * 100).padStart(4)}/1000 Cost: ${cost.toFixed(6)}`);

/** Back ends the tables are checked on: every one, in float32 arithmetic. */
const BACKENDS: readonly BackendName[] = ["reference", "js", "wasm"];

describe.each(BACKENDS)("seed-toy on the %s back end", (backend) => {
  it("high-level (F.cross_entropy) reproduces the published table", async () => {
    expect(await trainSeedToy({ variant: "high-level", backend })).toEqual(table(HIGH_LEVEL));
  });

  it("low-level (softmax twice, as written) reproduces the published table", async () => {
    const warnings: string[] = [];
    expect(await trainSeedToy({ variant: "low-level", backend, warn: (w) => warnings.push(w.code) })).toEqual(table(LOW_LEVEL));
    expect(warnings).toContain("lint/double-softmax");
  });

  it.each(["nll", "onehot", "gather"])("the %s formulation fuses to cross_entropy and reproduces the F.cross_entropy table", async (variant) => {
    expect(await trainSeedToy({ variant, backend })).toEqual(table(HIGH_LEVEL));
  });
});

describe("seed-toy output format", () => {
  it("prints like Python's 'Epoch {:4d}/{} Cost: {:.6f}'", () => {
    expect(epochLine(0, 1000, 1.0986123085021973)).toBe("Epoch    0/1000 Cost: 1.098612");
    expect(epochLine(100, 1000, 0.7610504627227783)).toBe("Epoch  100/1000 Cost: 0.761050");
    expect(epochLine(1000, 1000, 0.39996)).toBe("Epoch 1000/1000 Cost: 0.399960");
  });

  it("rounds exact ties to even like Python (JS's toFixed rounds them up)", () => {
    // 0.5078125 = 65/128 is exactly half-way at 6 decimals
    expect((0.5078125).toFixed(6)).toBe("0.507813");
    expect(formatFixed(0.5078125, 6)).toBe("0.507812");
    expect(formatFixed(0.5234375, 6)).toBe("0.523438");
    expect(formatFixed(0.1, 6)).toBe("0.100000");
    expect(formatFixed(Number.NaN, 6)).toBe("NaN");
  });

  it("refuses an unknown variant", async () => {
    await expect(trainSeedToy({ variant: "mid-level" })).rejects.toThrow("unknown variant 'mid-level'; expected one of high-level, low-level, nll, onehot, gather");
    expect(Object.keys(variants)).toEqual(["high-level", "low-level", "nll", "onehot", "gather"]);
  });
});
