/**
 * @file Indexing rows: one_hot, gather (PyTorch's torch.gather), scatter_add (its VJP).
 */
import * as E from "fp-ts/lib/Either.js";
import { isInteger, type Dtype } from "../dtype.js";
import { stridesOf, formatType, formatShape, shapeEquals, sizeOf, type Shape } from "../shape.js";
import { gather, scatterAdd } from "../api.js";
import type { OpDef } from "./def.js";
import { checkDim, checkDtype, checkShapeDims, ok } from "./rules.js";

const requireIndex = (type: import("../shape.js").TensorType, what: string): E.Either<string, void> =>
  isInteger(type.dtype) ? E.right(undefined) : E.left(`${what} must be integer (i32), got ${formatType(type)}`);

/** Calls f(outFlat, sourceFlat) for every position of `index`, where the source position is the
 * index position with its `dim` coordinate replaced by the index value. Throws on out-of-range. */
const forEachIndexed = (
  op: string,
  indexShape: readonly number[],
  indexData: Float64Array,
  sourceShape: readonly number[],
  dim: number,
  f: (indexFlat: number, sourceFlat: number) => void,
): void => {
  const sourceStrides = stridesOf(sourceShape);
  const size = sizeOf(indexShape);
  const coords = new Array<number>(indexShape.length).fill(0);
  for (let flat = 0; flat < size; flat++) {
    const value = indexData[flat] as number;
    const limit = sourceShape[dim] as number;
    if (value < 0 || value >= limit || !Number.isInteger(value))
      throw new RangeError(`${op}: index ${value} at position [${coords.join(",")}] is out of range for dim ${dim} of size ${limit}`);
    let sourceFlat = 0;
    for (let axis = 0; axis < coords.length; axis++) sourceFlat += (axis === dim ? value : (coords[axis] as number)) * (sourceStrides[axis] as number);
    f(flat, sourceFlat);
    for (let axis = indexShape.length - 1; axis >= 0; axis--) {
      coords[axis] = (coords[axis] as number) + 1;
      if ((coords[axis] as number) < (indexShape[axis] as number)) break;
      coords[axis] = 0;
    }
  }
};

/** PyTorch's rule for gather/scatter_add: same rank, index.size(d) ≤ input.size(d) for every d ≠ dim (symbolic dims must be equal). */
const checkIndexShape = (source: Shape, index: Shape, dim: number): E.Either<string, void> => {
  if (source.length !== index.length) return E.left(`index must have the same rank as the input: ${formatShape(index)} vs ${formatShape(source)}`);
  const fits = (size: Shape[number], limit: Shape[number] | undefined): boolean =>
    typeof size === "number" && typeof limit === "number" ? size <= limit : size === limit;
  const bad = index.findIndex((size, axis) => axis !== dim && !fits(size, source[axis]));
  return bad < 0
    ? E.right(undefined)
    : E.left(`index shape ${formatShape(index)} exceeds input ${formatShape(source)} at dim ${bad} (index.size(d) ≤ input.size(d) for every d ≠ ${dim})`);
};

export const indexingOps: { readonly one_hot: OpDef<"one_hot">; readonly gather: OpDef<"gather">; readonly scatter_add: OpDef<"scatter_add"> } = {
  one_hot: {
    kind: "index",
    arity: [1, 1],
    infer: ([labels], attrs) => {
      if (labels === undefined) return E.left("missing input");
      const index = requireIndex(labels, "labels");
      if (E.isLeft(index)) return index;
      if (!Number.isInteger(attrs.numClasses) || attrs.numClasses < 1) return E.left(`numClasses must be a positive integer, got ${attrs.numClasses}`);
      return E.chain((dtype: Dtype) => ok([...labels.shape, attrs.numClasses], dtype))(checkDtype(attrs.dtype));
    },
    evaluate: ([labels], attrs) => {
      if (labels === undefined) return new Float64Array(0);
      const out = new Float64Array(labels.data.length * attrs.numClasses);
      labels.data.forEach((label, row) => {
        if (label >= 0 && label < attrs.numClasses) out[row * attrs.numClasses + label] = 1;
      });
      return out;
    },
    gradient: { none: "one_hot takes integer labels: it has no gradient" },
  },
  gather: {
    kind: "index",
    arity: [2, 2],
    infer: ([x, index], attrs) => {
      if (x === undefined || index === undefined) return E.left("missing input");
      const checks = [requireIndex(index, "index"), E.map(() => undefined)(checkDim(x.shape, attrs.dim)), checkIndexShape(x.shape, index.shape, attrs.dim)];
      const failed = checks.find(E.isLeft);
      return failed !== undefined ? failed : ok(index.shape, x.dtype);
    },
    evaluate: ([x, index], attrs, out) => {
      const result = new Float64Array(sizeOf(out.shape));
      if (x === undefined || index === undefined) return result;
      forEachIndexed("gather", index.shape, index.data, x.shape, attrs.dim, (at, from) => (result[at] = x.data[from] as number));
      return result;
    },
    gradient: { rule: ({ grad, inputs: [x, index], attrs }) => [x && index && scatterAdd(x.shape, attrs.dim, index, grad), undefined] },
  },
  scatter_add: {
    kind: "index",
    arity: [2, 2],
    infer: ([index, src], attrs) => {
      if (index === undefined || src === undefined) return E.left("missing input");
      const checks = [
        requireIndex(index, "index"),
        E.map(() => undefined)(checkShapeDims(attrs.shape)),
        E.map(() => undefined)(checkDim(attrs.shape, attrs.dim)),
        checkIndexShape(attrs.shape, index.shape, attrs.dim),
        shapeEquals(index.shape, src.shape) ? E.right(undefined) : E.left(`src ${formatType(src)} must have the index's shape ${formatShape(index.shape)}`),
      ];
      const failed = checks.find(E.isLeft);
      return failed !== undefined ? failed : ok(attrs.shape, src.dtype);
    },
    evaluate: ([index, src], attrs, out) => {
      const result = new Float64Array(sizeOf(out.shape));
      if (index === undefined || src === undefined) return result;
      forEachIndexed("scatter_add", index.shape, index.data, out.shape, attrs.dim, (at, to) => (result[to] = (result[to] as number) + (src.data[at] as number)));
      return result;
    },
    gradient: { rule: ({ grad, inputs: [index], attrs }) => [undefined, index && gather(grad, attrs.dim, index)] },
  },
};
