/**
 * @file Kernel IR → WebAssembly text. One module per function specialisation: it imports the
 * session's memory (`env.memory`), holds one WAT function per kernel with every buffer offset,
 * extent and stride baked in as a constant, and exports `run`, which calls the kernels in order
 * and returns 0, or s > 0 when the kernel `checked[s − 1]` refused its input (a gather index or a
 * class target out of range).
 *
 * - map kernels: the fused expression tree in f32 (i32/bool values stay integers; comparisons are
 *   lane masks under SIMD), SIMD f32x4 on the innermost loop when every access has stride 0 or 1
 *   there and it has ≥ 4 iterations (scalar remainder), values invariant in the innermost loop
 *   hoisted out of it;
 * - reduce kernels: register accumulation over trailing reduced axes (SIMD lanes, then a
 *   horizontal combine), read-modify-write of the output otherwise (SIMD along kept axes);
 * - row kernels mirror `@graft/runtime`'s kernels-js.ts; contiguous rows (inner = 1) of softmax,
 *   logsumexp and cross-entropy (forward/backward) take a SIMD path when the row is all finite
 *   (checked in the max pass), else the exact scalar path; the normalization and attention rows
 *   (norm.ts: layer_norm, attention_softmax and their backward) are contiguous: SIMD passes always;
 * - matmul: gemm.ts's register-blocked f32x4 GEMM (a batch loop around it when batched);
 * - conv: im2col + the same GEMMs (conv.ts), depthwise directly (depthwise.ts); pool: pool.ts.
 *
 * With `ctx.threads` (two threads over a shared memory, see threads.ts) the module imports a
 * shared memory and `env.spawn(task) → i32` / `env.join()`, and exports `task(task)`: a matmul
 * of at least `threads.minFlops` gives rows [split, m) of every batch element to the helper
 * worker (`task` runs them with the worker's own packing scratch) while the main thread computes
 * rows [0, split), then joins. `split` is a multiple of the register tile's rows, so each thread
 * walks exactly the tiles the one-thread code walks and every element of C is computed by the
 * same instructions in the same order: results are bit-identical to one thread. Elementwise
 * (map) kernels of at least `threads.minMapElements` elements split their leading axis the same
 * way (at a multiple of 4 elements, so SIMD and scalar-remainder elements stay the same);
 * convolutions (forward, transposed) split their images (or, when an image's im2col matrix does
 * not fit the worker's scratch, each image's GEMM rows), pools their planes and transposed weight
 * gradients their input channels (conv-split.ts).
 * When `spawn` returns 0 (no usable worker) the main thread computes everything.
 */
import { type Expr, type Kernel, kernelReads, kernelWrites } from "../kernels.js";
import { addrOf, type CodegenContext, KernelCompileError, MAX_MEMORY_PAGES, type ModuleEntry, type ModuleText, type ProgramModuleText } from "./context.js";
import { sizeOf, usesIota, usesPow } from "./expr.js";
import { mapKernel, reduceKernel } from "./loops.js";
import { bceKernel, crossEntropyBackwardKernel, crossEntropyFusedKernel, crossEntropyKernel, nllLossBackwardKernel, nllLossKernel } from "./losses.js";
import { powFunctions } from "./mathlib.js";
import { fusableCrossEntropy, splitMap } from "../rewrites.js";
import { convGemmSpec, convKernel, convRowTask, weightGradParts } from "./conv.js";
import { splitConv, splitConvRows, splitPool, splitWeightGrad } from "./conv-split.js";
import { poolKernel } from "./pool.js";
import { type GemmTable, matmulKernel } from "./matmul.js";
import { argmaxKernel, gatherKernel, logsumexpKernel, softmaxKernel } from "./rows.js";
import { attentionSoftmaxKernel, channelBackwardStatsKernel, channelStatsKernel, layerNormBackwardKernel, layerNormKernel, softmaxBackwardKernel } from "./norm.js";
import { FunctionBuilder, i32c, ZERO } from "./wat-builder.js";
// ----- module --------------------------------------------------------------------------------------

/**
 * A kernel split between the threads: the worker's task runs `second`; the main thread runs
 * `first` and joins, or `whole` when no worker takes the task.
 */
const splitInTwo = (b: FunctionBuilder, gemms: GemmTable, index: number, parts: { readonly whole: () => void; readonly first: () => void; readonly second: (fb: FunctionBuilder) => void }): void => {
  const task = gemms.tasks.length;
  gemms.tasks.push({ kernel: index, emit: parts.second });
  b.when(
    `(call $spawn ${i32c(task)})`,
    () => {
      parts.first();
      b.emit("(call $join)");
    },
    parts.whole,
  );
};

