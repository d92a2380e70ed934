/**
 * @file The JS back end's code generator: straight-line loops over Float32Array/Int32Array views
 * of the arena for map and reduce kernels (fused expression trees, no per-element closures), and
 * calls into the runtime's library kernels for matmul, softmax-family and loss rows.
 */
import { RANDOM_COUNTER_MULTIPLIER } from "@graft/core";
import { ERF_CLAMP, ERF_DENOMINATOR, ERF_NUMERATOR } from "../erf-f32.js";
import { exprAccesses, exprSome, groupAxes, mapAccesses, reductionCode, type BufferInfo, type Expr, type Kernel } from "../kernels.js";

interface Context {
  readonly offsets: readonly number[];
  readonly buffers: readonly BufferInfo[];
}

const arrayOf = (ctx: Context, buffer: number): "F" | "I" => ((ctx.buffers[buffer]?.dtype ?? "f32") === "f32" ? "F" : "I");
const at = (ctx: Context, buffer: number): number => ctx.offsets[buffer] ?? 0;

/** `base + i0*s0 + …`, dropping zero strides. */
const indexExpression = (base: number, strides: readonly number[], loopVars: readonly string[]): string =>
  [String(base), ...strides.flatMap((stride, axis) => (stride === 0 ? [] : [stride === 1 ? (loopVars[axis] as string) : `${loopVars[axis]}*${stride}`]))].join("+");

/** True when an expression does not depend on the loop indices (hoisted out of the loops). */
export const isLoopInvariant = (expr: Expr): boolean =>
  !exprSome(expr, (e) => e.kind === "iota" || (e.kind === "read" && e.access.strides.some((stride) => stride !== 0)));

/**
 * Emits statements computing `expr` into temporaries; returns the name of the result.
 * Loop-invariant subexpressions (e.g. Adam's bias corrections) go to `preamble`, before the loops.
 */
const emitExpr = (ctx: Context, expr: Expr, loopVars: readonly string[], lines: string[], counter: { next: number }, preamble?: string[]): string => {
  if (preamble !== undefined && expr.kind !== "const" && isLoopInvariant(expr)) return emitExpr(ctx, expr, loopVars, preamble, counter);
  // float results are rounded to f32 after every operation: the same arithmetic as the WASM back end
  const temp = (code: string, round = false): string => {
    const name = `t${counter.next++}`;
    lines.push(`const ${name}=${round ? `Math.fround(${code})` : code};`);
    return name;
  };
  const f32 = (code: string): string => temp(code, true);
  const sub = (e: Expr): string => emitExpr(ctx, e, loopVars, lines, counter, preamble);
  switch (expr.kind) {
    case "read":
      return temp(`${arrayOf(ctx, expr.access.buffer)}[${indexExpression(at(ctx, expr.access.buffer) + expr.access.offset, expr.access.strides, loopVars)}]`);
    case "indexed":
      return temp(`${arrayOf(ctx, expr.access.buffer)}[${at(ctx, expr.access.buffer) + expr.access.offset}+${sub(expr.index)}]`);
    case "const":
      return Number.isNaN(expr.value) ? "NaN" : expr.value === Infinity ? "Infinity" : expr.value === -Infinity ? "-Infinity" : `(${expr.value})`;
    case "iota":
      return loopVars[expr.axis] ?? "0";
    case "unary": {
      const a = sub(expr.arg);
      switch (expr.op) {
        case "neg":
          return f32(`-${a}`);
        case "exp":
        case "log":
        case "sqrt":
        case "abs":
        case "sign":
        case "tanh":
          return f32(`Math.${expr.op}(${a})`);
        case "relu":
          return f32(`(${a}>0||${a}!==${a}?${a}:0)`);
        case "sigmoid":
          return f32(`1/(1+Math.exp(-${a}))`);
        case "log_sigmoid":
          return f32(`Math.min(${a},0)-Math.log1p(Math.exp(-Math.abs(${a})))`);
        case "erf": {
          // float64 evaluation of the float32 rational approximation (erf-f32.ts)
          const c = temp(`Math.min(Math.max(${a},${-ERF_CLAMP}),${ERF_CLAMP})`);
          const s = temp(`${c}*${c}`);
          const horner = (coefficients: readonly number[]): string => coefficients.slice(1).reduce((acc, k) => `(${acc})*${s}+(${k})`, `(${coefficients[0] ?? 0})`);
          return f32(`Math.min(Math.max(${c}*((${horner(ERF_NUMERATOR)})/(${horner(ERF_DENOMINATOR)})),-1),1)`);
        }
      }
      break;
    }
    case "binary": {
      const a = sub(expr.lhs);
      const b = sub(expr.rhs);
      const int = expr.integer;
      switch (expr.op) {
        case "add":
          return int ? temp(`(${a}+${b})|0`) : f32(`${a}+${b}`);
        case "sub":
          return int ? temp(`(${a}-${b})|0`) : f32(`${a}-${b}`);
        case "mul":
          return int ? temp(`Math.imul(${a},${b})`) : f32(`${a}*${b}`);
        case "div":
          return int ? temp(`Math.trunc(${a}/${b})|0`) : f32(`${a}/${b}`);
        case "pow":
          return f32(`Math.pow(${a},${b})`);
        case "maximum":
          return temp(`Math.max(${a},${b})`);
        case "minimum":
          return temp(`Math.min(${a},${b})`);
        case "eq":
          return temp(`${a}===${b}?1:0`);
        case "ne":
          return temp(`${a}!==${b}?1:0`);
        case "lt":
          return temp(`${a}<${b}?1:0`);
        case "le":
          return temp(`${a}<=${b}?1:0`);
        case "gt":
          return temp(`${a}>${b}?1:0`);
        case "ge":
          return temp(`${a}>=${b}?1:0`);
      }
      break;
    }
    case "select": {
      const c = sub(expr.cond);
      const t = sub(expr.then);
      const e = sub(expr.else);
      return temp(`${c}!==0?${t}:${e}`);
    }
    case "cast": {
      const a = sub(expr.arg);
      return temp(expr.to === "i32" ? `Math.trunc(${a})|0` : `${a}!==0?1:0`);
    }
    case "random": {
      // core's randomBits: fmix32(fmix32(index ^ key) ^ imul(counter, M)), then the top 24 bits
      const fmix = (h: string): string => {
        const a = temp(`${h}^(${h}>>>16)`);
        const b = temp(`Math.imul(${a},${0x85ebca6b | 0})`);
        const c = temp(`${b}^(${b}>>>13)`);
        const d = temp(`Math.imul(${c},${0xc2b2ae35 | 0})`);
        return temp(`${d}^(${d}>>>16)`);
      };
      const counterCode = sub(expr.counter);
      const indexCode = sub(expr.index);
      const h = fmix(temp(`(${indexCode}|0)^${expr.key}`));
      const bits = fmix(temp(`${h}^Math.imul(${counterCode}|0,${RANDOM_COUNTER_MULTIPLIER})`));
      return temp(`(${bits}>>>8)*${2 ** -24}`);
    }
  }
  throw new Error("unreachable expression kind");
};

