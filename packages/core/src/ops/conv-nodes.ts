/**
 * @file Nodes of the convolution and pooling rows with their attributes as they are (no DSL
 * defaults or argument checks): what gradient rules and decompositions build. The rows module
 * imports these instead of the DSL (conv-api.ts), so the op table never waits for the DSL.
 */
import { makeTensor, type Tensor } from "../tensor.js";
import type { Conv2dAttrs, OpAttrs, Pool2dAttrs } from "./attrs.js";

export const conv2dRaw = (x: Tensor, weight: Tensor, bias: Tensor | undefined, attrs: Conv2dAttrs): Tensor => makeTensor("conv2d", attrs, bias === undefined ? [x, weight] : [x, weight, bias]);
export const convTranspose2dRaw = (x: Tensor, weight: Tensor, bias: Tensor | undefined, attrs: OpAttrs["conv_transpose2d"]): Tensor =>
  makeTensor("conv_transpose2d", attrs, bias === undefined ? [x, weight] : [x, weight, bias]);
export const conv2dWeightGradRaw = (x: Tensor, dy: Tensor, attrs: OpAttrs["conv2d_weight_grad"]): Tensor => makeTensor("conv2d_weight_grad", attrs, [x, dy]);
export const maxPool2dRaw = (x: Tensor, attrs: Pool2dAttrs): Tensor => makeTensor("max_pool2d", attrs, [x]);
export const maxPool2dBackwardRaw = (x: Tensor, dy: Tensor, attrs: Pool2dAttrs): Tensor => makeTensor("max_pool2d_backward", attrs, [x, dy]);
export const avgPool2dRaw = (x: Tensor, attrs: OpAttrs["avg_pool2d"]): Tensor => makeTensor("avg_pool2d", attrs, [x]);

