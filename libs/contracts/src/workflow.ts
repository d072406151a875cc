// Workflow inputs, results, progress, and the files they leave behind (manifest, report).
// Everything here travels through Temporal history or lands on disk: small, no image/GLB bytes.
import { z } from 'zod';
import { CatalogId, CatalogReadOptions, CatalogRowProblem, Sku } from './catalog';
import { AssetStatus, ReportRowState } from './asset-state';
import { Channel, ChannelFileReport, ChannelName, ProductSize } from './channels';
import { Usage } from './cost';
import { PipelineType, Preset, PresetName, SamplerSettings, Seed } from './pipeline';
import { skuFolderName } from './sku-folder';
import { NotifySettings } from './notify-settings';
import { QualityReport } from './quality';
import { RecordedReviewDecision, ReviewSettings } from './review';

export const TASK_QUEUE = 'trellis';
/**
 * The one task queue setting: `TRELLIS_TASK_QUEUE`, read by the worker and by every start (CLI, API,
 * demo), so they cannot disagree. The environment is passed in: workflow code never reads it.
 */
export const taskQueueFrom = (env: Record<string, string | undefined>): string => {
  const value = env.TRELLIS_TASK_QUEUE?.trim();
  return value ? value : TASK_QUEUE;
};
/**
 * `TRELLIS_FINISH_TASK_QUEUE`: where the finishing activities (channel files) run, on workers of their
 * own; unset, the task queue + "-finish" (`trellis-finish`), which is also what a workflow uses when its
 * start did not name one.
 */
export const finishTaskQueueFrom = (env: Record<string, string | undefined>): string => {
  const value = env.TRELLIS_FINISH_TASK_QUEUE?.trim();
  return value ? value : `${taskQueueFrom(env)}-finish`;
};
export const catalogWorkflowId = (catalogId: string) => `catalog/${catalogId}`;
/** From the SKU's folder name, never the raw SKU: safe characters, stable, at most ~130 characters. */
export const assetWorkflowId = (catalogId: string, sku: string) => `asset/${catalogId}/${skuFolderName(sku)}`;

/** Settings a catalog run applies to every row that does not set its own. */
export const ConversionSettings = z.object({
  presets: z.array(Preset).min(1),
  defaultPresetNames: z.array(PresetName).min(1),
  pipelineType: PipelineType,
  seed: Seed,
  sampler: SamplerSettings,
  /** Channel files made from each SKU's GLBs (`--channels`); their source presets are always extracted. */
  channels: z.array(Channel).optional(),
});
export type ConversionSettings = z.infer<typeof ConversionSettings>;

/**
 * The presets a row's asset extracts, by name: the row's own or the catalog's defaults, and every channel's source
 * preset (its files are made from that GLB). The one rule the workflow, the rerun check and `estimate` share.
 */
export function presetNamesOfRow(settings: Pick<ConversionSettings, 'defaultPresetNames' | 'channels'>, row: { presets?: readonly string[] | undefined }): string[] {
  const channelSources = (settings.channels ?? []).map((channel) => channel.profile.source_preset);
  return [...new Set([...(row.presets ?? settings.defaultPresetNames), ...channelSources])];
}

/**
 * A storage location in a workflow input: an absolute local path, or `s3://bucket[/key]`. Nothing else: no
 * other scheme, and no userinfo (`s3://key:secret@...` cannot pass), so no credential rides in history.
 */
export const StorageLocation = z
  .string()
  .min(1)
  .max(4096)
  .refine((value) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/|$)/.test(value), {
    message: 'must be a local path or s3://bucket/prefix (no other scheme, no credentials in the location)',
  });

