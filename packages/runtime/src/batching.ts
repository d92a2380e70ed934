// Any batch size on functions compiled for a few: the rows of a batch are run in chunks of the
// compiled batch sizes and the chunks' outputs combined, as the compiler's analysis of the
// function (recorded in the bundle's info as its `batching`) allows. Imports only sibling
// runtime files (inlined into bundles).
import { FeedError, flattenNested, toFeedArray, validateLabels, type FeedArray, type FeedDtype } from "./feeds.js";
import type { FunctionImage } from "./session.js";

/** How one output of a chunked function is assembled from its chunks. */
export type RowCombine =
  /** The batch is the output's first dim: the chunks' rows are concatenated. */
  | { readonly kind: "rows" }
  /** The output does not depend on the batch's rows: every chunk gives the same; the first is kept. */
  | { readonly kind: "same" }
  /**
   * A mean (or sum) over the batch's rows: the chunks' values are averaged weighted by their real
   * rows (or added). With `weight: "labels"` a row counts only when its label in `input` is not
   * `ignoreIndex` (cross-entropy's mean over the rows it does not ignore), and padded rows get
   * that label so they count for nothing.
   */
  | { readonly kind: "mean" | "sum"; readonly weight: "rows" }
  | { readonly kind: "mean" | "sum"; readonly weight: "labels"; readonly input: string; readonly ignoreIndex: number };

/** Whether a function may run a batch of any size in chunks (decided by the compiler). */
export type Batching =
  | {
      readonly chunkable: true;
      /** The inputs with the batch as their first dim (the others are fed whole to every chunk). */
      readonly inputs: readonly string[];
      readonly outputs: Readonly<Record<string, RowCombine>>;
    }
  | {
      readonly chunkable: false;
      /** Why not, naming the op that couples the rows (and the user's line). */
      readonly reason: string;
    };

/** The symbolic dim that is the batch. */
const BATCH_DIM = "batch";

/** A chunk of a batch: `rows` real rows from `start`, run at compiled batch size `size` (rows ≤ size, the rest padding). */
export interface Chunk {
  readonly start: number;
  readonly rows: number;
  readonly size: number;
}

/**
 * Splits `rows` rows into chunks of the compiled `batches`: as many chunks of the largest size as
 * fit, then the rest. With `padding`, the rest is one chunk of the smallest size that holds it;
 * without, it is made of exact chunks (fewest runs), or undefined when no sum of the sizes is exact.
 */
export function planChunks(rows: number, batches: readonly number[], padding: boolean): Chunk[] | undefined {
  const sizes = [...new Set(batches)].filter((size) => Number.isSafeInteger(size) && size > 0).sort((a, b) => b - a);
  const largest = sizes[0];
  if (largest === undefined || !Number.isSafeInteger(rows) || rows < 0) return undefined;
  const chunks: Chunk[] = [];
  let start = 0;
  const push = (size: number, real = size): void => {
    chunks.push({ start, rows: real, size });
    start += real;
  };
  if (padding) {
    while (rows - start >= largest) push(largest);
    const rest = rows - start;
    if (rest > 0) push(sizes.filter((candidate) => candidate >= rest).pop() ?? largest, rest);
    return chunks;
  }
  // Exact: q chunks of the largest size and the fewest others for the rest. If an exact cover
  // exists, one exists using every other size fewer than `largest` times (largest copies of size s
  // can be swapped for s copies of the largest), so its rest is below (sizes − 1)·largest², and a
  // table up to there suffices.
  const limit = Math.min(rows, (sizes.length - 1) * largest * largest);
  const fewest = new Array<number>(limit + 1).fill(Number.POSITIVE_INFINITY);
  const last = new Array<number>(limit + 1).fill(0);
  fewest[0] = 0;
  for (let n = 1; n <= limit; n++)
    for (const size of sizes) {
      const before = (fewest[n - size] ?? Number.POSITIVE_INFINITY) + 1;
      if (size <= n && before < (fewest[n] ?? Number.POSITIVE_INFINITY)) {
        fewest[n] = before;
        last[n] = size;
      }
    }
  for (let q = Math.floor(rows / largest); q >= 0; q--) {
    const rest = rows - q * largest;
    if (rest > limit) break;
    if (!Number.isFinite(fewest[rest] ?? Number.POSITIVE_INFINITY)) continue;
    for (let i = 0; i < q; i++) push(largest);
    const tail: number[] = [];
    for (let n = rest; n > 0; n -= last[n] ?? n) tail.push(last[n] ?? n);
    for (const size of tail.sort((a, b) => b - a)) push(size);
    return chunks;
  }
  return undefined;
}

