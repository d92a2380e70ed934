// The two #12 example models exported to ONNX and run in onnxruntime-node: examples/mnist-cnn
// (conv, batch norm — batch statistics and running-stat updates in training, running stats in
// evaluation —, max pool, dropout) and examples/transformer (embeddings and their scatter-add
// gradient, arange, layer norm, exact GELU, causal multi-head attention, dropout, cross-entropy
// over dim 2 with ignore_index). The forward equals the bundle's at two batch sizes; 10 Adam
// training steps give the bundle's loss at every step, and after them the same params, running
// statistics and counters (dropout masks are the same bits: a step with another counter is
// visibly off).
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import { RANDOM_COUNTER, type Model } from "@graft/core";
import { cnnModel } from "../../../../examples/mnist-cnn/model.js";
import { TRANSFORMER_CONFIG, transformerModel } from "../../../../examples/transformer/model.js";
import { createSession, loadOrt, ORT_MISSING, type Ort, type OrtTensor } from "./ort.js";
import { expectClose, exported, loadBundle, numbers, removeBundles, runStep, startingState } from "./ort-steps.js";

const ort = await loadOrt();
afterAll(removeBundles);

/** Deterministic values in [0, 1). */
const pixels = (count: number, salt: number): Float32Array => Float32Array.from({ length: count }, (_, i) => ((i * 7919 + salt * 104729) % 1009) / 1009);

interface Example {
  readonly name: string;
  readonly model: Model;
  /** The feeds of a batch: graft's (typed arrays) and ORT's. */
  readonly batch: (runtime: Ort, rows: number, salt: number) => { readonly graft: Record<string, Float32Array | Int32Array>; readonly ort: Record<string, OrtTensor> };
  /** Batch sizes of the forward comparison, and of the training steps. */
  readonly forwardRows: readonly number[];
  readonly trainRows: number;
  /**
   * The training steps compared; `stateRtol`: the params and running statistics after them too,
   * to that relative tolerance (integer state — counters, num_batches_tracked — is always
   * compared, exactly).
   */
  readonly training: ReadonlyArray<{ readonly optimizer: string; readonly opset?: number; readonly stateRtol?: number }>;
}

const IMAGE = [1, 28, 28] as const;
const cnn: Example = {
  name: "mnist-cnn",
  model: cnnModel(),
  batch: (runtime, rows, salt) => {
    const x = pixels(rows * 28 * 28, salt);
    const y = Int32Array.from({ length: rows }, (_, i) => (i * 3 + salt) % 10);
    return { graft: { x, y }, ort: { x: new runtime.Tensor("float32", x, [rows, ...IMAGE]), y: new runtime.Tensor("int32", y, [rows]) } };
  },
  forwardRows: [1, 5],
  trainRows: 8,
  // Adam at lr 1e-3 is chaotic here: it turns rounding-level gradient differences (the conv
  // biases' gradient, which batch norm cancels, is rounding noise) into lr-sized steps; graft's own
  // JS and WASM bundles are 7e-4 apart by step 10 (ORT and the JS bundle 1.4e-5). At lr 1e-4 they
  // agree to 2e-7; params after Adam steps differ where the gradient is noise, so SGD compares
  // them: after 10 steps ORT and the JS bundle are 1.3e-5 apart (relative to the tensor's mean
  // magnitude), the WASM and JS bundles 7.6e-6.
  training: [
    { optimizer: "adam:lr=1e-4" },
    // opset 17: dropout's XOR nibble by nibble
    { optimizer: "sgd:lr=0.05,momentum=0.9", opset: 17, stateRtol: 5e-5 },
  ],
};

const { context, vocab } = TRANSFORMER_CONFIG;
const transformer: Example = {
  name: "transformer",
  model: transformerModel(),
  batch: (runtime, rows, salt) => {
    const x = Int32Array.from({ length: rows * context }, (_, i) => (i * 5 + salt * 3 + (i >> 3)) % vocab);
    // the first half of each row has no target (ignore_index −100), the rest the next token
    const y = Int32Array.from({ length: rows * context }, (_, i) => (i % context < context / 2 ? -100 : (i * 7 + salt) % (vocab - 1)));
    return { graft: { x, y }, ort: { x: new runtime.Tensor("int32", x, [rows, context]), y: new runtime.Tensor("int32", y, [rows, context]) } };
  },
  forwardRows: [2, 3],
  trainRows: 4,
  training: [
    { optimizer: "adam:lr=1e-3" },
    { optimizer: "sgd:lr=0.05,momentum=0.9", stateRtol: 1e-5 },
  ],
};

