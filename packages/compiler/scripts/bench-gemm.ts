// Microbenchmark of the WebAssembly SIMD GEMM kernels (src/backend/wasm/gemm.ts).
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/bench-gemm.ts [options]
//   node --experimental-wasm-relaxed-simd packages/compiler/bin/run-ts.mjs ... --relaxed
//
// Options:
//   --relaxed            use f32x4.relaxed_madd (the engine must support relaxed SIMD)
//   --threads            also time the rows split between this thread and one worker (shared memory)
//   --filter=TEXT        only shapes whose label contains TEXT
//   --runs=N             timed samples per shape (default 15, at least 10)
//   --tuning=JSON        tuning overrides for every shape, e.g. '{"mr":5,"nv":2}'
//
// Every shape is first checked against a float64 JS matmul of the same data; then it is warmed
// up (V8 compiles wasm with its baseline compiler first and tiers hot functions up to TurboFan,
// and a call in progress never switches tier) and timed. Small shapes are timed in batches of
// calls so that one sample lasts at least ~2 ms. Prints the median wall-clock time per call and
// its GFLOP/s (the figure to quote), the GFLOP/s of the fastest sample, and the GFLOP/s over the
// median CPU time of the process (steadier when other processes share the machine).

import { cpus } from "node:os";
import { Worker } from "node:worker_threads";
import { emitGemmModule, gemmFlops, gemmScratchBytes, planGemm, type GemmSpec, type GemmTuning } from "../src/backend/wasm/gemm.js";
import { detectWasmFeatures } from "../src/backend/wasm/features.js";
import { assembleWat } from "../src/backend/wasm/wat.js";

interface BenchShape {
  readonly label: string;
  readonly spec: GemmSpec;
}

interface CliOptions {
  readonly relaxed: boolean;
  /** Also time a two-thread row split over a shared memory. */
  readonly threads: boolean;
  readonly filter: string;
  readonly runs: number;
  readonly tuning: Partial<GemmTuning>;
}

function parseCli(argv: readonly string[]): CliOptions {
  let relaxed = false;
  let threads = false;
  let filter = "";
  let runs = 15;
  let tuning: Partial<GemmTuning> = {};
  for (const arg of argv) {
    if (arg === "--relaxed") relaxed = true;
    else if (arg === "--threads") threads = true;
    else if (arg.startsWith("--filter=")) filter = arg.slice("--filter=".length);
    else if (arg.startsWith("--runs=")) runs = Math.max(10, Number(arg.slice("--runs=".length)));
    else if (arg.startsWith("--tuning=")) tuning = JSON.parse(arg.slice("--tuning=".length)) as Partial<GemmTuning>;
    else throw new Error(`unknown option ${arg}`);
  }
  return { relaxed, threads, filter, runs, tuning };
}

function gemmSpec(m: number, n: number, k: number, flags: Partial<GemmSpec>, relaxed: boolean): GemmSpec {
  return { m, n, k, transA: false, transB: false, bias: false, relu: false, accumulate: false, useRelaxedSimd: relaxed, ...flags };
}

