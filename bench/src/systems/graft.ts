/**
 * graft's systems: the compiled WASM and JS back ends (in-process sessions).
 *
 * Every workload is a graft program compiled once in `prepare`: the MLP train step is
 * `buildTrainingProgram(model, adam)` (forward + backward + Adam update as one graph, state
 * updated in place in the arena); `softmax_ce` differentiates a mean cross-entropy with respect
 * to resident logits (a param, like the peers' device arrays); `sgemm` multiplies two resident
 * matrices; `inference` feeds `x` and fetches the logits; `conv2d` convolves a resident input
 * (a param, like sgemm's matrices); `cnn_train_step` and `transformer_train_step` run the
 * training program of the example's model (`examples/mnist-cnn`, `examples/transformer`),
 * the checked steps with the model built with dropout 0, the timed steps with the example's
 * dropout (graft's counter-based random op, advanced by each step). Timed runs fetch only small outputs
 * (`fetch`); the check run fetches everything it compares. `compile` times building the train
 * program and the session, including the first specialisation (lowering, memory plan, codegen,
 * WASM assembly and instantiation).
 */
import * as E from "fp-ts/lib/Either.js";
import * as C from "@graft/core";
import { adam, buildTrainingProgram, getBackend, grad, hyperValues, type Backend, type BackendName, type HostTensor, type ProgramSpec, type Session } from "@graft/compiler";
import { ceChecks, convChecks, gemmChecks, inferenceChecks, mlpTrainChecks, modelTrainChecks } from "../checks.js";
import { asCe, asConv, asGemm, asMlp, asModel, type MlpData, type WorkloadData } from "../data.js";
import { exampleModel, type ModelData } from "../model-data.js";
import type { BenchCase, PreparedRun, System, SystemInfo } from "../harness.js";

const unwrap = <A>(value: E.Either<C.Diagnostics, A>): A => {
  if (E.isLeft(value)) throw new C.GraftError(value.left);
  return value.right;
};

/** The benchmark MLP as a graft model, weights `[in, out]` like the shared data (`h = x @ W + b`). */
const mlpModel = (d: MlpData): C.Model => {
  const x = C.input("x", ["batch", d.sizes[0] ?? 0]);
  const y = C.input("y", ["batch"], "i32");
  let h = x;
  const layers = d.sizes.length - 1;
  for (let l = 0; l < layers; l++) {
    const w = C.param(`w${l}`, [d.sizes[l] ?? 0, d.sizes[l + 1] ?? 0]);
    const b = C.param(`b${l}`, [d.sizes[l + 1] ?? 0]);
    h = C.add(C.matmul(h, w), b);
    if (l + 1 < layers) h = C.relu(h);
  }
  return C.model({ name: "bench_mlp", outputs: { logits: h }, loss: C.crossEntropy(h, y) });
};

const f32 = (shape: readonly number[], data: Float32Array): HostTensor => ({ shape, dtype: "f32", data });

const mlpState = (d: MlpData): Record<string, HostTensor> => {
  const state: Record<string, HostTensor> = {};
  d.weights.forEach((w, l) => (state[`w${l}`] = f32([d.sizes[l] ?? 0, d.sizes[l + 1] ?? 0], w)));
  d.biases.forEach((b, l) => (state[`b${l}`] = f32([d.sizes[l + 1] ?? 0], b)));
  return state;
};

const trainProgram = (d: MlpData): ProgramSpec =>
  unwrap(buildTrainingProgram(mlpModel(d), adam({ lr: d.adam.lr, beta1: d.adam.beta1, beta2: d.adam.beta2, eps: d.adam.eps })));

const single = (name: string, graph: C.Graph): ProgramSpec => ({ functions: [{ name, graph, updates: [] }] });

const stateData = (session: Session, name: string, state: Record<string, HostTensor> = session.getState()): Float32Array => {
  const value = state[name];
  if (value === undefined || !(value.data instanceof Float32Array)) throw new Error(`no f32 state ${name}`);
  return value.data;
};

const outputData = (outputs: Record<string, HostTensor>, name: string): Float32Array => {
  const value = outputs[name];
  if (value === undefined || !(value.data instanceof Float32Array)) throw new Error(`no f32 output ${name}`);
  return value.data;
};

