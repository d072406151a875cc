// Spreadsheet-shaped catalogs (CSV, .xlsx) as a stream of records: the header's cells, then each data
// record's cells with the file line (CSV) or sheet row (.xlsx) it starts on, for messages.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { parse, CsvError } from 'csv-parse';
import type ExcelJS from 'exceljs';
import { CatalogFileError } from './catalog-file-error';

export interface TabularRecord {
  cells: string[];
  /** 1-based file line (CSV) or sheet row (.xlsx) the record starts on. */
  line: number;
}

/** Bytes looked at to tell `,` from `;` (and tab) separated files: the header is always in them. */
const SNIFF_BYTES = 64 * 1024;

/**
 * Which character separates the header's cells: the one of `,` `;` tab found most often outside quotes
 * on the first line (European spreadsheets write `;` because `,` is their decimal mark).
 */
export async function detectCsvDelimiter(catalogPath: string): Promise<string> {
  const handle = await open(catalogPath, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0);
    return delimiterOfFirstLine(buffer.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await handle.close();
  }
}

export function delimiterOfFirstLine(text: string): string {
  const counts = new Map<string, number>([[',', 0], [';', 0], ['\t', 0]]);
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && (char === '\n' || char === '\r')) break;
    else if (!quoted && counts.has(char)) counts.set(char, counts.get(char)! + 1);
  }
  let best = ',';
  for (const [delimiter, count] of counts) if (count > counts.get(best)!) best = delimiter;
  return best;
}

/**
 * CSV records streamed by csv-parse (RFC 4180: BOM, CRLF, quoted cells with separators and line breaks).
 * `relax_quotes` keeps a stray quote inside a cell as text instead of losing every row after it; an
 * unclosed quote at the end of the file is the one error that makes the whole file unusable.
 */
export async function* readCsvRecords(catalogPath: string): AsyncGenerator<TabularRecord> {
  const delimiter = await detectCsvDelimiter(catalogPath);
  const parser = createReadStream(catalogPath).pipe(
    parse({ delimiter, bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, info: true, raw: true }),
  );
  // The last line of the last complete record: an unclosed quote opened on the line after it.
  let completeUpTo = 0;
  try {
    for await (const { record, info, raw } of parser as AsyncIterable<{ record: string[]; info: { lines: number }; raw: string }>) {
      completeUpTo = info.lines;
      if (record.every((cell) => cell.trim() === '')) continue; // ",,," is a blank line with separators
      yield { cells: record, line: info.lines - lineBreaksInside(raw) };
    }
  } catch (error) {
    if (error instanceof CsvError) {
      const where = error.code === 'CSV_QUOTE_NOT_CLOSED' ? `a " opened on line ${completeUpTo + 1} is never closed` : error.message;
      throw new CatalogFileError(
        catalogPath,
        `catalog ${catalogPath} is not valid CSV: ${where}. A quoted cell must end with a closing " (a " inside it is written ""); fix that line and run again.`,
      );
    }
    throw error;
  }
}

/** Line breaks within a record's own text (its leading blank lines and its record end excluded). */
function lineBreaksInside(raw: string): number {
  const body = raw.replace(/^[\r\n]+/, '').replace(/(\r\n|\n|\r)$/, '');
  return (body.match(/\r\n|\n|\r/g) ?? []).length;
}

/**
 * The records of one sheet of an .xlsx (the first, or the one named): each cell as the text a user sees
 * in Excel (numbers as shown, hyperlinks by their text, falling back to the link).
 */
export async function* readXlsxRecords(catalogPath: string, sheetName?: string): AsyncGenerator<TabularRecord> {
  // Loaded on first use: exceljs is large, and most catalogs (and every CLI start) never need it.
  const { default: Excel } = await import('exceljs');
  const workbook = new Excel.Workbook();
  try {
    await workbook.xlsx.readFile(catalogPath);
  } catch (error) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} is not a readable .xlsx workbook (${(error as Error).message}); save it again from Excel as "Excel Workbook (.xlsx)", or export it as CSV.`);
  }
  const names = workbook.worksheets.map((sheet) => sheet.name);
  const sheet = sheetName === undefined ? workbook.worksheets[0] : workbook.getWorksheet(sheetName);
  if (sheet === undefined) {
    throw new CatalogFileError(
      catalogPath,
      sheetName === undefined
        ? `catalog ${catalogPath} has no sheets; add a sheet with a header row and one row per product.`
        : `catalog ${catalogPath} has no sheet "${sheetName}"; its sheets are ${names.map((name) => `"${name}"`).join(', ')} (pass one with --sheet).`,
    );
  }
  const records: TabularRecord[] = [];
  sheet.eachRow({ includeEmpty: false }, (row, rowNumber) => {
    const cells: string[] = [];
    for (let column = 1; column <= row.cellCount; column++) cells.push(cellText(row.getCell(column)));
    if (cells.some((cell) => cell.trim() !== '')) records.push({ cells, line: rowNumber });
  });
  yield* records;
}

function cellText(cell: ExcelJS.Cell): string {
  const text = cell.text ?? '';
  if (text !== '') return text;
  return typeof cell.hyperlink === 'string' ? cell.hyperlink : '';
}
