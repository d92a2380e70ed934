import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { detectWasmFeatures } from "../src/backend/wasm/features.js";
import { emitGemmFunction, emitGemmModule, gemmScratchBytes, planGemm, type GemmSpec, type GemmTuning } from "../src/backend/wasm/gemm.js";
import { assembleWat } from "../src/backend/wasm/wat.js";

// ---------------------------------------------------------------------------------------------
// Harness

type GemmFunction = (a: number, b: number, c: number, bias: number, rowStart: number, rowEnd: number, scratch: number) => void;

const FLAG_COMBINATIONS: ReadonlyArray<Pick<GemmSpec, "transA" | "transB" | "bias" | "relu" | "accumulate">> = Array.from({ length: 32 }, (_, bits) => ({
  transA: (bits & 1) !== 0,
  transB: (bits & 2) !== 0,
  bias: (bits & 4) !== 0,
  relu: (bits & 8) !== 0,
  accumulate: (bits & 16) !== 0,
}));

/**
 * Forced code shapes, so that every strategy, loop order, tile geometry and blocking loop runs on
 * small matrices (the default plan alone would pick "direct"/"dot" for most of them and never
 * block k or n). Variants that do not apply to a spec are skipped.
 */
const FORCED_TUNINGS: ReadonlyArray<Partial<GemmTuning>> = [
  { strategy: "packed", kc: 5, ncPanels: 1, mc: 4, packA: false, rowsOuter: false },
  { strategy: "packed", mr: 3, nv: 3, kc: 7, ncPanels: 2, mc: 6, packA: true, rowsOuter: true },
  { strategy: "packed", mr: 6, nv: 1, kc: 9, packA: true, rowsOuter: false },
  { strategy: "packed", mr: 2, nv: 4, kc: 16, mc: 4, packA: true, rowsOuter: false },
  { strategy: "packed", mr: 4, nv: 2, kc: 11, unroll: 3, packA: false, rowsOuter: true },
  { strategy: "direct" },
  { strategy: "direct", mr: 4, nv: 2, unroll: 2 },
  { strategy: "dot" },
];

function tuningApplies(spec: GemmSpec, tuning: Partial<GemmTuning>): boolean {
  if (tuning.strategy === "direct") return !spec.transB;
  if (tuning.strategy === "dot") return spec.transB && !spec.transA;
  return true;
}

/** xorshift32 in [-1, 1): reproducible data from the seed fast-check draws. */
function fillRandom(view: Float32Array, seed: number): void {
  let state = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < view.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    view[i] = ((state >>> 0) / 2 ** 32) * 2 - 1;
  }
}

interface Reference {
  readonly value: Float64Array;
  /** Per element: Σ|a·b| + |C before| + |bias|, the scale of its rounding error. */
  readonly magnitude: Float64Array;
}

/** Float64 reference of the whole spec, epilogue included. */
function referenceGemm(spec: GemmSpec, a: Float32Array, b: Float32Array, bias: Float32Array, cBefore: Float32Array): Reference {
  const { m, n, k } = spec;
  const value = new Float64Array(m * n);
  const magnitude = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      let scale = 0;
      for (let p = 0; p < k; p++) {
        const term = (a[spec.transA ? p * m + i : i * k + p] ?? NaN) * (b[spec.transB ? j * k + p : p * n + j] ?? NaN);
        sum += term;
        scale += Math.abs(term);
      }
      if (spec.accumulate) {
        sum += cBefore[i * n + j] ?? NaN;
        scale += Math.abs(cBefore[i * n + j] ?? NaN);
      }
      if (spec.bias) {
        sum += bias[j] ?? NaN;
        scale += Math.abs(bias[j] ?? NaN);
      }
      value[i * n + j] = spec.relu && sum < 0 ? 0 : sum;
      magnitude[i * n + j] = scale;
    }
  }
  return { value, magnitude };
}

const GUARD = 8; // floats of sentinel on each side of C and after the scratch area
const SENTINEL = -12345.5;
const align16 = (floats: number): number => Math.ceil(floats / 16) * 16;

