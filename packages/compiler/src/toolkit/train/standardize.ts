/**
 * @file Feature standardisation (scikit-learn's `StandardScaler`): a per-feature mean and
 * standard deviation fitted on the training rows only, applied as `(x − mean) / std`, and the
 * same transformation written into a model as two params so that a saved model (weights file or
 * bundle) takes raw features.
 */
import * as E from "fp-ts/lib/Either.js";
import { buildGraph, div, error, graphInputs, makeTensor, model, ones, param, sub, tensorsOf, withCall, zeros, type Diagnostics, type Model, type OpAttrs, type Tensor } from "@graft/core";

/** The params a standardised model reads its mean and standard deviation from. */
export const STANDARDIZE_MEAN = "standardize.mean";
export const STANDARDIZE_STD = "standardize.std";

/** A fitted standardisation of F features. */
export interface Standardizer {
  /** Per feature, the mean of the training rows (float32). */
  readonly mean: Float32Array;
  /** Per feature, the population standard deviation (ddof 0, as StandardScaler), 1 where it is 0. */
  readonly std: Float32Array;
  /**
   * The shape of one row's features (the model's x without the batch dim), which the stored
   * `standardize.mean`/`std` take: `[F]` when absent, e.g. `[C, H, W]` for images (one mean and
   * std per pixel of each channel, in x's row-major order).
   */
  readonly shape?: readonly number[];
}

/**
 * Fits the mean and standard deviation of every feature over `rows` rows of `features` (row-major,
 * F per row), in float64. A constant feature gets std 1 (it is only centred), as in StandardScaler.
 * @throws RangeError for no rows or a features array that is not rows × F
 */
export const fitStandardizer = (features: Float32Array, featureCount: number, rows: number): Standardizer => {
  if (rows < 1) throw new RangeError("fitStandardizer: no rows to fit the mean and standard deviation on");
  if (features.length !== rows * featureCount) throw new RangeError(`fitStandardizer: ${features.length} values are not ${rows} rows of ${featureCount} features`);
  const sums = new Float64Array(featureCount);
  for (let row = 0; row < rows; row++) for (let f = 0; f < featureCount; f++) sums[f] = (sums[f] ?? 0) + (features[row * featureCount + f] ?? 0);
  const mean = sums.map((sum) => sum / rows);
  const squares = new Float64Array(featureCount);
  for (let row = 0; row < rows; row++)
    for (let f = 0; f < featureCount; f++) {
      const centred = (features[row * featureCount + f] ?? 0) - (mean[f] ?? 0);
      squares[f] = (squares[f] ?? 0) + centred * centred;
    }
  const std = squares.map((square) => {
    const deviation = Math.sqrt(square / rows);
    return deviation > 0 && Number.isFinite(deviation) ? deviation : 1;
  });
  return { mean: Float32Array.from(mean), std: Float32Array.from(std) };
};

/**
 * `(x − mean) / std` row by row, in float32 as the standardised model computes it, into `out`
 * (a new array by default; pass `features` itself to standardise in place).
 */
export const applyStandardizer = (features: Float32Array, standardizer: Standardizer, out: Float32Array = new Float32Array(features.length)): Float32Array => {
  const featureCount = standardizer.mean.length;
  for (let i = 0; i < features.length; i++) {
    const f = i % featureCount;
    out[i] = Math.fround(Math.fround((features[i] ?? 0) - (standardizer.mean[f] ?? 0)) / (standardizer.std[f] ?? 1));
  }
  return out;
};

/**
 * The model with its input `inputName` (f32[batch,F], or any fixed feature shape such as
 * f32[batch,C,H,W]) standardised inside it: the new model takes raw features and computes
 * `(x − standardize.mean) / standardize.std` before the original graph. The two params have x's
 * shape without the batch dim ([F], [C,H,W]; only the last dim when another dim is symbolic) and
 * start at 0 and 1; load the fitted values as weights.
 */
export const standardizedModel = (original: Model, inputName: string): E.Either<Diagnostics, Model> => {
  const built = buildGraph(original);
  if (E.isLeft(built)) return built;
  const graph = built.right;
  const input = graphInputs(graph).find((node) => node.attrs.name === inputName);
  const features = input?.type.shape[input.type.shape.length - 1];
  if (input === undefined || typeof features !== "number") return E.left([error("train/standardize", `standardize: model ${graph.name} has no input ${inputName} with a fixed last dim`)]);
  const rowShape = input.type.shape.slice(1);
  const paramShape = rowShape.length > 0 && rowShape.every((dim): dim is number => typeof dim === "number") ? rowShape : [features];
  const handles = tensorsOf(graph);
  const tensors: Tensor[] = [];
  for (const node of graph.nodes) {
    if (node.id === input.id) {
      const raw = handles[node.id];
      if (raw === undefined) continue;
      tensors.push(div(sub(raw, param(STANDARDIZE_MEAN, paramShape, zeros)), param(STANDARDIZE_STD, paramShape, ones)));
      continue;
    }
    const inputs = node.inputs.map((id) => tensors[id]).filter((t): t is Tensor => t !== undefined);
    tensors.push(withCall(node, (op, attrs) => makeTensor(op, attrs as OpAttrs[typeof op], inputs, node.loc)));
  }
  const outputs = Object.fromEntries(graph.outputs.filter((output) => output.id !== graph.loss || output.name !== "loss").flatMap((output) => {
    const tensor = tensors[output.id];
    return tensor === undefined ? [] : [[output.name, tensor] as const];
  }));
  const loss = graph.loss === undefined ? undefined : tensors[graph.loss];
  return E.right(model({ name: graph.name, outputs, ...(loss === undefined ? {} : { loss }) }));
};
