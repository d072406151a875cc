// The product's real-world size from optional catalog columns: width, height, depth, with a unit.
import path from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { CatalogFileError, readCatalog } from '../src/files';
import { tempDir, writeFiles } from './helpers';

async function catalogOf(text: string, name = 'catalog.csv') {
  const dir = await tempDir();
  await writeFiles(dir, { [name]: text });
  return readCatalog(path.join(dir, name));
}

describe('size columns', () => {
  it('reads a size_unit column or a unit in each cell, for every unit', async () => {
    const catalog = await catalogOf(
      [
        'sku,image,width,height,depth,size_unit',
        'a,a.png,400,800,200,mm',
        'b,b.png,40,80,20,cm',
        'c,c.png,"0,4",0.8,0.2,m',
        'd,d.png,10,20,5,in',
        'e,e.png,10 in,20",5 inch,',
        'f,f.png,,1.2 m,,',
        'g,g.png,,,,',
      ].join('\n'),
    );
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows.map((row) => [row.sku, row.size])).toEqual([
      ['a', { width: 400, height: 800, depth: 200, unit: 'mm' }],
      ['b', { width: 40, height: 80, depth: 20, unit: 'cm' }],
      ['c', { width: 0.4, height: 0.8, depth: 0.2, unit: 'm' }],
      ['d', { width: 10, height: 20, depth: 5, unit: 'in' }],
      ['e', { width: 10, height: 20, depth: 5, unit: 'in' }],
      ['f', { height: 1.2, unit: 'm' }],
      ['g', undefined],
    ]);
    expect(catalog.rows[0]).not.toHaveProperty('width');
  });

  it('cells in different units become metres', async () => {
    const catalog = await catalogOf('sku,image,width,height,depth\nx,x.png,50 cm,1 m,100 mm\n');
    expect(catalog.rows[0]!.size).toEqual({ width: 0.5, height: 1, depth: 0.1, unit: 'm' });
  });

  it('a dimension without a unit, or a value that is not a length, is a problem naming row, SKU and field', async () => {
    const catalog = await catalogOf('sku,image,width,height\nx,x.png,50,80\ny,y.png,wide,80 cm\nz,z.png,-3 cm,\n');
    expect(catalog.rows).toEqual([]);
    expect(catalog.problems.map((p) => [p.row, p.sku, p.field])).toEqual([
      [1, 'x', 'size_unit'],
      [2, 'y', 'width'],
      [3, 'z', 'width'],
    ]);
    expect(catalog.problems[0]!.message).toMatch(/width, height have no unit: write it in the cell \("45 cm"\), in the header \("Width \(cm\)"\) or in a size_unit column/);
    expect(catalog.problems[1]!.message).toMatch(/width "wide" .*"45 cm"/);
  });

  it('a shop export: "Width (cm)" headers give the unit; other columns are ignored as before', async () => {
    const catalog = await catalogOf(
      'Handle,Title,Variant SKU,Image Src,Width (cm),Height (cm),Depth (cm),Variant Weight Unit\n' +
        'oak-chair,Oak chair,CH-1,https://shop.example/c.png,45,90,50,kg\n',
      'products_export.csv',
    );
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows[0]!.size).toEqual({ width: 45, height: 90, depth: 50, unit: 'cm' });
    expect(catalog.columns).toMatchObject({ width: 'Width (cm)', height: 'Height (cm)', depth: 'Depth (cm)' });
  });

  it('a trellis-style header accepts the size columns but still refuses a typo', async () => {
    const ok = await catalogOf('sku,image,Width (in),height_in\nx,x.png,10,20\n');
    expect(ok.rows[0]!.size).toEqual({ width: 10, height: 20, unit: 'in' });
    await expect(catalogOf('sku,image,widht\nx,x.png,10\n')).rejects.toThrow(CatalogFileError);
  });

  it('.xlsx: numeric cells with the unit in the header', async () => {
    const dir = await tempDir();
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('Produkte');
    sheet.addRow(['Artikelnummer', 'Bild', 'Breite (mm)', 'Höhe (mm)', 'Tiefe (mm)']);
    sheet.addRow(['ST-1', 'stuhl.png', 450, 900, 500.5]);
    const file = path.join(dir, 'catalog.xlsx');
    await workbook.xlsx.writeFile(file);
    const catalog = await readCatalog(file);
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows[0]!.size).toEqual({ width: 450, height: 900, depth: 500.5, unit: 'mm' });
  });

  it('JSON rows give sizes as numbers or strings', async () => {
    const catalog = await catalogOf(JSON.stringify([{ sku: 'j', image: 'j.png', width: 12, height: '30 cm', size_unit: 'cm' }]), 'catalog.json');
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows[0]!.size).toEqual({ width: 12, height: 30, unit: 'cm' });
  });
});
