// A whole catalog: a sliding window of convertAsset children (Temporal's batch-sliding-window pattern).
// At most `concurrency` assets run at once; every `continueAsNewAfter` started children the workflow
// continues as new with its state carried, so history stays bounded for 10,000-row catalogs. Children are
// ABANDONed (the close policy also applies at continue-as-new) and report back by signal to the catalog's
// workflow id, so whichever run is current hears them.
import {
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '@trellis/activities';
import {
  ConvertCatalogInput,
  SamplerSettings,
  addUsage,
  assetWorkflowId,
  noUsage,
  AssetSummary as AssetSummarySchema,
  type AssetSummary,
  type CatalogPage,
  type CatalogProgress,
  type CatalogResult,
  type CatalogRow,
  type CatalogRunState,
  type ConvertAssetInput,
  type ConvertCatalogParams,
  type ResumeRequest,
} from '@trellis/contracts';
import { assetCostEstimate, budgetPauseReason, withinBudget } from './catalog-budget';
import { fileActivityOptions } from './activity-options';
import { convertAsset } from './convert-asset';
import { assetFinishedSignal, assetStageSignal, cancelSignal, pauseSignal, progressQuery, resumeSignal } from './messages';
import { catalogIdKey, skuKey, stageKey } from './search-attributes';

const { snapshotCatalog, loadCatalogPage, writeCatalogReport, writeAssetManifest, reconcileAssets } =
  proxyActivities<Activities>(fileActivityOptions);

/** How long a cancelled catalog waits for its running assets to record their cancellation. */
const CANCEL_DRAIN_TIMEOUT = '10 minutes';

export function initialRunState(): CatalogRunState {
  return {
    runNumber: 1,
    nextOffset: 0,
    totalRows: null,
    invalidRows: 0,
    inFlight: {},
    finished: { succeeded: 0, skipped: 0, failed: 0, cancelled: 0 },
    usage: noUsage,
    paused: false,
    cancelRequested: false,
  };
}

export async function convertCatalog(rawInput: ConvertCatalogInput, carried?: CatalogRunState): Promise<CatalogResult> {
  const input = ConvertCatalogInput.parse(rawInput);
  const state: CatalogRunState = carried ?? initialRunState();
  // [h-catalog] The budget starts as the input's; a resume may lift it (null) or replace it.
  if (!carried) state.maxCostUsd = input.maxCostUsd ?? null;
  const presetsByName = new Map(input.settings.presets.map((preset) => [preset.name, preset]));

  const progress = (): CatalogProgress => {
    const running = Object.keys(state.inFlight).length;
    const done = Object.values(state.finished).reduce((sum, count) => sum + count, 0);
    const status = state.cancelRequested ? 'cancelling' : state.paused ? 'paused' : 'running';
    return {
      catalogId: input.catalogId,
      status,
      totalRows: state.totalRows,
      invalidRows: state.invalidRows,
      counts: { ...state.finished, running, pending: Math.max(0, (state.totalRows ?? 0) - done - running) },
      running: Object.entries(state.inFlight).map(([sku, { stage }]) => ({ sku, stage })),
      usage: state.usage,
      runNumber: state.runNumber,
      pauseReason: state.paused ? state.pauseReason : undefined,
      maxCostUsd: state.maxCostUsd,
    };
  };
  const publish = () => setCurrentDetails(describeProgress(progress()));

  const recordFinished = (result: AssetSummary) => {
    // Duplicates (signal and child result both arriving, or a retried signal) are ignored.
    if (!state.inFlight[result.sku]) return;
    delete state.inFlight[result.sku];
    state.finished[result.status] += 1;
    state.usage = addUsage(state.usage, result.usage);
    publish();
  };

  setHandler(progressQuery, progress);
  setHandler(pauseSignal, () => void ((state.paused = true), publish()));
  // [h-catalog] After a budget pause, a plain resume goes on without a budget; `maxCostUsd` sets a new one.
  setHandler(resumeSignal, (request?: ResumeRequest) => {
    if (request?.maxCostUsd !== undefined) state.maxCostUsd = request.maxCostUsd;
    else if (state.pauseReason !== undefined) state.maxCostUsd = null;
    state.paused = false;
    state.pauseReason = undefined;
    publish();
  });
  setHandler(cancelSignal, () => void ((state.cancelRequested = true), publish()));
  setHandler(assetStageSignal, ({ sku, stage }) => {
    const entry = state.inFlight[sku];
    if (entry) entry.stage = stage;
  });
  setHandler(assetFinishedSignal, recordFinished);
  publish();

  /** A row naming a preset nobody defined fails alone, with a manifest saying why. */
  const failRow = async (row: CatalogRow, error: NonNullable<AssetSummary['error']>) => {
    await writeAssetManifest({
      sku: row.sku,
      row: row.row,
      status: 'failed',
      error,
      glbs: {},
      usage: noUsage,
      generateCalls: 0,
      extractCalls: 0,
      catalogId: input.catalogId,
      image: row.image,
      inputHash: '',
      seed: row.seed ?? input.settings.seed,
      pipelineType: row.pipeline_type ?? input.settings.pipelineType,
      presets: [],
      finishedAt: new Date(Date.now()).toISOString(),
    }, input.outDir);
    state.finished.failed += 1;
    publish();
  };

  /** The presets a row asks for that exist (unknown ones fail the row in startAsset). */
  const presetsOf = (row: CatalogRow) =>
    (row.presets ?? input.settings.defaultPresetNames).flatMap((name) => (presetsByName.has(name) ? [presetsByName.get(name)!] : []));

  const startAsset = async (row: CatalogRow) => {
    const names = row.presets ?? input.settings.defaultPresetNames;
    const unknown = names.filter((name) => !presetsByName.has(name));
    if (unknown.length > 0) {
      const known = [...presetsByName.keys()].join(', ');
      return failRow(row, {
        code: 'validation_error',
        message: `row ${row.row}, field presets: unknown preset ${unknown.join(', ')}; known: ${known}. Fix the row or add the preset with --presets-file.`,
      });
    }
    const presets = names.map((name) => presetsByName.get(name)!);
    const childInput: ConvertAssetInput = {
      catalogId: input.catalogId,
      sku: row.sku,
      row: row.row,
      image: row.image,
      catalogPath: input.catalogPath,
      outDir: input.outDir,
      seed: row.seed ?? input.settings.seed,
      pipelineType: row.pipeline_type ?? input.settings.pipelineType,
      sampler: nonDefaultSampler(input.settings.sampler),
      presets,
      parentWorkflowId: workflowInfo().workflowId,
    };
    state.inFlight[row.sku] = { row: row.row, stage: 'queued', estimatedCostUsd: assetCostEstimate(state, childInput.pipelineType, presets) };
    const child = await startChild(convertAsset, {
      workflowId: assetWorkflowId(input.catalogId, row.sku),
      args: [childInput],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: catalogIdKey, value: input.catalogId },
        { key: skuKey, value: row.sku },
        { key: stageKey, value: 'queued' },
      ],
      staticSummary: `${row.sku} (row ${row.row}) of catalog ${input.catalogId}`,
    });
    // Within this run the child's own result is a second, signal-independent way to learn it finished
    // (e.g. a child terminated by hand never signals). Later runs rely on the signal.
    // [h-catalog] A failed asset ends its workflow Failed, carrying its summary as the failure's details:
    // recordFinished ignores whichever of signal and result comes second, so nothing is counted twice.
    child.result().then(recordFinished, (error: unknown) =>
      recordFinished(
        failedChildSummary(error) ?? {
          sku: row.sku,
          row: row.row,
          status: isCancellation(error) ? 'cancelled' : 'failed',
          error: { code: 'child_failed', message: String(error) },
          usage: noUsage,
          generateCalls: 0,
        },
      ),
    );
    publish();
  };

  const inFlightCount = () => Object.keys(state.inFlight).length;
  /** Waits until `ready()`; when that takes long, learns of assets that ended without reporting. */
  const waitFor = async (ready: () => boolean) => {
    while (!ready()) {
      // With nothing running, only a signal (resume, cancel) can change anything: no timer needed.
      if (inFlightCount() === 0) return condition(ready);
      if (await condition(ready, input.reconcileAfterSeconds * 1000)) return;
      const running = Object.entries(state.inFlight).map(([sku, { row }]) => ({ sku, row }));
      (await reconcileAssets(input.catalogId, running)).forEach(recordFinished);
    }
  };
  let startedThisRun = 0;
  let page: CatalogPage | undefined;
  let pageIndex = 0;

  try {
    while (!state.cancelRequested) {
      if (state.snapshotId === undefined) {
        // [h-catalog] The catalog is parsed and validated once per run, into a snapshot pages are read from.
        const snapshot = await snapshotCatalog({ catalogId: input.catalogId, catalogPath: input.catalogPath, outDir: input.outDir, catalog: input.catalog });
        if (snapshot.replacedCatalogSha256) {
          log.info('the catalog file changed since the last run of this catalog id: read it into a new snapshot', {
            catalogId: input.catalogId, catalogSha256: snapshot.catalogSha256, previousSha256: snapshot.replacedCatalogSha256,
          });
        }
        state.snapshotId = snapshot.snapshotId;
        state.totalRows = snapshot.totalRows;
        state.invalidRows = snapshot.problemCount;
        publish();
      }
      if (!page || pageIndex >= page.rows.length) {
        if (state.totalRows !== null && state.nextOffset >= state.totalRows) break;
        page = await loadCatalogPage({ catalogId: input.catalogId, outDir: input.outDir, snapshotId: state.snapshotId, offset: state.nextOffset, limit: input.pageSize });
        pageIndex = 0;
        if (page.rows.length === 0) break;
      }
      const row = page.rows[pageIndex]!;
      // [h-catalog] --max-cost: wait for running assets to report their real cost before deciding to pause.
      const cost = assetCostEstimate(state, row.pipeline_type ?? input.settings.pipelineType, presetsOf(row));
      await waitFor(() => state.cancelRequested || (!state.paused && inFlightCount() < input.concurrency && (withinBudget(state, cost) || inFlightCount() === 0)));
      if (state.cancelRequested) break;
      if (!withinBudget(state, cost)) {
        state.paused = true;
        state.pauseReason = budgetPauseReason(state, input.catalogId, row.sku, cost);
        log.info('catalog paused by its cost budget', { catalogId: input.catalogId, reason: state.pauseReason });
        publish();
        continue;
      }
      await startAsset(row);
      pageIndex += 1;
      state.nextOffset += 1;
      startedThisRun += 1;

      const moreToStart = state.totalRows !== null && state.nextOffset < state.totalRows;
      if (moreToStart && (startedThisRun >= input.continueAsNewAfter || workflowInfo().continueAsNewSuggested)) {
        await condition(allHandlersFinished);
        return await continueAsNew<typeof convertCatalog>(rawInput, { ...state, runNumber: state.runNumber + 1 });
      }
    }
    if (state.cancelRequested) await cancelInFlight(input, state, inFlightCount);
    else await waitFor(() => inFlightCount() === 0);
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // The catalog workflow itself was cancelled (e.g. from the Web UI): stop its assets, then report.
    state.cancelRequested = true;
    await CancellationScope.nonCancellable(async () => {
      await cancelInFlight(input, state, inFlightCount);
      await writeReport(input, state);
    });
    throw error;
  }
  return writeReport(input, state);
}

