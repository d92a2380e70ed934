// WAT generator for single-precision GEMM over wasm linear memory, with f32x4 SIMD.
//
//   C[rowStart:rowEnd, :] (=|+=) epilogue(op(A) @ op(B) + bias)
//
// Shapes are static (graft specialises programs to concrete shapes), so every size, stride and
// block bound is a constant of the generated code; only the row range is a run-time argument,
// which lets a threads pass split M across workers sharing one memory.
//
// Three strategies (picked by `planGemm`, overridable for tests and benchmarks):
//
// * "packed" — BLIS/Goto style. Loop nest: column blocks (NC) → k blocks (KC) → pack the
//   KC×NC block of op(B) into the scratch area as NR-wide panels (zero-padded at the right
//   edge; a transposed B is transposed here with 4×4 SIMD shuffles) → row blocks (MC) → panels
//   → MR-row micro-tiles. The micro-kernel keeps an MR×NR tile of C in v128 locals (registers)
//   for the whole k block, reading op(A) straight from memory with `v128.load32_splat` (a
//   transposed A needs no packing: its MR values per k step are contiguous) and one packed B
//   row per k step. x64 V8 has 15 allocatable xmm registers and TurboFan schedules all loads
//   of a loop iteration before its arithmetic, so a tile must fit accumulators + B vectors +
//   A broadcasts + 1 product in 15 registers: the default 2×16 tile uses 8 + 4 + 2 + 1. The k
//   loop is not unrolled in the WAT (V8 unrolls small loops itself; unrolled WAT spills).
//   Optionally (`packA`) op(A) is packed too, per MC×KC block; measured no faster here (the
//   A rows a tile reads stay in L1/L2), so it is off by default. When the packed B block fits
//   L1 (small k), row tiles run outside panels so C is written row by row in whole lines.
// * "direct" — for very few rows and an untransposed B: no packing at all, the micro-kernel
//   walks B's rows in place. Packing would cost as much memory traffic as the product itself.
// * "dot" — for very few rows, a transposed B and an untransposed A (the input gradient of a
//   batch of one): each output is a dot product of two contiguous rows, 4 outputs at a time,
//   reduced with shuffles. B is read once per row, never repacked.
//
// Rows that do not fill an MR tile use a one-row kernel; columns that do not fill an NR panel use
// a narrower kernel whose last vector is loaded and stored lane by lane (never touching memory
// outside the matrices).

/**
 * A GEMM to generate: `C (m×n) = op(A) (m×k) @ op(B) (k×n)`, all dense row-major f32 (no
 * alignment required; 16-byte alignment is fastest).
 */
export interface GemmSpec {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** A is stored as k×m (row-major), i.e. the kernel computes with its transpose. */
  readonly transA: boolean;
  /** B is stored as n×k (row-major), i.e. the kernel computes with its transpose. */
  readonly transB: boolean;
  /** Add a length-n row vector (param `$bias`) to every row of C. */
  readonly bias: boolean;
  /** Apply max(0, ·) after the bias. NaN stays NaN. */
  readonly relu: boolean;
  /**
   * `C = relu(C + A@B + bias)` instead of `C = relu(A@B + bias)` (the epilogue applies to the
   * final value).
   */
  readonly accumulate: boolean;
  /** Use `f32x4.relaxed_madd` (needs relaxed SIMD in the assembler and the engine). */
  readonly useRelaxedSimd: boolean;
}

/** Code-shape choices. `planGemm` picks them from the shape; tests and benchmarks may override. */
export interface GemmTuning {
  /**
   * "packed" (general), "direct" (untransposed B, a handful of rows) or "dot" (transposed B,
   * untransposed A, a handful of rows).
   */
  readonly strategy: "packed" | "direct" | "dot";
  /** Rows of the register tile. */
  readonly mr: number;
  /** f32x4 vectors per row of the register tile (the tile is 4·nv columns wide). */
  readonly nv: number;
  /** Largest k block (packed). */
  readonly kc: number;
  /** Largest column block, in panels of 4·nv columns (packed). */
  readonly ncPanels: number;
  /** Rows per row block (packed); rounded up to a multiple of `mr`. */
  readonly mc: number;
  /** Unroll factor of the k loop (1 is best under V8, which unrolls small loops itself). */
  readonly unroll: number;
  /** Pack each MC×KC block of op(A) into the scratch area (packed strategy only). */
  readonly packA: boolean;
  /**
   * Loop order inside a packed block: row tiles outside panels (C written row by row; best when
   * the packed B block fits L1) or panels outside row tiles (one B panel stays in L1).
   */
  readonly rowsOuter: boolean;
}

/** The parameters of every generated GEMM function, in order. All are byte offsets or row indices. */
export const GEMM_PARAMS = ["a", "b", "c", "bias", "rowStart", "rowEnd", "scratch"] as const;

const F32 = 4;
const V128 = 16;
const KC_MAX = 320;
const PACKED_BLOCK_BYTES = 320 * 1024;
const MC_DEFAULT = 128;
const DIRECT_FEW_ROWS = 3;
const DIRECT_MAX_ROWS = 64;
const DIRECT_MAX_B_BYTES = 1024 * 1024;
const DOT_MAX_ROWS = 4;
const ROWS_OUTER_MAX_BLOCK_BYTES = 32 * 1024;

function checkSpec(spec: GemmSpec): void {
  for (const [label, value] of [["m", spec.m], ["n", spec.n], ["k", spec.k]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`GEMM ${label} must be a positive integer, got ${value}`);
  }
  const largest = Math.max(spec.m * spec.k, spec.k * spec.n, spec.m * spec.n) * F32;
  if (largest >= 2 ** 31) throw new RangeError(`GEMM operands of ${spec.m}×${spec.k}×${spec.n} do not fit 32-bit byte offsets`);
}

function checkTuning(tuning: GemmTuning, spec: GemmSpec): void {
  const positive = ["mr", "nv", "kc", "ncPanels", "mc", "unroll"] as const;
  for (const key of positive) {
    const value = tuning[key];
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`GEMM tuning ${key} must be a positive integer, got ${value}`);
  }
  if (tuning.strategy === "direct" && spec.transB) throw new RangeError("the direct GEMM strategy needs an untransposed B");
  if (tuning.strategy === "dot" && (!spec.transB || spec.transA)) throw new RangeError("the dot GEMM strategy needs a transposed B and an untransposed A");
}

/**
 * Whether B can be read in place (strategy "direct"): few rows (packing would double the
 * traffic), or a moderate number of rows over a B that stays in L2 and whose row stride does not
 * alias in the caches (a multiple of 2 KiB maps every row of a panel to the same few sets).
 */
