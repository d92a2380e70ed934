/**
 * @file `graft train --checkpoint` (issue 16): the folder is checked before training (a file in
 * its place, a folder where a file goes, a read-only or full disk), every write failure is one
 * line with exit 2 and leaves the previous file whole (fault injection: ENOSPC, EROFS, EISDIR),
 * `--resume` refuses a changed model, data file, back end or a hand-edited epoch (unless
 * `--force`), a finished run resumed writes its final files, and stale temporary files of killed
 * writes are removed by the next run. Data files: deeply nested JSON and CR-only CSV.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { decodeSafetensors, encodeSafetensors } from "@graft/runtime";
import { CHECKPOINT_FILE, WEIGHTS_FILE } from "../src/toolkit/cli/commands/train.js";
import type { AtomicFileSystem } from "../src/toolkit/data/atomic.js";
import { makeBlobs } from "../../../examples/blobs/data.js";
import { faultyFileSystem, FAULT_MESSAGES, type Fault } from "./fault-fs.js";
import { runCli, type CliRun as Run } from "./cli-run.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const BLOBS_MODEL = "examples/blobs/model.ts";
const TANH_MODEL = "packages/compiler/test/fixtures/train/blobs-tanh.ts";
const dir = mkdtempSync(join(tmpdir(), "graft-train-ck-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


const graft = (argv: string[], fileSystem?: AtomicFileSystem): Promise<Run> => runCli(argv, root, fileSystem === undefined ? {} : { fileSystem });

const blobsCsv = (samples: number, seed: number): string => {
  const data = makeBlobs({ samples, seed });
  const rows = ["x1,x2,label"];
  for (let i = 0; i < data.count; i++) rows.push(`${data.features[2 * i]},${data.features[2 * i + 1]},${data.labels[i]}`);
  return `${rows.join("\n")}\n`;
};

const csv = join(dir, "blobs.csv");
writeFileSync(csv, blobsCsv(120, 3));
const otherCsv = join(dir, "other.csv");
writeFileSync(otherCsv, blobsCsv(120, 4));

const common = ["--data", csv, "--batch-size", "16", "--optimizer", "adam:lr=0.02", "--seed", "1", "--backend", "js"];
const train = (ck: string, extra: string[], fileSystem?: AtomicFileSystem): Promise<Run> => graft(["train", BLOBS_MODEL, ...common, "--checkpoint", ck, ...extra], fileSystem);
const epochLines = (run: Run): number => run.out.split("\n").filter((line) => line.startsWith("epoch ")).length;

describe("graft train: the checkpoint folder is checked before training (item 10)", () => {
  test("a file where the folder goes", async () => {
    const path = join(dir, "a-file");
    writeFileSync(path, "keep me");
    const run = await train(path, ["--epochs", "1"]);
    expect(run.err).toBe(`graft train: --checkpoint ${path} is a file, expected a folder (graft writes checkpoint.safetensors, weights.safetensors and metrics.svg into it)\n`);
    expect(run.code).toBe(2);
    expect(epochLines(run)).toBe(0);
    expect(readFileSync(path, "utf8")).toBe("keep me");
  });

  test("a folder where checkpoint.safetensors goes", async () => {
    const ck = join(dir, "dir-in-the-way");
    mkdirSync(join(ck, CHECKPOINT_FILE), { recursive: true });
    const run = await train(ck, ["--epochs", "1"]);
    expect(run.err).toBe(`graft train: --checkpoint: ${join(ck, CHECKPOINT_FILE)} is a folder; graft writes its checkpoint.safetensors there, move the folder away\n`);
    expect(run.code).toBe(2);
    expect(epochLines(run)).toBe(0);
  });

  test("a folder that cannot be created", async () => {
    const blocker = join(dir, "blocker");
    writeFileSync(blocker, "x");
    const ck = join(blocker, "ck");
    const run = await train(ck, ["--epochs", "1"]);
    expect(run.err).toBe(`graft train: --checkpoint ${ck}: cannot create the folder: ENOTDIR: not a directory\n`);
    expect(run.code).toBe(2);
  });

  test.each<[Fault, string]>([
    ["EROFS", FAULT_MESSAGES.EROFS],
    ["ENOSPC", FAULT_MESSAGES.ENOSPC],
  ])("a %s file system is reported before the first epoch", async (fault, message) => {
    const ck = join(dir, `probe-${fault}`);
    const run = await train(ck, ["--epochs", "1"], faultyFileSystem("*", fault, 0));
    expect(run.err).toBe(`graft train: --checkpoint ${ck}: cannot write in the folder: ${message}\n`);
    expect(run.code).toBe(2);
    expect(epochLines(run)).toBe(0);
    expect(readdirSync(ck)).toEqual([]);
  });
});

describe("graft train: a failed write is one line, exit 2, the previous file whole (items 1, 2)", () => {
  test.each<[Fault, string]>([
    ["ENOSPC", "checkpoint.safetensors"],
    ["EROFS", "weights.safetensors"],
    ["EISDIR", "metrics.svg"],
  ])("%s while writing %s", async (fault, name) => {
    const ck = join(dir, `fault-${fault}`);
    expect((await train(ck, ["--epochs", "2"])).code).toBe(0);
    const before = Object.fromEntries(readdirSync(ck).map((file) => [file, readFileSync(join(ck, file))]));
    const run = await train(ck, ["--epochs", "2"], faultyFileSystem(name, fault));
    const path = join(ck, name);
    expect(run.err).toBe(`graft train: could not write ${path}: ${FAULT_MESSAGES[fault]}; the previous file is unchanged\n`);
    expect(run.code).toBe(2);
    expect(Object.fromEntries(readdirSync(ck).map((file) => [file, readFileSync(join(ck, file))]))[name]).toEqual(before[name]);
    expect(readdirSync(ck).sort()).toEqual(Object.keys(before).sort());
  });

  test("a symlinked weights.safetensors is replaced, its target left alone", async () => {
    const ck = join(dir, "symlinked");
    mkdirSync(ck);
    const precious = join(dir, "precious.txt");
    writeFileSync(precious, "precious");
    symlinkSync("../precious.txt", join(ck, WEIGHTS_FILE));
    expect((await train(ck, ["--epochs", "1"])).code).toBe(0);
    expect(readFileSync(precious, "utf8")).toBe("precious");
    expect([...decodeSafetensors(readFileSync(join(ck, WEIGHTS_FILE))).tensors.keys()]).toContain("fc1.weight");
  });

  test("stale temporary files of killed writes are removed by the next run (item 17)", async () => {
    const ck = join(dir, "stale");
    mkdirSync(ck);
    const stale = `.${CHECKPOINT_FILE}.${2 ** 22 + 5}.00112233aabb.tmp`;
    writeFileSync(join(ck, stale), new Uint8Array(1000));
    expect((await train(ck, ["--epochs", "1"])).code).toBe(0);
    expect(readdirSync(ck).sort()).toEqual([CHECKPOINT_FILE, "metrics.svg", WEIGHTS_FILE]);
  });
});

describe("graft train --resume: the same model, data and settings (item 15)", () => {
  const ck = join(dir, "resume");
  const path = join(ck, CHECKPOINT_FILE);
  let good: Buffer = Buffer.alloc(0);

  test("a first run records the hashes and settings", async () => {
    expect((await train(ck, ["--epochs", "2"])).code).toBe(0);
    good = readFileSync(path);
    const metadata = decodeSafetensors(good).metadata;
    expect(metadata.data_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(metadata.model_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(metadata.backend).toBe("js");
  });

  test("another data file", async () => {
    const run = await graft(["train", BLOBS_MODEL, ...common.slice(2), "--data", otherCsv, "--checkpoint", ck, "--resume", "--epochs", "3"]);
    const saved = decodeSafetensors(good).metadata.data_sha256?.slice(0, 12) ?? "";
    expect(run.err).toMatch(
      new RegExp(`^graft train: --resume: ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} was trained on different data \\(sha256 ${saved}, .*other\\.csv now has [0-9a-f]{12}\\); resume with the same model, data and settings, or pass --force to resume anyway\\n$`),
    );
    expect(run.code).toBe(2);
    expect(readFileSync(path)).toEqual(good);
  });

  test("another back end", async () => {
    const run = await train(ck, ["--resume", "--epochs", "3", "--backend", "reference"]);
    expect(run.err).toBe(`graft train: --resume: ${path} was written with --backend js, this run has reference; resume with the same model, data and settings, or pass --force to resume anyway\n`);
    expect(run.code).toBe(2);
  });

  test("another model with the same name and params; --force resumes it with a warning", async () => {
    const args = ["train", TANH_MODEL, ...common, "--checkpoint", ck, "--resume", "--epochs", "3"];
    const run = await graft(args);
    expect(run.err).toMatch(/^graft train: --resume: .* was written by a different model blobs_mlp \(IR sha256 [0-9a-f]{12}, now [0-9a-f]{12}\): its layers, shapes or initialisers changed; resume with the same model, data and settings, or pass --force to resume anyway\n$/);
    expect(run.code).toBe(2);
    expect(readFileSync(path)).toEqual(good);
    const forced = await graft([...args, "--force"]);
    expect(forced.err).toMatch(/^graft train: warning: --force: .* was written by a different model blobs_mlp/);
    expect(forced.code).toBe(0);
    expect(epochLines(forced)).toBe(1);
    writeFileSync(path, good);
  });

  test("--force without --resume is a usage error", async () => {
    const run = await train(ck, ["--force"]);
    expect(run.err).toBe("graft train: --force only applies to --resume (it resumes a checkpoint whose model, data or settings differ)\n");
    expect(run.code).toBe(2);
  });

  test("a hand-edited epoch that disagrees with the history", async () => {
    const decoded = decodeSafetensors(good);
    const tensors = [...decoded.tensors].map(([name, tensor]) => ({ name, dtype: tensor.dtype, shape: tensor.shape, data: tensor.data }));
    writeFileSync(path, encodeSafetensors(tensors, { ...decoded.metadata, epoch: "1" }));
    let run = await train(ck, ["--resume", "--epochs", "3"]);
    expect(run.err).toBe(`graft train: --resume: ${path} records epoch 1 but its history holds 2 epochs; the file was edited or is damaged, train again without --resume\n`);
    expect(run.code).toBe(2);
    writeFileSync(path, encodeSafetensors(tensors, { ...decoded.metadata, history: '[{"epoch":0,"loss":1,"trainAccuracy":0.5},{"epoch":5,"loss":1,"trainAccuracy":0.5}]' }));
    run = await train(ck, ["--resume", "--epochs", "3", "--force"]);
    expect(run.err).toBe(`graft train: --resume: ${path} records epoch 2 but its history is not a list of epochs 0, 1, …; the file was edited or is damaged, train again without --resume\n`);
    expect(run.code).toBe(2);
    writeFileSync(path, good);
  });
});

describe("graft train --resume of a finished run writes the final files (item 16)", () => {
  test("killed after the last checkpoint, before weights.safetensors", async () => {
    const ck = join(dir, "finished");
    expect((await train(ck, ["--epochs", "2"])).code).toBe(0);
    const weights = readFileSync(join(ck, WEIGHTS_FILE));
    const chart = readFileSync(join(ck, "metrics.svg"), "utf8");
    unlinkSync(join(ck, WEIGHTS_FILE));
    unlinkSync(join(ck, "metrics.svg"));
    const run = await train(ck, ["--epochs", "2", "--resume"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out.split("\n")[0]).toBe(`resuming from ${join(ck, CHECKPOINT_FILE)}: all 2 epochs are done; writing the final files`);
    expect(epochLines(run)).toBe(0);
    expect(existsSync(join(ck, WEIGHTS_FILE))).toBe(true);
    expect(readFileSync(join(ck, WEIGHTS_FILE))).toEqual(weights);
    expect(readFileSync(join(ck, "metrics.svg"), "utf8")).toBe(chart);
  });
});

describe("graft train: data files (items 9, 18, 19)", () => {
  test("a JSON file of 100,000 nested arrays is a one-line error, exit 2", async () => {
    const deep = join(dir, "deep.json");
    writeFileSync(deep, `{"x": ${"[".repeat(100_000)}${"]".repeat(100_000)}, "y": [0]}`);
    const run = await graft(["train", BLOBS_MODEL, "--data", deep, "--epochs", "1"]);
    expect(run.err).toBe(`graft train: ${deep}: x[0][0] is [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[..., expected a number\n`);
    expect(run.code).toBe(2);
  });

  test("a CSV with CR-only line ends trains", async () => {
    const mac = join(dir, "mac.csv");
    writeFileSync(mac, blobsCsv(120, 3).replace(/\n/g, "\r"));
    const run = await graft(["train", BLOBS_MODEL, "--data", mac, "--epochs", "1", "--backend", "js"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain(`on ${mac}: 96 train / 24 test rows, 2 features, 4 classes`);
  });
});
