// createTrainer loads the "js" and "wasm" back ends lazily from the back-end registry; a failure
// to load names the back end. The registry is mocked here so the test does not depend on them.
import { describe, expect, it, vi } from "vitest";
import { crossEntropy, input, matmul, model, param, zeros } from "@graft/core";
import { sgd } from "../src/optim/index.js";
import { createTrainer, resolveBackend } from "../src/toolkit/train/index.js";

const requested: string[] = [];
vi.mock("../src/backend/index.js", async () => {
  const { referenceBackend } = await import("../src/backend/reference.js");
  return {
    getBackend: async (name: string) => {
      requested.push(name);
      if (name === "wasm") throw new Error("WebAssembly is not available here");
      return { ...referenceBackend, name };
    },
  };
});

const m = () => {
  const x = input("x", ["batch", 2]);
  const z = matmul(x, param("W", [2, 2], zeros));
  return model({ outputs: { z }, loss: crossEntropy(z, input("y", ["batch"], "i32")) });
};

describe("lazy back ends", () => {
  it("loads js from the registry", async () => {
    const trainer = await createTrainer(m(), { optimizer: sgd(), backend: "js" });
    expect(trainer.backend).toBe("js");
    expect(requested).toEqual(["js"]);
  });

  it("names the back end that failed to load", async () => {
    await expect(resolveBackend("wasm")).rejects.toThrow("backend 'wasm' is not available: WebAssembly is not available here");
  });

  it("does not load the registry for the reference back end", async () => {
    requested.length = 0;
    expect((await resolveBackend("reference")).name).toBe("reference");
    expect(requested).toEqual([]);
  });
});
