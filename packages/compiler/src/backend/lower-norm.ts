/**
 * @file Lowering of the fused normalization and attention rows (core ops/norm.ts) to row kernels:
 * layer_norm and its backward over the trailing dims, attention_softmax over the last dim (its
 * mask as few rows as repeat: a [L, S] mask of scores [N, H, L, S] stays L rows), softmax_backward.
 */
import { sizeOf, stridesOf, type Node, type NodeId } from "@graft/core";
import type { BufferId, Expr, Kernel } from "./kernels.js";

/** What the lowering offers these rows: operands as contiguous buffers, broadcasts, the schedule. */
export interface NormLowering {
  readonly shapeOf: (id: NodeId) => readonly number[];
  readonly contiguous: (id: NodeId) => BufferId;
  /** Node `id` broadcast (right-aligned) to `shape`, in contiguous memory. */
  readonly broadcast: (id: NodeId, shape: readonly number[]) => BufferId;
  readonly push: (kernel: Kernel) => void;
}

/** Rows of the trailing `dims` dims of `shape`: count and size. */
const rowsOf = (shape: readonly number[], dims: number): { readonly rows: number; readonly size: number } => {
  const size = sizeOf(shape.slice(shape.length - dims));
  return { rows: size === 0 ? 0 : sizeOf(shape) / size, size };
};

/**
 * The mask of scores `scores` [..., S] as the fewest rows that repeat: the longest run of the
 * mask's row dims (from the last) that equal the scores' with only 1s before it. Row r of the
 * scores reads mask row r mod maskRows.
 */
const maskLayout = (N: NormLowering, maskId: NodeId, scores: readonly number[]): { readonly mask: BufferId; readonly maskRows: number } => {
  const rank = scores.length;
  const own = N.shapeOf(maskId);
  const padded = [...new Array<number>(Math.max(0, rank - own.length)).fill(1), ...own];
  let first = rank - 1;
  while (first > 0 && padded[first - 1] === scores[first - 1]) first--;
  if (padded.slice(0, first).some((size) => size !== 1)) first = 0;
  const repeated = scores.slice(first, rank - 1);
  return { mask: N.broadcast(maskId, [...repeated, scores[rank - 1] ?? 1]), maskRows: sizeOf(repeated) };
};

/** Emits the kernel of a normalization or attention row into `out`; undefined for another op. */
export const lowerNormNode = (N: NormLowering, node: Node, out: () => BufferId): BufferId | undefined => {
  const ids = node.inputs as readonly NodeId[];
  const shape = N.shapeOf(node.id);
  switch (node.op) {
    case "layer_norm": {
      const { rows, size } = rowsOf(shape, node.attrs.dims);
      const x = N.contiguous(ids[0] as NodeId);
      const weight = node.attrs.weight ? N.contiguous(ids[1] as NodeId) : undefined;
      const biasId = node.attrs.bias ? ids[node.attrs.weight ? 2 : 1] : undefined;
      const bias = biasId === undefined ? undefined : N.contiguous(biasId);
      const target = out();
      N.push({ kind: "layer_norm", x, weight, bias, out: target, rows, size, eps: node.attrs.eps, nodes: [node.id] });
      return target;
    }
    case "layer_norm_backward": {
      const { rows, size } = rowsOf(shape, node.attrs.dims);
      const x = N.contiguous(ids[0] as NodeId);
      const grad = N.contiguous(ids[1] as NodeId);
      const weight = node.attrs.weight ? N.contiguous(ids[2] as NodeId) : undefined;
      const target = out();
      N.push({ kind: "layer_norm_backward", x, grad, weight, out: target, rows, size, eps: node.attrs.eps, nodes: [node.id] });
      return target;
    }
    case "attention_softmax": {
      const { rows, size } = rowsOf(shape, 1);
      const x = N.contiguous(ids[0] as NodeId);
      const maskId = node.attrs.mask === "none" ? undefined : ids[1];
      const { mask, maskRows } = maskId === undefined ? { mask: undefined, maskRows: 1 } : maskLayout(N, maskId, shape);
      const target = out();
      const causalQueries = node.attrs.causal ? (shape[shape.length - 2] ?? 1) : 0;
      N.push({ kind: "attention_softmax", x, mask, maskKind: maskId === undefined ? "none" : node.attrs.mask, maskRows, out: target, rows, size, scale: node.attrs.scale, causalQueries, nodes: [node.id] });
      return target;
    }
    case "softmax_backward": {
      const { rows, size } = rowsOf(shape, 1);
      const y = N.contiguous(ids[0] as NodeId);
      const grad = N.contiguous(ids[1] as NodeId);
      const target = out();
      N.push({ kind: "softmax_backward", y, grad, out: target, rows, size, scale: node.attrs.scale, nodes: [node.id] });
      return target;
    }
    case "batch_norm_stats":
    case "batch_norm_backward_stats": {
      const xShape = N.shapeOf(ids[0] as NodeId);
      const layout = { outer: xShape[0] ?? 1, channels: xShape[1] ?? 1, inner: sizeOf(xShape.slice(2)) };
      const x = N.contiguous(ids[0] as NodeId);
      if (node.op === "batch_norm_stats") {
        const target = out();
        N.push({ kind: "channel_stats", x, out: target, ...layout, nodes: [node.id] });
        return target;
      }
      const stats = N.contiguous(ids[1] as NodeId);
      const grad = N.contiguous(ids[2] as NodeId);
      const target = out();
      N.push({ kind: "channel_backward_stats", x, stats, grad, out: target, ...layout, eps: node.attrs.eps, nodes: [node.id] });
      return target;
    }
    case "batch_norm": {
      // (x − mean[c]) / √(var[c] + eps) · weight[c] + bias[c] as one map over x
      const channels = shape[1] ?? 1;
      const perChannel = shape.map((_, axis) => (axis === 1 ? 1 : 0));
      const read = (buffer: BufferId, offset: number, strides: readonly number[]): Expr => ({ kind: "read", access: { buffer, offset, strides }, dtype: "f32" });
      const binary = (op: "add" | "sub" | "mul" | "div", lhs: Expr, rhs: Expr): Expr => ({ kind: "binary", op, lhs, rhs, integer: false });
      const stats = N.contiguous(ids[1] as NodeId);
      const x = read(N.contiguous(ids[0] as NodeId), 0, stridesOf(shape));
      const rstd = binary("div", { kind: "const", value: 1 }, { kind: "unary", op: "sqrt", arg: binary("add", read(stats, channels, perChannel), { kind: "const", value: node.attrs.eps }) });
      let expr = binary("mul", binary("sub", x, read(stats, 0, perChannel)), rstd);
      if (node.attrs.weight) expr = binary("mul", expr, read(N.contiguous(ids[2] as NodeId), 0, perChannel));
      const biasId = node.attrs.bias ? ids[node.attrs.weight ? 3 : 2] : undefined;
      if (biasId !== undefined) expr = binary("add", expr, read(N.contiguous(biasId), 0, perChannel));
      const target = out();
      N.push({ kind: "map", out: target, shape: [...shape], expr, nodes: [node.id] });
      return target;
    }
    default:
      return undefined;
  }
};
