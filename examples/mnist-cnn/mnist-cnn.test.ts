import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import { lrSequence, oneCycleLR, predictions } from "@graft/compiler";
import { MNIST_PIXELS } from "../shared/mnist.js";
import { bundleLogits, loadBundle, type LoadedClassifier } from "./check.js";
import { BUNDLE_FILE, confusionCounts, forwardWeights, logitsOf, parseCnnArgs, percent, RECIPE, stateDict, trainCnn, writeArtifacts, type Artifacts, type CnnRun } from "./main.js";
import { CANVAS_SIDE } from "./page.js";
import { preprocessDigit } from "./preprocess.js";

const dir = mkdtempSync(join(tmpdir(), "graft-mnist-cnn-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("command line", () => {
  it("defaults to the recipe and parses every option", () => {
    expect(parseCnnArgs([])).toEqual({ out: undefined });
    expect(
      parseCnnArgs(["--epochs", "3", "--batch-size", "32", "--optimizer", "adamw:lr=1e-3", "--lr-schedule", "cosine", "--augment", "off", "--backend", "js", "--seed", "5", "--train-size", "100", "--test-size", "50", "--out", "x"]),
    ).toEqual({ out: "x", epochs: 3, batchSize: 32, optimizer: "adamw:lr=1e-3", schedule: "cosine", augment: false, backend: "js", seed: 5, trainSize: 100, testSize: 50 });
    expect(parseCnnArgs(["--lr-schedule", "none"]).schedule).toBe("none");
    expect(RECIPE).toEqual({ optimizer: "adam:lr=3e-3", batchSize: 64, epochs: 10, schedule: "onecycle", augment: true });
  });

  it("refuses bad options with a message naming them", () => {
    expect(() => parseCnnArgs(["--backend", "gpu"])).toThrow("--backend must be js, wasm or reference, got 'gpu'");
    expect(() => parseCnnArgs(["--augment", "yes"])).toThrow("--augment must be on or off, got 'yes'");
    expect(() => parseCnnArgs(["--epochs", "0"])).toThrow("--epochs must be an integer ≥ 1, got '0'");
    expect(() => parseCnnArgs(["--batch-size", "many"])).toThrow("--batch-size must be an integer ≥ 1, got 'many'");
    expect(() => parseCnnArgs(["--seed", "1.5"])).toThrow("--seed must be an integer ≥ 0, got '1.5'");
    expect(() => parseCnnArgs(["--train-size", ""])).toThrow("--train-size must be an integer ≥ 1, got ''");
    expect(() => parseCnnArgs(["--optimizer", "adamax"])).toThrow(/^--optimizer: .*adamax/);
    expect(() => parseCnnArgs(["--lr-schedule", "wobble"])).toThrow(`--lr-schedule: lr schedule "wobble": unknown schedule 'wobble'`);
    expect(() => parseCnnArgs(["--bogus"])).toThrow("Unknown option '--bogus'");
  });

  it("formats accuracies with one decimal", () => {
    expect(percent(0.9855)).toBe("98.6%");
    expect(percent(1)).toBe("100.0%");
  });
});

/** A `width × height` blank canvas with the rectangle [top, bottom) × [left, right) filled with `value`. */
const rectangle = (width: number, height: number, top: number, bottom: number, left: number, right: number, value = 1): Float32Array => {
  const pixels = new Float32Array(width * height);
  for (let row = top; row < bottom; row++) pixels.fill(value, row * width + left, row * width + right);
  return pixels;
};

/** Rows and columns of `image` (28×28) holding values above 0. */
const extent = (image: Float32Array): { rows: number[]; cols: number[] } => {
  const rows = new Set<number>();
  const cols = new Set<number>();
  image.forEach((v, i) => {
    if (v > 0) {
      rows.add(Math.floor(i / 28));
      cols.add(i % 28);
    }
  });
  return { rows: [...rows].sort((a, b) => a - b), cols: [...cols].sort((a, b) => a - b) };
};

