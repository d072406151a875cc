// What each catalog reader hands to validation: the cells of one data row, or why it could not be read.

/** Where a row is, for messages: `row` is 1-based among data rows; `line` is the file line when there is one. */
export interface RowPosition {
  row: number;
  line?: number;
}

export type RawCatalogRow =
  | (RowPosition & { kind: 'cells'; cells: Record<string, unknown> })
  | (RowPosition & { kind: 'unreadable'; field: string; reason: string });

/** "row 3 (line 4)" — the line only when it differs from what a user could count themselves. */
export function describePosition({ row, line }: RowPosition): string {
  return line === undefined ? `row ${row}` : `row ${row} (line ${line})`;
}
