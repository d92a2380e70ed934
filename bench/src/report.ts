/**
 * Output of the benchmark: a human table (Markdown, so it pastes into RESULTS.md) and JSON
 * lines, one object per measured (case, system).
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import type { Measurement, System, SystemInfo } from "./harness.js";

/** Formats milliseconds with about four significant digits. */
export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return "—";
  if (x >= 100) return x.toFixed(1);
  if (x >= 10) return x.toFixed(2);
  if (x >= 1) return x.toFixed(3);
  return x.toFixed(4);
}

/** Whether a measurement's time can be trusted for ratios. */
export function trusted(m: Measurement): boolean {
  return m.status === "ok" && m.agreement.agrees;
}

/** `peer.median / m.median` (> 1: `m` is faster than the peer), or undefined. */
export function speedup(m: Measurement, peer: Measurement): number | undefined {
  if (!trusted(m) || !trusted(peer)) return undefined;
  return peer.medianMs / m.medianMs;
}

function checkCell(m: Measurement): string {
  switch (m.status) {
    case "ok":
      return m.agreement.agrees ? (m.leak !== undefined ? "ok, LEAK?" : "ok") : "DISAGREES";
    case "unsupported":
      return "unsupported";
    case "unavailable":
      return "unavailable";
    case "error":
      return "ERROR";
  }
}

/** The results as a Markdown table with a `vs <peer>` speed-ratio column per peer. */
export function humanTable(results: readonly Measurement[], peers: readonly string[]): string {
  const header = ["workload", "case", "system", "median ms", "min–max ms", "cpu ms", "GFLOP/s", "check", ...peers.map((p) => `vs ${p}`)];
  const rows: string[][] = [];
  for (const m of results) {
    const sameCase = results.filter((r) => r.workload === m.workload && r.caseName === m.caseName);
    const ratios = peers.map((p) => {
      if (p === m.system) return "—";
      const peer = sameCase.find((r) => r.system === p);
      const s = peer === undefined ? undefined : speedup(m, peer);
      return s === undefined ? "" : `${s.toFixed(2)}x`;
    });
    const measured = m.status === "ok";
    rows.push([
      m.workload,
      m.caseName,
      m.system,
      measured ? fmtMs(m.medianMs) : "",
      measured ? `${fmtMs(m.minMs)}–${fmtMs(m.maxMs)}` : "",
      measured ? fmtMs(m.cpuMedianMs) : "",
      m.gflops !== undefined && measured ? m.gflops.toFixed(1) : "",
      checkCell(m),
      ...ratios,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = new Set([3, 4, 5, 6, ...peers.map((_, i) => 8 + i)]);
  const line = (cells: readonly string[]): string =>
    "| " + cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(" | ") + " |";
  const sep = "|" + widths.map((w, i) => (numeric.has(i) ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") + "|";
  return [line(header), sep, ...rows.map(line)].join("\n");
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

/**
 * One JSON object for a measured (case, system):
 * `{"workload", "case", "system", "median_ms", "min_ms", "max_ms", ...extras}`.
 * Extras: `cpu_ms` (median process CPU time per run), `first_ms`, `reps`, `agrees`, `gflops`
 * (sgemm), `problems` (when disagreeing), `leak`.
 */
export function jsonLine(m: Measurement): string {
  const obj: Record<string, unknown> = {
    workload: m.workload,
    case: m.caseName,
    system: m.system,
    median_ms: round(m.medianMs, 5),
    min_ms: round(m.minMs, 5),
    max_ms: round(m.maxMs, 5),
    cpu_ms: round(m.cpuMedianMs, 5),
    first_ms: round(m.firstMs, 3),
    reps: m.samples.length,
    agrees: m.agreement.agrees,
  };
  if (m.gflops !== undefined) obj["gflops"] = round(m.gflops, 3);
  if (!m.agreement.agrees) obj["problems"] = m.agreement.problems;
  if (m.leak !== undefined) obj["leak"] = m.leak;
  return JSON.stringify(obj);
}

/** CPU family/model and widest SIMD from /proc/cpuinfo (Linux), e.g. "family 26 model 2, AVX-512". */
function cpuDetails(): string {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(info)?.[1]?.trim();
    const flags = new Set((field("flags") ?? "").split(/\s+/));
    const simd = flags.has("avx512f") ? "AVX-512" : flags.has("avx2") ? "AVX2" : flags.has("sse4_2") ? "SSE4.2" : "?";
    return `family ${field("cpu family") ?? "?"} model ${field("model") ?? "?"}, ${simd}`;
  } catch {
    return os.arch();
  }
}

/** The machine, for report headers: CPU model, logical cores, Node version, OS. */
export function machineInfo(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? "unknown CPU";
  return `${model} (${cpuDetails()}), ${cpus.length} logical cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** One line describing a system's configuration. */
export function systemLine(sys: System, info: SystemInfo | undefined, error: string | undefined): string {
  if (info === undefined) return `${sys.name}: unavailable (${error ?? "no info"})`;
  const simd = info.simd === "n/a" ? "n/a" : info.simd ? "yes" : "no";
  return `${sys.name}${sys.peer ? " (peer)" : ""}: ${info.backend}; threads ${info.threads}; SIMD ${simd}${info.notes !== undefined ? `; ${info.notes}` : ""}`;
}
