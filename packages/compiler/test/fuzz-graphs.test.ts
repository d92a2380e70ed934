/**
 * @file Issue 16: a fuzzer over random graphs built from every public op of @graft/core with
 * random, often wrong, shapes, dtypes and arguments (untyped JS calls included). Properties:
 *
 * - building never throws and always gives a tensor;
 * - `check` (and the checking passes) returns diagnostics and never throws, never an `internal` one;
 * - compiling a checked graph on the js and wasm back ends gives a session or diagnostics
 *   (GraftError), never anything else; running it throws only GraftError/FeedError/WeightsError;
 * - on well-formed feeds, js and wasm give the same results (NaN = NaN, finite values within
 *   1e-3 of the larger magnitude, at least 1), state updates included;
 * - a compiled bundle loads and runs, throwing only FeedError/WeightsError;
 * - models of layers whose shapes fit (fuzz-layers.ts: convolutions, pooling, norms, dropout in
 *   evaluation and training, slice/pad/concat/flip/tril, embedding, attention) give the
 *   reference's results on js and wasm — forward, evaluate, an SGD trainStep (state updates
 *   included) and forward again — and in bundles; every layer kind must appear in a minimum share
 *   of them (`GRAFT_FUZZ_LAYER_RUNS`, default 120, `GRAFT_FUZZ_LAYER_BUNDLES`, default 8).
 *
 * The DSL functions are found by probing the exports of @graft/core, so new ops join by
 * themselves. Seeded; `GRAFT_FUZZ_RUNS` (default 1400) and `GRAFT_FUZZ_BUNDLES` (default 12) set
 * the number of cases, `GRAFT_FUZZ_SEED` the seed.
 */
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { encodeSafetensors, FeedError, WeightsError } from "@graft/runtime";
import { getBackend } from "../src/backend/index.js";
import type { HostFeeds, HostTensor, Session } from "../src/backend/types.js";
import { bundleProgram, compileBundle } from "../src/bundle/index.js";
import { checkedPrefix, pipeline, runPipeline } from "../src/passes/index.js";
import { toSafetensors } from "../src/toolkit/train/checkpoint.js";
import { buildLayerCase, layerCaseArb, layerFeeds, LAYER_TAGS, type LayerCase, type LayerTag } from "./fuzz-layers.js";

const RUNS = Number(process.env["GRAFT_FUZZ_RUNS"] ?? 1400);
const BUNDLES = Number(process.env["GRAFT_FUZZ_BUNDLES"] ?? 12);
const SEED = Number(process.env["GRAFT_FUZZ_SEED"] ?? 16);
const LAYER_RUNS = Number(process.env["GRAFT_FUZZ_LAYER_RUNS"] ?? 120);
const LAYER_BUNDLES = Number(process.env["GRAFT_FUZZ_LAYER_BUNDLES"] ?? 8);
/** The least share of the layer cases compared on every back end that must hold each layer kind. */
const MIN_LAYER_SHARE = 0.03;
/** Small, so that random huge shapes meet the memory limit instead of the machine's. */
const MAX_MEMORY = 32 * 1024 * 1024;

type DslFunction = (...args: unknown[]) => unknown;

/** Every export of @graft/core that returns a tensor when called (with tensors): the DSL's ops. */
const dslFunctions: ReadonlyArray<readonly [string, DslFunction]> = (() => {
  const probe = C.input("probe", [2, 3]);
  return Object.entries(C)
    .filter((entry): entry is [string, DslFunction] => typeof entry[1] === "function" && entry[0] !== "Tensor" && entry[0] !== "GraftError")
    .filter(([, fn]) => {
      try {
        // a new tensor: helpers that hand back their argument (constantValue) are not ops
        const made = fn(probe, probe, probe);
        return made instanceof C.Tensor && made !== probe;
      } catch {
        return false;
      }
    })
    .sort(([a], [b]) => (a < b ? -1 : 1));
})();

// ----- random calls ---------------------------------------------------------------------------

