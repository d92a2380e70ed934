// Reads a user's tabular data file for `graft train --data file.csv|file.json`.
//
// CSV (also .tsv, tab-separated): a header row naming the columns, then one sample per row;
// numeric feature columns and one label column (by name or 0-based index; default the last).
// Quoted fields ("a, b", "say ""hi""") and LF, CRLF or CR-only line ends are understood; blank
// lines are skipped. CSV files are read as a stream, in 4 MiB chunks, straight into a Float32Array
// sized from the file's length (no copy of the text is held), so their size is limited only by
// memory for the float32 values (and MAX_FEATURE_VALUES). JSON: either {"x": number[][], "y": label[]} or an array of records
// [{"sepal_length": 5.1, ..., "species": "setosa"}, ...] (label key by name, default the last);
// a JSON file is parsed whole, so it can be at most MAX_JSON_BYTES (V8's longest string).
//
// Labels are class ids or class names:
//   - with `classes` as a list of names, a label is that name's position, or an integer id
//     below the number of names;
//   - with `classes` as a count n, labels must be integers 0 ≤ label < n;
//   - with no `classes`, integer labels are ids (numClasses = largest + 1), and otherwise the
//     distinct labels, sorted, are the class names.
// Every error names the file and the line (CSV) or the JSON path, and the column.

import { constants as bufferConstants } from "node:buffer";
import { open, readFile, stat, type FileHandle } from "node:fs/promises";
import { extname } from "node:path";
import { describeJson } from "@graft/runtime";

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
}

