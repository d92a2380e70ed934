// How runtime messages name shapes and typed arrays; shared by feeds, safetensors and the program
// image (and the compiler's data loader). Imports nothing.

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
