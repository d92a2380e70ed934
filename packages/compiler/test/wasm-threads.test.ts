/**
 * The WASM back end on two threads (`threads: 2`: one helper worker over a shared memory).
 *
 * Every element of a split matmul is computed by the same instructions in the same order as on
 * one thread (the split falls on a register-tile boundary), so a two-thread session must give
 * bit-identical results — outputs and state — to a one-thread session, step after step. Also:
 * state persists across specialisations, bad feeds change nothing, worker failures are errors
 * (never hangs), and dispose ends the worker so the process can exit.
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { adam, buildTrainingProgram } from "../src/index.js";
import { createWasmSession, loadWasmToolkit, sharedSessionMemory, wasmBackend, wasmThreadPoolOf } from "../src/backend/wasm/backend.js";
import { assembleWatSync } from "../src/backend/wasm/wat.js";
import { createWasmThreadPool, type WasmThreadPool } from "../src/backend/wasm/threads.js";
import { detectWasmFeatures } from "../src/backend/wasm/features.js";
import type { HostFeeds, HostTensor, Session } from "../src/backend/types.js";
import type { ProgramSpec } from "../src/program/types.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");

const unwrap = <A>(value: E.Either<C.Diagnostics, A>): A => {
  if (E.isLeft(value)) throw new C.GraftError(value.left);
  return value.right;
};

/** The benchmark MLP (784-256-128-64-10, ReLU, cross-entropy) trained with Adam. */
const mlpProgram = (sizes: readonly number[] = [784, 256, 128, 64, 10]): ProgramSpec => {
  const x = C.input("x", ["batch", sizes[0] ?? 0]);
  const y = C.input("y", ["batch"], "i32");
  let h = x;
  for (let l = 0; l + 1 < sizes.length; l++) {
    h = C.add(C.matmul(h, C.param(`w${l}`, [sizes[l] ?? 0, sizes[l + 1] ?? 0], C.uniform(-0.1, 0.1))), C.param(`b${l}`, [sizes[l + 1] ?? 0], C.uniform(-0.1, 0.1)));
    if (l + 2 < sizes.length) h = C.relu(h);
  }
  return unwrap(buildTrainingProgram(C.model({ name: "mlp", outputs: { logits: h }, loss: C.crossEntropy(h, y) }), adam({ lr: 1e-2 })));
};

/** Deterministic pseudo-random rows (xorshift) and labels. */
const dataset = (rows: number, features: number, classes: number, seed: number): { readonly x: Float32Array; readonly y: Int32Array } => {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const x = Float32Array.from({ length: rows * features }, () => next() * 2 - 1);
  const y = Int32Array.from({ length: rows }, () => Math.floor(next() * classes));
  return { x, y };
};

const batchFeeds = (data: { readonly x: Float32Array; readonly y: Int32Array }, features: number, start: number, end: number): HostFeeds => ({
  x: { shape: [end - start, features], dtype: "f32", data: data.x.subarray(start * features, end * features) },
  y: { shape: [end - start], dtype: "i32", data: data.y.subarray(start, end) },
});

/** The first element where two tensors differ bitwise (NaN payloads included), or undefined. */
const bitwiseMismatch = (a: HostTensor | undefined, b: HostTensor | undefined): string | undefined => {
  if (a === undefined || b === undefined) return `missing (${a === undefined}, ${b === undefined})`;
  if (a.shape.join() !== b.shape.join()) return `shape [${a.shape.join()}] vs [${b.shape.join()}]`;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  if (x.length !== y.length) return `byte length ${x.length} vs ${y.length}`;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `element ${Math.floor(i / a.data.BYTES_PER_ELEMENT)}: ${a.data[Math.floor(i / a.data.BYTES_PER_ELEMENT)]} vs ${b.data[Math.floor(i / b.data.BYTES_PER_ELEMENT)]}`;
  return undefined;
};

