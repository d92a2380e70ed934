import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import { BUNDLE_FILE, bundleLogits, checkBundle, GENERATE_FILE, heldOutStrings, runGenerateScript, writeArtifacts, type Artifacts } from "./artifacts.js";
import { parseTransformerArgs } from "./main.js";
import {
  CONTEXT,
  createSortTask,
  DIGITS,
  digitAccuracy,
  encodeRows,
  generateSorted,
  IGNORE_INDEX,
  SEP,
  sequenceAccuracy,
  sequenceKey,
  sortedDigits,
  teacherForcedHits,
  VOCAB,
  type DigitRows,
  type ForwardLogits,
} from "./task.js";
import { epochSteps, logitsOf, percent, RECIPE, resolveSettings, trainerLogits, trainTransformer, warmupCosine, type TransformerRun } from "./train.js";

const dir = mkdtempSync(join(tmpdir(), "graft-transformer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rowsOf = (...strings: string[]): DigitRows => ({ count: strings.length, digits: Int32Array.from(strings.flatMap((s) => [...s].map(Number))) });

/**
 * A forward that knows the task: at every position from SEP on it puts the largest logit on the
 * next sorted digit of the row's own input digits, reading only positions ≤ its own (causal).
 * `wrongAt` makes it emit `(digit + 1) % 10` at that output step instead.
 */
const oracle =
  (wrongAt?: number): ForwardLogits =>
  (x, rows) => {
    const logits = new Float32Array(rows * CONTEXT * VOCAB);
    for (let row = 0; row < rows; row++) {
      const sorted = sortedDigits(x, row * CONTEXT);
      for (let step = 0; step < DIGITS; step++) {
        const digit = step === wrongAt ? ((sorted[step] ?? 0) + 1) % 10 : (sorted[step] ?? 0);
        logits[(row * CONTEXT + DIGITS + step) * VOCAB + digit] = 5;
      }
    }
    return logits;
  };

describe("the sorting task", () => {
  it("encodes d1 … d8 SEP s1 … s7 as x and −100 × 8, s1 … s8 as y", () => {
    const { x, y } = encodeRows(rowsOf("31415926"));
    expect(Array.from(x.data)).toEqual([3, 1, 4, 1, 5, 9, 2, 6, SEP, 1, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(y.data)).toEqual([...Array<number>(8).fill(IGNORE_INDEX), 1, 1, 2, 3, 4, 5, 6, 9]);
    expect(x.shape).toEqual([1, CONTEXT]);
    expect(sequenceKey([3, 1, 4, 1, 5, 9, 2, 6])).toBe(31415926);
  });

  it("trains on shifted sequences whose targets are the sorted input digits (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 40 }), (seed, batchSize) => {
        const { x, y } = createSortTask(seed, 10).nextBatch(batchSize);
        expect(x.shape).toEqual([batchSize, CONTEXT]);
        for (let row = 0; row < batchSize; row++) {
          const xs = Array.from(x.data.subarray(row * CONTEXT, (row + 1) * CONTEXT));
          const ys = Array.from(y.data.subarray(row * CONTEXT, (row + 1) * CONTEXT));
          const inputs = xs.slice(0, DIGITS);
          const targets = ys.slice(DIGITS);
          expect(inputs.every((d) => Number.isInteger(d) && d >= 0 && d <= 9)).toBe(true);
          expect(xs[DIGITS]).toBe(SEP);
          expect(ys.slice(0, DIGITS)).toEqual(Array<number>(DIGITS).fill(IGNORE_INDEX));
          // sorted: ascending, and a permutation of the inputs
          expect(targets.every((d, i) => i === 0 || (targets[i - 1] ?? 10) <= d)).toBe(true);
          expect([...targets].sort()).toEqual([...inputs].sort());
          // x is y shifted right: the model reads the sorted digits it must predict next
          expect(xs.slice(DIGITS + 1)).toEqual(targets.slice(0, DIGITS - 1));
        }
      }),
      { numRuns: 60 },
    );
  });

  it("draws distinct held-out sequences and never trains on one (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 300 }), (seed, count) => {
        const task = createSortTask(seed, count);
        const keys = new Set(Array.from({ length: count }, (_, row) => sequenceKey(task.heldOut.digits, row * DIGITS)));
        expect(keys.size).toBe(count);
        const { x } = task.nextBatch(64);
        for (let row = 0; row < 64; row++) expect(task.isHeldOut(x.data, row * CONTEXT)).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it("redraws training sequences that are held out, and repeated held-out ones", () => {
    // 200,000 held-out sequences of 10^8: about 1 in 500 random draws is one, so 20,000
    // training rows would hold ~40 of them without the redraw
    const task = createSortTask(7, 200_000);
    const { x } = task.nextBatch(20_000);
    let heldOut = 0;
    for (let row = 0; row < 20_000; row++) if (task.isHeldOut(x.data, row * CONTEXT)) heldOut++;
    expect(heldOut).toBe(0);
    expect(task.isHeldOut(task.heldOut.digits, 5 * DIGITS)).toBe(true);
    // ~200 pairs of 200,000 independent draws would coincide: the held-out ones are redrawn too
    const keys = new Set(Array.from({ length: 200_000 }, (_, row) => sequenceKey(task.heldOut.digits, row * DIGITS)));
    expect(keys.size).toBe(200_000);
  });

  it("is determined by its seed (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (seed) => {
        const [a, b, c] = [createSortTask(seed, 50), createSortTask(seed, 50), createSortTask(seed + 1, 50)];
        expect(a.heldOut.digits).toEqual(b.heldOut.digits);
        expect(a.nextBatch(8)).toEqual(b.nextBatch(8));
        expect(a.nextBatch(8)).toEqual(b.nextBatch(8));
        expect(c.heldOut.digits).not.toEqual(a.heldOut.digits);
      }),
      { numRuns: 30 },
    );
  });

  it("refuses a bad seed, held-out count or batch size with a message", () => {
    expect(() => createSortTask(-1, 10)).toThrow("sort task: the seed must be an integer ≥ 0, got -1");
    expect(() => createSortTask(0, 0)).toThrow("sort task: the held-out count must be an integer in [1, 10000000], got 0");
    expect(() => createSortTask(0, 1.5)).toThrow("sort task: the held-out count must be an integer in [1, 10000000], got 1.5");
    expect(() => createSortTask(0, 5).nextBatch(0)).toThrow("sort task: the batch size must be an integer ≥ 1, got 0");
  });
});

