// A kernel the WASM generator cannot compile becomes a diagnostic naming the op and the user's
// line (the generator is mocked to fail: no real kernel fails at these sizes).
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it, vi } from "vitest";
import { KernelCompileError } from "../src/backend/wasm/context.js";
import { compileBundle } from "../src/bundle/index.js";
import mlp from "./fixtures/bundle/mlp.js";

vi.mock("../src/backend/wasm/codegen.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../src/backend/wasm/codegen.js")>()),
  programModuleText: () => {
    throw new KernelCompileError("matmul 1×6×5 needs 2000000 bytes of packing scratch, more than the 1048576 reserved", 0, 0);
  },
}));

describe("WASM bundle compile errors", () => {
  it("names the function, the op and the user's line", async () => {
    const result = await compileBundle(mlp, { backend: "wasm" });
    expect(E.isLeft(result)).toBe(true);
    if (E.isLeft(result)) {
      expect(result.left.map((d) => d.message)).toEqual([
        expect.stringMatching(/^wasm: forward: matmul \(node %\d+, .*mlp\.ts:6:\d+\): matmul 1×6×5 needs 2000000 bytes of packing scratch, more than the 1048576 reserved$/),
      ]);
      expect(result.left[0]?.loc?.line).toBe(6);
    }
  });
});
