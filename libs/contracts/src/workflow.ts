// Workflow inputs, results, progress, and the files they leave behind (manifest, report).
// Everything here travels through Temporal history or lands on disk: small, no image/GLB bytes.
import { z } from 'zod';
import { CatalogId, CatalogRowProblem, Sku } from './catalog';
import { Usage } from './cost';
import { PipelineType, Preset, PresetName, SamplerSettings, Seed } from './pipeline';
import { NotifySettings } from './notify-settings';

export const TASK_QUEUE = 'trellis';
export const catalogWorkflowId = (catalogId: string) => `catalog/${catalogId}`;
export const assetWorkflowId = (catalogId: string, sku: string) => `asset/${catalogId}/${sku}`;


/** Settings a catalog run applies to every row that does not set its own. */
export const ConversionSettings = z.object({
  presets: z.array(Preset).min(1),
  defaultPresetNames: z.array(PresetName).min(1),
  pipelineType: PipelineType,
  seed: Seed,
  sampler: SamplerSettings,
});
export type ConversionSettings = z.infer<typeof ConversionSettings>;

export const ConvertCatalogInput = z.object({
  catalogId: CatalogId,
  /** Absolute path of the catalog file or image folder, as seen by the workers. */
  catalogPath: z.string().min(1),
  /** Absolute output root; outputs go to `<outDir>/<catalogId>/<sku>/`. */
  outDir: z.string().min(1),
  settings: ConversionSettings,
  /** Assets converted at once: size it to the GPU containers available (Modal max_containers). */
  concurrency: z.number().int().min(1).max(500).default(4),
  /** Rows loaded per catalog page activity. */
  pageSize: z.number().int().min(1).max(1000).default(100),
  /** Continue-as-new after this many children started, to keep history bounded. */
  continueAsNewAfter: z.number().int().min(1).max(1000).default(200),
  /**
   * While waiting on running assets this long without news, ask Temporal whether any ended without
   * reporting (e.g. terminated by hand), so none holds a window slot forever.
   */
  reconcileAfterSeconds: z.number().int().min(1).max(3600).default(300),
  /** Completion webhooks (`--notify`); the signing secret stays in the workers' environment. */
  notify: NotifySettings.optional(),
});
export type ConvertCatalogInput = z.input<typeof ConvertCatalogInput>;
export type ConvertCatalogParams = z.output<typeof ConvertCatalogInput>;

export const assetStages = ['queued', 'preparing', 'warming_up', 'generating', 'extracting', 'done'] as const;
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
});
export type ConvertAssetInput = z.infer<typeof ConvertAssetInput>;

export const AssetStatus = z.enum(['succeeded', 'skipped', 'failed', 'cancelled']);
export type AssetStatus = z.infer<typeof AssetStatus>;

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
export const AssetSummary = AssetResult.pick({ sku: true, row: true, status: true, error: true, usage: true, generateCalls: true });
export type AssetSummary = z.infer<typeof AssetSummary>;

/** `manifest.json` in each asset folder: what was made, from what, and by which settings. */
export const AssetManifest = AssetResult.extend({
  catalogId: CatalogId,
  image: z.string(),
  imageSha256: z.string().optional(),
  inputHash: z.string(),
  seed: Seed,
  pipelineType: PipelineType,
  presets: z.array(Preset),
  finishedAt: z.string(),
});
export type AssetManifest = z.infer<typeof AssetManifest>;

export const StatusCounts = z.object({
  pending: z.number().int().min(0),
  running: z.number().int().min(0),
  succeeded: z.number().int().min(0),
  skipped: z.number().int().min(0),
  failed: z.number().int().min(0),
  cancelled: z.number().int().min(0),
});
export type StatusCounts = z.infer<typeof StatusCounts>;

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
  reportPath: z.string().optional(),
});
export type CatalogProgress = z.infer<typeof CatalogProgress>;

export const ReportRow = z.object({
  row: z.number().int().min(1),
  sku: z.string(),
  status: z.enum(['succeeded', 'skipped', 'failed', 'cancelled', 'invalid', 'not_converted']),
  error: z.string().optional(),
  glbs: z.record(PresetName, OutputFile),
  preview: OutputFile.optional(),
  usage: Usage,
});
export type ReportRow = z.infer<typeof ReportRow>;

/** `report.json` (and, flattened, `report.csv`) in `<outDir>/<catalogId>/`. */
export const CatalogReport = z.object({
  catalogId: CatalogId,
  catalogPath: z.string(),
  outDir: z.string(),
  generatedAt: z.string(),
  counts: z.record(z.string(), z.number().int().min(0)),
  usage: Usage,
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
  inFlight: z.record(Sku, z.object({ row: z.number().int().min(1), stage: AssetStage })),
  finished: StatusCounts.omit({ pending: true, running: true }),
  usage: Usage,
  paused: z.boolean(),
  cancelRequested: z.boolean(),
});
export type CatalogRunState = z.infer<typeof CatalogRunState>;

/** Signals children send their parent. */
export const AssetStageUpdate = z.object({ sku: Sku, stage: AssetStage });
export type AssetStageUpdate = z.infer<typeof AssetStageUpdate>;
