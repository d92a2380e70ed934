// The seed's high-level form in two steps: F.nll_loss(F.log_softmax(z, dim=1), y).
// `graft print --after fuse` shows one cross_entropy node: nll_loss(log_softmax) is exactly F.cross_entropy.
import { add, input, logSoftmax, matmul, model, nllLoss, param, zeros } from "@graft/core";

const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const W = param("W", [4, 3], zeros);
const b = param("b", [1], zeros);

const z = add(matmul(x, W), b);
const cost = nllLoss(logSoftmax(z, 1), y);

export default model({ name: "seed_toy_nll", outputs: { logits: z }, loss: cost });