describe("greedy generation", () => {
  const inputs = rowsOf("31415926", "00000000", "98765432", "27182818");

  it("generates the sorted digits with a forward that sorts, feeding back its own tokens", () => {
    const generated = generateSorted(oracle(), inputs);
    expect(Array.from(generated)).toEqual([..."11234569", ..."00000000", ..."23456789", ..."11227888"].map(Number));
    expect(sequenceAccuracy(inputs, generated)).toBe(1);
    expect(digitAccuracy(inputs, generated)).toBe(1);
  });

  it("feeds back the generated token, not the true one (no teacher forcing)", () => {
    const seen: number[][] = [];
    const recording: ForwardLogits = (x, rows) => {
      seen.push(Array.from(x.subarray(0, CONTEXT)));
      return oracle(2)(x, rows);
    };
    const generated = generateSorted(recording, inputs);
    expect(seen).toHaveLength(DIGITS);
    // the third generated digit of 31415926 is 3 (2 + 1): it is what the next forwards read
    expect(Array.from(generated.subarray(0, DIGITS))).toEqual([1, 1, 3, 3, 4, 5, 6, 9]);
    expect(seen[3]?.slice(DIGITS, DIGITS + 4)).toEqual([SEP, 1, 1, 3]);
    expect(sequenceAccuracy(inputs, generated)).toBe(0);
  });

  it("counts exact sequences and digits", () => {
    const generated = generateSorted(oracle(7), inputs);
    expect(sequenceAccuracy(inputs, generated)).toBe(0);
    expect(digitAccuracy(inputs, generated)).toBe(7 / 8);
  });

  it("refuses logits of the wrong size with a message", () => {
    expect(() => generateSorted(() => new Float32Array(5), inputs)).toThrow(`generate: expected 4×${CONTEXT}×${VOCAB} logits, got 5`);
  });

  it("teacher-forced hits are the rows whose scored positions are all right", () => {
    const { x, y } = encodeRows(inputs);
    const right = oracle()(x.data as Int32Array, inputs.count);
    expect(teacherForcedHits(right, y.data as Int32Array)).toBe(4);
    expect(teacherForcedHits(oracle(0)(x.data as Int32Array, inputs.count), y.data as Int32Array)).toBe(0);
    expect(() => teacherForcedHits(new Float32Array(3), y.data as Int32Array)).toThrow(`teacherForcedHits: 3 logits for ${4 * CONTEXT} targets (expected ${VOCAB} logits per target, ${CONTEXT} targets per row)`);
  });
});

