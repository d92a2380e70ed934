/**
 * The loss-math linter: each code fires on the mistake it names, with the user's location, the
 * why and the fix; correct formulations (the seed-toy model files) get no warning.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, test } from "vitest";
import {
  add,
  binaryCrossEntropyWithLogits,
  buildGraph,
  crossEntropy,
  exp,
  formatDiagnostic,
  formatDiagnostics,
  graphFromTensors,
  input,
  log,
  logSigmoid,
  logSoftmax,
  logsumexp,
  matmul,
  mean,
  neg,
  nllLoss,
  permute,
  pick,
  reshape,
  sigmoid,
  softmax,
  sub,
  type Diagnostic,
  type Diagnostics,
  type Graph,
  type Tensor,
} from "@graft/core";
import { fuse } from "../src/passes/fuse.js";
import { lintCodes, lintGraph } from "../src/passes/lint.js";
import modelCe from "../../../examples/seed-toy/model.js";
import modelNll from "../../../examples/seed-toy/model-nll.js";
import modelOneHot from "../../../examples/seed-toy/model-onehot.js";
import modelGather from "../../../examples/seed-toy/model-gather.js";
import modelLowLevel from "../../../examples/seed-toy/model-low-level.js";

const orThrow = <A>(result: E.Either<Diagnostics, A>): A => {
  if (E.isLeft(result)) throw new Error(formatDiagnostics(result.left));
  return result.right;
};

const graphOf = (outputs: Record<string, Tensor>): Graph =>
  orThrow(graphFromTensors("t", Object.entries(outputs).map(([name, tensor]) => ({ name, tensor })), undefined));

const lintOf = (outputs: Record<string, Tensor>): Diagnostics => lintGraph(graphOf(outputs));

/** The line of the caller (to check that a warning points at the line a tensor was made on). */
const lineHere = (): number => Number(/:(\d+):\d+\)?$/.exec(new Error().stack?.split("\n")[2] ?? "")?.[1]);

const TEST_FILE = "packages/compiler/test/lint.test.ts";

const x = input("x", ["n", 4]);
const W = input("W", [4, 3]);
const y = input("y", ["n"], "i32");
const z = add(matmul(x, W), 1);

const only = (diagnostics: Diagnostics): Diagnostic => {
  expect(diagnostics).toHaveLength(1);
  const [first] = diagnostics;
  if (first === undefined) throw new Error("no diagnostic");
  return first;
};

describe("the seed-toy model files", () => {
  test("model-low-level.ts: one double-softmax warning at the second softmax's line", () => {
    const warning = only(lintGraph(orThrow(buildGraph(modelLowLevel))));
    expect(warning.severity).toBe("warning");
    expect(warning.code).toBe("lint/double-softmax");
    expect(warning.loc?.file.endsWith("examples/seed-toy/model-low-level.ts")).toBe(true);
    expect(warning.loc?.line).toBe(18);
    expect(formatDiagnostic(warning)).toBe(
      "examples/seed-toy/model-low-level.ts:18:44 warning: softmax applied to the output of softmax (examples/seed-toy/model-low-level.ts:16:20): its input is already probabilities in [0, 1], so a second softmax squashes them toward uniform and the loss stops tracking the model\n" +
        "  fix: apply softmax once: pass the logits (the input of the softmax at examples/seed-toy/model-low-level.ts:16:20) here, or use cross_entropy(logits, target)",
    );
  });

  test.each([
    ["model.ts", modelCe],
    ["model-nll.ts", modelNll],
    ["model-onehot.ts", modelOneHot],
    ["model-gather.ts", modelGather],
  ] as const)("%s: no warning", (_file, m) => {
    expect(lintGraph(orThrow(buildGraph(m)))).toEqual([]);
  });

  test("lint must run before fuse: after fusion the double softmax shows up as cross_entropy of softmax", () => {
    const fused = orThrow(fuse(orThrow(buildGraph(modelLowLevel))));
    expect(lintGraph(fused).map((d) => d.code)).toEqual(["lint/cross-entropy-on-probabilities"]);
  });
});

describe("lint/double-softmax", () => {
  test("softmax of softmax, log_softmax of softmax, and through a reshape", () => {
    const first = softmax(z, 1);
    const second = softmax(first, 1); const line = lineHere();
    const warning = only(lintOf({ out: second }));
    expect(warning.code).toBe("lint/double-softmax");
    expect(warning.loc?.file.endsWith(TEST_FILE)).toBe(true);
    expect(warning.loc?.line).toBe(line);
    expect(only(lintOf({ out: logSoftmax(softmax(z, 1), 1) })).message).toMatch(/^log_softmax applied to the output of softmax \(packages\/compiler\/test\/lint\.test\.ts:\d+:\d+\): /);
    expect(only(lintOf({ out: softmax(reshape(softmax(z, 1), ["n", 1, 3]), 2) })).code).toBe("lint/double-softmax");
  });

  test("no warning for one softmax, or softmax of log_softmax (which equals softmax)", () => {
    expect(lintOf({ out: softmax(z, 1) })).toEqual([]);
    expect(lintOf({ out: softmax(logSoftmax(z, 1), 1) })).toEqual([]);
  });
});

