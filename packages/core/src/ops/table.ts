/**
 * @file The op table: one row per op with its shape/dtype rule, float64 reference semantics
 * and gradient rule. Its type is a mapped type over every op name, so a missing row or a
 * missing gradient is a compile error. Adding an op is adding one row (and its tests).
 */
import { activationOps } from "./activations.js";
import { convOps } from "./conv.js";
import type { OpTable } from "./def.js";
import { binaryOps, selectOps, unaryOps } from "./elementwise.js";
import { indexingOps } from "./indexing.js";
import { leafOps } from "./leaves.js";
import { linalgOps } from "./linalg.js";
import { lossOps } from "./losses.js";
import { modeOps } from "./modes.js";
import { movementOps } from "./movement.js";
import { normOps } from "./norm.js";
import { batchNormOps } from "./batch-norm.js";
import { reduceOps } from "./reduce.js";
import { shapeOps } from "./shape-ops.js";
import { softmaxOps } from "./softmax.js";

export const opTable: OpTable = {
  ...leafOps,
  ...unaryOps,
  ...binaryOps,
  ...selectOps,
  ...activationOps,
  ...reduceOps,
  ...shapeOps,
  ...movementOps,
  ...linalgOps,
  ...indexingOps,
  ...softmaxOps,
  ...lossOps,
  ...normOps,
  ...batchNormOps,
  ...modeOps,
  ...convOps,
};

/** Every op name, in table order. */
export const opNames = Object.keys(opTable) as ReadonlyArray<keyof OpTable>;

/** True when `op` is a composite: its row defines it in other ops (`decompose`). */
export const isComposite = (op: keyof OpTable): boolean => opTable[op].decompose !== undefined;

/** The composites of the table, in table order. */
export const compositeNames: ReadonlyArray<keyof OpTable> = opNames.filter(isComposite);