/** What {@link runChunked} needs to know about one input. */
export interface ChunkInput {
  readonly name: string;
  readonly dtype: FeedDtype;
  /** Elements per row (for inputs chunked by rows), or the whole input's elements. */
  readonly rowSize: number;
  /** True when the batch is this input's first dim. */
  readonly batched: boolean;
}

/**
 * An input fed as a typed array (or a flat or nested Array) converted to its typed array, with the
 * number of rows it holds; `rowDims` are the dims after the batch.
 * @throws FeedError naming the input for a nested Array of the wrong shape, an element that does
 *   not convert, or a length that is not a whole number of rows
 */
export function toFeedRows(name: string, dtype: FeedDtype, rowDims: readonly number[], value: unknown): { readonly array: FeedArray; readonly rows: number } {
  const rowSize = rowDims.reduce((product, dim) => product * dim, 1);
  const formatRow = `[${rowDims.join(",")}]`;
  let length: number | undefined;
  let flat: unknown = value;
  if (Array.isArray(value) && value.some((item) => Array.isArray(item))) flat = flattenNested(name, [null, ...rowDims], value).values;
  if (Array.isArray(flat)) length = flat.length;
  else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) length = (value as FeedArray).length;
  if (length === undefined) return { array: toFeedArray(name, { shape: [rowSize], dtype }, value), rows: 1 }; // throws the usual message
  if (rowSize === 0 || length % rowSize !== 0)
    throw new FeedError(name, `input ${name}: got ${length} elements, not a whole number of rows of ${formatRow} = ${rowSize} elements (expected shape [${["N", ...rowDims].join(",")}])`);
  const rows = length / rowSize;
  return { array: toFeedArray(name, { shape: [rows, ...rowDims], dtype }, flat), rows };
}

const allocate = (like: FeedArray, length: number): FeedArray => {
  if (like instanceof Float32Array) return new Float32Array(length);
  if (like instanceof Float64Array) return new Float64Array(length);
  if (like instanceof Int32Array) return new Int32Array(length);
  return new Uint8Array(length);
};

/** Rows `start … start+rows` of `array`, padded to `size` rows by repeating the last real row (or `fill`). */
const chunkOf = (array: FeedArray, rowSize: number, chunk: Chunk, fill: number | undefined): FeedArray => {
  const out = allocate(array, chunk.size * rowSize);
  out.set(array.subarray(chunk.start * rowSize, (chunk.start + chunk.rows) * rowSize) as ArrayLike<number> & FeedArray);
  if (chunk.size > chunk.rows) {
    if (fill !== undefined) out.fill(fill, chunk.rows * rowSize);
    else {
      const lastRow = array.subarray((chunk.start + chunk.rows - 1) * rowSize, (chunk.start + chunk.rows) * rowSize) as ArrayLike<number> & FeedArray;
      for (let row = chunk.rows; row < chunk.size; row++) out.set(lastRow, row * rowSize);
    }
  }
  return out;
};

/**
 * Runs a chunkable function on `rows` rows: every chunk through `run` (a compiled batch size),
 * then the outputs assembled as `batching.outputs` says. Means are weighted by each chunk's real
 * rows (or counted labels), so the result is the mean over the whole batch.
 * @param inputs the function's inputs, their converted arrays in `arrays`
 */
