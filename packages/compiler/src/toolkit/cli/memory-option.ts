/**
 * @file `--max-memory <size>` (compile, print, train): the most bytes a compiled program's arena may
 * take. Sizes are bytes or a number with a unit: `512MiB`, `4GiB`, `1.5GB` (KB/MB/GB/TB are powers
 * of 1000, KiB/MiB/GiB/TiB powers of 1024).
 */
import { InvalidArgumentError } from "commander";

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** The help text of the option. */
export const MAX_MEMORY_HELP = "the most memory a compiled program's arena may take, e.g. 512MiB or 8GiB (default 4GiB)";

/** Parses `--max-memory`: a positive size in bytes, with an optional unit. */
export const parseMemorySize = (value: string): number => {
  const match = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = UNITS[(match?.[2] ?? "").toLowerCase() || "b"];
  const bytes = Math.floor(Number(match?.[1]) * (unit ?? Number.NaN));
  if (match === null || unit === undefined || !Number.isSafeInteger(bytes) || bytes < 1)
    throw new InvalidArgumentError(`expected a size such as 512MiB, 4GiB or 1000000 (bytes), got '${value}'`);
  return bytes;
};
