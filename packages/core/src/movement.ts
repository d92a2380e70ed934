/**
 * @file The DSL of data movement, with PyTorch's semantics: `slice` (Python slicing, one or
 * several dims), `pad` (F.pad: constant, reflect, replicate; pads listed last dim first),
 * `concat`/`stack`, `split`/`chunk` (arrays of slices), `flip`, `tril`/`triu`, `arange`, and
 * `embedding` with the `embeddingLayer` helper (nn.Embedding's names, N(0, 1) init, padding row 0).
 */
import type { Dtype } from "./dtype.js";
import { ArgumentError, dimRangeMessage, guarded, rejected } from "./guard.js";
import type { Init } from "./init.js";
import { param, unsqueeze } from "./api.js";
import type { OpAttrs } from "./ops/attrs.js";
import { padDims } from "./ops/movement.js";
import { formatType, normalizeAxis, shapeEquals } from "./shape.js";
import { describeValue, isTensor, makeTensor, Tensor } from "./tensor.js";

const integerArg = (value: unknown, what: string): number => {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new ArgumentError(`${what} must be an integer, got ${describeValue(value)}`);
  return value;
};

const tensorsArg = (xs: unknown): Tensor[] => {
  if (Array.isArray(xs) && xs.length === 0) throw new ArgumentError("expects a non-empty array of tensors, got an empty array");
  if (!Array.isArray(xs) || !xs.every(isTensor)) throw new ArgumentError(`expects a non-empty array of tensors, got ${describeValue(xs)}`);
  return xs as Tensor[];
};

// ----- slice --------------------------------------------------------------------------------

/** One dim of a multi-dim slice: Python's `start:stop:step` (negative indices count from the end). */
export interface SliceSpec {
  readonly dim: number;
  readonly start?: number;
  readonly stop?: number;
  readonly step?: number;
}

/** Python's slice bounds on a dim of `size`: negative indices count from the end, then clamped to [0, size]. */
const clampIndex = (index: number, size: number): number => Math.min(Math.max(index < 0 ? index + size : index, 0), size);

/**
 * `x[..., start:stop:step, ...]` along `dim` with Python's rules (negative indices, clamping,
 * step ≥ 1), or along several dims at once: `slice(x, [{ dim: 0, start: 1 }, { dim: 2, step: 2 }])`.
 * A strided view: no copy.
 */
export const slice = guarded("slice", (x: Tensor, dim: number | readonly SliceSpec[], start?: number, stop?: number, step = 1): Tensor => {
  const specs: readonly SliceSpec[] = typeof dim === "number" ? [{ dim, start, stop, step }] : dim;
  if (!Array.isArray(specs)) throw new ArgumentError(`dim must be a dim or an array of { dim, start, stop, step }, got ${describeValue(dim)}`);
  const attrs = { dims: [] as number[], starts: [] as number[], stops: [] as number[], steps: [] as number[] };
  const call = (): { op: "slice"; attrs: OpAttrs["slice"] } => ({ op: "slice", attrs });
  if (x.type === undefined) return makeTensor("slice", attrs, [x]);
  for (const spec of specs) {
    const axis = normalizeAxis(integerArg(spec.dim, "dim"), x.rank);
    if (axis === undefined) return rejected(call(), [x], dimRangeMessage("slice", spec.dim, x.shape));
    const size = x.shape[axis];
    if (typeof size !== "number") return rejected(call(), [x], `slice: dim ${spec.dim} of ${formatType(x.type)} has symbolic size '${String(size)}'; slicing needs a static size`);
    const stepValue = integerArg(spec.step ?? 1, "step");
    if (stepValue < 1) return rejected(call(), [x], `slice: step must be a positive integer, got ${stepValue}`);
    const from = clampIndex(integerArg(spec.start ?? 0, "start"), size);
    const to = Math.max(clampIndex(integerArg(spec.stop ?? size, "stop"), size), from);
    attrs.dims.push(axis);
    attrs.starts.push(from);
    attrs.stops.push(to);
    attrs.steps.push(stepValue);
  }
  return makeTensor("slice", attrs, [x]);
});

// ----- pad ----------------------------------------------------------------------------------

