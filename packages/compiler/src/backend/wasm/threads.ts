/**
 * @file One helper worker thread for the WASM back end (Node `worker_threads`), sharing the
 * session's `WebAssembly.Memory` (shared: true).
 *
 * A module compiled for two threads (codegen.ts, `CodegenContext.threads`) imports
 * `env.spawn(task) → i32` and `env.join()`, and exports `task(task)`, which computes the
 * worker's part of split kernel `task` (the other rows of a matmul, with its own packing
 * scratch). The main thread, inside `run`, calls `spawn`: this pool writes (module, task) into a
 * control block and bumps a request counter (`Atomics.store` + `Atomics.notify`); the worker
 * instantiates the module over the same memory on first use (each module is posted to it once
 * and fetched with `receiveMessageOnPort`, since its loop never returns to the event loop), runs
 * `task`, and publishes completion. The main thread computes its own rows meanwhile, then `join`
 * polls the done counter briefly and sleeps in `Atomics.wait` (allowed on Node's main thread) in
 * slices, checking deadlines.
 *
 * Waking a sleeping thread costs 10–90 µs on a VM (an idle vCPU is halted), against ~1 µs for a
 * hand-off to a thread that polls. So the session calls `wake()` when a run starts (the worker
 * wakes up while the feeds are validated and copied in) and `idle()` when it ends: in between,
 * the worker polls for the next task for up to `workerSpinMicros` before sleeping; outside runs
 * it sleeps at once and uses no CPU.
 *
 * Failures never hang and never pass silently: a worker exception (a trap, a missing module) is
 * posted back and rethrown by `join` as a GraftError; a worker that does not pick a task up
 * within `startTimeoutMs`, or does not finish it within max(`taskTimeoutMs`, 50 × the main
 * thread's share), is declared dead. Either way the pool is marked failed, the worker
 * terminated, and every later `spawn` refuses (the session then refuses to run).
 *
 * Node only: `node:worker_threads` is imported dynamically, so loading this file elsewhere is
 * harmless. The worker is `unref`'d: it never keeps a process alive, even without `dispose`.
 */
import { error, GraftError } from "@graft/core";
import type { MessagePort, Worker } from "node:worker_threads";

/** Control block layout (Int32 indices); request and completion words on separate cache lines. */
const REQUEST = 0;
const MODULE = 1;
const TASK = 2;
/** 1 while the main thread is inside a run (the worker polls between tasks), 0 otherwise (it sleeps). */
const RUNNING = 3;
const DONE = 16;
const STATUS = 17;
const STARTED = 18;
const CONTROL_WORDS = 32;

/** The worker's code (CommonJS, evaluated): wait for a request, run it, publish completion. */
const WORKER_SOURCE = `"use strict";
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { memory, control, port, spinMs } = workerData;
const REQUEST = ${REQUEST}, MODULE = ${MODULE}, TASK = ${TASK}, RUNNING = ${RUNNING}, DONE = ${DONE}, STATUS = ${STATUS}, STARTED = ${STARTED};
const modules = new Map();
const tasks = new Map();
// the worker only runs task(): function imports (spawn, join, ...) are inert there; memory imports get the shared memory
const importsOf = (module) => {
  const imports = {};
  for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
    imports[from] ??= {};
    imports[from][name] = kind === "memory" ? memory : kind === "function" ? () => 0 : undefined;
  }
  return imports;
};
let seen = 0;
for (;;) {
  // While a run is in progress, poll for a while before sleeping: the next split kernel usually
  // follows within a few serial kernels, and waking a thread that slept costs up to ~100 µs on a
  // virtual machine whose idle core halted. Outside runs, sleep at once. A notify without a new
  // request (wake(): a run starts) wakes the worker into polling.
  let seq = Atomics.load(control, REQUEST);
  while (seq === seen) {
    if (spinMs > 0 && Atomics.load(control, RUNNING) === 1) {
      const until = performance.now() + spinMs;
      while ((seq = Atomics.load(control, REQUEST)) === seen && Atomics.load(control, RUNNING) === 1 && performance.now() < until);
      if (seq !== seen) break;
    }
    Atomics.wait(control, REQUEST, seen);
    seq = Atomics.load(control, REQUEST);
  }
  seen = seq;
  const id = Atomics.load(control, MODULE);
  if (id < 0) break;
  Atomics.store(control, STARTED, seq);
  let status = 0;
  try {
    let task = tasks.get(id);
    if (task === undefined) {
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) modules.set(m.message.id, m.message.module);
      const module = modules.get(id);
      if (module === undefined) throw new Error("module " + id + " was never sent to the worker");
      modules.delete(id);
      task = new WebAssembly.Instance(module, importsOf(module)).exports.task;
      if (typeof task !== "function") throw new Error("module " + id + " exports no task function");
      tasks.set(id, task);
    }
    task(Atomics.load(control, TASK));
  } catch (thrown) {
    status = 1;
    port.postMessage({ seq, message: thrown instanceof Error ? String(thrown.stack ?? thrown.message) : String(thrown) });
  }
  Atomics.store(control, STATUS, status);
  Atomics.store(control, DONE, seq);
  Atomics.notify(control, DONE);
}
port.close();
`;

