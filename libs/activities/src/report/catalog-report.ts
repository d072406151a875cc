// The catalog report, rebuilt from the catalog and the manifests in the store (nothing from workflow
// history, so it can be regenerated any time, on any machine, e.g. by `trellis report`): report.json and
// report.csv.
import path from 'node:path';
import {
  addUsage,
  CatalogReport,
  noUsage,
  ReportRow,
  reportRowStates,
  type CatalogRow,
  type CatalogRowProblem,
  type Usage,
} from '@trellis/contracts';
import { readSnapshot } from '../catalog/catalog-snapshot';
import { readCatalog } from '../catalog/read-catalog';
import { isS3Location, openOutputStore } from '@trellis/output-store';
import { readManifest } from '../outputs/manifest';
import { assetFolderName, catalogReportKeys } from '../outputs/output-layout';
import { reportCsv } from './report-csv';

/**
 * Manifests read at once: small reads are latency-bound (a thread-pool round trip locally, a request to
 * object storage), so a few dozen in flight keep the report fast without flooding either.
 */
const MANIFESTS_IN_FLIGHT = 32;


export interface CatalogReportArgs {
  catalogId: string;
  catalogPath: string;
  outDir: string;
  /** The snapshot the run read; default the catalog id's current one; with none, the catalog is read. */
  snapshotId?: string;
  /** What the run's warm-up cost (a cold start belongs to the catalog, not to one of its rows). */
  warmUpUsage?: Usage;
}

export interface CatalogReportSummary {
  reportJsonPath: string;
  reportCsvPath: string;
  counts: Record<string, number>;
  usage: Usage;
}

export async function writeCatalogReport({ catalogId, catalogPath, outDir, snapshotId, warmUpUsage }: CatalogReportArgs): Promise<CatalogReportSummary> {
  const store = openOutputStore(outDir);
  const keys = catalogReportKeys(catalogId);
  // The rows the run converted, as it read them: an edited catalog must not change a run's report.
  const catalog = (await readSnapshot(outDir, catalogId, snapshotId)) ?? (await readCatalog(catalogPath));
  const convertedRows: ReportRow[] = [];
  for (let start = 0; start < catalog.rows.length; start += MANIFESTS_IN_FLIGHT) {
    const batch = catalog.rows.slice(start, start + MANIFESTS_IN_FLIGHT);
    convertedRows.push(...(await Promise.all(batch.map((row) => reportRowOf(outDir, catalogId, row)))));
  }
  const rows = [...convertedRows, ...catalog.problems.map(invalidRowOf)].sort((a, b) => a.row - b.row);

  const counts: Record<string, number> = Object.fromEntries(reportRowStates.map((status) => [status, 0]));
  let usage = warmUpUsage ?? noUsage;
  for (const row of rows) {
    counts[row.status] = (counts[row.status] ?? 0) + 1;
    usage = addUsage(usage, row.usage);
  }
  const report = CatalogReport.parse({
    catalogId,
    catalogPath: isS3Location(catalogPath) ? catalogPath : path.resolve(catalogPath),
    outDir: isS3Location(outDir) ? outDir : path.resolve(outDir),
    generatedAt: new Date().toISOString(),
    counts,
    usage,
    ...(warmUpUsage ? { warmUpUsage } : {}),
    rows,
    problems: catalog.problems,
  });
  await store.putBytes(keys.json, `${JSON.stringify(report, null, 2)}\n`, { contentType: 'application/json' });
  await store.putBytes(keys.csv, reportCsv(report.rows), { contentType: 'text/csv' });
  return { reportJsonPath: store.describe(keys.json), reportCsvPath: store.describe(keys.csv), counts, usage };
}

async function reportRowOf(outDir: string, catalogId: string, row: CatalogRow): Promise<ReportRow> {
  const base = { row: row.row, sku: row.sku, folder: assetFolderName(row.sku), glbs: {}, usage: noUsage };
  try {
    const manifest = await readManifest(outDir, catalogId, row.sku);
    if (manifest === undefined) return { ...base, status: 'not_converted' };
    return {
      ...base,
      status: manifest.status,
      error: manifest.error === undefined ? undefined : `${manifest.error.code}: ${manifest.error.message}`,
      glbs: manifest.glbs,
      preview: manifest.preview,
      usage: manifest.usage,
      ...(manifest.size ? { size: manifest.size } : {}),
      ...(manifest.channels ? { channels: manifest.channels } : {}),
      ...(manifest.poster ? { poster: manifest.poster } : {}),
      ...(manifest.quality ? { quality: { score: manifest.quality.score, flagged: manifest.quality.flagged, failing: manifest.quality.failing } } : {}),
      ...(manifest.reviewDecisions?.length ? { reviewDecisions: manifest.reviewDecisions } : {}),
    };
  } catch (error) {
    // One damaged manifest is that row's problem, not the report's.
    return { ...base, status: 'failed', error: (error as Error).message };
  }
}

function invalidRowOf(problem: CatalogRowProblem): ReportRow {
  return { row: problem.row, sku: problem.sku ?? '', status: 'invalid', error: problem.message, glbs: {}, usage: noUsage };
}