/** An argument: a tensor of the pool (by index), or a JS value of any kind. */
type Arg = { readonly tensor: number } | { readonly typed: number } | { readonly tensors: readonly number[] } | { readonly value: unknown } | { readonly options: Readonly<Record<string, unknown>> };

const NAMES = ["x", "y", "w", "b", "p", "a*/b", "n\n${x}\"'`", ""];
const dimArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 3, arbitrary: fc.constantFrom<C.Dim>("batch", "n") },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(-1, Number.NaN, 2.5, 1e9, 2 ** 31, "a b", undefined, null) },
);
const shapeArb = fc.array(dimArb, { maxLength: 4 });
const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3, max: 4 }) },
  { weight: 1, arbitrary: fc.double({ noDefaultInfinity: false }) },
  { weight: 3, arbitrary: shapeArb },
  { weight: 2, arbitrary: fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 3 }) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>("f32", "i32", "bool", "f64", "f16", "mean", "sum", "none", ...NAMES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(undefined, null, true, false, Number.NaN, Infinity, {}, [], [[1, 2], [3]], [[1, 2], [3, 4]], C.zeros, C.uniform(-1, 1), C.kaimingUniform(3), C.xavierUniform(), C.kaimingNormal(), C.orthogonal(), { kind: "bogus" }, { kind: "xavier", distribution: "x", gain: 1 }, C.constantInit(Number.NaN)),
  },
);
const optionsArb = fc.record(
  {
    reduction: fc.constantFrom<unknown>("mean", "sum", "none", "max", undefined),
    ignoreIndex: fc.constantFrom<unknown>(-100, 0, 1, 2.5, "0);throw 1;(", undefined),
    labelSmoothing: fc.constantFrom<unknown>(0, 0.1, 1, 2, Number.NaN, "0.1", undefined),
    dim: fc.constantFrom<unknown>(0, 1, -1, 3, undefined),
    weight: fc.nat(),
    bias: fc.boolean(),
  },
  { requiredKeys: [] },
);
/** Attribute records, for `makeTensor(op, attrs, inputs)` with op names of the table. */
const attrsArb = fc.record(
  {
    dims: fc.array(fc.integer({ min: -2, max: 3 }), { maxLength: 3 }),
    dim: fc.integer({ min: -2, max: 3 }),
    keepdim: fc.constantFrom<unknown>(true, false, "yes"),
    shape: shapeArb,
    perm: fc.array(fc.integer({ min: -1, max: 3 }), { maxLength: 4 }),
    numClasses: fc.constantFrom<unknown>(0, 1, 3, -1, 2.5),
    dtype: fc.constantFrom<unknown>("f32", "i32", "bool", "f64", "x"),
    value: fc.array(fc.double(), { maxLength: 4 }),
    reduction: fc.constantFrom<unknown>("mean", "sum", "none", "max"),
    ignoreIndex: fc.constantFrom<unknown>(-100, 0, "1"),
    labelSmoothing: fc.constantFrom<unknown>(0, 0.2, 3),
    target: fc.constantFrom<unknown>("index", "prob", "other"),
    weighted: fc.boolean(),
    name: fc.constantFrom(...NAMES),
    init: fc.constantFrom<unknown>(C.zeros, C.ones, { kind: "x" }),
  },
  { requiredKeys: [] },
);

const argArb: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...C.opNames).map((value) => ({ value })) },
  { weight: 1, arbitrary: attrsArb.map((value) => ({ value })) },
  { weight: 5, arbitrary: fc.nat().map((tensor) => ({ tensor })) },
  { weight: 6, arbitrary: fc.nat().map((typed) => ({ typed })) },
  // lists of tensors (concat, stack)
  { weight: 1, arbitrary: fc.array(fc.nat(), { maxLength: 3 }).map((tensors) => ({ tensors })) },
  { weight: 4, arbitrary: valueArb.map((value) => ({ value })) },
  { weight: 1, arbitrary: optionsArb.map((options) => ({ options })) },
);
const callArb = fc.record({ fn: fc.nat(), args: fc.array(argArb, { maxLength: 5 }) });
const caseArb = fc.record({
  calls: fc.array(callArb, { minLength: 1, maxLength: 10 }),
  outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  /** Outputs taken among the well-typed tensors only (so that many graphs check and reach the back ends). */
  wellTyped: fc.boolean(),
  loss: fc.option(fc.nat(), { nil: undefined }),
  train: fc.constantFrom(undefined, undefined, "sgd:lr=0.1", "adam:lr=1e-3"),
  feedSeed: fc.nat(),
  wrongFeed: fc.nat({ max: 9 }),
});
type FuzzCase = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