export function runChunked(
  batching: Extract<Batching, { chunkable: true }>,
  chunks: readonly Chunk[],
  inputs: readonly ChunkInput[],
  arrays: Readonly<Record<string, FeedArray>>,
  run: (size: number, feeds: Record<string, FeedArray>) => Record<string, FeedArray>,
): Record<string, FeedArray> {
  const fills = new Map<string, number>();
  for (const combine of Object.values(batching.outputs)) if ((combine.kind === "mean" || combine.kind === "sum") && combine.weight === "labels") fills.set(combine.input, combine.ignoreIndex);
  const rows = chunks.reduce((total, chunk) => total + chunk.rows, 0);
  const result: Record<string, FeedArray> = {};
  const sums = new Map<string, Float64Array>();
  const weights = new Map<string, number>();
  for (const chunk of chunks) {
    const feeds: Record<string, FeedArray> = {};
    for (const input of inputs) {
      const array = arrays[input.name];
      if (array === undefined) continue;
      feeds[input.name] = input.batched ? chunkOf(array, input.rowSize, chunk, fills.get(input.name)) : array;
    }
    const outputs = run(chunk.size, feeds);
    for (const [name, combine] of Object.entries(batching.outputs)) {
      const value = outputs[name];
      if (value === undefined) continue;
      if (combine.kind === "rows") {
        const rowSize = value.length / chunk.size;
        const target = result[name] ?? (result[name] = allocate(value, rows * rowSize));
        target.set(value.subarray(0, chunk.rows * rowSize) as ArrayLike<number> & FeedArray, chunk.start * rowSize);
      } else if (combine.kind === "same") {
        if (result[name] === undefined) result[name] = value;
      } else {
        let weight = 1;
        if (combine.kind === "mean") {
          if (combine.weight === "rows") weight = chunk.rows;
          else {
            const labels = arrays[combine.input];
            weight = 0;
            if (labels !== undefined) for (let row = chunk.start; row < chunk.start + chunk.rows; row++) if (labels[row] !== combine.ignoreIndex) weight++;
          }
          weights.set(name, (weights.get(name) ?? 0) + weight);
        }
        if (result[name] === undefined) result[name] = allocate(value, value.length);
        if (weight === 0) continue; // every row ignored: the chunk's mean is 0/0 and adds nothing
        const sum = sums.get(name) ?? new Float64Array(value.length);
        for (let i = 0; i < value.length; i++) sum[i] = (sum[i] ?? 0) + weight * (value[i] ?? 0);
        sums.set(name, sum);
      }
    }
  }
  for (const [name, combine] of Object.entries(batching.outputs)) {
    if (combine.kind !== "mean" && combine.kind !== "sum") continue;
    const target = result[name];
    if (target === undefined) continue;
    const sum = sums.get(name);
    const total = combine.kind === "mean" ? (weights.get(name) ?? 0) : 1;
    for (let i = 0; i < target.length; i++) target[i] = sum === undefined ? (combine.kind === "sum" ? 0 : Number.NaN) : (sum[i] ?? 0) / total;
  }
  return result;
}

/** What {@link prepareBatch} needs of a function: its declared inputs and how it batches. */
export interface BatchedFunction {
  readonly name: string;
  /** Declared inputs: `dims[0] === "batch"` marks a batched input. */
  readonly inputs: ReadonlyArray<{ readonly name: string; readonly dtype: FeedDtype; readonly dims: readonly (string | number)[] }>;
  readonly batching: Batching;
  /** Compiled batch sizes. */
  readonly batches: readonly number[];
  /** The shape after the batch of every input at the compiled sizes (from any image). */
  readonly rowDims: Readonly<Record<string, readonly number[]>>;
  /** Class-label checks of the inputs (run on the whole batch before any chunk). */
  readonly labels: ReadonlyArray<{ readonly input: string; readonly numClasses: number; readonly ignoreIndex?: number | undefined; readonly noun?: "label" | "index" }>;
}

/**
 * A bundled function as {@link prepareBatch} sees it, from its info (declared inputs, batching)
 * and its compiled images (one per batch size; the batch is the first dim of batched inputs).
 */
export function batchedFunction(
  name: string,
  info: { readonly inputs: ReadonlyArray<{ readonly name: string; readonly dtype: FeedDtype; readonly dims: readonly (string | number)[] }>; readonly batching: Batching },
  images: readonly FunctionImage[],
): BatchedFunction | undefined {
  const first = images[0];
  if (first === undefined) return undefined;
  const batched = info.inputs.find((input) => input.dims[0] === BATCH_DIM);
  return {
    name,
    inputs: info.inputs.map((input) => ({ name: input.name, dtype: input.dtype, dims: input.dims })),
    batching: info.batching,
    batches: images.flatMap((image) => {
      const size = batched === undefined ? undefined : image.inputs.find((slot) => slot.name === batched.name)?.shape[0];
      return size === undefined ? [] : [size];
    }),
    rowDims: Object.fromEntries(first.inputs.map((slot) => [slot.name, slot.shape.slice(1)])),
    labels: first.labels,
  };
}

