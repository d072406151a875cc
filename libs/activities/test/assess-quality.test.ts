// The quality activity's edges: files are read from the asset folder only, and a model the checks cannot read
// is one non-retryable failure saying so (the workflow then leaves the model to a person in review mode).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { assetDir } from '../src/files';
import { assessQuality } from '../src/quality/assess-asset';
import { tempDir, writeFiles } from './helpers';

async function assetWith(files: Record<string, string | Uint8Array>) {
  const root = await tempDir();
  const outDir = path.join(root, 'out');
  const photo = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ffffff' } }).png().toBuffer();
  await writeFiles(root, { 'catalog.csv': 'sku,image\nMUG-1,mug.png\n', 'mug.png': photo });
  const dir = assetDir(outDir, 'demo', 'MUG-1');
  await mkdir(dir, { recursive: true });
  await writeFiles(dir, files);
  return { catalogId: 'demo', sku: 'MUG-1', image: 'mug.png', catalogPath: path.join(root, 'catalog.csv'), outDir };
}

describe('assessQuality', () => {
  it('fails, not retryable, with code quality_check_error when the preview cannot be decoded', async () => {
    const input = { ...(await assetWith({ 'fast.glb': 'not a glb', 'preview.mp4': 'not a video' })), glb: 'fast.glb', preview: 'preview.mp4' };
    const failure = await assessQuality(input).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'quality_check_error', nonRetryable: true });
  });

  it('reads only file names inside the asset folder', async () => {
    const input = { ...(await assetWith({})), glb: '../../../etc/passwd', preview: 'preview.mp4' };
    await expect(assessQuality(input)).rejects.toMatchObject({ type: 'validation_error' });
  });
});
