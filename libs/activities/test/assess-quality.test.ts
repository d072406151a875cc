// The quality activity's edges: files are read from the asset folder only, a model the checks cannot read
// is one non-retryable failure saying so (the workflow then leaves the model to a person in review mode),
// and a rerun with the same model, preview and photo reads the kept report back instead of recomputing it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { startLocalService } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { modelFromService } from '../../quality/test/helpers/service-models';
import { drawnProductPhoto } from '../../quality/test/helpers/photos';
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

  it('keeps its report and reads it back while the model, preview and photo are unchanged', async () => {
    const service = await startLocalService({ workDir: await tempDir() });
    try {
      const client = new TrellisClient({ baseUrl: service.url, credentials: service.credentials });
      const photo = await drawnProductPhoto('vase');
      const model = await modelFromService(client, photo, 7);
      const root = await tempDir();
      const outDir = path.join(root, 'out');
      await writeFiles(root, { 'catalog.csv': 'sku,image\nMUG-1,mug.png\n', 'mug.png': photo });
      const dir = assetDir(outDir, 'demo', 'MUG-1');
      await mkdir(dir, { recursive: true });
      await writeFiles(dir, { 'fast.glb': model.glb, 'preview.mp4': model.previewMp4 });
      const input = { catalogId: 'demo', sku: 'MUG-1', image: 'mug.png', catalogPath: path.join(root, 'catalog.csv'), outDir, glb: 'fast.glb', preview: 'preview.mp4' };

      const first = await assessQuality(input);
      // A marked copy of the kept report: read back, the mark shows the checks did not run again.
      const keptPath = path.join(dir, '.trellis', 'checks', 'quality-report.json');
      const kept = JSON.parse(await readFile(keptPath, 'utf8'));
      await writeFile(keptPath, JSON.stringify({ ...kept, report: { ...kept.report, score: 0.123 } }));
      expect((await assessQuality(input)).score).toBe(0.123);

      // Another model in the same place is checked again.
      await writeFiles(dir, { 'fast.glb': (await modelFromService(client, photo, 8)).glb });
      const third = await assessQuality(input);
      expect(third.score).not.toBe(0.123);
      expect(first.checks.mesh.triangles).toBeGreaterThan(0);
    } finally {
      await service.stop();
    }
  }, 120_000);
});
