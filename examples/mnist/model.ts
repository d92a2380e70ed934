// The seed's MnistClassifier (seed 004): 784 → 256 → 128 → 64 → 10 with ReLU, trained with
// nn.CrossEntropyLoss. `graft compile examples/mnist/model.ts --train adam:lr=1e-3` uses it.
import { crossEntropy, dense, input, model, relu } from "@graft/core";

const x = input("x", ["batch", 784]);
const y = input("y", ["batch"], "i32");

const h1 = relu(dense(x, 784, 256, "fc1"));
const h2 = relu(dense(h1, 256, 128, "fc2"));
const h3 = relu(dense(h2, 128, 64, "fc3"));
const logits = dense(h3, 64, 10, "fc4");

/** The 784-256-128-64-10 ReLU MLP: input `x` f32[batch,784], labels `y` i32[batch], output `logits`. */
export default model({ name: "mnist_mlp", outputs: { logits }, loss: crossEntropy(logits, y) });
