// Which reader a catalog path needs, which folder its relative image paths resolve against, and how its
// bytes are read: a local path, or `s3://bucket/key` (a catalog the CLI staged into the out store, or one
// the user keeps in object storage) read through the store, so workers need no shared disk.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { CatalogFormat } from '@trellis/contracts';
import { isS3Location, openOutputStore, type OutputStore } from '@trellis/output-store';
import { CatalogFileError } from './catalog-file-error';

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
  if (isS3Location(catalogPath)) return catalogFormatOf(catalogPath) === 'folder' ? catalogPath.replace(/\/+$/, '') : path.posix.dirname(catalogPath);
  const absolute = path.resolve(catalogPath);
  return catalogFormatOf(absolute) === 'folder' ? absolute : path.dirname(absolute);
}

/** A catalog input (the catalog file, or an image relative to it) in object storage: its store and key. */
export function storedInput(location: string): { store: OutputStore; key: string } {
  const slash = location.lastIndexOf('/');
  if (!isS3Location(location) || slash <= 's3://'.length) throw new CatalogFileError(location, `${location} is not an s3://bucket/key location`);
  return { store: openOutputStore(location.slice(0, slash)), key: location.slice(slash + 1) };
}

/** Where an image reference of a catalog lives: a local path, or an s3:// location beside the catalog. */
export function resolveCatalogInput(catalogDir: string, reference: string): string {
  if (!isS3Location(catalogDir)) return path.resolve(catalogDir, reference);
  const key = path.posix.normalize(reference.replace(/\\/g, '/'));
  if (key.startsWith('../') || key === '..' || key.startsWith('/')) {
    throw new CatalogFileError(catalogDir, `image "${reference}" is outside the catalog's folder ${catalogDir}; a catalog in object storage can only use images beside or below it (or URLs).`);
  }
  return `${catalogDir}/${key}`;
}

/** Runs `read` on the catalog as a local file: the file itself, or a private copy of an s3:// catalog. */
export async function withCatalogFile<T>(catalogPath: string, read: (file: string) => Promise<T>): Promise<T> {
  if (!isS3Location(catalogPath)) return read(catalogPath);
  if (catalogFormatOf(catalogPath) === 'folder') {
    throw new CatalogFileError(catalogPath, `catalog ${catalogPath}: a catalog in object storage must be a ${catalogFileExtensions.join('/')} file, not a folder of images.`);
  }
  const { store, key } = storedInput(catalogPath);
  const copy = await store.localCopy(key);
  if (!copy) throw new CatalogFileError(catalogPath, `catalog file ${catalogPath} does not exist; check the location.`);
  try {
    return await read(copy.path);
  } finally {
    await copy.release();
  }
}

/** sha256 of the catalog's bytes; for a folder of images, of its sorted file names (its "file"). */
export async function catalogSha256Of(catalogPath: string): Promise<string> {
  const hash = createHash('sha256');
  if (isS3Location(catalogPath)) {
    return withCatalogFile(catalogPath, (file) => catalogSha256Of(file));
  }
  if (catalogFormatOf(catalogPath) === 'folder') {
    const names = await readdir(catalogPath).catch((error: NodeJS.ErrnoException) => {
      throw new CatalogFileError(catalogPath, `catalog folder ${catalogPath} cannot be read (${error.code ?? error.message}); check the path.`);
    });
    return hash.update(JSON.stringify(names.sort())).digest('hex');
  }
  try {
    for await (const chunk of createReadStream(catalogPath)) hash.update(chunk as Buffer);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist; check the path' : `cannot be read (${code ?? (error as Error).message}); check its permissions`;
    throw new CatalogFileError(catalogPath, `catalog file ${catalogPath} ${what}.`);
  }
  return hash.digest('hex');
}