function directFits(spec: GemmSpec): boolean {
  if (spec.transB) return false;
  if (spec.m <= DIRECT_FEW_ROWS) return true;
  return spec.m <= DIRECT_MAX_ROWS && spec.k * spec.n * F32 <= DIRECT_MAX_B_BYTES && (spec.n * F32) % 2048 !== 0;
}

function defaultStrategy(spec: GemmSpec): GemmTuning["strategy"] {
  if (directFits(spec)) return "direct";
  if (spec.transB && !spec.transA && spec.m <= DOT_MAX_ROWS) return "dot";
  return "packed";
}

/** The code shape `emitGemmFunction` uses for `spec` unless told otherwise. */
export function planGemm(spec: GemmSpec, overrides: Partial<GemmTuning> = {}): GemmTuning {
  checkSpec(spec);
  const strategy = overrides.strategy ?? defaultStrategy(spec);
  let mr: number;
  let nv: number;
  if (strategy === "direct" && spec.m === 1) {
    // One row: a wide tile keeps enough independent accumulator chains in flight
    // (6 accumulators + 6 B vectors + 1 A broadcast + 1 product).
    mr = overrides.mr ?? 1;
    nv = overrides.nv ?? Math.min(6, Math.max(1, Math.ceil(spec.n / 4)));
  } else if (strategy === "direct" && spec.m < 4) {
    mr = overrides.mr ?? 2;
    nv = overrides.nv ?? 4;
  } else if (strategy === "direct") {
    // B in place, 32 bytes per row and k step; 8 accumulators + 2 B vectors + 4 A broadcasts +
    // 1 product = 15 xmm registers (TurboFan loads every operand of an iteration up front).
    mr = overrides.mr ?? 4;
    nv = overrides.nv ?? 2;
  } else {
    // 2×16: 8 accumulators + 4 B vectors + 2 A broadcasts + 1 product = 15 xmm registers. A
    // packed B row is one cache line per k step and C is written in whole lines; measured
    // equal to 4×8 in isolation and steadier when other processes share the caches. With
    // relaxed SIMD the same tile runs 8 independent FMA chains (enough for 2 FMA pipes at
    // 4-cycle latency).
    mr = overrides.mr ?? 2;
    nv = overrides.nv ?? 4;
  }
  const panelWidth = 4 * nv;
  // Balance the k blocks so the last one is not a sliver.
  const kBlocks = Math.ceil(spec.k / KC_MAX);
  const kc = overrides.kc ?? Math.ceil(spec.k / kBlocks);
  // Column blocks: the packed KC×NC block of B should stay in L2 while every row block walks it.
  const panels = Math.ceil(spec.n / panelWidth);
  const panelsFit = Math.max(1, Math.floor(PACKED_BLOCK_BYTES / (kc * panelWidth * F32)));
  const nBlocks = Math.ceil(panels / panelsFit);
  const ncPanels = overrides.ncPanels ?? Math.ceil(panels / nBlocks);
  const mc = overrides.mc ?? MC_DEFAULT;
  const tuning: GemmTuning = {
    strategy,
    mr,
    nv,
    kc,
    ncPanels,
    mc: Math.ceil(mc / mr) * mr,
    unroll: overrides.unroll ?? 1,
    packA: strategy === "packed" && (overrides.packA ?? false),
    rowsOuter: overrides.rowsOuter ?? Math.min(kc, spec.k) * Math.min(ncPanels * panelWidth, spec.n) * F32 <= ROWS_OUTER_MAX_BLOCK_BYTES,
  };
  checkTuning(tuning, spec);
  return tuning;
}

/**
 * Bytes of scratch memory the generated function needs at its `$scratch` param (0 when it packs
 * nothing). Each concurrent caller (e.g. each worker of a row split) needs its own scratch area;
 * 16-byte alignment is best for speed.
 */
export function gemmScratchBytes(spec: GemmSpec, overrides: Partial<GemmTuning> = {}): number {
  const tuning = planGemm(spec, overrides);
  const layout = scratchLayout(spec, tuning);
  return layout.packedBBytes + layout.packedABytes;
}

/** Where the packed operands live in the scratch area. */
interface ScratchLayout {
  /** Bytes of the packed B block (the packed A block follows, 64-byte aligned). */
  readonly packedBBytes: number;
  readonly packedABytes: number;
}

function scratchLayout(spec: GemmSpec, tuning: GemmTuning): ScratchLayout {
  if (tuning.strategy !== "packed") return { packedBBytes: 0, packedABytes: 0 };
  const panelWidth = 4 * tuning.nv;
  const fullPanels = Math.floor(spec.n / panelWidth);
  const edgeVectors = Math.ceil((spec.n % panelWidth) / 4);
  const blockPanels = Math.min(tuning.ncPanels, fullPanels);
  const kc = Math.min(tuning.kc, spec.k);
  const packedBBytes = Math.ceil((kc * (blockPanels * panelWidth + edgeVectors * 4) * F32) / 64) * 64;
  const packedABytes = tuning.packA ? kc * Math.min(tuning.mc, spec.m) * F32 : 0;
  return { packedBBytes, packedABytes };
}

/** Floating-point operations of one full GEMM (2·m·n·k), for GFLOP/s figures. */
export function gemmFlops(spec: Pick<GemmSpec, "m" | "n" | "k">): number {
  return 2 * spec.m * spec.n * spec.k;
}

// ---------------------------------------------------------------------------------------------
// WAT writing helpers

class WatWriter {
  private readonly lines: string[] = [];
  private depth = 0;

  line(text: string): void {
    this.lines.push("  ".repeat(this.depth) + text);
  }

  /** Writes `head`, runs `body` one level deeper, closes the parenthesis. */
  nest(head: string, body: () => void): void {
    this.line(head);
    this.depth++;
    body();
    this.depth--;
    this.line(")");
  }

  /** `(if condition (then ...) (else ...))`; `condition` is a folded i32 expression. */
  ifElse(condition: string, thenBody: () => void, elseBody?: () => void): void {
    this.nest(`(if ${condition}`, () => {
      this.nest("(then", thenBody);
      if (elseBody !== undefined) this.nest("(else", elseBody);
    });
  }

  /** A do-while loop: body, then `br_if` back while `continueCondition` holds. */
  doWhile(label: string, continueCondition: string, body: () => void): void {
    this.nest(`(loop ${label}`, () => {
      body();
      this.line(`(br_if ${label} ${continueCondition})`);
    });
  }

  text(): string {
    return this.lines.join("\n");
  }
}

const get = (name: string): string => `(local.get $${name})`;
const i32 = (value: number): string => `(i32.const ${value | 0})`;
const set = (name: string, expr: string): string => `(local.set $${name} ${expr})`;
const add = (x: string, y: string): string => `(i32.add ${x} ${y})`;
const i32sub = (x: string, y: string): string => `(i32.sub ${x} ${y})`;
const mul = (x: string, y: string): string => `(i32.mul ${x} ${y})`;
/** `base + offset` where offset is a constant; folds zero. */
const plus = (base: string, offset: number): string => (offset === 0 ? base : add(base, i32(offset)));
const memarg = (offset: number): string => (offset === 0 ? "" : ` offset=${offset}`);

