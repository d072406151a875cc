// Where outputs live, as store keys (libs/output-store maps a key to a file under a local out folder or an
// object under an s3:// prefix): `<catalogId>/<folder>/{<preset>.glb, preview.mp4, manifest.json}` and
// `<catalogId>/report.{json,csv}`, where <folder> is skuFolderName(sku): the SKU when it is a safe name,
// else a readable slug plus a short hash (`chair, oak` → `chair-oak-<hash>`, `../../escape` →
// `escape-<hash>`). Names are checked with the contract schemas and every key by the store's key rules, so
// no catalog cell can make us write outside the out location.
import { CatalogId, PresetName, Sku, skuFolderName } from '@trellis/contracts';
import { joinKey, openOutputStore, StoreKeyError, type OutputStore } from '@trellis/output-store';
import type { z } from 'zod';

export class OutputPathError extends Error {
  override readonly name = 'OutputPathError';
}

/** An asset's folder in a store: its outputs are `<key>/<file>`. */
export interface AssetPlace {
  store: OutputStore;
  key: string;
}

export function catalogKey(catalogId: string): string {
  return safeKey(checked(CatalogId, 'catalog id', catalogId));
}

export function assetKey(catalogId: string, sku: string): string {
  return safeKey(catalogKey(catalogId), assetFolderName(sku));
}

/** The folder name of a SKU's outputs (recorded in its manifest and the report). */
export function assetFolderName(sku: string): string {
  return skuFolderName(checked(Sku, 'SKU', sku));
}

export function glbKey(catalogId: string, sku: string, preset: string): string {
  return safeKey(assetKey(catalogId, sku), `${checked(PresetName, 'preset name', preset)}.glb`);
}

export function previewKey(catalogId: string, sku: string): string {
  return safeKey(assetKey(catalogId, sku), 'preview.mp4');
}

export function manifestKey(catalogId: string, sku: string): string {
  return safeKey(assetKey(catalogId, sku), 'manifest.json');
}

export function catalogReportKeys(catalogId: string): { json: string; csv: string } {
  const folder = catalogKey(catalogId);
  return { json: safeKey(folder, 'report.json'), csv: safeKey(folder, 'report.csv') };
}

export function assetPlace(outDir: string, catalogId: string, sku: string): AssetPlace {
  return { store: openOutputStore(outDir), key: assetKey(catalogId, sku) };
}

// Where a key lives (a file path, or an s3:// URL), for messages and for tests of a local out folder.
export const assetDir = (outDir: string, catalogId: string, sku: string): string => openOutputStore(outDir).describe(assetKey(catalogId, sku));
export const glbPath = (outDir: string, catalogId: string, sku: string, preset: string): string => openOutputStore(outDir).describe(glbKey(catalogId, sku, preset));
export const previewPath = (outDir: string, catalogId: string, sku: string): string => openOutputStore(outDir).describe(previewKey(catalogId, sku));
export const manifestPath = (outDir: string, catalogId: string, sku: string): string => openOutputStore(outDir).describe(manifestKey(catalogId, sku));
export function catalogReportPaths(outDir: string, catalogId: string): { json: string; csv: string } {
  const keys = catalogReportKeys(catalogId);
  const store = openOutputStore(outDir);
  return { json: store.describe(keys.json), csv: store.describe(keys.csv) };
}

function checked(schema: z.ZodType<string, unknown>, what: string, value: string): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success || parsed.data !== value) {
    const reason = parsed.success ? 'it has surrounding spaces' : parsed.error.issues[0]?.message ?? 'it is invalid';
    throw new OutputPathError(`cannot build an output path from ${what} ${JSON.stringify(value)}: ${reason}`);
  }
  return value;
}

function safeKey(...parts: string[]): string {
  try {
    return joinKey(...parts);
  } catch (error) {
    if (error instanceof StoreKeyError) throw new OutputPathError(`output key ${JSON.stringify(parts.join('/'))} would be outside the out location: ${error.message}`);
    throw error;
  }
}
