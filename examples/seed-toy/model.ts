// The seed's softmax regression: z = x @ W + b, loss = F.cross_entropy(z, y).
import { add, crossEntropy, input, matmul, model, param, zeros } from "@graft/core";

const x = input("x", ["batch", 4]);
const y = input("y", ["batch"], "i32");
const W = param("W", [4, 3], zeros);
const b = param("b", [1], zeros);

const z = add(matmul(x, W), b);

export default model({ name: "seed_toy", outputs: { logits: z }, loss: crossEntropy(z, y) });
