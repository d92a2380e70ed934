/**
 * @file `graft train`: training on CSV and JSON files, every bad-input message (file and line),
 * checkpoint atomicity (a failed or killed write never replaces the last good checkpoint) and
 * `--resume` giving exactly the weights of an uninterrupted run.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { decodeSafetensors } from "@graft/runtime";
import { CHECKPOINT_FILE, saveCheckpoint, WEIGHTS_FILE } from "../src/toolkit/cli/commands/train.js";
import { nodeFileSystem, type AtomicFileSystem } from "../src/toolkit/data/atomic.js";
import { makeBlobs } from "../../../examples/blobs/data.js";
import { runCli, type CliRun as Run } from "./cli-run.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const BLOBS_MODEL = "examples/blobs/model.ts";
const dir = mkdtempSync(join(tmpdir(), "graft-train-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


const graft = (argv: string[]): Promise<Run> => runCli(argv, root);

/** Writes `text` to a file of the temp dir and returns its absolute path. */
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** The blobs as CSV: x1,x2,label. */
const blobsCsv = (samples: number, seed = 3): string => {
  const data = makeBlobs({ samples, seed });
  const rows = ["x1,x2,label"];
  for (let i = 0; i < data.count; i++) rows.push(`${data.features[2 * i]},${data.features[2 * i + 1]},${data.labels[i]}`);
  return `${rows.join("\n")}\n`;
};

const csv = file("blobs.csv", blobsCsv(200));

