/**
 * @file A drawn digit to an MNIST-like 28×28 input, as the MNIST digits were made (LeCun et al.):
 * the ink's bounding box is scaled to fit 20×20 keeping its aspect ratio (area averaging), then
 * placed in a 28×28 image so that its centre of mass falls on the image centre. Values in [0, 1],
 * ink bright on a dark background.
 *
 * The browser page (page.ts) runs this very function: it is embedded with `toString()`, so it is
 * written as one self-contained function (no imports, no helpers, no named inner functions).
 */

/**
 * `intensity` holds `width × height` values in [0, 1] (row-major, ink high); values above
 * `threshold` count as ink for the bounding box. Returns the 784 pixels of the 28×28 input, or
 * undefined when there is no ink.
 */
export function preprocessDigit(intensity: ArrayLike<number>, width: number, height: number, threshold = 0.05): Float32Array | undefined {
  const SIDE = 28;
  const BOX = 20;
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      if ((intensity[row * width + col] ?? 0) > threshold) {
        if (row < top) top = row;
        if (row > bottom) bottom = row;
        if (col < left) left = col;
        if (col > right) right = col;
      }
    }
  }
  if (bottom < 0) return undefined;
  const boxWidth = right - left + 1;
  const boxHeight = bottom - top + 1;
  // scale the longer side to 20 pixels; the shorter keeps the aspect ratio (at least 1 pixel)
  const scale = BOX / Math.max(boxWidth, boxHeight);
  const outWidth = Math.max(1, Math.min(BOX, Math.round(boxWidth * scale)));
  const outHeight = Math.max(1, Math.min(BOX, Math.round(boxHeight * scale)));
  // area averaging: each output pixel is the mean of the source area it covers (partial pixels weighted)
  const small = new Float64Array(outWidth * outHeight);
  const stepX = boxWidth / outWidth;
  const stepY = boxHeight / outHeight;
  for (let oy = 0; oy < outHeight; oy++) {
    const y0 = top + oy * stepY;
    const y1 = y0 + stepY;
    for (let ox = 0; ox < outWidth; ox++) {
      const x0 = left + ox * stepX;
      const x1 = x0 + stepX;
      let sum = 0;
      for (let sy = Math.floor(y0); sy < Math.ceil(y1); sy++) {
        const wy = Math.min(y1, sy + 1) - Math.max(y0, sy);
        for (let sx = Math.floor(x0); sx < Math.ceil(x1); sx++) {
          const wx = Math.min(x1, sx + 1) - Math.max(x0, sx);
          sum += wy * wx * (intensity[sy * width + sx] ?? 0);
        }
      }
      small[oy * outWidth + ox] = sum / (stepX * stepY);
    }
  }
  // centre of mass of the scaled digit, moved to the centre of the 28×28 image (whole pixels)
  let mass = 0;
  let massX = 0;
  let massY = 0;
  for (let oy = 0; oy < outHeight; oy++) {
    for (let ox = 0; ox < outWidth; ox++) {
      const v = small[oy * outWidth + ox] ?? 0;
      mass += v;
      massX += v * (ox + 0.5);
      massY += v * (oy + 0.5);
    }
  }
  const centreX = mass > 0 ? massX / mass : outWidth / 2;
  const centreY = mass > 0 ? massY / mass : outHeight / 2;
  const offsetX = Math.round(SIDE / 2 - centreX);
  const offsetY = Math.round(SIDE / 2 - centreY);
  const out = new Float32Array(SIDE * SIDE);
  for (let oy = 0; oy < outHeight; oy++) {
    const row = oy + offsetY;
    if (row < 0 || row >= SIDE) continue;
    for (let ox = 0; ox < outWidth; ox++) {
      const col = ox + offsetX;
      if (col < 0 || col >= SIDE) continue;
      out[row * SIDE + col] = Math.min(1, Math.max(0, small[oy * outWidth + ox] ?? 0));
    }
  }
  return out;
}