const expectSameRecords = (one: Record<string, HostTensor>, two: Record<string, HostTensor>, what: string): void => {
  expect(Object.keys(two).sort(), what).toEqual(Object.keys(one).sort());
  const mismatches = Object.keys(one).flatMap((name) => {
    const problem = bitwiseMismatch(one[name], two[name]);
    return problem === undefined ? [] : [`${what} ${name}: ${problem}`];
  });
  expect(mismatches).toEqual([]);
};

const features = detectWasmFeatures();
const sessions: Session[] = [];
const track = (session: Session): Session => {
  sessions.push(session);
  return session;
};

beforeAll(async () => {
  await loadWasmToolkit();
});

afterEach(() => {
  for (const session of sessions.splice(0)) session.dispose();
});

describe.runIf(features.threads)("wasm back end, threads: 2", () => {
  it("MLP train steps are bit-identical to one thread over several steps and batch sizes, last batch partial", { timeout: 120_000 }, async () => {
    const spec = mlpProgram();
    const one = track(await wasmBackend.createSession(spec, { seed: 3, threads: 1 }));
    const two = track(await wasmBackend.createSession(spec, { seed: 3, threads: 2 }));
    const initial = two.getState();
    expectSameRecords(one.getState(), initial, "initial state");
    const data = dataset(600, 784, 10, 7);
    // two epochs at batch 256 (256, 256, 88: the last batch partial), then one at batch 32 (…, 24)
    for (const batch of [256, 256, 32]) {
      for (let start = 0; start < 600; start += batch) {
        const feeds = batchFeeds(data, 784, start, Math.min(600, start + batch));
        expectSameRecords(one.run("trainStep", feeds), two.run("trainStep", feeds), `batch ${batch} at row ${start}`);
      }
      expectSameRecords(one.getState(), two.getState(), `state after an epoch at batch ${batch}`);
    }
    const pool = wasmThreadPoolOf(two);
    expect(pool?.failure).toBeUndefined();
    // forward X@W0 at 256, 88, 32 and 24 rows, both weight gradients of layer 0 and 1, … were split
    expect(pool?.spawned ?? 0).toBeGreaterThan(100);
    expect(wasmThreadPoolOf(one)).toBeUndefined();
    // training moved the weights (the comparison is not vacuous)
    expect(bitwiseMismatch(initial["w0"], two.getState()["w0"])).toBeDefined();
  });

  it("splitting every matmul and elementwise kernel (no size threshold) is still bit-identical: every GEMM strategy, odd row counts", { timeout: 120_000 }, async () => {
    const spec = mlpProgram([37, 19, 6, 3]);
    const one = track(await createWasmSession(spec, { seed: 5, threads: 1 }));
    const two = track(await createWasmSession(spec, { seed: 5, threads: 2 }, { minFlops: 0, minMapElements: 0 }));
    const data = dataset(300, 37, 3, 11);
    for (const batch of [1, 2, 3, 5, 8, 33, 64, 300]) {
      for (let start = 0; start < 300 && start < 4 * batch; start += batch) {
        const feeds = batchFeeds(data, 37, start, Math.min(300, start + batch));
        expectSameRecords(one.run("trainStep", feeds), two.run("trainStep", feeds), `batch ${batch} at ${start}`);
        expectSameRecords(one.run("forward", feeds), two.run("forward", feeds), `forward batch ${batch} at ${start}`);
      }
    }
    expectSameRecords(one.getState(), two.getState(), "state");
    expect(wasmThreadPoolOf(two)?.spawned ?? 0).toBeGreaterThan(0);
  });

  it("convolutions and pools split by images / planes are bit-identical: a small CNN's train steps and a forward of conv, depthwise, transposed conv and pools", { timeout: 120_000 }, async () => {
    // conv (im2col + GEMM, the worker's col in its scratch) → max pool → depthwise (direct) → avg pool → dense
    const x = C.input("x", ["batch", 2, 9, 11]);
    const y = C.input("y", ["batch"], "i32");
    const h1 = C.maxPool2d(C.relu(C.conv2dLayer(x, 2, 8, 3, "conv1", { padding: 1 })), 2);
    const h2 = C.avgPool2d(C.conv2dLayer(h1, 8, 8, 3, "dw", { padding: 1, groups: 8 }), 2);
    const logits = C.dense(C.reshape(h2, ["batch", 8 * 2 * 2]), 8 * 2 * 2, 3, "fc");
    const spec = unwrap(buildTrainingProgram(C.model({ name: "cnn", outputs: { logits }, loss: C.crossEntropy(logits, y) }), adam({ lr: 1e-2 })));
    const one = track(await createWasmSession(spec, { seed: 4, threads: 1 }));
    const two = track(await createWasmSession(spec, { seed: 4, threads: 2 }, { minFlops: 0, minMapElements: 0 }));
    const data = dataset(40, 2 * 9 * 11, 3, 13);
    const imageFeeds = (start: number, end: number): HostFeeds => {
      const rows = batchFeeds(data, 2 * 9 * 11, start, end);
      const features = rows["x"];
      return features === undefined ? rows : { ...rows, x: { ...features, shape: [end - start, 2, 9, 11] } };
    };
    for (const batch of [1, 3, 8, 17]) {
      const feeds = imageFeeds(0, batch);
      expectSameRecords(one.run("trainStep", feeds), two.run("trainStep", feeds), `trainStep batch ${batch}`);
      expectSameRecords(one.run("forward", feeds), two.run("forward", feeds), `forward batch ${batch}`);
    }
    expectSameRecords(one.getState(), two.getState(), "state");
    expect(bitwiseMismatch(one.getState()["conv1.weight"], track(await createWasmSession(spec, { seed: 4, threads: 1 })).getState()["conv1.weight"]), "training moved the conv weights").toBeDefined();

    // conv kernels and pools only: every kernel of it splits (the worker's task count grows by 6 per run)
    const image = C.input("image", [5, 4, 8, 13]);
    const weight = C.input("weight", [6, 2, 3, 3]);
    const forward = C.conv2d(image, weight, undefined, { padding: [1, 0], groups: 2, stride: [1, 2] });
    // weight gradients split by input channels: 3×3 (im2col rows of channels 2, 3 in the worker's scratch) and 1×1 (rows read from the image)
    const cotangent = C.input("cotangent", [5, 8, 8, 13]);
    const grad3 = C.conv2dWeightGradRaw(image, cotangent, { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1, kernel: [3, 3] });
    const wide = C.input("wide", [5, 16, 8, 13]);
    const grad1 = C.conv2dWeightGradRaw(wide, cotangent, { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1, kernel: [1, 1] });
    const outputs = { up: C.convTranspose2d(forward, weight, undefined, { groups: 2, stride: [1, 2] }), pooled: C.maxPool2d(forward, 2, { ceilMode: true }), depthwise: C.conv2d(image, C.input("dwWeight", [4, 1, 3, 3]), undefined, { groups: 4 }), grad3, grad1 };
    const built = C.buildGraph(C.model({ name: "convs", outputs }));
    if (E.isLeft(built)) throw new C.GraftError(built.left);
    const convSpec: ProgramSpec = { functions: [{ name: "f", graph: built.right, updates: [] }] };
    const single = track(await createWasmSession(convSpec, { threads: 1 }));
    const split = track(await createWasmSession(convSpec, { threads: 2 }, { minFlops: 0, minMapElements: 0 }));
    const tensor = (shape: number[], seed: number): HostTensor => ({ shape, dtype: "f32", data: dataset(1, shape.reduce((p, q) => p * q, 1), 1, seed).x });
    const feeds = { image: tensor([5, 4, 8, 13], 1), weight: tensor([6, 2, 3, 3], 2), dwWeight: tensor([4, 1, 3, 3], 3), cotangent: tensor([5, 8, 8, 13], 4), wide: tensor([5, 16, 8, 13], 5) };
    const before = wasmThreadPoolOf(split)?.spawned ?? 0;
    for (let run = 0; run < 3; run++) expectSameRecords(single.run("f", feeds), split.run("f", feeds), `conv forward run ${run}`);
    expect((wasmThreadPoolOf(split)?.spawned ?? 0) - before).toBe(18);
  });

  it("a convolution whose batch cannot be split (one image, or an im2col matrix bigger than the worker's scratch) shares each image's GEMM rows, bit-identically", { timeout: 120_000 }, async () => {
    const tensor = (shape: number[], seed: number): HostTensor => ({ shape, dtype: "f32", data: dataset(1, shape.reduce((p, q) => p * q, 1), 1, seed).x });
    for (const [label, shape, channelsOut] of [
      ["one image", [1, 6, 9, 10], 10],
      ["an im2col matrix of 576×576 floats (1.3 MB) per image", [2, 64, 24, 24], 16],
    ] as const) {
      const image = C.input("image", [...shape]);
      const weight = C.input("weight", [channelsOut, shape[1], 3, 3]);
      const y = C.conv2d(image, weight, undefined, { padding: 1 });
      const built = C.buildGraph(C.model({ name: "rows", outputs: { y, back: C.convTranspose2d(y, weight, undefined, { padding: 1 }) } }));
      if (E.isLeft(built)) throw new C.GraftError(built.left);
      const spec: ProgramSpec = { functions: [{ name: "f", graph: built.right, updates: [] }] };
      const single = track(await createWasmSession(spec, { threads: 1 }));
      const split = track(await createWasmSession(spec, { threads: 2 }, { minFlops: 0 }));
      const feeds = { image: tensor([...shape], 7), weight: tensor([channelsOut, shape[1], 3, 3], 8) };
      const before = wasmThreadPoolOf(split)?.spawned ?? 0;
      expectSameRecords(single.run("f", feeds), split.run("f", feeds), label);
      // one hand-off per image for each of the two convolutions
      expect((wasmThreadPoolOf(split)?.spawned ?? 0) - before, label).toBe(2 * shape[0]);
    }
  });

  it("state persists across specialisations, setState and the memory growing", { timeout: 120_000 }, async () => {
    const spec = mlpProgram();
    const one = track(await wasmBackend.createSession(spec, { seed: 9, threads: 1 }));
    const two = track(await wasmBackend.createSession(spec, { seed: 9, threads: 2 }));
    const data = dataset(512, 784, 10, 21);
    const steps: ReadonlyArray<readonly [string, number]> = [
      ["trainStep", 16],
      ["forward", 3],
      ["trainStep", 64],
      ["forward", 512], // a bigger specialisation: the shared memory grows (new buffer, refreshed views)
      ["trainStep", 512],
      ["trainStep", 16],
      ["forward", 3],
    ];
    for (const [name, batch] of steps) {
      const feeds = batchFeeds(data, 784, 0, batch);
      expectSameRecords(one.run(name, feeds), two.run(name, feeds), `${name} at batch ${batch}`);
      expectSameRecords(one.getState(), two.getState(), `state after ${name} at batch ${batch}`);
    }
    // replaced state is what the next step starts from, on both
    const restored = one.getState();
    const fresh = track(await wasmBackend.createSession(spec, { seed: 1, threads: 2 }));
    fresh.setState(restored);
    const feeds = batchFeeds(data, 784, 100, 356);
    expectSameRecords(one.run("trainStep", feeds), fresh.run("trainStep", feeds), "after setState");
    expectSameRecords(one.getState(), fresh.getState(), "state after setState and a step");
  });

  it("a bad feed throws and leaves the state unchanged; the session keeps working", { timeout: 60_000 }, async () => {
    const spec = mlpProgram();
    const one = track(await wasmBackend.createSession(spec, { seed: 2, threads: 1 }));
    const two = track(await wasmBackend.createSession(spec, { seed: 2, threads: 2 }));
    const data = dataset(64, 784, 10, 4);
    const good = batchFeeds(data, 784, 0, 64);
    expectSameRecords(one.run("trainStep", good), two.run("trainStep", good), "first step");
    const before = two.getState();
    const wrongShape: HostFeeds = { ...good, x: { shape: [64, 783], dtype: "f32", data: new Float32Array(64 * 783) } };
    expect(() => two.run("trainStep", wrongShape)).toThrow(/x/);
    const badLabel = Int32Array.from(data.y);
    badLabel[40] = 10;
    expect(() => two.run("trainStep", { ...good, y: { shape: [64], dtype: "i32", data: badLabel } })).toThrow(/row 40 is 10/);
    expect(() => two.run("trainStep", { x: good["x"] as HostTensor })).toThrow(/missing feed for input y/);
    expectSameRecords(before, two.getState(), "state after bad feeds");
    expectSameRecords(one.run("trainStep", good), two.run("trainStep", good), "next step");
    expectSameRecords(one.getState(), two.getState(), "state");
    expect(wasmThreadPoolOf(two)?.failure).toBeUndefined();
  });

  it("between runs the helper worker sleeps (it polls only while a run is in progress)", { timeout: 30_000 }, async () => {
    // polling for up to 2 s between tasks: only the end of the run can stop it early
    const session = track(await createWasmSession(mlpProgram([64, 256, 64]), { threads: 2 }, { workerSpinMicros: 2_000_000 }));
    const feeds = batchFeeds(dataset(128, 64, 64, 3), 64, 0, 128);
    for (let i = 0; i < 20; i++) session.run("trainStep", feeds);
    expect(wasmThreadPoolOf(session)?.spawned ?? 0).toBeGreaterThan(0);
    const cpu = process.cpuUsage();
    const started = performance.now();
    await new Promise((done) => setTimeout(done, 500));
    const used = process.cpuUsage(cpu);
    const wall = performance.now() - started;
    // a polling worker would use about one core for the whole wait
    expect((used.user + used.system) / 1000).toBeLessThan(0.3 * wall);
    // runs of a function with nothing to split (forward of one row) do not wake it at all
    const pool = wasmThreadPoolOf(session);
    if (pool === undefined) throw new Error("no pool");
    const wake = pool.wake.bind(pool);
    let wakes = 0;
    pool.wake = () => {
      wakes++;
      wake();
    };
    const one = batchFeeds(dataset(1, 64, 64, 4), 64, 0, 1);
    for (let i = 0; i < 5; i++) session.run("forward", one);
    expect(wakes).toBe(0);
    session.run("trainStep", feeds);
    expect(wakes).toBe(1);
  });

  it("dispose ends the helper worker", { timeout: 30_000 }, async () => {
    const session = await wasmBackend.createSession(mlpProgram([64, 256, 64]), { threads: 2 });
    const pool = wasmThreadPoolOf(session);
    if (pool === undefined) throw new Error("no pool");
    const data = dataset(128, 64, 64, 1);
    session.run("trainStep", batchFeeds(data, 64, 0, 128));
    expect(pool.spawned).toBeGreaterThan(0);
    const exited = once(pool.worker, "exit");
    session.dispose();
    await exited;
    expect(pool.worker.threadId).toBe(-1);
    session.dispose(); // idempotent
  });

  it("a script using a two-thread session exits by itself, with or without dispose, or disposed before its worker booted", { timeout: 90_000 }, () => {
    for (const mode of ["dispose", "no-dispose", "dispose-at-once"]) {
      const started = Date.now();
      const child = spawnSync(process.execPath, [resolve(root, "packages/compiler/bin/run-ts.mjs"), resolve(here, "fixtures/threads/exit.ts"), mode], { cwd: root, encoding: "utf8", timeout: 30_000 });
      expect(child.error, `${mode}: ${String(child.error)}`).toBeUndefined();
      expect(child.stderr).toBe("");
      expect({ status: child.status, signal: child.signal, stdout: child.stdout.trim() }).toEqual({ status: 0, signal: null, stdout: `ok ${mode}` });
      expect(Date.now() - started).toBeLessThan(30_000);
    }
  });

  it("a helper worker that died is an error on the next run, not a hang; getState still works", { timeout: 30_000 }, async () => {
    const session = track(await createWasmSession(mlpProgram([64, 256, 64]), { threads: 2 }, { startTimeoutMs: 500 }));
    const pool = wasmThreadPoolOf(session);
    if (pool === undefined) throw new Error("no pool");
    const feeds = batchFeeds(dataset(128, 64, 64, 2), 64, 0, 128);
    session.run("trainStep", feeds);
    const state = session.getState();
    await pool.worker.terminate();
    expect(() => session.run("trainStep", feeds)).toThrow(C.GraftError);
    expect(() => session.run("trainStep", feeds)).toThrow(/helper worker/);
    expect(pool.failure).toMatch(/exited|did not respond/);
    expectSameRecords(state, session.getState(), "state");
  });
});

