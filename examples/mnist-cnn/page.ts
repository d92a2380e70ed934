/**
 * @file The browser page the example writes next to its bundle (`index.html`): draw a digit with
 * the mouse or a finger, the page turns it into an MNIST-like 28×28 input (preprocess.ts, the
 * same function as in Node) and the bundle classifies it, showing the predicted digit, the ten
 * probabilities and the 28×28 input. "clear" empties the canvas.
 *
 * It imports the bundle as an ES module, so serve the folder over http (browsers refuse module
 * scripts from file:// pages). For tests and curious users the page exposes its state on
 * `window`: `__digitReady` (the model is loaded), `__digitInput` (the 784 input values or
 * null), `__digitPrediction` (the class or null), `__digitProbabilities` and `__digitError`.
 */
import { preprocessDigit } from "./preprocess.js";

/** Side of the drawing canvas in CSS pixels (10× MNIST's 28). */
export const CANVAS_SIDE = 280;
/** Width of the pen in canvas pixels (MNIST strokes are ~2–3 of 28 pixels wide). */
export const PEN_WIDTH = 22;

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** index.html for the bundle file `bundleFile` (a path relative to the page). */
export function pageHtml(bundleFile: string): string {
  const script = `import { load } from ${JSON.stringify(`./${bundleFile}`)};
const preprocessDigit = ${preprocessDigit.toString()};
const SIDE = ${CANVAS_SIDE};
const canvas = document.getElementById("pad");
const context = canvas.getContext("2d", { willReadFrequently: true });
const preview = document.getElementById("input").getContext("2d");
const predictionText = document.getElementById("prediction");
const bars = document.getElementById("bars");
const status = document.getElementById("status");
window.__digitReady = false;
window.__digitInput = null;
window.__digitPrediction = null;
window.__digitProbabilities = null;
for (let digit = 0; digit < 10; digit++) {
  const row = document.createElement("li");
  row.innerHTML = '<span class="label">' + digit + '</span><span class="bar"><span class="fill"></span></span><span class="value">–</span>';
  bars.appendChild(row);
}
const blank = () => {
  context.fillStyle = "#000";
  context.fillRect(0, 0, SIDE, SIDE);
  preview.fillStyle = "#000";
  preview.fillRect(0, 0, 28, 28);
  predictionText.textContent = "–";
  for (const row of bars.children) {
    row.querySelector(".fill").style.width = "0%";
    row.querySelector(".value").textContent = "–";
    row.classList.remove("top");
  }
  window.__digitInput = null;
  window.__digitPrediction = null;
  window.__digitProbabilities = null;
};
blank();
let model = null;
const classify = () => {
  if (model === null) return;
  const pixels = context.getImageData(0, 0, SIDE, SIDE).data;
  const intensity = new Float32Array(SIDE * SIDE);
  for (let i = 0; i < intensity.length; i++) intensity[i] = pixels[4 * i] / 255;
  const input = preprocessDigit(intensity, SIDE, SIDE);
  if (input === undefined) { blank(); return; }
  const image = preview.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const grey = Math.round(255 * input[i]);
    image.data[4 * i] = grey; image.data[4 * i + 1] = grey; image.data[4 * i + 2] = grey; image.data[4 * i + 3] = 255;
  }
  preview.putImageData(image, 0, 0);
  const logits = model.forward({ x: input }).logits;
  let best = 0;
  for (let k = 1; k < 10; k++) if (logits[k] > logits[best]) best = k;
  let total = 0;
  const exps = Array.from(logits, (v) => Math.exp(v - logits[best]));
  for (const e of exps) total += e;
  const probabilities = exps.map((e) => e / total);
  predictionText.textContent = String(best);
  Array.from(bars.children).forEach((row, k) => {
    row.querySelector(".fill").style.width = (100 * probabilities[k]).toFixed(1) + "%";
    row.querySelector(".value").textContent = (100 * probabilities[k]).toFixed(1) + "%";
    row.classList.toggle("top", k === best);
  });
  window.__digitInput = Array.from(input);
  window.__digitPrediction = best;
  window.__digitProbabilities = probabilities;
};
let drawing = false;
const point = (event) => {
  const box = canvas.getBoundingClientRect();
  return [((event.clientX - box.left) * SIDE) / box.width, ((event.clientY - box.top) * SIDE) / box.height];
};
canvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  canvas.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  context.strokeStyle = "#fff";
  context.fillStyle = "#fff";
  context.lineWidth = ${PEN_WIDTH};
  context.lineCap = "round";
  context.lineJoin = "round";
  context.beginPath();
  context.arc(x, y, ${PEN_WIDTH / 2}, 0, 2 * Math.PI);
  context.fill();
  context.beginPath();
  context.moveTo(x, y);
  event.preventDefault();
});
canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  context.lineTo(x, y);
  context.stroke();
  context.beginPath();
  context.moveTo(x, y);
  event.preventDefault();
});
const finish = () => {
  if (!drawing) return;
  drawing = false;
  classify();
};
canvas.addEventListener("pointerup", finish);
canvas.addEventListener("pointercancel", finish);
document.getElementById("clear").addEventListener("click", blank);
load().then((loaded) => {
  model = loaded;
  status.textContent = "model loaded: draw a digit (0–9) in the black square";
  window.__digitReady = true;
}, (error) => {
  status.textContent = "could not load the model: " + error;
  window.__digitError = String(error);
});
`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>graft: MNIST CNN — draw a digit</title>
<style>
  body { font: 16px system-ui, sans-serif; margin: 2rem; color: #222; }
  main { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
  #pad { width: ${CANVAS_SIDE}px; height: ${CANVAS_SIDE}px; touch-action: none; cursor: crosshair; border: 1px solid #888; display: block; }
  #input { width: 112px; height: 112px; image-rendering: pixelated; border: 1px solid #888; }
  #prediction { font-size: 4rem; font-weight: bold; display: block; }
  ol { list-style: none; padding: 0; margin: 0; }
  li { display: flex; align-items: center; gap: .5rem; font-variant-numeric: tabular-nums; }
  li.top { font-weight: bold; }
  .bar { width: 160px; height: .8rem; background: #eee; display: inline-block; }
  .fill { height: 100%; background: #3a7; display: block; width: 0%; }
  .value { width: 4rem; text-align: right; }
  button { margin-top: .5rem; font-size: 1rem; }
</style>
</head>
<body>
<h1>Draw a digit</h1>
<p id="status">loading the model (${escapeHtml(bundleFile)})…</p>
<main>
  <section>
    <canvas id="pad" width="${CANVAS_SIDE}" height="${CANVAS_SIDE}" aria-label="drawing area"></canvas>
    <button id="clear" type="button">clear</button>
  </section>
  <section>
    <div>prediction <output id="prediction">–</output></div>
    <ol id="bars" aria-label="probabilities"></ol>
  </section>
  <section>
    <div>the 28×28 input</div>
    <canvas id="input" width="28" height="28"></canvas>
  </section>
</main>
<script type="module">
${script}</script>
</body>
</html>
`;
}
