/**
 * @file fast-check arbitraries for property-testing loss math: shapes, class dims, tensors with
 * the values that break naive softmax code (±1e4, ±3e38, ties, −inf entries), logits and
 * integer labels consistent with the class count.
 *
 * ```ts
 * fc.assert(fc.property(classificationArb({ negInf: true }), ({ logits, labels, dim }) => { … }), { seed: 42, numRuns: 300 });
 * ```
 */
import fc from "fast-check";
import { ndarray, rowLayout, forEachRow, sizeOf, type Dtype, type NDArray } from "@graft/core";

// ----- shapes ------------------------------------------------------------------------------------

export interface ShapeOptions {
  /** Smallest rank (default 1). */
  readonly minRank?: number;
  /** Largest rank (default 3). */
  readonly maxRank?: number;
  /** Smallest size of a dim (default 1). */
  readonly minDim?: number;
  /** Largest size of a dim (default 5). */
  readonly maxDim?: number;
  /** Largest number of elements (default 60); larger draws are scaled down dim by dim. */
  readonly maxSize?: number;
}

/** Shrinks the largest dims until the element count fits (keeps generation filter-free). */
const capSize = (shape: number[], maxSize: number, minDim: number): number[] => {
  const out = [...shape];
  while (sizeOf(out) > maxSize) {
    const largest = out.reduce((best, dim, axis) => (dim > (out[best] ?? 0) ? axis : best), 0);
    const size = out[largest] ?? minDim;
    if (size <= minDim) break;
    out[largest] = size - 1;
  }
  return out;
};

/** A concrete shape, e.g. `[3, 1, 4]`. */
export const shapeArb = (options: ShapeOptions = {}): fc.Arbitrary<number[]> => {
  const minDim = options.minDim ?? 1;
  const maxSize = options.maxSize ?? 60;
  return fc
    .array(fc.integer({ min: minDim, max: options.maxDim ?? 5 }), { minLength: options.minRank ?? 1, maxLength: options.maxRank ?? 3 })
    .map((shape) => capSize(shape, maxSize, minDim));
};

/** A shape of rank ≥ 1 and a dim of it, normalised to [0, rank). */
export const shapeAndDimArb = (options: ShapeOptions = {}): fc.Arbitrary<{ readonly shape: number[]; readonly dim: number }> =>
  shapeArb({ ...options, minRank: Math.max(options.minRank ?? 1, 1) }).chain((shape) => fc.record({ shape: fc.constant(shape), dim: fc.integer({ min: 0, max: shape.length - 1 }) }));

// ----- values ------------------------------------------------------------------------------------

/** The magnitudes that break naive softmax/log-sum-exp code (PyTorch #11752, the seeds' [300, 200, 500]). */
export const EXTREME_VALUES: readonly number[] = [1e4, -1e4, 3e38, -3e38, 1e8, -1e8, 300, 200, 500, -300];

/** Small values drawn from a pool so that rows have ties. */
export const TIE_VALUES: readonly number[] = [0, 1, -1, 0.5, 2];

export interface ValueOptions {
  /** Include ±1e4, ±3e38, ±1e8, 300/200/500 (default true). */
  readonly extremes?: boolean;
  /** Include exact ties (default true). */
  readonly ties?: boolean;
  /** Include −inf entries (default false). */
  readonly negInf?: boolean;
  /** Range of the ordinary values (default 50: values in [−50, 50]). */
  readonly range?: number;
}

/** One finite number (or −inf with `negInf`) from a mix of ordinary, extreme and tied values. */
export const valueArb = (options: ValueOptions = {}): fc.Arbitrary<number> => {
  const range = options.range ?? 50;
  const parts: Array<fc.WeightedArbitrary<number>> = [{ weight: 6, arbitrary: fc.double({ min: -range, max: range, noNaN: true, noDefaultInfinity: true }) }];
  if (options.extremes ?? true) parts.push({ weight: 2, arbitrary: fc.constantFrom(...EXTREME_VALUES) });
  if (options.ties ?? true) parts.push({ weight: 2, arbitrary: fc.constantFrom(...TIE_VALUES) });
  if (options.negInf ?? false) parts.push({ weight: 1, arbitrary: fc.constant(-Infinity) });
  return fc.oneof(...parts);
};

/** An array of the given shape and values. */
export const tensorArb = (shape: readonly number[], options: ValueOptions & { readonly dtype?: Dtype } = {}): fc.Arbitrary<NDArray> => {
  const size = sizeOf(shape);
  return fc.array(valueArb(options), { minLength: size, maxLength: size }).map((data) => ndarray(shape, options.dtype ?? "f64", data));
};

/** The rows of `x` along `dim`, each as a plain array (row r is the r-th row in {@link forEachRow} order). */
export const rowsOf = (x: NDArray, dim: number): number[][] => {
  const layout = rowLayout(x.shape, dim);
  const rows: number[][] = [];
  forEachRow(layout, (base, stride) => rows.push(Array.from({ length: layout.size }, (_, c) => x.data[base + c * stride] as number)));
  return rows;
};