/** Loads `lanes` (1..4) f32 lanes at `address + offset`, zero-filling the rest, reading no further. */
function loadLanes(address: string, offset: number, lanes: number): string {
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
function storeLanes(w: WatWriter, address: string, offset: number, lanes: number, value: string): void {
  switch (lanes) {
    case 4:
      w.line(`(v128.store${memarg(offset)} align=4 ${address} ${value})`);
      return;
    case 2:
      w.line(`(v128.store64_lane${memarg(offset)} align=4 0 ${address} ${value})`);
      return;
    case 1:
      w.line(`(v128.store32_lane${memarg(offset)} 0 ${address} ${value})`);
      return;
    case 3:
      w.line(`(v128.store64_lane${memarg(offset)} align=4 0 ${address} ${value})`);
      w.line(`(v128.store32_lane${memarg(offset + 8)} 2 ${address} ${value})`);
      return;
    default:
      throw new RangeError(`lanes must be 1..4, got ${lanes}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The micro-kernel

/** One register tile: `rows` × `vectors` f32x4 accumulators, the last vector `lastLanes` wide. */
interface TileShape {
  readonly rows: number;
  readonly vectors: number;
  /** Valid lanes of the last vector of each row (1..4); the others are computed but not stored. */
  readonly lastLanes: number;
  /** Bytes between consecutive k steps of B (a packed panel row, or a row of B in place). */
  readonly bStepBytes: number;
  /** Whether the last B vector must be read lane by lane (B in place, ragged right edge). */
  readonly bPartialLoad: boolean;
}

/** How the micro-kernel addresses op(A). */
interface AAccess {
  /** i32 expression: A's address for the tile whose first row is `$row`, at the block's first k step. */
  readonly tileStart: string;
  /** Byte offset of row `r` of a tile of `rows` rows, from the tile's address. */
  readonly rowOffset: (rows: number, r: number) => number;
  /** Bytes between consecutive k steps of a tile of `rows` rows. */
  readonly stepBytes: (rows: number) => number;
}

/** op(A) read in place from the caller's matrix. */
function aInPlace(spec: GemmSpec, kStartExpr: string): AAccess {
  return spec.transA
    ? {
        tileStart: add(get("a"), mul(add(mul(kStartExpr, i32(spec.m)), get("row")), i32(F32))),
        rowOffset: (_rows, r) => r * F32,
        stepBytes: () => spec.m * F32,
      }
    : {
        tileStart: add(get("a"), mul(add(mul(get("row"), i32(spec.k)), kStartExpr), i32(F32))),
        rowOffset: (_rows, r) => r * spec.k * F32,
        stepBytes: () => F32,
      };
}

/**
 * op(A) packed by {@link emitPackA} at `$apack`: the row block's tiles one after the other, each
 * `rows` floats per k step, so a tile starting at `$row` is `(row - rowBlock)·kc` floats in.
 */
const aPacked: AAccess = {
  tileStart: add(get("apack"), mul(mul(i32sub(get("row"), get("rowBlock")), get("kc")), i32(F32))),
  rowOffset: (_rows, r) => r * F32,
  stepBytes: (rows) => rows * F32,
};

interface KernelContext {
  readonly spec: GemmSpec;
  readonly tuning: GemmTuning;
  readonly a: AAccess;
  /** Whether the accumulators start from C (`null`: decided at run time by local `$loadC`). */
  readonly loadCStatically: boolean | null;
  /** Whether the epilogue runs (`null`: at run time by local `$lastK`). */
  readonly epilogueStatically: boolean | null;
}

const acc = (row: number, vector: number): string => `acc${row}_${vector}`;

/**
 * Emits one micro-tile. Run-time inputs: `$ap` (A at the tile's first row and k step), `$bp` (B
 * at the tile's first column and k step), `$cp` (C at the tile's corner), `$biasp` (bias at the
 * tile's first column), `$kc` and `$kcMain` (k steps of this block, and that count rounded down
 * to the unroll factor).
 */
function emitTile(w: WatWriter, ctx: KernelContext, tile: TileShape): void {
  const { spec, tuning } = ctx;
  const rowBytesC = spec.n * F32;
  const lanesOf = (vector: number): number => (vector === tile.vectors - 1 ? tile.lastLanes : 4);
  const cOffset = (row: number, vector: number): number => row * rowBytesC + vector * V128;

  // Initialise the accumulators: zero, or the current C (partial sums of earlier k blocks, or
  // the caller's C when accumulating).
  const loadC = (): void => {
    for (let r = 0; r < tile.rows; r++) {
      for (let v = 0; v < tile.vectors; v++) {
        w.line(set(acc(r, v), loadLanes(get("cp"), cOffset(r, v), lanesOf(v))));
      }
    }
  };
  const zeroC = (): void => {
    for (let r = 0; r < tile.rows; r++) {
      for (let v = 0; v < tile.vectors; v++) w.line(set(acc(r, v), "(v128.const i64x2 0 0)"));
    }
  };
  if (ctx.loadCStatically === true) loadC();
  else if (ctx.loadCStatically === false) zeroC();
  else w.ifElse(get("loadC"), loadC, zeroC);

  // One k step at unrolled position `step`: B vectors, then per row one A broadcast and
  // `vectors` multiply-adds.
  const kStep = (step: number): void => {
    for (let v = 0; v < tile.vectors; v++) {
      const offset = step * tile.bStepBytes + v * V128;
      const load = tile.bPartialLoad ? loadLanes(get("pb"), offset, lanesOf(v)) : `(v128.load${memarg(offset)} align=4 ${get("pb")})`;
      w.line(set(`b${v}`, load));
    }
    for (let r = 0; r < tile.rows; r++) {
      const aOffset = ctx.a.rowOffset(tile.rows, r) + step * ctx.a.stepBytes(tile.rows);
      w.line(set("av", `(v128.load32_splat${memarg(aOffset)} ${get("pa")})`));
      for (let v = 0; v < tile.vectors; v++) {
        const sum = spec.useRelaxedSimd
          ? `(f32x4.relaxed_madd ${get("av")} ${get(`b${v}`)} ${get(acc(r, v))})`
          : `(f32x4.add ${get(acc(r, v))} (f32x4.mul ${get("av")} ${get(`b${v}`)}))`;
        w.line(set(acc(r, v), sum));
      }
    }
  };

  const unroll = tuning.unroll;
  w.line(set("pa", get("ap")));
  w.line(set("pb", get("bp")));
  if (unroll > 1) {
    w.line(set("pbEnd", add(get("bp"), mul(get("kcMain"), i32(tile.bStepBytes)))));
    w.ifElse(`(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
      w.doWhile("$kUnrolled", `(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
        for (let step = 0; step < unroll; step++) kStep(step);
        w.line(set("pa", plus(get("pa"), unroll * ctx.a.stepBytes(tile.rows))));
        w.line(set("pb", plus(get("pb"), unroll * tile.bStepBytes)));
      });
    });
  }
  w.line(set("pbEnd", add(get("bp"), mul(get("kc"), i32(tile.bStepBytes)))));
  w.ifElse(`(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
    w.doWhile("$kSingle", `(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
      kStep(0);
      w.line(set("pa", plus(get("pa"), ctx.a.stepBytes(tile.rows))));
      w.line(set("pb", plus(get("pb"), tile.bStepBytes)));
    });
  });

  // Epilogue (bias, relu) on the last k block only.
  const epilogue = (): void => {
    if (spec.bias) {
      for (let v = 0; v < tile.vectors; v++) {
        w.line(set(`b${v}`, loadLanes(get("biasp"), v * V128, lanesOf(v))));
        for (let r = 0; r < tile.rows; r++) w.line(set(acc(r, v), `(f32x4.add ${get(acc(r, v))} ${get(`b${v}`)})`));
      }
    }
    if (spec.relu) {
      // pmax(x, 0) = x < 0 ? 0 : x — one maxps, and NaN passes through like PyTorch's relu.
      for (let r = 0; r < tile.rows; r++) {
        for (let v = 0; v < tile.vectors; v++) w.line(set(acc(r, v), `(f32x4.pmax ${get(acc(r, v))} (v128.const i64x2 0 0))`));
      }
    }
  };
  if (spec.bias || spec.relu) {
    if (ctx.epilogueStatically === true) epilogue();
    else if (ctx.epilogueStatically === null) w.ifElse(get("lastK"), epilogue);
  }

  for (let r = 0; r < tile.rows; r++) {
    for (let v = 0; v < tile.vectors; v++) storeLanes(w, get("cp"), cOffset(r, v), lanesOf(v), get(acc(r, v)));
  }
}

/** Declares the locals every strategy uses. */
function declareLocals(w: WatWriter, accumulatorRows: number, vectors: number, extraI32: readonly string[], extraV128: readonly string[]): void {
  const i32Locals = ["ap", "bp", "cp", "biasp", "pa", "pb", "pbEnd", "kc", "kcMain", "row", "rowBlockEnd", ...extraI32];
  for (const name of i32Locals) w.line(`(local $${name} i32)`);
  const v128Locals = ["av", ...extraV128];
  for (let v = 0; v < vectors; v++) v128Locals.push(`b${v}`);
  for (let r = 0; r < accumulatorRows; r++) for (let v = 0; v < vectors; v++) v128Locals.push(acc(r, v));
  for (const name of v128Locals) w.line(`(local $${name} v128)`);
}

/** Clamps the row range to [0, m] so a bad split cannot write outside C. */
function emitRowRangeClamp(w: WatWriter, m: number): void {
  w.line(set("rowEnd", `(select ${get("rowEnd")} ${i32(m)} (i32.le_s ${get("rowEnd")} ${i32(m)}))`));
  w.line(set("rowStart", `(select ${get("rowStart")} ${i32(0)} (i32.gt_s ${get("rowStart")} ${i32(0)}))`));
  w.line(`(if (i32.ge_s ${get("rowStart")} ${get("rowEnd")}) (then (return)))`);
}

/**
 * Emits the row loop over one column panel: full `mr`-row tiles from `$row` up to
 * `$rowBlockEnd`, then single rows. Sets `$ap` and `$cp` per tile; `$bp`, `$biasp` and the
 * column (`columnExpr`, in elements) are the caller's.
 */
/** Emits one tile whose first row is `$row` at column `columnExpr` (elements): sets `$ap`, `$cp`. */
function emitTileAtRow(w: WatWriter, ctx: KernelContext, columnExpr: string, tile: TileShape): void {
  w.line(set("ap", ctx.a.tileStart));
  w.line(set("cp", add(get("c"), mul(add(mul(get("row"), i32(ctx.spec.n)), columnExpr), i32(F32)))));
  emitTile(w, ctx, tile);
}

/**
 * Emits the row loop over one column panel: full `mr`-row tiles from `$row` up to
 * `$rowBlockEnd`, then single rows. `$bp`, `$biasp` and the column (`columnExpr`, in elements)
 * are the caller's.
 */
function emitRowTiles(w: WatWriter, ctx: KernelContext, columnExpr: string, vectors: number, lastLanes: number, bStepBytes: number, bPartialLoad: boolean): void {
  const mr = ctx.tuning.mr;
  if (mr > 1) {
    const fullEnd = `(i32.le_s ${plus(get("row"), mr)} ${get("rowBlockEnd")})`;
    w.ifElse(fullEnd, () => {
      w.doWhile("$rowTiles", fullEnd, () => {
        emitTileAtRow(w, ctx, columnExpr, { rows: mr, vectors, lastLanes, bStepBytes, bPartialLoad });
        w.line(set("row", plus(get("row"), mr)));
      });
    });
  }
  const more = `(i32.lt_s ${get("row")} ${get("rowBlockEnd")})`;
  w.ifElse(more, () => {
    w.doWhile("$singleRows", more, () => {
      emitTileAtRow(w, ctx, columnExpr, { rows: 1, vectors, lastLanes, bStepBytes, bPartialLoad });
      w.line(set("row", plus(get("row"), 1)));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Strategy "direct": B read in place, no k blocking.

function emitDirectBody(w: WatWriter, spec: GemmSpec, tuning: GemmTuning): void {
  const panelWidth = 4 * tuning.nv;
  const fullPanels = Math.floor(spec.n / panelWidth);
  const edgeWidth = spec.n % panelWidth;
  const ctx: KernelContext = {
    spec,
    tuning,
    a: aInPlace(spec, i32(0)),
    loadCStatically: spec.accumulate,
    epilogueStatically: true,
  };
  w.line(set("kc", i32(spec.k)));
  w.line(set("kcMain", i32(spec.k - (spec.k % tuning.unroll))));
  const panel = (columnExpr: string, vectors: number, lastLanes: number, partial: boolean): void => {
    w.line(set("bp", add(get("b"), mul(columnExpr, i32(F32)))));
    w.line(set("biasp", add(get("bias"), mul(columnExpr, i32(F32)))));
    w.line(set("row", get("rowStart")));
    w.line(set("rowBlockEnd", get("rowEnd")));
    emitRowTiles(w, ctx, columnExpr, vectors, lastLanes, spec.n * F32, partial);
  };
  if (fullPanels > 0) {
    w.line(set("panel", i32(0)));
    w.doWhile("$panels", `(i32.lt_s ${get("panel")} ${i32(fullPanels)})`, () => {
      panel(mul(get("panel"), i32(panelWidth)), tuning.nv, 4, false);
      w.line(set("panel", plus(get("panel"), 1)));
    });
  }
  if (edgeWidth > 0) {
    const vectors = Math.ceil(edgeWidth / 4);
    const lastLanes = edgeWidth - 4 * (vectors - 1);
    panel(i32(fullPanels * panelWidth), vectors, lastLanes, lastLanes !== 4);
  }
}

// ---------------------------------------------------------------------------------------------
// Strategy "dot": C[i][j] = A[i,:] · B[j,:] with both rows contiguous (transposed B).

function emitDotBody(w: WatWriter, spec: GemmSpec): void {
  const rowBytesA = spec.k * F32;
  const rowBytesB = spec.k * F32;
  const kQuads = spec.k - (spec.k % 4);
  const fullGroups = Math.floor(spec.n / 4);
  const edgeColumns = spec.n % 4;

  /** 4 (or `columns`) outputs of row `$row` from B rows starting at `$bp`; C at `$cp`, bias at `$biasp`. */
  const group = (columns: number): void => {
    // Row offset of output column jj in B (a missing column re-reads the last one, unstored).
    const bRow = (jj: number): number => Math.min(jj, columns - 1) * rowBytesB;
    for (let jj = 0; jj < 4; jj++) w.line(set(acc(0, jj), "(v128.const i64x2 0 0)"));
    if (kQuads > 0) {
      w.line(set("pa", get("ap")));
      w.line(set("pb", get("bp")));
      w.line(set("pbEnd", plus(get("bp"), kQuads * F32)));
      w.doWhile("$dotK", `(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
        w.line(set("av", `(v128.load align=4 ${get("pa")})`));
        for (let jj = 0; jj < 4; jj++) {
          w.line(set(acc(0, jj), `(f32x4.add ${get(acc(0, jj))} (f32x4.mul ${get("av")} (v128.load${memarg(bRow(jj))} align=4 ${get("pb")})))`));
        }
        w.line(set("pa", plus(get("pa"), V128)));
        w.line(set("pb", plus(get("pb"), V128)));
      });
    }
    // Horizontal sums: av = [Σacc0, Σacc1, Σacc2, Σacc3].
    const pairSums = (x: string, y: string): string =>
      `(f32x4.add ${shuffleF32(x, y, [0, 4, 2, 6])} ${shuffleF32(x, y, [1, 5, 3, 7])})`;
    w.line(set("b0", pairSums(get(acc(0, 0)), get(acc(0, 1)))));
    w.line(set("b1", pairSums(get(acc(0, 2)), get(acc(0, 3)))));
    w.line(set("av", `(f32x4.add ${shuffleF32(get("b0"), get("b1"), [0, 1, 4, 5])} ${shuffleF32(get("b0"), get("b1"), [2, 3, 6, 7])})`));
    // The k remainder (static, at most 3 steps).
    for (let p = kQuads; p < spec.k; p++) {
      let bValues = `(f32x4.splat (f32.load${memarg(p * F32)} ${get("bp")}))`;
      for (let jj = 1; jj < 4; jj++) bValues = `(f32x4.replace_lane ${jj} ${bValues} (f32.load${memarg(bRow(jj) + p * F32)} ${get("bp")}))`;
      w.line(set("av", `(f32x4.add ${get("av")} (f32x4.mul (v128.load32_splat${memarg(p * F32)} ${get("ap")}) ${bValues}))`));
    }
    if (spec.accumulate) w.line(set("av", `(f32x4.add ${get("av")} ${loadLanes(get("cp"), 0, columns)})`));
    if (spec.bias) w.line(set("av", `(f32x4.add ${get("av")} ${loadLanes(get("biasp"), 0, columns)})`));
    if (spec.relu) w.line(set("av", `(f32x4.pmax ${get("av")} (v128.const i64x2 0 0))`));
    storeLanes(w, get("cp"), 0, columns, get("av"));
  };

  w.line(set("row", get("rowStart")));
  w.doWhile("$dotRows", `(i32.lt_s ${get("row")} ${get("rowEnd")})`, () => {
    w.line(set("ap", add(get("a"), mul(get("row"), i32(rowBytesA)))));
    w.line(set("cp", add(get("c"), mul(get("row"), i32(spec.n * F32)))));
    w.line(set("bp", get("b")));
    w.line(set("biasp", get("bias")));
    if (fullGroups > 0) {
      w.line(set("panel", i32(0)));
      w.doWhile("$dotGroups", `(i32.lt_s ${get("panel")} ${i32(fullGroups)})`, () => {
        group(4);
        w.line(set("bp", plus(get("bp"), 4 * rowBytesB)));
        w.line(set("cp", plus(get("cp"), V128)));
        w.line(set("biasp", plus(get("biasp"), V128)));
        w.line(set("panel", plus(get("panel"), 1)));
      });
    }
    if (edgeColumns > 0) group(edgeColumns);
    w.line(set("row", plus(get("row"), 1)));
  });
}

// ---------------------------------------------------------------------------------------------
// Strategy "packed"

/**
 * Packs op(B)[k0 : k0+kc, block columns] into `$scratch`: full panels of `panelWidth` columns
 * (kc rows of panelWidth floats each, panel stride kc·panelWidth floats), then — in the last
 * column block — the ragged edge panel, `edgeVectors·4` floats wide, zero-padded.
 */
function emitPackB(w: WatWriter, spec: GemmSpec, tuning: GemmTuning, fullPanels: number, edgeWidth: number): void {
  const panelWidth = 4 * tuning.nv;
  const panelRowBytes = panelWidth * F32;
  const edgeVectors = Math.ceil(edgeWidth / 4);
  // In the packed layout the edge panel follows the block's full panels.
  const edgePanelStart = add(get("scratch"), mul(mul(get("blockPanels"), get("kc")), i32(panelRowBytes)));

  if (!spec.transB) {
    // B is k×n: copy each row segment of the block, panel by panel.
    w.line(set("p", i32(0)));
    w.doWhile("$packRows", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
      w.line(set("src", add(get("b"), mul(add(mul(add(get("k0"), get("p")), i32(spec.n)), get("col0")), i32(F32)))));
      w.line(set("dst", add(get("scratch"), mul(get("p"), i32(panelRowBytes)))));
      w.line(set("dstEnd", add(get("dst"), mul(get("blockPanels"), get("panelBytes")))));
      w.ifElse(`(i32.lt_u ${get("dst")} ${get("dstEnd")})`, () => {
        w.doWhile("$packPanels", `(i32.lt_u ${get("dst")} ${get("dstEnd")})`, () => {
          for (let v = 0; v < tuning.nv; v++) {
            w.line(`(v128.store${memarg(v * V128)} align=4 ${get("dst")} (v128.load${memarg(v * V128)} align=4 ${get("src")}))`);
          }
          w.line(set("src", plus(get("src"), panelRowBytes)));
          w.line(set("dst", add(get("dst"), get("panelBytes"))));
        });
      });
      if (edgeWidth > 0) {
        // `src` now points at column fullPanels·panelWidth of row p (the last block ends there).
        w.ifElse(get("lastColBlock"), () => {
          w.line(set("dst", add(edgePanelStart, mul(get("p"), i32(edgeVectors * V128)))));
          for (let v = 0; v < edgeVectors; v++) {
            const lanes = Math.min(4, edgeWidth - 4 * v);
            w.line(`(v128.store${memarg(v * V128)} align=4 ${get("dst")} ${loadLanes(get("src"), v * V128, lanes)})`);
          }
        });
      }
      w.line(set("p", plus(get("p"), 1)));
    });
    return;
  }

  // B is stored n×k: panel column j is row j of storage, so each group of 4 panel columns is an
  // interleave of 4 storage rows.
  if (fullPanels > 0) {
    w.line(set("panel", i32(0)));
    w.ifElse(`(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
      w.doWhile("$packPanels", `(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
        for (let group = 0; group < tuning.nv; group++) {
          // First storage row of this group of 4 columns, at k0.
          const firstColumn = add(add(get("col0"), mul(get("panel"), i32(panelWidth))), i32(group * 4));
          w.line(set("src", add(get("b"), mul(add(mul(firstColumn, i32(spec.k)), get("k0")), i32(F32)))));
          w.line(set("dst", add(add(get("scratch"), mul(get("panel"), get("panelBytes"))), i32(group * V128))));
          emitInterleave(w, spec.k * F32, 4, panelRowBytes);
        }
        w.line(set("panel", plus(get("panel"), 1)));
      });
    });
  }
  if (edgeWidth > 0) {
    const rowBytesB = spec.k * F32;
    w.ifElse(get("lastColBlock"), () => {
      w.line(set("src", add(get("b"), mul(add(i32(fullPanels * panelWidth * spec.k), get("k0")), i32(F32)))));
      w.line(set("dst", edgePanelStart));
      w.line(set("p", i32(0)));
      w.doWhile("$transposeEdge", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
        for (let column = 0; column < edgeVectors * 4; column++) {
          const value = column < edgeWidth ? `(f32.load${memarg(column * rowBytesB)} ${get("src")})` : "(f32.const 0)";
          w.line(`(f32.store${memarg(column * F32)} ${get("dst")} ${value})`);
        }
        w.line(set("src", plus(get("src"), F32)));
        w.line(set("dst", plus(get("dst"), edgeVectors * V128)));
        w.line(set("p", plus(get("p"), 1)));
      });
    });
  }
}

