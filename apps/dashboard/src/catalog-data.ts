// What the page shows, gathered on the server (the only side holding a Temporal client): catalogs from
// Temporal visibility (WorkflowType + the Trellis search attributes) and their `progress` query while
// running, plus the report.json / manifest.json files in the output folder once assets or catalogs end.
import fs from 'node:fs/promises';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import {
  AssetManifest,
  CatalogId,
  CatalogProgress,
  CatalogReport,
  searchAttributeNames,
  type OutputFile,
  type ReportRow,
  type StatusCounts,
  type Usage,
} from '@trellis/contracts';
import { catalogIdKey, progressQuery, skuKey, stageKey, visibilityLiteral } from '@trellis/workflows/client';
import { catalogReportPaths, manifestPath } from '@trellis/activities/files';

export interface CatalogSummary {
  catalogId: string;
  /** running | paused | cancelling | completed | cancelled | failed | terminated | timed_out | unknown */
  status: string;
  live: boolean;
  totalRows: number | null;
  invalidRows: number;
  counts: StatusCounts;
  usage: Usage;
  running: Array<{ sku: string; stage: string }>;
  startedAt?: string;
  closedAt?: string;
  reportUrl?: string;
}

export interface FileLink {
  url: string;
  bytes: number;
}

export interface SkuView {
  sku: string;
  row?: number;
  status: string;
  stage?: string;
  error?: string;
  glbs: Record<string, FileLink>;
  preview?: FileLink;
  /** Shop-ready files (`--channels`), in the order they were asked for. */
  channels?: ChannelView[];
  poster?: FileLink;
}

/** One channel file as the page shows it: where, how big, and the validator's verdict (or why there is none). */
export interface ChannelView {
  channel: string;
  delivered: boolean;
  url?: string;
  bytes: number;
  triangles: number;
  textureSize: number;
  compression: string;
  errors: number;
  warnings: number;
  budgetMet: boolean;
  stepDowns: string[];
  reason?: string;
  proportionMismatch?: string;
}

export interface CatalogDetail extends CatalogSummary {
  skus: SkuView[];
}

const emptyCounts = (): StatusCounts => ({ pending: 0, running: 0, succeeded: 0, skipped: 0, failed: 0, cancelled: 0 });
const noUsage = (): Usage => ({ gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'seed-table' });
/** A query needs a worker; without one the page must still answer quickly. */
const QUERY_DEADLINE_MS = 3000;
const MAX_LISTED = 200;

export const fileUrl = (catalogId: string, sku: string | undefined, file: string) =>
  `/files/${[catalogId, sku, file].filter((part) => part !== undefined).map((part) => encodeURIComponent(part!)).join('/')}`;

const link = (catalogId: string, sku: string, output: OutputFile): FileLink => ({ url: fileUrl(catalogId, sku, output.file), bytes: output.bytes });

/** Channel files and the poster of a manifest or report row. */
function finishedViews(catalogId: string, sku: string, finished: Pick<ReportRow, 'channels' | 'poster'>): Pick<SkuView, 'channels' | 'poster'> {
  const channels = Object.values(finished.channels ?? {}).map((report): ChannelView => ({
    channel: report.channel,
    delivered: report.delivered,
    // channels/<name>.glb: one URL segment per path segment.
    ...(report.delivered && report.file ? { url: `${fileUrl(catalogId, sku, 'channels')}/${encodeURIComponent(`${report.channel}.glb`)}` } : {}),
    bytes: report.bytes,
    triangles: report.triangles,
    textureSize: Math.max(0, ...report.textureSizes),
    compression: report.compression,
    errors: report.validator.errors,
    warnings: report.validator.warnings,
    budgetMet: report.budgetMet,
    stepDowns: report.stepDowns,
    ...(report.reason ? { reason: report.reason } : {}),
    ...(report.placement?.proportionMismatch ? { proportionMismatch: report.placement.proportionMismatch } : {}),
  }));
  return {
    ...(channels.length > 0 ? { channels } : {}),
    ...(finished.poster ? { poster: link(catalogId, sku, finished.poster) } : {}),
  };
}

