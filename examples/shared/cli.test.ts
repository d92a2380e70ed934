import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { artifactWriter } from "./artifacts.js";
import { artifactsDir, backendOption, integerOption, onOffOption, percent, shownDir, timestamp } from "./cli.js";

describe("examples' command-line helpers", () => {
  it("reads integers at or above a minimum and names the option, the bound and the text otherwise", () => {
    expect(integerOption("epochs", undefined, 1)).toBeUndefined();
    expect(integerOption("epochs", "12", 1)).toBe(12);
    expect(integerOption("seed", "0", 0)).toBe(0);
    expect(() => integerOption("epochs", "0", 1)).toThrow("--epochs must be an integer ≥ 1, got '0'");
    expect(() => integerOption("batch-size", "2.5", 1)).toThrow("--batch-size must be an integer ≥ 1, got '2.5'");
    expect(() => integerOption("seed", " ", 0)).toThrow("--seed must be an integer ≥ 0, got ' '");
  });

  it("takes js, wasm or reference as a back end and on/off switches, and says what else it got", () => {
    expect(backendOption(undefined)).toBeUndefined();
    expect(backendOption("reference")).toBe("reference");
    expect(() => backendOption("gpu")).toThrow("--backend must be js, wasm or reference, got 'gpu'");
    expect(onOffOption("augment", "on")).toBe(true);
    expect(onOffOption("augment", "off")).toBe(false);
    expect(onOffOption("augment", undefined)).toBeUndefined();
    expect(() => onOffOption("augment", "yes")).toThrow("--augment must be on or off, got 'yes'");
  });

  it("formats percentages, timestamps and the default artifacts folder", () => {
    expect(percent(0.9744)).toBe("97.4%");
    expect(timestamp(new Date(2026, 0, 2, 3, 4, 5))).toBe("2026-01-02-030405");
    expect(artifactsDir("out/x", "mnist")).toBe(resolve("out/x"));
    expect(artifactsDir(undefined, "mnist")).toMatch(/[/\\]artifacts[/\\]mnist-\d{4}-\d{2}-\d{2}-\d{6}$/);
  });

  it("shows a folder below the working directory relative to it, any other absolute", () => {
    expect(shownDir(process.cwd())).toBe(".");
    expect(shownDir(join(process.cwd(), "artifacts", "a"))).toBe(join("artifacts", "a"));
    expect(shownDir(resolve(process.cwd(), "..", "elsewhere"))).toBe(resolve(process.cwd(), "..", "elsewhere"));
  });

  it("writes files into a new folder and lists them in the order written", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "graft-artifacts-")), "deeper", "out");
    try {
      const writer = await artifactWriter(dir);
      await writer.write("b.txt", "second");
      await writer.write("a.bin", new Uint8Array([1, 2]));
      expect(writer.files).toEqual(["b.txt", "a.bin"]);
      expect(readFileSync(join(dir, "b.txt"), "utf8")).toBe("second");
      expect([...readFileSync(join(dir, "a.bin"))]).toEqual([1, 2]);
    } finally {
      rmSync(join(dir, "..", ".."), { recursive: true, force: true });
    }
  });
});
