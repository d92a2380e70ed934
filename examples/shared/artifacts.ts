/**
 * @file The examples' output folder: a writer that creates it, writes each file atomically and
 * lists the names written (the examples print the list); the trained state as safetensors tensors.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { safetensorsDtypeOf, type SafetensorsTensorInput } from "@graft/runtime";
import { writeFileAtomic, type Trainer } from "@graft/compiler";

/**
 * The trainer's state tensors whose names `keep` accepts, sorted by name, for safetensors: I32
 * counters PyTorch keeps as int64 (num_batches_tracked) as I64.
 */
export const stateTensors = (trainer: Trainer, keep: (name: string) => boolean): SafetensorsTensorInput[] =>
  Object.entries(trainer.getState())
    .filter(([name]) => keep(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => ({ name, dtype: safetensorsDtypeOf(name, t.dtype === "i32" ? "i32" : "f32"), shape: t.shape, data: t.data }));

/** Writes files into one output folder and lists their names in the order written. */
export interface ArtifactWriter {
  readonly dir: string;
  /** The names written so far (push a name written by other means, e.g. writeBundle's). */
  readonly files: string[];
  write(name: string, contents: string | Uint8Array): Promise<void>;
}

/** Creates `dir` (and its parents) and returns a writer of atomic files into it. */
export async function artifactWriter(dir: string): Promise<ArtifactWriter> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  return {
    dir,
    files,
    write: async (name, contents) => {
      await writeFileAtomic(join(dir, name), contents);
      files.push(name);
    },
  };
}
