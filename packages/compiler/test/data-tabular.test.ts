import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataFileError, MAX_JSON_BYTES, parseCsv, parseCsvChunks, parseJsonData, readTabularFile, type TabularOptions } from "../src/toolkit/data/tabular.js";

const iris = [
  "sepal_length,sepal_width,petal_length,petal_width,species",
  "5.1,3.5,1.4,0.2,setosa",
  "7.0,3.2,4.7,1.4,versicolor",
  "6.3,3.3,6.0,2.5,virginica",
  "4.9,3.0,1.4,0.2,setosa",
].join("\n");

function csvError(text: string, options?: TabularOptions): DataFileError {
  try {
    parseCsv(text, "data.csv", options);
  } catch (error) {
    if (error instanceof DataFileError) return error;
    throw error;
  }
  throw new Error("expected a DataFileError, nothing was thrown");
}

function jsonError(text: string, options?: TabularOptions): string {
  try {
    parseJsonData(text, "data.json", options);
  } catch (error) {
    if (error instanceof DataFileError) return error.message;
    throw error;
  }
  throw new Error("expected a DataFileError, nothing was thrown");
}

describe("parseCsv", () => {
  it("reads features row-major and maps class names to sorted ids", () => {
    const data = parseCsv(iris, "iris.csv");
    expect(data.featureNames).toEqual(["sepal_length", "sepal_width", "petal_length", "petal_width"]);
    expect(data.featureShape).toEqual([4]);
    expect(data.labelName).toBe("species");
    expect(data.numSamples).toBe(4);
    expect(data.features).toEqual(Float32Array.from([5.1, 3.5, 1.4, 0.2, 7.0, 3.2, 4.7, 1.4, 6.3, 3.3, 6.0, 2.5, 4.9, 3.0, 1.4, 0.2]));
    expect(data.classNames).toEqual(["setosa", "versicolor", "virginica"]);
    expect(data.labels).toEqual(Int32Array.from([0, 1, 2, 0]));
    expect(data.numClasses).toBe(3);
  });

  it("uses declared class names in their order, and accepts ids below their count", () => {
    const data = parseCsv(`${iris}\n5.0,3.0,1.0,0.1,1`, "iris.csv", { classes: ["virginica", "versicolor", "setosa"] });
    expect(data.labels).toEqual(Int32Array.from([2, 1, 0, 2, 1]));
    expect(data.classNames).toEqual(["virginica", "versicolor", "setosa"]);
  });

  it("reads integer labels as ids, numClasses = largest + 1", () => {
    const data = parseCsv("a,b,label\n1,2,0\n3,4,+3\n5,6,2.0\n", "data.csv");
    expect(data.labels).toEqual(Int32Array.from([0, 3, 2]));
    expect(data.numClasses).toBe(4);
    expect(data.classNames).toBeUndefined();
  });

  it("picks the label column by name, by index and by negative index", () => {
    const text = "y,a,b\n1,0.5,2\n0,1.5,3\n";
    for (const labelColumn of ["y", 0, -3]) {
      const data = parseCsv(text, "data.csv", { labelColumn });
      expect(data.featureNames).toEqual(["a", "b"]);
      expect(data.features).toEqual(Float32Array.from([0.5, 2, 1.5, 3]));
      expect(data.labels).toEqual(Int32Array.from([1, 0]));
    }
  });

  it("understands quotes, CRLF, a BOM, blank lines, spaces and a custom delimiter", () => {
    const text = '\uFEFF"x, first" , "y"\r\n\r\n" 1.5 ",cat\r\n2,"dog"  \r\n"3","a ""quoted"" name"\r\n';
    const data = parseCsv(text, "data.csv");
    expect(data.featureNames).toEqual(["x, first"]);
    expect(data.labelName).toBe("y");
    expect(data.features).toEqual(Float32Array.from([1.5, 2, 3]));
    expect(data.classNames).toEqual(['a "quoted" name', "cat", "dog"]);
    expect(data.labels).toEqual(Int32Array.from([1, 2, 0]));
    expect(parseCsv("a;b\n1;0\n", "data.csv", { delimiter: ";" }).features).toEqual(Float32Array.from([1]));
  });

  it("counts lines inside multi-line quoted fields", () => {
    const error = csvError('a,label\n1,"multi\nline"\n2,x\n3\n');
    expect(error.message).toBe("data.csv:5: expected 2 columns, found 1");
    expect(error.line).toBe(5);
  });

  it("reads back what a CSV writer produces (property)", () => {
    const row = fc.tuple(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 2 }), fc.string({ minLength: 1 }));
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 20 }), (rows) => {
        const labels = rows.map(([, label]) => label.trim()).filter((label) => label !== "");
        fc.pre(labels.length === rows.length && labels.some((label) => !/^[+-]?\d+(\.0*)?$/.test(label)));
        const quote = (text: string): string => `"${text.replace(/"/g, '""')}"`;
        const text = ["f1,f2,label", ...rows.map(([values, label]) => `${values.map((value) => (Object.is(value, -0) ? "0" : String(value))).join(",")},${quote(label)}`)].join("\n");
        const data = parseCsv(text, "data.csv");
        expect(Array.from(data.features)).toEqual(rows.flatMap(([values]) => values.map((value) => (Object.is(value, -0) ? 0 : value))));
        expect(Array.from(data.labels, (id) => data.classNames?.[id])).toEqual(labels);
      }),
    );
  });

  it("reads a cell as a number exactly when it is a finite decimal (property)", () => {
    const decimal = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
    const cellArbitrary = fc.string({ unit: fc.constantFrom(..."0123456789.eE+-xbo \t"), maxLength: 14 });
    fc.assert(
      fc.property(cellArbitrary, (cell) => {
        const trimmed = cell.trim();
        const expected = Math.fround(Number(trimmed));
        const valid = trimmed !== "" && decimal.test(trimmed) && Number.isFinite(expected);
        const text = `a,label\n${cell},0\n`;
        if (valid) expect(parseCsv(text, "data.csv").features).toEqual(Float32Array.of(expected));
        else expect(() => parseCsv(text, "data.csv")).toThrow(DataFileError);
      }),
      { numRuns: 5000 },
    );
  });

  it("refuses a ragged row, naming file, line and column counts", () => {
    const error = csvError(`${iris}\n5.0,3.0,1.0,setosa`);
    expect(error.message).toBe("data.csv:6: expected 5 columns, found 4");
    expect(error.file).toBe("data.csv");
  });

  it("refuses a non-numeric, empty or out-of-range feature, naming line and column", () => {
    expect(csvError(iris.replace("0.2,setosa\n7.0", "abc,setosa\n7.0")).message).toBe("data.csv:2 column 'petal_width': 'abc' is not a number");
    expect(csvError("a,b,label\n1,,0\n").message).toBe("data.csv:2 column 'b': the value is empty, expected a number");
    expect(csvError("a,label\n1e39,0\n").message).toBe("data.csv:2 column 'a': '1e39' is outside the float32 range");
    expect(csvError("a,label\nNaN,0\n").message).toBe("data.csv:2 column 'a': 'NaN' is not a number");
    expect(csvError("a,label\n0x10,0\n").message).toBe("data.csv:2 column 'a': '0x10' is not a number");
  });

  it("refuses labels outside the declared classes", () => {
    expect(csvError("a,label\n1,0\n2,3\n", { classes: 3 }).message).toBe(
      "data.csv:3 column 'label': label 3 is outside the declared classes, expected 0 ≤ label < 3",
    );
    expect(csvError("a,label\n1,cat\n", { classes: 3 }).message).toBe(
      "data.csv:2 column 'label': label 'cat' is not a class id; 3 classes were declared, so labels must be integers 0 ≤ label < 3 (declare class names to use names)",
    );
    expect(csvError(`${iris}\n5.0,3.0,1.0,0.1,virginca`, { classes: ["setosa", "versicolor", "virginica"] }).message).toBe(
      "data.csv:6 column 'species': label 'virginca' is not one of the declared classes ['setosa', 'versicolor', 'virginica'] (or an id 0 to 2)",
    );
    expect(csvError("a,label\n1,5\n", { classes: ["x", "y"] }).message).toBe(
      "data.csv:2 column 'label': label '5' is not one of the declared classes ['x', 'y'] (or an id 0 to 1)",
    );
  });

  it("refuses negative, empty and huge labels when no classes are declared", () => {
    expect(csvError("a,label\n1,0\n2,-1\n").message).toBe("data.csv:3 column 'label': label -1 is negative; class ids start at 0");
    expect(csvError("a,label\n1, \n").message).toBe("data.csv:2 column 'label': the label is empty");
    expect(csvError("a,label\n1,99999999999\n").message).toBe("data.csv:2 column 'label': label 99999999999 is too large for a class id");
  });

  it("refuses bad class declarations", () => {
    expect(csvError("a,label\n1,0\n", { classes: 0 }).message).toBe("data.csv: the number of classes must be a positive integer, got 0");
    expect(csvError("a,label\n1,0\n", { classes: [] }).message).toBe("data.csv: the list of declared classes is empty");
    expect(csvError("a,label\n1,0\n", { classes: ["a", "a"] }).message).toBe("data.csv: the list of declared classes names 'a' twice");
  });

  it("refuses an empty file and a file with only a header", () => {
    expect(csvError("").message).toBe("data.csv: the file is empty");
    expect(csvError("\n  \n").message).toBe("data.csv: the file is empty");
    expect(csvError("a,label\n\n").message).toBe("data.csv: no data rows after the header (line 1)");
  });

  it("refuses a bad header and a missing label column", () => {
    expect(csvError("a,,label\n1,2,0\n").message).toBe("data.csv:1: column 2 (counting from 1) has an empty name in the header");
    expect(csvError("a,b,a\n1,2,0\n").message).toBe("data.csv:1: column 'a' appears twice in the header (columns 1 and 3)");
    expect(csvError("label\n0\n").message).toBe("data.csv:1: expected at least one feature column and a label column, found only 'label'");
    expect(csvError("a,b\n1,0\n", { labelColumn: "species" }).message).toBe(
      "data.csv:1: no label column named 'species'; the columns are 'a', 'b'",
    );
    expect(csvError("a,b\n1,0\n", { labelColumn: 2 }).message).toBe(
      "data.csv:1: label column index 2 is out of range for 2 columns (0 to 1, or negative from the end)",
    );
  });

  it("refuses broken quoting and a bad delimiter", () => {
    expect(csvError('a,label\n1,"open\n2,0\n').message).toBe("data.csv:2: a quoted field is not closed before the end of the file");
    expect(csvError('a,label\n1,"x"y\n').message).toBe('data.csv:2: unexpected "y" after a closing quote; write a quote inside a quoted field as ""');
    expect(csvError("a,label\n1,0\n", { delimiter: "ab" }).message).toBe(
      'data.csv: the delimiter must be one character other than a quote or a line break, got "ab"',
    );
  });
});

