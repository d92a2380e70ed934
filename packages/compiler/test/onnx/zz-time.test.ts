import { it } from "vitest";
import { cnnModel } from "../../../../examples/mnist-cnn/model.js";
import { transformerModel } from "../../../../examples/transformer/model.js";
import { createSession, loadOrt, type Ort } from "./ort.js";
import { exported, runStep, startingState } from "./ort-steps.js";
it("time", async () => {
  const runtime = (await loadOrt()) as Ort;
  for (const [name, model, rows] of [["cnn", cnnModel(), 64], ["transformer", transformerModel(), 32]] as const) {
    for (const opset of [17, 18]) {
      const step = exported(model, { train: "adam:lr=1e-3", opset });
      const fwd = exported(model, { opset });
      const session = await createSession(runtime, step.bytes);
      const state = startingState(step.initialState);
      const feeds = name === "cnn"
        ? { x: new runtime.Tensor("float32", new Float32Array(rows * 784).fill(0.5), [rows, 1, 28, 28]), y: new runtime.Tensor("int32", new Int32Array(rows), [rows]) }
        : { x: new runtime.Tensor("int32", new Int32Array(rows * 16), [rows, 16]), y: new runtime.Tensor("int32", new Int32Array(rows * 16), [rows, 16]) };
      const times: number[] = [];
      for (let i = 0; i < 12; i++) { const t0 = performance.now(); await runStep(runtime, session, step, state, feeds); times.push(performance.now() - t0); }
      times.sort((a, b) => a - b);
      console.log(`${name} b${rows} opset ${opset}: train step median ${times[6]?.toFixed(1)} ms (min ${times[0]?.toFixed(1)}), model ${(step.bytes.length / 1024).toFixed(0)} KB, nodes ${step.bytes.length}, forward ${(fwd.bytes.length / 1024).toFixed(0)} KB`);
    }
  }
}, 600000);
