/**
 * Standalone SVG reports: line charts (loss/accuracy per epoch), the two-panel metrics
 * figure of the seed programs, decision regions of a 2-D classifier and confusion matrices.
 *
 * Every function is pure and returns a complete SVG document as a string (no dependencies,
 * no scripts, no external resources), deterministic for its input. All text is escaped.
 */

/** matplotlib's `tab10` palette, the seed programs' default colours. */
export const TAB10: readonly string[] = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

const FONT = "DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif";
const INK = "#222222";
const MUTED = "#555555";
const GRID = "#e6e6e6";

// ---------------------------------------------------------------------------------------
// Small helpers

/**
 * Escapes text for XML content and attribute values (`& < > " '`) and drops the
 * control characters XML 1.0 forbids.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** A coordinate rounded to 2 decimals, to keep documents small. */
function n(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

/** Rough width in px of `s` in the house font at `size` px (DejaVu Sans averages ~0.6em). */
function textWidth(s: string, size: number): number {
  return s.length * size * 0.6;
}

interface TextOptions {
  readonly size?: number;
  readonly anchor?: "start" | "middle" | "end";
  readonly weight?: "normal" | "bold";
  readonly fill?: string;
  readonly rotate?: number;
  /** Vertical alignment: "middle" centres the text on y, "alphabetic" puts the baseline on y. */
  readonly baseline?: "middle" | "alphabetic" | "hanging";
  readonly cls?: string;
}

function text(x: number, y: number, content: string, o: TextOptions = {}): string {
  const attrs = [`x="${n(x)}"`, `y="${n(y)}"`];
  if (o.size !== undefined) attrs.push(`font-size="${o.size}"`);
  if (o.anchor !== undefined && o.anchor !== "start") attrs.push(`text-anchor="${o.anchor}"`);
  if (o.weight === "bold") attrs.push(`font-weight="bold"`);
  if (o.fill !== undefined) attrs.push(`fill="${o.fill}"`);
  if (o.baseline === "middle") attrs.push(`dominant-baseline="central"`);
  if (o.baseline === "hanging") attrs.push(`dominant-baseline="hanging"`);
  if (o.rotate !== undefined) attrs.push(`transform="rotate(${o.rotate} ${n(x)} ${n(y)})"`);
  if (o.cls !== undefined) attrs.push(`class="${o.cls}"`);
  return `<text ${attrs.join(" ")}>${escapeXml(content)}</text>`;
}

/** A deterministic short id (FNV-1a) so that several SVGs inlined in one page do not clash. */
function idFor(...parts: readonly (string | number)[]): string {
  let h = 0x811c9dc5;
  for (const ch of parts.join("\u0001")) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193);
  }
  return `g${(h >>> 0).toString(36)}`;
}

function svgDocument(w: number, h: number, title: string, body: readonly string[]): string {
  // Whole pixels, so that a PNG render has exactly the document's size.
  const width = Math.ceil(w);
  const height = Math.ceil(h);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" ` +
      `viewBox="0 0 ${n(width)} ${n(height)}" font-family="${FONT}" font-size="12" fill="${INK}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    `</svg>`,
    ``,
  ].join("\n");
}

interface Rgb {
  readonly r: number;
  readonly g: number;
  readonly b: number;
}

function parseHex(hex: string): Rgb {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex);
  const v = m?.[1] === undefined ? 0x808080 : parseInt(m[1], 16);
  return { r: (v >> 16) & 255, g: (v >> 8) & 255, b: v & 255 };
}

function toHex({ r, g, b }: Rgb): string {
  const c = (x: number) => Math.max(0, Math.min(255, Math.round(x))).toString(16).padStart(2, "0");
  return `#${c(r)}${c(g)}${c(b)}`;
}

/** Linear mix of two colours: `t = 0` gives `a`, `t = 1` gives `b`. */
function mix(a: string, b: string, t: number): string {
  const x = parseHex(a);
  const y = parseHex(b);
  return toHex({ r: x.r + (y.r - x.r) * t, g: x.g + (y.g - x.g) * t, b: x.b + (y.b - x.b) * t });
}

/** Colour of class or series `i`: tab10, then darker/lighter variants of it. */
function colorOf(i: number): string {
  const base = TAB10[i % TAB10.length] ?? "#1f77b4";
  const round = Math.floor(i / TAB10.length);
  if (round === 0) return base;
  return round % 2 === 1 ? mix(base, "#000000", 0.35) : mix(base, "#ffffff", 0.4);
}

