import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHROMIUM_PATH, renderSvgInBrowser, withChromium } from "../scripts/render-svg.js";
import {
  type EpochMetrics,
  confusionMatrix,
  decisionRegions,
  escapeXml,
  formatTick,
  gridCellCenters,
  lineChart,
  metricsChart,
  niceTicks,
} from "../src/toolkit/report/svg.js";

// ---------------------------------------------------------------------------------------
// A small XML well-formedness checker (elements, attributes, entities, comments, prolog).

interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/y;

function checkEntities(s: string, where: string): string {
  for (let i = s.indexOf("&"); i >= 0; i = s.indexOf("&", i + 1)) {
    ENTITY.lastIndex = i;
    if (!ENTITY.test(s)) throw new Error(`bad entity at ${where}: ${s.slice(i, i + 12)}`);
  }
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** Parses `doc`, throwing on any well-formedness error; returns the root element. */
function parseXml(doc: string): XmlElement {
  let i = 0;
  if (doc.startsWith("<?xml")) i = doc.indexOf("?>") + 2;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const NAME = /[A-Za-z_][\w.:-]*/y;
  const ATTR = /\s+([A-Za-z_][\w.:-]*)="([^"<]*)"/y;
  const END = /\s*(\/?)>/y;
  while (i < doc.length) {
    const lt = doc.indexOf("<", i);
    const chunk = lt < 0 ? doc.slice(i) : doc.slice(i, lt);
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (chunk.trim() !== "") throw new Error(`text outside the root: ${chunk.slice(0, 30)}`);
    } else {
      top.text += checkEntities(chunk, `text of <${top.name}>`);
    }
    if (lt < 0) break;
    if (doc.startsWith("<!--", lt)) {
      const e = doc.indexOf("-->", lt);
      if (e < 0) throw new Error("unclosed comment");
      i = e + 3;
      continue;
    }
    if (doc.startsWith("</", lt)) {
      const e = doc.indexOf(">", lt);
      const name = doc.slice(lt + 2, e).trim();
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name ?? "nothing"}>`);
      i = e + 1;
      continue;
    }
    NAME.lastIndex = lt + 1;
    const name = NAME.exec(doc)?.[0];
    if (name === undefined) throw new Error(`bad tag at ${lt}: ${doc.slice(lt, lt + 20)}`);
    let j = lt + 1 + name.length;
    const attrs: Record<string, string> = {};
    for (;;) {
      ATTR.lastIndex = j;
      const m = ATTR.exec(doc);
      if (m === null) break;
      const [, key = "", value = ""] = m;
      if (key in attrs) throw new Error(`duplicate attribute ${key} on <${name}>`);
      attrs[key] = checkEntities(value, `${name}@${key}`);
      j = ATTR.lastIndex;
    }
    END.lastIndex = j;
    const end = END.exec(doc);
    if (end === null) throw new Error(`bad start tag <${name}> at ${lt}: ${doc.slice(j, j + 30)}`);
    const el: XmlElement = { name, attrs, children: [], text: "" };
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      if (root !== undefined) throw new Error("two root elements");
      root = el;
    } else {
      parent.children.push(el);
    }
    if (end[1] !== "/") stack.push(el);
    i = END.lastIndex;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.map((e) => e.name).join("> <")}>`);
  if (root === undefined) throw new Error("no root element");
  return root;
}

function all(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap(all)];
}

/** Text of every element carrying `class="cls"`, or of every <text> under such groups. */
function textsOf(root: XmlElement, cls: string): string[] {
  return all(root)
    .filter((e) => e.attrs.class === cls)
    .flatMap((e) => (e.name === "text" ? [e.text] : all(e).filter((c) => c.name === "text").map((c) => c.text)));
}

