// A catalog is read once per run: the first activity of a catalog parses and validates the whole file
// and writes the valid rows as a snapshot in the output store (a folder or object storage),
//
//   <outDir>/<catalogId>/.trellis/snapshot-<id16>/rows.jsonl     one CatalogRow per line
//                                               /rows.index     8 bytes per row: where its line starts
//                                               /problems.jsonl one CatalogRowProblem per line
//                                               /meta.json      file sha256, counts, columns used
//   <outDir>/<catalogId>/.trellis/catalog-snapshot.json          the current snapshot's meta
//
// Pages come from the snapshot (two small reads, whatever the catalog's size), so a 10,000-row catalog
// costs one parse, and editing the catalog mid-run changes nothing for that run. A snapshot is named by
// the sha256 of the catalog's bytes plus the read options, so a re-run with a changed file gets a new one.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { joinKey, openOutputStore } from '@trellis/output-store';
import { CatalogRow, CatalogRowProblem, CatalogSnapshotInfo, type CatalogPage, type CatalogReadOptions } from '@trellis/contracts';
import { z } from 'zod';
import { catalogKey } from '../outputs/output-layout';
import { CatalogFileError } from './catalog-file-error';
import { catalogSha256Of, withCatalogFile } from './catalog-location';
import { readCatalog } from './read-catalog';

/** Bump when the snapshot's layout or the row validation changes: old snapshots are then rebuilt. */
// 2: rows carry the product size from the size columns.
const SNAPSHOT_VERSION = 2;
const INDEX_ENTRY_BYTES = 8;

export const SnapshotMeta = z.object({
  version: z.literal(SNAPSHOT_VERSION),
  snapshotId: z.string(),
  catalogPath: z.string(),
  catalogSha256: z.string(),
  format: z.string(),
  options: z.record(z.string(), z.unknown()),
  columns: z.record(z.string(), z.string()),
  totalRows: z.number().int().min(0),
  problemCount: z.number().int().min(0),
  createdAt: z.string(),
});
export type SnapshotMeta = z.infer<typeof SnapshotMeta>;

export interface SnapshotCatalogInput {
  catalogId: string;
  catalogPath: string;
  outDir: string;
  catalog?: CatalogReadOptions;
}

/** The key of `<catalogId>/.trellis` (checked to stay inside the out location like every output key). */
export function trellisKeyOf(catalogId: string): string {
  return joinKey(catalogKey(catalogId), '.trellis');
}

/** Where `<out>/<catalogId>/.trellis` lives (a path, or an s3:// URL). */
export function trellisDirOf(outDir: string, catalogId: string): string {
  return openOutputStore(outDir).describe(trellisKeyOf(catalogId));
}

const snapshotKeyOf = (catalogId: string, snapshotId: string) => joinKey(trellisKeyOf(catalogId), `snapshot-${snapshotId.slice(0, 16)}`);
const currentMetaKey = (catalogId: string) => joinKey(trellisKeyOf(catalogId), 'catalog-snapshot.json');

/** Parses and validates the catalog once (unless this exact file was snapshotted already) and writes the snapshot. */
export async function snapshotCatalog({ catalogId, catalogPath, outDir, catalog: options = {} }: SnapshotCatalogInput): Promise<CatalogSnapshotInfo> {
  const absolutePath = catalogPath.startsWith('s3://') ? catalogPath : path.resolve(catalogPath);
  const catalogSha256 = await catalogSha256Of(absolutePath);
  const snapshotId = createHash('sha256').update(JSON.stringify({ v: SNAPSHOT_VERSION, catalogSha256, options: sortedOptions(options) })).digest('hex');
  const previous = await readCurrentMeta(outDir, catalogId);
  if (previous?.snapshotId === snapshotId) {
    return { snapshotId, catalogSha256, totalRows: previous.totalRows, problemCount: previous.problemCount, reused: true };
  }

  const contents = await withCatalogFile(absolutePath, (file) => readCatalog(file, options));
  const store = openOutputStore(outDir);
  const dir = snapshotKeyOf(catalogId, snapshotId);
  // Each file is written whole, so a crashed attempt's leftovers are simply overwritten.
  const index = Buffer.alloc((contents.rows.length + 1) * INDEX_ENTRY_BYTES);
  const lines: string[] = [];
  let offset = 0;
  contents.rows.forEach((row, position) => {
    const line = `${JSON.stringify(row)}\n`;
    index.writeBigUInt64LE(BigInt(offset), position * INDEX_ENTRY_BYTES);
    offset += Buffer.byteLength(line);
    lines.push(line);
  });
  index.writeBigUInt64LE(BigInt(offset), contents.rows.length * INDEX_ENTRY_BYTES);
  await store.putBytes(joinKey(dir, 'rows.jsonl'), lines.join(''));
  await store.putBytes(joinKey(dir, 'rows.index'), index);
  await store.putBytes(joinKey(dir, 'problems.jsonl'), contents.problems.map((problem) => `${JSON.stringify(problem)}\n`).join(''));
  const meta: SnapshotMeta = {
    version: SNAPSHOT_VERSION,
    snapshotId,
    catalogPath: absolutePath,
    catalogSha256,
    format: contents.format,
    options: sortedOptions(options),
    columns: contents.columns,
    totalRows: contents.rows.length,
    problemCount: contents.problems.length,
    createdAt: new Date().toISOString(),
  };
  const metaText = `${JSON.stringify(meta, null, 2)}\n`;
  await store.putBytes(joinKey(dir, 'meta.json'), metaText);
  // The pointer is written last and whole: it names a complete snapshot or the previous one.
  await store.putBytes(currentMetaKey(catalogId), metaText);
  await removeOtherSnapshots(outDir, catalogId, dir);
  return {
    snapshotId,
    catalogSha256,
    totalRows: meta.totalRows,
    problemCount: meta.problemCount,
    reused: false,
    ...(previous ? { replacedCatalogSha256: previous.catalogSha256 } : {}),
  };
}