// ---------------------------------------------------------------------------------------
// Ticks and scales

/** Ticks of an axis: the values to label, the step between them and the spanned domain. */
export interface Ticks {
  /** Tick values, increasing, multiples of `step`. */
  readonly values: readonly number[];
  /** Distance between ticks: 1, 2, 2.5 or 5 times a power of ten. */
  readonly step: number;
  /** Lowest tick (≤ the data minimum). */
  readonly lo: number;
  /** Highest tick (≥ the data maximum). */
  readonly hi: number;
}

/**
 * "Nice" ticks covering `[min, max]` with about `target` intervals: steps of 1, 2, 2.5 or 5
 * times a power of ten (the one nearest to `(max - min) / target` on a log scale), the
 * first and last ticks enclosing the data. With `integer`, the
 * step is a whole number (for epoch axes). A degenerate range is widened around its value.
 */
export function niceTicks(min: number, max: number, target = 5, integer = false): Ticks {
  let a = Number.isFinite(min) ? min : 0;
  let b = Number.isFinite(max) ? max : a + 1;
  if (a > b) [a, b] = [b, a];
  if (a === b) {
    const pad = a === 0 ? 1 : Math.abs(a) * 0.1;
    a -= pad;
    b += pad;
    if (integer) {
      a = Math.floor(a);
      b = Math.ceil(b);
    }
  }
  const raw = (b - a) / Math.max(1, Math.round(target));
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  // The nearest of 1, 2, 2.5, 5, 10 on a log scale (boundaries at geometric means).
  let step = (norm < Math.SQRT2 ? 1 : norm < Math.sqrt(5) ? 2 : norm < Math.sqrt(12.5) ? 2.5 : norm < Math.sqrt(50) ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.ceil(step));
  const k0 = Math.floor(a / step + 1e-9);
  const k1 = Math.ceil(b / step - 1e-9);
  const values: number[] = [];
  for (let k = k0; k <= k1; k++) values.push(Number((k * step).toPrecision(12)));
  return { values, step, lo: values[0] ?? a, hi: values[values.length - 1] ?? b };
}

/** Decimals needed to print multiples of `step` exactly (at most 8). */
function decimalsFor(step: number): number {
  for (let d = 0; d <= 8; d++) {
    if (Math.abs(Number(step.toFixed(d)) - step) <= Math.abs(step) * 1e-9) return d;
  }
  return 8;
}

/** Formats a tick value so that all ticks of an axis share the same number of decimals. */
export function formatTick(value: number, step: number): string {
  if (Math.abs(value) >= 1e6 || (step !== 0 && Math.abs(step) < 1e-5)) {
    return value === 0 ? "0" : Number(value.toPrecision(3)).toExponential().replace("e+", "e");
  }
  const s = value.toFixed(decimalsFor(step));
  return s === "-0" || /^-0\.0*$/.test(s) ? s.slice(1) : s;
}

interface Scale {
  readonly d0: number;
  readonly d1: number;
  readonly r0: number;
  readonly r1: number;
}

function project(s: Scale, v: number): number {
  const span = s.d1 - s.d0;
  return span === 0 ? (s.r0 + s.r1) / 2 : s.r0 + ((v - s.d0) / span) * (s.r1 - s.r0);
}