/** `i8x16.shuffle` selecting f32 lanes (0..3 from `x`, 4..7 from `y`). */
function shuffleF32(x: string, y: string, lanes: readonly number[]): string {
  const bytes: number[] = [];
  for (const lane of lanes) for (let byte = 0; byte < 4; byte++) bytes.push(lane * 4 + byte);
  return `(i8x16.shuffle ${bytes.join(" ")} ${x} ${y})`;
}

/**
 * Interleaves `rows` (1..4) source rows, `$kc` floats each starting at `$src` and
 * `sourceRowBytes` apart, into `$dst`: k step p goes to `$dst + p·destStepBytes`, as `rows`
 * consecutive floats. Works 4 k steps at a time with a 4×4 shuffle transpose (a missing 4th row
 * re-reads the last one; its lanes are never stored), then element by element. Clobbers `$p`,
 * `$src`, `$dst`, `$x0..3`, `$t0..3`; needs `$kcQuads` = `$kc` rounded down to 4.
 */
function emitInterleave(w: WatWriter, sourceRowBytes: number, rows: number, destStepBytes: number): void {
  w.line(set("p", i32(0)));
  w.ifElse(`(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
    w.doWhile("$transpose", `(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
      // x_r = source row r at k steps p..p+3; y_t = k step p+t of the rows.
      for (let r = 0; r < 4; r++) {
        w.line(set(`x${r}`, `(v128.load${memarg(Math.min(r, rows - 1) * sourceRowBytes)} align=4 ${get("src")})`));
      }
      w.line(set("t0", shuffleF32(get("x0"), get("x1"), [0, 4, 1, 5])));
      w.line(set("t1", shuffleF32(get("x2"), get("x3"), [0, 4, 1, 5])));
      w.line(set("t2", shuffleF32(get("x0"), get("x1"), [2, 6, 3, 7])));
      w.line(set("t3", shuffleF32(get("x2"), get("x3"), [2, 6, 3, 7])));
      storeLanes(w, get("dst"), 0, rows, shuffleF32(get("t0"), get("t1"), [0, 1, 4, 5]));
      storeLanes(w, get("dst"), destStepBytes, rows, shuffleF32(get("t0"), get("t1"), [2, 3, 6, 7]));
      storeLanes(w, get("dst"), 2 * destStepBytes, rows, shuffleF32(get("t2"), get("t3"), [0, 1, 4, 5]));
      storeLanes(w, get("dst"), 3 * destStepBytes, rows, shuffleF32(get("t2"), get("t3"), [2, 3, 6, 7]));
      w.line(set("src", plus(get("src"), V128)));
      w.line(set("dst", plus(get("dst"), 4 * destStepBytes)));
      w.line(set("p", plus(get("p"), 4)));
    });
  });
  w.ifElse(`(i32.lt_s ${get("p")} ${get("kc")})`, () => {
    w.doWhile("$transposeTail", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
      for (let r = 0; r < rows; r++) {
        w.line(`(f32.store${memarg(r * F32)} ${get("dst")} (f32.load${memarg(r * sourceRowBytes)} ${get("src")}))`);
      }
      w.line(set("src", plus(get("src"), F32)));
      w.line(set("dst", plus(get("dst"), destStepBytes)));
      w.line(set("p", plus(get("p"), 1)));
    });
  });
}

