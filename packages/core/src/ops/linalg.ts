/**
 * @file matmul: batched, with broadcast batch dims (operands of rank ≥ 2; the DSL promotes 1-D).
 */
import * as E from "fp-ts/lib/Either.js";
import { broadcastStrides } from "../ndarray.js";
import { broadcastShapes, formatType, sizeOf, type Shape } from "../shape.js";
import { matmul, transpose } from "../api.js";
import type { OpDef } from "./def.js";
import { requireFloat, requireSameDtype, sumTo } from "./rules.js";

export const linalgOps: { readonly matmul: OpDef<"matmul"> } = {
  matmul: {
    kind: "matmul",
    arity: [2, 2],
    infer: ([a, b]) => {
      if (a === undefined || b === undefined) return E.left("missing input");
      if (a.shape.length < 2 || b.shape.length < 2) return E.left(`operands must have rank ≥ 2, got ${formatType(a)} @ ${formatType(b)}`);
      const dtype = requireSameDtype([a, b]);
      if (E.isLeft(dtype)) return dtype;
      const float = requireFloat(a);
      if (E.isLeft(float)) return float;
      const k1 = a.shape[a.shape.length - 1];
      const k2 = b.shape[b.shape.length - 2];
      if (k1 !== k2) return E.left(`inner dims differ: ${formatType(a)} @ ${formatType(b)} (${k1} ≠ ${k2})`);
      const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
      if (E.isLeft(batch)) return E.left(`batch dims do not broadcast: ${formatType(a)} @ ${formatType(b)}`);
      const shape: Shape = [...batch.right, a.shape[a.shape.length - 2] as number, b.shape[b.shape.length - 1] as number];
      return E.right({ shape, dtype: dtype.right });
    },
    evaluate: ([a, b], _attrs, out) => {
      if (a === undefined || b === undefined) return new Float64Array(0);
      const m = a.shape[a.shape.length - 2] as number;
      const k = a.shape[a.shape.length - 1] as number;
      const n = b.shape[b.shape.length - 1] as number;
      const batchShape = out.shape.slice(0, -2);
      const aBatch = broadcastStrides(a.shape.slice(0, -2), batchShape);
      const bBatch = broadcastStrides(b.shape.slice(0, -2), batchShape);
      const batches = sizeOf(batchShape);
      const result = new Float64Array(batches * m * n);
      for (let batch = 0; batch < batches; batch++) {
        // offsets of this batch in a and b (in units of matrices)
        let rest = batch;
        let aOffset = 0;
        let bOffset = 0;
        for (let axis = batchShape.length - 1; axis >= 0; axis--) {
          const size = batchShape[axis] as number;
          const index = rest % size;
          rest = Math.floor(rest / size);
          aOffset += index * (aBatch[axis] as number);
          bOffset += index * (bBatch[axis] as number);
        }
        const aBase = aOffset * m * k;
        const bBase = bOffset * k * n;
        const outBase = batch * m * n;
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let acc = 0;
            for (let p = 0; p < k; p++) acc += (a.data[aBase + i * k + p] as number) * (b.data[bBase + p * n + j] as number);
            result[outBase + i * n + j] = acc;
          }
      }
      return result;
    },
    // dA = G Bᵀ, dB = Aᵀ G, summed over broadcast batch dims
    gradient: {
      rule: ({ grad, inputs: [a, b] }) => [a && b && sumTo(matmul(grad, transpose(b)), a.shape), a && b && sumTo(matmul(transpose(a), grad), b.shape)],
    },
  },
};
