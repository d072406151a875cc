// A catalog is read once per run: the first activity of a catalog parses and validates the whole file
// and writes the valid rows as a snapshot under the output folder,
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
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CatalogRow, CatalogRowProblem, CatalogSnapshotInfo, type CatalogPage, type CatalogReadOptions } from '@trellis/contracts';
import { z } from 'zod';
import { catalogReportPaths } from '../outputs/output-layout';
import { CatalogFileError } from './catalog-file-error';
import { catalogFormatOf } from './catalog-location';
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

/** `<outDir>/<catalogId>/.trellis` (checked to stay inside outDir like every output path). */
export function trellisDirOf(outDir: string, catalogId: string): string {
  return path.join(path.dirname(catalogReportPaths(outDir, catalogId).json), '.trellis');
}

const snapshotDirOf = (outDir: string, catalogId: string, snapshotId: string) =>
  path.join(trellisDirOf(outDir, catalogId), `snapshot-${snapshotId.slice(0, 16)}`);
const currentMetaPath = (outDir: string, catalogId: string) => path.join(trellisDirOf(outDir, catalogId), 'catalog-snapshot.json');

/** Parses and validates the catalog once (unless this exact file was snapshotted already) and writes the snapshot. */
export async function snapshotCatalog({ catalogId, catalogPath, outDir, catalog: options = {} }: SnapshotCatalogInput): Promise<CatalogSnapshotInfo> {
  const absolutePath = path.resolve(catalogPath);
  const catalogSha256 = await catalogSha256Of(absolutePath);
  const snapshotId = createHash('sha256').update(JSON.stringify({ v: SNAPSHOT_VERSION, catalogSha256, options: sortedOptions(options) })).digest('hex');
  const previous = await readCurrentMeta(outDir, catalogId);
  if (previous?.snapshotId === snapshotId) {
    return { snapshotId, catalogSha256, totalRows: previous.totalRows, problemCount: previous.problemCount, reused: true };
  }

  const contents = await readCatalog(absolutePath, options);
  const dir = snapshotDirOf(outDir, catalogId, snapshotId);
  await rm(dir, { recursive: true, force: true }); // a half-written one from a crashed attempt
  await mkdir(dir, { recursive: true });
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
  await writeFile(path.join(dir, 'rows.jsonl'), lines.join(''));
  await writeFile(path.join(dir, 'rows.index'), index);
  await writeFile(path.join(dir, 'problems.jsonl'), contents.problems.map((problem) => `${JSON.stringify(problem)}\n`).join(''));
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
  await writeFile(path.join(dir, 'meta.json'), metaText);
  // The pointer is written last and atomically: it names a complete snapshot or the previous one.
  const pointer = currentMetaPath(outDir, catalogId);
  await writeFile(`${pointer}.tmp`, metaText);
  await rename(`${pointer}.tmp`, pointer);
  await removeOtherSnapshots(outDir, catalogId, path.basename(dir));
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
  const dir = snapshotDirOf(outDir, catalogId, snapshotId);
  const indexFile = await open(path.join(dir, 'rows.index'), 'r').catch(() => {
    throw new CatalogFileError(dir, `the catalog snapshot ${dir} is missing (was the output folder moved or cleaned mid-run?); start the catalog again to read it anew.`);
  });
  let start: number;
  let end: number;
  let totalRows: number;
  try {
    totalRows = (await indexFile.stat()).size / INDEX_ENTRY_BYTES - 1;
    const first = Math.min(offset, totalRows);
    const last = Math.min(offset + limit, totalRows);
    start = await readIndexEntry(indexFile, first);
    end = await readIndexEntry(indexFile, last);
  } finally {
    await indexFile.close();
  }
  if (end <= start) return { totalRows, offset, rows: [] };
  const rowsFile = await open(path.join(dir, 'rows.jsonl'), 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    await rowsFile.read(buffer, 0, buffer.length, start);
    const rows = buffer.toString('utf8').split('\n').filter(Boolean).map((line) => CatalogRow.parse(JSON.parse(line)));
    return { totalRows, offset, rows };
  } finally {
    await rowsFile.close();
  }
}

/** Every valid row and problem of a snapshot (the report's input). Undefined when there is no snapshot. */
export async function readSnapshot(outDir: string, catalogId: string, snapshotId?: string): Promise<{ meta: SnapshotMeta; rows: CatalogRow[]; problems: CatalogRowProblem[] } | undefined> {
  const meta = snapshotId === undefined ? await readCurrentMeta(outDir, catalogId) : await readMeta(path.join(snapshotDirOf(outDir, catalogId, snapshotId), 'meta.json'));
  if (meta === undefined) return undefined;
  const dir = snapshotDirOf(outDir, catalogId, meta.snapshotId);
  const jsonLines = async (file: string) => (await readFile(path.join(dir, file), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown);
  return {
    meta,
    rows: (await jsonLines('rows.jsonl')).map((row) => CatalogRow.parse(row)),
    problems: (await jsonLines('problems.jsonl')).map((problem) => CatalogRowProblem.parse(problem)),
  };
}

async function readIndexEntry(file: Awaited<ReturnType<typeof open>>, position: number): Promise<number> {
  const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
  await file.read(entry, 0, INDEX_ENTRY_BYTES, position * INDEX_ENTRY_BYTES);
  return Number(entry.readBigUInt64LE(0));
}

async function readCurrentMeta(outDir: string, catalogId: string): Promise<SnapshotMeta | undefined> {
  return readMeta(currentMetaPath(outDir, catalogId));
}

async function readMeta(file: string): Promise<SnapshotMeta | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // An unreadable or older meta is as good as none: the snapshot is simply rebuilt.
  const parsed = SnapshotMeta.safeParse((() => { try { return JSON.parse(text); } catch { return undefined; } })());
  return parsed.success ? parsed.data : undefined;
}

async function removeOtherSnapshots(outDir: string, catalogId: string, keep: string): Promise<void> {
  const root = trellisDirOf(outDir, catalogId);
  for (const name of await readdir(root)) {
    if (name.startsWith('snapshot-') && name !== keep) await rm(path.join(root, name), { recursive: true, force: true });
  }
}

/** sha256 of the catalog's bytes; for a folder of images, of its sorted file names (its "file"). */
async function catalogSha256Of(absolutePath: string): Promise<string> {
  const hash = createHash('sha256');
  if (catalogFormatOf(absolutePath) === 'folder') {
    const names = await readdir(absolutePath).catch((error: NodeJS.ErrnoException) => {
      throw new CatalogFileError(absolutePath, `catalog folder ${absolutePath} cannot be read (${error.code ?? error.message}); check the path.`);
    });
    return hash.update(JSON.stringify(names.sort())).digest('hex');
  }
  try {
    for await (const chunk of createReadStream(absolutePath)) hash.update(chunk as Buffer);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist; check the path' : `cannot be read (${code ?? (error as Error).message}); check its permissions`;
    throw new CatalogFileError(absolutePath, `catalog file ${absolutePath} ${what}.`);
  }
  return hash.digest('hex');
}

function sortedOptions(options: CatalogReadOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
}
