// Registers the TypeScript loader (ts-hooks.mjs) so that `node --import` runs graft's .ts
// sources, examples and user model files directly, with source maps for exact user lines.
import { register } from "node:module";

process.setSourceMapsEnabled(true);
register("./ts-hooks.mjs", import.meta.url);
