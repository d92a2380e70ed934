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

import { loadLanes, memarg, storeLanes, WatWriter } from "./wat-builder.js";
import { F32, GEMM_PARAMS, planGemm, scratchLayout, V128, type GemmSpec, type GemmTuning } from "./gemm-plan.js";

export { GEMM_PARAMS, gemmFlops, gemmScratchBytes, planGemm, type GemmSpec, type GemmTuning } from "./gemm-plan.js";

// ---------------------------------------------------------------------------------------------
// WAT writing helpers

const get = (name: string): string => `(local.get $${name})`;
const i32 = (value: number): string => `(i32.const ${value | 0})`;
const set = (name: string, expr: string): string => `(local.set $${name} ${expr})`;
const add = (x: string, y: string): string => `(i32.add ${x} ${y})`;
const i32sub = (x: string, y: string): string => `(i32.sub ${x} ${y})`;
const mul = (x: string, y: string): string => `(i32.mul ${x} ${y})`;
/** `base + offset` where offset is a constant; folds zero. */
const plus = (base: string, offset: number): string => (offset === 0 ? base : add(base, i32(offset)));

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
        w.emit(set(acc(r, v), loadLanes(get("cp"), cOffset(r, v), lanesOf(v))));
      }
    }
  };
  const zeroC = (): void => {
    for (let r = 0; r < tile.rows; r++) {
      for (let v = 0; v < tile.vectors; v++) w.emit(set(acc(r, v), "(v128.const i64x2 0 0)"));
    }
  };
  if (ctx.loadCStatically === true) loadC();
  else if (ctx.loadCStatically === false) zeroC();
  else w.when(get("loadC"), loadC, zeroC);

  // One k step at unrolled position `step`: B vectors, then per row one A broadcast and
  // `vectors` multiply-adds.
  const kStep = (step: number): void => {
    for (let v = 0; v < tile.vectors; v++) {
      const offset = step * tile.bStepBytes + v * V128;
      const load = tile.bPartialLoad ? loadLanes(get("pb"), offset, lanesOf(v)) : `(v128.load${memarg(offset)} align=4 ${get("pb")})`;
      w.emit(set(`b${v}`, load));
    }
    for (let r = 0; r < tile.rows; r++) {
      const aOffset = ctx.a.rowOffset(tile.rows, r) + step * ctx.a.stepBytes(tile.rows);
      w.emit(set("av", `(v128.load32_splat${memarg(aOffset)} ${get("pa")})`));
      for (let v = 0; v < tile.vectors; v++) {
        const sum = spec.useRelaxedSimd
          ? `(f32x4.relaxed_madd ${get("av")} ${get(`b${v}`)} ${get(acc(r, v))})`
          : `(f32x4.add ${get(acc(r, v))} (f32x4.mul ${get("av")} ${get(`b${v}`)}))`;
        w.emit(set(acc(r, v), sum));
      }
    }
  };

  const unroll = tuning.unroll;
  w.emit(set("pa", get("ap")));
  w.emit(set("pb", get("bp")));
  if (unroll > 1) {
    w.emit(set("pbEnd", add(get("bp"), mul(get("kcMain"), i32(tile.bStepBytes)))));
    w.when(`(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
      w.doWhile("$kUnrolled", `(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
        for (let step = 0; step < unroll; step++) kStep(step);
        w.emit(set("pa", plus(get("pa"), unroll * ctx.a.stepBytes(tile.rows))));
        w.emit(set("pb", plus(get("pb"), unroll * tile.bStepBytes)));
      });
    });
  }
  w.emit(set("pbEnd", add(get("bp"), mul(get("kc"), i32(tile.bStepBytes)))));
  w.when(`(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
    w.doWhile("$kSingle", `(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
      kStep(0);
      w.emit(set("pa", plus(get("pa"), ctx.a.stepBytes(tile.rows))));
      w.emit(set("pb", plus(get("pb"), tile.bStepBytes)));
    });
  });

  // Epilogue (bias, relu) on the last k block only.
  const epilogue = (): void => {
    if (spec.bias) {
      for (let v = 0; v < tile.vectors; v++) {
        w.emit(set(`b${v}`, loadLanes(get("biasp"), v * V128, lanesOf(v))));
        for (let r = 0; r < tile.rows; r++) w.emit(set(acc(r, v), `(f32x4.add ${get(acc(r, v))} ${get(`b${v}`)})`));
      }
    }
    if (spec.relu) {
      // pmax(x, 0) = x < 0 ? 0 : x — one maxps, and NaN passes through like PyTorch's relu.
      for (let r = 0; r < tile.rows; r++) {
        for (let v = 0; v < tile.vectors; v++) w.emit(set(acc(r, v), `(f32x4.pmax ${get(acc(r, v))} (v128.const i64x2 0 0))`));
      }
    }
  };
  if (spec.bias || spec.relu) {
    if (ctx.epilogueStatically === true) epilogue();
    else if (ctx.epilogueStatically === null) w.when(get("lastK"), epilogue);
  }

  for (let r = 0; r < tile.rows; r++) {
    for (let v = 0; v < tile.vectors; v++) storeLanes(w, get("cp"), cOffset(r, v), lanesOf(v), get(acc(r, v)));
  }
}