/** Well-typed leaves every case starts from, so that some random graphs check. */
const seedPool = (): C.Tensor[] => [
  C.input("x", ["batch", 3]),
  C.input("y", ["batch"], "i32"),
  C.param("w", [3, 3], C.uniform(-1, 1)),
  C.param("b", [3]),
  C.input("m", [2, 3]),
  C.scalar(2),
  // images, sequences and conv weights, so that conv, pooling and norms meet inputs they take
  C.input("img", ["batch", 2, 5, 4]),
  C.input("seq", [2, 3, 6]),
  C.param("k", [3, 2, 2, 2], C.kaimingUniform(2)),
];

const pick = (pool: readonly C.Tensor[], index: number): C.Tensor => pool[index % pool.length] as C.Tensor;

const resolve = (arg: Arg, pool: readonly C.Tensor[]): unknown => {
  if ("tensor" in arg) return pick(pool, arg.tensor);
  if ("tensors" in arg) {
    const typed = pool.filter((tensor) => tensor.type !== undefined);
    return arg.tensors.map((index) => pick(typed.length > 0 ? typed.slice(-3) : pool, index));
  }
  if ("typed" in arg) {
    // a well-typed tensor, preferring recent ones (deeper graphs)
    const typed = pool.filter((tensor) => tensor.type !== undefined);
    return pick(typed.length > 0 ? typed.slice(-4 - (arg.typed % 8)) : pool, arg.typed);
  }
  if ("value" in arg) return arg.value;
  const { weight, ...rest } = arg.options;
  return typeof weight === "number" && weight % 3 === 0 ? { ...rest, weight: pick(pool, weight) } : rest;
};

const opsSeen = new Set<string>();
/** Ops of graphs that checked (and so reached the back ends). */
const opsChecked = new Set<string>();
const stats = { cases: 0, checked: 0, sessions: 0, runs: 0, compared: 0, memoryRefused: 0, bundles: 0 };

/** Builds a case's tensors; every call must return a tensor without throwing. */
const build = (fuzz: FuzzCase): { readonly pool: C.Tensor[]; readonly model: C.Model } => {
  const pool = seedPool();
  for (const call of fuzz.calls) {
    const [name, fn] = dslFunctions[call.fn % dslFunctions.length] as readonly [string, DslFunction];
    const args = call.args.map((arg) => resolve(arg, pool));
    let made: unknown;
    try {
      made = fn(...args);
    } catch (thrown) {
      throw new Error(`${name}(${args.map((a) => C.describeValue(a)).join(", ")}) threw: ${thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown)}`);
    }
    if (!(made instanceof C.Tensor)) throw new Error(`${name}(${args.map((a) => C.describeValue(a)).join(", ")}) returned ${C.describeValue(made)}`);
    pool.push(made);
  }
  const typed = pool.filter((tensor) => tensor.type !== undefined);
  const from = fuzz.wellTyped && typed.length > 0 ? typed : pool;
  const outputs = Object.fromEntries(fuzz.outputs.map((index, i) => [`o${i}`, pick(from, index)]));
  const loss = fuzz.loss === undefined ? undefined : pick(from, fuzz.loss);
  return { pool, model: C.model({ name: "fuzz", outputs, ...(loss === undefined ? {} : { loss }) }) };
};

/**
 * Feeds for every input of `graph`: symbolic dims bound (batch 2, others 3); `wrong` 0 gives a
 * wrong length, 1 wrong array types, 2 a missing feed, 3 an unknown one, others right feeds.
 */