/** The shapes of the brief: a big square GEMM and the forward/backward matmuls of the MNIST MLP. */
function benchShapes(relaxed: boolean): BenchShape[] {
  const shapes: BenchShape[] = [
    { label: "square 1024x1024x1024", spec: gemmSpec(1024, 1024, 1024, {}, relaxed) },
    // the per-image GEMM of conv2d 64→64, 3×3 over 32×32 (bench-conv.ts): W [64×576] @ col [576×1024]
    { label: "conv 64x576x1024  W@col", spec: gemmSpec(64, 1024, 576, {}, relaxed) },
    // the same product transposed: colᵀ [1024×576] (col stored [576×1024]) @ Wᵀ (W stored [64×576])
    { label: "conv 1024x576x64  colT@WT", spec: gemmSpec(1024, 64, 576, { transA: true, transB: true }, relaxed) },
    // mnist-cnn conv2 per image: W [32×400] @ col [400×64], and transposed
    { label: "conv 32x400x64  W@col", spec: gemmSpec(32, 64, 400, {}, relaxed) },
    { label: "conv 64x400x32  colT@WT", spec: gemmSpec(64, 32, 400, { transA: true, transB: true }, relaxed) },
  ];
  const layers: ReadonlyArray<readonly [number, number, boolean]> = [
    [784, 256, true],
    [256, 128, true],
    [128, 64, true],
    [64, 10, false],
  ];
  for (const batch of [256, 32, 1]) {
    for (const [fanIn, fanOut, relu] of layers) {
      const layer = `${batch}x${fanIn}->${fanOut}`;
      // Forward: X (batch×in) @ W (in×out) + b, relu.
      shapes.push({ label: `fwd  ${layer}  X@W+b${relu ? ",relu" : ""}`, spec: gemmSpec(batch, fanOut, fanIn, { bias: true, relu }, relaxed) });
      // Input gradient: G (batch×out) @ Wᵀ, W stored in×out = n×k.
      shapes.push({ label: `dX   ${layer}  G@W^T`, spec: gemmSpec(batch, fanIn, fanOut, { transB: true }, relaxed) });
      // Weight gradient: Xᵀ (in×batch) @ G (batch×out), X stored batch×in = k×m.
      shapes.push({ label: `dW   ${layer}  X^T@G`, spec: gemmSpec(fanIn, fanOut, batch, { transA: true }, relaxed) });
    }
  }
  return shapes;
}

function fillRandom(view: Float32Array, seed: number): void {
  let state = seed >>> 0 || 1;
  for (let i = 0; i < view.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    view[i] = ((state >>> 0) / 2 ** 32) * 2 - 1;
  }
}

/** Float64 reference of the whole spec (epilogue included). */
function referenceGemm(spec: GemmSpec, a: Float32Array, b: Float32Array, bias: Float32Array, cBefore: Float32Array): Float64Array {
  const { m, n, k } = spec;
  const out = new Float64Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const aValue = a[spec.transA ? p * m + i : i * k + p] ?? 0;
      for (let j = 0; j < n; j++) row[j] = (row[j] ?? 0) + aValue * (b[spec.transB ? j * k + p : p * n + j] ?? 0);
    }
    for (let j = 0; j < n; j++) {
      let value = (row[j] ?? 0) + (spec.accumulate ? (cBefore[i * n + j] ?? 0) : 0) + (spec.bias ? (bias[j] ?? 0) : 0);
      if (spec.relu && value < 0) value = 0;
      out[i * n + j] = value;
    }
  }
  return out;
}

function describePlan(tuning: GemmTuning): string {
  switch (tuning.strategy) {
    case "dot":
      return "dot 1x4";
    case "direct":
      return `direct ${tuning.mr}x${4 * tuning.nv}`;
    case "packed":
      return (
        `packed ${tuning.mr}x${4 * tuning.nv} kc=${tuning.kc} nc=${4 * tuning.nv * tuning.ncPanels}` +
        `${tuning.packA ? " packA" : ""} ${tuning.rowsOuter ? "rows-outer" : "panels-outer"}`
      );
  }
}

const align64 = (bytes: number): number => Math.ceil(bytes / 64) * 64;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

interface BenchResult {
  readonly label: string;
  readonly medianMs: number;
  readonly gflops: number;
  /** GFLOP/s of the fastest sample: the machine's capability when other processes leave it alone. */
  readonly bestGflops: number;
  /**
   * GFLOP/s over the median CPU time of this process per call (user + system): excludes the
   * time the process was descheduled, so it is steadier on a shared machine. Informative only.
   */
  readonly cpuGflops: number;
  /** `--threads`: GFLOP/s (median wall clock) with the rows split between this thread and a worker. */
  readonly twoThreadGflops: number | undefined;
  readonly maxRelativeError: number;
  readonly plan: string;
}

