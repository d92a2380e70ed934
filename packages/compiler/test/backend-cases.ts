/**
 * @file Shared agreement cases for the compiled back ends: small models covering every op of the
 * op table, with deterministic feeds. Each back end must match the reference interpreter run at
 * f32 precision.
 */
import * as C from "@graft/core";
import type { Graph, NDArray } from "@graft/core";
import type { HostFeeds } from "../src/backend/types.js";

export interface AgreementCase {
  readonly name: string;
  readonly model: C.Model;
  readonly feeds: Readonly<Record<string, NDArray>>;
}

const seeded = (seed: number) => C.mulberry32(seed);
export const randomArray = (shape: readonly number[], seed: number, scale = 2): NDArray => {
  const random = seeded(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return { shape, dtype: "f32", data: Float64Array.from({ length: size }, () => Math.fround((random() - 0.5) * scale)) };
};
export const labels = (values: readonly number[]): NDArray => ({ shape: [values.length], dtype: "i32", data: Float64Array.from(values) });

const x = (shape: C.Shape = ["batch", 5]) => C.input("x", shape);
const y = () => C.input("y", ["batch"], "i32");
const feedsXY = (rows = 4, cols = 5, seed = 1, ys: readonly number[] = [0, 2, 1, 4]) => ({ x: randomArray([rows, cols], seed), y: labels(ys.slice(0, rows)) });

export const agreementCases = (): AgreementCase[] => {
  const cases: AgreementCase[] = [];
  const add = (name: string, outputs: Record<string, C.Tensor>, feeds: Record<string, NDArray>, loss?: C.Tensor) =>
    cases.push({ name, model: C.model({ name, outputs, ...(loss === undefined ? {} : { loss }) }), feeds });
  {
    const a = x();
    add("unary-batch", { neg: C.neg(a), exp: C.exp(a), log: C.log(C.abs(a)), sqrt: C.sqrt(C.abs(a)), abs: C.abs(a), sign: C.sign(a), relu: C.relu(a), sigmoid: C.sigmoid(a), log_sigmoid: C.logSigmoid(a), tanh: C.tanh(a) }, { x: feedsXY().x });
  }
  {
    const a = C.mul(x(), 3);
    add(
      "activations",
      {
        erf: C.erf(a),
        gelu: C.gelu(a),
        geluTanh: C.gelu(a, { approximate: "tanh" }),
        silu: C.silu(a),
        softplus: C.softplus(a),
        softplusBeta: C.softplus(a, { beta: 2, threshold: 1 }),
        leakyRelu: C.leakyRelu(a, 0.1),
        elu: C.elu(a, 0.7),
        hardtanh: C.hardtanh(a, -0.5, 1),
        clamp: C.clamp(a, { max: 0.25 }),
      },
      { x: feedsXY().x },
    );
  }
  {
    const a = x();
    const b = C.input("b", [5]);
    add(
      "binary-broadcast",
      { add: C.add(a, b), sub: C.sub(b, a), mul: C.mul(a, 3), div: C.div(a, C.add(C.abs(b), 1)), pow: C.pow(C.abs(a), 1.5), max: C.maximum(a, b), min: C.minimum(a, 0.1), eq: C.cast(C.eq(a, a), "f32"), lt: C.cast(C.lt(a, b), "f32"), ge: C.ge(a, b), where: C.where(C.gt(a, 0), a, C.mul(b, 2)) },
      { x: randomArray([4, 5], 2), b: randomArray([5], 3) },
    );
  }
  {
    const a = C.input("x", [2, 3, 4]);
    add(
      "reductions",
      { sum0: C.sum(a, 0), sum12: C.sum(a, [1, 2]), meank: C.mean(a, 1, true), max2: C.max(a, 2), min01: C.min(a, [0, 1]), lse: C.logsumexp(a, 2), lse12: C.logsumexp(a, [1, 2], true), argmax: C.argmax(a, 1), all: C.sum(a) },
      { x: randomArray([2, 3, 4], 4) },
    );
  }
  {
    const a = C.input("x", [2, 3, 4]);
    add(
      "shape",
      { t: C.permute(a, [2, 0, 1]), r: C.reshape(a, [6, -1]), e: C.expand(C.reshape(C.sum(a, 2), [2, 3, 1]), [2, 3, 4]), flat: C.mul(C.flatten(C.transpose(a, 1, 2)), 2), sq: C.squeeze(C.unsqueeze(a, 0), 0) },
      { x: randomArray([2, 3, 4], 5) },
    );
  }
  {
    const a = x();
    const w = C.param("w", [3, 5], C.uniform(-1, 1));
    const bias = C.param("bias", [3], C.uniform(-1, 1));
    const m = C.input("m", [2, 5, 3]);
    add(
      "matmul",
      { linear: C.linear(a, w, bias), relu: C.relu(C.linear(a, w, bias)), at: C.matmul(C.transpose(a), a), tt: C.transpose(C.matmul(a, C.transpose(w))), batched: C.matmul(m, C.transpose(m, 1, 2)), bcast: C.matmul(m, w), vec: C.matmul(a, C.reshape(C.sum(w, 0), [5])) },
      { x: randomArray([4, 5], 6), m: randomArray([2, 5, 3], 7) },
    );
  }
  {
    const a = x([4, 5]);
    const idx = C.input("idx", [4, 2], "i32");
    const yStatic = C.input("y", [4], "i32");
    add("indexing", { onehot: C.oneHot(yStatic, 5), gather: C.gather(a, 1, idx), scatter: C.scatterAdd([4, 5], 1, idx, C.gather(a, 1, idx)), pick: C.pick(a, yStatic) }, {
      x: randomArray([4, 5], 8),
      y: labels([0, 2, 1, 4]),
      idx: { shape: [4, 2], dtype: "i32", data: Float64Array.from([0, 1, 4, 4, 2, 0, 3, 3]) },
    });
  }
  {
    const a = C.input("x", [3, 4, 2]);
    add("softmax", { s0: C.softmax(a, 0), s1: C.softmax(a, 1), ls2: C.logSoftmax(a, 2), ls1: C.logSoftmax(a, 1) }, { x: randomArray([3, 4, 2], 9, 20) });
    const inf: NDArray = { shape: [2, 3], dtype: "f32", data: Float64Array.from([-Infinity, 1, 2, 300, 200, 500]) };
    const b = C.input("x", [2, 3]);
    add("softmax-extreme", { s: C.softmax(b, 1), ls: C.logSoftmax(b, 1), lse: C.logsumexp(b, 1) }, { x: inf });
  }
  for (const reduction of ["mean", "sum", "none"] as const) {
    const a = x();
    const t = y();
    const w = C.input("w", [5]);
    const p = C.input("p", ["batch", 5]);
    const outputs = {
      ce: C.crossEntropy(a, t, { reduction }),
      ceW: C.crossEntropy(a, t, { reduction, weight: w, ignoreIndex: 2 }),
      ceS: C.crossEntropy(a, t, { reduction, labelSmoothing: 0.2, weight: w }),
      ceP: C.crossEntropy(a, C.softmax(p, 1), { reduction, labelSmoothing: 0.1 }),
      nll: C.nllLoss(C.logSoftmax(a, 1), t, { reduction, weight: w, ignoreIndex: 1 }),
      bce: C.binaryCrossEntropyWithLogits(a, C.sigmoid(p), { reduction }),
    };
    add(`losses-${reduction}`, outputs, { ...feedsXY(), w: randomArray([5], 11, 1).data.length === 5 ? { shape: [5], dtype: "f32", data: Float64Array.from([0.5, 1, 2, 0.25, 1.5]) } : randomArray([5], 11), p: randomArray([4, 5], 12, 4) });
    const g = reduction === "none" ? C.input("g", ["batch"]) : C.input("g", []);
    const attrs = (outputs.ceS.call.op === "cross_entropy" ? outputs.ceS.call.attrs : undefined) as C.CrossEntropyAttrs;
    const nllAttrs = (outputs.nll.call.op === "nll_loss" ? outputs.nll.call.attrs : undefined) as C.NllLossAttrs;
    add(
      `loss-backward-${reduction}`,
      { dce: C.crossEntropyBackward(a, t, g, attrs, w), dnll: C.nllLossBackward(C.logSoftmax(a, 1), t, g, nllAttrs, w) },
      { ...feedsXY(), w: { shape: [5], dtype: "f32", data: Float64Array.from([0.5, 1, 2, 0.25, 1.5]) }, g: reduction === "none" ? randomArray([4], 13) : { shape: [], dtype: "f32", data: Float64Array.of(0.7) } },
    );
  }
  {
    const a = C.input("x", [2, 5, 3]);
    const t = C.input("t", [2, 3], "i32");
    add("ce-spatial", { ce: C.crossEntropy(a, t), ceDim: C.crossEntropy(C.transpose(a, 1, 2), t, { dim: 2 }) }, { x: randomArray([2, 5, 3], 14), t: { shape: [2, 3], dtype: "i32", data: Float64Array.from([0, 4, 2, -100, 1, 3]) } });
  }
  {
    // batch dims that broadcast across each other: [2,1,3,4] @ [1,3,4,2] → [2,3,3,2]
    const a = C.input("a", [2, 1, 3, 4]);
    const b = C.input("b", [1, 3, 4, 2]);
    const c = C.input("c", [3, 4, 2]);
    add("matmul-batch-broadcast", { ab: C.matmul(a, b), ac: C.matmul(a, c), bt: C.matmul(C.transpose(b, 2, 3), C.transpose(a, 2, 3)) }, {
      a: randomArray([2, 1, 3, 4], 15),
      b: randomArray([1, 3, 4, 2], 16),
      c: randomArray([3, 4, 2], 17),
    });
  }
  {
    // huge and tied logits: CE computed as (max − x[y]) + log Σ stays exact (log 2 for two tied 3e38)
    const a = C.input("x", [3, 3]);
    const t = C.input("y", [3], "i32");
    const ce = C.crossEntropy(a, t, { reduction: "none" });
    const attrs = (ce.call.op === "cross_entropy" ? ce.call.attrs : undefined) as C.CrossEntropyAttrs;
    add("ce-extreme", { ce, dce: C.crossEntropyBackward(a, t, C.full([3], 1), attrs) }, {
      x: { shape: [3, 3], dtype: "f32", data: Float64Array.from([3e38, 3e38, -3e38, 1e4, -1e4, 0, 300, 200, 500]) },
      y: labels([0, 1, 2]),
    });
  }
  {
    // Tied huge logits make log Σ exp(x − max) (log 2, log 3…) vanish next to the max in f32
    // (3e38 + log 2 = 3e38; 1e4 + log 2 is off by 2e-4), so a saved LSE must keep the shift and
    // log Σ apart. Rows: ±3e38 ties (one with a loss of +inf), ±1e4 ties with −inf entries, 1e4
    // ties more than 88 above the target (exact path of the fused WASM kernel), an ignored row.
    const rows = 8;
    const x = Float64Array.from([
      ...[3e38, 3e38, -3e38, 0, 1],
      ...[3e38, 3e38, -3e38, -Infinity, 5],
      ...[1e4, 1e4, 0, -1e4, -Infinity],
      ...[-1e4, -1e4, -Infinity, -1e4, -1e4],
      ...[300, 200, 500, 500, 499],
      ...[-Infinity, 1e4, 9999, 1e4, 1e4],
      ...[1e4, 1e4, 1e4, -3e38, 1e4],
      ...[1, 2, 3, 4, 5],
    ]);
    const feeds = { x: { shape: [rows, 5], dtype: "f32" as const, data: x }, y: labels([0, 2, 2, 0, 1, 3, 3, -100]) };
    const w = { shape: [5], dtype: "f32" as const, data: Float64Array.from([1, 2, 0.5, 0.25, 3]) };
    const a = C.input("x", [rows, 5]);
    const t = C.input("y", [rows], "i32");
    const ce = C.crossEntropy(a, t, { reduction: "none" });
    const attrs = (ce.call.op === "cross_entropy" ? ce.call.attrs : undefined) as C.CrossEntropyAttrs;
    const weight = C.input("w", [5]);
    const smooth = C.crossEntropy(a, t, { weight, labelSmoothing: 0.1 });
    const smoothAttrs = (smooth.call.op === "cross_entropy" ? smooth.call.attrs : undefined) as C.CrossEntropyAttrs;
    // the upstream gradient depends on the loss (min(ce, 0) = 0), so its kernel runs between the
    // forward and the backward: they are two kernels, the backward reading the saved LSE
    const dependent = (loss: C.Tensor, g: C.Tensor): C.Tensor => C.add(g, C.minimum(loss, 0));
    add(
      "ce-extreme-saved",
      { ce, dce: C.crossEntropyBackward(a, t, dependent(ce, C.abs(C.input("g", [rows]))), attrs), smooth, dsmooth: C.crossEntropyBackward(a, t, dependent(smooth, C.scalar(1)), smoothAttrs, weight) },
      { ...feeds, g: randomArray([rows], 31), w },
    );
    // the same rows with a constant upstream gradient: forward and backward may run as one kernel
    add("ce-extreme-fused", { ce, dce: C.crossEntropyBackward(a, t, C.full([rows], 1), attrs) }, feeds);
    // class dim 1 of [2, 5, 4]: strided rows (never one fused kernel), with a saved LSE, and a
    // backward alone (sum, so no forward shares its rows) that computes the LSE itself
    const spatial = C.input("s", [2, 5, 4]);
    const spatialTarget = C.input("st", [2, 4], "i32");
    const sce = C.crossEntropy(spatial, spatialTarget, { reduction: "none" });
    const sceAttrs = (sce.call.op === "cross_entropy" ? sce.call.attrs : undefined) as C.CrossEntropyAttrs;
    // x[n][c][p] = rows[n·4 + p][c]
    const spatialData = new Float64Array(40);
    for (let n = 0; n < 2; n++) for (let c = 0; c < 5; c++) for (let p = 0; p < 4; p++) spatialData[n * 20 + c * 4 + p] = x[(n * 4 + p) * 5 + c] as number;
    add(
      "ce-extreme-spatial",
      {
        sce,
        dsce: C.crossEntropyBackward(spatial, spatialTarget, C.input("sg", [2, 4]), sceAttrs),
        alone: C.crossEntropyBackward(spatial, spatialTarget, C.scalar(1), { ...sceAttrs, reduction: "sum" }),
      },
      { s: { shape: [2, 5, 4], dtype: "f32", data: spatialData }, st: { shape: [2, 4], dtype: "i32", data: Float64Array.from([0, 2, 2, 0, 1, 3, 3, -100]) }, sg: randomArray([2, 4], 32) },
    );
  }
  {
    // normalization and attention (core/src/nn.ts) with evaluation semantics, as written
    const a = C.input("x", ["batch", 4, 6]);
    const mask = C.input("mask", [4, 4], "bool");
    add(
      "norm-attention",
      {
        layerNorm: C.layerNormLayer(a, [6], "ln"),
        groupNorm: C.groupNorm(a, 2, { eps: 1e-3 }),
        batchNorm: C.batchNormLayer(a, 4, "bn"),
        attention: C.scaledDotProductAttention(a, C.mul(a, 0.5), a, { causal: true }),
        masked: C.scaledDotProductAttention(a, a, C.tanh(a), { mask, scale: 0.3 }),
        mha: C.multiHeadAttention(a, 6, 2, "attn", { causal: true }),
        dropout: C.dropout(a, 0.4),
      },
      { x: randomArray([3, 4, 6], 21), mask: { shape: [4, 4], dtype: "bool", data: Float64Array.from([1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0]) } },
    );
  }
  {
    // convolution and pooling: forward ops, and the backward primitives their gradients use
    const img = C.input("img", [2, 4, 7, 6]);
    const w = C.input("w", [6, 2, 3, 2]);
    const bias = C.input("bias", [6]);
    const wt = C.input("wt", [4, 3, 3, 3]);
    const seq = C.input("seq", [2, 4, 9]);
    const w1 = C.input("w1", [4, 2, 3]);
    const conv = C.conv2d(img, w, bias, { stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 2], groups: 2 });
    const dy = C.input("dy", [2, 6, 3, 7]);
    add(
      "conv-pool",
      {
        conv,
        same: C.conv2d(img, C.input("w3", [3, 4, 3, 3]), undefined, { padding: "same" }),
        depthwise: C.conv2d(img, C.input("wd", [4, 1, 3, 3]), undefined, { groups: 4, stride: 2, padding: 1 }),
        transposed: C.convTranspose2d(img, wt, undefined, { stride: 2, padding: 1, outputPadding: 1, dilation: 1 }),
        weightGrad: C.conv2dWeightGradRaw(img, dy, { stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 2], groups: 2, kernel: [3, 2] }),
        conv1d: C.conv1d(seq, w1, undefined, { padding: "same", dilation: 2, groups: 2 }),
        maxPool: C.maxPool2d(img, 3, { stride: 2, padding: 1 }),
        maxPoolCeil: C.maxPool2d(img, 2, { ceilMode: true, dilation: [1, 2] }),
        maxPoolBackward: C.maxPool2dBackwardRaw(img, C.input("dp", [2, 4, 4, 3]), { kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false }),
        avgPool: C.avgPool2d(img, 3, { stride: 2, padding: 1, countIncludePad: false }),
        avgPoolCeil: C.avgPool2d(img, 2, { ceilMode: true }),
        adaptive: C.adaptiveAvgPool2d(img, [3, 4]),
        maxPool1d: C.maxPool1d(seq, 3, { stride: 2, padding: 1 }),
        avgPool1d: C.avgPool1d(seq, 2),
      },
      {
        img: randomArray([2, 4, 7, 6], 21),
        w: randomArray([6, 2, 3, 2], 22),
        bias: randomArray([6], 23),
        wt: randomArray([4, 3, 3, 3], 24),
        seq: randomArray([2, 4, 9], 25),
        w1: randomArray([4, 2, 3], 26),
        dy: randomArray([2, 6, 3, 7], 27),
        w3: randomArray([3, 4, 3, 3], 28),
        wd: randomArray([4, 1, 3, 3], 29),
        dp: randomArray([2, 4, 4, 3], 30),
      },
    );
  }
  {
    // data movement: views, index maps and their gradients' ops, fused into map kernels
    const a = x();
    const m = C.input("m", [3, 4, 5]);
    const e = C.exp(m);
    const idx = C.input("idx", ["batch", 3], "i32");
    const table = C.input("table", [6, 5]);
    const g = C.input("g", ["batch", 3, 5]);
    const [first, second, third] = C.split(m, [1, 2, 1], 1);
    add(
      "movement",
      {
        slice: C.slice(m, 2, 1, -1, 2),
        sliceNeg: C.slice(C.reshape(m, [12, 5]), [{ dim: 0, start: -3 }, { dim: 1, start: -20, stop: -2 }]),
        sliceEmpty: C.slice(m, 2, 4, 0),
        sliceOfExpr: C.add(C.slice(e, 0, 1), 1),
        padConstant: C.pad(m, [1, 2, 0, 1], { value: -1.5 }),
        padCrop: C.pad(a, [-1, 2]),
        padReflect: C.pad(m, [2, 3, 1, 1], { mode: "reflect" }),
        padReplicate: C.pad(C.tanh(m), [0, 4, 3, 0], { mode: "replicate" }),
        padInterior: C.padDims(m, [1, 0, 2], [0, 2, 1], { interior: [1, 0, 2], value: 0.5 }),
        flip: C.flip(m, [0, 2]),
        flipTransposed: C.flip(C.transpose(m, 1, 2), -1),
        concat: C.concat([m, C.neg(m), C.slice(m, 0, 0, 1)], 0),
        concatMid: C.concat([C.slice(m, 1, 0, 1), m], 1),
        stack: C.stack([a, C.exp(a)], 1),
        split: C.add(C.add(C.sum(first ?? m), C.sum(second ?? m)), C.sum(third ?? m)),
        chunks: C.concat(C.chunk(m, 3, 2).reverse(), 2),
        tril: C.tril(m),
        triuShift: C.triu(m, 1),
        trilNeg: C.tril(C.exp(m), -1),
        arange: C.arange(2, 11, 3),
        arangeFloat: C.arange(-1, 1, 0.25),
        embedding: C.embedding(idx, table),
        embeddingOfExpr: C.mul(C.embedding(idx, C.tanh(table), { paddingIdx: 0 }), 2),
        embeddingBackward: C.embeddingBackward(idx, g, 6),
        padBool: C.cast(C.pad(C.gt(m, 0), [1, 1]), "f32"),
        padInt: C.pad(idx, [2, 0], { value: 7 }),
      },
      { x: feedsXY().x, m: randomArray([3, 4, 5], 21), idx: { shape: [4, 3], dtype: "i32", data: Float64Array.from([0, 5, 2, 2, 1, 0, 3, 3, 3, 4, 0, 5]) }, table: randomArray([6, 5], 22), g: randomArray([4, 3, 5], 23) },
    );
  }
  return cases;
};

export const hostFeeds = (feeds: Readonly<Record<string, NDArray>>): HostFeeds =>
  Object.fromEntries(
    Object.entries(feeds).map(([name, array]) => [
      name,
      { shape: array.shape, dtype: array.dtype, data: array.dtype === "f32" ? Float32Array.from(array.data) : array.dtype === "i32" ? Int32Array.from(array.data) : Uint8Array.from(array.data) },
    ]),
  );

export const graphOf = (model: C.Model): Graph => {
  const built = C.buildGraph(model);
  if (built._tag === "Left") throw new Error(C.formatDiagnostics(built.left));
  return built.right;
};
