/**
 * @file The kernel-IR rewrites, in one place. Each takes kernels (and where their buffers live)
 * and gives kernels that compute the same values with less memory traffic:
 *
 * | rewrite      | when                              | what                                                                 |
 * | ------------ | --------------------------------- | -------------------------------------------------------------------- |
 * | `epilogue`   | lowering (lower.ts, all back ends) | `matmul → add(bias row) → relu` is one matmul kernel with an epilogue |
 * | `stacked-rows`| lowering (lower.ts, all back ends) | a batched matmul by one shared matrix over contiguous left rows is one GEMM over the stacked rows ({@link stackBatchRows}) |
 * | `batch-sum`  | lowering (lower.ts, all back ends) | Σ over the batch of a batched matmul (a weight gradient Σ_b X_bᵀ G_b) is one GEMM over the stacked inner dim ({@link sumBatchDepth}) |
 * | `in-place`   | planning (`updateInPlace`)        | a state update whose elementwise kernel reads the old value at the same element writes straight into the param |
 * | `ce-fusion`  | WASM codegen (`fusableCrossEntropy`) | cross_entropy and its backward on the same rows run as one kernel (one pass: loss, LSE and gradient) |
 * | `map-split`  | WASM codegen, 2 threads (`splitMap`) | a big elementwise kernel gives half its leading axis to the helper worker |
 *
 * `graft print --kernels` lists, per function, which of them apply ({@link describeRewrites}).
 */
import { stridesOf } from "@graft/core";
import type { StateUpdate } from "../program/types.js";
import { exprAccesses, exprSome, kernelReads, kernelWrites, mapAccesses, type BufferInfo, type Expr, type Kernel } from "./kernels.js";
import type { LoweredFunction } from "./lower.js";

/** One kernel-IR rewrite: its name, the stage that applies it, and what it does. */
export interface KernelRewrite {
  readonly name: "epilogue" | "stacked-rows" | "batch-sum" | "in-place" | "ce-fusion" | "map-split";
  readonly stage: string;
  readonly description: string;
}

/** Every kernel-IR rewrite (the table above). */
export const KERNEL_REWRITES: readonly KernelRewrite[] = [
  { name: "epilogue", stage: "lowering", description: "matmul → add(bias row) → relu as one matmul kernel with an epilogue" },
  { name: "stacked-rows", stage: "lowering", description: "a batched matmul by one shared right matrix, left rows contiguous across the batch, as one GEMM over the stacked rows" },
  { name: "batch-sum", stage: "lowering", description: "a batched matmul summed over its batch (a weight gradient Σ_b X_bᵀ G_b) as one GEMM over the stacked inner dim" },
  { name: "in-place", stage: "planning", description: "a state update computed elementwise from the old value writes straight into the param" },
  { name: "ce-fusion", stage: "wasm codegen", description: "cross_entropy and its backward on the same rows as one kernel" },
  { name: "map-split", stage: "wasm codegen, 2 threads", description: "a big elementwise kernel split along its leading axis between the threads" },
];

/**
 * The batch-sum rewrite: Σ_b A[b] @ B[b] as one [m, batch·k] @ [batch·k, n] GEMM, when both
 * operands walk their inner dim on across the batch — batch b's columns of A right after batch
 * b−1's, B's rows likewise (the weight gradient of a dense layer on [N, L, E] inputs: A[b] = X[b]ᵀ,
 * B[b] = G[b], both contiguous). Undefined when they do not (a broadcast operand, a permuted one)
 * or the stacked operands are strided (the caller keeps the batched matmul and its reduction).
 */
/** An r×c operand with (row, col) strides is row-major or its transpose (what a GEMM reads without a scalar loop). */
const isMatrixLayout = (r: number, c: number, row: number, col: number): boolean =>
  ((c === 1 || col === 1) && (r === 1 || row === c)) || ((r === 1 || row === 1) && (c === 1 || col === r));

export const sumBatchDepth = (kernel: MatmulKernel): MatmulKernel | undefined => {
  const { a, b, batch, m, n, k } = kernel;
  if (batch <= 1 || a.batchStride !== k * a.colStride || b.batchStride !== k * b.rowStride) return undefined;
  const depth = batch * k;
  if (!isMatrixLayout(m, depth, a.rowStride, a.colStride) || !isMatrixLayout(depth, n, b.rowStride, b.colStride)) return undefined;
  return { ...kernel, batch: 1, k: depth, a: { ...a, batchStride: 0 }, b: { ...b, batchStride: 0 }, summedBatch: batch };
};

/** Where buffers live: element offsets and sizes, by buffer id. */
export interface BufferLayout {
  readonly offsets: readonly number[];
  readonly buffers: readonly BufferInfo[];
}

type MapKernel = Extract<Kernel, { kind: "map" }>;
type MatmulKernel = Extract<Kernel, { kind: "matmul" }>;

