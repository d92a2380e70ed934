/**
 * @file The one WAT builder of the WASM back end, used by the kernels (codegen), the math library
 * (mathlib.ts) and the GEMM generator (gemm.ts): a statement writer with nested blocks
 * ({@link WatWriter}), a function builder with typed locals ({@link FunctionBuilder}), constants
 * and the memory-access helpers the kernels share.
 */

/** A WebAssembly value type. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

/**
 * Writes WAT statements, one per line, indented by nesting depth: `emit` one folded instruction,
 * `block` a head with a body one level deeper, `when` an if/then/else, `doWhile` a loop.
 */
export class WatWriter {
  private readonly lines: string[] = [];

  constructor(private depth = 0) {}

  /** Appends one statement (a complete folded instruction). */
  emit(statement: string): void {
    this.lines.push("  ".repeat(this.depth) + statement);
  }

  /** Writes `head`, the statements `body` emits one level deeper, then `)`. */
  block(head: string, body: () => void): void {
    this.emit(head);
    this.depth++;
    body();
    this.depth--;
    this.emit(")");
  }

  /** `(if condition (then …))`, with an optional else branch; `condition` is a folded i32 expression. */
  when(condition: string, then: () => void, otherwise?: () => void): void {
    this.block(`(if ${condition}`, () => {
      this.block("(then", then);
      if (otherwise !== undefined) this.block("(else", otherwise);
    });
  }

  /** A do-while loop: body, then `br_if` back while `continueCondition` holds. */
  doWhile(label: string, continueCondition: string, body: () => void): void {
    this.block(`(loop ${label}`, () => {
      body();
      this.emit(`(br_if ${label} ${continueCondition})`);
    });
  }

  /** The statements written so far, one per line. */
  statements(): string {
    return this.lines.join("\n");
  }
}

/**
 * Builds one WAT function: typed locals and a flat list of statements (nested blocks are written
 * as text around the statements emitted between `open` and `close`). All generated expressions
 * are pure, so binding a value to a local never changes what the program computes.
 */
export class FunctionBuilder extends WatWriter {
  private readonly locals: Array<readonly [string, ValType]> = [];
  private counter = 0;

  constructor() {
    super(1);
  }

  /** A fresh local of `type`; returns its name with the `$`. */
  local(type: ValType, hint = "t"): string {
    const name = `$${hint}${this.counter++}`;
    this.locals.push([name, type]);
    return name;
  }

  /** Evaluates `code` once into a new local and returns `(local.get …)`. */
  bind(type: ValType, code: string, hint = "t"): string {
    if (/^\((local\.get \$[\w.]+|[fi](32|64)\.const [^()]+|v128\.const [^()]+)\)$/.test(code)) return code;
    const name = this.local(type, hint);
    this.emit(`(local.set ${name} ${code})`);
    return `(local.get ${name})`;
  }

  /** Sets an existing local. */
  set(name: string, code: string): void {
    this.emit(`(local.set ${name} ${code})`);
  }

  /**
   * A counted loop `for (counter = from; counter < to; counter += step)` with constant bounds;
   * emits nothing when it would not run. `body` sees the counter as `(local.get counter)`.
   */
  forRange(counter: string, from: number, to: number, step: number, body: () => void): void {
    if (from >= to) return;
    this.set(counter, i32c(from));
    const label = `$L${this.counter++}`;
    this.block(`(loop ${label}`, () => {
      body();
      this.set(counter, `(i32.add (local.get ${counter}) ${i32c(step)})`);
      this.emit(`(br_if ${label} (i32.lt_s (local.get ${counter}) ${i32c(to)}))`);
    });
  }

  /** A loop with a run-time bound: `for (counter = from; counter < to; counter += step)` (from, to: code). */
  forDynamic(counter: string, from: string, to: string, step: number, body: () => void): void {
    this.set(counter, from);
    const label = `$L${this.counter++}`;
    const exit = `$B${this.counter++}`;
    this.block(`(block ${exit}`, () => {
      this.emit(`(br_if ${exit} (i32.ge_s (local.get ${counter}) ${to}))`);
      this.block(`(loop ${label}`, () => {
        body();
        this.set(counter, `(i32.add (local.get ${counter}) ${i32c(step)})`);
        this.emit(`(br_if ${label} (i32.lt_s (local.get ${counter}) ${to}))`);
      });
    });
  }