export const ConvertCatalogInput = z.object({
  catalogId: CatalogId,
  /** The catalog file or image folder as seen by the workers: an absolute path, or s3://bucket/key (staged or given). */
  catalogPath: StorageLocation,
  /** The out location: an absolute folder, or s3://bucket/prefix; outputs go to `<outDir>/<catalogId>/<sku>/`. */
  outDir: StorageLocation,
  settings: ConversionSettings,
  /** Column mapping, sheet and image position for catalogs not written with `sku`/`image` columns. */
  catalog: CatalogReadOptions.optional(),
  /** Pause before the estimated cost so far plus the next asset's would pass this many USD. */
  maxCostUsd: z.number().positive().optional(),
  /** Assets converted at once: size it to the GPU containers available (Modal max_containers). */
  concurrency: z.number().int().min(1).max(500).default(4),
  /**
   * Rows started beyond `concurrency`, so each container finds its next job already queued when it
   * finishes one, instead of idling through the Temporal steps between an asset's jobs and the next
   * asset's. Worth it only when the deployment's max_containers caps the containers at `concurrency`
   * (otherwise Modal starts more containers for the extra jobs); 0 keeps exactly `concurrency` running.
   */
  lookahead: z.number().int().min(0).max(500).default(0),
  /** Rows loaded per catalog page activity. */
  pageSize: z.number().int().min(1).max(1000).default(100),
  /** Continue-as-new after this many children started, to keep history bounded. */
  continueAsNewAfter: z.number().int().min(1).max(1000).default(200),
  /**
   * While waiting on running assets this long without news, ask Temporal whether any ended without
   * reporting (e.g. terminated by hand), so none holds a window slot forever.
   */
  reconcileAfterSeconds: z.number().int().min(1).max(3600).default(300),
  /**
   * An asset workflow still running after this long is stuck (e.g. a workflow task failing in a loop
   * after a bad deploy): Temporal times it out and the catalog reports that row failed and goes on.
   */
  assetTimeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).default(3 * 3600),
  /** Completion webhooks (`--notify`); the signing secret stays in the workers' environment. */
  notify: NotifySettings.optional(),
  /**
   * Task queue of the finishing activities (channel files): TRELLIS_FINISH_TASK_QUEUE where the run is
   * started; unset, the catalog's own task queue + "-finish".
   */
  finishTaskQueue: z.string().min(1).max(200).optional(),
  /** Review mode (`--review`): which models wait for a person before their other presets and channels. Absent: off. */
  review: ReviewSettings.optional(),
});
export type ConvertCatalogInput = z.input<typeof ConvertCatalogInput>;
export type ConvertCatalogParams = z.output<typeof ConvertCatalogInput>;

/** `blocked`: waiting for the worker's service credentials to be fixed (the catalog paused itself). */
/**
 * `running`: the catalog knows only that the asset started; the asset's own TrellisStage search attribute
 * says which step it is on (clients merge it in: `getCatalogProgress`, the dashboard).
 */
/** `in_review`: waiting for a person's decision (review mode); it holds no worker slot, GPU or window slot. */
/** `channel_files`: making the channel files from the GLBs, on the finish task queue. */
export const assetStages = ['queued', 'running', 'preparing', 'generating', 'extracting', 'in_review', 'channel_files', 'blocked', 'done'] as const;
export const AssetStage = z.enum(assetStages);
export type AssetStage = z.infer<typeof AssetStage>;

export const ConvertAssetInput = z.object({
  catalogId: CatalogId,
  sku: Sku,
  row: z.number().int().min(1),
  /** The image as written in the catalog; relative paths resolve against the catalog's folder. */
  image: z.string(),
  catalogPath: z.string(),
  outDir: z.string(),
  seed: Seed,
  pipelineType: PipelineType,
  /** Only settings that differ from the defaults travel; the service applies the rest. */
  sampler: SamplerSettings.partial().optional(),
  presets: z.array(Preset).min(1),
  /** Parent to tell about stage changes and completion (by id, so a continued parent still hears). */
  parentWorkflowId: z.string().optional(),
  /** Set only when the catalog asked for per-asset webhooks (`--notify-assets`). */
  notify: NotifySettings.optional(),
  /** Channel files to make after the GLBs, on the finish task queue. */
  channels: z.array(Channel).optional(),
  /** The product's real-world size from the catalog's size columns. */
  size: ProductSize.optional(),
  finishTaskQueue: z.string().min(1).max(200).optional(),
  /** Set only when the catalog's review mode is not off. */
  review: ReviewSettings.optional(),
});
export type ConvertAssetInput = z.infer<typeof ConvertAssetInput>;

export { AssetStatus };

export const AssetError = z.object({ code: z.string(), message: z.string() });
export type AssetError = z.infer<typeof AssetError>;