describe("preprocessing a drawn digit (bounding box → 20×20 keeping aspect, centred by mass in 28×28)", () => {
  it("returns undefined for a blank canvas", () => {
    expect(preprocessDigit(new Float32Array(280 * 280), 280, 280)).toBeUndefined();
    expect(preprocessDigit(new Float32Array(100).fill(0.04), 10, 10)).toBeUndefined();
  });

  it("scales the longer side to 20 pixels, keeps the aspect ratio and centres the mass", () => {
    // a 200 × 50 bar in the top-left corner of a 280 × 280 canvas: 20 × 5 pixels, centred
    const bar = preprocessDigit(rectangle(280, 280, 10, 60, 0, 200), 280, 280);
    expect(bar).toBeDefined();
    const { rows, cols } = extent(bar ?? new Float32Array(784));
    expect(cols).toEqual(Array.from({ length: 20 }, (_, k) => 4 + k));
    expect(rows).toEqual([12, 13, 14, 15, 16]);
    expect(bar?.every((v) => v === 0 || v === 1)).toBe(true);
    // tall and thin, anywhere: 20 high, 4 wide
    const post = preprocessDigit(rectangle(300, 200, 100, 200, 250, 270, 0.5), 300, 200);
    const postExtent = extent(post ?? new Float32Array(784));
    expect(postExtent.rows).toEqual(Array.from({ length: 20 }, (_, k) => 4 + k));
    expect(postExtent.cols).toEqual([12, 13, 14, 15]);
    expect(post?.reduce((a, b) => Math.max(a, b), 0)).toBeCloseTo(0.5, 6);
  });

  it("averages the area each output pixel covers", () => {
    // a 40 × 40 checkerboard of 1-pixel squares: every output pixel covers 2 × 2 source pixels, half lit
    const board = Float32Array.from({ length: 40 * 40 }, (_, i) => ((Math.floor(i / 40) + (i % 40)) % 2 === 0 ? 1 : 0));
    const out = preprocessDigit(board, 40, 40) ?? new Float32Array(784);
    const lit = [...out].filter((v) => v > 0);
    expect(lit).toHaveLength(400);
    for (const v of lit) expect(v).toBeCloseTo(0.5, 6);
  });

  it("gives back an MNIST digit drawn ten times larger, up to a one-pixel shift (MNIST digits are made this way)", async () => {
    const { loadMnist } = await import("../shared/mnist.js");
    const { test } = loadMnist({ trainSize: 0, testSize: 20, seed: 0 });
    /** `image` moved down by dy and right by dx. */
    const shifted = (image: Float32Array, dy: number, dx: number): Float32Array =>
      Float32Array.from({ length: MNIST_PIXELS }, (_, i) => {
        const row = Math.floor(i / 28) - dy;
        const col = (i % 28) - dx;
        return row < 0 || row >= 28 || col < 0 || col >= 28 ? 0 : (image[row * 28 + col] ?? 0);
      });
    let exact = 0;
    for (let k = 0; k < test.count; k++) {
      const digit = test.images.slice(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS);
      const big = new Float32Array(280 * 280);
      for (let i = 0; i < 280 * 280; i++) big[i] = digit[Math.floor(i / 2800) * 28 + Math.floor((i % 280) / 10)] ?? 0;
      const again = preprocessDigit(big, 280, 280) ?? new Float32Array(784);
      const differences = [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => shifted(digit, dy, dx).reduce((sum, v, i) => sum + Math.abs(v - (again[i] ?? 0)), 0) / MNIST_PIXELS));
      // the centre of mass is rounded to whole pixels, MNIST's was computed before its own rounding
      expect(Math.min(...differences)).toBeLessThan(1e-3);
      if ((differences[4] ?? 1) < 1e-3) exact++;
    }
    expect(exact).toBeGreaterThanOrEqual(8);
  });
});

// One short run shared by the artifact, bundle and browser tests: 1 epoch on 2,000 digits
// without augmentation, a few seconds of training on wasm.
const TRAIN_SIZE = 2000;
const TEST_SIZE = 300;
let run: CnnRun | undefined;
let artifacts: Artifacts | undefined;
const shortRun = async (): Promise<{ run: CnnRun; artifacts: Artifacts }> => {
  if (run === undefined) {
    run = await trainCnn({ epochs: 1, trainSize: TRAIN_SIZE, testSize: TEST_SIZE, augment: false, schedule: "none", optimizer: "adam:lr=2e-3", progress: null });
    artifacts = await writeArtifacts(run, dir);
  }
  if (artifacts === undefined) throw new Error("no artifacts");
  return { run, artifacts };
};
afterAll(() => run?.trainer.dispose());

