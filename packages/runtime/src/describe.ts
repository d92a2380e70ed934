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