const feedsFor = (graph: C.Graph, seed: number, wrong: number): HostFeeds => {
  const feeds = rightFeeds(graph, seed, wrong === 0);
  const names = Object.keys(feeds);
  const first = names[0];
  if (wrong === 1 && first !== undefined) {
    const feed = feeds[first] as HostTensor;
    return { ...feeds, [first]: { ...feed, data: feed.data instanceof Float32Array ? Int32Array.from(feed.data) : Float32Array.from(feed.data) } };
  }
  if (wrong === 2 && first !== undefined) return Object.fromEntries(names.slice(1).map((name) => [name, feeds[name] as HostTensor]));
  if (wrong === 3) return { ...feeds, stranger: { shape: [1], dtype: "f32", data: new Float32Array(1) } };
  return feeds;
};

const rightFeeds = (graph: C.Graph, seed: number, wrong: boolean): HostFeeds => {
  const random = C.mulberry32(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const node of C.graphInputs(graph)) {
    const shape = node.type.shape.map((dim) => (typeof dim === "number" ? dim : dim === "batch" ? 2 : 3));
    const size = shape.reduce((a, b) => a * b, 1) + (wrong && random() < 0.5 ? 1 : 0);
    const dtype = node.type.dtype;
    const value = (): number => (dtype === "bool" ? (random() < 0.5 ? 0 : 1) : dtype === "i32" ? Math.floor(random() * 4) - (random() < 0.05 ? 1 : 0) : random() < 0.05 ? [Number.NaN, Infinity, -Infinity, 3e38][Math.floor(random() * 4)] ?? 0 : random() * 4 - 2);
    const values = Array.from({ length: size }, value);
    const data = dtype === "i32" ? Int32Array.from(values) : dtype === "bool" ? Uint8Array.from(values) : dtype === "f64" ? Float64Array.from(values) : Float32Array.from(values);
    feeds[node.attrs.name] = { shape, dtype, data };
  }
  return feeds;
};

/**
 * Where two back ends' results of one function differ (undefined when they agree): NaN equals
 * NaN, ±inf must match, finite values within 1e-3 of the larger magnitude (at least 1).
 */
const disagreement = (js: Readonly<Record<string, HostTensor>>, wasm: Readonly<Record<string, HostTensor>>): string | undefined => {
  for (const [name, expected] of Object.entries(js)) {
    const actual = wasm[name];
    if (actual === undefined) return `${name}: missing on wasm`;
    if (actual.data.length !== expected.data.length) return `${name}: ${actual.data.length} values on wasm, ${expected.data.length} on js`;
    for (let i = 0; i < expected.data.length; i++) {
      const a = Number(actual.data[i]);
      const e = Number(expected.data[i]);
      if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
      if (Number.isFinite(a) && Number.isFinite(e) && Math.abs(a - e) <= 1e-3 * Math.max(1, Math.abs(a), Math.abs(e))) continue;
      return `${name}[${i}]: js ${e}, wasm ${a}`;
    }
  }
  return undefined;
};

const allowedAtRun = (thrown: unknown): boolean => thrown instanceof C.GraftError || thrown instanceof FeedError || thrown instanceof WeightsError;

const describeThrown = (thrown: unknown): string => (thrown instanceof Error ? `${thrown.name}: ${thrown.stack ?? thrown.message}` : String(thrown));

