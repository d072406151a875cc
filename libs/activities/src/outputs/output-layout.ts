// Where outputs live: `<outDir>/<catalogId>/<folder>/{<preset>.glb, preview.mp4, manifest.json}` and
// `<outDir>/<catalogId>/report.{json,csv}`, where <folder> is skuFolderName(sku): the SKU when it is a
// safe name, else a readable slug plus a short hash (`chair, oak` → `chair-oak-<hash>`, `../../escape`
// → `escape-<hash>`). Names are checked with the contract schemas and every path is checked to stay
// inside outDir, so no catalog cell can make us write elsewhere.
import path from 'node:path';
import { CatalogId, PresetName, Sku, skuFolderName } from '@trellis/contracts';
import type { z } from 'zod';

export class OutputPathError extends Error {
  override readonly name = 'OutputPathError';
}

export function assetDir(outDir: string, catalogId: string, sku: string): string {
  return insideOutDir(outDir, checked(CatalogId, 'catalog id', catalogId), skuFolderName(checked(Sku, 'SKU', sku)));
}

/** The folder name of a SKU's outputs (recorded in its manifest and the report). */
export function assetFolderName(sku: string): string {
  return skuFolderName(checked(Sku, 'SKU', sku));
}

export function glbPath(outDir: string, catalogId: string, sku: string, preset: string): string {
  return path.join(assetDir(outDir, catalogId, sku), `${checked(PresetName, 'preset name', preset)}.glb`);
}

export function previewPath(outDir: string, catalogId: string, sku: string): string {
  return path.join(assetDir(outDir, catalogId, sku), 'preview.mp4');
}

export function manifestPath(outDir: string, catalogId: string, sku: string): string {
  return path.join(assetDir(outDir, catalogId, sku), 'manifest.json');
}

export function catalogReportPaths(outDir: string, catalogId: string): { json: string; csv: string } {
  const folder = insideOutDir(outDir, checked(CatalogId, 'catalog id', catalogId));
  return { json: path.join(folder, 'report.json'), csv: path.join(folder, 'report.csv') };
}

function checked(schema: z.ZodType<string, unknown>, what: string, value: string): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success || parsed.data !== value) {
    const reason = parsed.success ? 'it has surrounding spaces' : parsed.error.issues[0]?.message ?? 'it is invalid';
    throw new OutputPathError(`cannot build an output path from ${what} ${JSON.stringify(value)}: ${reason}`);
  }
  return value;
}

function insideOutDir(outDir: string, ...segments: string[]): string {
  const result = path.join(outDir, ...segments);
  const relative = path.relative(path.resolve(outDir), path.resolve(result));
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new OutputPathError(`output path ${result} would be outside the output folder ${outDir}`);
  }
  return result;
}
