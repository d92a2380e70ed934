// Benchmarks of the WASM back end (compiled sessions), medians after warm-up:
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/bench-wasm.ts [--runs=N]
//
// - softmax_ce: cross-entropy forward (mean loss, per-row LSE saved) + backward (dlogits) on
//   logits 4096×1000 with random labels;
// - mlp_forward: MLP 784-256-128-64-10 (ReLU) forward at batch 256 (and 1, 1024);
// - mlp_train_step: the same MLP, cross-entropy, Adam lr 1e-3, batch 32 and 256.
//
// Two times per workload: `kernels` is the compiled module's `run` alone (one JS→WASM call);
// `session.run` adds feed validation, copying feeds in and outputs out (what a user sees).
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, crossEntropy, crossEntropyBackward, dense, input, model, relu, scalar, type CrossEntropyAttrs, type Graph, type Tensor } from "@graft/core";
import { createCompiledSession, type CodeGenerator } from "../src/backend/program.js";
import type { HostTensor } from "../src/backend/types.js";
import type { ProgramSpec } from "../src/program/types.js";
import { createWasmGenerator, loadWasmToolkit } from "../src/backend/wasm/backend.js";
import { grad } from "../src/passes/grad.js";
import { adam, trainStep } from "../src/optim/index.js";
import { detectWasmFeatures } from "../src/backend/wasm/features.js";
import { cpus } from "node:os";

const runsArg = process.argv.find((arg) => arg.startsWith("--runs="));
const RUNS = Math.max(10, Number(runsArg?.slice("--runs=".length) ?? 30));
const WARMUP = 10;

const graphOf = (outputs: Record<string, Tensor>): Graph => {
  const built = buildGraph(model({ outputs }));
  if (E.isLeft(built)) throw new Error(built.left.map((d) => d.message).join("\n"));
  return built.right;
};

/** A generator that records the time of each kernel-schedule call. */
const timedGenerator = (times: number[]): CodeGenerator => {
  const inner = createWasmGenerator();
  return {
    ...inner,
    compile: (plan) => {
      const run = inner.compile(plan);
      return (F, I) => {
        const start = performance.now();
        run(F, I);
        times.push(performance.now() - start);
      };
    },
  };
};

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

let seed = 12345;
const random = (): number => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
};

const bench = async (label: string, spec: ProgramSpec, feeds: Record<string, HostTensor>): Promise<void> => {
  const kernelTimes: number[] = [];
  const compileStart = performance.now();
  const session = createCompiledSession(spec, timedGenerator(kernelTimes));
  session.run("f", feeds);
  const compileMs = performance.now() - compileStart;
  for (let i = 0; i < WARMUP; i++) session.run("f", feeds);
  kernelTimes.length = 0;
  const totals: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    session.run("f", feeds);
    totals.push(performance.now() - start);
  }
  const fmt = (values: readonly number[]): string => `median ${median(values).toFixed(3)} ms (min ${Math.min(...values).toFixed(3)}, max ${Math.max(...values).toFixed(3)})`;
  console.log(`${label}\n  kernels:     ${fmt(kernelTimes)}\n  session.run: ${fmt(totals)}\n  first run (compile + run): ${compileMs.toFixed(1)} ms`);
};

await loadWasmToolkit();
console.log(`node ${process.version}, ${cpus()[0]?.model ?? "?"} ×${cpus().length}, wasm features ${JSON.stringify(detectWasmFeatures())}, ${RUNS} runs after ${WARMUP} warm-up`);

{
  const rows = 4096;
  const classes = 1000;
  const x = input("logits", [rows, classes]);
  const y = input("labels", [rows], "i32");
  const attrs: CrossEntropyAttrs = { dim: 1, reduction: "mean", ignoreIndex: -100, labelSmoothing: 0, target: "index", weighted: false };
  const graph = graphOf({ loss: crossEntropy(x, y), dlogits: crossEntropyBackward(x, y, scalar(1), attrs) });
  const logits = Float32Array.from({ length: rows * classes }, () => random() * 8 - 4);
  const labels = Int32Array.from({ length: rows }, () => Math.floor(random() * classes));
  await bench("softmax_ce 4096×1000 (forward + backward)", { functions: [{ name: "f", graph, updates: [] }] }, {
    logits: { shape: [rows, classes], dtype: "f32", data: logits },
    labels: { shape: [rows], dtype: "i32", data: labels },
  });
}

const mlp = (batch: number | string) => {
  const x = input("x", [batch, 784]);
  const h1 = relu(dense(x, 784, 256, "fc1"));
  const h2 = relu(dense(h1, 256, 128, "fc2"));
  const h3 = relu(dense(h2, 128, 64, "fc3"));
  return { x, logits: dense(h3, 64, 10, "fc4") };
};

for (const batch of [256, 1, 1024]) {
  const { logits } = mlp(batch);
  const graph = graphOf({ logits });
  const data = Float32Array.from({ length: batch * 784 }, () => random());
  await bench(`mlp_forward 784-256-128-64-10, batch ${batch}`, { functions: [{ name: "f", graph, updates: [] }] }, { x: { shape: [batch, 784], dtype: "f32", data } });
}

{
  const { logits } = mlp("batch");
  const y = input("y", ["batch"], "i32");
  const built = buildGraph(model({ outputs: {}, loss: crossEntropy(logits, y) }));
  if (E.isLeft(built)) throw new Error(built.left.map((d) => d.message).join("\n"));
  const withGrad = grad(built.right);
  if (E.isLeft(withGrad)) throw new Error(withGrad.left.map((d) => d.message).join("\n"));
  const step = trainStep(withGrad.right, adam({ lr: 1e-3 }));
  if (E.isLeft(step)) throw new Error(step.left.map((d) => d.message).join("\n"));
  for (const batch of [32, 256]) {
    const data = Float32Array.from({ length: batch * 784 }, () => random());
    const labels = Int32Array.from({ length: batch }, () => Math.floor(random() * 10));
    await bench(`mlp_train_step (Adam), batch ${batch}`, { functions: [{ ...step.right, name: "f" }] }, {
      x: { shape: [batch, 784], dtype: "f32", data },
      y: { shape: [batch], dtype: "i32", data: labels },
    });
  }
}