describe("parseJsonData", () => {
  it('reads {"x": number[][], "y": labels}', () => {
    const data = parseJsonData('{"x": [[1, 2], [3, 4], [5, 6]], "y": [1, 0, 1]}', "data.json");
    expect(data.features).toEqual(Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(data.featureShape).toEqual([2]);
    expect(data.featureNames).toEqual(["x0", "x1"]);
    expect(data.labelName).toBe("y");
    expect(data.labels).toEqual(Int32Array.from([1, 0, 1]));
    expect(data.numClasses).toBe(2);
    const named = parseJsonData('{"x": [[1], [2]], "y": ["dog", "cat"]}', "data.json");
    expect(named.classNames).toEqual(["cat", "dog"]);
    expect(named.labels).toEqual(Int32Array.from([1, 0]));
  });

  it("reads an array of records, label key by name or default the last", () => {
    const text = JSON.stringify([
      { sepal: 5.1, petal: 1.4, species: "setosa" },
      { sepal: 7.0, petal: 4.7, species: "versicolor" },
    ]);
    const data = parseJsonData(text, "data.json");
    expect(data.featureNames).toEqual(["sepal", "petal"]);
    expect(data.features).toEqual(Float32Array.from([5.1, 1.4, 7.0, 4.7]));
    expect(data.classNames).toEqual(["setosa", "versicolor"]);
    const bySepal = parseJsonData(JSON.stringify([{ a: 1, b: 2 }, { a: 0, b: 3 }]), "data.json", { labelColumn: "a" });
    expect(bySepal.featureNames).toEqual(["b"]);
    expect(bySepal.labels).toEqual(Int32Array.from([1, 0]));
  });

  it("refuses malformed JSON with its line and column when the parser gives a position", () => {
    expect(jsonError('{\n  "x": [1\n  2]\n}')).toMatch(/^data\.json:3:3: invalid JSON: \S/);
    // Whatever the engine's wording, the message names the file and does not echo the text.
    const unexpected = jsonError('{\n  "x": [1,\n  ]\n}');
    expect(unexpected).toMatch(/^data\.json(:\d+:\d+)?: invalid JSON: \S/);
    expect(unexpected).not.toContain('"x"');
    expect(jsonError("   ")).toBe("data.json: the file is empty");
  });

  it("refuses the wrong top-level shape", () => {
    expect(jsonError('{"features": [], "labels": []}')).toBe(
      'data.json: expected {"x": number[][], "y": labels[]} or an array of records, found an object with keys features, labels',
    );
    expect(jsonError("3")).toBe('data.json: expected {"x": number[][], "y": labels[]} or an array of records, found 3');
  });

  it("refuses bad x and y, naming the JSON path", () => {
    expect(jsonError('{"x": [[1, 2], [3]], "y": [0, 1]}')).toBe("data.json: x[1] has 1 values, expected 2 like x[0]");
    expect(jsonError('{"x": [[1, 2], [3, "a"]], "y": [0, 1]}')).toBe('data.json: x[1][1] is "a", expected a number');
    expect(jsonError('{"x": [[1, 2], [3, 1e39]], "y": [0, 1]}')).toBe("data.json: x[1][1] is 1e+39, outside the float32 range");
    expect(jsonError('{"x": [[1], [2]], "y": [0]}')).toBe("data.json: x has 2 rows but y has 1 labels");
    expect(jsonError('{"x": [], "y": []}')).toBe("data.json: x has no rows");
    expect(jsonError('{"x": [1, 2], "y": [0, 1]}')).toBe("data.json: x[0] must be a non-empty array of numbers, found 1");
    expect(jsonError('{"x": [[1], 2], "y": [0, 1]}')).toBe("data.json: x[1] must be an array of numbers, found 2");
    expect(jsonError('{"x": [[1]], "y": 0}')).toBe("data.json: y must be an array of labels, found 0");
    expect(jsonError('{"x": [[1], [2]], "y": [0, 0.5]}')).toBe("data.json: y[1]: label 0.5 is not an integer class id");
    expect(jsonError('{"x": [[1], [2]], "y": [0, null]}')).toBe(
      "data.json: y[1]: label null must be a class id (integer) or a class name (string)",
    );
    expect(jsonError('{"x": [[1], [2]], "y": [0, 2]}', { classes: 2 })).toBe(
      "data.json: y[1]: label 2 is outside the declared classes, expected 0 ≤ label < 2",
    );
  });

  it("refuses records that differ from the first one", () => {
    expect(jsonError("[]")).toBe("data.json: the array has no records");
    expect(jsonError('[{"a": 1, "y": 0}, {"a": 2}]')).toBe('data.json: [1] has no "y"');
    expect(jsonError('[{"a": 1, "y": 0}, {"a": 2, "y": 1, "b": 3}]')).toBe('data.json: [1] has a key "b" that [0] does not have');
    expect(jsonError('[{"a": 1, "y": 0}, {"a": "x", "y": 1}]')).toBe('data.json: [1].a is "x", expected a number');
    expect(jsonError('[{"a": 1, "y": 0}, [1, 2]]')).toBe("data.json: [1] must be a record (an object), found [1,2]");
    expect(jsonError("[3]")).toBe("data.json: [0] must be a record (an object), found 3");
    expect(jsonError('[{"y": 0}]')).toBe("data.json: [0]: expected at least one feature column and a label column, found only 'y'");
  });
});

describe("readTabularFile", () => {
  let directory = "";
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "graft-tabular-"));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function readError(path: string, options?: TabularOptions): Promise<string> {
    try {
      await readTabularFile(path, options);
    } catch (error) {
      if (error instanceof DataFileError) return error.message;
      throw error;
    }
    throw new Error("expected a DataFileError, nothing was thrown");
  }

  it("reads .csv, .tsv and .json files by extension", async () => {
    await writeFile(join(directory, "iris.csv"), iris);
    await writeFile(join(directory, "iris.tsv"), iris.replace(/,/g, "\t"));
    await writeFile(join(directory, "data.JSON"), '{"x": [[1], [2]], "y": [0, 1]}');
    const csv = await readTabularFile(join(directory, "iris.csv"));
    const tsv = await readTabularFile(join(directory, "iris.tsv"));
    expect(tsv).toEqual(csv);
    expect(csv.numSamples).toBe(4);
    expect((await readTabularFile(join(directory, "data.JSON"))).labels).toEqual(Int32Array.from([0, 1]));
  });

  it("names the file in every error, with its line", async () => {
    const path = join(directory, "ragged.csv");
    await writeFile(path, "a,b,label\n1,2,0\n1,2\n");
    expect(await readError(path)).toBe(`${path}:3: expected 3 columns, found 2`);
  });

  it("refuses a missing file, a directory, an unknown extension, an empty file and non-UTF-8 bytes", async () => {
    const missing = join(directory, "missing.csv");
    expect(await readError(missing)).toBe(`${missing}: file not found`);
    const folder = join(directory, "folder.csv");
    await mkdir(folder);
    expect(await readError(folder)).toBe(`${folder}: is a directory, expected a data file`);
    expect(await readError(join(directory, "data.xlsx"))).toBe(
      `${join(directory, "data.xlsx")}: unsupported data file type '.xlsx'; expected .csv, .tsv or .json`,
    );
    const empty = join(directory, "empty.csv");
    await writeFile(empty, "");
    expect(await readError(empty)).toBe(`${empty}: the file is empty`);
    const latin1 = join(directory, "latin1.csv");
    await writeFile(latin1, Uint8Array.from([0x61, 0x2c, 0x62, 0x0a, 0xe9, 0x2c, 0x31, 0x0a]));
    expect(await readError(latin1)).toBe(`${latin1}: is not UTF-8 text`);
  });
});

