/**
 * @file Emission of a bundle: the module source as typed, formatted TypeScript built with
 * ts-morph (public types, the state layout, the function images with their kernels as real code
 * or WASM bytes in base64, optionally the weights), then one self-contained ESM file bundled and
 * minified by esbuild with @graft/runtime inlined. No eval, no `new Function`, no imports.
 */
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, type Plugin } from "esbuild";
import { VariableDeclarationKind } from "ts-morph";
import { jsKernelSource } from "../backend/js.js";
import type { FunctionPlan } from "../backend/program.js";
import { generatedProject, headerComment, loadDocs, propertyName, publicDeclarations, typePrefix } from "./dts.js";
import type { BundleLayout, BundleTensor } from "./layout.js";
import type { ModelInfo, StateEntry, TensorInfo } from "./runtime.js";

/** The module specifier generated modules import the bundle runtime (./runtime.ts) by. */
export const BUNDLE_RUNTIME = "@graft/bundle-runtime";

/** The module specifier of the runtime's JS library kernels (runtime/src/kernels-js.ts). */
export const JS_KERNELS = "@graft/runtime/kernels-js";

/** Stands for the embedded weights in the bundled code until they are spliced in. */
const WEIGHTS_PLACEHOLDER = "__GRAFT_EMBEDDED_WEIGHTS__";

/** One specialisation's WASM module and the messages of its run-time index checks. */
export interface WasmModule {
  readonly bytes: Uint8Array;
  /** `checks[s - 1]` describes the failure `run` reports with status s. */
  readonly checks: readonly string[];
}

/** WASM modules of a bundle and where their arena starts in memory. */
export interface WasmModules {
  readonly modules: ReadonlyMap<string, readonly WasmModule[]>;
  /** Byte address of arena element 0. */
  readonly base: number;
}

/** Options for {@link emitModuleSource}. */
export interface EmitOptions {
  readonly backend: "js" | "wasm";
  /** The `wasm` back end's modules: per function, one per specialisation (in batch order). */
  readonly wasm?: WasmModules | undefined;
  /** Safetensors bytes to embed, base64 (see {@link toBase64}). */
  readonly weights?: string | undefined;
}

/** Base64 of bytes, as bundles embed weights and WASM modules. */
export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

const tensorInfo = (tensor: BundleTensor, shape: readonly number[]): TensorInfo => ({ name: tensor.name, dtype: tensor.dtype, shape, dims: tensor.dims });

/** True for a hyper scalar of the training step (written before each step, never saved). */
export const isHyper = (layout: BundleLayout, name: string): boolean => (layout.hyper?.scalars ?? []).some((scalar) => scalar.param === name);

/** The static `info` of a bundle. */
export const bundleInfo = (layout: BundleLayout, backend: "js" | "wasm"): ModelInfo => {
  const functions = Object.fromEntries(
    layout.functions.map((fn) => {
      const image = fn.specialisations[0]?.plan.image;
      const shapeOf = (kind: "inputs" | "outputs", name: string): readonly number[] => image?.[kind].find((slot) => slot.name === name)?.shape ?? [];
      return [fn.name, { inputs: fn.inputs.map((t) => tensorInfo(t, shapeOf("inputs", t.name))), outputs: fn.outputs.map((t) => tensorInfo(t, shapeOf("outputs", t.name))) }];
    }),
  );
  const forward = functions["forward"] ?? Object.values(functions)[0];
  const stateInfo = (entry: BundleLayout["state"][number]) => ({ name: entry.name, dtype: entry.dtype, shape: entry.shape });
  const byName = new Map(layout.state.map((entry) => [entry.name, entry]));
  return {
    name: layout.name,
    backend,
    batches: layout.batches,
    dims: layout.dims,
    optimizer: layout.optimizer ?? null,
    inputs: forward?.inputs ?? [],
    outputs: forward?.outputs ?? [],
    functions,
    weights: layout.weights.flatMap((name) => {
      const entry = byName.get(name);
      return entry === undefined ? [] : [stateInfo(entry)];
    }),
    state: [...layout.weights.flatMap((name) => byName.get(name) ?? []), ...layout.state.filter((entry) => !entry.weight && !isHyper(layout, entry.name))].map(stateInfo),
  };
};

