/**
 * @file Tensor handles: immutable nodes of the user's dataflow graph. Creating one infers its
 * type with the op table right away and never throws: a type error is recorded on the handle
 * (with the user's source location) and reported by `check`/`buildGraph`.
 */
import * as E from "fp-ts/lib/Either.js";
import { error, type Diagnostic } from "./diagnostics.js";
import { captureLoc, type SourceLoc } from "./loc.js";
import type { OpAttrs, OpCall, OpName } from "./ops/attrs.js";
import type { OpDef } from "./ops/def.js";
import { opTable } from "./ops/table.js";
import { formatType, type Shape, type TensorType } from "./shape.js";
import type { Dtype } from "./dtype.js";
import { describeValue as describeAnyValue } from "@graft/runtime";

/** An immutable handle on one node of a graph under construction. */
export class Tensor {
  /** The op and its attributes. */
  readonly call: OpCall;
  readonly inputs: readonly Tensor[];
  /** The user's call site. */
  readonly loc: SourceLoc | undefined;
  /** The inferred type, or undefined when this node (or one it depends on) is ill-typed. */
  readonly type: TensorType | undefined;
  /** This node's own diagnostics (not its inputs'). */
  readonly diagnostics: readonly Diagnostic[];

  constructor(call: OpCall, inputs: readonly Tensor[], loc: SourceLoc | undefined, type: TensorType | undefined, diagnostics: readonly Diagnostic[]) {
    this.call = Object.freeze({ ...call, attrs: Object.freeze({ ...call.attrs }) }) as OpCall;
    // frozen, so a graph cannot be made cyclic (or changed) after its nodes were created
    this.inputs = Object.freeze([...inputs]);
    this.loc = loc;
    this.type = type;
    this.diagnostics = diagnostics;
    Object.freeze(this);
  }

  get op(): OpName {
    return this.call.op;
  }

  /** The static shape; `[]` for an ill-typed node (check diagnostics first). */
  get shape(): Shape {
    return this.type?.shape ?? [];
  }

  get dtype(): Dtype | undefined {
    return this.type?.dtype;
  }

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `Tensor(${opLabel(this.call.op)} : ${this.type === undefined ? "<ill-typed>" : formatType(this.type)})`;
  }
}

/** True for a tensor handle (made by an op of the DSL). */
export const isTensor = (value: unknown): value is Tensor => value instanceof Tensor;

/**
 * A short description of any JS value for DSL messages: `a tensor (relu : f32[2])`, primitives
 * with their JS type (`number NaN`, `string "f16"`: where the DSL wants a tensor or an attribute,
 * the type is the news), anything else as the runtime's describeValue names it.
 */
export const describeValue = (value: unknown): string => {
  if (value instanceof Tensor) return `a tensor (${opLabel(value.op)} : ${value.type === undefined ? "ill-typed" : formatType(value.type)})`;
  const type = typeof value;
  const primitive = type === "number" || type === "string" || type === "boolean" || type === "bigint" || type === "symbol";
  return primitive ? `${type} ${describeAnyValue(value)}` : describeAnyValue(value);
};

/** An op name for messages, whatever an untyped caller passed as one. */
const opLabel = (op: unknown): string => (typeof op === "string" ? op : `makeTensor(${describeValue(op)})`);

const messageOf = (thrown: unknown): string => (thrown instanceof Error ? thrown.message : String(thrown));

/** Looks up the row of `op` keeping its attribute type (the one cast that correlates op and attrs). */
export const rowOf = <K extends OpName>(op: K): OpDef<K> => opTable[op] as OpDef<K>;

/** Dispatches on a call with its op and attrs correlated. */
export const withCall = <R>(call: OpCall, f: <K extends OpName>(op: K, attrs: OpAttrs[K]) => R): R =>
  f(call.op, call.attrs as OpAttrs[typeof call.op]);

/** Infers the type of `op(inputs)`; Left carries the message without location. */
export const inferCall = (call: OpCall, inputTypes: readonly TensorType[]): E.Either<string, TensorType> =>
  withCall(call, (op, attrs) => {
    const row = typeof op === "string" && Object.prototype.hasOwnProperty.call(opTable, op) ? rowOf(op) : undefined;
    if (row === undefined) return E.left(typeof op === "string" ? `${op}: not an op of the op table` : `makeTensor: the op is ${describeValue(op)}, expected the name of an op of the op table`);
    const [min, max] = row.arity;
    if (inputTypes.length < min || inputTypes.length > max) {
      const expected = min === max ? `${min}` : `${min} to ${max}`;
      return E.left(`${op}: expected ${expected} inputs, got ${inputTypes.length}`);
    }
    try {
      return E.mapLeft((message: string) => `${op}: ${message}`)(row.infer(inputTypes, attrs));
    } catch (thrown) {
      // a rule meeting attributes of the wrong JS type (from untyped callers)
      return E.left(`${op}: invalid arguments (${messageOf(thrown)})`);
    }
  });

/** Creates a node. Never throws; an ill-typed node carries its diagnostic. */
export const makeTensor = <K extends OpName>(op: K, attrs: OpAttrs[K], inputs: readonly Tensor[], loc: SourceLoc | undefined = captureLoc()): Tensor => {
  const call = { op, attrs } as OpCall;
  if (!Array.isArray(inputs)) return new Tensor(call, [], loc, undefined, [error("type", `${opLabel(op)}: inputs must be an array of tensors, got ${describeValue(inputs)}`, loc)]);
  const notTensor = inputs.findIndex((input: unknown) => !isTensor(input));
  if (notTensor >= 0) {
    const message = `${opLabel(op)}: operand ${notTensor + 1} is ${describeValue(inputs[notTensor])}, expected a tensor`;
    return new Tensor(call, inputs.filter(isTensor), loc, undefined, [error("type", message, loc)]);
  }
  const inputTypes = inputs.map((input) => input.type);
  if (!inputTypes.every((type): type is TensorType => type !== undefined)) return new Tensor(call, inputs, loc, undefined, []);
  const inferred = inferCall(call, inputTypes);
  return E.isRight(inferred)
    ? new Tensor(call, inputs, loc, inferred.right, [])
    : new Tensor(call, inputs, loc, undefined, [error("type", inferred.left, loc)]);
};
