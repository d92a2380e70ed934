// The seed's MultiClassClassifier: nn.Linear(2, 4) → ReLU → nn.Linear(4, 8) → ReLU →
// nn.Linear(8, 4), trained with nn.CrossEntropyLoss on the four blobs.
import { crossEntropy, dense, input, model, relu } from "@graft/core";

const x = input("x", ["batch", 2]);
const y = input("y", ["batch"], "i32");

const h1 = relu(dense(x, 2, 4, "fc1"));
const h2 = relu(dense(h1, 4, 8, "fc2"));
const logits = dense(h2, 8, 4, "fc3");

/** The 2-4-8-4 ReLU MLP: input `x` f32[batch,2], labels `y` i32[batch], output `logits`. */
export default model({ name: "blobs_mlp", outputs: { logits }, loss: crossEntropy(logits, y) });