/** One memory big enough for every spec of a test module, with fixed float offsets. */
class GemmArena {
  readonly memory: WebAssembly.Memory;
  readonly f32: Float32Array;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly bias: number;
  readonly scratch: number;
  constructor(maxElements: number, maxScratchBytes: number) {
    const slot = align16(maxElements + 2 * GUARD);
    this.a = 16;
    this.b = this.a + slot;
    this.c = this.b + slot + GUARD;
    this.bias = this.c + slot;
    this.scratch = this.bias + slot;
    const totalBytes = (this.scratch + maxScratchBytes / 4 + GUARD + 16) * 4;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(totalBytes / 65536) });
    this.f32 = new Float32Array(this.memory.buffer);
  }
}

interface CaseOutcome {
  readonly failure: string | null;
}

/**
 * Runs `gemm` on fresh data in two row ranges: first [split1, split2) — every other row of C must
 * keep its value — then the rest with out-of-range bounds (clamped by the kernel). Checks the
 * whole of C against the float64 reference and the sentinels around C and after the scratch.
 */
function runCase(gemm: GemmFunction, spec: GemmSpec, scratchBytes: number, arena: GemmArena, seed: number, split1: number, split2: number): CaseOutcome {
  const { m, n, k } = spec;
  const { f32 } = arena;
  const view = (offset: number, length: number): Float32Array => f32.subarray(offset, offset + length);
  const a = view(arena.a, m * k);
  const b = view(arena.b, k * n);
  const c = view(arena.c, m * n);
  const bias = view(arena.bias, n);
  fillRandom(a, seed);
  fillRandom(b, seed + 1);
  fillRandom(c, seed + 2);
  fillRandom(bias, seed + 3);
  view(arena.c - GUARD, GUARD).fill(SENTINEL);
  view(arena.c + m * n, GUARD).fill(SENTINEL);
  const scratchEnd = arena.scratch + scratchBytes / 4;
  view(scratchEnd, GUARD).fill(SENTINEL);
  const cBefore = c.slice();
  const expected = referenceGemm(spec, a, b, bias, cBefore);

  const call = (rowStart: number, rowEnd: number): void => gemm(arena.a * 4, arena.b * 4, arena.c * 4, arena.bias * 4, rowStart, rowEnd, arena.scratch * 4);
  const checkRow = (i: number, computed: boolean): string | null => {
    for (let j = 0; j < n; j++) {
      const index = i * n + j;
      const got = c[index] ?? NaN;
      if (!computed) {
        if (!Object.is(got, cBefore[index])) return `row ${i} outside the range was written: C[${i}][${j}] = ${got}, was ${cBefore[index]}`;
        continue;
      }
      const want = expected.value[index] ?? NaN;
      const tolerance = (k + 2) * 2 ** -22 * (expected.magnitude[index] ?? 0);
      if (!(Math.abs(got - want) <= tolerance)) return `C[${i}][${j}] = ${got}, expected ${want} (tolerance ${tolerance})`;
    }
    return null;
  };
  const checkGuards = (): string | null => {
    for (const [label, start] of [["before C", arena.c - GUARD], ["after C", arena.c + m * n], ["after scratch", scratchEnd]] as const) {
      for (let g = 0; g < GUARD; g++) if (f32[start + g] !== SENTINEL) return `memory ${label} was overwritten`;
    }
    return null;
  };

  call(split1, split2);
  for (let i = 0; i < m; i++) {
    const failure = checkRow(i, i >= split1 && i < split2);
    if (failure !== null) return { failure: `after rows [${split1}, ${split2}): ${failure}` };
  }
  call(-3, split1);
  call(split2, m + 5);
  for (let i = 0; i < m; i++) {
    const failure = checkRow(i, true);
    if (failure !== null) return { failure: `after all rows: ${failure}` };
  }
  return { failure: checkGuards() };
}

interface CompiledCase {
  readonly name: string;
  readonly spec: GemmSpec;
  readonly tuning: Partial<GemmTuning>;
  readonly scratchBytes: number;
}

