/**
 * Tracks every WebAssembly memory created in this process (constructed in JS or exported
 * by an instance), so the harness can see WASM heaps grow across timed runs: a leak that
 * no JS heap statistic shows. Installed once, before any system initialises.
 */

const memories = new Set<WebAssembly.Memory>();
let installed = false;

function collectExports(instance: WebAssembly.Instance): void {
  for (const v of Object.values(instance.exports)) if (v instanceof WebAssembly.Memory) memories.add(v);
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
      memories.add(m);
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

/** Total bytes of all tracked WebAssembly memories now. */
export function wasmHeapBytes(): number {
  let total = 0;
  for (const m of memories) total += m.buffer.byteLength;
  return total;
}
