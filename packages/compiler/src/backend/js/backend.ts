/**
 * @file The JS back end: generated loop code per kernel (compiled once per specialisation with
 * `new Function`, in the compiler process only — bundles embed the same source as code).
 */
import * as E from "fp-ts/lib/Either.js";
import { bufferArena, jsKernels } from "@graft/runtime";
import { kernelsName } from "../identifiers.js";
import { jsKernelSource } from "./codegen.js";
import { kernelTemplates } from "./templates.js";
import { checkCompilable } from "../lower.js";
import { createCompiledSession, type CodeGenerator, type FunctionPlan } from "../program.js";
import type { Artifact, ArtifactDeclaration, Backend, EmitFunction } from "../types.js";
import type { ProgramSpec } from "../../program/types.js";

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

/** The module specifier of the runtime's JS library kernels (runtime/src/kernels-js.ts), imported by name so a bundle holds only those it calls. */
export const JS_KERNELS = "@graft/runtime/kernels-js";

/** Library kernels (`lib.name(`) a kernel source calls. */
const libraryCalls = (source: string): string[] => [...source.matchAll(/\blib\.([A-Za-z_$][\w$]*)\(/g)].map((match) => match[1] ?? "");

/** One kernel of a specialisation as bundle code: its source, headed by the ops it computes. */
interface BundleKernel {
  readonly heading: string;
  readonly source: string;
}

/** The kernels of a specialisation, each headed by the ops it computes. */
const bundleKernels = (plan: FunctionPlan, graphOps: (id: number) => string | undefined): BundleKernel[] =>
  plan.lowered.kernels.map((kernel) => {
    const ops = [...new Set(kernel.nodes.flatMap((id) => graphOps(id) ?? []))].join(", ");
    return { heading: `// ${kernel.kind}${ops === "" || ops === kernel.kind ? "" : `: ${ops}`}`, source: jsKernelSource(kernel, plan.memory.offsets, plan.lowered.buffers) };
  });

/**
 * A bundle's JS artifact: every specialisation's kernels as code, run by `jsRun(kernels, lib)` over
 * a plain arena. Loop kernels that differ only in their numbers are written once, as templates.
 */
export const emitJsArtifact = (functions: readonly EmitFunction[]): Artifact => {
  const specialisations: Array<{ readonly name: string; readonly kernels: readonly BundleKernel[] }> = [];
  const entries: Record<string, Array<{ readonly code: string }>> = {};
  for (const fn of functions)
    entries[fn.name] = fn.specialisations.map(({ batch, plan }) => {
      const name = kernelsName(fn.name, batch);
      specialisations.push({ name, kernels: bundleKernels(plan, (id) => fn.graph.nodes[id]?.op) });
      return { code: `jsRun(${name}, lib)` };
    });
  const templated = kernelTemplates(specialisations.flatMap((specialisation) => specialisation.kernels.map((kernel) => kernel.source)));
  let next = 0;
  const written = specialisations.map(({ name, kernels }) => ({ name, kernels: kernels.map((kernel) => `${kernel.heading}\n${templated.kernels[next++] ?? kernel.source}`) }));
  // a specialisation whose kernels start with all of an earlier one's (evaluate = forward + loss) spreads that one's array
  const kernelSources = new Map(
    written.map(({ name, kernels }, index) => {
      const prefix = written
        .slice(0, index)
        .filter((earlier) => earlier.kernels.length > 0 && earlier.kernels.length <= kernels.length && earlier.kernels.every((kernel, at) => kernel === kernels[at]))
        .reduce<(typeof written)[number] | undefined>((longest, earlier) => (longest === undefined || earlier.kernels.length > longest.kernels.length ? earlier : longest), undefined);
      const items = prefix === undefined ? kernels : [`...${prefix.name}`, ...kernels.slice(prefix.kernels.length)];
      return [name, `[\n${items.join(",\n")}\n]`];
    }),
  );
  const templateDeclarations: ArtifactDeclaration[] = templated.templates.map((template) => ({
    name: template.name,
    docs: `A loop kernel shared by ${template.uses} kernels below${template.params.length === 0 ? " (the same code)" : `, which differ only in ${template.params.join(", ")} (arena offsets, sizes, constants)`}.`,
    ...(template.params.length === 0
      ? { type: "JsKernel<typeof lib>", initializer: template.source }
      : { initializer: `(${template.params.map((param) => `${param}: number`).join(", ")}): JsKernel<typeof lib> => ${template.source}` }),
  }));
  const calls = [...new Set(specialisations.flatMap((specialisation) => specialisation.kernels.flatMap((kernel) => libraryCalls(kernel.source))))].sort();
  const declarations: ArtifactDeclaration[] = [
    {
      name: "lib",
      docs: "The runtime's library kernels the generated kernels call (only those: the rest is left out of the bundle).",
      initializer: calls.length === 0 ? "{}" : `{ ${calls.join(", ")} }`,
    },
    ...templateDeclarations,
    ...[...kernelSources].map(([name, source]) => ({
      name,
      type: "readonly JsKernel<typeof lib>[]",
      docs: `Kernels of \`${name.replace(/Kernels$/, "")}\`, run in order over the arena views F (f32) and I (i32/bool); offsets are arena elements.`,
      initializer: source,
    })),
  ];
  return {
    loader: "loadJsArtifact",
    types: { artifact: "null", entry: "RunKernels" },
    imports: [...(calls.length > 0 ? [{ from: JS_KERNELS, names: calls }] : []), { from: "@graft/runtime", names: ["jsRun", "loadJsArtifact"], typeNames: ["JsKernel", "RunKernels"] }],
    declarations,
    value: null,
    entries,
  };
};

export const jsBackend: Backend = {
  name: "js",
  createSession: async (spec: ProgramSpec, options) => createCompiledSession(spec, jsGenerator, options),
  supports: (spec) => spec.functions.flatMap((fn) => checkCompilable(fn.graph)),
  emit: async (functions) => E.right(emitJsArtifact(functions)),
};
