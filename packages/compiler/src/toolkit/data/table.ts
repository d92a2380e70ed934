// What every data file reader shares: the error, the options and the result of reading a
// tabular data file, and the rules that turn label texts into class ids (see tabular.ts for
// the formats and the rules).

import { constants as bufferConstants } from "node:buffer";
import { numericTargets } from "./targets.js";

/** A data file is missing, unreadable or malformed. */
export class DataFileError extends Error {
  override readonly name = "DataFileError";
  /** The file, as the user named it. */
  readonly file: string;
  /** The 1-based line of a CSV file (or of a JSON syntax error), when known. */
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string) {
    super(message);
    this.file = file;
    this.line = line;
  }
}

/** How to read a tabular data file. */
export interface TabularOptions {
  /** The label column: a header name / record key, or a 0-based index (negative counts from the end). Default: the last. */
  readonly labelColumn?: string | number;
  /** The declared classes: their names in id order, or their count. */
  readonly classes?: readonly string[] | number;
  /** The CSV field separator (default "," , or a tab for .tsv files). */
  readonly delimiter?: string;
  /** What the label column holds: class labels (default) or numeric targets (regression, read as float32 like features). */
  readonly target?: "class" | "number";
}

/** A tabular dataset: one row of numeric features and one class id per sample. */
export interface TabularData {
  /** numSamples × featureNames.length values, row-major. */
  readonly features: Float32Array;
  /** The shape of one sample's features: [featureNames.length]. */
  readonly featureShape: readonly [number];
  /** One class id per sample, 0 ≤ id < numClasses (empty with numeric targets). */
  readonly labels: Int32Array;
  /** One numeric target per sample, when read with `target: "number"`. */
  readonly targets: Float32Array | undefined;
  readonly numSamples: number;
  readonly numClasses: number;
  /** The feature columns, in order. */
  readonly featureNames: readonly string[];
  /** The label column. */
  readonly labelName: string;
  /** Class names by id, when the labels were names or names were declared. */
  readonly classNames: readonly string[] | undefined;
}

/** The longest string JavaScript holds (V8: 2^29 − 24 characters). */
export const MAX_STRING_LENGTH = bufferConstants.MAX_STRING_LENGTH;

