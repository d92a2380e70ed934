// conv2d on the WASM back end, one thread: forward (batch 16, 64→64 channels, 32×32, 3×3,
// padding 1) and the input/weight gradients of the same conv, as effective GFLOP/s
// (2·N·Co·Ho·Wo·Ci·kh·kw per conv), medians of the kernel schedule after warm-up, over wall-clock
// time and over the process's CPU time (steadier when other processes share the machine):
//
// A plain batched matmul of the same GEMM shape is timed too: the forward's distance to it is
// the im2col cost (the numbers move with machine load; compare lines of one run).
//
// The mnist-cnn example's conv2/conv1/pool1 at batch 64 and a depthwise 3×3 follow.
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/bench-conv.ts [--runs=N] [--only=TEXT]
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, conv2d, conv2dWeightGradRaw, convTranspose2d, input, matmul, maxPool2d, model, type Graph, type Tensor } from "@graft/core";
import { createCompiledSession, type CodeGenerator } from "../src/backend/program.js";
import type { HostTensor } from "../src/backend/types.js";
import { createWasmGenerator, loadWasmToolkit } from "../src/backend/wasm/backend.js";
import { cpus } from "node:os";

const runsArg = process.argv.find((arg) => arg.startsWith("--runs="));
const RUNS = Math.max(5, Number(runsArg?.slice("--runs=".length) ?? 20));
const only = process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length) ?? "";
const WARMUP = 5;

const graphOf = (outputs: Record<string, Tensor>): Graph => {
  const built = buildGraph(model({ outputs }));
  if (E.isLeft(built)) throw new Error(built.left.map((d) => d.message).join("\n"));
  return built.right;
};

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

let seed = 12345;
const randomTensor = (shape: readonly number[]): HostTensor => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    data[i] = seed / 2 ** 32 - 0.5;
  }
  return { shape: [...shape], dtype: "f32", data };
};

const bench = (label: string, graph: Graph, feeds: Record<string, HostTensor>, flops: number): void => {
  if (!label.includes(only)) return;
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const inner = createWasmGenerator();
  const generator: CodeGenerator = {
    ...inner,
    compile: (plan) => {
      const run = inner.compile(plan);
      return (F, I) => {
        const start = performance.now();
        const cpuStart = process.cpuUsage();
        run(F, I);
        const cpu = process.cpuUsage(cpuStart);
        times.push(performance.now() - start);
        cpuTimes.push((cpu.user + cpu.system) / 1000);
      };
    },
  };
  const session = createCompiledSession({ functions: [{ name: "f", graph, updates: [] }] }, generator);
  for (let i = 0; i < WARMUP; i++) session.run("f", feeds);
  times.length = 0;
  cpuTimes.length = 0;
  for (let i = 0; i < RUNS; i++) session.run("f", feeds);
  const ms = median(times);
  const cpuMs = median(cpuTimes);
  console.log(`${label}: median ${ms.toFixed(2)} ms (min ${Math.min(...times).toFixed(2)}), ${(flops / ms / 1e6).toFixed(1)} GFLOP/s; CPU time median ${cpuMs.toFixed(2)} ms, ${(flops / cpuMs / 1e6).toFixed(1)} GFLOP/s`);
};

