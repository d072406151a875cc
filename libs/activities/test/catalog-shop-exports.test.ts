// Catalogs as shops export them: Shopify's product CSV, `;` spreadsheets, .xlsx, odd SKUs.
import path from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { assetDir, CatalogFileError, readCatalog, readSnapshot, snapshotCatalog } from '../src/files';
import { tempDir, writeFiles } from './helpers';

/** The columns of a real Shopify product export (abridged), one row per variant or extra image. */
const SHOPIFY_HEADER = 'Handle,Title,Body (HTML),Vendor,Option1 Name,Option1 Value,Variant SKU,Variant Price,Image Src,Image Position,Image Alt Text,Variant Image';
export const shopifyCsv = (imageBase: string) =>
  [
    SHOPIFY_HEADER,
    `oak-chair,Oak chair,"<p>Solid oak, oiled</p>",Acme,Size,S,"chair, oak",120.00,${imageBase}/chair-1.png,1,front,`,
    `oak-chair,,,,,M,chair-oak-m,130.00,${imageBase}/chair-2.png,2,side,`,
    `oak-chair,,,,,,,,${imageBase}/chair-3.png,3,back,`,
    `stuhl,Stuhl,,Acme,Title,Default Title,Stuhl-Ä-Ø-42,99.00,${imageBase}/stuhl.png,1,,`,
    `no-sku-lamp,Lamp,,Acme,Title,Default Title,,45.00,${imageBase}/lamp-2.png,2,,`,
    `no-sku-lamp,,,,,,,,${imageBase}/lamp-1.png,1,,`,
    `teal-mug,Mug,,Acme,Color,Teal,MUG-TEAL,12.00,${imageBase}/mug.png,1,,${imageBase}/mug-teal.png`,
  ].join('\n') + '\n';

describe('shop exports', () => {
  it('a Shopify product export converts as it is: variants are products, image-only rows add images, position 1 is used', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'products_export.csv': shopifyCsv('https://shop.example/img') });
    const catalog = await readCatalog(path.join(dir, 'products_export.csv'));
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows.map((row) => [row.sku, row.image])).toEqual([
      ['chair, oak', 'https://shop.example/img/chair-1.png'],
      // A variant without an image of its own uses its product's position-1 image.
      ['chair-oak-m', 'https://shop.example/img/chair-1.png'],
      ['Stuhl-Ä-Ø-42', 'https://shop.example/img/stuhl.png'],
      // No Variant SKU: the handle is the SKU; position 1 comes from a later row.
      ['no-sku-lamp', 'https://shop.example/img/lamp-1.png'],
      ['MUG-TEAL', 'https://shop.example/img/mug-teal.png'],
    ]);
    expect(catalog.columns).toMatchObject({ sku: 'Variant SKU', image: 'Image Src', group: 'Handle', position: 'Image Position', variantImage: 'Variant Image' });
    // Told otherwise: the second image.
    const second = await readCatalog(path.join(dir, 'products_export.csv'), { imagePosition: 2 });
    expect(second.rows[0]!.image).toBe('https://shop.example/img/chair-2.png');
  });

  it('a ";" separated spreadsheet CSV (European Excel), detected from the header', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'katalog.csv': '\uFEFFArtikelnummer;Bild;Preis\r\n"Stuhl; Eiche";stuhl.png;99,50\r\nTISCH-1;tisch.png;1.299,00\r\n' });
    const catalog = await readCatalog(path.join(dir, 'katalog.csv'));
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows.map((row) => [row.sku, row.image])).toEqual([['Stuhl; Eiche', 'stuhl.png'], ['TISCH-1', 'tisch.png']]);
    expect(catalog.columns).toMatchObject({ sku: 'Artikelnummer', image: 'Bild' });
  });

  it('--sku-column / --image-column name the columns; a wrong name lists the columns there are', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'erp.csv': 'Item No.,Name,Main Picture\nA-1,Chair,a.png\n' });
    const catalog = await readCatalog(path.join(dir, 'erp.csv'), { skuColumn: 'item no.', imageColumn: 'Main Picture' });
    expect(catalog.rows.map((row) => [row.sku, row.image])).toEqual([['A-1', 'a.png']]);
    const error = await readCatalog(path.join(dir, 'erp.csv'), { skuColumn: 'Article' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CatalogFileError);
    expect((error as Error).message).toMatch(/has no column "Article" \(given with --sku-column\); its columns are "Item No\.", "Name", "Main Picture"/);
    await expect(readCatalog(path.join(dir, 'erp.csv'))).rejects.toThrow(/has no "sku" column: .*or pass --sku-column NAME/);
  });

  it('.xlsx: the first sheet, or the one --sheet names; numbers and hyperlinks read as shown', async () => {
    const dir = await tempDir();
    const workbook = new ExcelJS.Workbook();
    workbook.addWorksheet('Notes').addRow(['nothing here']);
    const sheet = workbook.addWorksheet('Produkte');
    sheet.addRow(['SKU', 'Image', 'Seed']);
    sheet.addRow([12345, { text: 'https://shop.example/a.png', hyperlink: 'https://shop.example/a.png' }, 7]);
    sheet.addRow(['椅子-オーク', 'images/chair.png', null]);
    const file = path.join(dir, 'catalog.xlsx');
    await workbook.xlsx.writeFile(file);
    const catalog = await readCatalog(file, { sheet: 'Produkte' });
    expect(catalog.format).toBe('xlsx');
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows).toEqual([
      { row: 1, sku: '12345', image: 'https://shop.example/a.png', seed: 7, pipeline_type: undefined, presets: undefined },
      { row: 2, sku: '椅子-オーク', image: 'images/chair.png', seed: undefined, pipeline_type: undefined, presets: undefined },
    ]);
    // The first sheet has no SKU column; an unknown sheet lists those there are.
    await expect(readCatalog(file)).rejects.toThrow(/has no "sku" column/);
    await expect(readCatalog(file, { sheet: 'Sheet9' })).rejects.toThrow(/has no sheet "Sheet9"; its sheets are "Notes", "Produkte"/);
    // The snapshot records the mapping it used.
    const outDir = path.join(dir, 'out');
    await snapshotCatalog({ catalogId: 'x', catalogPath: file, outDir, catalog: { sheet: 'Produkte' } });
    expect((await readSnapshot(outDir, 'x'))!.meta).toMatchObject({ format: 'xlsx', options: { sheet: 'Produkte' }, columns: { sku: 'SKU', image: 'Image', seed: 'Seed' } });
  });

  it('odd SKUs stay as written; their folders stay inside the output folder', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'c.csv': 'sku,image\n"chair, oak",a.png\nStuhl-Ä-Ø-42,b.png\n../../escape,c.png\n椅子 オーク/42,d.png\n' });
    const catalog = await readCatalog(path.join(dir, 'c.csv'));
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows.map((row) => row.sku)).toEqual(['chair, oak', 'Stuhl-Ä-Ø-42', '../../escape', '椅子 オーク/42']);
    const outDir = path.join(dir, 'out');
    for (const row of catalog.rows) {
      const folder = assetDir(outDir, 'c', row.sku);
      expect(path.dirname(folder)).toBe(path.join(outDir, 'c'));
    }
    expect(path.basename(assetDir(outDir, 'c', 'Stuhl-Ä-Ø-42'))).toBe('Stuhl-Ä-Ø-42');
    expect(path.basename(assetDir(outDir, 'c', '../../escape'))).toMatch(/^escape-[0-9a-f]{12}$/);
  });
});
