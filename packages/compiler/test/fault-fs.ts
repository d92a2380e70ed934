/**
 * @file A file system for fault-injection tests: node's, except that writes to chosen files fail
 * the way a full disk (ENOSPC, after part of the bytes), a read-only file system (EROFS, at open)
 * or a path turned into a directory (EISDIR, at the rename) fails. Errors carry node's `code`
 * and message format, so what the user sees is what a real failure would show.
 */
import { basename } from "node:path";
import { nodeFileSystem, type AtomicFileSystem } from "../src/toolkit/data/atomic.js";

export type Fault = "ENOSPC" | "EROFS" | "EISDIR";

/** The message node gives for each fault. */
export const FAULT_MESSAGES: Readonly<Record<Fault, string>> = {
  ENOSPC: "ENOSPC: no space left on device",
  EROFS: "EROFS: read-only file system",
  EISDIR: "EISDIR: illegal operation on a directory",
};

const errno = (fault: Fault, syscall: string, path: string): Error => Object.assign(new Error(`${FAULT_MESSAGES[fault]}, ${syscall} '${path}'`), { code: fault, syscall, path });

/**
 * Node's file system, failing with `fault` for the temporary files of writes to a file named
 * `target` (a base name, e.g. "checkpoint.safetensors"; "*" for every file).
 * @param after ENOSPC only: fail once this many bytes of the file are written
 */
export function faultyFileSystem(target: string, fault: Fault, after = 64): AtomicFileSystem {
  const hits = (path: string): boolean => {
    const name = basename(path);
    return target === "*" ? name.endsWith(".tmp") : name.startsWith(`.${target}.`) && name.endsWith(".tmp");
  };
  return {
    ...nodeFileSystem,
    open: async (path, flags, mode) => {
      if (fault === "EROFS" && hits(path)) throw errno("EROFS", "open", path);
      const handle = await nodeFileSystem.open(path, flags, mode);
      if (fault !== "ENOSPC" || !hits(path)) return handle;
      let written = 0;
      return {
        write: async (buffer, offset, length, position) => {
          if (written + length > after) {
            if (after > written) written += (await handle.write(buffer, offset, after - written, position)).bytesWritten;
            throw errno("ENOSPC", "write", path);
          }
          const result = await handle.write(buffer, offset, length, position);
          written += result.bytesWritten;
          return result;
        },
        sync: () => handle.sync(),
        close: () => handle.close(),
      };
    },
    rename: async (from, to) => {
      if (fault === "EISDIR" && hits(from)) throw errno("EISDIR", "rename", `${from}' -> '${to}`);
      return nodeFileSystem.rename(from, to);
    },
  };
}
