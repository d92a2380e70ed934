import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  createEpochProgress,
  formatDuration,
  formatLoss,
  formatRate,
} from "../src/toolkit/report/progress.js";

/** A stream that records what is written; `isTTY` as asked. */
class FakeStream extends Writable {
  readonly chunks: string[] = [];
  readonly isTTY: boolean;
  readonly columns = 100;
  constructor(isTTY: boolean) {
    super();
    this.isTTY = isTTY;
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
    cb();
  }
  text(): string {
    return this.chunks.join("");
  }
}

/** A clock advancing `stepMs` per call, starting at 0. */
function fakeClock(stepMs: number): () => number {
  let t = -stepMs;
  return () => (t += stepMs);
}

describe("createEpochProgress without a TTY", () => {
  it("writes exactly one plain line per epoch", () => {
    const stream = new FakeStream(false);
    for (let epoch = 1; epoch <= 2; epoch++) {
      const p = createEpochProgress({ epoch, epochs: 20, totalBatches: 13, stream, now: fakeClock(1500) });
      for (let b = 0; b < 13; b++) p.update(b, { loss: 1.3930088 / (b + 1), samplesPerSecond: 1083.3 });
      p.finish(`accuracy 0.${epoch}5`);
    }
    expect(stream.text()).toBe(
      "epoch  1/20  13/13 batches  1.50s  1,083 samples/s  accuracy 0.15\n" +
        "epoch  2/20  13/13 batches  1.50s  1,083 samples/s  accuracy 0.25\n",
    );
  });

  it("writes quarter lines when asked, once each, and no carriage returns or escapes", () => {
    const stream = new FakeStream(false);
    const p = createEpochProgress({
      epoch: 3,
      epochs: 5,
      totalBatches: 8,
      stream,
      milestones: true,
      now: fakeClock(65_000),
    });
    for (let b = 0; b < 8; b++) p.update(b, { loss: 0.5 - b * 0.01, samplesPerSecond: 42.123 });
    p.finish("");
    p.finish("twice is ignored");
    p.update(9, { loss: 0, samplesPerSecond: 0 });
    const text = stream.text();
    expect(text).toBe(
      "epoch 3/5  batch 2/8 (25%)  loss 0.4900  42.1 samples/s\n" +
        "epoch 3/5  batch 4/8 (50%)  loss 0.4700  42.1 samples/s\n" +
        "epoch 3/5  batch 6/8 (75%)  loss 0.4500  42.1 samples/s\n" +
        "epoch 3/5  8/8 batches  1m05s  42.1 samples/s\n",
    );
    expect(text).not.toMatch(/[\r\x1b]/);
  });

  it("writes only the last quarter crossed by a jump, and handles few batches", () => {
    const stream = new FakeStream(false);
    const p = createEpochProgress({ epoch: 1, epochs: 1, totalBatches: 2, stream, milestones: true, now: fakeClock(10) });
    p.update(0, { loss: 2, samplesPerSecond: 10 }); // 50 %: crosses 25 % and 50 %
    p.update(1, { loss: 1, samplesPerSecond: 10 }); // 100 %: crosses 75 %
    p.finish("done");
    expect(stream.text()).toBe(
      "epoch 1/1  batch 1/2 (50%)  loss 2.0000  10.0 samples/s\n" +
        "epoch 1/1  batch 2/2 (75%)  loss 1.0000  10.0 samples/s\n" +
        "epoch 1/1  2/2 batches  0.01s  10.0 samples/s  done\n",
    );
  });

  it("reports an epoch that ended early or never started", () => {
    const stream = new FakeStream(false);
    createEpochProgress({ epoch: 1, epochs: 1, totalBatches: 10, stream, now: fakeClock(0) }).finish("stopped");
    expect(stream.text()).toBe("epoch 1/1  0/10 batches  0.00s  - samples/s  stopped\n");
    expect(() => createEpochProgress({ epoch: 1, epochs: 1, totalBatches: 1.5, stream })).toThrow(/totalBatches/);
  });
});

describe("createEpochProgress on a TTY", () => {
  it("draws a bar, then clears it and writes the summary line", () => {
    const stream = new FakeStream(true);
    const p = createEpochProgress({ epoch: 1, epochs: 2, totalBatches: 50, stream });
    for (let b = 0; b < 50; b++) p.update(b, { loss: 0.3151, samplesPerSecond: 10_772 });
    p.finish("accuracy 0.9147");
    const text = stream.text();
    expect(text).toContain("epoch 1/2");
    expect(text).toMatch(/\d+\/50/);
    expect(text).toContain("ETA");
    expect(text).toMatch(/epoch 1\/2 {2}50\/50 batches {2}\S+ {2}10,772 samples\/s {2}accuracy 0\.9147\n$/);
  });

  it("shows loss and rate in the bar once a redraw happens", async () => {
    const stream = new FakeStream(true);
    const p = createEpochProgress({ epoch: 2, epochs: 2, totalBatches: 4, stream });
    p.update(1, { loss: 0.25, samplesPerSecond: 2048 });
    await new Promise((r) => setTimeout(r, 250)); // the bar's own redraw timer
    p.finish("ok");
    expect(stream.text()).toContain("loss 0.2500 | 2,048 samples/s");
  });
});

describe("formatters", () => {
  it("format losses, rates and durations", () => {
    expect(formatLoss(0.31510896680412503)).toBe("0.3151");
    expect(formatLoss(0.00010444)).toBe("1.044e-4");
    expect(formatLoss(0)).toBe("0.0000");
    expect(formatLoss(Number.NaN)).toBe("NaN");
    expect(formatRate(87.61)).toBe("87.6");
    expect(formatRate(1181.85)).toBe("1,182");
    expect(formatRate(1234567)).toBe("1,234,567");
    expect(formatRate(Number.NaN)).toBe("-");
    expect(formatDuration(420)).toBe("0.42s");
    expect(formatDuration(12_345)).toBe("12.3s");
    expect(formatDuration(125_000)).toBe("2m05s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
  });
});
