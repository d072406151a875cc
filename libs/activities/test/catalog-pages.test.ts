// The catalog is read once per run into a snapshot; pages come from the snapshot (O(page)).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CatalogSnapshotInfo } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { catalogReadStats, loadCatalogPage, readCatalog, readSnapshot, snapshotCatalog, trellisDirOf } from '../src/files';
import { tempDir, writeFiles } from './helpers';

function bigCsv(rows: number, skuOf = (index: number) => `SKU-${index}`): string {
  const lines = ['sku,image,seed,pipeline_type,presets'];
  for (let index = 1; index <= rows; index++) {
    lines.push(`${skuOf(index)},images/product-${index}.png,${index % 3 === 0 ? index : ''},${index % 5 === 0 ? '512' : ''},${index % 7 === 0 ? '"fast|quality"' : ''}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

async function snapshotOf(files: Record<string, string>, catalogName: string) {
  const dir = await tempDir();
  await writeFiles(dir, files);
  const catalogPath = path.join(dir, catalogName);
  const outDir = path.join(dir, 'out');
  const info = await snapshotCatalog({ catalogId: 'c', catalogPath, outDir });
  return { dir, catalogPath, outDir, info };
}

describe('catalog snapshot and pages', () => {
  it('pages through the valid rows; the snapshot says how many problems, the problems go to a file', async () => {
    const { outDir, info } = await snapshotOf({ 'c.csv': 'sku,image,seed\nA,a.png,\nB,b.png,bad\nC,c.png,\nD,d.png,\nA,e.png,\nF,f.png,\n' }, 'c.csv');
    expect(info).toMatchObject({ totalRows: 4, problemCount: 2, reused: false });
    const page = (offset: number, limit: number) => loadCatalogPage({ catalogId: 'c', outDir, snapshotId: info.snapshotId, offset, limit });
    const first = await page(0, 2);
    expect(first).toMatchObject({ totalRows: 4, offset: 0 });
    expect(first.rows.map((row) => [row.row, row.sku])).toEqual([[1, 'A'], [3, 'C']]);
    expect((await page(2, 2)).rows.map((row) => [row.row, row.sku])).toEqual([[4, 'D'], [6, 'F']]);
    expect(await page(4, 2)).toEqual({ totalRows: 4, offset: 4, rows: [] });
    const snapshot = await readSnapshot(outDir, 'c');
    expect(snapshot!.problems.map((problem) => [problem.row, problem.field])).toEqual([[2, 'seed'], [5, 'sku']]);
    expect(snapshot!.meta).toMatchObject({ totalRows: 4, problemCount: 2, columns: { sku: 'sku', image: 'image', seed: 'seed' } });
  });

  it('refuses a negative offset or an empty page', async () => {
    const args = { catalogId: 'c', outDir: '/nowhere', snapshotId: '0'.repeat(64) };
    await expect(loadCatalogPage({ ...args, offset: -1, limit: 10 })).rejects.toThrow(/offset must be a whole number >= 0/);
    await expect(loadCatalogPage({ ...args, offset: 0, limit: 0 })).rejects.toThrow(/limit must be a whole number >= 1/);
  });

  it('10,000 rows cost one parse; pages are O(page); editing the catalog mid-run changes nothing for the run', async () => {
    const parsesBefore = catalogReadStats.parses;
    const { catalogPath, outDir, info } = await snapshotOf({ 'big.csv': bigCsv(10_000) }, 'big.csv');
    expect(info.totalRows).toBe(10_000);
    // The user edits the catalog mid-run: the run's pages still come from its snapshot.
    await writeFile(catalogPath, bigCsv(10_000, (index) => `EDITED-${index}`));
    let slowestPageMs = 0;
    const skus: string[] = [];
    for (let offset = 0; offset < 10_000; offset += 100) {
      const started = performance.now();
      const page = await loadCatalogPage({ catalogId: 'c', outDir, snapshotId: info.snapshotId, offset, limit: 100 });
      slowestPageMs = Math.max(slowestPageMs, performance.now() - started);
      skus.push(...page.rows.map((row) => row.sku));
    }
    console.log(`100 pages of a 10,000-row snapshot: slowest page ${slowestPageMs.toFixed(1)} ms`);
    expect(catalogReadStats.parses - parsesBefore).toBe(1);
    expect(skus).toHaveLength(10_000);
    expect(skus[9_999]).toBe('SKU-10000');
    expect(new Set(skus).size).toBe(10_000);
    // A page reads two index entries and its own bytes: far below a full parse of 10,000 rows.
    expect(slowestPageMs).toBeLessThan(100);

    // The same catalog id with the changed file: a new snapshot, saying which one it replaced.
    const again = await snapshotCatalog({ catalogId: 'c', catalogPath, outDir });
    expect(again.reused).toBe(false);
    expect(again.replacedCatalogSha256).toBe(info.catalogSha256);
    expect(again.snapshotId).not.toBe(info.snapshotId);
    expect((await loadCatalogPage({ catalogId: 'c', outDir, snapshotId: again.snapshotId, offset: 0, limit: 1 })).rows[0]!.sku).toBe('EDITED-1');
    // Unchanged file: the snapshot is kept, no parse.
    const parses = catalogReadStats.parses;
    expect(await snapshotCatalog({ catalogId: 'c', catalogPath, outDir })).toMatchObject({ reused: true, snapshotId: again.snapshotId });
    expect(catalogReadStats.parses).toBe(parses);
    // Only the current snapshot is kept on disk.
    expect((await readdir(trellisDirOf(outDir, 'c'))).filter((name) => name.startsWith('snapshot-'))).toHaveLength(1);
  });

  it('8,000 invalid rows: the activity result is a few hundred bytes, the problems are on disk', async () => {
    const lines = ['sku,image,seed'];
    for (let index = 1; index <= 10_000; index++) lines.push(`S-${index},i/${index}.png,${index <= 8_000 ? 'not-a-seed' : ''}`);
    const { outDir, info } = await snapshotOf({ 'bad.csv': `${lines.join('\n')}\n` }, 'bad.csv');
    expect(info).toMatchObject({ totalRows: 2_000, problemCount: 8_000 });
    const payloadBytes = Buffer.byteLength(JSON.stringify(CatalogSnapshotInfo.parse(info)));
    console.log(`snapshot result with 8,000 problems: ${payloadBytes} bytes`);
    expect(payloadBytes).toBeLessThan(1_000);
    const problems = (await readFile(path.join(trellisDirOf(outDir, 'c'), `snapshot-${info.snapshotId.slice(0, 16)}`, 'problems.jsonl'), 'utf8')).trim().split('\n');
    expect(problems).toHaveLength(8_000);
  });

  it('parses a 10,000-row CSV in well under a second', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'big.csv': bigCsv(10_000) });
    const started = performance.now();
    const catalog = await readCatalog(path.join(dir, 'big.csv'));
    const elapsedMs = performance.now() - started;
    console.log(`parsed 10,000-row CSV with csv-parse in ${elapsedMs.toFixed(1)} ms`);
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows).toHaveLength(10_000);
    expect(catalog.rows[9_999]).toMatchObject({ row: 10_000, sku: 'SKU-10000', pipeline_type: '512' });
    expect(catalog.rows[6]).toMatchObject({ sku: 'SKU-7', presets: ['fast', 'quality'] });
    expect(elapsedMs).toBeLessThan(1_500);
  });

  it('reads a 10,000-row JSON Lines catalog', async () => {
    const dir = await tempDir();
    const lines = Array.from({ length: 10_000 }, (_, index) => JSON.stringify({ sku: `S-${index}`, image: `i/${index}.png`, seed: index }));
    await writeFiles(dir, { 'big.jsonl': `${lines.join('\n')}\n` });
    const catalog = await readCatalog(path.join(dir, 'big.jsonl'));
    expect(catalog.rows).toHaveLength(10_000);
    expect(catalog.rows[9_999]).toMatchObject({ row: 10_000, sku: 'S-9999', seed: 9_999 });
  });
});