/**
 * Merges adjacent iteration axes that every access (and a contiguous output) walks contiguously,
 * so most kernels become one flat loop. Returns the new shape and the rewritten expression.
 */
export const collapseAxes = (shape: readonly number[], expr: Expr, keep: (axis: number) => boolean = () => false): { shape: number[]; expr: Expr } => {
  if (shape.length <= 1 || exprSome(expr, (e) => e.kind === "iota")) return { shape: [...shape], expr };
  // a kept axis is a class of its own: it never merges
  const groups = groupAxes(shape, exprAccesses(expr).map((access) => access.strides), (axis) => (keep(axis) ? -1 - axis : 0));
  if (groups.length === shape.length) return { shape: [...shape], expr };
  const newShape = groups.map((g) => g.reduce((p, axis) => p * (shape[axis] ?? 1), 1));
  return { shape: newShape, expr: mapAccesses(expr, (access) => ({ ...access, strides: groups.map((g) => access.strides[g[g.length - 1] as number] ?? 0) })) };
};

/** Nested loops over `shape`, loop variables i<first>, i<first+1>, … */
const loops = (shape: readonly number[], body: string[], first = 0): string[] => {
  let lines = body;
  for (let d = shape.length - 1; d >= 0; d--) {
    const v = `i${first + d}`;
    lines = [`for(let ${v}=0;${v}<${shape[d]};${v}++){`, ...lines, "}"];
  }
  return lines;
};


