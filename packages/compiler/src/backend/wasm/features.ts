// Detects which post-MVP WebAssembly features the running engine supports, by validating tiny
// hand-assembled probe modules. The bytes are hard-coded so detection needs no wabt at run time
// (this file may be inlined into a bundle). Each probe was produced with wabt from the WAT quoted
// above it.

/** What the current WebAssembly engine accepts. */
export interface WasmFeatureSupport {
  /** 128-bit SIMD (`v128`, `f32x4.*`): on by default in Node ≥ 16 and current browsers. */
  readonly simd: boolean;
  /** Relaxed SIMD (`f32x4.relaxed_madd`): Node 20 needs `--experimental-wasm-relaxed-simd`. */
  readonly relaxedSimd: boolean;
  /**
   * Shared memories and atomics, and a usable `SharedArrayBuffer` (browsers only expose it to
   * cross-origin-isolated pages, even when the engine validates shared memories).
   */
  readonly threads: boolean;
}

// (module (func (result v128)
//   (f32x4.mul (f32x4.splat (f32.const 0)) (v128.load32_splat (i32.const 0))))
//   (memory 1))
const SIMD_PROBE = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03,
  0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x0a, 0x14, 0x01, 0x12, 0x00, 0x43, 0x00, 0x00,
  0x00, 0x00, 0xfd, 0x13, 0x41, 0x00, 0xfd, 0x09, 0x02, 0x00, 0xfd, 0xe6, 0x01, 0x0b,
];

// (module (func (result v128)
//   i32.const 0 i8x16.splat i32.const 0 i8x16.splat i32.const 0 i8x16.splat f32x4.relaxed_madd))
const RELAXED_SIMD_PROBE = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03,
  0x02, 0x01, 0x00, 0x0a, 0x13, 0x01, 0x11, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f,
  0x41, 0x00, 0xfd, 0x0f, 0xfd, 0x85, 0x02, 0x0b,
];

// (module (memory 1 1 shared)
//   (func (result i32) i32.const 0 i32.const 0 memory.atomic.notify))
const THREADS_PROBE = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03,
  0x02, 0x01, 0x00, 0x05, 0x04, 0x01, 0x03, 0x01, 0x01, 0x0a, 0x0c, 0x01, 0x0a, 0x00, 0x41, 0x00,
  0x41, 0x00, 0xfe, 0x00, 0x02, 0x00, 0x0b,
];

function engineAccepts(probe: readonly number[]): boolean {
  try {
    return WebAssembly.validate(new Uint8Array(probe));
  } catch {
    return false;
  }
}

/** Probes the running engine. Cheap (three tiny validations); the result can be cached by callers. */
export function detectWasmFeatures(): WasmFeatureSupport {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") {
    return { simd: false, relaxedSimd: false, threads: false };
  }
  const simd = engineAccepts(SIMD_PROBE);
  return {
    simd,
    relaxedSimd: simd && engineAccepts(RELAXED_SIMD_PROBE),
    threads: typeof SharedArrayBuffer === "function" && engineAccepts(THREADS_PROBE),
  };
}
