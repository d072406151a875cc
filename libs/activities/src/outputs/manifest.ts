// `manifest.json` in each asset folder: what was made for the SKU, from which inputs, and its status.
// The catalog report is rebuilt from these files, so it never depends on workflow history.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { AssetManifest } from '@trellis/contracts';
import { writeFileAtomic } from './atomic-write';
import { manifestPath, assetFolderName } from './output-layout';

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** Validates and writes `<outDir>/<catalogId>/<sku>/manifest.json` atomically; returns its path. */
export async function writeManifest(manifest: AssetManifest, outDir: string): Promise<string> {
  // The SKU -> folder mapping is recorded in every manifest (folders of odd SKUs carry a hash).
  const checked = AssetManifest.parse({ ...manifest, folder: assetFolderName(manifest.sku) });
  const filePath = manifestPath(outDir, checked.catalogId, checked.sku);
  await writeFileAtomic(filePath, `${JSON.stringify(checked, null, 2)}\n`);
  return filePath;
}

/** The manifest, or undefined when the SKU has none yet; a damaged one is an error that says what to do. */
export async function readManifest(outDir: string, catalogId: string, sku: string): Promise<AssetManifest | undefined> {
  const filePath = manifestPath(outDir, catalogId, sku);
  return parseManifest(filePath, sku, await readFile(filePath, 'utf8').catch(undefinedWhenMissing));
}

/**
 * The same, read synchronously: for the report, which reads thousands of small manifests. fs/promises
 * needs several thread-pool round trips per file, ~10x slower than a sync read; the caller reads in
 * short batches and yields in between, so the event loop (and activity heartbeats) keep going.
 */
export function readManifestSync(outDir: string, catalogId: string, sku: string): AssetManifest | undefined {
  const filePath = manifestPath(outDir, catalogId, sku);
  // Most rows of a catalog in progress have no manifest yet; a failed read costs an exception, this does not.
  if (!existsSync(filePath)) return undefined;
  let text: string | undefined;
  try {
    text = readFileSync(filePath, 'utf8');
  } catch (error) {
    text = undefinedWhenMissing(error);
  }
  return parseManifest(filePath, sku, text);
}

function undefinedWhenMissing(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
}

function parseManifest(filePath: string, sku: string, text: string | undefined): AssetManifest | undefined {
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`manifest ${filePath} is not valid JSON (${(error as Error).message}); delete it and convert SKU ${sku} again`);
  }
  const parsed = AssetManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'the file';
    throw new ManifestError(`manifest ${filePath} does not match the manifest format (${where}: ${issue?.message}); delete it and convert SKU ${sku} again`);
  }
  return parsed.data;
}
