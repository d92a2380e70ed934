/**
 * @file A row of logits holding +inf: PyTorch's cross_entropy is NaN for that row (log_softmax
 * computes x − max = inf − inf), and so is its gradient; the JS and WASM kernels gave +inf (they
 * shift by 0 when the max is infinite, as logsumexp must). Found by the layer fuzzer
 * (fuzz-graphs.test.ts: a max-pool window entirely in the padding gives −inf, a linear layer then
 * ±inf logits). Numbers from torch 1.13:
 *   F.cross_entropy([[inf,1,2],[0,1,2],[-inf,3,1]], [1,1,2], reduction="none") = [nan, 1.4076059, 2.1269281]
 *   its mean's gradient: row 0 all NaN, row 1 [0.0300102, -0.2517572, 0.2217470], row 2 [0, 0.2935990, -0.2935990]
 * torch.logsumexp([inf, 1, 2]) stays inf (checked too).
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { getBackend } from "../src/backend/index.js";
import type { HostTensor } from "../src/backend/types.js";
import { bundleProgram } from "../src/bundle/index.js";

const BACKENDS = ["reference", "js", "wasm"] as const;

/** Row `row` of `rows` logit rows of `size` classes: the torch rows padded with zeros to `size` (the padding logits change the finite losses). */
const logitRows = (size: number): number[] => [[Infinity, 1, 2], [0, 1, 2], [-Infinity, 3, 1]].flatMap((row) => [...row, ...new Array<number>(size - 3).fill(-Infinity)]);

const run = async (backend: (typeof BACKENDS)[number], size: number, reduction: "none" | "mean"): Promise<{ loss: Float32Array; lse: Float32Array; grad: Float32Array }> => {
  const z = C.input("z", [3, size]);
  const y = C.input("y", [3], "i32");
  const shift = C.param("shift", [size], C.zeros);
  const logits = C.add(z, shift);
  const model = C.model({ name: "ce_inf", outputs: { lse: C.logsumexp(z, [1]) }, loss: C.mean(C.crossEntropy(logits, y, { reduction: "none" })) });
  const direct = C.model({ name: "ce_inf_loss", outputs: { loss: C.crossEntropy(z, y, { reduction }) } });
  const feeds = { z: { shape: [3, size], dtype: "f32", data: Float32Array.from(logitRows(size)) } as HostTensor, y: { shape: [3], dtype: "i32", data: Int32Array.of(1, 1, 2) } as HostTensor };
  const training = bundleProgram(model, { train: "sgd:lr=1" });
  const forward = bundleProgram(direct);
  if (E.isLeft(training) || E.isLeft(forward)) throw new Error("the test models do not compile");
  const lib = await getBackend(backend);
  const trainer = await lib.createSession(training.right.spec);
  const session = await lib.createSession(forward.right.spec);
  try {
    const lse = Float32Array.from(trainer.run("forward", { z: feeds.z }).lse?.data ?? []);
    trainer.run("trainStep", feeds);
    // one SGD step with lr 1 from zeros: shift = −Σ_rows ∂loss/∂logits
    const grad = Float32Array.from(trainer.getState()["shift"]?.data ?? [], (value) => -value);
    return { loss: Float32Array.from(session.run("forward", feeds).loss?.data ?? []), lse, grad };
  } finally {
    trainer.dispose();
    session.dispose();
  }
};

describe("cross_entropy of a row with a +inf logit is NaN, as PyTorch (fuzzer regression)", () => {
  it("the op row's float64 semantics (the interpreter), loss and gradient", () => {
    const z = C.input("z", [3, 3]);
    const y = C.input("y", [3], "i32");
    const loss = C.crossEntropy(z, y, { reduction: "none" });
    const meanLoss = C.crossEntropy(z, y);
    if (meanLoss.call.op !== "cross_entropy") throw new Error("not a cross_entropy");
    const graph = C.buildGraph(C.model({ name: "ce", outputs: { loss, grad: C.crossEntropyBackward(z, y, C.scalar(1), meanLoss.call.attrs) } }));
    if (E.isLeft(graph)) throw new Error(C.formatDiagnostics(graph.left));
    const out = C.run(graph.right, { z: C.ndarray([3, 3], "f32", logitRows(3)), y: C.ndarray([3], "i32", [1, 1, 2]) }, {});
    const losses = Array.from(out["loss"]?.data ?? []);
    expect(Number.isNaN(losses[0])).toBe(true);
    expect(losses[1]).toBeCloseTo(1.4076059, 6);
    expect(losses[2]).toBeCloseTo(2.1269281, 6);
    const grad = Array.from(out["grad"]?.data ?? []);
    expect(grad.slice(0, 3).every(Number.isNaN)).toBe(true);
    [0.0300102, -0.2517572, 0.221747, 0, 0.293599, -0.293599].forEach((value, i) => expect(grad[3 + i]).toBeCloseTo(value, 6));
  });

  for (const backend of BACKENDS)
    for (const size of [3, 9]) {
      it(`${backend}, ${size} classes (${size === 3 ? "scalar rows" : "SIMD rows on wasm"})`, async () => {
        const none = await run(backend, size, "none");
        expect(Number.isNaN(none.loss[0])).toBe(true);
        expect(none.loss[1]).toBeCloseTo(1.4076059, 5);
        expect(none.loss[2]).toBeCloseTo(2.1269281, 5);
        expect(Number.isNaN((await run(backend, size, "mean")).loss[0])).toBe(true);
        // logsumexp keeps +inf for the row with +inf (torch.logsumexp), finite for the others
        expect(Array.from(none.lse)).toEqual([Infinity, expect.closeTo(Math.log(Math.exp(0) + Math.exp(1) + Math.exp(2)), 5), expect.closeTo(Math.log(Math.exp(3) + Math.exp(1)), 5)]);
        // the gradient of the mean: NaN in every class (row 0 is NaN everywhere)
        expect(none.grad.length).toBe(size);
        expect(Array.from(none.grad).every(Number.isNaN)).toBe(true);
      });
    }
});