/** `forward` at batch 32 → `forwardBatch32Kernels`. */
const kernelsName = (fnName: string, batch: number | undefined): string => {
  const prefix = typePrefix(fnName);
  return `${prefix[0]?.toLowerCase() ?? "f"}${prefix.slice(1)}${batch === undefined ? "" : `Batch${batch}`}Kernels`;
};

/** Library kernels (`lib.name(`) a kernel source calls. */
const libraryCalls = (source: string): string[] => [...source.matchAll(/\blib\.([A-Za-z_$][\w$]*)\(/g)].map((match) => match[1] ?? "");

/**
 * A value as a TypeScript literal: identifier keys unquoted, short objects and arrays of
 * primitives on one line, longer ones one entry per line.
 */
export const literal = (value: unknown, width = 120): string => {
  if (value === undefined) return "undefined";
  if (value === null || typeof value !== "object") return typeof value === "number" && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
  const entries: Array<[string | undefined, unknown]> = Array.isArray(value)
    ? value.map((item): [undefined, unknown] => [undefined, item])
    : Object.entries(value).filter(([, item]) => item !== undefined);
  const open = Array.isArray(value) ? "[" : "{";
  const close = Array.isArray(value) ? "]" : "}";
  const parts = entries.map(([key, item]) => (key === undefined ? literal(item, width) : `${propertyName(key)}: ${literal(item, width)}`));
  if (parts.length === 0) return `${open}${close}`;
  const inline = Array.isArray(value) ? `[${parts.join(", ")}]` : `{ ${parts.join(", ")} }`;
  const flat = parts.every((part) => !part.includes("\n"));
  if (flat && (inline.length <= width || (Array.isArray(value) && entries.every(([, item]) => typeof item !== "object" || item === null)))) return inline;
  return `${open}\n${parts.join(",\n")}\n${close}`;
};

/** The kernels of a specialisation as an array literal of functions, each headed by the ops it computes. */
const kernelArray = (plan: FunctionPlan, graphOps: (id: number) => string | undefined): string =>
  `[\n${plan.lowered.kernels
    .map((kernel) => {
      const ops = [...new Set(kernel.nodes.flatMap((id) => graphOps(id) ?? []))].join(", ");
      return `// ${kernel.kind}${ops === "" || ops === kernel.kind ? "" : `: ${ops}`}\n${jsKernelSource(kernel, plan.memory.offsets, plan.lowered.buffers)}`;
    })
    .join(",\n")}\n]`;

/**
 * The bundle's module source: typed, formatted TypeScript importing @graft/runtime and the bundle
 * runtime. Bundling it (see {@link bundleModule}) gives the standalone `.mjs`.
 */
export const emitModuleSource = (layout: BundleLayout, options: EmitOptions): string => {
  const { backend } = options;
  const file = generatedProject().createSourceFile("bundle.ts", "", { overwrite: true });
  const kernelSources = new Map<string, string>();
  const wasmModules: string[] = [];
  const templates: Record<string, string[]> = {};
  for (const fn of layout.functions) {
    templates[fn.name] = fn.specialisations.map((specialisation, index) => {
      const image = specialisation.plan.image;
      const base = `kind: ${backend === "js" ? '"js"' : '"wasm"'},\nbatch: ${specialisation.batch ?? "null"},\n${Object.entries(image)
        .map(([key, value]) => `${propertyName(key)}: ${literal(value)}`)
        .join(",\n")}`;
      if (backend === "js") {
        const name = kernelsName(fn.name, specialisation.batch);
        kernelSources.set(name, kernelArray(specialisation.plan, (id) => fn.graph.nodes[id]?.op));
        return `{\n${base},\nrun: jsRun(${name}, lib)\n}`;
      }
      const module = options.wasm?.modules.get(fn.name)?.[index];
      if (module === undefined) throw new Error(`emitModuleSource: no WASM module for ${fn.name}[${index}]`);
      wasmModules.push(toBase64(module.bytes));
      return `{\n${base},\nmodule: ${wasmModules.length - 1},\nchecks: ${literal(module.checks)}\n}`;
    });
  }
  const calls = [...new Set([...kernelSources.values()].flatMap(libraryCalls))].sort();
  if (calls.length > 0) file.addImportDeclaration({ moduleSpecifier: JS_KERNELS, namedImports: calls });
  file.addImportDeclaration({
    moduleSpecifier: BUNDLE_RUNTIME,
    namedImports: [
      "createModel",
      ...(backend === "js" ? ["jsRun"] : []),
      { name: "BundleImage", isTypeOnly: true },
      ...(backend === "js" ? [{ name: "JsKernel", isTypeOnly: true }] : []),
      { name: "WeightsInput", isTypeOnly: true },
    ],
  });
  file.addStatements(publicDeclarations(layout));
  if (backend === "js") {
    file.addVariableStatement({
      declarationKind: VariableDeclarationKind.Const,
      docs: ["The runtime's library kernels the generated kernels call (only those: the rest is left out of the bundle)."],
      declarations: [{ name: "lib", initializer: calls.length === 0 ? "{}" : `{ ${calls.join(", ")} }` }],
    });
    for (const [name, source] of kernelSources)
      file.addVariableStatement({
        declarationKind: VariableDeclarationKind.Const,
        docs: [`Kernels of \`${name.replace(/Kernels$/, "")}\`, run in order over the arena views F (f32) and I (i32/bool); offsets are arena elements.`],
        declarations: [{ name, type: "readonly JsKernel<typeof lib>[]", initializer: source }],
      });
  }
  const state: StateEntry[] = layout.state.map((entry) => ({ name: entry.name, dtype: entry.dtype, shape: entry.shape, offset: entry.offset, init: entry.init, weight: entry.weight }));
  const weights = options.weights ?? "";
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    docs: ["The bundle's static image: info, state layout (offsets in 4-byte arena elements), function images per batch size."],
    declarations: [
      {
        name: "bundle",
        type: "BundleImage",
        initializer: `{\ninfo: ${literal(bundleInfo(layout, backend))},\nstate: ${literal(state)},\nfunctions: {\n${Object.entries(templates)
          .map(([name, images]) => `${propertyName(name)}: [\n${images.join(",\n")}\n]`)
          .join(",\n")}\n},\nelements: ${layout.elements},\nwasm: ${literal(wasmModules)},\nwasmBase: ${options.wasm?.base ?? 0},\nweights: ${JSON.stringify(weights)},\nhyper: ${literal(layout.hyper ?? null)}\n}`,
      },
    ],
  });
  const methods = layout.functions.map((fn) =>
    fn.name === "trainStep"
      ? `${propertyName(fn.name)}: (feeds, stepOptions) => model.call(${JSON.stringify(fn.name)}, feeds, stepOptions) as ${typePrefix(fn.name)}Outputs`
      : `${propertyName(fn.name)}: (feeds) => model.call(${JSON.stringify(fn.name)}, feeds) as ${typePrefix(fn.name)}Outputs`,
  );
  const lrMethods = layout.optimizer === undefined ? "" : `,\nget learningRate(): number {\nreturn model.learningRate ?? Number.NaN;\n},\nsetLearningRate: (lr) => model.setLearningRate(lr)`;
  file.addFunction({
    name: "load",
    isExported: true,
    isAsync: true,
    docs: [loadDocs(layout)],
    parameters: [
      { name: "weights", hasQuestionToken: true, type: "WeightsInput" },
      { name: "options", hasQuestionToken: true, type: "LoadOptions" },
    ],
    returnType: "Promise<GraftModel>",
    statements: [
      "const model = await createModel(bundle, weights, options);",
      `return {\ninfo: model.info,\n${methods.join(",\n")},\nsaveWeights: (saveOptions) => model.saveWeights(saveOptions),\nloadWeights: (bytes) => model.loadWeights(bytes)${lrMethods}\n};`,
    ],
  });
  file.formatText({ indentSize: 2, convertTabsToSpaces: true });
  return `${headerComment(layout, backend)}\n${file.getFullText()}`;
};

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
/**
 * A file next to a package's entry point, with the entry's extension: `.ts` when the package
 * resolves to the workspace's sources, `.js` when it is an installed package's build.
 */