interface Frame {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

interface AxisSpec {
  readonly scale: Scale;
  readonly ticks: readonly number[];
  readonly step: number;
  readonly label: string;
}

/** Grid lines, frame, tick marks, tick labels and axis labels of a plot frame. */
function drawAxes(f: Frame, x: AxisSpec, y: AxisSpec, grid: boolean, tickLabelWidth: number): string[] {
  const out: string[] = [];
  const xs = x.ticks.map((v) => ({ v, p: project(x.scale, v) }));
  const ys = y.ticks.map((v) => ({ v, p: project(y.scale, v) }));
  if (grid) {
    const lines = [
      ...xs.map(({ p }) => `M${n(p)} ${n(f.y)}V${n(f.y + f.h)}`),
      ...ys.map(({ p }) => `M${n(f.x)} ${n(p)}H${n(f.x + f.w)}`),
    ];
    if (lines.length > 0) out.push(`<path class="grid" d="${lines.join("")}" stroke="${GRID}" stroke-width="1" fill="none"/>`);
  }
  out.push(
    `<rect class="frame" x="${n(f.x)}" y="${n(f.y)}" width="${n(f.w)}" height="${n(f.h)}" fill="none" stroke="${INK}" stroke-width="1"/>`,
  );
  const marks = [
    ...xs.map(({ p }) => `M${n(p)} ${n(f.y + f.h)}v5`),
    ...ys.map(({ p }) => `M${n(f.x)} ${n(p)}h-5`),
  ];
  if (marks.length > 0) out.push(`<path class="ticks" d="${marks.join("")}" stroke="${INK}" stroke-width="1"/>`);
  out.push(`<g class="x-ticks" font-size="11" fill="${MUTED}" text-anchor="middle">`);
  for (const { v, p } of xs) out.push(text(p, f.y + f.h + 8, formatTick(v, x.step), { baseline: "hanging" }));
  out.push(`</g>`, `<g class="y-ticks" font-size="11" fill="${MUTED}" text-anchor="end">`);
  for (const { v, p } of ys) out.push(text(f.x - 8, p, formatTick(v, y.step), { baseline: "middle" }));
  out.push(`</g>`);
  if (x.label !== "") {
    out.push(text(f.x + f.w / 2, f.y + f.h + 40, x.label, { size: 13, anchor: "middle", cls: "x-label" }));
  }
  if (y.label !== "") {
    const lx = f.x - 8 - tickLabelWidth - 14;
    out.push(text(lx, f.y + f.h / 2, y.label, { size: 13, anchor: "middle", rotate: -90, cls: "y-label" }));
  }
  return out;
}

/** Width of the widest tick label of an axis, in px. */
function tickLabelsWidth(ticks: readonly number[], step: number): number {
  return Math.max(0, ...ticks.map((v) => textWidth(formatTick(v, step), 11)));
}

interface LegendEntry {
  readonly name: string;
  /** SVG of the entry's glyph, drawn in a 24×12 box whose top-left corner is (0, 0). */
  readonly glyph: string;
}

function legendSize(entries: readonly LegendEntry[]): { w: number; h: number } {
  const w = 10 + 24 + 6 + Math.max(0, ...entries.map((e) => textWidth(e.name, 12))) + 10;
  return { w, h: 8 + entries.length * 18 + 2 };
}

function drawLegend(x: number, y: number, entries: readonly LegendEntry[]): string[] {
  if (entries.length === 0) return [];
  const { w, h } = legendSize(entries);
  const out = [
    `<g class="legend" transform="translate(${n(x)} ${n(y)})">`,
    `<rect width="${n(w)}" height="${n(h)}" rx="3" fill="#ffffff" fill-opacity="0.88" stroke="#cccccc"/>`,
  ];
  entries.forEach((e, i) => {
    const cy = 8 + i * 18 + 9;
    out.push(`<g transform="translate(10 ${n(cy - 6)})">${e.glyph}</g>`);
    out.push(text(10 + 24 + 6, cy, e.name, { baseline: "middle" }));
  });
  out.push(`</g>`);
  return out;
}

// ---------------------------------------------------------------------------------------
// Line charts

/** One named curve of a line chart. */
export interface LineSeries {
  /** Name shown in the legend. */
  readonly name: string;
  /** `[x, y]` points, drawn in order; non-finite points break the line. */
  readonly points: readonly (readonly [number, number])[];
  /** Stroke colour (default: the tab10 colour of the series' index). */
  readonly color?: string;
  /** Dashed line (default false). */
  readonly dashed?: boolean;
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  /** Title above the plot. */
  readonly title: string;
  /** Label of the horizontal axis (e.g. "Epoch"). */
  readonly xLabel: string;
  /** Label of the vertical axis (e.g. "Loss"). */
  readonly yLabel: string;
  /** The curves. */
  readonly series: readonly LineSeries[];
  /** Fixed vertical range `[min, max]`; default: nice ticks around the data. */
  readonly yRange?: readonly [number, number];
  /** Fixed horizontal range `[min, max]`; default: nice ticks around the data. */
  readonly xRange?: readonly [number, number];
  /** Document width in px (default 640). */
  readonly width?: number;
  /** Document height in px (default 400). */
  readonly height?: number;
  /** Draw a dot at each point: default when a series has at most 40 points. */
  readonly markers?: boolean;
}

function extent(values: readonly number[]): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/** Axis ticks for a data extent or a fixed range. */
function axisTicks(
  data: [number, number] | undefined,
  fixed: readonly [number, number] | undefined,
  target: number,
  integer: boolean,
): { ticks: readonly number[]; step: number; d0: number; d1: number } {
  if (fixed !== undefined && Number.isFinite(fixed[0]) && Number.isFinite(fixed[1]) && fixed[0] !== fixed[1]) {
    const d0 = Math.min(fixed[0], fixed[1]);
    const d1 = Math.max(fixed[0], fixed[1]);
    const t = niceTicks(d0, d1, target, integer);
    const eps = (d1 - d0) * 1e-9;
    return { ticks: t.values.filter((v) => v >= d0 - eps && v <= d1 + eps), step: t.step, d0, d1 };
  }
  const [a, b] = data ?? [0, 1];
  const t = niceTicks(a, b, target, integer);
  return { ticks: t.values, step: t.step, d0: t.lo, d1: t.hi };
}

/** Renders one line-chart panel into the box (ox, oy, width, height). */
function linePanel(o: LineChartOptions, ox: number, oy: number, width: number, height: number, key: string): string[] {
  const finite = o.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xData = extent(finite.map(([x]) => x));
  const yData = extent(finite.map(([, y]) => y));
  const integerX = finite.length > 0 && finite.every(([x]) => Number.isInteger(x));
  const top = oy + (o.title === "" ? 14 : 40);
  const bottom = oy + height - 52;
  const plotH = Math.max(20, bottom - top);
  const yt = axisTicks(yData, o.yRange, Math.max(2, Math.min(8, Math.round(plotH / 48))), false);
  const yLabelW = tickLabelsWidth(yt.ticks, yt.step);
  const left = ox + 8 + (o.yLabel === "" ? 0 : 22) + yLabelW + 8;
  const right = ox + width - 18;
  const plotW = Math.max(20, right - left);
  const xt = axisTicks(xData, o.xRange, Math.max(2, Math.min(10, Math.round(plotW / 80))), integerX);
  const f: Frame = { x: left, y: top, w: plotW, h: plotH };
  const xs: Scale = { d0: xt.d0, d1: xt.d1, r0: f.x, r1: f.x + f.w };
  const ys: Scale = { d0: yt.d0, d1: yt.d1, r0: f.y + f.h, r1: f.y };
  const clip = idFor("line", key, o.title, width, height);
  const out: string[] = [`<g class="line-chart">`];
  if (o.title !== "") out.push(text(ox + width / 2, oy + 24, o.title, { size: 15, weight: "bold", anchor: "middle", cls: "title" }));
  out.push(
    ...drawAxes(f, { scale: xs, ticks: xt.ticks, step: xt.step, label: o.xLabel }, { scale: ys, ticks: yt.ticks, step: yt.step, label: o.yLabel }, true, yLabelW),
  );
  // Let lines sit on the frame without being half cut.
  out.push(`<clipPath id="${clip}"><rect x="${n(f.x - 4)}" y="${n(f.y - 4)}" width="${n(f.w + 8)}" height="${n(f.h + 8)}"/></clipPath>`);
  out.push(`<g class="series" clip-path="url(#${clip})" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">`);
  const screen: { x: number; y: number }[] = [];
  o.series.forEach((s, i) => {
    const color = s.color ?? colorOf(i);
    let d = "";
    let pen = false;
    const dots: string[] = [];
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      const px = project(xs, x);
      const py = project(ys, y);
      screen.push({ x: px, y: py });
      d += `${pen ? "L" : "M"}${n(px)} ${n(py)}`;
      pen = true;
      dots.push(`<circle cx="${n(px)}" cy="${n(py)}" r="2.6"/>`);
    }
    const dash = s.dashed === true ? ` stroke-dasharray="6 4"` : "";
    out.push(`<path class="line" data-series="${escapeXml(s.name)}" d="${d}" stroke="${escapeXml(color)}"${dash}/>`);
    const markers = o.markers ?? dots.length <= 40;
    if (markers && dots.length > 0) out.push(`<g fill="${escapeXml(color)}" stroke="none">${dots.join("")}</g>`);
  });
  out.push(`</g>`);
  // Legend in the corner of the plot holding the fewest points.
  const entries: LegendEntry[] = o.series.map((s, i) => ({
    name: s.name,
    glyph: `<path d="M0 6H24" stroke="${escapeXml(s.color ?? colorOf(i))}" stroke-width="2.5"${s.dashed === true ? ` stroke-dasharray="6 4"` : ""}/>`,
  }));
  if (entries.length > 0) {
    const { w, h } = legendSize(entries);
    const corners = [
      { x: f.x + f.w - w - 8, y: f.y + 8 },
      { x: f.x + f.w - w - 8, y: f.y + f.h - h - 8 },
      { x: f.x + 8, y: f.y + 8 },
      { x: f.x + 8, y: f.y + f.h - h - 8 },
    ];
    let best = corners[0] ?? { x: f.x, y: f.y };
    let bestCount = Infinity;
    for (const c of corners) {
      const count = screen.filter((p) => p.x >= c.x - 4 && p.x <= c.x + w + 4 && p.y >= c.y - 4 && p.y <= c.y + h + 4).length;
      if (count < bestCount) {
        bestCount = count;
        best = c;
      }
    }
    out.push(...drawLegend(best.x, best.y, entries));
  }
  out.push(`</g>`);
  return out;
}

