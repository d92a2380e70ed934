/**
 * @file Element types. f32 is the compute type, f64 the reference/test type, i32 holds
 * labels and indices, bool holds masks.
 */

/** An element type. @category model */
export type Dtype = "f32" | "f64" | "i32" | "bool";

/** All dtypes, in promotion order. */
export const DTYPES: readonly Dtype[] = ["bool", "i32", "f32", "f64"];

/** True for f32 and f64. */
export const isFloat = (dtype: Dtype): boolean => dtype === "f32" || dtype === "f64";

/** True for i32. */
export const isInteger = (dtype: Dtype): boolean => dtype === "i32";

/** Parses a dtype name; undefined when it is not one. */
export const parseDtype = (name: string): Dtype | undefined =>
  (DTYPES as readonly string[]).includes(name) ? (name as Dtype) : undefined;

/** Bytes per element in the compiled (arena) representation. */
export const dtypeBytes = (dtype: Dtype): number => (dtype === "f64" ? 8 : dtype === "bool" ? 1 : 4);

/** The range of an i32 value. */
export const I32_MIN = -(2 ** 31);
export const I32_MAX = 2 ** 31 - 1;

/**
 * A constant's value as its dtype holds it (PyTorch's conversion): i32 truncates toward zero
 * (the value must be finite and in range: the constant row refuses others), bool is 1 for any
 * nonzero value (NaN included), floats are unchanged.
 */
export const constantValue = (value: number, dtype: Dtype): number => (dtype === "i32" ? Math.trunc(value) : dtype === "bool" ? (value !== 0 ? 1 : 0) : value);
