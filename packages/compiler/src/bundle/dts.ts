/**
 * @file The public types of a bundle, generated with ts-morph: the same declarations head the
 * generated module (`--emit-ts`) and make up the `.d.ts` next to the bundle, whose types name
 * every function's inputs and outputs with their shapes, e.g.
 * `forward(feeds: ForwardInputs): ForwardOutputs` with `ForwardInputs = { readonly x: Float32Array | readonly number[] }`
 * documented `f32[32,784] (declared f32[batch,784])`.
 */
import { Project, StructureKind, type InterfaceDeclarationStructure, type MethodSignatureStructure, type OptionalKind, type PropertySignatureStructure, type StatementStructures, type TypeAliasDeclarationStructure } from "ts-morph";
import { hyperOptions, type ArenaDtype } from "@graft/runtime";
import { propertyName, typePrefix } from "../backend/identifiers.js";
import type { BundleFunction, BundleLayout, BundleTensor } from "./layout.js";

/**
 * A user's name (model, param, input) as text inside a comment or doc comment: shown as the
 * contents of a JS string literal (quotes, newlines, `${` escaped) with `*​/` broken, so no name
 * can end a comment or inject a line. The one helper every comment write site uses.
 */
export const commentText = (name: string): string => JSON.stringify(name).slice(1, -1).replace(/\*\//g, "*\\/").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

const INPUT_TYPE: Readonly<Record<ArenaDtype, string>> = {
  f32: "Float32Array | readonly number[]",
  i32: "Int32Array | readonly number[]",
  bool: "Uint8Array | readonly (number | boolean)[]",
};
/** A feed's type: its typed array, a flat Array, or (rank ≥ 2) Arrays nested one level per dim. */
const inputType = (tensor: BundleTensor): string => {
  const element = tensor.dtype === "bool" ? "(number | boolean)" : "number";
  let nested = `readonly ${element}[]`;
  for (let level = 1; level < tensor.dims.length; level++) nested = `readonly (${nested})[]`;
  return tensor.dims.length >= 2 ? `${INPUT_TYPE[tensor.dtype]} | ${nested}` : INPUT_TYPE[tensor.dtype];
};
const OUTPUT_TYPE: Readonly<Record<ArenaDtype, string>> = { f32: "Float32Array", i32: "Int32Array", bool: "Uint8Array" };

const formatType = (dtype: string, shape: readonly (string | number)[]): string => `${dtype}[${shape.join(",")}]`;

/** The concrete shapes of a function tensor at every batch size, and its declared shape. */
const describeTensor = (fn: BundleFunction, tensor: BundleTensor, kind: "inputs" | "outputs"): string => {
  const concrete = [
    ...new Set(
      fn.specialisations.map((s) => {
        const slot = s.plan.image[kind].find((candidate) => candidate.name === tensor.name);
        return formatType(tensor.dtype, slot?.shape ?? []);
      }),
    ),
  ];
  const declared = formatType(tensor.dtype, tensor.dims);
  const shapes = concrete.join(" | ");
  return shapes === declared ? shapes : `${shapes} (declared ${declared})`;
};

const tensorProperties = (fn: BundleFunction, kind: "inputs" | "outputs"): OptionalKind<PropertySignatureStructure>[] =>
  fn[kind].map((tensor) => ({
    name: propertyName(tensor.name),
    isReadonly: true,
    type: kind === "inputs" ? inputType(tensor) : tensor.dims.length === 0 ? "number" : OUTPUT_TYPE[tensor.dtype],
    docs: [kind === "outputs" && tensor.dims.length === 0 ? `${describeTensor(fn, tensor, kind)}, returned as a number` : describeTensor(fn, tensor, kind)],
  }));

const FUNCTION_DOCS: Readonly<Record<string, string>> = {
  forward: "Runs the model on `feeds` and returns its outputs (fresh arrays).",
  trainStep: "One training step on a batch: computes the loss and its gradients and updates the weights and optimizer state in place.",
  evaluate: "Computes the outputs and the loss on a batch without changing any weight.",
};

/** Declarations common to every bundle (the shapes of `info`, load and save options). */
/** The declarations every bundle has (`info` types, options); `backend` is the literal type of `info.backend`. */
const common = (backend: string): readonly StatementStructures[] => [
  {
    kind: StructureKind.Interface,
    name: "TensorInfo",
    isExported: true,
    docs: ["An input or output of a bundled function."],
    properties: [
      { name: "name", isReadonly: true, type: "string" },
      { name: "dtype", isReadonly: true, type: `"f32" | "i32" | "bool"`, docs: ["f32 → Float32Array, i32 → Int32Array, bool → Uint8Array."] },
      { name: "shape", isReadonly: true, type: "readonly number[]", docs: ["The concrete shape at the bundle's first batch size."] },
      { name: "dims", isReadonly: true, type: "readonly (string | number)[]", docs: ['The shape as declared in the model, e.g. `["batch", 784]`.'] },
    ],
  },
  {
    kind: StructureKind.Interface,
    name: "FunctionInfo",
    isExported: true,
    docs: ["A bundled function's inputs and outputs."],
    properties: [
      { name: "inputs", isReadonly: true, type: "readonly TensorInfo[]" },
      { name: "outputs", isReadonly: true, type: "readonly TensorInfo[]" },
      {
        name: "batching",
        isReadonly: true,
        type: "{ readonly chunkable: true; readonly inputs: readonly string[]; readonly outputs: Readonly<Record<string, RowCombine>> } | { readonly chunkable: false; readonly reason: string }",
        docs: ["Whether the function takes any batch size (run in chunks of the compiled ones), decided by the compiler; if not, why."],
      },
    ],
  },
  {
    kind: StructureKind.TypeAlias,
    name: "RowCombine",
    isExported: true,
    docs: ["How a chunked output is assembled: rows concatenated, the same for every chunk, or a mean/sum over the rows (weighted by rows, or by labels other than ignoreIndex)."],
    type: '{ readonly kind: "rows" | "same" } | { readonly kind: "mean" | "sum"; readonly weight: "rows" } | { readonly kind: "mean" | "sum"; readonly weight: "labels"; readonly input: string; readonly ignoreIndex: number }',
  },
  {
    kind: StructureKind.Interface,
    name: "StateInfo",
    isExported: true,
    docs: ["A persistent tensor: a weight or optimizer state."],
    properties: [
      { name: "name", isReadonly: true, type: "string" },
      { name: "dtype", isReadonly: true, type: `"f32" | "i32" | "bool"` },
      { name: "shape", isReadonly: true, type: "readonly number[]" },
    ],
  },
  {
    kind: StructureKind.Interface,
    name: "ModelInfo",
    isExported: true,
    docs: ["What `m.info` describes."],
    properties: [
      { name: "name", isReadonly: true, type: "string" },
      { name: "backend", isReadonly: true, type: JSON.stringify(backend), docs: ["The back end that compiled the kernels."] },
      { name: "batches", isReadonly: true, type: "readonly number[]", docs: ["Batch sizes the functions accept (empty when the model has no `batch` dim)."] },
      { name: "dims", isReadonly: true, type: "Readonly<Record<string, number>>", docs: ["Sizes fixed at compile time for the model's other symbolic dims."] },
      { name: "optimizer", isReadonly: true, type: "string | null", docs: ["The optimizer `trainStep` applies, or null for an inference-only bundle."] },
      { name: "inputs", isReadonly: true, type: "readonly TensorInfo[]", docs: ["`forward`'s inputs."] },
      { name: "outputs", isReadonly: true, type: "readonly TensorInfo[]", docs: ["`forward`'s outputs."] },
      { name: "functions", isReadonly: true, type: "Readonly<Record<string, FunctionInfo>>" },
      { name: "weights", isReadonly: true, type: "readonly StateInfo[]", docs: ["The model's params: what `saveWeights()` writes."] },
      { name: "state", isReadonly: true, type: "readonly StateInfo[]", docs: ["Every persistent tensor: the weights, then optimizer state."] },
    ],
  },
  {
    kind: StructureKind.Interface,
    name: "LoadOptions",
    isExported: true,
    docs: ["Options of `load`."],
    properties: [{ name: "seed", hasQuestionToken: true, isReadonly: true, type: "number", docs: ["Seed of the param initialisers when no weights are loaded: an integer 0 ≤ seed < 2^32 (default 0)."] }],
  },
  {
    kind: StructureKind.Interface,
    name: "SaveWeightsOptions",
    isExported: true,
    docs: ["Options of `saveWeights`."],
    properties: [{ name: "optimizer", hasQuestionToken: true, isReadonly: true, type: "boolean", docs: ["Also save optimizer state (momentum buffers, Adam moments, step count). Default false."] }],
  },

];

/** The per-function feed and result types, e.g. `ForwardInputs` and `ForwardOutputs`. */
const functionTypes = (fn: BundleFunction): TypeAliasDeclarationStructure[] => {
  const prefix = typePrefix(fn.name);
  const literal = (properties: OptionalKind<PropertySignatureStructure>[]): string =>
    properties.length === 0 ? "{}" : `{\n${properties.map((p) => `/** ${(p.docs ?? []).join(" ")} */\nreadonly ${p.name}: ${String(p.type)};`).join("\n")}\n}`;
  return [
    { kind: StructureKind.TypeAlias, name: `${prefix}Inputs`, isExported: true, docs: [`The inputs of \`${fn.name}\`: typed arrays, or plain Arrays (flat row-major, or nested one level per dim; f32 rounded as Float32Array.from).`], type: literal(tensorProperties(fn, "inputs")) },
    { kind: StructureKind.TypeAlias, name: `${prefix}Outputs`, isExported: true, docs: [`The outputs of \`${fn.name}\`: fresh arrays, row-major; scalars as numbers.`], type: literal(tensorProperties(fn, "outputs")) },
  ];
};

/** The `GraftModel` interface: one method per function, `info`, `saveWeights`, `loadWeights`. */
const modelInterface = (layout: BundleLayout): InterfaceDeclarationStructure => ({
  kind: StructureKind.Interface,
  name: "GraftModel",
  isExported: true,
  docs: [`Model \`${commentText(layout.name)}\`, loaded by \`load()\`.`],
  properties: [
    { name: "info", isReadonly: true, type: "ModelInfo" },
    ...(layout.optimizer === undefined
      ? []
      : [
          { name: "learningRate", isReadonly: true, type: "number", docs: ["The learning rate the next `trainStep` uses."] },
          {
            name: "hyperparameters",
            isReadonly: true,
            type: `Readonly<{ ${["lr", ...Object.keys(hyperOptions(layout.hyper?.scalars ?? []))].map((name) => `${name}: number`).join("; ")} }>`,
            docs: ["The training step's run-time hyperparameters and their current values, with PyTorch's names (what `optimizer.param_groups[0]` holds)."],
          },
        ]),
  ],
  methods: [
    ...layout.functions.map(
      (fn): OptionalKind<MethodSignatureStructure> => ({
        name: propertyName(fn.name),
        docs: [`${FUNCTION_DOCS[fn.name] ?? `Runs \`${fn.name}\`.`}\n@throws FeedError (naming the input) when a feed has the wrong type or length or a label is out of range; nothing changes then.`],
        parameters:
          fn.name === "trainStep"
            ? [
                { name: "feeds", type: `${typePrefix(fn.name)}Inputs` },
                { name: "options", hasQuestionToken: true, type: "{ readonly lr?: number }" },
              ]
            : [{ name: "feeds", type: `${typePrefix(fn.name)}Inputs` }],
        returnType: `${typePrefix(fn.name)}Outputs`,
      }),
    ),
    ...(layout.optimizer === undefined
      ? []
      : [
          {
            name: "setLearningRate",
            docs: ["Sets the learning rate of the next training steps: a run-time scalar of the compiled step, no recompiling (`trainStep(feeds, { lr })` does the same for one call and the ones after).\n@throws RangeError for a negative or non-finite lr"],
            parameters: [{ name: "lr", type: "number" }],
            returnType: "void",
          },
          {
            name: "setHyperparameter",
            docs: [
              "Sets a run-time hyperparameter of the next training steps, as `optimizer.param_groups[0][name] = value` in PyTorch (no recompiling).\n@throws Error for a name that is not one of `hyperparameters`, RangeError for a value out of PyTorch's range",
            ],
            parameters: [
              { name: "name", type: `${["lr", ...Object.keys(hyperOptions(layout.hyper?.scalars ?? []))].map((name) => JSON.stringify(name)).join(" | ")}` },
              { name: "value", type: "number" },
            ],
            returnType: "void",
          },
        ]),
    {
      name: "saveWeights",
      docs: ["The weights as a safetensors file (PyTorch names, e.g. `fc1.weight`; `safetensors.torch.load_file` reads it). Optimizer state only with `{ optimizer: true }`."],
      parameters: [{ name: "options", hasQuestionToken: true, type: "SaveWeightsOptions" }],
      returnType: "Uint8Array",
    },
    {
      name: "loadWeights",
      docs: [
        "Replaces the weights (or, for a file with optimizer state, all state) from safetensors bytes. Validates the whole file first: on any problem it throws a WeightsError and changes nothing.",
      ],
      parameters: [{ name: "bytes", type: "Uint8Array | ArrayBufferLike" }],
      returnType: "void",
    },
  ],
});

/** The public declarations of a bundle (everything its `.d.ts` holds except `load`). */
export const publicDeclarations = (layout: BundleLayout, backend: string): StatementStructures[] => [...common(backend), ...layout.functions.flatMap(functionTypes), modelInterface(layout)];

/** Docs of `load`. */
export const loadDocs = (layout: BundleLayout): string =>
  [
    `Loads model \`${commentText(layout.name)}\`: a fresh, independent instance each call.`,
    `Params start from their initialisers (seeded by \`options.seed\`)${layout.weights.length > 0 ? ", then take `weights` (safetensors bytes) when given, else the weights embedded at compile time if any" : ""}.`,
    "@throws WeightsError when the weights do not fit the model.",
  ].join("\n");

/** The doc comment that heads generated files. */
export const headerComment = (layout: BundleLayout, backend: string): string =>
  `/**\n${[
    `graft bundle of model "${commentText(layout.name)}": backend ${backend}, ${layout.batches.length === 0 ? "fixed shapes" : `batch ${layout.batches.join(", ")}`}${Object.keys(layout.dims).length > 0 ? `, ${Object.entries(layout.dims).map(([k, v]) => `${k}=${v}`).join(", ")}` : ""}${layout.optimizer === undefined ? "" : `, trained with ${layout.optimizer}`}.`,
    `Functions: ${layout.functions.map((fn) => fn.name).join(", ")}. Generated by \`graft compile\`.`,
  ]
    .map((line) => ` * ${line}`)
    .join("\n")}\n */`;

/** A ts-morph project for generated files (in memory, formatted with 2-space indents). */
export const generatedProject = (): Project => new Project({ useInMemoryFileSystem: true, compilerOptions: { strict: true, target: 9 /* ES2022 */ } });

/** The `.d.ts` of a bundle. */
export const emitDts = (layout: BundleLayout, backend: string): string => {
  const file = generatedProject().createSourceFile("bundle.d.ts", "", { overwrite: true });
  file.addStatements(publicDeclarations(layout, backend));
  file.addFunction({
    name: "load",
    isExported: true,
    hasDeclareKeyword: true,
    docs: [loadDocs(layout)],
    parameters: [
      { name: "weights", hasQuestionToken: true, type: "Uint8Array | ArrayBufferLike" },
      { name: "options", hasQuestionToken: true, type: "LoadOptions" },
    ],
    returnType: "Promise<GraftModel>",
  });
  file.formatText({ indentSize: 2, convertTabsToSpaces: true });
  return `${headerComment(layout, backend)}\n${file.getFullText()}`;
};
