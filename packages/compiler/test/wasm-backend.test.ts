/**
 * Agreement tests of the WASM back end with the reference interpreter run at f32 precision.
 *
 * Tolerances (|wasm − ref| ≤ abs + rel·|ref|, NaN ≡ NaN, ±inf exact):
 * - exactly rounded f32 ops (add, sub, mul, div, sqrt, min/max, comparisons, casts, selects,
 *   gathers, copies): bit-identical (tolerance 0);
 * - the math library on single values: exp/log ≤ 2 ulp, tanh/sigmoid/log_sigmoid ≤ 4 ulp,
 *   pow ≤ 1 ulp (checked in ulps);
 * - rows and reductions summing in f32 (softmax, sums, means): rel 1e-5, abs 1e-30 (the SIMD
 *   row path flushes exp results below e^−86.5 ≈ 2.6e−38 to 0); log-domain outputs and loss
 *   gradients (log_softmax, logsumexp, losses, ∂CE, ∂NLL), where terms cancel: rel 1e-5, abs 1e-6;
 * - matmul (f32 accumulation, blocked order) and gradients through matmuls: rel 1e-5 of the
 *   largest |value| of the output.
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import { opNames } from "@graft/core";
import { grad } from "../src/passes/grad.js";
import { wasmBackend, loadWasmToolkit, createWasmGenerator } from "../src/backend/wasm/backend.js";
import { assembleWatSync } from "../src/backend/wasm/wat.js";
import { createCompiledSession, planFunction, programState } from "../src/backend/program.js";
import { lowerGraph } from "../src/backend/lower.js";
import { planMemory, planState } from "../src/backend/memory.js";
import { fusableCrossEntropy } from "../src/backend/rewrites.js";
import type { HostFeeds, HostTensor, Session } from "../src/backend/types.js";
import type { ProgramFunction } from "../src/program/types.js";
import { erf, exp, expNeg, Lanes, log, logSigmoid, powFunctions, sigmoid, tanh } from "../src/backend/wasm/mathlib.js";
import { FunctionBuilder } from "../src/backend/wasm/wat-builder.js";
import { agreementCases, graphOf, hostFeeds, randomArray } from "./backend-cases.js";

interface Tolerance {
  readonly rel: number;
  readonly abs: number;
  /** Scale the tolerance by the largest |expected| of the output (matmul-like accumulations). */
  readonly scaled?: boolean;
}
const EXACT: Tolerance = { rel: 0, abs: 0 };
const ROWS: Tolerance = { rel: 1e-5, abs: 1e-30 };
/** Log-domain outputs and gradients (x − shift − log Σ, scale·(p·mass − w·t)) cancel: absolute error ~ ulp of the terms. */
const LOGS: Tolerance = { rel: 1e-5, abs: 1e-6 };
const MATMUL: Tolerance = { rel: 1e-5, abs: 0, scaled: true };

const firstMismatch = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): string | undefined => {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  let scale = 0;
  if (tol.scaled === true) for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i] as number));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (!(Number.isNaN(a) && Number.isNaN(e))) return `[${i}] ${a} vs ${e}`;
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) return `[${i}] ${a} vs ${e}`;
      continue;
    }
    const bound = tol.abs + tol.rel * (tol.scaled === true ? scale : Math.abs(e));
    if (!(Math.abs(a - e) <= bound)) return `[${i}] ${a} vs ${e} (|diff| ${Math.abs(a - e)} > ${bound})`;
  }
  return undefined;
};

const expectAgree = (actual: ArrayLike<number> | undefined, expected: ArrayLike<number> | undefined, tol: Tolerance, label: string): void => {
  expect(actual, `${label}: missing`).toBeDefined();
  expect(expected, `${label}: missing reference`).toBeDefined();
  expect(firstMismatch(actual ?? [], expected ?? [], tol), label).toBeUndefined();
};

const toNd = (feeds: HostFeeds): Record<string, NDArray> =>
  Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { shape: [...t.shape], dtype: t.dtype, data: Float64Array.from(t.data) }]));

const f32 = (shape: readonly number[], values: readonly number[]): HostTensor => ({ shape, dtype: "f32", data: Float32Array.from(values) });
const i32 = (shape: readonly number[], values: readonly number[]): HostTensor => ({ shape, dtype: "i32", data: Int32Array.from(values) });
const boolT = (shape: readonly number[], values: readonly number[]): HostTensor => ({ shape, dtype: "bool", data: Uint8Array.from(values) });

let seedState = 1;
const random = (): number => {
  seedState = (Math.imul(seedState, 1664525) + 1013904223) >>> 0;
  return seedState / 2 ** 32;
};
const randomF32 = (shape: readonly number[], scale = 2): HostTensor => f32(shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (random() - 0.5) * 2 * scale));

const single = (graph: Graph, updates: ProgramFunction["updates"] = []): Promise<Session> => wasmBackend.createSession({ functions: [{ name: "f", graph, updates }] }, { seed: 5 });

/** Runs a model on WASM and the f32 reference; checks every output with `tol` (or per-output tolerances). */
const checkModel = async (
  outputs: Record<string, C.Tensor>,
  feeds: HostFeeds,
  tol: Tolerance | Record<string, Tolerance>,
  options: { readonly fuse?: boolean; readonly pipeline?: boolean } = {},
): Promise<Record<string, HostTensor>> => {
  const graph = graphOf(C.model({ name: "case", outputs }));
  let session: Session;
  if (options.fuse === false || options.pipeline === false) {
    await loadWasmToolkit();
    const generator = createWasmGenerator({ fuseCrossEntropy: options.fuse ?? true, pipelineCrossEntropy: options.pipeline ?? true });
    session = createCompiledSession({ functions: [{ name: "f", graph, updates: [] }] }, generator, { seed: 5 });
  } else session = await single(graph);
  const params = Object.fromEntries(Object.entries(session.getState()).map(([k, v]) => [k, { shape: [...v.shape], dtype: v.dtype, data: Float64Array.from(v.data) }]));
  const inputs = new Set(graph.nodes.flatMap((node) => (node.op === "input" ? [node.attrs.name] : [])));
  const used = Object.fromEntries(Object.entries(feeds).filter(([name]) => inputs.has(name)));
  const reference = C.run(graph, toNd(used), params, { precision: "f32" });
  const actual = session.run("f", used);
  for (const [name, expected] of Object.entries(reference)) {
    const t = "rel" in tol ? (tol as Tolerance) : ((tol as Record<string, Tolerance>)[name] ?? EXACT);
    expect(actual[name]?.shape, `${name}: shape`).toEqual(expected.shape);
    expectAgree(actual[name]?.data, expected.data, t, name);
  }
  return actual;
};

// ----- the math library -----------------------------------------------------------------------------

describe("WASM math library", () => {
  const f32Buffer = new Float32Array(1);
  const bitsView = new Int32Array(f32Buffer.buffer);
  /** Ordered integer of a float: ulp distance is the difference. */
  const ordered = (x: number): number => {
    f32Buffer[0] = x;
    const b = bitsView[0] as number;
    return b < 0 ? -0x80000000 - b : b;
  };
  const ulps = (a: number, e: number): number => {
    if (Number.isNaN(e)) return Number.isNaN(a) ? 0 : Infinity;
    if (a === e) return 0;
    if (!Number.isFinite(e) || !Number.isFinite(a)) return Infinity;
    return Math.abs(ordered(a) - ordered(e));
  };

  type MathFn = (b: FunctionBuilder, L: Lanes, x: string) => string;
  /** A module exporting scalar and SIMD versions of `fn` over memory: out[i] = fn(in[i]). */
  const mathModule = async (fn: MathFn, n: number): Promise<(xs: Float32Array) => { scalar: Float32Array; vector: Float32Array }> => {
    await loadWasmToolkit();
    const bytesIn = 0;
    const bytesS = n * 4;
    const bytesV = 2 * n * 4;
    const build = (vector: boolean): string => {
      const b = new FunctionBuilder();
      const L = new Lanes(vector);
      const at = b.local("i32", "at");
      b.forRange(at, 0, n * 4, vector ? 16 : 4, () => {
        const x = vector ? `(v128.load offset=${bytesIn} align=4 (local.get ${at}))` : `(f32.load offset=${bytesIn} (local.get ${at}))`;
        const result = fn(b, L, x);
        b.emit(vector ? `(v128.store offset=${bytesV} align=4 (local.get ${at}) ${result})` : `(f32.store offset=${bytesS} (local.get ${at}) ${result})`);
      });
      return b.text(vector ? "vec" : "sca");
    };
    const wat = `(module (import "env" "memory" (memory 1))\n${build(false)}\n${build(true)}\n(export "sca" (func $sca)) (export "vec" (func $vec)))`;
    const pages = Math.ceil((3 * n * 4) / 65536) + 1;
    const memory = new WebAssembly.Memory({ initial: pages });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(assembleWatSync(wat)), { env: { memory } });
    return (xs) => {
      const view = new Float32Array(memory.buffer);
      view.set(xs, 0);
      (instance.exports["sca"] as () => void)();
      (instance.exports["vec"] as () => void)();
      return { scalar: view.slice(n, 2 * n), vector: view.slice(2 * n, 3 * n) };
    };
  };

  const specials = [0, -0, 1, -1, 0.5, -0.5, 0.625, -0.625, 2, -2, 10, -10, 20, -20, 50, -50, 86, -86, 87.5, -87.5, 88.7, 88.72283935546875, 88.73, -88.8, 89, -100, -103.9, -104, -110, 1e-3, -1e-3, 1e-8, -1e-8, 1e-20, 1e-39, 1e-45, -1e-45, 3e38, -3e38, Infinity, -Infinity, NaN, 1.5, 0.7071067, 0.70710677, 1.4142135, 1.1754943508222875e-38];
  const samples = (n: number, lo: number, hi: number, exponential = false): Float32Array => {
    const out = new Float32Array(n);
    out.set(specials.slice(0, Math.min(n, specials.length)));
    for (let i = specials.length; i < n; i++) out[i] = exponential ? Math.exp(lo + (hi - lo) * random()) : lo + (hi - lo) * random();
    return out;
  };
  const N = 65536;
  const cases: Array<[string, MathFn, (x: number) => number, number, Float32Array]> = [
    ["exp", exp, Math.exp, 2, samples(N, -105, 90)],
    ["log", log, Math.log, 1, samples(N, -104, 88, true)],
    ["tanh", tanh, Math.tanh, 4, samples(N, -12, 12)],
    ["sigmoid", sigmoid, (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))), 4, samples(N, -100, 100)],
    ["log_sigmoid", logSigmoid, (x) => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))), 4, samples(N, -100, 100)],
    ["erf", erf, C.erfValue, 7, samples(N, -6, 6)],
  ];
  for (const [name, fn, reference, maxUlps, xs] of cases)
    it(`${name} is within ${maxUlps} ulp of Math (scalar and SIMD, ${N} inputs incl. ±0, ±inf, NaN, subnormals)`, async () => {
      const evaluate = await mathModule(fn, N);
      const { scalar, vector } = evaluate(xs);
      let worst = 0;
      let worstAt = 0;
      for (let i = 0; i < N; i++) {
        const x = xs[i] as number;
        const e = Math.fround(reference(x));
        const u = Math.max(ulps(scalar[i] as number, e), ulps(vector[i] as number, e));
        if (u > worst) {
          worst = u;
          worstAt = x;
        }
      }
      expect(worst, `${name}: worst at x = ${worstAt}`).toBeLessThanOrEqual(maxUlps);
    });

  it("expNeg (row kernels) is within 2 ulp for −86.5 ≤ x ≤ 0, 0 below, and exact at 0", async () => {
    const xs = samples(N, -90, 0).map((x) => (Number.isNaN(x) || x > 0 ? -x || -1 : x));
    const evaluate = await mathModule(expNeg, N);
    const { scalar, vector } = evaluate(xs);
    for (let i = 0; i < N; i++) {
      const x = xs[i] as number;
      const e = Math.fround(Math.exp(x));
      for (const a of [scalar[i] as number, vector[i] as number]) {
        if (x < -86.5) expect(a).toBe(0);
        else expect(ulps(a, e), `x = ${x}: ${a} vs ${e}`).toBeLessThanOrEqual(2);
      }
    }
  });

  it("pow64 has Math.pow semantics (special cases) and ≤ 1 ulp after rounding to f32", async () => {
    await loadWasmToolkit();
    const wat = `(module ${powFunctions()} (func (export "pow") (param f32 f32) (result f32) (f32.demote_f64 (call $pow64 (f64.promote_f32 (local.get 0)) (f64.promote_f32 (local.get 1))))))`;
    const pow = new WebAssembly.Instance(new WebAssembly.Module(assembleWatSync(wat))).exports["pow"] as (a: number, b: number) => number;
    const values = [0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 1.5, -1.5, 10, 1e-3, 1e30, -1e30, Infinity, -Infinity, NaN, 0.3, 7, -7, 100, 2.5];
    for (const a of values) for (const b of values) expect(ulps(pow(a, b), Math.fround(Math.pow(Math.fround(a), Math.fround(b)))), `pow(${a}, ${b})`).toBeLessThanOrEqual(1);
    for (let i = 0; i < 20000; i++) {
      const a = Math.fround(random() * 20);
      const b = Math.fround((random() - 0.5) * 40);
      expect(ulps(pow(a, b), Math.fround(Math.pow(a, b))), `pow(${a}, ${b})`).toBeLessThanOrEqual(1);
    }
  });
});

