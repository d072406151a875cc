// Reads a catalog image (a path relative to the catalog, or an http(s) URL), checks it BEFORE anything is
// uploaded (a corrupt image fails in milliseconds, not after a GPU call) and fits it to the service.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isImageUrl } from '@trellis/contracts';
import { isS3Location } from '@trellis/output-store';
import { resolveCatalogInput, storedInput } from '../catalog/catalog-location';
import { fetchImageBytes, formatMiB } from './fetch-image-bytes';
import { ImageError } from './image-error';
import { readImageHeader, type ImageMediaType } from './image-header';
import { imagePreprocessHash, prepareUpload } from './prepare-upload';

/** The largest original accepted: photos up to this are scaled to fit the service; beyond it, refused unread. */
export const MAX_ORIGINAL_IMAGE_BYTES = 100 * 1024 * 1024;
const DEFAULT_FETCH_TIMEOUT_MS = 60_000;

export interface LoadImageOptions {
  /** Largest original file (or download) accepted; default 100 MiB. */
  maxBytes?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface LoadedImage {
  /** The bytes to upload: the original when it fits the service, else the prepared (scaled, normalised) image. */
  bytes: Buffer;
  /** sha256 of the ORIGINAL file: the image's identity in manifests and reuse records. */
  sha256: string;
  /** Hash of the preprocessing settings; with `sha256` it decides reuse of generated outputs. */
  preprocessHash: string;
  width: number;
  height: number;
  mediaType: ImageMediaType;
  /** What preprocessing did (empty when the original is uploaded unchanged). */
  adjustments: string[];
  /** The absolute file path or the URL the bytes came from, for messages. */
  source: string;
}

/**
 * Reads a catalog image (a path relative to the catalog, or an http(s) URL), checks it is a complete
 * image, and prepares it for upload (prepare-upload.ts). Only unreadable or corrupt files fail.
 */
export async function loadImage(image: string, catalogDir: string, options: LoadImageOptions = {}): Promise<LoadedImage> {
  const maxBytes = options.maxBytes ?? MAX_ORIGINAL_IMAGE_BYTES;
  const reference = image.trim();
  const source = isImageUrl(reference) ? reference : resolveCatalogInput(catalogDir, reference);
  const bytes = isImageUrl(reference)
    ? await fetchImageBytes(reference, { maxBytes, timeoutMs: options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS, signal: options.signal })
    : isS3Location(source)
      ? await readStoredImage(source, reference, catalogDir, maxBytes)
      : await readImageFile(source, reference, catalogDir, maxBytes);

  // The header check names what a file is (an HTML error page, a PDF, a truncated PNG) better than a
  // decoder does; formats it does not know (TIFF, GIF, AVIF, ...) are left to the decoder.
  const header = readImageHeader(bytes);
  if (!header.ok && !header.decoderMayRead) {
    throw new ImageError('image_unreadable', `image ${source} cannot be used: ${header.reason}. Replace it with a complete PNG, JPEG or WebP file.`);
  }
  const upload = await prepareUpload(bytes, source);
  return { ...upload, sha256: imageSha256Of(bytes), preprocessHash: imagePreprocessHash, source };
}

/** The one entry point for the upload path (generate): the same as loadImage, named for what it is for. */
export const loadImageForUpload = loadImage;

/** The image's identity in input hashes and manifests: sha256 of its bytes, lowercase hex. */
export function imageSha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readImageFile(filePath: string, reference: string, catalogDir: string, maxBytes: number): Promise<Buffer> {
  const notFound = () =>
    new ImageError('image_not_found', `image ${filePath} does not exist (catalog says "${reference}", relative to ${catalogDir}); fix the image path in the catalog or add the file.`);
  const stats = await stat(filePath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') throw notFound();
    throw unreadable(filePath, error);
  });
  if (!stats.isFile()) throw new ImageError('image_unreadable', `image ${filePath} is not a file; point the catalog at an image file.`);
  // Checked on the size first so a huge file is never read into memory.
  if (stats.size > maxBytes) throw fileTooLarge(filePath, stats.size, maxBytes);
  const bytes = await readFile(filePath).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? notFound() : unreadable(filePath, error);
  });
  if (bytes.length > maxBytes) throw fileTooLarge(filePath, bytes.length, maxBytes); // it grew meanwhile
  return bytes;
}

/** An image staged beside an s3:// catalog: size checked before the bytes are fetched. */
async function readStoredImage(location: string, reference: string, catalogDir: string, maxBytes: number): Promise<Buffer> {
  const notFound = () =>
    new ImageError('image_not_found', `image ${location} does not exist (catalog says "${reference}", relative to ${catalogDir}); fix the image path in the catalog or add the file.`);
  const { store, key } = storedInput(location);
  const info = await store.head(key, { sha256: false });
  if (!info) throw notFound();
  if (info.bytes > maxBytes) throw fileTooLarge(location, info.bytes, maxBytes);
  const bytes = await store.getBytes(key);
  if (!bytes) throw notFound();
  if (bytes.length > maxBytes) throw fileTooLarge(location, bytes.length, maxBytes);
  return bytes;
}

function fileTooLarge(filePath: string, size: number, maxBytes: number): ImageError {
  return new ImageError('image_too_large', `image ${filePath} is ${size} bytes, over the limit of ${maxBytes} bytes (${formatMiB(maxBytes)}); photos up to this size are scaled down automatically; save this one smaller.`);
}

function unreadable(filePath: string, error: NodeJS.ErrnoException): ImageError {
  return new ImageError('image_unreadable', `image ${filePath} cannot be read (${error.code ?? error.message}); check its permissions.`, false, { cause: error });
}