async function readJson<T>(file: string, schema: { parse(value: unknown): T }): Promise<T | undefined> {
  try {
    return schema.parse(JSON.parse(await fs.readFile(file, 'utf8')));
  } catch {
    return undefined;
  }
}


async function listExecutions(client: Client, query: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const execution of client.workflow.list({ query, pageSize: 100 })) {
    found.push(execution);
    if (found.length >= MAX_LISTED) break;
  }
  return found;
}

/** Newest execution per workflow id, ignoring runs that continued as new (their successor is listed). */
function newestPerWorkflow(executions: WorkflowExecutionInfo[]): WorkflowExecutionInfo[] {
  const byId = new Map<string, WorkflowExecutionInfo>();
  for (const execution of executions) {
    if (execution.status.name === 'CONTINUED_AS_NEW') continue;
    const seen = byId.get(execution.workflowId);
    if (!seen || execution.startTime > seen.startTime) byId.set(execution.workflowId, execution);
  }
  return [...byId.values()];
}

async function queryProgress(client: Client, workflowId: string): Promise<CatalogProgress | undefined> {
  try {
    const answer = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => client.workflow.getHandle(workflowId).query(progressQuery));
    return CatalogProgress.parse(answer);
  } catch {
    return undefined;
  }
}

function summaryFromReport(catalogId: string, report: CatalogReport): Omit<CatalogSummary, 'status' | 'live'> {
  const counts = emptyCounts();
  for (const key of Object.keys(counts) as Array<keyof StatusCounts>) counts[key] = report.counts[key] ?? 0;
  return {
    catalogId,
    totalRows: report.rows.filter((row) => row.status !== 'invalid').length,
    invalidRows: report.counts.invalid ?? 0,
    counts,
    usage: report.usage,
    running: [],
    reportUrl: fileUrl(catalogId, undefined, 'report.json'),
  };
}

async function summarize(client: Client, outDir: string, catalogId: string, execution?: WorkflowExecutionInfo): Promise<CatalogSummary> {
  const timing = { startedAt: execution?.startTime.toISOString(), closedAt: execution?.closeTime?.toISOString() };
  if (execution?.status.name === 'RUNNING') {
    const progress = await queryProgress(client, execution.workflowId);
    return {
      catalogId,
      status: progress?.status ?? 'running',
      live: true,
      totalRows: progress?.totalRows ?? null,
      invalidRows: progress?.invalidRows ?? 0,
      counts: progress?.counts ?? emptyCounts(),
      usage: progress?.usage ?? noUsage(),
      running: progress?.running ?? [],
      ...timing,
    };
  }
  const report = await readJson(catalogReportPaths(outDir, catalogId).json, CatalogReport);
  const closedStatus = execution ? execution.status.name.toLowerCase() : 'completed';
  if (report) return { ...summaryFromReport(catalogId, report), status: closedStatus, live: false, ...timing };
  return {
    catalogId,
    status: execution ? closedStatus : 'unknown',
    live: false,
    totalRows: null,
    invalidRows: 0,
    counts: emptyCounts(),
    usage: noUsage(),
    running: [],
    ...timing,
  };
}

