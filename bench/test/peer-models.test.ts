// Every system's conv2d, CNN and transformer implementation against the float64 reference on
// tiny instances: the peers' hand-written models (tfjs-wasm, jax-js; ort-cpu conv2d) compute the
// same losses and updates as graft's example models. The peers are installed apart
// (bench/scripts/peers.mjs); without them only graft's systems run and the peer tests skip.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CHECK_RUNS, compareChecks, expectedFor } from "../src/checks.js";
import type { WorkloadData } from "../src/data.js";
import type { BenchCase, System, WorkloadName } from "../src/harness.js";
import { makeCnnData, makeConvData, makeTransformerData } from "../src/model-data.js";

const bench = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const peerNames = Object.keys((JSON.parse(readFileSync(join(bench, "peers", "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies);
const peersInstalled = peerNames.every((name) => existsSync(join(bench, "node_modules", name, "package.json")));

const TINY: ReadonlyArray<readonly [WorkloadName, () => WorkloadData]> = [
  ["conv2d", () => makeConvData(2, 5, 6, 7, 3, 1)],
  ["cnn_train_step", () => makeCnnData(3)],
  ["transformer_train_step", () => makeTransformerData(3, { vocab: 7, context: 6, width: 16, heads: 2, layers: 2, mlp: 32, dropout: 0.1 })],
];

/** Runs the harness protocol (check runs, check, then two timed-style runs) and returns the agreement. */
async function agreement(system: System, workload: WorkloadName, data: WorkloadData): Promise<{ agrees: boolean; problems: string[] } | "unsupported"> {
  const c: BenchCase = { workload, caseName: "tiny" };
  const prepared = await system.prepare(c, data);
  if (prepared === "unsupported") return "unsupported";
  try {
    for (let i = 0; i < CHECK_RUNS[workload]; i++) await prepared.run();
    const result = compareChecks(expectedFor(c, data), await prepared.check());
    // the timed runs (with the example's dropout for the train steps) run too
    await prepared.run();
    await prepared.run();
    return result;
  } finally {
    await prepared.dispose?.();
  }
}

async function system(file: string, name: string): Promise<System> {
  const module = (await import(file)) as Record<string, unknown>;
  const found = Object.values(module).find((v): v is System => typeof v === "object" && v !== null && (v as { name?: unknown }).name === name);
  if (found === undefined) throw new Error(`${file} exports no system ${name}`);
  await found.setup?.();
  return found;
}

const cases = (sys: () => Promise<System>, supported: readonly WorkloadName[]) => {
  for (const [workload, data] of TINY) {
    it(`${workload}${supported.includes(workload) ? " agrees with the float64 reference" : " is unsupported"}`, async () => {
      const result = await agreement(await sys(), workload, data());
      if (!supported.includes(workload)) expect(result).toBe("unsupported");
      else expect(result).toEqual({ agrees: true, problems: [] });
    });
  }
};

const all: readonly WorkloadName[] = ["conv2d", "cnn_train_step", "transformer_train_step"];

describe("graft systems on the model workloads", () => {
  describe("graft-wasm", () => cases(() => system("../src/systems/graft.js", "graft-wasm"), all));
  describe("graft-js", () => cases(() => system("../src/systems/graft.js", "graft-js"), all));
});

describe.skipIf(!peersInstalled)("peers on the model workloads (bench peers installed)", () => {
  describe("tfjs-wasm", () => cases(() => system("../src/systems/tfjs-wasm.js", "tfjs-wasm"), all));
  describe("jax-js", () => cases(() => system("../src/systems/jax-js.js", "jax-js"), all));
  describe("ort-cpu", () => cases(() => system("../src/systems/ort-cpu.js", "ort-cpu"), ["conv2d"]));
});
