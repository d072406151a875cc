// Catalog rows as users write them (CSV, JSON, JSONL, or a folder of images), and the checked form.
import { z } from 'zod';
import { LengthUnit, METRES_PER_UNIT, ProductSize } from './channels';
import { PipelineType, PresetName, Seed } from './pipeline';

/**
 * A SKU as the shop writes it: any printable text (spaces, commas, accents, CJK, slashes, dots) up to 256
 * characters, Unicode-normalised (NFC) so that the same SKU typed on two systems is one SKU. Folder names
 * and workflow ids are derived from it by `skuFolderName` (sku-folder.ts), never used raw.
 */
export const MAX_SKU_LENGTH = 256;
export const Sku = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().normalize('NFC') : typeof value === 'number' ? String(value) : value),
  z
    .string()
    .min(1, 'a SKU must not be empty')
    .refine((sku) => [...sku].length <= MAX_SKU_LENGTH, `a SKU is at most ${MAX_SKU_LENGTH} characters`)
    // Control characters (line breaks, tabs, NUL) are invisible in every place a SKU is shown.
    .refine((sku) => !/[\p{Cc}\u2028\u2029]/u.test(sku), 'a SKU must not contain control characters (line breaks, tabs, NUL)'),
);
export type Sku = z.infer<typeof Sku>;

/** A catalog id names the output folder and the workflow `catalog/<catalogId>`. */
export const CatalogId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a catalog id is 1-63 lowercase letters, digits or "-", starting with a letter or digit');
export type CatalogId = z.infer<typeof CatalogId>;

const URL_PATTERN = /^https?:\/\//i;
const SCHEME_PATTERN = /^[a-z][a-z0-9+.-]*:/i;

/** An image reference: a path relative to the catalog file (or folder), or an http(s) URL. */
export const ImageRef = z
  .string()
  .trim()
  .min(1, 'the image is empty: give a path relative to the catalog, or an http(s) URL')
  .refine((ref) => !ref.includes('\0'), 'the image path contains a NUL byte')
  .refine(
    (ref) => URL_PATTERN.test(ref) || !SCHEME_PATTERN.test(ref) || /^[a-z]:[\\/]/i.test(ref),
    'only http(s) URLs are supported; anything else must be a file path',
  )
  .refine(
    (ref) => URL_PATTERN.test(ref) || !(ref.startsWith('/') || ref.startsWith('\\') || /^[a-z]:[\\/]/i.test(ref)),
    'the image path is absolute: make it relative to the catalog',
  );
export type ImageRef = z.infer<typeof ImageRef>;
export const isImageUrl = (ref: string): boolean => URL_PATTERN.test(ref);

/** Optional cells arrive as "" from CSV; treat blank as absent. */
const blankToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

/** Presets per row: a list, or one cell like "fast|quality" (also "," ";" or spaces); repeats dropped. */
const PresetList = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(/[|,;\s]+/).filter(Boolean) : value),
  // A repeated name would extract (and pay for) the same GLB twice.
  z.array(PresetName).min(1, 'list at least one preset').transform((names) => [...new Set(names)]),
);

