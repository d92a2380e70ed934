// Reads a user's tabular data file for `graft train --data file.csv|file.json`.
//
// CSV (also .tsv, tab-separated): a header row naming the columns, then one sample per row;
// numeric feature columns and one label column (by name or 0-based index; default the last).
// Quoted fields ("a, b", "say ""hi""") and CRLF line ends are understood; blank lines are
// skipped. JSON: either {"x": number[][], "y": label[]} or an array of records
// [{"sepal_length": 5.1, ..., "species": "setosa"}, ...] (label key by name, default the last).
//
// Labels are class ids or class names:
//   - with `classes` as a list of names, a label is that name's position, or an integer id
//     below the number of names;
//   - with `classes` as a count n, labels must be integers 0 ≤ label < n;
//   - with no `classes`, integer labels are ids (numClasses = largest + 1), and otherwise the
//     distinct labels, sorted, are the class names.
// With `target: "number"` (regression) the label column holds numeric targets instead: each is
// read as a float32 like a feature, into `targets`.
// Every error names the file and the line (CSV) or the JSON path, and the column.

import { readFile } from "node:fs/promises";
import { extname } from "node:path";

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
  /** What the label column holds: class labels (default) or numeric targets (regression). */
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

/**
 * Reads and parses a .csv, .tsv or .json data file (see the top of this file for the formats).
 * @throws DataFileError for a missing, unreadable, empty or malformed file
 */
