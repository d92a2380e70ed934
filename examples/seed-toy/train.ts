/**
 * The seed's softmax-regression training loop, as in the PyTorch tutorial:
 *
 *   for epoch in range(nb_epochs + 1):
 *       cost = ...            # forward
 *       if epoch % 100 == 0: print('Epoch {:4d}/{} Cost: {:.6f}'.format(epoch, nb_epochs, cost.item()))
 *       optimizer.zero_grad(); cost.backward(); optimizer.step()
 *
 * graft's `trainStep` returns the loss computed before its update, so one call per epoch prints
 * exactly what the seed prints.
 */
import type { Model } from "@graft/core";
import type { Backend, BackendName } from "../../packages/compiler/src/backend/types.js";
import { sgd } from "../../packages/compiler/src/optim/index.js";
import { createTrainer } from "../../packages/compiler/src/train/index.js";
import { xTrain, yTrain } from "./data.js";
import gatherModel from "./model-gather.js";
import lowLevelModel from "./model-low-level.js";
import nllModel from "./model-nll.js";
import oneHotModel from "./model-onehot.js";
import highLevelModel from "./model.js";

/** The seed's formulations of the same softmax regression. */
export const variants: Readonly<Record<string, Model>> = {
  "high-level": highLevelModel,
  "low-level": lowLevelModel,
  nll: nllModel,
  onehot: oneHotModel,
  gather: gatherModel,
};

export interface SeedToyOptions {
  readonly variant?: string;
  readonly backend?: Backend | BackendName;
  readonly epochs?: number;
  /** Print every this many epochs (default 100). */
  readonly every?: number;
  /** Run the fuse pass (default: when registered). */
  readonly fuse?: boolean;
  /** Called with each printed line. */
  readonly log?: (line: string) => void;
}

/**
 * Formats like Python's `'{:.6f}'.format(x)`: the exact binary value rounded to `digits`
 * decimals, ties to even (JS's toFixed breaks exact ties upwards).
 */
export const formatFixed = (value: number, digits: number): string => {
  const fixed = value.toFixed(digits);
  if (!Number.isFinite(value)) return fixed;
  const exact = value.toFixed(Math.min(100, digits + 60));
  const tail = exact.slice(exact.indexOf(".") + 1 + digits);
  if (!/^50*$/.test(tail)) return fixed;
  // an exact tie: round the truncated value half to even
  const truncated = exact.slice(0, exact.indexOf(".") + 1 + digits);
  const lastDigit = Number(truncated[truncated.length - 1]);
  return lastDigit % 2 === 0 ? truncated : fixed;
};

/** `Epoch  100/1000 Cost: 0.761050`, as the seed prints it. */
export const epochLine = (epoch: number, epochs: number, cost: number): string => `Epoch ${String(epoch).padStart(4)}/${epochs} Cost: ${formatFixed(cost, 6)}`;

/** Trains the seed toy and returns the printed lines. */
export const trainSeedToy = async (options: SeedToyOptions = {}): Promise<string[]> => {
  const variant = options.variant ?? "high-level";
  const model = variants[variant];
  if (model === undefined) throw new Error(`unknown variant '${variant}'; expected one of ${Object.keys(variants).join(", ")}`);
  const epochs = options.epochs ?? 1000;
  const every = options.every ?? 100;
  const trainer = await createTrainer(model, {
    optimizer: sgd({ lr: 0.1 }),
    backend: options.backend ?? "reference",
    seed: 0,
    ...(options.fuse === undefined ? {} : { fuse: options.fuse }),
  });
  const batch = {
    x: { shape: [xTrain.length, 4], dtype: "f32" as const, data: Float32Array.from(xTrain.flat()) },
    y: { shape: [yTrain.length], dtype: "i32" as const, data: Int32Array.from(yTrain) },
  };
  const lines: string[] = [];
  try {
    for (let epoch = 0; epoch <= epochs; epoch++) {
      const { loss } = trainer.step(batch);
      if (epoch % every === 0) {
        const line = epochLine(epoch, epochs, loss);
        lines.push(line);
        options.log?.(line);
      }
    }
  } finally {
    trainer.dispose();
  }
  return lines;
};