/** Checks, then compiles and runs on js and wasm; returns the checked graph when there is one. */
const checkCompileRun = async (fuzz: FuzzCase): Promise<C.Graph | undefined> => {
  const { pool, model } = build(fuzz);
  for (const tensor of pool) opsSeen.add(tensor.op);
  stats.cases++;
  const checked = C.check(model);
  if (E.isLeft(checked)) {
    for (const d of checked.left) {
      expect(d.message.length).toBeGreaterThan(0);
      expect(d.code).not.toBe("internal");
    }
    return undefined;
  }
  const passes = runPipeline(checked.right, checkedPrefix(pipeline));
  if (E.isLeft(passes)) {
    expect(passes.left.filter((d) => d.code === "internal")).toEqual([]);
    return undefined;
  }
  stats.checked++;
  for (const node of checked.right.nodes) opsChecked.add(node.op);
  expect(C.printGraph(checked.right).length).toBeGreaterThan(0);
  // the whole pipeline (fuse, grad when there is a loss) reports, never crashes
  const full = runPipeline(passes.right.graph, pipeline);
  if (E.isLeft(full)) expect(full.left.filter((d) => d.code === "internal")).toEqual([]);
  const program = bundleProgram(model, { train: fuzz.train });
  if (E.isLeft(program)) {
    expect(program.left.filter((d) => d.code === "internal")).toEqual([]);
    return undefined;
  }
  // results on well-formed feeds, per back end and function: js and wasm must agree
  const results = { js: new Map<string, Record<string, HostTensor>>(), wasm: new Map<string, Record<string, HostTensor>>() };
  for (const name of ["js", "wasm"] as const) {
    const backend = await getBackend(name);
    let session: Session;
    try {
      session = await backend.createSession(program.right.spec, { maxMemory: MAX_MEMORY });
    } catch (thrown) {
      if (!(thrown instanceof C.GraftError)) throw new Error(`${name}: createSession threw ${describeThrown(thrown)}`);
      continue;
    }
    stats.sessions++;
    try {
      for (const fn of program.right.spec.functions) {
        const feeds = feedsFor(fn.graph, fuzz.feedSeed, fuzz.wrongFeed);
        try {
          const outputs = session.run(fn.name, feeds);
          if (fuzz.wrongFeed >= 4) results[name].set(fn.name, outputs);
          stats.runs++;
        } catch (thrown) {
          if (!allowedAtRun(thrown)) throw new Error(`${name}: ${fn.name} threw ${describeThrown(thrown)}\n${C.printGraph(fn.graph)}`);
          if (thrown instanceof C.GraftError && thrown.diagnostics.some((d) => d.code === "memory")) stats.memoryRefused++;
        }
      }
    } finally {
      session.dispose();
    }
  }
  // functions run in the same order from the same initial state, so state updates agree too
  for (const fn of program.right.spec.functions) {
    const js = results.js.get(fn.name);
    const wasm = results.wasm.get(fn.name);
    if (js === undefined || wasm === undefined) continue;
    stats.compared++;
    const where = disagreement(js, wasm);
    if (where !== undefined) {
      const feeds = feedsFor(fn.graph, fuzz.feedSeed, fuzz.wrongFeed);
      const shown = Object.entries(feeds).map(([input, feed]) => `${input} [${feed.shape.join(",")}] = ${Array.from(feed.data).join(", ")}`);
      throw new Error(`js and wasm disagree on ${fn.name}, ${where}\n${C.printGraph(fn.graph)}\nfeeds:\n${shown.join("\n")}`);
    }
  }
  return checked.right;
};