const STEPS = 10;

describe.runIf(ort !== undefined)("the example models exported to ONNX, in onnxruntime-node", () => {
  const runtime = ort as Ort;
  for (const example of [cnn, transformer]) {
    it(`${example.name}: the exported forward (evaluation mode) equals the bundle's at batch ${example.forwardRows.join(" and ")}`, async () => {
      const bundle = await loadBundle(example.model, { batches: [...example.forwardRows] });
      const session = await createSession(runtime, exported(example.model, {}).bytes);
      for (const rows of example.forwardRows) {
        const feeds = example.batch(runtime, rows, rows);
        const got = await session.run({ x: feeds.ort.x as OrtTensor });
        expectClose(numbers(got.logits), bundle.forward({ x: feeds.graft.x }).logits ?? [], 1e-5, `${example.name} logits at batch ${rows}`);
      }
    });

    for (const training of example.training)
      it(`${example.name}, ${training.optimizer}, opset ${training.opset ?? "default (18)"}: ${STEPS} exported training steps give the bundle's loss at every step${training.stateRtol === undefined ? "" : ", then its params and state"}`, async () => {
        const rows = example.trainRows;
        const bundle = await loadBundle(example.model, { batches: [rows], train: training.optimizer });
        const step = exported(example.model, { train: training.optimizer, weights: bundle.saveWeights(), opset: training.opset });
        expect(step.opset).toBe(training.opset ?? 18);
        const session = await createSession(runtime, step.bytes);
        const state = startingState(step.initialState);
        expect(state.get(RANDOM_COUNTER)?.dtype).toBe("I32");
        const graftLosses: number[] = [];
        const ortLosses: number[] = [];
        for (let i = 0; i < STEPS; i++) {
          const feeds = example.batch(runtime, rows, i);
          if (i === 0) {
            // the same step with the next counter draws other dropout masks: the losses below could tell
            const shifted = new Map(state);
            const counter = state.get(RANDOM_COUNTER);
            if (counter !== undefined) shifted.set(RANDOM_COUNTER, { ...counter, values: Float64Array.of(1) });
            const other = numbers((await runStep(runtime, session, step, shifted, feeds.ort)).loss)[0] ?? Number.NaN;
            const same = numbers((await runStep(runtime, session, step, new Map(state), feeds.ort)).loss)[0] ?? Number.NaN;
            expect(Math.abs(other - same), `another counter: loss ${other} vs ${same}`).toBeGreaterThan(1e-3 * Math.abs(same));
          }
          graftLosses.push(bundle.trainStep(feeds.graft).loss);
          ortLosses.push(numbers((await runStep(runtime, session, step, state, feeds.ort)).loss)[0] ?? Number.NaN);
        }
        expectClose(ortLosses, graftLosses, 1e-5, `${example.name} losses`);
        const final = decodeSafetensors(bundle.saveWeights()).tensors;
        for (const [name, tensor] of final) {
          const mine = state.get(name);
          expect(mine, `${name} is state of the exported step`).toBeDefined();
          if (tensor.dtype === "I32") expect(Array.from(mine?.values ?? []), `${name} after ${STEPS} steps`).toEqual(Array.from(tensor.data));
          else if (training.stateRtol !== undefined) expectClose(mine?.values ?? [], tensor.data, training.stateRtol, `${name} after ${STEPS} steps`);
        }
        expect(state.get(RANDOM_COUNTER)?.values[0]).toBe(STEPS);
      });
  }
});

describe.runIf(ort === undefined)("the example models exported to ONNX, in onnxruntime-node", () => {
  it.skip(ORT_MISSING, () => undefined);
});
