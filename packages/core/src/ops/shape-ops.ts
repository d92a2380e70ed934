/**
 * @file Shape rows: reshape (with -1 and symbolic dims), transpose/permute, expand.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { mapBroadcast } from "../ndarray.js";
import { broadcastShapes, formatShape, shapeEquals, staticSize, stridesOf, symbolsOf, type Dim, type Shape } from "../shape.js";
import { reshape, permute } from "../api.js";
import type { OpDef } from "./def.js";
import { checkShapeDims, ok, sumTo } from "./rules.js";

/** Removes one occurrence of each of `remove` from `from`; undefined when one is missing. */
const removeSymbols = (from: readonly string[], remove: readonly string[]): string[] | undefined => {
  const left = [...from];
  for (const symbol of remove) {
    const index = left.indexOf(symbol);
    if (index < 0) return undefined;
    left.splice(index, 1);
  }
  return left;
};

/** The output shape of a reshape, resolving one -1 (possibly to a symbolic dim). */
export const resolveReshape = (from: Shape, to: Shape): E.Either<string, Shape> => {
  const holes = to.filter((dim) => dim === -1).length;
  if (holes > 1) return E.left(`only one dim can be -1, got ${formatShape(to)}`);
  const badDim = to.find((dim) => typeof dim === "number" && dim !== -1 && (!Number.isInteger(dim) || dim < 0));
  if (badDim !== undefined) return E.left(`invalid dim ${badDim} in ${formatShape(to)}`);
  const known = to.filter((dim) => dim !== -1);
  const leftSymbols = removeSymbols(symbolsOf(from), symbolsOf(known));
  const mismatch = () => E.left(`cannot reshape ${formatShape(from)} (${describeSize(from)} elements) to ${formatShape(to)} (${describeSize(to)})`);
  if (leftSymbols === undefined) return mismatch();
  const fromStatic = staticSize(from);
  const toStatic = staticSize(known);
  if (holes === 0) return leftSymbols.length === 0 && fromStatic === toStatic ? E.right(to) : mismatch();
  if (toStatic === 0) return E.left(`cannot infer -1 in ${formatShape(to)}: other dims have size 0`);
  const rest = fromStatic / toStatic;
  if (!Number.isInteger(rest)) return mismatch();
  let filled: Dim;
  if (leftSymbols.length === 0) filled = rest;
  else if (leftSymbols.length === 1 && rest === 1) filled = leftSymbols[0] as string;
  else return E.left(`cannot infer -1 in ${formatShape(to)} from ${formatShape(from)}: it would be a product of symbolic dims`);
  return E.right(to.map((dim) => (dim === -1 ? filled : dim)));
};

const describeSize = (shape: Shape): string => {
  const symbols = symbolsOf(shape.filter((dim) => dim !== -1));
  const size = staticSize(shape.filter((dim) => dim !== -1));
  return symbols.length === 0 ? `${size}` : `${[...symbols, ...(size === 1 ? [] : [String(size)])].join("·")}`;
};

export const shapeOps: { readonly reshape: OpDef<"reshape">; readonly transpose: OpDef<"transpose">; readonly expand: OpDef<"expand"> } = {
  reshape: {
    kind: "shape",
    arity: [1, 1],
    infer: ([x], attrs) => (x === undefined ? E.left("missing input") : E.map((shape: Shape) => ({ shape, dtype: x.dtype }))(resolveReshape(x.shape, attrs.shape))),
    evaluate: ([x]) => (x === undefined ? new Float64Array(0) : x.data.slice()),
    gradient: { rule: ({ grad, inputs: [x] }) => [x && reshape(grad, x.shape)] },
  },
  transpose: {
    kind: "shape",
    arity: [1, 1],
    infer: ([x], attrs) => {
      if (x === undefined) return E.left("missing input");
      const sorted = [...attrs.perm].sort((a, b) => a - b);
      if (sorted.length !== x.shape.length || sorted.some((axis, i) => axis !== i))
        return E.left(`perm [${attrs.perm.join(",")}] is not a permutation of the ${x.shape.length} dims of ${formatShape(x.shape)}`);
      return ok(attrs.perm.map((axis) => x.shape[axis] as Dim), x.dtype);
    },
    evaluate: ([x], attrs, out) => {
      if (x === undefined) return new Float64Array(0);
      const inStrides = stridesOf(x.shape);
      const permutedStrides = attrs.perm.map((axis) => inStrides[axis] ?? 0);
      return mapIndices(out.shape, permutedStrides, x.data);
    },
    gradient: {
      rule: ({ grad, attrs }) => {
        const inverse = new Array<number>(attrs.perm.length).fill(0);
        attrs.perm.forEach((axis, i) => (inverse[axis] = i));
        return [permute(grad, inverse)];
      },
    },
  },
  expand: {
    kind: "shape",
    arity: [1, 1],
    infer: ([x], attrs) =>
      x === undefined
        ? E.left("missing input")
        : pipe(
            checkShapeDims(attrs.shape),
            E.chain(() => broadcastShapes(x.shape, attrs.shape)),
            E.chain((shape) =>
              shapeEquals(shape, attrs.shape) ? ok(shape, x.dtype) : E.left(`cannot expand ${formatShape(x.shape)} to ${formatShape(attrs.shape)}`),
            ),
          ),
    evaluate: ([x], _attrs, out) => (x === undefined ? new Float64Array(0) : mapBroadcast([x], out.shape, ([v = 0]) => v)),
    gradient: { rule: ({ grad, inputs: [x] }) => [x && sumTo(grad, x.shape)] },
  },
};

/** Gathers `source` at offsets given by per-axis `strides` over `shape`, row-major. */
const mapIndices = (shape: readonly number[], strides: readonly number[], source: Float64Array): Float64Array => {
  const size = shape.reduce((p, d) => p * d, 1);
  const out = new Float64Array(size);
  const index = new Array<number>(shape.length).fill(0);
  let offset = 0;
  for (let flat = 0; flat < size; flat++) {
    out[flat] = source[offset] as number;
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      offset += strides[axis] as number;
      if ((index[axis] as number) < (shape[axis] as number)) break;
      offset -= (strides[axis] as number) * (shape[axis] as number);
      index[axis] = 0;
    }
  }
  return out;
};