/** Compiles a bundle, imports it and runs `forward`: only FeedError/WeightsError may escape. */
const bundleRoundTrip = async (fuzz: FuzzCase, backend: "js" | "wasm"): Promise<void> => {
  const { model } = build(fuzz);
  const graph = C.check(model);
  if (E.isLeft(graph)) return;
  // sizes for the symbolic dims of the inputs: two batch sizes, and n = 3
  const symbols = new Set(C.graphInputs(graph.right).flatMap((node) => C.symbolsOf(node.type.shape)));
  const batches = symbols.has("batch") ? [1, 3] : undefined;
  const dims = Object.fromEntries([...symbols].filter((symbol) => symbol !== "batch").map((symbol) => [symbol, 3]));
  let compiled: Awaited<ReturnType<typeof compileBundle>>;
  try {
    compiled = await compileBundle(model, { backend, train: fuzz.train, maxMemory: MAX_MEMORY, batches, dims });
  } catch (thrown) {
    throw new Error(`compileBundle (${backend}) threw ${describeThrown(thrown)}`);
  }
  if (E.isLeft(compiled)) {
    expect(compiled.left.filter((d) => d.code === "internal")).toEqual([]);
    return;
  }
  stats.bundles++;
  const url = `data:text/javascript;base64,${Buffer.from(compiled.right.code).toString("base64")}`;
  type TensorInfo = { readonly name: string; readonly dtype: string; readonly dims: readonly (string | number)[] };
  type Loaded = { readonly info: { readonly functions: Record<string, { readonly inputs: readonly TensorInfo[] }> } } & Record<string, unknown>;
  const bundle = (await import(url)) as { load: () => Promise<Loaded> };
  const loaded = await bundle.load();
  const random = C.mulberry32(fuzz.feedSeed);
  // every function, at the second batch size (3), with feeds right or (wrongFeed 0) one element long
  for (const [name, fn] of Object.entries(loaded.info.functions)) {
    const feeds = Object.fromEntries(
      fn.inputs.map((input) => {
        const size = input.dims.reduce<number>((a, d) => a * (typeof d === "number" ? d : 3), 1) + (fuzz.wrongFeed === 0 ? 1 : 0);
        const values = Array.from({ length: size }, () => (input.dtype === "f32" ? random() * 4 - 2 : Math.floor(random() * 3)));
        return [input.name, input.dtype === "f32" ? Float32Array.from(values) : input.dtype === "i32" ? Int32Array.from(values) : Uint8Array.from(values)];
      }),
    );
    const call = loaded[name];
    if (typeof call !== "function") throw new Error(`bundle (${backend}) has no method ${name}`);
    try {
      (call as (feeds: object) => unknown)(feeds);
    } catch (thrown) {
      const kind = thrown instanceof Error ? thrown.name : "";
      if (kind !== "FeedError" && kind !== "WeightsError") throw new Error(`bundle (${backend}) ${name} threw ${describeThrown(thrown)}`);
    }
  }
};

// ----- layer models: every back end against the reference -------------------------------------

/** Layer cases compared on every back end, per layer kind. */
const layerCoverage = new Map<LayerTag, number>(LAYER_TAGS.map((tag) => [tag, 0]));
const layerStats = { cases: 0, compared: 0, bundles: 0 };

/**
 * Where a back end's results differ from the reference's (undefined when they agree): NaN equals
 * NaN, ±inf must match, finite values within `tolerance` of the larger magnitude (at least 1).
 */
const offReference = (reference: Readonly<Record<string, HostTensor>>, actual: Readonly<Record<string, ArrayLike<number> | HostTensor>>, tolerance: number): string | undefined => {
  for (const [name, expected] of Object.entries(reference)) {
    const found = actual[name];
    const data = found === undefined ? undefined : "data" in found ? found.data : found;
    if (data === undefined) return `${name}: missing`;
    if (data.length !== expected.data.length) return `${name}: ${data.length} values, the reference has ${expected.data.length}`;
    for (let i = 0; i < expected.data.length; i++) {
      const a = Number(data[i]);
      const e = Number(expected.data[i]);
      if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
      if (Number.isFinite(a) && Number.isFinite(e) && Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(a), Math.abs(e))) continue;
      return `${name}[${i}]: reference ${e}, got ${a}`;
    }
  }
  return undefined;
};

/** Relative tolerance against the float64 reference (f32 kernels; one SGD step amplifies little). */
const LAYER_TOLERANCE = 2e-3;

/** The functions a layer case runs, in order: forward (and evaluate); with training, trainStep then forward again. */
const layerCalls = (functions: readonly string[]): string[] => (functions.includes("trainStep") ? ["forward", "evaluate", "trainStep", "forward"] : functions.filter((name) => name === "forward" || name === "evaluate"));

const describeLayerCase = (model: C.Model, fuzz: LayerCase): string => {
  const graph = C.check(model);
  return `${E.isRight(graph) ? C.printGraph(graph.right) : C.formatDiagnostics(graph.left)}\ncase: ${JSON.stringify(fuzz)}`;
};