/** A line chart (e.g. loss per epoch) with nice ticks, axis labels and a legend. */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  return svgDocument(width, height, options.title, linePanel(options, 0, 0, width, height, "single"));
}

/** One epoch of training history. */
export interface EpochMetrics {
  /** Epoch number (as the x coordinate; the seeds count from 0). */
  readonly epoch: number;
  /** Mean training loss of the epoch. */
  readonly loss: number;
  /** Training accuracy in [0, 1]. */
  readonly trainAccuracy: number;
  /** Test accuracy in [0, 1], when measured. */
  readonly testAccuracy?: number;
  /** Test loss, when measured. */
  readonly testLoss?: number;
}

/** Options of {@link metricsChart}. */
export interface MetricsChartOptions {
  /** Figure title (default "Metrics by Epoch"). */
  readonly title?: string;
  /** Document width in px (default 1040). */
  readonly width?: number;
  /** Document height in px (default 420). */
  readonly height?: number;
}

/**
 * The seeds' "Model Metrics by Epoch" figure: loss per epoch and accuracy per epoch as two
 * panels side by side, under one title. Accuracy is drawn in [0, 1] (zoomed to the data).
 */
export function metricsChart(history: readonly EpochMetrics[], options: MetricsChartOptions = {}): string {
  const title = options.title ?? "Metrics by Epoch";
  const width = options.width ?? 1040;
  const height = options.height ?? 420;
  const hasTestLoss = history.some((h) => h.testLoss !== undefined);
  const hasTestAcc = history.some((h) => h.testAccuracy !== undefined);
  const lossSeries: LineSeries[] = [{ name: "train loss", points: history.map((h) => [h.epoch, h.loss] as const), color: TAB10[0] }];
  if (hasTestLoss) {
    lossSeries.push({ name: "test loss", points: history.map((h) => [h.epoch, h.testLoss ?? Number.NaN] as const), color: TAB10[1] });
  }
  const accSeries: LineSeries[] = [
    { name: "train accuracy", points: history.map((h) => [h.epoch, h.trainAccuracy] as const), color: TAB10[0] },
  ];
  if (hasTestAcc) {
    accSeries.push({ name: "test accuracy", points: history.map((h) => [h.epoch, h.testAccuracy ?? Number.NaN] as const), color: TAB10[1] });
  }
  const accData = extent(accSeries.flatMap((s) => s.points.map(([, y]) => y)));
  let accRange: [number, number] = [0, 1];
  if (accData !== undefined) {
    const t = niceTicks(accData[0], accData[1], 5);
    accRange = [Math.max(0, t.lo), Math.min(1, t.hi)];
    if (accRange[0] >= accRange[1]) accRange = [0, 1];
  }
  const panelTop = 40;
  const half = width / 2;
  const body = [
    text(width / 2, 28, title, { size: 17, weight: "bold", anchor: "middle", cls: "title" }),
    ...linePanel({ title: "Loss", xLabel: "Epoch", yLabel: "Loss", series: lossSeries }, 0, panelTop, half, height - panelTop, "loss"),
    ...linePanel(
      { title: "Accuracy", xLabel: "Epoch", yLabel: "Accuracy", series: accSeries, yRange: accRange },
      half,
      panelTop,
      half,
      height - panelTop,
      "accuracy",
    ),
  ];
  return svgDocument(width, height, title, body);
}

