// Which reader a catalog path needs, and which folder its relative image paths resolve against.
import path from 'node:path';
import type { CatalogFormat } from '@trellis/contracts';

const FILE_FORMATS_BY_EXTENSION: Record<string, Exclude<CatalogFormat, 'folder'>> = {
  '.csv': 'csv',
  '.xlsx': 'xlsx',
  '.json': 'json',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
};

export const catalogFileExtensions = Object.keys(FILE_FORMATS_BY_EXTENSION);

/**
 * Decided by the name alone (no disk access) so that every caller — CLI, workflow input builders,
 * activities — agrees on it: a known catalog extension means a file, anything else a folder of images.
 */
export function catalogFormatOf(catalogPath: string): CatalogFormat {
  return FILE_FORMATS_BY_EXTENSION[path.extname(catalogPath).toLowerCase()] ?? 'folder';
}

/** The folder that image paths in the catalog are relative to: the file's folder, or the image folder itself. */
export function catalogDirOf(catalogPath: string): string {
  const absolute = path.resolve(catalogPath);
  return catalogFormatOf(absolute) === 'folder' ? absolute : path.dirname(absolute);
}
