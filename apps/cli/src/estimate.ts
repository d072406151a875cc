// `trellis estimate`: what converting a catalog will cost before anything runs — rows, generations, GLB
// extractions, GPU seconds and USD from the seed's A100 table (the same table the report's cost column
// uses on the local backend), with work an earlier run of the same catalog id already did subtracted.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import {
  addUsage,
  coldStartUsage,
  estimatedAssetUsage,
  isImageUrl,
  noUsage,
  type AssetManifest,
  type CatalogRow,
  type Preset,
  type Usage,
} from '@trellis/contracts';
import { assetDir, canonicalJson, catalogDirOf, readManifest, readOutputRecord } from '@trellis/activities/files';
import type { PreparedConversion } from './conversion-input';

export interface CostEstimate {
  catalogId: string;
  catalogPath: string;
  rows: number;
  invalidRows: number;
  /** Rows whose outputs an earlier run already made from the same inputs. */
  doneRows: number;
  /** Rows with some outputs already made (e.g. a preset added since). */
  partlyDoneRows: number;
  generations: number;
  extractions: number;
  /** One model load is counted when there is any work: a GPU container that is already warm saves it. */
  coldStart: boolean;
  usage: Usage;
  /** False when no --out was given: nothing could be subtracted. */
  checkedOutputs: boolean;
}

export async function estimateConversion(prepared: PreparedConversion, options: { checkOutputs: boolean }): Promise<CostEstimate> {
  const { input } = prepared;
  const presetsByName = new Map(input.settings.presets.map((preset) => [preset.name, preset]));
  let usage = noUsage;
  let doneRows = 0;
  let partlyDoneRows = 0;
  let generations = 0;
  let extractions = 0;
  // Channel files are made from their source presets, which the workflow extracts for every row.
  const channelSources = (input.settings.channels ?? []).map((channel) => channel.profile.source_preset);
  for (const row of prepared.rows) {
    const presets = [...new Set([...(row.presets ?? input.settings.defaultPresetNames), ...channelSources])].flatMap((name) => presetsByName.get(name) ?? []);
    if (presets.length === 0) continue; // unknown presets: the row fails without running (listed as a problem)
    const pipelineType = row.pipeline_type ?? input.settings.pipelineType;
    const work = options.checkOutputs ? await remainingWork(prepared, row, presets) : { generate: true, presets };
    if (!work.generate && work.presets.length === 0) doneRows += 1;
    else if (work.presets.length < presets.length) partlyDoneRows += 1;
    if (work.generate) generations += 1;
    extractions += work.presets.length;
    if (work.generate || work.presets.length > 0) {
      usage = addUsage(usage, estimatedAssetUsage(pipelineType, work.presets.map((preset) => preset.settings.texture_size), work.generate));
    }
  }
  const coldStart = generations + extractions > 0;
  if (coldStart) usage = addUsage(usage, coldStartUsage);
  return {
    catalogId: input.catalogId,
    catalogPath: input.catalogPath,
    rows: prepared.validRows,
    invalidRows: prepared.problems.length,
    doneRows,
    partlyDoneRows,
    generations,
    extractions,
    coldStart,
    usage: generations + extractions > 0 ? usage : { ...noUsage, costBasis: 'seed-table' },
    checkedOutputs: options.checkOutputs,
  };
}

/**
 * What prepareAsset will find missing: a GLB is reusable when the manifest lists it with the same preset
 * settings, from the same image bytes, seed and pipeline; generation is skipped when every GLB is there
 * (and the preview), or when the state an earlier generation left on the service is still valid.
 */
async function remainingWork(prepared: PreparedConversion, row: CatalogRow, presets: Preset[]): Promise<{ generate: boolean; presets: Preset[] }> {
  const { input } = prepared;
  const everything = { generate: true, presets };
  const manifest = await readManifest(input.outDir, input.catalogId, row.sku).catch(() => undefined);
  if (!manifest || !(await sameInputs(manifest, row, prepared))) return everything;
  const missing = presets.filter((preset) => !glbDone(manifest, preset));
  if (missing.length === 0 && manifest.preview) return { generate: false, presets: [] };
  const record = await readOutputRecord(assetDir(input.outDir, input.catalogId, row.sku), 'preview').catch(() => undefined);
  const expiresAt = typeof record?.extra?.['stateExpiresAt'] === 'string' ? Date.parse(record.extra['stateExpiresAt']) : undefined;
  const stateKept = typeof record?.extra?.['stateId'] === 'string' && (expiresAt === undefined || expiresAt > Date.now() + 60_000);
  return { generate: !stateKept, presets: missing };
}

async function sameInputs(manifest: AssetManifest, row: CatalogRow, prepared: PreparedConversion): Promise<boolean> {
  const { settings } = prepared.input;
  if (manifest.seed !== (row.seed ?? settings.seed) || manifest.pipelineType !== (row.pipeline_type ?? settings.pipelineType)) return false;
  if (manifest.image !== row.image) return false;
  // A URL's bytes are not downloaded for an estimate; a local file must still be the same bytes.
  if (isImageUrl(row.image)) return true;
  const sha256 = await fileSha256(path.resolve(catalogDirOf(prepared.input.catalogPath), row.image)).catch(() => undefined);
  return sha256 !== undefined && sha256 === manifest.imageSha256;
}

function glbDone(manifest: AssetManifest, preset: Preset): boolean {
  const made = manifest.presets.find((candidate) => candidate.name === preset.name);
  return manifest.glbs[preset.name] !== undefined && made !== undefined && canonicalJson(made.settings) === canonicalJson(preset.settings);
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function formatEstimate(estimate: CostEstimate): string {
  const todo = estimate.rows - estimate.doneRows;
  return [
    `Catalog ${estimate.catalogId} (${estimate.catalogPath}): ${estimate.rows} row(s) to convert` +
      (estimate.invalidRows ? `, ${estimate.invalidRows} invalid (listed above, not converted)` : ''),
    estimate.checkedOutputs
      ? `Already done by an earlier run: ${estimate.doneRows} row(s)` + (estimate.partlyDoneRows ? `, ${estimate.partlyDoneRows} partly` : '') + ` — ${todo} row(s) left`
      : 'No --out given: outputs of earlier runs were not checked (pass --out DIR to subtract them)',
    `Work: ${estimate.generations} generation(s), ${estimate.extractions} GLB extraction(s)` + (estimate.coldStart ? ', one cold start' : ''),
    `GPU time: ${estimate.usage.gpuSeconds.toFixed(0)} s on an A100-80GB (seed timing table)`,
    `Estimated cost: $${estimate.usage.estimatedCostUsd.toFixed(4)}` + (estimate.coldStart ? ` (incl. $${coldStartUsage.estimatedCostUsd.toFixed(4)} for one cold start; a warm GPU saves it)` : ''),
  ].join('\n');
}