/** Options of {@link createWasmThreadPool}. */
export interface WasmThreadPoolOptions {
  /** The session's shared memory (`new WebAssembly.Memory({ shared: true, ... })`). */
  readonly memory: WebAssembly.Memory;
  /** How long `join` polls before sleeping, in microseconds (default 20). */
  readonly spinMicros?: number;
  /**
   * How long the worker polls for the next task before sleeping, while a run is in progress
   * (between {@link WasmThreadPool.wake} and {@link WasmThreadPool.idle}), in microseconds (default 1000).
   */
  readonly workerSpinMicros?: number;
  /** A worker that has not picked a task up after this long is declared dead (ms, default 10 000). */
  readonly startTimeoutMs?: number;
  /** Lower bound of the deadline of a started task (ms, default 60 000; the bound is also ≥ 50 × the main thread's share). */
  readonly taskTimeoutMs?: number;
}

/** A helper worker running the `task` export of registered modules over the shared memory. */
export interface WasmThreadPool {
  /** Sends a compiled module to the worker (instantiated there on first use); returns its id for {@link spawn}. */
  register(module: WebAssembly.Module): number;
  /**
   * Starts `task(task)` of module `id` on the worker. Returns false, starting nothing, when the
   * pool is disposed or failed (the caller then computes everything itself).
   */
  spawn(id: number, task: number): boolean;
  /** Waits for the spawned task. @throws GraftError when it failed or timed out (the pool is then failed). */
  join(): void;
  /**
   * After the main thread's part threw (so `join` was never reached): waits for a spawned task
   * still running, so the next spawn finds the worker free; a failure of that task only marks
   * the pool failed (the main thread's exception is the one to report).
   */
  settle(): void;
  /** A run starts: wake the worker so it polls for tasks (it wakes up while the feeds are copied in). */
  wake(): void;
  /** The run ended: the worker stops polling and sleeps. */
  idle(): void;
  /** Why the pool stopped working, if it did. */
  readonly failure: string | undefined;
  /** Tasks handed to the worker so far. */
  readonly spawned: number;
  /** Stops and terminates the worker; later spawns return false. Idempotent. */
  dispose(): void;
  /** The worker (tests terminate it to check that a dead worker is an error, not a hang). */
  readonly worker: Worker;
}

/**
 * Starts one helper worker over `options.memory` (without waiting for it to boot).
 * @throws GraftError when worker threads are not available (not Node).
 */