type GemmFunction = (a: number, b: number, c: number, bias: number, rowStart: number, rowEnd: number, scratch: number) => void;

/**
 * Code of the helper worker of `--threads`: it instantiates the same module over the same shared
 * memory and computes its row range each time the main thread bumps `control[0]`, then bumps
 * `control[1]`. `control[0] = -1` stops it.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { module, memory, control, args } = workerData;
const gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
let seen = 0;
for (;;) {
  Atomics.wait(control, 0, seen);
  seen = Atomics.load(control, 0);
  if (seen < 0) break;
  gemm(...args);
  Atomics.add(control, 1, 1);
  Atomics.notify(control, 1);
}
`;

interface Timing {
  readonly medianMs: number;
  readonly bestMs: number;
  readonly cpuMedianMs: number;
}

/** Warms `run` up (V8 tiers hot wasm up to TurboFan; a running call never switches tier), then times it. */
function time(run: () => void, runs: number): Timing {
  const warmUntil = performance.now() + 300;
  let warmCalls = 0;
  let callMs = Infinity;
  while (warmCalls < 5 || performance.now() < warmUntil) {
    const start = performance.now();
    run();
    callMs = Math.min(callMs, performance.now() - start);
    warmCalls++;
  }
  const callsPerSample = Math.max(1, Math.ceil(2 / Math.max(callMs, 1e-4)));
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  for (let sample = 0; sample < runs; sample++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    for (let call = 0; call < callsPerSample; call++) run();
    samples.push((performance.now() - start) / callsPerSample);
    const cpu = process.cpuUsage(cpuStart);
    cpuSamples.push((cpu.user + cpu.system) / 1000 / callsPerSample);
  }
  return { medianMs: median(samples), bestMs: Math.min(...samples), cpuMedianMs: median(cpuSamples) };
}

/** Largest error relative to the float64 reference (scaled so rows of small values do not dominate). */
function maxRelativeError(spec: GemmSpec, expected: Float64Array, c: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i] ?? 0;
    const error = Math.abs((c[i] ?? NaN) - want) / (Math.abs(want) + Math.sqrt(spec.k) * 1e-2);
    if (!(error <= worst)) worst = error;
  }
  return worst;
}

