// A LeNet-style CNN for 28×28 digits, as a PyTorch user writes it:
//   conv(1→16, 5×5) → BatchNorm2d → ReLU → MaxPool 2   [16, 12, 12]
//   conv(16→32, 5×5) → BatchNorm2d → ReLU → MaxPool 2  [32, 4, 4]
//   flatten 512 → Linear 128 → ReLU → Dropout → Linear 10
// Param names are nn.Module's (conv1.weight, bn1.running_mean, fc1.bias, …), so the trained
// safetensors load into the same PyTorch module. `pnpm example mnist-cnn` trains it; the bench's
// `cnn_train_step` times one Adam step of it at batch 64 (peers mirror CNN_CONFIG).
import { batchNormLayer, conv2dLayer, crossEntropy, dense, dropout, input, maxPool2d, model, relu, reshape, type Model } from "@graft/core";

/** The architecture, for the bench's peer implementations. */
export const CNN_CONFIG = { channels: [1, 16, 32], kernel: 5, pool: 2, hidden: 128, classes: 10, dropout: 0.25, image: 28 } as const;

export interface CnnOptions {
  /** Dropout probability before the last layer (default CNN_CONFIG.dropout; 0 removes it). */
  readonly dropout?: number;
}

/** The CNN: input `x` f32[batch,1,28,28], labels `y` i32[batch], output `logits` f32[batch,10]. */
export function cnnModel(options: CnnOptions = {}): Model {
  const { channels, kernel, pool, hidden, classes } = CNN_CONFIG;
  const [c0, c1, c2] = channels;
  const x = input("x", ["batch", c0, 28, 28]);
  const y = input("y", ["batch"], "i32");
  const block1 = maxPool2d(relu(batchNormLayer(conv2dLayer(x, c0, c1, kernel, "conv1"), c1, "bn1")), pool);
  const block2 = maxPool2d(relu(batchNormLayer(conv2dLayer(block1, c1, c2, kernel, "conv2"), c2, "bn2")), pool);
  const flat = reshape(block2, ["batch", c2 * 4 * 4]);
  const hiddenUnits = dropout(relu(dense(flat, c2 * 4 * 4, hidden, "fc1")), options.dropout ?? CNN_CONFIG.dropout);
  const logits = dense(hiddenUnits, hidden, classes, "fc2");
  return model({ name: "mnist_cnn", outputs: { logits }, loss: crossEntropy(logits, y) });
}

export default cnnModel();