function checkSvgRoot(root: XmlElement): { width: number; height: number } {
  expect(root.name).toBe("svg");
  expect(root.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
  const width = Number(root.attrs.width);
  const height = Number(root.attrs.height);
  expect(width).toBeGreaterThan(100);
  expect(height).toBeGreaterThan(100);
  expect(root.attrs.viewBox).toBe(`0 0 ${width} ${height}`);
  // Every id is unique and every url(#id) reference resolves.
  const ids = all(root).flatMap((e) => (e.attrs.id === undefined ? [] : [e.attrs.id]));
  expect(new Set(ids).size).toBe(ids.length);
  for (const e of all(root)) {
    for (const v of Object.values(e.attrs)) {
      for (const m of v.matchAll(/url\(#([^)]+)\)/g)) expect(ids).toContain(m[1]);
    }
  }
  // No NaN or Infinity leaked into coordinates.
  for (const e of all(root)) for (const v of Object.values(e.attrs)) expect(v).not.toMatch(/NaN|Infinity/);
  return { width, height };
}

// ---------------------------------------------------------------------------------------
// Fixtures: the seeds' blobs (4 centres) and MNIST-sized histories.

function history(epochs: number, withTest: boolean): EpochMetrics[] {
  return Array.from({ length: epochs }, (_, e) => ({
    epoch: e,
    loss: 1.393 * Math.exp(-e / 5) + 0.001,
    trainAccuracy: Math.min(1, 0.25 + 0.75 * (1 - Math.exp(-e / 3))),
    ...(withTest ? { testAccuracy: Math.min(1, 0.24 + 0.74 * (1 - Math.exp(-e / 3))) } : {}),
  }));
}

const CENTERS = [
  [-10, -4],
  [-7, -8],
  [-6, -3],
  [-2, 4],
] as const;

function blobsRegions(title = "blobs"): string {
  const g = { xMin: -11, xMax: -1, yMin: -9, yMax: 5, nx: 60, ny: 50 };
  const centers = gridCellCenters(g);
  const classOf = new Int32Array(g.nx * g.ny);
  for (let k = 0; k < classOf.length; k++) {
    const x = centers[2 * k] ?? 0;
    const y = centers[2 * k + 1] ?? 0;
    let best = 0;
    let bestD = Infinity;
    CENTERS.forEach(([cx, cy], c) => {
      const d = (x - cx) ** 2 + (y - cy) ** 2;
      if (d < bestD) [bestD, best] = [d, c];
    });
    classOf[k] = best;
  }
  const points = CENTERS.flatMap(([cx, cy], label) =>
    Array.from({ length: 10 }, (_, i) => ({ x: cx + 0.4 * Math.cos(i), y: cy + 0.4 * Math.sin(i * 1.7), label })),
  );
  return decisionRegions({ grid: { ...g, classOf }, points, title, classNames: ["c0", "c1", "c2", "c3"] });
}

const CONFUSION = [
  [50, 2, 0],
  [3, 41, 6],
  [0, 7, 1234],
];

// ---------------------------------------------------------------------------------------

describe("niceTicks / formatTick", () => {
  it("picks 1-2-2.5-5 steps enclosing the data", () => {
    expect(niceTicks(0, 1, 5).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.001, 1.393, 6).values).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5]);
    expect(niceTicks(0, 99, 5, true).values).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0.9147, 0.9818, 5).values).toEqual([0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]);
    expect(niceTicks(-11.2, -0.8, 5).values).toEqual([-12, -10, -8, -6, -4, -2, 0]);
    expect(niceTicks(0, 3, 8, true).step).toBe(1);
    const flat = niceTicks(5, 5);
    expect(flat.lo).toBeLessThan(5);
    expect(flat.hi).toBeGreaterThan(5);
    expect(niceTicks(Number.NaN, Number.NaN).values.length).toBeGreaterThan(1);
  });

  it("prints every tick of an axis with the same decimals", () => {
    expect([0, 0.25, 0.5].map((v) => formatTick(v, 0.25))).toEqual(["0.00", "0.25", "0.50"]);
    expect([0, 20].map((v) => formatTick(v, 20))).toEqual(["0", "20"]);
    expect(formatTick(-0.0000001, 0.1)).toBe("0.0");
    expect(formatTick(2_500_000, 500_000)).toBe("2.5e6");
  });
});