// ---------------------------------------------------------------------------------------
// Decision regions

/** A grid of predicted classes over a rectangle of the plane. */
export interface ClassGrid {
  /** Left edge of the grid. */
  readonly xMin: number;
  /** Right edge of the grid. */
  readonly xMax: number;
  /** Bottom edge of the grid. */
  readonly yMin: number;
  /** Top edge of the grid. */
  readonly yMax: number;
  /** Number of cells across. */
  readonly nx: number;
  /** Number of cells down. */
  readonly ny: number;
  /**
   * Predicted class of each cell, row-major from the bottom row: `classOf[j * nx + i]` is
   * the class at the centre of cell column `i`, row `j` (see {@link gridCellCenters}).
   */
  readonly classOf: Int32Array;
}

/** A labelled data point. */
export interface LabelledPoint {
  readonly x: number;
  readonly y: number;
  readonly label: number;
}

/** Options of {@link decisionRegions}. */
export interface DecisionRegionsOptions {
  /** The classifier's predictions over the plane. */
  readonly grid: ClassGrid;
  /** Data points drawn on top, coloured by their true label. */
  readonly points: readonly LabelledPoint[];
  /** Names of the classes (default "class 0", "class 1", …). */
  readonly classNames?: readonly string[];
  /** Title above the plot. */
  readonly title: string;
  /** Axis labels (default "x₁" and "x₂"). */
  readonly xLabel?: string;
  /** Axis label of the vertical axis. */
  readonly yLabel?: string;
  /** Document width in px (default 720). */
  readonly width?: number;
  /** Document height in px (default 600). */
  readonly height?: number;
}

