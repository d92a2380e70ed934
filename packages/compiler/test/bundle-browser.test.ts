// The same bundle and scenario as bundle-node.test.ts, in headless Chromium, served from
// 127.0.0.1 under a strict Content-Security-Policy (no eval, no new Function): same numbers.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, compileFixture, expectedScenario, writeScenarioDir, type ScenarioResult } from "./fixtures/bundle/harness.js";

const CHROMIUM = "/usr/bin/chromium";
const CSP = "script-src 'self' 'wasm-unsafe-eval'";
const TYPES: Readonly<Record<string, string>> = { ".html": "text/html; charset=utf-8", ".mjs": "text/javascript; charset=utf-8" };

/** Serves `dir` on 127.0.0.1 with the CSP header on every response. */
const serve = (dir: string): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer((request, response) => {
      const path = normalize(join(dir, new URL(request.url ?? "/", "http://127.0.0.1").pathname));
      const file = path.endsWith("/") ? join(path, "index.html") : path;
      if (!file.startsWith(dir) || !existsSync(file)) {
        response.writeHead(404, { "Content-Security-Policy": CSP }).end("not found");
        return;
      }
      response.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Security-Policy": CSP });
      response.end(readFileSync(file));
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });

const available = existsSync(CHROMIUM);

describe.skipIf(!available).each(BACKENDS)(available ? "%s bundle in headless Chromium" : `%s bundle in headless Chromium — skipped: ${CHROMIUM} is missing (apt-get install chromium)`, (backend, options) => {
  let dir = "";
  let server: Server | undefined;
  let browser: Browser | undefined;
  let result: ScenarioResult;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    dir = writeScenarioDir(await compileFixture(options), "graft-bundle-browser-");
    server = await serve(dir);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    const page = await browser.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (caught) => consoleErrors.push(caught.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => "__graftResult" in globalThis || "__graftError" in globalThis, undefined, { timeout: 30_000 });
    const error = await page.evaluate(() => (globalThis as { __graftError?: string }).__graftError);
    if (error !== undefined) throw new Error(`the scenario failed in Chromium: ${error}`);
    result = await page.evaluate(() => (globalThis as unknown as { __graftResult: ScenarioResult }).__graftResult);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("runs under a CSP that forbids eval", () => {
    expect(result.evalAllowed).toBe(false);
    expect(result.info.name).toBe("tiny_mlp");
    expect((result.info as unknown as { backend: string }).backend).toBe(backend);
  });

  it("gives exactly the in-process session's outputs, losses and weights", async () => {
    const expected = await expectedScenario(options);
    expect(result.forward2).toEqual(expected.forward2);
    expect(result.forward3).toEqual(expected.forward3);
    expect(result.losses).toEqual(expected.losses);
    expect(result.trainLogits).toEqual(expected.trainLogits);
    expect(result.evaluate).toEqual(expected.evaluate);
    expect(result.after).toEqual(expected.after);
    expect(result.weights).toEqual(expected.weights);
  });

  it("saves and reloads weights, refuses bad ones and keeps the old ones", () => {
    expect(result.reloaded).toEqual(result.after);
    expect(result.twin).toEqual(result.forward3);
    expect(result.refused.every((message) => message.startsWith("WeightsError: loadWeights: "))).toBe(true);
    expect(result.unchanged).toBe(true);
  });

  it("logs no errors (the CSP blocked nothing the bundle needs)", () => {
    expect(consoleErrors).toEqual([]);
  });
});
