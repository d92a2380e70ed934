/**
 * @file @graft/compiler: passes over the IR (lint, fuse, grad), optimizers as graph transforms,
 * the training API, the back ends (reference, JS, WASM) and standalone bundles.
 */
export { pipeline, runPipeline, type NamedPass, type Pass, type Linter, type PipelineResult } from "./passes/index.js";
export { fuse, fuseGraph, type FuseResult, type FuseRule, type Rewrite } from "./passes/fuse.js";
export { lintGraph, lintCodes, type LintCode } from "./passes/lint.js";
export { grad } from "./passes/grad.js";
export { adagrad, adam, adamw, rmsprop, sgd, parseOptimizer, formatOptimizer, trainStep, type Optimizer, type AdagradOptions, type AdamOptions, type RmspropOptions, type SgdOptions } from "./optim/index.js";
export * from "./toolkit/train/index.js";
export { getBackend } from "./backend/index.js";
export type { Backend, BackendName, HostFeeds, HostTensor, RunOptions, Session, SessionOptions } from "./backend/types.js";
export type { ProgramFunction, ProgramSpec, StateUpdate } from "./program/types.js";
export { planFunction, programState, type FunctionPlan } from "./backend/program.js";
export { buildProgram, type BuiltProgram, type ProgramOptions } from "./program/build.js";
export { formatKernels, formatMemory } from "./backend/report.js";
export { compileBundle, writeBundle, type CompileBundleOptions, type CompiledBundle } from "./bundle/index.js";
export { DataLoader, seededSplit, gatherRows, type Batch } from "./toolkit/data/loader.js";
export { readTabularFile } from "./toolkit/data/tabular.js";
export { writeFileAtomic } from "./toolkit/data/atomic.js";
export { Prng } from "./toolkit/data/prng.js";
export { formatBytes } from "./bundle/index.js";
export { createEpochProgress, formatDuration, formatLoss, formatRate, type EpochProgress, type ProgressStream } from "./toolkit/report/progress.js";
export { confusionMatrix, decisionRegions, gridCellCenters, lineChart, metricsChart, type EpochMetrics } from "./toolkit/report/svg.js";
export * from "./onnx/index.js";
