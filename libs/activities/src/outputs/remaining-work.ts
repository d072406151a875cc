// What converting a catalog's rows still takes, given what an earlier run of the same catalog id left in
// the output folder: the one place that answers it, for `trellis estimate` (before a run) and for the
// catalog's warm-up (a run with nothing to convert must not wake a GPU, nor pay for one).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  addUsage,
  coldStartUsage,
  estimatedAssetUsage,
  isImageUrl,
  noUsage,
  presetNamesOfRow,
  type AssetManifest,
  type CatalogRow,
  type ConversionSettings,
  type Preset,
  type Usage,
} from '@trellis/contracts';
import { isS3Location } from '@trellis/output-store';
import { catalogDirOf, resolveCatalogInput, storedInput } from '../catalog/catalog-location';
import { readSnapshot } from '../catalog/catalog-snapshot';
import { canonicalJson } from './input-hash';
import { readManifest } from './manifest';
import { assetPlace } from './output-layout';
import { readOutputRecord } from './output-records';

export interface WorkContext {
  catalogId: string;
  catalogPath: string;
  outDir: string;
  settings: Pick<ConversionSettings, 'presets' | 'defaultPresetNames' | 'pipelineType' | 'seed' | 'channels'>;
}

export interface RowWork {
  generate: boolean;
  presets: Preset[];
  /** Presets the row asks for that are known (unknown ones fail the row without GPU work). */
  asked: Preset[];
}

export interface CatalogWork {
  /** Rows whose outputs an earlier run already made from the same inputs. */
  doneRows: number;
  /** Rows with some outputs already made (e.g. a preset added since). */
  partlyDoneRows: number;
  generations: number;
  extractions: number;
  /** One model load when there is any work: a GPU container that is already warm saves it. */
  coldStart: boolean;
  /** All of it, cold start included. */
  usage: Usage;
  /** The same work on a GPU that is already warm (no cold start). */
  warmUsage: Usage;
}

/** The row's presets as the run will resolve them. */
export function presetsOfRow(context: WorkContext, row: CatalogRow): Preset[] {
  const byName = new Map(context.settings.presets.map((preset) => [preset.name, preset]));
  return presetNamesOfRow(context.settings, row).flatMap((name) => byName.get(name) ?? []);
}

/**
 * What prepareAsset will find missing: a GLB is reusable when the manifest lists it with the same preset
 * settings, from the same image bytes, seed and pipeline; generation is skipped when every GLB is there
 * (and the preview), or when the state an earlier generation left on the service is still valid.
 */
export async function remainingWorkOf(context: WorkContext, row: CatalogRow): Promise<RowWork> {
  const asked = presetsOfRow(context, row);
  const everything = { generate: asked.length > 0, presets: asked, asked };
  const manifest = await readManifest(context.outDir, context.catalogId, row.sku).catch(() => undefined);
  if (!manifest || !(await sameInputs(manifest, row, context))) return everything;
  const missing = asked.filter((preset) => !glbDone(manifest, preset));
  if (missing.length === 0 && manifest.preview) return { generate: false, presets: [], asked };
  const record = await readOutputRecord(assetPlace(context.outDir, context.catalogId, row.sku), 'preview').catch(() => undefined);
  const expiresAt = typeof record?.extra?.['stateExpiresAt'] === 'string' ? Date.parse(record.extra['stateExpiresAt']) : undefined;
  const stateKept = typeof record?.extra?.['stateId'] === 'string' && (expiresAt === undefined || expiresAt > Date.now() + 60_000);
  return { generate: !stateKept, presets: missing, asked };
}

/** The work of all `rows`; with `checkOutputs` false, as if nothing had been made yet. */
export async function catalogWorkOf(context: WorkContext, rows: readonly CatalogRow[], options: { checkOutputs: boolean }): Promise<CatalogWork> {
  let warmUsage = noUsage;
  let doneRows = 0;
  let partlyDoneRows = 0;
  let generations = 0;
  let extractions = 0;
  for (const row of rows) {
    const asked = presetsOfRow(context, row);
    if (asked.length === 0) continue; // unknown presets: the row fails without running (listed as a problem)
    const work = options.checkOutputs ? await remainingWorkOf(context, row) : { generate: true, presets: asked, asked };
    if (!work.generate && work.presets.length === 0) doneRows += 1;
    else if (work.presets.length < asked.length) partlyDoneRows += 1;
    if (work.generate) generations += 1;
    extractions += work.presets.length;
    if (work.generate || work.presets.length > 0) {
      const pipelineType = row.pipeline_type ?? context.settings.pipelineType;
      warmUsage = addUsage(warmUsage, estimatedAssetUsage(pipelineType, work.presets.map((preset) => preset.settings.texture_size), work.generate));
    }
  }
  const coldStart = generations + extractions > 0;
  return {
    doneRows,
    partlyDoneRows,
    generations,
    extractions,
    coldStart,
    usage: coldStart ? addUsage(warmUsage, coldStartUsage) : warmUsage,
    warmUsage,
  };
}

/**
 * Whether any row of the run's snapshot still needs the GPU; stops at the first that does (at once for a
 * new catalog), so only a catalog with nothing to convert is read to its end.
 */
export async function catalogNeedsGpu(context: WorkContext & { snapshotId: string }): Promise<boolean> {
  const snapshot = await readSnapshot(context.outDir, context.catalogId, context.snapshotId);
  if (!snapshot) return true; // cannot tell: warm up, as before
  for (const row of snapshot.rows) {
    const work = await remainingWorkOf(context, row);
    if (work.generate || work.presets.length > 0) return true;
  }
  return false;
}

async function sameInputs(manifest: AssetManifest, row: CatalogRow, context: WorkContext): Promise<boolean> {
  const { settings } = context;
  if (manifest.seed !== (row.seed ?? settings.seed) || manifest.pipelineType !== (row.pipeline_type ?? settings.pipelineType)) return false;
  if (manifest.image !== row.image) return false;
  // A URL's bytes are not downloaded here; a local file must still be the same bytes.
  if (isImageUrl(row.image)) return true;
  const sha256 = await inputSha256(resolveCatalogInput(catalogDirOf(context.catalogPath), row.image)).catch(() => undefined);
  return sha256 !== undefined && sha256 === manifest.imageSha256;
}

function glbDone(manifest: AssetManifest, preset: Preset): boolean {
  const made = manifest.presets.find((candidate) => candidate.name === preset.name);
  return manifest.glbs[preset.name] !== undefined && made !== undefined && canonicalJson(made.settings) === canonicalJson(preset.settings);
}

/** sha256 of a local image file, or of one staged beside an s3:// catalog (recorded when it was staged). */
async function inputSha256(location: string): Promise<string | undefined> {
  if (isS3Location(location)) {
    const { store, key } = storedInput(location);
    return (await store.head(key))?.sha256;
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(location)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
