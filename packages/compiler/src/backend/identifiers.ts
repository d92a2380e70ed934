/**
 * @file Identifiers of generated TypeScript (bundle modules and the kernels back ends put in them):
 * property names, type-name prefixes of functions, and the names of a function's kernel arrays.
 */

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A property or method name as TypeScript source (quoted unless an identifier). */
export const propertyName = (name: string): string => (IDENTIFIER.test(name) ? name : JSON.stringify(name));

/** `trainStep` → `TrainStep`, `my-fn` → `MyFn`: the prefix of a function's type names. */
export const typePrefix = (name: string): string => {
  const words = name.split(/[^A-Za-z0-9_$]+/).filter((word) => word !== "");
  const joined = words.map((word) => (word[0] ?? "").toUpperCase() + word.slice(1)).join("");
  return joined === "" || /^[0-9]/.test(joined) ? `Fn${joined}` : joined;
};

/** `forward` at batch 32 → `forwardBatch32Kernels`: the name of a specialisation's generated kernels. */
export const kernelsName = (fnName: string, batch: number | undefined): string => {
  const prefix = typePrefix(fnName);
  return `${prefix[0]?.toLowerCase() ?? "f"}${prefix.slice(1)}${batch === undefined ? "" : `Batch${batch}`}Kernels`;
};
