// One thread vs two threads (threads: 2, one helper worker over shared memory) on the benchmark
// MLP train step (784-256-128-64-10, ReLU, cross-entropy, Adam), interleaved so both see the
// same machine load: blocks of steps (≥ 150 ms each) alternate between the sessions, and each
// reports the median and minimum wall time per step and the median process CPU time per step
// (all threads). Two threads only help when the second core is free, so on Linux each block also
// measures the CPU time other processes used meanwhile (/proc/stat minus this process), and the
// medians are also given over the "quiet" blocks only (others < 0.15 core).
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/bench-threads.ts [--batch=256,32] [--blocks=30]
//        [--min-flops=5e5] [--min-map=32768] [--spin=µs] [--worker-spin=µs]      (defaults: the back end's)
//        [--compare='[{"spinMicros":200},{"minFlops":1e6}]']   (several two-thread tunings, interleaved)
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { adam, buildTrainingProgram, type Session } from "../src/index.js";
import { createWasmSession } from "../src/backend/wasm/backend.js";

const option = (name: string, fallback: string): string => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const batches = option("batch", "256,32").split(",").map(Number);
const blocks = Number(option("blocks", "30"));
const blockMs = 150;
const QUIET = 0.15;

/** Busy CPU time of the whole machine so far (ms), from /proc/stat; undefined elsewhere. */
const machineBusyMs = (): number | undefined => {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return ((fields.reduce((a, b) => a + b, 0) - idle) * 1000) / 100;
  } catch {
    return undefined;
  }
};
const tuningOption = (name: string, key: string): Record<string, number> => (option(name, "") === "" ? {} : { [key]: Number(option(name, "")) });
const tuning = { ...tuningOption("min-flops", "minFlops"), ...tuningOption("min-map", "minMapElements"), ...tuningOption("spin", "spinMicros"), ...tuningOption("worker-spin", "workerSpinMicros") };
const compare = JSON.parse(option("compare", "[]")) as ReadonlyArray<Record<string, number>>;

const unwrap = <A>(value: E.Either<C.Diagnostics, A>): A => {
  if (E.isLeft(value)) throw new C.GraftError(value.left);
  return value.right;
};
const sizes = [784, 256, 128, 64, 10];
const x = C.input("x", ["batch", 784]);
const y = C.input("y", ["batch"], "i32");
let h = x;
for (let l = 0; l + 1 < sizes.length; l++) {
  h = C.add(C.matmul(h, C.param(`w${l}`, [sizes[l] ?? 0, sizes[l + 1] ?? 0])), C.param(`b${l}`, [sizes[l + 1] ?? 0]));
  if (l + 2 < sizes.length) h = C.relu(h);
}
const spec = unwrap(buildTrainingProgram(C.model({ name: "mlp", outputs: { logits: h }, loss: C.crossEntropy(h, y) }), adam({ lr: 1e-3 })));
const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? NaN;

console.log(`${new Date().toISOString()} node ${process.version} ${cpus()[0]?.model ?? "?"} ×${cpus().length}; tuning ${JSON.stringify(tuning)}; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const batch of batches) {
  const feeds = {
    x: { shape: [batch, 784], dtype: "f32" as const, data: new Float32Array(batch * 784).map((_, i) => Math.sin(i * 0.37)) },
    y: { shape: [batch], dtype: "i32" as const, data: new Int32Array(batch).map((_, i) => (i * 7) % 10) },
  };
  const sessions: Array<[string, Session]> = [
    ["1 thread", await createWasmSession(spec, { seed: 1, threads: 1 })],
    ["2 threads", await createWasmSession(spec, { seed: 1, threads: 2 }, tuning)],
  ];
  for (const extra of compare) sessions.push([`2t ${JSON.stringify(extra)}`, await createWasmSession(spec, { seed: 1, threads: 2 }, { ...tuning, ...extra })]);
  const wall = new Map<string, number[]>();
  const quietWall = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const others: number[] = [];
  const push = (map: Map<string, number[]>, key: string, values: readonly number[]): void => {
    const list = map.get(key) ?? [];
    list.push(...values);
    map.set(key, list);
  };
  const loadBefore = loadavg()[0] ?? NaN;
  for (const [, session] of sessions) for (let i = 0; i < 100; i++) session.run("trainStep", feeds, { fetch: ["loss"] });
  for (let block = 0; block < blocks; block++)
    for (const [name, session] of sessions) {
      const times: number[] = [];
      const cpuTimes: number[] = [];
      const busyStart = machineBusyMs();
      const selfStart = process.cpuUsage();
      const blockStart = performance.now();
      while (performance.now() - blockStart < blockMs) {
        const cpuStart = process.cpuUsage();
        const start = performance.now();
        session.run("trainStep", feeds, { fetch: ["loss"] });
        const ms = performance.now() - start;
        const used = process.cpuUsage(cpuStart);
        times.push(ms);
        cpuTimes.push((used.user + used.system) / 1000);
      }
      const self = process.cpuUsage(selfStart);
      const busyEnd = machineBusyMs();
      const other = busyStart === undefined || busyEnd === undefined ? NaN : Math.max(0, busyEnd - busyStart - (self.user + self.system) / 1000) / (performance.now() - blockStart);
      others.push(other);
      push(wall, name, times);
      push(cpu, name, cpuTimes);
      if (other < QUIET) push(quietWall, name, times);
    }
  const one = median(wall.get("1 thread") ?? []);
  const quietOne = median(quietWall.get("1 thread") ?? []);
  for (const [name, session] of sessions) {
    const times = wall.get(name) ?? [];
    const quiet = quietWall.get(name) ?? [];
    console.log(
      `batch ${String(batch).padStart(4)} ${name.padEnd(compare.length > 0 ? 32 : 9)}: median ${median(times).toFixed(3)} ms  min ${Math.min(...times).toFixed(3)} ms  cpu ${median(cpu.get(name) ?? []).toFixed(3)} ms  speed-up ${(one / median(times)).toFixed(2)}×` +
        `   quiet blocks: median ${median(quiet).toFixed(3)} ms over ${quiet.length} steps, speed-up ${(quietOne / median(quiet)).toFixed(2)}×`,
    );
    session.dispose();
  }
  const sortedOthers = [...others].sort((a, b) => a - b);
  console.log(`  other processes: median ${median(others).toFixed(2)} core (min ${(sortedOthers[0] ?? NaN).toFixed(2)}, max ${(sortedOthers.at(-1) ?? NaN).toFixed(2)}); ${others.filter((o) => o < QUIET).length}/${others.length} blocks quiet (< ${QUIET} core)`);
  console.log(`  load average (1 min) ${loadBefore.toFixed(2)} → ${(loadavg()[0] ?? NaN).toFixed(2)}`);
}
