/**
 * @file The one place tests load onnxruntime-node from. It is a peer of the benchmark (288 MB),
 * not a dependency of the compiler: resolved from `bench/peers/` (or `bench/` before the peers
 * moved there). Absent, ORT tests skip with {@link ORT_MISSING}.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** What the tests use of onnxruntime-node's API. */
export interface OrtTensor {
  readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  readonly dims: readonly number[];
  readonly type: string;
}
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}
export interface Ort {
  readonly Tensor: new (type: string, data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: { create(model: Uint8Array, options?: { readonly logSeverityLevel?: number }): Promise<OrtSession> };
}

/** The message of a skipped ORT test. */
export const ORT_MISSING = "onnxruntime-node is not installed: run `pnpm bench:peers` (npm ci in bench/peers)";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "../../../..");
const PEER_PROJECTS = [join(root, "bench/peers/package.json"), join(root, "bench/package.json")];

/** onnxruntime-node, or undefined when no peer project has it. */
export const loadOrt = async (): Promise<Ort | undefined> => {
  for (const project of PEER_PROJECTS) {
    try {
      const resolved = createRequire(project).resolve("onnxruntime-node");
      return createRequire(project)(resolved) as Ort;
    } catch {
      // not installed there
    }
  }
  return undefined;
};

/** A session that logs errors only (ORT warns about initializers that are also inputs, by design in a training step). */
export const createSession = (ort: Ort, bytes: Uint8Array): Promise<OrtSession> => ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
