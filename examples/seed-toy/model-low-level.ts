// The seed's "Training with Low-level Cross Entropy Loss" program, as written there:
//   hypothesis = F.softmax(x_train.matmul(W) + b, dim=1)
//   cost = (y_one_hot * -torch.log(F.softmax(hypothesis, dim=1))).sum(dim=1).mean()
// It applies softmax twice, so it is not F.cross_entropy(z, y): it is the cross-entropy of
// softmax(z) taken as logits (the seed's table starts at 1.098612 but decreases more slowly).
// `graft check` warns (lint/double-softmax) at the second softmax below; `fuse` rewrites only
// the exactly equivalent part, into cross_entropy(hypothesis, y).
import { add, input, log, matmul, mean, model, mul, neg, oneHot, param, softmax, sum, zeros } from "@graft/core";

const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const W = param("W", [4, 3], zeros);
const b = param("b", [1], zeros);

const z = add(matmul(x, W), b);
const hypothesis = softmax(z, 1);
const yOneHot = oneHot(y, 3);
const cost = mean(sum(mul(yOneHot, neg(log(softmax(hypothesis, 1)))), 1));

export default model({ name: "seed_toy_low_level", outputs: { logits: z }, loss: cost });
