// Reads any catalog format into checked rows plus per-row problems, in one streaming pass over the file
// (the workflow does this once per catalog run, into a snapshot: see catalog-snapshot.ts).
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { catalogColumns, type CatalogFormat, type CatalogReadOptions, type CatalogRow, type CatalogRowProblem } from '@trellis/contracts';
import { CatalogFileError } from './catalog-file-error';
import { catalogDirOf, catalogFileExtensions, catalogFormatOf } from './catalog-location';
import type { RawCatalogRow } from './raw-row';
import { readFolderRows } from './read-folder-rows';
import { readJsonLinesRows, readJsonRows } from './read-json-rows';
import { readCsvRecords, readXlsxRecords } from './tabular-records';
import { readTabularRows } from './tabular-rows';
import { validateRows } from './validate-rows';

export interface CatalogContents {
  format: CatalogFormat;
  /** Absolute folder that relative image paths resolve against. */
  catalogDir: string;
  rows: CatalogRow[];
  problems: CatalogRowProblem[];
  /** Which header column was read as which field (spreadsheet formats), for the snapshot's meta. */
  columns: Record<string, string>;
}

/** How many times a catalog was parsed in this process: tests check a 10,000-row run parses once. */
export const catalogReadStats = { parses: 0 };

export async function readCatalog(catalogPath: string, options: CatalogReadOptions = {}): Promise<CatalogContents> {
  const absolutePath = path.resolve(catalogPath);
  const format = catalogFormatOf(absolutePath);
  await checkExists(absolutePath, format);
  catalogReadStats.parses += 1;
  let columns: Record<string, string> = {};
  let rawRows: RawCatalogRow[];
  switch (format) {
    case 'folder':
      rawRows = await readFolderRows(absolutePath);
      break;
    case 'csv':
    case 'xlsx': {
      const records = format === 'csv' ? readCsvRecords(absolutePath) : readXlsxRecords(absolutePath, options.sheet);
      const tabular = await readTabularRows(absolutePath, records, options);
      rawRows = tabular.rows;
      columns = tabular.mapping.names;
      break;
    }
    case 'json':
      rawRows = readJsonRows(absolutePath, await readText(absolutePath));
      break;
    case 'jsonl':
      rawRows = readJsonLinesRows(absolutePath, await readText(absolutePath));
      break;
  }
  if (rawRows.length === 0) {
    throw new CatalogFileError(absolutePath, `catalog ${absolutePath} has no rows; add one row per product (${catalogColumns.join(', ')}).`);
  }
  const { rows, problems } = validateRows(rawRows, {
    skuAdvice: format === 'folder' ? 'rename the file: its name without the extension is the SKU' : undefined,
  });
  return { format, catalogDir: catalogDirOf(absolutePath), rows, problems, columns };
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