describe("lint/cross-entropy-on-probabilities and -log-probabilities", () => {
  test("cross_entropy of softmax: why and fix, at the cross_entropy's line", () => {
    const probs = softmax(z, 1); const probsLine = lineHere();
    const loss = crossEntropy(probs, y); const line = lineHere();
    const warning = only(lintOf({ loss }));
    expect(warning.code).toBe("lint/cross-entropy-on-probabilities");
    expect(warning.loc?.line).toBe(line);
    expect(warning.message).toBe(`cross_entropy is fed the output of softmax (${TEST_FILE}:${probsLine}:19), but it applies log_softmax itself: the probabilities are squashed twice and the gradient vanishes`);
    expect(warning.hint).toBe(`pass the logits (the input of the softmax at ${TEST_FILE}:${probsLine}:19) to cross_entropy`);
  });

  test("sigmoid before cross_entropy or binary_cross_entropy_with_logits, also through a transpose", () => {
    expect(only(lintOf({ loss: crossEntropy(sigmoid(z), y) })).message).toMatch(/^cross_entropy is fed the output of sigmoid /);
    const t = input("t", ["n", 3]);
    const bce = only(lintOf({ loss: binaryCrossEntropyWithLogits(sigmoid(z), t) }));
    expect(bce.code).toBe("lint/cross-entropy-on-probabilities");
    expect(bce.message).toMatch(/^binary_cross_entropy_with_logits is fed the output of sigmoid \(.*\), but it applies log_sigmoid itself/);
    const zT = input("zT", [3, "n"]);
    expect(only(lintOf({ loss: crossEntropy(permute(softmax(zT, 0), [1, 0]), y) })).code).toBe("lint/cross-entropy-on-probabilities");
  });

  test("log_softmax / log_sigmoid before cross_entropy", () => {
    const warning = only(lintOf({ loss: crossEntropy(logSoftmax(z, 1), y) }));
    expect(warning.code).toBe("lint/cross-entropy-on-log-probabilities");
    expect(warning.message).toMatch(/^cross_entropy is fed the output of log_softmax \(.*\), but it applies log_softmax itself: the log_softmax is redundant work$/);
    expect(warning.hint).toBe("pass the logits to cross_entropy, or use nll_loss(log_softmax(logits, dim), target)");
    expect(only(lintOf({ loss: crossEntropy(logSigmoid(z), y) })).message).toMatch(/the log_sigmoid is redundant work and changes the loss$/);
  });

  test("no warning for logits, and BCE of softmax is not this lint's business", () => {
    expect(lintOf({ loss: crossEntropy(z, y) })).toEqual([]);
    expect(lintOf({ loss: binaryCrossEntropyWithLogits(z, input("t", ["n", 3])) })).toEqual([]);
  });
});

