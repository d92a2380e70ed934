/**
 * @file The examples' output folder: a writer that creates it, writes each file atomically and
 * lists the names written (the examples print the list).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@graft/compiler";

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
