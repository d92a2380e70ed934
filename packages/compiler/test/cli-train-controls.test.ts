/**
 * @file `graft train --lr-schedule / --clip-grad-norm / --clip-grad-value` (issue 14): the options
 * reach the trainer, a resumed run replays the schedule, and bad values are refused with exit 2.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { main, type CliIo } from "../src/cli.js";
import { CHECKPOINT_FILE, WEIGHTS_FILE } from "../src/toolkit/cli/commands/train.js";
import { decodeSafetensors } from "@graft/runtime";
import { attachScheduler, parseLrSchedule } from "../src/toolkit/train/index.js";
import * as E from "fp-ts/lib/Either.js";
import { makeBlobs } from "../../../examples/blobs/data.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const BLOBS_MODEL = "examples/blobs/model.ts";
const dir = mkdtempSync(join(tmpdir(), "graft-train-controls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const graft = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
  let out = "";
  let err = "";
  const io: CliIo = { out: (text) => void (out += text), err: (text) => void (err += text), cwd: root };
  const code = await main(argv, { io });
  return { code, out, err };
};

const data = makeBlobs({ samples: 120, seed: 3 });
const csv = join(dir, "blobs.csv");
writeFileSync(csv, `${["x1,x2,label", ...Array.from({ length: data.count }, (_, i) => `${data.features[2 * i]},${data.features[2 * i + 1]},${data.labels[i]}`)].join("\n")}\n`);
const base = ["train", BLOBS_MODEL, "--data", csv, "--batch-size", "16", "--optimizer", "adam:lr=0.05", "--backend", "js"];

describe("graft train: schedules and clipping", () => {
  // T_max and total_steps default to the run's epochs: a run resumed with more epochs gives them explicitly
  for (const schedule of ["cosine:t_max=4,eta_min=0.001", "onecycle:max_lr=0.1,total_steps=24", "plateau:patience=0,factor=0.5"])
    test(`--lr-schedule ${schedule} with --clip-grad-norm: a resumed run ends with the uninterrupted run's weights`, async () => {
      const tag = schedule.split(":")[0] ?? "s";
      const options = ["--lr-schedule", schedule, "--clip-grad-norm", "1.0"];
      const whole = await graft([...base, ...options, "--epochs", "4", "--checkpoint", join(dir, `${tag}-whole`)]);
      expect(whole.err).toBe("");
      expect(whole.code).toBe(0);
      expect(whole.out.split("\n")[0]).toMatch(/; adam:lr=0\.05, (CosineAnnealingLR|OneCycleLR|ReduceLROnPlateau)\(.*\), clip_grad_norm 1, batch 16, js backend$/);
      const first = await graft([...base, ...options, "--epochs", "2", "--checkpoint", join(dir, `${tag}-resumed`)]);
      expect(first.code).toBe(0);
      const second = await graft([...base, ...options, "--epochs", "4", "--checkpoint", join(dir, `${tag}-resumed`), "--resume"]);
      expect(second.err).toBe("");
      expect(second.code).toBe(0);
      expect(readFileSync(join(dir, `${tag}-resumed`, WEIGHTS_FILE))).toEqual(readFileSync(join(dir, `${tag}-whole`, WEIGHTS_FILE)));
    });

  test("a schedule changes the run (step:step_size=1,gamma=0.1 vs none), --clip-grad-value runs", async () => {
    const plain = await graft([...base, "--epochs", "2", "--checkpoint", join(dir, "plain")]);
    const stepped = await graft([...base, "--epochs", "2", "--lr-schedule", "step:step_size=1,gamma=0.1", "--checkpoint", join(dir, "stepped")]);
    expect(plain.code).toBe(0);
    expect(stepped.code).toBe(0);
    expect(readFileSync(join(dir, "stepped", WEIGHTS_FILE))).not.toEqual(readFileSync(join(dir, "plain", WEIGHTS_FILE)));
    const clipped = await graft([...base, "--epochs", "1", "--clip-grad-value", "0.5"]);
    expect(clipped.err).toBe("");
    expect(clipped.out.split("\n")[0]).toMatch(/, clip_grad_value 0\.5, batch 16/);
  });

  test("bad values exit 2 with the option named", async () => {
    const cases: ReadonlyArray<readonly [string[], string]> = [
      [["--lr-schedule", "triangle"], "graft train: --lr-schedule: lr schedule \"triangle\": unknown schedule 'triangle'; expected one of step, multistep, exponential, cosine, linear (warmup), onecycle, plateau (or PyTorch's class names)\n"],
      [["--lr-schedule", "step"], 'graft train: --lr-schedule: lr schedule "step": step needs step_size\n'],
      [["--lr-schedule", "onecycle:total_steps=3"], "graft train: --lr-schedule: OneCycleLR: total_steps = 3 is fewer than the run's 1 epoch × 6 batches = 6 steps\n"],
      [
        ["--optimizer", "sgd:lr=0.1", "--lr-schedule", "onecycle"],
        "graft train: --lr-schedule: OneCycleLR: cycle_momentum needs an optimizer compiled with momentum (sgd:momentum=…, rmsprop:momentum=…, adam, adamw); or pass cycle_momentum=false\n",
      ],
      [["--clip-grad-norm", "0"], "graft train: --clip-grad-norm must be a number > 0, got '0'\n"],
      [["--clip-grad-value", "big"], "graft train: --clip-grad-value must be a number > 0, got 'big'\n"],
    ];
    for (const [extra, message] of cases) {
      const run = await graft([...base, "--epochs", "1", ...extra]);
      expect(run.err, extra.join(" ")).toBe(message);
      expect(run.code).toBe(2);
    }
  });
});

describe("graft train: a checkpoint records the schedule and the clipping; --resume refuses a change (--force overrides)", () => {
  const ck = join(dir, "recorded");
  const path = join(ck, CHECKPOINT_FILE);
  const options = ["--lr-schedule", "step:step_size=1,gamma=0.5", "--clip-grad-norm", "1.0"];

  test("the metadata holds them, every option spelled out", async () => {
    const first = await graft([...base, ...options, "--epochs", "1", "--checkpoint", ck]);
    expect(first.err).toBe("");
    const metadata = decodeSafetensors(readFileSync(path)).metadata;
    expect(metadata.lr_schedule).toBe("StepLR(step_size=1, gamma=0.5)");
    expect(metadata.clip_grad_norm).toBe("1");
    expect(metadata.clip_grad_value).toBeUndefined();
  });

  const refusals: ReadonlyArray<readonly [string[], string]> = [
    [["--clip-grad-norm", "1.0"], "was written with --lr-schedule StepLR(step_size=1, gamma=0.5), this run has none"],
    [["--lr-schedule", "step:step_size=1,gamma=0.1", "--clip-grad-norm", "1.0"], "was written with --lr-schedule StepLR(step_size=1, gamma=0.5), this run has StepLR(step_size=1, gamma=0.1)"],
    [["--lr-schedule", "step:step_size=1,gamma=0.5"], "was written with --clip-grad-norm 1, this run has none"],
    [[...options, "--clip-grad-value", "0.5"], "was written with --clip-grad-value none, this run has 0.5"],
  ];
  for (const [extra, difference] of refusals)
    test(`refuses ${extra.join(" ")}`, async () => {
      const before = readFileSync(path);
      const run = await graft([...base, ...extra, "--epochs", "2", "--checkpoint", ck, "--resume"]);
      expect(run.err).toBe(`graft train: --resume: ${path} ${difference}; resume with the same model, data and settings, or pass --force to resume anyway\n`);
      expect(run.code).toBe(2);
      expect(readFileSync(path)).toEqual(before);
    });

  test("--force resumes with a warning naming the change; the same settings resume silently", async () => {
    const forced = await graft([...base, "--lr-schedule", "cosine:t_max=3", "--clip-grad-norm", "1.0", "--epochs", "2", "--checkpoint", ck, "--resume", "--force"]);
    expect(forced.err).toBe(`graft train: warning: --force: ${path} was written with --lr-schedule StepLR(step_size=1, gamma=0.5), this run has CosineAnnealingLR(T_max=3, eta_min=0)\n`);
    expect(forced.code).toBe(0);
    const same = await graft([...base, "--lr-schedule", "cosine:t_max=3", "--clip-grad-norm", "1.0", "--epochs", "3", "--checkpoint", ck, "--resume"]);
    expect(same.err).toBe("");
    expect(same.code).toBe(0);
  });
});

describe("graft train: ReduceLROnPlateau steps on the held-out loss (the training loss with --split 0)", () => {
  /** The lr ReduceLROnPlateau gives after stepping on `metrics` (the real scheduler, on a stand-in trainer). */
  const plateauLr = (spec: string, lr: number, metrics: readonly number[]): number => {
    const parsed = parseLrSchedule(spec);
    if (E.isLeft(parsed)) throw new Error(parsed.left[0]?.message);
    const target = { learningRate: lr, setLearningRate: (next: number) => void (target.learningRate = next) };
    const scheduler = attachScheduler(target, parsed.right);
    for (const metric of metrics) scheduler.step(metric);
    return target.learningRate;
  };
  const spec = "plateau:patience=0,factor=0.5,threshold=0.08";
  const run = async (tag: string, extra: string[]) => {
    const ck = join(dir, tag);
    const result = await graft(["train", BLOBS_MODEL, "--data", csv, "--batch-size", "16", "--optimizer", "sgd:lr=0.5", "--backend", "js", "--lr-schedule", spec, "--epochs", "5", "--checkpoint", ck, ...extra]);
    expect(result.err).toBe("");
    const file = decodeSafetensors(readFileSync(join(ck, CHECKPOINT_FILE)));
    const history = JSON.parse(file.metadata.history ?? "[]") as Array<{ loss: number; testLoss?: number }>;
    // sgd.lr: the lr of the last step (f32), set by the scheduler after epoch 4
    return { history, lastLr: file.tensors.get("sgd.lr")?.data[0] ?? Number.NaN };
  };

  test("with held-out rows: the history records each epoch's test loss and the lr follows it", async () => {
    const { history, lastLr } = await run("plateau-val", []);
    expect(history.every((record) => typeof record.testLoss === "number" && record.testLoss > 0)).toBe(true);
    const byTest = plateauLr(spec, 0.5, history.slice(0, 4).map((record) => record.testLoss ?? Number.NaN));
    expect(lastLr).toBe(Math.fround(byTest));
    // (on these data the training loss would have given another lr: the test tells them apart)
    expect(plateauLr(spec, 0.5, history.slice(0, 4).map((record) => record.loss))).not.toBe(byTest);
  });

  test("--split 0: no test loss, the lr follows the training loss", async () => {
    const { history, lastLr } = await run("plateau-train", ["--split", "0"]);
    expect(history.some((record) => record.testLoss !== undefined)).toBe(false);
    expect(lastLr).toBe(Math.fround(plateauLr(spec, 0.5, history.slice(0, 4).map((record) => record.loss))));
  });
});
