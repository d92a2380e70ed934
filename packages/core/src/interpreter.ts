/**
 * @file The reference interpreter: evaluates any graph on concrete feeds with plain float64
 * loops. It is the ground truth for every back end and for gradient tests. With
 * `precision: "f32"` every f32 value is rounded to float32 after each op (f32 storage).
 */
import * as E from "fp-ts/lib/Either.js";
import { error, GraftError, type Diagnostic, type Diagnostics } from "./diagnostics.js";
import type { Dtype } from "./dtype.js";
import { graphInputs, graphParams, type Graph, type Node } from "./graph.js";
import { initValues } from "./init.js";
import { roundToF32, type NDArray } from "./ndarray.js";
import { concretize, formatShape, formatType, sizeOf, symbolsOf, type Shape } from "./shape.js";
import { rowOf, withCall } from "./tensor.js";

export type Feeds = Readonly<Record<string, NDArray>>;

export interface EvalOptions {
  /** "f64" (default): exact float64 reference. "f32": round f32 values after every op. */
  readonly precision?: "f64" | "f32";
  /**
   * Evaluates a node another way (e.g. float32 in a given summation order); undefined falls
   * back to the op table's reference semantics.
   */
  readonly evaluateNode?: (node: Node, inputs: readonly NDArray[], out: { readonly shape: readonly number[]; readonly dtype: Dtype }) => Float64Array | undefined;
}

/**
 * Binds the symbolic dims of a graph's inputs from concrete feed shapes. Every input must be fed
 * with its rank, static dims and dtype; a symbol must get the same size everywhere.
 */
export const bindDims = (graph: Graph, feeds: Readonly<Record<string, { readonly shape: readonly number[]; readonly dtype?: Dtype }>>): E.Either<Diagnostics, Map<string, number>> => {
  const bindings = new Map<string, number>();
  const boundBy = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  for (const node of graphInputs(graph)) {
    const name = node.attrs.name;
    const feed = feeds[name];
    const expected = `${node.type.dtype}${formatShape(node.type.shape)}`;
    if (feed === undefined) {
      diagnostics.push(error("feed", `missing feed for input ${name}: expected ${expected}`, node.loc));
      continue;
    }
    if (feed.dtype !== undefined && feed.dtype !== node.type.dtype) {
      diagnostics.push(error("feed", `input ${name}: expected dtype ${node.type.dtype}, got ${feed.dtype}`, node.loc));
      continue;
    }
    if (feed.shape.length !== node.type.shape.length) {
      diagnostics.push(error("feed", `input ${name}: expected shape ${formatShape(node.type.shape)}, got ${formatShape(feed.shape)} (rank ${node.type.shape.length} ≠ ${feed.shape.length})`, node.loc));
      continue;
    }
    node.type.shape.forEach((dim, axis) => {
      const actual = feed.shape[axis] as number;
      if (typeof dim === "number") {
        if (dim !== actual)
          diagnostics.push(error("feed", `input ${name}: expected shape ${formatShape(node.type.shape)}, got ${formatShape(feed.shape)} (dim ${axis}: ${dim} ≠ ${actual})`, node.loc));
        return;
      }
      const bound = bindings.get(dim);
      if (bound === undefined) {
        bindings.set(dim, actual);
        boundBy.set(dim, name);
      } else if (bound !== actual)
        diagnostics.push(error("feed", `input ${name}: dim '${dim}' is ${actual} but input ${boundBy.get(dim) ?? "?"} bound it to ${bound}`, node.loc));
    });
  }
  return diagnostics.length > 0 ? E.left(diagnostics) : E.right(bindings);
};

/** Initial values of every param of a graph, deterministic in `seed`. */
export const initParams = (graph: Graph, seed = 0): Record<string, NDArray> => {
  const params: Record<string, NDArray> = {};
  for (const node of graphParams(graph)) {
    const shape = node.type.shape as readonly number[];
    params[node.attrs.name] = { shape: [...shape], dtype: node.type.dtype, data: initValues(node.attrs.init, shape, seed, node.attrs.name) };
  }
  return params;
};

const resolve = (shape: Shape, bindings: ReadonlyMap<string, number>): number[] => concretize(shape, bindings);

/** Evaluates every node; Right holds one array per node id. */
export const evaluateGraph = (graph: Graph, feeds: Feeds, params: Feeds, options: EvalOptions = {}): E.Either<Diagnostics, NDArray[]> => {
  const bound = bindDims(graph, feeds);
  if (E.isLeft(bound)) return bound;
  const bindings = bound.right;
  const roundF32 = options.precision === "f32";
  const values: NDArray[] = [];
  for (const node of graph.nodes) {
    // a symbol no input carries (e.g. full(["n"], 0)) has no size to take from the feeds
    const unbound = symbolsOf(node.type.shape).find((symbol) => !bindings.has(symbol));
    if (unbound !== undefined)
      return E.left([error("feed", `${node.op}: symbolic dim '${unbound}' of ${formatType(node.type)} is not a dim of any input, so no feed binds it`, node.loc)]);
    const shape = resolve(node.type.shape, bindings);
    const dtype = node.type.dtype;
    let data: Float64Array;
    if (node.op === "input" || node.op === "param") {
      const source = node.op === "input" ? feeds[node.attrs.name] : params[node.attrs.name];
      if (source === undefined) return E.left([error("param", `missing value for param ${node.attrs.name}: expected ${dtype}${formatShape(shape)}`, node.loc)]);
      if (source.data.length !== sizeOf(shape))
        return E.left([error("param", `${node.op} ${node.attrs.name}: expected ${dtype}${formatShape(shape)}, got ${formatShape(source.shape)}`, node.loc)]);
      data = source.data;
    } else {
      const inputs = node.inputs.map((id) => values[id] as NDArray);
      try {
        data = options.evaluateNode?.(node, inputs, { shape, dtype }) ?? withCall(node, (op, attrs) => rowOf(op).evaluate(inputs, attrs, { shape, dtype }));
      } catch (thrown) {
        const message = thrown instanceof Error ? thrown.message : String(thrown);
        return E.left([error("runtime", message, node.loc)]);
      }
    }
    values.push({ shape, dtype, data: roundF32 && dtype === "f32" ? roundToF32(data) : data });
  }
  return E.right(values);
};

/** Evaluates the named outputs; throws a GraftError with diagnostics on bad feeds. */
export const run = (graph: Graph, feeds: Feeds, params: Feeds = {}, options: EvalOptions = {}): Record<string, NDArray> => {
  const result = evaluateGraph(graph, feeds, params, options);
  if (E.isLeft(result)) throw new GraftError(result.left);
  const values = result.right;
  return Object.fromEntries(graph.outputs.map((output) => [output.name, values[output.id] as NDArray]));
};
