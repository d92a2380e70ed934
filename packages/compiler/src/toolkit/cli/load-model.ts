/**
 * @file Loading a model file: a TypeScript module whose default export is a `Model`. The CLI
 * already runs under the TypeScript loader (bin/register.mjs), so a dynamic import is enough.
 * Every failure is a message for the user (exit code 2), never a stack trace.
 */
import { existsSync, statSync } from "node:fs";
import { relative, resolve, isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { describeValue as describeAny, modelProblem, type Model } from "@graft/core";

/** A model loaded from `path` (absolute); `display` is the path as the user should read it. */
export interface LoadedModel {
  readonly model: Model;
  readonly path: string;
  readonly display: string;
}

/** How to show `path` to the user: relative to `cwd` when inside it. */
export const displayPath = (path: string, cwd: string): string => {
  const rel = relative(cwd, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
};

/** A short description of a value that is not a model, for the error message. */
export const describeValue = (value: unknown): string => describeAny(value);

const messageOf = (thrown: unknown): string => (thrown instanceof Error ? thrown.message : String(thrown));

/** Imports `file` (resolved against `cwd`) and returns its default export when it is a model. */
export const loadModel = async (file: string, cwd: string): Promise<E.Either<string, LoadedModel>> => {
  const path = resolve(cwd, file);
  const display = displayPath(path, cwd);
  if (!existsSync(path)) return E.left(`cannot find model file ${file} (looked for ${path})`);
  if (!statSync(path).isFile()) return E.left(`${display} is not a file: pass a .ts module whose default export is a model`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (thrown) {
    return E.left(`cannot load ${display}: ${messageOf(thrown)}`);
  }
  if (!("default" in module) || module.default === undefined)
    return E.left(`${display} has no default export: end it with \`export default model({ name, outputs, loss })\``);
  const value = module.default;
  const problem = modelProblem(value);
  if (problem !== undefined) return E.left(`the default export of ${display} is not a model (${problem}): export \`model({ name, outputs, loss })\` from @graft/core`);
  return E.right({ model: value as Model, path, display });
};
