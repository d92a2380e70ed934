/**
 * @file Emission of a bundle: the module source as typed, formatted TypeScript built with
 * ts-morph (public types, the state layout, the back end's artifact — its code, or its data such
 * as module bytes in base64 — with each function image's entry point, optionally the weights),
 * then one self-contained ESM file bundled and minified by esbuild with @graft/runtime inlined.
 * No eval, no `new Function`, no imports. Which back end made the artifact is not its concern.
 */
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, type Plugin } from "esbuild";
import { VariableDeclarationKind } from "ts-morph";
import { BASIC_INITS, type ModelInfo, type StateEntry, type StateInfo, type TensorInfo } from "@graft/runtime";
import { batchRows } from "../analysis/batch-rows.js";
import { propertyName, typePrefix } from "../backend/identifiers.js";
import type { Artifact, ArtifactEntry } from "../backend/types.js";
import { generatedProject, headerComment, loadDocs, publicDeclarations } from "./dts.js";
import type { BundleLayout, BundleTensor } from "./layout.js";

/** The module generated modules import the program image and the artifact loaders from. */
export const RUNTIME = "@graft/runtime";

/** Stands for the embedded weights in the bundled code until they are spliced in. */
const WEIGHTS_PLACEHOLDER = "__GRAFT_EMBEDDED_WEIGHTS__";

/** Options for {@link emitModuleSource}. */
export interface EmitOptions {
  /** The back end's name (as `info.backend` reports it). */
  readonly backend: string;
  /** What the back end emitted for the layout's specialisations. */
  readonly artifact: Artifact;
  /** Safetensors bytes to embed, base64 (see {@link toBase64}). */
  readonly weights?: string | undefined;
}

/** Base64 of bytes, as bundles embed weights. */
export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

const tensorInfo = (tensor: BundleTensor, shape: readonly number[]): TensorInfo => ({ name: tensor.name, dtype: tensor.dtype, shape, dims: tensor.dims });

/** True for a hyper scalar of the training step (written before each step, never saved). */
export const isHyper = (layout: BundleLayout, name: string): boolean => (layout.hyper?.scalars ?? []).some((scalar) => scalar.param === name);

