// Turns raw rows into checked CatalogRows and CatalogRowProblems. One bad row never stops the others:
// each problem names the row, the SKU when readable, the field, and what to do.
import {
  CatalogRowInput,
  MAX_SEED,
  productSizeOf,
  pipelineTypes,
  sizeColumns,
  type CatalogRow,
  type CatalogRowProblem,
  skuFolderName,
} from '@trellis/contracts';
import type { z } from 'zod';
import { describePosition, type RawCatalogRow, type RowPosition } from './raw-row';

const SIZE_ADVICE = 'give a positive number with its unit ("45 cm", "450 mm", "0.45 m", "17.7 in"), or leave it blank';
const ADVICE_BY_FIELD: Record<string, string> = {
  sku: 'a SKU is any printable text (letters of any script, digits, spaces, punctuation) of 1-256 characters',
  image: 'give a path relative to the catalog folder, or an http(s) URL',
  seed: `use a whole number from 0 to ${MAX_SEED}, or leave it blank for the run's seed`,
  pipeline_type: `use one of ${pipelineTypes.join(', ')}, or leave it blank for the run's pipeline type`,
  presets: `list preset names such as "fast|quality" (lowercase letters, digits, "-" or "_"), or leave it blank for the run's presets`,
  width: SIZE_ADVICE,
  height: SIZE_ADVICE,
  depth: SIZE_ADVICE,
  size_unit: 'use one of mm, cm, m, in, or leave it blank when each size cell says its unit',
};

type FieldResult = { success: true; data: unknown } | { success: false; issues: z.core.$ZodIssue[] };

export interface ValidatedRows {
  rows: CatalogRow[];
  problems: CatalogRowProblem[];
}

export interface ValidationOptions {
  /** Replaces the SKU advice where the SKU is not typed by the user (a folder catalog's file names). */
  skuAdvice?: string;
}

export function validateRows(rawRows: Iterable<RawCatalogRow>, options: ValidationOptions = {}): ValidatedRows {
  const advice: Record<string, string> = { ...ADVICE_BY_FIELD, ...(options.skuAdvice === undefined ? {} : { sku: options.skuAdvice }) };
  const rows: CatalogRow[] = [];
  const problems: CatalogRowProblem[] = [];
  const firstRowBySku = new Map<string, number>();

  for (const raw of rawRows) {
    if (raw.kind === 'unreadable') {
      problems.push({ row: raw.row, field: raw.field, message: `${describePosition(raw)}: ${raw.reason}` });
      continue;
    }
    const checked: Record<string, unknown> = {};
    let failures: { field: string; issues: z.core.$ZodIssue[] }[] | undefined;
    for (let index = 0; index < ROW_FIELDS.length; index++) {
      const field = ROW_FIELDS[index]!;
      const result = checkField(field, raw.cells[field]);
      if (result.success) checked[field] = result.data;
      else (failures ??= []).push({ field, issues: result.issues });
    }
    if (failures !== undefined) {
      const details = failures.map(({ field, issues }) => describeFieldProblem(field, raw.cells[field], issues, advice[field]));
      const sku = readableSkuOf(raw.cells);
      problems.push({
        row: raw.row,
        sku,
        field: failures.map(({ field }) => field).join(', '),
        message: `${whereAndSku(raw, sku)}: ${details.join('; ')}`,
      });
      continue;
    }
    // The size columns become one `size` (or a problem when a dimension has no unit).
    const size = productSizeOf(checked as Pick<CatalogRowInput, 'width' | 'height' | 'depth' | 'size_unit'>);
    for (const column of sizeColumns) delete checked[column];
    if (typeof size === 'string') {
      const sku = checked['sku'] as string;
      problems.push({ row: raw.row, sku, field: 'size_unit', message: `${whereAndSku(raw, sku)}: ${size}` });
      continue;
    }
    if (size) checked['size'] = size;
    checked['row'] = raw.row;
    const row = checked as CatalogRow;
    const first = firstRowBySku.get(row.sku);
    if (first !== undefined) {
      problems.push({
        row: raw.row,
        sku: row.sku,
        field: 'sku',
        message: `${whereAndSku(raw, row.sku)}: duplicate SKU, first seen at row ${first}; give this row its own SKU or remove it`,
      });
      continue;
    }
    firstRowBySku.set(row.sku, raw.row);
    rows.push(row);
  }
  return withoutFolderCollisions(rows, problems, rawRows);
}

