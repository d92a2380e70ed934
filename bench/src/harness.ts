/**
 * The benchmark harness: what a system must implement (`System`), and how a prepared run
 * is checked against the float64 reference, warmed up and timed.
 *
 * Protocol for one (case, system):
 * 1. `prepare(case, data)` builds everything outside the timed region (uploads data,
 *    compiles, creates optimizer state). It returns `"unsupported"` when the system does not
 *    implement the workload.
 * 2. `run()` `CHECK_RUNS[workload]` times on the freshly prepared state (1, or 2 for
 *    `mlp_train_step`; the first run's time is reported as `first_ms`, which includes lazy
 *    compilation for JIT peers), then `check()` exactly once. For stateful workloads the
 *    check therefore sees exactly that many steps from the shared initial state. The check
 *    is compared with the reference; a system that disagrees is still timed but flagged
 *    DISAGREES, and its time is not used for ratios.
 * 3. Warm-up runs, then timed runs, interleaved between the systems of a case in blocks
 *    (see `measureCase`): each `run()` must have finished its work (results computed and
 *    readable) when it returns or its promise resolves.
 * 4. `dispose()`.
 */
import type { Agreement, CheckValues, ExpectedValues } from "./checks.js";
import { CHECK_RUNS, compareChecks } from "./checks.js";
import type { WorkloadData } from "./data.js";
import { snapshotWasmHeaps, wasmHeapGrowthSince } from "./wasm-memory.js";

/** The benchmark workloads. */
export type WorkloadName = "mlp_train_step" | "softmax_ce" | "sgemm" | "inference" | "conv2d" | "cnn_train_step" | "transformer_train_step" | "compile";

/** All workloads, in report order. */
export const WORKLOADS: readonly WorkloadName[] = ["mlp_train_step", "softmax_ce", "sgemm", "inference", "conv2d", "cnn_train_step", "transformer_train_step", "compile"];

/** One benchmark case: a workload and a case within it (e.g. `"batch 32"`). */
export interface BenchCase {
  readonly workload: WorkloadName;
  readonly caseName: string;
}

/** A system's run of one case, prepared and ready to be timed. */
export interface PreparedRun {
  /** Does the measured work once; the work must be complete when it returns/resolves. */
  run(): void | Promise<void>;
  /** Numbers to cross-check with the reference; called once, after exactly `CHECK_RUNS[workload]` runs. */
  check(): Promise<CheckValues>;
  /** Frees what `prepare` allocated. */
  dispose?(): void | Promise<void>;
  /**
   * Optional count of live tensors/buffers owned by the system (e.g. tfjs
   * `tf.memory().numTensors`); the harness flags a leak when it grows across timed runs.
   */
  liveCount?(): number;
}

/** How a system is configured, printed in reports. */
export interface SystemInfo {
  /** e.g. `"tfjs 4.22.0, wasm backend"`. */
  readonly backend: string;
  /** Threads the system computes with. */
  readonly threads: number;
  /** Whether WASM SIMD kernels are used (`"n/a"` for pure JS). */
  readonly simd: boolean | "n/a";
  /** Free-form details: the binary loaded, flags, how completion is awaited. */
  readonly notes?: string;
}

/** A benchmarked system: a peer (tfjs, jax-js, ...) or one of graft's back ends. */
export interface System {
  /** Name in reports, e.g. `"tfjs-wasm"`, `"jax-js"`, `"graft-wasm"`, `"graft-js"`, `"graft-wasm-2t"`. */
  readonly name: string;
  /** Peers are what every system's speed is compared with (ratio columns). */
  readonly peer: boolean;
  /** One-time initialisation before any `prepare`; throwing marks the system unavailable. */
  setup?(): Promise<SystemInfo>;
  /** Builds a run of the case on the shared data, or says the workload is unsupported. */
  prepare(c: BenchCase, data: WorkloadData): Promise<PreparedRun | "unsupported">;
}

/** How many warm-up and timed runs to do. */
export interface RepPolicy {
  readonly warmupMin: number;
  readonly warmupMax: number;
  /** Stop warming up after this long (once `warmupMin` runs are done). */
  readonly warmupMs: number;
  readonly minReps: number;
  readonly maxReps: number;
  /** Stop timing after this much measured time (once `minReps` runs are done). */
  readonly budgetMs: number;
  /** Timed runs are interleaved between systems in blocks of about this long. */
  readonly blockMs: number;
}

/** Default policy: ~4 s of timed runs per (case, system), at least 5 and at most 5000, in 250 ms blocks. */
export const FULL_POLICY: RepPolicy = { warmupMin: 2, warmupMax: 20, warmupMs: 500, minReps: 5, maxReps: 5000, budgetMs: 4000, blockMs: 250 };

