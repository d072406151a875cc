// A whole catalog: a sliding window of convertAsset children (Temporal's batch-sliding-window pattern).
// At most `concurrency` + `lookahead` assets run at once; every `continueAsNewAfter` started children the workflow
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
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '@trellis/activities';
import {
  ConvertCatalogInput,
  describeUsage,
  withCurrentStateNames,
  type CatalogPage,
  type CatalogProgress,
  type CatalogResult,
  type CatalogRow,
  type CatalogRunState,
  type ConvertCatalogParams,
} from '@trellis/contracts';
import { catalogActivityOptions, warmUpOptions } from './activity-options';
import { AssetChildren } from './asset-children';
import { assetCostEstimate, budgetPauseReason, withinBudget } from './catalog-budget';
import { CatalogWindow, initialRunState } from './catalog-window';
import { catalogFinishedDelivery } from './notify-options';
import { sendWebhook } from './notify-webhook';
import {
  assetBlockedSignal,
  assetFinishedSignal,
  assetReviewWaitSignal,
  assetStageSignal,
  cancelSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
} from './messages';

const { snapshotCatalog, loadCatalogPage, writeCatalogReport } = proxyActivities<Activities>(catalogActivityOptions);
// Reads up to the whole snapshot (hashing local images) on a rerun, so the catalog activities' timeout; a
// few retries, not their unending ones: when it cannot tell, the catalog warms up as before.
const { catalogNeedsGpu } = proxyActivities<Activities>({ ...catalogActivityOptions, retry: { ...catalogActivityOptions.retry, maximumAttempts: 3 } });
const { warmUp } = proxyActivities<Activities>(warmUpOptions);

export { initialRunState };

/** Patch id: the warm-up asks first whether any row needs the GPU (see warmUpOnce). */
const WARM_UP_ONLY_WITH_WORK = 'warm-up-only-with-work';

