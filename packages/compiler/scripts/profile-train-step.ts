// Per-kernel time profile of the benchmark MLP train step (784-256-128-64-10, ReLU, CE, Adam), or
// with --model=cnn of the examples/mnist-cnn model (input [batch,1,28,28]), on the WASM back end: the step's module is rebuilt with a JS `tick(i)` call before every kernel,
// run over the session's own memory (real weights and data), and each kernel's median time is
// printed with its share of the step and its GFLOP/s (matmuls). Shows how much of a step is
// matmul (what threads can split) and how much runs serially (Amdahl).
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/profile-train-step.ts [--model=mlp|cnn] [--batch=256] [--runs=300] [--threads=2] [--min-flops=5e5] [--min-map=32768] [--spin=µs] [--worker-spin=µs]
//
// With --threads=2 the module is the two-thread one (split matmuls hand half their rows to a
// helper worker over the shared memory), so the times show what each kernel gains.
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { adam, buildTrainingProgram } from "../src/index.js";
import { createCompiledSession, programState, type CodeGenerator, type FunctionPlan } from "../src/backend/program.js";
import { createWasmGenerator, loadWasmToolkit, RESERVED_BYTES, reservedBytes, sharedSessionMemory, wasmSessionArena } from "../src/backend/wasm/backend.js";
import { moduleText } from "../src/backend/wasm/codegen.js";
import { assembleWatSync } from "../src/backend/wasm/wat.js";
import { DEFAULT_THREAD_MIN_FLOPS, DEFAULT_THREAD_MIN_MAP_ELEMENTS } from "../src/backend/wasm/context.js";
import { createWasmThreadPool } from "../src/backend/wasm/threads.js";
import { detectWasmFeatures } from "../src/backend/wasm/features.js";
import { formatKernels } from "../src/backend/report.js";
import { cnnModel } from "../../../examples/mnist-cnn/model.js";

const arg = (name: string, fallback: number): number => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
};
const batch = arg("batch", 256);
const runs = arg("runs", 300);
const threads = arg("threads", 1);
const minFlops = arg("min-flops", DEFAULT_THREAD_MIN_FLOPS);
const spinMicros = arg("spin", NaN);
const workerSpinMicros = arg("worker-spin", NaN);
const sizes = [784, 256, 128, 64, 10];

const unwrap = <A>(value: E.Either<C.Diagnostics, A>): A => {
  if (E.isLeft(value)) throw new C.GraftError(value.left);
  return value.right;
};
const x = C.input("x", ["batch", 784]);
const y = C.input("y", ["batch"], "i32");
let h = x;
for (let l = 0; l + 1 < sizes.length; l++) {
  h = C.add(C.matmul(h, C.param(`w${l}`, [sizes[l] ?? 0, sizes[l + 1] ?? 0])), C.param(`b${l}`, [sizes[l + 1] ?? 0]));
  if (l + 2 < sizes.length) h = C.relu(h);
}
const modelName = process.argv.find((a) => a.startsWith("--model="))?.slice("--model=".length) ?? "mlp";
if (modelName !== "mlp" && modelName !== "cnn") throw new Error(`--model must be mlp or cnn, got ${modelName}`);
const trained = modelName === "cnn" ? cnnModel() : C.model({ name: "mlp", outputs: { logits: h }, loss: C.crossEntropy(h, y) });
const features = modelName === "cnn" ? [1, 28, 28] : [784];
const spec = unwrap(buildTrainingProgram(trained, adam({ lr: 1e-3 })));

await loadWasmToolkit();
const shared = threads > 1 ? sharedSessionMemory(programState(spec).elements) : undefined;
const pool = shared === undefined ? undefined : await createWasmThreadPool({ memory: shared, ...(Number.isNaN(spinMicros) ? {} : { spinMicros }), ...(Number.isNaN(workerSpinMicros) ? {} : { workerSpinMicros }) });
const inner = createWasmGenerator(shared === undefined || pool === undefined ? {} : { threads: { memory: shared, pool, minFlops, minMapElements: arg("min-map", DEFAULT_THREAD_MIN_MAP_ELEMENTS) } });
let memory: WebAssembly.Memory | undefined;
let plan: FunctionPlan | undefined;
const generator: CodeGenerator = {
  name: "wasm",
  arena: (elements) => {
    const arena = shared === undefined ? wasmSessionArena(elements) : (inner.arena(elements) as ReturnType<typeof wasmSessionArena>);
    memory = arena.memory;
    return arena;
  },
  compile: (p) => {
    if (p.name === "trainStep") plan = p;
    return inner.compile(p);
  },
};
const session = createCompiledSession(spec, generator, { seed: 1 });
const xs = new Float32Array(batch * 784).map((_, i) => Math.sin(i * 0.37));
const ys = new Int32Array(batch).map((_, i) => (i * 7) % 10);
const feeds = { x: { shape: [batch, ...features], dtype: "f32" as const, data: xs }, y: { shape: [batch], dtype: "i32" as const, data: ys } };
for (let i = 0; i < 20; i++) session.run("trainStep", feeds, { fetch: ["loss"] });
if (plan === undefined || memory === undefined) throw new Error("no plan");

