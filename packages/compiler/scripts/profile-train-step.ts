// Per-kernel time profile of the benchmark MLP train step (784-256-128-64-10, ReLU, CE, Adam) on
// the WASM back end: the step's module is rebuilt with a JS `tick(i)` call before every kernel,
// run over the session's own memory (real weights and data), and each kernel's median time is
// printed with its share of the step and its GFLOP/s (matmuls). Shows how much of a step is
// matmul (what threads can split) and how much runs serially (Amdahl).
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/profile-train-step.ts [--batch=256] [--runs=300] [--threads=2] [--min-flops=5e5] [--min-map=32768] [--spin=µs] [--worker-spin=µs] [--model=mlp|cnn|<file>]
//
// --model=cnn profiles examples/mnist-cnn/model.ts, --model=<file> that model file's default export (feeds: f32 inputs sin(i·0.37),
// i32 inputs (i·7) mod 10, symbolic dims = --batch), and the summary adds the time per kind of
// kernel (matmul, conv, pool, norm, softmax/attention rows, maps, reductions, …).
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
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

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
const modelArg = process.argv.find((a) => a.startsWith("--model="))?.slice("--model=".length);
const modelPath = modelArg === undefined || modelArg === "mlp" ? undefined : modelArg === "cnn" ? "examples/mnist-cnn/model.ts" : modelArg;

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
const profiled: C.Model =
  modelPath === undefined
    ? C.model({ name: "mlp", outputs: { logits: h }, loss: C.crossEntropy(h, y) })
    : ((await import(pathToFileURL(resolve(modelPath)).href)) as { default: C.Model }).default;
const spec = unwrap(buildTrainingProgram(profiled, adam({ lr: 1e-3 })));

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
    const compiledStep = inner.compile(p);
    // the plan of the last trainStep run (a session may compile several specialisations)
    return p.name === "trainStep"
      ? (F, I) => {
          plan = p;
          compiledStep(F, I);
        }
      : compiledStep;
  },
};
const session = createCompiledSession(spec, generator, { seed: 1 });
const checked = unwrap(C.check(profiled));
const feeds = Object.fromEntries(
  checked.nodes.flatMap((node) => {
    if (node.op !== "input") return [];
    const shape = node.type.shape.map((d) => (typeof d === "number" ? d : batch));
    const count = shape.reduce((a, b) => a * b, 1);
    const dtype = node.type.dtype === "i32" ? ("i32" as const) : ("f32" as const);
    const data = dtype === "i32" ? new Int32Array(count).map((_, i) => (i * 7) % 10) : new Float32Array(count).map((_, i) => Math.sin(i * 0.37));
    return [[node.attrs.name, { shape, dtype, data }]];
  }),
);
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
// the memory after the session's step, restored before each run: a run may reuse its inputs' memory as scratch
const snapshot = new Uint8Array(memory.buffer).slice();
const perKernel = new Map<number, number[]>();
const totals: number[] = [];
/** CPU time of the process per step (steadier than wall-clock when other processes share the cores; with --threads=2 it adds the worker's). */
const cpuTotals: number[] = [];
for (let r = 0; r < runs + 50; r++) {
  stamps.length = 0;
  new Uint8Array(memory.buffer).set(snapshot);
  // and the feeds, whose memory a step may reuse once it has read them
  for (const io of plan.lowered.inputs) {
    const feed = (feeds as Record<string, { data: Float32Array | Int32Array } | undefined>)[io.name];
    if (feed !== undefined) new Uint8Array(memory.buffer, reservedBytes(threads) + (plan.memory.offsets[io.buffer] ?? 0) * 4, feed.data.byteLength).set(new Uint8Array(feed.data.buffer));
  }
  pool?.wake();
  // a checked kernel that refuses (a label out of range) stops the step: the profile would be partial
  const cpuStart = process.cpuUsage();
  const code = run();
  const cpu = process.cpuUsage(cpuStart);
  if (code !== 0) throw new Error(`the step stopped at its checked kernel ${code} (bad feeds?): no profile`);
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
  const flops = kernel?.kind === "matmul" ? 2 * kernel.batch * kernel.m * kernel.n * kernel.k : 0;
  if (kernel?.kind === "matmul") matmul += ms;
  const label = (lines.find((line) => line.trimStart().startsWith(`k${i}:`)) ?? kernel?.kind ?? "?").replace(/^\s*k\d+: /, "").replace(/  covers .*/, "");
  console.log(`${String(i).padStart(3)} ${ms.toFixed(4).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}% ${flops > 0 ? `${(flops / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s ${(flops / 1e6).toFixed(1)} MFLOP` : ""}  ${label.trim().slice(0, 110)}`);
}
console.log(`matmul ${matmul.toFixed(3)} ms (${((100 * matmul) / sum).toFixed(1)}% of ${sum.toFixed(3)} ms), other ${(sum - matmul).toFixed(3)} ms`);
// time per kind of kernel (the row kernels by name; maps and reductions together)
const byKind = new Map<string, number>();
for (const [i, times] of perKernel) {
  const kernel = plan.lowered.kernels[i];
  const kind = kernel === undefined ? "?" : kernel.kind === "conv" ? `conv_${kernel.mode}` : kernel.kind === "pool" ? `pool_${kernel.op}` : kernel.kind;
  byKind.set(kind, (byKind.get(kind) ?? 0) + median(times));
}
for (const [kind, ms] of [...byKind].sort((p, q) => q[1] - p[1])) console.log(`  ${kind.padEnd(24)} ${ms.toFixed(3).padStart(8)} ms ${((100 * ms) / sum).toFixed(1).padStart(5)}%`);
session.dispose();
pool?.dispose();
