/**
 * @file The DSL of convolution and pooling (PyTorch's F.conv2d, F.max_pool2d, … in camelCase;
 * NCHW, weight [out, in/groups, kh, kw]) and the `conv2dLayer` helper. The rows are in
 * ops/conv.ts; the `…Raw` builders take the rows' attributes as they are (gradient rules use them).
 */
import { param } from "./api.js";
import { ArgumentError, guarded } from "./guard.js";
import { kaimingUniform } from "./init.js";
import type { Conv2dAttrs, OpAttrs, Pool2dAttrs } from "./ops/attrs.js";
import { makeTensor, type Tensor } from "./tensor.js";
import { avgPool2dRaw, convTranspose2dRaw, conv2dRaw, maxPool2dRaw } from "./ops/conv-nodes.js";

export { avgPool2dRaw, conv2dRaw, conv2dWeightGradRaw, convTranspose2dRaw, maxPool2dBackwardRaw, maxPool2dRaw } from "./ops/conv-nodes.js";

/** One number for both spatial dims, or [height, width]. */
export type Pair = number | readonly [number, number];

const pair = (value: Pair, what: string): [number, number] => {
  if (typeof value === "number") return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number")) return [value[0], value[1]];
  throw new ArgumentError(`${what} must be a number or [height, width], got ${JSON.stringify(value)}`);
};

const positivePair = (value: Pair, what: string): [number, number] => {
  const p = pair(value, what);
  if (!p.every((v) => Number.isInteger(v) && v >= 1)) throw new ArgumentError(`${what} must be positive integers, got [${p.join(",")}]`);
  return p;
};

const weightKernel = (weight: Tensor, rank: number): number[] => {
  const dims = weight.type === undefined ? [] : weight.shape.slice(2);
  if (dims.length !== rank - 2 || !dims.every((d): d is number => typeof d === "number")) return [];
  return dims;
};

// ----- convolution ---------------------------------------------------------------------------

export interface Conv2dOptions {
  readonly stride?: Pair;
  /** `"valid"` (0), `"same"` (stride 1 only; the odd extra row/column goes bottom/right), one number, [height, width], or per side [top, bottom, left, right]. */
  readonly padding?: Pair | "same" | "valid" | readonly [number, number, number, number];
  readonly dilation?: Pair;
  readonly groups?: number;
}

