import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadImage, readCatalog } from '../src/files';

const exampleCatalog = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/catalog/example.csv');

describe('the example catalog', () => {
  it('reads with zero problems, and every image loads within the service limits', async () => {
    const catalog = await readCatalog(exampleCatalog);
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows.length).toBeGreaterThanOrEqual(5);
    const mediaTypes = new Set<string>();
    for (const row of catalog.rows) {
      const image = await loadImage(row.image, catalog.catalogDir);
      expect(image.width).toBeGreaterThanOrEqual(256);
      expect(image.width).toBeLessThanOrEqual(512);
      mediaTypes.add(image.mediaType);
    }
    expect([...mediaTypes]).toEqual(['image/png']);
    // Some rows set optional cells and some leave them blank.
    expect(catalog.rows.some((row) => row.seed !== undefined)).toBe(true);
    expect(catalog.rows.some((row) => row.seed === undefined && row.presets === undefined && row.pipeline_type === undefined)).toBe(true);
  });

  it('the Shopify export example converts as it is', async () => {
    const catalog = await readCatalog(path.resolve(path.dirname(exampleCatalog), '../shopify/products_export.csv'));
    expect(catalog.problems).toEqual([]);
    expect(catalog.rows.map((row) => [row.sku, row.image])).toEqual([
      ['mug, teal 350', '../catalog/mug.png'],
      ['Lampe-Ä-42', '../catalog/lamp.png'],
      ['椅子-オーク', '../catalog/chair.png'],
      ['椅子-オーク-smoked', '../catalog/chair.png'],
      ['plant-pot', '../catalog/plant-pot.png'],
    ]);
    for (const row of catalog.rows) expect((await loadImage(row.image, catalog.catalogDir)).mediaType).toBe('image/png');
  });
});