describe("escapeXml", () => {
  it("escapes markup characters and drops XML-illegal control characters", () => {
    expect(escapeXml(`<a href="x">&'</a>\u0001`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  });
});

describe("lineChart", () => {
  it("is well-formed with a title, labelled axes, tick labels and a legend", () => {
    const svg = lineChart({
      title: "Loss",
      xLabel: "Epoch",
      yLabel: "Cross-entropy",
      series: [
        { name: "train", points: history(30, false).map((h) => [h.epoch, h.loss] as const) },
        { name: "test", points: [[0, 1.5], [1, Number.NaN], [2, 1.0], [3, 0.8]], dashed: true },
      ],
    });
    const root = parseXml(svg);
    checkSvgRoot(root);
    expect(textsOf(root, "title")).toEqual(["Loss"]);
    expect(textsOf(root, "x-label")).toEqual(["Epoch"]);
    expect(textsOf(root, "y-label")).toEqual(["Cross-entropy"]);
    expect(textsOf(root, "x-ticks")).toEqual(["0", "5", "10", "15", "20", "25", "30"]);
    expect(textsOf(root, "y-ticks")).toEqual(["0.00", "0.25", "0.50", "0.75", "1.00", "1.25", "1.50"]);
    expect(textsOf(root, "legend")).toEqual(["train", "test"]);
    const lines = all(root).filter((e) => e.attrs.class === "line");
    expect(lines.map((l) => l.attrs["data-series"])).toEqual(["train", "test"]);
    // The NaN point breaks the test line into two pieces.
    expect(lines[1]?.attrs.d?.match(/M/g)?.length).toBe(2);
  });

  it("honours yRange, escapes text and survives empty or single-point series", () => {
    const svg = lineChart({
      title: `<script>alert("x")</script> & co`,
      xLabel: "x < y",
      yLabel: "p & q",
      series: [
        { name: "a's", points: [[3, 0.5]] },
        { name: "empty", points: [] },
      ],
      yRange: [0, 1],
    });
    expect(svg).not.toContain("<script");
    const root = parseXml(svg);
    checkSvgRoot(root);
    expect(textsOf(root, "title")).toEqual([`<script>alert("x")</script> & co`]);
    expect(textsOf(root, "x-label")).toEqual(["x < y"]);
    expect(textsOf(root, "y-ticks")).toEqual(["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    expect(textsOf(root, "legend")).toEqual(["a's", "empty"]);
    parseXml(lineChart({ title: "", xLabel: "", yLabel: "", series: [] }));
  });
});

describe("metricsChart", () => {
  it("draws a loss panel and an accuracy panel under one title", () => {
    const svg = metricsChart(history(100, true), { title: "Multiclass 3-layer Model Metrics by Epoch" });
    const root = parseXml(svg);
    const { width } = checkSvgRoot(root);
    expect(width).toBeGreaterThan(900);
    expect(textsOf(root, "title")).toEqual(["Multiclass 3-layer Model Metrics by Epoch", "Loss", "Accuracy"]);
    expect(textsOf(root, "x-label")).toEqual(["Epoch", "Epoch"]);
    expect(textsOf(root, "y-label")).toEqual(["Loss", "Accuracy"]);
    expect(textsOf(root, "legend")).toEqual(["train loss", "train accuracy", "test accuracy"]);
    // Accuracy ticks never leave [0, 1].
    const accTicks = all(root)
      .filter((e) => e.attrs.class === "y-ticks")[1]
      ?.children.map((c) => Number(c.text));
    expect(accTicks?.length).toBeGreaterThan(2);
    for (const t of accTicks ?? []) expect(t >= 0 && t <= 1).toBe(true);
  });

  it("handles a history without test metrics, and an empty one", () => {
    const root = parseXml(metricsChart(history(1, false)));
    expect(textsOf(root, "legend")).toEqual(["train loss", "train accuracy"]);
    parseXml(metricsChart([]));
  });
});

describe("decisionRegions", () => {
  it("fills cells per class with points on top, axes and a legend", () => {
    const svg = blobsRegions("Decision regions & points");
    const root = parseXml(svg);
    checkSvgRoot(root);
    expect(textsOf(root, "title")).toEqual(["Decision regions & points"]);
    expect(textsOf(root, "x-label")).toEqual(["x\u2081"]);
    expect(textsOf(root, "y-label")).toEqual(["x\u2082"]);
    expect(textsOf(root, "x-ticks")).toEqual(["-10", "-8", "-6", "-4", "-2"]);
    expect(textsOf(root, "legend")).toEqual(["c0", "c1", "c2", "c3"]);
    const regions = all(root).find((e) => e.attrs.class === "regions");
    expect(regions?.children.map((c) => c.attrs["data-class"])).toEqual(["0", "1", "2", "3"]);
    const points = all(root).find((e) => e.attrs.class === "points");
    expect(points?.children.map((g) => g.children.length)).toEqual([10, 10, 10, 10]);
    // Regions are lighter than their points.
    const light = regions?.children[0]?.attrs.fill ?? "";
    const dark = points?.children[0]?.attrs.fill ?? "";
    const lum = (hex: string) => [1, 3, 5].reduce((s, i) => s + parseInt(hex.slice(i, i + 2), 16), 0);
    expect(lum(light)).toBeGreaterThan(lum(dark) + 150);
    // Runs along rows keep the document small: far fewer shapes than the 3,000 cells.
    expect(svg.length).toBeLessThan(40_000);
  });

  it("orders cell centres row-major from the bottom row", () => {
    const c = gridCellCenters({ xMin: 0, xMax: 4, yMin: 0, yMax: 2, nx: 4, ny: 2 });
    expect(Array.from(c)).toEqual([0.5, 0.5, 1.5, 0.5, 2.5, 0.5, 3.5, 0.5, 0.5, 1.5, 1.5, 1.5, 2.5, 1.5, 3.5, 1.5]);
  });

  it("refuses a grid whose classOf does not match nx·ny", () => {
    const grid = { xMin: 0, xMax: 1, yMin: 0, yMax: 1, nx: 3, ny: 2, classOf: new Int32Array(5) };
    expect(() => decisionRegions({ grid, points: [], title: "t" })).toThrow(/classOf has 5 cells, expected ny·nx = 2·3 = 6/);
    expect(() =>
      decisionRegions({ grid: { ...grid, xMax: 0, classOf: new Int32Array(6) }, points: [], title: "t" }),
    ).toThrow(/empty grid/);
  });
});

describe("confusionMatrix", () => {
  it("shows every count, the class names, 'predicted' and 'true'", () => {
    const svg = confusionMatrix({ matrix: CONFUSION, classNames: ["cat", "dog", "<bird>"], title: "Test set" });
    const root = parseXml(svg);
    checkSvgRoot(root);
    expect(textsOf(root, "cells")).toEqual(["50", "2", "0", "3", "41", "6", "0", "7", "1234"]);
    expect(textsOf(root, "x-label")).toEqual(["predicted"]);
    expect(textsOf(root, "y-label")).toEqual(["true"]);
    expect(textsOf(root, "x-ticks")).toEqual(["cat", "dog", "<bird>"]);
    expect(textsOf(root, "y-ticks")).toEqual(["cat", "dog", "<bird>"]);
    expect(textsOf(root, "subtitle")).toEqual(["accuracy 98.66% (1325 / 1343)"]);
    // The biggest count gets the darkest cell.
    const cells = all(root).find((e) => e.attrs.class === "cells")?.children.filter((c) => c.name === "rect") ?? [];
    expect(cells.length).toBe(9);
    expect(cells[8]?.attrs.fill).toBe("#08306b");
    expect(cells[2]?.attrs.fill).toBe("#f7fbff");
  });

  it("refuses a matrix that does not match the class names", () => {
    expect(() => confusionMatrix({ matrix: [[1, 2]], classNames: ["a", "b"], title: "" })).toThrow(/2 × 2/);
    expect(() => confusionMatrix({ matrix: [[1, -1], [0, 0]], classNames: ["a", "b"], title: "" })).toThrow(/\[0\]\[1\] is -1/);
  });
});

// ---------------------------------------------------------------------------------------

const haveChromium = existsSync(CHROMIUM_PATH);
if (!haveChromium) {
  console.warn(`report-svg: skipping the rendering test: ${CHROMIUM_PATH} is missing (apt-get install -y chromium)`);
}

describe("rendering in headless Chromium", () => {
  it.skipIf(!haveChromium)(
    `renders reports to non-blank PNGs (needs ${CHROMIUM_PATH}, else skipped)`,
    async () => {
      const outDir = join(tmpdir(), "graft-report-svg");
      mkdirSync(outDir, { recursive: true });
      const docs = {
        metrics: metricsChart(history(100, true), { title: "Multiclass 3-layer Model Metrics by Epoch" }),
        regions: blobsRegions("Decision regions"),
        confusion: confusionMatrix({ matrix: CONFUSION, classNames: ["cat", "dog", "bird"], title: "Test set" }),
      };
      await withChromium(async (browser) => {
        for (const [name, svg] of Object.entries(docs)) {
          const png = await renderSvgInBrowser(browser, svg, { scale: 1 });
          writeFileSync(join(outDir, `${name}.png`), png);
          // PNG signature and IHDR size = the SVG's size.
          expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
          const root = parseXml(svg);
          expect(png.readUInt32BE(16)).toBe(Number(root.attrs.width));
          expect(png.readUInt32BE(20)).toBe(Number(root.attrs.height));

          // Decode the PNG back in the browser and look at its pixels.
          const context = await browser.newContext();
          const page = await context.newPage();
          // A point inside the darkest confusion cell (clear of its text), else the corner.
          const darkest = all(root).find((e) => e.attrs.class === "cells")?.children.filter((c) => c.name === "rect")[8];
          const probe = { x: Number(darkest?.attrs.x ?? 0) + 3, y: Number(darkest?.attrs.y ?? 0) + 3 };
          const stats = await page.evaluate(async ({ b64, probe }: { b64: string; probe: { x: number; y: number } }) => {
            const img = new Image();
            img.src = `data:image/png;base64,${b64}`;
            await img.decode();
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            const ctx = canvas.getContext("2d");
            if (ctx === null) throw new Error("no 2d context");
            ctx.drawImage(img, 0, 0);
            const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
            const colours = new Set<number>();
            let nonWhite = 0;
            for (let i = 0; i < data.length; i += 4) {
              const r = data[i] ?? 0;
              const g = data[i + 1] ?? 0;
              const bl = data[i + 2] ?? 0;
              colours.add((r << 16) | (g << 8) | bl);
              if (r < 240 || g < 240 || bl < 240) nonWhite++;
            }
            const at = (x: number, y: number) => {
              const i = (Math.round(y) * canvas.width + Math.round(x)) * 4;
              return [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0];
            };
            return { colours: colours.size, nonWhite: nonWhite / (data.length / 4), corner: at(1, 1), probe: at(probe.x, probe.y) };
          }, { b64: png.toString("base64"), probe });
          await context.close();
          expect(stats.corner).toEqual([255, 255, 255]); // white background
          expect(stats.colours).toBeGreaterThan(30); // anti-aliased text, lines, fills
          // Measured: metrics ≈ 0.045, regions ≈ 0.69, confusion ≈ 0.13.
          const minInk = { metrics: 0.02, regions: 0.4, confusion: 0.06 }[name] ?? 0.02;
          expect(stats.nonWhite).toBeGreaterThan(minInk);
          expect(stats.nonWhite).toBeLessThan(0.95);
          if (name === "confusion") {
            const [r = 0, g = 0, bl = 0] = stats.probe;
            expect(r).toBeLessThan(40); // #08306b, the darkest blue
            expect(bl).toBeGreaterThan(r + 60);
            expect(bl).toBeGreaterThan(g + 30);
          }
        }
      });
    },
  );
});