  /** A fresh block label (for `br` out of nested code). */
  label(hint = "B"): string {
    return `$${hint}${this.counter++}`;
  }

  /** The function's text. */
  text(name: string, params: ReadonlyArray<readonly [string, ValType]> = [], result?: ValType): string {
    const head = [`(func $${name}`, ...params.map(([p, t]) => `(param $${p} ${t})`), ...(result === undefined ? [] : [`(result ${result})`])].join(" ");
    const locals = this.locals.map(([n, t]) => `  (local ${n} ${t})`);
    return [head, ...locals, this.statements(), ")"].filter((part) => part !== "").join("\n");
  }
}

// ----- constants ------------------------------------------------------------------------------

/** A float literal for WAT (`inf`, `-inf`, `nan`, or the shortest round-trip decimal). */
export const fmtFloat = (x: number): string => {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Object.is(x, -0)) return "-0";
  return String(x);
};

/** `(i32.const n)`. */
export const i32c = (n: number): string => `(i32.const ${n | 0})`;
/** `(f32.const x)`. */
export const f32c = (x: number): string => `(f32.const ${fmtFloat(x)})`;
/** `(f64.const x)`. */
export const f64c = (x: number): string => `(f64.const ${fmtFloat(x)})`;

// ----- memory and integer helpers of the kernels -------------------------------------------------

/** `(type.load offset=… ptr)` (v128 with align=4). */
export const ld = (type: "f32" | "i32" | "v128" | "f64", offset: number, ptr: string): string => `(${type}.load offset=${offset}${type === "v128" ? " align=4" : ""} ${ptr})`;
/** `(type.store offset=… ptr value)` (v128 with align=4). */
export const st = (type: "f32" | "i32" | "v128", offset: number, ptr: string, value: string): string =>
  `(${type}.store offset=${offset}${type === "v128" ? " align=4" : ""} ${ptr} ${value})`;
/** `(local.get local)`; `local` includes its `$`. */
export const get = (local: string): string => `(local.get ${local})`;
export const ZERO = i32c(0);
/** i32 `a + b`, folding a constant zero. */
export const iadd = (a: string, b: string): string => (b === ZERO ? a : a === ZERO ? b : `(i32.add ${a} ${b})`);
/** i32 `a · n` for a constant n, folding 0 and 1. */
export const imul = (a: string, n: number): string => (n === 0 ? ZERO : n === 1 ? a : `(i32.mul ${a} ${i32c(n)})`);

/** ` offset=n` of a memory instruction (empty for 0). */
export const memarg = (offset: number): string => (offset === 0 ? "" : ` offset=${offset}`);

/** Loads `lanes` (1..4) f32 lanes at `address + offset`, zero-filling the rest, reading no further. */
export function loadLanes(address: string, offset: number, lanes: number): string {
  switch (lanes) {
    case 4:
      return `(v128.load${memarg(offset)} align=4 ${address})`;
    case 2:
      return `(v128.load64_zero${memarg(offset)} align=4 ${address})`;
    case 1:
      return `(v128.load32_zero${memarg(offset)} ${address})`;
    case 3:
      return `(v128.load32_lane${memarg(offset + 8)} 2 ${address} (v128.load64_zero${memarg(offset)} align=4 ${address}))`;
    default:
      throw new RangeError(`lanes must be 1..4, got ${lanes}`);
  }
}

/** Stores the first `lanes` (1..4) f32 lanes of `value` at `address + offset`. */
export function storeLanes(w: WatWriter, address: string, offset: number, lanes: number, value: string): void {
  switch (lanes) {
    case 4:
      w.emit(`(v128.store${memarg(offset)} align=4 ${address} ${value})`);
      return;
    case 2:
      w.emit(`(v128.store64_lane${memarg(offset)} align=4 0 ${address} ${value})`);
      return;
    case 1:
      w.emit(`(v128.store32_lane${memarg(offset)} 0 ${address} ${value})`);
      return;
    case 3:
      w.emit(`(v128.store64_lane${memarg(offset)} align=4 0 ${address} ${value})`);
      w.emit(`(v128.store32_lane${memarg(offset + 8)} 2 ${address} ${value})`);
      return;
    default:
      throw new RangeError(`lanes must be 1..4, got ${lanes}`);
  }
}