/**
 * The stacked-rows rewrite: C[b] = A[b] @ B for every b as one [batch·m, k] @ [k, n] GEMM, when B
 * is the same matrix for every batch (batch stride 0) and A is row-major with batch b's rows
 * right after batch b−1's — a dense layer on [N, L, E] inputs, or its input gradient. The output
 * [batch, m, n] is contiguous, so it already is [batch·m, n]. A permuted or otherwise strided A,
 * or a batched B, keeps the batched kernel.
 */
export const stackBatchRows = (kernel: MatmulKernel): MatmulKernel => {
  const { a, b, batch, m, k } = kernel;
  const rowsStack = a.rowStride === k && (a.colStride === 1 || k === 1) && a.batchStride === m * k;
  if (batch <= 1 || b.batchStride !== 0 || !rowsStack) return kernel;
  return { ...kernel, batch: 1, m: batch * m, a: { ...a, batchStride: 0 }, stackedBatch: batch };
};

/**
 * Writes state updates in place: when the new value of a param is computed by an elementwise
 * kernel that reads the old value at the same element, and nothing reads the param afterwards,
 * the kernel writes straight into the param (no scratch buffer, no copy).
 * Returns the rewritten function and the updates still needing a copy.
 */
export const updateInPlace = (lowered: LoweredFunction, updates: readonly StateUpdate[]): { readonly lowered: LoweredFunction; readonly remaining: readonly StateUpdate[]; readonly inPlace: readonly number[] } => {
  let kernels = [...lowered.kernels];
  const remaining: StateUpdate[] = [];
  const inPlace: number[] = [];
  for (const update of updates) {
    const output = lowered.outputs.find((o) => o.name === update.output);
    const param = lowered.state.get(update.param);
    const index = output === undefined ? -1 : kernels.findIndex((k) => kernelWrites(k).includes(output.buffer));
    const kernel = kernels[index];
    const sharedOutput = output !== undefined && lowered.outputs.some((o) => o.buffer === output.buffer && o.name !== output.name);
    if (output === undefined || param === undefined || kernel === undefined || kernel.kind !== "map" || sharedOutput) {
      remaining.push(update);
      continue;
    }
    const contiguous = stridesOf(kernel.shape);
    const sameElement = exprAccesses(kernel.expr)
      .filter((access) => access.buffer === param)
      .every((access) => access.offset === 0 && access.strides.every((stride, axis) => stride === contiguous[axis] || kernel.shape[axis] === 1));
    const later = kernels.slice(index + 1);
    const paramUsedLater = later.some((k) => kernelReads(k).includes(param) || kernelWrites(k).includes(param));
    // later readers of the new value must be expression kernels, so their reads can be renamed
    const renamable = later.every((k) => !kernelReads(k).includes(output.buffer) || k.kind === "map" || k.kind === "reduce");
    if (!sameElement || paramUsedLater || !renamable) {
      remaining.push(update);
      continue;
    }
    inPlace.push(index);
    kernels = kernels.map((k, i) =>
      i === index ? { ...kernel, out: param } : i > index && (k.kind === "map" || k.kind === "reduce") ? { ...k, expr: mapAccesses(k.expr, (access) => (access.buffer === output.buffer ? { ...access, buffer: param } : access)) } : k,
    );
  }
  return { lowered: { ...lowered, kernels }, remaining, inPlace };
};

/**
 * Pairs (i, j) of a cross_entropy kernel i and a cross_entropy_backward kernel j > i on the same
 * contiguous rows, operands and attributes that can run as one fused kernel at i: the backward's
 * output touches nothing kernels i..j−1 read or write, and nothing they write is an input of the
 * backward (so computing it early reads the same values and clobbers nothing live).
 */
export const fusableCrossEntropy = (kernels: readonly Kernel[], ctx: BufferLayout): Map<number, number> => {
  const range = (id: number): readonly [number, number] => {
    const start = ctx.offsets[id] ?? 0;
    return [start, start + Math.max(1, ctx.buffers[id]?.size ?? 1)];
  };
  const overlaps = (a: number, c: number): boolean => {
    const [a0, a1] = range(a);
    const [c0, c1] = range(c);
    return a0 < c1 && c0 < a1;
  };
  const pairs = new Map<number, number>();
  const taken = new Set<number>();
  kernels.forEach((forward, i) => {
    if (forward.kind !== "cross_entropy" || forward.rows.inner !== 1 || forward.rows.size < 1) return;
    for (let j = i + 1; j < kernels.length; j++) {
      const backward = kernels[j];
      if (backward === undefined || backward.kind !== "cross_entropy_backward" || taken.has(j)) continue;
      const same =
        backward.x === forward.x &&
        backward.target === forward.target &&
        backward.weight === forward.weight &&
        (backward.lse === undefined || backward.lse === forward.lse) &&
        JSON.stringify(backward.rows) === JSON.stringify(forward.rows) &&
        JSON.stringify(backward.attrs) === JSON.stringify(forward.attrs);
      if (!same) continue;
      const inputs = [backward.x, backward.target, backward.grad, ...(backward.weight === undefined ? [] : [backward.weight])];
      let safe = true;
      for (let k = i; k < j && safe; k++) {
        const kernel = kernels[k] as Kernel;
        const touched = [...kernelReads(kernel), ...kernelWrites(kernel)];
        if (touched.some((id) => overlaps(id, backward.out))) safe = false;
        const written = kernelWrites(kernel).filter((id) => !(k === i && id === forward.lse));
        if (written.some((id) => inputs.some((input) => overlaps(id, input)) || (backward.lse !== undefined && k > i && overlaps(id, backward.lse)))) safe = false;
      }
      if (safe) {
        pairs.set(i, j);
        taken.add(j);
      }
      return;
    }
  });
  return pairs;
};

