/**
 * @file Data-movement rows. Primitives: `slice` (a strided view), `pad` (constant / reflect /
 * replicate, an index map read inside map kernels), `flip` (an index map), `arange` (an iota),
 * `embedding` (a row gather read inside map kernels) and `embedding_backward` (its scatter-add).
 * Composites: `concat` (padded inputs selected by position: one map kernel), `tril`/`triu`
 * (a positional mask).
 */
import * as E from "fp-ts/lib/Either.js";
import { expand, constant, ge, le, reshape, scatterAdd, sub, where, eq, unsqueeze } from "../api.js";
import { isInteger, isFloat } from "../dtype.js";
import { formatShape, formatType, sizeOf, stridesOf, type Dim, type Shape, type TensorType } from "../shape.js";
import { makeTensor, type Tensor } from "../tensor.js";
import type { OpDef } from "./def.js";
import { ok, requireSameDtype } from "./rules.js";

// ----- node builders of the rows (plain nodes: the DSL in ../movement.ts checks user arguments) -----

/** The pad node itself: per-dim amounts (every dim), interior zeros (constant mode only). */
export const padDims = (x: Tensor, before: readonly number[], after: readonly number[], options: { readonly mode?: "constant" | "reflect" | "replicate"; readonly value?: number; readonly interior?: readonly number[] } = {}): Tensor =>
  makeTensor("pad", { before: [...before], after: [...after], interior: [...(options.interior ?? before.map(() => 0))], mode: options.mode ?? "constant", value: options.value ?? 0 }, [x]);

const sliceNode = (x: Tensor, specs: ReadonlyArray<{ readonly dim: number; readonly start: number; readonly stop: number; readonly step: number }>): Tensor =>
  makeTensor("slice", { dims: specs.map((s) => s.dim), starts: specs.map((s) => s.start), stops: specs.map((s) => s.stop), steps: specs.map((s) => s.step) }, [x]);

/** Positions along `dim` of a rank-`rank` result: 0 … size−1 (i32) shaped [1, …, size, …, 1]. */
export const positionsAlong = (size: number, dim: number, rank: number): Tensor =>
  reshape(makeTensor("arange", { start: 0, step: 1, size, dtype: "i32" }, []), Array.from({ length: rank }, (_, axis) => (axis === dim ? size : 1)));

const isIndex = (n: number): boolean => Number.isInteger(n) && n >= 0;

/** Row-major coordinates of every element of `shape`, calling f(flat, coords). */
const forEachCoord = (shape: readonly number[], f: (flat: number, coords: readonly number[]) => void): void => {
  const size = sizeOf(shape);
  const coords = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < size; flat++) {
    f(flat, coords);
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      coords[axis] = (coords[axis] as number) + 1;
      if ((coords[axis] as number) < (shape[axis] as number)) break;
      coords[axis] = 0;
    }
  }
};

/** The input coordinate a pad reads along one dim, or -1 for the constant. */
export const padSource = (i: number, size: number, before: number, interior: number, mode: "constant" | "reflect" | "replicate"): number => {
  const j = i - before;
  if (mode === "replicate") return Math.min(Math.max(j, 0), size - 1);
  if (mode === "reflect") {
    const r = Math.abs(j);
    return size - 1 - Math.abs(size - 1 - r);
  }
  const s = interior + 1;
  if (j < 0 || j % s !== 0) return -1;
  const k = j / s;
  return k < size ? k : -1;
};

/** The padded length of a dim. */
export const paddedSize = (size: number, before: number, after: number, interior: number): number => before + after + (size === 0 ? 0 : (size - 1) * (interior + 1) + 1);

/** The length of a slice start:stop:step (start ≤ stop). */
export const sliceLength = (start: number, stop: number, step: number): number => Math.max(Math.ceil((stop - start) / step), 0);

const dimsProblem = (op: string, shape: Shape, dims: readonly number[]): string | undefined => {
  const bad = dims.find((dim) => !Number.isInteger(dim) || dim < 0 || dim >= shape.length);
  if (bad !== undefined) return `dim ${bad} out of range for shape ${formatShape(shape)} (expected ${-shape.length} ≤ dim < ${shape.length})`;
  if (new Set(dims).size !== dims.length) return `repeated dim in [${dims.join(",")}]`;
  void op;
  return undefined;
};

