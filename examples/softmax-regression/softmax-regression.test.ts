import { describe, expect, it } from "vitest";
import { fuseSoftmaxRegression, trainSoftmaxRegression } from "./main.js";

describe("softmax regression written the low-level way (seed 003)", () => {
  it("fuse turns softmax → gather → log → mean → neg into one cross_entropy", () => {
    const { before, after, rules } = fuseSoftmaxRegression();
    expect(before.nodes.map((node) => node.op)).toEqual(["input", "param", "matmul", "param", "add", "softmax", "input", "reshape", "gather", "reshape", "log", "mean", "neg"]);
    expect(after.nodes.map((node) => node.op)).toEqual(["input", "param", "matmul", "param", "add", "input", "cross_entropy"]);
    expect(rules).toEqual(["gather-to-cross-entropy"]);
  });

  it("trains to a sane test accuracy in 2 epochs on 2,000 digits", async () => {
    const { testAccuracy, losses } = await trainSoftmaxRegression({ epochs: 2, trainSize: 2000, testSize: 500, batchSize: 64 });
    expect(losses).toHaveLength(2);
    expect(losses[1]).toBeLessThan(losses[0] ?? 0);
    expect(testAccuracy).toBeGreaterThan(0.75);
  });
});