async function instantiate(cases: readonly CompiledCase[], arena: GemmArena, relaxedSimd = false): Promise<Map<string, GemmFunction>> {
  const text = emitGemmModule(cases.map(({ name, spec, tuning }) => ({ name, spec, tuning })));
  const bytes = await assembleWat(text, { relaxedSimd });
  const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes), { env: { memory: arena.memory } });
  const functions = new Map<string, GemmFunction>();
  for (const { name } of cases) {
    const exported = instance.exports[name];
    if (typeof exported !== "function") throw new Error(`export ${name} missing`);
    functions.set(name, exported as GemmFunction);
  }
  return functions;
}

const BASE_SPEC: GemmSpec = { m: 1, n: 1, k: 1, transA: false, transB: false, bias: false, relu: false, accumulate: false, useRelaxedSimd: false };

// ---------------------------------------------------------------------------------------------
// Tests

describe("emitGemmFunction (WebAssembly SIMD GEMM)", () => {
  it("matches a float64 reference for every flag combination, strategy and row split (m, n, k in 1..37)", async () => {
    let sample = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (m, n, k, seed, splitA, splitB) => {
          // Every flag combination with its default plan, and with one forced variant (rotating, so
          // each combination meets every variant over the run).
          const cases: CompiledCase[] = [];
          FLAG_COMBINATIONS.forEach((flags, combination) => {
            const spec: GemmSpec = { ...BASE_SPEC, m, n, k, ...flags };
            const tunings: Array<Partial<GemmTuning>> = [{}];
            for (let offset = 0; offset < FORCED_TUNINGS.length; offset++) {
              const forced = FORCED_TUNINGS[(sample + combination + offset) % FORCED_TUNINGS.length];
              if (forced !== undefined && tuningApplies(spec, forced)) {
                tunings.push(forced);
                break;
              }
            }
            tunings.forEach((tuning, variant) => {
              cases.push({ name: `gemm_${combination}_${variant}`, spec, tuning, scratchBytes: gemmScratchBytes(spec, tuning) });
            });
          });
          sample++;
          const arena = new GemmArena(Math.max(m * k, k * n, m * n), Math.max(...cases.map((entry) => entry.scratchBytes)));
          const functions = await instantiate(cases, arena);
          const lower = Math.floor(Math.min(splitA, splitB) * (m + 1)) % (m + 1);
          const upper = Math.max(lower, Math.floor(Math.max(splitA, splitB) * (m + 1)) % (m + 1));
          for (const entry of cases) {
            const gemm = functions.get(entry.name);
            if (gemm === undefined) throw new Error(`no function ${entry.name}`);
            const { failure } = runCase(gemm, entry.spec, entry.scratchBytes, arena, seed, lower, upper);
            if (failure !== null) {
              throw new Error(`${JSON.stringify(entry.spec)} tuning ${JSON.stringify(entry.tuning)} plan ${JSON.stringify(planGemm(entry.spec, entry.tuning))}: ${failure}`);
            }
          }
        },
      ),
      {
        numRuns: 14,
        examples: [
          [1, 1, 1, 7, 0, 1],
          [37, 37, 37, 11, 0.3, 0.7],
          [8, 16, 4, 13, 0.5, 0.5],
          [5, 3, 1, 17, 0, 0.99],
        ],
      },
    );
  }, 60_000);

  it("computes large enough shapes to take several k blocks and column blocks with the default plan", async () => {
    // Default blocking: k > 320 makes several k blocks; 4·2·panels columns beyond the L2 budget
    // make several column blocks; m > 128 several row blocks. Kept small enough to run fast.
    const specs: GemmSpec[] = [
      { ...BASE_SPEC, m: 131, n: 70, k: 650, bias: true, relu: true },
      { ...BASE_SPEC, m: 130, n: 300, k: 333, transA: true, accumulate: true },
      { ...BASE_SPEC, m: 67, n: 261, k: 341, transB: true, bias: true },
      { ...BASE_SPEC, m: 3, n: 515, k: 19, transB: true, transA: true, relu: true },
    ];
    const cases = specs.map((spec, index) => ({ name: `big${index}`, spec, tuning: {}, scratchBytes: gemmScratchBytes(spec) }));
    expect(planGemm(specs[0] ?? BASE_SPEC).kc).toBeLessThan(650);
    const arena = new GemmArena(Math.max(...specs.map((s) => Math.max(s.m * s.k, s.k * s.n, s.m * s.n))), Math.max(...cases.map((c) => c.scratchBytes)));
    const functions = await instantiate(cases, arena);
    for (const entry of cases) {
      const gemm = functions.get(entry.name);
      if (gemm === undefined) throw new Error(`no function ${entry.name}`);
      const outcome = runCase(gemm, entry.spec, entry.scratchBytes, arena, 99, Math.floor(entry.spec.m / 3), Math.floor(entry.spec.m / 2));
      expect(outcome.failure, `${JSON.stringify(entry.spec)} ${JSON.stringify(planGemm(entry.spec))}`).toBeNull();
    }
  });

  it("never reads past its operands (each operand flush against the end of memory traps otherwise)", async () => {
    const shapes: ReadonlyArray<readonly [number, number, number]> = [
      [5, 13, 7],
      [3, 6, 5],
      [9, 31, 3],
      [1, 2, 9],
    ];
    const cases: CompiledCase[] = [];
    for (const [m, n, k] of shapes) {
      for (const flags of FLAG_COMBINATIONS) {
        if (!flags.bias || flags.relu || flags.accumulate) continue; // transA × transB, with a bias to read
        const spec: GemmSpec = { ...BASE_SPEC, m, n, k, ...flags };
        for (const tuning of [{}, ...FORCED_TUNINGS]) {
          if (tuningApplies(spec, tuning)) cases.push({ name: `edge${cases.length}`, spec, tuning, scratchBytes: gemmScratchBytes(spec, tuning) });
        }
      }
    }
    const pageFloats = 65536 / 4;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const text = emitGemmModule(cases.map(({ name, spec, tuning }) => ({ name, spec, tuning })));
    const { instance } = await WebAssembly.instantiate(new Uint8Array(await assembleWat(text)), { env: { memory } });
    const f32 = new Float32Array(memory.buffer);
    for (const entry of cases) {
      const { m, n, k } = entry.spec;
      const gemm = instance.exports[entry.name] as GemmFunction;
      for (const flushOperand of ["a", "b", "bias"] as const) {
        // C and scratch at the start; the operand under test ends exactly at the end of memory.
        const c = 0;
        const scratch = align16(m * n);
        let next = scratch + align16(entry.scratchBytes / 4);
        const place = (operand: "a" | "b" | "bias", floats: number): number => {
          if (operand === flushOperand) return pageFloats - floats;
          const offset = next;
          next += align16(floats);
          return offset;
        };
        const a = place("a", m * k);
        const b = place("b", k * n);
        const bias = place("bias", n);
        f32.fill(0.5);
        f32.fill(0, c, c + m * n);
        expect(() => gemm(a * 4, b * 4, c * 4, bias * 4, 0, m, scratch * 4), `${JSON.stringify(entry.spec)} ${JSON.stringify(entry.tuning)} ${flushOperand} at the end`).not.toThrow();
        // 0.5·0.5·k + 0.5 everywhere: the product really ran.
        expect(f32[c + m * n - 1]).toBeCloseTo(0.25 * k + 0.5, 5);
      }
    }
  });

  it("lets relu pass NaN through and clamps negatives (and -0) to zero like PyTorch", async () => {
    const spec: GemmSpec = { ...BASE_SPEC, m: 1, n: 4, k: 1, relu: true, bias: true };
    for (const tuning of [{}, { strategy: "packed" }] as const) {
      const arena = new GemmArena(16, gemmScratchBytes(spec, tuning));
      const functions = await instantiate([{ name: "relu", spec, tuning, scratchBytes: gemmScratchBytes(spec, tuning) }], arena);
      const gemm = functions.get("relu");
      if (gemm === undefined) throw new Error("no function");
      arena.f32[arena.a] = 1;
      arena.f32.set([NaN, -2, 3, 0], arena.b);
      arena.f32.set([0, 0, 0, 0], arena.bias);
      gemm(arena.a * 4, arena.b * 4, arena.c * 4, arena.bias * 4, 0, 1, arena.scratch * 4);
      expect(Array.from(arena.f32.subarray(arena.c, arena.c + 4))).toEqual([NaN, 0, 3, 0]);
    }
  });

  it("rejects shapes and tunings it cannot generate", () => {
    expect(() => emitGemmFunction("g", { ...BASE_SPEC, m: 0 })).toThrow(/m must be a positive integer/);
    expect(() => emitGemmFunction("g", { ...BASE_SPEC, k: 2.5 })).toThrow(/k must be a positive integer/);
    expect(() => emitGemmFunction("g", { ...BASE_SPEC, m: 65536, n: 65536 })).toThrow(/32-bit/);
    expect(() => emitGemmFunction("g", { ...BASE_SPEC, transB: true }, { strategy: "direct" })).toThrow(/untransposed B/);
    expect(() => emitGemmFunction("g", { ...BASE_SPEC, transA: true, transB: true }, { strategy: "dot" })).toThrow(/dot/);
    expect(() => emitGemmFunction("g", BASE_SPEC, { mr: 0 })).toThrow(/mr must be a positive integer/);
    expect(() => emitGemmFunction("bad name", BASE_SPEC)).toThrow(/invalid WAT function name/);
  });

  it("plans the strategies the MLP shapes need", () => {
    const plan = (m: number, n: number, k: number, flags: Partial<GemmSpec> = {}): GemmTuning => planGemm({ ...BASE_SPEC, m, n, k, ...flags });
    expect(plan(1, 256, 784).strategy).toBe("direct"); // batch-1 forward
    expect(plan(1, 784, 256, { transB: true }).strategy).toBe("dot"); // batch-1 input gradient
    expect(plan(1024, 1024, 1024).strategy).toBe("packed");
    expect(plan(784, 256, 256, { transA: true }).strategy).toBe("packed"); // weight gradient
    expect(gemmScratchBytes({ ...BASE_SPEC, m: 1, n: 256, k: 784 })).toBe(0);
    expect(gemmScratchBytes({ ...BASE_SPEC, m: 1024, n: 1024, k: 1024 })).toBeGreaterThan(0);
    // Tiles fit V8's 15 allocatable xmm registers: accumulators + B vectors + A broadcasts + 1.
    for (const spec of [{ m: 256, n: 256, k: 256 }, { m: 32, n: 256, k: 784 }, { m: 1, n: 256, k: 784 }]) {
      const tile = planGemm({ ...BASE_SPEC, ...spec });
      expect(tile.mr * tile.nv + tile.nv + tile.mr + 1).toBeLessThanOrEqual(15);
    }
  });

  it("emits relaxed_madd only when asked, and such modules need relaxed SIMD to assemble", async () => {
    const spec: GemmSpec = { ...BASE_SPEC, m: 9, n: 13, k: 7, useRelaxedSimd: true };
    const text = emitGemmModule([{ name: "g", spec }]);
    expect(text).toContain("f32x4.relaxed_madd");
    expect(emitGemmModule([{ name: "g", spec: { ...spec, useRelaxedSimd: false } }])).not.toContain("relaxed_madd");
    await expect(assembleWat(text)).rejects.toThrow(/relaxed_madd/);
    const bytes = await assembleWat(text, { relaxedSimd: true });
    expect(bytes.byteLength).toBeGreaterThan(8);
  });

  it("imports a shared memory when asked (for a threads split of the rows)", async () => {
    const spec: GemmSpec = { ...BASE_SPEC, m: 8, n: 8, k: 8 };
    const text = emitGemmModule([{ name: "g", spec }], { sharedMemory: true, memoryPages: 2 });
    expect(text).toContain("shared");
    const bytes = await assembleWat(text, { threads: true });
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true });
    const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes), { env: { memory } });
    expect(typeof instance.exports["g"]).toBe("function");
  });
});

