/**
 * @file Lowering of the convolution and pooling primitives (core ops/conv.ts) to `conv` and
 * `pool` kernels; the composites (conv1d, the 1-D pools, adaptive_avg_pool2d) were expanded by
 * `decompose` before.
 */
import { avgPoolDivisors, type ConvGeometry, type Node, type NodeId, type PoolGeometry } from "@graft/core";
import type { BufferId, Kernel } from "./kernels.js";

/** What the lowering offers this family: operands as contiguous buffers, new buffers, the schedule. */
export interface ConvLowering {
  readonly shapeOf: (id: NodeId) => readonly number[];
  readonly contiguous: (id: NodeId) => BufferId;
  readonly newTemp: (size: number) => BufferId;
  readonly newConst: (values: readonly number[]) => BufferId;
  readonly push: (kernel: Kernel) => void;
}

const geometryOf = (node: Node, shapeOf: ConvLowering["shapeOf"]): ConvGeometry => {
  const ids = node.inputs as readonly NodeId[];
  const [n = 0, c1 = 0, h1 = 0, w1 = 0] = shapeOf(ids[0] as NodeId);
  const second = shapeOf(ids[1] as NodeId);
  const out = shapeOf(node.id);
  if (node.op === "conv2d") {
    const [co = 0, , kh = 0, kw = 0] = second;
    const a = node.attrs;
    return { n, ci: c1, h: h1, w: w1, co, ho: out[2] ?? 0, wo: out[3] ?? 0, kh, kw, sh: a.stride[0], sw: a.stride[1], pt: a.padding[0], pl: a.padding[2], dh: a.dilation[0], dw: a.dilation[1], groups: a.groups };
  }
  if (node.op === "conv_transpose2d") {
    const [, , kh = 0, kw = 0] = second;
    const a = node.attrs;
    return { n, ci: out[1] ?? 0, h: out[2] ?? 0, w: out[3] ?? 0, co: c1, ho: h1, wo: w1, kh, kw, sh: a.stride[0], sw: a.stride[1], pt: a.padding[0], pl: a.padding[2], dh: a.dilation[0], dw: a.dilation[1], groups: a.groups };
  }
  if (node.op === "conv2d_weight_grad") {
    const [, co = 0, ho = 0, wo = 0] = second;
    const a = node.attrs;
    return { n, ci: c1, h: h1, w: w1, co, ho, wo, kh: a.kernel[0], kw: a.kernel[1], sh: a.stride[0], sw: a.stride[1], pt: a.padding[0], pl: a.padding[2], dh: a.dilation[0], dw: a.dilation[1], groups: a.groups };
  }
  throw new Error(`internal: ${node.op} is not a convolution`);
};

const poolGeometryOf = (node: Node, shapeOf: ConvLowering["shapeOf"]): PoolGeometry => {
  if (node.op !== "max_pool2d" && node.op !== "avg_pool2d" && node.op !== "max_pool2d_backward") throw new Error(`internal: ${node.op} is not a pool`);
  const [n = 0, c = 0, h = 0, w = 0] = shapeOf(node.inputs[0] as NodeId);
  const pooled = node.op === "max_pool2d_backward" ? shapeOf(node.inputs[1] as NodeId) : shapeOf(node.id);
  const a = node.attrs;
  return { planes: n * c, h, w, ho: pooled[2] ?? 0, wo: pooled[3] ?? 0, kh: a.kernel[0], kw: a.kernel[1], sh: a.stride[0], sw: a.stride[1], ph: a.padding[0], pw: a.padding[1], dh: a.dilation[0], dw: a.dilation[1] };
};

/** Largest kernel the direct depthwise path unrolls (rows × columns, and rows alone). */
export const DEPTHWISE_MAX_TAPS = 49;
export const DEPTHWISE_MAX_KH = 7;

/**
 * Whether a convolution runs as the direct depthwise kernel on WASM (wasm/depthwise.ts), which
 * needs no im2col matrix: a forward convolution with one input channel per group, several groups.
 */
export const directDepthwise = (mode: "forward" | "transpose" | "weight_grad", g: ConvGeometry): boolean =>
  mode === "forward" && g.groups > 1 && g.groups === g.ci && g.kh <= DEPTHWISE_MAX_KH && g.kh * g.kw <= DEPTHWISE_MAX_TAPS;

/**
 * Whether a weight gradient is computed transposed, `dW_gᵀ [K, og] += col [K, P] @ dyᵀ [P, og]`
 * per image (then transposed once), rather than `dW_g += dy @ colᵀ`: the GEMM packs its B operand
 * for every image, and dyᵀ (og·P values) is smaller than colᵀ (K·P) when K = cg·kh·kw exceeds
 * og; og of at least 8 keeps the 16-wide register tile mostly busy.
 */
export const weightGradTransposed = (g: ConvGeometry): boolean => {
  const og = g.co / g.groups;
  return og >= 8 && (g.ci / g.groups) * g.kh * g.kw > og;
};

/** Emits the kernel of a convolution or pooling node into `out`; false for another op. */
export const lowerConvNode = (C: ConvLowering, node: Node, out: () => BufferId): BufferId | undefined => {
  const ids = node.inputs as readonly NodeId[];
  switch (node.op) {
    case "conv2d":
    case "conv_transpose2d":
    case "conv2d_weight_grad": {
      const geometry = geometryOf(node, C.shapeOf);
      const mode = node.op === "conv2d" ? "forward" : node.op === "conv_transpose2d" ? "transpose" : "weight_grad";
      const a = C.contiguous(ids[0] as NodeId);
      const b = C.contiguous(ids[1] as NodeId);
      const bias = ids[2] === undefined ? undefined : C.contiguous(ids[2]);
      // the im2col matrix of one image and group (a 1×1 convolution without stride or padding reads the image itself)
      const g = geometry;
      const pointwise = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.pt === 0 && g.pl === 0 && g.ho === g.h && g.wo === g.w;
      const col = pointwise || directDepthwise(mode, g) ? undefined : C.newTemp(Math.max(1, (g.ci / g.groups) * g.kh * g.kw * g.ho * g.wo));
      const accumulator = mode === "weight_grad" && weightGradTransposed(g) ? C.newTemp(g.co * (g.ci / g.groups) * g.kh * g.kw) : undefined;
      const target = out();
      C.push({ kind: "conv", mode, a, b, bias, out: target, col, accumulator, geometry, nodes: [node.id] });
      return target;
    }
    case "max_pool2d":
    case "max_pool2d_backward":
    case "avg_pool2d": {
      const geometry = poolGeometryOf(node, C.shapeOf);
      const x = C.contiguous(ids[0] as NodeId);
      const grad = node.op === "max_pool2d_backward" ? C.contiguous(ids[1] as NodeId) : undefined;
      const divisors = node.op === "avg_pool2d" ? C.newConst(avgPoolDivisors(geometry, node.attrs.countIncludePad).map((d) => 1 / d)) : undefined;
      const target = out();
      C.push({ kind: "pool", op: node.op === "max_pool2d" ? "max" : node.op === "avg_pool2d" ? "avg" : "max_backward", x, grad, divisors, out: target, geometry, nodes: [node.id] });
      return target;
    }
    default:
      return undefined;
  }
};
