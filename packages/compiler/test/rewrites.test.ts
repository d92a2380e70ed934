// The kernel-IR rewrites (src/backend/rewrites.ts): listed in one place and shown by
// `graft print --kernels`; map splitting shifts every read by the rows it skips.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { BufferInfo, Kernel } from "../src/backend/kernels.js";
import { describeRewrites, KERNEL_REWRITES, splitMap } from "../src/backend/rewrites.js";
import { main, type CliIo } from "../src/cli.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

const graft = async (argv: string[]): Promise<{ code: number; out: string }> => {
  let out = "";
  const io: CliIo = { out: (text) => void (out += text), err: () => undefined, cwd: root };
  const code = await main(argv, { io });
  return { code, out };
};

const buffer = (id: number, size: number): BufferInfo => ({ id, kind: "temp", dtype: "f32", size });

describe("kernel-IR rewrites", () => {
  it("are listed in one table", () => {
    expect(KERNEL_REWRITES.map((rewrite) => rewrite.name)).toEqual(["epilogue", "stacked-rows", "batch-sum", "in-place", "ce-fusion", "map-split"]);
  });

  it("graft print --kernels names the rewrites that apply to each function", async () => {
    const run = await graft(["print", "--kernels", "--train", "adam:lr=1e-3", "--batch", "8", "examples/seed-toy/model.ts"]);
    expect(run.code).toBe(0);
    expect(run.out).toContain("  rewrite in-place (planning): k5, k6, k7, k9, k10, k11, k12\n");
    expect(run.out).toContain("  rewrite ce-fusion (wasm codegen): k2+k3");
    const mlp = await graft(["print", "--kernels", "--batch", "8", "examples/blobs/model.ts"]);
    expect(mlp.out).toMatch(/ {2}rewrite epilogue \(lowering\): k\d+/);
    // dense layers on [N, L, E]: forward and input gradients over stacked rows, weight gradients summed in one GEMM
    const transformer = await graft(["print", "--kernels", "--train", "adam:lr=1e-3", "--batch", "4", "examples/transformer/model.ts"]);
    expect(transformer.out).toMatch(/ {2}rewrite stacked-rows \(lowering\): k\d+(, k\d+){12}/);
    expect(transformer.out).toMatch(/ {2}rewrite batch-sum \(lowering\): k\d+(, k\d+){12}\n/);
  });

  it("splits a big map kernel by its leading axis, shifting the second half's reads by the rows it skips", () => {
    const kernel: Extract<Kernel, { kind: "map" }> = {
      kind: "map",
      nodes: [],
      out: 1,
      shape: [64, 1024],
      expr: { kind: "unary", op: "exp", arg: { kind: "read", dtype: "f32", access: { buffer: 0, offset: 3, strides: [1024, 1] } } },
    } as Extract<Kernel, { kind: "map" }>;
    const layout = { offsets: [0, 65536], buffers: [buffer(0, 65536), buffer(1, 65536)] };
    const split = splitMap(layout, kernel, 1 << 15);
    expect(split?.first.shape).toEqual([32, 1024]);
    expect(split?.second.shape).toEqual([32, 1024]);
    expect(split?.second.expr).toEqual({ kind: "unary", op: "exp", arg: { kind: "read", dtype: "f32", access: { buffer: 0, offset: 3 + 32 * 1024, strides: [1024, 1] } } });
    expect(split?.ctx.offsets[2]).toBe(65536 + 32 * 1024);
    expect(splitMap(layout, { ...kernel, shape: [4, 1024] }, 1 << 15)).toBeUndefined();
    expect(describeRewrites([kernel], layout, [])).toEqual(["map-split (wasm codegen, 2 threads): k0"]);
  });
});
