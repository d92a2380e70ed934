// Atomic file replacement: readers see the old file or the new one, never a mix, and a failed
// write leaves the old file untouched. Used for weights, checkpoints and emitted bundles.

import { randomBytes } from "node:crypto";
import * as fsPromises from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** The part of a file handle that `writeFileAtomic` uses (node's FileHandle has it). */
export interface AtomicFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file-system calls `writeFileAtomic` makes; replaceable to simulate failures in tests. */
export interface AtomicFileSystem {
  open(path: string, flags: string, mode?: number): Promise<AtomicFileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  stat(path: string): Promise<{ mode: number }>;
  realpath(path: string): Promise<string>;
}

/** The real file system (node:fs/promises). */
export const nodeFileSystem: AtomicFileSystem = {
  open: (path, flags, mode) => fsPromises.open(path, flags, mode),
  rename: (from, to) => fsPromises.rename(from, to),
  unlink: (path) => fsPromises.unlink(path),
  stat: (path) => fsPromises.stat(path),
  realpath: (path) => fsPromises.realpath(path),
};

/** Options of `writeFileAtomic`. */
export interface WriteFileAtomicOptions {
  /** File mode of a new file (default: the replaced file's mode, else 0o666 less the umask). */
  readonly mode?: number;
  /** File-system calls to use instead of node:fs/promises (for tests). */
  readonly fileSystem?: AtomicFileSystem;
}

/** Writing a file failed; the file at `path` is as it was before the attempt. */
export class AtomicWriteError extends Error {
  override readonly name = "AtomicWriteError";
  /** The file that was to be written. */
  readonly path: string;

  constructor(path: string, message: string, cause: unknown) {
    super(message, { cause });
    this.path = path;
  }
}

/**
 * Replaces the file at `path` with `contents` atomically: writes a temporary file in the same
 * directory, fsyncs it, renames it over `path` (following a symlink at `path` to its target),
 * then fsyncs the directory. On any failure the temporary file is removed and the previous
 * file, if any, is untouched.
 * @param contents bytes, or a string written as UTF-8
 * @throws AtomicWriteError naming the path and the cause
 */
export async function writeFileAtomic(path: string, contents: Uint8Array | string, options: WriteFileAtomicOptions = {}): Promise<void> {
  const fileSystem = options.fileSystem ?? nodeFileSystem;
  const bytes = typeof contents === "string" ? new TextEncoder().encode(contents) : contents;
  const target = await fileSystem.realpath(path).catch(() => path);
  const existingMode = await fileSystem.stat(target).then(
    (stats) => stats.mode & 0o7777,
    () => undefined,
  );
  const temporaryPath = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);

  let handle: AtomicFileHandle | undefined;
  let created = false;
  try {
    handle = await fileSystem.open(temporaryPath, "wx", options.mode ?? existingMode ?? 0o666);
    created = true;
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, written);
      if (bytesWritten <= 0) throw new Error(`the write made no progress at byte ${written} of ${bytes.length}`);
      written += bytesWritten;
    }
    await handle.sync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    await fileSystem.rename(temporaryPath, target);
    created = false;
  } catch (error) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    if (created) await fileSystem.unlink(temporaryPath).catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    const kept = existingMode === undefined ? "no file was created" : "the previous file is unchanged";
    throw new AtomicWriteError(path, `could not write ${path}: ${reason}; ${kept}`, error);
  }
  await syncDirectory(fileSystem, dirname(target));
}

/** Makes the rename durable where the platform allows it (not on Windows); best effort. */
async function syncDirectory(fileSystem: AtomicFileSystem, directory: string): Promise<void> {
  let handle: AtomicFileHandle | undefined;
  try {
    handle = await fileSystem.open(directory, "r");
    await handle.sync();
  } catch {
    // The new file is in place either way; only durability across a power loss is at stake.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
