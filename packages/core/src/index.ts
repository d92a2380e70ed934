/**
 * @file @graft/core: the language — tensor handles, ops, shapes, dtypes, the graph IR, the op
 * table, shape inference, the printer and the float64 reference interpreter.
 */
export * from "./api.js";
export * from "./diagnostics.js";
export * from "./dtype.js";
export * from "./graph.js";
export * from "./init.js";
export * from "./interpreter.js";
export * from "./loc.js";
export * from "./ndarray.js";
export * from "./printer.js";
export * from "./shape.js";
export type { OpAttrs, OpCall, OpName, CrossEntropyAttrs, NllLossAttrs, Reduction } from "./ops/attrs.js";
export type { OpDef, OpKind, OpTable, VjpArgs, VjpRule, Gradient, Decompose } from "./ops/def.js";
export { opTable, opNames, isComposite, compositeNames } from "./ops/table.js";
export { erf as erfValue } from "./ops/erf.js";
export { sumTo, unreduce, keptShape } from "./ops/rules.js";
export { softmaxValues } from "./ops/softmax.js";
export { logsumexpValues } from "./ops/reduce.js";
export { resolveReshape } from "./ops/shape-ops.js";
export { describeValue, isTensor, makeTensor, rowOf, withCall, inferCall } from "./tensor.js";
