// Waits for a catalog to finish while drawing its progress, then prints what it made.
import type { Client } from '@temporalio/client';
import { catalogOutcomeOf, describeUsage, whyNoGpuWork, type CatalogReport, type CatalogResult } from '@trellis/contracts';
import { getCatalogHandle, getCatalogProgress } from './api';
import { ProgressLine, formatProgress } from './progress-view';

const REFRESH_MS = 500;

export async function watchCatalog(client: Client, catalogId: string, options: { live: boolean }): Promise<CatalogResult> {
  const result = getCatalogHandle(client, catalogId).result();
  if (!options.live) return result;
  const line = new ProgressLine();
  let finished = false;
  void result.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    try {
      line.update(formatProgress(await getCatalogProgress(client, catalogId)));
    } catch {
      line.update(`waiting for a worker on task queue "trellis" to pick up catalog ${catalogId} ...`);
    }
    await Promise.race([result.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, REFRESH_MS))]);
  }
  line.finish();
  return result;
}

export function summarizeResult(result: CatalogResult): string {
  const { counts, usage } = result;
  return [
    `Catalog ${result.catalogId} ${result.status} (${catalogOutcomeOf(counts)}): ${counts.done} done, ${counts.reused} reused, ` +
      `${counts.failed} failed, ${counts.cancelled} cancelled` + (counts.waiting ? `, ${counts.waiting} not converted` : '') + '.',
    describeUsage(usage, whyNoGpuWork(counts)),
    `Report: ${result.reportJsonPath}`,
    `        ${result.reportCsvPath}`,
  ].join('\n');
}

/** A finished run's result as its report on disk tells it (for `report`/`status` without Temporal). */
export function resultOfReport(report: CatalogReport, paths: { json: string; csv: string }): CatalogResult {
  const count = (state: string) => report.counts[state] ?? 0;
  return {
    catalogId: report.catalogId,
    status: count('cancelled') > 0 ? 'cancelled' : 'completed',
    counts: { waiting: count('not_converted'), running: 0, done: count('done'), reused: count('reused'), failed: count('failed'), cancelled: count('cancelled') },
    usage: report.usage,
    reportJsonPath: paths.json,
    reportCsvPath: paths.csv,
  };
}
