// @graft/runtime: what a compiled model needs at run time and nothing else. Imports nothing.
export { describeJson, describeValue, formatShape, typedArrayKind } from "./describe.js";
export { FeedError, flattenNested, toFeedArray, validateFeed, validateLabels } from "./feeds.js";
export type { FeedArray, FeedArrayOf, FeedDtype, FeedSpec, FlattenedArray } from "./feeds.js";
export { SAFETENSORS_DTYPE, SAFETENSORS_MAX_HEADER_BYTES, WeightsError, decodeSafetensors, encodeSafetensors, isPyTorchInt64, safetensorsDtypeOf } from "./safetensors.js";
export type {
  DecodedTensor,
  SafetensorsData,
  SafetensorsDtype,
  SafetensorsFile,
  SafetensorsTensorInput,
  SafetensorsTensorSpec,
} from "./safetensors.js";
export { batchedFunction, planChunks, prepareBatch, runChunked, toFeedRows } from "./batching.js";
export type { BatchedFunction, Batching, Chunk, ChunkInput, PreparedBatch, RowCombine } from "./batching.js";
export { allocateArena, bufferArena, wasmArena, runFunction, readSlot, writeSlot, WASM_MAX_PAGES } from "./session.js";
export type { Arena, ArenaDtype, FunctionImage, Slot } from "./session.js";
export { checkHyperparameter, checkLearningRate, dependsOnStep, hyperOptions, hyperValue, momentumOption } from "./hyper.js";
export type { HyperFormula, HyperScalar } from "./hyper.js";
export * as jsKernels from "./kernels-js.js";
export { BASIC_INITS, basicInitValues, calculateGain, fanInAndFanOut, hashString, initNeedsMatrix, initValues, mulberry32 } from "./init.js";
export type { Init, Initialise } from "./init.js";
export { createModel, modelLoader } from "./image.js";
export type { FunctionInfo, ImageTemplate, LoadedBundle, LoadOptions, ModelInfo, ModelLoader, ProgramImage, SaveWeightsOptions, StateEntry, StateInfo, TensorInfo, WeightsInput } from "./image.js";
export { jsRun, loadJsArtifact, loadWasmArtifact } from "./artifacts.js";
export type { ArtifactLoader, JsKernel, LoadedArtifact, RunKernels, WasmArtifact, WasmEntry } from "./artifacts.js";
