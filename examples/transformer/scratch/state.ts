import { createTrainer, compileBundle } from "@graft/compiler";
import transformer from "../model.js";
const trainer = await createTrainer(transformer, { optimizer: "adamw:lr=1e-3", backend: "wasm", seed: 0, clipGradNorm: 1 });
for (const [k, v] of Object.entries(trainer.getState())) console.log(k, v.dtype, v.shape.join("x"));
const b = await compileBundle(transformer, { batches: [1, 100] });
if (b._tag === "Right") { console.log(JSON.stringify(b.right.info.functions.forward?.batching), b.right.info.backend, b.right.sizes); } else console.log(b.left);
