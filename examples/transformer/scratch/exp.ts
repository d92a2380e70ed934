import { attachScheduler, cosineAnnealingLR, createTrainer, linearLR } from "@graft/compiler";
import transformer from "../model.js";
import { createSortTask, generateSorted, sequenceAccuracy, digitAccuracy, CONTEXT } from "../task.js";

const [stepsArg, lrArg, seedArg, batchArg, wdArg, clipArg, warmArg] = process.argv.slice(2);
const steps = Number(stepsArg ?? 2000), lr = Number(lrArg ?? 3e-3), seed = Number(seedArg ?? 0), batch = Number(batchArg ?? 32);
const wd = Number(wdArg ?? 0.01), clip = Number(clipArg ?? 1), warm = Number(warmArg ?? 100);
const task = createSortTask(seed, 2000);
const trainer = await createTrainer(transformer, { optimizer: `adamw:lr=${lr},weight_decay=${wd}`, backend: "wasm", seed, clipGradNorm: clip });
let sched = attachScheduler(trainer, linearLR({ startFactor: 0.01, endFactor: 1, totalIters: warm }));
const t0 = performance.now();
let lossSum = 0, n = 0;
const evalAt = (s: number) => {
  const te = performance.now();
  const gen = generateSorted((x, rows) => trainer.forward({ x: { shape: [rows, CONTEXT], dtype: "i32", data: x } }).logits!.data as Float32Array, task.heldOut);
  console.log(`step ${s} loss ${(lossSum / n).toFixed(4)} seq ${(100 * sequenceAccuracy(task.heldOut, gen)).toFixed(1)}% digit ${(100 * digitAccuracy(task.heldOut, gen)).toFixed(2)}% t=${((performance.now() - t0) / 1000).toFixed(1)}s eval ${((performance.now() - te)/1000).toFixed(1)}s lr ${trainer.learningRate.toExponential(2)}`);
  lossSum = 0; n = 0;
};
for (let s = 0; s < steps; s++) {
  const { x, y } = task.nextBatch(batch);
  const r = trainer.step({ x, y });
  lossSum += r.loss; n++;
  if (s + 1 === warm) sched = attachScheduler(trainer, cosineAnnealingLR({ tMax: steps - warm }));
  else sched.step();
  if ((s + 1) % 250 === 0) evalAt(s + 1);
}
console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)}s`);