export const formatSize = (bytes: number): string =>
  bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : bytes >= 1024 ** 2 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${bytes} bytes`;

export const readProblem = (path: string, error: unknown): DataFileError => {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return new DataFileError(path, undefined, `${path}: file not found`);
  if (code === "EISDIR") return new DataFileError(path, undefined, `${path}: is a directory, expected a data file`);
  return new DataFileError(path, undefined, `${path}: cannot read the file: ${error instanceof Error ? error.message : String(error)}`);
};

/** Every row's label as text: the distinct texts (trimmed) and each row's index into them. */
export interface LabelTable {
  readonly texts: readonly string[];
  /** Each row's index into `texts`; `assemble` overwrites it with the class ids. */
  readonly rows: Int32Array;
  /** The location of a row's label for messages, e.g. "data.csv:17 column 'species'". */
  readonly where: (row: number) => string;
  /** The 1-based line of a row (CSV). */
  readonly line: (row: number) => number | undefined;
}

/** The index of the label column among `names`. */
export function resolveLabelColumn(names: readonly string[], labelColumn: string | number | undefined, fail: (message: string) => DataFileError): number {
  if (names.length < 2) {
    throw fail(`expected at least one feature column and a label column, found ${names.length === 0 ? "no columns" : `only '${names[0] ?? ""}'`}`);
  }
  if (labelColumn === undefined) return names.length - 1;
  if (typeof labelColumn === "string") {
    const index = names.indexOf(labelColumn);
    if (index < 0) throw fail(`no label column named '${labelColumn}'; the columns are ${names.map((name) => `'${name}'`).join(", ")}`);
    return index;
  }
  if (!Number.isInteger(labelColumn) || labelColumn < -names.length || labelColumn >= names.length) {
    throw fail(`label column index ${labelColumn} is out of range for ${names.length} columns (0 to ${names.length - 1}, or negative from the end)`);
  }
  return labelColumn < 0 ? names.length + labelColumn : labelColumn;
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_LABEL = /^[+-]?\d+(?:\.0*)?$/;

/** The cell as a float32, or NaN when it is not a finite decimal number (see featureProblem). */
export function parseFeature(cell: string): number {
  // Fast path for short unsigned integers (pixel values, counts): exact, no conversion call.
  if (cell.length > 0 && cell.length <= 9) {
    let integer = 0;
    let index = 0;
    for (; index < cell.length; index++) {
      const digit = cell.charCodeAt(index) - 48;
      if (digit < 0 || digit > 9) break;
      integer = integer * 10 + digit;
    }
    if (index === cell.length) return Math.fround(integer);
  }
  // Number() accepts every decimal DECIMAL does, and also blanks (as 0), "Infinity" and
  // 0x / 0b / 0o literals, which are refused here.
  const value = Math.fround(Number(cell));
  if (!Number.isFinite(value)) return Number.NaN;
  const first = cell.charCodeAt(0);
  if (first === 48) {
    const second = cell.charCodeAt(1) | 0x20;
    return second === 0x78 || second === 0x62 || second === 0x6f ? Number.NaN : value;
  }
  if (first > 32 && first < 128) return value;
  // Empty, or starting with white space: decide on the trimmed text.
  const trimmed = cell.trim();
  return trimmed === "" || trimmed.length === cell.length ? Number.NaN : parseFeature(trimmed);
}

/** Why parseFeature refused a cell. */
export function featureProblem(cell: string): string {
  const trimmed = cell.trim();
  if (trimmed === "") return "the value is empty, expected a number";
  if (!DECIMAL.test(trimmed)) return `'${trimmed}' is not a number`;
  return `'${trimmed}' is outside the float32 range`;
}

/** Turns the labels into class ids by the rules at the top of this file; the first bad row (in file order) is reported. */
export function assemble(
  fileName: string,
  features: Float32Array,
  featureNames: readonly string[],
  labelName: string,
  table: LabelTable,
  options: TabularOptions,
): TabularData {
  if (options.target === "number") {
    const targets = numericTargets(table, parseFeature, (row, text) => new DataFileError(fileName, table.line(row), `${table.where(row)}: ${featureProblem(text)} (the target of a regression)`));
    return { features, featureShape: [featureNames.length], labels: new Int32Array(0), numSamples: targets.length, numClasses: 0, featureNames, labelName, classNames: undefined, targets };
  }
  const classes = options.classes;
  if (typeof classes === "number" && (!Number.isSafeInteger(classes) || classes < 1)) {
    throw new DataFileError(fileName, undefined, `${fileName}: the number of classes must be a positive integer, got ${classes}`);
  }
  if (Array.isArray(classes)) {
    const repeated = classes.find((name, index) => classes.indexOf(name) !== index);
    if (classes.length === 0 || repeated !== undefined) {
      const problem = repeated === undefined ? "is empty" : `names '${repeated}' twice`;
      throw new DataFileError(fileName, undefined, `${fileName}: the list of declared classes ${problem}`);
    }
  }
  const { texts, rows } = table;
  /** Throws for the first row whose label text has a problem (`problems[text]`). */
  const failFirst = (problems: ReadonlyArray<string | undefined>): void => {
    if (problems.every((problem) => problem === undefined)) return;
    for (let row = 0; row < rows.length; row++) {
      const problem = problems[rows[row] ?? 0];
      if (problem !== undefined) throw new DataFileError(fileName, table.line(row), `${table.where(row)}: ${problem}`);
    }
  };
  failFirst(texts.map((text) => (text === "" ? "the label is empty" : undefined)));
  // Each distinct label as an id, when it is an integer.
  const integerIds = texts.map((text) => (INTEGER_LABEL.test(text) ? Number.parseInt(text, 10) : undefined));

  let numClasses: number;
  let classNames: readonly string[] | undefined;
  let ids: ReadonlyArray<number>;
  if (Array.isArray(classes)) {
    classNames = classes;
    numClasses = classes.length;
    const byName = new Map(classes.map((name, id) => [name, id]));
    const resolved = texts.map((text, index) => byName.get(text) ?? integerIds[index]);
    failFirst(
      resolved.map((id, index) =>
        id === undefined || id < 0 || id >= numClasses ? `label '${texts[index] ?? ""}' is not one of the declared classes ${formatNames(classes)} (or an id 0 to ${numClasses - 1})` : undefined,
      ),
    );
    ids = resolved.map((id) => id ?? 0);
  } else if (typeof classes === "number") {
    numClasses = classes;
    failFirst(
      integerIds.map((id, index) =>
        id === undefined
          ? `label '${texts[index] ?? ""}' is not a class id; ${classes} classes were declared, so labels must be integers 0 ≤ label < ${classes} (declare class names to use names)`
          : id < 0 || id >= classes
            ? `label ${id} is outside the declared classes, expected 0 ≤ label < ${classes}`
            : undefined,
      ),
    );
    ids = integerIds.map((id) => id ?? 0);
  } else if (integerIds.every((id) => id !== undefined)) {
    failFirst(integerIds.map((id) => (id === undefined ? undefined : id < 0 ? `label ${id} is negative; class ids start at 0` : id > INT32_MAX ? `label ${id} is too large for a class id` : undefined)));
    ids = integerIds.map((id) => id ?? 0);
    numClasses = ids.reduce((largest, id) => Math.max(largest, id), -1) + 1;
  } else {
    const names = [...new Set(texts)].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
    const byName = new Map(names.map((name, id) => [name, id]));
    ids = texts.map((text) => byName.get(text) ?? 0);
    classNames = names;
    numClasses = names.length;
  }
  // In place: the text indices become class ids (no second array per row).
  const labels = rows;
  for (let row = 0; row < labels.length; row++) labels[row] = ids[labels[row] ?? 0] ?? 0;
  return {
    features,
    featureShape: [featureNames.length],
    labels,
    numSamples: labels.length,
    numClasses,
    featureNames,
    labelName,
    classNames,
    targets: undefined,
  };
}

const INT32_MAX = 2 ** 31 - 1;

function formatNames(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((name) => `'${name}'`);
  return `[${shown.join(", ")}${names.length > 10 ? `, … (${names.length} in all)` : ""}]`;
}