export type PadMode = "constant" | "reflect" | "replicate";

/**
 * PyTorch's `F.pad(x, pads, mode, value)`: `pads` = [left, right] of the last dim, then of the one
 * before it, …; `constant` pads with `value` (negative amounts crop), `reflect` mirrors without
 * repeating the edge, `replicate` repeats the edge.
 */
export const pad = guarded("pad", (x: Tensor, pads: readonly number[], options: { readonly mode?: PadMode; readonly value?: number } = {}): Tensor => {
  if (!Array.isArray(pads)) throw new ArgumentError(`pads must be an array of integers [left, right, …] (last dim first), got ${describeValue(pads)}`);
  const mode = options.mode ?? "constant";
  const value = options.value ?? 0;
  const call = { op: "pad" as const, attrs: { before: [], after: [], interior: [], mode, value } };
  if (mode !== "constant" && mode !== "reflect" && mode !== "replicate") throw new ArgumentError(`mode must be "constant", "reflect" or "replicate", got ${describeValue(mode)}`);
  pads.forEach((amount, i) => integerArg(amount, `pads[${i}]`));
  if (x.type === undefined) return makeTensor("pad", call.attrs, [x]);
  if (pads.length % 2 !== 0) return rejected(call, [x], `pad: pads must have an even length (a pair per dim, last dim first), got [${pads.join(",")}]`);
  if (pads.length / 2 > x.rank) return rejected(call, [x], `pad: ${pads.length / 2} pairs of pads [${pads.join(",")}] for ${formatType(x.type)} of rank ${x.rank}`);
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  for (let pair = 0; pair < pads.length / 2; pair++) {
    before[x.rank - 1 - pair] = pads[2 * pair] as number;
    after[x.rank - 1 - pair] = pads[2 * pair + 1] as number;
  }
  if (mode !== "constant") {
    const negative = [...before, ...after].some((amount) => amount < 0);
    if (negative) return rejected(call, [x], `pad: ${mode} padding must be non-negative, got [${pads.join(",")}]`);
    return padDims(x, before, after, { mode });
  }
  // negative amounts crop first (as PyTorch's constant pad), then the rest pads
  const crops = x.shape.flatMap((size, axis) => {
    const low = Math.max(-(before[axis] as number), 0);
    const high = Math.max(-(after[axis] as number), 0);
    return low === 0 && high === 0 ? [] : [{ dim: axis, start: low, stop: typeof size === "number" ? Math.max(size - high, low) : -high }];
  });
  const cropped = crops.length === 0 ? x : slice(x, crops);
  return padDims(cropped, before.map((a) => Math.max(a, 0)), after.map((a) => Math.max(a, 0)), { value });
});

// ----- flip, concat, stack, split, chunk ----------------------------------------------------------

/** Reverses the order of elements along `dims` (torch.flip). */
export const flip = guarded("flip", (x: Tensor, dims: number | readonly number[]): Tensor => {
  const list = typeof dims === "number" ? [dims] : dims;
  if (!Array.isArray(list)) throw new ArgumentError(`dims must be a dim or an array of dims, got ${describeValue(dims)}`);
  const axes = list.map((dim) => integerArg(dim, "dim"));
  const bad = axes.find((dim) => normalizeAxis(dim, x.rank) === undefined);
  if (x.type !== undefined && bad !== undefined) return rejected({ op: "flip", attrs: { dims: [] } }, [x], dimRangeMessage("flip", bad, x.shape));
  return makeTensor("flip", { dims: axes.map((dim) => normalizeAxis(dim, x.rank) ?? dim) }, [x]);
});

/** Concatenates tensors along `dim` (torch.cat): every other dim must match. */
export const concat = guarded("concat", (xs: readonly Tensor[], dim = 0): Tensor => {
  const tensors = tensorsArg(xs);
  const first = tensors[0] as Tensor;
  const axis = normalizeAxis(integerArg(dim, "dim"), first.rank);
  if (first.type !== undefined && axis === undefined) return rejected({ op: "concat", attrs: { dim } }, tensors, dimRangeMessage("concat", dim, first.shape));
  return makeTensor("concat", { dim: axis ?? dim }, tensors);
});

