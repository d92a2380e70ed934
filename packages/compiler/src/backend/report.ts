/**
 * @file Human-readable views of a compiled function: its kernels (which nodes each covers) for
 * `graft print --kernels`, and its memory plan for `graft print --memory`.
 */
import { exprChildren, type BufferInfo, type Expr, type Kernel } from "./kernels.js";
import type { FunctionPlan } from "./program.js";
import { describeRewrites } from "./rewrites.js";

/** The op of an expression node (none for leaves). */
const opOf = (expr: Expr): string[] => {
  switch (expr.kind) {
    case "read":
    case "const":
    case "iota":
      return [];
    case "unary":
    case "binary":
      return [expr.op];
    case "cast":
      return [`cast:${expr.to}`];
    case "indexed":
      return ["index_read"];
    case "select":
      return ["where"];
    case "random":
      return ["random_uniform"];
  }
};

/** The ops of an expression in evaluation order (operands first). */
const exprOps = (expr: Expr): string[] => [...exprChildren(expr).flatMap(exprOps), ...opOf(expr)];

const describeKernel = (kernel: Kernel, buffer: (id: number) => string): string => {
  switch (kernel.kind) {
    case "map":
      return `map[${kernel.shape.join("×")}] ${exprOps(kernel.expr).join("·") || "copy"} → ${buffer(kernel.out)}`;
    case "reduce":
      return `reduce_${kernel.op}[${kernel.shape.join("×")} over ${kernel.reducedAxes.join(",")}]${kernel.scale === 1 ? "" : " (mean)"} ${exprOps(kernel.expr).join("·")} → ${buffer(kernel.out)}`;
    case "matmul": {
      const transA = kernel.a.colStride !== 1 ? "ᵀ" : "";
      const transB = kernel.b.colStride !== 1 ? "ᵀ" : "";
      const epilogue = [kernel.bias === undefined ? "" : "+bias", kernel.relu ? "relu" : ""].filter((s) => s !== "").join(",");
      return `matmul ${kernel.batch > 1 ? `${kernel.batch}×` : ""}[${kernel.m}×${kernel.k}]${transA} @ [${kernel.k}×${kernel.n}]${transB}${epilogue === "" ? "" : ` epilogue(${epilogue})`} → ${buffer(kernel.out)}`;
    }
    case "softmax":
      return `${kernel.log ? "log_softmax" : "softmax"} rows ${kernel.rows.outer}×${kernel.rows.size}×${kernel.rows.inner} → ${buffer(kernel.out)}`;
    case "logsumexp":
    case "argmax":
      return `${kernel.kind} rows ${kernel.rows.outer}×${kernel.rows.size}×${kernel.rows.inner} → ${buffer(kernel.out)}`;
    case "cross_entropy":
      return `cross_entropy rows ${kernel.rows.outer * kernel.rows.inner}×${kernel.rows.size} (LSE − x[y], one pass)${kernel.lse === undefined ? "" : ` saves lse → ${buffer(kernel.lse)}`} → ${buffer(kernel.out)}`;
    case "cross_entropy_backward":
      return `cross_entropy_backward rows ${kernel.rows.outer * kernel.rows.inner}×${kernel.rows.size} (softmax − target)${kernel.lse === undefined ? "" : ` reuses lse ${buffer(kernel.lse)}`} → ${buffer(kernel.out)}`;
    case "nll_loss":
    case "nll_loss_backward":
      return `${kernel.kind} rows ${kernel.rows.outer * kernel.rows.inner}×${kernel.rows.size} → ${buffer(kernel.out)}`;
    case "bce_logits":
      return `binary_cross_entropy_with_logits ${kernel.size} → ${buffer(kernel.out)}`;
    case "gather":
      return `${kernel.scatter ? "scatter_add" : "gather"}[dim=${kernel.dim}] → ${buffer(kernel.out)}`;
    case "conv": {
      const g = kernel.geometry;
      return `conv_${kernel.mode} ${g.n}×[${g.ci}×${g.h}×${g.w}] ⊛ [${g.co}×${g.ci / g.groups}×${g.kh}×${g.kw}]${g.groups > 1 ? ` groups ${g.groups}` : ""} ↔ [${g.co}×${g.ho}×${g.wo}] (im2col + GEMM)${kernel.bias === undefined ? "" : " +bias"} → ${buffer(kernel.out)}`;
    }
    case "pool":
      return `pool_${kernel.op} ${kernel.geometry.planes}×[${kernel.geometry.h}×${kernel.geometry.w}] window ${kernel.geometry.kh}×${kernel.geometry.kw} → ${buffer(kernel.out)}`;
    case "layer_norm":
      return `layer_norm rows ${kernel.rows}×${kernel.size} (mean, variance, normalize${kernel.weight === undefined ? "" : ", ·weight"}${kernel.bias === undefined ? "" : ", +bias"}: one row kernel) → ${buffer(kernel.out)}`;
    case "layer_norm_backward":
      return `layer_norm_backward rows ${kernel.rows}×${kernel.size} (one row kernel) → ${buffer(kernel.out)}`;
    case "attention_softmax": {
      const masks = [kernel.scale === 1 ? "" : "scale", kernel.maskKind === "none" ? "" : `${kernel.maskKind} mask${kernel.maskRows < kernel.rows ? ` (${kernel.maskRows} rows)` : ""}`, kernel.causalQueries > 0 ? "causal" : ""].filter((s) => s !== "");
      return `attention_softmax rows ${kernel.rows}×${kernel.size} (${[...masks, "softmax"].join(" → ")}: one row kernel) → ${buffer(kernel.out)}`;
    }
    case "softmax_backward":
      return `softmax_backward rows ${kernel.rows}×${kernel.size}${kernel.scale === 1 ? "" : " (scaled)"} → ${buffer(kernel.out)}`;
    case "channel_stats":
      return `batch_norm_stats ${kernel.channels} channels × ${kernel.outer}×${kernel.inner} (mean, variance: one channel kernel) → ${buffer(kernel.out)}`;
    case "channel_backward_stats":
      return `batch_norm_backward_stats ${kernel.channels} channels × ${kernel.outer}×${kernel.inner} (Σg, Σg·x̂: one channel kernel) → ${buffer(kernel.out)}`;
    case "copy":
      return `copy ${kernel.size} → ${buffer(kernel.to)}`;
  }
};

