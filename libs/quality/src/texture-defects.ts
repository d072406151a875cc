// Texture defects in the base-colour texture: TRELLIS.2's "black spots" (upstream #162) are patches of
// pure black with no variance. Only texels the mesh's UVs cover count: an atlas's unused space is often
// black on purpose.
import sharp from 'sharp';
import type { BaseColourTexture } from './glb-model';

/** Textures are analysed at most this many texels on the longer side (black spots worth a review survive). */
export const TEXTURE_ANALYSIS_PX = 512;
export const BLOCK_PX = 8;
/** A texel is near-black when its brightest channel is at most this. */
export const NEAR_BLACK_MAX = 12;
/** A block is flat when every channel varies by at most this across it. */
export const FLAT_RANGE = 3;

export interface TextureDefects {
  coveredShare: number;
  nearBlackShare: number;
  flatBlockShare: number;
  blackSpotShare: number;
  textureSize: [number, number];
}

export async function textureDefects(texture: BaseColourTexture): Promise<TextureDefects> {
  const decoded = sharp(texture.image, { limitInputPixels: 16384 * 16384 });
  const meta = await decoded.metadata();
  const { data, info } = await decoded
    .removeAlpha()
    .resize(TEXTURE_ANALYSIS_PX, TEXTURE_ANALYSIS_PX, { fit: 'inside', withoutEnlargement: true, kernel: 'nearest' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const width = info.width, height = info.height, channels = info.channels;
  const covered = uvCoverage(texture.cornerUvs, width, height);

  let coveredCount = 0, nearBlack = 0;
  for (let i = 0; i < covered.length; i++) {
    if (!covered[i]) continue;
    coveredCount++;
    const o = i * channels;
    if (Math.max(data[o]!, data[o + 1]!, data[o + 2]!) <= NEAR_BLACK_MAX) nearBlack++;
  }

  let blocks = 0, flatBlocks = 0, blackSpots = 0;
  for (let by = 0; by + BLOCK_PX <= height; by += BLOCK_PX) {
    for (let bx = 0; bx + BLOCK_PX <= width; bx += BLOCK_PX) {
      let inside = 0, darkest = 255, brightest = 0;
      const low = [255, 255, 255], high = [0, 0, 0];
      for (let y = by; y < by + BLOCK_PX; y++) {
        for (let x = bx; x < bx + BLOCK_PX; x++) {
          const i = y * width + x;
          if (!covered[i]) continue;
          inside++;
          const o = i * channels;
          for (let c = 0; c < 3; c++) {
            const value = data[o + c]!;
            if (value < low[c]!) low[c] = value;
            if (value > high[c]!) high[c] = value;
          }
          const max = Math.max(data[o]!, data[o + 1]!, data[o + 2]!);
          darkest = Math.min(darkest, max);
          brightest = Math.max(brightest, max);
        }
      }
      if (inside * 2 < BLOCK_PX * BLOCK_PX) continue; // mostly outside the UV islands
      blocks++;
      const flat = high.every((value, c) => value - low[c]! <= FLAT_RANGE);
      if (flat) flatBlocks++;
      if (flat && brightest <= NEAR_BLACK_MAX) blackSpots++;
    }
  }
  return {
    coveredShare: coveredCount / covered.length,
    nearBlackShare: coveredCount ? nearBlack / coveredCount : 0,
    flatBlockShare: blocks ? flatBlocks / blocks : 0,
    blackSpotShare: blocks ? blackSpots / blocks : 0,
    textureSize: [meta.width ?? width, meta.height ?? height],
  };
}

/** Which texel centres lie inside some UV triangle (glTF: u right, v down from the image's top-left). */
export function uvCoverage(cornerUvs: Float32Array, width: number, height: number): Uint8Array {
  const covered = new Uint8Array(width * height);
  for (let t = 0; t + 6 <= cornerUvs.length; t += 6) {
    const x0 = cornerUvs[t]! * width, y0 = cornerUvs[t + 1]! * height;
    const x1 = cornerUvs[t + 2]! * width, y1 = cornerUvs[t + 3]! * height;
    const x2 = cornerUvs[t + 4]! * width, y2 = cornerUvs[t + 5]! * height;
    const area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
    const left = Math.max(0, Math.floor(Math.min(x0, x1, x2))), right = Math.min(width - 1, Math.ceil(Math.max(x0, x1, x2)));
    const top = Math.max(0, Math.floor(Math.min(y0, y1, y2))), bottom = Math.min(height - 1, Math.ceil(Math.max(y0, y1, y2)));
    if (Math.abs(area) < 1e-12) {
      // A sliver in UV space still samples the texels under it.
      for (let y = top; y <= bottom; y++) for (let x = left; x <= right; x++) covered[y * width + x] = 1;
      continue;
    }
    for (let y = top; y <= bottom; y++) {
      const py = y + 0.5;
      for (let x = left; x <= right; x++) {
        const px = x + 0.5;
        const w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) / area;
        const w1 = ((x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)) / area;
        const w2 = 1 - w0 - w1;
        const slack = -0.5 / Math.max(1, Math.sqrt(Math.abs(area))); // count texels the edge passes through
        if (w0 >= slack && w1 >= slack && w2 >= slack) covered[y * width + x] = 1;
      }
    }
  }
  return covered;
}