const besideEntry = (packageName: string, file: string): string => {
  const entry = require.resolve(packageName);
  return join(dirname(entry), `${file}${extname(entry)}`);
};

/**
 * Resolves the bundle runtime, and @graft/core imported from it to core's import-free
 * `init.ts` (the param initialisers) so the rest of core never enters a bundle.
 */
const graftResolver: Plugin = {
  name: "graft-bundle",
  setup(builder) {
    const runtimePath = join(here, `runtime${extname(fileURLToPath(import.meta.url))}`);
    builder.onResolve({ filter: /^@graft\/bundle-runtime$/ }, () => ({ path: runtimePath }));
    // imported by name from the file (not through the package's `jsKernels` namespace) so
    // esbuild drops the kernels a bundle never calls
    builder.onResolve({ filter: /^@graft\/runtime\/kernels-js$/ }, () => ({ path: besideEntry("@graft/runtime", "kernels-js") }));
    builder.onResolve({ filter: /^@graft\/core$/ }, (args) => {
      if (args.importer !== runtimePath) return { errors: [{ text: `@graft/core may only be imported by the bundle runtime (imported by ${args.importer})` }] };
      return { path: besideEntry("@graft/core", "init") };
    });
  },
};

/** The sizes `graft compile` reports. */
export interface BundleSizes {
  /** Minified runtime + kernels + layout, weights excluded (bytes). */
  readonly code: number;
  /** `code`, gzipped. */
  readonly gzip: number;
  /** Embedded weights as they appear in the bundle (base64), 0 without. */
  readonly weights: number;
  /** The whole file. */
  readonly total: number;
}