// ----- every op of the op table ------------------------------------------------------------------------

const specialValues = [0, -0, 1, -1, 0.5, -0.5, 0.625, 2, -2, 3.7, -3.7, 10, -10, 30, -30, 88, -88, 89, -90, -104, -110, 1e-3, -1e-3, 1e-20, 1e-40, 3e38, -3e38, Infinity, -Infinity, NaN, 0.25, 7, -7, 100, -100, 1e6, 0.7];

interface OpCase {
  readonly name: string;
  readonly outputs: () => Record<string, C.Tensor>;
  readonly feeds: () => HostFeeds;
  readonly tol: Tolerance | Record<string, Tolerance>;
}

const crossEntropyAttrs = (t: C.Tensor): C.CrossEntropyAttrs => {
  if (t.call.op !== "cross_entropy") throw new Error("not a cross_entropy");
  return t.call.attrs;
};
const nllAttrs = (t: C.Tensor): C.NllLossAttrs => {
  if (t.call.op !== "nll_loss") throw new Error("not a nll_loss");
  return t.call.attrs;
};

/**
 * Leaves of the case being built, by name: the cases write `input("m", …)` at every use, and two
 * distinct leaves may not share a name, so each name makes one leaf per case (reset per case).
 */
let caseLeaves = new Map<string, C.Tensor>();
const leaf = (key: string, make: () => C.Tensor): C.Tensor => {
  const made = caseLeaves.get(key) ?? make();
  caseLeaves.set(key, made);
  return made;
};
const input = (name: string, shape: C.Shape, dtype?: C.Dtype): C.Tensor => leaf(`input:${name}`, () => C.input(name, shape, dtype));
const param = (name: string, shape: readonly number[], init?: C.Init, dtype?: C.Dtype): C.Tensor => leaf(`param:${name}`, () => C.param(name, shape, init, dtype));
const caseOutputs = (testCase: OpCase): Record<string, C.Tensor> => {
  caseLeaves = new Map();
  return testCase.outputs();
};

const opCases: Record<string, OpCase[]> = {
  // modes: the graph as written has evaluation semantics; random ops the reference's bits
  mode_switch: [{ name: "the evaluation input", outputs: () => ({ y: C.dropout(input("x", [3, 5]), 0.5), z: C.modeSwitch(C.exp(input("x", [3, 5])), C.tanh(input("x", [3, 5]))) }), feeds: () => ({ x: randomF32([3, 5]) }), tol: { rel: 1e-6, abs: 1e-6 } }],
  state_update: [{ name: "the value", outputs: () => ({ y: C.stateUpdate(C.mul(input("x", [4]), 3), param("s", [4]), C.add(param("s", [4]), 1)) }), feeds: () => ({ x: randomF32([4]) }), tol: EXACT }],
  random_uniform: [
    {
      name: "rand, bernoulli and randn, broadcast into their consumers",
      outputs: () => ({ u: C.rand([3, 7], { seed: 9 }), b: C.bernoulli(C.sigmoid(input("x", [3, 7]))), n: C.add(C.randn([7]), input("x", [3, 7])) }),
      feeds: () => ({ x: randomF32([3, 7]) }),
      tol: { u: EXACT, b: EXACT, n: { rel: 1e-5, abs: 1e-5 } },
    },
  ],
  input: [{ name: "passthrough", outputs: () => ({ x: input("x", [2, 3]) }), feeds: () => ({ x: randomF32([2, 3]) }), tol: EXACT }],
  param: [{ name: "state out", outputs: () => ({ w: param("w", [3, 5], C.uniform(-1, 1)), y: C.mul(param("w", [3, 5], C.uniform(-1, 1)), 2) }), feeds: () => ({}), tol: EXACT }],
  constant: [
    {
      name: "tensor and scalar constants",
      outputs: () => ({ c: C.constant([[1, 2, 3], [4, 5, 6]]), y: C.add(input("x", [2, 3]), C.constant([[1, 2, 3], [4, 5, 6]])), z: C.mul(input("x", [2, 3]), 0.5), i: C.constant([1, 2, 3], "i32") }),
      feeds: () => ({ x: randomF32([2, 3]) }),
      tol: EXACT,
    },
  ],
};

// convolution and pooling (random geometries and gradients: conv-backends.test.ts)
{
  const CONV: Tolerance = { rel: 1e-5, abs: 0, scaled: true };
  const image = () => input("x", [2, 4, 7, 6]);
  const feeds = () => ({ x: randomF32([2, 4, 7, 6]), w: randomF32([6, 2, 3, 2]), b: randomF32([6]), dy: randomF32([2, 6, 4, 8]), s: randomF32([2, 4, 9]), k: randomF32([4, 2, 3]) });
  const geometry = { stride: [2, 1], padding: [1, 1, 2, 2], dilation: [1, 2], groups: 2 } as const;
  Object.assign(opCases, {
    conv2d: [{ name: "stride, padding, dilation, groups, bias", outputs: () => ({ y: C.conv2d(image(), input("w", [6, 2, 3, 2]), input("b", [6]), geometry) }), feeds, tol: CONV }],
    conv_transpose2d: [{ name: "stride 2, output padding", outputs: () => ({ y: C.convTranspose2d(input("dy", [2, 6, 4, 8]), input("w", [6, 2, 3, 2]), input("b", [4]), { ...geometry, padding: [1, 2], outputPadding: 1 }) }), feeds: () => ({ ...feeds(), b: randomF32([4]) }), tol: CONV }],
    conv2d_weight_grad: [{ name: "groups 2", outputs: () => ({ dw: C.conv2dWeightGradRaw(image(), input("dy", [2, 6, 4, 8]), { ...geometry, kernel: [3, 2] }) }), feeds, tol: CONV }],
    conv1d: [{ name: "same, dilation 2, groups 2", outputs: () => ({ y: C.conv1d(input("s", [2, 4, 9]), input("k", [4, 2, 3]), undefined, { padding: "same", dilation: 2, groups: 2 }) }), feeds, tol: CONV }],
    max_pool2d: [{ name: "3×3 stride 2 padding 1", outputs: () => ({ y: C.maxPool2d(image(), 3, { stride: 2, padding: 1 }) }), feeds, tol: EXACT }],
    max_pool2d_backward: [{ name: "2×2 windows", outputs: () => ({ dx: C.maxPool2dBackwardRaw(image(), input("dy", [2, 4, 3, 3]), { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false }) }), feeds: () => ({ x: randomF32([2, 4, 7, 6]), dy: randomF32([2, 4, 3, 3]) }), tol: EXACT }],
    avg_pool2d: [{ name: "ceil mode, countIncludePad false", outputs: () => ({ y: C.avgPool2d(image(), 2, { padding: 1, ceilMode: true, countIncludePad: false }) }), feeds, tol: CONV }],
    adaptive_avg_pool2d: [{ name: "7×6 → 3×4", outputs: () => ({ y: C.adaptiveAvgPool2d(image(), [3, 4]) }), feeds, tol: CONV }],
    max_pool1d: [{ name: "stride 2 padding 1", outputs: () => ({ y: C.maxPool1d(input("s", [2, 4, 9]), 3, { stride: 2, padding: 1 }) }), feeds, tol: EXACT }],
    avg_pool1d: [{ name: "kernel 2", outputs: () => ({ y: C.avgPool1d(input("s", [2, 4, 9]), 2) }), feeds, tol: CONV }],
  });
}

