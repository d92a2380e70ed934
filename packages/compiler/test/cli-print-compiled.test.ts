/**
 * @file `graft print --grad`, `--kernels` and `--memory`: the backward graph, the compiled
 * kernels (with the nodes each covers) and the arena plan.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { main, type CliIo } from "../src/cli.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

const graft = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
  let out = "";
  let err = "";
  const io: CliIo = { out: (text) => void (out += text), err: (text) => void (err += text), cwd: root };
  const code = await main(argv, { io });
  return { code, out, err };
};

describe("graft print, compiled views", () => {
  test("--grad prints the forward+backward graph with the fused cross-entropy backward", async () => {
    const run = await graft(["print", "--grad", "examples/seed-toy/model-onehot.ts"]);
    expect(run.code).toBe(0);
    expect(run.out).toContain("cross_entropy_backward[dim=1]");
    expect(run.out).toMatch(/return logits=%\d+, loss=%\d+, grad:W=%\d+, grad:b=%\d+/);
    expect(run.out).not.toMatch(/= softmax|= log /);
  });

  test("--kernels shows fused epilogues, the shared logsumexp and in-place optimizer updates", async () => {
    const run = await graft(["print", "--kernels", "--train", "adam:lr=1e-3", "--batch", "8", "examples/seed-toy/model.ts"]);
    expect(run.code).toBe(0);
    expect(run.out).toContain("function trainStep [batch=8]");
    expect(run.out).toMatch(/cross_entropy rows 8×3 \(LSE − x\[y\], one pass\) saves lse/);
    expect(run.out).toMatch(/cross_entropy_backward rows 8×3 \(softmax − target\) reuses lse/);
    expect(run.out).toMatch(/matmul \[4×8\]ᵀ @ \[8×3\]/);
    expect(run.out).toMatch(/→ state:W {2}covers/);
  });

  test("--memory reports the arena and reuse", async () => {
    const run = await graft(["print", "--memory", "--batch", "16", "examples/seed-toy/model.ts"]);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/function forward \[batch=16\]: arena [\d.]+ KiB = state [\d.]+ KiB \+ scratch [\d.]+ KiB \([\d.]+ KiB without reuse\)/);
    expect(run.out).toMatch(/state:W +f32\[12\] +@0/);
  });

  test("a bad --batch or optimizer spec is a usage error: one line, exit 2 (issue 16, item 12)", async () => {
    for (const flag of ["--kernels", "--memory"]) {
      const zero = await graft(["print", flag, "--batch", "0", "examples/seed-toy/model.ts"]);
      expect(zero.err).toBe("graft print: --batch must be a positive integer, got 0\n");
      expect(zero.code).toBe(2);
    }
    const bad = await graft(["print", "--kernels", "--train", "adam:lr=fast", "examples/seed-toy/model.ts"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(`graft print: --train: optimizer "adam:lr=fast": option 'lr' must be a number, got 'fast'\n`);
    const cases: Array<[string, string]> = [
      ["adam:lr=-1", `optimizer "adam:lr=-1": adam: invalid learning rate -1 (expected a finite number ≥ 0)`],
      ["sgd:lr=1e400", `optimizer "sgd:lr=1e400": sgd: invalid learning rate Infinity (expected a finite number ≥ 0)`],
      ["adam:beta1=1.5", `optimizer "adam:beta1=1.5": adam: invalid beta1 1.5 (expected 0 ≤ beta1 < 1)`],
      ["sgd:lr=0.1,momentum=-0.5", `optimizer "sgd:lr=0.1,momentum=-0.5": sgd: invalid momentum -0.5 (expected a finite number ≥ 0)`],
      ["sgd:lr=0.1,nesterov=true", `optimizer "sgd:lr=0.1,nesterov=true": sgd: nesterov momentum requires a momentum > 0 and zero dampening (got momentum 0, dampening 0)`],
    ];
    for (const [spec, message] of cases) {
      const run = await graft(["print", "--memory", "--train", spec, "examples/seed-toy/model.ts"]);
      expect(run.err).toBe(`graft print: --train: ${message}\n`);
      expect(run.code).toBe(2);
    }
  });
});
