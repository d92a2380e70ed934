// The f32x4 arithmetic ceiling of this CPU under WebAssembly, one thread: the GEMM micro-kernel's
// inner step (gemm.ts, 2×16 tile) with every operand in L1 — per step four B vectors loaded from a
// 4 KiB buffer, then per row an A value splat from a fixed address (the engine may keep both in
// registers: 8 + 4 + 2 + 1 = 15 xmm) and four `acc += a · b` into 8 independent accumulators
// (a splat from a moving address measured slower here, ~24 GFLOP/s CPU time under load, than the
// real GEMM): `f32x4.mul` then `f32x4.add`
// (the default), or `f32x4.relaxed_madd` (FMA) with --relaxed (node
// --experimental-wasm-relaxed-simd). No packing, no C traffic: what bench-conv.ts and
// bench-gemm.ts figures should be read against. Prints GFLOP/s (2 flops per lane per
// multiply-add) over wall-clock and CPU time, medians.
//
//   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/bench-simd-peak.ts [--relaxed] [--runs=N]
import { cpus } from "node:os";
import { detectWasmFeatures } from "../src/backend/wasm/features.js";
import { assembleWatSync, loadWasmToolkit } from "../src/backend/wasm/wat.js";

const relaxed = process.argv.includes("--relaxed");
const runsArg = process.argv.find((arg) => arg.startsWith("--runs="));
const RUNS = Math.max(5, Number(runsArg?.slice("--runs=".length) ?? 21));
const CHAINS = 8;
const STEPS = 20_000_000;

if (relaxed && !detectWasmFeatures().relaxedSimd) throw new Error("--relaxed needs an engine with relaxed SIMD (node --experimental-wasm-relaxed-simd)");
const madd = (acc: string, b: string): string => (relaxed ? `(f32x4.relaxed_madd (local.get $a) (local.get ${b}) (local.get ${acc}))` : `(f32x4.add (local.get ${acc}) (f32x4.mul (local.get $a) (local.get ${b})))`);
const accs = Array.from({ length: CHAINS }, (_, i) => `$acc${i}`);
const row = (r: number): string =>
  [`(local.set $a (v128.load32_splat offset=${4096 + r * 4} (i32.const 0)))`, ...[0, 1, 2, 3].map((v) => `(local.set $acc${r * 4 + v} ${madd(`$acc${r * 4 + v}`, `$b${v}`)})`)].join("\n      ");
const wat = `(module
  (memory 1)
  (func (export "spin") (param $steps i32) (param $seed f32) (result f32)
    (local $p i32) (local $a v128) (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) ${accs.map((a) => `(local ${a} v128)`).join(" ")}
    (f32.store offset=4096 (i32.const 0) (local.get $seed))
    (loop $L
      ${[0, 1, 2, 3].map((v) => `(local.set $b${v} (v128.load offset=${v * 16} (local.get $p)))`).join("\n      ")}
      ${row(0)}
      ${row(1)}
      (local.set $p (i32.and (i32.add (local.get $p) (i32.const 64)) (i32.const 4095)))
      (local.set $steps (i32.sub (local.get $steps) (i32.const 1)))
      (br_if $L (i32.gt_s (local.get $steps) (i32.const 0))))
    (f32x4.extract_lane 0 ${accs.reduce((sum, a) => `(f32x4.add ${sum} (local.get ${a}))`, "(v128.const i64x2 0 0)")})))`;

await loadWasmToolkit();
const instance = new WebAssembly.Instance(new WebAssembly.Module(assembleWatSync(wat, { relaxedSimd: relaxed })));
const spin = instance.exports["spin"] as (steps: number, seed: number) => number;
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN;
for (let i = 0; i < 3; i++) spin(STEPS / 10, 1e-3);
const wall: number[] = [];
const cpu: number[] = [];
for (let r = 0; r < RUNS; r++) {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  spin(STEPS, 1e-3);
  const used = process.cpuUsage(cpuStart);
  wall.push(performance.now() - start);
  cpu.push((used.user + used.system) / 1000);
}
const flops = STEPS * CHAINS * 4 * 2;
console.log(`node ${process.version}, ${cpus()[0]?.model ?? "?"}, ${relaxed ? "f32x4.relaxed_madd" : "f32x4.mul + f32x4.add"}, ${CHAINS} chains, ${RUNS} runs`);
console.log(`median ${median(wall).toFixed(1)} ms (min ${Math.min(...wall).toFixed(1)}): ${(flops / median(wall) / 1e6).toFixed(1)} GFLOP/s, best ${(flops / Math.min(...wall) / 1e6).toFixed(1)}; CPU time median ${(flops / median(cpu) / 1e6).toFixed(1)} GFLOP/s`);