// unary elementwise: exact ops exactly, transcendental within a few ulp
for (const op of ["neg", "abs", "sign", "relu", "sqrt", "exp", "log", "sigmoid", "log_sigmoid", "tanh"] as const) {
  const f = { neg: C.neg, abs: C.abs, sign: C.sign, relu: C.relu, sqrt: C.sqrt, exp: C.exp, log: C.log, sigmoid: C.sigmoid, log_sigmoid: C.logSigmoid, tanh: C.tanh }[op];
  const exactOp = op === "neg" || op === "abs" || op === "sign" || op === "relu" || op === "sqrt";
  opCases[op] = [
    {
      name: "special values, SIMD and scalar tail",
      outputs: () => ({ y: f(input("x", [specialValues.length])), t: f(C.transpose(input("m", [5, 7]), 0, 1)) }),
      feeds: () => ({ x: f32([specialValues.length], specialValues), m: randomF32([5, 7], 20) }),
      tol: exactOp ? EXACT : { rel: 5e-7, abs: 1e-44 },
    },
  ];
}
opCases["neg"]?.push({ name: "i32", outputs: () => ({ y: C.neg(input("n", [6], "i32")), a: C.abs(input("n", [6], "i32")), s: C.sign(input("n", [6], "i32")) }), feeds: () => ({ n: i32([6], [0, 1, -1, 7, -2147483647, 123456]) }), tol: EXACT });
opCases["abs"]?.push({ name: "i32 SIMD", outputs: () => ({ a: C.abs(input("n", [9], "i32")) }), feeds: () => ({ n: i32([9], [0, 1, -1, 7, -8, 5, -5, 3, -3]) }), tol: EXACT });
opCases["sign"]?.push({ name: "i32 SIMD", outputs: () => ({ s: C.sign(input("n", [9], "i32")) }), feeds: () => ({ n: i32([9], [0, 1, -1, 7, -8, 5, -5, 3, -3]) }), tol: EXACT });

opCases["cast"] = [
  {
    name: "f32 → i32/bool, i32 → f32/bool, bool → f32/i32",
    outputs: () => {
      const x = input("x", [specialValues.length + 5]);
      const n = input("n", [8], "i32");
      const b = input("b", [8], "bool");
      return { xi: C.cast(x, "i32"), xb: C.cast(x, "bool"), nf: C.cast(n, "f32"), nb: C.cast(n, "bool"), bf: C.cast(b, "f32"), bi: C.cast(b, "i32"), cmp: C.cast(C.gt(x, 1), "f32"), cmpi: C.cast(C.lt(n, 3), "i32") };
    },
    feeds: () => ({ x: f32([specialValues.length + 5], [...specialValues, 3e9, -3e9, 2147483648, -2147483649, 1e19]), n: i32([8], [0, 1, -1, 5, 2, 3, -7, 100]), b: boolT([8], [0, 1, 1, 0, 1, 0, 0, 1]) }),
    tol: EXACT,
  },
];

// activations: erf (a primitive with its own kernels) and the composites, computed from their
// decompositions in f32; the reference evaluates each row in float64 and rounds once
const activationFns = {
  erf: C.erf,
  gelu: C.gelu,
  silu: C.silu,
  softplus: C.softplus,
  leaky_relu: C.leakyRelu,
  elu: C.elu,
  hardtanh: C.hardtanh,
  clamp: (x: C.Tensor) => C.clamp(x, { min: -2.5, max: 3 }),
} as const;
const activationGrid = Array.from({ length: 161 }, (_, i) => -8 + i / 10);
for (const op of Object.keys(activationFns) as Array<keyof typeof activationFns>) {
  const f = activationFns[op];
  opCases[op] = [
    {
      name: "special values and a grid over [-8, 8], SIMD and scalar tail, transposed operand",
      outputs: () => ({ y: f(C.input("x", [specialValues.length])), grid: f(C.input("g", [activationGrid.length])), t: f(C.transpose(C.input("m", [5, 7]), 0, 1)) }),
      feeds: () => ({ x: f32([specialValues.length], specialValues), g: f32([activationGrid.length], activationGrid), m: randomF32([5, 7], 4) }),
      tol: { rel: 1e-5, abs: 1e-6 },
    },
  ];
}
opCases["gelu"]?.push({
  name: "approximate tanh",
  outputs: () => ({ y: C.gelu(C.input("x", [specialValues.length]), { approximate: "tanh" }), grid: C.gelu(C.input("g", [activationGrid.length]), { approximate: "tanh" }) }),
  feeds: () => ({ x: f32([specialValues.length], specialValues), g: f32([activationGrid.length], activationGrid) }),
  tol: { rel: 1e-5, abs: 1e-6 },
});
opCases["softplus"]?.push({
  name: "beta 2, threshold 3",
  outputs: () => ({ y: C.softplus(C.input("g", [activationGrid.length]), { beta: 2, threshold: 3 }) }),
  feeds: () => ({ g: f32([activationGrid.length], activationGrid) }),
  tol: { rel: 1e-5, abs: 1e-6 },
});
opCases["clamp"]?.push({
  name: "i32, one bound",
  outputs: () => {
    const n = C.input("n", [6], "i32");
    return { lo: C.clamp(n, { min: 0 }), hi: C.clamp(n, { max: 5 }) };
  },
  feeds: () => ({ n: i32([6], [0, 1, -1, 7, -2147483647, 123456]) }),
  tol: EXACT,
});

// binary elementwise with broadcasting (f32 and i32)
const binaryFns = { add: C.add, sub: C.sub, mul: C.mul, div: C.div, pow: C.pow, maximum: C.maximum, minimum: C.minimum, eq: C.eq, ne: C.ne, lt: C.lt, le: C.le, gt: C.gt, ge: C.ge } as const;
const pairA = [0, -0, 1, -1, 2.5, -2.5, Infinity, -Infinity, NaN, 3, 0.5, 1e-30];
const pairB = [0, -0, 1, -1, 2, -2, Infinity, -Infinity, NaN, 3, 0.5];
for (const op of Object.keys(binaryFns) as Array<keyof typeof binaryFns>) {
  const f = binaryFns[op];
  opCases[op] = [
    {
      name: "every pair of special values (outer broadcast), row broadcast, transposed operand",
      outputs: () => ({
        pairs: f(input("a", [pairA.length, 1]), input("b", [pairB.length])),
        rows: f(input("m", [6, 9]), input("r", [9])),
        trans: f(C.transpose(input("m", [6, 9]), 0, 1), input("c", [9, 1])),
        scalar: f(input("m", [6, 9]), 1.5),
      }),
      feeds: () => ({ a: f32([pairA.length, 1], pairA), b: f32([pairB.length], pairB), m: randomF32([6, 9], 3), r: randomF32([9], 3), c: randomF32([9, 1], 3) }),
      tol: op === "pow" ? { rel: 2e-7, abs: 0 } : EXACT,
    },
    {
      name: "i32 operands",
      outputs: () => ({ y: f(input("n", [7, 1], "i32"), input("k", [9], "i32")) }),
      feeds: () => ({ n: i32([7, 1], [0, 1, -1, 7, -7, 2147483647, -2147483648]), k: i32([9], [0, 1, -1, 2, -2, 3, 5, -5, 31]) }),
      tol: EXACT,
    },
  ];
}
opCases["where"] = [
  {
    name: "bool condition, f32 and i32 branches, broadcasting",
    outputs: () => {
      const x = input("x", [5, 9]);
      const c = input("c", [9], "bool");
      return { f: C.where(c, x, C.neg(x)), i: C.where(C.gt(x, 0), input("n", [9], "i32"), input("k", [5, 1], "i32")), g: C.where(C.gt(x, 0.3), x, 0), s: C.where(c, 1, 2) };
    },
    feeds: () => ({ x: randomF32([5, 9]), c: boolT([9], [1, 0, 1, 1, 0, 0, 1, 0, 1]), n: i32([9], [1, 2, 3, 4, 5, 6, 7, 8, 9]), k: i32([5, 1], [-1, -2, -3, -4, -5]) }),
    tol: EXACT,
  },
];