/** Builds a layer case, runs it on the reference, js and wasm, and compares (and, when `bundle` is given, a bundle on that back end). */
const compareLayerCase = async (fuzz: LayerCase, bundle: "js" | "wasm" | undefined): Promise<void> => {
  const { model, tags, train, loss } = buildLayerCase(fuzz);
  layerStats.cases++;
  const program = bundleProgram(model, train === undefined ? { evaluate: loss } : { train });
  // the generator makes shapes that fit: a diagnostic here is a generator bug or a checker bug
  if (E.isLeft(program)) throw new Error(`a layer case does not compile: ${C.formatDiagnostics(program.left)}\n${describeLayerCase(model, fuzz)}`);
  const calls = layerCalls(program.right.spec.functions.map((fn) => fn.name));
  const graphOf = (name: string): C.Graph => program.right.spec.functions.find((fn) => fn.name === name)?.graph as C.Graph;
  const results = new Map<string, Record<string, HostTensor>[]>();
  // batch 1 to 3 (batch norm over one row, attention and pools over several)
  const batch = 1 + (fuzz.feedSeed % 3);
  // one case in four without training sees NaN, ±inf, −0 among its features. Not with training:
  // a NaN weight times a conv's zero padding is NaN on wasm (and in PyTorch) but skipped by the
  // reference and js (a known difference, test/conv-padding-nan.test.ts)
  const special = train === undefined && fuzz.feedSeed % 4 === 0;
  let initialWeights: Record<string, HostTensor> = {};
  for (const name of ["reference", "js", "wasm"] as const) {
    const session = await (await getBackend(name)).createSession(program.right.spec, { maxMemory: MAX_MEMORY });
    try {
      if (name === "reference") initialWeights = Object.fromEntries(Object.entries(session.getState()).filter(([param]) => program.right.weights.includes(param)));
      results.set(name, calls.map((fn, i) => session.run(fn, layerFeeds(graphOf(fn), fuzz.feedSeed + i, batch, special))));
    } catch (thrown) {
      throw new Error(`${name}: ${describeThrown(thrown)}\n${describeLayerCase(model, fuzz)}`);
    } finally {
      session.dispose();
    }
  }
  const reference = results.get("reference") ?? [];
  for (const name of ["js", "wasm"] as const) {
    const outputs = results.get(name) ?? [];
    calls.forEach((fn, i) => {
      const where = offReference(reference[i] ?? {}, outputs[i] ?? {}, LAYER_TOLERANCE);
      if (where !== undefined) throw new Error(`${name} differs from the reference on call ${i + 1} (${fn}), ${where}\n${describeLayerCase(model, fuzz)}`);
    });
  }
  layerStats.compared++;
  for (const tag of tags) layerCoverage.set(tag, (layerCoverage.get(tag) ?? 0) + 1);
  if (bundle === undefined) return;
  // the bundle, from the sessions' initial weights, computes the reference's first forward (the
  // params no function reads, which sessions do not hold, are zeros: num_batches_tracked)
  const unread = program.right.weightSlots.filter((slot) => initialWeights[slot.name] === undefined);
  const zeros = (slot: (typeof unread)[number]): HostTensor => {
    const size = slot.shape.reduce((a, b) => a * b, 1);
    return slot.dtype === "i32" ? { shape: slot.shape, dtype: "i32", data: new Int32Array(size) } : { shape: slot.shape, dtype: "f32", data: new Float32Array(size) };
  };
  const weights = encodeSafetensors(toSafetensors({ ...initialWeights, ...Object.fromEntries(unread.map((slot) => [slot.name, zeros(slot)])) }));
  const compiled = await compileBundle(model, { backend: bundle, train, batches: [batch], maxMemory: MAX_MEMORY, weights });
  if (E.isLeft(compiled)) throw new Error(`compileBundle (${bundle}): ${C.formatDiagnostics(compiled.left)}\n${describeLayerCase(model, fuzz)}`);
  const loaded = await ((await import(`data:text/javascript;base64,${Buffer.from(compiled.right.code).toString("base64")}`)) as { load: () => Promise<{ forward: (feeds: object) => Record<string, ArrayLike<number>> }> }).load();
  const feeds = Object.fromEntries(Object.entries(layerFeeds(graphOf("forward"), fuzz.feedSeed, batch, special)).map(([input, feed]) => [input, feed.data]));
  const where = offReference(reference[0] ?? {}, loaded.forward(feeds), LAYER_TOLERANCE);
  if (where !== undefined) throw new Error(`the ${bundle} bundle differs from the reference on forward, ${where}\n${describeLayerCase(model, fuzz)}`);
  layerStats.bundles++;
};