/**
 * Packs op(A)[rowBlock : rowBlockEnd, k0 : k0+kc] at `$apack` in the layout {@link aPacked}
 * reads: full `mr`-row tiles as `mr` floats per k step, then each leftover row as `kc`
 * contiguous floats.
 */
function emitPackA(w: WatWriter, spec: GemmSpec, tuning: GemmTuning): void {
  const mr = tuning.mr;
  const tileBytes = (rows: number): string => mul(get("kc"), i32(rows * F32));
  const rowAddress = (rowExpr: string): string =>
    spec.transA
      ? add(get("a"), mul(add(mul(get("k0"), i32(spec.m)), rowExpr), i32(F32)))
      : add(get("a"), mul(add(mul(rowExpr, i32(spec.k)), get("k0")), i32(F32)));
  w.line(set("row", get("rowBlock")));
  w.line(set("tileBase", get("apack")));
  if (mr > 1) {
    const fullTile = `(i32.le_s ${plus(get("row"), mr)} ${get("rowBlockEnd")})`;
    w.ifElse(fullTile, () => {
      w.doWhile("$packATiles", fullTile, () => {
        for (let group = 0; group * 4 < mr; group++) {
          const rows = Math.min(4, mr - group * 4);
          w.line(set("src", rowAddress(plus(get("row"), group * 4))));
          w.line(set("dst", plus(get("tileBase"), group * V128)));
          if (spec.transA) {
            // The tile's rows are contiguous in each stored row of A: one (partial) vector per k step.
            w.line(set("p", i32(0)));
            w.doWhile("$packACopy", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
              storeLanes(w, get("dst"), 0, rows, loadLanes(get("src"), 0, rows));
              w.line(set("src", plus(get("src"), spec.m * F32)));
              w.line(set("dst", plus(get("dst"), mr * F32)));
              w.line(set("p", plus(get("p"), 1)));
            });
          } else {
            emitInterleave(w, spec.k * F32, rows, mr * F32);
          }
        }
        w.line(set("tileBase", add(get("tileBase"), tileBytes(mr))));
        w.line(set("row", plus(get("row"), mr)));
      });
    });
  }
  const moreRows = `(i32.lt_s ${get("row")} ${get("rowBlockEnd")})`;
  w.ifElse(moreRows, () => {
    w.doWhile("$packARows", moreRows, () => {
      w.line(set("src", rowAddress(get("row"))));
      w.line(set("dst", get("tileBase")));
      w.line(set("p", i32(0)));
      if (spec.transA) {
        w.doWhile("$packAGather", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
          w.line(`(f32.store ${get("dst")} (f32.load ${get("src")}))`);
          w.line(set("src", plus(get("src"), spec.m * F32)));
          w.line(set("dst", plus(get("dst"), F32)));
          w.line(set("p", plus(get("p"), 1)));
        });
      } else {
        w.ifElse(`(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
          w.doWhile("$packACopy", `(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
            w.line(`(v128.store align=4 ${get("dst")} (v128.load align=4 ${get("src")}))`);
            w.line(set("src", plus(get("src"), V128)));
            w.line(set("dst", plus(get("dst"), V128)));
            w.line(set("p", plus(get("p"), 4)));
          });
        });
        w.ifElse(`(i32.lt_s ${get("p")} ${get("kc")})`, () => {
          w.doWhile("$packACopyTail", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
            w.line(`(f32.store ${get("dst")} (f32.load ${get("src")}))`);
            w.line(set("src", plus(get("src"), F32)));
            w.line(set("dst", plus(get("dst"), F32)));
            w.line(set("p", plus(get("p"), 1)));
          });
        });
      }
      w.line(set("tileBase", add(get("tileBase"), tileBytes(1))));
      w.line(set("row", plus(get("row"), 1)));
    });
  });
}

