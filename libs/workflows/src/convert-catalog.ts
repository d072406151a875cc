// A whole catalog: a sliding window of convertAsset children (Temporal's batch-sliding-window pattern).
// At most `concurrency` assets run at once; every `continueAsNewAfter` started children the workflow
// continues as new with its state carried, so history stays bounded for 10,000-row catalogs. Children are
// ABANDONed (the close policy also applies at continue-as-new) and report back by signal to the catalog's
// workflow id, so whichever run is current hears them. The ledger is catalog-window.ts; starting,
// adopting and reconciling children is asset-children.ts.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '@trellis/activities';
import {
  ConvertCatalogInput,
  type CatalogPage,
  type CatalogProgress,
  type CatalogResult,
  type CatalogRow,
  type CatalogRunState,
  type ConvertCatalogParams,
} from '@trellis/contracts';
import { catalogActivityOptions, warmUpOptions } from './activity-options';
import { AssetChildren } from './asset-children';
import { CatalogWindow, initialRunState } from './catalog-window';
import {
  assetBlockedSignal,
  assetFinishedSignal,
  assetStageSignal,
  cancelSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
} from './messages';

const { loadCatalogPage, writeCatalogReport } = proxyActivities<Activities>(catalogActivityOptions);
const { warmUp } = proxyActivities<Activities>(warmUpOptions);

export { initialRunState };

export async function convertCatalog(rawInput: ConvertCatalogInput, carried?: CatalogRunState): Promise<CatalogResult> {
  const input = ConvertCatalogInput.parse(rawInput);
  const publish = () => setCurrentDetails(describeProgress(window.progress()));
  const window = new CatalogWindow(input.catalogId, carried ?? initialRunState(), input.concurrency, publish);
  publish();
  const children = new AssetChildren(input, window);
  setHandler(progressQuery, () => window.progress());
  setHandler(pauseSignal, () => window.pause());
  setHandler(resumeSignal, () => children.release(window.resume()));
  setHandler(cancelSignal, () => window.cancel());
  setHandler(assetStageSignal, (update) => window.setStage(update));
  setHandler(assetFinishedSignal, (summary) => void window.finish(summary));
  setHandler(assetBlockedSignal, (report) => window.block(report));
  // Once per catalog, beside the first assets rather than before each: a cold GPU starts while rows load.
  const warming = window.state.runNumber === 1 ? warmUpOnce(window) : Promise.resolve();
  const rows = new CatalogRows(input, window);
  let startedThisRun = 0;

  try {
    for (let row = await rows.next(); row && !window.state.cancelRequested; row = await rows.next()) {
      await children.waitFor(() => window.hasRoom());
      if (window.state.cancelRequested) break;
      await children.start(row);
      window.rowStarted();
      startedThisRun += 1;
      if (!window.allStarted() && (startedThisRun >= input.continueAsNewAfter || workflowInfo().continueAsNewSuggested)) {
        await Promise.all([warming, children.settle(), condition(allHandlersFinished)]);
        return await continueAsNew<typeof convertCatalog>(rawInput, { ...window.state, runNumber: window.state.runNumber + 1 });
      }
    }
    if (window.state.cancelRequested) await children.cancelAll();
    else await children.waitFor(() => window.runningCount === 0);
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // The catalog workflow itself was cancelled (e.g. from the Web UI): stop its assets, then report.
    window.cancel();
    await CancellationScope.nonCancellable(async () => {
      await children.cancelAll();
      await writeReport(input, window);
    });
    throw error;
  }
  await Promise.all([warming, children.settle()]);
  return writeReport(input, window);
}

/** The catalog's rows in order, a page at a time, from where the carried state left off. */
class CatalogRows {
  private page: CatalogPage | undefined;
  private index = 0;

  constructor(
    private readonly input: ConvertCatalogParams,
    private readonly window: CatalogWindow,
  ) {}

  async next(): Promise<CatalogRow | undefined> {
    if (!this.page || this.index >= this.page.rows.length) {
      if (this.window.allStarted()) return undefined;
      const offset = this.window.state.nextOffset;
      this.page = await loadCatalogPage(this.input.catalogPath, offset, this.input.pageSize);
      this.index = 0;
      this.window.pageLoaded(this.page.totalRows, offset === 0 ? this.page.problems.length : undefined);
      if (this.page.rows.length === 0) return undefined;
    }
    return this.page.rows[this.index++];
  }
}

/** Wakes the service's GPUs up; its cost counts, its failure does not (the first generate waits instead). */
async function warmUpOnce(window: CatalogWindow): Promise<void> {
  try {
    window.addUsage((await warmUp()).usage);
  } catch (error) {
    log.warn('warm-up failed; assets will wait for a cold start instead', { error: String(error) });
  }
}

async function writeReport(input: ConvertCatalogParams, window: CatalogWindow): Promise<CatalogResult> {
  const report = await writeCatalogReport({ catalogId: input.catalogId, catalogPath: input.catalogPath, outDir: input.outDir });
  return {
    catalogId: input.catalogId,
    status: window.state.cancelRequested ? 'cancelled' : 'completed',
    counts: { ...window.counts(), running: 0 },
    usage: window.state.usage,
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
    running ? `Running:\n${running}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}
