// @graft/runtime: what a compiled model needs at run time and nothing else. Imports nothing.
export { FeedError, flattenNested, toFeedArray, validateFeed, validateLabels } from "./feeds.js";
export type { FeedArray, FeedArrayOf, FeedDtype, FeedSpec, FlattenedArray } from "./feeds.js";
export { SAFETENSORS_MAX_HEADER_BYTES, WeightsError, decodeSafetensors, encodeSafetensors } from "./safetensors.js";
export type {
  DecodedTensor,
  SafetensorsData,
  SafetensorsDtype,
  SafetensorsFile,
  SafetensorsTensorInput,
  SafetensorsTensorSpec,
} from "./safetensors.js";
export { planChunks, prepareBatch, runChunked, toFeedRows } from "./batching.js";
export type { BatchedFunction, Batching, Chunk, ChunkInput, PreparedBatch, RowCombine } from "./batching.js";
export { bufferArena, wasmArena, runFunction, readSlot, writeSlot } from "./session.js";
export type { Arena, ArenaDtype, FunctionImage, Slot } from "./session.js";
export * as jsKernels from "./kernels-js.js";