const sidePadding = (padding: Conv2dOptions["padding"], kernel: readonly number[], stride: readonly number[], dilation: readonly number[]): [number, number, number, number] => {
  if (padding === undefined || padding === "valid") return [0, 0, 0, 0];
  if (padding === "same") {
    if (stride.some((s) => s !== 1)) throw new ArgumentError(`padding "same" is not supported for strided convolutions (stride [${stride.join(",")}])`);
    if (kernel.length !== 2) throw new ArgumentError(`padding "same" needs a weight with concrete kernel dims`);
    const total = kernel.map((k, i) => (dilation[i] ?? 1) * (k - 1));
    const [th, tw] = total as [number, number];
    return [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  }
  if (typeof padding === "string") throw new ArgumentError(`padding must be "same", "valid", a number, [height, width] or [top, bottom, left, right], got "${padding}"`);
  const sides: number[] = Array.isArray(padding) && padding.length === 4 ? [...padding] : ((p) => [p[0], p[0], p[1], p[1]])(pair(padding as Pair, "padding"));
  if (!sides.every((p) => Number.isInteger(p) && p >= 0)) throw new ArgumentError(`padding must be non-negative integers, got [${sides.join(",")}]`);
  return sides as [number, number, number, number];
};

const groupsOf = (groups: number | undefined): number => {
  const g = groups ?? 1;
  if (!Number.isInteger(g) || g < 1) throw new ArgumentError(`groups must be a positive integer, got ${g}`);
  return g;
};

/** PyTorch's F.conv2d: x [N, C, H, W], weight [out, C/groups, kh, kw], bias [out]. */
export const conv2d = guarded("conv2d", (x: Tensor, weight: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor => {
  const stride = positivePair(options.stride ?? 1, "stride");
  const dilation = positivePair(options.dilation ?? 1, "dilation");
  const padding = sidePadding(options.padding, weightKernel(weight, 4), stride, dilation);
  return conv2dRaw(x, weight, bias, { stride, padding, dilation, groups: groupsOf(options.groups) });
});

export interface Conv1dOptions {
  readonly stride?: number;
  /** `"valid"`, `"same"`, one number, or per side [left, right]. */
  readonly padding?: number | "same" | "valid" | readonly [number, number];
  readonly dilation?: number;
  readonly groups?: number;
}

/** PyTorch's F.conv1d: x [N, C, L], weight [out, C/groups, k], bias [out]. */
export const conv1d = guarded("conv1d", (x: Tensor, weight: Tensor, bias?: Tensor, options: Conv1dOptions = {}): Tensor => {
  const [, stride] = positivePair([1, options.stride ?? 1], "stride");
  const [, dilation] = positivePair([1, options.dilation ?? 1], "dilation");
  const kernel = weightKernel(weight, 3);
  const padding2d: Conv2dOptions["padding"] =
    typeof options.padding === "number" ? [0, 0, options.padding, options.padding] : Array.isArray(options.padding) ? [0, 0, options.padding[0] ?? 0, options.padding[1] ?? 0] : (options.padding as "same" | "valid" | undefined);
  const [, , left, right] = sidePadding(padding2d, kernel.length === 1 ? [1, kernel[0] ?? 1] : [], [1, stride], [1, dilation]);
  return makeTensor("conv1d", { stride, padding: [left, right], dilation, groups: groupsOf(options.groups) }, bias === undefined ? [x, weight] : [x, weight, bias]);
});

export interface ConvTranspose2dOptions {
  readonly stride?: Pair;
  readonly padding?: Pair;
  readonly outputPadding?: Pair;
  readonly dilation?: Pair;
  readonly groups?: number;
}

/** PyTorch's F.conv_transpose2d: x [N, C, H, W], weight [C, out/groups, kh, kw], bias [out]. */
export const convTranspose2d = guarded("convTranspose2d", (x: Tensor, weight: Tensor, bias?: Tensor, options: ConvTranspose2dOptions = {}): Tensor => {
  const stride = positivePair(options.stride ?? 1, "stride");
  const dilation = positivePair(options.dilation ?? 1, "dilation");
  const [ph, pw] = pair(options.padding ?? 0, "padding");
  if (![ph, pw].every((p) => Number.isInteger(p) && p >= 0)) throw new ArgumentError(`padding must be non-negative integers, got [${ph},${pw}]`);
  const outputPadding = pair(options.outputPadding ?? 0, "outputPadding");
  if (outputPadding.some((p, i) => !Number.isInteger(p) || p < 0 || (p >= (stride[i] ?? 1) && p >= (dilation[i] ?? 1))))
    throw new ArgumentError(`outputPadding must be smaller than either stride or dilation, got outputPadding [${outputPadding.join(",")}], stride [${stride.join(",")}], dilation [${dilation.join(",")}]`);
  return convTranspose2dRaw(x, weight, bias, { stride, padding: [ph, ph, pw, pw], dilation, groups: groupsOf(options.groups), outputPadding });
});

/**
 * A conv layer as torch.nn.Conv2d: params `name.weight` [outC, inC/groups, kh, kw] (kaiming
 * uniform, a = √5) and `name.bias` [outC] (U(±1/√fan_in)), then conv2d.
 */
export const conv2dLayer = guarded(
  "conv2dLayer",
  (x: Tensor, inChannels: number, outChannels: number, kernelSize: Pair, name: string, options: Conv2dOptions & { readonly bias?: boolean } = {}): Tensor => {
    const [kh, kw] = positivePair(kernelSize, "kernel size");
    const groups = groupsOf(options.groups);
    if (!Number.isInteger(inChannels) || inChannels < 1 || inChannels % groups !== 0) throw new ArgumentError(`in channels ${inChannels} must be a positive multiple of groups ${groups}`);
    if (!Number.isInteger(outChannels) || outChannels < 1 || outChannels % groups !== 0) throw new ArgumentError(`out channels ${outChannels} must be a positive multiple of groups ${groups}`);
    const fanIn = (inChannels / groups) * kh * kw;
    const weight = param(`${name}.weight`, [outChannels, inChannels / groups, kh, kw], kaimingUniform({ a: Math.sqrt(5) }));
    const bias = options.bias === false ? undefined : param(`${name}.bias`, [outChannels], kaimingUniform(fanIn));
    return conv2d(x, weight, bias, options);
  },
);

// ----- pooling -------------------------------------------------------------------------------

export interface Pool2dOptions {
  /** Default: the kernel size. */
  readonly stride?: Pair;
  readonly padding?: Pair;
  readonly dilation?: Pair;
  readonly ceilMode?: boolean;
}

const poolAttrs = (kernelSize: Pair, options: Pool2dOptions): Pool2dAttrs => {
  const kernel = positivePair(kernelSize, "kernel size");
  const padding = pair(options.padding ?? 0, "padding");
  return { kernel, stride: positivePair(options.stride ?? kernel, "stride"), padding, dilation: positivePair(options.dilation ?? 1, "dilation"), ceilMode: options.ceilMode ?? false };
};

/** PyTorch's F.max_pool2d (padding counts as −∞; the gradient goes to the first maximum of each window). */
export const maxPool2d = guarded("maxPool2d", (x: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): Tensor => maxPool2dRaw(x, poolAttrs(kernelSize, options)));

export interface AvgPool2dOptions extends Omit<Pool2dOptions, "dilation"> {
  /** Count the zero padding in each window's divisor (PyTorch's default, true). */
  readonly countIncludePad?: boolean;
}

/** PyTorch's F.avg_pool2d. */
export const avgPool2d = guarded("avgPool2d", (x: Tensor, kernelSize: Pair, options: AvgPool2dOptions = {}): Tensor =>
  avgPool2dRaw(x, { ...poolAttrs(kernelSize, options), countIncludePad: options.countIncludePad ?? true }),
);

/** PyTorch's F.adaptive_avg_pool2d: `outputSize` 1 is global average pooling. */
export const adaptiveAvgPool2d = guarded("adaptiveAvgPool2d", (x: Tensor, outputSize: Pair): Tensor =>
  makeTensor("adaptive_avg_pool2d", { outputSize: positivePair(outputSize, "output size") }, [x]),
);

export interface Pool1dOptions {
  readonly stride?: number;
  readonly padding?: number;
  readonly dilation?: number;
  readonly ceilMode?: boolean;
}

const pool1dAttrs = (kernel: number, options: Pool1dOptions): OpAttrs["max_pool1d"] => {
  const [k, stride] = positivePair([kernel, options.stride ?? kernel], "kernel size and stride");
  const [, dilation] = positivePair([1, options.dilation ?? 1], "dilation");
  return { kernel: k, stride, padding: options.padding ?? 0, dilation, ceilMode: options.ceilMode ?? false };
};

/** PyTorch's F.max_pool1d on [N, C, L]. */
export const maxPool1d = guarded("maxPool1d", (x: Tensor, kernelSize: number, options: Pool1dOptions = {}): Tensor => makeTensor("max_pool1d", pool1dAttrs(kernelSize, options), [x]));

export interface AvgPool1dOptions extends Omit<Pool1dOptions, "dilation"> {
  readonly countIncludePad?: boolean;
}

/** PyTorch's F.avg_pool1d on [N, C, L]. */
export const avgPool1d = guarded("avgPool1d", (x: Tensor, kernelSize: number, options: AvgPool1dOptions = {}): Tensor =>
  makeTensor("avg_pool1d", { ...pool1dAttrs(kernelSize, options), countIncludePad: options.countIncludePad ?? true }, [x]),
);
