/**
 * @file The JS back end: generated loop code per kernel (compiled once per specialisation with
 * `new Function`, in the compiler process only — bundles embed the same source as code).
 */
import { bufferArena, jsKernels } from "@graft/runtime";

import { jsKernelSource } from "./js.js";
import { createCompiledSession, type CodeGenerator, type FunctionPlan } from "./program.js";
import type { Backend, ProgramSpec } from "./types.js";
import { checkCompilable } from "./lower.js";

/** JS source of a function plan: an array expression of kernel functions. */
export const jsFunctionSource = (plan: FunctionPlan): string =>
  `[${plan.lowered.kernels.map((kernel) => jsKernelSource(kernel, plan.memory.offsets, plan.lowered.buffers)).join(",\n")}]`;

type KernelFunction = (F: Float32Array, I: Int32Array, lib: typeof jsKernels) => void;

export const jsGenerator: CodeGenerator = {
  name: "js",
  arena: (elements) => bufferArena(elements),
  compile: (plan) => {
    const kernels = new Function(`return ${jsFunctionSource(plan)};`)() as KernelFunction[];
    return (F, I) => {
      for (const kernel of kernels) kernel(F, I, jsKernels);
    };
  },
};

export const jsBackend: Backend = {
  name: "js",
  createSession: async (spec: ProgramSpec, options) => createCompiledSession(spec, jsGenerator, options),
  supports: (spec) => spec.functions.flatMap((fn) => checkCompilable(fn.graph)),
};

