// A folder as a catalog: every image directly in it becomes a row, SKU = file stem, sorted by name.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { CatalogFileError } from './catalog-file-error';
import type { RawCatalogRow } from './raw-row';

export const catalogImageExtensions = ['.png', '.jpg', '.jpeg', '.webp'];

export async function readFolderRows(folderPath: string): Promise<RawCatalogRow[]> {
  const entries = await readdir(folderPath, { withFileTypes: true });
  const imageNames = entries
    // Dot files are skipped: "._mug.png" is macOS metadata, not an image.
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .filter((name) => catalogImageExtensions.includes(path.extname(name).toLowerCase()))
    // Code-unit order, not locale order: the row numbers must not depend on the machine's locale.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (imageNames.length === 0) {
    throw new CatalogFileError(folderPath, `catalog folder ${folderPath} has no ${catalogImageExtensions.join('/')} images directly in it; put the product images there, or pass a .csv/.json/.jsonl catalog file.`);
  }
  return imageNames.map((name, index) => ({
    row: index + 1,
    kind: 'cells',
    cells: { sku: path.parse(name).name, image: name },
  }));
}
