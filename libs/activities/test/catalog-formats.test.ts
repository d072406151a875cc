import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CatalogFileError, catalogDirOf, readCatalog } from '../src/files';
import { pngBytes, tempDir, writeFiles } from './helpers';

describe('readCatalog formats', () => {
  it('reads CSV with a BOM, CRLF, quoted cells, columns in any order and blank lines', async () => {
    const dir = await tempDir();
    const csv =
      '\uFEFFimage,SKU, presets ,seed,pipeline_type\r\n' +
      'mug.png,MUG-1,"fast|quality",7,512\r\n' +
      '\r\n' +
      '"images/a, b.png",LAMP-2,,,\r\n' +
      '"multi\nline.png",CHAIR-3,fast,,\r\n' +
      ',,,,\r\n' +
      'bottle.png,BOTTLE-4\r\n';
    await writeFiles(dir, { 'catalog.csv': csv });
    const catalog = await readCatalog(path.join(dir, 'catalog.csv'));
    expect(catalog.format).toBe('csv');
    expect(catalog.catalogDir).toBe(dir);
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows).toEqual([
      { row: 1, sku: 'MUG-1', image: 'mug.png', seed: 7, pipeline_type: '512', presets: ['fast', 'quality'] },
      { row: 2, sku: 'LAMP-2', image: 'images/a, b.png', seed: undefined, pipeline_type: undefined, presets: undefined },
      { row: 3, sku: 'CHAIR-3', image: 'multi\nline.png', seed: undefined, pipeline_type: undefined, presets: ['fast'] },
      { row: 4, sku: 'BOTTLE-4', image: 'bottle.png', seed: undefined, pipeline_type: undefined, presets: undefined },
    ]);
  });

  it('names the file line of a CSV row, counting blank lines and quoted line breaks', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'c.csv': 'sku,image,seed\n\nA,"x\ny.png",1\nB,b.png,nope\n' });
    const { problems } = await readCatalog(path.join(dir, 'c.csv'));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toMatch(/^row 2 \(line 5\), SKU "B": seed "nope"/);
  });

  it('reads a JSON array and a {"rows": [...]} object, with null as "not given"', async () => {
    const dir = await tempDir();
    const rows = [
      { sku: 'A', image: 'a.png', seed: 3, presets: ['fast', 'balanced'] },
      { sku: 'B', image: 'https://example.com/b.jpg', seed: null, pipeline_type: '1024' },
    ];
    await writeFiles(dir, { 'array.json': JSON.stringify(rows), 'object.json': JSON.stringify({ rows }) });
    for (const name of ['array.json', 'object.json']) {
      const catalog = await readCatalog(path.join(dir, name));
      expect(catalog.format).toBe('json');
      expect(catalog.problems).toEqual([]);
      expect(catalog.rows.map((row) => [row.row, row.sku, row.seed, row.pipeline_type, row.presets])).toEqual([
        [1, 'A', 3, undefined, ['fast', 'balanced']],
        [2, 'B', undefined, '1024', undefined],
      ]);
    }
  });

  it('reads JSON Lines (.jsonl and .ndjson), skipping blank lines; a bad line is that row\'s problem', async () => {
    const dir = await tempDir();
    const text = '{"sku":"A","image":"a.png"}\r\n\n{"sku":"B","image":"b.png","seed":"12"}\n{not json\n{"sku":"D","image":"d.png"}\n';
    await writeFiles(dir, { 'c.jsonl': text, 'c.ndjson': text });
    for (const name of ['c.jsonl', 'c.ndjson']) {
      const catalog = await readCatalog(path.join(dir, name));
      expect(catalog.format).toBe('jsonl');
      expect(catalog.rows.map((row) => [row.row, row.sku, row.seed])).toEqual([
        [1, 'A', undefined],
        [2, 'B', 12],
        [4, 'D', undefined],
      ]);
      expect(catalog.problems).toHaveLength(1);
      expect(catalog.problems[0]).toMatchObject({ row: 3, field: 'row' });
      expect(catalog.problems[0]!.message).toMatch(/^row 3 \(line 4\): is not valid JSON/);
    }
  });

  it('reads a folder of images sorted by name, SKU = file stem, skipping other files and dot files', async () => {
    const dir = await tempDir();
    const png = pngBytes(8, 8);
    await writeFiles(dir, { 'b-lamp.webp': png, 'a-mug.PNG': png, 'c.jpeg': png, 'd.jpg': png, 'notes.txt': 'x', '._a-mug.png': 'junk' });
    await mkdir(path.join(dir, 'sub.png'));
    const catalog = await readCatalog(dir);
    expect(catalog.format).toBe('folder');
    expect(catalog.catalogDir).toBe(dir);
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows.map((row) => [row.row, row.sku, row.image])).toEqual([
      [1, 'a-mug', 'a-mug.PNG'],
      [2, 'b-lamp', 'b-lamp.webp'],
      [3, 'c', 'c.jpeg'],
      [4, 'd', 'd.jpg'],
    ]);
  });

  it('says where images resolve: the catalog file\'s folder, or the image folder itself', () => {
    expect(catalogDirOf('/data/catalogs/spring.csv')).toBe('/data/catalogs');
    expect(catalogDirOf('/data/catalogs/spring.JSONL')).toBe('/data/catalogs');
    expect(catalogDirOf('/data/images')).toBe('/data/images');
    expect(catalogDirOf('relative/c.json')).toBe(path.resolve('relative'));
  });
});

