// Binary masks and the two ways this package gets one: the photo's foreground, and the model's outline
// in a rendered frame. Pure functions over decoded pixels.

/** One byte per pixel, 1 = inside. */
export interface Mask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decoded pixels, `channels` bytes per pixel, rows top to bottom. */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

export const OPAQUE_ALPHA = 128;
/** An alpha channel counts only if at least this share of it is transparent and this share opaque. */
export const MIN_ALPHA_SHARE = 0.005;
/** Border band (px) whose median colour stands for the background. */
export const BORDER_BAND_PX = 2;
/** RGB distance (0..255) from the background colour above which a photo pixel is foreground. */
export const PHOTO_FOREGROUND_DISTANCE = 48;
/** Rendered frames have a constant background; H.264 moves flat colours by a few levels only. */
export const FRAME_FOREGROUND_DISTANCE = 20;

export type PhotoMaskSource = 'alpha' | 'plain_border' | 'busy_border';

export interface PhotoMask {
  mask: Mask;
  source: PhotoMaskSource;
  busyBorderShare: number;
}

/**
 * The product's pixels in a catalog photo. An alpha channel that marks something transparent is the
 * photographer's (or a matting tool's) own cut-out: trusted as is. Otherwise the background is taken to
 * be the colour of the photo's border, as on the plain (mostly white) backdrops marketplaces require for
 * a product's main image; how much of the border disagrees with that colour is returned too, because a
 * busy border means the estimate is not to be trusted, and that the photo's background may end up in
 * the model (upstream #65).
 */
export function photoForeground(pixels: Pixels, busyShareLimit: number): PhotoMask {
  const { width, height, channels, data } = pixels;
  const count = width * height;
  if (channels === 4) {
    let transparent = 0;
    for (let i = 0; i < count; i++) if (data[i * 4 + 3]! < OPAQUE_ALPHA) transparent++;
    const share = transparent / count;
    if (share >= MIN_ALPHA_SHARE && share <= 1 - MIN_ALPHA_SHARE) {
      const mask = new Uint8Array(count);
      for (let i = 0; i < count; i++) mask[i] = data[i * 4 + 3]! >= OPAQUE_ALPHA ? 1 : 0;
      return { mask: { width, height, data: mask }, source: 'alpha', busyBorderShare: 0 };
    }
  }
  const background = medianBorderColour(pixels);
  const border = borderIndices(width, height);
  let busy = 0;
  for (const index of border) if (colourDistance(data, index * channels, background) > PHOTO_FOREGROUND_DISTANCE) busy++;
  const busyBorderShare = busy / border.length;
  const mask = distanceMask(pixels, background, PHOTO_FOREGROUND_DISTANCE);
  return { mask, source: busyBorderShare > busyShareLimit ? 'busy_border' : 'plain_border', busyBorderShare };
}

/** The model's outline in a rendered frame: pixels unlike the frame's (uniform) border colour. */
export function frameForeground(pixels: Pixels): Mask {
  return distanceMask(pixels, medianBorderColour(pixels), FRAME_FOREGROUND_DISTANCE);
}

function distanceMask(pixels: Pixels, background: [number, number, number], threshold: number): Mask {
  const { width, height, channels, data } = pixels;
  const mask = new Uint8Array(width * height);
  const limit = threshold * threshold;
  for (let i = 0; i < mask.length; i++) mask[i] = squaredColourDistance(data, i * channels, background) > limit ? 1 : 0;
  return { width, height, data: mask };
}

function colourDistance(data: Uint8Array, offset: number, colour: [number, number, number]): number {
  return Math.sqrt(squaredColourDistance(data, offset, colour));
}

function squaredColourDistance(data: Uint8Array, offset: number, colour: [number, number, number]): number {
  const r = data[offset]! - colour[0];
  const g = data[offset + 1]! - colour[1];
  const b = data[offset + 2]! - colour[2];
  return r * r + g * g + b * b;
}

function borderIndices(width: number, height: number): number[] {
  const band = Math.min(BORDER_BAND_PX, Math.floor(width / 2), Math.floor(height / 2)) || 1;
  const indices: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (y < band || y >= height - band || x < band || x >= width - band) indices.push(y * width + x);
    }
  }
  return indices;
}

function medianBorderColour(pixels: Pixels): [number, number, number] {
  const indices = borderIndices(pixels.width, pixels.height);
  const median = (channel: number) => {
    const values = indices.map((index) => pixels.data[index * pixels.channels + channel]!).sort((a, b) => a - b);
    return values[values.length >> 1]!;
  };
  return [median(0), median(1), median(2)];
}

/**
 * The mask cropped to its bounding box and resampled (nearest) into a `size` x `size` grid, centred,
 * keeping its aspect ratio: outlines of different scale and position become comparable. Undefined for
 * an empty mask.
 */
export function normalisedOutline(mask: Mask, size: number): Uint8Array | undefined {
  let left = mask.width, right = -1, top = mask.height, bottom = -1;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (!mask.data[y * mask.width + x]) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  if (right < 0) return undefined;
  const boxW = right - left + 1, boxH = bottom - top + 1;
  const side = Math.max(boxW, boxH);
  const offsetX = (side - boxW) / 2, offsetY = (side - boxH) / 2;
  const grid = new Uint8Array(size * size);
  for (let gy = 0; gy < size; gy++) {
    const y = Math.floor(((gy + 0.5) * side) / size - offsetY);
    if (y < 0 || y >= boxH) continue;
    for (let gx = 0; gx < size; gx++) {
      const x = Math.floor(((gx + 0.5) * side) / size - offsetX);
      if (x < 0 || x >= boxW) continue;
      grid[gy * size + gx] = mask.data[(top + y) * mask.width + left + x]!;
    }
  }
  return grid;
}

/**
 * Intersection over union where a cell of one outline counts as shared when the other outline has a cell
 * within `tolerance` cells of it (Chebyshev distance). Exact IoU punishes a one-cell shift of a thin
 * part (a chair leg, a star's point) as hard as a missing part; the render's perspective and the grid's
 * rounding shift outlines by about that much. With tolerance 0 this is the plain IoU.
 */
export function intersectionOverUnion(a: Uint8Array, b: Uint8Array, size: number, tolerance = 0): number {
  const grownA = grow(a, size, tolerance), grownB = grow(b, size, tolerance);
  let countA = 0, countB = 0, aNearB = 0, bNearA = 0;
  for (let i = 0; i < a.length; i++) {
    countA += a[i]!;
    countB += b[i]!;
    aNearB += a[i]! & grownB[i]!;
    bNearA += b[i]! & grownA[i]!;
  }
  const shared = (aNearB + bNearA) / 2;
  const union = countA + countB - shared;
  return union <= 0 ? 0 : shared / union;
}

/** Square dilation by `radius` cells (separable: rows, then columns). */
function grow(mask: Uint8Array, size: number, radius: number): Uint8Array {
  if (radius <= 0) return mask;
  const rows = new Uint8Array(mask.length), out = new Uint8Array(mask.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!mask[y * size + x]) continue;
      for (let dx = Math.max(0, x - radius); dx <= Math.min(size - 1, x + radius); dx++) rows[y * size + dx] = 1;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!rows[y * size + x]) continue;
      for (let dy = Math.max(0, y - radius); dy <= Math.min(size - 1, y + radius); dy++) out[dy * size + x] = 1;
    }
  }
  return out;
}
