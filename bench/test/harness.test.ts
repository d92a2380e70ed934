import { describe, expect, it } from "vitest";
import { checksum, expectedFor } from "../src/checks.js";
import { makeGemmData } from "../src/data.js";
import type { BenchCase, PreparedRun, RepPolicy, System } from "../src/harness.js";
import { measure, measureCase, median } from "../src/harness.js";
import { humanTable, jsonLine } from "../src/report.js";
import { matmul, toF64 } from "../src/reference.js";

const policy: RepPolicy = { warmupMin: 1, warmupMax: 2, warmupMs: 1, minReps: 3, maxReps: 5, budgetMs: 1, blockMs: 1 };
const c: BenchCase = { workload: "sgemm", caseName: "8x8x8" };
const data = makeGemmData(8, 8, 8);
const expected = expectedFor(c, data);
const goodC = Float32Array.from(matmul(toF64(data.a), toF64(data.b), 8, 8, 8));

function fake(name: string, result: Float32Array, opts: { leak?: boolean; unsupported?: boolean } = {}): System {
  return {
    name,
    peer: name.startsWith("peer"),
    async prepare(): Promise<PreparedRun | "unsupported"> {
      if (opts.unsupported === true) return "unsupported";
      let live = 0;
      let runs = 0;
      return {
        run() {
          runs++;
          if (opts.leak === true) live++;
          // Busy-wait ~0.2 ms so times are positive and ordered.
          const t = performance.now();
          while (performance.now() - t < 0.2);
        },
        async check() {
          return runs === 1 ? checksum("c", result) : {};
        },
        liveCount: () => live,
      };
    },
  };
}

const noLog = (): void => {};

describe("harness", () => {
  it("median", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it("times a system that agrees, checking after exactly one run", async () => {
    const m = await measure(fake("peer-a", goodC), c, data, { policy, expected, log: noLog, flops: 1024 });
    expect(m.status).toBe("ok");
    expect(m.agreement.agrees).toBe(true);
    expect(m.samples.length).toBeGreaterThanOrEqual(3);
    expect(m.minMs).toBeLessThanOrEqual(m.medianMs);
    expect(m.gflops).toBeGreaterThan(0);
    expect(m.leak).toBeUndefined();
    const j = JSON.parse(jsonLine(m)) as Record<string, unknown>;
    expect(Object.keys(j).slice(0, 6)).toEqual(["workload", "case", "system", "median_ms", "min_ms", "max_ms"]);
  });

  it("flags disagreement, leaks and unsupported workloads; ratios skip untrusted rows", async () => {
    const wrong = Float32Array.from(goodC, (v) => v * 1.01);
    const bad = await measure(fake("graft-x", wrong), c, data, { policy, expected, log: noLog });
    expect(bad.agreement.agrees).toBe(false);
    const leaky = await measure(fake("graft-y", goodC, { leak: true }), c, data, { policy, expected, log: noLog });
    expect(leaky.leak).toMatch(/live count/);
    const un = await measure(fake("graft-z", goodC, { unsupported: true }), c, data, { policy, expected, log: noLog });
    expect(un.status).toBe("unsupported");
    const peer = await measure(fake("peer-a", goodC), c, data, { policy, expected, log: noLog });
    const table = humanTable([peer, bad, leaky, un], ["peer-a"]);
    expect(table).toMatch(/graft-x .*DISAGREES/);
    expect(table).toMatch(/graft-y .*LEAK\?.*x \|$/m);
    expect(table).toMatch(/graft-z .*unsupported/);
    const badRow = table.split("\n").find((l) => l.includes("graft-x")) ?? "";
    expect(badRow).not.toMatch(/\dx \|$/);
  });

  it("interleaves several systems in blocks and reports each, in order, failures included", async () => {
    const order: string[] = [];
    const tracing = (name: string, failAt?: number): System => ({
      name,
      peer: false,
      async prepare() {
        let n = 0;
        return {
          run() {
            n++;
            if (failAt !== undefined && n >= failAt) throw new Error(`boom ${n}`);
            order.push(name);
          },
          async check() {
            return checksum("c", goodC);
          },
        };
      },
    });
    const p: RepPolicy = { ...policy, minReps: 6, maxReps: 6, blockMs: 0 };
    const ms = await measureCase([tracing("a"), tracing("b"), tracing("c", 5)], c, data, { policy: p, expected, log: noLog });
    expect(ms.map((m) => [m.system, m.status])).toEqual([
      ["a", "ok"],
      ["b", "ok"],
      ["c", "error"],
    ]);
    expect(ms[0]?.samples).toHaveLength(6);
    // blockMs 0: one run per system per round once timing starts.
    const timed = order.slice(order.lastIndexOf("c") + 1);
    expect(timed.slice(0, 4)).toEqual(["a", "b", "a", "b"]);
  });
});
