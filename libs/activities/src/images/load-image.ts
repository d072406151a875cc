// Reads a catalog image (a path relative to the catalog, or an http(s) URL) and checks it against the
// service's limits BEFORE anything is uploaded: a bad image fails in milliseconds, not after a GPU call.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isImageUrl } from '@trellis/contracts';
import { fetchImageBytes, formatMiB } from './fetch-image-bytes';
import { ImageError } from './image-error';
import { readImageHeader, type ImageMediaType } from './image-header';

/** The service's own limits (docs/service-api.md): 10 MiB decoded, at most 4096 px wide and high. */
export const SERVICE_MAX_IMAGE_BYTES = 10 * 1024 * 1024;
export const SERVICE_MAX_IMAGE_SIDE_PX = 4096;
const DEFAULT_FETCH_TIMEOUT_MS = 60_000;

export interface LoadImageOptions {
  maxBytes?: number;
  maxDimension?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface LoadedImage {
  bytes: Buffer;
  sha256: string;
  width: number;
  height: number;
  mediaType: ImageMediaType;
  /** The absolute file path or the URL the bytes came from, for messages. */
  source: string;
}

export async function loadImage(image: string, catalogDir: string, options: LoadImageOptions = {}): Promise<LoadedImage> {
  const maxBytes = options.maxBytes ?? SERVICE_MAX_IMAGE_BYTES;
  const maxDimension = options.maxDimension ?? SERVICE_MAX_IMAGE_SIDE_PX;
  const reference = image.trim();
  const source = isImageUrl(reference) ? reference : path.resolve(catalogDir, reference);
  const bytes = isImageUrl(reference)
    ? await fetchImageBytes(reference, { maxBytes, timeoutMs: options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS, signal: options.signal })
    : await readImageFile(source, reference, catalogDir, maxBytes);

  const header = readImageHeader(bytes);
  if (!header.ok) {
    throw new ImageError('image_unreadable', `image ${source} cannot be used: ${header.reason}. Replace it with a complete PNG, JPEG or WebP file.`);
  }
  if (header.width > maxDimension || header.height > maxDimension) {
    throw new ImageError(
      'image_too_large_dimensions',
      `image ${source} is ${header.width}x${header.height} px; width and height must be at most ${maxDimension} px. Scale it down (1024 px a side is plenty for the model).`,
    );
  }
  return { bytes, sha256: imageSha256Of(bytes), width: header.width, height: header.height, mediaType: header.mediaType, source };
}

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

function fileTooLarge(filePath: string, size: number, maxBytes: number): ImageError {
  return new ImageError('image_too_large', `image ${filePath} is ${size} bytes, over the limit of ${maxBytes} bytes (${formatMiB(maxBytes)}); save it smaller (PNG/JPEG/WebP, at most 4096 px a side).`);
}

function unreadable(filePath: string, error: NodeJS.ErrnoException): ImageError {
  return new ImageError('image_unreadable', `image ${filePath} cannot be read (${error.code ?? error.message}); check its permissions.`, false, { cause: error });
}
