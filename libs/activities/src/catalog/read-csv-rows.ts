// CSV catalogs (RFC 4180): header `sku,image[,seed,pipeline_type,presets]` in any order; BOM, CRLF and
// quoted fields (with commas or line breaks) handled by parseCsv; blank lines skipped.
import { catalogColumns } from '@trellis/contracts';
import { CatalogFileError } from './catalog-file-error';
import { CsvSyntaxError, parseCsv, type CsvRecord } from './parse-csv';
import type { RawCatalogRow } from './raw-row';

const REQUIRED_COLUMNS = ['sku', 'image'] as const;

export function readCsvRows(catalogPath: string, text: string): RawCatalogRow[] {
  const records = parseCsvFile(catalogPath, text);
  const header = records[0];
  if (header === undefined) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} is empty: add a header line "${catalogColumns.join(',')}" and one row per product`);
  }
  const columns = checkedColumns(catalogPath, header.cells);
  const rows: RawCatalogRow[] = [];
  for (let index = 1; index < records.length; index++) {
    const { cells: record, line, malformed } = records[index]!;
    const row = index;
    if (malformed !== undefined) {
      rows.push({ row, line, kind: 'unreadable', field: 'row', reason: malformed });
    } else if (record.length > columns.length) {
      rows.push({
        row,
        line,
        kind: 'unreadable',
        field: 'row',
        reason: `has ${record.length} cells but the header has ${columns.length} columns (${columns.join(',')}); quote cells that contain commas ("a,b") or remove the extra cells`,
      });
    } else {
      // Missing trailing cells are blank optional cells: spreadsheets often drop them.
      const cells: Record<string, unknown> = {};
      for (let column = 0; column < columns.length; column++) cells[columns[column]!] = record[column] ?? '';
      rows.push({ row, line, kind: 'cells', cells });
    }
  }
  return rows;
}

function parseCsvFile(catalogPath: string, text: string): CsvRecord[] {
  try {
    return parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) {
      throw new CatalogFileError(catalogPath, `catalog ${catalogPath} is not valid CSV: ${error.message}. A quoted cell must end with a closing " (a " inside it is written "").`);
    }
    throw error;
  }
}

/** Header names are matched without case or surrounding spaces; anything unknown is most likely a typo. */
function checkedColumns(catalogPath: string, header: string[]): string[] {
  const columns = header.map((name) => name.trim().toLowerCase());
  const allowed: readonly string[] = catalogColumns;
  const unknown = columns.filter((column) => !allowed.includes(column));
  if (unknown.length > 0) {
    const shown = unknown.map((column) => (column === '' ? '(a column with no name)' : `"${column}"`)).join(', ');
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} has unknown column ${shown} in its header; allowed columns are ${catalogColumns.join(', ')} (sku and image required, the others optional). Fix the header line.`);
  }
  const repeated = columns.filter((column, index) => columns.indexOf(column) !== index);
  if (repeated.length > 0) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} names column "${repeated[0]}" more than once in its header; keep one.`);
  }
  const missing = REQUIRED_COLUMNS.filter((column) => !columns.includes(column));
  if (missing.length > 0) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} has no "${missing.join('", "')}" column; the header line must name at least sku and image (found: ${columns.join(', ')}).`);
  }
  return columns;
}
