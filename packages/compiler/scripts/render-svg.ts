/**
 * Renders an SVG document to PNG in headless Chromium (Debian's `/usr/bin/chromium`,
 * driven by `playwright-core`, which downloads no browser of its own).
 *
 *   node packages/compiler/bin/run-ts.mjs packages/compiler/scripts/render-svg.ts in.svg out.png [--scale 2]
 *
 * Importable too: {@link renderSvgToPng} for one-off renders, {@link withChromium} +
 * {@link renderSvgInBrowser} to render several documents with one browser.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

/** The browser: `$GRAFT_CHROMIUM` if set, else where Debian's `chromium` package installs it. */
export const CHROMIUM_PATH = process.env.GRAFT_CHROMIUM ?? "/usr/bin/chromium";

/** Flags for a quiet, sandbox-free headless Chromium (root in a container, no network). */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Options of the renderers. */
export interface RenderOptions {
  /** Device pixels per SVG pixel (default 1). */
  readonly scale?: number;
}

/** The width and height attributes of an SVG document's root element, in px. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0];
  if (root === undefined) throw new Error("render-svg: no <svg> element in the input");
  const attr = (name: string): number | undefined => {
    const m = new RegExp(`\\s${name}="([0-9.]+)(px)?"`).exec(root);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  const viewBox = /\sviewBox="[-0-9.]+[ ,]+[-0-9.]+[ ,]+([0-9.]+)[ ,]+([0-9.]+)"/.exec(root);
  const width = attr("width") ?? Number(viewBox?.[1] ?? 800);
  const height = attr("height") ?? Number(viewBox?.[2] ?? 600);
  return { width: Math.max(1, Math.ceil(width)), height: Math.max(1, Math.ceil(height)) };
}

/** Launches Debian's Chromium, runs `fn` with it and always closes it. */
export async function withChromium<T>(fn: (browser: Browser) => Promise<T>, executablePath = CHROMIUM_PATH): Promise<T> {
  if (!existsSync(executablePath)) {
    throw new Error(`render-svg: ${executablePath} not found (apt-get update && apt-get install -y chromium)`);
  }
  const browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS] });
  try {
    return await fn(browser);
  } finally {
    await browser.close();
  }
}

/** Renders `svg` to a PNG (as large as the SVG's width × height times `scale`) with `browser`. */
export async function renderSvgInBrowser(browser: Browser, svg: string, options: RenderOptions = {}): Promise<Buffer> {
  const { width, height } = svgSize(svg);
  const context = await browser.newContext({
    viewport: { width, height },
    deviceScaleFactor: options.scale ?? 1,
  });
  try {
    const page = await context.newPage();
    // Load the document as an image, as a viewer would: no scripts, no external resources.
    const src = `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`;
    await page.setContent(
      `<!doctype html><html><body style="margin:0;background:#fff">` +
        `<img id="svg" src="${src}" width="${width}" height="${height}" style="display:block"></body></html>`,
    );
    const ok = await page.evaluate(async () => {
      const img = document.getElementById("svg");
      if (!(img instanceof HTMLImageElement)) return false;
      try {
        await img.decode();
        return img.naturalWidth > 0;
      } catch {
        return false;
      }
    });
    if (!ok) throw new Error("render-svg: Chromium could not decode the SVG (malformed XML?)");
    return await page.screenshot({ clip: { x: 0, y: 0, width, height }, type: "png" });
  } finally {
    await context.close();
  }
}

/** Renders `svg` to PNG bytes in a fresh headless Chromium. */
export async function renderSvgToPng(svg: string, options: RenderOptions = {}): Promise<Buffer> {
  return withChromium((browser) => renderSvgInBrowser(browser, svg, options));
}

async function main(argv: readonly string[]): Promise<void> {
  const args = [...argv];
  let scale = 1;
  const at = args.indexOf("--scale");
  if (at >= 0) {
    scale = Number(args[at + 1]);
    args.splice(at, 2);
    if (!(scale > 0 && scale <= 8)) throw new Error("render-svg: --scale takes a number in (0, 8]");
  }
  const [input, output] = args;
  if (input === undefined || output === undefined || args.length !== 2) {
    console.error("usage: render-svg <in.svg> <out.png> [--scale N]");
    process.exitCode = 2;
    return;
  }
  const png = await renderSvgToPng(readFileSync(input, "utf8"), { scale });
  writeFileSync(output, png);
  console.log(`${output}: ${png.length} bytes`);
}

const invoked = process.argv[1];
if (invoked !== undefined && resolve(invoked) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
}