/**
 * The centres of the cells of a grid, `[x, y]` pairs in the order of `ClassGrid.classOf`:
 * evaluate the model at these points and fill `classOf` with its argmax.
 */
export function gridCellCenters(grid: Pick<ClassGrid, "xMin" | "xMax" | "yMin" | "yMax" | "nx" | "ny">): Float32Array {
  const { xMin, xMax, yMin, yMax, nx, ny } = grid;
  const out = new Float32Array(nx * ny * 2);
  const dx = (xMax - xMin) / nx;
  const dy = (yMax - yMin) / ny;
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const k = (j * nx + i) * 2;
      out[k] = xMin + (i + 0.5) * dx;
      out[k + 1] = yMin + (j + 0.5) * dy;
    }
  }
  return out;
}

/**
 * Decision regions of a 2-D classifier, like the seed's blobs figure: each grid cell filled
 * with a light tint of its predicted class, the data points on top in the full class colour
 * with a dark outline, axes with nice ticks and a legend of the classes.
 */
export function decisionRegions(options: DecisionRegionsOptions): string {
  const { grid, points, title } = options;
  const { xMin, xMax, yMin, yMax, nx, ny, classOf } = grid;
  if (!(Number.isInteger(nx) && Number.isInteger(ny) && nx > 0 && ny > 0)) {
    throw new Error(`decisionRegions: nx and ny must be positive integers, got ${nx} × ${ny}`);
  }
  if (classOf.length !== nx * ny) {
    throw new Error(`decisionRegions: classOf has ${classOf.length} cells, expected ny·nx = ${ny}·${nx} = ${nx * ny}`);
  }
  if (!(xMax > xMin && yMax > yMin)) {
    throw new Error(`decisionRegions: empty grid rectangle [${xMin}, ${xMax}] × [${yMin}, ${yMax}]`);
  }
  let maxClass = -1;
  for (const c of classOf) if (c > maxClass) maxClass = c;
  for (const p of points) if (p.label > maxClass) maxClass = p.label;
  const nClasses = Math.max(options.classNames?.length ?? 0, maxClass + 1);
  const names = Array.from({ length: nClasses }, (_, k) => options.classNames?.[k] ?? `class ${k}`);
  const fillOf = (k: number) => mix(colorOf(k), "#ffffff", 0.68);
  const dotOf = (k: number) => mix(colorOf(k), "#000000", 0.08);

  const width = options.width ?? 720;
  const height = options.height ?? 600;
  const entries: LegendEntry[] = names.map((name, k) => ({
    name,
    glyph: `<rect width="24" height="12" fill="${fillOf(k)}" stroke="#bbbbbb" stroke-width="0.5"/><circle cx="12" cy="6" r="4" fill="${dotOf(k)}" stroke="${INK}" stroke-width="0.8"/>`,
  }));
  const legend = legendSize(entries);

  const top = 44;
  const bottom = height - 56;
  const plotH = bottom - top;
  const yt = axisTicks(undefined, [yMin, yMax], Math.max(2, Math.round(plotH / 60)), false);
  const yLabelW = tickLabelsWidth(yt.ticks, yt.step);
  const left = 8 + 22 + yLabelW + 8;
  const right = width - legend.w - 24;
  const plotW = Math.max(40, right - left);
  const xt = axisTicks(undefined, [xMin, xMax], Math.max(2, Math.round(plotW / 80)), false);
  const f: Frame = { x: left, y: top, w: plotW, h: plotH };
  const xs: Scale = { d0: xMin, d1: xMax, r0: f.x, r1: f.x + f.w };
  const ys: Scale = { d0: yMin, d1: yMax, r0: f.y + f.h, r1: f.y };
  const clip = idFor("regions", title, width, height, nx, ny);

  const out: string[] = [text(width / 2, 28, title, { size: 16, weight: "bold", anchor: "middle", cls: "title" })];
  out.push(`<clipPath id="${clip}"><rect x="${n(f.x)}" y="${n(f.y)}" width="${n(f.w)}" height="${n(f.h)}"/></clipPath>`);
  // Cells: runs of one class along each row become one rectangle, grouped per class.
  const cw = f.w / nx;
  const ch = f.h / ny;
  const runs: string[][] = Array.from({ length: nClasses }, () => []);
  for (let j = 0; j < ny; j++) {
    let i = 0;
    while (i < nx) {
      const c = classOf[j * nx + i] ?? -1;
      let end = i + 1;
      while (end < nx && classOf[j * nx + end] === c) end++;
      if (c >= 0) {
        // Overlap by a hair so that anti-aliasing leaves no seams between rows.
        const y0 = f.y + f.h - (j + 1) * ch;
        runs[c]?.push(`M${n(f.x + i * cw)} ${n(y0 - 0.3)}h${n((end - i) * cw + 0.3)}v${n(ch + 0.6)}h${n(-(end - i) * cw - 0.3)}z`);
      }
      i = end;
    }
  }
  out.push(`<g class="regions" stroke="none">`);
  runs.forEach((r, k) => {
    if (r.length > 0) out.push(`<path data-class="${k}" fill="${fillOf(k)}" d="${r.join("")}"/>`);
  });
  out.push(`</g>`);
  out.push(...drawAxes(f, { scale: xs, ticks: xt.ticks, step: xt.step, label: options.xLabel ?? "x\u2081" }, { scale: ys, ticks: yt.ticks, step: yt.step, label: options.yLabel ?? "x\u2082" }, false, yLabelW));
  out.push(`<g class="points" clip-path="url(#${clip})" stroke="${INK}" stroke-width="0.8">`);
  const byClass: string[][] = Array.from({ length: nClasses }, () => []);
  for (const p of points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y) || p.label < 0) continue;
    byClass[p.label]?.push(`<circle cx="${n(project(xs, p.x))}" cy="${n(project(ys, p.y))}" r="4.2"/>`);
  }
  byClass.forEach((dots, k) => {
    if (dots.length > 0) out.push(`<g data-class="${k}" fill="${dotOf(k)}">${dots.join("")}</g>`);
  });
  out.push(`</g>`);
  out.push(...drawLegend(f.x + f.w + 16, f.y, entries));
  return svgDocument(width, height, title, out);
}