const bufferName = (buffers: readonly BufferInfo[]) => (id: number): string => {
  const info = buffers[id];
  return info?.name !== undefined ? `${info.kind}:${info.name}` : `b${id}`;
};

/** One line per kernel: what it computes and which graph nodes it covers; then the kernel-IR rewrites that apply (rewrites.ts). */
export const formatKernels = (plan: FunctionPlan): string =>
  [
    `function ${plan.name}${plan.key === "" ? "" : ` [${plan.key}]`}: ${plan.lowered.kernels.length} kernels`,
    ...plan.lowered.kernels.map((kernel, index) => `  k${index}: ${describeKernel(kernel, bufferName(plan.lowered.buffers))}  covers ${kernel.nodes.map((n) => `%${n}`).join(" ")}`),
    ...describeRewrites(plan.lowered.kernels, { offsets: plan.memory.offsets, buffers: plan.lowered.buffers }, plan.inPlace).map((line) => `  rewrite ${line}`),
  ].join("\n");

const kib = (elements: number): string => `${((elements * 4) / 1024).toFixed(1)} KiB`;

/** The arena: state, scratch with reuse, and the saving from liveness-based sharing. */
export const formatMemory = (plan: FunctionPlan, stateElements: number): string => {
  const scratch = plan.memory.elements - stateElements;
  const lines = [
    `function ${plan.name}${plan.key === "" ? "" : ` [${plan.key}]`}: arena ${kib(plan.memory.elements)} = state ${kib(stateElements)} + scratch ${kib(scratch)} (${kib(plan.memory.unsharedElements)} without reuse)`,
  ];
  const name = bufferName(plan.lowered.buffers);
  for (const buffer of plan.lowered.buffers)
    lines.push(`  ${name(buffer.id).padEnd(28)} ${buffer.dtype}[${buffer.size}]  @${(plan.memory.offsets[buffer.id] ?? 0) * 4}`);
  return lines.join("\n");
};