describe("a short run (1 epoch on 2,000 digits)", () => {
  it("learns, and writes every artifact", async () => {
    const { run, artifacts } = await shortRun();
    expect(run.history).toHaveLength(1);
    expect(run.history[0]?.loss).toBeLessThan(1.5);
    expect(run.testAccuracy).toBeGreaterThan(0.8);
    expect(run.history[0]?.testAccuracy).toBe(run.testAccuracy);
    expect(artifacts.files).toEqual(["weights.safetensors", "metrics.svg", "confusion.svg", BUNDLE_FILE, "mnist_cnn.d.mts", "index.html", "metrics.json"]);
    for (const file of artifacts.files) expect(existsSync(join(dir, file))).toBe(true);
    expect(readFileSync(join(dir, "metrics.svg"), "utf8")).toContain("<svg");
    expect(readFileSync(join(dir, "confusion.svg"), "utf8")).toContain(`test confusion matrix (${percent(run.testAccuracy)})`);
    const confusion = confusionCounts(run.test.labels, run.testPredictions);
    expect(confusion.flat().reduce((a, b) => a + b, 0)).toBe(TEST_SIZE);
    expect(confusion.reduce((sum, row, d) => sum + (row[d] ?? 0), 0) / TEST_SIZE).toBeCloseTo(run.testAccuracy, 10);
    const metrics = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")) as { settings: Record<string, unknown>; testAccuracy: number; bundleCheck: { rows: number; mismatches: number }; history: unknown[] };
    expect(metrics.settings).toMatchObject({ optimizer: expect.stringMatching(/^adam:lr=0.002,/), schedule: "none", batchSize: 64, epochs: 1, augment: false, backend: "wasm", seed: 0, trainSize: TRAIN_SIZE, testSize: TEST_SIZE });
    expect(metrics.testAccuracy).toBe(run.testAccuracy);
    expect(metrics.bundleCheck).toMatchObject({ rows: TEST_SIZE, mismatches: 0 });
    expect(metrics.history).toHaveLength(1);
  });

  it("saves the state dict of the same nn.Module, batch-norm buffers included", async () => {
    const { run } = await shortRun();
    const weights = decodeSafetensors(readFileSync(join(dir, "weights.safetensors")));
    const shapes = Object.fromEntries([...weights.tensors].map(([name, t]) => [name, t.shape]));
    expect(shapes).toEqual({
      "bn1.bias": [16],
      "bn1.num_batches_tracked": [],
      "bn1.running_mean": [16],
      "bn1.running_var": [16],
      "bn1.weight": [16],
      "bn2.bias": [32],
      "bn2.num_batches_tracked": [],
      "bn2.running_mean": [32],
      "bn2.running_var": [32],
      "bn2.weight": [32],
      "conv1.bias": [16],
      "conv1.weight": [16, 1, 5, 5],
      "conv2.bias": [32],
      "conv2.weight": [32, 16, 5, 5],
      "fc1.bias": [128],
      "fc1.weight": [128, 512],
      "fc2.bias": [10],
      "fc2.weight": [10, 128],
    });
    // the buffers are the trained ones: one batch counted per step, running statistics moved
    const steps = Math.ceil(TRAIN_SIZE / 64);
    expect(Array.from(weights.tensors.get("bn1.num_batches_tracked")?.data ?? [])).toEqual([steps]);
    expect(Array.from(weights.tensors.get("bn2.running_var")?.data ?? []).some((v) => Math.abs(v - 1) > 0.01)).toBe(true);
    expect(weights.tensors.get("fc1.weight")?.data).toEqual(run.trainer.getState()["fc1.weight"]?.data);
    expect(forwardWeights(stateDict(run.trainer)).map((t) => t.name)).not.toContain("bn1.num_batches_tracked");
  });

  it("evaluates in eval mode: forward is deterministic and uses the running statistics", async () => {
    const { run } = await shortRun();
    const set = { images: run.test.images.subarray(0, 8 * MNIST_PIXELS), labels: run.test.labels.subarray(0, 8), count: 8 };
    const once = logitsOf(run.trainer, set);
    expect(logitsOf(run.trainer, set).data).toEqual(once.data);
    // a row's logits do not depend on the rest of the batch (no batch statistics, no dropout)
    const inChunks = logitsOf(run.trainer, set, 8, 3);
    inChunks.data.forEach((v, i) => expect(v).toBeCloseTo(Number(once.data[i]), 4));
  });

  it("refuses to write a bundle that disagrees with the trained model, saying how much", async () => {
    const { run } = await shortRun();
    // pretend the trained model predicted class (p + 1) % 10 for the first 5 test digits
    const logits = Float32Array.from(run.testLogits.data as Float32Array);
    for (let row = 0; row < 5; row++) {
      const p = run.testPredictions[row] ?? 0;
      logits[row * 10 + ((p + 1) % 10)] = (logits[row * 10 + p] ?? 0) + 1;
    }
    const other = join(dir, "disagreeing");
    await expect(writeArtifacts({ ...run, testLogits: { ...run.testLogits, data: logits } }, other)).rejects.toThrow(
      new RegExp(`^mnist-cnn: the bundle predicts 5 of ${TEST_SIZE} test digits differently from the trained model \\(max logit difference \\d`),
    );
  });

  it("writes a bundle that predicts like the trained model on the test set", async () => {
    const { run, artifacts } = await shortRun();
    expect(artifacts.check).toMatchObject({ rows: TEST_SIZE, mismatches: 0 });
    expect(artifacts.check.maxDifference).toBeLessThan(1e-4);
    const bundle = await loadBundle(join(dir, BUNDLE_FILE));
    const logits = bundleLogits(bundle, run.test.images, TEST_SIZE);
    expect(predictions({ shape: [TEST_SIZE, 10], data: logits })).toEqual(run.testPredictions);
  });
});