const UNIT_ALIASES: Record<string, LengthUnit> = { inch: 'in', inches: 'in', '"': 'in', millimetre: 'mm', millimeter: 'mm', centimetre: 'cm', centimeter: 'cm', metre: 'm', meter: 'm' };
const LENGTH_PATTERN = /^(\d+(?:[.,]\d+)?)\s*(mm|cm|m|in|inch|inches|")?$/i;

/** A size cell: 45, "45", "45 cm", "17,5 in" (decimal comma), "1.2m". */
const LengthCell = z.preprocess(
  (value) => {
    const blank = blankToUndefined(value);
    if (typeof blank === 'number') return { value: blank };
    if (typeof blank !== 'string') return blank;
    const match = LENGTH_PATTERN.exec(blank.trim());
    if (!match) return blank;
    const unit = match[2]?.toLowerCase();
    return { value: Number(match[1]!.replace(',', '.')), ...(unit ? { unit: UNIT_ALIASES[unit] ?? unit } : {}) };
  },
  z.object({ value: z.number().positive(), unit: LengthUnit.optional() }).optional(),
);

/** One row as written; numbers may be strings (CSV). */
export const CatalogRowInput = z.object({
  sku: Sku,
  image: ImageRef,
  seed: z.preprocess(blankToUndefined, z.coerce.number().pipe(Seed).optional()),
  pipeline_type: z.preprocess(blankToUndefined, PipelineType.optional()),
  presets: z.preprocess(blankToUndefined, PresetList.optional()),
  width: LengthCell,
  height: LengthCell,
  depth: LengthCell,
  size_unit: z.preprocess((value) => {
    const blank = blankToUndefined(value);
    return typeof blank === 'string' ? (UNIT_ALIASES[blank.trim().toLowerCase()] ?? blank.trim().toLowerCase()) : blank;
  }, LengthUnit.optional()),
});
export type CatalogRowInput = z.infer<typeof CatalogRowInput>;

/** The product's size columns (optional): width, height, depth, and the unit unless each cell says it. */
export const sizeColumns = ['width', 'height', 'depth', 'size_unit'] as const;
export const catalogColumns = ['sku', 'image', 'seed', 'pipeline_type', 'presets', ...sizeColumns] as const;

/** A checked row with its position: `row` is 1-based among data rows (CSV: file line = row + 1). */
export const CatalogRow = CatalogRowInput.omit({ width: true, height: true, depth: true, size_unit: true }).extend({
  row: z.number().int().min(1),
  /** The product's real-world size from the size columns; absent when the row gives none. */
  size: ProductSize.optional(),
});
export type CatalogRow = z.infer<typeof CatalogRow>;

/**
 * The row's size columns as one ProductSize: each cell's own unit, else the size_unit column's. Cells in
 * different units are converted to metres. Undefined when no size is given; a string saying what is
 * missing when a dimension has no unit.
 */
export function productSizeOf(row: Pick<CatalogRowInput, 'width' | 'height' | 'depth' | 'size_unit'>): ProductSize | undefined | string {
  const given = (['width', 'height', 'depth'] as const).flatMap((name) => {
    const cell = row[name];
    return cell ? [{ name, value: cell.value, unit: cell.unit ?? row.size_unit }] : [];
  });
  if (given.length === 0) return undefined;
  const unitless = given.filter((g) => g.unit === undefined).map((g) => g.name);
  if (unitless.length > 0) {
    return `${unitless.join(', ')} ${unitless.length > 1 ? 'have' : 'has'} no unit: write it in the cell ("45 cm"), in the header ("Width (cm)") or in a size_unit column (mm, cm, m, in)`;
  }
  const units = new Set(given.map((g) => g.unit!));
  const unit: LengthUnit = units.size === 1 ? given[0]!.unit! : 'm';
  const size: Record<string, unknown> = { unit };
  for (const g of given) size[g.name] = units.size === 1 ? g.value : g.value * METRES_PER_UNIT[g.unit!];
  return ProductSize.parse(size);
}

/** A row that failed validation: where, which field, and what to do. */
export const CatalogRowProblem = z.object({
  row: z.number().int().min(1),
  sku: z.string().optional(),
  field: z.string(),
  message: z.string(),
});
export type CatalogRowProblem = z.infer<typeof CatalogRowProblem>;

export const catalogFormats = ['csv', 'xlsx', 'json', 'jsonl', 'folder'] as const;
export type CatalogFormat = (typeof catalogFormats)[number];

/**
 * A page of a catalog's snapshot, as the workflow loads it (rows only reference images; no bytes).
 * Problems never travel here: the snapshot's result carries their count, the report reads the file.
 */
export const CatalogPage = z.object({
  totalRows: z.number().int().min(0),
  offset: z.number().int().min(0),
  rows: z.array(CatalogRow),
});
export type CatalogPage = z.infer<typeof CatalogPage>;

/**
 * How to read a catalog whose columns are not named `sku` / `image` (a Shopify or ERP export): which
 * column holds the SKU and which the image (matched without case/spaces), the sheet of an .xlsx, and
 * which image of a product with several (Shopify `Image Position`) to use. Unset = automatic matches.
 */
export const CatalogReadOptions = z.object({
  skuColumn: z.string().trim().min(1).max(200).optional(),
  imageColumn: z.string().trim().min(1).max(200).optional(),
  sheet: z.string().trim().min(1).max(200).optional(),
  imagePosition: z.number().int().min(1).max(1000).optional(),
});
export type CatalogReadOptions = z.infer<typeof CatalogReadOptions>;

/** What the catalog snapshot activity returns: counts only, so 8,000 bad rows cost a few bytes. */
export const CatalogSnapshotInfo = z.object({
  /** Identifies the snapshot: sha256 of the catalog file, the read options and the snapshot version. */
  snapshotId: z.string().regex(/^[0-9a-f]{64}$/),
  catalogSha256: z.string().regex(/^[0-9a-f]{64}$/),
  totalRows: z.number().int().min(0),
  problemCount: z.number().int().min(0),
  /** True when a snapshot of this exact file and options already existed and was kept. */
  reused: z.boolean(),
  /** Set when an earlier snapshot of this catalog id came from a different file or options. */
  replacedCatalogSha256: z.string().optional(),
});
export type CatalogSnapshotInfo = z.infer<typeof CatalogSnapshotInfo>;
