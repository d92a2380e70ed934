/**
 * @file Which composites of the op table each back end computes as fused kernels. The `decompose`
 * pass expands every other composite into primitives before the back end sees the graph. The
 * JS and WASM back ends share the lowering (`lower.ts`), whose row kernels compute the
 * softmax family, cross-entropy (with a saved logsumexp for the backward), binary
 * cross-entropy with logits, layer norm (group norm is one of its grouped view) and the attention
 * softmax (scale → mask → softmax) and their backward rows in one row kernel each, and batch
 * norm's statistics in one channel kernel (its normalization in one map kernel); the
 * reference back end evaluates every row's own float64 semantics.
 */
import type { OpName } from "@graft/core";
import { allComposites, type FusedComposites } from "../passes/decompose.js";
import type { BackendName } from "./types.js";

/** The composites `lowerGraph` has kernels for. */
export const loweredComposites: FusedComposites = new Set<OpName>([
  "softmax",
  "log_softmax",
  "logsumexp",
  "cross_entropy",
  "binary_cross_entropy_with_logits",
  "layer_norm",
  "layer_norm_backward",
  "attention_softmax",
  "softmax_backward",
  "batch_norm_stats",
  "batch_norm",
  "batch_norm_backward_stats",
]);

export const jsFusedComposites: FusedComposites = loweredComposites;
export const wasmFusedComposites: FusedComposites = loweredComposites;
export const referenceFusedComposites: FusedComposites = allComposites;

/** The fused composites of each back end. */
export const fusedComposites: { readonly [B in BackendName]: FusedComposites } = {
  js: jsFusedComposites,
  wasm: wasmFusedComposites,
  reference: referenceFusedComposites,
};