// reductions
for (const op of ["sum", "mean", "max", "min"] as const) {
  const f = C[op];
  opCases[op] = [
    {
      name: "every dim subset of a rank-3 tensor, keepdim, transposed input, NaN",
      outputs: () => {
        const x = input("x", [3, 5, 6]);
        const out: Record<string, C.Tensor> = { all: f(x), t: f(C.transpose(x, 0, 2), [1, 2]), big: f(input("big", [37, 19]), 0), bigRow: f(input("big", [37, 19]), 1), nan: f(input("nan", [2, 5]), 1) };
        for (const dims of [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]]) out[`d${dims.join("")}`] = f(x, dims);
        out["keep"] = f(x, [0, 2], true);
        out["expr"] = f(C.mul(C.exp(C.tanh(x)), input("r", [6])), [0, 1]);
        return out;
      },
      feeds: () => ({ x: randomF32([3, 5, 6], 5), big: randomF32([37, 19], 5), nan: f32([2, 5], [1, NaN, 3, 4, 5, -1, -2, Infinity, -Infinity, 0]), r: randomF32([6]) }),
      tol: { rel: 1e-5, abs: 1e-6 },
    },
  ];
  if (op !== "mean")
    opCases[op]?.push({
      name: "i32",
      outputs: () => ({ a: f(input("n", [3, 7], "i32"), 1), b: f(input("n", [3, 7], "i32"), 0), c: f(input("n", [3, 7], "i32")) }),
      feeds: () => ({ n: i32([3, 7], Array.from({ length: 21 }, (_, i) => ((i * 7919) % 23) - 11)) }),
      tol: EXACT,
    });
}
opCases["logsumexp"] = [
  {
    name: "dims, -inf/+inf/NaN rows, huge values, contiguous SIMD rows",
    outputs: () => {
      const x = input("x", [3, 4, 9]);
      const e = input("e", [6, 5]);
      return { d2: C.logsumexp(x, 2), d1: C.logsumexp(x, 1), d12: C.logsumexp(x, [1, 2], true), e: C.logsumexp(e, 1), e0: C.logsumexp(e, 0), wide: C.logsumexp(input("w", [4, 37]), 1) };
    },
    feeds: () => ({
      x: randomF32([3, 4, 9], 30),
      e: f32([6, 5], [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 1, -Infinity, 2, 3, -Infinity, Infinity, 1, 2, 3, 4, NaN, 1, 2, 3, 4, 3e38, 3e38, -3e38, 1, 0, 300, 200, 500, -1e4, 1e4]),
      w: randomF32([4, 37], 100),
    }),
    tol: LOGS,
  },
];
opCases["argmax"] = [
  {
    name: "dims, ties (first wins), NaN (wins), -inf rows",
    outputs: () => ({ a1: C.argmax(input("x", [4, 5]), 1), a0: C.argmax(input("x", [4, 5]), 0, true), a3: C.argmax(input("y", [2, 3, 4]), 1) }),
    feeds: () => ({ x: f32([4, 5], [1, 3, 3, 2, 0, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 1, NaN, 5, NaN, 0, 2, 2, 2, 2, 2]), y: randomF32([2, 3, 4]) }),
    tol: EXACT,
  },
];
opCases["dim_size"] = [
  { name: "mean by hand", outputs: () => ({ m: C.div(C.sum(input("x", [4, 6]), 1), C.dimSize(input("x", [4, 6]), 1)), n: C.dimSize(input("x", [4, 6])) }), feeds: () => ({ x: randomF32([4, 6]) }), tol: { rel: 1e-6, abs: 0 } },
];
opCases["reshape"] = [
  {
    name: "views and materialising reshapes",
    outputs: () => {
      const x = input("x", [4, 6]);
      return { r: C.reshape(x, [3, 8]), rt: C.reshape(C.transpose(x, 0, 1), [8, 3]), ru: C.reshape(C.exp(x), [2, 2, 6]), f: C.flatten(x), u: C.add(C.unsqueeze(input("v", [6]), 0), x) };
    },
    feeds: () => ({ x: randomF32([4, 6]), v: randomF32([6]) }),
    tol: { rel: 5e-7, abs: 0 },
  },
];
opCases["transpose"] = [
  { name: "permutes", outputs: () => ({ p: C.permute(input("x", [2, 3, 5]), [2, 0, 1]), t: C.transpose(input("x", [2, 3, 5]), 1, 2), s: C.add(C.transpose(input("x", [2, 3, 5]), 0, 2), 1) }), feeds: () => ({ x: randomF32([2, 3, 5]) }), tol: EXACT },
];
opCases["expand"] = [
  { name: "broadcast outputs", outputs: () => ({ e: C.expand(input("x", [3, 1]), [2, 3, 5]), s: C.expand(input("s", []), [4, 4]) }), feeds: () => ({ x: randomF32([3, 1]), s: f32([], [2.5]) }), tol: EXACT },
];
opCases["matmul"] = [
  {
    name: "plain, transposed operands, linear (x @ Wᵀ), epilogue relu(dense), batched, broadcast batch, vectors, swap",
    outputs: () => {
      const a = input("a", [7, 13]);
      const b = input("b", [13, 9]);
      const w = input("w", [9, 13]);
      const bias = input("bias", [9]);
      const m = input("m", [3, 7, 13]);
      return {
        ab: C.matmul(a, b),
        atb: C.matmul(C.transpose(input("at", [13, 7]), 0, 1), b),
        abt: C.matmul(a, C.transpose(w, 0, 1)),
        atbt: C.matmul(C.transpose(input("at", [13, 7]), 0, 1), C.transpose(w, 0, 1)),
        linear: C.linear(a, w, bias),
        epilogue: C.relu(C.linear(a, w, bias)),
        dense: C.relu(C.dense(a, 13, 6, "fc")),
        batched: C.matmul(m, b),
        batched2: C.matmul(m, C.transpose(m, 1, 2)),
        swap: C.transpose(C.matmul(a, b), 0, 1),
        vec: C.matmul(a, input("v", [13])),
        vecl: C.matmul(input("v", [13]), b),
        big: C.relu(C.linear(input("x", [33, 70]), input("W", [45, 70]), input("bb", [45]))),
      };
    },
    feeds: () => ({ a: randomF32([7, 13]), at: randomF32([13, 7]), b: randomF32([13, 9]), w: randomF32([9, 13]), bias: randomF32([9]), m: randomF32([3, 7, 13]), v: randomF32([13]), x: randomF32([33, 70]), W: randomF32([45, 70]), bb: randomF32([45]) }),
    tol: MATMUL,
  },
];
opCases["one_hot"] = [
  { name: "labels to rows, used in a product", outputs: () => ({ o: C.oneHot(input("y", [6], "i32"), 7), p: C.sum(C.mul(C.oneHot(input("y", [6], "i32"), 7), input("x", [6, 7])), 1) }), feeds: () => ({ y: i32([6], [0, 6, 3, 3, 1, 7]), x: randomF32([6, 7]) }), tol: EXACT },
];
opCases["gather"] = [
  {
    name: "dims 0/1, pick, i32 source",
    outputs: () => {
      const x = input("x", [4, 5]);
      return { g1: C.gather(x, 1, input("i1", [4, 3], "i32")), g0: C.gather(x, 0, input("i0", [2, 5], "i32")), pick: C.pick(x, input("y", [4], "i32")), gi: C.gather(input("n", [4, 5], "i32"), 1, input("i1", [4, 3], "i32")) };
    },
    feeds: () => ({ x: randomF32([4, 5]), n: i32([4, 5], Array.from({ length: 20 }, (_, i) => i * 3 - 7)), i1: i32([4, 3], [0, 4, 4, 1, 2, 3, 0, 0, 0, 4, 3, 2]), i0: i32([2, 5], [3, 2, 1, 0, 3, 0, 0, 1, 2, 3]), y: i32([4], [1, 4, 0, 2]) }),
    tol: EXACT,
  },
];
opCases["scatter_add"] = [
  {
    name: "duplicates accumulate, dims 0/1, i32",
    outputs: () => ({ s1: C.scatterAdd([4, 5], 1, input("i1", [4, 3], "i32"), input("src", [4, 3])), s0: C.scatterAdd([3, 3], 0, input("i0", [2, 3], "i32"), input("s0", [2, 3])), si: C.scatterAdd([4, 5], 1, input("i1", [4, 3], "i32"), input("n", [4, 3], "i32")) }),
    feeds: () => ({ i1: i32([4, 3], [0, 4, 4, 1, 2, 3, 0, 0, 0, 4, 3, 2]), src: randomF32([4, 3]), i0: i32([2, 3], [2, 2, 0, 2, 1, 0]), s0: randomF32([2, 3]), n: i32([4, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) }),
    tol: { rel: 1e-6, abs: 0 },
  },
];
for (const op of ["softmax", "log_softmax"] as const) {
  const f = op === "softmax" ? C.softmax : C.logSoftmax;
  opCases[op] = [
    {
      name: "every dim, contiguous SIMD rows of odd length, -inf/+inf/NaN/huge rows",
      outputs: () => {
        const x = input("x", [3, 4, 9]);
        const e = input("e", [8, 5]);
        return { d0: f(x, 0), d1: f(x, 1), d2: f(x, 2), e: f(e, 1), e0: f(e, 0), wide: f(input("w", [5, 67]), 1), narrow: f(input("n", [3, 2]), 1) };
      },
      feeds: () => ({
        x: randomF32([3, 4, 9], 40),
        e: f32([8, 5], [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 1, -Infinity, 2, 3, -Infinity, Infinity, 1, 2, 3, 4, NaN, 1, 2, 3, 4, 3e38, 3e38, -3e38, 1, 0, 300, 200, 500, -1e4, 1e4, 1, 1, 1, 1, 1, -200, 0, -100, 50, 88]),
        w: randomF32([5, 67], 60),
        n: randomF32([3, 2]),
      }),
      tol: op === "softmax" ? ROWS : LOGS,
    },
  ];
}

// the fused normalization and attention rows (random shapes and gradients: norm-kernels.test.ts)
{
  const NORM: Tolerance = { rel: 1e-5, abs: 1e-5 };
  const lnAttrs = (weight: boolean, bias: boolean) => ({ dims: 1, eps: 1e-5, weight, bias });
  Object.assign(opCases, {
    layer_norm: [
      {
        name: "SIMD rows of odd length, rows of one, rows far from 0, weight and bias",
        outputs: () => ({
          y: C.layerNormRaw(input("x", [5, 67]), lnAttrs(true, true), input("w", [67]), input("b", [67])),
          one: C.layerNormRaw(input("o", [4, 1]), lnAttrs(false, false)),
          far: C.layerNormRaw(C.add(input("n", [3, 9]), 1000), lnAttrs(false, true), undefined, input("c", [9])),
        }),
        feeds: () => ({ x: randomF32([5, 67], 3), w: randomF32([67]), b: randomF32([67]), o: randomF32([4, 1]), n: randomF32([3, 9]), c: randomF32([9]) }),
        // a row's mean near 1000 rounds to f32 (ulp 6e-5) before x − mean
        tol: { y: NORM, one: NORM, far: { rel: 1e-5, abs: 1e-4 } },
      },
    ],
    layer_norm_backward: [
      {
        name: "with and without a weight, over two dims",
        outputs: () => ({
          dx: C.layerNormBackwardRaw(input("x", [5, 67]), input("g", [5, 67]), { dims: 1, eps: 1e-5, weight: true }, input("w", [67])),
          d2: C.layerNormBackwardRaw(input("m", [2, 3, 5]), input("h", [2, 3, 5]), { dims: 2, eps: 1e-5, weight: false }),
        }),
        feeds: () => ({ x: randomF32([5, 67], 3), g: randomF32([5, 67]), w: randomF32([67]), m: randomF32([2, 3, 5]), h: randomF32([2, 3, 5]) }),
        tol: NORM,
      },
    ],
    attention_softmax: [
      {
        name: "scale, causal, bool and additive masks (broadcast), -inf/+inf/NaN/huge rows, fully masked rows",
        outputs: () => {
          const e = input("e", [8, 5]);
          return {
            special: C.attentionSoftmaxRaw(e, { scale: 1, mask: "none", causal: false }),
            causal: C.attentionSoftmaxRaw(e, { scale: 0.5, mask: "none", causal: true }),
            bool: C.attentionSoftmaxRaw(input("s", [2, 3, 9]), { scale: 0.25, mask: "bool", causal: true }, input("b", [3, 9], "bool")),
            add: C.attentionSoftmaxRaw(input("s", [2, 3, 9]), { scale: 1, mask: "add", causal: false }, input("a", [2, 1, 9])),
          };
        },
        feeds: () => ({
          e: f32([8, 5], [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 1, -Infinity, 2, 3, -Infinity, Infinity, 1, 2, 3, 4, NaN, 1, 2, 3, 4, 3e38, 3e38, -3e38, 1, 0, 300, 200, 500, -1e4, 1e4, 1, 1, 1, 1, 1, -200, 0, -100, 50, 88]),
          s: randomF32([2, 3, 9], 8),
          b: { shape: [3, 9], dtype: "bool" as const, data: Uint8Array.from({ length: 27 }, (_, i) => (i >= 9 && i < 18 ? 0 : (i * 7) % 3 === 0 ? 0 : 1)) },
          a: f32([2, 1, 9], [0, -1, -Infinity, 2, 0.5, -Infinity, 0, 1, -3, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity]),
        }),
        tol: ROWS,
      },
    ],
    softmax_backward: [
      {
        name: "scaled, SIMD rows of odd length",
        outputs: () => ({ d: C.softmaxBackwardRaw(C.softmax(input("x", [5, 67]), 1), input("g", [5, 67]), 0.125), n: C.softmaxBackwardRaw(input("y", [3, 2]), input("h", [3, 2]), 1) }),
        feeds: () => ({ x: randomF32([5, 67], 3), g: randomF32([5, 67]), y: randomF32([3, 2]), h: randomF32([3, 2]) }),
        tol: LOGS,
      },
    ],
    batch_norm_stats: [
      {
        name: "planes of odd size, [N, C] and channels of one element",
        outputs: () => ({ img: C.batchNormStatsRaw(input("x", [3, 4, 5, 7])), vec: C.batchNormStatsRaw(input("v", [6, 3])), one: C.batchNormStatsRaw(input("o", [1, 2, 1])) }),
        feeds: () => ({ x: randomF32([3, 4, 5, 7], 3), v: randomF32([6, 3]), o: randomF32([1, 2, 1]) }),
        tol: NORM,
      },
    ],
    batch_norm: [
      {
        name: "weight and bias per channel",
        outputs: () => ({ y: C.batchNormRaw(input("x", [3, 4, 5, 7]), input("s", [2, 4]), { eps: 1e-5, weight: true, bias: true }, input("w", [4]), input("b", [4])) }),
        feeds: () => ({ x: randomF32([3, 4, 5, 7], 3), s: f32([2, 4], [0.5, -1, 0, 2, 1, 0.25, 3, 0.5]), w: randomF32([4]), b: randomF32([4]) }),
        tol: NORM,
      },
    ],
    batch_norm_backward_stats: [
      {
        name: "planes of odd size",
        outputs: () => ({ s: C.batchNormBackwardStatsRaw(input("x", [3, 4, 5, 7]), input("t", [2, 4]), input("g", [3, 4, 5, 7]), 1e-5) }),
        feeds: () => ({ x: randomF32([3, 4, 5, 7], 3), t: f32([2, 4], [0.5, -1, 0, 2, 1, 0.25, 3, 0.5]), g: randomF32([3, 4, 5, 7]) }),
        tol: { rel: 1e-5, abs: 1e-4 },
      },
    ],
  });
}

// losses: every reduction × weights × ignore_index × label smoothing × target kind, forward and backward
const lossCase = (reduction: C.Reduction): OpCase[] => {
  const rows = 6;
  const classes = 11;
  const labels = [0, 10, 3, -100, 5, 3];
  const logits = (): C.Tensor => input("x", [rows, classes]);
  const target = (): C.Tensor => input("y", [rows], "i32");
  const weight = (): C.Tensor => input("w", [classes]);
  const feeds = (): HostFeeds => {
    const x = randomF32([rows, classes], 6);
    (x.data as Float32Array)[2] = -Infinity;
    (x.data as Float32Array)[classes + 1] = -Infinity;
    return {
      x,
      y: i32([rows], labels),
      w: f32([classes], Array.from({ length: classes }, (_, i) => 0.25 + (i % 4) * 0.5)),
      p: randomF32([rows, classes], 3),
      g: reduction === "none" ? randomF32([rows]) : f32([], [0.7]),
    };
  };
  const variants = (): Record<string, C.Tensor> => ({
    plain: C.crossEntropy(logits(), target(), { reduction }),
    weighted: C.crossEntropy(logits(), target(), { reduction, weight: weight() }),
    smooth: C.crossEntropy(logits(), target(), { reduction, labelSmoothing: 0.2 }),
    smoothWeighted: C.crossEntropy(logits(), target(), { reduction, labelSmoothing: 0.1, weight: weight() }),
    prob: C.crossEntropy(logits(), C.softmax(input("p", [rows, classes]), 1), { reduction }),
    probSmoothWeighted: C.crossEntropy(logits(), C.softmax(input("p", [rows, classes]), 1), { reduction, labelSmoothing: 0.3, weight: weight() }),
  });
  const withIgnore = (t: C.Tensor): boolean => t.call.op === "cross_entropy" && t.call.attrs.target === "index";
  return [
    {
      name: `cross_entropy reduction=${reduction}: weights, ignore_index (row 3), smoothing, prob targets, -inf logits`,
      outputs: () => {
        const v = variants();
        const out: Record<string, C.Tensor> = { ...v };
        for (const [name, t] of Object.entries(v)) if (withIgnore(t)) void name;
        return out;
      },
      feeds,
      tol: LOGS,
    },
    {
      name: `cross_entropy_backward reduction=${reduction} (standalone and sharing the forward LSE)`,
      outputs: () => {
        const out: Record<string, C.Tensor> = {};
        for (const [name, t] of Object.entries(variants())) {
          const attrs = crossEntropyAttrs(t);
          const [xT, yT, wT] = t.inputs as [C.Tensor, C.Tensor, C.Tensor | undefined];
          out[`d_${name}`] = C.crossEntropyBackward(xT, yT, input("g", reduction === "none" ? [rows] : []), attrs, wT);
          out[`f_${name}`] = t;
        }
        // a backward with no forward in the graph recomputes the LSE
        out["alone"] = C.crossEntropyBackward(input("x2", [rows, classes]), target(), input("g", reduction === "none" ? [rows] : []), crossEntropyAttrs(C.crossEntropy(logits(), target(), { reduction, labelSmoothing: 0.1 })));
        return out;
      },
      feeds: () => ({ ...feeds(), x2: randomF32([rows, classes], 4) }),
      tol: LOGS,
    },
    {
      name: `nll_loss and its backward, reduction=${reduction}`,
      outputs: () => {
        const lp = C.logSoftmax(logits(), 1);
        const nll = C.nllLoss(lp, target(), { reduction, weight: weight() });
        const plainNll = C.nllLoss(input("lp", [rows, classes]), input("y5", [rows], "i32"), { reduction, ignoreIndex: 5 });
        return {
          nll,
          plainNll,
          dnll: C.nllLossBackward(input("lp", [rows, classes]), target(), input("g", reduction === "none" ? [rows] : []), nllAttrs(nll), weight()),
          dplain: C.nllLossBackward(input("lp", [rows, classes]), input("y5", [rows], "i32"), input("g", reduction === "none" ? [rows] : []), nllAttrs(plainNll)),
        };
      },
      feeds: () => ({ ...feeds(), lp: randomF32([rows, classes], 3), y5: i32([rows], [0, 10, 5, 2, 5, 3]) }),
      tol: LOGS,
    },
    {
      name: `binary_cross_entropy_with_logits reduction=${reduction}, large |x|`,
      outputs: () => ({ bce: C.binaryCrossEntropyWithLogits(input("z", [3, 13]), C.sigmoid(input("q", [3, 13])), { reduction }) }),
      feeds: () => {
        const z = randomF32([3, 13], 5);
        (z.data as Float32Array).set([100, -100, 30, -30, 0, 1e-8], 0);
        return { z, q: randomF32([3, 13], 3) };
      },
      tol: { rel: 1e-5, abs: 1e-7 },
    },
  ];
};
opCases["cross_entropy"] = [...lossCase("mean").slice(0, 1), ...lossCase("sum").slice(0, 1), ...lossCase("none").slice(0, 1)];
opCases["cross_entropy_backward"] = [...lossCase("mean").slice(1, 2), ...lossCase("sum").slice(1, 2), ...lossCase("none").slice(1, 2)];
opCases["nll_loss"] = [...lossCase("mean").slice(2, 3), ...lossCase("sum").slice(2, 3), ...lossCase("none").slice(2, 3)];
opCases["nll_loss_backward"] = [{ name: "see nll_loss (each case includes the backward)", outputs: () => ({ d: C.nllLossBackward(input("lp", [3, 4]), input("y", [3], "i32"), input("g", []), { dim: 1, reduction: "mean", ignoreIndex: -100, weighted: false }) }), feeds: () => ({ lp: randomF32([3, 4]), y: i32([3], [0, 3, 2]), g: f32([], [1]) }), tol: ROWS }];
opCases["binary_cross_entropy_with_logits"] = [...lossCase("mean").slice(3), ...lossCase("sum").slice(3), ...lossCase("none").slice(3)];
opCases["cross_entropy"]?.push({
  name: "class dim 1 of a rank-3 input (strided rows) and class dim 2 of a transposed view, with ignore_index",
  outputs: () => {
    const x = input("x", [2, 5, 3]);
    const t = input("t", [2, 3], "i32");
    const ce = C.crossEntropy(x, t, { labelSmoothing: 0.1 });
    return { ce, ceDim: C.crossEntropy(C.transpose(x, 1, 2), t, { dim: 2, weight: input("w", [5]) }), d: C.crossEntropyBackward(x, t, input("g", []), crossEntropyAttrs(ce)), s: C.softmax(x, 1) };
  },
  feeds: () => ({ x: randomF32([2, 5, 3], 4), t: i32([2, 3], [0, 4, 2, -100, 1, 3]), w: f32([5], [1, 2, 0.5, 0.25, 3]), g: f32([], [1]) }),
  tol: LOGS,
});

describe("WASM back end: cross-entropy forward + backward fusion", () => {
  const lowered = (outputs: Record<string, C.Tensor>) => {
    const graph = graphOf(C.model({ name: "fusion", outputs }));
    const result = lowerGraph(graph, new Map());
    if (result._tag === "Left") throw new Error(C.formatDiagnostics(result.left));
    return { kernels: result.right.kernels, memory: planMemory(result.right, planState([])), buffers: result.right.buffers };
  };
  const attrs = crossEntropyAttrs(C.crossEntropy(C.input("x", [4, 9]), C.input("y", [4], "i32")));

  it("fuses a loss with its gradient, and refuses when the upstream gradient is computed in between", () => {
    const x = C.input("x", [4, 9]);
    const y = C.input("y", [4], "i32");
    const ce = C.crossEntropy(x, y);
    const simple = lowered({ ce, d: C.crossEntropyBackward(x, y, C.scalar(1), attrs) });
    expect([...fusableCrossEntropy(simple.kernels, { offsets: simple.memory.offsets, buffers: simple.buffers })]).toEqual([[0, 1]]);
    const dependent = lowered({ ce, d: C.crossEntropyBackward(x, y, C.mul(ce, 2), attrs) });
    expect(dependent.kernels.map((k) => k.kind)).toEqual(["cross_entropy", "map", "cross_entropy_backward"]);
    expect(fusableCrossEntropy(dependent.kernels, { offsets: dependent.memory.offsets, buffers: dependent.buffers }).size).toBe(0);
  });

  const modes = [
    { label: "fused, pipelined rows", fuse: true, pipeline: true },
    { label: "fused, one row at a time", fuse: true, pipeline: false },
    { label: "two kernels (saved LSE)", fuse: false, pipeline: true },
  ];
  for (const reduction of ["mean", "sum", "none"] as const)
    for (const mode of modes)
      it(`reduction=${reduction}, ${mode.label}: every target/weight/smoothing variant agrees`, async () => {
        const cases = opCases["cross_entropy_backward"]?.find((c) => c.name.includes(`reduction=${reduction}`));
        expect(cases).toBeDefined();
        if (cases !== undefined) await checkModel(caseOutputs(cases), cases.feeds(), cases.tol, mode);
      });

  it("pipelined rows: ignored first/last rows, exact-path rows (NaN, ±inf, > 88 apart) between fast rows", async () => {
    const rows = 9;
    const classes = 13;
    const x = randomF32([rows, classes], 3);
    const data = x.data as Float32Array;
    data[2 * classes + 4] = NaN; // row 2: NaN → exact path
    data[3 * classes + 1] = Infinity; // row 3: +inf
    data[4 * classes + 7] = 200; // row 4: 200 above the target logit → exact path
    data[5 * classes + 0] = -Infinity; // row 5: a masked logit, fast path
    const labels = i32([rows], [-100, 3, 4, 1, 2, 6, -100, 12, -100]);
    const w = f32([classes], Array.from({ length: classes }, (_, i) => 0.5 + (i % 3)));
    for (const [eps, weighted] of [[0, false], [0.15, true], [0.1, false]] as const)
      for (const reduction of ["mean", "sum", "none"] as const) {
        const xT = C.input("x", [rows, classes]);
        const yT = C.input("y", [rows], "i32");
        const wT = weighted ? C.input("w", [classes]) : undefined;
        const ce = C.crossEntropy(xT, yT, { reduction, labelSmoothing: eps, ...(wT === undefined ? {} : { weight: wT }) });
        const g = reduction === "none" ? C.input("g", [rows]) : C.input("g", []);
        const outputs = { ce, d: C.crossEntropyBackward(xT, yT, g, crossEntropyAttrs(ce), wT), alone: C.crossEntropyBackward(C.mul(xT, 1.5), yT, g, crossEntropyAttrs(ce), wT) };
        const feeds = { x, y: labels, w, g: reduction === "none" ? randomF32([rows]) : f32([], [1.3]) };
        for (const pipeline of [true, false]) await checkModel(outputs, feeds, LOGS, { pipeline });
      }
  });

  it("row lengths around the SIMD and unroll boundaries (1–4, 15–17 classes) and rows too long to pipeline (300000 classes)", async () => {
    for (const classes of [1, 2, 3, 4, 15, 16, 17, 300000]) {
      const rows = classes > 1000 ? 2 : 5;
      const x = C.input("x", [rows, classes]);
      const y = C.input("y", [rows], "i32");
      const ce = C.crossEntropy(x, y, { labelSmoothing: classes > 1 ? 0.1 : 0 });
      const outputs = { ce, d: C.crossEntropyBackward(x, y, C.scalar(1), crossEntropyAttrs(ce)), s: C.softmax(x, 1), ls: C.logSoftmax(x, 1), lse: C.logsumexp(x, 1) };
      const labels = Array.from({ length: rows }, (_, i) => (i * 7) % classes);
      await checkModel(outputs, { x: randomF32([rows, classes], 5), y: i32([rows], labels) }, { ce: LOGS, d: LOGS, s: ROWS, ls: LOGS, lse: LOGS });
    }
  });

  it("extreme logits (±3e38 and ±1e4 ties, −inf) agree in every mode: a saved LSE keeps the shift and log Σ apart", async () => {
    const extreme = agreementCases().filter((c) => c.name.startsWith("ce-extreme-"));
    expect(extreme.map((c) => c.name)).toEqual(["ce-extreme-saved", "ce-extreme-fused", "ce-extreme-spatial"]);
    // the saved case really runs two kernels: its upstream gradient is computed between them
    const saved = lowered({ ...extreme[0]?.model.outputs });
    expect(saved.kernels.map((k) => k.kind).filter((kind) => kind.startsWith("cross_entropy"))).toEqual(["cross_entropy", "cross_entropy_backward", "cross_entropy", "cross_entropy_backward"]);
    expect(fusableCrossEntropy(saved.kernels, { offsets: saved.memory.offsets, buffers: saved.buffers }).size).toBe(0);
    for (const testCase of extreme)
      for (const mode of modes) await checkModel({ ...testCase.model.outputs }, hostFeeds(testCase.feeds), { rel: 1e-5, abs: 1e-6, scaled: true }, mode);
  });

  it("a gradient that depends on the loss (computed between the kernels) is still right", async () => {
    const x = C.input("x", [5, 11]);
    const y = C.input("y", [5], "i32");
    const ce = C.crossEntropy(x, y, { labelSmoothing: 0.1 });
    await checkModel({ ce, d: C.crossEntropyBackward(x, y, C.mul(ce, 2), crossEntropyAttrs(ce)) }, { x: randomF32([5, 11], 4), y: i32([5], [0, 3, 10, 2, 2]) }, LOGS);
  });

  it("logits near 1000 keep the loss and gradient precise (no cancellation against the LSE)", async () => {
    const x = C.input("x", [6, 37]);
    const y = C.input("y", [6], "i32");
    const feeds = { x: f32([6, 37], Array.from({ length: 6 * 37 }, (_, i) => 1000 + ((i * 7919) % 97) / 10 + (i % 37 === 5 ? 30 : 0))), y: i32([6], [5, 5, 0, 36, 5, 12]) };
    const ce = C.crossEntropy(x, y, { reduction: "none" });
    for (const fuse of [true, false]) await checkModel({ ce, d: C.crossEntropyBackward(x, y, C.full([6], 1), crossEntropyAttrs(ce)), lse: C.logsumexp(x, 1) }, feeds, { ce: LOGS, d: LOGS, lse: { rel: 1e-6, abs: 0 } }, { fuse });
  });
});

// data movement: views (slice), index maps (pad, flip, embedding, arange) inside map kernels, the
// composites over them (concat, tril/triu), the scatter-add of embedding's gradient; exact copies
{
  const m = () => input("m", [3, 4, 5]);
  const mFeed = () => ({ m: randomF32([3, 4, 5]) });
  opCases["slice"] = [
    { name: "steps, negative bounds, an empty slice, a slice of a transposed view", outputs: () => ({ a: C.slice(m(), 2, -4, 5, 2), b: C.slice(C.transpose(m(), 0, 2), [{ dim: 0, start: 1 }, { dim: 2, step: 3 }]), e: C.slice(m(), 1, 3, 1), c: C.exp(C.slice(m(), 0, 1, 2)) }), feeds: mFeed, tol: { rel: 5e-7, abs: 0 } },
  ];
  opCases["pad"] = [
    { name: "constant, reflect, replicate, interior, of i32 and of an expression", outputs: () => ({ c: C.pad(m(), [1, 2, 3, 0], { value: -7 }), r: C.pad(m(), [4, 4, 1, 2], { mode: "reflect" }), p: C.pad(C.tanh(m()), [5, 0, 0, 0, 2, 2], { mode: "replicate" }), i: C.padDims(m(), [0, 1, 0], [2, 0, 1], { interior: [2, 1, 0] }), n: C.pad(input("n", [9], "i32"), [3, 1], { value: 5 }) }), feeds: () => ({ ...mFeed(), n: i32([9], [1, 2, 3, 4, 5, 6, 7, 8, 9]) }), tol: { m: EXACT, c: EXACT, r: EXACT, p: { rel: 5e-7, abs: 0 }, i: EXACT, n: EXACT } },
  ];
  opCases["flip"] = [{ name: "several dims, of a transposed view", outputs: () => ({ f: C.flip(m(), [0, 2]), t: C.flip(C.transpose(m(), 1, 2), 1) }), feeds: mFeed, tol: EXACT }];
  opCases["arange"] = [{ name: "i32 and f32 ranges, broadcast into a kernel", outputs: () => ({ i: C.arange(3, -8, -2), f: C.arange(0, 1, 0.125), s: C.add(m(), C.arange(0, 5, 1, "f32")) }), feeds: mFeed, tol: EXACT }];
  opCases["concat"] = [{ name: "three inputs along each dim, stack", outputs: () => ({ d0: C.concat([m(), C.neg(m()), C.slice(m(), 0, 2)], 0), d2: C.concat([C.slice(m(), 2, 0, 1), m()], 2), s: C.stack([m(), C.exp(m())], 1) }), feeds: mFeed, tol: { rel: 5e-7, abs: 0 } }];
  opCases["tril"] = [{ name: "diagonals −1, 0, 2", outputs: () => ({ a: C.tril(m(), -1), b: C.tril(m()), c: C.tril(m(), 2) }), feeds: mFeed, tol: EXACT }];
  opCases["triu"] = [{ name: "diagonals −2, 0, 1", outputs: () => ({ a: C.triu(m(), -2), b: C.triu(m()), c: C.triu(m(), 1) }), feeds: mFeed, tol: EXACT }];
  opCases["embedding"] = [
    { name: "rows of a table and of a computed table", outputs: () => ({ e: C.embedding(input("i", [2, 3], "i32"), input("w", [5, 4])), t: C.embedding(input("i", [2, 3], "i32"), C.transpose(input("v", [4, 5]), 0, 1)) }), feeds: () => ({ i: i32([2, 3], [0, 4, 2, 2, 1, 4]), w: randomF32([5, 4]), v: randomF32([4, 5]) }), tol: EXACT },
  ];
  opCases["embedding_backward"] = [
    { name: "repeated rows add up", outputs: () => ({ g: C.embeddingBackward(input("i", [2, 3], "i32"), input("d", [2, 3, 4]), 5) }), feeds: () => ({ i: i32([2, 3], [0, 4, 2, 2, 1, 4]), d: randomF32([2, 3, 4]) }), tol: { rel: 5e-7, abs: 1e-7 } },
  ];
}

describe("WASM back end: every op of the op table agrees with the f32 reference", () => {
  it("has cases for every op of the table", () => {
    expect(opNames.filter((op) => (opCases[op] ?? []).length === 0)).toEqual([]);
  });
  for (const op of opNames)
    for (const testCase of opCases[op] ?? [])
      it(`${op}: ${testCase.name}`, async () => {
        await checkModel(caseOutputs(testCase), testCase.feeds(), testCase.tol);
      });
});

describe("WASM back end: shared agreement cases (backend-cases.ts)", () => {
  for (const testCase of agreementCases())
    it(`${testCase.name} matches the reference interpreter`, async () => {
      const graph = graphOf(testCase.model);
      const session = await single(graph);
      const params = Object.fromEntries(Object.entries(session.getState()).map(([k, v]) => [k, { shape: [...v.shape], dtype: v.dtype, data: Float64Array.from(v.data) }]));
      const reference = C.run(graph, testCase.feeds, params, { precision: "f32" });
      const outputs = session.run("f", hostFeeds(testCase.feeds));
      for (const [name, expected] of Object.entries(reference)) expectAgree(outputs[name]?.data, expected.data, { rel: 1e-5, abs: 1e-6, scaled: true }, `${testCase.name}.${name}`);
    });
});

// ----- random graphs ---------------------------------------------------------------------------------

type Node = { readonly tensor: C.Tensor; readonly shape: readonly number[] };

/** Random broadcast graphs: leaves are inputs (some transposed or unit-reshaped views) of shapes broadcastable to `out`. */
const randomGraph = (outShape: readonly number[], steps: ReadonlyArray<readonly [number, number, number]>, exactOnly: boolean) => {
  const feeds: Record<string, HostTensor> = {};
  let leafCount = 0;
  const leaf = (pick: number): Node => {
    const rank = pick % (outShape.length + 1);
    const shape = outShape.slice(outShape.length - rank).map((d, i) => ((pick >> (i + 2)) & 1 ? 1 : d));
    const name = `x${leafCount++}`;
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.length >= 2 && (pick & 64) !== 0) {
      // stored transposed: a strided view
      const stored = [...shape].reverse();
      feeds[name] = randomF32(stored, 2);
      return { tensor: C.permute(C.input(name, stored), stored.map((_, i) => stored.length - 1 - i)), shape };
    }
    feeds[name] = randomF32(shape, 2);
    void size;
    return { tensor: C.input(name, shape), shape };
  };
  const pool: Node[] = [leaf(7), leaf(3)];
  const binary = exactOnly ? (["add", "sub", "mul", "maximum", "minimum", "divsafe", "where"] as const) : (["add", "sub", "mul", "maximum", "minimum", "where"] as const);
  const unary = exactOnly ? (["neg", "abs", "relu", "sqrtabs", "sign"] as const) : (["neg", "relu", "tanh", "sigmoid", "exptanh", "logsig"] as const);
  for (const [kind, a, c] of steps) {
    const lhs = pool[a % pool.length] as Node;
    const rhs = c % 3 === 0 ? leaf(c) : (pool[c % pool.length] as Node);
    if (kind % 3 === 0) {
      const op = unary[kind % unary.length] ?? "neg";
      const t = lhs.tensor;
      const out = op === "sqrtabs" ? C.sqrt(C.abs(t)) : op === "exptanh" ? C.exp(C.tanh(t)) : op === "logsig" ? C.logSigmoid(t) : C[op](t);
      pool.push({ tensor: out, shape: lhs.shape });
    } else {
      const op = binary[kind % binary.length] ?? "add";
      const rank = Math.max(lhs.shape.length, rhs.shape.length);
      const shape = Array.from({ length: rank }, (_, i) => Math.max(lhs.shape[lhs.shape.length - rank + i] ?? 1, rhs.shape[rhs.shape.length - rank + i] ?? 1));
      const out = op === "divsafe" ? C.div(lhs.tensor, C.add(C.abs(rhs.tensor), 1)) : op === "where" ? C.where(C.gt(lhs.tensor, rhs.tensor), rhs.tensor, C.neg(lhs.tensor)) : C[op](lhs.tensor, rhs.tensor);
      pool.push({ tensor: out, shape });
    }
  }
  const last = pool[pool.length - 1] as Node;
  const full = C.add(last.tensor, C.mul(C.input("zero", outShape), 0));
  feeds["zero"] = f32(outShape, new Array<number>(outShape.reduce((x, y) => x * y, 1)).fill(0));
  return { outputs: { out: full, again: C.mul(last.tensor, pool.length > 3 ? (pool[2] as Node).tensor : 1) }, feeds };
};

