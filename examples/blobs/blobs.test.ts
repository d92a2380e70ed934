import { describe, expect, it } from "vitest";
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

  it("depends on the seed", async () => {
    const a = await trainBlobs({ epochs: 2, seed: 1 });
    const b = await trainBlobs({ epochs: 2, seed: 2 });
    expect(a.history[1]?.loss).not.toBe(b.history[1]?.loss);
    a.trainer.dispose();
    b.trainer.dispose();
  });
});
