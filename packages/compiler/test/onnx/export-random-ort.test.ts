// The seeded random op in ONNX: `random_uniform` lowered to integer ops (int64 held in [0, 2³²),
// BitwiseXor from opset 18, a nibble-by-nibble XOR below) draws in onnxruntime-node exactly core's
// randomBits — every bit, at counters 0, 1, a large one and negative ones (the i32 counter wraps),
// for a static and a dynamic (batch) shape — so dropout in an exported training step masks as
// graft's does.
import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as C from "@graft/core";
import { encodeSafetensors } from "@graft/runtime";
import { exportOnnx } from "../../src/onnx/export.js";
import { onnx } from "../../src/onnx/proto.js";
import { createSession, loadOrt, ORT_MISSING, type Ort } from "./ort.js";

const ort = await loadOrt();

const x = C.input("x", ["batch", 3, 4]);
// a static draw, then a dynamic one with a seed (the mode pass numbers their streams 0 and 1)
const uniform = C.rand([5, 7]);
const shifted = C.add(x, C.rand(["batch", 3, 4], { seed: -123456789 }));
const draws = C.model({ name: "random_draws", outputs: { uniform, shifted } });

/** The weights file that sets the random counter. */
const counterWeights = (counter: number): Uint8Array => encodeSafetensors([{ name: C.RANDOM_COUNTER, dtype: "I32", shape: [], data: Int32Array.of(counter) }]);

/** core's values: uniformOfBits(randomBits(key, counter, index)). */
const expected = (seed: number, stream: number, counter: number, size: number): number[] =>
  Array.from({ length: size }, (_, index) => C.uniformOfBits(C.randomBits(C.randomKey(seed, stream), counter, index)));

describe.runIf(ort !== undefined)("random_uniform exported to ONNX, in onnxruntime-node", () => {
  const runtime = ort as Ort;
  for (const opset of [13, 17, 18, 21])
    it(`opset ${opset}: every draw equals core's randomBits, at counters 0, 1, 2³¹ − 1 and negative ones`, async () => {
      for (const counter of [0, 1, 2 ** 31 - 1, -1, -987654321]) {
        const result = exportOnnx(draws, { opset, weights: counterWeights(counter) });
        if (E.isLeft(result)) throw new Error(C.formatDiagnostics(result.left));
        const session = await createSession(runtime, result.right.bytes);
        for (const rows of [1, 6]) {
          const got = await session.run({ x: new runtime.Tensor("float32", new Float32Array(rows * 12), [rows, 3, 4]) });
          expect(Array.from(got.uniform?.data as Float32Array), `uniform, counter ${counter}`).toEqual(expected(0, 0, counter, 35));
          expect(Array.from(got.shifted?.data as Float32Array), `shifted, counter ${counter}, batch ${rows}`).toEqual(expected(-123456789, 1, counter, rows * 12));
        }
      }
    });

  it("any seed, counter and shape (opset 13 and 18): ORT's draws are core's, bit for bit", async () => {
    const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    await fc.assert(
      fc.asyncProperty(int32, int32, fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }), fc.constantFrom(13, 18), async (seed, counter, shape, opset) => {
        const drawn = C.model({ name: "draw", outputs: { u: C.rand(shape, { seed }) } });
        const result = exportOnnx(drawn, { opset, weights: counterWeights(counter) });
        if (E.isLeft(result)) throw new Error(C.formatDiagnostics(result.left));
        const got = await (await createSession(runtime, result.right.bytes)).run({});
        expect(got.u?.dims).toEqual(shape);
        expect(Array.from(got.u?.data as Float32Array)).toEqual(expected(seed, 0, counter, shape.reduce((a, b) => a * b, 1)));
      }),
      { numRuns: 12, seed: 12 },
    );
  });
});

describe("random_uniform's ONNX lowering", () => {
  it("the XOR below opset 18 is built from opset-13 ops only; from 18 it is BitwiseXor", () => {
    const opTypes = (opset: number): Set<string> => {
      const result = exportOnnx(draws, { opset });
      if (E.isLeft(result)) throw new Error(C.formatDiagnostics(result.left));
      const types = new Set((onnx.ModelProto.decode(result.right.bytes).graph?.node ?? []).map((node) => node.opType ?? ""));
      return new Set([...types].filter((op) => op.startsWith("Bit")));
    };
    expect(opTypes(17)).toEqual(new Set());
    expect(opTypes(18)).toEqual(new Set(["BitwiseXor"]));
  });
});

describe.runIf(ort === undefined)("random_uniform exported to ONNX, in onnxruntime-node", () => {
  it.skip(ORT_MISSING, () => undefined);
});