async function benchOne(shape: BenchShape, options: CliOptions): Promise<BenchResult> {
  const { spec } = shape;
  const tuning = planGemm(spec, options.tuning);
  const scratchBytes = gemmScratchBytes(spec, options.tuning);
  const aOffset = 64;
  const bOffset = align64(aOffset + spec.m * spec.k * 4);
  const cOffset = align64(bOffset + spec.k * spec.n * 4);
  const biasOffset = align64(cOffset + spec.m * spec.n * 4);
  const scratchOffset = align64(biasOffset + spec.n * 4);
  // A second scratch area for the helper worker of --threads.
  const workerScratchOffset = align64(scratchOffset + scratchBytes);
  const totalBytes = workerScratchOffset + scratchBytes + 64;
  const pages = Math.ceil(totalBytes / 65536);
  const shared = options.threads;
  const memory = new WebAssembly.Memory(shared ? { initial: pages, maximum: pages, shared: true } : { initial: pages });
  const text = emitGemmModule([{ name: "gemm", spec, tuning: options.tuning }], { memoryPages: pages, sharedMemory: shared });
  const bytes = await assembleWat(text, { relaxedSimd: spec.useRelaxedSimd, threads: shared });
  const module = await WebAssembly.compile(new Uint8Array(bytes));
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exported = instance.exports["gemm"];
  if (typeof exported !== "function") throw new Error("module does not export gemm");
  const gemm = exported as GemmFunction;
  const run = (): void => gemm(aOffset, bOffset, cOffset, biasOffset, 0, spec.m, scratchOffset);

  const a = new Float32Array(memory.buffer, aOffset, spec.m * spec.k);
  const b = new Float32Array(memory.buffer, bOffset, spec.k * spec.n);
  const c = new Float32Array(memory.buffer, cOffset, spec.m * spec.n);
  const bias = new Float32Array(memory.buffer, biasOffset, spec.n);
  fillRandom(a, 1);
  fillRandom(b, 2);
  fillRandom(c, 3);
  fillRandom(bias, 4);

  // Checked on the first (baseline-compiled) call and again after timing (optimised code).
  const expected = referenceGemm(spec, a, b, bias, c.slice());
  const check = (when: string): number => {
    const error = maxRelativeError(spec, expected, c);
    if (!(error < 1e-4)) throw new Error(`${shape.label} (${when}): result differs from the float64 reference (max relative error ${error})`);
    return error;
  };
  run();
  let worstError = check("first call");
  const single = time(run, options.runs);
  worstError = Math.max(worstError, check("after timing"));

  let twoThreads: Timing | undefined;
  if (options.threads) {
    // Rows split at a multiple of 16 (whole register tiles); each half has its own scratch.
    const split = Math.min(spec.m, Math.ceil(spec.m / 2 / 16) * 16);
    const control = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module, memory, control, args: [aOffset, bOffset, cOffset, biasOffset, split, spec.m, workerScratchOffset] },
    });
    let generation = 0;
    const runSplit = (): void => {
      generation++;
      Atomics.store(control, 0, generation);
      Atomics.notify(control, 0);
      gemm(aOffset, bOffset, cOffset, biasOffset, 0, split, scratchOffset);
      for (let done = Atomics.load(control, 1); done < generation; done = Atomics.load(control, 1)) Atomics.wait(control, 1, done);
    };
    c.fill(0);
    runSplit();
    worstError = Math.max(worstError, check("two threads"));
    twoThreads = time(runSplit, options.runs);
    Atomics.store(control, 0, -1);
    Atomics.notify(control, 0);
    await worker.terminate();
  }

  const gflops = (ms: number): number => gemmFlops(spec) / (ms * 1e6);
  return {
    label: shape.label,
    medianMs: single.medianMs,
    gflops: gflops(single.medianMs),
    bestGflops: gflops(single.bestMs),
    cpuGflops: gflops(single.cpuMedianMs),
    twoThreadGflops: twoThreads === undefined ? undefined : gflops(twoThreads.medianMs),
    maxRelativeError: worstError,
    plan: describePlan(tuning),
  };
}

async function main(): Promise<void> {
  const options = parseCli(process.argv.slice(2));
  const features = detectWasmFeatures();
  if (options.relaxed && !features.relaxedSimd) throw new Error("--relaxed needs an engine with relaxed SIMD (node --experimental-wasm-relaxed-simd)");
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`graft wasm GEMM bench — ${new Date().toISOString()} — node ${process.version} — ${cpu} — features ${JSON.stringify(features)}`);
  console.log(`relaxed_madd=${options.relaxed} runs=${options.runs} tuning=${JSON.stringify(options.tuning)}`);
  console.log(`${"shape".padEnd(36)} ${"m×n×k".padEnd(16)} ${"median ms".padStart(10)} ${"GFLOP/s".padStart(8)} ${"best".padStart(7)} ${"cpu".padStart(7)}${options.threads ? " 2 threads" : ""}  plan`);
  for (const shape of benchShapes(options.relaxed)) {
    if (!shape.label.includes(options.filter)) continue;
    const result = await benchOne(shape, options);
    const dims = `${shape.spec.m}×${shape.spec.n}×${shape.spec.k}`;
    console.log(
      `${result.label.padEnd(36)} ${dims.padEnd(16)} ${result.medianMs.toFixed(4).padStart(10)} ${result.gflops.toFixed(2).padStart(8)} ${result.bestGflops.toFixed(2).padStart(7)} ${result.cpuGflops.toFixed(2).padStart(7)}${result.twoThreadGflops === undefined ? "" : result.twoThreadGflops.toFixed(2).padStart(10)}  ${result.plan}`,
    );
  }
}

await main();