const kernelFunction = (ctx: CodegenContext, kernel: Kernel, index: number, gemms: GemmTable, name: string): { text: string; checked: boolean; pow: boolean } => {
  const b = new FunctionBuilder();
  switch (kernel.kind) {
    case "map": {
      const split = ctx.threads === undefined ? undefined : splitMap(ctx, kernel, ctx.threads.minMapElements);
      if (split === undefined) mapKernel(ctx, kernel, b);
      else
        splitInTwo(b, gemms, index, {
          whole: () => mapKernel(ctx, kernel, b),
          first: () => mapKernel(ctx, split.first, b),
          second: (fb) => mapKernel(split.ctx, split.second, fb),
        });
      return { text: b.text(name), checked: false, pow: usesPow(kernel.expr) };
    }
    case "reduce":
      reduceKernel(ctx, kernel, b);
      return { text: b.text(name), checked: false, pow: usesPow(kernel.expr) };
    case "matmul":
      matmulKernel(ctx, kernel, b, gemms, index);
      break;
    case "softmax":
      softmaxKernel(ctx, kernel, b);
      break;
    case "logsumexp":
      logsumexpKernel(ctx, kernel, b);
      break;
    case "argmax":
      argmaxKernel(ctx, kernel, b);
      break;
    case "cross_entropy":
      crossEntropyKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "cross_entropy_backward":
      if (kernel.lse === undefined && kernel.rows.inner === 1 && kernel.rows.size > 0) crossEntropyFusedKernel(ctx, undefined, kernel, b);
      else crossEntropyBackwardKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "nll_loss":
      nllLossKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "nll_loss_backward":
      nllLossBackwardKernel(ctx, kernel, b);
      b.emit(ZERO);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "bce_logits":
      bceKernel(ctx, kernel, b);
      break;
    case "gather":
      gatherKernel(ctx, kernel, b);
      return { text: b.text(name, [], "i32"), checked: true, pow: false };
    case "conv": {
      const parts = weightGradParts(ctx, kernel, gemms, index);
      const rowSplit = parts === undefined ? undefined : splitWeightGrad(ctx, kernel, parts);
      if (parts !== undefined && rowSplit !== undefined && ctx.threads !== undefined) {
        const [all, col, workerScratch] = [kernel.geometry.ci / kernel.geometry.groups, addrOf(ctx, kernel.col), ctx.threads.scratch];
        parts.zero(b);
        splitInTwo(b, gemms, index, {
          whole: () => parts.rows(b, { from: 0, to: all }, col, ctx.scratch),
          first: () => parts.rows(b, { from: 0, to: rowSplit.channels }, col, ctx.scratch),
          second: (fb) => parts.rows(fb, { from: rowSplit.channels, to: all }, rowSplit.col, workerScratch),
        });
        parts.finish(b);
        break;
      }
      const split = splitConv(ctx, kernel, convGemmSpec(ctx, kernel));
      const rowsSplit = split === undefined ? splitConvRows(ctx, kernel, convGemmSpec(ctx, kernel)) : undefined;
      if (rowsSplit !== undefined && ctx.threads !== undefined) {
        const task = gemms.tasks.length;
        gemms.tasks.push({ kernel: index, emit: convRowTask(ctx, kernel, gemms, index, { ...rowsSplit, scratch: ctx.threads.scratch }) });
        convKernel(ctx, kernel, b, gemms, index, { task, ...rowsSplit });
      } else if (split === undefined) convKernel(ctx, kernel, b, gemms, index);
      else
        splitInTwo(b, gemms, index, {
          whole: () => convKernel(ctx, kernel, b, gemms, index),
          first: () => convKernel(ctx, split.first, b, gemms, index),
          second: (fb) => convKernel(split.secondCtx, split.second, fb, gemms, index),
        });
      break;
    }
    case "pool": {
      const split = splitPool(ctx, kernel);
      if (split === undefined) poolKernel(ctx, kernel, b);
      else
        splitInTwo(b, gemms, index, {
          whole: () => poolKernel(ctx, kernel, b),
          first: () => poolKernel(ctx, split.first, b),
          second: (fb) => poolKernel(split.secondCtx, split.second, fb),
        });
      break;
    }
    case "layer_norm":
      layerNormKernel(ctx, kernel, b);
      break;
    case "layer_norm_backward":
      layerNormBackwardKernel(ctx, kernel, b);
      break;
    case "attention_softmax":
      attentionSoftmaxKernel(ctx, kernel, b);
      break;
    case "softmax_backward":
      softmaxBackwardKernel(ctx, kernel, b);
      break;
    case "channel_stats":
      channelStatsKernel(ctx, kernel, b);
      break;
    case "channel_backward_stats":
      channelBackwardStatsKernel(ctx, kernel, b);
      break;
    case "copy":
      if (kernel.size > 0) b.emit(`(memory.copy ${i32c(addrOf(ctx, kernel.to))} ${i32c(addrOf(ctx, kernel.from))} ${i32c(kernel.size * 4)})`);
      break;
  }
  return { text: b.text(name), checked: false, pow: false };
};