describe("CSV as a stream (issue 16, items 18, 19)", () => {
  let directory = "";
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "graft-stream-"));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const outcome = (run: () => unknown): unknown => {
    try {
      return run();
    } catch (error) {
      if (error instanceof DataFileError) return { error: error.message, line: error.line };
      throw error;
    }
  };

  it("gives the same table, or the same error, however the text is split into chunks", () => {
    const cell = fc.oneof(
      fc.constantFrom("1", "-0.5", "2e3", " 7 ", "", "x", '"3"', '"a,b"', '"say ""hi"""', '"multi\nline"', '"cr\rline"', '"open'),
      fc.integer({ min: -2, max: 4 }).map(String),
    );
    const lineEnd = fc.constantFrom("\n", "\r\n", "\r");
    const text = fc
      .tuple(fc.array(fc.tuple(fc.array(cell, { minLength: 1, maxLength: 3 }), lineEnd), { minLength: 0, maxLength: 6 }), lineEnd, fc.boolean())
      .map(([rows, headerEnd, trailing]) => {
        const body = rows.map(([cells, end]) => cells.join(",") + end).join("");
        const full = `a,b,label${headerEnd}${body}`;
        return trailing ? full : full.replace(/(\r\n|\r|\n)$/, "");
      });
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 6 }), (csv, cuts) => {
        const points = [...new Set(cuts.map((cut) => cut % (csv.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((start, index) => csv.slice(start, [...points, csv.length][index]));
        expect(outcome(() => parseCsvChunks(chunks, "data.csv"))).toEqual(outcome(() => parseCsv(csv, "data.csv")));
        // one character at a time, the hardest split
        expect(outcome(() => parseCsvChunks([...csv], "data.csv"))).toEqual(outcome(() => parseCsv(csv, "data.csv")));
      }),
      { numRuns: 600, seed: 16 },
    );
  });

  it("reads CR-only line ends (old Mac files) as lines", () => {
    const data = parseCsv("x1,x2,label\r-0.8261,1.5,0\r-0.8261,2.5,1\r", "mac.csv");
    expect(data.featureNames).toEqual(["x1", "x2"]);
    expect(data.features).toEqual(Float32Array.from([-0.8261, 1.5, -0.8261, 2.5]));
    expect([...data.labels]).toEqual([0, 1]);
    expect(csvError("a,label\r1,0\r\r2,x,3\r").message).toBe("data.csv:4: expected 2 columns, found 3");
    expect(csvError('a,label\r1,"two\rlines"\r2,1,3\r').message).toBe("data.csv:4: expected 2 columns, found 3");
  });

  it("streams a file larger than one chunk into the same table as parsing its text", async () => {
    const rows = ["f1,f2,f3,label"];
    for (let row = 0; row < 150_000; row++) rows.push(`${(row % 977) / 7},${-row},${(row * 31) % 1000}.25,${row % 3 === 0 ? "cat" : "dog"}`);
    const text = `${rows.join("\r\n")}\r\n`;
    expect(text.length).toBeGreaterThan(4 * 1024 * 1024);
    const path = join(directory, "big.csv");
    await writeFile(path, `\uFEFF${text}`);
    const streamed = await readTabularFile(path);
    const whole = parseCsv(text, path);
    const sameValues = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.prototype.every.call(a, (value: number, index: number) => Object.is(value, b[index]));
    expect(sameValues(streamed.features, whole.features)).toBe(true);
    expect(sameValues(streamed.labels, whole.labels)).toBe(true);
    expect({ ...streamed, features: undefined, labels: undefined }).toEqual({ ...whole, features: undefined, labels: undefined });
    expect(streamed.numSamples).toBe(150_000);
    expect(streamed.features.length).toBe(450_000);
    expect(streamed.classNames).toEqual(["cat", "dog"]);
    // an error past the first chunk names its line
    await writeFile(path, `${text}1,2,3\n`);
    await expect(readTabularFile(path)).rejects.toThrow(`${path}:150002: expected 4 columns, found 3`);
  });

  it("refuses a JSON file larger than a string can hold, naming the limit", async () => {
    const path = join(directory, "huge.json");
    await writeFile(path, "");
    await truncate(path, MAX_JSON_BYTES + 1); // sparse: no disk used
    await expect(readTabularFile(path)).rejects.toThrow(
      `${path}: is ${((MAX_JSON_BYTES + 1) / 1024 ** 2).toFixed(1)} MiB; a JSON data file can be at most ${(MAX_JSON_BYTES / 1024 ** 2).toFixed(1)} MiB (${MAX_JSON_BYTES} bytes, the longest string JavaScript holds); write the data as CSV, which is read as a stream`,
    );
  });
});

describe("deeply nested JSON (issue 16, item 9)", () => {
  const deep = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

  it("is refused with a message, not a stack overflow", () => {
    expect(jsonError(`{"x": ${deep(100_000)}, "y": [0]}`)).toBe("data.json: x[0][0] is [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[..., expected a number");
    expect(jsonError(`{"x": [[${deep(100_000)}]], "y": [0]}`)).toBe("data.json: x[0][0] is [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[..., expected a number");
    expect(jsonError(`{"x": [[1]], "y": [${deep(100_000)}]}`)).toBe(
      "data.json: y[0]: label [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[... must be a class id (integer) or a class name (string)",
    );
    expect(jsonError(`[${"{\"a\":".repeat(50_000)}1${"}".repeat(50_000)}]`)).toBe("data.json: [0]: expected at least one feature column and a label column, found only 'a'");
    expect(jsonError(deep(100_000))).toBe("data.json: [0] must be a record (an object), found [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[...");
  });
});
