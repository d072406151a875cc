// The poster from a preview MP4: the right frame, the right part of it, as WebP. The MP4s are made here
// with the same FFmpeg (libx264, yuv420p like the service's PyAV encoder): red for the first second,
// blue after.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ffmpeg from '@ffmpeg-installer/ffmpeg';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { mp4DurationSeconds, posterFromPreview } from '../src/index';

function redThenBlue(width: number, height: number): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'poster-')), `preview-${width}x${height}.mp4`);
  const source = `nullsrc=s=${width}x${height}:d=2:r=15,geq=r='if(lt(T\\,1)\\,255\\,0)':g=0:b='if(lt(T\\,1)\\,0\\,255)'`;
  execFileSync(ffmpeg.path, ['-v', 'error', '-f', 'lavfi', '-i', source, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-y', file]);
  return file;
}

async function colourOf(webp: Uint8Array) {
  const { channels } = await sharp(webp).stats();
  return { r: channels[0]!.mean, b: channels[2]!.mean };
}

describe('posterFromPreview', () => {
  it('reads the duration from the mvhd box', () => {
    expect(mp4DurationSeconds(readFileSync(redThenBlue(64, 64)))).toBeCloseTo(2, 1);
    expect(() => mp4DurationSeconds(new TextEncoder().encode('not a movie at all'))).toThrow(/no moov\/mvhd box/);
  });

  it('the GPU backend layout (4:3 PBR grid): the shaded view, top-left square, 60 % into the turn', async () => {
    const poster = await posterFromPreview(redThenBlue(400, 300));
    const meta = await sharp(poster).metadata();
    expect(meta.format).toBe('webp');
    expect([meta.width, meta.height]).toEqual([200, 200]);
    const { r, b } = await colourOf(poster);
    expect(b).toBeGreaterThan(200);
    expect(r).toBeLessThan(50);
  });

  it('plain square frames (the relief backend): the first, face-on frame, scaled to the poster size', async () => {
    const poster = await posterFromPreview(redThenBlue(512, 512), { maxSize: 256 });
    const meta = await sharp(poster).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
    const { r, b } = await colourOf(poster);
    expect(r).toBeGreaterThan(200);
    expect(b).toBeLessThan(50);
  });

  it('a file that is not a movie fails with its name', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'poster-')), 'preview.mp4');
    execFileSync('sh', ['-c', `printf 'junk' > ${file}`]);
    await expect(posterFromPreview(file)).rejects.toThrow(/not an MP4/);
  });
});
