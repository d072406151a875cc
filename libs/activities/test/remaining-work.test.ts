// What a catalog still needs from the GPU, given an earlier run's outputs: the one answer `trellis
// estimate` prices and the run's warm-up asks (a rerun with every output made wakes no GPU).
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { builtInPresets, resolvePresets, type AssetManifest } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { catalogNeedsGpu, catalogWorkOf, readSnapshot, snapshotCatalog, writeManifest, type WorkContext } from '../src/files';
import { pngBytes, tempDir, writeFiles } from './helpers';

const glb = (file: string) => ({ file, bytes: 10, sha256: 'a'.repeat(64), reused: false });

async function madeCatalog() {
  const root = await tempDir();
  const outDir = path.join(root, 'out');
  const images = { 'mug.png': pngBytes(64, 64), 'lamp.png': pngBytes(80, 64) };
  await writeFiles(root, { ...images, 'catalog.csv': 'sku,image\nMUG-1,mug.png\nLAMP-1,lamp.png\n' });
  const context: WorkContext = {
    catalogId: 'shelf',
    catalogPath: path.join(root, 'catalog.csv'),
    outDir,
    settings: { presets: resolvePresets(Object.keys(builtInPresets)), defaultPresetNames: ['fast'], pipelineType: '512', seed: 42 },
  };
  const { snapshotId } = await snapshotCatalog({ catalogId: 'shelf', catalogPath: context.catalogPath, outDir });
  const rows = (await readSnapshot(outDir, 'shelf', snapshotId))!.rows;
  const makeOutputs = async () => {
    for (const [row, [sku, image]] of [['MUG-1', 'mug.png'], ['LAMP-1', 'lamp.png']].entries()) {
      const manifest: AssetManifest = {
        sku: sku!, row: row + 1, status: 'done', glbs: { fast: glb('fast.glb') }, preview: glb('preview.mp4'),
        usage: { gpuSeconds: 25, estimatedCostUsd: 0.01735, costBasis: 'seed-table' }, generateCalls: 1, extractCalls: 1,
        catalogId: 'shelf', image: image!, imageSha256: createHash('sha256').update(images[image as keyof typeof images]).digest('hex'),
        inputHash: 'h', seed: 42, pipelineType: '512', presets: [{ name: 'fast', settings: builtInPresets.fast }], finishedAt: new Date().toISOString(),
      };
      await writeManifest(manifest, outDir);
    }
  };
  return { root, context, snapshotId, rows, makeOutputs };
}

describe('remaining work', () => {
  it('a new catalog needs the GPU; once every output is made it does not, and the estimate is $0 with no cold start', async () => {
    const { context, snapshotId, rows, makeOutputs } = await madeCatalog();
    expect(await catalogNeedsGpu({ ...context, snapshotId })).toBe(true);
    const fresh = await catalogWorkOf(context, rows, { checkOutputs: true });
    // 2 x (10 s generation at 512 + 15 s fast GLB) + one 135 s cold start.
    expect(fresh).toMatchObject({ generations: 2, extractions: 2, coldStart: true, usage: { gpuSeconds: 185 }, warmUsage: { gpuSeconds: 50 } });

    await makeOutputs();
    expect(await catalogNeedsGpu({ ...context, snapshotId })).toBe(false);
    expect(await catalogWorkOf(context, rows, { checkOutputs: true })).toMatchObject({
      doneRows: 2, generations: 0, extractions: 0, coldStart: false, usage: { gpuSeconds: 0, estimatedCostUsd: 0 },
    });
  });

  it('a changed image or a preset added since needs the GPU again', async () => {
    const { root, context, snapshotId, rows, makeOutputs } = await madeCatalog();
    await makeOutputs();
    const withBalanced = { ...context, settings: { ...context.settings, defaultPresetNames: ['fast', 'balanced'] } };
    expect(await catalogNeedsGpu({ ...withBalanced, snapshotId })).toBe(true);
    expect(await catalogWorkOf(withBalanced, rows, { checkOutputs: true })).toMatchObject({ partlyDoneRows: 2, extractions: 2 });

    await writeFile(path.join(root, 'lamp.png'), pngBytes(96, 64));
    expect(await catalogNeedsGpu({ ...context, snapshotId })).toBe(true);
    expect(await catalogWorkOf(context, rows, { checkOutputs: true })).toMatchObject({ doneRows: 1, generations: 1, extractions: 1 });
  });
});
