/**
 * @file State dicts between graft and PyTorch for the examples/mnist-cnn architecture: graft
 * writes BatchNorm's `num_batches_tracked` as I64 (PyTorch's int64) and reads I64 back as i32.
 * torch 1.13 (Debian's python3-torch) loads graft's file with `load_state_dict(strict=True)` and
 * computes the same logits; graft loads a state dict torch wrote (fixtures/pytorch/
 * mnist-cnn-torch.safetensors, made by fixtures/pytorch/state_dict.py) and computes torch's logits.
 * The python half is skipped, saying so, when /usr/bin/python3 has no torch.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, type DecodedTensor } from "@graft/runtime";
import type { HostTensor } from "../src/backend/types.js";
import { compileBundle } from "../src/bundle/index.js";
import { trainedWeights } from "../src/toolkit/cli/commands/train-output.js";
import { createTrainer } from "../src/toolkit/train/index.js";
import { cnnModel } from "../../../examples/mnist-cnn/model.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures/pytorch");
const dir = mkdtempSync(join(tmpdir(), "graft-state-dict-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The dtype each tensor has in a safetensors file's header (decodeSafetensors reads I64 as I32). */
const headerDtypes = (bytes: Uint8Array): Record<string, string> => {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, { dtype?: string }>;
  return Object.fromEntries(Object.entries(header).flatMap(([name, entry]) => (name === "__metadata__" ? [] : [[name, entry.dtype ?? ""]])));
};

const hostTensor = (tensor: DecodedTensor): HostTensor =>
  tensor.dtype === "F32" ? { shape: tensor.shape, dtype: "f32", data: tensor.data } : tensor.dtype === "I32" ? { shape: tensor.shape, dtype: "i32", data: tensor.data } : { shape: tensor.shape, dtype: "f32", data: Float32Array.from(tensor.data) };

const expectClose = (actual: ArrayLike<number>, expected: readonly number[], tolerance: number): void => {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(...expected.map((value, i) => Math.abs((actual[i] ?? Number.NaN) - value)));
  expect(worst).toBeLessThan(tolerance);
};

/** The python with torch, or undefined. */
const pythonWithTorch = spawnSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" }).status === 0 ? "/usr/bin/python3" : undefined;

describe("graft reads a state dict PyTorch wrote (num_batches_tracked as int64)", () => {
  const bytes = readFileSync(join(FIXTURES, "mnist-cnn-torch.safetensors"));
  const torchRun = JSON.parse(readFileSync(join(FIXTURES, "mnist-cnn-torch.json"), "utf8")) as { x: number[]; logits: number[] };

  it("decodes I64 as i32, loads it into a trainer and computes torch's eval logits (js and wasm)", async () => {
    expect(headerDtypes(bytes)["bn1.num_batches_tracked"]).toBe("I64");
    const file = decodeSafetensors(bytes, undefined, "mnist-cnn-torch.safetensors");
    expect(file.tensors.get("bn1.num_batches_tracked")).toEqual({ name: "bn1.num_batches_tracked", dtype: "I32", shape: [], data: Int32Array.of(3) });
    for (const backend of ["js", "wasm"] as const) {
      const trainer = await createTrainer(cnnModel(), { optimizer: "sgd:lr=0.1", backend });
      try {
        trainer.setState(Object.fromEntries([...file.tensors].map(([name, tensor]) => [name, hostTensor(tensor)])));
        const logits = trainer.forward({ x: { shape: [2, 1, 28, 28], dtype: "f32", data: Float32Array.from(torchRun.x) } }).logits;
        expectClose(logits?.data ?? [], torchRun.logits, 1e-4);
        expect(trainer.getState()["bn2.num_batches_tracked"]?.data).toEqual(Int32Array.of(3));
      } finally {
        trainer.dispose();
      }
    }
  }, 60_000);

  it("a bundle takes the file as its weights (the strict check accepts I64 for an i32 param)", async () => {
    const bundle = await compileBundle(cnnModel({ dropout: 0 }), { backend: "js", weights: bytes, weightsSource: "mnist-cnn-torch.safetensors" });
    expect(E.isRight(bundle) ? "compiled" : bundle.left.map((d) => d.message).join("\n")).toBe("compiled");
  }, 60_000);
});

describe("PyTorch reads a state dict graft wrote (python3-torch)", () => {
  it.runIf(pythonWithTorch !== undefined)("load_state_dict(strict=True) takes graft train's weights file; torch computes graft's logits", async () => {
    const trainer = await createTrainer(cnnModel(), { optimizer: "adam:lr=1e-3", backend: "js", seed: 5 });
    let x = new Float32Array(0);
    let state: Record<string, HostTensor> = {};
    try {
      // two training steps: the running statistics move and num_batches_tracked is 2
      let seed = 1;
      const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
      for (let step = 0; step < 2; step++)
        trainer.step({ x: { shape: [4, 1, 28, 28], dtype: "f32", data: Float32Array.from({ length: 4 * 784 }, random) }, y: { shape: [4], dtype: "i32", data: Int32Array.of(0, 3, 7, 9) } });
      x = Float32Array.from({ length: 3 * 784 }, random);
      state = trainer.getState();
      const params = Object.fromEntries(Object.entries(state).filter(([name]) => !name.startsWith("adam.")));
      writeFileSync(join(dir, "graft.safetensors"), trainedWeights(params, undefined));
      writeFileSync(join(dir, "x.safetensors"), encodeSafetensors([{ name: "x", dtype: "F32", shape: [3, 1, 28, 28], data: x }]));
      const logits = trainer.forward({ x: { shape: [3, 1, 28, 28], dtype: "f32", data: x } }).logits;
      const run = spawnSync(pythonWithTorch ?? "python3", [join(FIXTURES, "state_dict.py"), "load", join(dir, "graft.safetensors"), join(dir, "x.safetensors")], { encoding: "utf8" });
      expect(run.stderr).toBe("");
      const result = JSON.parse(run.stdout) as { graft_only: string[]; dtypes: Record<string, string>; num_batches_tracked: Record<string, number>; logits: number[] };
      expect(result.graft_only).toEqual(["random.counter"]);
      expect(result.dtypes).toEqual({
        "bn1.bias": "F32", "bn1.num_batches_tracked": "I64", "bn1.running_mean": "F32", "bn1.running_var": "F32", "bn1.weight": "F32",
        "bn2.bias": "F32", "bn2.num_batches_tracked": "I64", "bn2.running_mean": "F32", "bn2.running_var": "F32", "bn2.weight": "F32",
        "conv1.bias": "F32", "conv1.weight": "F32", "conv2.bias": "F32", "conv2.weight": "F32",
        "fc1.bias": "F32", "fc1.weight": "F32", "fc2.bias": "F32", "fc2.weight": "F32", "random.counter": "I32",
      });
      expect(result.num_batches_tracked).toEqual({ "bn1.num_batches_tracked": 2, "bn2.num_batches_tracked": 2 });
      expectClose(logits?.data ?? [], result.logits, 1e-4);
    } finally {
      trainer.dispose();
    }
  }, 60_000);
  it.skipIf(pythonWithTorch !== undefined)("skipped: /usr/bin/python3 has no torch (Debian: apt-get install python3-torch)", () => undefined);
});
