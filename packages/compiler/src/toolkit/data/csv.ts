// CSV and TSV data files, read as a stream: 4 MiB chunks are decoded and split into records
// (RFC 4180 quoting; LF, CRLF or CR-only line ends; blank lines skipped) and each row goes
// straight into a Float32Array sized from the file's length, so the file's text is never held
// whole (see tabular.ts for the format and the label rules).

import { open, type FileHandle } from "node:fs/promises";
import { assemble, DataFileError, featureProblem, formatSize, MAX_STRING_LENGTH, parseFeature, readProblem, resolveLabelColumn, type LabelTable, type TabularData, type TabularOptions } from "./table.js";

/** How many bytes a read of a CSV file takes at a time. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** The most feature values (rows × feature columns) one Float32Array holds. */
export const MAX_FEATURE_VALUES = 2 ** 32 - 1;


/** Reads a CSV/TSV file in chunks, parsing as it goes (see CsvTableBuilder). */
export async function readCsvFile(path: string, options: TabularOptions): Promise<TabularData> {
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
    return assemble(fileName, features.finish(), featureNames, labelName, table, this.options);
  }
}
