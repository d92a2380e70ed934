/**
 * @file @graft/core: the language — tensor handles, ops, shapes, dtypes, the graph IR, the op
 * table, shape inference, the printer and the float64 reference interpreter.
 */
export * from "./api.js";
export { conv2dWeightGradRaw, maxPool2dBackwardRaw, adaptiveAvgPool2d, avgPool1d, avgPool2d, conv1d, conv2d, conv2dLayer, convTranspose2d, maxPool1d, maxPool2d } from "./conv-api.js";
export type { Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, Pool2dOptions, AvgPool2dOptions, Pool1dOptions, AvgPool1dOptions } from "./conv-api.js";
export { adaptiveMatrix, avgPoolDivisors, convOutSize, forEachConvTap, forEachWindow, windowArgmax, type ConvGeometry, type PoolGeometry } from "./ops/conv.js";
export { slice, pad, padDims, flip, concat, stack, split, chunk, tril, triu, arange, embedding, embeddingLayer, embeddingBackward, type SliceSpec, type PadMode } from "./movement.js";
export * from "./diagnostics.js";
export * from "./dtype.js";
export * from "./graph.js";
export * from "./init.js";
export * from "./interpreter.js";
export * from "./loc.js";
export * from "./ndarray.js";
export * from "./printer.js";
export * from "./shape.js";
export type { OpAttrs, OpCall, OpName, CrossEntropyAttrs, NllLossAttrs, Reduction, Conv2dAttrs, Pool2dAttrs } from "./ops/attrs.js";
export type { OpDef, OpKind, OpTable, VjpArgs, VjpRule, Gradient, Decompose } from "./ops/def.js";
export { opTable, opNames, isComposite, compositeNames } from "./ops/table.js";
export { erf as erfValue } from "./ops/erf.js";
export { sumTo, unreduce, keptShape } from "./ops/rules.js";
export { softmaxValues } from "./ops/softmax.js";
export { attentionSoftmaxRaw, layerNormBackwardRaw, layerNormRaw, softmaxBackwardRaw } from "./ops/norm.js";
export { batchNormBackwardStatsRaw, batchNormRaw, batchNormStatsRaw } from "./ops/batch-norm.js";
export { logsumexpValues } from "./ops/reduce.js";
export { resolveReshape } from "./ops/shape-ops.js";
export { describeValue, isTensor, makeTensor, rowOf, withCall, inferCall } from "./tensor.js";
export * from "./nn.js";
export { randomBits, randomKey, uniformOfBits, RANDOM_COUNTER_MULTIPLIER } from "./ops/modes.js";
