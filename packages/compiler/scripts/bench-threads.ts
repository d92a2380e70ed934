// One thread vs two threads (threads: 2, one helper worker over shared memory) on the benchmark
// MLP train step (784-256-128-64-10, ReLU, cross-entropy, Adam), interleaved so both see the
// same machine load: blocks of steps alternate between the sessions, and each reports the median
// and minimum wall time per step and the median process CPU time per step (all threads).
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/bench-threads.ts [--batch=256,32] [--blocks=30] [--steps=10]
//        [--min-flops=2e6] [--spin=20]
import { cpus, loadavg } from "node:os";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { adam, buildTrainingProgram, type Session } from "../src/index.js";
import { createWasmSession } from "../src/backend/wasm-backend.js";

const option = (name: string, fallback: string): string => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const batches = option("batch", "256,32").split(",").map(Number);
const blocks = Number(option("blocks", "30"));
const steps = Number(option("steps", "10"));
const minFlops = Number(option("min-flops", "2e6"));
const spinMicros = Number(option("spin", "20"));

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

console.log(`${new Date().toISOString()} node ${process.version} ${cpus()[0]?.model ?? "?"} ×${cpus().length}; min-flops ${minFlops} spin ${spinMicros} µs; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const batch of batches) {
  const feeds = {
    x: { shape: [batch, 784], dtype: "f32" as const, data: new Float32Array(batch * 784).map((_, i) => Math.sin(i * 0.37)) },
    y: { shape: [batch], dtype: "i32" as const, data: new Int32Array(batch).map((_, i) => (i * 7) % 10) },
  };
  const sessions: Array<[string, Session]> = [
    ["1 thread", await createWasmSession(spec, { seed: 1, threads: 1 })],
    ["2 threads", await createWasmSession(spec, { seed: 1, threads: 2 }, { minFlops, spinMicros })],
  ];
  const wall = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const loadBefore = loadavg()[0] ?? NaN;
  for (const [, session] of sessions) for (let i = 0; i < 100; i++) session.run("trainStep", feeds, { fetch: ["loss"] });
  for (let block = 0; block < blocks; block++)
    for (const [name, session] of sessions) {
      for (let i = 0; i < steps; i++) {
        const cpuStart = process.cpuUsage();
        const start = performance.now();
        session.run("trainStep", feeds, { fetch: ["loss"] });
        const ms = performance.now() - start;
        const used = process.cpuUsage(cpuStart);
        (wall.get(name) ?? wall.set(name, []).get(name))?.push(ms);
        (cpu.get(name) ?? cpu.set(name, []).get(name))?.push((used.user + used.system) / 1000);
      }
    }
  const one = median(wall.get("1 thread") ?? []);
  for (const [name, session] of sessions) {
    const times = wall.get(name) ?? [];
    console.log(
      `batch ${String(batch).padStart(4)} ${name.padEnd(9)}: median ${median(times).toFixed(3)} ms  min ${Math.min(...times).toFixed(3)} ms  cpu ${median(cpu.get(name) ?? []).toFixed(3)} ms  speed-up ${(one / median(times)).toFixed(2)}×`,
    );
    session.dispose();
  }
  console.log(`  load average (1 min) ${loadBefore.toFixed(2)} → ${(loadavg()[0] ?? NaN).toFixed(2)}`);
}