/** Stacks tensors of one shape along a new dim `dim` (torch.stack): unsqueeze, then concat. */
export const stack = guarded("stack", (xs: readonly Tensor[], dim = 0): Tensor => {
  const tensors = tensorsArg(xs);
  const first = tensors[0] as Tensor;
  const axis = normalizeAxis(integerArg(dim, "dim"), first.rank + 1);
  if (first.type !== undefined && axis === undefined) return rejected({ op: "concat", attrs: { dim } }, tensors, dimRangeMessage("stack", dim, first.shape, first.rank + 1));
  const other = tensors.findIndex((t) => t.type !== undefined && first.type !== undefined && !shapeEquals(t.shape, first.shape));
  if (other >= 0 && first.type !== undefined)
    return rejected({ op: "concat", attrs: { dim } }, tensors, `stack: every input must have the same shape: input 0 is ${formatType(first.type)}, input ${other} is ${formatType((tensors[other] as Tensor).type ?? first.type)}`);
  return concat(tensors.map((t) => unsqueeze(t, axis ?? dim)), axis ?? dim);
});

/** The static size of `dim`, or a rejected node's message. */
const staticDim = (op: string, x: Tensor, dim: number): { axis: number; size: number } | string => {
  const axis = normalizeAxis(dim, x.rank);
  if (axis === undefined) return dimRangeMessage(op, dim, x.shape);
  const size = x.shape[axis];
  if (typeof size !== "number") return `${op}: dim ${dim} of ${formatType(x.type ?? { shape: x.shape, dtype: "f32" })} has symbolic size '${String(size)}'; ${op} needs a static size`;
  return { axis, size };
};

/**
 * torch.split: pieces of `sizeOrSections` elements along `dim` (the last one smaller), or pieces
 * of the listed sizes (which must sum to the dim's size). An array of views.
 */
export const split = (x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] => {
  const fail = (message: string): Tensor[] => [rejected({ op: "slice", attrs: { dims: [], starts: [], stops: [], steps: [] } }, isTensor(x) ? [x] : [], message)];
  if (!isTensor(x)) return fail(`split: expects a tensor, got ${describeValue(x)}`);
  if (x.type === undefined) return [x];
  const known = staticDim("split", x, dim);
  if (typeof known === "string") return fail(known);
  const { axis, size } = known;
  let sizes: number[];
  if (typeof sizeOrSections === "number") {
    if (!Number.isInteger(sizeOrSections) || sizeOrSections < 1) return fail(`split: the split size must be a positive integer, got ${sizeOrSections}`);
    sizes = [];
    for (let at = 0; at < size; at += sizeOrSections) sizes.push(Math.min(sizeOrSections, size - at));
    if (sizes.length === 0) sizes.push(0);
  } else if (Array.isArray(sizeOrSections) && sizeOrSections.every((s) => Number.isInteger(s) && s >= 0)) {
    sizes = [...sizeOrSections];
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== size) return fail(`split: sections [${sizes.join(",")}] sum to ${total}, but dim ${dim} of ${formatType(x.type)} has size ${size}`);
  } else return fail(`split: sizeOrSections must be a positive integer or an array of non-negative integers, got ${describeValue(sizeOrSections)}`);
  let at = 0;
  return sizes.map((length) => {
    const piece = slice(x, axis, at, at + length);
    at += length;
    return piece;
  });
};

/** torch.chunk: `chunks` pieces of ⌈size/chunks⌉ elements along `dim` (fewer when they run out). */
export const chunk = (x: Tensor, chunks: number, dim = 0): Tensor[] => {
  if (typeof chunks !== "number" || !Number.isInteger(chunks) || chunks < 1)
    return [rejected({ op: "slice", attrs: { dims: [], starts: [], stops: [], steps: [] } }, isTensor(x) ? [x] : [], `chunk: chunks must be a positive integer, got ${describeValue(chunks)}`)];
  if (!isTensor(x) || x.type === undefined) return split(x, 1, dim);
  const known = staticDim("chunk", x, dim);
  if (typeof known === "string") return [rejected({ op: "slice", attrs: { dims: [], starts: [], stops: [], steps: [] } }, [x], known)];
  return split(x, Math.max(Math.ceil(known.size / chunks), 1), dim);
};

