// The seed's Net (seed 000): 784 → 520 → 320 → 240 → 120 → 10 with ReLU, trained with
// nn.CrossEntropyLoss and SGD(lr=0.01, momentum=0.5). `pnpm example mnist --arch 520` uses it.
import { crossEntropy, dense, input, model, relu } from "@graft/core";

const x = input("x", ["batch", 784]);
const y = input("y", ["batch"], "i32");

const h1 = relu(dense(x, 784, 520, "l1"));
const h2 = relu(dense(h1, 520, 320, "l2"));
const h3 = relu(dense(h2, 320, 240, "l3"));
const h4 = relu(dense(h3, 240, 120, "l4"));
const logits = dense(h4, 120, 10, "l5");

/** The 784-520-320-240-120-10 ReLU MLP: input `x` f32[batch,784], labels `y` i32[batch], output `logits`. */
export default model({ name: "mnist_mlp_520", outputs: { logits }, loss: crossEntropy(logits, y) });