/** JS source of one kernel: a `function(F,I,lib){…}` expression. */
export const jsKernelSource = (kernel: Kernel, offsets: readonly number[], buffers: readonly BufferInfo[]): string => {
  const ctx: Context = { offsets, buffers };
  const o = (buffer: number | undefined): number => (buffer === undefined ? -1 : at(ctx, buffer));
  const body: string[] = [];
  switch (kernel.kind) {
    case "map": {
      const { shape, expr } = collapseAxes(kernel.shape, kernel.expr);
      const loopVars = shape.map((_, axis) => `i${axis}`);
      const lines: string[] = [];
      const preamble: string[] = [];
      const result = emitExpr(ctx, expr, loopVars, lines, { next: 0 }, preamble);
      body.push(...preamble, `let o=${o(kernel.out)};`, ...loops(shape, [...lines, `${arrayOf(ctx, kernel.out)}[o++]=${result};`]));
      break;
    }
    case "reduce": {
      const out = arrayOf(ctx, kernel.out);
      const init = kernel.op === "sum" ? "0" : kernel.op === "max" ? "-Infinity" : "Infinity";
      const rank = kernel.shape.length;
      const trailing = kernel.reducedAxes.length > 0 && kernel.reducedAxes.every((axis) => axis >= rank - kernel.reducedAxes.length);
      const loopVars = kernel.shape.map((_, axis) => `i${axis}`);
      const combine = (acc: string, v: string): string =>
        kernel.op === "sum" ? `${acc}=Math.fround(${acc}+${v});` : `if(${v}${kernel.op === "max" ? ">" : "<"}${acc}||${v}!==${v})${acc}=${v};`;
      const lines: string[] = [];
      const preamble: string[] = [];
      const value = emitExpr(ctx, kernel.expr, loopVars, lines, { next: 0 }, preamble);
      body.push(...preamble);
      const scale = kernel.scale === 1 ? "" : `*${kernel.scale}`;
      if (trailing) {
        // accumulate each output in a register
        const keptShape = kernel.shape.slice(0, rank - kernel.reducedAxes.length);
        const inner = loops(kernel.shape.slice(keptShape.length), [...lines, combine("acc", value)], keptShape.length);
        body.push(`let o=${o(kernel.out)};`, ...loops(keptShape, [`let acc=${init};`, ...inner, `${out}[o++]=acc${scale};`]));
      } else {
        const outIndex = indexExpression(o(kernel.out), kernel.outStrides, loopVars);
        body.push(`${out}.fill(${init},${o(kernel.out)},${o(kernel.out) + kernel.outSize});`);
        body.push(...loops(kernel.shape, [...lines, `{const k=${outIndex};let acc=${out}[k];${combine("acc", value)}${out}[k]=acc;}`]));
        if (scale !== "") body.push(`for(let j=${o(kernel.out)};j<${o(kernel.out) + kernel.outSize};j++)${out}[j]*=${kernel.scale};`);
      }
      break;
    }
    case "matmul":
      body.push(
        `lib.matmul(F,${o(kernel.out)},${kernel.batch},${kernel.m},${kernel.n},${kernel.k},${o(kernel.a.buffer) + kernel.a.offset},${kernel.a.batchStride},${kernel.a.rowStride},${kernel.a.colStride},${o(kernel.b.buffer) + kernel.b.offset},${kernel.b.batchStride},${kernel.b.rowStride},${kernel.b.colStride},${kernel.bias === undefined ? -1 : o(kernel.bias.buffer) + kernel.bias.offset},${kernel.relu ? 1 : 0});`,
      );
      break;
    case "softmax":
      body.push(`lib.softmaxRows(F,${o(kernel.x)},${o(kernel.out)},${kernel.rows.outer},${kernel.rows.size},${kernel.rows.inner},${kernel.log ? 1 : 0});`);
      break;
    case "logsumexp":
      body.push(`lib.lseRows(F,${o(kernel.x)},${o(kernel.out)},${kernel.rows.outer},${kernel.rows.size},${kernel.rows.inner});`);
      break;
    case "argmax":
      body.push(`lib.argmaxRows(F,I,${o(kernel.x)},${o(kernel.out)},${kernel.rows.outer},${kernel.rows.size},${kernel.rows.inner});`);
      break;
    case "cross_entropy": {
      const a = kernel.attrs;
      body.push(
        `lib.crossEntropy(F,I,${o(kernel.x)},${o(kernel.target)},${o(kernel.weight)},${o(kernel.out)},${o(kernel.lse)},${kernel.rows.outer},${kernel.rows.size},${kernel.rows.inner},${reductionCode(a.reduction)},${a.ignoreIndex},${a.labelSmoothing},${a.target === "prob" ? 1 : 0});`,
      );
      break;
    }
    case "cross_entropy_backward": {
      const a = kernel.attrs;
      body.push(
        `lib.crossEntropyBackward(F,I,${o(kernel.x)},${o(kernel.target)},${o(kernel.grad)},${o(kernel.weight)},${o(kernel.out)},${o(kernel.lse)},${kernel.rows.outer},${kernel.rows.size},${kernel.rows.inner},${reductionCode(a.reduction)},${a.ignoreIndex},${a.labelSmoothing},${a.target === "prob" ? 1 : 0});`,
      );
      break;
    }
    case "nll_loss":
      body.push(
        `lib.nllLoss(F,I,${o(kernel.x)},${o(kernel.target)},${o(kernel.weight)},${o(kernel.out)},${kernel.rows.outer},${kernel.rows.size},${kernel.rows.inner},${reductionCode(kernel.attrs.reduction)},${kernel.attrs.ignoreIndex});`,
      );
      break;
    case "nll_loss_backward":
      body.push(
        `lib.nllLossBackward(F,I,${o(kernel.x)},${o(kernel.target)},${o(kernel.grad)},${o(kernel.weight)},${o(kernel.out)},${kernel.rows.outer},${kernel.rows.size},${kernel.rows.inner},${reductionCode(kernel.attrs.reduction)},${kernel.attrs.ignoreIndex});`,
      );
      break;
    case "bce_logits":
      body.push(`lib.bceLogits(F,${o(kernel.x)},${o(kernel.target)},${o(kernel.out)},${kernel.size},${reductionCode(kernel.reduction)});`);
      break;
    case "gather":
      body.push(
        `lib.gather(F,I,${o(kernel.source)},${o(kernel.index)},${o(kernel.out)},[${kernel.indexShape.join(",")}],[${kernel.sourceShape.join(",")}],${kernel.dim},${kernel.scatter ? 1 : 0},${(buffers[kernel.source]?.dtype ?? "f32") === "f32" ? 0 : 1});`,
      );
      break;
    case "conv": {
      const g = kernel.geometry;
      const geometry = [g.n, g.ci, g.h, g.w, g.co, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw, g.groups];
      body.push(`lib.conv(F,${kernel.mode === "forward" ? 0 : kernel.mode === "transpose" ? 1 : 2},${o(kernel.a)},${o(kernel.b)},${o(kernel.bias)},${o(kernel.out)},[${geometry.join(",")}]);`);
      break;
    }
    case "pool": {
      const g = kernel.geometry;
      const geometry = [g.planes, g.h, g.w, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw];
      body.push(`lib.pool(F,${kernel.op === "max" ? 0 : kernel.op === "avg" ? 1 : 2},${o(kernel.x)},${o(kernel.grad)},${o(kernel.divisors)},${o(kernel.out)},[${geometry.join(",")}]);`);
      break;
    }
    case "layer_norm":
      body.push(`lib.layerNormRows(F,${o(kernel.x)},${o(kernel.weight)},${o(kernel.bias)},${o(kernel.out)},${kernel.rows},${kernel.size},${kernel.eps});`);
      break;
    case "layer_norm_backward":
      body.push(`lib.layerNormBackwardRows(F,${o(kernel.x)},${o(kernel.grad)},${o(kernel.weight)},${o(kernel.out)},${kernel.rows},${kernel.size},${kernel.eps});`);
      break;
    case "attention_softmax": {
      const maskKind = kernel.maskKind === "none" ? 0 : kernel.maskKind === "bool" ? 1 : 2;
      body.push(`lib.attentionSoftmaxRows(F,I,${o(kernel.x)},${o(kernel.mask)},${maskKind},${kernel.maskRows},${o(kernel.out)},${kernel.rows},${kernel.size},${kernel.scale},${kernel.causalQueries});`);
      break;
    }
    case "softmax_backward":
      body.push(`lib.softmaxBackwardRows(F,${o(kernel.y)},${o(kernel.grad)},${o(kernel.out)},${kernel.rows},${kernel.size},${kernel.scale});`);
      break;
    case "channel_stats":
      body.push(`lib.channelStats(F,${o(kernel.x)},${o(kernel.out)},${kernel.outer},${kernel.channels},${kernel.inner});`);
      break;
    case "channel_backward_stats":
      body.push(`lib.channelBackwardStats(F,${o(kernel.x)},${o(kernel.stats)},${o(kernel.grad)},${o(kernel.out)},${kernel.outer},${kernel.channels},${kernel.inner},${kernel.eps});`);
      break;
    case "copy":
      body.push(`I.copyWithin(${o(kernel.to)},${o(kernel.from)},${o(kernel.from) + kernel.size});`);
      break;
  }
  return `function(F,I,lib){\n${body.join("\n")}\n}`;
};