describe("nll_loss inputs", () => {
  test("lint/nll-on-probabilities for softmax, sigmoid and exp", () => {
    const probs = softmax(z, 1); const probsLine = lineHere();
    const loss = nllLoss(probs, y); const line = lineHere();
    const warning = only(lintOf({ loss }));
    expect(warning.code).toBe("lint/nll-on-probabilities");
    expect(warning.loc?.line).toBe(line);
    expect(warning.message).toBe(`nll_loss expects log-probabilities but is fed the output of softmax (${TEST_FILE}:${probsLine}:19), which are probabilities: it computes −p[y] instead of −log p[y]`);
    expect(warning.hint).toBe("use log_softmax instead of softmax, or cross_entropy on the logits");
    for (const f of [sigmoid, exp]) {
      const other = only(lintOf({ loss: nllLoss(f(z), y) }));
      expect(other.code).toBe("lint/nll-on-probabilities");
      expect(other.hint).toBe("take the log first (log_softmax / log_sigmoid), or use cross_entropy on the logits");
    }
  });

  test("lint/nll-on-logits for raw scores", () => {
    const loss = nllLoss(z, y); const line = lineHere();
    const warning = only(lintOf({ loss }));
    expect(warning.code).toBe("lint/nll-on-logits");
    expect(warning.loc?.line).toBe(line);
    expect(warning.message).toMatch(/^nll_loss expects log-probabilities but is fed the output of add \(packages\/compiler\/test\/lint\.test\.ts:\d+:\d+\), which are not normalised: the loss is −x\[y\], unbounded below$/);
    expect(warning.hint).toBe("use cross_entropy(logits, target), or nll_loss(log_softmax(logits, dim), target)");
    expect(only(lintOf({ loss: nllLoss(neg(z), y) })).code).toBe("lint/nll-on-logits");
  });

  test("lint/nll-dim-mismatch when log_softmax normalises another dim", () => {
    const z3 = input("z3", ["n", 3, 3]);
    const y3 = input("y3", ["n", 3], "i32");
    const warning = only(lintOf({ loss: nllLoss(logSoftmax(z3, 2), y3) }));
    expect(warning.code).toBe("lint/nll-dim-mismatch");
    expect(warning.message).toMatch(/^nll_loss reads classes along dim 1, but the log_softmax at .* normalises along dim 2: the values are not log-probabilities over the classes$/);
    expect(warning.hint).toBe("use log_softmax(x, 1), or pass dim: 2 to nll_loss");
    expect(lintOf({ loss: nllLoss(logSoftmax(z3, 2), y3, { dim: 2 }) })).toEqual([]);
  });

  test("no warning for log-probabilities: log_softmax, log(softmax), x − logsumexp(x), or a leaf of unknown origin", () => {
    expect(lintOf({ loss: nllLoss(logSoftmax(z, 1), y) })).toEqual([]);
    expect(lintOf({ loss: nllLoss(log(softmax(z, 1)), y) })).toEqual([]);
    expect(lintOf({ loss: nllLoss(sub(z, logsumexp(z, 1, true)), y) })).toEqual([]);
    expect(lintOf({ loss: nllLoss(input("logp", ["n", 3]), y) })).toEqual([]);
  });
});

describe("lint/unfused-log-softmax", () => {
  test("log of softmax through a reshape, with why and fix", () => {
    const probs = softmax(z, 1);
    const logs = log(reshape(probs, ["n", 1, 3])); const line = lineHere();
    const warning = only(lintOf({ out: logs }));
    expect(warning.code).toBe("lint/unfused-log-softmax");
    expect(warning.loc?.line).toBe(line);
    expect(warning.message).toMatch(/^log of softmax \(packages\/compiler\/test\/lint\.test\.ts:\d+:\d+\) through reshape: fuse only rewrites log\(softmax\(x\)\) directly, so this stays unstable \(log\(0\) = −inf once a probability underflows\)$/);
    expect(warning.hint).toBe("apply log_softmax(x, 1) before the reshape instead of log after it, or use cross_entropy / nll_loss");
  });

  test("through a transpose, and through a per-row pick that no loss rewrite absorbs", () => {
    const zT = input("zT", [3, "n"]);
    expect(only(lintOf({ out: log(permute(softmax(zT, 0), [1, 0])) })).message).toMatch(/ through transpose: /);
    const perRow = only(lintOf({ out: neg(log(pick(softmax(z, 1), y))) }));
    expect(perRow.code).toBe("lint/unfused-log-softmax");
    expect(perRow.message).toMatch(/ through gather → reshape: /);
  });

  test("no warning when fuse absorbs it: −mean(log(pick(softmax(z), y))) and log(softmax(z))", () => {
    expect(lintOf({ loss: neg(mean(log(pick(softmax(z, 1), y)))) })).toEqual([]);
    expect(lintOf({ out: log(softmax(z, 1)) })).toEqual([]);
  });

  test("a warning when the absorbed log is also an output of its own (it stays in the graph)", () => {
    const picked = log(pick(softmax(z, 1), y));
    expect(lintOf({ loss: neg(mean(picked)), logp: picked }).map((d) => d.code)).toEqual(["lint/unfused-log-softmax"]);
  });
});

test("every lint code has a test that triggers it", () => {
  const z3 = input("z3", ["n", 3, 3]);
  const triggered = new Set(
    [
      lintOf({ a: softmax(softmax(z, 1), 1) }),
      lintOf({ a: crossEntropy(softmax(z, 1), y) }),
      lintOf({ a: crossEntropy(logSoftmax(z, 1), y) }),
      lintOf({ a: nllLoss(softmax(z, 1), y) }),
      lintOf({ a: nllLoss(z, y) }),
      lintOf({ a: nllLoss(logSoftmax(z3, 2), input("y3", ["n", 3], "i32")) }),
      lintOf({ a: log(reshape(softmax(z, 1), ["n", 1, 3])) }),
    ]
      .flat()
      .map((d) => d.code),
  );
  expect([...triggered].sort()).toEqual([...lintCodes].sort());
});
