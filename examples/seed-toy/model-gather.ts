// The d2l seed's cross-entropy: -torch.log(y_hat[range(len(y_hat)), y]).mean() with
// y_hat = softmax(z), written with torch.gather (`pick(p, y)` is the same gather).
// `graft print --after fuse` shows one cross_entropy node.
import { add, gather, input, log, matmul, mean, model, neg, param, softmax, unsqueeze, zeros } from "@graft/core";

const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const W = param("W", [4, 3], zeros);
const b = param("b", [1], zeros);

const z = add(matmul(x, W), b);
const yHat = softmax(z, 1);
const cost = neg(mean(log(gather(yHat, 1, unsqueeze(y, 1)))));

export default model({ name: "seed_toy_gather", outputs: { logits: z }, loss: cost });