/** A bundled module. */
export interface BundledModule {
  readonly code: string;
  readonly sizes: BundleSizes;
}

/**
 * Bundles module source with esbuild: ESM, platform neutral, minified, everything inlined.
 * `weights` is the base64 the source embeds (if any): it is left out while bundling and
 * spliced back into the output, so sizes can be reported without it.
 */
export const bundleModule = async (source: string, options: { readonly sourcefile?: string; readonly weights?: string } = {}): Promise<BundledModule> => {
  const weights = options.weights ?? "";
  const literalWeights = JSON.stringify(weights);
  if (weights !== "" && !source.includes(literalWeights)) throw new Error("bundleModule: the source does not embed the given weights");
  const stripped = weights === "" ? source : source.replace(literalWeights, JSON.stringify(WEIGHTS_PLACEHOLDER));
  const result = await build({
    stdin: { contents: stripped, loader: "ts", resolveDir: here, sourcefile: options.sourcefile ?? "bundle.ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    legalComments: "none",
    write: false,
    logLevel: "silent",
    plugins: [graftResolver],
  });
  const text = result.outputFiles[0]?.text ?? "";
  const codeOnly = weights === "" ? text : text.replace(WEIGHTS_PLACEHOLDER, "");
  const code = weights === "" ? text : text.replace(WEIGHTS_PLACEHOLDER, () => weights);
  return {
    code,
    sizes: {
      code: Buffer.byteLength(codeOnly),
      gzip: gzipSync(codeOnly, { level: 9 }).length,
      weights: weights.length,
      total: Buffer.byteLength(code),
    },
  };
};