/**
 * Different SKUs whose folders would be one on a disk that ignores letter case ("Mug-1" and "mug-1"):
 * neither can own the folder, so every row involved is reported, naming the others.
 */
function withoutFolderCollisions(rows: CatalogRow[], problems: CatalogRowProblem[], rawRows: Iterable<RawCatalogRow>): ValidatedRows {
  const rowsByFolder = new Map<string, CatalogRow[]>();
  for (const row of rows) {
    const key = skuFolderName(row.sku).toLowerCase();
    rowsByFolder.set(key, [...(rowsByFolder.get(key) ?? []), row]);
  }
  const colliding = new Set<CatalogRow>([...rowsByFolder.values()].filter((group) => group.length > 1).flat());
  if (colliding.size === 0) return { rows, problems };
  const positionByRow = new Map<number, RowPosition>();
  for (const raw of rawRows) positionByRow.set(raw.row, raw);
  for (const row of colliding) {
    const others = rowsByFolder.get(skuFolderName(row.sku).toLowerCase())!.filter((other) => other !== row);
    problems.push({
      row: row.row,
      sku: row.sku,
      field: 'sku',
      message:
        `${whereAndSku(positionByRow.get(row.row) ?? row, row.sku)}: its output folder "${skuFolderName(row.sku)}" would be the same as that of ` +
        `${others.map((other) => `SKU "${other.sku}" (row ${other.row})`).join(', ')} on disks that ignore letter case; make the SKUs differ by more than case`,
    });
  }
  problems.sort((a, b) => a.row - b.row);
  return { rows: rows.filter((row) => !colliding.has(row)), problems };
}

const ROW_FIELDS = Object.keys(CatalogRowInput.shape) as (keyof typeof CatalogRowInput.shape)[];

/** Checks one cell with the contract's schema for its column. */
function checkField(field: keyof typeof CatalogRowInput.shape, value: unknown): FieldResult {
  // JSON `null` means "not given", like a blank CSV cell (a null seed would otherwise coerce to 0).
  const parsed = CatalogRowInput.shape[field].safeParse(value === null ? undefined : value);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, issues: parsed.error.issues };
}

function whereAndSku(position: RowPosition, sku: string | undefined): string {
  return sku === undefined ? describePosition(position) : `${describePosition(position)}, SKU "${sku}"`;
}

function readableSkuOf(cells: Record<string, unknown>): string | undefined {
  const sku = cells['sku'];
  if (typeof sku === 'number') return String(sku);
  return typeof sku === 'string' && sku.trim() !== '' ? sku.trim() : undefined;
}

function describeFieldProblem(
  field: string,
  value: unknown,
  issues: z.core.$ZodIssue[],
  advice = `remove "${field}"`,
): string {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
    return `${field} is missing — ${advice}`;
  }
  const reasons = [...new Set(issues.map((issue) => reasonOf(issue, value)))];
  return `${field} ${showValue(value)} ${reasons.join(', ')} — ${advice}`;
}

function reasonOf(issue: z.core.$ZodIssue, value: unknown): string {
  // A list element (presets): name the element, not just the whole cell.
  const index = issue.path[0];
  if (typeof index === 'number') {
    const items = typeof value === 'string' ? value.split(/[|,;\s]+/).filter(Boolean) : Array.isArray(value) ? value : [];
    return `has an invalid entry ${showValue(items[index])} (${issue.message})`;
  }
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'int' ? 'is not a whole number' : `is not a ${issue.expected}`;
    case 'too_big':
    case 'too_small':
      return 'is out of range';
    case 'invalid_value':
      return 'is not a known value';
    default:
      return `is invalid: ${issue.message}`;
  }
}

function showValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