/** Declares the locals every strategy uses. */
function declareLocals(w: WatWriter, accumulatorRows: number, vectors: number, extraI32: readonly string[], extraV128: readonly string[]): void {
  const i32Locals = ["ap", "bp", "cp", "biasp", "pa", "pb", "pbEnd", "kc", "kcMain", "row", "rowBlockEnd", ...extraI32];
  for (const name of i32Locals) w.emit(`(local $${name} i32)`);
  const v128Locals = ["av", ...extraV128];
  for (let v = 0; v < vectors; v++) v128Locals.push(`b${v}`);
  for (let r = 0; r < accumulatorRows; r++) for (let v = 0; v < vectors; v++) v128Locals.push(acc(r, v));
  for (const name of v128Locals) w.emit(`(local $${name} v128)`);
}

/** Clamps the row range to [0, m] so a bad split cannot write outside C. */
function emitRowRangeClamp(w: WatWriter, m: number): void {
  w.emit(set("rowEnd", `(select ${get("rowEnd")} ${i32(m)} (i32.le_s ${get("rowEnd")} ${i32(m)}))`));
  w.emit(set("rowStart", `(select ${get("rowStart")} ${i32(0)} (i32.gt_s ${get("rowStart")} ${i32(0)}))`));
  w.emit(`(if (i32.ge_s ${get("rowStart")} ${get("rowEnd")}) (then (return)))`);
}

/**
 * Emits the row loop over one column panel: full `mr`-row tiles from `$row` up to
 * `$rowBlockEnd`, then single rows. Sets `$ap` and `$cp` per tile; `$bp`, `$biasp` and the
 * column (`columnExpr`, in elements) are the caller's.
 */
