// Atomic file replacement: readers see the old file or the new one, never a mix, and a failed
// write leaves the old file untouched. Every file graft writes goes through `writeFileAtomic`:
// bundles and their .d.mts/.mts, weights, checkpoints, artifacts and charts.
//
// A symlink at the path is replaced by the new file (the link itself, never its target), as
// `rename` does. Temporary files are named `.<name>.<pid>.<random>.tmp`; those of writers that
// were killed mid-way (whose process is gone) are removed by the next write in the folder.

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
  /** Follows symlinks (the mode a replaced file keeps is its target's). */
  stat(path: string): Promise<{ mode: number }>;
  /** Does not follow symlinks. */
  lstat(path: string): Promise<{ isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
}

/** The real file system (node:fs/promises). */
export const nodeFileSystem: AtomicFileSystem = {
  open: (path, flags, mode) => fsPromises.open(path, flags, mode),
  rename: (from, to) => fsPromises.rename(from, to),
  unlink: (path) => fsPromises.unlink(path),
  stat: (path) => fsPromises.stat(path),
  lstat: (path) => fsPromises.lstat(path),
  readdir: (path) => fsPromises.readdir(path),
  mkdir: (path, options) => fsPromises.mkdir(path, options),
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

/** The cause of a failed file operation in one line: node's `CODE: description` without the paths. */
export const describeFileError = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && message.startsWith(`${code}: `)) {
    // "EISDIR: illegal operation on a directory, rename '/d/.a.1.tmp' -> '/d/a'" → "EISDIR: illegal operation on a directory"
    const comma = message.lastIndexOf(", ", message.search(/ '|$/));
    return (comma > code.length ? message.slice(0, comma) : message).split("\n")[0] ?? message;
  }
  return message.split("\n")[0] ?? message;
};

const TEMPORARY = /^\.(.+)\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/** The temporary file name a write of `path` uses (see the top of this file); a long name is cut so that it stays under NAME_MAX (255). */
const temporaryName = (path: string): string => join(dirname(path), `.${basename(path).slice(0, 200)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);

const processIsAlive = (pid: number): boolean => {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as { code?: unknown }).code === "EPERM";
  }
};

/**
 * Removes the temporary files that killed writers left in `directory` (those whose process is
 * gone); a live writer's files are kept. Best effort: returns the names removed.
 */
export async function removeStaleTemporaryFiles(directory: string, fileSystem: AtomicFileSystem = nodeFileSystem): Promise<string[]> {
  const names = await fileSystem.readdir(directory).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(TEMPORARY.exec(name)?.[2]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || processIsAlive(pid)) continue;
    const removedOne = await fileSystem.unlink(join(directory, name)).then(
      () => true,
      () => false,
    );
    if (removedOne) removed.push(name);
  }
  return removed;
}

/**
 * Creates `directory` (and its parents) when missing.
 * @throws AtomicWriteError naming `file` (the file to be written there) and the cause
 */
export async function ensureDirectoryFor(file: string, options: Pick<WriteFileAtomicOptions, "fileSystem"> = {}): Promise<void> {
  const fileSystem = options.fileSystem ?? nodeFileSystem;
  const directory = dirname(file);
  try {
    await fileSystem.mkdir(directory, { recursive: true });
  } catch (error) {
    throw new AtomicWriteError(file, `could not write ${file}: cannot create the folder ${directory}: ${describeFileError(error)}; no file was created`, error);
  }
}

/**
 * Replaces the file at `path` with `contents` atomically: writes a temporary file in the same
 * directory, fsyncs it, renames it over `path` (a symlink at `path` is replaced, its target is
 * left alone), then fsyncs the directory. On any failure the temporary file is removed and the
 * previous file, if any, is untouched. Stale temporary files of killed writers are removed.
 * @param contents bytes, or a string written as UTF-8
 * @throws AtomicWriteError naming the path and the cause
 */
export async function writeFileAtomic(path: string, contents: Uint8Array | string, options: WriteFileAtomicOptions = {}): Promise<void> {
  const fileSystem = options.fileSystem ?? nodeFileSystem;
  const bytes = typeof contents === "string" ? new TextEncoder().encode(contents) : contents;
  const existing = await fileSystem.lstat(path).then(
    (stats) => stats,
    () => undefined,
  );
  if (existing?.isDirectory() === true) throw new AtomicWriteError(path, `could not write ${path}: it is a directory; nothing was changed`, undefined);
  // A device (/dev/full), a FIFO or a socket is never replaced by a file.
  if (existing !== undefined && !existing.isFile() && !existing.isSymbolicLink())
    throw new AtomicWriteError(path, `could not write ${path}: it is not a regular file (a device, FIFO or socket); nothing was changed`, undefined);
  const existingMode = await fileSystem.stat(path).then(
    (stats) => stats.mode & 0o7777,
    () => undefined,
  );
  const temporaryPath = temporaryName(path);

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
    await fileSystem.rename(temporaryPath, path);
    created = false;
  } catch (error) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    if (created) await fileSystem.unlink(temporaryPath).catch(() => undefined);
    const kept = existing === undefined ? "no file was created" : "the previous file is unchanged";
    throw new AtomicWriteError(path, `could not write ${path}: ${describeFileError(error)}; ${kept}`, error);
  }
  await syncDirectory(fileSystem, dirname(path));
  await removeStaleTemporaryFiles(dirname(path), fileSystem);
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
