/**
 * @file Matmul kernels: operands laid out plain or transposed call a shared gemm.ts function
 * (deduplicated per module, split across threads when big enough); strided operands get a scalar
 * loop.
 */
import { type Kernel } from "../kernels.js";
import { addrOf, type CodegenContext, KernelCompileError } from "./context.js";
import { gemmScratchBytes, type GemmSpec, planGemm } from "./gemm-plan.js";
import { emitGemmFunction } from "./gemm.js";
import { f32c, FunctionBuilder, get, i32c, iadd, imul, ld, st, ZERO } from "./wat-builder.js";

// ----- matmul ------------------------------------------------------------------------------------

export type Layout = "plain" | "trans" | "strided";

/** How an m×k operand with (row, col) element strides is stored: row-major, its transpose, or neither. */
export const layoutOf = (rowsCount: number, cols: number, row: number, col: number): Layout => {
  if ((cols === 1 || col === 1) && (rowsCount === 1 || row === cols)) return "plain";
  if ((rowsCount === 1 || row === 1) && (cols === 1 || col === rowsCount)) return "trans";
  return "strided";
};

export interface GemmTable {
  readonly functions: Map<string, { readonly name: string; readonly text: string }>;
  /** Per task number: the kernel index and the worker's part, emitted into the `task` function. */
  readonly tasks: Array<{ readonly kernel: number; readonly emit: (b: FunctionBuilder) => void }>;
}

/** First row of the worker's part: about half of `m`, on a register-tile boundary (`mr`) so both parts walk the one-thread tiles. */
export const splitRow = (m: number, mr: number): number => Math.min(m, Math.max(mr, Math.round(m / 2 / mr) * mr));

export const matmulKernel = (ctx: CodegenContext, kernel: Extract<Kernel, { kind: "matmul" }>, b: FunctionBuilder, gemms: GemmTable, index: number): void => {
  const { m, n, k, batch } = kernel;
  if (m === 0 || n === 0 || batch === 0) return;
  const a = addrOf(ctx, kernel.a.buffer) + kernel.a.offset * 4;
  const bb = addrOf(ctx, kernel.b.buffer) + kernel.b.offset * 4;
  const c = addrOf(ctx, kernel.out);
  const bias = kernel.bias === undefined ? 0 : addrOf(ctx, kernel.bias.buffer) + kernel.bias.offset * 4;
  const aLayout = layoutOf(m, k, kernel.a.rowStride, kernel.a.colStride);
  const bLayout = layoutOf(k, n, kernel.b.rowStride, kernel.b.colStride);
  const loopBatch = (fb: FunctionBuilder, body: (aOff: string, bOff: string, cOff: string) => void): void => {
    if (batch === 1) {
      body(ZERO, ZERO, ZERO);
      return;
    }
    const counter = fb.local("i32", "s");
    fb.forRange(counter, 0, batch, 1, () => body(imul(get(counter), kernel.a.batchStride * 4), imul(get(counter), kernel.b.batchStride * 4), imul(get(counter), m * n * 4)));
  };
  if (k > 0 && aLayout !== "strided" && bLayout !== "strided") {
    const spec: GemmSpec = { m, n, k, transA: aLayout === "trans", transB: bLayout === "trans", bias: kernel.bias !== undefined, relu: kernel.relu, accumulate: false, useRelaxedSimd: ctx.relaxedSimd };
    let need: number;
    let mr: number;
    try {
      need = gemmScratchBytes(spec);
      mr = planGemm(spec).mr;
    } catch (thrown) {
      throw new KernelCompileError(`matmul ${m}×${k}×${n}: ${thrown instanceof Error ? thrown.message : String(thrown)}`, index);
    }
    if (need > ctx.scratchBytes) throw new KernelCompileError(`matmul ${m}×${k}×${n} needs ${need} bytes of packing scratch, more than the ${ctx.scratchBytes} reserved`, index);
    const key = JSON.stringify(spec);
    let entry = gemms.functions.get(key);
    if (entry === undefined) {
      const name = `gemm${gemms.functions.size}`;
      entry = { name, text: emitGemmFunction(name, spec) };
      gemms.functions.set(key, entry);
    }
    const fn = entry.name;
    const rows = (fb: FunctionBuilder, from: number, to: number, scratch: number): void =>
      loopBatch(fb, (aOff, bOff, cOff) => fb.emit(`(call $${fn} ${iadd(i32c(a), aOff)} ${iadd(i32c(bb), bOff)} ${iadd(i32c(c), cOff)} ${i32c(bias)} ${i32c(from)} ${i32c(to)} ${i32c(scratch)})`));
    const threads = ctx.threads;
    const split = splitRow(m, mr);
    if (threads === undefined || 2 * batch * m * n * k < threads.minFlops || split >= m) {
      rows(b, 0, m, ctx.scratch);
      return;
    }
    const task = gemms.tasks.length;
    gemms.tasks.push({ kernel: index, emit: (fb) => rows(fb, split, m, threads.scratch) });
    b.when(
      `(call $spawn ${i32c(task)})`,
      () => {
        rows(b, 0, split, ctx.scratch);
        b.emit("(call $join)");
      },
      () => rows(b, 0, m, ctx.scratch),
    );
    return;
  }
  // strided operands (or k = 0): a plain scalar triple loop with the same epilogue
  const i = b.local("i32", "mi");
  const j = b.local("i32", "mj");
  const p = b.local("i32", "mp");
  const accumulator = b.local("f32", "macc");
  loopBatch(b, (aOff, bOff, cOff) => {
    const aBase = b.bind("i32", aOff, "ab");
    const bBase = b.bind("i32", bOff, "bb");
    const cBase = b.bind("i32", cOff, "cb");
    b.forRange(i, 0, m, 1, () =>
      b.forRange(j, 0, n, 1, () => {
        b.set(accumulator, f32c(0));
        b.forRange(p, 0, k, 1, () => {
          const aAt = iadd(aBase, iadd(imul(get(i), kernel.a.rowStride * 4), imul(get(p), kernel.a.colStride * 4)));
          const bAt = iadd(bBase, iadd(imul(get(p), kernel.b.rowStride * 4), imul(get(j), kernel.b.colStride * 4)));
          b.set(accumulator, `(f32.add ${get(accumulator)} (f32.mul ${ld("f32", a, aAt)} ${ld("f32", bb, bAt)}))`);
        });
        if (kernel.bias !== undefined) b.set(accumulator, `(f32.add ${get(accumulator)} ${ld("f32", bias, `(i32.shl ${get(j)} ${i32c(2)})`)})`);
        if (kernel.relu) b.set(accumulator, `(select ${get(accumulator)} ${f32c(0)} (i32.eqz (f32.le ${get(accumulator)} ${f32c(0)})))`);
        b.emit(st("f32", c, iadd(cBase, `(i32.shl ${iadd(imul(get(i), n), get(j))} ${i32c(2)})`), get(accumulator)));
      }),
    );
  });
};