/** The matrix dims of tril/triu: rank ≥ 2 with static sizes. */
const triangleCheck = (x: TensorType): string | undefined => {
  if (x.shape.length < 2) return `expected a tensor of rank ≥ 2 (a matrix or a batch of matrices), got ${formatType(x)}`;
  const rows = x.shape[x.shape.length - 2];
  const cols = x.shape[x.shape.length - 1];
  if (typeof rows !== "number" || typeof cols !== "number") return `the last two dims of ${formatType(x)} must be static`;
  return undefined;
};

const triangle = <K extends "tril" | "triu">(upper: boolean): OpDef<K> => ({
  kind: "elementwise",
  arity: [1, 1],
  infer: ([x], attrs) => {
    if (x === undefined) return E.left("missing input");
    const problem = triangleCheck(x) ?? (Number.isInteger(attrs.diagonal) ? undefined : `diagonal must be an integer, got ${attrs.diagonal}`);
    return problem === undefined ? E.right(x) : E.left(problem);
  },
  evaluate: ([x], attrs) => {
    if (x === undefined) return new Float64Array(0);
    const cols = x.shape[x.shape.length - 1] ?? 1;
    const rows = x.shape[x.shape.length - 2] ?? 1;
    return x.data.map((v, flat) => {
      const offset = (flat % cols) - (Math.floor(flat / cols) % rows);
      return (upper ? offset >= attrs.diagonal : offset <= attrs.diagonal) ? v : 0;
    });
  },
  gradient: { fromDecomposition: true },
  // where(col − row ≤ diagonal, x, 0) (≥ for triu), positions from iotas: one map kernel
  decompose: ([x], attrs) => {
    if (x === undefined) throw new Error("internal: tril/triu decomposed without its input");
    const rank = x.rank;
    const rows = x.shape[rank - 2] as number;
    const cols = x.shape[rank - 1] as number;
    const offset = sub(positionsAlong(cols, rank - 1, rank), positionsAlong(rows, rank - 2, rank));
    return where(upper ? ge(offset, attrs.diagonal) : le(offset, attrs.diagonal), x, 0);
  },
});

