// The quality checks of one asset's model, as an activity on the worker: the GLB and the preview are where the
// worker wrote them, the photo is the one it uploaded, and libs/quality is TypeScript (sharp, a static FFmpeg):
// no GPU call, no bytes through workflow history, about 0.3 s of one core.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { type ConvertAssetInput, type QualityReport } from '@trellis/contracts';
import { assessModel, GlbReadError, PhotoDecodeError, PreviewDecodeError } from '@trellis/quality';
import { assetDir, catalogDirOf, loadImage } from '../files';

export type AssessQualityInput = Pick<ConvertAssetInput, 'catalogId' | 'sku' | 'image' | 'catalogPath' | 'outDir' | 'size'> & {
  /** File names in the asset folder (as the manifest records them). */
  glb: string;
  preview: string;
};

/** Failures that say the model or its inputs cannot be read: retrying reads the same bytes. */
const UNREADABLE = [GlbReadError, PhotoDecodeError, PreviewDecodeError];

/** `signal`: the activity's cancellation (index.ts passes it), so a cancelled asset stops a slow download. */
export async function assessQuality(input: AssessQualityInput, signal?: AbortSignal): Promise<QualityReport> {
  const dir = assetDir(input.outDir, input.catalogId, input.sku);
  const [photo, glb, previewMp4] = await Promise.all([
    loadImage(input.image, catalogDirOf(input.catalogPath), { signal }),
    readFile(inFolder(dir, input.glb)),
    readFile(inFolder(dir, input.preview)),
  ]);
  // The size check compares proportions: it needs all three sides.
  const { width, height, depth } = input.size ?? {};
  const givenSize = width && height && depth ? { width, height, depth } : undefined;
  try {
    return await assessModel({ photo: photo.bytes, glb, previewMp4, ...(givenSize ? { givenSize } : {}) });
  } catch (error) {
    if (UNREADABLE.some((kind) => error instanceof kind)) throw ApplicationFailure.nonRetryable((error as Error).message, 'quality_check_error');
    throw error;
  }
}

/** A file name from history, kept inside the asset folder. */
function inFolder(dir: string, file: string): string {
  if (path.basename(file) !== file) throw ApplicationFailure.nonRetryable(`not a file name in the asset folder: ${file}`, 'validation_error');
  return path.join(dir, file);
}
