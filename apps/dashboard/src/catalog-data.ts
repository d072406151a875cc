// What the page shows, gathered on the server (the only side holding a Temporal client): catalogs from
// Temporal visibility (WorkflowType + the Trellis search attributes) and their `progress` query while
// running, plus the report.json / manifest.json outputs in the out location (through the output store: a
// folder or object storage) once assets or catalogs end.
import path from 'node:path';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import {
  AssetManifest,
  CatalogId,
  CatalogProgress,
  CatalogReport,
  catalogOutcomeOf,
  describeUsage,
  runPhaseOf,
  searchAttributeNames,
  whyNoGpuWork,
  type OutputFile,
  type ReportRow,
  type StatusCounts,
  type Usage,
} from '@trellis/contracts';
import { catalogIdKey, progressQuery, skuKey, stageKey, visibilityLiteral } from '@trellis/workflows/client';
import { catalogKey, catalogReportKeys, manifestKey, openOutputStore } from '@trellis/activities/files';

export interface CatalogSummary {
  catalogId: string;
  /** running | paused | cancelling | completed | cancelled | failed | terminated | timed_out | unknown */
  status: string;
  /**
   * What its badge says: while live, where the run is (running, paused, cancelling, finishing); once
   * ended, how it went (all done, some failed, all failed, or how the workflow ended: cancelled, terminated ...).
   */
  badge: string;
  /** The GPU work and its cost in the one sentence every surface uses (describeUsage). */
  usageText: string;
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
  /** Assets waiting for a person's decision (stage `in_review`): the review queue's length, for its link. */
  reviewWaiting: number;
}

const emptyCounts = (): StatusCounts => ({ waiting: 0, running: 0, done: 0, reused: 0, failed: 0, cancelled: 0 });
const noUsage = (): Usage => ({ gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'measured' });
/** A catalog started this recently may not have written its folder yet: listed while it starts. */
const STARTING_GRACE_MS = 60_000;

/**
 * Error texts go to a browser: absolute paths of this machine become paths relative to the output
 * folder (`spring/MUG-1/manifest.json`); a path outside it (a catalog's image) keeps only its folder and
 * name (`…/shop/broken.png`). Either says as much to the reader and reveals nothing of the machine's layout.
 */
