// The programmatic API: start, watch and steer catalog conversions from your own code.
//
//   const client = new Client({ connection: await Connection.connect() });
//   const handle = await startCatalogConversion(client, { catalogId: 'spring', catalogPath, outDir, settings });
//   const result = await handle.result();
//   // with `review: { mode: 'flagged' }` in the input: await listReviewQueue(client, 'spring'), decideReview(...)
import {
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import {
  AssetStage,
  CatalogProgress,
  CatalogReport,
  ConvertCatalogInput,
  ResumeRequest,
  catalogWorkflowId,
  taskQueueFrom,
  type CatalogResult,
} from '@trellis/contracts';
import { cancelSignal, catalogIdKey, pauseSignal, progressQuery, resumeSignal, runningAssetsQuery, skuKey, stageKey } from '@trellis/workflows/client';
import type { convertCatalog } from '@trellis/workflows';
import { catalogReportKeys, needsStaging, openOutputStore, readCatalog, stageCatalogInputs, withCatalogFile } from '@trellis/activities/files';

export type CatalogHandle = WorkflowHandle<typeof convertCatalog>;

export class CatalogAlreadyRunningError extends Error {
  constructor(readonly catalogId: string) {
    super(`Catalog ${catalogId} is already being converted. Watch it with \`trellis status ${catalogId}\`, or cancel it first.`);
  }
}

/**
 * Validates the input and starts workflow `catalog/<catalogId>` on the task queue the workers poll:
 * `TRELLIS_TASK_QUEUE` (default `trellis`), unless `options.taskQueue` says otherwise. With an s3:// out
 * location and a local catalog file, the catalog and its local images are first put into the store
 * (stage-inputs.ts), so workers on other machines read them from there; the run's catalogPath is then the
 * staged s3:// catalog. Only the location strings go into the workflow input, never a credential.
 */
export async function startCatalogConversion(
  client: Client,
  input: ConvertCatalogInput,
  options: { taskQueue?: string } = {},
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof convertCatalog>> {
  const parsed = ConvertCatalogInput.parse(input);
  if (needsStaging(parsed.catalogPath, parsed.outDir)) {
    const { rows } = await withCatalogFile(parsed.catalogPath, (file) => readCatalog(file, parsed.catalog ?? {}));
    const staged = await stageCatalogInputs({ catalogId: parsed.catalogId, catalogPath: parsed.catalogPath, outDir: parsed.outDir, rows });
    parsed.catalogPath = staged.catalogPath;
  }
  // TRELLIS_FINISH_TASK_QUEUE where the run starts, as the workers read it (unset: the workflow pairs
  // its own task queue with "-finish").
  const finishTaskQueue = parsed.finishTaskQueue ?? (process.env.TRELLIS_FINISH_TASK_QUEUE?.trim() || undefined);
  if (finishTaskQueue) parsed.finishTaskQueue = finishTaskQueue;
  try {
    return await client.workflow.start<typeof convertCatalog>('convertCatalog', {
      taskQueue: options.taskQueue ?? taskQueueFrom(process.env),
      workflowId: catalogWorkflowId(parsed.catalogId),
      args: [parsed],
      typedSearchAttributes: [{ key: catalogIdKey, value: parsed.catalogId }],
      staticSummary: `Catalog ${parsed.catalogId}: ${parsed.catalogPath}`,
      staticDetails: `Outputs in \`${parsed.outDir}/${parsed.catalogId}/\`; presets ${parsed.settings.presets.map((p) => p.name).join(', ')}.`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) throw new CatalogAlreadyRunningError(parsed.catalogId);
    throw error;
  }
}

export function getCatalogHandle(client: Client, catalogId: string): CatalogHandle {
  return client.workflow.getHandle<typeof convertCatalog>(catalogWorkflowId(catalogId));
}

/**
 * The catalog's progress query, with each running asset's step (generating, extracting, ...) read from
 * its TrellisStage search attribute: the catalog itself knows only that the asset is running.
 */
export async function getCatalogProgress(client: Client, catalogId: string): Promise<CatalogProgress> {
  const progress = CatalogProgress.parse(await getCatalogHandle(client, catalogId).query(progressQuery));
  if (!progress.running.some(({ stage }) => stage === 'running')) return progress;
  const stages = new Map<string, string>();
  for await (const asset of client.workflow.list({ query: runningAssetsQuery(catalogId) })) {
    const sku = asset.typedSearchAttributes.get(skuKey);
    const stage = asset.typedSearchAttributes.get(stageKey);
    if (sku && stage) stages.set(sku, stage);
  }
  const running = progress.running.map((asset) => {
    const stage = AssetStage.safeParse(stages.get(asset.sku));
    return asset.stage === 'running' && stage.success ? { ...asset, stage: stage.data } : asset;
  });
  return { ...progress, running };
}

export async function pauseCatalog(client: Client, catalogId: string): Promise<void> {
  await getCatalogHandle(client, catalogId).signal(pauseSignal);
}

/** Restarts a paused catalog; after a `--max-cost` pause, goes on without a budget unless given a new one. */
export async function resumeCatalog(client: Client, catalogId: string, request: ResumeRequest = {}): Promise<void> {
  await getCatalogHandle(client, catalogId).signal(resumeSignal, ResumeRequest.parse(request));
}

/** Stops starting new assets, cancels the running ones, and still writes the report. */
export async function cancelCatalog(client: Client, catalogId: string): Promise<void> {
  await getCatalogHandle(client, catalogId).signal(cancelSignal);
}

export async function waitForCatalog(client: Client, catalogId: string): Promise<CatalogResult> {
  return getCatalogHandle(client, catalogId).result();
}

/** The report a finished conversion wrote (`<outDir>/<catalogId>/report.json`; outDir may be s3://bucket/prefix). */
export async function readCatalogReport(outDir: string, catalogId: string): Promise<CatalogReport> {
  const store = openOutputStore(outDir);
  const key = catalogReportKeys(catalogId).json;
  const bytes = await store.getBytes(key);
  if (bytes === undefined) throw new Error(`no report at ${store.describe(key)}: it is written when the catalog finishes`);
  return CatalogReport.parse(JSON.parse(bytes.toString('utf8')));
}

export { ConvertCatalogInput, type CatalogProgress, type CatalogReport, type CatalogResult };
/** Review mode (`review: { mode: 'flagged' }` in the input): the queue and the decisions, as `trellis review` uses them. */
export { approveReviewsAbove, decideReview, getReviewItem, listReviewQueue, ReviewDecisionRefusedError } from '@trellis/workflows/client';