describe("fuzz: random graphs from every public op (issue 16)", () => {
  it("probes the DSL functions of @graft/core", () => {
    const names = dslFunctions.map(([name]) => name);
    for (const expected of ["add", "crossEntropy", "input", "logsumexp", "matmul", "param", "reshape", "scatterAdd", "softmax"]) expect(names).toContain(expected);
  });

  it(`building, checking, compiling (js, wasm) and running never throw anything else than diagnostics (${RUNS} cases, seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (fuzz) => {
        await checkCompileRun(fuzz);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // the cases reach the back ends, and every op of the table appears in some graph
    expect(stats.checked).toBeGreaterThan(RUNS / 20);
    expect(stats.runs).toBeGreaterThan(0);
    expect(stats.compared).toBeGreaterThan(RUNS / 50);
    console.info(`fuzz: ${JSON.stringify(stats)}; ops never built: ${C.opNames.filter((op) => !opsSeen.has(op)).join(", ") || "none"}; never in a checked graph: ${C.opNames.filter((op) => !opsChecked.has(op)).join(", ") || "none"}`);
  }, 600_000);

  it(`compiled bundles load and run, throwing only FeedError/WeightsError (${BUNDLES} bundles)`, async () => {
    let compiled = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (fuzz) => {
        await bundleRoundTrip(fuzz, compiled++ % 2 === 0 ? "js" : "wasm");
      }),
      { seed: SEED + 1, numRuns: BUNDLES * 8, endOnFailure: true },
    );
    console.info(`fuzz: ${stats.bundles} bundles compiled, loaded and run`);
  }, 600_000);

  it(`models of layers whose shapes fit give the reference's results on js, wasm and bundles; each layer kind is in ≥ ${100 * MIN_LAYER_SHARE}% of them (${LAYER_RUNS} cases)`, async () => {
    let index = 0;
    const bundleEvery = Math.max(1, Math.floor(LAYER_RUNS / Math.max(1, LAYER_BUNDLES)));
    await fc.assert(
      fc.asyncProperty(layerCaseArb, async (fuzz) => {
        const bundle = LAYER_BUNDLES > 0 && index % bundleEvery === 0 ? (index / bundleEvery) % 2 === 0 ? "js" : "wasm" : undefined;
        index++;
        await compareLayerCase(fuzz, bundle);
      }),
      { seed: SEED + 2, numRuns: LAYER_RUNS, endOnFailure: true },
    );
    const shares = Object.fromEntries([...layerCoverage].map(([tag, count]) => [tag, Math.round((1000 * count) / Math.max(1, layerStats.compared)) / 10]));
    console.info(`fuzz layers: ${JSON.stringify(layerStats)}; % of the compared cases holding each layer kind: ${JSON.stringify(shares)}`);
    expect(layerStats.compared).toBe(LAYER_RUNS);
    expect(layerStats.bundles).toBeGreaterThanOrEqual(Math.min(LAYER_BUNDLES, LAYER_RUNS));
    // a share needs enough cases to mean something: asserted from 100 cases on (the default is more)
    const rare = [...layerCoverage].filter(([, count]) => count < MIN_LAYER_SHARE * layerStats.compared).map(([tag, count]) => `${tag} (${count} of ${layerStats.compared})`);
    if (layerStats.compared >= 100) expect(rare).toEqual([]);
  }, 600_000);
});
