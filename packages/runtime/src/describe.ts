// How messages name shapes, typed arrays and JSON values; shared by feeds, safetensors and the
// program image (and the compiler's data readers). Imports nothing.

/** `[2,3]`: a shape as messages write it. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/** The kind of a typed array (`Float32Array`, …; a Node Buffer is a `Uint8Array`), undefined for anything else. */
export function typedArrayKind(value: unknown): string | undefined {
  if (!ArrayBuffer.isView(value)) return undefined;
  // A typed array's toStringTag is its kind, across realms and for subclasses such as Buffer.
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  return tag === "DataView" ? undefined : tag;
}

/** A short JSON rendering of a value for messages (at most 40 characters; any nesting depth). */
export function describeJson(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = boundedJson(value, 41);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * `JSON.stringify(value)`, stopped once `budget` characters are written: the recursion goes at
 * most `budget` levels deep (each level writes a bracket), so deep nesting cannot overflow the stack.
 */
function boundedJson(value: unknown, budget: number): string {
  if (typeof value !== "object" || value === null) return (JSON.stringify(value) as string | undefined) ?? "null";
  if (budget <= 1) return Array.isArray(value) ? "[" : "{";
  let text = Array.isArray(value) ? "[" : "{";
  const entries: Array<[string | undefined, unknown]> = Array.isArray(value) ? value.map((item: unknown) => [undefined, item]) : Object.entries(value);
  for (const [index, [key, item]] of entries.entries()) {
    if (text.length >= budget) return text;
    if (index > 0) text += ",";
    if (key !== undefined) text += `${JSON.stringify(key)}:`;
    text += boundedJson(item, budget - text.length);
  }
  return text + (Array.isArray(value) ? "]" : "}");
}

/**
 * How a message names any value a caller passed: `null`, `undefined`, `NaN`, `true`,
 * `"abc"` (quoted, cut at 40 characters), `5n`, `a function`, `a Float32Array of length 4`,
 * `an Array of length 2 ([2,-1])` (a short JSON excerpt), `a Map` (objects by constructor name),
 * `an object {"a":1}`. The one description shared by feeds, safetensors, the data loader and the DSL
 * (which adds tensors).
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  const kind = typedArrayKind(value);
  if (kind !== undefined) return `${withArticle(kind)} of length ${(value as ArrayLike<unknown>).length}`;
  if (Array.isArray(value)) return `an Array of length ${value.length} (${describeJsonSafely(value)})`;
  switch (typeof value) {
    case "number":
    case "boolean":
    case "symbol":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case "function":
      return "a function";
    default: {
      const name = constructorName(value);
      return name === undefined || name === "Object" ? `an object ${describeJsonSafely(value)}` : withArticle(name);
    }
  }
}

/** "an Int32Array", "an Array", "an object", but "a Uint8Array" (you-int). */
export function withArticle(noun: string): string {
  return `${/^[aeio]/i.test(noun) ? "an" : "a"} ${noun}`;
}

function constructorName(value: object): string | undefined {
  try {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name !== "" ? name : undefined;
  } catch {
    return undefined; // a throwing getter or proxy
  }
}

/** describeJson, or `{...}` for what JSON cannot render (cycles, BigInts, throwing getters). */
function describeJsonSafely(value: unknown): string {
  try {
    return describeJson(value);
  } catch {
    return Array.isArray(value) ? "[...]" : "{...}";
  }
}