describe("relaxed-SIMD kernels under node --experimental-wasm-relaxed-simd", () => {
  it("detects relaxed SIMD and matches the reference (child process)", () => {
    // The engine flag cannot be turned on inside this process, so a child Node runs the check.
    const register = fileURLToPath(new URL("../bin/register.mjs", import.meta.url));
    const gemmUrl = pathToFileURL(fileURLToPath(new URL("../src/backend/wasm/gemm.ts", import.meta.url))).href;
    const watUrl = pathToFileURL(fileURLToPath(new URL("../src/backend/wasm/wat.ts", import.meta.url))).href;
    const featuresUrl = pathToFileURL(fileURLToPath(new URL("../src/backend/wasm/features.ts", import.meta.url))).href;
    const script = `
      const { emitGemmModule, gemmScratchBytes } = await import(${JSON.stringify(gemmUrl)});
      const { assembleWat } = await import(${JSON.stringify(watUrl)});
      const { detectWasmFeatures } = await import(${JSON.stringify(featuresUrl)});
      const results = [];
      for (const [m, n, k, transA, transB] of [[37, 29, 33, false, false], [17, 41, 23, true, false], [9, 30, 45, false, true], [2, 19, 21, false, true], [1, 35, 17, true, true]]) {
        const spec = { m, n, k, transA, transB, bias: true, relu: false, accumulate: true, useRelaxedSimd: true };
        const bytes = await assembleWat(emitGemmModule([{ name: "g", spec }]), { relaxedSimd: true });
        const memory = new WebAssembly.Memory({ initial: 4 });
        const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
        const f = new Float32Array(memory.buffer);
        const A = 0, B = 4096, C = 8192, bias = 12288, scratch = 16384;
        for (let i = 0; i < 16384; i++) f[i] = Math.sin(i * 0.37 + m);
        const before = f.slice(C, C + m * n);
        instance.exports.g(A * 4, B * 4, C * 4, bias * 4, 0, m, scratch * 4);
        let worst = 0;
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
          let sum = before[i * n + j] + f[bias + j], scale = Math.abs(before[i * n + j]) + Math.abs(f[bias + j]);
          for (let p = 0; p < k; p++) { const t = f[A + (transA ? p * m + i : i * k + p)] * f[B + (transB ? j * k + p : p * n + j)]; sum += t; scale += Math.abs(t); }
          worst = Math.max(worst, Math.abs(f[C + i * n + j] - sum) / ((k + 2) * 2 ** -22 * scale));
        }
        results.push(worst);
      }
      console.log(JSON.stringify({ features: detectWasmFeatures(), results }));
    `;
    const child = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", pathToFileURL(register).href, "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(child.stderr).toBe("");
    const lastLine = child.stdout.trim().split("\n").at(-1) ?? "";
    const report = JSON.parse(lastLine) as { features: { relaxedSimd: boolean }; results: number[] };
    expect(report.features.relaxedSimd).toBe(true);
    expect(report.results).toHaveLength(5);
    // Each entry is the worst error in units of the tolerance: must be within it.
    for (const worst of report.results) expect(worst).toBeLessThanOrEqual(1);
  });
});

