// `pnpm example seed-toy [--variant high-level|low-level|nll|onehot|gather] [--backend reference|js|wasm] [--epochs N]`
// The seed tutorial's softmax regression on its 8×4 toy data: SGD lr 0.1, 1000 epochs, full
// batch, printing the cost every 100 epochs exactly as the seed's PyTorch program does.
import { parseArgs } from "node:util";
import { formatDiagnostic } from "@graft/core";
import type { BackendName } from "@graft/compiler";
import { trainSeedToy, variants } from "./train.js";

const { values } = parseArgs({
  options: {
    variant: { type: "string", default: "high-level" },
    backend: { type: "string", default: "reference" },
    epochs: { type: "string", default: "1000" },
  },
});
const backends: readonly BackendName[] = ["reference", "js", "wasm"];
const backend = backends.find((name) => name === values.backend);
const epochs = Number(values.epochs);
if (backend === undefined || variants[values.variant] === undefined || !Number.isSafeInteger(epochs) || epochs < 0) {
  console.error(
    `usage: pnpm example seed-toy [--variant ${Object.keys(variants).join("|")}] [--backend ${backends.join("|")}] [--epochs N]` +
      `\n  got --variant ${values.variant} --backend ${values.backend} --epochs ${values.epochs}`,
  );
  process.exit(2);
}
await trainSeedToy({
  variant: values.variant,
  backend,
  epochs,
  log: (line) => console.log(line),
  warn: (warning) => console.error(formatDiagnostic(warning)),
});
