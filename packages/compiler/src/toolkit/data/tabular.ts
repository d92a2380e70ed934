// Reads a user's tabular data file for `graft train --data file.csv|file.json`.
//
// CSV (also .tsv, tab-separated): a header row naming the columns, then one sample per row;
// numeric feature columns and one label column (by name or 0-based index; default the last).
// Quoted fields ("a, b", "say ""hi""") and LF, CRLF or CR-only line ends are understood; blank
// lines are skipped. CSV files are read as a stream (csv.ts), in 4 MiB chunks, straight into a
// Float32Array sized from the file's length, so their size is limited only by memory for the
// float32 values (and MAX_FEATURE_VALUES). JSON: either {"x": number[][], "y": label[]} or an
// array of records
// [{"sepal_length": 5.1, ..., "species": "setosa"}, ...] (label key by name, default the last);
// a JSON file is parsed whole, so it can be at most MAX_JSON_BYTES (V8's longest string).
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
import { readFile, stat } from "node:fs/promises";
import { extname } from "node:path";
import { describeJson } from "@graft/runtime";
import { readCsvFile } from "./csv.js";
import { assemble, DataFileError, formatSize, MAX_STRING_LENGTH, readProblem, resolveLabelColumn, type LabelTable, type TabularData, type TabularOptions } from "./table.js";

export { MAX_FEATURE_VALUES, parseCsv, parseCsvChunks } from "./csv.js";
export { DataFileError, type TabularData, type TabularOptions } from "./table.js";

/** The largest JSON data file: the text must fit in one JavaScript string (V8's limit). */
export const MAX_JSON_BYTES = MAX_STRING_LENGTH;

/**
 * Reads and parses a .csv, .tsv or .json data file (see the top of this file for the formats).
 * CSV/TSV files are read as a stream straight into typed arrays (the file's text is never held
 * whole, so its size is limited by memory for the float32 values only); JSON files are parsed
 * whole and so must fit in one string (MAX_JSON_BYTES).
 * @throws DataFileError for a missing, unreadable, empty, malformed or over-large file
 */
export async function readTabularFile(path: string, options: TabularOptions = {}): Promise<TabularData> {
  const extension = extname(path).toLowerCase();
  if (![".csv", ".tsv", ".json"].includes(extension)) {
    throw new DataFileError(path, undefined, `${path}: unsupported data file type '${extension}'; expected .csv, .tsv or .json`);
  }
  if (extension !== ".json") return readCsvFile(path, { ...options, delimiter: options.delimiter ?? (extension === ".tsv" ? "\t" : ",") });
  const size = await stat(path).then(
    (stats) => (stats.isDirectory() ? undefined : stats.size),
    (error: unknown) => {
      throw readProblem(path, error);
    },
  );
  if (size === undefined) throw readProblem(path, Object.assign(new Error("is a directory"), { code: "EISDIR" }));
  if (size > MAX_JSON_BYTES)
    throw new DataFileError(
      path,
      undefined,
      `${path}: is ${formatSize(size)}; a JSON data file can be at most ${formatSize(MAX_JSON_BYTES)} (${MAX_JSON_BYTES} bytes, the longest string JavaScript holds); write the data as CSV, which is read as a stream`,
    );
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw readProblem(path, error);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new DataFileError(path, undefined, `${path}: is not UTF-8 text`);
  }
  return parseJsonData(text, path, options);
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
  const labels = jsonLabels(fileName, y, (index) => `${fileName}: y[${index}]`, options.target === "number");
  const featureNames = Array.from({ length: width }, (_, column) => `x${column}`);
  return assemble(fileName, features, featureNames, "y", labels, options);
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
  const rawLabels: unknown[] = [];
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
    rawLabels.push(record[labelName]);
  });
  const labels = jsonLabels(fileName, rawLabels, (index) => `${fileName}: [${index}].${labelName}`, options.target === "number");
  return assemble(fileName, features, featureNames, labelName, labels, options);
}

function jsonFeature(value: unknown, fail: (problem: string) => DataFileError): number {
  if (typeof value !== "number") throw fail(`is ${describeJson(value)}, expected a number`);
  const single = Math.fround(value);
  if (!Number.isFinite(single)) throw fail(`is ${value}, outside the float32 range`);
  return single;
}

/**
 * JSON labels as a label table; a label that is neither an integer nor a non-empty string is
 * refused here, in row order (with `numeric`, any number is kept as its text: a regression target).
 */
function jsonLabels(fileName: string, values: readonly unknown[], where: (row: number) => string, numeric = false): LabelTable {
  const ids = new Map<string, number>();
  const texts: string[] = [];
  const rows = new Int32Array(values.length);
  values.forEach((value: unknown, row) => {
    let text: string;
    if (typeof value === "number") {
      if (!numeric && !Number.isSafeInteger(value)) throw new DataFileError(fileName, undefined, `${where(row)}: label ${value} is not an integer class id`);
      text = String(value);
    } else if (typeof value === "string") {
      text = value.trim();
      if (text === "") throw new DataFileError(fileName, undefined, `${where(row)}: the label is empty`);
    } else {
      throw new DataFileError(fileName, undefined, `${where(row)}: label ${describeJson(value)} must be a class id (integer) or a class name (string)`);
    }
    let id = ids.get(text);
    if (id === undefined) {
      id = texts.length;
      ids.set(text, id);
      texts.push(text);
    }
    rows[row] = id;
  });
  return { texts, rows, where, line: () => undefined };
}