/** A module for the pool alone: `task(0)` traps, `task(1)` never returns, `task(2)` writes 7 at byte 64. */
const poolModule = (): WebAssembly.Module =>
  new WebAssembly.Module(
    assembleWatSync(
      `(module
  (import "env" "memory" (memory 1 65536 shared))
  (import "env" "spawn" (func $spawn (param i32) (result i32)))
  (import "env" "join" (func $join))
  (func (export "task") (param $t i32)
    (if (i32.eqz (local.get $t)) (then unreachable))
    (if (i32.eq (local.get $t) (i32.const 1)) (then (loop $forever (br $forever))))
    (i32.store (i32.const 64) (i32.const 7))))`,
      { threads: true },
    ),
  );

describe.runIf(features.threads)("wasm thread pool", () => {
  const pools: WasmThreadPool[] = [];
  afterEach(() => {
    for (const pool of pools.splice(0)) pool.dispose();
  });
  const newPool = async (options: { readonly taskTimeoutMs?: number } = {}): Promise<WasmThreadPool> => {
    const pool = await createWasmThreadPool({ memory: sharedSessionMemory(16), ...options });
    pools.push(pool);
    return pool;
  };

  it("runs a task in the worker over the shared memory", async () => {
    const memory = sharedSessionMemory(16);
    const pool = await createWasmThreadPool({ memory });
    pools.push(pool);
    const id = pool.register(poolModule());
    expect(pool.spawn(id, 2)).toBe(true);
    pool.join();
    expect(new Int32Array(memory.buffer)[16]).toBe(7);
    expect(pool.spawned).toBe(1);
  });

  it("a trap in the worker is an exception on the main thread; the pool then refuses work", async () => {
    const pool = await newPool();
    const id = pool.register(poolModule());
    expect(pool.spawn(id, 0)).toBe(true);
    expect(() => pool.join()).toThrow(/helper worker failed: .*unreachable/);
    expect(pool.failure).toMatch(/unreachable/);
    expect(pool.spawn(id, 2)).toBe(false);
  });

  it("a task that never finishes times out (the worker is terminated) instead of hanging", async () => {
    const pool = await newPool({ taskTimeoutMs: 300 });
    const id = pool.register(poolModule());
    const exited = once(pool.worker, "exit");
    const started = performance.now();
    expect(pool.spawn(id, 1)).toBe(true);
    expect(() => pool.join()).toThrow(/did not finish its part of a kernel within 300 ms/);
    expect(performance.now() - started).toBeLessThan(5_000);
    await exited;
  });

  it("settle() waits for a task whose join was skipped (the main thread's part threw), recording but not throwing its failure", async () => {
    const pool = await newPool();
    const id = pool.register(poolModule());
    expect(pool.spawn(id, 2)).toBe(true);
    pool.settle();
    expect(pool.spawn(id, 2)).toBe(true);
    pool.join();
    expect(pool.failure).toBeUndefined();
    expect(pool.spawn(id, 0)).toBe(true);
    expect(() => pool.settle()).not.toThrow();
    expect(pool.failure).toMatch(/unreachable/);
    expect(pool.spawn(id, 2)).toBe(false);
  });

  it("a module never sent to the worker is an error", async () => {
    const pool = await newPool();
    expect(pool.spawn(41, 0)).toBe(true);
    expect(() => pool.join()).toThrow(/module 41 was never sent/);
  });
});