/** A tabular dataset: one row of numeric features and one class id per sample. */
export interface TabularData {
  /** numSamples × featureNames.length values, row-major. */
  readonly features: Float32Array;
  /** The shape of one sample's features: [featureNames.length]. */
  readonly featureShape: readonly [number];
  /** One class id per sample, 0 ≤ id < numClasses. */
  readonly labels: Int32Array;
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
const MAX_STRING_LENGTH = bufferConstants.MAX_STRING_LENGTH;

/** How many bytes a read of a CSV file takes at a time. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** The most feature values (rows × feature columns) one Float32Array holds. */
export const MAX_FEATURE_VALUES = 2 ** 32 - 1;

/** The largest JSON data file: the text must fit in one JavaScript string (V8's limit). */
export const MAX_JSON_BYTES = MAX_STRING_LENGTH;

const formatSize = (bytes: number): string =>
  bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : bytes >= 1024 ** 2 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${bytes} bytes`;

const readProblem = (path: string, error: unknown): DataFileError => {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return new DataFileError(path, undefined, `${path}: file not found`);
  if (code === "EISDIR") return new DataFileError(path, undefined, `${path}: is a directory, expected a data file`);
  return new DataFileError(path, undefined, `${path}: cannot read the file: ${error instanceof Error ? error.message : String(error)}`);
};

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
// CSV

/** Reads a CSV/TSV file in chunks, parsing as it goes (see CsvTableBuilder). */
async function readCsvFile(path: string, options: TabularOptions): Promise<TabularData> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw readProblem(path, error);
  }
  try {
    const size = await handle.stat().then((stats) => (stats.isDirectory() ? undefined : stats.size));
    if (size === undefined) throw readProblem(path, Object.assign(new Error("is a directory"), { code: "EISDIR" }));
    const builder = new CsvTableBuilder(path, options, size);
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const buffer = new Uint8Array(CHUNK_BYTES);
    let first = true;
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (error) {
        throw readProblem(path, error);
      }
      const final = bytesRead === 0;
      let text: string;
      try {
        text = final ? decoder.decode() : decoder.decode(buffer.subarray(0, bytesRead), { stream: true });
      } catch {
        throw new DataFileError(path, undefined, `${path}: is not UTF-8 text`);
      }
      if (first && text.startsWith("\uFEFF")) text = text.slice(1);
      if (text.length > 0) first = false;
      builder.push(text, final);
      if (final) return builder.finish();
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Parses CSV text with a header row.
 * @param fileName how messages name the file
 * @throws DataFileError naming the file, line and column of the first problem
 */
export function parseCsv(text: string, fileName: string, options: TabularOptions = {}): TabularData {
  return parseCsvChunks([text.startsWith("\uFEFF") ? text.slice(1) : text], fileName, options);
}

/**
 * Parses CSV text given in pieces, as a stream is read: a record, a quoted field, a CRLF may
 * be split anywhere between two pieces.
 * @param sizeHint the total length, if known (sizes the features array up front)
 * @throws DataFileError naming the file, line and column of the first problem
 */
export function parseCsvChunks(chunks: Iterable<string>, fileName: string, options: TabularOptions = {}, sizeHint?: number): TabularData {
  const builder = new CsvTableBuilder(fileName, options, sizeHint);
  for (const chunk of chunks) builder.push(chunk, false);
  builder.push("", true);
  return builder.finish();
}

/** Splits CSV text, given in chunks, into records (RFC 4180 quoting; LF, CRLF or CR line ends; blank lines skipped). */
class CsvSplitter {
  /** Text not yet split: the start of an incomplete record. */
  private carry = "";
  /** The 1-based line where `carry` starts. */
  private line = 1;
  /** Characters consumed before `carry`. */
  private consumed = 0;

  constructor(
    private readonly delimiter: string,
    private readonly fileName: string,
  ) {}

  /**
   * Splits the complete records of the text so far, calling `onRecord` for each.
   * @param final no more text follows: the rest is the last record
   */
  push(chunk: string, final: boolean, onRecord: (fields: string[], line: number, offset: number) => void): void {
    let text: string;
    try {
      text = this.carry.length === 0 ? chunk : this.carry + chunk;
    } catch {
      throw new DataFileError(this.fileName, this.line, `${this.fileName}:${this.line}: the record starting here is longer than ${MAX_STRING_LENGTH} characters`);
    }
    const length = text.length;
    const delimiter = this.delimiter;
    let position = 0;
    let line = this.line;
    let nextLf = text.indexOf("\n");
    let nextCr = text.indexOf("\r");
    while (position < length) {
      if (nextLf >= 0 && nextLf < position) nextLf = text.indexOf("\n", position);
      if (nextCr >= 0 && nextCr < position) nextCr = text.indexOf("\r", position);
      const end = Math.min(nextLf < 0 ? length : nextLf, nextCr < 0 ? length : nextCr);
      // An unfinished line, or a CR that may be the first half of a CRLF: wait for more text.
      if (!final && (end === length || (end === length - 1 && text.charCodeAt(end) === 13))) break;
      const rawLine = text.slice(position, end);
      if (rawLine.indexOf('"') < 0) {
        // Fast path: no quotes, so the record is this line.
        position = end < length ? (text.charCodeAt(end) === 13 && text.charCodeAt(end + 1) === 10 ? end + 2 : end + 1) : length;
        const startLine = line++;
        if (rawLine.length === 0 || (rawLine.charCodeAt(0) <= 32 && rawLine.trim() === "")) continue;
        onRecord(rawLine.split(delimiter), startLine, this.consumed + position);
        continue;
      }
      const record = this.quotedRecord(text, position, line, final);
      if (record === undefined) break;
      position = record.end;
      onRecord(record.fields, line, this.consumed + position);
      line = record.nextLine;
    }
    this.consumed += position;
    this.line = line;
    try {
      this.carry = text.slice(position);
    } catch {
      throw new DataFileError(this.fileName, line, `${this.fileName}:${line}: the record starting here is longer than ${MAX_STRING_LENGTH} characters`);
    }
  }

  /** A record with quotes starting at `start`, or undefined when the text ends before it does (and more follows). */
  private quotedRecord(text: string, start: number, startLine: number, final: boolean): { fields: string[]; end: number; nextLine: number } | undefined {
    const { delimiter, fileName } = this;
    const length = text.length;
    const fields: string[] = [];
    let field = "";
    let inQuotes = false;
    let atFieldStart = true;
    let line = startLine;
    let position = start;
    for (;;) {
      if (position >= length) {
        if (!final) return undefined;
        if (inQuotes) throw new DataFileError(fileName, startLine, `${fileName}:${startLine}: a quoted field is not closed before the end of the file`);
        break;
      }
      const char = text[position] ?? "";
      if (inQuotes) {
        if (char === '"') {
          if (position + 1 >= length && !final) return undefined;
          if (text[position + 1] === '"') {
            field += '"';
            position += 2;
            continue;
          }
          inQuotes = false;
          position++;
          while ((text[position] === " " || text[position] === "\t") && text[position] !== delimiter) position++;
          if (position >= length && !final) return undefined;
          const next = text[position];
          if (next !== undefined && next !== delimiter && next !== "\n" && next !== "\r") {
            throw new DataFileError(fileName, line, `${fileName}:${line}: unexpected ${JSON.stringify(next)} after a closing quote; write a quote inside a quoted field as ""`);
          }
          continue;
        }
        if (char === "\r" && position + 1 >= length && !final) return undefined;
        if (char === "\n" || (char === "\r" && text[position + 1] !== "\n")) line++;
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
    if (text[position] === "\r") {
      if (position + 1 >= length && !final) return undefined;
      position++;
    }
    if (text[position] === "\n") position++;
    return { fields, end: position, nextLine: line + 1 };
  }
}

/** A Float32Array or Int32Array that grows as rows arrive, sized from an estimate of the values to come. */
class GrowingArray<T extends Float32Array | Int32Array> {
  private data: T;
  length = 0;

  constructor(
    private readonly create: (length: number) => T,
    private readonly fileName: string,
    private readonly what: string,
    initialCapacity: number,
  ) {
    this.data = this.allocate(Math.max(16, Math.ceil(initialCapacity)));
  }

  /** Makes room for `extra` more values; `estimate` is the expected final length. */
  reserve(extra: number, estimate: number): void {
    const needed = this.length + extra;
    if (needed <= this.data.length) return;
    if (needed > MAX_FEATURE_VALUES)
      throw new DataFileError(
        this.fileName,
        undefined,
        `${this.fileName}: has more than ${MAX_FEATURE_VALUES} ${this.what} (rows × feature columns), the most one typed array holds; train on a part of the file`,
      );
    const capacity = Math.min(MAX_FEATURE_VALUES, Math.max(needed, Math.ceil(this.data.length * 1.25), Math.ceil(estimate)));
    const grown = this.allocate(capacity);
    grown.set(this.data.subarray(0, this.length));
    this.data = grown;
  }

  push(value: number): void {
    this.data[this.length++] = value;
  }

  /** The values (a view when the array is nearly full, else a copy of the used part). */
  finish(): T {
    return (this.length >= this.data.length * 0.9 ? this.data.subarray(0, this.length) : this.data.slice(0, this.length)) as T;
  }

  private allocate(length: number): T {
    try {
      return this.create(length);
    } catch (error) {
      throw new DataFileError(this.fileName, undefined, `${this.fileName}: cannot allocate ${formatSize(length * 4)} for the ${this.what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** The line of each row, stored as the rows where lines jump (blank lines, multi-line records); usually none. */
class RowLines {
  private readonly rows: number[] = [];
  private readonly lines: number[] = [];
  private count = 0;

  push(line: number): void {
    const last = this.rows.length - 1;
    if (last < 0 || (this.lines[last] ?? 0) + (this.count - (this.rows[last] ?? 0)) !== line) {
      this.rows.push(this.count);
      this.lines.push(line);
    }
    this.count++;
  }

  get length(): number {
    return this.count;
  }

  /** The line of row `row` (binary search over the jumps). */
  lineOf(row: number): number {
    let low = 0;
    let high = this.rows.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.rows[middle] ?? 0) <= row) low = middle;
      else high = middle - 1;
    }
    return (this.lines[low] ?? 0) + (row - (this.rows[low] ?? 0));
  }
}