export async function readTabularFile(path: string, options: TabularOptions = {}): Promise<TabularData> {
  const extension = extname(path).toLowerCase();
  if (![".csv", ".tsv", ".json"].includes(extension)) {
    throw new DataFileError(path, undefined, `${path}: unsupported data file type '${extension}'; expected .csv, .tsv or .json`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT") throw new DataFileError(path, undefined, `${path}: file not found`);
    if (code === "EISDIR") throw new DataFileError(path, undefined, `${path}: is a directory, expected a data file`);
    throw new DataFileError(path, undefined, `${path}: cannot read the file: ${error instanceof Error ? error.message : String(error)}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new DataFileError(path, undefined, `${path}: is not UTF-8 text`);
  }
  if (extension === ".json") return parseJsonData(text, path, options);
  return parseCsv(text, path, { ...options, delimiter: options.delimiter ?? (extension === ".tsv" ? "\t" : ",") });
}

// ---------------------------------------------------------------------------------------
// CSV

interface CsvRecord {
  readonly fields: string[];
  /** 1-based line where the record starts. */
  readonly line: number;
}

/**
 * Parses CSV text with a header row.
 * @param fileName how messages name the file
 * @throws DataFileError naming the file, line and column of the first problem
 */
export function parseCsv(text: string, fileName: string, options: TabularOptions = {}): TabularData {
  const delimiter = options.delimiter ?? ",";
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n" || delimiter === "\r") {
    throw new DataFileError(fileName, undefined, `${fileName}: the delimiter must be one character other than a quote or a line break, got ${JSON.stringify(delimiter)}`);
  }
  const records = csvRecords(text.startsWith("\uFEFF") ? text.slice(1) : text, delimiter, fileName);
  const first = records.next();
  if (first.done === true) throw new DataFileError(fileName, undefined, `${fileName}: the file is empty`);
  const header = first.value;
  const columnNames = header.fields.map((name) => name.trim());
  columnNames.forEach((name, column) => {
    if (name === "") {
      throw new DataFileError(fileName, header.line, `${fileName}:${header.line}: column ${column + 1} (counting from 1) has an empty name in the header`);
    }
    const earlier = columnNames.indexOf(name);
    if (earlier < column) {
      throw new DataFileError(fileName, header.line, `${fileName}:${header.line}: column '${name}' appears twice in the header (columns ${earlier + 1} and ${column + 1})`);
    }
  });
  const labelColumn = resolveLabelColumn(columnNames, options.labelColumn, (message) => new DataFileError(fileName, header.line, `${fileName}:${header.line}: ${message}`));
  const featureColumns = columnNames.map((_, column) => column).filter((column) => column !== labelColumn);
  const featureNames = featureColumns.map((column) => columnNames[column] ?? "");
  const labelName = columnNames[labelColumn] ?? "";

  // One row per remaining line at most: count them to allocate the features once.
  let lineCount = 1;
  for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", newline + 1)) lineCount++;
  const features = new Float32Array(Math.max(0, lineCount - header.line) * featureColumns.length);
  let featureCount = 0;
  const rawLabels: RawLabel[] = [];
  for (const record of records) {
    const where = `${fileName}:${record.line}`;
    if (record.fields.length !== columnNames.length) {
      throw new DataFileError(fileName, record.line, `${where}: expected ${columnNames.length} columns, found ${record.fields.length}`);
    }
    for (const column of featureColumns) {
      const cell = record.fields[column] ?? "";
      const value = parseFeature(cell);
      if (Number.isNaN(value)) {
        throw new DataFileError(fileName, record.line, `${where} column '${columnNames[column] ?? ""}': ${featureProblem(cell)}`);
      }
      features[featureCount++] = value;
    }
    rawLabels.push({ value: record.fields[labelColumn] ?? "", where: `${where} column '${labelName}'`, line: record.line });
  }
  if (rawLabels.length === 0) {
    throw new DataFileError(fileName, header.line, `${fileName}: no data rows after the header (line ${header.line})`);
  }
  const used = featureCount === features.length ? features : features.slice(0, featureCount);
  return assemble(fileName, used, featureNames, labelName, rawLabels, options);
}

/** Splits CSV text into records, following RFC 4180 quoting; skips blank lines. */
function* csvRecords(text: string, delimiter: string, fileName: string): Generator<CsvRecord, void, undefined> {
  let position = 0;
  let line = 1;
  while (position < text.length) {
    const lineEnd = nextLineEnd(text, position);
    const rawLine = text.slice(position, lineEnd);
    const startLine = line;
    if (!rawLine.includes('"')) {
      // Fast path: no quotes, so the record is this line.
      position = skipLineBreak(text, lineEnd);
      line++;
      if (rawLine.trim() === "") continue;
      yield { fields: rawLine.split(delimiter), line: startLine };
      continue;
    }
    const fields: string[] = [];
    let field = "";
    let inQuotes = false;
    let atFieldStart = true;
    for (;;) {
      if (position >= text.length) {
        if (inQuotes) throw new DataFileError(fileName, startLine, `${fileName}:${startLine}: a quoted field is not closed before the end of the file`);
        break;
      }
      const char = text[position] ?? "";
      if (inQuotes) {
        if (char === '"') {
          if (text[position + 1] === '"') {
            field += '"';
            position += 2;
            continue;
          }
          inQuotes = false;
          position++;
          while ((text[position] === " " || text[position] === "\t") && text[position] !== delimiter) position++;
          const next = text[position];
          if (next !== undefined && next !== delimiter && next !== "\n" && next !== "\r") {
            throw new DataFileError(fileName, line, `${fileName}:${line}: unexpected ${JSON.stringify(next)} after a closing quote; write a quote inside a quoted field as ""`);
          }
          continue;
        }
        if (char === "\n") line++;
        field += char;
        position++;
        continue;
      }
      if (char === '"' && atFieldStart && field.trim() === "") {
        inQuotes = true;
        field = "";
        position++;
        continue;
      }
      if (char === delimiter) {
        fields.push(field);
        field = "";
        atFieldStart = true;
        position++;
        continue;
      }
      if (char === "\n" || char === "\r") break;
      if (char !== " " && char !== "\t") atFieldStart = false;
      field += char;
      position++;
    }
    fields.push(field);
    position = skipLineBreak(text, position);
    line++;
    yield { fields, line: startLine };
  }
}

function nextLineEnd(text: string, from: number): number {
  const newline = text.indexOf("\n", from);
  const end = newline < 0 ? text.length : newline;
  return end > from && text[end - 1] === "\r" ? end - 1 : end;
}

function skipLineBreak(text: string, position: number): number {
  if (text[position] === "\r") position++;
  if (text[position] === "\n") position++;
  return position;
}

// ---------------------------------------------------------------------------------------
// JSON

/**
 * Parses JSON data: {"x": number[][], "y": label[]} or an array of records.
 * @param fileName how messages name the file
 * @throws DataFileError naming the file and the JSON path of the first problem
 */
export function parseJsonData(text: string, fileName: string, options: TabularOptions = {}): TabularData {
  if (text.trim() === "") throw new DataFileError(fileName, undefined, `${fileName}: the file is empty`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    // V8 quotes the start of the text in some messages; the file name says which text it is.
    const message = (error instanceof Error ? error.message : String(error)).replace(/, ".*" is not valid JSON$/s, "");
    const position = /at position (\d+)/.exec(message)?.[1];
    if (position === undefined) throw new DataFileError(fileName, undefined, `${fileName}: invalid JSON: ${message}`);
    const before = text.slice(0, Number(position));
    const line = before.split("\n").length;
    const column = Number(position) - before.lastIndexOf("\n");
    throw new DataFileError(fileName, line, `${fileName}:${line}:${column}: invalid JSON: ${message}`);
  }
  if (Array.isArray(document)) return parseRecords(document, fileName, options);
  if (typeof document === "object" && document !== null && "x" in document && "y" in document) {
    return parseXY(document as { x: unknown; y: unknown }, fileName, options);
  }
  const found = typeof document === "object" && document !== null ? `an object with keys ${Object.keys(document).join(", ") || "(none)"}` : describeJson(document);
  throw new DataFileError(fileName, undefined, `${fileName}: expected {"x": number[][], "y": labels[]} or an array of records, found ${found}`);
}

function parseXY(document: { x: unknown; y: unknown }, fileName: string, options: TabularOptions): TabularData {
  const fail = (message: string): DataFileError => new DataFileError(fileName, undefined, `${fileName}: ${message}`);
  const { x, y } = document;
  if (!Array.isArray(x)) throw fail(`x must be an array of rows (number[][]), found ${describeJson(x)}`);
  if (!Array.isArray(y)) throw fail(`y must be an array of labels, found ${describeJson(y)}`);
  if (x.length === 0) throw fail("x has no rows");
  if (x.length !== y.length) throw fail(`x has ${x.length} rows but y has ${y.length} labels`);
  const firstRow: unknown = x[0];
  if (!Array.isArray(firstRow) || firstRow.length === 0) throw fail(`x[0] must be a non-empty array of numbers, found ${describeJson(firstRow)}`);
  const width = firstRow.length;
  const features = new Float32Array(x.length * width);
  x.forEach((row: unknown, rowIndex) => {
    if (!Array.isArray(row)) throw fail(`x[${rowIndex}] must be an array of numbers, found ${describeJson(row)}`);
    if (row.length !== width) throw fail(`x[${rowIndex}] has ${row.length} values, expected ${width} like x[0]`);
    row.forEach((value: unknown, column) => {
      features[rowIndex * width + column] = jsonFeature(value, (problem) => fail(`x[${rowIndex}][${column}] ${problem}`));
    });
  });
  const rawLabels = y.map((value: unknown, index): RawLabel => ({ value, where: `${fileName}: y[${index}]`, line: undefined }));
  const featureNames = Array.from({ length: width }, (_, column) => `x${column}`);
  return assemble(fileName, features, featureNames, "y", rawLabels, options);
}

function parseRecords(records: readonly unknown[], fileName: string, options: TabularOptions): TabularData {
  const fail = (message: string): DataFileError => new DataFileError(fileName, undefined, `${fileName}: ${message}`);
  if (records.length === 0) throw fail("the array has no records");
  const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
  const first = records[0];
  if (!isRecord(first)) throw fail(`[0] must be a record (an object), found ${describeJson(first)}`);
  const keys = Object.keys(first);
  const labelIndex = resolveLabelColumn(keys, options.labelColumn, (message) => fail(`[0]: ${message}`));
  const labelName = keys[labelIndex] ?? "";
  const featureNames = keys.filter((_, index) => index !== labelIndex);
  const features = new Float32Array(records.length * featureNames.length);
  const rawLabels: RawLabel[] = [];
  records.forEach((record, recordIndex) => {
    if (!isRecord(record)) throw fail(`[${recordIndex}] must be a record (an object), found ${describeJson(record)}`);
    for (const key of Object.keys(record)) {
      if (!keys.includes(key)) throw fail(`[${recordIndex}] has a key ${JSON.stringify(key)} that [0] does not have`);
    }
    for (const key of keys) {
      if (!Object.prototype.hasOwnProperty.call(record, key)) throw fail(`[${recordIndex}] has no ${JSON.stringify(key)}`);
    }
    featureNames.forEach((key, column) => {
      features[recordIndex * featureNames.length + column] = jsonFeature(record[key], (problem) => fail(`[${recordIndex}].${key} ${problem}`));
    });
    rawLabels.push({ value: record[labelName], where: `${fileName}: [${recordIndex}].${labelName}`, line: undefined });
  });
  return assemble(fileName, features, featureNames, labelName, rawLabels, options);
}

function jsonFeature(value: unknown, fail: (problem: string) => DataFileError): number {
  if (typeof value !== "number") throw fail(`is ${describeJson(value)}, expected a number`);
  const single = Math.fround(value);
  if (!Number.isFinite(single)) throw fail(`is ${value}, outside the float32 range`);
  return single;
}

// ---------------------------------------------------------------------------------------
// Shared

interface RawLabel {
  readonly value: unknown;
  /** The location for messages, e.g. "data.csv:17 column 'species'". */
  readonly where: string;
  readonly line: number | undefined;
}

/** The index of the label column among `names`. */
function resolveLabelColumn(names: readonly string[], labelColumn: string | number | undefined, fail: (message: string) => DataFileError): number {
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
function parseFeature(cell: string): number {
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
function featureProblem(cell: string): string {
  const trimmed = cell.trim();
  if (trimmed === "") return "the value is empty, expected a number";
  if (!DECIMAL.test(trimmed)) return `'${trimmed}' is not a number`;
  return `'${trimmed}' is outside the float32 range`;
}

/** Turns raw labels into class ids by the rules at the top of this file. */
function assemble(
  fileName: string,
  features: Float32Array,
  featureNames: readonly string[],
  labelName: string,
  rawLabels: readonly RawLabel[],
  options: TabularOptions,
): TabularData {
  if (options.target === "number") return assembleTargets(fileName, features, featureNames, labelName, rawLabels);
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
  const labels = new Int32Array(rawLabels.length);
  const fail = (label: RawLabel, problem: string): never => {
    throw new DataFileError(fileName, label.line, `${label.where}: ${problem}`);
  };
  // Each label as text (trimmed) and, when it is an integer, as an id.
  const texts: string[] = [];
  const ids: Array<number | undefined> = [];
  for (const label of rawLabels) {
    const { value } = label;
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) fail(label, `label ${value} is not an integer class id`);
      texts.push(String(value));
      ids.push(value);
    } else if (typeof value === "string") {
      const text = value.trim();
      if (text === "") fail(label, "the label is empty");
      texts.push(text);
      ids.push(INTEGER_LABEL.test(text) ? Number.parseInt(text, 10) : undefined);
    } else {
      fail(label, `label ${describeJson(value)} must be a class id (integer) or a class name (string)`);
    }
  }

  let numClasses: number;
  let classNames: readonly string[] | undefined;
  if (Array.isArray(classes)) {
    classNames = classes;
    numClasses = classes.length;
    const byName = new Map(classes.map((name, id) => [name, id]));
    rawLabels.forEach((label, row) => {
      const text = texts[row] ?? "";
      const id = byName.get(text) ?? ids[row];
      if (id === undefined || id < 0 || id >= numClasses) {
        fail(label, `label '${text}' is not one of the declared classes ${formatNames(classes)} (or an id 0 to ${numClasses - 1})`);
      }
      labels[row] = id ?? 0;
    });
  } else if (typeof classes === "number") {
    numClasses = classes;
    rawLabels.forEach((label, row) => {
      const id = ids[row];
      if (id === undefined) {
        fail(label, `label '${texts[row] ?? ""}' is not a class id; ${classes} classes were declared, so labels must be integers 0 ≤ label < ${classes} (declare class names to use names)`);
      } else if (id < 0 || id >= classes) {
        fail(label, `label ${id} is outside the declared classes, expected 0 ≤ label < ${classes}`);
      }
      labels[row] = id ?? 0;
    });
  } else if (ids.every((id) => id !== undefined)) {
    let largest = -1;
    rawLabels.forEach((label, row) => {
      const id = ids[row] ?? 0;
      if (id < 0) fail(label, `label ${id} is negative; class ids start at 0`);
      if (id > INT32_MAX) fail(label, `label ${id} is too large for a class id`);
      labels[row] = id;
      largest = Math.max(largest, id);
    });
    numClasses = largest + 1;
  } else {
    const names = [...new Set(texts)].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
    const byName = new Map(names.map((name, id) => [name, id]));
    texts.forEach((text, row) => {
      labels[row] = byName.get(text) ?? 0;
    });
    classNames = names;
    numClasses = names.length;
  }
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

/** Reads raw labels as numeric (float32) targets. */
function assembleTargets(fileName: string, features: Float32Array, featureNames: readonly string[], labelName: string, rawLabels: readonly RawLabel[]): TabularData {
  const targets = new Float32Array(rawLabels.length);
  rawLabels.forEach((label, row) => {
    const { value } = label;
    const fail = (problem: string): never => {
      throw new DataFileError(fileName, label.line, `${label.where}: ${problem} (the target of a regression)`);
    };
    if (typeof value === "number") {
      const single = Math.fround(value);
      if (!Number.isFinite(single)) fail(`${value} is outside the float32 range`);
      targets[row] = single;
    } else if (typeof value === "string") {
      const single = parseFeature(value);
      if (Number.isNaN(single)) fail(featureProblem(value));
      targets[row] = single;
    } else fail(`${describeJson(value)} is not a number`);
  });
  return { features, featureShape: [featureNames.length], labels: new Int32Array(0), numSamples: rawLabels.length, numClasses: 0, featureNames, labelName, classNames: undefined, targets };
}

const INT32_MAX = 2 ** 31 - 1;

function formatNames(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((name) => `'${name}'`);
  return `[${shown.join(", ")}${names.length > 10 ? `, … (${names.length} in all)` : ""}]`;
}

function describeJson(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
