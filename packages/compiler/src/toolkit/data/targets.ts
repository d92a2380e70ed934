/**
 * @file Numeric targets of a regression (`graft train` with `y : f32[batch]`): the label column
 * read as float32 numbers, like a feature, instead of class labels.
 */

/** Every row's label as text: the distinct texts and each row's index into them (see tabular.ts). */
export interface TextTable {
  readonly texts: readonly string[];
  readonly rows: Int32Array;
}

/**
 * One float32 target per row, parsed from its label text with `parse` (NaN when it is not a
 * number); the first row (in file order) whose text is not a number is reported through `fail`.
 */
export function numericTargets(table: TextTable, parse: (text: string) => number, fail: (row: number, text: string) => Error): Float32Array {
  const values = table.texts.map(parse);
  const targets = new Float32Array(table.rows.length);
  for (let row = 0; row < targets.length; row++) {
    const index = table.rows[row] ?? 0;
    const value = values[index] ?? Number.NaN;
    if (Number.isNaN(value)) throw fail(row, table.texts[index] ?? "");
    targets[row] = value;
  }
  return targets;
}