/** Builds a TabularData from CSV records as they are split: header first, then one row each. */
class CsvTableBuilder {
  private readonly splitter: CsvSplitter;
  private readonly onRecord = (fields: string[], line: number, offset: number): void => this.record(fields, line, offset);
  private columnNames: string[] | undefined;
  private headerLine = 0;
  private featureColumns: number[] = [];
  private labelColumn = 0;
  private features: GrowingArray<Float32Array> | undefined;
  /** Distinct label texts (trimmed), each row's index into them, and each row's line. */
  private readonly labelIds = new Map<string, number>();
  private readonly labelTexts: string[] = [];
  private rowLabels: GrowingArray<Int32Array> | undefined;
  private readonly rowLines = new RowLines();

  constructor(
    private readonly fileName: string,
    private readonly options: TabularOptions,
    private readonly sizeHint: number | undefined,
  ) {
    const delimiter = options.delimiter ?? ",";
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n" || delimiter === "\r") {
      throw new DataFileError(fileName, undefined, `${fileName}: the delimiter must be one character other than a quote or a line break, got ${JSON.stringify(delimiter)}`);
    }
    this.splitter = new CsvSplitter(delimiter, fileName);
  }

  push(text: string, final: boolean): void {
    this.splitter.push(text, final, this.onRecord);
  }

  private header(fields: string[], line: number, offset: number): void {
    const { fileName } = this;
    const columnNames = fields.map((name) => name.trim());
    const seen = new Map<string, number>();
    columnNames.forEach((name, column) => {
      if (name === "") throw new DataFileError(fileName, line, `${fileName}:${line}: column ${column + 1} (counting from 1) has an empty name in the header`);
      const earlier = seen.get(name);
      if (earlier !== undefined) throw new DataFileError(fileName, line, `${fileName}:${line}: column '${name}' appears twice in the header (columns ${earlier + 1} and ${column + 1})`);
      seen.set(name, column);
    });
    this.labelColumn = resolveLabelColumn(columnNames, this.options.labelColumn, (message) => new DataFileError(fileName, line, `${fileName}:${line}: ${message}`));
    this.featureColumns = columnNames.map((_, column) => column).filter((column) => column !== this.labelColumn);
    this.columnNames = columnNames;
    this.headerLine = line;
    // A first guess from the header's length; refined from the rows once they come.
    const rowsGuess = this.sizeHint === undefined ? 1024 : Math.min(1 << 20, Math.ceil(this.sizeHint / Math.max(2 * columnNames.length, offset)));
    this.features = new GrowingArray((length) => new Float32Array(length), fileName, "feature values", rowsGuess * this.featureColumns.length);
    this.rowLabels = new GrowingArray((length) => new Int32Array(length), fileName, "labels", rowsGuess);
  }

  private record(fields: string[], line: number, offset: number): void {
    const { columnNames, features, rowLabels } = this;
    if (columnNames === undefined || features === undefined || rowLabels === undefined) {
      this.header(fields, line, offset);
      return;
    }
    const { fileName, featureColumns } = this;
    if (fields.length !== columnNames.length) throw new DataFileError(fileName, line, `${fileName}:${line}: expected ${columnNames.length} columns, found ${fields.length}`);
    const rows = this.rowLines.length;
    // Size the arrays for the whole file from the characters per row so far (+5%).
    const rowsEstimate = this.sizeHint === undefined ? 0 : (this.sizeHint / Math.max(1, offset)) * (rows + 1) * 1.05 + 1024;
    features.reserve(featureColumns.length, rowsEstimate * featureColumns.length);
    rowLabels.reserve(1, rowsEstimate);
    for (const column of featureColumns) {
      const cell = fields[column] ?? "";
      const value = parseFeature(cell);
      if (Number.isNaN(value)) throw new DataFileError(fileName, line, `${fileName}:${line} column '${columnNames[column] ?? ""}': ${featureProblem(cell)}`);
      features.push(value);
    }
    const label = (fields[this.labelColumn] ?? "").trim();
    let id = this.labelIds.get(label);
    if (id === undefined) {
      id = this.labelTexts.length;
      this.labelIds.set(label, id);
      this.labelTexts.push(label);
    }
    rowLabels.push(id);
    this.rowLines.push(line);
  }

  finish(): TabularData {
    const { fileName, columnNames, features, rowLabels, rowLines } = this;
    if (columnNames === undefined || features === undefined || rowLabels === undefined) throw new DataFileError(fileName, undefined, `${fileName}: the file is empty`);
    if (rowLines.length === 0) throw new DataFileError(fileName, this.headerLine, `${fileName}: no data rows after the header (line ${this.headerLine})`);
    const labelName = columnNames[this.labelColumn] ?? "";
    const table: LabelTable = {
      texts: this.labelTexts,
      rows: rowLabels.finish(),
      where: (row) => `${fileName}:${rowLines.lineOf(row)} column '${labelName}'`,
      line: (row) => rowLines.lineOf(row),
    };
    const featureNames = this.featureColumns.map((column) => columnNames[column] ?? "");
    return assemble(fileName, features.finish(), featureNames, labelName, table, this.options.classes);
  }
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
  const labels = jsonLabels(fileName, y, (index) => `${fileName}: y[${index}]`);
  const featureNames = Array.from({ length: width }, (_, column) => `x${column}`);
  return assemble(fileName, features, featureNames, "y", labels, options.classes);
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
  const labels = jsonLabels(fileName, rawLabels, (index) => `${fileName}: [${index}].${labelName}`);
  return assemble(fileName, features, featureNames, labelName, labels, options.classes);
}

