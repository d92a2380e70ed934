/**
 * @file The one assembler of the WASM back end: WebAssembly text (WAT) → validated wasm bytes with
 * the `wabt` toolkit. The wabt instance is an Emscripten module that takes a noticeable moment to
 * start, so it is loaded once per process ({@link loadWasmToolkit}); assembly is then synchronous.
 */
import type wabtFactory from "wabt";

/** Options of {@link assembleWat}. */
export interface AssembleWatOptions {
  /** Accept relaxed-SIMD instructions (`f32x4.relaxed_madd`, ...). Off by default. */
  readonly relaxedSimd?: boolean;
  /** Accept shared memories and atomic instructions. Off by default. */
  readonly threads?: boolean;
  /** File name used in error messages. Defaults to `module.wat`. */
  readonly fileName?: string;
}

type Wabt = Awaited<ReturnType<typeof wabtFactory>>;
type WabtWasmModule = ReturnType<Wabt["parseWat"]>;
type WasmFeatures = NonNullable<Parameters<Wabt["parseWat"]>[2]>;

let toolkit: Wabt | undefined;
let loading: Promise<Wabt> | undefined;

/** Loads wabt once per process (a failed start is retried by the next call); assembly is synchronous afterwards. */
export async function loadWasmToolkit(): Promise<void> {
  if (toolkit !== undefined) return;
  loading ??= import("wabt").then((wabtModule) => wabtModule.default());
  try {
    toolkit = await loading;
  } catch (error) {
    loading = undefined;
    throw error;
  }
}

/**
 * wabt's `validate` takes the feature set as an optional argument (its typings omit it); without
 * it, features such as shared memories are refused even when the parser accepted them.
 */
function validateWithFeatures(module: WabtWasmModule, features: WasmFeatures): void {
  const validate = module.validate as (this: WabtWasmModule, features?: WasmFeatures) => void;
  validate.call(module, features);
}

/** Matches wabt's error locations: `name.wat:12:5: error: ...`. */
const ERROR_LOCATION = /:(\d+):(\d+): error: /g;

/**
 * Builds the message of an assembly failure: wabt's own message followed by each offending WAT
 * line (numbered, with one line of context either side), so a code-generator bug can be found
 * without dumping the whole module.
 */
function describeFailure(stage: string, wabtMessage: string, text: string, fileName: string): string {
  const lines = text.split("\n");
  const reportedLines = new Set<number>();
  for (const match of wabtMessage.matchAll(ERROR_LOCATION)) {
    const lineNumber = Number(match[1]);
    if (Number.isInteger(lineNumber) && lineNumber >= 1) reportedLines.add(lineNumber);
  }
  const excerpts: string[] = [];
  for (const lineNumber of [...reportedLines].sort((x, y) => x - y).slice(0, 5)) {
    const first = Math.max(1, lineNumber - 1);
    const last = Math.min(lines.length, lineNumber + 1);
    const excerpt: string[] = [];
    for (let n = first; n <= last; n++) {
      const marker = n === lineNumber ? ">" : " ";
      excerpt.push(`${marker} ${String(n).padStart(5)} | ${lines[n - 1] ?? ""}`);
    }
    excerpts.push(excerpt.join("\n"));
  }
  const where = excerpts.length > 0 ? `\nat ${fileName}:\n${excerpts.join("\n...\n")}` : "";
  return `WAT ${stage} failed: ${wabtMessage.trim()}${where}`;
}

/**
 * Assembles WAT text into a validated wasm binary, synchronously (after {@link loadWasmToolkit}).
 * SIMD, bulk memory, multi-value, saturating float→int and sign extension are always enabled;
 * relaxed SIMD and threads only on request.
 *
 * @throws Error whose message holds wabt's diagnostic and the offending WAT line(s).
 */
export function assembleWatSync(text: string, opts: AssembleWatOptions = {}): Uint8Array<ArrayBuffer> {
  if (toolkit === undefined) throw new Error("the WASM back end needs `await loadWasmToolkit()` before compiling");
  const fileName = opts.fileName ?? "module.wat";
  const features: WasmFeatures = {
    simd: true,
    relaxed_simd: opts.relaxedSimd === true,
    threads: opts.threads === true,
    bulk_memory: true,
    multi_value: true,
    sat_float_to_int: true,
    sign_extension: true,
  };
  let module: WabtWasmModule;
  try {
    module = toolkit.parseWat(fileName, text, features);
  } catch (error) {
    throw new Error(describeFailure("parse", errorMessage(error), text, fileName), { cause: error });
  }
  try {
    module.resolveNames();
    try {
      validateWithFeatures(module, features);
    } catch (error) {
      throw new Error(describeFailure("validation", errorMessage(error), text, fileName), { cause: error });
    }
    // Copy out of wabt's heap: the returned view would be invalidated by later wabt calls.
    return Uint8Array.from(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

/** {@link assembleWatSync} after loading the toolkit. */
export async function assembleWat(text: string, opts: AssembleWatOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
  await loadWasmToolkit();
  return assembleWatSync(text, opts);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