function emitPackedBody(w: WatWriter, spec: GemmSpec, tuning: GemmTuning): void {
  const panelWidth = 4 * tuning.nv;
  const panelRowBytes = panelWidth * F32;
  const fullPanels = Math.floor(spec.n / panelWidth);
  const edgeWidth = spec.n % panelWidth;
  const edgeVectors = Math.ceil(edgeWidth / 4);
  const edgeLastLanes = edgeWidth - 4 * (edgeVectors - 1);
  const kcMax = Math.min(tuning.kc, spec.k);
  const ctx: KernelContext = {
    spec,
    tuning,
    a: tuning.packA ? aPacked : aInPlace(spec, get("k0")),
    loadCStatically: spec.accumulate ? true : spec.k <= kcMax ? false : null,
    epilogueStatically: spec.k <= kcMax ? true : null,
  };

  w.line(set("apack", plus(get("scratch"), scratchLayout(spec, tuning).packedBBytes)));
  // Column blocks: panels [panel0, panel0 + blockPanels); the last block also owns the edge.
  w.line(set("panel0", i32(0)));
  w.doWhile("$colBlocks", `(i32.lt_s ${get("panel0")} ${i32(fullPanels)})`, () => {
    w.line(set("blockPanels", `(select ${i32(tuning.ncPanels)} (i32.sub ${i32(fullPanels)} ${get("panel0")}) (i32.le_s ${plus(get("panel0"), tuning.ncPanels)} ${i32(fullPanels)}))`));
    w.line(set("lastColBlock", `(i32.ge_s ${plus(get("panel0"), tuning.ncPanels)} ${i32(fullPanels)})`));
    w.line(set("col0", mul(get("panel0"), i32(panelWidth))));

    // k blocks.
    w.line(set("k0", i32(0)));
    w.doWhile("$kBlocks", `(i32.lt_s ${get("k0")} ${i32(spec.k)})`, () => {
      w.line(set("kc", `(select ${i32(kcMax)} (i32.sub ${i32(spec.k)} ${get("k0")}) (i32.le_s ${plus(get("k0"), kcMax)} ${i32(spec.k)}))`));
      w.line(set("kcMain", `(i32.sub ${get("kc")} (i32.rem_u ${get("kc")} ${i32(tuning.unroll)}))`));
      w.line(set("panelBytes", mul(get("kc"), i32(panelRowBytes))));
      w.line(set("kcQuads", `(i32.and ${get("kc")} ${i32(-4)})`));
      if (!spec.accumulate) w.line(set("loadC", `(i32.ne ${get("k0")} ${i32(0)})`));
      if (ctx.epilogueStatically === null) w.line(set("lastK", `(i32.ge_s ${add(get("k0"), get("kc"))} ${i32(spec.k)})`));

      emitPackB(w, spec, tuning, fullPanels, edgeWidth);

      // Row blocks, then panels, then row tiles.
      w.line(set("rowBlock", get("rowStart")));
      w.doWhile("$rowBlocks", `(i32.lt_s ${get("rowBlock")} ${get("rowEnd")})`, () => {
        w.line(set("rowBlockEnd", `(select ${plus(get("rowBlock"), tuning.mc)} ${get("rowEnd")} (i32.le_s ${plus(get("rowBlock"), tuning.mc)} ${get("rowEnd")}))`));
        if (tuning.packA) emitPackA(w, spec, tuning);
        const fullPanelPointers = (): void => {
          w.line(set("bp", add(get("scratch"), mul(get("panel"), get("panelBytes")))));
          w.line(set("column", add(get("col0"), mul(get("panel"), i32(panelWidth)))));
          w.line(set("biasp", add(get("bias"), mul(get("column"), i32(F32)))));
        };
        const edgePanelPointers = (): void => {
          w.line(set("bp", add(get("scratch"), mul(get("blockPanels"), get("panelBytes")))));
          w.line(set("column", i32(fullPanels * panelWidth)));
          w.line(set("biasp", add(get("bias"), i32(fullPanels * panelWidth * F32))));
        };
        const panelLoop = (body: () => void): void => {
          w.line(set("panel", i32(0)));
          w.ifElse(`(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
            w.doWhile("$panels", `(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
              body();
              w.line(set("panel", plus(get("panel"), 1)));
            });
          });
        };
        if (tuning.rowsOuter) {
          // Row tiles outermost: each tile of C is finished panel after panel, left to right,
          // so C is written in whole cache lines; the packed B block should sit in L1.
          const rowsAcrossPanels = (rows: number): void => {
            if (fullPanels > 0) {
              panelLoop(() => {
                fullPanelPointers();
                emitTileAtRow(w, ctx, get("column"), { rows, vectors: tuning.nv, lastLanes: 4, bStepBytes: panelRowBytes, bPartialLoad: false });
              });
            }
            if (edgeWidth > 0) {
              w.ifElse(get("lastColBlock"), () => {
                edgePanelPointers();
                emitTileAtRow(w, ctx, get("column"), { rows, vectors: edgeVectors, lastLanes: edgeLastLanes, bStepBytes: edgeVectors * V128, bPartialLoad: false });
              });
            }
            w.line(set("row", plus(get("row"), rows)));
          };
          w.line(set("row", get("rowBlock")));
          if (tuning.mr > 1) {
            const fullTile = `(i32.le_s ${plus(get("row"), tuning.mr)} ${get("rowBlockEnd")})`;
            w.ifElse(fullTile, () => w.doWhile("$rowTiles", fullTile, () => rowsAcrossPanels(tuning.mr)));
          }
          const moreRows = `(i32.lt_s ${get("row")} ${get("rowBlockEnd")})`;
          w.ifElse(moreRows, () => w.doWhile("$singleRows", moreRows, () => rowsAcrossPanels(1)));
        } else {
          // Panels outermost: one packed B panel stays in L1 while every row tile uses it.
          if (fullPanels > 0) {
            panelLoop(() => {
              fullPanelPointers();
              w.line(set("row", get("rowBlock")));
              emitRowTiles(w, ctx, get("column"), tuning.nv, 4, panelRowBytes, false);
            });
          }
          if (edgeWidth > 0) {
            w.ifElse(get("lastColBlock"), () => {
              edgePanelPointers();
              w.line(set("row", get("rowBlock")));
              emitRowTiles(w, ctx, get("column"), edgeVectors, edgeLastLanes, edgeVectors * V128, false);
            });
          }
        }
        w.line(set("rowBlock", get("rowBlockEnd")));
      });
      w.line(set("k0", add(get("k0"), get("kc"))));
    });
    w.line(set("panel0", plus(get("panel0"), tuning.ncPanels)));
  });
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/**
 * WAT text of one function
 * `(func $name (param $a i32) (param $b i32) (param $c i32) (param $bias i32) (param $rowStart i32) (param $rowEnd i32) (param $scratch i32))`
 * computing rows `[rowStart, rowEnd)` of `C = epilogue(op(A) @ op(B))` (see {@link GemmSpec}).
 * `a`, `b`, `c`, `bias`, `scratch` are byte offsets into memory 0 of the whole (unsplit)
 * matrices; `bias` is ignored unless `spec.bias`; `scratch` must have
 * {@link gemmScratchBytes} bytes (ignored when that is 0). The row range is clamped to [0, m].
 * C must not overlap A, B or bias.
 */
