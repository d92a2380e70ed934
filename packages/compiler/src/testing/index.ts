/**
 * @file `@graft/compiler/testing`: a small kit to property-test your own loss math with
 * fast-check — arbitraries for shapes, tensors with extreme values, logits and labels, and
 * checks such as {@link expectSoftmaxInvariants} and {@link checkGradients} (symbolic gradients
 * against central finite differences).
 *
 * ```ts
 * import fc from "fast-check";
 * import { classificationArb, expectSoftmaxInvariants } from "@graft/compiler/testing";
 *
 * fc.assert(fc.property(classificationArb({ negInf: true }), ({ logits, dim }) => expectSoftmaxInvariants(logits, dim, { probs: mySoftmax(logits, dim) })), { seed: 1, numRuns: 500 });
 * ```
 */
export {
  EXTREME_VALUES,
  TIE_VALUES,
  classificationArb,
  labelsArb,
  logitsArb,
  rowsOf,
  shapeAndDimArb,
  shapeArb,
  tensorArb,
  valueArb,
  type Classification,
  type ClassificationOptions,
  type LabelOptions,
  type Logits,
  type LogitsOptions,
  type ShapeOptions,
  type ValueOptions,
} from "./arbitraries.js";
export { evaluateTensors } from "./evaluate.js";
export {
  checkGradients,
  expectGradientsMatch,
  formatGradientReport,
  type CheckGradientsOptions,
  type GradientCheck,
  type GradientMismatch,
  type GradientReport,
  type GradientSubject,
} from "./gradients.js";
export { expectSoftmaxInvariants, type SoftmaxInvariantOptions } from "./softmax.js";