/**
 * A model train step: the check runs use the example built with dropout 0 (deterministic, so
 * comparable with the reference), the timed runs (after `check`) the example with its dropout,
 * both from the shared initial params, each session with its own Adam state.
 */
async function prepareModelTrain(backend: Backend, options: { seed: number; threads: number }, d: ModelData): Promise<PreparedRun> {
  const program = (dropout: number): ProgramSpec =>
    unwrap(buildTrainingProgram(exampleModel(d, dropout), adam({ lr: d.adam.lr, beta1: d.adam.beta1, beta2: d.adam.beta2, eps: d.adam.eps })));
  const initial = Object.fromEntries(Object.entries(d.params).map(([name, p]) => [name, f32(p.shape, p.data)]));
  const feeds = {
    x: d.x instanceof Int32Array ? { shape: d.xShape, dtype: "i32" as const, data: d.x } : f32(d.xShape, d.x),
    y: { shape: d.yShape, dtype: "i32" as const, data: d.y },
  };
  const open = async (spec: ProgramSpec) => {
    const step = spec.functions.find((fn) => fn.name === "trainStep");
    if (step === undefined) throw new Error("graft: the training program has no trainStep");
    const session = await backend.createSession(spec, options);
    session.setState(initial);
    let t = 0;
    let loss = Number.NaN;
    return {
      session,
      run() {
        session.setState(hyperValues(step, d.adam.lr, ++t));
        loss = outputData(session.run("trainStep", feeds, { fetch: ["loss"] }), "loss")[0] ?? Number.NaN;
      },
      loss: () => loss,
    };
  };
  const checked = await open(program(0));
  const timed = await open(program(d.dropout));
  let checking = true;
  return {
    run() {
      (checking ? checked : timed).run();
    },
    async check() {
      const state = checked.session.getState();
      const params = Object.fromEntries(Object.keys(d.params).map((name) => [name, stateData(checked.session, name, state)]));
      checking = false;
      const values = modelTrainChecks(d, checked.loss(), params);
      checked.session.dispose();
      return values;
    },
    dispose() {
      if (checking) checked.session.dispose();
      timed.session.dispose();
    },
  };
}