describe("detectWasmFeatures", () => {
  it("reports SIMD and threads on Node 20 and relaxed SIMD only behind the engine flag", () => {
    const features = detectWasmFeatures();
    expect(features.simd).toBe(true);
    expect(features.threads).toBe(typeof SharedArrayBuffer === "function");
    expect(features.relaxedSimd).toBe(process.execArgv.includes("--experimental-wasm-relaxed-simd"));
  });
});

describe("assembleWat", () => {
  it("assembles valid WAT to bytes the engine accepts", async () => {
    const bytes = await assembleWat(`(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))`);
    const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes));
    const addExport = instance.exports["add"];
    expect(typeof addExport).toBe("function");
    expect((addExport as (x: number, y: number) => number)(2, 40)).toBe(42);
  });

  it("reports a type error with wabt's message and the offending line", async () => {
    const text = ["(module", "  (func (result i32)", "    i32.const 1", "    f32.neg))"].join("\n");
    const failure = assembleWat(text, { fileName: "broken.wat" });
    await expect(failure).rejects.toThrow(/validation failed/);
    await expect(failure).rejects.toThrow(/type mismatch in f32\.neg/);
    await expect(failure).rejects.toThrow(/>\s+4 \|     f32\.neg\)\)/);
    await expect(failure).rejects.toThrow(/broken\.wat/);
  });

  it("reports a parse error with the offending line", async () => {
    const text = ["(module", "  (func", "    i32.konst 1", "    drop))"].join("\n");
    const failure = assembleWat(text);
    await expect(failure).rejects.toThrow(/parse failed/);
    await expect(failure).rejects.toThrow(/i32\.konst/);
    await expect(failure).rejects.toThrow(/>\s+3 \|     i32\.konst 1/);
  });
});
