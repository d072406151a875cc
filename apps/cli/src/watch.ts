// Waits for a catalog to finish while drawing its progress, then prints what it made.
import type { Client } from '@temporalio/client';
import type { CatalogResult } from '@trellis/contracts';
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
    `Catalog ${result.catalogId} ${result.status}: ${counts.succeeded} converted, ${counts.skipped} already done (reused), ` +
      `${counts.failed} failed, ${counts.cancelled} cancelled.`,
    `GPU time ${usage.gpuSeconds.toFixed(1)} s, estimated cost $${usage.estimatedCostUsd.toFixed(4)}` +
      (usage.costBasis === 'seed-table' ? ' (what an A100-80GB would cost, from the seed timing table)' : ''),
    `Report: ${result.reportJsonPath}`,
    `        ${result.reportCsvPath}`,
  ].join('\n');
}
