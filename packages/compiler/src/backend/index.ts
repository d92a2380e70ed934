/**
 * @file Back-end registry: `getBackend("js" | "wasm" | "reference")`.
 */
import type { Backend, BackendName } from "./types.js";

/** Loads a back end by name (lazily, so the reference path never loads codegen). */
export const getBackend = async (name: BackendName): Promise<Backend> => {
  switch (name) {
    case "js":
      return (await import("./js/backend.js")).jsBackend;
    case "wasm":
      return (await import("./wasm/backend.js")).wasmBackend;
    case "reference":
      return (await import("./reference.js")).referenceBackend;
  }
};

/** The back end of bundles when none is named. */
export const DEFAULT_BUNDLE_BACKEND: BackendName = "js";

export type { Artifact, ArtifactDeclaration, ArtifactEntry, ArtifactImport, EmitFunction, Backend, BackendName, HostFeeds, HostTensor, RunOptions, Session, SessionOptions } from "./types.js";