/** What to do with a call's feeds: run one compiled image on them, or run chunks (already done). */
export type PreparedBatch =
  | { readonly kind: "image"; readonly feeds: Readonly<Record<string, unknown>> }
  | { readonly kind: "chunked"; readonly outputs: Record<string, FeedArray> };

/**
 * Converts a call's batched feeds (typed arrays, flat or nested Arrays) once and decides how to
 * run them: at a compiled batch size (`image`, the feeds converted), or in chunks (run here
 * through `run`, which executes one compiled batch size). A function that is not chunkable gets
 * its converted feeds back, so that the caller reports a batch size it does not take.
 * @throws FeedError for feeds of different row counts, an empty batch, labels out of range, or a
 *   batch no chunking can cover exactly when padding would change a mean
 */
export function prepareBatch(fn: BatchedFunction, feeds: Readonly<Record<string, unknown>>, run: (size: number, feeds: Record<string, FeedArray>) => Record<string, FeedArray>): PreparedBatch {
  const converted: Record<string, unknown> = { ...feeds };
  const rowsOf = new Map<string, number>();
  const inputs: ChunkInput[] = [];
  for (const input of fn.inputs) {
    const rowDims = fn.rowDims[input.name];
    const value = feeds[input.name];
    const batched = input.dims[0] === BATCH_DIM && rowDims !== undefined;
    inputs.push({ name: input.name, dtype: input.dtype, rowSize: (rowDims ?? []).reduce((a, b) => a * b, 1), batched });
    if (!batched || value === undefined || !(Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView)))) continue;
    if (!fn.batching.chunkable && !Array.isArray(value)) continue; // typed arrays reach the usual checks unchanged
    const { array, rows } = toFeedRows(input.name, input.dtype, rowDims, value);
    converted[input.name] = array;
    rowsOf.set(input.name, rows);
  }
  const batching = fn.batching;
  if (!batching.chunkable || rowsOf.size === 0) return { kind: "image", feeds: converted };
  const counts = [...rowsOf.values()];
  const rows = counts[0] ?? 0;
  if (counts.some((count) => count !== rows))
    throw new FeedError(
      [...rowsOf.keys()][0] ?? "",
      `${fn.name}: the inputs hold different numbers of rows (${[...rowsOf].map(([name, count]) => `${name}: ${count}`).join(", ")}); feed one row of each per sample`,
    );
  if (fn.batches.includes(rows) || rowsOf.size < fn.inputs.filter((input) => input.dims[0] === BATCH_DIM).length) return { kind: "image", feeds: converted };
  if (rows === 0) throw new FeedError([...rowsOf.keys()][0] ?? "", `${fn.name}: the batch is empty (0 rows)`);
  const arrays = converted as Record<string, FeedArray>;
  for (const label of fn.labels) {
    const array = arrays[label.input];
    if (array instanceof Int32Array) validateLabels(label.input, array, label.numClasses, label.ignoreIndex, label.noun);
  }
  const aggregates = Object.entries(batching.outputs).filter(([, combine]) => combine.kind === "mean" || combine.kind === "sum");
  const padding = aggregates.every(([, combine]) => "weight" in combine && combine.weight === "labels");
  const chunks = planChunks(rows, fn.batches, padding);
  if (chunks === undefined) {
    const [output, combine] = aggregates.find(([, c]) => "weight" in c && c.weight === "rows") ?? aggregates[0] ?? ["", { kind: "mean" }];
    throw new FeedError(
      [...rowsOf.keys()][0] ?? "",
      `${fn.name}: a batch of ${rows} rows is not a sum of the compiled batch sizes (${fn.batches.join(", ")}), and padding the last chunk would change ${output} (a ${combine.kind} over the rows); compile with a batch size of 1 too (--batch ${[...fn.batches, 1].join(",")})`,
    );
  }
  return { kind: "chunked", outputs: runChunked(batching, chunks, inputs, arrays, run) };
}
