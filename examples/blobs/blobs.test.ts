import { existsSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { metricsChart } from "@graft/compiler";
import { CHROMIUM_PATH, renderSvgInBrowser, withChromium } from "../../packages/compiler/scripts/render-svg.js";
import { BLOB_CENTERS, makeBlobs } from "./data.js";
import { blobsDecisionSvg, trainBlobs } from "./main.js";

describe("blobs data", () => {
  it("draws 25 points per blob around the seed's centers, the same for the same seed", () => {
    const data = makeBlobs();
    expect(data.count).toBe(100);
    for (let k = 0; k < 4; k++) {
      const rows = Array.from(data.labels.entries()).filter(([, label]) => label === k).map(([row]) => row);
      expect(rows).toHaveLength(25);
      const [cx, cy] = BLOB_CENTERS[k] ?? [0, 0];
      const meanX = rows.reduce((s, r) => s + (data.features[2 * r] ?? 0), 0) / rows.length;
      const meanY = rows.reduce((s, r) => s + (data.features[2 * r + 1] ?? 0), 0) / rows.length;
      expect(Math.abs(meanX - cx)).toBeLessThan(0.35);
      expect(Math.abs(meanY - cy)).toBeLessThan(0.35);
    }
    expect(makeBlobs().features).toEqual(data.features);
    expect(makeBlobs({ seed: 1 }).features).not.toEqual(data.features);
  });

  it("refuses a bad sample count or std", () => {
    expect(() => makeBlobs({ samples: 0 })).toThrow("blobs: samples must be a positive integer, got 0");
    expect(() => makeBlobs({ samples: 2.5 })).toThrow("blobs: samples must be a positive integer, got 2.5");
    expect(() => makeBlobs({ std: -1 })).toThrow("blobs: std must be ≥ 0, got -1");
  });
});

describe("blobs training (the seed's 2-4-8-4 MLP, Adam lr 0.01, batch 8, 100 epochs)", () => {
  it("reaches 100% training accuracy, deterministically", async () => {
    const first = await trainBlobs();
    const second = await trainBlobs();
    try {
      expect(first.history).toHaveLength(100);
      const last = first.history[99];
      expect(last?.trainAccuracy).toBe(1);
      expect(last?.loss).toBeLessThan(0.05);
      expect(first.history[0]?.loss).toBeGreaterThan(last?.loss ?? Infinity);
      expect(second.history).toEqual(first.history);
      expect(second.trainer.getState()).toEqual(first.trainer.getState());
      const svg = blobsDecisionSvg(first.trainer, first.data, 20);
      expect(svg).toContain("<svg");
      expect(svg).toContain("blob 3");
    } finally {
      first.trainer.dispose();
      second.trainer.dispose();
    }
  });

  it("reaches 100% on the js back end too", async () => {
    const { history, trainer } = await trainBlobs({ backend: "js" });
    trainer.dispose();
    expect(history[99]?.trainAccuracy).toBe(1);
  });

  it("depends on the seed", async () => {
    const a = await trainBlobs({ epochs: 2, seed: 1 });
    const b = await trainBlobs({ epochs: 2, seed: 2 });
    expect(a.history[1]?.loss).not.toBe(b.history[1]?.loss);
    a.trainer.dispose();
    b.trainer.dispose();
  });
});

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium screenshots are) into RGBA pixels. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, color, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      expect({ depth, interlace }).toEqual({ depth: 8, interlace: 0 });
      channels = color === 6 ? 4 : color === 2 ? 3 : 0;
      expect(channels).toBeGreaterThan(0);
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x] ?? 0;
      const left = x >= channels ? (pixels[y * stride + x - channels] ?? 0) : 0;
      const up = y > 0 ? (pixels[(y - 1) * stride + x] ?? 0) : 0;
      const upLeft = y > 0 && x >= channels ? (pixels[(y - 1) * stride + x - channels] ?? 0) : 0;
      const paeth = (): number => {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        return pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      };
      const predictor = [0, left, up, (left + up) >> 1, paeth()][filter] ?? 0;
      pixels[y * stride + x] = (value + predictor) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) rgba[i * 4 + c] = pixels[i * channels + c] ?? 0;
    rgba[i * 4 + 3] = channels === 4 ? (pixels[i * channels + 3] ?? 0) : 255;
  }
  return { width, height, rgba };
}

describe.skipIf(!existsSync(CHROMIUM_PATH))("the SVG figures render in headless Chromium", () => {
  it("the decision regions and the metrics chart render to non-blank PNGs with the class colours", async () => {
    const { data, history, trainer } = await trainBlobs({ epochs: 30 });
    const regions = blobsDecisionSvg(trainer, data, 60);
    trainer.dispose();
    const metrics = metricsChart(history, { title: "blobs" });
    const [regionsPng, metricsPng] = await withChromium(async (browser) => [await renderSvgInBrowser(browser, regions), await renderSvgInBrowser(browser, metrics)]);
    for (const [png, size] of [
      [regionsPng, [720, 600]],
      [metricsPng, [1040, 420]],
    ] as const) {
      const image = decodePng(png);
      expect([image.width, image.height]).toEqual(size);
      let nonWhite = 0;
      const colours = new Set<number>();
      for (let i = 0; i < image.width * image.height; i++) {
        const [r, g, b] = [image.rgba[4 * i] ?? 0, image.rgba[4 * i + 1] ?? 0, image.rgba[4 * i + 2] ?? 0];
        if (r < 245 || g < 245 || b < 245) nonWhite++;
        colours.add((r << 16) | (g << 8) | b);
      }
      expect(nonWhite / (image.width * image.height)).toBeGreaterThan(0.02);
      expect(colours.size).toBeGreaterThan(20);
    }
    // the regions are filled with light tints of the four class colours: most of the plot is not white
    const regionsImage = decodePng(regionsPng);
    let tinted = 0;
    for (let i = 0; i < regionsImage.width * regionsImage.height; i++) if ((regionsImage.rgba[4 * i] ?? 0) < 245 || (regionsImage.rgba[4 * i + 2] ?? 0) < 245) tinted++;
    expect(tinted / (regionsImage.width * regionsImage.height)).toBeGreaterThan(0.4);
  }, 60_000);
});