/** The static `info` of a bundle. */
export const bundleInfo = (layout: BundleLayout, backend: string): ModelInfo => {
  const functions = Object.fromEntries(
    layout.functions.map((fn) => {
      const image = fn.specialisations[0]?.plan.image;
      const shapeOf = (kind: "inputs" | "outputs", name: string): readonly number[] => image?.[kind].find((slot) => slot.name === name)?.shape ?? [];
      const batching = batchRows(fn.graph, { updatesState: fn.updatesState, name: fn.name });
      return [fn.name, { inputs: fn.inputs.map((t) => tensorInfo(t, shapeOf("inputs", t.name))), outputs: fn.outputs.map((t) => tensorInfo(t, shapeOf("outputs", t.name))), batching }];
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

/** A `const` the module declares before the program image. */
interface Declaration {
  readonly name: string;
  readonly type: string;
  readonly docs: string;
  readonly initializer: string;
}

/**
 * The bundle's `info` as TypeScript: each function's info, and the weights, declared once and
 * referenced where `info` repeats them (its `inputs`/`outputs` are `forward`'s, functions often
 * take the same inputs, `state` starts with the weights). The value is the same as a literal's.
 */
const infoSource = (info: ModelInfo, stateRest?: { readonly entries: readonly StateInfo[]; readonly source: string }): { readonly declarations: readonly Declaration[]; readonly initializer: string } => {
  const declarations: Declaration[] = [];
  const taken = new Set<string>();
  const declare = (stem: string, type: string, docs: string, initializer: string): string => {
    let name = `${stem}Info`;
    for (let index = 2; taken.has(name); index++) name = `${stem}${index}Info`;
    taken.add(name);
    declarations.push({ name, type, docs, initializer });
    return name;
  };
  /** Literal text of a list of tensors → the expression of its first occurrence. */
  const lists = new Map<string, string>();
  const list = (value: readonly TensorInfo[], reference: string): string => {
    const text = literal(value);
    const first = lists.get(text);
    if (first !== undefined) return first;
    lists.set(text, reference);
    return text;
  };
  const functions = Object.entries(info.functions).map(([name, fn]) => {
    const prefix = typePrefix(name);
    const variable = declare(`${prefix[0]?.toLowerCase() ?? "f"}${prefix.slice(1)}`, "FunctionInfo", `\`info.functions${/^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`}\`.`, "");
    const index = declarations.length - 1;
    const fields = [`inputs: ${list(fn.inputs, `${variable}.inputs`)}`, `outputs: ${list(fn.outputs, `${variable}.outputs`)}`, ...(fn.batching === undefined ? [] : [`batching: ${literal(fn.batching)}`])];
    const declaration = declarations[index];
    if (declaration !== undefined) declarations[index] = { ...declaration, initializer: `{\n${fields.join(",\n")}\n}` };
    return `${propertyName(name)}: ${variable}`;
  });
  const weights = declare("weights", "readonly StateInfo[]", "`info.weights`: the model's params (what `saveWeights()` writes); `info.state` starts with them.", literal(info.weights));
  const startsWithWeights = info.weights.every((entry, index) => literal(entry) === literal(info.state[index]));
  const rest = info.state.slice(info.weights.length);
  // the optimizer state's infos as the program image's state rows they are read from, when they are those
  const restSource = stateRest !== undefined && literal(stateRest.entries) === literal(rest) ? [`...${stateRest.source}`] : rest.map((entry) => literal(entry));
  const state = startsWithWeights ? `[\n${[`...${weights}`, ...restSource].join(",\n")}\n]` : literal(info.state);
  const initializer = `{\n${[
    `name: ${literal(info.name)}`,
    `backend: ${literal(info.backend)}`,
    `batches: ${literal(info.batches)}`,
    `dims: ${literal(info.dims)}`,
    `optimizer: ${literal(info.optimizer)}`,
    `inputs: ${lists.get(literal(info.inputs)) ?? literal(info.inputs)}`,
    `outputs: ${lists.get(literal(info.outputs)) ?? literal(info.outputs)}`,
    `functions: {\n${functions.join(",\n")}\n}`,
    `weights: ${weights}`,
    `state: ${state}`,
  ].join(",\n")}\n}`;
  return { declarations, initializer };
};

/** A state entry as a call of the bundle's `stateEntry` (its trailing defaults left out). */
const stateEntrySource = (entry: StateEntry): string => {
  const args = [literal(entry.name), literal(entry.shape), String(entry.offset), entry.init.kind === "zeros" && Object.keys(entry.init).length === 1 ? "undefined" : literal(entry.init), String(entry.weight), literal(entry.dtype), String(entry.optional === true)];
  const defaults = ["undefined", "false", '"f32"', "false"];
  let length = args.length;
  while (length > 3 && args[length - 1] === defaults[length - 4]) length--;
  return `stateEntry(${args.slice(0, length).join(", ")})`;
};

/** An entry point as TypeScript: its code, or its data as a literal. */
const entrySource = (entry: ArtifactEntry): string => ("code" in entry ? entry.code : literal(entry.data));

/**
 * The bundle's module source: typed, formatted TypeScript importing @graft/runtime (the program
 * image, the artifact's loader and what its code calls). Bundling it (see {@link bundleModule})
 * gives the standalone `.mjs`.
 */
export const emitModuleSource = (layout: BundleLayout, options: EmitOptions): string => {
  const { backend, artifact } = options;
  const file = generatedProject().createSourceFile("bundle.ts", "", { overwrite: true });
  const templates: Record<string, string[]> = {};
  for (const fn of layout.functions) {
    const entries = artifact.entries[fn.name] ?? [];
    templates[fn.name] = fn.specialisations.map((specialisation, index) => {
      const entry = entries[index];
      if (entry === undefined) throw new Error(`emitModuleSource: the artifact has no entry for ${fn.name}[${index}]`);
      const image = specialisation.plan.image;
      return `{\nbatch: ${specialisation.batch ?? "null"},\n${Object.entries(image)
        .map(([key, value]) => `${propertyName(key)}: ${literal(value)}`)
        .join(",\n")},\nentry: ${entrySource(entry)}\n}`;
    });
  }
  const imports = new Map<string, { names: Set<string>; typeNames: Set<string> }>();
  const addImport = (from: string, names: readonly string[], typeNames: readonly string[] = []): void => {
    const entry = imports.get(from) ?? { names: new Set<string>(), typeNames: new Set<string>() };
    for (const name of names) entry.names.add(name);
    for (const name of typeNames) entry.typeNames.add(name);
    imports.set(from, entry);
  };
  for (const item of artifact.imports) if (item.from !== RUNTIME) addImport(item.from, item.names, item.typeNames);
  // params that start from the basic initialisers only (nn.Linear's among them): the others stay out of the bundle
  const basicInits = layout.state.every((entry) => BASIC_INITS.includes(entry.init.kind));
  addImport(RUNTIME, basicInits ? ["basicInitValues", "modelLoader"] : ["createModel"], ["ProgramImage", "StateEntry", "WeightsInput"]);
  for (const item of artifact.imports) if (item.from === RUNTIME) addImport(item.from, item.names, item.typeNames);
  for (const [from, { names, typeNames }] of imports)
    file.addImportDeclaration({
      moduleSpecifier: from,
      namedImports: [...[...names].map((name) => ({ name })), ...[...typeNames].map((name) => ({ name, isTypeOnly: true }))],
    });
  file.addStatements(publicDeclarations(layout, backend));
  for (const declaration of artifact.declarations)
    file.addVariableStatement({
      declarationKind: VariableDeclarationKind.Const,
      docs: [declaration.docs],
      declarations: [{ name: declaration.name, ...(declaration.type === undefined ? {} : { type: declaration.type }), initializer: declaration.initializer }],
    });
  // hyper scalars are written before every training step and never saved: their init is moot (zeros, the shortest)
  const state: StateEntry[] = layout.state.map((entry) => ({ name: entry.name, dtype: entry.dtype, shape: entry.shape, offset: entry.offset, init: isHyper(layout, entry.name) ? { kind: "zeros" } : entry.init, weight: entry.weight, ...(entry.optional === true ? { optional: true } : {}) }));
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    docs: ["One entry of the program image's state (most are f32 optimizer state starting at zeros: the defaults keep the rows short)."],
    declarations: [
      {
        name: "stateEntry",
        initializer: `(name: string, shape: readonly number[], offset: number, init: StateEntry["init"] = { kind: "zeros" }, weight = false, dtype: StateEntry["dtype"] = "f32", optional = false): StateEntry => (optional ? { name, dtype, shape, offset, init, weight, optional } : { name, dtype, shape, offset, init, weight })`,
      },
    ],
  });
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    docs: ["`bundle.state`: the state layout (offsets in 4-byte arena elements)."],
    declarations: [{ name: "stateRows", type: "readonly StateEntry[]", initializer: `[\n${state.map(stateEntrySource).join(",\n")}\n]` }],
  });
  // the optimizer state in info.state: the rows that are neither weights nor hyper scalars, in the rows' order
  const restIndices = state.flatMap((entry, index) => (entry.weight || isHyper(layout, entry.name) ? [] : [index]));
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    docs: ["The infos (name, dtype, shape) of the state rows at `indices`, in the rows' order."],
    declarations: [
      {
        name: "stateInfos",
        initializer: "(indices: readonly number[]): StateInfo[] => stateRows.filter((_, index) => indices.includes(index)).map(({ name, dtype, shape }) => ({ name, dtype, shape }))",
      },
    ],
  });
  const info = infoSource(bundleInfo(layout, backend), {
    entries: restIndices.flatMap((index) => {
      const entry = state[index];
      return entry === undefined ? [] : [{ name: entry.name, dtype: entry.dtype, shape: entry.shape }];
    }),
    source: `stateInfos(${literal(restIndices)})`,
  });
  for (const declaration of info.declarations)
    file.addVariableStatement({
      declarationKind: VariableDeclarationKind.Const,
      docs: [declaration.docs],
      declarations: [{ name: declaration.name, type: declaration.type, initializer: declaration.initializer }],
    });
  const weights = options.weights ?? "";
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    docs: ["The bundle's program image: info, state layout (offsets in 4-byte arena elements), function images per batch size, the back end's artifact."],
    declarations: [
      {
        name: "bundle",
        type: `ProgramImage<${artifact.types.artifact}, ${artifact.types.entry}, ModelInfo>`,
        initializer: `{\ninfo: ${info.initializer},\nstate: stateRows,\nfunctions: {\n${Object.entries(templates)
          .map(([name, images]) => `${propertyName(name)}: [\n${images.join(",\n")}\n]`)
          .join(",\n")}\n},\nelements: ${layout.elements},\nartifact: ${literal(artifact.value)},\nweights: ${JSON.stringify(weights)},\nhyper: ${literal(layout.hyper ?? null)}\n}`,
      },
    ],
  });
  const methods = layout.functions.map((fn) =>
    fn.name === "trainStep"
      ? `${propertyName(fn.name)}: (feeds, stepOptions) => model.call(${JSON.stringify(fn.name)}, feeds, stepOptions) as ${typePrefix(fn.name)}Outputs`
      : `${propertyName(fn.name)}: (feeds) => model.call(${JSON.stringify(fn.name)}, feeds) as ${typePrefix(fn.name)}Outputs`,
  );
  const lrMethods = layout.optimizer === undefined ? "" : `,\nget learningRate(): number {\nreturn model.learningRate ?? Number.NaN;\n},\nsetLearningRate: (lr) => model.setLearningRate(lr),
get hyperparameters(): GraftModel["hyperparameters"] {
return (model.hyperparameters ?? {}) as GraftModel["hyperparameters"];
},
setHyperparameter: (name, value) => model.setHyperparameter(name, value)`;
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
      `const model = await ${basicInits ? "modelLoader(basicInitValues)" : "createModel"}(bundle, ${artifact.loader}, weights, options);`,
      `return {\ninfo: model.info,\n${methods.join(",\n")},\nsaveWeights: (saveOptions) => model.saveWeights(saveOptions),\nloadWeights: (bytes) => model.loadWeights(bytes)${lrMethods}\n};`,
    ],
  });
  file.formatText({ indentSize: 2, convertTabsToSpaces: true });
  return `${headerComment(layout, backend)}\n${file.getFullText()}`;
};

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/**
 * Resolves `@graft/runtime/<file>` to that file of the runtime's sources, so code can import
 * library functions by name from the file (not through a namespace of the package index) and
 * esbuild drops those a bundle never calls. Nothing else of graft may enter a bundle.
 */
