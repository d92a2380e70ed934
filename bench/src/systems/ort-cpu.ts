/**
 * Optional peer: onnxruntime-node (native C++ CPU execution provider, MLAS kernels), one
 * intra-op thread. Not a JS library: it stands in for "native CPU speed" (what PyTorch on
 * a CPU gets), as a ceiling. It has no autodiff in Node, so it runs only `sgemm`,
 * `inference` and `conv2d` (an ONNX `Conv` with bias), from ONNX graphs written by
 * `onnx-model.ts` (weights as initializers, graph optimisations "all", which fuse
 * MatMul+Add(+Relu)). Train steps are unsupported: onnxruntime-node has no training API.
 *
 * Loaded with a dynamic import: when the optional dependency is not installed the system
 * is reported unavailable. Completion: `session.run` resolves when outputs are computed
 * and copied into JS typed arrays (that copy is inside the timed region).
 */
import type * as OrtModule from "onnxruntime-node";
import { convChecks, gemmChecks, inferenceChecks } from "../checks.js";
import type { MlpData, WorkloadData } from "../data.js";
import { asConv, asGemm, asMlp } from "../data.js";
import type { BenchCase, PreparedRun, System, SystemInfo } from "../harness.js";
import type { OnnxGraph, OnnxNode } from "./onnx-model.js";
import { onnxModel } from "./onnx-model.js";

type Ort = typeof OrtModule;

let ort: Ort | undefined;

const THREADS = 1;

async function session(o: Ort, g: OnnxGraph): Promise<OrtModule.InferenceSession> {
  return o.InferenceSession.create(onnxModel(g), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
}

function outputData(r: OrtModule.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  const t = r[name];
  if (t === undefined) throw new Error(`no output ${name}`);
  const d = t.data;
  if (!(d instanceof Float32Array)) throw new Error(`output ${name} is not float32`);
  return d;
}

function mlpGraph(d: MlpData): OnnxGraph {
  const nodes: OnnxNode[] = [];
  const layers = d.sizes.length - 1;
  let h = "x";
  for (let l = 0; l < layers; l++) {
    nodes.push({ op: "MatMul", inputs: [h, `w${l}`], outputs: [`mm${l}`] });
    const z = l + 1 < layers ? `z${l}` : "logits";
    nodes.push({ op: "Add", inputs: [`mm${l}`, `b${l}`], outputs: [z] });
    if (l + 1 < layers) {
      nodes.push({ op: "Relu", inputs: [z], outputs: [`h${l}`] });
      h = `h${l}`;
    }
  }
  return {
    nodes,
    inputs: [{ name: "x", dims: [d.batch, d.sizes[0] ?? 0] }],
    outputs: [{ name: "logits", dims: [d.batch, d.sizes[layers] ?? 0] }],
    initializers: [
      ...d.weights.map((w, l) => ({ name: `w${l}`, dims: [d.sizes[l] ?? 0, d.sizes[l + 1] ?? 0], data: w })),
      ...d.biases.map((b, l) => ({ name: `b${l}`, dims: [b.length], data: b })),
    ],
  };
}

async function prepareInference(o: Ort, d: MlpData): Promise<PreparedRun> {
  const s = await session(o, mlpGraph(d));
  const feeds = { x: new o.Tensor("float32", d.x, [d.batch, d.sizes[0] ?? 0]) };
  let last: Float32Array | undefined;
  return {
    async run() {
      last = outputData(await s.run(feeds), "logits");
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return inferenceChecks(last);
    },
    async dispose() {
      await s.release();
    },
  };
}

async function prepareGemm(o: Ort, data: WorkloadData): Promise<PreparedRun> {
  const d = asGemm(data);
  const s = await session(o, {
    nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["c"] }],
    inputs: [
      { name: "a", dims: [d.m, d.k] },
      { name: "b", dims: [d.k, d.n] },
    ],
    outputs: [{ name: "c", dims: [d.m, d.n] }],
    initializers: [],
  });
  const feeds = { a: new o.Tensor("float32", d.a, [d.m, d.k]), b: new o.Tensor("float32", d.b, [d.k, d.n]) };
  let last: Float32Array | undefined;
  return {
    async run() {
      last = outputData(await s.run(feeds), "c");
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return gemmChecks(last);
    },
    async dispose() {
      await s.release();
    },
  };
}

async function prepareConv(o: Ort, data: WorkloadData): Promise<PreparedRun> {
  const d = asConv(data);
  const ho = d.h + 2 * d.pad - d.k + 1;
  const wo = d.w + 2 * d.pad - d.k + 1;
  const s = await session(o, {
    nodes: [{ op: "Conv", inputs: ["x", "weight", "bias"], outputs: ["out"], attrs: { kernel_shape: [d.k, d.k], pads: [d.pad, d.pad, d.pad, d.pad], strides: [1, 1] } }],
    inputs: [{ name: "x", dims: [d.n, d.cin, d.h, d.w] }],
    outputs: [{ name: "out", dims: [d.n, d.cout, ho, wo] }],
    initializers: [
      { name: "weight", dims: [d.cout, d.cin, d.k, d.k], data: d.weight },
      { name: "bias", dims: [d.cout], data: d.bias },
    ],
  });
  const feeds = { x: new o.Tensor("float32", d.x, [d.n, d.cin, d.h, d.w]) };
  let last: Float32Array | undefined;
  return {
    async run() {
      last = outputData(await s.run(feeds), "out");
    },
    async check() {
      if (last === undefined) throw new Error("not run");
      return convChecks(last);
    },
    async dispose() {
      await s.release();
    },
  };
}

/** The onnxruntime-node peer (native CPU, 1 thread); unavailable when not installed. */
export const ortCpu: System = {
  name: "ort-cpu",
  peer: true,
  async setup(): Promise<SystemInfo> {
    try {
      ort = await import("onnxruntime-node");
    } catch (e) {
      throw new Error(`onnxruntime-node not installed (optional): ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
    }
    const o = ort;
    return {
      backend: `onnxruntime-node ${o.env.versions.node ?? "?"}, native CPU EP (MLAS)`,
      threads: THREADS,
      simd: true,
      notes:
        "native x86-64 code (MLAS dispatches on CPUID: AVX-512 where present), not JS or WASM: a ceiling; " +
        "intraOpNumThreads 1, graph optimizations all; outputs copied to JS inside timing",
    };
  },
  async prepare(c: BenchCase, data: WorkloadData): Promise<PreparedRun | "unsupported"> {
    const o = ort;
    if (o === undefined) throw new Error("ort-cpu: setup() not run");
    switch (c.workload) {
      case "inference":
        return prepareInference(o, asMlp(data));
      case "sgemm":
        return prepareGemm(o, data);
      case "conv2d":
        return prepareConv(o, data);
      case "mlp_train_step":
      case "cnn_train_step":
      case "transformer_train_step":
      case "softmax_ce":
      case "compile":
        return "unsupported";
    }
  },
};
