// The quality checks of one asset's model, as an activity on the worker: the GLB and the preview are read
// through the output store (a folder or a bucket), the photo is the one the worker uploaded, and
// libs/quality is TypeScript (sharp, a static FFmpeg): no GPU call, no bytes through workflow history.
// A report is kept beside the outputs, keyed by what it was computed from, so a rerun whose model, preview,
// photo and checks are unchanged reads it back instead of decoding everything again.
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { QualityReport, type ConvertAssetInput } from '@trellis/contracts';
import { assessModel, FLAG_THRESHOLD, GlbReadError, PhotoDecodeError, PreviewDecodeError, RAMPS } from '@trellis/quality';
import { checkedKey, joinKey } from '@trellis/output-store';
import { z } from 'zod';
import { assetPlace, catalogDirOf, loadImage, type AssetPlace } from '../files';

export type AssessQualityInput = Pick<ConvertAssetInput, 'catalogId' | 'sku' | 'image' | 'catalogPath' | 'outDir' | 'size'> & {
  /** File names in the asset folder (as the manifest records them). */
  glb: string;
  preview: string;
};

/** Failures that say the model or its inputs cannot be read: retrying reads the same bytes. */
const UNREADABLE = [GlbReadError, PhotoDecodeError, PreviewDecodeError];

/** What a kept report was computed from; the checks' tuning is part of it, so retuning them recomputes. */
const KeptReport = z.object({ inputHash: z.string().min(1), report: QualityReport });
// In a folder of its own: `.trellis/<name>.json` are the outputs' reuse records, and "quality" is a preset's name.
const KEPT_REPORT_FILE = '.trellis/checks/quality-report.json';
const CHECKS_TUNING = JSON.stringify({ FLAG_THRESHOLD, RAMPS });

/** `signal`: the activity's cancellation (index.ts passes it), so a cancelled asset stops a slow download. */
export async function assessQuality(input: AssessQualityInput, signal?: AbortSignal): Promise<QualityReport> {
  const dir = assetPlace(input.outDir, input.catalogId, input.sku);
  const [photo, glb, previewMp4] = await Promise.all([
    loadImage(input.image, catalogDirOf(input.catalogPath), { signal }),
    readOutput(dir, input.glb),
    readOutput(dir, input.preview),
  ]);
  // The size check compares proportions: it needs all three sides.
  const { width, height, depth } = input.size ?? {};
  const givenSize = width && height && depth ? { width, height, depth } : undefined;
  const inputHash = sha256(JSON.stringify([CHECKS_TUNING, sha256(glb), sha256(previewMp4), photo.sha256, givenSize ?? null]));
  const kept = await readKeptReport(dir, inputHash);
  if (kept) return kept;
  let report: QualityReport;
  try {
    report = await assessModel({ photo: photo.bytes, glb, previewMp4, ...(givenSize ? { givenSize } : {}) });
  } catch (error) {
    if (UNREADABLE.some((kind) => error instanceof kind)) throw ApplicationFailure.nonRetryable((error as Error).message, 'quality_check_error');
    throw error;
  }
  await dir.store.putBytes(joinKey(dir.key, KEPT_REPORT_FILE), `${JSON.stringify(KeptReport.parse({ inputHash, report }))}\n`, { contentType: 'application/json' });
  return report;
}

async function readKeptReport(dir: AssetPlace, inputHash: string): Promise<QualityReport | undefined> {
  const bytes = await dir.store.getBytes(joinKey(dir.key, KEPT_REPORT_FILE));
  if (bytes === undefined) return undefined;
  try {
    const kept = KeptReport.safeParse(JSON.parse(bytes.toString('utf8')));
    return kept.success && kept.data.inputHash === inputHash ? kept.data.report : undefined;
  } catch {
    return undefined; // not ours, or damaged: computed again
  }
}

/** A file named in history, read from inside the asset folder only. */
async function readOutput(dir: AssetPlace, file: string): Promise<Buffer> {
  let key: string;
  try {
    if (file.includes('/')) throw new Error('not a plain name');
    key = joinKey(dir.key, checkedKey(file));
  } catch {
    throw ApplicationFailure.nonRetryable(`not a file name in the asset folder: ${file}`, 'validation_error');
  }
  const bytes = await dir.store.getBytes(key);
  if (bytes === undefined) throw ApplicationFailure.nonRetryable(`${dir.store.describe(key)} is missing`, 'quality_check_error');
  return bytes;
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
