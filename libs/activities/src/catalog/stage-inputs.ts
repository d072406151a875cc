// Workers that share no disk cannot read a catalog on the user's machine. When the out location is object
// storage and the catalog a local file, the client (CLI or programmatic API, before the workflow starts)
// puts the catalog and the local images its rows name into the store, beside each other as on disk:
//
//   <out>/<catalogId>/.trellis/inputs/<catalog file name>
//   <out>/<catalogId>/.trellis/inputs/<image path relative to the catalog>
//
// and the run reads them from there (its catalogPath is the staged catalog's s3:// location). An input
// already there with the same sha256 is skipped, so a rerun uploads only what changed. Image URLs stay URLs.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isImageUrl, type CatalogRow } from '@trellis/contracts';
import { isS3Location, joinKey, openOutputStore } from '@trellis/output-store';
import { CatalogFileError } from './catalog-file-error';
import { catalogDirOf, catalogFormatOf, catalogSha256Of } from './catalog-location';
import { trellisKeyOf } from './catalog-snapshot';
import { ImageError } from '../images/image-error';

export interface StageInputsArgs {
  catalogId: string;
  /** A local catalog file. */
  catalogPath: string;
  outDir: string;
  /** The catalog's valid rows, as the client read them. */
  rows: readonly CatalogRow[];
}

export interface StagedInputs {
  /** The catalog's location for the workflow input: the staged s3:// catalog, or the local path unchanged. */
  catalogPath: string;
  uploaded: number;
  skipped: number;
  uploadedBytes: number;
}

/** Whether a run needs its inputs staged: object storage out, and a catalog the workers cannot read. */
export function needsStaging(catalogPath: string, outDir: string): boolean {
  return isS3Location(outDir) && !isS3Location(catalogPath);
}

export async function stageCatalogInputs({ catalogId, catalogPath, outDir, rows }: StageInputsArgs): Promise<StagedInputs> {
  if (!needsStaging(catalogPath, outDir)) return { catalogPath, uploaded: 0, skipped: 0, uploadedBytes: 0 };
  const absolute = path.resolve(catalogPath);
  if (catalogFormatOf(absolute) === 'folder') {
    throw new CatalogFileError(absolute, `catalog ${absolute} is a folder of images; with --out s3://... give a catalog file (csv, xlsx, json, jsonl) naming the images, so workers without this disk can read it.`);
  }
  const store = openOutputStore(outDir);
  const inputsKey = joinKey(trellisKeyOf(catalogId), 'inputs');
  const catalogDir = catalogDirOf(absolute);
  const tally = { uploaded: 0, skipped: 0, uploadedBytes: 0 };

  const stageFile = async (file: string, key: string, sha256: string) => {
    const there = await store.head(key);
    if (there?.sha256 === sha256) {
      tally.skipped += 1;
      return;
    }
    const written = await store.putStream(key, createReadStream(file), { expectedSha256: sha256 });
    tally.uploaded += 1;
    tally.uploadedBytes += written.bytes;
  };

  const images = new Map<string, string>(); // key → local file
  for (const row of rows) {
    const reference = row.image.trim();
    if (isImageUrl(reference)) continue;
    const relative = path.relative(catalogDir, path.resolve(catalogDir, reference)).split(path.sep).join('/');
    if (relative.startsWith('../') || path.isAbsolute(relative)) {
      throw new ImageError('image_not_found', `row ${row.row} (SKU ${row.sku}): image "${reference}" is outside the catalog's folder ${catalogDir}; with --out s3://... images must sit beside or below the catalog (or be URLs) so they can be staged for the workers.`);
    }
    // The key as the worker will build it from the same reference (resolveCatalogInput).
    images.set(joinKey(inputsKey, path.posix.normalize(reference.replace(/\\/g, '/'))), path.resolve(catalogDir, reference));
  }
  for (const [key, file] of images) {
    const exists = await stat(file).then((info) => info.isFile(), () => false);
    // A missing image is that row's problem, reported by the run as for a local catalog.
    if (!exists) continue;
    await stageFile(file, key, await fileSha256(file));
  }
  // The catalog last: a staged catalog always finds its images there.
  const catalogKey = joinKey(inputsKey, path.basename(absolute));
  await stageFile(absolute, catalogKey, await catalogSha256Of(absolute));
  return { catalogPath: `${outDir.replace(/\/+$/, '')}/${catalogKey}`, ...tally };
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
