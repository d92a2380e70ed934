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
import { WEIGHTS_FILE } from "../src/cli/commands/train.js";
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