/** The summary a failed asset workflow attaches to its failure (details[0]), when it is one. */
function failedChildSummary(error: unknown): AssetSummary | undefined {
  const details = (error as { cause?: { details?: unknown[] } } | undefined)?.cause?.details;
  const parsed = AssetSummarySchema.safeParse(details?.[0]);
  return parsed.success ? parsed.data : undefined;
}

/** Default sampler settings stay out of every child's history; the service fills them in. */
function nonDefaultSampler(sampler: SamplerSettings): Partial<SamplerSettings> | undefined {
  const defaults = SamplerSettings.parse({});
  const changed = Object.entries(sampler).filter(([key, value]) => defaults[key as keyof SamplerSettings] !== value);
  return changed.length > 0 ? Object.fromEntries(changed) : undefined;
}

async function cancelInFlight(input: ConvertCatalogParams, state: CatalogRunState, inFlightCount: () => number) {
  const skus = Object.keys(state.inFlight);
  log.info('cancelling running assets', { catalogId: input.catalogId, count: skus.length });
  await Promise.allSettled(skus.map((sku) => getExternalWorkflowHandle(assetWorkflowId(input.catalogId, sku)).cancel()));
  const drained = await condition(() => inFlightCount() === 0, CANCEL_DRAIN_TIMEOUT);
  if (!drained) {
    for (const sku of Object.keys(state.inFlight)) {
      delete state.inFlight[sku];
      state.finished.cancelled += 1;
    }
  }
}