export interface LoadCatalogPageInput {
  catalogId: string;
  outDir: string;
  snapshotId: string;
  offset: number;
  limit: number;
}

/** The valid rows at [offset, offset + limit) of a snapshot: reads 2 index entries and the page's bytes. */
export async function loadCatalogPage({ catalogId, outDir, snapshotId, offset, limit }: LoadCatalogPageInput): Promise<CatalogPage> {
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`catalog page offset must be a whole number >= 0, got ${offset}`);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`catalog page limit must be a whole number >= 1, got ${limit}`);
  const store = openOutputStore(outDir);
  const dir = snapshotKeyOf(catalogId, snapshotId);
  const indexInfo = await store.head(joinKey(dir, 'rows.index'), { sha256: false });
  if (indexInfo === undefined) {
    const where = store.describe(dir);
    throw new CatalogFileError(where, `the catalog snapshot ${where} is missing (was the output folder moved or cleaned mid-run?); start the catalog again to read it anew.`);
  }
  const totalRows = indexInfo.bytes / INDEX_ENTRY_BYTES - 1;
  const first = Math.min(offset, totalRows);
  const last = Math.min(offset + limit, totalRows);
  const start = await readIndexEntry(store, joinKey(dir, 'rows.index'), first);
  const end = await readIndexEntry(store, joinKey(dir, 'rows.index'), last);
  if (end <= start) return { totalRows, offset, rows: [] };
  const buffer = (await store.getRange(joinKey(dir, 'rows.jsonl'), start, end)) ?? Buffer.alloc(0);
  const rows = buffer.toString('utf8').split('\n').filter(Boolean).map((line) => CatalogRow.parse(JSON.parse(line)));
  return { totalRows, offset, rows };
}

/** Every valid row and problem of a snapshot (the report's input). Undefined when there is no snapshot. */
export async function readSnapshot(outDir: string, catalogId: string, snapshotId?: string): Promise<{ meta: SnapshotMeta; rows: CatalogRow[]; problems: CatalogRowProblem[] } | undefined> {
  const meta = snapshotId === undefined ? await readCurrentMeta(outDir, catalogId) : await readMeta(outDir, joinKey(snapshotKeyOf(catalogId, snapshotId), 'meta.json'));
  if (meta === undefined) return undefined;
  const store = openOutputStore(outDir);
  const dir = snapshotKeyOf(catalogId, meta.snapshotId);
  const jsonLines = async (file: string) => {
    const bytes = await store.getBytes(joinKey(dir, file));
    if (bytes === undefined) throw new CatalogFileError(store.describe(dir), `the catalog snapshot ${store.describe(dir)} has no ${file}; start the catalog again to read it anew.`);
    return bytes.toString('utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown);
  };
  return {
    meta,
    rows: (await jsonLines('rows.jsonl')).map((row) => CatalogRow.parse(row)),
    problems: (await jsonLines('problems.jsonl')).map((problem) => CatalogRowProblem.parse(problem)),
  };
}

async function readIndexEntry(store: ReturnType<typeof openOutputStore>, key: string, position: number): Promise<number> {
  const entry = await store.getRange(key, position * INDEX_ENTRY_BYTES, (position + 1) * INDEX_ENTRY_BYTES);
  if (entry === undefined || entry.length < INDEX_ENTRY_BYTES) throw new CatalogFileError(store.describe(key), `the catalog snapshot index ${store.describe(key)} is damaged; start the catalog again to read it anew.`);
  return Number(entry.readBigUInt64LE(0));
}

async function readCurrentMeta(outDir: string, catalogId: string): Promise<SnapshotMeta | undefined> {
  return readMeta(outDir, currentMetaKey(catalogId));
}

async function readMeta(outDir: string, key: string): Promise<SnapshotMeta | undefined> {
  const text = (await openOutputStore(outDir).getBytes(key).catch(() => undefined))?.toString('utf8');
  if (text === undefined) return undefined;
  // An unreadable or older meta is as good as none: the snapshot is simply rebuilt.
  const parsed = SnapshotMeta.safeParse((() => { try { return JSON.parse(text); } catch { return undefined; } })());
  return parsed.success ? parsed.data : undefined;
}

/** Earlier snapshots of the catalog id, object by object (a store has no folders to remove). */
async function removeOtherSnapshots(outDir: string, catalogId: string, keepKey: string): Promise<void> {
  const store = openOutputStore(outDir);
  const root = trellisKeyOf(catalogId);
  const stale: string[] = [];
  for await (const item of store.list(root)) {
    const folder = item.key.slice(root.length + 1).split('/')[0] ?? '';
    if (folder.startsWith('snapshot-') && `${root}/${folder}` !== keepKey) stale.push(item.key);
  }
  for (const key of stale) await store.delete(key);
}

function sortedOptions(options: CatalogReadOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
}
