import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtomicWriteError, describeFileError, ensureDirectoryFor, nodeFileSystem, removeStaleTemporaryFiles, writeFileAtomic, type AtomicFileHandle, type AtomicFileSystem } from "../src/toolkit/data/atomic.js";

let directory = "";

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "graft-atomic-"));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** The real file system, except that file handles come from `wrapHandle`. */
function withHandles(wrapHandle: (handle: AtomicFileHandle, path: string) => AtomicFileHandle): AtomicFileSystem {
  return { ...nodeFileSystem, open: async (path, flags, mode) => wrapHandle(await nodeFileSystem.open(path, flags, mode), path) };
}

async function atomicError(run: () => Promise<unknown>): Promise<AtomicWriteError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof AtomicWriteError) return error;
    throw error;
  }
  throw new Error("expected an AtomicWriteError, nothing was thrown");
}

describe("writeFileAtomic", () => {
  it("creates a file, then replaces it, leaving no temporary file behind", async () => {
    const path = join(directory, "weights.bin");
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    await writeFileAtomic(path, "héllo");
    expect(await readFile(path, "utf8")).toBe("héllo");
    expect(await readdir(directory)).toEqual(["weights.bin"]);
  });

  it("keeps the old file and removes the temporary one when a write fails midway", async () => {
    const path = join(directory, "model.safetensors");
    await writeFile(path, "old contents");
    const failingMidWrite = withHandles((handle) => ({
      ...handle,
      write: async (buffer, offset, length, position) => {
        if (position > 0) throw new Error("ENOSPC: no space left on device (simulated)");
        // Write half of what was asked, so the temporary file really is partly written.
        return handle.write(buffer, offset, Math.ceil(length / 2), position);
      },
      sync: () => handle.sync(),
      close: () => handle.close(),
    }));
    const error = await atomicError(() => writeFileAtomic(path, "new contents, much longer than before", { fileSystem: failingMidWrite }));
    expect(error.message).toBe(
      `could not write ${path}: ENOSPC: no space left on device (simulated); the previous file is unchanged`,
    );
    expect(error.path).toBe(path);
    expect(error.cause).toBeInstanceOf(Error);
    expect(await readFile(path, "utf8")).toBe("old contents");
    expect(await readdir(directory)).toEqual(["model.safetensors"]);
  });

  it("keeps the old file when the rename fails, and says when no file existed before", async () => {
    const path = join(directory, "a.bin");
    await writeFile(path, "old");
    const failingRename: AtomicFileSystem = {
      ...nodeFileSystem,
      rename: async () => {
        throw new Error("EXDEV (simulated)");
      },
    };
    const error = await atomicError(() => writeFileAtomic(path, "new", { fileSystem: failingRename }));
    expect(error.message).toBe(`could not write ${path}: EXDEV (simulated); the previous file is unchanged`);
    expect(await readFile(path, "utf8")).toBe("old");
    expect(await readdir(directory)).toEqual(["a.bin"]);

    const fresh = join(directory, "b.bin");
    const freshError = await atomicError(() => writeFileAtomic(fresh, "new", { fileSystem: failingRename }));
    expect(freshError.message).toBe(`could not write ${fresh}: EXDEV (simulated); no file was created`);
    expect(await readdir(directory)).toEqual(["a.bin"]);
  });

  it("keeps the old file when fsync fails", async () => {
    const path = join(directory, "c.bin");
    await writeFile(path, "old");
    const failingSync = withHandles((handle) => ({
      write: (buffer, offset, length, position) => handle.write(buffer, offset, length, position),
      sync: async () => {
        throw new Error("EIO: i/o error (simulated)");
      },
      close: () => handle.close(),
    }));
    const error = await atomicError(() => writeFileAtomic(path, "new", { fileSystem: failingSync }));
    expect(error.message).toBe(`could not write ${path}: EIO: i/o error (simulated); the previous file is unchanged`);
    expect(await readFile(path, "utf8")).toBe("old");
    expect(await readdir(directory)).toEqual(["c.bin"]);
  });

  it("finishes partial writes", async () => {
    const path = join(directory, "d.bin");
    const oneByteAtATime = withHandles((handle) => ({
      write: (buffer, offset, length, position) => handle.write(buffer, offset, Math.min(length, 1), position),
      sync: () => handle.sync(),
      close: () => handle.close(),
    }));
    const bytes = Uint8Array.from({ length: 100 }, (_, index) => index);
    await writeFileAtomic(path, bytes, { fileSystem: oneByteAtATime });
    expect([...(await readFile(path))]).toEqual([...bytes]);
  });

  it("refuses a write that makes no progress instead of looping forever", async () => {
    const path = join(directory, "e.bin");
    const stuck = withHandles((handle) => ({
      write: async () => ({ bytesWritten: 0 }),
      sync: () => handle.sync(),
      close: () => handle.close(),
    }));
    const error = await atomicError(() => writeFileAtomic(path, "abc", { fileSystem: stuck }));
    expect(error.message).toBe(`could not write ${path}: the write made no progress at byte 0 of 3; no file was created`);
    expect(await readdir(directory)).toEqual([]);
  });

  it("reports a missing directory", async () => {
    const path = join(directory, "missing", "f.bin");
    const error = await atomicError(() => writeFileAtomic(path, "x"));
    expect(error.message).toMatch(new RegExp(`^could not write ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ENOENT.*; no file was created$`));
  });

  it("keeps the mode of the file it replaces", async () => {
    const path = join(directory, "secret.bin");
    await writeFile(path, "old");
    await chmod(path, 0o600);
    await writeFileAtomic(path, "new");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it("replaces a symlink itself, never the file it points to (issue 16, item 2)", async () => {
    const target = join(directory, "precious.txt");
    const link = join(directory, "weights.safetensors");
    await writeFile(target, "precious");
    await symlink(target, link);
    await writeFileAtomic(link, "new");
    expect(await readFile(target, "utf8")).toBe("precious");
    expect((await lstat(link)).isSymbolicLink()).toBe(false);
    expect(await readFile(link, "utf8")).toBe("new");
    expect((await readdir(directory)).sort()).toEqual(["precious.txt", "weights.safetensors"]);
  });

  it("refuses a path that is a directory in one line, changing nothing", async () => {
    const path = join(directory, "out.mjs");
    await mkdir(path);
    const error = await atomicError(() => writeFileAtomic(path, "x"));
    expect(error.message).toBe(`could not write ${path}: it is a directory; nothing was changed`);
    expect(await readdir(directory)).toEqual(["out.mjs"]);
    expect(await readdir(path)).toEqual([]);
  });

  it("names the cause without node's paths and syscall", () => {
    const renameError = Object.assign(new Error("EISDIR: illegal operation on a directory, rename '/d/.a.1.tmp' -> '/d/a'"), { code: "EISDIR" });
    expect(describeFileError(renameError)).toBe("EISDIR: illegal operation on a directory");
    expect(describeFileError(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }))).toBe("ENOSPC: no space left on device");
    expect(describeFileError(new Error("plain\nsecond line"))).toBe("plain");
  });

  it("removes temporary files of killed writers and keeps those of live ones (issue 16, item 17)", async () => {
    // A pid that no process has: above the kernel's pid_max (at most 2^22).
    const deadPid = 2 ** 22 + 17;
    const stale = `.checkpoint.safetensors.${deadPid}.0123456789ab.tmp`;
    const live = `.checkpoint.safetensors.${process.pid}.0123456789ab.tmp`;
    const unrelated = ".notes.tmp";
    for (const name of [stale, live, unrelated]) await writeFile(join(directory, name), "partial");
    expect(await removeStaleTemporaryFiles(directory)).toEqual([stale]);
    expect((await readdir(directory)).sort()).toEqual([live, unrelated].sort());
    // A write in the folder cleans up as well.
    await writeFile(join(directory, stale), "partial");
    await writeFileAtomic(join(directory, "checkpoint.safetensors"), "new");
    expect((await readdir(directory)).sort()).toEqual([live, unrelated, "checkpoint.safetensors"].sort());
  });

  it("writes a file whose name is as long as the file system allows", async () => {
    const path = join(directory, `${"n".repeat(250)}.bin`);
    await writeFileAtomic(path, "long");
    expect(await readFile(path, "utf8")).toBe("long");
    expect(await readdir(directory)).toEqual([`${"n".repeat(250)}.bin`]);
  });

  it("reports a folder that cannot be created", async () => {
    const blocker = join(directory, "file");
    await writeFile(blocker, "x");
    const path = join(blocker, "sub", "out.mjs");
    const error = await atomicError(() => ensureDirectoryFor(path));
    expect(error.message).toBe(`could not write ${path}: cannot create the folder ${join(blocker, "sub")}: ENOTDIR: not a directory; no file was created`);
  });

  it("leaves one complete version when writers race", async () => {
    const path = join(directory, "race.bin");
    const versions = Array.from({ length: 8 }, (_, index) => String(index).repeat(10_000));
    await Promise.all(versions.map((contents) => writeFileAtomic(path, contents)));
    expect(versions).toContain(await readFile(path, "utf8"));
    expect(await readdir(directory)).toEqual(["race.bin"]);
  });
});
