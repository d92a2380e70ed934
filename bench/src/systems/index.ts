/**
 * The registry of benchmarked systems, in report order. Adding a system is one line here
 * (plus its import): an object implementing `System` from `../harness.js`.
 *
 * graft's systems go here as they land, e.g.
 *   import { graftWasm } from "./graft-wasm.js";   ...   graftWasm,
 * with names "graft-wasm", "graft-js", "graft-wasm-2t" and `peer: false`.
 */
import type { System } from "../harness.js";
import { graftJs, graftWasm, graftWasm2t } from "./graft.js";
import { jaxJs } from "./jax-js.js";
import { ortCpu } from "./ort-cpu.js";
import { tfjsWasm } from "./tfjs-wasm.js";

/** Every system `pnpm bench` runs (peers and graft's back ends). */
export const SYSTEMS: readonly System[] = [
  tfjsWasm,
  jaxJs,
  ortCpu,
  graftWasm,
  graftWasm2t,
  graftJs,
];
