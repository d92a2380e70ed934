/**
 * @file GEMM planning: what a GEMM computes ({@link GemmSpec}), the code shape chosen for it
 * ({@link GemmTuning}: strategy, register tile, blocking) and the scratch memory it needs. The WAT
 * generator that follows a plan is gemm.ts.
 */

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

export const F32 = 4;
export const V128 = 16;
export const KC_MAX = 320;
export const PACKED_BLOCK_BYTES = 320 * 1024;
export const MC_DEFAULT = 128;
export const DIRECT_FEW_ROWS = 3;
export const DIRECT_MAX_ROWS = 64;
export const DIRECT_MAX_B_BYTES = 1024 * 1024;
export const DOT_MAX_ROWS = 4;
export const ROWS_OUTER_MAX_BLOCK_BYTES = 32 * 1024;

export function checkSpec(spec: GemmSpec): void {
  for (const [label, value] of [["m", spec.m], ["n", spec.n], ["k", spec.k]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`GEMM ${label} must be a positive integer, got ${value}`);
  }
  const largest = Math.max(spec.m * spec.k, spec.k * spec.n, spec.m * spec.n) * F32;
  if (largest >= 2 ** 31) throw new RangeError(`GEMM operands of ${spec.m}×${spec.k}×${spec.n} do not fit 32-bit byte offsets`);
}

export function checkTuning(tuning: GemmTuning, spec: GemmSpec): void {
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
export function directFits(spec: GemmSpec): boolean {
  if (spec.transB) return false;
  if (spec.m <= DIRECT_FEW_ROWS) return true;
  return spec.m <= DIRECT_MAX_ROWS && spec.k * spec.n * F32 <= DIRECT_MAX_B_BYTES && (spec.n * F32) % 2048 !== 0;
}

export function defaultStrategy(spec: GemmSpec): GemmTuning["strategy"] {
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
export interface ScratchLayout {
  /** Bytes of the packed B block (the packed A block follows, 64-byte aligned). */
  readonly packedBBytes: number;
  readonly packedABytes: number;
}

export function scratchLayout(spec: GemmSpec, tuning: GemmTuning): ScratchLayout {
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

