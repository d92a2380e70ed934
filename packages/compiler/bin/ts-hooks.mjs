// Node module hooks: resolve `./x.js` to `./x.ts` when only the .ts exists, resolve `@graft/*`
// to the graft running the command when the importing file's project has none of its own, and
// transpile .ts/.mts files with esbuild (inline source maps, so stack traces point at the .ts line).
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

const isGraftPackage = (specifier) => /^@graft\/[^/]+/.test(specifier);

export async function resolve(specifier, context, nextResolve) {
  if (specifier.endsWith(".js") && context.parentURL?.startsWith("file:") && (specifier.startsWith(".") || specifier.startsWith("/"))) {
    const tsUrl = new URL(specifier.slice(0, -3) + ".ts", context.parentURL);
    if (existsSync(fileURLToPath(tsUrl))) return { url: tsUrl.href, shortCircuit: true, format: "module" };
  }
  if (!isGraftPackage(specifier)) return nextResolve(specifier, context);
  try {
    return await nextResolve(specifier, context);
  } catch (thrown) {
    // a model file outside any project that installs graft (`graft check ~/my/model.ts`):
    // its @graft/* imports are the packages of this graft, resolved from this file
    if (thrown?.code !== "ERR_MODULE_NOT_FOUND") throw thrown;
    try {
      return await nextResolve(specifier, { ...context, parentURL: import.meta.url });
    } catch {
      throw thrown;
    }
  }
}

export async function load(url, context, nextLoad) {
  if (url.startsWith("file:") && (url.endsWith(".ts") || url.endsWith(".mts"))) {
    const path = fileURLToPath(url);
    const source = await readFile(path, "utf8");
    const result = await transform(source, {
      loader: "ts",
      format: "esm",
      target: "es2022",
      sourcemap: "inline",
      sourcefile: path,
    });
    return { format: "module", source: result.code, shortCircuit: true };
  }
  return nextLoad(url, context);
}
