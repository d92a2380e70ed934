/**
 * `pnpm bench` entry point.
 *
 *   pnpm bench                      every workload, every registered system, Markdown table
 *   pnpm bench --json               one JSON object per measured (case, system) on stdout
 *   pnpm bench --only sgemm         only some workloads (repeatable, or comma-separated)
 *   pnpm bench --systems jax-js     only some systems (comma-separated names)
 *   pnpm bench --quick              fewer runs (~0.5 s per case and system)
 *   pnpm bench --out results.jsonl  also write the JSON lines to a file
 *
 * For clean JSON on stdout through pnpm, silence pnpm's script banner: `pnpm -s bench --json`.
 * Progress and diagnostics go to stderr; stdout carries only the table or the JSON lines.
 */
import os from "node:os";
import { appendFileSync, writeFileSync } from "node:fs";
import type { ExpectedValues } from "./checks.js";
import { expectedFor } from "./checks.js";
import type { Measurement, RepPolicy, System, SystemInfo, WorkloadName } from "./harness.js";
import { FULL_POLICY, QUICK_POLICY, WORKLOADS, measureCase, notMeasured } from "./harness.js";
import { humanTable, jsonLine, machineInfo, systemLine } from "./report.js";
import { SYSTEMS } from "./systems/index.js";
import { installWasmMemoryTracker } from "./wasm-memory.js";
import { selectCases } from "./workloads.js";

interface Options {
  readonly json: boolean;
  readonly quick: boolean;
  readonly only: WorkloadName[];
  readonly systems: string[];
  readonly out: string | undefined;
}

const USAGE = `usage: pnpm bench [--json] [--quick] [--only <workload>[,<workload>]] [--systems <name>[,<name>]] [--out <file.jsonl>]
workloads: ${WORKLOADS.join(", ")}
systems:   ${SYSTEMS.map((s) => s.name).join(", ")}`;

function isWorkload(s: string): s is WorkloadName {
  return (WORKLOADS as readonly string[]).includes(s);
}

function parseArgs(argv: readonly string[]): Options {
  let json = false;
  let quick = false;
  const only: WorkloadName[] = [];
  const systems: string[] = [];
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--":
        break;
      case "--json":
        json = true;
        break;
      case "--quick":
        quick = true;
        break;
      case "--only":
        for (const w of value().split(",")) {
          if (!isWorkload(w)) throw new Error(`unknown workload "${w}" (known: ${WORKLOADS.join(", ")})`);
          only.push(w);
        }
        break;
      case "--systems":
        for (const s of value().split(",")) {
          if (!SYSTEMS.some((x) => x.name === s)) throw new Error(`unknown system "${s}" (known: ${SYSTEMS.map((x) => x.name).join(", ")})`);
          systems.push(s);
        }
        break;
      case "--out":
        out = value();
        break;
      case "--help":
      case "-h":
        process.stdout.write(USAGE + "\n");
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument "${a}"\n${USAGE}`);
    }
  }
  return { json, quick, only, systems, out };
}

function log(line: string): void {
  process.stderr.write(line + "\n");
}

function loadAverage(): string {
  return (os.loadavg()[0] ?? NaN).toFixed(2);
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    log(e instanceof Error ? e.message : String(e));
    process.exit(2);
  }
  const policy: RepPolicy = opts.quick ? QUICK_POLICY : FULL_POLICY;
  installWasmMemoryTracker();

  const chosen = SYSTEMS.filter((s) => opts.systems.length === 0 || opts.systems.includes(s.name));
  const infos = new Map<System, SystemInfo>();
  const setupErrors = new Map<System, string>();
  if (opts.out !== undefined) writeFileSync(opts.out, "");
  log(`machine: ${machineInfo()}`);
  const loadStart = loadAverage();
  for (const sys of chosen) {
    try {
      if (sys.setup !== undefined) infos.set(sys, await sys.setup());
      else infos.set(sys, { backend: "(no setup info)", threads: 1, simd: "n/a" });
    } catch (e) {
      setupErrors.set(sys, e instanceof Error ? e.message : String(e));
    }
    log(`system ${systemLine(sys, infos.get(sys), setupErrors.get(sys))}`);
  }

  const results: Measurement[] = [];
  const started = performance.now();
  for (const spec of selectCases(opts.only)) {
    const c = spec.case;
    log(`\n${c.workload} / ${c.caseName}: ${spec.description}`);
    const data = spec.makeData();
    const t0 = performance.now();
    const expected: ExpectedValues = expectedFor(c, data);
    log(`  reference (float64): ${Object.keys(expected).length} check values in ${(performance.now() - t0).toFixed(0)} ms`);
    const available = chosen.filter((s) => infos.has(s));
    const measured = await measureCase(available, c, data, {
      policy,
      expected,
      log,
      ...(spec.flops !== undefined ? { flops: spec.flops } : {}),
    });
    for (const sys of chosen) {
      const m = measured.find((r) => r.system === sys.name) ?? notMeasured(c, sys.name, "unavailable", setupErrors.get(sys));
      results.push(m);
      if (m.status === "ok") {
        log(
          `  ${sys.name}: median ${m.medianMs.toFixed(4)} ms (min ${m.minMs.toFixed(4)}, max ${m.maxMs.toFixed(4)}, ` +
            `${m.samples.length} runs, first ${m.firstMs.toFixed(1)} ms)${m.agreement.agrees ? "" : " DISAGREES"}`,
        );
        if (opts.json) process.stdout.write(jsonLine(m) + "\n");
        if (opts.out !== undefined) appendFileSync(opts.out, jsonLine(m) + "\n");
      } else {
        log(`  ${sys.name}: ${m.status}${m.error !== undefined ? `: ${m.error}` : ""}`);
      }
    }
  }
  const loadEnd = loadAverage();
  log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s; load average (1 min) ${loadStart} at start, ${loadEnd} at end`);

  if (!opts.json) {
    const peers = chosen.filter((s) => s.peer).map((s) => s.name);
    const lines = [
      `machine: ${machineInfo()}`,
      `load average (1 min): ${loadStart} at start, ${loadEnd} at end (other processes on the machine skew times)`,
      ...chosen.map((s) => `- ${systemLine(s, infos.get(s), setupErrors.get(s))}`),
      "",
      humanTable(results, peers),
      "",
      `times in ms per run (median of the timed runs, after warm-up); "vs P" = P's median / this median (>1: faster than P);`,
      `cpu ms = median process CPU time per run (all threads): below the median when other processes preempt the bench.`,
      `DISAGREES = check values differ from the float64 reference beyond float32 tolerance (time not used for ratios).`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  }
}

await main();
