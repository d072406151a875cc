// Which column of a spreadsheet-shaped catalog holds what. A catalog written for trellis names its
// columns sku, image[, seed, pipeline_type, presets]; a shop's export (Shopify: Handle, Variant SKU,
// Image Src, Image Position) is matched automatically, or told with --sku-column / --image-column.
import { catalogColumns, type CatalogReadOptions, type LengthUnit } from '@trellis/contracts';
import { CatalogFileError } from './catalog-file-error';

export interface ColumnMapping {
  sku: number;
  image: number;
  seed?: number;
  pipeline_type?: number;
  presets?: number;
  /** Size columns; `unit` is the unit a header names ("Width (cm)"), for cells that name none. */
  width?: SizeColumn;
  height?: SizeColumn;
  depth?: SizeColumn;
  size_unit?: number;
  /** Shopify's Handle: rows sharing it are one product (more variants, or more images). */
  group?: number;
  /** Shopify's Image Position: which of a product's images is which. */
  position?: number;
  /** Shopify's Variant Image: a variant's own photo. */
  variantImage?: number;
  /** The header names used, for the snapshot's meta and messages. */
  names: Record<string, string>;
  /** True for a trellis-style header: unknown columns are then typos, not a shop's extra columns. */
  native: boolean;
}

/** Header names compared without case, spaces or punctuation: "Variant SKU" = "variant_sku" = "variantsku". */
export const columnKey = (name: string) => name.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');

/** Automatic matches, most specific first. */
const SKU_CANDIDATES = ['sku', 'variantsku', 'productsku', 'articlenumber', 'artikelnummer', 'itemnumber', 'partnumber', 'productid', 'handle'];
const IMAGE_CANDIDATES = ['image', 'imagesrc', 'imageurl', 'imagelink', 'mainimage', 'image1', 'photo', 'picture', 'bild', 'variantimage'];

export interface SizeColumn {
  index: number;
  unit?: LengthUnit;
}

/** Header names of the size columns (compared as columnKey), with an optional unit suffix: "Width (cm)". */
const SIZE_NAMES: Record<'width' | 'height' | 'depth', string[]> = {
  width: ['width', 'breite', 'productwidth'],
  height: ['height', 'hohe', 'hoehe', 'höhe', 'productheight'],
  depth: ['depth', 'length', 'tiefe', 'lange', 'länge', 'productdepth', 'productlength'],
};
const SIZE_UNIT_NAMES = ['sizeunit', 'unit', 'dimensionunit', 'dimensionsunit', 'lengthunit', 'einheit'];
const HEADER_UNITS: [string, LengthUnit][] = [['mm', 'mm'], ['cm', 'cm'], ['inches', 'in'], ['inch', 'in'], ['in', 'in'], ['m', 'm']];

function findSizeColumn(keys: string[], names: string[]): SizeColumn | undefined {
  for (const name of names) {
    const plain = keys.indexOf(name);
    if (plain !== -1) return { index: plain };
    for (const [suffix, unit] of HEADER_UNITS) {
      const index = keys.indexOf(`${name}${suffix}`);
      if (index !== -1) return { index, unit };
    }
  }
  return undefined;
}

/** Every header key that names a size column (with or without a unit), for the trellis-style header check. */
const SIZE_KEYS = [
  ...Object.values(SIZE_NAMES).flat().flatMap((name) => [name, ...HEADER_UNITS.map(([suffix]) => `${name}${suffix}`)]),
  ...SIZE_UNIT_NAMES,
];

export function mapColumns(catalogPath: string, header: string[], options: CatalogReadOptions = {}): ColumnMapping {
  const keys = header.map(columnKey);
  const find = (key: string) => {
    const index = keys.indexOf(key);
    return index === -1 ? undefined : index;
  };
  const listed = header.map((name) => `"${name.trim()}"`).join(', ');
  const pick = (what: 'sku' | 'image', explicit: string | undefined, candidates: string[], flag: string): number => {
    if (explicit !== undefined) {
      const index = find(columnKey(explicit));
      if (index === undefined) throw new CatalogFileError(catalogPath, `catalog ${catalogPath} has no column "${explicit}" (given with ${flag}); its columns are ${listed}.`);
      return index;
    }
    for (const candidate of candidates) {
      const index = find(candidate);
      if (index !== undefined) return index;
    }
    throw new CatalogFileError(
      catalogPath,
      `catalog ${catalogPath} has no "${what}" column: the header must name ${what === 'sku' ? 'the SKU column ("sku", "Variant SKU", ...)' : 'the image column ("image", "Image Src", ...)'}, or pass ${flag} NAME (its columns are ${listed}).`,
    );
  };

  const repeated = keys.find((key, index) => key !== '' && keys.indexOf(key) !== index);
  if (repeated !== undefined && [...catalogColumns, ...SKU_CANDIDATES, ...IMAGE_CANDIDATES].includes(repeated)) {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath} names column "${header[keys.indexOf(repeated)]!.trim()}" more than once in its header; keep one.`);
  }
  const sku = pick('sku', options.skuColumn, SKU_CANDIDATES, '--sku-column');
  const image = pick('image', options.imageColumn, IMAGE_CANDIDATES, '--image-column');
  const native = options.skuColumn === undefined && options.imageColumn === undefined && keys[sku] === 'sku' && keys[image] === 'image';
  if (native) rejectUnknownColumns(catalogPath, header, keys);

  const optional = (key: string) => {
    const index = find(key);
    return index === undefined || index === sku || index === image ? undefined : index;
  };
  const mapping: ColumnMapping = {
    sku,
    image,
    seed: find('seed'),
    pipeline_type: find('pipelinetype'),
    presets: find('presets'),
    width: findSizeColumn(keys, SIZE_NAMES.width),
    height: findSizeColumn(keys, SIZE_NAMES.height),
    depth: findSizeColumn(keys, SIZE_NAMES.depth),
    size_unit: SIZE_UNIT_NAMES.map(find).find((index) => index !== undefined),
    group: keys[sku] === 'handle' ? undefined : optional('handle'),
    position: optional('imageposition'),
    variantImage: optional('variantimage'),
    names: {},
    native,
  };
  for (const [field, index] of Object.entries(mapping)) {
    if (typeof index === 'number') mapping.names[field] = header[index]!.trim();
    else if (typeof index === 'object' && index !== null && 'index' in index) mapping.names[field] = header[index.index as number]!.trim();
  }
  return mapping;
}

/** In a trellis-style header a column nobody reads is most likely a typo ("pipelinetype", "preset"). */
function rejectUnknownColumns(catalogPath: string, header: string[], keys: string[]): void {
  const allowed = [...catalogColumns.map(columnKey), ...SIZE_KEYS];
  const unknown = header.filter((_, index) => !allowed.includes(keys[index]!));
  if (unknown.length === 0) return;
  const shown = unknown.map((name) => (name.trim() === '' ? '(a column with no name)' : `"${name.trim()}"`)).join(', ');
  throw new CatalogFileError(
    catalogPath,
    `catalog ${catalogPath} has unknown column ${shown} in its header; allowed columns are ${catalogColumns.join(', ')} (sku and image required, the others optional). Fix the header line, or name the SKU and image columns with --sku-column/--image-column to ignore other columns.`,
  );
}