/** Compiles one kernel (or a fused cross-entropy pair) to a WAT function named `name`. */
const compileKernel = (ctx: CodegenContext, kernels: readonly Kernel[], index: number, fused: ReadonlyMap<number, number>, gemms: GemmTable, name: string): { text: string; checked: boolean; pow: boolean } => {
  const kernel = kernels[index] as Kernel;
  const partner = fused.get(index);
  const backward = partner === undefined ? undefined : kernels[partner];
  if (kernel.kind === "cross_entropy" && backward !== undefined && backward.kind === "cross_entropy_backward") {
    const b = new FunctionBuilder();
    crossEntropyFusedKernel(ctx, kernel, backward, b);
    b.emit(ZERO);
    return { text: b.text(name, [], "i32"), checked: true, pow: false };
  }
  return kernelFunction(ctx, kernel, index, gemms, name);
};

/**
 * The WAT module of several schedules over one memory: shared helper functions (GEMMs, pow), one
 * function per kernel (kernels whose code is identical are emitted once) and one exported function
 * per entry, which calls its kernels in order and returns 0, or s > 0 when the kernel
 * `checked[entry][s − 1]` refused its input. Every entry shares `base`, the scratch area, SIMD
 * features and threads (those of the first entry's context).
 * @throws KernelCompileError naming the entry and kernel it cannot compile.
 */
export const programModuleText = (entries: readonly ModuleEntry[]): ProgramModuleText => {
  const gemms: GemmTable = { functions: new Map(), tasks: [] };
  const functions: string[] = [];
  const runs: string[] = [];
  const checkedPerEntry: number[][] = [];
  /** Function body (without its name) → name, so identical kernels are emitted once. */
  const emitted = new Map<string, string>();
  let pow = false;
  entries.forEach(({ name: exported, kernels, ctx }, entry) => {
    const calls: string[] = [];
    const checked: number[] = [];
    const fused = ctx.fuseCrossEntropy === false ? new Map<number, number>() : fusableCrossEntropy(kernels, ctx);
    const absorbed = new Set(fused.values());
    kernels.forEach((_, index) => {
      if (absorbed.has(index)) return;
      const name = entries.length === 1 ? `k${index}` : `k${entry}_${index}`;
      let compiled: { text: string; checked: boolean; pow: boolean };
      try {
        compiled = compileKernel(ctx, kernels, index, fused, gemms, name);
      } catch (thrown) {
        if (thrown instanceof KernelCompileError) throw new KernelCompileError(thrown.message, thrown.kernel, entry);
        throw new KernelCompileError(thrown instanceof Error ? thrown.message : String(thrown), index, entry);
      }
      const body = compiled.text.slice(`(func $${name}`.length);
      // a session module (one entry) keeps one function per kernel
      const same = entries.length > 1 ? emitted.get(body) : undefined;
      const callee = same ?? name;
      if (same === undefined) {
        emitted.set(body, name);
        functions.push(compiled.text);
      }
      pow ||= compiled.pow;
      if (compiled.checked) {
        checked.push(index);
        calls.push(`  (if (call $${callee}) (then (return ${i32c(checked.length)})))`);
      } else calls.push(`  (call $${callee})`);
    });
    checkedPerEntry.push(checked);
    runs.push([`(func $${exported} (export "${exported}") (result i32)`, ...calls, `  ${ZERO})`].join("\n"));
  });
  const threaded = entries[0]?.ctx.threads !== undefined;
  const task = new FunctionBuilder();
  for (const [number, { emit }] of gemms.tasks.entries()) task.when(`(i32.eq (local.get $task) ${i32c(number)})`, () => {
    emit(task);
    task.emit("(return)");
  });
  if (threaded) task.emit("(unreachable)");
  const wat = [
    "(module",
    threaded ? `(import "env" "memory" (memory 1 ${MAX_MEMORY_PAGES} shared))` : '(import "env" "memory" (memory 1))',
    ...(threaded ? ['(import "env" "spawn" (func $spawn (param i32) (result i32)))', '(import "env" "join" (func $join))'] : []),
    ...(pow ? [powFunctions()] : []),
    ...[...gemms.functions.values()].map((g) => g.text),
    ...functions,
    ...(threaded ? [task.text("task", [["task", "i32"]]).replace("(func $task", '(func $task (export "task")')] : []),
    ...runs,
    ")",
  ].join("\n");
  return { wat, checked: checkedPerEntry, tasks: gemms.tasks.map((t) => t.kernel) };
};

/**
 * The WAT module of one schedule: helper functions, one function per kernel, and `run`.
 * @throws KernelCompileError naming the kernel it cannot compile.
 */
export const moduleText = (kernels: readonly Kernel[], ctx: CodegenContext): ModuleText => {
  const text = programModuleText([{ name: "run", kernels, ctx }]);
  return { wat: text.wat, checked: text.checked[0] ?? [], tasks: text.tasks };
};