describe('readCatalog file errors', () => {
  async function fileError(name: string, content?: string): Promise<CatalogFileError> {
    const dir = await tempDir();
    if (content !== undefined) await writeFile(path.join(dir, name), content);
    const error = await readCatalog(path.join(dir, name)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CatalogFileError);
    expect((error as Error).message).toContain(path.join(dir, name));
    return error as CatalogFileError;
  }

  it('missing file or folder', async () => {
    expect((await fileError('nope.csv')).message).toMatch(/does not exist; check the path/);
    expect((await fileError('no-such-folder')).message).toMatch(/catalog folder .* does not exist/);
  });

  it('CSV header: unknown column (likely a typo) lists the allowed columns', async () => {
    const error = await fileError('c.csv', 'sku,image,preset\nA,a.png,fast\n');
    expect(error.message).toMatch(/unknown column "preset".*allowed columns are sku, image, seed, pipeline_type, presets.*--sku-column/);
  });

  it('CSV header: missing required column, repeated column', async () => {
    expect((await fileError('c.csv', 'sku,seed\nA,1\n')).message).toMatch(/no "image" column/);
    expect((await fileError('c.csv', 'sku,image,sku\nA,a.png,B\n')).message).toMatch(/names column "sku" more than once/);
  });

  it('CSV with an unclosed quote', async () => {
    expect((await fileError('c.csv', 'sku,image\nA,"a.png\n')).message).toMatch(/is not valid CSV: a " opened on line 2 is never closed.*closing "/);
  });

  it('empty catalogs: empty file, header only, empty array, folder without images', async () => {
    expect((await fileError('c.csv', '')).message).toMatch(/is empty: add a header line/);
    expect((await fileError('c.csv', 'sku,image\n\n')).message).toMatch(/has no rows/);
    expect((await fileError('c.json', '[]')).message).toMatch(/has no rows/);
    expect((await fileError('c.jsonl', '\n\n')).message).toMatch(/has no rows/);
    const dir = await tempDir();
    await writeFiles(dir, { 'readme.txt': 'no images here' });
    await expect(readCatalog(dir)).rejects.toThrow(/has no .png\/.jpg\/.jpeg\/.webp images directly in it/);
  });

  it('unreadable JSON, JSON of the wrong shape, and unknown JSON fields', async () => {
    expect((await fileError('c.json', '[{"sku": "A",]')).message).toMatch(/is not valid JSON/);
    expect((await fileError('c.json', '{"items": []}')).message).toMatch(/must be a JSON array of rows, or an object with a "rows" array/);
    expect((await fileError('c.json', '[{"sku":"A","image":"a.png"},{"sku":"B","image":"b.png","pipelineType":"512"}]')).message).toMatch(
      /unknown field "pipelineType" \(first in row 2\); allowed fields are sku, image/,
    );
    expect((await fileError('c.jsonl', '{\n  "sku": "A",\n  "image": "a.png"\n}\n')).message).toMatch(/is not JSON Lines/);
  });

  it('a file with an unknown extension, and a folder named like a file', async () => {
    expect((await fileError('catalog.xls', 'binary')).message).toMatch(/is neither a folder nor a .csv\/.xlsx\/.json\/.jsonl\/.ndjson file/);
    expect((await fileError('catalog.xlsx', 'binary')).message).toMatch(/is not a readable .xlsx workbook .*export it as CSV/);
    const dir = await tempDir();
    await mkdir(path.join(dir, 'odd.csv'));
    await expect(readCatalog(path.join(dir, 'odd.csv'))).rejects.toThrow(/is a folder, but its name ends in .csv/);
  });
});