// ---------------------------------------------------------------------------------------
// Confusion matrix

/** Options of {@link confusionMatrix}. */
export interface ConfusionMatrixOptions {
  /** `matrix[t][p]`: number of samples of true class `t` predicted as `p`. */
  readonly matrix: readonly (readonly number[])[];
  /** Names of the classes, one per row/column. */
  readonly classNames: readonly string[];
  /** Title above the matrix. */
  readonly title: string;
}

/** matplotlib's "Blues" colour map stops. */
const BLUES = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"];

function blues(t: number): string {
  const x = Math.max(0, Math.min(1, t)) * (BLUES.length - 1);
  const i = Math.min(BLUES.length - 2, Math.floor(x));
  return mix(BLUES[i] ?? "#ffffff", BLUES[i + 1] ?? "#08306b", x - i);
}

function formatCount(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/**
 * A confusion matrix as a heatmap (rows: true class, columns: predicted class), each cell
 * showing its count, with the overall accuracy under the title and a colour bar.
 */
export function confusionMatrix(options: ConfusionMatrixOptions): string {
  const { matrix, classNames, title } = options;
  const k = classNames.length;
  if (k === 0) throw new Error("confusionMatrix: no classes");
  if (matrix.length !== k || matrix.some((row) => row.length !== k)) {
    throw new Error(`confusionMatrix: matrix must be ${k} × ${k} (one row and column per class name)`);
  }
  let max = 0;
  let total = 0;
  let correct = 0;
  matrix.forEach((row, t) =>
    row.forEach((v, p) => {
      if (!Number.isFinite(v) || v < 0) throw new Error(`confusionMatrix: cell [${t}][${p}] is ${v}, expected a count ≥ 0`);
      max = Math.max(max, v);
      total += v;
      if (t === p) correct += v;
    }),
  );
  const cell = Math.max(26, Math.min(64, Math.floor(520 / k)));
  const nameW = Math.max(...classNames.map((s) => textWidth(s, 12)));
  const left = 12 + 20 + nameW + 10;
  const top = 74;
  const side = cell * k;
  const barX = left + side + 24;
  const maxLabel = formatCount(max);
  const width = barX + 14 + 8 + Math.max(textWidth(maxLabel, 11), 12) + 16;
  const rotateX = classNames.some((s) => textWidth(s, 12) > cell - 4);
  const xNamesH = rotateX ? nameW * 0.75 + 8 : 18;
  const height = top + side + 8 + xNamesH + 36;
  const countSize = Math.max(9, Math.min(16, Math.round(cell * 0.3)));

  const out: string[] = [
    text(left + side / 2, 26, title, { size: 16, weight: "bold", anchor: "middle", cls: "title" }),
    text(
      left + side / 2,
      48,
      total > 0 ? `accuracy ${((100 * correct) / total).toFixed(2)}% (${formatCount(correct)} / ${formatCount(total)})` : "no samples",
      { size: 12, anchor: "middle", fill: MUTED, cls: "subtitle" },
    ),
    `<g class="cells" font-size="${countSize}" text-anchor="middle">`,
  ];
  matrix.forEach((row, t) =>
    row.forEach((v, p) => {
      const x = left + p * cell;
      const y = top + t * cell;
      const shade = max > 0 ? v / max : 0;
      out.push(`<rect x="${n(x)}" y="${n(y)}" width="${cell}" height="${cell}" fill="${blues(shade)}"/>`);
      out.push(text(x + cell / 2, y + cell / 2, formatCount(v), { baseline: "middle", fill: shade > 0.45 ? "#ffffff" : INK, weight: t === p ? "bold" : "normal" }));
    }),
  );
  out.push(`</g>`);
  out.push(`<rect x="${n(left)}" y="${n(top)}" width="${side}" height="${side}" fill="none" stroke="${INK}"/>`);
  // Class names: rows on the left, columns below.
  out.push(`<g class="y-ticks" font-size="12" text-anchor="end">`);
  classNames.forEach((name, t) => out.push(text(left - 8, top + t * cell + cell / 2, name, { baseline: "middle" })));
  out.push(`</g>`, `<g class="x-ticks" font-size="12">`);
  classNames.forEach((name, p) => {
    const cx = left + p * cell + cell / 2;
    out.push(
      rotateX
        ? text(cx, top + side + 8, name, { anchor: "end", rotate: -45, baseline: "hanging" })
        : text(cx, top + side + 8, name, { anchor: "middle", baseline: "hanging" }),
    );
  });
  out.push(`</g>`);
  out.push(text(left + side / 2, top + side + 8 + xNamesH + 20, "predicted", { size: 13, anchor: "middle", cls: "x-label" }));
  out.push(text(14, top + side / 2, "true", { size: 13, anchor: "middle", rotate: -90, baseline: "hanging", cls: "y-label" }));
  // Colour bar.
  const grad = idFor("blues", title, k, max);
  out.push(`<linearGradient id="${grad}" x1="0" y1="1" x2="0" y2="0">`);
  BLUES.forEach((c, i) => out.push(`<stop offset="${n(i / (BLUES.length - 1))}" stop-color="${c}"/>`));
  out.push(`</linearGradient>`);
  out.push(`<rect class="colorbar" x="${n(barX)}" y="${n(top)}" width="14" height="${side}" fill="url(#${grad})" stroke="#999999" stroke-width="0.5"/>`);
  out.push(`<g font-size="11" fill="${MUTED}">`);
  out.push(text(barX + 20, top + 4, maxLabel, { baseline: "middle" }));
  out.push(text(barX + 20, top + side - 4, "0", { baseline: "middle" }));
  out.push(`</g>`);
  return svgDocument(width, height, title, out);
}
