import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { builtInPresets, CatalogReport, QualityReport, type AssetManifest } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { ManifestError, manifestPath, readManifest, writeCatalogReport, writeManifest } from '../src/files';
import { tempDir, writeFiles } from './helpers';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function manifest(overrides: Partial<AssetManifest> & Pick<AssetManifest, 'sku' | 'row'>): AssetManifest {
  return {
    status: 'done',
    glbs: {},
    usage: { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'measured' },
    generateCalls: 1,
    extractCalls: 1,
    catalogId: 'demo',
    image: `${overrides.sku}.png`,
    imageSha256: SHA_A,
    inputHash: 'hash',
    seed: 42,
    pipelineType: '1024_cascade',
    presets: [{ name: 'fast', settings: builtInPresets.fast }],
    finishedAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('manifest', () => {
  it('round-trips through <outDir>/<catalogId>/<sku>/manifest.json', async () => {
    const outDir = await tempDir();
    const written = manifest({ sku: 'MUG-1', row: 1, glbs: { fast: { file: 'fast.glb', bytes: 10, sha256: SHA_A, reused: false } } });
    const filePath = await writeManifest(written, outDir);
    expect(filePath).toBe(path.join(outDir, 'demo', 'MUG-1', 'manifest.json'));
    expect(await readFile(filePath, 'utf8')).toContain('\n  "sku": "MUG-1",\n');
    expect(await readManifest(outDir, 'demo', 'MUG-1')).toEqual({ ...written, folder: 'MUG-1' });
    expect(await readManifest(outDir, 'demo', 'OTHER')).toBeUndefined();
  });

  it('refuses to write an invalid manifest', async () => {
    const outDir = await tempDir();
    await expect(writeManifest({ ...manifest({ sku: 'X', row: 1 }), status: 'bogus' as 'failed' }, outDir)).rejects.toThrow();
  });

  it('a damaged manifest is a clear error naming the file and the fix', async () => {
    const outDir = await tempDir();
    const filePath = manifestPath(outDir, 'demo', 'MUG-1');
    await mkdir(path.dirname(filePath), { recursive: true });
    await writeFile(filePath, '{"sku": "MUG-1", ');
    await expect(readManifest(outDir, 'demo', 'MUG-1')).rejects.toThrow(ManifestError);
    await expect(readManifest(outDir, 'demo', 'MUG-1')).rejects.toThrow(/manifest .*MUG-1\/manifest.json is not valid JSON .*delete it and convert SKU MUG-1 again/);
    await writeFile(filePath, JSON.stringify({ sku: 'MUG-1' }));
    await expect(readManifest(outDir, 'demo', 'MUG-1')).rejects.toThrow(/does not match the manifest format \(row: /);
  });
});

describe('catalog report', () => {
  it('rebuilds report.json and report.csv from the catalog and the manifests', async () => {
    const root = await tempDir();
    const outDir = path.join(root, 'out');
    await writeFiles(root, {
      'catalog.csv': 'sku,image,seed\nMUG-1,mug.png,\n"LAMP, 2",lamp.png,\nLAMP-2,lamp.png,\nCHAIR-3,chair.png,x\nPOT-4,pot.png,\nVASE-5,vase.png,\nSHOE-6,shoe.png,\n',
    });
    const fast = { file: 'fast.glb', bytes: 1234, sha256: SHA_A, reused: false };
    await writeManifest(
      manifest({
        sku: 'MUG-1',
        row: 1,
        glbs: { fast, quality: { file: 'quality.glb', bytes: 99999, sha256: SHA_B, reused: true } },
        preview: { file: 'preview.mp4', bytes: 555, sha256: SHA_B, reused: false },
        usage: { gpuSeconds: 12.5, estimatedCostUsd: 0.0086750001, costBasis: 'measured' },
      }),
      outDir,
    );
    await writeManifest(
      manifest({
        sku: 'LAMP-2',
        row: 3,
        status: 'failed',
        error: { code: 'image_unreadable', message: 'image lamp.png cannot be used: it is a GIF image, "really"' },
        usage: { gpuSeconds: 1, estimatedCostUsd: 0.01, costBasis: 'seed-table' },
      }),
      outDir,
    );
    await writeManifest(manifest({ sku: 'POT-4', row: 5, status: 'reused', glbs: { thumb: { ...fast, file: 'thumb.glb', reused: true } } }), outDir);
    const damaged = manifestPath(outDir, 'demo', 'SHOE-6');
    await mkdir(path.dirname(damaged), { recursive: true });
    await writeFile(damaged, 'not json');

    const summary = await writeCatalogReport({ catalogId: 'demo', catalogPath: path.join(root, 'catalog.csv'), outDir });
    expect(summary.reportJsonPath).toBe(path.join(outDir, 'demo', 'report.json'));
    expect(summary.reportCsvPath).toBe(path.join(outDir, 'demo', 'report.csv'));
    expect(summary.counts).toEqual({ done: 1, reused: 1, failed: 2, cancelled: 0, invalid: 1, not_converted: 2 });
    expect(summary.usage).toEqual({ gpuSeconds: 13.5, estimatedCostUsd: 0.018675, costBasis: 'seed-table' });

    const report = CatalogReport.parse(JSON.parse(await readFile(summary.reportJsonPath, 'utf8')));
    expect(report.rows.map((row) => [row.row, row.sku, row.status])).toEqual([
      [1, 'MUG-1', 'done'],
      [2, 'LAMP, 2', 'not_converted'],
      [3, 'LAMP-2', 'failed'],
      [4, 'CHAIR-3', 'invalid'],
      [5, 'POT-4', 'reused'],
      [6, 'VASE-5', 'not_converted'],
      [7, 'SHOE-6', 'failed'],
    ]);
    expect(report.problems.map((problem) => problem.row)).toEqual([4]);
    // The SKU as written, and the folder it maps to (a comma and a space: slug plus hash).
    expect(report.rows[1]).toMatchObject({ sku: 'LAMP, 2', folder: expect.stringMatching(/^LAMP-2-[0-9a-f]{12}$/) });
    expect(report.rows[6]!.error).toMatch(/SHOE-6\/manifest.json is not valid JSON/);

    const csv = await readFile(summary.reportCsvPath, 'utf8');
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('row,sku,status,error,fast_bytes,fast_sha256,quality_bytes,quality_sha256,thumb_bytes,thumb_sha256,preview_bytes,gpu_seconds,estimated_cost_usd');
    expect(lines[1]).toBe(`1,MUG-1,done,,1234,${SHA_A},99999,${SHA_B},,,555,12.5,0.01`);
    expect(lines[2]).toBe('2,"LAMP, 2",not_converted,,,,,,,,,0.0,0.00');
    expect(lines[3]).toBe('3,LAMP-2,failed,"image_unreadable: image lamp.png cannot be used: it is a GIF image, ""really""",,,,,,,,1.0,0.01');
    expect(lines[5]).toBe(`5,POT-4,reused,,,,,,1234,${SHA_A},,0.0,0.00`);
    expect(lines[6]).toBe('6,VASE-5,not_converted,,,,,,,,,0.0,0.00');
    expect(lines).toHaveLength(9); // header + 7 rows + the empty string after the final CRLF
    expect(lines[8]).toBe('');
  });

  it('carries each row\'s quality verdict and review decisions into report.json and the csv columns', async () => {
    const root = await tempDir();
    const outDir = path.join(root, 'out');
    await writeFiles(root, { 'catalog.csv': 'sku,image\nMUG-1,mug.png\nLAMP-2,lamp.png\nPOT-3,pot.png\n' });
    const verdict = (score: number, failing: string[]) => ({ score, flagged: score < 0.5, failing });
    const quality = (score: number, failing: string[]) => QualityReport.parse({
      version: 1, ...verdict(score, failing), threshold: 0.5,
      checks: {
        silhouette: null, texture: null, size: null,
        background: { name: 'background', score, maskSource: 'busy_border', busyBorderShare: 0.3 },
        mesh: { name: 'mesh', score: 1, triangles: 1, vertices: 3, components: 1, floaterShare: 0, boundaryEdges: 3, boundaryEdgeShare: 1, boundaryLengthRatio: 0, degenerateTriangles: 0, degenerateShare: 0, extent: [1, 1, 0] },
      },
    });
    const at = '2026-12-03T10:00:00.000Z';
    await writeManifest(manifest({ sku: 'MUG-1', row: 1, quality: quality(0.9, []) }), outDir);
    await writeManifest(
      manifest({
        sku: 'LAMP-2', row: 2, quality: quality(0.2, ['background']),
        reviewDecisions: [
          { decision: 'regenerate', reviewer: 'ana', decidedAt: at, attempt: 0, seed: 42, nextSeed: 7 },
          { decision: 'approve', reviewer: 'deadline', decidedAt: at, attempt: 1, seed: 7 },
        ],
      }),
      outDir,
    );
    await writeManifest(
      manifest({ sku: 'POT-3', row: 3, status: 'failed', error: { code: 'review_rejected', message: 'rejected by bo: handle missing' }, reviewDecisions: [{ decision: 'reject', reviewer: 'bo', decidedAt: at, attempt: 0, seed: 42, reason: 'handle missing' }] }),
      outDir,
    );
    const summary = await writeCatalogReport({ catalogId: 'demo', catalogPath: path.join(root, 'catalog.csv'), outDir });
    const report = CatalogReport.parse(JSON.parse(await readFile(summary.reportJsonPath, 'utf8')));
    expect(report.rows.map((row) => row.quality)).toEqual([verdict(0.9, []), verdict(0.2, ['background']), undefined]);
    expect(report.rows[1]!.reviewDecisions?.map((decision) => decision.reviewer)).toEqual(['ana', 'deadline']);
    const lines = (await readFile(summary.reportCsvPath, 'utf8')).split('\r\n');
    expect(lines[0]).toBe('row,sku,status,error,preview_bytes,gpu_seconds,estimated_cost_usd,quality_score,quality_flagged,quality_failing,review');
    expect(lines[1]).toBe('1,MUG-1,done,,,0.0,0.00,0.90,false,,');
    expect(lines[2]).toBe('2,LAMP-2,done,,,0.0,0.00,0.20,true,background,regenerate by ana; approve by deadline');
    expect(lines[3]).toBe('3,POT-3,failed,review_rejected: rejected by bo: handle missing,,0.0,0.00,,,,reject by bo (handle missing)');
  });

  it('handles a 10,000-row catalog', async () => {
    const root = await tempDir();
    const outDir = path.join(root, 'out');
    const skus = Array.from({ length: 10_000 }, (_, index) => `SKU-${index + 1}`);
    await writeFiles(root, { 'catalog.csv': `sku,image\n${skus.map((sku) => `${sku},${sku}.png`).join('\n')}\n` });
    // Manifests for a quarter of the rows, written synchronously: creating and later deleting thousands
    // of folders is slow on a busy disk, and this test is about the report, not about the file system.
    const fast = { file: 'fast.glb', bytes: 100, sha256: SHA_A, reused: false };
    skus.slice(0, 2_500).forEach((sku, index) => {
      const filePath = manifestPath(outDir, 'big', sku);
      mkdirSync(path.dirname(filePath), { recursive: true });
      const body = manifest({ sku, row: index + 1, catalogId: 'big', glbs: { fast }, usage: { gpuSeconds: 2, estimatedCostUsd: 0.001, costBasis: 'measured' } });
      writeFileSync(filePath, JSON.stringify(body));
    });
    const started = performance.now();
    const summary = await writeCatalogReport({ catalogId: 'big', catalogPath: path.join(root, 'catalog.csv'), outDir });
    const elapsedMs = performance.now() - started;
    console.log(`report for 10,000 rows (2,500 manifests) in ${elapsedMs.toFixed(0)} ms`);
    expect(summary.counts).toMatchObject({ done: 2_500, not_converted: 7_500, invalid: 0 });
    expect(summary.usage.gpuSeconds).toBe(5_000);
    expect(summary.usage.estimatedCostUsd).toBeCloseTo(2.5, 6);
    const csvLines = (await readFile(summary.reportCsvPath, 'utf8')).trimEnd().split('\r\n');
    expect(csvLines).toHaveLength(10_001);
    expect(elapsedMs).toBeLessThan(10_000);
  }, 60_000);
});