const relaxedSimd = detectWasmFeatures().relaxedSimd;
const text = moduleText(plan.lowered.kernels, {
  offsets: plan.memory.offsets,
  buffers: plan.lowered.buffers,
  base: reservedBytes(threads),
  scratch: 0,
  scratchBytes: RESERVED_BYTES,
  relaxedSimd,
  fuseCrossEntropy: true,
  pipelineCrossEntropy: true,
  threads: threads > 1 ? { scratch: RESERVED_BYTES, minFlops, minMapElements: arg("min-map", DEFAULT_THREAD_MIN_MAP_ELEMENTS) } : undefined,
});
const wat = text.wat
  .replace(/(\(import "env" "memory" \(memory [^)]*\)\))/, '$1\n(import "env" "tick" (func $tick (param i32)))')
  .replace(/^ {2}\(call \$k(\d+)\)$/gm, "  (call $tick (i32.const $1)) (call $k$1)")
  .replace(/^ {2}\(if \(call \$k(\d+)\)/gm, "  (call $tick (i32.const $1)) (if (call $k$1)")
  .replace(/\n {2}\(i32\.const 0\)\)\n\)$/, "\n  (call $tick (i32.const -1)) (i32.const 0))\n)");
const stamps: Array<[number, number]> = [];
const compiled = new WebAssembly.Module(assembleWatSync(wat, { relaxedSimd, threads: threads > 1 }));
const id = pool?.register(compiled) ?? -1;
const instance = new WebAssembly.Instance(compiled, {
  env: { memory, tick: (i: number) => stamps.push([i, performance.now()]), spawn: (task: number) => (pool?.spawn(id, task) === true ? 1 : 0), join: () => pool?.join() },
});
const run = instance.exports["run"] as () => number;
const perKernel = new Map<number, number[]>();
const totals: number[] = [];
/** CPU time of the process per step (steadier than wall-clock when other processes share the cores; with --threads=2 it adds the worker's). */
const cpuTotals: number[] = [];
for (let r = 0; r < runs + 50; r++) {
  stamps.length = 0;
  // the step may reuse its input buffers (the labels) for temporaries: write the feeds every run
  for (const io of plan.lowered.inputs) {
    const at = reservedBytes(threads) + (plan.memory.offsets[io.buffer] ?? 0) * 4;
    if (io.name === "x") new Float32Array(memory.buffer, at, xs.length).set(xs);
    if (io.name === "y") new Int32Array(memory.buffer, at, ys.length).set(ys);
  }
  pool?.wake();
  const cpuStart = process.cpuUsage();
  const status = run();
  const cpu = process.cpuUsage(cpuStart);
  if (status !== 0) throw new Error(`the profiled step stopped at kernel ${text.checked[status - 1] ?? "?"}, which refused its input`);
  pool?.idle();
  if (r < 50) continue;
  for (let s = 0; s + 1 < stamps.length; s++) {
    const [i, t] = stamps[s] ?? [0, 0];
    const list = perKernel.get(i) ?? [];
    list.push((stamps[s + 1]?.[1] ?? t) - t);
    perKernel.set(i, list);
  }
  totals.push((stamps.at(-1)?.[1] ?? 0) - (stamps[0]?.[1] ?? 0));
  cpuTotals.push((cpu.user + cpu.system) / 1000);
}
const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? NaN;
const lines = formatKernels(plan).split("\n");
const total = median(totals);
let matmul = 0;
console.log(`trainStep batch ${batch}, ${threads} thread(s): median step ${total.toFixed(3)} ms (min ${Math.min(...totals).toFixed(3)}, CPU time median ${median(cpuTotals).toFixed(3)} ms) over ${runs} runs (sum of kernel medians below)`);
let sum = 0;
for (const [i, times] of perKernel) {
  const kernel = plan.lowered.kernels[i];
  const ms = median(times);
  sum += ms;
  const geometry = kernel?.kind === "conv" ? kernel.geometry : undefined;
  const flops =
    kernel?.kind === "matmul"
      ? 2 * kernel.batch * kernel.m * kernel.n * kernel.k
      : geometry === undefined
        ? 0
        : (2 * geometry.n * geometry.co * geometry.ho * geometry.wo * geometry.ci * geometry.kh * geometry.kw) / geometry.groups;
  if (kernel?.kind === "matmul" || kernel?.kind === "conv") matmul += ms;
  const label = (lines.find((line) => line.trimStart().startsWith(`k${i}:`)) ?? kernel?.kind ?? "?").replace(/^\s*k\d+: /, "").replace(/  covers .*/, "");
  console.log(`${String(i).padStart(3)} ${ms.toFixed(4).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}% ${flops > 0 ? `${(flops / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s ${(flops / 1e6).toFixed(1)} MFLOP` : ""}  ${label.trim().slice(0, 110)}`);
}
console.log(`matmul and conv ${matmul.toFixed(3)} ms (${((100 * matmul) / sum).toFixed(1)}% of ${sum.toFixed(3)} ms), other ${(sum - matmul).toFixed(3)} ms`);
session.dispose();
pool?.dispose();