export async function convertCatalog(rawInput: ConvertCatalogInput, carried?: CatalogRunState): Promise<CatalogResult> {
  const input = ConvertCatalogInput.parse(rawInput);
  const publish = () => setCurrentDetails(describeProgress(window.progress()));
  // A run carried from an earlier version counts under the former words (succeeded, skipped): renamed.
  const state = carried ? { ...carried, finished: withCurrentStateNames(carried.finished) as CatalogRunState['finished'] } : initialRunState(input.maxCostUsd);
  const window = new CatalogWindow(input.catalogId, state, input.concurrency + input.lookahead, publish);
  publish();
  const children = new AssetChildren(input, window);
  setHandler(progressQuery, () => window.progress());
  setHandler(pauseSignal, () => window.pause());
  setHandler(resumeSignal, (request) => children.release(window.resume(request)));
  setHandler(cancelSignal, () => window.cancel());
  setHandler(assetStageSignal, (update) => window.setStage(update)); // asset workflows of earlier versions
  setHandler(assetFinishedSignal, (summary) => void window.finish(summary));
  setHandler(assetBlockedSignal, (report) => window.block(report));
  setHandler(assetReviewWaitSignal, (report) => window.reviewWait(report));
  const rows = new CatalogRows(input, window);
  // Once per catalog, beside the first assets rather than before each: a cold GPU starts while they prepare.
  // Runs begun before the warm-up waited for the snapshot replay as they ran (warm-up first).
  const snapshotReady = patched(WARM_UP_ONLY_WITH_WORK) ? rows.snapshotReady : undefined;
  const warming = window.state.runNumber === 1 ? warmUpOnce(input, window, snapshotReady) : Promise.resolve();
  let startedThisRun = 0;

  try {
    for (let row = await rows.next(); row && !window.state.cancelRequested; row = await rows.next()) {
      const cost = await roomWithinBudget(input, window, children, row);
      if (cost === undefined) break; // cancelled
      children.begin(row, cost);
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
  const result = await writeReport(input, window);
  if (input.notify) await sendWebhook(catalogFinishedDelivery(input.notify, result, workflowInfo().firstExecutionRunId, new Date(Date.now())));
  return result;
}

/**
 * Waits for a free slot in the window whose use stays within the cost budget (`--max-cost`). Before the
 * next asset would pass the budget, the catalog pauses itself, saying why, until a resume lifts or raises
 * it. Returns the row's estimated cost, or undefined when the catalog is being cancelled.
 */
async function roomWithinBudget(
  input: ConvertCatalogParams,
  window: CatalogWindow,
  children: AssetChildren,
  row: CatalogRow,
): Promise<number | undefined> {
  const cost = assetCostEstimate(window.state, row.pipeline_type ?? input.settings.pipelineType, children.knownPresetsOf(row));
  for (;;) {
    // Running assets report their real cost first: they may leave room in the budget.
    await children.waitFor(() => window.hasRoom() && (withinBudget(window.state, cost) || window.runningCount === 0));
    if (window.state.cancelRequested) return undefined;
    if (withinBudget(window.state, cost)) return cost;
    const reason = budgetPauseReason(window.state, input.catalogId, row.sku, cost);
    log.info('catalog paused by its cost budget', { catalogId: input.catalogId, reason });
    window.pause(reason, 'budget');
  }
}

/**
 * The catalog's rows in order, a page at a time, from where the carried state left off. The catalog
 * file is read once per catalog run, into a snapshot under the output folder: pages come from that,
 * so editing the file mid-run changes nothing, and 10,000 rows cost one parse.
 */
class CatalogRows {
  private page: CatalogPage | undefined;
  private index = 0;
  private markSnapshotReady!: (snapshotId: string | undefined) => void;
  /** The run's snapshot id once it is taken (undefined when the catalog could not be read). */
  readonly snapshotReady = new Promise<string | undefined>((resolve) => (this.markSnapshotReady = resolve));

  constructor(
    private readonly input: ConvertCatalogParams,
    private readonly window: CatalogWindow,
  ) {}

  async next(): Promise<CatalogRow | undefined> {
    const { state } = this.window;
    if (state.snapshotId === undefined) {
      const { catalogId, catalogPath, outDir, catalog } = this.input;
      const snapshot = await snapshotCatalog({ catalogId, catalogPath, outDir, catalog }).catch((error: unknown) => {
        this.markSnapshotReady(undefined);
        throw error;
      });
      if (snapshot.replacedCatalogSha256) {
        log.info('the catalog file changed since the last run of this catalog id: read it into a new snapshot', {
          catalogId,
          catalogSha256: snapshot.catalogSha256,
          previousSha256: snapshot.replacedCatalogSha256,
        });
      }
      this.window.snapshotTaken(snapshot.snapshotId, snapshot.totalRows, snapshot.problemCount);
    }
    this.markSnapshotReady(state.snapshotId);
    if (!this.page || this.index >= this.page.rows.length) {
      if (this.window.allStarted()) return undefined;
      const { catalogId, outDir, pageSize } = this.input;
      this.page = await loadCatalogPage({ catalogId, outDir, snapshotId: state.snapshotId!, offset: state.nextOffset, limit: pageSize });
      this.index = 0;
      if (this.page.rows.length === 0) return undefined;
    }
    return this.page.rows[this.index++];
  }
}

/**
 * Wakes the service's GPUs up; its cost counts, its failure does not (the first generate waits instead).
 * A catalog whose outputs are all made already (a rerun) does no GPU work, so it wakes no GPU and pays
 * no cold start: the same rule `trellis estimate` prices by (catalogNeedsGpu and the estimate share it).
 */
async function warmUpOnce(input: ConvertCatalogParams, window: CatalogWindow, snapshotReady: Promise<string | undefined> | undefined): Promise<void> {
  try {
    if (snapshotReady) {
      const snapshotId = await snapshotReady;
      if (snapshotId === undefined) return;
      const { catalogId, catalogPath, outDir, settings } = input;
      const needed = await catalogNeedsGpu({ catalogId, catalogPath, outDir, snapshotId, settings }).catch(() => true);
      if (!needed) {
        log.info('nothing to convert: every output is already made; no warm-up', { catalogId });
        return;
      }
    }
    window.warmedUp((await warmUp()).usage);
  } catch (error) {
    log.warn('warm-up failed; assets will wait for a cold start instead', { error: String(error) });
  }
}

async function writeReport(input: ConvertCatalogParams, window: CatalogWindow): Promise<CatalogResult> {
  const { catalogId, catalogPath, outDir } = input;
  const { snapshotId, warmUpUsage } = window.state;
  const report = await writeCatalogReport({ catalogId, catalogPath, outDir, snapshotId, warmUpUsage });
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
    `${counts.done} done, ${counts.reused} reused, ${counts.failed} failed, ${counts.cancelled} cancelled, ` +
      `${counts.running} running${progress.inReview ? ` (${progress.inReview} in review)` : ''}, ${counts.waiting} waiting of ${progress.totalRows ?? '?'} rows` +
      (progress.invalidRows ? ` (${progress.invalidRows} invalid rows, see the report)` : ''),
    describeUsage(progress.usage, 'none yet'),
    progress.pauseReason ?? '',
    running ? `Running:\n${running}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}
