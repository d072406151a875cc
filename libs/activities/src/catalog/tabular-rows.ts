// Records of a CSV or .xlsx catalog → raw rows for validation, through the column mapping. With a
// Shopify-style Handle column, rows of one handle that only add images are more images of that product
// (not products of their own), and each product uses its image at the chosen position (default 1).
import type { CatalogReadOptions } from '@trellis/contracts';
import { CatalogFileError } from './catalog-file-error';
import { mapColumns, type ColumnMapping, type SizeColumn } from './column-mapping';
import type { RawCatalogRow } from './raw-row';
import type { TabularRecord } from './tabular-records';

export interface TabularRows {
  rows: RawCatalogRow[];
  mapping: ColumnMapping;
}

interface ProductImage {
  position: number;
  src: string;
  order: number;
}

export async function readTabularRows(
  catalogPath: string,
  records: AsyncIterable<TabularRecord>,
  options: CatalogReadOptions = {},
): Promise<TabularRows> {
  let mapping: ColumnMapping | undefined;
  let headerWidth = 0;
  const rows: RawCatalogRow[] = [];
  const imagesByGroup = new Map<string, ProductImage[]>();
  /** Rows that need their group's image once all rows are read: row index → group. */
  const groupImageFor = new Map<RawCatalogRow, string>();
  const seenGroups = new Set<string>();

  for await (const record of records) {
    if (mapping === undefined) {
      mapping = mapColumns(catalogPath, record.cells, options);
      headerWidth = record.cells.length;
      continue;
    }
    const cell = (index: number | undefined) => (index === undefined ? '' : (record.cells[index] ?? '').trim());
    /** A size cell, with the header's unit ("Width (cm)") when the cell is a bare number. */
    const sizeCell = (column: SizeColumn | undefined) => {
      const value = cell(column?.index);
      return column?.unit && /^\d+(?:[.,]\d+)?$/.test(value) ? `${value} ${column.unit}` : value;
    };
    const position = { row: rows.length + 1, line: record.line };
    if (mapping.native && record.cells.length > headerWidth && record.cells.slice(headerWidth).some((extra) => extra !== '')) {
      rows.push({
        ...position,
        kind: 'unreadable',
        field: 'row',
        reason: `has ${record.cells.length} cells but the header has ${headerWidth} columns; quote cells that contain the separator ("a,b") or remove the extra cells`,
      });
      continue;
    }
    const group = cell(mapping.group);
    const image = cell(mapping.image);
    if (mapping.group !== undefined && group !== '') {
      if (image !== '') {
        const images = imagesByGroup.get(group) ?? [];
        const written = Number(cell(mapping.position));
        images.push({ position: Number.isInteger(written) && written > 0 ? written : images.length + 1, src: image, order: images.length });
        imagesByGroup.set(group, images);
      }
      // A later row of a known handle without a SKU of its own only adds an image (or an option value).
      if (seenGroups.has(group) && cell(mapping.sku) === '') continue;
      seenGroups.add(group);
    }
    const cells: Record<string, unknown> = {
      // A Shopify product without a Variant SKU is known by its handle.
      sku: cell(mapping.sku) || group,
      image: cell(mapping.variantImage) || image,
      seed: cell(mapping.seed),
      pipeline_type: cell(mapping.pipeline_type),
      presets: cell(mapping.presets),
      width: sizeCell(mapping.width),
      height: sizeCell(mapping.height),
      depth: sizeCell(mapping.depth),
      size_unit: cell(mapping.size_unit),
    };
    const row: RawCatalogRow = { ...position, kind: 'cells', cells };
    if (mapping.group !== undefined && group !== '' && cell(mapping.variantImage) === '') groupImageFor.set(row, group);
    rows.push(row);
  }
  if (mapping === undefined) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} is empty: add a header line "sku,image" (or your shop's export header) and one row per product.`);
  }
  for (const [row, group] of groupImageFor) {
    if (row.kind === 'cells') row.cells['image'] = chosenImage(imagesByGroup.get(group) ?? [], options.imagePosition ?? 1) ?? '';
  }
  return { rows, mapping };
}

/** The image at the wanted position; else the lowest position there is. */
function chosenImage(images: ProductImage[], wanted: number): string | undefined {
  const exact = images.find((image) => image.position === wanted);
  if (exact) return exact.src;
  return [...images].sort((a, b) => a.position - b.position || a.order - b.order)[0]?.src;
}