export function pathsRelativeTo(outDir: string, text: string): string {
  return text.replace(/(^|[\s'"(=])(\/[^\s'"():,;]+)/g, (_match, before: string, absolute: string) => {
    const relative = path.relative(outDir, absolute);
    if (relative === '') return `${before}.`;
    if (!relative.startsWith('..')) return `${before}${relative}`;
    return `${before}…/${path.basename(path.dirname(absolute))}/${path.basename(absolute)}`;
  });
}

/** The badge: a live run's phase, or how an ended one went. */
function badgeOf(summary: Pick<CatalogSummary, 'status' | 'live' | 'counts' | 'totalRows'>): string {
  const { counts } = summary;
  if (summary.live) return runPhaseOf(summary.status, counts.done + counts.reused + counts.failed + counts.cancelled, summary.totalRows);
  if (summary.status !== 'completed') return summary.status; // cancelled, terminated, failed, timed_out, unknown
  // Of the rows it ran, as the CLI's summary says it; invalid rows are listed apart, never started.
  return catalogOutcomeOf(counts);
}

/** Fills in the fields derived from the others (badge, usage sentence). */
function withDerived(summary: Omit<CatalogSummary, 'badge' | 'usageText'>): CatalogSummary {
  const whyNone = summary.live ? 'none yet' : whyNoGpuWork(summary.counts);
  return { ...summary, badge: badgeOf(summary), usageText: describeUsage(summary.usage, whyNone) };
}
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

/** A small JSON output (report, manifest) from the store, or undefined when missing or not readable. */
async function readJson<T>(outDir: string, key: string, schema: { parse(value: unknown): T }): Promise<T | undefined> {
  try {
    const bytes = await openOutputStore(outDir).getBytes(key);
    return bytes === undefined ? undefined : schema.parse(JSON.parse(bytes.toString('utf8')));
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

function summaryFromReport(catalogId: string, report: CatalogReport): Omit<CatalogSummary, 'status' | 'live' | 'badge' | 'usageText'> {
  const counts = emptyCounts();
  for (const key of Object.keys(counts) as Array<keyof StatusCounts>) counts[key] = report.counts[key] ?? 0;
  counts.waiting = report.counts.not_converted ?? 0;
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
    return withDerived({
      catalogId,
      status: progress?.status ?? 'running',
      live: true,
      totalRows: progress?.totalRows ?? null,
      invalidRows: progress?.invalidRows ?? 0,
      counts: progress?.counts ?? emptyCounts(),
      usage: progress?.usage ?? noUsage(),
      running: progress?.running ?? [],
      ...timing,
    });
  }
  const report = await readJson(outDir, catalogReportKeys(catalogId).json, CatalogReport);
  const closedStatus = execution ? execution.status.name.toLowerCase() : 'completed';
  if (report) return withDerived({ ...summaryFromReport(catalogId, report), status: closedStatus, live: false, ...timing });
  return withDerived({
    catalogId,
    status: execution ? closedStatus : 'unknown',
    live: false,
    totalRows: null,
    invalidRows: 0,
    counts: emptyCounts(),
    usage: noUsage(),
    running: [],
    ...timing,
  });
}

/** Whether this catalog's outputs are in this dashboard's folder (a run writes its folder as it starts). */
const outputsHere = async (outDir: string, catalogId: string): Promise<boolean> => {
  for await (const _object of openOutputStore(outDir).list(catalogKey(catalogId))) return true;
  return false;
};

const hasReport = async (outDir: string, catalogId: string): Promise<boolean> =>
  (await openOutputStore(outDir).head(catalogReportKeys(catalogId).json, { sha256: false }).catch(() => undefined)) !== undefined;

/** Shown, or known to Temporal but writing elsewhere (its outputs cannot be read from here). */
async function shownHere(outDir: string, catalogId: string, execution: WorkflowExecutionInfo): Promise<boolean> {
  if (await outputsHere(outDir, catalogId)) return true;
  return execution.status.name === 'RUNNING' && Date.now() - execution.startTime.getTime() < STARTING_GRACE_MS;
}

export interface CatalogList {
  catalogs: CatalogSummary[];
  /**
   * Catalogs the Temporal namespace knows whose outputs are not in this folder (another --out, another
   * machine): counted, not shown, since none of their models or reports can be read from here.
   */
  elsewhere: number;
}

/** Catalogs Temporal knows (newest first) whose outputs are here, then any others that left a report here. */
export async function listCatalogs(client: Client, outDir: string): Promise<CatalogList> {
  const executions = newestPerWorkflow(await listExecutions(client, "WorkflowType = 'convertCatalog'"));
  executions.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  const known = new Map<string, WorkflowExecutionInfo>();
  const elsewhere = new Set<string>();
  for (const execution of executions) {
    const catalogId = execution.typedSearchAttributes.get(catalogIdKey) ?? execution.workflowId.replace(/^catalog\//, '');
    if (!CatalogId.safeParse(catalogId).success || known.has(catalogId) || elsewhere.has(catalogId)) continue;
    if (await shownHere(outDir, catalogId, execution)) known.set(catalogId, execution);
    else elsewhere.add(catalogId);
  }
  const onDiskOnly: string[] = [];
  for (const name of await openOutputStore(outDir).listFolders('').catch(() => [] as string[])) {
    if (!known.has(name) && !elsewhere.has(name) && CatalogId.safeParse(name).success) {
      if (await hasReport(outDir, name)) onDiskOnly.push(name);
    }
  }
  const catalogs = await Promise.all([
    ...[...known].map(([catalogId, execution]) => summarize(client, outDir, catalogId, execution)),
    ...onDiskOnly.sort().map((catalogId) => summarize(client, outDir, catalogId)),
  ]);
  return { catalogs, elsewhere: elsewhere.size };
}

/** An asset workflow that ended without writing its manifest, in the asset vocabulary. */
const closedAssetState = (temporalStatus: string) =>
  temporalStatus === 'COMPLETED' ? 'done' : temporalStatus === 'CANCELED' ? 'cancelled' : 'failed';

function skuFromManifest(outDir: string, catalogId: string, manifest: AssetManifest): SkuView {
  return {
    sku: manifest.sku,
    row: manifest.row,
    status: manifest.status,
    error: manifest.error ? pathsRelativeTo(outDir, `${manifest.error.code}: ${manifest.error.message}`) : undefined,
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
    const manifest = closed ? await readJson(outDir, manifestKey(catalogId, sku), AssetManifest) : undefined;
    bySku.set(
      sku,
      manifest
        ? skuFromManifest(outDir, catalogId, manifest)
        : closed
          ? { sku, status: closedAssetState(asset.status.name), error: `the asset workflow ended (${asset.status.name.toLowerCase()}) without writing its outputs`, glbs: {} }
          : { sku, status: 'running', stage: asset.typedSearchAttributes.get(stageKey), glbs: {} },
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
  if (execution) return (await shownHere(outDir, catalogId, execution)) ? summarize(client, outDir, catalogId, execution) : undefined;
  return (await hasReport(outDir, catalogId)) ? summarize(client, outDir, catalogId) : undefined;
}

export async function catalogDetail(client: Client, outDir: string, catalogId: string): Promise<CatalogDetail | undefined> {
  if (!CatalogId.safeParse(catalogId).success) return undefined;
  const summary = await findCatalog(client, outDir, catalogId);
  if (!summary) return undefined;
  if (summary.live) {
    const skus = await liveSkus(client, outDir, catalogId, summary.running);
    return { ...summary, skus, reviewWaiting: skus.filter((sku) => sku.status === 'running' && sku.stage === 'in_review').length };
  }
  const report = await readJson(outDir, catalogReportKeys(catalogId).json, CatalogReport);
  // Ended without a report (terminated, failed): what Temporal and the manifests still say.
  if (!report) return { ...summary, skus: await liveSkus(client, outDir, catalogId, []), reviewWaiting: 0 };
  const skus: SkuView[] = report.rows.map((row) => ({
    sku: row.sku,
    row: row.row,
    status: row.status,
    error: row.error === undefined ? undefined : pathsRelativeTo(outDir, row.error),
    glbs: Object.fromEntries(Object.entries(row.glbs).map(([preset, output]) => [preset, link(catalogId, row.sku, output)])),
    preview: row.preview ? link(catalogId, row.sku, row.preview) : undefined,
    ...finishedViews(catalogId, row.sku, row),
  }));
  return { ...summary, skus, reviewWaiting: 0 };
}