describe("WASM back end: random elementwise/broadcast graphs (fast-check)", () => {
  const shapeArb = fc.array(fc.constantFrom(1, 2, 3, 4, 5, 7, 9), { minLength: 0, maxLength: 3 });
  const stepsArb = fc.array(fc.tuple(fc.nat(20), fc.nat(20), fc.nat(200)), { minLength: 1, maxLength: 7 });
  it("exactly rounded ops (add, sub, mul, div, min/max, where, neg, abs, relu, sqrt, sign) are bit-identical", async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, stepsArb, async (shape, steps) => {
        const { outputs, feeds } = randomGraph(shape, steps, true);
        await checkModel(outputs, feeds, EXACT);
      }),
      { seed: 20240601, numRuns: 80 },
    );
  });
  it("with transcendental ops (exp, tanh, sigmoid, log_sigmoid) within rel 1e-5 (abs 1e-6)", async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, stepsArb, async (shape, steps) => {
        const { outputs, feeds } = randomGraph(shape, steps, false);
        await checkModel(outputs, feeds, { rel: 1e-5, abs: 1e-6 });
      }),
      { seed: 777, numRuns: 60 },
    );
  });
  it("reductions of random graphs (sum/max over random dims) within rel 1e-5", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(1, 2, 3, 5, 8, 9), { minLength: 1, maxLength: 3 }), stepsArb, fc.nat(7), async (shape, steps, dimsMask) => {
        const { outputs, feeds } = randomGraph(shape, steps, true);
        const dims = shape.map((_, i) => i).filter((i) => (dimsMask >> i) & 1);
        const chosen = dims.length === 0 ? [0] : dims;
        const tensor = outputs.out;
        await checkModel({ s: C.sum(tensor, chosen), m: C.max(tensor, chosen, true) }, feeds, { s: { rel: 1e-5, abs: 1e-5 }, m: EXACT });
      }),
      { seed: 99, numRuns: 50 },
    );
  });
});

