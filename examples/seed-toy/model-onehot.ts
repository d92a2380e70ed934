// The seed's low-level cross-entropy, written once (softmax applied once):
//   y_one_hot = zeros_like(hypothesis).scatter_(1, y.unsqueeze(1), 1)
//   cost = (y_one_hot * -torch.log(F.softmax(z, dim=1))).sum(dim=1).mean()
// `graft print --after fuse` shows one cross_entropy node instead of softmax, log, mul, sum, mean.
import { add, input, log, matmul, mean, model, mul, neg, oneHot, param, softmax, sum, zeros } from "@graft/core";

const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const W = param("W", [4, 3], zeros);
const b = param("b", [1], zeros);

const z = add(matmul(x, W), b);
const yOneHot = oneHot(y, 3);
const cost = mean(sum(mul(yOneHot, neg(log(softmax(z, 1)))), 1));

export default model({ name: "seed_toy_onehot", outputs: { logits: z }, loss: cost });