/** Replaces an all-(−inf) row's first entry by 0, so that every row has a finite max. */
const withFiniteMax = (x: NDArray, dim: number): NDArray => {
  const data = Float64Array.from(x.data);
  const layout = rowLayout(x.shape, dim);
  forEachRow(layout, (base, stride) => {
    let finite = false;
    for (let c = 0; c < layout.size; c++) finite ||= Number.isFinite(data[base + c * stride] as number);
    if (!finite) data[base] = 0;
  });
  return { shape: x.shape, dtype: x.dtype, data };
};

export interface LogitsOptions extends ShapeOptions, ValueOptions {
  /** Smallest class count (default 1). */
  readonly minClasses?: number;
  /** Largest class count (default 6). */
  readonly maxClasses?: number;
  /** Allow rows whose every entry is −inf (softmax is NaN there, as in PyTorch; default false). */
  readonly allowAllNegInf?: boolean;
  readonly dtype?: Dtype;
}

/** Logits: an array of rank ≥ 1 with a class dim `dim` of size `classes`. */
export interface Logits {
  readonly logits: NDArray;
  readonly dim: number;
  readonly classes: number;
}

/** Logits with a random class dim; every row has a finite max unless `allowAllNegInf`. */
export const logitsArb = (options: LogitsOptions = {}): fc.Arbitrary<Logits> =>
  fc
    .record({
      rows: shapeArb({ ...options, minRank: Math.max((options.minRank ?? 1) - 1, 0), maxRank: Math.max((options.maxRank ?? 3) - 1, 0), maxSize: Math.max(1, Math.floor((options.maxSize ?? 60) / (options.maxClasses ?? 6))) }),
      classes: fc.integer({ min: options.minClasses ?? 1, max: options.maxClasses ?? 6 }),
      position: fc.nat(),
    })
    .chain(({ rows, classes, position }) => {
      const dim = position % (rows.length + 1);
      const shape = [...rows.slice(0, dim), classes, ...rows.slice(dim)];
      return tensorArb(shape, options).map((x): Logits => ({ logits: options.allowAllNegInf === true ? x : withFiniteMax(x, dim), dim, classes }));
    });

// ----- labels ------------------------------------------------------------------------------------

export interface LabelOptions {
  /** The value that marks an ignored row (default −100). */
  readonly ignoreIndex?: number;
  /** Probability that a row is ignored (default 0). */
  readonly ignoreRate?: number;
}

/** Integer class labels (i32) of shape `rows`, in [0, classes) or `ignoreIndex`. */
export const labelsArb = (rows: readonly number[], classes: number, options: LabelOptions = {}): fc.Arbitrary<NDArray> => {
  const size = sizeOf(rows);
  const rate = options.ignoreRate ?? 0;
  const ignoreIndex = options.ignoreIndex ?? -100;
  const label = fc.integer({ min: 0, max: classes - 1 });
  const entry = rate > 0 ? fc.tuple(label, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true })).map(([value, u]) => (u < rate ? ignoreIndex : value)) : label;
  return fc.array(entry, { minLength: size, maxLength: size }).map((data) => ndarray(rows, "i32", data));
};

export interface ClassificationOptions extends LogitsOptions, LabelOptions {
  /** Make the logit of every row's label finite (the loss is then finite mathematically; default true). */
  readonly finiteTargets?: boolean;
  /** Also draw a class weight in [0.1, 4] per class (default false). */
  readonly weights?: boolean;
}

/** Logits, labels consistent with them, and optionally class weights. */
export interface Classification extends Logits {
  readonly labels: NDArray;
  readonly weight: NDArray | undefined;
}

/** Forces the logit at each row's label to a finite value (0 when it was ±inf). */
const finiteAtLabels = (x: NDArray, labels: NDArray, dim: number): NDArray => {
  const data = Float64Array.from(x.data);
  forEachRow(rowLayout(x.shape, dim), (base, stride, row) => {
    const label = labels.data[row] as number;
    const at = base + label * stride;
    if (label >= 0 && label < (x.shape[dim] ?? 0) && !Number.isFinite(data[at] as number)) data[at] = 0;
  });
  return { shape: x.shape, dtype: x.dtype, data };
};

/** A classification batch: logits with a random class dim, labels for every row, optional weights. */
export const classificationArb = (options: ClassificationOptions = {}): fc.Arbitrary<Classification> =>
  logitsArb({ ...options, minClasses: Math.max(options.minClasses ?? 2, 1) }).chain(({ logits, dim, classes }) => {
    const rows = logits.shape.filter((_, axis) => axis !== dim);
    const weight = options.weights === true ? fc.array(fc.double({ min: 0.1, max: 4, noNaN: true }), { minLength: classes, maxLength: classes }).map((w) => ndarray([classes], logits.dtype, w)) : fc.constant(undefined);
    return fc.record({ labels: labelsArb(rows, classes, options), weight }).map(({ labels, weight: w }): Classification => ({
      logits: options.finiteTargets === false ? logits : finiteAtLabels(logits, labels, dim),
      dim,
      classes,
      labels,
      weight: w,
    }));
  });