/** Emits one tile whose first row is `$row` at column `columnExpr` (elements): sets `$ap`, `$cp`. */
function emitTileAtRow(w: WatWriter, ctx: KernelContext, columnExpr: string, tile: TileShape): void {
  w.emit(set("ap", ctx.a.tileStart));
  w.emit(set("cp", add(get("c"), mul(add(mul(get("row"), i32(ctx.spec.n)), columnExpr), i32(F32)))));
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
    w.when(fullEnd, () => {
      w.doWhile("$rowTiles", fullEnd, () => {
        emitTileAtRow(w, ctx, columnExpr, { rows: mr, vectors, lastLanes, bStepBytes, bPartialLoad });
        w.emit(set("row", plus(get("row"), mr)));
      });
    });
  }
  const more = `(i32.lt_s ${get("row")} ${get("rowBlockEnd")})`;
  w.when(more, () => {
    w.doWhile("$singleRows", more, () => {
      emitTileAtRow(w, ctx, columnExpr, { rows: 1, vectors, lastLanes, bStepBytes, bPartialLoad });
      w.emit(set("row", plus(get("row"), 1)));
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
  w.emit(set("kc", i32(spec.k)));
  w.emit(set("kcMain", i32(spec.k - (spec.k % tuning.unroll))));
  const panel = (columnExpr: string, vectors: number, lastLanes: number, partial: boolean): void => {
    w.emit(set("bp", add(get("b"), mul(columnExpr, i32(F32)))));
    w.emit(set("biasp", add(get("bias"), mul(columnExpr, i32(F32)))));
    w.emit(set("row", get("rowStart")));
    w.emit(set("rowBlockEnd", get("rowEnd")));
    emitRowTiles(w, ctx, columnExpr, vectors, lastLanes, spec.n * F32, partial);
  };
  if (fullPanels > 0) {
    w.emit(set("panel", i32(0)));
    w.doWhile("$panels", `(i32.lt_s ${get("panel")} ${i32(fullPanels)})`, () => {
      panel(mul(get("panel"), i32(panelWidth)), tuning.nv, 4, false);
      w.emit(set("panel", plus(get("panel"), 1)));
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
    for (let jj = 0; jj < 4; jj++) w.emit(set(acc(0, jj), "(v128.const i64x2 0 0)"));
    if (kQuads > 0) {
      w.emit(set("pa", get("ap")));
      w.emit(set("pb", get("bp")));
      w.emit(set("pbEnd", plus(get("bp"), kQuads * F32)));
      w.doWhile("$dotK", `(i32.lt_u ${get("pb")} ${get("pbEnd")})`, () => {
        w.emit(set("av", `(v128.load align=4 ${get("pa")})`));
        for (let jj = 0; jj < 4; jj++) {
          w.emit(set(acc(0, jj), `(f32x4.add ${get(acc(0, jj))} (f32x4.mul ${get("av")} (v128.load${memarg(bRow(jj))} align=4 ${get("pb")})))`));
        }
        w.emit(set("pa", plus(get("pa"), V128)));
        w.emit(set("pb", plus(get("pb"), V128)));
      });
    }
    // Horizontal sums: av = [Σacc0, Σacc1, Σacc2, Σacc3].
    const pairSums = (x: string, y: string): string =>
      `(f32x4.add ${shuffleF32(x, y, [0, 4, 2, 6])} ${shuffleF32(x, y, [1, 5, 3, 7])})`;
    w.emit(set("b0", pairSums(get(acc(0, 0)), get(acc(0, 1)))));
    w.emit(set("b1", pairSums(get(acc(0, 2)), get(acc(0, 3)))));
    w.emit(set("av", `(f32x4.add ${shuffleF32(get("b0"), get("b1"), [0, 1, 4, 5])} ${shuffleF32(get("b0"), get("b1"), [2, 3, 6, 7])})`));
    // The k remainder (static, at most 3 steps).
    for (let p = kQuads; p < spec.k; p++) {
      let bValues = `(f32x4.splat (f32.load${memarg(p * F32)} ${get("bp")}))`;
      for (let jj = 1; jj < 4; jj++) bValues = `(f32x4.replace_lane ${jj} ${bValues} (f32.load${memarg(bRow(jj) + p * F32)} ${get("bp")}))`;
      w.emit(set("av", `(f32x4.add ${get("av")} (f32x4.mul (v128.load32_splat${memarg(p * F32)} ${get("ap")}) ${bValues}))`));
    }
    if (spec.accumulate) w.emit(set("av", `(f32x4.add ${get("av")} ${loadLanes(get("cp"), 0, columns)})`));
    if (spec.bias) w.emit(set("av", `(f32x4.add ${get("av")} ${loadLanes(get("biasp"), 0, columns)})`));
    if (spec.relu) w.emit(set("av", `(f32x4.pmax ${get("av")} (v128.const i64x2 0 0))`));
    storeLanes(w, get("cp"), 0, columns, get("av"));
  };

  w.emit(set("row", get("rowStart")));
  w.doWhile("$dotRows", `(i32.lt_s ${get("row")} ${get("rowEnd")})`, () => {
    w.emit(set("ap", add(get("a"), mul(get("row"), i32(rowBytesA)))));
    w.emit(set("cp", add(get("c"), mul(get("row"), i32(spec.n * F32)))));
    w.emit(set("bp", get("b")));
    w.emit(set("biasp", get("bias")));
    if (fullGroups > 0) {
      w.emit(set("panel", i32(0)));
      w.doWhile("$dotGroups", `(i32.lt_s ${get("panel")} ${i32(fullGroups)})`, () => {
        group(4);
        w.emit(set("bp", plus(get("bp"), 4 * rowBytesB)));
        w.emit(set("cp", plus(get("cp"), V128)));
        w.emit(set("biasp", plus(get("biasp"), V128)));
        w.emit(set("panel", plus(get("panel"), 1)));
      });
    }
    if (edgeColumns > 0) group(edgeColumns);
    w.emit(set("row", plus(get("row"), 1)));
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
    w.emit(set("p", i32(0)));
    w.doWhile("$packRows", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
      w.emit(set("src", add(get("b"), mul(add(mul(add(get("k0"), get("p")), i32(spec.n)), get("col0")), i32(F32)))));
      w.emit(set("dst", add(get("scratch"), mul(get("p"), i32(panelRowBytes)))));
      w.emit(set("dstEnd", add(get("dst"), mul(get("blockPanels"), get("panelBytes")))));
      w.when(`(i32.lt_u ${get("dst")} ${get("dstEnd")})`, () => {
        w.doWhile("$packPanels", `(i32.lt_u ${get("dst")} ${get("dstEnd")})`, () => {
          for (let v = 0; v < tuning.nv; v++) {
            w.emit(`(v128.store${memarg(v * V128)} align=4 ${get("dst")} (v128.load${memarg(v * V128)} align=4 ${get("src")}))`);
          }
          w.emit(set("src", plus(get("src"), panelRowBytes)));
          w.emit(set("dst", add(get("dst"), get("panelBytes"))));
        });
      });
      if (edgeWidth > 0) {
        // `src` now points at column fullPanels·panelWidth of row p (the last block ends there).
        w.when(get("lastColBlock"), () => {
          w.emit(set("dst", add(edgePanelStart, mul(get("p"), i32(edgeVectors * V128)))));
          for (let v = 0; v < edgeVectors; v++) {
            const lanes = Math.min(4, edgeWidth - 4 * v);
            w.emit(`(v128.store${memarg(v * V128)} align=4 ${get("dst")} ${loadLanes(get("src"), v * V128, lanes)})`);
          }
        });
      }
      w.emit(set("p", plus(get("p"), 1)));
    });
    return;
  }

  // B is stored n×k: panel column j is row j of storage, so each group of 4 panel columns is an
  // interleave of 4 storage rows.
  if (fullPanels > 0) {
    w.emit(set("panel", i32(0)));
    w.when(`(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
      w.doWhile("$packPanels", `(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
        for (let group = 0; group < tuning.nv; group++) {
          // First storage row of this group of 4 columns, at k0.
          const firstColumn = add(add(get("col0"), mul(get("panel"), i32(panelWidth))), i32(group * 4));
          w.emit(set("src", add(get("b"), mul(add(mul(firstColumn, i32(spec.k)), get("k0")), i32(F32)))));
          w.emit(set("dst", add(add(get("scratch"), mul(get("panel"), get("panelBytes"))), i32(group * V128))));
          emitInterleave(w, spec.k * F32, 4, panelRowBytes);
        }
        w.emit(set("panel", plus(get("panel"), 1)));
      });
    });
  }
  if (edgeWidth > 0) {
    const rowBytesB = spec.k * F32;
    w.when(get("lastColBlock"), () => {
      w.emit(set("src", add(get("b"), mul(add(i32(fullPanels * panelWidth * spec.k), get("k0")), i32(F32)))));
      w.emit(set("dst", edgePanelStart));
      w.emit(set("p", i32(0)));
      w.doWhile("$transposeEdge", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
        for (let column = 0; column < edgeVectors * 4; column++) {
          const value = column < edgeWidth ? `(f32.load${memarg(column * rowBytesB)} ${get("src")})` : "(f32.const 0)";
          w.emit(`(f32.store${memarg(column * F32)} ${get("dst")} ${value})`);
        }
        w.emit(set("src", plus(get("src"), F32)));
        w.emit(set("dst", plus(get("dst"), edgeVectors * V128)));
        w.emit(set("p", plus(get("p"), 1)));
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
  w.emit(set("p", i32(0)));
  w.when(`(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
    w.doWhile("$transpose", `(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
      // x_r = source row r at k steps p..p+3; y_t = k step p+t of the rows.
      for (let r = 0; r < 4; r++) {
        w.emit(set(`x${r}`, `(v128.load${memarg(Math.min(r, rows - 1) * sourceRowBytes)} align=4 ${get("src")})`));
      }
      w.emit(set("t0", shuffleF32(get("x0"), get("x1"), [0, 4, 1, 5])));
      w.emit(set("t1", shuffleF32(get("x2"), get("x3"), [0, 4, 1, 5])));
      w.emit(set("t2", shuffleF32(get("x0"), get("x1"), [2, 6, 3, 7])));
      w.emit(set("t3", shuffleF32(get("x2"), get("x3"), [2, 6, 3, 7])));
      storeLanes(w, get("dst"), 0, rows, shuffleF32(get("t0"), get("t1"), [0, 1, 4, 5]));
      storeLanes(w, get("dst"), destStepBytes, rows, shuffleF32(get("t0"), get("t1"), [2, 3, 6, 7]));
      storeLanes(w, get("dst"), 2 * destStepBytes, rows, shuffleF32(get("t2"), get("t3"), [0, 1, 4, 5]));
      storeLanes(w, get("dst"), 3 * destStepBytes, rows, shuffleF32(get("t2"), get("t3"), [2, 3, 6, 7]));
      w.emit(set("src", plus(get("src"), V128)));
      w.emit(set("dst", plus(get("dst"), 4 * destStepBytes)));
      w.emit(set("p", plus(get("p"), 4)));
    });
  });
  w.when(`(i32.lt_s ${get("p")} ${get("kc")})`, () => {
    w.doWhile("$transposeTail", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
      for (let r = 0; r < rows; r++) {
        w.emit(`(f32.store${memarg(r * F32)} ${get("dst")} (f32.load${memarg(r * sourceRowBytes)} ${get("src")}))`);
      }
      w.emit(set("src", plus(get("src"), F32)));
      w.emit(set("dst", plus(get("dst"), destStepBytes)));
      w.emit(set("p", plus(get("p"), 1)));
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
  w.emit(set("row", get("rowBlock")));
  w.emit(set("tileBase", get("apack")));
  if (mr > 1) {
    const fullTile = `(i32.le_s ${plus(get("row"), mr)} ${get("rowBlockEnd")})`;
    w.when(fullTile, () => {
      w.doWhile("$packATiles", fullTile, () => {
        for (let group = 0; group * 4 < mr; group++) {
          const rows = Math.min(4, mr - group * 4);
          w.emit(set("src", rowAddress(plus(get("row"), group * 4))));
          w.emit(set("dst", plus(get("tileBase"), group * V128)));
          if (spec.transA) {
            // The tile's rows are contiguous in each stored row of A: one (partial) vector per k step.
            w.emit(set("p", i32(0)));
            w.doWhile("$packACopy", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
              storeLanes(w, get("dst"), 0, rows, loadLanes(get("src"), 0, rows));
              w.emit(set("src", plus(get("src"), spec.m * F32)));
              w.emit(set("dst", plus(get("dst"), mr * F32)));
              w.emit(set("p", plus(get("p"), 1)));
            });
          } else {
            emitInterleave(w, spec.k * F32, rows, mr * F32);
          }
        }
        w.emit(set("tileBase", add(get("tileBase"), tileBytes(mr))));
        w.emit(set("row", plus(get("row"), mr)));
      });
    });
  }
  const moreRows = `(i32.lt_s ${get("row")} ${get("rowBlockEnd")})`;
  w.when(moreRows, () => {
    w.doWhile("$packARows", moreRows, () => {
      w.emit(set("src", rowAddress(get("row"))));
      w.emit(set("dst", get("tileBase")));
      w.emit(set("p", i32(0)));
      if (spec.transA) {
        w.doWhile("$packAGather", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
          w.emit(`(f32.store ${get("dst")} (f32.load ${get("src")}))`);
          w.emit(set("src", plus(get("src"), spec.m * F32)));
          w.emit(set("dst", plus(get("dst"), F32)));
          w.emit(set("p", plus(get("p"), 1)));
        });
      } else {
        w.when(`(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
          w.doWhile("$packACopy", `(i32.lt_s ${get("p")} ${get("kcQuads")})`, () => {
            w.emit(`(v128.store align=4 ${get("dst")} (v128.load align=4 ${get("src")}))`);
            w.emit(set("src", plus(get("src"), V128)));
            w.emit(set("dst", plus(get("dst"), V128)));
            w.emit(set("p", plus(get("p"), 4)));
          });
        });
        w.when(`(i32.lt_s ${get("p")} ${get("kc")})`, () => {
          w.doWhile("$packACopyTail", `(i32.lt_s ${get("p")} ${get("kc")})`, () => {
            w.emit(`(f32.store ${get("dst")} (f32.load ${get("src")}))`);
            w.emit(set("src", plus(get("src"), F32)));
            w.emit(set("dst", plus(get("dst"), F32)));
            w.emit(set("p", plus(get("p"), 1)));
          });
        });
      }
      w.emit(set("tileBase", add(get("tileBase"), tileBytes(1))));
      w.emit(set("row", plus(get("row"), 1)));
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

  w.emit(set("apack", plus(get("scratch"), scratchLayout(spec, tuning).packedBBytes)));
  // Column blocks: panels [panel0, panel0 + blockPanels); the last block also owns the edge.
  w.emit(set("panel0", i32(0)));
  w.doWhile("$colBlocks", `(i32.lt_s ${get("panel0")} ${i32(fullPanels)})`, () => {
    w.emit(set("blockPanels", `(select ${i32(tuning.ncPanels)} (i32.sub ${i32(fullPanels)} ${get("panel0")}) (i32.le_s ${plus(get("panel0"), tuning.ncPanels)} ${i32(fullPanels)}))`));
    w.emit(set("lastColBlock", `(i32.ge_s ${plus(get("panel0"), tuning.ncPanels)} ${i32(fullPanels)})`));
    w.emit(set("col0", mul(get("panel0"), i32(panelWidth))));

    // k blocks.
    w.emit(set("k0", i32(0)));
    w.doWhile("$kBlocks", `(i32.lt_s ${get("k0")} ${i32(spec.k)})`, () => {
      w.emit(set("kc", `(select ${i32(kcMax)} (i32.sub ${i32(spec.k)} ${get("k0")}) (i32.le_s ${plus(get("k0"), kcMax)} ${i32(spec.k)}))`));
      w.emit(set("kcMain", `(i32.sub ${get("kc")} (i32.rem_u ${get("kc")} ${i32(tuning.unroll)}))`));
      w.emit(set("panelBytes", mul(get("kc"), i32(panelRowBytes))));
      w.emit(set("kcQuads", `(i32.and ${get("kc")} ${i32(-4)})`));
      if (!spec.accumulate) w.emit(set("loadC", `(i32.ne ${get("k0")} ${i32(0)})`));
      if (ctx.epilogueStatically === null) w.emit(set("lastK", `(i32.ge_s ${add(get("k0"), get("kc"))} ${i32(spec.k)})`));

      emitPackB(w, spec, tuning, fullPanels, edgeWidth);

      // Row blocks, then panels, then row tiles.
      w.emit(set("rowBlock", get("rowStart")));
      w.doWhile("$rowBlocks", `(i32.lt_s ${get("rowBlock")} ${get("rowEnd")})`, () => {
        w.emit(set("rowBlockEnd", `(select ${plus(get("rowBlock"), tuning.mc)} ${get("rowEnd")} (i32.le_s ${plus(get("rowBlock"), tuning.mc)} ${get("rowEnd")}))`));
        if (tuning.packA) emitPackA(w, spec, tuning);
        const fullPanelPointers = (): void => {
          w.emit(set("bp", add(get("scratch"), mul(get("panel"), get("panelBytes")))));
          w.emit(set("column", add(get("col0"), mul(get("panel"), i32(panelWidth)))));
          w.emit(set("biasp", add(get("bias"), mul(get("column"), i32(F32)))));
        };
        const edgePanelPointers = (): void => {
          w.emit(set("bp", add(get("scratch"), mul(get("blockPanels"), get("panelBytes")))));
          w.emit(set("column", i32(fullPanels * panelWidth)));
          w.emit(set("biasp", add(get("bias"), i32(fullPanels * panelWidth * F32))));
        };
        const panelLoop = (body: () => void): void => {
          w.emit(set("panel", i32(0)));
          w.when(`(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
            w.doWhile("$panels", `(i32.lt_s ${get("panel")} ${get("blockPanels")})`, () => {
              body();
              w.emit(set("panel", plus(get("panel"), 1)));
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
              w.when(get("lastColBlock"), () => {
                edgePanelPointers();
                emitTileAtRow(w, ctx, get("column"), { rows, vectors: edgeVectors, lastLanes: edgeLastLanes, bStepBytes: edgeVectors * V128, bPartialLoad: false });
              });
            }
            w.emit(set("row", plus(get("row"), rows)));
          };
          w.emit(set("row", get("rowBlock")));
          if (tuning.mr > 1) {
            const fullTile = `(i32.le_s ${plus(get("row"), tuning.mr)} ${get("rowBlockEnd")})`;
            w.when(fullTile, () => w.doWhile("$rowTiles", fullTile, () => rowsAcrossPanels(tuning.mr)));
          }
          const moreRows = `(i32.lt_s ${get("row")} ${get("rowBlockEnd")})`;
          w.when(moreRows, () => w.doWhile("$singleRows", moreRows, () => rowsAcrossPanels(1)));
        } else {
          // Panels outermost: one packed B panel stays in L1 while every row tile uses it.
          if (fullPanels > 0) {
            panelLoop(() => {
              fullPanelPointers();
              w.emit(set("row", get("rowBlock")));
              emitRowTiles(w, ctx, get("column"), tuning.nv, 4, panelRowBytes, false);
            });
          }
          if (edgeWidth > 0) {
            w.when(get("lastColBlock"), () => {
              edgePanelPointers();
              w.emit(set("row", get("rowBlock")));
              emitRowTiles(w, ctx, get("column"), edgeVectors, edgeLastLanes, edgeVectors * V128, false);
            });
          }
        }
        w.emit(set("rowBlock", get("rowBlockEnd")));
      });
      w.emit(set("k0", add(get("k0"), get("kc"))));
    });
    w.emit(set("panel0", plus(get("panel0"), tuning.ncPanels)));
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
  w.block(header, () => {
    w.emit(
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
  return w.statements();
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