await loadWasmToolkit();
console.log(`node ${process.version}, ${cpus()[0]?.model ?? "?"}, one thread, ${RUNS} runs after ${WARMUP} warm-up`);
const [N, C, H, W, K] = [16, 64, 32, 32, 3];
const flops = 2 * N * C * H * W * C * K * K;
{
  const x = input("x", [N, C, H, W]);
  const w = input("w", [C, C, K, K]);
  bench(`conv2d forward ${N}×${C}×${H}×${W}, ${C}→${C}, ${K}×${K}, padding 1`, graphOf({ y: conv2d(x, w, undefined, { padding: 1 }) }), { x: randomTensor([N, C, H, W]), w: randomTensor([C, C, K, K]) }, flops);
}
{
  const dy = input("dy", [N, C, H, W]);
  const w = input("w", [C, C, K, K]);
  bench("conv2d input gradient (convTranspose2d)", graphOf({ dx: convTranspose2d(dy, w, undefined, { padding: 1 }) }), { dy: randomTensor([N, C, H, W]), w: randomTensor([C, C, K, K]) }, flops);
}
{
  const x = input("x", [N, C, H, W]);
  const dy = input("dy", [N, C, H, W]);
  const attrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1, kernel: [K, K] } as const;
  bench("conv2d weight gradient", graphOf({ dw: conv2dWeightGradRaw(x, dy, attrs) }), { x: randomTensor([N, C, H, W]), dy: randomTensor([N, C, H, W]) }, flops);
}
{
  // the GEMM the forward runs per image, as one batched matmul: the ceiling of im2col + GEMM on this machine now
  const a = input("a", [C, C * K * K]);
  const b = input("b", [N, C * K * K, H * W]);
  bench(`reference: matmul ${N}×[${C}×${C * K * K}] @ [${C * K * K}×${H * W}] (no im2col)`, graphOf({ y: matmul(a, b) }), { a: randomTensor([C, C * K * K]), b: randomTensor([N, C * K * K, H * W]) }, flops);
}
{
  const x = input("x", [N, C, H, W]);
  bench("maxPool2d 2×2 (GFLOP/s: input elements)", graphOf({ y: maxPool2d(x, 2) }), { x: randomTensor([N, C, H, W]) }, N * C * H * W);
}
{
  // the mnist-cnn example's layers at batch 64 (examples/mnist-cnn/model.ts): conv2 16→32, 5×5 over 12×12
  const [n, ci, co, h, k] = [64, 16, 32, 12, 5];
  const ho = h - k + 1;
  const cnnFlops = 2 * n * co * ho * ho * ci * k * k;
  const x = input("x", [n, ci, h, h]);
  const w = input("w", [co, ci, k, k]);
  const dy = input("dy", [n, co, ho, ho]);
  const [xs, ws, dys] = [randomTensor([n, ci, h, h]), randomTensor([co, ci, k, k]), randomTensor([n, co, ho, ho])];
  bench(`mnist-cnn conv2 forward ${n}×${ci}×${h}×${h}, ${ci}→${co}, ${k}×${k}`, graphOf({ y: conv2d(x, w) }), { x: xs, w: ws }, cnnFlops);
  bench("mnist-cnn conv2 input gradient", graphOf({ dx: convTranspose2d(dy, w) }), { dy: dys, w: ws }, cnnFlops);
  const attrs = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1, kernel: [k, k] } as const;
  bench("mnist-cnn conv2 weight gradient", graphOf({ dw: conv2dWeightGradRaw(x, dy, attrs) }), { x: xs, dy: dys }, cnnFlops);
  const x1 = input("x", [n, 1, 28, 28]);
  const w1 = input("w", [16, 1, k, k]);
  bench("mnist-cnn conv1 forward 64×1×28×28, 1→16, 5×5", graphOf({ y: conv2d(x1, w1) }), { x: randomTensor([n, 1, 28, 28]), w: randomTensor([16, 1, k, k]) }, 2 * n * 16 * 24 * 24 * k * k);
  const p = input("p", [n, 16, 24, 24]);
  bench("mnist-cnn pool1 forward 64×16×24×24 (GFLOP/s: input elements)", graphOf({ y: maxPool2d(p, 2) }), { p: randomTensor([n, 16, 24, 24]) }, n * 16 * 24 * 24);
}
{
  // depthwise 3×3 (groups = channels), as in MobileNet blocks: batch 16, 64 channels, 32×32
  const x = input("x", [N, C, H, W]);
  const w = input("w", [C, 1, K, K]);
  bench(`depthwise conv2d forward ${N}×${C}×${H}×${W}, 3×3, padding 1, groups ${C}`, graphOf({ y: conv2d(x, w, undefined, { padding: 1, groups: C }) }), { x: randomTensor([N, C, H, W]), w: randomTensor([C, 1, K, K]) }, 2 * N * C * H * W * K * K);
}
