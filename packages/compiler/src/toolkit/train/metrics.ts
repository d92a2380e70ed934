/**
 * @file Training metrics: accuracy from logits and labels, and a running (weighted) mean for
 * losses over an epoch. Both are plain functions of host arrays; the running mean is immutable.
 */
import { jsKernels } from "@graft/runtime";

/** Row-major values with a shape, e.g. a `HostTensor` or an interpreter `NDArray`. */
export interface ArrayWithShape {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** Options of `accuracy`. */
export interface AccuracyOptions {
  /** The class dim of the logits (default: the last). */
  readonly dim?: number;
  /** Rows with this label are not counted (PyTorch's ignore_index). */
  readonly ignoreIndex?: number;
}

/**
 * The predicted class of every row: the index of the largest logit along `dim` (default the
 * last; the first on ties; NaN wins, as in PyTorch's argmax).
 */
export const predictions = (logits: ArrayWithShape, dim = -1): Int32Array => {
  const rank = logits.shape.length;
  const axis = dim < 0 ? dim + rank : dim;
  if (rank === 0 || axis < 0 || axis >= rank) throw new RangeError(`predictions: dim ${dim} out of range for logits of shape [${logits.shape.join(",")}]`);
  const classes = logits.shape[axis] ?? 1;
  const inner = logits.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = logits.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const out = new Int32Array(outer * inner);
  jsKernels.argmaxRows(logits.data, out, 0, 0, outer, classes, inner);
  return out;
};

/**
 * The fraction of rows whose largest logit is at the label, in [0, 1]; NaN when no row counts.
 * @throws RangeError when the labels do not have one entry per row
 */
export const accuracy = (logits: ArrayWithShape, labels: ArrayLike<number>, options: AccuracyOptions = {}): number => {
  const predicted = predictions(logits, options.dim ?? -1);
  if (labels.length !== predicted.length)
    throw new RangeError(`accuracy: ${labels.length} labels for ${predicted.length} rows of logits of shape [${logits.shape.join(",")}]`);
  let correct = 0;
  let counted = 0;
  for (let row = 0; row < predicted.length; row++) {
    const label = labels[row];
    if (label === options.ignoreIndex) continue;
    counted++;
    if (label === predicted[row]) correct++;
  }
  return counted === 0 ? Number.NaN : correct / counted;
};

/** A running weighted mean (e.g. of batch losses weighted by batch size). */
export interface RunningMean {
  readonly total: number;
  readonly count: number;
  /** total / count; NaN before the first value. */
  readonly mean: number;
}

/** The empty running mean. */
export const runningMean = (): RunningMean => ({ total: 0, count: 0, mean: Number.NaN });

/**
 * Adds `value` with `weight` (default 1; e.g. the batch size for a mean loss).
 * @throws RangeError for a negative or non-finite weight
 */
export const addToMean = (mean: RunningMean, value: number, weight = 1): RunningMean => {
  if (!Number.isFinite(weight) || weight < 0) throw new RangeError(`addToMean: weight must be a finite number ≥ 0, got ${weight}`);
  const total = mean.total + value * weight;
  const count = mean.count + weight;
  return { total, count, mean: count === 0 ? Number.NaN : total / count };
};

/** Mean squared error and coefficient of determination of predictions against targets. */
export interface RegressionMetrics {
  /** Mean of (prediction − target)², over every value. */
  readonly mse: number;
  /**
   * R² = 1 − SS_res / SS_tot (scikit-learn's `r2_score`): 1 for a perfect fit, 0 for predicting
   * the mean, negative when worse; with constant targets 1 for a perfect fit and 0 otherwise.
   */
  readonly r2: number;
}

/**
 * MSE and R² in float64, NaN for no values.
 * @throws RangeError when the predictions and targets differ in length
 */
export const regressionMetrics = (predicted: ArrayLike<number>, targets: ArrayLike<number>): RegressionMetrics => {
  if (predicted.length !== targets.length) throw new RangeError(`regressionMetrics: ${predicted.length} predictions for ${targets.length} targets`);
  const n = targets.length;
  if (n === 0) return { mse: Number.NaN, r2: Number.NaN };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += targets[i] ?? 0;
  const mean = sum / n;
  let residual = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const target = targets[i] ?? 0;
    const error = (predicted[i] ?? 0) - target;
    residual += error * error;
    total += (target - mean) * (target - mean);
  }
  const r2 = total === 0 ? (residual === 0 ? 1 : 0) : 1 - residual / total;
  return { mse: residual / n, r2 };
};
