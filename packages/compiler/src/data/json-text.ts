/**
 * @file Short JSON renderings of values for the messages of the data readers (tabular.ts).
 */

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
export function boundedJson(value: unknown, budget: number): string {
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