function jsonFeature(value: unknown, fail: (problem: string) => DataFileError): number {
  if (typeof value !== "number") throw fail(`is ${describeJson(value)}, expected a number`);
  const single = Math.fround(value);
  if (!Number.isFinite(single)) throw fail(`is ${value}, outside the float32 range`);
  return single;
}

// ---------------------------------------------------------------------------------------
// Shared

/** Every row's label as text: the distinct texts (trimmed) and each row's index into them. */
interface LabelTable {
  readonly texts: readonly string[];
  /** Each row's index into `texts`; `assemble` overwrites it with the class ids. */
  readonly rows: Int32Array;
  /** The location of a row's label for messages, e.g. "data.csv:17 column 'species'". */
  readonly where: (row: number) => string;
  /** The 1-based line of a row (CSV). */
  readonly line: (row: number) => number | undefined;
}

/**
 * JSON labels as a label table; a label that is neither an integer nor a non-empty string is
 * refused here, in row order.
 */
function jsonLabels(fileName: string, values: readonly unknown[], where: (row: number) => string): LabelTable {
  const ids = new Map<string, number>();
  const texts: string[] = [];
  const rows = new Int32Array(values.length);
  values.forEach((value: unknown, row) => {
    let text: string;
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new DataFileError(fileName, undefined, `${where(row)}: label ${value} is not an integer class id`);
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

/** Turns the labels into class ids by the rules at the top of this file; the first bad row (in file order) is reported. */
function assemble(
  fileName: string,
  features: Float32Array,
  featureNames: readonly string[],
  labelName: string,
  table: LabelTable,
  classes: readonly string[] | number | undefined,
): TabularData {
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
  };
}

const INT32_MAX = 2 ** 31 - 1;

function formatNames(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((name) => `'${name}'`);
  return `[${shown.join(", ")}${names.length > 10 ? `, … (${names.length} in all)` : ""}]`;
}