/** Catalogs Temporal knows (newest first), then any others that left a report in the output folder. */
export async function listCatalogs(client: Client, outDir: string): Promise<CatalogSummary[]> {
  const executions = newestPerWorkflow(await listExecutions(client, "WorkflowType = 'convertCatalog'"));
  executions.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  const known = new Map<string, WorkflowExecutionInfo>();
  for (const execution of executions) {
    const catalogId = execution.typedSearchAttributes.get(catalogIdKey) ?? execution.workflowId.replace(/^catalog\//, '');
    if (CatalogId.safeParse(catalogId).success && !known.has(catalogId)) known.set(catalogId, execution);
  }
  const onDiskOnly: string[] = [];
  for (const entry of await fs.readdir(outDir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory() && !known.has(entry.name) && CatalogId.safeParse(entry.name).success) {
      const report = catalogReportPaths(outDir, entry.name).json;
      if (await fs.access(report).then(() => true, () => false)) onDiskOnly.push(entry.name);
    }
  }
  return Promise.all([
    ...[...known].map(([catalogId, execution]) => summarize(client, outDir, catalogId, execution)),
    ...onDiskOnly.sort().map((catalogId) => summarize(client, outDir, catalogId)),
  ]);
}

function skuFromManifest(catalogId: string, manifest: AssetManifest): SkuView {
  return {
    sku: manifest.sku,
    row: manifest.row,
    status: manifest.status,
    error: manifest.error ? `${manifest.error.code}: ${manifest.error.message}` : undefined,
    glbs: Object.fromEntries(Object.entries(manifest.glbs).map(([preset, output]) => [preset, link(catalogId, manifest.sku, output)])),
    preview: manifest.preview ? link(catalogId, manifest.sku, manifest.preview) : undefined,
    ...finishedViews(catalogId, manifest.sku, manifest),
  };
}

/** A running catalog: its asset workflows (stage from the TrellisStage attribute) and finished manifests. */
async function liveSkus(client: Client, outDir: string, catalogId: string, running: CatalogSummary['running']): Promise<SkuView[]> {
  const assets = newestPerWorkflow(
    await listExecutions(client, `WorkflowType = 'convertAsset' AND ${searchAttributeNames.catalogId} = ${visibilityLiteral(catalogId)}`),
  );
  const bySku = new Map<string, SkuView>();
  for (const asset of assets) {
    const sku = asset.typedSearchAttributes.get(skuKey);
    if (!sku) continue;
    const closed = asset.status.name !== 'RUNNING';
    const manifest = closed ? await readJson(manifestPath(outDir, catalogId, sku), AssetManifest) : undefined;
    bySku.set(
      sku,
      manifest
        ? skuFromManifest(catalogId, manifest)
        : { sku, status: closed ? asset.status.name.toLowerCase() : 'running', stage: asset.typedSearchAttributes.get(stageKey), glbs: {} },
    );
  }
  // The catalog's own view: only it knows of assets starting or blocked; their steps are in visibility.
  for (const { sku, stage } of running) {
    const view = bySku.get(sku);
    if (view && view.status !== 'running') continue;
    const known = view?.stage && stage === 'running' ? view.stage : stage;
    bySku.set(sku, { ...(view ?? { sku, glbs: {} }), status: 'running', stage: known });
  }
  return [...bySku.values()].sort((a, b) => (a.row ?? Number.MAX_SAFE_INTEGER) - (b.row ?? Number.MAX_SAFE_INTEGER) || a.sku.localeCompare(b.sku));
}

async function findCatalog(client: Client, outDir: string, catalogId: string): Promise<CatalogSummary | undefined> {
  const [execution] = newestPerWorkflow(
    await listExecutions(client, `WorkflowType = 'convertCatalog' AND ${searchAttributeNames.catalogId} = ${visibilityLiteral(catalogId)}`),
  ).sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  if (execution) return summarize(client, outDir, catalogId, execution);
  const hasReport = await fs.access(catalogReportPaths(outDir, catalogId).json).then(() => true, () => false);
  return hasReport ? summarize(client, outDir, catalogId) : undefined;
}

export async function catalogDetail(client: Client, outDir: string, catalogId: string): Promise<CatalogDetail | undefined> {
  if (!CatalogId.safeParse(catalogId).success) return undefined;
  const summary = await findCatalog(client, outDir, catalogId);
  if (!summary) return undefined;
  if (summary.live) return { ...summary, skus: await liveSkus(client, outDir, catalogId, summary.running) };
  const report = await readJson(catalogReportPaths(outDir, catalogId).json, CatalogReport);
  // Ended without a report (terminated, failed): what Temporal and the manifests still say.
  if (!report) return { ...summary, skus: await liveSkus(client, outDir, catalogId, []) };
  const skus: SkuView[] = report.rows.map((row) => ({
    sku: row.sku,
    row: row.row,
    status: row.status,
    error: row.error,
    glbs: Object.fromEntries(Object.entries(row.glbs).map(([preset, output]) => [preset, link(catalogId, row.sku, output)])),
    preview: row.preview ? link(catalogId, row.sku, row.preview) : undefined,
    ...finishedViews(catalogId, row.sku, row),
  }));
  return { ...summary, skus };
}