async function prepare(backend: Backend, threads: number, c: BenchCase, data: WorkloadData): Promise<PreparedRun | "unsupported"> {
  const options = { seed: 0, threads };
  switch (c.workload) {
    case "mlp_train_step": {
      const d = asMlp(data);
      const spec = trainProgram(d);
      const session = await backend.createSession(spec, options);
      session.setState(mlpState(d));
      const feeds = { x: f32([d.batch, d.sizes[0] ?? 0], d.x), y: { shape: [d.batch], dtype: "i32" as const, data: d.labels } };
      const step = spec.functions.find((fn) => fn.name === "trainStep");
      if (step === undefined) throw new Error("graft: the training program has no trainStep");
      let loss = Number.NaN;
      let t = 0;
      return {
        run() {
          // as the trainer does: the step's run-time hyper scalars (Adam's bias corrections) first
          session.setState(hyperValues(step, d.adam.lr, ++t));
          loss = outputData(session.run("trainStep", feeds, { fetch: ["loss"] }), "loss")[0] ?? Number.NaN;
        },
        async check() {
          const layers = d.sizes.length - 1;
          const weights = Array.from({ length: layers }, (_, l) => stateData(session, `w${l}`));
          const biases = Array.from({ length: layers }, (_, l) => stateData(session, `b${l}`));
          return mlpTrainChecks(d, loss, weights, biases);
        },
        dispose: () => session.dispose(),
      };
    }
    case "softmax_ce": {
      const d = asCe(data);
      const logits = C.param("logits", [d.rows, d.classes]);
      const labels = C.input("y", [d.rows], "i32");
      const graph = unwrap(grad(unwrap(C.buildGraph(C.model({ name: "softmax_ce", loss: C.crossEntropy(logits, labels) }))), { wrt: ["logits"] }));
      const session = await backend.createSession(single("ce", graph), options);
      session.setState({ logits: f32([d.rows, d.classes], d.logits) });
      const feeds = { y: { shape: [d.rows], dtype: "i32" as const, data: d.labels } };
      return {
        run() {
          session.run("ce", feeds, { fetch: ["loss"] });
        },
        async check() {
          const outputs = session.run("ce", feeds);
          return ceChecks(outputData(outputs, "loss")[0] ?? Number.NaN, outputData(outputs, "grad:logits"));
        },
        dispose: () => session.dispose(),
      };
    }
    case "sgemm": {
      const d = asGemm(data);
      const a = C.param("a", [d.m, d.k]);
      const b = C.param("b", [d.k, d.n]);
      const graph = unwrap(C.buildGraph(C.model({ name: "sgemm", outputs: { c: C.matmul(a, b) } })));
      const session = await backend.createSession(single("gemm", graph), options);
      session.setState({ a: f32([d.m, d.k], d.a), b: f32([d.k, d.n], d.b) });
      return {
        run() {
          session.run("gemm", {}, { fetch: [] });
        },
        async check() {
          return gemmChecks(outputData(session.run("gemm", {}), "c"));
        },
        dispose: () => session.dispose(),
      };
    }
    case "inference": {
      const d = asMlp(data);
      const spec = trainProgram(d);
      const forward = spec.functions.filter((fn) => fn.name === "forward");
      const session = await backend.createSession({ functions: forward }, options);
      session.setState(mlpState(d));
      const feeds = { x: f32([d.batch, d.sizes[0] ?? 0], d.x) };
      let logits: Float32Array = new Float32Array(0);
      return {
        run() {
          logits = outputData(session.run("forward", feeds), "logits");
        },
        async check() {
          return inferenceChecks(logits);
        },
        dispose: () => session.dispose(),
      };
    }
    case "conv2d": {
      const d = asConv(data);
      const x = C.param("x", [d.n, d.cin, d.h, d.w]);
      const weight = C.param("weight", [d.cout, d.cin, d.k, d.k]);
      const bias = C.param("bias", [d.cout]);
      const graph = unwrap(C.buildGraph(C.model({ name: "conv2d", outputs: { out: C.conv2d(x, weight, bias, { padding: d.pad }) } })));
      const session = await backend.createSession(single("conv", graph), options);
      session.setState({ x: f32([d.n, d.cin, d.h, d.w], d.x), weight: f32([d.cout, d.cin, d.k, d.k], d.weight), bias: f32([d.cout], d.bias) });
      return {
        run() {
          session.run("conv", {}, { fetch: [] });
        },
        async check() {
          return convChecks(outputData(session.run("conv", {}), "out"));
        },
        dispose: () => session.dispose(),
      };
    }
    case "cnn_train_step":
      return prepareModelTrain(backend, options, asModel(data, "cnn"));
    case "transformer_train_step":
      return prepareModelTrain(backend, options, asModel(data, "transformer"));
    case "compile": {
      const d = asMlp(data);
      const feeds = { x: f32([d.batch, d.sizes[0] ?? 0], d.x), y: { shape: [d.batch], dtype: "i32" as const, data: d.labels } };
      let session: Session | undefined;
      return {
        async run() {
          session?.dispose();
          session = await backend.createSession(trainProgram(d), options);
          session.setState(mlpState(d));
          // the first call specialises the step to the batch size: lowering, memory plan, codegen
          session.run("trainStep", feeds, { fetch: ["loss"] });
        },
        async check() {
          return {};
        },
        dispose: () => session?.dispose(),
      };
    }
  }
}

const graftSystem = (name: string, backendName: BackendName, threads: number): System => {
  let backend: Backend | undefined;
  return {
    name,
    peer: false,
    async setup(): Promise<SystemInfo> {
      backend = await getBackend(backendName);
      return { backend: `graft ${backendName} back end (workspace)`, threads, simd: backendName === "wasm" ? true : "n/a", notes: "in-process session; state resident in the arena" };
    },
    async prepare(c, data) {
      if (backend === undefined) backend = await getBackend(backendName);
      return prepare(backend, threads, c, data);
    },
  };
};

export const graftWasm = graftSystem("graft-wasm", "wasm", 1);
/** The WASM back end on two threads: matmuls ≥ 0.5 MFLOP and elementwise kernels ≥ 32K elements split their rows with one helper worker over shared memory. */
export const graftWasm2t = graftSystem("graft-wasm-2t", "wasm", 2);
export const graftJs = graftSystem("graft-js", "js", 1);