describe("the learning-rate schedule and a diverging run", () => {
  it("steps OneCycleLR per batch, ending at max_lr / 25 / 1e4", async () => {
    const run = await trainCnn({ epochs: 2, trainSize: 128, testSize: 16, progress: null });
    try {
      // 2 batches per epoch, 4 steps: epoch 1 ends with batch 2's lr, epoch 2 with batch 4's, the minimum
      const lrs = lrSequence(oneCycleLR(), { lr: 3e-3, epochs: 2, batchesPerEpoch: 2 }, 4);
      expect(run.history.map((epoch) => epoch.lr)).toEqual([lrs[1], lrs[3]]);
      expect(lrs[3]).toBeCloseTo(3e-3 / 25 / 1e4, 15);
      expect(run.settings.schedule).toMatch(/^OneCycleLR\(/);
    } finally {
      run.trainer.dispose();
    }
  });

  it("stops with a message when the loss is not finite", async () => {
    await expect(trainCnn({ epochs: 2, trainSize: 256, testSize: 16, progress: null, optimizer: "sgd:lr=1e30", schedule: "none", augment: false })).rejects.toThrow(
      /^mnist-cnn: the loss is (NaN|Infinity) after epoch 1; lower the learning rate$/,
    );
  });
});

const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
const TYPES: Readonly<Record<string, string>> = { ".html": "text/html; charset=utf-8", ".mjs": "text/javascript; charset=utf-8" };

/** Serves `root` on 127.0.0.1. */
const serve = (root: string): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer((request, response) => {
      const path = normalize(join(root, new URL(request.url ?? "/", "http://127.0.0.1").pathname));
      const file = path.endsWith("/") ? join(path, "index.html") : path;
      if (!file.startsWith(root) || !existsSync(file)) {
        response.writeHead(404).end("not found");
        return;
      }
      response.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
      response.end(readFileSync(file));
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });

interface PageState {
  readonly input: number[] | null;
  readonly prediction: number | null;
  readonly probabilities: number[] | null;
  readonly shown: string;
  readonly ink: number;
}

const pageState = (page: Page): Promise<PageState> =>
  page.evaluate(() => {
    const state = globalThis as unknown as { __digitInput: number[] | null; __digitPrediction: number | null; __digitProbabilities: number[] | null };
    const canvas = document.getElementById("pad") as HTMLCanvasElement;
    const pixels = (canvas.getContext("2d") as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
    let ink = 0;
    for (let i = 0; i < pixels.length; i += 4) ink += pixels[i] ?? 0;
    return { input: state.__digitInput, prediction: state.__digitPrediction, probabilities: state.__digitProbabilities, shown: document.getElementById("prediction")?.textContent ?? "", ink };
  });

/** The red channel of the drawing canvas, as intensities in [0, 1]. */
const canvasIntensity = async (page: Page): Promise<Float32Array> =>
  Float32Array.from(
    await page.evaluate(() => {
      const canvas = document.getElementById("pad") as HTMLCanvasElement;
      const pixels = (canvas.getContext("2d") as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
      return Array.from({ length: canvas.width * canvas.height }, (_, i) => (pixels[4 * i] ?? 0) / 255);
    }),
  );

/** Draws strokes (points in canvas pixels, 0..280) with the mouse. */
const drawStrokes = async (page: Page, strokes: ReadonlyArray<ReadonlyArray<readonly [number, number]>>): Promise<void> => {
  const box = await page.locator("#pad").boundingBox();
  if (box === null) throw new Error("the canvas is not visible");
  for (const stroke of strokes) {
    const [first, ...rest] = stroke;
    if (first === undefined) continue;
    await page.mouse.move(box.x + first[0], box.y + first[1]);
    await page.mouse.down();
    for (const [x, y] of rest) await page.mouse.move(box.x + x, box.y + y, { steps: 4 });
    await page.mouse.up();
  }
};

/** A "0": an ellipse. */
const ZERO: ReadonlyArray<ReadonlyArray<readonly [number, number]>> = [Array.from({ length: 25 }, (_, k) => [140 + 55 * Math.sin((2 * Math.PI * k) / 24), 140 - 90 * Math.cos((2 * Math.PI * k) / 24)] as const)];
/** A "1": one vertical stroke. */
const ONE: ReadonlyArray<ReadonlyArray<readonly [number, number]>> = [
  [
    [140, 40],
    [140, 240],
  ],
];

describe.skipIf(!available)(available ? "the browser page in headless Chromium" : `the browser page in headless Chromium — skipped: ${CHROMIUM} is missing (apt-get install chromium)`, () => {
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let bundle: LoadedClassifier | undefined;
  const errors: string[] = [];

  beforeAll(async () => {
    await shortRun();
    bundle = await loadBundle(join(dir, BUNDLE_FILE));
    server = await serve(dir);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
    page = await browser.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("pageerror", (caught) => errors.push(caught.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => "__digitReady" in globalThis && (globalThis as { __digitReady?: boolean }).__digitReady === true, undefined, { timeout: 30_000 });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  });

  const openPage = (): Page => {
    if (page === undefined) throw new Error("no page");
    return page;
  };

  /** Draws `strokes`, then checks the page against preprocessDigit and the bundle in Node; returns the page's prediction. */
  const drawAndCheck = async (strokes: ReadonlyArray<ReadonlyArray<readonly [number, number]>>): Promise<number> => {
    const page = openPage();
    await drawStrokes(page, strokes);
    const state = await pageState(page);
    expect(state.ink).toBeGreaterThan(0);
    expect(state.input).not.toBeNull();
    const input = Float32Array.from(state.input ?? []);
    expect(input).toHaveLength(MNIST_PIXELS);
    // the page ran the same preprocessing as Node on its canvas
    expect(input).toEqual(preprocessDigit(await canvasIntensity(page), CANVAS_SIDE, CANVAS_SIDE));
    // and the bundle in Node classifies that input as the page does
    if (bundle === undefined) throw new Error("no bundle");
    const logits = bundleLogits(bundle, input, 1);
    const expected = predictions({ shape: [1, 10], data: logits })[0];
    expect(state.prediction).toBe(expected);
    expect(state.shown).toBe(String(expected));
    const probabilities = state.probabilities ?? [];
    expect(probabilities).toHaveLength(10);
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(probabilities.indexOf(Math.max(...probabilities))).toBe(expected);
    return state.prediction ?? -1;
  };

  it("classifies a drawn 1 and a drawn 0 as the bundle does in Node", async () => {
    expect(await drawAndCheck(ONE)).toBe(1);
    await openPage().click("#clear");
    expect(await drawAndCheck(ZERO)).toBe(0);
    expect(errors).toEqual([]);
  });

  it("draws with a finger too (touch events)", async () => {
    const page = openPage();
    await page.click("#clear");
    const box = await page.locator("#pad").boundingBox();
    if (box === null) throw new Error("the canvas is not visible");
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Emulation.setTouchEmulationEnabled", { enabled: true, maxTouchPoints: 1 });
    const touch = (type: "touchStart" | "touchMove" | "touchEnd", x: number, y: number): Promise<unknown> =>
      cdp.send("Input.dispatchTouchEvent", { type, touchPoints: type === "touchEnd" ? [] : [{ x: box.x + x, y: box.y + y }] });
    await touch("touchStart", 140, 40);
    for (let y = 50; y <= 240; y += 10) await touch("touchMove", 140, y);
    await touch("touchEnd", 140, 240);
    await page.waitForFunction(() => (globalThis as { __digitPrediction?: number | null }).__digitPrediction !== null, undefined, { timeout: 5_000 });
    const state = await pageState(page);
    expect(state.ink).toBeGreaterThan(0);
    expect(state.prediction).toBe(1);
    await cdp.send("Emulation.setTouchEmulationEnabled", { enabled: false });
    await cdp.detach();
    expect(errors).toEqual([]);
  });

  it("clears the canvas and the prediction", async () => {
    const page = openPage();
    await drawStrokes(page, ONE);
    expect((await pageState(page)).prediction).not.toBeNull();
    await page.click("#clear");
    expect(await pageState(page)).toEqual({ input: null, prediction: null, probabilities: null, shown: "–", ink: 0 });
    expect(errors).toEqual([]);
  });
});
