/**
 * @file ONNX interchange: export (the forward, or the whole training step, as standard ONNX
 * ops) and import (models as `torch.onnx.export` writes them).
 */
export { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, NEW_SUFFIX, RANDOM_DEFAULT_OPSET, dependsOnStep, exportOnnx, formatHyperFormula } from "./export.js";
export type { OnnxExport, OnnxExportOptions } from "./export.js";
export { importOnnx, importTable } from "./import.js";
export type { ImportContext, OnnxImport, OnnxImportOptions } from "./import.js";
export { onnxFusedComposites, onnxTable } from "./ops.js";
export type { Lowering, LoweringNode, OnnxTable } from "./ops.js";