export function emitGemmFunction(name: string, spec: GemmSpec, overrides: Partial<GemmTuning> = {}): string {
  if (!/^[A-Za-z0-9_.]+$/.test(name)) throw new RangeError(`invalid WAT function name: ${JSON.stringify(name)}`);
  const tuning = planGemm(spec, overrides);
  const w = new WatWriter();
  const header = `(func $${name} ${GEMM_PARAMS.map((param) => `(param $${param} i32)`).join(" ")}`;
  w.nest(header, () => {
    w.line(
      `;; ${spec.m}x${spec.n}x${spec.k} transA=${spec.transA} transB=${spec.transB} bias=${spec.bias} relu=${spec.relu}` +
        ` accumulate=${spec.accumulate} relaxed=${spec.useRelaxedSimd} | ${tuning.strategy} ${tuning.mr}x${4 * tuning.nv}` +
        ` kc=${tuning.kc} nc=${tuning.ncPanels * 4 * tuning.nv} mc=${tuning.mc} unroll=${tuning.unroll}`,
    );
    if (tuning.strategy === "direct") {
      declareLocals(w, tuning.mr, tuning.nv, ["panel"], []);
      emitRowRangeClamp(w, spec.m);
      emitDirectBody(w, spec, tuning);
    } else if (tuning.strategy === "dot") {
      declareLocals(w, 1, 4, ["panel"], []);
      emitRowRangeClamp(w, spec.m);
      emitDotBody(w, spec);
    } else {
      declareLocals(w, tuning.mr, tuning.nv, [
        "panel",
        "panel0",
        "blockPanels",
        "lastColBlock",
        "col0",
        "column",
        "k0",
        "kcQuads",
        "panelBytes",
        "loadC",
        "lastK",
        "rowBlock",
        "p",
        "src",
        "dst",
        "dstEnd",
        "apack",
        "tileBase",
      ], ["x0", "x1", "x2", "x3", "t0", "t1", "t2", "t3"]);
      emitRowRangeClamp(w, spec.m);
      emitPackedBody(w, spec, tuning);
    }
  });
  return w.text();
}

/** Options of {@link emitGemmModule}. */
export interface GemmModuleOptions {
  /** Import a shared memory (needs threads in the assembler and a SharedArrayBuffer memory). */
  readonly sharedMemory?: boolean;
  /** Minimum pages of the imported memory (default 1). A shared import declares 65536 as maximum. */
  readonly memoryPages?: number;
}

/**
 * A complete module importing memory `env.memory` and exporting each function under its name;
 * for tests and benchmarks (the code generator embeds {@link emitGemmFunction} in its own
 * modules).
 */
export function emitGemmModule(
  functions: ReadonlyArray<{ readonly name: string; readonly spec: GemmSpec; readonly tuning?: Partial<GemmTuning> }>,
  opts: GemmModuleOptions = {},
): string {
  const pages = opts.memoryPages ?? 1;
  const memoryType = opts.sharedMemory === true ? `${pages} 65536 shared` : `${pages}`;
  const parts = [`(module`, `  (import "env" "memory" (memory ${memoryType}))`];
  for (const { name, spec, tuning } of functions) {
    parts.push(emitGemmFunction(name, spec, tuning));
    parts.push(`(export "${name}" (func $${name}))`);
  }
  parts.push(")");
  return parts.join("\n");
}
