import path from 'node:path';
import type { CatalogRowProblem } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { readCatalog } from '../src/files';
import { pngBytes, tempDir, writeFiles } from './helpers';

/** Reads a CSV whose first data row is fine and whose second is `badRow`; returns the one problem. */
async function problemOf(badRow: string, header = 'sku,image,seed,pipeline_type,presets'): Promise<CatalogRowProblem> {
  const dir = await tempDir();
  const blanks = ','.repeat(header.split(',').length - 2);
  await writeFiles(dir, { 'c.csv': `${header}\nGOOD-1,good.png${blanks}\n${badRow}\nGOOD-3,good3.png${blanks}\n` });
  const catalog = await readCatalog(path.join(dir, 'c.csv'));
  // One bad row never sinks the others.
  expect(catalog.rows.map((row) => row.sku)).toEqual(['GOOD-1', 'GOOD-3']);
  expect(catalog.problems).toHaveLength(1);
  return catalog.problems[0]!;
}

describe('catalog row problems name the row, the field and what to do', () => {
  it('bad SKU: too long, or with a control character', async () => {
    const long = 'x'.repeat(257);
    const problem = await problemOf(`${long},a.png,,,`);
    expect(problem).toMatchObject({ row: 2, sku: long, field: 'sku' });
    expect(problem.message).toMatch(/^row 2 \(line 3\), SKU "x+": sku .* is invalid: a SKU is at most 256 characters — a SKU is any printable text/);
    expect((await problemOf('bell\u0007sku,a.png,,,')).message).toMatch(/must not contain control characters/);
  });

  it('missing SKU (no SKU to name)', async () => {
    const problem = await problemOf(',a.png,,,');
    expect(problem).toMatchObject({ row: 2, sku: undefined, field: 'sku' });
    expect(problem.message).toMatch(/^row 2 \(line 3\): sku is missing — a SKU is any printable text/);
  });

  it('missing image', async () => {
    const problem = await problemOf('NO-IMAGE,,,,');
    expect(problem).toMatchObject({ row: 2, sku: 'NO-IMAGE', field: 'image' });
    expect(problem.message).toMatch(/row 2 \(line 3\), SKU "NO-IMAGE": image is missing — give a path relative to the catalog folder, or an http\(s\) URL/);
  });

  it('bad seed: not a number, not whole, out of range', async () => {
    expect((await problemOf('S1,a.png,abc,,')).message).toMatch(/SKU "S1": seed "abc" is not a number — use a whole number from 0 to 2147483647, or leave it blank/);
    expect((await problemOf('S2,a.png,1.5,,')).message).toMatch(/seed "1.5" is not a whole number/);
    const outOfRange = await problemOf('S3,a.png,-1,,');
    expect(outOfRange).toMatchObject({ field: 'seed', sku: 'S3' });
    expect(outOfRange.message).toMatch(/seed "-1" is out of range/);
  });

  it('bad pipeline_type', async () => {
    const problem = await problemOf('P1,a.png,,2048,');
    expect(problem).toMatchObject({ row: 2, field: 'pipeline_type' });
    expect(problem.message).toMatch(/pipeline_type "2048" is not a known value — use one of 512, 1024, 1024_cascade, 1536_cascade/);
  });

  it('preset name of the wrong format names the entry', async () => {
    const problem = await problemOf('P2,a.png,,,fast|Quality!');
    expect(problem).toMatchObject({ row: 2, field: 'presets' });
    expect(problem.message).toMatch(/presets "fast\|Quality!" has an invalid entry "Quality!" \(a preset name is 1-32 lowercase/);
  });

  it('duplicate SKU: the later row is the problem; SKUs whose folders collide are all reported', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'c.csv': 'sku,image\nMUG-1,a.png\nLAMP,b.png\nMUG-1,c.png\nmug-1,d.png\n' });
    const { rows, problems } = await readCatalog(path.join(dir, 'c.csv'));
    expect(rows.map((row) => [row.row, row.image])).toEqual([[2, 'b.png']]);
    expect(problems.map((problem) => [problem.row, problem.sku, problem.field])).toEqual([
      [1, 'MUG-1', 'sku'],
      [3, 'MUG-1', 'sku'],
      [4, 'mug-1', 'sku'],
    ]);
    expect(problems[1]!.message).toMatch(/^row 3 \(line 4\), SKU "MUG-1": duplicate SKU, first seen at row 1; give this row its own SKU/);
    // Differing only in case: one folder on macOS/Windows disks, so neither can have it.
    expect(problems[0]!.message).toMatch(/^row 1 \(line 2\), SKU "MUG-1": its output folder "MUG-1" would be the same as that of SKU "mug-1" \(row 4\)/);
    expect(problems[2]!.message).toMatch(/SKU "mug-1": its output folder "mug-1" would be the same as that of SKU "MUG-1" \(row 1\)/);
  });

  it('absolute image paths (POSIX and Windows) and non-http URLs', async () => {
    expect((await problemOf('ABS,/etc/passwd,,,')).message).toMatch(/image "\/etc\/passwd" is invalid: the image path is absolute: make it relative to the catalog/);
    expect((await problemOf('WIN,C:\\images\\a.png,,,')).message).toMatch(/the image path is absolute/);
    const ftp = await problemOf('FTP,ftp://example.com/a.png,,,');
    expect(ftp).toMatchObject({ field: 'image', sku: 'FTP' });
    expect(ftp.message).toMatch(/only http\(s\) URLs are supported/);
  });

  it('several bad fields in one row make one problem listing each', async () => {
    const problem = await problemOf('MULTI,a.png,x,999,');
    expect(problem.field).toBe('seed, pipeline_type');
    expect(problem.message).toMatch(/seed "x" is not a number .*; pipeline_type "999" is not a known value/);
  });

  it('a CSV row with more cells than the header', async () => {
    const problem = await problemOf('EXTRA,a,b.png', 'sku,image');
    expect(problem).toMatchObject({ row: 2, field: 'row' });
    expect(problem.message).toMatch(/row 2 \(line 3\): has 3 cells but the header has 2 columns.* quote cells that contain the separator/);
  });

  it('JSON rows: a non-object row, a null SKU, a JSON number seed out of range', async () => {
    const dir = await tempDir();
    const rows = [{ sku: 'OK', image: 'a.png' }, 'just a string', { sku: null, image: 'b.png' }, { sku: 'BIG', image: 'c.png', seed: 2 ** 31 }];
    await writeFiles(dir, { 'c.json': JSON.stringify(rows) });
    const { rows: valid, problems } = await readCatalog(path.join(dir, 'c.json'));
    expect(valid.map((row) => row.sku)).toEqual(['OK']);
    expect(problems.map((problem) => [problem.row, problem.field])).toEqual([
      [2, 'row'],
      [3, 'sku'],
      [4, 'seed'],
    ]);
    expect(problems[0]!.message).toMatch(/^row 2: is "just a string", not an object/);
    expect(problems[2]!.message).toMatch(/^row 4, SKU "BIG": seed 2147483648 is out of range/);
  });

  it('folder catalogs: any file name is a SKU as written; its folder is a slug plus a hash', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'my photo.png': pngBytes(4, 4), 'ok.png': pngBytes(4, 4) });
    const { rows, problems } = await readCatalog(dir);
    expect(problems).toEqual([]);
    expect(rows.map((row) => row.sku)).toEqual(['my photo', 'ok']);
  });
});