describe("the schedule and the command line", () => {
  it("warms up linearly then anneals by a cosine, per step (SequentialLR)", () => {
    let lr = 0.004;
    const target = {
      get learningRate() {
        return lr;
      },
      setLearningRate: (value: number) => {
        lr = value;
      },
    };
    const schedule = warmupCosine(target, 4, 12, 0.25);
    const seen: number[] = [];
    for (let step = 0; step < 12; step++) {
      seen.push(lr);
      schedule.step();
    }
    const expected = [0, 1, 2, 3].map((t) => 0.004 * (0.25 + (0.75 * t) / 4)).concat([0, 1, 2, 3, 4, 5, 6, 7].map((t) => (0.004 * (1 + Math.cos((Math.PI * t) / 8))) / 2));
    seen.forEach((value, i) => expect(value).toBeCloseTo(expected[i] ?? Number.NaN, 12));
  });

  it("spreads the steps over the epochs", () => {
    expect([0, 1, 2].map((e) => epochSteps(10, 3, e))).toEqual([3, 3, 4]);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((e) => epochSteps(RECIPE.steps, RECIPE.epochs, e))).toEqual(Array<number>(8).fill(250));
  });

  it("scales the default epochs and warm-up with the steps", () => {
    expect(resolveSettings({})).toMatchObject({ steps: 2000, epochs: 8, warmup: 100, batchSize: 32, optimizer: "adamw:lr=3e-3,weight_decay=0.01", clipGradNorm: 1, heldOut: 2000, backend: "wasm", seed: 0 });
    expect(resolveSettings({ steps: 100 })).toMatchObject({ steps: 100, epochs: 8, warmup: 5 });
    expect(resolveSettings({ steps: 3 })).toMatchObject({ steps: 3, epochs: 3, warmup: 0 });
  });

  it("parses every option", () => {
    expect(parseTransformerArgs([])).toEqual({ out: undefined });
    expect(
      parseTransformerArgs(["--steps", "400", "--epochs", "4", "--batch-size", "16", "--optimizer", "adam:lr=1e-3", "--warmup", "0", "--clip", "0.5", "--backend", "js", "--seed", "3", "--held-out", "100", "--out", "x"]),
    ).toEqual({ out: "x", steps: 400, epochs: 4, batchSize: 16, optimizer: "adam:lr=1e-3", warmup: 0, clipGradNorm: 0.5, backend: "js", seed: 3, heldOut: 100 });
    expect(percent(0.9954)).toBe("99.5%");
    expect(percent(1)).toBe("100.0%");
  });

  it("refuses bad options with a message naming them", () => {
    expect(() => parseTransformerArgs(["--steps", "0"])).toThrow("--steps must be an integer ≥ 1, got '0'");
    expect(() => parseTransformerArgs(["--batch-size", "x"])).toThrow("--batch-size must be an integer ≥ 1, got 'x'");
    expect(() => parseTransformerArgs(["--seed", "1.5"])).toThrow("--seed must be an integer ≥ 0, got '1.5'");
    expect(() => parseTransformerArgs(["--backend", "gpu"])).toThrow("--backend must be js, wasm or reference, got 'gpu'");
    expect(() => parseTransformerArgs(["--clip=-1"])).toThrow("--clip must be a number > 0 (the largest global gradient norm), got '-1'");
    expect(() => parseTransformerArgs(["--clip", "inf"])).toThrow("--clip must be a number > 0 (the largest global gradient norm), got 'inf'");
    expect(() => parseTransformerArgs(["--held-out", "2000000"])).toThrow("--held-out must be at most 1000000, got '2000000'");
    expect(() => parseTransformerArgs(["--steps", "5", "--epochs", "6"])).toThrow("--epochs (6) must not exceed --steps (5): every epoch takes at least one step");
    expect(() => parseTransformerArgs(["--steps", "100", "--warmup", "100"])).toThrow("--warmup (100 steps) must be less than --steps (100)");
    expect(() => parseTransformerArgs(["--optimizer", "adamw:lr=-1"])).toThrow(/^--optimizer: .*lr/);
    expect(() => parseTransformerArgs(["--bogus"])).toThrow("Unknown option '--bogus'");
    expect(() => parseTransformerArgs(["extra"])).toThrow("Unexpected argument 'extra'");
  });
});