/** `--quick`: ~0.5 s of timed runs per (case, system), at least 3, in 100 ms blocks. */
export const QUICK_POLICY: RepPolicy = { warmupMin: 1, warmupMax: 5, warmupMs: 100, minReps: 3, maxReps: 1000, budgetMs: 500, blockMs: 100 };

/** Outcome of one (case, system). */
export type MeasurementStatus = "ok" | "unsupported" | "unavailable" | "error";

/** Timings and agreement of one (case, system). */
export interface Measurement {
  readonly workload: WorkloadName;
  readonly caseName: string;
  readonly system: string;
  readonly status: MeasurementStatus;
  /** Why a run is unavailable or failed. */
  readonly error?: string;
  /** Timed samples in ms (empty unless `status` is "ok"). */
  readonly samples: readonly number[];
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /**
   * Median process CPU time (user + system, all threads) per timed run. Below the wall
   * time when other processes preempt this one; above it for multi-threaded systems.
   */
  readonly cpuMedianMs: number;
  /** Time of the very first run (includes lazy/JIT compilation). */
  readonly firstMs: number;
  readonly warmupRuns: number;
  readonly agreement: Agreement;
  /** GFLOP/s at the median time, when the case has a FLOP count. */
  readonly gflops?: number;
  /** Leak warnings: live count or WASM heap growth during the timed runs. */
  readonly leak?: string;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  const hi = s[Math.floor(n / 2)] ?? NaN;
  return n % 2 === 1 ? hi : ((s[n / 2 - 1] ?? NaN) + hi) / 2;
}

