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
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, type Diagnostic, type Model } from "@graft/core";
import { type Backend, type BackendName, sgd, lintGraph, createTrainer } from "@graft/compiler";
import { xTrain, yTrain } from "./data.js";
import gatherModel from "./model-gather.js";
import lowLevelModel from "./model-low-level.js";
import nllModel from "./model-nll.js";
import oneHotModel from "./model-onehot.js";
import highLevelModel from "./model.js";

/** One of the seed's formulations and whether graft fuses it before training. */
export interface Variant {
  readonly model: Model;
  readonly fuse: boolean;
}

/**
 * The seed's formulations of the softmax regression. All but `low-level` are F.cross_entropy
 * written in different ways; `fuse` turns each into the one cross_entropy op, which computes
 * what PyTorch's F.cross_entropy computes, float32 roundings included. `low-level` applies
 * softmax twice; fusing it rewrites log(softmax(h)) into log_softmax(h), which is more accurate
 * but rounds differently in float32 than the seed's program — at epoch 800 the two differ by one
 * float32 ulp across a 6-decimal boundary (0.749398 vs 0.749399) — so it runs as written.
 */
export const variants: Readonly<Record<string, Variant>> = {
  "high-level": { model: highLevelModel, fuse: true },
  "low-level": { model: lowLevelModel, fuse: false },
  nll: { model: nllModel, fuse: true },
  onehot: { model: oneHotModel, fuse: true },
  gather: { model: gatherModel, fuse: true },
};

export interface SeedToyOptions {
  readonly variant?: string;
  readonly backend?: Backend | BackendName;
  readonly epochs?: number;
  /** Print every this many epochs (default 100). */
  readonly every?: number;
  /** Run the fuse pass (default: the variant's choice). */
  readonly fuse?: boolean;
  /** Called with each printed line. */
  readonly log?: (line: string) => void;
  /** Called with each lint warning about the model (e.g. the low-level variant's double softmax). */
  readonly warn?: (warning: Diagnostic) => void;
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
  const chosen = variants[variant];
  if (chosen === undefined) throw new Error(`unknown variant '${variant}'; expected one of ${Object.keys(variants).join(", ")}`);
  const model = chosen.model;
  const graph = buildGraph(model);
  if (E.isRight(graph)) for (const warning of lintGraph(graph.right)) options.warn?.(warning);
  const epochs = options.epochs ?? 1000;
  const every = options.every ?? 100;
  const trainer = await createTrainer(model, {
    optimizer: sgd({ lr: 0.1 }),
    backend: options.backend ?? "reference",
    seed: 0,
    fuse: options.fuse ?? chosen.fuse,
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