// ----- masks and ranges -------------------------------------------------------------------------

/** The lower triangle of the last two dims (elements with col − row ≤ diagonal); the rest zeros. */
export const tril = guarded("tril", (x: Tensor, diagonal = 0): Tensor => makeTensor("tril", { diagonal: integerArg(diagonal, "diagonal") }, [x]));
/** The upper triangle of the last two dims (elements with col − row ≥ diagonal); the rest zeros. */
export const triu = guarded("triu", (x: Tensor, diagonal = 0): Tensor => makeTensor("triu", { diagonal: integerArg(diagonal, "diagonal") }, [x]));

/**
 * torch.arange: `arange(end)` or `arange(start, end, step)`, the values start, start + step, …
 * below `end` (above it for a negative step). i32 when every argument is an integer, else f32.
 */
export const arange = guarded("arange", (start: number, end?: number, step = 1, dtype?: Dtype): Tensor => {
  const [from, to] = end === undefined ? [0, start] : [start, end];
  for (const [what, value] of [["start", from], ["end", to], ["step", step]] as const)
    if (typeof value !== "number" || !Number.isFinite(value)) throw new ArgumentError(`${what} must be a finite number, got ${describeValue(value)}`);
  const type: Dtype = dtype ?? (Number.isInteger(from) && Number.isInteger(to) && Number.isInteger(step) ? "i32" : "f32");
  const call = { op: "arange" as const, attrs: { start: from, step, size: 0, dtype: type } };
  if (step === 0) return rejected(call, [], "arange: step must be non-zero");
  if ((to - from) * step < 0) return rejected(call, [], `arange: the range from ${from} to ${to} is inconsistent with step ${step}`);
  return makeTensor("arange", { start: from, step, size: Math.max(Math.ceil((to - from) / step), 0), dtype: type }, []);
});

// ----- embedding ----------------------------------------------------------------------------------

/**
 * PyTorch's F.embedding: row `indices[...]` of `weight` [numEmbeddings, dim], shape
 * [...indices, dim]. The gradient sums into the rows (a scatter-add); with `paddingIdx`, that
 * row gets none.
 */
export const embedding = guarded("embedding", (indices: Tensor, weight: Tensor, options: { readonly paddingIdx?: number } = {}): Tensor => {
  const num = weight.type === undefined ? undefined : weight.shape[0];
  let paddingIdx = options.paddingIdx;
  if (paddingIdx !== undefined) {
    integerArg(paddingIdx, "paddingIdx");
    if (typeof num === "number" && paddingIdx < 0 && paddingIdx >= -num) paddingIdx += num;
  }
  return makeTensor("embedding", { paddingIdx }, [indices, weight]);
});

/** nn.Embedding(numEmbeddings, dim, padding_idx): `<name>.weight` [numEmbeddings, dim] ~ N(0, 1), the padding row zeros. */
export const embeddingLayer = guarded("embeddingLayer", (indices: Tensor, numEmbeddings: number, dim: number, name: string, options: { readonly paddingIdx?: number } = {}): Tensor => {
  integerArg(numEmbeddings, "numEmbeddings");
  integerArg(dim, "dim");
  const padding = options.paddingIdx === undefined ? undefined : integerArg(options.paddingIdx, "paddingIdx");
  const row = padding === undefined ? undefined : padding < 0 ? padding + numEmbeddings : padding;
  const init: Init = row === undefined || row < 0 || row >= numEmbeddings ? { kind: "normal", mean: 0, std: 1 } : { kind: "normal", mean: 0, std: 1, zeroRow: { index: row, width: dim } };
  return embedding(indices, param(`${name}.weight`, [numEmbeddings, dim], init), { paddingIdx: padding });
});

/** The weight gradient of embedding: `grad` [...indices, dim] summed into rows of [numEmbeddings, dim]. */
export const embeddingBackward = guarded("embeddingBackward", (indices: Tensor, grad: Tensor, numEmbeddings: number): Tensor =>
  makeTensor("embedding_backward", { numEmbeddings }, [indices, grad]));

export { padDims };
