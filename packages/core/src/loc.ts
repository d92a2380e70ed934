/**
 * @file Source locations of the user's op calls, captured from the call stack so that every
 * diagnostic points at the user's own line.
 */

/** A position in a user's source file (1-based line and column). */
export interface SourceLoc {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** `model.ts:12:15`, with the path relative to the working directory when inside it. */
export const formatLoc = (loc: SourceLoc): string => `${displayPath(loc.file)}:${loc.line}:${loc.column}`;

const displayPath = (file: string): string => {
  const cwd = typeof process !== "undefined" && typeof process.cwd === "function" ? process.cwd() : "";
  return cwd !== "" && file.startsWith(cwd + "/") ? file.slice(cwd.length + 1) : file;
};

// Frames inside graft itself, the test runner and node are skipped: the first remaining frame
// is the user's call.
const INTERNAL_FRAME = /\/packages\/(core|compiler|runtime)\/src\/|\/node_modules\/|^node:|^internal\//;
const FRAME = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/;

let locOverride: SourceLoc | undefined;

/**
 * Runs `build` with every op created inside it attributed to `loc` (used by compiler passes,
 * so that rewritten or derived nodes keep the user's location).
 */
export const withSourceLoc = <A>(loc: SourceLoc | undefined, build: () => A): A => {
  const previous = locOverride;
  locOverride = loc;
  try {
    return build();
  } finally {
    locOverride = previous;
  }
};

/** The user's location of the current op call, or undefined when none can be found. */
export const captureLoc = (): SourceLoc | undefined => {
  if (locOverride !== undefined) return locOverride;
  // ops build ops (a plain number lifted to a scalar constant, composites): the user's frame can
  // be deeper than V8's default 10 frames
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  const stack = new Error().stack;
  Error.stackTraceLimit = limit;
  if (stack === undefined) return undefined;
  for (const line of stack.split("\n").slice(1)) {
    const match = FRAME.exec(line.trim());
    if (match === null) continue;
    const file = (match[1] ?? "").replace(/^file:\/\//, "");
    if (INTERNAL_FRAME.test(file)) continue;
    return { file: decodeURIComponent(file), line: Number(match[2]), column: Number(match[3]) };
  }
  return undefined;
};
