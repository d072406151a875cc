// The frames of a preview MP4 (the service's turntable, H.264), decoded by the FFmpeg binary that the
// npm package @ffmpeg-installer ships for this platform: the service encodes with PyAV, but the worker is
// Node and has no decoder of its own. Frames come back scaled to fit FRAME_FIT_PX: outlines are
// compared on a 64-cell grid, so more pixels would only cost time (120 frames of 128 px: 6 MB).
import { spawn } from 'node:child_process';
import ffmpeg from '@ffmpeg-installer/ffmpeg';
import type { Pixels } from './masks';

export const FRAME_FIT_PX = 128;
const MAX_FRAMES = 1000; // a preview is 120 frames; refuse to buffer an arbitrarily long video

export class PreviewDecodeError extends Error {
  override name = 'PreviewDecodeError';
}

export async function readPreviewFrames(mp4: Uint8Array, fitPx = FRAME_FIT_PX): Promise<Pixels[]> {
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'info',
    // One decoding thread: for previews of a few hundred pixels thread start-up costs more than it saves.
    '-threads', '1',
    '-i', 'pipe:0',
    '-frames:v', String(MAX_FRAMES),
    '-vf', `scale=w=${fitPx}:h=${fitPx}:force_original_aspect_ratio=decrease`,
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ];
  const child = spawn(ffmpeg.path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let errText = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (errText = (errText + chunk.toString('utf8')).slice(-20_000)));
  child.stdin.on('error', () => undefined); // ffmpeg may stop reading early on a bad file; its exit code says why
  child.stdin.end(mp4);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new PreviewDecodeError(`ffmpeg could not decode the preview (exit ${code}): ${lastLines(errText)}`);
  // The output stream's line, e.g. "Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 128x128, ..."
  const output = errText.slice(errText.lastIndexOf('Output #0'));
  const size = /rawvideo.*?, rgb24[^,]*, (\d+)x(\d+)/.exec(output);
  if (!size) throw new PreviewDecodeError(`no frame size in ffmpeg's output: ${lastLines(errText)}`);
  const width = Number(size[1]), height = Number(size[2]);
  const bytes = Buffer.concat(out);
  const frameBytes = width * height * 3;
  const frames: Pixels[] = [];
  for (let offset = 0; offset + frameBytes <= bytes.length; offset += frameBytes) {
    frames.push({ width, height, channels: 3, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, frameBytes) });
  }
  if (frames.length === 0) throw new PreviewDecodeError('the preview has no frames');
  return frames;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ');
}