// ----- training: gradients, state updates, bad feeds ---------------------------------------------------

const mlpGraph = (): Graph => {
  const x = C.input("x", ["batch", 12]);
  const y = C.input("y", ["batch"], "i32");
  const h = C.relu(C.dense(x, 12, 16, "fc1"));
  const h2 = C.tanh(C.dense(h, 16, 8, "fc2"));
  const logits = C.dense(h2, 8, 5, "fc3");
  const loss = C.crossEntropy(logits, y, { labelSmoothing: 0.05 });
  const built = grad(graphOf(C.model({ name: "mlp", outputs: { logits }, loss })));
  if (built._tag === "Left") throw new Error(C.formatDiagnostics(built.left));
  return built.right;
};

describe("WASM back end: training", () => {
  it("an MLP's loss and every parameter gradient agree with the reference", async () => {
    const graph = mlpGraph();
    const session = await single(graph);
    const params = Object.fromEntries(Object.entries(session.getState()).map(([k, v]) => [k, { shape: [...v.shape], dtype: v.dtype, data: Float64Array.from(v.data) }]));
    const feeds: HostFeeds = { x: randomF32([9, 12]), y: i32([9], [0, 1, 2, 3, 4, 0, 1, 2, 3]) };
    const reference = C.run(graph, toNd(feeds), params, { precision: "f32" });
    const actual = session.run("f", feeds);
    expect(Object.keys(reference).filter((k) => k.startsWith("grad:")).length).toBe(6);
    for (const [name, expected] of Object.entries(reference)) expectAgree(actual[name]?.data, expected.data, { rel: 2e-5, abs: 1e-7, scaled: true }, name);
  });

  it("SGD steps update the state in place, across specialisations (batch 9, then 4)", async () => {
    const graph = mlpGraph();
    const names = graph.outputs.filter((o) => o.name.startsWith("grad:")).map((o) => o.name.slice(5));
    // a step graph: new params = p − 0.1·grad
    const tensors = C.tensorsOf(graph);
    const outputs: Record<string, C.Tensor> = { loss: tensors[graph.loss ?? 0] as C.Tensor };
    for (const name of names) {
      const p = tensors[graph.nodes.find((n) => n.op === "param" && n.attrs.name === name)?.id ?? 0] as C.Tensor;
      const g = tensors[graph.outputs.find((o) => o.name === `grad:${name}`)?.id ?? 0] as C.Tensor;
      outputs[`next:${name}`] = C.sub(p, C.mul(g, 0.1));
    }
    const step = graphOf(C.model({ name: "step", outputs }));
    const session = await wasmBackend.createSession({ functions: [{ name: "step", graph: step, updates: names.map((param) => ({ param, output: `next:${param}` })) }] }, { seed: 1 });
    const referenceState: Record<string, NDArray> = Object.fromEntries(Object.entries(session.getState()).map(([k, v]) => [k, { shape: [...v.shape], dtype: v.dtype, data: Float64Array.from(v.data) }]));
    for (const rows of [9, 4, 9]) {
      const feeds: HostFeeds = { x: randomF32([rows, 12]), y: i32([rows], Array.from({ length: rows }, (_, i) => i % 5)) };
      const reference = C.run(step, toNd(feeds), referenceState, { precision: "f32" });
      const result = session.run("step", feeds);
      expectAgree(result["loss"]?.data, reference["loss"]?.data, { rel: 2e-5, abs: 0 }, "loss");
      expect(Object.keys(result)).toEqual(["loss"]);
      for (const name of names) referenceState[name] = { ...(reference[`next:${name}`] as NDArray) };
      const state = session.getState();
      for (const name of names) expectAgree(state[name]?.data, referenceState[name]?.data, { rel: 1e-4, abs: 0, scaled: true }, `state ${name}`);
    }
  });

  it("a bad feed throws a clear error and leaves params and state unchanged", async () => {
    const x = C.input("x", ["batch", 3]);
    const w = C.param("w", [3, 4], C.uniform(-1, 1));
    const y = C.input("y", ["batch"], "i32");
    const logits = C.matmul(x, w);
    const loss = C.crossEntropy(logits, y);
    const graph = graphOf(C.model({ name: "m", outputs: { next: C.sub(w, C.mul(C.sum(logits), 0.01)), loss } }));
    const session = await single(graph, [{ param: "w", output: "next" }]);
    const good: HostFeeds = { x: randomF32([2, 3]), y: i32([2], [0, 3]) };
    session.run("f", good);
    const before = session.getState();
    expect(() => session.run("f", { x: randomF32([2, 4]), y: i32([2], [0, 1]) })).toThrow(/input x: expected shape \[batch,3\], got \[2,4\]/);
    expect(() => session.run("f", { x: randomF32([2, 3]), y: i32([2], [0, 4]) })).toThrow(/label at row 1 is 4/);
    expect(() => session.run("f", { x: randomF32([2, 3]), y: i32([2], [-1, 0]) })).toThrow(/label/);
    expect(() => session.run("f", { x: randomF32([2, 3]) })).toThrow(/missing feed for input y/);
    expect(() => session.run("f", { x: { shape: [2, 3], dtype: "i32", data: new Int32Array(6) }, y: i32([2], [0, 1]) })).toThrow(/dtype/);
    expect(session.getState()).toEqual(before);
    session.run("f", good);
    expect(session.getState()).not.toEqual(before);
  });
});

