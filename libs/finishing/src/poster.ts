// A poster per SKU (for `<model-viewer poster>` and listing pages) from the turntable preview the
// service renders anyway: one frame of preview.mp4 decoded on the worker's CPU with FFmpeg, so no GPU
// call. The GPU backend's frames are upstream's PBR visualisation (render_utils.make_pbr_vis_frames: a
// 2r x 1.5r grid whose top-left r x r is the shaded view); its camera (render_video) turns from yaw
// pi/2 with a pitch swinging +-0.5 rad, so 60 % into the turn is a three-quarter front view at eye
// level. The local relief backend renders plain square frames starting face on: its first frame.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import ffmpeg from '@ffmpeg-installer/ffmpeg';
import sharp from 'sharp';

const PBR_GRID_POSTER_AT = 0.6;
const POSTER_QUALITY = 85;
const FFMPEG_TIMEOUT_MS = 60_000;

export interface PosterOptions {
  /** Longest side of the poster in pixels (default 1024; a smaller frame is kept as it is). */
  maxSize?: number;
}

/** The poster (WebP) from the preview MP4 at `mp4Path`. */
export async function posterFromPreview(mp4Path: string, options: PosterOptions = {}): Promise<Uint8Array> {
  const duration = mp4DurationSeconds(await readFile(mp4Path));
  let frame = await decodeFrame(mp4Path, duration * PBR_GRID_POSTER_AT);
  let { width = 0, height = 0 } = await sharp(frame).metadata();
  const pbrGrid = width * 3 === height * 4;
  if (!pbrGrid) {
    frame = await decodeFrame(mp4Path, 0);
    ({ width = 0, height = 0 } = await sharp(frame).metadata());
  }
  const side = pbrGrid ? width / 2 : Math.min(width, height);
  const maxSize = options.maxSize ?? 1024;
  let image = sharp(frame);
  if (pbrGrid) image = image.extract({ left: 0, top: 0, width: side, height: side });
  if (side > maxSize) image = image.resize(maxSize, maxSize, { fit: 'inside' });
  return new Uint8Array(await image.webp({ quality: POSTER_QUALITY }).toBuffer());
}

/** One frame at `seconds` as PNG bytes. */
function decodeFrame(mp4Path: string, seconds: number): Promise<Buffer> {
  const args = ['-v', 'error', '-ss', seconds.toFixed(3), '-i', mp4Path, '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', 'pipe:1'];
  return new Promise((resolve, reject) => {
    execFile(ffmpeg.path, args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: FFMPEG_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) reject(new Error(`could not decode a frame of ${mp4Path}: ${stderr.toString().trim() || error.message}`));
      else if (stdout.byteLength === 0) reject(new Error(`${mp4Path} has no video frame at ${seconds.toFixed(2)} s`));
      else resolve(stdout);
    });
  });
}

/** The movie's duration from its `mvhd` box (ISO/IEC 14496-12 8.2.2), in seconds. */
export function mp4DurationSeconds(mp4: Uint8Array): number {
  const view = new DataView(mp4.buffer, mp4.byteOffset, mp4.byteLength);
  const mvhd = findBox(view, 0, mp4.byteLength, ['moov', 'mvhd']);
  if (!mvhd) throw new Error('not an MP4: no moov/mvhd box');
  const version = view.getUint8(mvhd);
  const timescale = view.getUint32(mvhd + (version === 1 ? 20 : 12));
  const duration = version === 1 ? Number(view.getBigUint64(mvhd + 24)) : view.getUint32(mvhd + 16);
  if (!(timescale > 0)) throw new Error('not an MP4: its mvhd box has no timescale');
  return duration / timescale;
}

/** Offset of the payload of the box at `path` (one type per nesting level), or undefined. */
function findBox(view: DataView, start: number, end: number, path: string[]): number | undefined {
  let offset = start;
  while (offset + 8 <= end) {
    let size = view.getUint32(offset);
    const type = String.fromCharCode(view.getUint8(offset + 4), view.getUint8(offset + 5), view.getUint8(offset + 6), view.getUint8(offset + 7));
    let header = 8;
    if (size === 1) {
      size = Number(view.getBigUint64(offset + 8));
      header = 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < header) return undefined;
    if (type === path[0]) return path.length === 1 ? offset + header : findBox(view, offset + header, offset + size, path.slice(1));
    offset += size;
  }
  return undefined;
}
