// A bundle copied into an empty folder under the OS temp dir (no node_modules anywhere above it)
// runs in a child `node` and gives exactly the in-process session's numbers.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, compileFixture, expectedScenario, writeScenarioDir, type ScenarioResult } from "./fixtures/bundle/harness.js";

const hasNodeModulesAbove = (dir: string): boolean => {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, "node_modules"))) return true;
    if (dirname(at) === at) return false;
  }
};

describe.each(BACKENDS)("%s bundle in a child node process", (backend, options) => {
  let dir = "";
  let result: ScenarioResult;
  beforeAll(async () => {
    dir = writeScenarioDir(await compileFixture(options));
    const stdout = execFileSync(process.execPath, ["scenario.mjs"], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    result = JSON.parse(stdout) as ScenarioResult;
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("runs from a folder with nothing but the bundle", () => {
    expect(hasNodeModulesAbove(dir)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(["index.html", "model.d.mts", "model.mjs", "scenario.mjs"]);
    expect(result.info.name).toBe("tiny_mlp");
    expect((result.info as unknown as { backend: string }).backend).toBe(backend);
    expect(result.info.batches).toEqual([2, 3]);
  });

  it("gives exactly the in-process session's outputs, losses and weights", async () => {
    const expected = await expectedScenario(options);
    expect(result.forward2).toEqual(expected.forward2);
    expect(result.forward3).toEqual(expected.forward3);
    expect(result.losses).toEqual(expected.losses);
    expect(result.trainLogits).toEqual(expected.trainLogits);
    expect(result.evaluate).toEqual(expected.evaluate);
    expect(result.after).toEqual(expected.after);
    expect(result.weights).toEqual(expected.weights);
    expect(result.losses[2]).toBeLessThan(result.losses[0] ?? 0);
  });

  it("loads saved weights into a new instance; a fresh load starts from the initialisers", () => {
    expect(result.reloaded).toEqual(result.after);
    expect(result.twin).toEqual(result.forward3);
  });

  it("refuses bad weights and keeps the old ones", () => {
    expect(result.refused).toEqual([
      expect.stringMatching(/^WeightsError: loadWeights: .*(truncated|past the end|holds|bytes)/),
      "WeightsError: loadWeights: expected the bytes of a safetensors file (a Uint8Array or an ArrayBuffer), got string",
      expect.stringMatching(/^WeightsError: loadWeights: header is empty, expected a JSON object/),
    ]);
    expect(result.unchanged).toBe(true);
  });
});