// ----- diagnostics ---------------------------------------------------------------------------------------

describe("WASM back end: diagnostics, never a silent fallback", () => {
  it("an f64 node is a compile-time GraftError naming the op and the user's line", async () => {
    const graph = graphOf(C.model({ name: "f64", outputs: { y: C.exp(C.input("x", [3], "f64")) } }));
    const attempt = single(graph);
    await expect(attempt).rejects.toThrow(C.GraftError);
    await expect(single(graph)).rejects.toThrow(/wasm-backend\.test\.ts:\d+:\d+.*input produces f64|exp produces f64/);
    expect(wasmBackend.supports({ functions: [{ name: "f", graph, updates: [] }] }).length).toBeGreaterThan(0);
  });

  it("a gather index out of range is a run-time GraftError naming gather, and the state is kept", async () => {
    const w = C.param("w", [4, 3], C.uniform(-1, 1));
    const graph = graphOf(C.model({ name: "g", outputs: { g: C.gather(w, 0, C.input("i", [2, 3], "i32")), next: C.mul(w, 2) } }));
    const session = await single(graph, [{ param: "w", output: "next" }]);
    const before = session.getState();
    expect(() => session.run("f", { i: i32([2, 3], [0, 1, 4, 3, 2, 1]) })).toThrow(/gather.*out of range/);
    expect(() => session.run("f", { i: i32([2, 3], [0, 1, -1, 3, 2, 1]) })).toThrow(/gather.*out of range/);
    expect(session.getState()).toEqual(before);
    const ok = session.run("f", { i: i32([2, 3], [0, 1, 3, 3, 2, 1]) });
    expect(ok["g"]?.shape).toEqual([2, 3]);
  });

  it("a computed class target out of range is a run-time GraftError (cross_entropy, its backward, nll_loss)", async () => {
    const z = C.input("z", [3, 4]);
    const x = C.input("x", [3, 5]);
    const target = C.add(C.argmax(z, 1), C.input("k", [3], "i32"));
    const ce = C.crossEntropy(x, target, { reduction: "sum" });
    const variants: Array<Record<string, C.Tensor>> = [{ ce }, { d: C.crossEntropyBackward(x, target, C.scalar(1), crossEntropyAttrs(ce)) }, { ce, d: C.crossEntropyBackward(x, target, C.scalar(1), crossEntropyAttrs(ce)) }, { nll: C.nllLoss(x, target) }];
    for (const outputs of variants) {
      const graph = graphOf(C.model({ name: "targets", outputs }));
      const session = await single(graph);
      const feeds = { z: f32([3, 4], [1, 2, 3, 4, 4, 3, 2, 1, 0, 9, 0, 0]), x: randomF32([3, 5]) };
      expect(() => session.run("f", { ...feeds, k: i32([3], [2, 0, 0]) })).toThrow(/out of range: expected 0 ≤ target < 5/);
      expect(() => session.run("f", { ...feeds, k: i32([3], [-4, 0, 0]) })).toThrow(/out of range/);
      await checkModel(outputs, { ...feeds, k: i32([3], [1, 4, 2]) }, LOGS);
    }
  });

  it("a kernel the generator cannot compile is a compile-time GraftError naming the op and line (no fallback)", async () => {
    await loadWasmToolkit();
    const graph = graphOf(C.model({ name: "neg", outputs: { y: C.exp(C.input("x", [4])) } }));
    const plan = planFunction({ name: "f", graph, updates: [] }, new Map(), programState({ functions: [{ name: "f", graph, updates: [] }] }));
    if (plan._tag === "Left") throw new Error("plan");
    const kernel = plan.right.lowered.kernels[0];
    if (kernel?.kind !== "map" || kernel.expr.kind !== "unary" || kernel.expr.arg.kind !== "read") throw new Error("unexpected schedule");
    // a hand-made schedule with a negative stride, which no lowering produces
    const read = kernel.expr.arg;
    const broken = { ...plan.right, lowered: { ...plan.right.lowered, kernels: [{ ...kernel, expr: { ...kernel.expr, arg: { ...read, access: { ...read.access, offset: 3, strides: [-1] } } } }] } };
    const generator = createWasmGenerator({ graphOf: () => graph });
    expect(() => generator.compile(broken)).toThrow(C.GraftError);
    expect(() => generator.compile(broken)).toThrow(/wasm-backend\.test\.ts:\d+:\d+ wasm: exp \(node %1\): a strided read with negative stride/);
  });

  it("asking for an unsupported number of threads is refused clearly (not silently run on fewer)", async () => {
    const graph = graphOf(C.model({ name: "t", outputs: { y: C.exp(C.input("x", [4])) } }));
    for (const threads of [0, 3, 1.5])
      await expect(wasmBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { threads })).rejects.toThrow(new RegExp(`threads = ${threads} is not supported; the WASM back end runs on 1 thread or 2`));
    await expect(wasmBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { threads: 1 })).resolves.toBeDefined();
    // From untyped JS (issue 16, item 18): a string is not the number it spells.
    const untyped = { threads: "2" } as unknown as { threads: number };
    await expect(wasmBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, untyped)).rejects.toThrow('wasm: threads must be the number 1 or 2, got the string "2"');
    const booleanThreads = { threads: true } as unknown as { threads: number };
    await expect(wasmBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, booleanThreads)).rejects.toThrow("wasm: threads must be the number 1 or 2, got a boolean");
  });

  it("two sessions keep separate memories", async () => {
    const graph = graphOf(C.model({ name: "two", outputs: { y: C.mul(C.param("w", [5], C.uniform(-1, 1)), C.input("x", [5])) } }));
    const a = await single(graph);
    const b = await wasmBackend.createSession({ functions: [{ name: "f", graph, updates: [] }] }, { seed: 99 });
    const x = f32([5], [1, 1, 1, 1, 1]);
    expect(Array.from(a.run("f", { x })["y"]?.data ?? [])).toEqual(Array.from(a.getState()["w"]?.data ?? []));
    expect(Array.from(b.run("f", { x })["y"]?.data ?? [])).toEqual(Array.from(b.getState()["w"]?.data ?? []));
    expect(a.getState()["w"]?.data).not.toEqual(b.getState()["w"]?.data);
  });
});
