// Reads any catalog format into checked rows plus per-row problems, and serves it page by page.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { catalogColumns, type CatalogFormat, type CatalogPage, type CatalogRow, type CatalogRowProblem } from '@trellis/contracts';
import { CatalogFileError } from './catalog-file-error';
import { catalogDirOf, catalogFileExtensions, catalogFormatOf } from './catalog-location';
import type { RawCatalogRow } from './raw-row';
import { readCsvRows } from './read-csv-rows';
import { readFolderRows } from './read-folder-rows';
import { readJsonLinesRows, readJsonRows } from './read-json-rows';
import { validateRows } from './validate-rows';

export interface CatalogContents {
  format: CatalogFormat;
  /** Absolute folder that relative image paths resolve against. */
  catalogDir: string;
  rows: CatalogRow[];
  problems: CatalogRowProblem[];
}

export async function readCatalog(catalogPath: string): Promise<CatalogContents> {
  const absolutePath = path.resolve(catalogPath);
  const format = catalogFormatOf(absolutePath);
  await checkExists(absolutePath, format);
  const rawRows = format === 'folder' ? await readFolderRows(absolutePath) : readFileRows(absolutePath, format, await readText(absolutePath));
  if (rawRows.length === 0) {
    throw new CatalogFileError(absolutePath, `catalog ${absolutePath} has no rows; add one row per product (${catalogColumns.join(', ')}).`);
  }
  const { rows, problems } = validateRows(rawRows, {
    skuAdvice: format === 'folder' ? 'rename the file: its name without the extension is the SKU (letters, digits, ".", "_" or "-")' : undefined,
  });
  return { format, catalogDir: catalogDirOf(absolutePath), rows, problems };
}

/**
 * The valid rows at [offset, offset + limit). Problems travel with the first page only, so a workflow
 * that pages through a catalog sees each of them once.
 */
export async function loadCatalogPage(catalogPath: string, offset: number, limit: number): Promise<CatalogPage> {
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`catalog page offset must be a whole number >= 0, got ${offset}`);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`catalog page limit must be a whole number >= 1, got ${limit}`);
  const { rows, problems } = await readCatalog(catalogPath);
  return {
    totalRows: rows.length,
    offset,
    rows: rows.slice(offset, offset + limit),
    problems: offset === 0 ? problems : [],
  };
}

function readFileRows(catalogPath: string, format: Exclude<CatalogFormat, 'folder'>, text: string): RawCatalogRow[] {
  switch (format) {
    case 'csv':
      return readCsvRows(catalogPath, text);
    case 'json':
      return readJsonRows(catalogPath, text);
    case 'jsonl':
      return readJsonLinesRows(catalogPath, text);
  }
}

async function checkExists(absolutePath: string, format: CatalogFormat): Promise<void> {
  const stats = await stat(absolutePath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') {
      const kind = format === 'folder' ? 'catalog folder' : 'catalog file';
      throw new CatalogFileError(absolutePath, `${kind} ${absolutePath} does not exist; check the path (a catalog is a ${catalogFileExtensions.join('/')} file or a folder of images).`);
    }
    throw new CatalogFileError(absolutePath, `catalog ${absolutePath} cannot be read (${error.code ?? error.message}); check its permissions.`);
  });
  if (format === 'folder' && !stats.isDirectory()) {
    throw new CatalogFileError(absolutePath, `catalog ${absolutePath} is neither a folder nor a ${catalogFileExtensions.join('/')} file; rename it to the extension of its format.`);
  }
  if (format !== 'folder' && !stats.isFile()) {
    throw new CatalogFileError(absolutePath, `catalog ${absolutePath} is a folder, but its name ends in ${path.extname(absolutePath)}; pass the catalog file inside it, or rename the folder.`);
  }
}

async function readText(absolutePath: string): Promise<string> {
  try {
    return await readFile(absolutePath, 'utf8');
  } catch (error) {
    throw new CatalogFileError(absolutePath, `catalog ${absolutePath} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); check its permissions.`);
  }
}
