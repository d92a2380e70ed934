/**
 * Tracks every WebAssembly memory created in this process (constructed in JS or exported
 * by an instance), so the harness can see WASM heaps grow across timed runs: a leak that
 * no JS heap statistic shows. Installed once, before any system initialises.
 */

// Weak references: tracking must not keep a disposed program's memory alive.
const memories = new Set<WeakRef<WebAssembly.Memory>>();
const seen = new WeakSet<WebAssembly.Memory>();

function track(m: WebAssembly.Memory): void {
  if (seen.has(m)) return;
  seen.add(m);
  memories.add(new WeakRef(m));
}
let installed = false;

function collectExports(instance: WebAssembly.Instance): void {
  for (const v of Object.values(instance.exports)) if (v instanceof WebAssembly.Memory) track(v);
}

function isInstance(x: unknown): x is WebAssembly.Instance {
  return x instanceof WebAssembly.Instance;
}

/** Wraps `WebAssembly.Memory`, `WebAssembly.Instance` and `WebAssembly.instantiate` to record memories. */
export function installWasmMemoryTracker(): void {
  if (installed) return;
  installed = true;
  const wa = WebAssembly as unknown as Record<string, unknown>;
  const OrigMemory = WebAssembly.Memory;
  wa["Memory"] = new Proxy(OrigMemory, {
    construct(target, args: unknown[], newTarget: (...a: unknown[]) => unknown) {
      const m = Reflect.construct(target, args, newTarget) as WebAssembly.Memory;
      track(m);
      return m;
    },
  });
  const OrigInstance = WebAssembly.Instance;
  wa["Instance"] = new Proxy(OrigInstance, {
    construct(target, args: unknown[], newTarget: (...a: unknown[]) => unknown) {
      const inst = Reflect.construct(target, args, newTarget) as WebAssembly.Instance;
      collectExports(inst);
      return inst;
    },
  });
  const origInstantiate = WebAssembly.instantiate.bind(WebAssembly) as (...a: unknown[]) => Promise<unknown>;
  wa["instantiate"] = async (...args: unknown[]): Promise<unknown> => {
    const r = await origInstantiate(...args);
    if (isInstance(r)) collectExports(r);
    else if (typeof r === "object" && r !== null && "instance" in r && isInstance(r.instance)) collectExports(r.instance);
    return r;
  };
}

/** Total bytes of all live tracked WebAssembly memories now. */
export function wasmHeapBytes(): number {
  let total = 0;
  for (const r of memories) {
    const m = r.deref();
    if (m === undefined) memories.delete(r);
    else total += m.buffer.byteLength;
  }
  return total;
}

/** Sizes of the WebAssembly memories alive at one moment. */
export type HeapSnapshot = ReadonlyArray<readonly [WeakRef<WebAssembly.Memory>, number]>;

/** Records the size of every live tracked memory. */
export function snapshotWasmHeaps(): HeapSnapshot {
  const out: [WeakRef<WebAssembly.Memory>, number][] = [];
  for (const r of memories) {
    const m = r.deref();
    if (m !== undefined) out.push([r, m.buffer.byteLength]);
  }
  return out;
}

/**
 * Bytes by which the memories of `snapshot` grew since (memories never shrink). Memories
 * created after the snapshot are not counted: compiling creates them legitimately, and a
 * disposed program's memory lives until the next GC.
 */
export function wasmHeapGrowthSince(snapshot: HeapSnapshot): number {
  let grown = 0;
  for (const [r, before] of snapshot) {
    const m = r.deref();
    if (m !== undefined) grown += Math.max(0, m.buffer.byteLength - before);
  }
  return grown;
}