export const OutputFile = z.object({
  /** Path relative to the asset folder, e.g. "fast.glb". */
  file: z.string(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** True when an existing file with the same input hash was kept instead of calling the GPU. */
  reused: z.boolean(),
});
export type OutputFile = z.infer<typeof OutputFile>;

export const AssetResult = z.object({
  sku: Sku,
  row: z.number().int().min(1),
  status: AssetStatus,
  error: AssetError.optional(),
  glbs: z.record(PresetName, OutputFile),
  preview: OutputFile.optional(),
  usage: Usage,
  generateCalls: z.number().int().min(0),
  extractCalls: z.number().int().min(0),
});
export type AssetResult = z.infer<typeof AssetResult>;

/** What an asset workflow returns and signals to its catalog: small; the full result is its manifest. */
export const AssetSummary = AssetResult.pick({ sku: true, row: true, status: true, error: true, usage: true, generateCalls: true }).extend({
  /** The asset execution's first run id, so a catalog can ignore a late report from an older execution. */
  runId: z.string().optional(),
});
export type AssetSummary = z.infer<typeof AssetSummary>;

/** `manifest.json` in each asset folder: what was made, from what, and by which settings. */
export const AssetManifest = AssetResult.extend({
  catalogId: CatalogId,
  /** The asset folder's name derived from the SKU (skuFolderName): the SKU -> folder mapping. */
  folder: z.string().optional(),
  image: z.string(),
  imageSha256: z.string().optional(),
  inputHash: z.string(),
  seed: Seed,
  pipelineType: PipelineType,
  presets: z.array(Preset),
  finishedAt: z.string(),
  /** The size the catalog gave (channel files are scaled to it). */
  size: ProductSize.optional(),
  /** One entry per requested channel: the file and its validator report, or why it was not delivered. */
  channels: z.record(ChannelName, ChannelFileReport).optional(),
  /** `poster.webp`: a frame of the preview, for `<model-viewer poster>` and listing pages. */
  poster: OutputFile.optional(),
  /** The quality checks of the cheapest preset's GLB (libs/quality). */
  quality: QualityReport.optional(),
  /** Review decisions on this SKU, oldest first (review mode). */
  reviewDecisions: z.array(RecordedReviewDecision).optional(),
});
export type AssetManifest = z.infer<typeof AssetManifest>;

/** Assets by state (the words of asset-state.ts). */
const statusCountsShape = {
  waiting: z.number().int().min(0),
  running: z.number().int().min(0),
  done: z.number().int().min(0),
  reused: z.number().int().min(0),
  failed: z.number().int().min(0),
  cancelled: z.number().int().min(0),
};
export const StatusCounts = z.object(statusCountsShape);
export type StatusCounts = z.infer<typeof StatusCounts>;
const FinishedCounts = z.object({ done: statusCountsShape.done, reused: statusCountsShape.reused, failed: statusCountsShape.failed, cancelled: statusCountsShape.cancelled });

export const CatalogRunStatus = z.enum(['running', 'paused', 'cancelling', 'completed', 'cancelled']);
export type CatalogRunStatus = z.infer<typeof CatalogRunStatus>;

/** Answer of the `progress` query. */
export const CatalogProgress = z.object({
  catalogId: CatalogId,
  status: CatalogRunStatus,
  /** Valid rows in the catalog (null until the first page is loaded). */
  totalRows: z.number().int().min(0).nullable(),
  /** Rows that failed validation; they are listed in the report and never started. */
  invalidRows: z.number().int().min(0),
  counts: StatusCounts,
  running: z.array(z.object({ sku: Sku, stage: AssetStage })),
  usage: Usage,
  runNumber: z.number().int().min(1),
  /** Why the catalog is paused, when it paused itself (its cost budget, refused credentials). */
  pauseReason: z.string().optional(),
  /** The cost budget in force (null: none). */
  maxCostUsd: z.number().nullable().optional(),
  reportPath: z.string().optional(),
  /** Running assets waiting for a person's review decision (they hold no window slot). */
  inReview: z.number().int().min(0).optional(),
});
export type CatalogProgress = z.infer<typeof CatalogProgress>;

export const ReportRow = z.object({
  row: z.number().int().min(1),
  sku: z.string(),
  folder: z.string().optional(),
  status: ReportRowState,
  error: z.string().optional(),
  glbs: z.record(PresetName, OutputFile),
  preview: OutputFile.optional(),
  usage: Usage,
  size: ProductSize.optional(),
  channels: z.record(ChannelName, ChannelFileReport).optional(),
  poster: OutputFile.optional(),
  /** The quality checks' verdict (the manifest has every check's numbers). */
  quality: QualityReport.pick({ score: true, flagged: true, failing: true }).optional(),
  reviewDecisions: z.array(RecordedReviewDecision).optional(),
});
export type ReportRow = z.infer<typeof ReportRow>;

/** `report.json` (and, flattened, `report.csv`) in `<outDir>/<catalogId>/`. */
export const CatalogReport = z.object({
  catalogId: CatalogId,
  catalogPath: z.string(),
  outDir: z.string(),
  generatedAt: z.string(),
  counts: z.record(z.string(), z.number().int().min(0)),
  /** All GPU work: the rows' plus the catalog's warm-up. */
  usage: Usage,
  /** The catalog's one warm-up (a cold start is paid by the catalog, not by one of its rows). */
  warmUpUsage: Usage.optional(),
  rows: z.array(ReportRow),
  problems: z.array(CatalogRowProblem),
});
export type CatalogReport = z.infer<typeof CatalogReport>;

/** Workflow result of `convertCatalog`: a summary; the full report is on disk. */
export const CatalogResult = z.object({
  catalogId: CatalogId,
  status: z.enum(['completed', 'cancelled']),
  counts: StatusCounts,
  usage: Usage,
  reportJsonPath: z.string(),
  reportCsvPath: z.string(),
});
export type CatalogResult = z.infer<typeof CatalogResult>;

/** What `convertCatalog` carries across continue-as-new (and starts from, empty, on the first run). */
export const CatalogRunState = z.object({
  runNumber: z.number().int().min(1),
  /** Index (among valid rows) of the next row to start. */
  nextOffset: z.number().int().min(0),
  totalRows: z.number().int().min(0).nullable(),
  invalidRows: z.number().int().min(0),
  /** Running assets; `runId` is the child execution this catalog started (absent for adopted ones). */
  inFlight: z.record(
    Sku,
    z.object({
      row: z.number().int().min(1),
      stage: AssetStage,
      runId: z.string().optional(),
      /** Waiting for a resume after its service calls were refused (credentials). */
      blocked: z.boolean().optional(),
      /** What the asset is expected to cost until it reports (for --max-cost). */
      estimatedCostUsd: z.number().min(0).optional(),
      /** Waiting for a review decision: still running, but its window slot went to the next row. */
      inReview: z.boolean().optional(),
    }),
  ),
  finished: FinishedCounts,
  usage: Usage,
  /** The part of `usage` the catalog's warm-up cost (its report counts it beside the rows). */
  warmUpUsage: Usage.optional(),
  paused: z.boolean(),
  /** Why the catalog paused itself (absent for a pause someone asked for). */
  pauseReason: z.string().optional(),
  /** What paused it: a resume after a budget pause lifts the budget, after a credentials pause it does not. */
  pausedBy: z.enum(['user', 'budget', 'credentials']).optional(),
  cancelRequested: z.boolean(),
  /** The snapshot this catalog run reads its pages from (set by the first run, carried after). */
  snapshotId: z.string().optional(),
  /** The budget in force: the input's maxCostUsd until a resume lifts (null) or replaces it. */
  maxCostUsd: z.number().nullable().optional(),
});
export type CatalogRunState = z.infer<typeof CatalogRunState>;

/** Payload of `resume`: none lifts a cost budget; `maxCostUsd` sets a new one. */
export const ResumeRequest = z.object({ maxCostUsd: z.number().positive().optional() });
export type ResumeRequest = z.infer<typeof ResumeRequest>;

/** An asset whose service calls are refused (bad or revoked credentials): the catalog pauses itself. */
/** An asset starts (`waiting`) or stops waiting for a review decision: the catalog frees or takes back its slot. */
export const AssetReviewWait = z.object({ sku: Sku, runId: z.string().optional(), waiting: z.boolean() });
export type AssetReviewWait = z.infer<typeof AssetReviewWait>;

export const AssetBlocked = z.object({ sku: Sku, runId: z.string().optional(), code: z.string(), message: z.string() });
export type AssetBlocked = z.infer<typeof AssetBlocked>;