const graftResolver: Plugin = {
  name: "graft-bundle",
  setup(builder) {
    // `.ts` when the runtime resolves to the workspace's sources, `.js` in an installed build
    const runtimeEntry = require.resolve("@graft/runtime");
    const runtimeDir = dirname(runtimeEntry);
    const extension = extname(runtimeEntry);
    builder.onResolve({ filter: /^@graft\/runtime\/[\w-]+$/ }, (args) => ({ path: join(runtimeDir, `${args.path.slice("@graft/runtime/".length)}${extension}`) }));
    builder.onResolve({ filter: /^@graft\/(core|compiler)(\/.*)?$/ }, (args) => ({ errors: [{ text: `${args.path} may not enter a bundle (imported by ${args.importer})` }] }));
  },
};

/**
 * The length esbuild keeps the bundle's lines near (it breaks them at the next token past it;
 * only string literals such as embedded weights or WASM modules stay longer).
 */
export const BUNDLE_LINE_LIMIT = 160;

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
    // messages keep "≤" and "≥" as UTF-8 (3 bytes) rather than \u escapes (6)
    charset: "utf8",
    // short lines: Node prints the offending source line of an uncaught error, not kilobytes of it
    lineLimit: BUNDLE_LINE_LIMIT,
    write: false,
    logLevel: "silent",
    plugins: [graftResolver],
  });
  const text = result.outputFiles[0]?.text ?? "";
  // lineLimit may break the placeholder string with line continuations (a backslash and a newline)
  const placeholder = new RegExp(WEIGHTS_PLACEHOLDER.split("").join("(?:\\\\\\n)?"));
  const codeOnly = weights === "" ? text : text.replace(placeholder, "");
  const code = weights === "" ? text : text.replace(placeholder, () => weights);
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