export const createWasmThreadPool = async (options: WasmThreadPoolOptions): Promise<WasmThreadPool> => {
  let threads: typeof import("node:worker_threads");
  try {
    threads = await import("node:worker_threads");
  } catch (thrown) {
    throw new GraftError([error("backend", `wasm: threads > 1 need Node's worker_threads (${thrown instanceof Error ? thrown.message : String(thrown)}); use threads: 1`)]);
  }
  const { memory } = options;
  const spinMs = (options.spinMicros ?? 20) / 1000;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const taskTimeoutMs = options.taskTimeoutMs ?? 60_000;
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  const channel = new threads.MessageChannel();
  const port: MessagePort = channel.port1;
  const worker = new threads.Worker(WORKER_SOURCE, { eval: true, workerData: { memory, control, port: channel.port2, spinMs: (options.workerSpinMicros ?? 1000) / 1000 }, transferList: [channel.port2], name: "graft-wasm-helper" });
  port.unref();
  let failure: string | undefined;
  let disposed = false;
  let workerError: string | undefined;
  worker.on("error", (thrown: unknown) => {
    workerError = thrown instanceof Error ? thrown.message : String(thrown);
    failure ??= `the helper worker crashed: ${workerError}`;
  });
  worker.on("exit", (code: number) => {
    if (!disposed) failure ??= `the helper worker exited (code ${code})`;
  });
  // Not awaited: the worker boots (~50 ms) while the caller compiles; a task spawned before it is
  // online waits in the control block (the worker reads it on entering its loop). It stays
  // referenced until online (a process must not exit while it boots), then never keeps one alive.
  worker.once("online", () => worker.unref());

  let nextModule = 0;
  let seq = 0;
  let pending = false;
  let spawnedAt = 0;
  let spawned = 0;

  const stop = (): void => {
    Atomics.store(control, MODULE, -1);
    Atomics.store(control, REQUEST, ++seq);
    Atomics.notify(control, REQUEST);
    worker.terminate().catch(() => undefined);
    port.close();
  };
  const fail = (message: string): never => {
    failure ??= message;
    pending = false;
    if (!disposed) {
      disposed = true;
      stop();
    }
    throw new GraftError([error("backend", `wasm threads: ${message}; this run's outputs and the session state may be partly written — create a new session (getState() still works)`)]);
  };

  const join = (): void => {
    if (!pending) return;
    if (Atomics.load(control, DONE) !== seq) {
      const spinUntil = performance.now() + spinMs;
      while (Atomics.load(control, DONE) !== seq && performance.now() < spinUntil);
      const mainShare = performance.now() - spawnedAt;
      while (Atomics.load(control, DONE) !== seq) {
        const started = Atomics.load(control, STARTED) === seq;
        const deadline = spawnedAt + (started ? Math.max(taskTimeoutMs, 50 * mainShare) : startTimeoutMs);
        const now = performance.now();
        if (now >= deadline)
          fail(
            started
              ? `the helper worker did not finish its part of a kernel within ${Math.round(deadline - spawnedAt)} ms`
              : `the helper worker did not respond within ${Math.round(startTimeoutMs)} ms${workerError === undefined ? "" : ` (${workerError})`}`,
          );
        Atomics.wait(control, DONE, seq - 1, Math.min(deadline - now, 100));
      }
    }
    pending = false;
    if (Atomics.load(control, STATUS) !== 0) {
      let message = "the helper worker failed (no message)";
      for (let received = threads.receiveMessageOnPort(port); received !== undefined; received = threads.receiveMessageOnPort(port)) {
        const data = received.message as { readonly seq?: unknown; readonly message?: unknown };
        if (data.seq === seq && typeof data.message === "string") message = `the helper worker failed: ${data.message}`;
      }
      fail(message);
    }
  };

  return {
    register(module: WebAssembly.Module): number {
      const id = nextModule++;
      if (!disposed) port.postMessage({ id, module });
      return id;
    },
    spawn(id: number, task: number): boolean {
      if (disposed || failure !== undefined) return false;
      if (pending) fail("internal error: a task was spawned while another was running");
      Atomics.store(control, MODULE, id);
      Atomics.store(control, TASK, task);
      Atomics.store(control, REQUEST, ++seq);
      Atomics.notify(control, REQUEST);
      pending = true;
      spawned++;
      spawnedAt = performance.now();
      return true;
    },
    join,
    settle(): void {
      if (!pending) return;
      try {
        join();
      } catch {
        // recorded in `failure`
      }
    },
    wake(): void {
      if (disposed) return;
      Atomics.store(control, RUNNING, 1);
      Atomics.notify(control, REQUEST);
    },
    idle(): void {
      Atomics.store(control, RUNNING, 0);
    },
    get failure() {
      return failure;
    },
    get spawned() {
      return spawned;
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      pending = false;
      stop();
    },
    worker,
  };
};
