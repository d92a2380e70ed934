import { describe, expect, it } from "vitest";
import { installWasmMemoryTracker, snapshotWasmHeaps, wasmHeapBytes, wasmHeapGrowthSince } from "../src/wasm-memory.js";

describe("wasm memory tracker", () => {
  it("sees memories created in JS, their growth, and ignores memories created after a snapshot", () => {
    installWasmMemoryTracker();
    const before = wasmHeapBytes();
    const m = new WebAssembly.Memory({ initial: 1 });
    expect(m).toBeInstanceOf(WebAssembly.Memory);
    expect(wasmHeapBytes() - before).toBe(65536);
    const snap = snapshotWasmHeaps();
    m.grow(2);
    const later = new WebAssembly.Memory({ initial: 4 });
    expect(wasmHeapGrowthSince(snap)).toBe(2 * 65536);
    expect(later.buffer.byteLength).toBe(4 * 65536);
  });

  it("sees memories exported by instances", async () => {
    installWasmMemoryTracker();
    // (module (memory (export "mem") 3))
    const bytes = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 3, 7, 7, 1, 3, 109, 101, 109, 2, 0]);
    const before = wasmHeapBytes();
    const { instance } = await WebAssembly.instantiate(bytes);
    expect(instance.exports["mem"]).toBeInstanceOf(WebAssembly.Memory);
    expect(wasmHeapBytes() - before).toBe(3 * 65536);
  });
});