async function runOnce(p: PreparedRun): Promise<number> {
  const t0 = performance.now();
  const r = p.run();
  if (r !== undefined) await r;
  return performance.now() - t0;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message.split("\n")[0] ?? e.message;
  if (typeof e === "object" && e !== null && "message" in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** A measurement that was not taken (unsupported, unavailable, or failed). */
export function notMeasured(c: BenchCase, system: string, status: MeasurementStatus, error?: string): Measurement {
  return {
    workload: c.workload,
    caseName: c.caseName,
    system,
    status,
    ...(error !== undefined ? { error } : {}),
    samples: [],
    medianMs: NaN,
    minMs: NaN,
    maxMs: NaN,
    cpuMedianMs: NaN,
    firstMs: NaN,
    warmupRuns: 0,
    agreement: { agrees: false, problems: [] },
  };
}

/** Inputs of `measureCase`. */
export interface MeasureOptions {
  readonly policy: RepPolicy;
  readonly expected: ExpectedValues;
  /** FLOPs of one run, for GFLOP/s. */
  readonly flops?: number;
  /** Progress lines (to stderr). */
  readonly log: (line: string) => void;
}

/** A system that is prepared, checked and warmed up, and now being timed. */
interface Timing {
  readonly sys: System;
  readonly p: PreparedRun;
  readonly firstMs: number;
  readonly agreement: Agreement;
  readonly warmupRuns: number;
  readonly minReps: number;
  readonly samples: number[];
  readonly cpuSamples: number[];
  timedMs: number;
  heapGrowth: number;
  readonly liveBefore: number | undefined;
  error?: string;
  done: boolean;
}

async function dispose(p: PreparedRun, name: string, log: (line: string) => void): Promise<void> {
  try {
    await p.dispose?.();
  } catch (e) {
    log(`  ${name}: dispose failed: ${errorText(e)}`);
  }
}

/** Prepare, first run(s), check, warm-up: a `Timing`, or the measurement that ends here. */
async function prepareAndCheck(sys: System, c: BenchCase, data: WorkloadData, opts: MeasureOptions): Promise<Timing | Measurement> {
  const { policy, log } = opts;
  let prepared: PreparedRun | "unsupported";
  try {
    prepared = await sys.prepare(c, data);
  } catch (e) {
    log(`  ${sys.name}: prepare failed: ${errorText(e)}`);
    return notMeasured(c, sys.name, "error", `prepare: ${errorText(e)}`);
  }
  if (prepared === "unsupported") return notMeasured(c, sys.name, "unsupported");
  const p = prepared;
  try {
    const firstMs = await runOnce(p);
    for (let i = 1; i < CHECK_RUNS[c.workload]; i++) await runOnce(p);
    const agreement = compareChecks(opts.expected, await p.check());
    if (!agreement.agrees) log(`  ${sys.name}: DISAGREES with the reference:\n    ${agreement.problems.join("\n    ")}`);
    let warmupRuns = 0;
    const warmStart = performance.now();
    const warmSamples: number[] = [];
    while (warmupRuns < policy.warmupMax && (warmupRuns < policy.warmupMin || performance.now() - warmStart < policy.warmupMs)) {
      warmSamples.push(await runOnce(p));
      warmupRuns++;
    }
    // Slow systems: fewer minimum runs when minReps runs would take far over budget.
    const est = warmSamples.length > 0 ? median(warmSamples) : firstMs;
    const minReps = est * policy.minReps > 3 * policy.budgetMs ? Math.min(3, policy.minReps) : policy.minReps;
    return {
      sys,
      p,
      firstMs,
      agreement,
      warmupRuns,
      minReps,
      samples: [],
      cpuSamples: [],
      timedMs: 0,
      heapGrowth: 0,
      liveBefore: p.liveCount?.(),
      done: false,
    };
  } catch (e) {
    log(`  ${sys.name}: run failed: ${errorText(e)}`);
    await dispose(p, sys.name, log);
    return notMeasured(c, sys.name, "error", `run: ${errorText(e)}`);
  }
}

function finished(t: Timing, policy: RepPolicy): boolean {
  return t.samples.length >= policy.maxReps || (t.samples.length >= t.minReps && t.timedMs >= policy.budgetMs);
}

function result(t: Timing, c: BenchCase, opts: MeasureOptions): Measurement {
  if (t.error !== undefined) return notMeasured(c, t.sys.name, "error", `run: ${t.error}`);
  const leaks: string[] = [];
  const liveAfter = t.p.liveCount?.();
  if (t.liveBefore !== undefined && liveAfter !== undefined && liveAfter > t.liveBefore) {
    leaks.push(`live count ${t.liveBefore} -> ${liveAfter} over ${t.samples.length} runs`);
  }
  if (t.heapGrowth > 0) leaks.push(`WASM heaps grew ${(t.heapGrowth / 2 ** 20).toFixed(1)} MiB over ${t.samples.length} runs`);
  if (leaks.length > 0) opts.log(`  ${t.sys.name}: possible leak: ${leaks.join("; ")}`);
  const med = median(t.samples);
  return {
    workload: c.workload,
    caseName: c.caseName,
    system: t.sys.name,
    status: "ok",
    samples: t.samples,
    medianMs: med,
    minMs: Math.min(...t.samples),
    maxMs: Math.max(...t.samples),
    cpuMedianMs: median(t.cpuSamples),
    firstMs: t.firstMs,
    warmupRuns: t.warmupRuns,
    agreement: t.agreement,
    ...(opts.flops !== undefined ? { gflops: opts.flops / (med * 1e6) } : {}),
    ...(leaks.length > 0 ? { leak: leaks.join("; ") } : {}),
  };
}

/**
 * Measures every system on one case. Each system is prepared, checked and warmed up in
 * turn; then the timed runs are interleaved in blocks of about `policy.blockMs` per system,
 * round after round, so that load from other processes on the machine hits all systems
 * alike (ratios stay fair) while each block still runs with warm caches.
 */
export async function measureCase(systems: readonly System[], c: BenchCase, data: WorkloadData, opts: MeasureOptions): Promise<Measurement[]> {
  const { policy, log } = opts;
  const outcome = new Map<System, Timing | Measurement>();
  for (const sys of systems) outcome.set(sys, await prepareAndCheck(sys, c, data, opts));
  const timing = [...outcome.values()].filter((o): o is Timing => "p" in o);
  try {
    while (timing.some((t) => !t.done)) {
      for (const t of timing) {
        if (t.done) continue;
        const heap0 = snapshotWasmHeaps();
        const blockStart = performance.now();
        try {
          do {
            const cpu0 = process.cpuUsage();
            const ms = await runOnce(t.p);
            const cpu = process.cpuUsage(cpu0);
            t.samples.push(ms);
            t.cpuSamples.push((cpu.user + cpu.system) / 1000);
            t.timedMs += ms;
          } while (performance.now() - blockStart < policy.blockMs && !finished(t, policy));
        } catch (e) {
          t.error = errorText(e);
          log(`  ${t.sys.name}: run failed: ${t.error}`);
          t.done = true;
        }
        t.heapGrowth += wasmHeapGrowthSince(heap0);
        if (finished(t, policy)) t.done = true;
      }
    }
    return systems.map((sys) => {
      const o = outcome.get(sys);
      if (o === undefined) return notMeasured(c, sys.name, "error", "not measured");
      return "p" in o ? result(o, c, opts) : o;
    });
  } finally {
    for (const t of timing) await dispose(t.p, t.sys.name, log);
  }
}

/** Prepares, checks, warms up and times one system on one case. */
export async function measure(sys: System, c: BenchCase, data: WorkloadData, opts: MeasureOptions): Promise<Measurement> {
  const [m] = await measureCase([sys], c, data, opts);
  if (m === undefined) throw new Error("measureCase returned nothing");
  return m;
}
