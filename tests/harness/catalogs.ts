// Test catalogs built from the project's own example images, in a temp folder per test.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '@trellis/devstack';

export const exampleImagesDir = path.join(repoRoot, 'examples', 'catalog');

export interface CatalogSpec {
  rows: Array<{ sku: string; image: string; seed?: number; pipeline_type?: string; presets?: string }>;
  /** Extra files to place beside the catalog: name → bytes. */
  files?: Record<string, Buffer>;
}

/** Writes catalog.csv plus the example images it names into `dir`; returns the catalog path. */
export function writeCatalog(dir: string, spec: CatalogSpec): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const row of spec.rows) {
    const source = path.join(exampleImagesDir, row.image);
    if (fs.existsSync(source)) fs.copyFileSync(source, path.join(dir, row.image));
  }
  for (const [name, bytes] of Object.entries(spec.files ?? {})) fs.writeFileSync(path.join(dir, name), bytes);
  const lines = ['sku,image,seed,pipeline_type,presets'];
  for (const row of spec.rows) {
    lines.push([row.sku, row.image, row.seed ?? '', row.pipeline_type ?? '', row.presets ?? ''].join(','));
  }
  const catalogPath = path.join(dir, 'catalog.csv');
  fs.writeFileSync(catalogPath, `${lines.join('\n')}\n`);
  return catalogPath;
}