export const movementOps: {
  readonly slice: OpDef<"slice">;
  readonly pad: OpDef<"pad">;
  readonly flip: OpDef<"flip">;
  readonly arange: OpDef<"arange">;
  readonly concat: OpDef<"concat">;
  readonly tril: OpDef<"tril">;
  readonly triu: OpDef<"triu">;
  readonly embedding: OpDef<"embedding">;
  readonly embedding_backward: OpDef<"embedding_backward">;
} = {
  slice: {
    kind: "shape",
    arity: [1, 1],
    infer: ([x], { dims, starts, stops, steps }) => {
      if (x === undefined) return E.left("missing input");
      if (starts.length !== dims.length || stops.length !== dims.length || steps.length !== dims.length) return E.left(`dims, starts, stops and steps must have one entry per sliced dim`);
      const problem = dimsProblem("slice", x.shape, dims);
      if (problem !== undefined) return E.left(problem);
      const shape: Dim[] = [...x.shape];
      for (let i = 0; i < dims.length; i++) {
        const axis = dims[i] as number;
        const size = x.shape[axis];
        const [start, stop, step] = [starts[i] as number, stops[i] as number, steps[i] as number];
        if (typeof size !== "number") return E.left(`dim ${axis} of ${formatType(x)} has symbolic size '${String(size)}'; slicing needs a static size`);
        if (!isIndex(step) || step < 1) return E.left(`step must be a positive integer, got ${step}`);
        if (!isIndex(start) || !isIndex(stop) || start > stop || stop > size) return E.left(`slice ${start}:${stop} of dim ${axis} is not within 0 ≤ start ≤ stop ≤ ${size} (${formatType(x)})`);
        shape[axis] = sliceLength(start, stop, step);
      }
      return ok(shape, x.dtype);
    },
    evaluate: ([x], { dims, starts, steps }, out) => {
      if (x === undefined) return new Float64Array(0);
      const strides = stridesOf(x.shape);
      const result = new Float64Array(sizeOf(out.shape));
      forEachCoord(out.shape, (flat, coords) => {
        let from = 0;
        coords.forEach((c, axis) => {
          const i = dims.indexOf(axis);
          from += (i < 0 ? c : (starts[i] as number) + c * (steps[i] as number)) * (strides[axis] as number);
        });
        result[flat] = x.data[from] as number;
      });
      return result;
    },
    // the cotangent placed back: zeros around it and between strided elements
    gradient: {
      rule: ({ grad, inputs: [x], attrs }) => {
        if (x === undefined) return [undefined];
        const zeros = x.shape.map(() => 0);
        const before = [...zeros];
        const after = [...zeros];
        const interior = [...zeros];
        attrs.dims.forEach((axis, i) => {
          const size = x.shape[axis] as number;
          const [start, stop, step] = [attrs.starts[i] as number, attrs.stops[i] as number, attrs.steps[i] as number];
          const length = sliceLength(start, stop, step);
          before[axis] = length === 0 ? 0 : start;
          after[axis] = length === 0 ? size : size - start - (length - 1) * step - 1;
          interior[axis] = length === 0 ? 0 : step - 1;
        });
        return [padDims(grad, before, after, { interior })];
      },
    },
  },
  pad: {
    kind: "index",
    arity: [1, 1],
    infer: ([x], { before, after, interior, mode, value }) => {
      if (x === undefined) return E.left("missing input");
      const rank = x.shape.length;
      if (before.length !== rank || after.length !== rank || interior.length !== rank) return E.left(`before, after and interior must have one entry per dim of ${formatType(x)}`);
      if (![...before, ...after, ...interior].every(isIndex)) return E.left(`pad amounts must be non-negative integers, got before [${before.join(",")}], after [${after.join(",")}], interior [${interior.join(",")}]`);
      if (mode !== "constant" && interior.some((n) => n !== 0)) return E.left(`interior padding is for constant mode only, got mode ${mode}`);
      if (mode === "constant" && !isFloat(x.dtype) && !Number.isInteger(value)) return E.left(`pad value ${value} is not an integer, as ${formatType(x)} needs`);
      const shape: Dim[] = [];
      for (let axis = 0; axis < rank; axis++) {
        const size = x.shape[axis] as Dim;
        const [b, a, i] = [before[axis] as number, after[axis] as number, interior[axis] as number];
        if (typeof size !== "number") {
          if (b !== 0 || a !== 0 || i !== 0) return E.left(`dim ${axis} of ${formatType(x)} is symbolic; padding it needs a static size`);
          shape.push(size);
          continue;
        }
        if (mode === "reflect" && (b >= size || a >= size) && (b > 0 || a > 0))
          return E.left(`reflect padding (${b}, ${a}) of dim ${axis} must be less than its size ${size} (input ${formatType(x)})`);
        if (mode === "replicate" && size === 0 && (b > 0 || a > 0)) return E.left(`replicate padding of dim ${axis} needs a non-empty dim (input ${formatType(x)})`);
        shape.push(paddedSize(size, b, a, i));
      }
      return ok(shape, x.dtype);
    },
    evaluate: ([x], { before, interior, mode, value }, out) => {
      if (x === undefined) return new Float64Array(0);
      const strides = stridesOf(x.shape);
      const result = new Float64Array(sizeOf(out.shape));
      forEachCoord(out.shape, (flat, coords) => {
        let from = 0;
        for (let axis = 0; axis < coords.length; axis++) {
          const source = padSource(coords[axis] as number, x.shape[axis] as number, before[axis] as number, interior[axis] as number, mode);
          if (source < 0) {
            from = -1;
            break;
          }
          from += source * (strides[axis] as number);
        }
        result[flat] = from < 0 ? value : (x.data[from] as number);
      });
      return result;
    },
    gradient: {
      rule: ({ grad, inputs: [x], attrs }) => {
        if (x === undefined) return [undefined];
        if (attrs.mode === "constant") {
          // the input's elements, read back out of the padded cotangent
          const specs = x.shape.flatMap((size, axis) => {
            const [b, i] = [attrs.before[axis] as number, attrs.interior[axis] as number];
            if (typeof size !== "number" || (b === 0 && attrs.after[axis] === 0 && i === 0)) return [];
            return [{ dim: axis, start: b, stop: b + (size === 0 ? 0 : (size - 1) * (i + 1) + 1), step: i + 1 }];
          });
          return [specs.length === 0 ? grad : sliceNode(grad, specs)];
        }
        // reflect / replicate: several outputs read one input element; sum them back dim by dim
        let acc = grad;
        for (let axis = x.shape.length - 1; axis >= 0; axis--) {
          const size = x.shape[axis];
          const [b, a] = [attrs.before[axis] as number, attrs.after[axis] as number];
          if (typeof size !== "number" || (b === 0 && a === 0)) continue;
          const length = paddedSize(size, b, a, 0);
          const sources = Array.from({ length }, (_, i) => padSource(i, size, b, 0, attrs.mode));
          const index = expand(reshape(constant(sources, "i32"), acc.shape.map((dim, d) => (d === axis ? length : 1))), acc.shape);
          acc = scatterAdd(acc.shape.map((dim, d) => (d === axis ? size : dim)), axis, index, acc);
        }
        return [acc];
      },
    },
  },
  flip: {
    kind: "index",
    arity: [1, 1],
    infer: ([x], { dims }) => {
      if (x === undefined) return E.left("missing input");
      const problem = dimsProblem("flip", x.shape, dims);
      if (problem !== undefined) return E.left(problem);
      const symbolic = dims.find((axis) => typeof x.shape[axis] !== "number");
      return symbolic === undefined ? E.right(x) : E.left(`dim ${symbolic} of ${formatType(x)} is symbolic; flipping it needs a static size`);
    },
    evaluate: ([x], { dims }) => {
      if (x === undefined) return new Float64Array(0);
      const strides = stridesOf(x.shape);
      const result = new Float64Array(x.data.length);
      forEachCoord(x.shape, (flat, coords) => {
        let from = 0;
        coords.forEach((c, axis) => (from += (dims.includes(axis) ? (x.shape[axis] as number) - 1 - c : c) * (strides[axis] as number)));
        result[flat] = x.data[from] as number;
      });
      return result;
    },
    gradient: { rule: ({ grad, attrs }) => [makeTensor("flip", { dims: attrs.dims }, [grad])] },
  },
  arange: {
    kind: "index",
    arity: [0, 0],
    infer: (_inputs, { start, step, size, dtype }) => {
      if (!isIndex(size)) return E.left(`size must be a non-negative integer, got ${size}`);
      if (!Number.isFinite(start) || !Number.isFinite(step) || step === 0) return E.left(`start and step must be finite and step non-zero, got start ${start}, step ${step}`);
      if (dtype === "bool") return E.left("arange makes numbers: dtype i32, f32 or f64, got bool");
      if (isInteger(dtype) && (!Number.isInteger(start) || !Number.isInteger(step))) return E.left(`an i32 range needs integer start and step, got start ${start}, step ${step}`);
      return ok([size], dtype);
    },
    evaluate: (_inputs, { start, step, size }) => Float64Array.from({ length: size }, (_, i) => start + i * step),
    gradient: { none: "arange has no tensor inputs" },
  },
  concat: {
    kind: "shape",
    arity: [1, 1 << 16],
    infer: (xs, { dim }) => {
      const first = xs[0];
      if (first === undefined) return E.left("missing input");
      if (!Number.isInteger(dim) || dim < 0 || dim >= first.shape.length) return E.left(`dim ${dim} out of range for shape ${formatShape(first.shape)} (expected ${-first.shape.length} ≤ dim < ${first.shape.length})`);
      const dtype = requireSameDtype(xs);
      if (E.isLeft(dtype)) return dtype;
      let total = 0;
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i] as TensorType;
        if (x.shape.length !== first.shape.length) return E.left(`input ${i} ${formatType(x)} has rank ${x.shape.length}, input 0 ${formatType(first)} has rank ${first.shape.length}`);
        const size = x.shape[dim];
        if (typeof size !== "number") return E.left(`dim ${dim} of input ${i} ${formatType(x)} is symbolic; concatenating needs static sizes`);
        if (x.shape.some((d, axis) => axis !== dim && d !== first.shape[axis])) return E.left(`sizes must match except in dim ${dim}: input 0 is ${formatType(first)}, input ${i} is ${formatType(x)}`);
        total += size;
      }
      return ok(first.shape.map((d, axis) => (axis === dim ? total : d)), dtype.right);
    },
    evaluate: (xs, { dim }, out) => {
      const result = new Float64Array(sizeOf(out.shape));
      const outer = sizeOf(out.shape.slice(0, dim));
      const inner = sizeOf(out.shape.slice(dim + 1));
      const total = out.shape[dim] ?? 0;
      let offset = 0;
      for (const x of xs) {
        const n = x.shape[dim] ?? 0;
        for (let o = 0; o < outer; o++) result.set(x.data.subarray(o * n * inner, (o + 1) * n * inner), (o * total + offset) * inner);
        offset += n;
      }
      return result;
    },
    gradient: { fromDecomposition: true },
    // each input padded to the full length, selected by position: one map kernel of index reads
    decompose: (xs, { dim }) => {
      const rank = xs[0]?.rank ?? 0;
      const sizes = xs.map((x) => x.shape[dim] as number);
      const total = sizes.reduce((a, b) => a + b, 0);
      const placed = (x: Tensor, offset: number): Tensor =>
        padDims(x, x.shape.map((_, axis) => (axis === dim ? offset : 0)), x.shape.map((_, axis) => (axis === dim ? total - offset - (sizes[xs.indexOf(x)] ?? 0) : 0)));
      let offset = 0;
      let result: Tensor | undefined;
      xs.forEach((x, i) => {
        result = result === undefined ? placed(x, 0) : where(ge(positionsAlong(total, dim, rank), offset), placed(x, offset), result);
        offset += sizes[i] ?? 0;
      });
      if (result === undefined) throw new Error("internal: concat decomposed without inputs");
      return result;
    },
  },
  tril: triangle<"tril">(false),
  triu: triangle<"triu">(true),
  embedding: {
    kind: "index",
    arity: [2, 2],
    infer: ([indices, weight], { paddingIdx }) => {
      if (indices === undefined || weight === undefined) return E.left("missing input");
      if (!isInteger(indices.dtype)) return E.left(`indices must be integer (i32), got ${formatType(indices)}`);
      if (weight.shape.length !== 2) return E.left(`weight must be 2-D [numEmbeddings, dim], got ${formatType(weight)}`);
      if (!isFloat(weight.dtype)) return E.left(`weight must be float, got ${formatType(weight)}`);
      const num = weight.shape[0];
      if (typeof num !== "number") return E.left(`the number of embeddings of weight ${formatType(weight)} must be static`);
      if (paddingIdx !== undefined && (!Number.isInteger(paddingIdx) || paddingIdx < 0 || paddingIdx >= num))
        return E.left(`paddingIdx ${paddingIdx} is out of range for ${num} embeddings (weight ${formatType(weight)})`);
      return ok([...indices.shape, weight.shape[1] as Dim], weight.dtype);
    },
    evaluate: ([indices, weight]) => {
      if (indices === undefined || weight === undefined) return new Float64Array(0);
      const [num = 0, dim = 0] = weight.shape;
      const result = new Float64Array(indices.data.length * dim);
      indices.data.forEach((row, at) => {
        if (!Number.isInteger(row) || row < 0 || row >= num) throw new RangeError(`embedding: index ${row} at flat position ${at} is out of range for ${num} embeddings`);
        result.set(weight.data.subarray(row * dim, (row + 1) * dim), at * dim);
      });
      return result;
    },
    // the rows' cotangents summed into the weight, none into the padding row
    gradient: {
      rule: ({ grad, inputs: [indices, weight], attrs }) => {
        if (indices === undefined || weight === undefined) return [undefined, undefined];
        const masked = attrs.paddingIdx === undefined ? grad : where(eq(unsqueeze(indices, -1), attrs.paddingIdx), 0, grad);
        return [undefined, makeTensor("embedding_backward", { numEmbeddings: weight.shape[0] as number }, [indices, masked])];
      },
    },
  },
  embedding_backward: {
    kind: "index",
    arity: [2, 2],
    infer: ([indices, grad], { numEmbeddings }) => {
      if (indices === undefined || grad === undefined) return E.left("missing input");
      if (!isInteger(indices.dtype)) return E.left(`indices must be integer (i32), got ${formatType(indices)}`);
      if (!isIndex(numEmbeddings)) return E.left(`numEmbeddings must be a non-negative integer, got ${numEmbeddings}`);
      const lead = grad.shape.slice(0, -1);
      if (grad.shape.length !== indices.shape.length + 1 || lead.some((d, axis) => d !== indices.shape[axis]))
        return E.left(`grad ${formatType(grad)} must have the shape of indices ${formatShape(indices.shape)} plus the embedding dim`);
      return ok([numEmbeddings, grad.shape[grad.shape.length - 1] as Dim], grad.dtype);
    },
    evaluate: ([indices, grad], { numEmbeddings }, out) => {
      const result = new Float64Array(sizeOf(out.shape));
      if (indices === undefined || grad === undefined) return result;
      const dim = out.shape[1] ?? 0;
      indices.data.forEach((row, at) => {
        if (!Number.isInteger(row) || row < 0 || row >= numEmbeddings) throw new RangeError(`embedding_backward: index ${row} at flat position ${at} is out of range for ${numEmbeddings} embeddings`);
        for (let c = 0; c < dim; c++) result[row * dim + c] = (result[row * dim + c] as number) + (grad.data[at * dim + c] as number);
      });
      return result;
    },
    gradient: { rule: ({ grad, inputs: [indices] }) => [undefined, indices && makeTensor("embedding", { paddingIdx: undefined }, [indices, grad])] },
  },
};