/** Adds `rows × stride[0]` to the offset of every read (the reads of rows `rows`… of a map kernel). */
const shiftReads = (e: Expr, rows: number): Expr => mapAccesses(e, (access) => ({ ...access, offset: access.offset + rows * (access.strides[0] ?? 0) }));

/**
 * A big map kernel split along its leading axis: `first` computes rows [0, rows) (same buffers),
 * `second` the others, reading through shifted offsets and writing through a view buffer that
 * starts at row `rows` of the output (`ctx` knows it). Undefined when the kernel is too small,
 * has one axis, or uses iota (whose index would need shifting).
 */
export const splitMap = <Layout extends BufferLayout>(ctx: Layout, kernel: MapKernel, minElements: number): { readonly first: MapKernel; readonly second: MapKernel; readonly ctx: Layout } | undefined => {
  const [leading, ...rest] = kernel.shape;
  const out = ctx.buffers[kernel.out];
  if (leading === undefined || rest.length === 0 || out === undefined || exprSome(kernel.expr, (x) => x.kind === "iota")) return undefined;
  const rowSize = rest.reduce((a, b) => a * b, 1);
  if (leading * rowSize < minElements) return undefined;
  let rows = Math.floor(leading / 2);
  // whole SIMD groups on each side when the axes collapse into one flat loop
  while (rows > 0 && (rows * rowSize) % 4 !== 0) rows--;
  if (rows <= 0 || rows >= leading) return undefined;
  const view = Math.max(ctx.buffers.length, ctx.offsets.length);
  const offsets = [...ctx.offsets];
  offsets[view] = (ctx.offsets[kernel.out] ?? 0) + rows * rowSize;
  const buffers = [...ctx.buffers];
  buffers[view] = { ...out, id: view, size: (leading - rows) * rowSize };
  return {
    first: { ...kernel, shape: [rows, ...rest] },
    second: { ...kernel, out: view, shape: [leading - rows, ...rest], expr: shiftReads(kernel.expr, rows) },
    ctx: { ...ctx, offsets, buffers },
  };
};


/** Default smallest elementwise kernel (elements) the two-thread WASM back end splits (wasm/context.ts). */
const MAP_SPLIT_ELEMENTS = 1 << 15;

/**
 * Which rewrites apply to a planned function, one line each (`epilogue k0, k2`), for
 * `graft print --kernels`. `inPlace` are the kernels `updateInPlace` redirected.
 */
export const describeRewrites = (kernels: readonly Kernel[], layout: BufferLayout, inPlace: readonly number[]): string[] => {
  const epilogue = kernels.flatMap((kernel, index) => (kernel.kind === "matmul" && (kernel.bias !== undefined || kernel.relu) ? [index] : []));
  const fused = [...fusableCrossEntropy(kernels, layout)].map(([forward, backward]) => `k${forward}+k${backward}`);
  const split = kernels.flatMap((kernel, index) => (kernel.kind === "map" && splitMap(layout, kernel, MAP_SPLIT_ELEMENTS) !== undefined ? [index] : []));
  const found: Record<KernelRewrite["name"], readonly string[]> = {
    epilogue: epilogue.map((index) => `k${index}`),
    "batch-sum": kernels.flatMap((kernel, index) => (kernel.kind === "matmul" && kernel.summedBatch !== undefined ? [`k${index}`] : [])),
    "stacked-rows": kernels.flatMap((kernel, index) => (kernel.kind === "matmul" && kernel.stackedBatch !== undefined ? [`k${index}`] : [])),
    "in-place": [...inPlace].sort((a, b) => a - b).map((index) => `k${index}`),
    "ce-fusion": fused,
    "map-split": split.map((index) => `k${index}`),
  };
  return KERNEL_REWRITES.flatMap((rewrite) => {
    const where = found[rewrite.name];
    return where.length === 0 ? [] : [`${rewrite.name} (${rewrite.stage}): ${where.join(", ")}`];
  });
};