async function writeReport(input: ConvertCatalogParams, state: CatalogRunState): Promise<CatalogResult> {
  const report = await writeCatalogReport({ catalogId: input.catalogId, catalogPath: input.catalogPath, outDir: input.outDir, snapshotId: state.snapshotId });
  const done = Object.values(state.finished).reduce((sum, count) => sum + count, 0);
  return {
    catalogId: input.catalogId,
    status: state.cancelRequested ? 'cancelled' : 'completed',
    counts: { ...state.finished, running: 0, pending: Math.max(0, (state.totalRows ?? 0) - done) },
    usage: state.usage,
    reportJsonPath: report.reportJsonPath,
    reportCsvPath: report.reportCsvPath,
  };
}

/** Markdown for the Web UI's "current details" panel. */
function describeProgress(progress: CatalogProgress): string {
  const { counts } = progress;
  const running = progress.running.map(({ sku, stage }) => `- \`${sku}\`: ${stage}`).join('\n');
  return [
    `**Catalog ${progress.catalogId}**: ${progress.status}, run ${progress.runNumber}`,
    `${counts.succeeded} succeeded, ${counts.skipped} skipped, ${counts.failed} failed, ${counts.cancelled} cancelled, ` +
      `${counts.running} running, ${counts.pending} pending of ${progress.totalRows ?? '?'} rows` +
      (progress.invalidRows ? ` (${progress.invalidRows} invalid rows, see the report)` : ''),
    `GPU ${progress.usage.gpuSeconds.toFixed(1)} s, estimated $${progress.usage.estimatedCostUsd.toFixed(4)}`,
    progress.pauseReason ?? '',
    running ? `Running:\n${running}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}