describe("a diverging run", () => {
  it("stops with a message when the loss is not finite", async () => {
    await expect(trainTransformer({ steps: 2, warmup: 0, optimizer: "sgd:lr=1e30", clipGradNorm: 1e30, heldOut: 8, progress: null })).rejects.toThrow(
      /^transformer: the loss is (NaN|Infinity) after epoch [12]; lower the learning rate$/,
    );
  }, 120_000);
});

describe("a short run (120 steps) and its artifacts", () => {
  let run: TransformerRun;
  let artifacts: Artifacts;
  beforeAll(async () => {
    run = await trainTransformer({ steps: 120, epochs: 2, warmup: 20, heldOut: 64, seed: 1, progress: null });
    artifacts = await writeArtifacts(run, dir);
  }, 300_000); // ~15 s on a quiet machine; generous for a loaded CI
  afterAll(() => run.trainer.dispose());

  it("learns: the loss falls, the lr anneals, generation is measured on the held-out set", () => {
    expect(run.history.map((h) => h.steps)).toEqual([60, 120]);
    const [first, second] = run.history;
    expect(first?.loss).toBeLessThan(2.4); // ln 11 ≈ 2.40 is the loss of a uniform guess
    expect(second?.loss).toBeLessThan(first?.loss ?? 0);
    expect(second?.testLoss).toBeLessThan(first?.testLoss ?? 0);
    expect(second?.lr).toBeLessThan(first?.lr ?? 0);
    expect(run.generated).toHaveLength(64 * DIGITS);
    expect(run.sequenceAccuracy).toBe(sequenceAccuracy(run.task.heldOut, run.generated));
    // teacher forcing in evaluation mode gets exactly the sequences generation gets (causal attention)
    expect(run.sequenceAccuracy).toBeGreaterThan(0);
    expect(run.sequenceAccuracy).toBeLessThan(1);
    expect(run.teacherForcedAccuracy).toBe(run.sequenceAccuracy);
    expect(second?.testAccuracy).toBe(run.sequenceAccuracy);
    expect(run.digitAccuracy).toBe(digitAccuracy(run.task.heldOut, run.generated));
  });

  it("is deterministic for a seed", async () => {
    const again = await trainTransformer({ steps: 20, epochs: 1, warmup: 5, heldOut: 64, seed: 1, progress: null });
    const other = await trainTransformer({ steps: 20, epochs: 1, warmup: 5, heldOut: 64, seed: 1, progress: null });
    try {
      expect(other.history[0]?.loss).toBe(again.history[0]?.loss);
      expect(other.generated).toEqual(again.generated);
    } finally {
      again.trainer.dispose();
      other.trainer.dispose();
    }
  }, 120_000);

  it("writes the weights under PyTorch's names, the metrics and a bundle that generates like the trainer", () => {
    expect(artifacts.files).toEqual(["weights.safetensors", "metrics.svg", "metrics.json", BUNDLE_FILE, "transformer.d.mts", GENERATE_FILE]);
    const weights = decodeSafetensors(readFileSync(join(dir, "weights.safetensors")));
    const names = [...weights.tensors.keys()];
    expect(names).toContain("blocks.1.attn.in_proj_weight");
    expect(names).toContain("tok_emb.weight");
    expect(names.some((name) => name.startsWith("adamw.") || name.startsWith("random."))).toBe(false);
    expect(weights.tensors.get("blocks.0.attn.in_proj_weight")?.shape).toEqual([192, 64]);
    expect(names).toHaveLength(2 + 2 * 12 + 2 + 2); // embeddings, 2 blocks, ln_f, head
    const metrics = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")) as { sequenceAccuracy: number; history: unknown[] };
    expect(metrics.sequenceAccuracy).toBe(run.sequenceAccuracy);
    expect(metrics.history).toHaveLength(2);
    expect(readFileSync(join(dir, "metrics.svg"), "utf8")).toContain("<svg");
    expect(artifacts.bundle).toMatch(/generates like the trained model on all 64 held-out sequences, logits within/);
  });

  it("generate.mjs, in its own Node process, generates what the trainer generates", async () => {
    const inputs = heldOutStrings(run, 64);
    const lines = await runGenerateScript(dir, inputs);
    const expected = inputs.map((text, row) => `${text} -> ${Array.from(run.generated.subarray(row * DIGITS, (row + 1) * DIGITS), (t) => (t === SEP ? "|" : String(t))).join("")}`);
    expect(lines).toEqual(expected);
    expect(artifacts.samples.slice(1)).toEqual(expected.slice(0, 3));
  });

  it("refuses a bundle without load() and outputs without logits, naming them", async () => {
    const notABundle = join(dir, "not-a-bundle.mjs");
    writeFileSync(notABundle, "export const answer = 42;\n");
    await expect(checkBundle(notABundle, run)).rejects.toThrow(`transformer: ${notABundle} has no load()`);
    expect(() => bundleLogits({ forward: () => ({}) })(new Int32Array(CONTEXT), 1)).toThrow("transformer: the bundle's forward gave no Float32Array 'logits'");
    expect(() => trainerLogits({ forward: () => ({}) })(new Int32Array(CONTEXT), 1)).toThrow("transformer: forward gave no f32 'logits' output (outputs: none)");
    expect(() => logitsOf({ probs: { shape: [1], dtype: "f32", data: new Float32Array(1) } }, "evaluate")).toThrow("transformer: evaluate gave no f32 'logits' output (outputs: probs)");
  });

  it("generate.mjs refuses a malformed digit string with exit code 2 and a message", async () => {
    const failure = await promisify(execFile)(process.execPath, [join(dir, GENERATE_FILE), "12345678", "1234"]).then(
      () => undefined,
      (thrown: unknown) => thrown as { code?: number; stderr?: string },
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain("generate.mjs: expected 8 digits 0-9, got '1234'");
    const usage = await promisify(execFile)(process.execPath, [join(dir, GENERATE_FILE)]).then(
      () => undefined,
      (thrown: unknown) => thrown as { code?: number; stderr?: string },
    );
    expect(usage?.code).toBe(2);
    expect(usage?.stderr).toContain("usage: node generate.mjs <8 digits>");
  });
});
