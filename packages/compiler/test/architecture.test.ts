// The layout rules of the code base, checked by reading the sources: no source file over 800
// lines, an import-free runtime, and bundles that know no back end and no core internals.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const packages = join(dirname(fileURLToPath(import.meta.url)), "../..");

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith(".ts") ? [path] : [];
  });

/** Module specifiers a file imports or re-exports (static and dynamic). */
const importsOf = (source: string): string[] => [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((match) => match[1] ?? "");

/** The source without comments (so documentation may mention back ends). */
const code = (source: string): string => source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");

describe("architecture", () => {
  it("no source file under packages/*/src is over 800 lines", () => {
    const long = ["core", "compiler", "runtime"].flatMap((pkg) =>
      sourceFiles(join(packages, pkg, "src")).flatMap((path) => {
        const lines = readFileSync(path, "utf8").split("\n").length - 1;
        return lines > 800 ? [`${relative(packages, path)}: ${lines} lines`] : [];
      }),
    );
    expect(long).toEqual([]);
  });

  it("packages/runtime imports nothing but its own files", () => {
    const outside = sourceFiles(join(packages, "runtime/src")).flatMap((path) =>
      importsOf(readFileSync(path, "utf8"))
        .filter((specifier) => !specifier.startsWith("./"))
        .map((specifier) => `${relative(packages, path)} imports ${specifier}`),
    );
    expect(outside).toEqual([]);
  });

  it("nothing under compiler/src/bundle imports core internals or a back end, or names one", () => {
    const problems = sourceFiles(join(packages, "compiler/src/bundle")).flatMap((path) => {
      const source = readFileSync(path, "utf8");
      const file = relative(packages, path);
      const imports = importsOf(source).flatMap((specifier) => {
        if (specifier.startsWith("@graft/core/")) return [`${file} imports core internals (${specifier})`];
        if (/^\.\.\/backend\/(?!index\.js$|types\.js$|program\.js$|identifiers\.js$)/.test(specifier)) return [`${file} imports a back end (${specifier})`];
        return [];
      });
      const names = [...code(source).matchAll(/["'`](js|wasm|reference)["'`]|[Ww]asm\w*|\bWASM\b|\bWebAssembly\b|(?<![.\w/)?-])js\b|\bjs[A-Z_]\w*|\bJs[A-Z]\w*/g)].map((match) => `${file} names a back end: ${match[0]}`);
      return [...imports, ...names];
    });
    expect(problems).toEqual([]);
  });

  it("the checks above can fail: the patterns find what they forbid", () => {
    expect(importsOf(`import { x } from "@graft/core/src/ops/def.js";\nconst m = await import("../backend/wasm/backend.js");`)).toEqual(["@graft/core/src/ops/def.js", "../backend/wasm/backend.js"]);
    expect(code(`const a = "wasm"; // "js"\n/* wasm */`)).toBe(`const a = "wasm"; \n`);
    const named = (text: string): string[] => [...code(text).matchAll(/["'`](js|wasm|reference)["'`]|[Ww]asm\w*|\bWASM\b|\bWebAssembly\b|(?<![.\w/)?-])js\b|\bjs[A-Z_]\w*|\bJs[A-Z]\w*/g)].map((match) => match[0]);
    expect(named(`if (backend === "wasm") emitWasmModule(jsKernelSource(JSON.parse(x)));`)).toEqual(['"wasm"', "WasmModule", "jsKernelSource"]);
  });
});
