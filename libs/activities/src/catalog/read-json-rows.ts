// JSON catalogs (an array of row objects, or `{ "rows": [...] }`) and JSON Lines (one object per line).
import { catalogColumns } from '@trellis/contracts';
import { CatalogFileError } from './catalog-file-error';
import type { RawCatalogRow } from './raw-row';

const EXAMPLE_ROW = '{"sku": "MUG-001", "image": "images/mug.png"}';

export function readJsonRows(catalogPath: string, text: string): RawCatalogRow[] {
  let document: unknown;
  try {
    document = JSON.parse(stripBom(text));
  } catch (error) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} is not valid JSON (${(error as Error).message}); fix the syntax, or use .jsonl for one object per line.`);
  }
  const items = Array.isArray(document) ? document : isObject(document) && Array.isArray(document['rows']) ? document['rows'] : undefined;
  if (items === undefined) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} must be a JSON array of rows, or an object with a "rows" array, e.g. [${EXAMPLE_ROW}].`);
  }
  const rows = items.map((item: unknown, index): RawCatalogRow => toRawRow(item, { row: index + 1 }));
  rejectUnknownFields(catalogPath, rows);
  return rows;
}

export function readJsonLinesRows(catalogPath: string, text: string): RawCatalogRow[] {
  const rows: RawCatalogRow[] = [];
  let parsedLines = 0;
  stripBom(text)
    .split('\n')
    .forEach((rawLine, lineIndex) => {
      const lineText = rawLine.trim();
      if (lineText === '') return;
      const position = { row: rows.length + 1, line: lineIndex + 1 };
      try {
        const item: unknown = JSON.parse(lineText);
        parsedLines += 1;
        rows.push(toRawRow(item, position));
      } catch (error) {
        rows.push({ ...position, kind: 'unreadable', field: 'row', reason: `is not valid JSON (${(error as Error).message}); write one object per line, e.g. ${EXAMPLE_ROW}` });
      }
    });
  // Not one line parsed: the whole file is not JSON Lines (a pretty-printed .json, say), not N bad rows.
  if (rows.length > 0 && parsedLines === 0) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} is not JSON Lines: no line is a JSON object. Write one row object per line, e.g. ${EXAMPLE_ROW}, or name the file .json if it holds one JSON array.`);
  }
  rejectUnknownFields(catalogPath, rows);
  return rows;
}

function toRawRow(item: unknown, position: { row: number; line?: number }): RawCatalogRow {
  if (!isObject(item)) {
    return { ...position, kind: 'unreadable', field: 'row', reason: `is ${JSON.stringify(item)?.slice(0, 40)}, not an object; write each row as ${EXAMPLE_ROW}` };
  }
  return { ...position, kind: 'cells', cells: item };
}

/** Like an unknown CSV column: a field the reader would silently drop is most likely a typo ("pipelineType"). */
function rejectUnknownFields(catalogPath: string, rows: RawCatalogRow[]): void {
  const allowed: readonly string[] = catalogColumns;
  const firstRowByUnknownField = new Map<string, number>();
  for (const raw of rows) {
    if (raw.kind !== 'cells') continue;
    for (const field of Object.keys(raw.cells)) {
      if (!allowed.includes(field) && !firstRowByUnknownField.has(field)) firstRowByUnknownField.set(field, raw.row);
    }
  }
  if (firstRowByUnknownField.size === 0) return;
  const listed = [...firstRowByUnknownField].map(([field, row]) => `"${field}" (first in row ${row})`).join(', ');
  throw new CatalogFileError(catalogPath, `catalog ${catalogPath} has unknown field ${listed}; allowed fields are ${catalogColumns.join(', ')} (sku and image required). Rename or remove it.`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
