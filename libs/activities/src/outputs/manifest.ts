// `manifest.json` in each asset folder: what was made for the SKU, from which inputs, and its status.
// The catalog report is rebuilt from these, so it never depends on workflow history; they are read from the
// store, so a retry or a report on another machine sees what any worker wrote.
import { AssetManifest } from '@trellis/contracts';
import { openOutputStore } from '@trellis/output-store';
import { assetFolderName, manifestKey } from './output-layout';

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** Validates and writes `<out>/<catalogId>/<sku>/manifest.json` whole; returns where it went (path or URL). */
export async function writeManifest(manifest: AssetManifest, outDir: string): Promise<string> {
  // The SKU -> folder mapping is recorded in every manifest (folders of odd SKUs carry a hash).
  const checked = AssetManifest.parse({ ...manifest, folder: assetFolderName(manifest.sku) });
  const store = openOutputStore(outDir);
  const key = manifestKey(checked.catalogId, checked.sku);
  await store.putBytes(key, `${JSON.stringify(checked, null, 2)}\n`, { contentType: 'application/json' });
  return store.describe(key);
}

/** The manifest, or undefined when the SKU has none yet; a damaged one is an error that says what to do. */
export async function readManifest(outDir: string, catalogId: string, sku: string): Promise<AssetManifest | undefined> {
  const store = openOutputStore(outDir);
  const key = manifestKey(catalogId, sku);
  const bytes = await store.getBytes(key);
  return parseManifest(store.describe(key), sku, bytes?.toString('utf8'));
}

function parseManifest(where: string, sku: string, text: string | undefined): AssetManifest | undefined {
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`manifest ${where} is not valid JSON (${(error as Error).message}); delete it and convert SKU ${sku} again`);
  }
  const parsed = AssetManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? issue.path.join('.') : 'the file';
    throw new ManifestError(`manifest ${where} does not match the manifest format (${field}: ${issue?.message}); delete it and convert SKU ${sku} again`);
  }
  return parsed.data;
}
