// The d2l seed's softmax regression (seed 003), written the low-level way it is there:
//   y_hat = softmax(X @ W + b)
//   cost  = -torch.log(y_hat[range(len(y_hat)), y]).mean()
// graft's fuse pass recognises mean(−log(pick(softmax(z), y))) and rewrites it into one
// stable cross_entropy(z, y) node (`graft print --after fuse examples/softmax-regression/model.ts`).
import { add, input, log, matmul, mean, model, neg, normal, param, pick, softmax, zeros } from "@graft/core";

const x = input("x", ["batch", 784]);
const y = input("y", ["batch"], "i32");
// SoftmaxRegressionScratch: W ~ N(0, sigma²) with sigma = 0.01, b = zeros.
const W = param("W", [784, 10], normal(0, 0.01));
const b = param("b", [10], zeros);

const z = add(matmul(x, W), b);
const yHat = softmax(z, 1);
const cost = neg(mean(log(pick(yHat, y))));

/** 784 → 10 softmax regression: input `x` f32[batch,784], labels `y` i32[batch], output `logits`. */
export default model({ name: "softmax_regression", outputs: { logits: z }, loss: cost });