describe("graft train: training", () => {
  test("trains the blobs MLP on a CSV, one line per epoch, and prints the accuracies", async () => {
    const run = await graft(["train", BLOBS_MODEL, "--data", csv, "--epochs", "15", "--batch-size", "16", "--optimizer", "adam:lr=0.05"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const lines = run.out.split("\n");
    expect(lines[0]).toBe(`training ${BLOBS_MODEL} (model blobs_mlp) on ${csv}: 160 train / 40 test rows, 2 features, 4 classes; adam:lr=0.05, batch 16, wasm backend`);
    const epochs = lines.filter((line) => line.startsWith("epoch "));
    expect(epochs).toHaveLength(15);
    expect(epochs[0]).toMatch(/^epoch {2}1\/15 {2}10\/10 batches {2}\S+ {2}\S+ samples\/s {2}loss \d\.\d{4} {2}train \d+\.\d% {2}test \d+\.\d%$/);
    const test = /^test accuracy: (\d+\.\d)%$/m.exec(run.out);
    expect(Number(test?.[1])).toBeGreaterThanOrEqual(90);
    expect(run.out).toMatch(/^train accuracy: \d+\.\d%$/m);
    expect(run.out).toMatch(/^done in \S+\n$/m);
  });

  test("trains on JSON {x, y} with class names declared by --classes, no split", async () => {
    const data = makeBlobs({ samples: 40, seed: 5 });
    const names = ["west", "south", "middle", "north"];
    const json = file(
      "blobs.json",
      JSON.stringify({ x: Array.from({ length: data.count }, (_, i) => [data.features[2 * i], data.features[2 * i + 1]]), y: Array.from(data.labels, (label) => names[label]) }),
    );
    const run = await graft(["train", BLOBS_MODEL, "--data", json, "--classes", names.join(","), "--split", "0", "--epochs", "2", "--seed", "4"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain("40 train / 0 test rows, 2 features, 4 classes; adam:lr=1e-3, batch 32, wasm backend");
    expect(run.out).not.toContain("test accuracy");
  });
});

describe("graft train: bad input names the file and the line", () => {
  const expectError = async (argv: string[], message: string, code = 2): Promise<void> => {
    const run = await graft(["train", ...argv]);
    expect(run.err).toBe(`graft train: ${message}\n`);
    expect(run.code).toBe(code);
  };

  test("a missing data file", async () => {
    const missing = join(dir, "nope.csv");
    await expectError([BLOBS_MODEL, "--data", missing], `${missing}: file not found`);
  });

  test("a ragged row", async () => {
    const bad = file("ragged.csv", "x1,x2,label\n1,2,0\n3,1\n4,5,2\n");
    await expectError([BLOBS_MODEL, "--data", bad], `${bad}:3: expected 3 columns, found 2`);
  });

  test("a non-numeric feature", async () => {
    const bad = file("text.csv", "x1,x2,label\n1,2,0\n3,abc,1\n");
    await expectError([BLOBS_MODEL, "--data", bad], `${bad}:3 column 'x2': 'abc' is not a number`);
  });

  test("an empty feature cell", async () => {
    const bad = file("empty-cell.csv", "x1,x2,label\n1,2,0\n3,,1\n");
    await expectError([BLOBS_MODEL, "--data", bad], `${bad}:3 column 'x2': the value is empty, expected a number`);
  });

  test("a label outside the model's classes (4 for the blobs MLP)", async () => {
    const bad = file("label7.csv", "x1,x2,label\n1,2,0\n3,4,1\n5,6,7\n");
    await expectError([BLOBS_MODEL, "--data", bad], `${bad}:4 column 'label': label 7 is outside the declared classes, expected 0 ≤ label < 4`);
  });

  test("a label outside the classes declared with --classes", async () => {
    const bad = file("names.csv", "x1,x2,kind\n1,2,cat\n3,4,dog\n5,6,emu\n");
    await expectError(
      [BLOBS_MODEL, "--data", bad, "--classes", "cat,dog,cow,pig"],
      `${bad}:4 column 'kind': label 'emu' is not one of the declared classes ['cat', 'dog', 'cow', 'pig'] (or an id 0 to 3)`,
    );
  });

  test("more class names than the model predicts", async () => {
    const bad = file("five.csv", "x1,x2,kind\n1,2,a\n3,4,b\n5,6,c\n7,8,d\n9,9,e\n");
    await expectError([BLOBS_MODEL, "--data", bad], `${bad}: the labels name 5 classes (a, b, c, d, e) but the model predicts 4`);
  });

  test("--classes that disagree with the model", async () => {
    await expectError([BLOBS_MODEL, "--data", csv, "--classes", "3"], "--classes declares 3 classes but the model predicts 4");
  });

  test("a label column that does not exist", async () => {
    await expectError([BLOBS_MODEL, "--data", csv, "--label-column", "species"], `${csv}:1: no label column named 'species'; the columns are 'x1', 'x2', 'label'`);
  });

  test("malformed JSON names the line", async () => {
    const bad = file("bad.json", '{"x": [[1, 2],\n [3, 4]]\n "y": [0, 1]}\n');
    const run = await graft(["train", BLOBS_MODEL, "--data", bad]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(new RegExp(`^graft train: ${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:2: invalid JSON: `));
  });

  test("a data file whose columns do not match the model's x", async () => {
    await expectError(
      ["examples/mnist/model.ts", "--data", csv],
      `${csv}: has 2 feature columns (x1, x2) besides the label 'label', but the model's x takes 784`,
    );
  });

  test("a model without a y input", async () => {
    await expectError(
      ["packages/compiler/test/fixtures/train/no-labels.ts", "--data", csv],
      "packages/compiler/test/fixtures/train/no-labels.ts: the model has no input named y for the labels (its inputs: x, target); graft train needs an input x : f32[batch,F], labels y : i32[batch], a loss, and an output f32[batch,C] (e.g. logits)",
      1,
    );
  });

  test("a model whose x is f32[batch,28,28] takes 28·28 columns per row", async () => {
    await expectError(
      ["packages/compiler/test/fixtures/train/wide-x.ts", "--data", csv],
      `${csv}: has 2 feature columns (x1, x2) besides the label 'label', but the model's x takes 784 (x is f32[batch,28,28]: 28·28 = 784 values per row)`,
    );
  });

  test("a model without a loss", async () => {
    await expectError(
      ["packages/compiler/test/fixtures/cli/inference.ts", "--data", csv],
      "packages/compiler/test/fixtures/cli/inference.ts: the model declares no loss; graft train needs an input x : f32[batch,F], labels y : i32[batch], a loss, and an output f32[batch,C] (e.g. logits)",
      1,
    );
  });

  test("a missing model file", async () => {
    await expectError(["examples/nope/model.ts", "--data", csv], `cannot find model file examples/nope/model.ts (looked for ${join(root, "examples/nope/model.ts")})`);
  });

  test("bad options", async () => {
    await expectError([BLOBS_MODEL, "--data", csv, "--split", "1.5"], "--split must be a fraction 0 ≤ split < 1 (the share held out for testing), got '1.5'");
    await expectError([BLOBS_MODEL, "--data", csv, "--epochs", "0"], "--epochs must be an integer ≥ 1, got '0'");
    await expectError([BLOBS_MODEL, "--data", csv, "--batch-size", "x"], "--batch-size must be an integer ≥ 1, got 'x'");
    await expectError([BLOBS_MODEL, "--data", csv, "--seed", "-1"], "--seed must be an integer ≥ 0, got '-1'");
    await expectError([BLOBS_MODEL, "--data", csv, "--backend", "gpu"], "--backend must be js, wasm or reference, got 'gpu'");
    await expectError([BLOBS_MODEL, "--data", csv, "--optimizer", "adam:lr=-1"], '--optimizer: optimizer "adam:lr=-1": adam: invalid learning rate -1 (expected a finite number ≥ 0)');
    await expectError([BLOBS_MODEL, "--data", csv, "--resume"], "--resume needs --checkpoint <dir> (the directory of the checkpoint to continue from)");
  });

  test("--data is required", async () => {
    const run = await graft(["train", BLOBS_MODEL]);
    expect(run.code).toBe(2);
    expect(run.err).toContain("error: required option '--data <file>' not specified");
  });
});

describe("graft train: checkpoints and --resume", () => {
  const common = ["--data", csv, "--batch-size", "16", "--optimizer", "adam:lr=0.02", "--seed", "1"];

  test("a run resumed from its checkpoint ends with exactly the weights of an uninterrupted run", async () => {
    const straight = join(dir, "straight");
    const resumed = join(dir, "resumed");
    expect((await graft(["train", BLOBS_MODEL, ...common, "--epochs", "6", "--checkpoint", straight])).code).toBe(0);
    const first = await graft(["train", BLOBS_MODEL, ...common, "--epochs", "3", "--checkpoint", resumed]);
    expect(first.code).toBe(0);
    const second = await graft(["train", BLOBS_MODEL, ...common, "--epochs", "6", "--checkpoint", resumed, "--resume"]);
    expect(second.err).toBe("");
    expect(second.code).toBe(0);
    expect(second.out.split("\n")[0]).toBe(`resuming from ${join(resumed, CHECKPOINT_FILE)} after epoch 3`);
    expect(second.out.split("\n").filter((line) => line.startsWith("epoch ")).map((line) => line.slice(0, 9))).toEqual(["epoch 4/6", "epoch 5/6", "epoch 6/6"]);
    expect(readFileSync(join(resumed, CHECKPOINT_FILE))).toEqual(readFileSync(join(straight, CHECKPOINT_FILE)));
    expect(readFileSync(join(resumed, WEIGHTS_FILE))).toEqual(readFileSync(join(straight, WEIGHTS_FILE)));
    const weights = decodeSafetensors(readFileSync(join(straight, WEIGHTS_FILE)));
    expect([...weights.tensors.keys()]).toEqual(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight"]);
    const checkpoint = decodeSafetensors(readFileSync(join(straight, CHECKPOINT_FILE)));
    expect(checkpoint.metadata.epoch).toBe("6");
    expect(checkpoint.tensors.has("adam.step")).toBe(true);
    expect(readFileSync(join(straight, "metrics.svg"), "utf8")).toContain("<svg");
  });

  test("--resume refuses more epochs than asked for, other settings, a missing or a corrupt checkpoint, and changes nothing", async () => {
    const ck = join(dir, "refuse");
    expect((await graft(["train", BLOBS_MODEL, ...common, "--epochs", "2", "--checkpoint", ck])).code).toBe(0);
    const path = join(ck, CHECKPOINT_FILE);
    const good = readFileSync(path);
    const resume = (extra: string[]): Promise<Run> => graft(["train", BLOBS_MODEL, ...common, "--checkpoint", ck, "--resume", ...extra]);

    let run = await resume(["--epochs", "1"]);
    expect(run.err).toBe(`graft train: --resume: ${path} has already completed 2 epochs, more than --epochs 1; ask for --epochs 2 or more\n`);
    expect(run.code).toBe(2);
    run = await resume(["--epochs", "4", "--seed", "2"]);
    expect(run.err).toBe(`graft train: --resume: ${path} was written with --seed 1, this run has 2; resume with the same model, data and settings, or pass --force to resume anyway\n`);
    run = await graft(["train", BLOBS_MODEL, "--data", csv, "--batch-size", "16", "--seed", "1", "--optimizer", "sgd:lr=0.1", "--checkpoint", ck, "--resume", "--epochs", "4"]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(new RegExp(`^graft train: --resume: ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
    expect(readFileSync(path)).toEqual(good);

    writeFileSync(path, good.subarray(0, good.length - 10));
    run = await resume(["--epochs", "4"]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^graft train: --resume: .*checkpoint\.safetensors: /);
    expect(readFileSync(path).length).toBe(good.length - 10);

    const empty = join(dir, "empty-ck");
    run = await graft(["train", BLOBS_MODEL, ...common, "--checkpoint", empty, "--resume", "--epochs", "4"]);
    expect(run.err).toBe(`graft train: --resume: no checkpoint at ${join(empty, CHECKPOINT_FILE)} (train once with --checkpoint first)\n`);
    expect(run.code).toBe(2);
  });

  test("a checkpoint write that fails midway leaves the previous checkpoint whole and no temp file", async () => {
    const ck = join(dir, "failing");
    expect((await graft(["train", BLOBS_MODEL, ...common, "--epochs", "2", "--checkpoint", ck])).code).toBe(0);
    const path = join(ck, CHECKPOINT_FILE);
    const good = readFileSync(path);
    const state = Object.fromEntries([...decodeSafetensors(good).tensors].map(([name, t]) => [name, { shape: t.shape, dtype: t.dtype === "I32" ? ("i32" as const) : ("f32" as const), data: t.data }]));
    // The disk "fills up" after 100 bytes of the new file.
    const failing: AtomicFileSystem = {
      ...nodeFileSystem,
      open: async (p, flags, mode) => {
        const handle = await nodeFileSystem.open(p, flags, mode);
        let written = 0;
        return {
          write: async (buffer, offset, length, position) => {
            if (written + length > 100) {
              const partial = await handle.write(buffer, offset, 100 - written, position);
              written += partial.bytesWritten;
              throw new Error("ENOSPC: no space left on device");
            }
            const result = await handle.write(buffer, offset, length, position);
            written += result.bytesWritten;
            return result;
          },
          sync: () => handle.sync(),
          close: () => handle.close(),
        };
      },
    };
    const meta = { epoch: 3, model: "blobs_mlp", optimizer: "x", seed: 1, batchSize: 16, split: 0.2, history: [] };
    await expect(saveCheckpoint(path, state, meta, { fileSystem: failing })).rejects.toThrow(
      `could not write ${path}: ENOSPC: no space left on device; the previous file is unchanged`,
    );
    expect(readFileSync(path)).toEqual(good);
    expect(readdirSync(ck).sort()).toEqual([CHECKPOINT_FILE, "metrics.svg", WEIGHTS_FILE]);
    // and the run still resumes from it
    const run = await graft(["train", BLOBS_MODEL, ...common, "--epochs", "3", "--checkpoint", ck, "--resume"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
  });

  test("killing a run (SIGKILL) at any moment leaves a whole checkpoint", async () => {
    const big = file("big.csv", blobsCsv(6000, 9));
    const ck = join(dir, "killed");
    const bin = join(root, "packages/compiler/bin/graft.mjs");
    for (const delay of [150, 500]) {
      const child = spawn(process.execPath, [bin, "train", BLOBS_MODEL, "--data", big, "--epochs", "1000", "--batch-size", "8", "--checkpoint", ck, ...(existsSync(join(ck, CHECKPOINT_FILE)) ? ["--resume"] : [])], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      // Kill `delay` ms after the second epoch line (so at least one checkpoint has been written).
      await new Promise<void>((done, fail) => {
        let epochs = 0;
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const now = (out.match(/^epoch /gm) ?? []).length;
          if (now >= 2 && epochs < 2) setTimeout(() => child.kill("SIGKILL"), delay);
          epochs = now;
        });
        child.on("exit", () => (epochs >= 2 ? done() : fail(new Error(`graft train exited before two epochs:\n${out}\n${err}`))));
      });
      const bytes = readFileSync(join(ck, CHECKPOINT_FILE));
      const decoded = decodeSafetensors(bytes);
      expect(Number(decoded.metadata.epoch)).toBeGreaterThanOrEqual(1);
    }
  }, 60_000);
});
