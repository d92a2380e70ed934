import { describe, expect, it, vi } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { crossEntropy, dense, input, model } from "@graft/core";
import { createTrainer, parseOptimizer, type ProgressStream, type Trainer } from "@graft/compiler";
import { confusionCounts, digitLoader, modelState, setLogits, trainClassifierEpochs, type ImageFeed } from "./classifier.js";
import { MNIST_PIXELS, type MnistSet } from "./mnist.js";

const x = input("x", ["batch", MNIST_PIXELS]);
const logits = dense(x, MNIST_PIXELS, 10, "fc");
const linear = model({ name: "linear_digits", outputs: { logits }, loss: crossEntropy(logits, input("y", ["batch"], "i32")) });
const feed: ImageFeed = (images, count) => ({ shape: [count, MNIST_PIXELS], dtype: "f32", data: images });

/** `count` made-up digits: pixel values from the index, labels 0–9 in turn. */
const digits = (count: number): MnistSet => ({
  count,
  images: Float32Array.from({ length: count * MNIST_PIXELS }, (_, i) => ((i * 7919) % 255) / 255),
  labels: Int32Array.from({ length: count }, (_, i) => i % 10),
});

const trainerWith = async (optimizer: string): Promise<Trainer> => {
  const parsed = parseOptimizer(optimizer);
  if (E.isLeft(parsed)) throw new Error(parsed.left.map((d) => d.message).join("; "));
  return createTrainer(linear, { optimizer: parsed.right, backend: "js", seed: 0 });
};

describe("the MNIST classifiers' shared training", () => {
  it("runs every epoch, calls the step and epoch hooks, and reports loss, accuracies and the lr", async () => {
    const trainer = await trainerWith("sgd:lr=0.01");
    try {
      const set = digits(40);
      const lines: string[] = [];
      const stream: ProgressStream = { isTTY: false, write: (text: string) => (lines.push(text), true) } as unknown as ProgressStream;
      let steps = 0;
      let epochsEnded = 0;
      const history = trainClassifierEpochs({
        name: "tiny",
        trainer,
        loader: digitLoader(set, 16, 0),
        epochs: 2,
        seed: 0,
        augment: true,
        feed,
        stream,
        afterStep: () => steps++,
        afterEpoch: () => epochsEnded++,
        evaluate: () => ({ trainAccuracy: 0.25, testAccuracy: 0.5 }),
      });
      expect([steps, epochsEnded]).toEqual([6, 2]);
      expect(history.map((h) => [h.epoch, h.trainAccuracy, h.testAccuracy, h.lr])).toEqual([
        [0, 0.25, 0.5, 0.01],
        [1, 0.25, 0.5, 0.01],
      ]);
      expect(history.every((h) => Number.isFinite(h.loss) && h.trainSeconds >= 0 && h.evalSeconds >= 0)).toBe(true);
      expect(lines.join("")).toContain("train 25.0%  test 50.0%");
      const all = setLogits(trainer, set, feed, 40, 16, "tiny");
      expect(all.shape).toEqual([40, 10]);
      expect(Array.from(setLogits(trainer, set, feed, 7, 3, "tiny").data)).toEqual(Array.from(all.data.subarray(0, 70)));
      expect(modelState(trainer).map((t) => t.name)).toEqual(["fc.bias", "fc.weight"]);
    } finally {
      trainer.dispose();
    }
  });

  it("stops after an epoch whose loss is not finite, naming the example and the epoch", async () => {
    const trainer = await trainerWith("sgd:lr=0.01");
    const dispose = vi.spyOn(trainer, "dispose");
    const broken = digits(64);
    broken.images[5] = Number.NaN;
    let epochsEnded = 0;
    expect(() =>
      trainClassifierEpochs({ name: "tiny", trainer, loader: digitLoader(broken, 8, 0), epochs: 3, seed: 0, augment: false, feed, stream: null, afterEpoch: () => epochsEnded++, evaluate: () => ({ trainAccuracy: 0, testAccuracy: 0 }) }),
    ).toThrow(/^tiny: the loss is (NaN|Infinity) after epoch 1; lower the learning rate$/);
    expect(epochsEnded).toBe(0);
    expect(dispose).toHaveBeenCalledTimes(1);
  });

  it("counts test digits by true and predicted class", () => {
    expect(confusionCounts(Int32Array.from([1, 1, 2]), Int32Array.from([1, 3, 2]))[1]?.slice(0, 4)).toEqual([0, 1, 0, 1]);
  });
});
