/**
 * @file The compiled back ends' erf: Eigen's rational approximation for float32 (also used by
 * XLA and TVM), erf(x) ≈ x·P(x²)/Q(x²) on x clamped to [−4, 4], the result clamped to [−1, 1].
 * Evaluated in float64 and rounded (JS) it is within 2 ulp of float32 erf; in float32 (WASM,
 * scalar and SIMD) within 7 ulp (4.2e−7 absolute, near |x| ≈ 3.3). NaN stays NaN, ±inf → ±1.
 */

/** P's coefficients, highest power first (odd numerator x·P(x²)). */
export const ERF_NUMERATOR = [-2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5, -7.34990630326855e-4, -2.95459980854025e-3, -1.60960333262415e-2] as const;
/** Q's coefficients, highest power first. */
export const ERF_DENOMINATOR = [-1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3, -1.42647390514189e-2] as const;
/** Beyond ±4, erf rounds to ±1 in float32. */
export const ERF_CLAMP = 4;
