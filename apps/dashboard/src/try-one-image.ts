// "Try one image": the upload becomes a one-row catalog in the out location (a folder or object storage,
// through the store) and is converted by the same convertCatalog workflow as any catalog (so it shows up
// in the list, the Web UI and the report).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { joinKey, openOutputStore } from '@trellis/output-store';
import { PipelineType, PresetName } from '@trellis/contracts';

/** How the dashboard starts a catalog; the CLI supplies it with its start API (apps/cli/src/api.ts). */
export type StartCatalog = (request: { catalogPath: string; catalogId: string; pipeline: string; presets: string[] }) => Promise<void>;

export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export const UPLOADS_FOLDER = '.uploads';

const extensionByType: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

export const TryRequest = z.object({
  pipeline: PipelineType,
  presets: z.array(PresetName).min(1).max(10),
  contentType: z.enum(Object.keys(extensionByType) as [string, ...string[]], {
    error: 'upload a PNG, JPEG or WebP image (Content-Type image/png, image/jpeg or image/webp)',
  }),
  /** The uploaded file's name, as the browser gives it: it becomes the SKU. */
  fileName: z.string().max(1000).optional(),
});
export type TryRequest = z.infer<typeof TryRequest>;

export class UploadError extends Error {}

/** Sortable and unique enough for one person's tries; a valid catalog id (lowercase, digits, "-"). */
export function newTryCatalogId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `try-${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * The SKU an upload is shown under: its file name without the extension ("red-mug.png" -> "red-mug"),
 * kept to characters that need no quoting in the one-row catalog; "upload" when nothing is left.
 */
export function skuFromFileName(fileName: string | undefined): string {
  const base = (fileName ?? '').split(/[\\/]/).pop() ?? '';
  const stem = base.replace(/\.[^.]*$/, '');
  const sku = stem.normalize('NFC').replace(/[^\p{L}\p{N}._ -]+/gu, '-').replace(/\s+/g, ' ').trim().slice(0, 100).trim();
  return sku || 'upload';
}

export async function startTryOneImage(outDir: string, request: TryRequest, image: Buffer, start: StartCatalog): Promise<{ catalogId: string }> {
  if (image.length === 0) throw new UploadError('the upload is empty');
  const catalogId = newTryCatalogId();
  const store = openOutputStore(outDir);
  const dir = joinKey(UPLOADS_FOLDER, catalogId);
  const imageName = `upload.${extensionByType[request.contentType]}`;
  // A new catalog id per try: these objects are final, so they are written only if absent.
  await store.putBytes(joinKey(dir, imageName), image, { contentType: request.contentType, mode: 'create' });
  const catalogKey = joinKey(dir, 'catalog.csv');
  await store.putBytes(catalogKey, `sku,image\n${skuFromFileName(request.fileName)},${imageName}\n`, { contentType: 'text/csv', mode: 'create' });
  // A file path in a local out folder, an s3:// location in object storage: workers read either.
  const catalogPath = store.describe(catalogKey);
  try {
    await start({ catalogPath, catalogId, pipeline: request.pipeline, presets: request.presets });
  } catch (error) {
    throw new UploadError(`could not start the conversion: ${(error as Error).message}`);
  }
  return { catalogId };
}
