// How the catalog starts, adopts, waits on and reconciles its convertAsset children. The window
// (catalog-window.ts) keeps the ledger; this module turns Temporal's ways of ending into ledger entries.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  TerminatedFailure,
  TimeoutFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '@trellis/activities';
import {
  AssetSummary,
  SamplerSettings,
  assetWorkflowId,
  noUsage,
  presetNamesOfRow,
  type AssetError,
  type CatalogRow,
  type ConvertAssetInput,
  type ConvertCatalogParams,
  type Preset,
} from '@trellis/contracts';
import { catalogActivityOptions } from './activity-options';
import { MAX_REVIEW_REGENERATIONS } from './asset-ledger';
import type { CatalogWindow } from './catalog-window';
import { convertAsset } from './convert-asset';
import { retryBlockedSignal } from './messages';
import { catalogIdKey, skuKey, stageKey } from './search-attributes';

const { writeAssetManifest, reconcileAssets } = proxyActivities<Activities>(catalogActivityOptions);

/** How long a cancelled catalog waits for its running assets to record their cancellation. */
const CANCEL_DRAIN_TIMEOUT = '10 minutes';

/** The reconcile interval while every running asset waits for review. */
const REVIEW_RECONCILE_SECONDS = 3600;

/** Error codes of asset workflows that ended without writing their own manifest. */
const UNREPORTED_ENDINGS = new Set(['workflow_timed_out', 'workflow_terminated']);

export class AssetChildren {
  private readonly presetsByName: Map<string, Preset>;
  /** Child starts awaiting Temporal's answer, and manifests being written for children that ended
   * without reporting: settled before the run continues as new or ends. */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly input: ConvertCatalogParams,
    private readonly window: CatalogWindow,
  ) {
    this.presetsByName = new Map(input.settings.presets.map((preset) => [preset.name, preset]));
  }

  /**
   * Starts the row's asset workflow without waiting for Temporal to confirm the start, so every free slot
   * of the window is filled in one workflow task (settle() waits for the confirmations).
   */
  begin(row: CatalogRow, estimatedCostUsd: number): void {
    this.track(this.start(row, estimatedCostUsd), 'could not start or record an asset');
  }

  /**
   * Starts the row's asset workflow. One already running under that id (left by an earlier run of this
   * catalog id, or by a terminated catalog) is adopted: it reports to this catalog's id like any child.
   * Any other problem fails that row alone.
   */
  private async start(row: CatalogRow, estimatedCostUsd: number): Promise<void> {
    const presets = this.presetsOf(row);
    if (typeof presets === 'string') return this.failBeforeStart(row, { code: 'validation_error', message: presets });
    // Admitted before the start resolves: a child's first signal can be handled in the same activation.
    this.window.admit(row.sku, row.row, estimatedCostUsd);
    try {
      const child = await startChild(convertAsset, {
        workflowId: assetWorkflowId(this.input.catalogId, row.sku),
        args: [this.childInput(row, presets)],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowExecutionTimeout: `${assetTimeoutSeconds(this.input)} seconds`,
        typedSearchAttributes: [
          { key: catalogIdKey, value: this.input.catalogId },
          { key: skuKey, value: row.sku },
          { key: stageKey, value: 'queued' },
        ],
        staticSummary: `${row.sku} (row ${row.row}) of catalog ${this.input.catalogId}`,
      });
      const runId = child.firstExecutionRunId;
      this.window.bindRun(row.sku, runId);
      // Within this run the child's result is a second, signal-independent way to learn that it ended
      // (a child timed out or terminated never signals). Later runs find those by reconciling.
      child.result().then(
        (summary) => void this.window.finish(summary),
        (error: unknown) =>
          this.track(this.endedWithoutReport(row, endingOf(error, this.input.assetTimeoutSeconds), runId), 'could not record an asset that ended without reporting'),
      );
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        log.info('adopting an asset workflow that is already running', { catalogId: this.input.catalogId, sku: row.sku });
        return;
      }
      this.window.finish({ sku: row.sku, row: row.row, status: 'failed', usage: noUsage, generateCalls: 0 });
      await this.writeFailedManifest(row.sku, row.row, row.image, {
        code: 'child_start_failed',
        message: `row ${row.row}: the asset workflow could not be started: ${String(error)}`,
      });
    }
  }

  /** Waits until `ready()`; when that takes long, learns of assets that ended without reporting. */
  async waitFor(ready: () => boolean): Promise<void> {
    while (!ready()) {
      // With nothing running, only a signal (resume, cancel) can change anything: no timer needed.
      if (this.window.runningCount === 0) return void (await condition(ready));
      if (await condition(ready, this.reconcileIntervalMs())) return;
      for (const summary of await reconcileAssets(this.input.catalogId, this.window.runningAssets)) {
        await this.endedWithoutReport({ sku: summary.sku, row: summary.row, image: '' }, summary, summary.runId);
      }
    }
  }

  /**
   * How long to wait for news before asking Temporal about assets that ended without reporting. When every
   * running asset waits for a person (days, in review mode), at most hourly: each look adds events to the
   * catalog's history, which does not continue as new once every row has started.
   */
  private reconcileIntervalMs(): number {
    const allInReview = this.window.inReviewCount === this.window.runningCount;
    return Math.max(this.input.reconcileAfterSeconds, allInReview ? REVIEW_RECONCILE_SECONDS : 0) * 1000;
  }

  /** Lets child starts and the writes started from child results finish: before continue-as-new and the report. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(work: Promise<void>, failure: string): void {
    const settled = work.catch((error: unknown) => log.warn(failure, { error: String(error) }));
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
  }

  /** Tells assets blocked on refused credentials to try again (after a resume). */
  async release(skus: string[]): Promise<void> {
    await Promise.allSettled(
      skus.map((sku) => getExternalWorkflowHandle(assetWorkflowId(this.input.catalogId, sku)).signal(retryBlockedSignal)),
    );
  }

  /** Cancels every running asset and waits (bounded) for each to record its cancellation. */
  async cancelAll(): Promise<void> {
    await this.settle(); // a child whose start is not confirmed yet could not be cancelled
    const running = this.window.runningAssets;
    log.info('cancelling running assets', { catalogId: this.input.catalogId, count: running.length });
    await Promise.allSettled(
      running.map(({ sku }) => getExternalWorkflowHandle(assetWorkflowId(this.input.catalogId, sku)).cancel()),
    );
    if (!(await condition(() => this.window.runningCount === 0, CANCEL_DRAIN_TIMEOUT))) this.window.abandonRunning();
  }

  private async endedWithoutReport(row: Pick<CatalogRow, 'sku' | 'row' | 'image'>, ending: Ending, runId: string | undefined) {
    const counted = this.window.finish({ usage: noUsage, generateCalls: 0, ...ending, sku: row.sku, row: row.row, runId });
    // A child that failed by itself wrote its manifest first; one timed out or terminated could not.
    if (counted && ending.error && UNREPORTED_ENDINGS.has(ending.error.code)) {
      await this.writeFailedManifest(row.sku, row.row, row.image, ending.error);
    }
  }

  private async failBeforeStart(row: CatalogRow, error: AssetError): Promise<void> {
    await this.writeFailedManifest(row.sku, row.row, row.image, error);
    this.window.failBeforeStart();
  }

  private async writeFailedManifest(sku: string, row: number, image: string, error: AssetError): Promise<void> {
    await writeAssetManifest(
      {
        sku,
        row,
        status: 'failed',
        error,
        glbs: {},
        usage: noUsage,
        generateCalls: 0,
        extractCalls: 0,
        catalogId: this.input.catalogId,
        image,
        inputHash: '',
        seed: this.input.settings.seed,
        pipelineType: this.input.settings.pipelineType,
        presets: [],
        finishedAt: new Date(Date.now()).toISOString(),
      },
      this.input.outDir,
    );
  }

  /** The row's presets that exist (for its cost estimate; unknown ones fail the row when it starts). */
  knownPresetsOf(row: CatalogRow): Preset[] {
    const presets = this.presetsOf(row);
    return typeof presets === 'string' ? [] : presets;
  }

  /** The row's presets, or why it names one nobody defined. */
  private presetsOf(row: CatalogRow): Preset[] | string {
    const names = presetNamesOfRow(this.input.settings, row);
    const unknown = names.filter((name) => !this.presetsByName.has(name));
    if (unknown.length === 0) return names.map((name) => this.presetsByName.get(name)!);
    const known = [...this.presetsByName.keys()].join(', ');
    return `row ${row.row}, field presets: unknown preset ${unknown.join(', ')}; known: ${known}. Fix the row or add the preset with --presets-file.`;
  }

  private get reviewing(): boolean {
    return (this.input.review?.mode ?? 'off') !== 'off';
  }

  private childInput(row: CatalogRow, presets: Preset[]): ConvertAssetInput {
    return {
      catalogId: this.input.catalogId,
      sku: row.sku,
      row: row.row,
      image: row.image,
      catalogPath: this.input.catalogPath,
      outDir: this.input.outDir,
      seed: row.seed ?? this.input.settings.seed,
      pipelineType: row.pipeline_type ?? this.input.settings.pipelineType,
      sampler: nonDefaultSampler(this.input.settings.sampler),
      presets,
      parentWorkflowId: workflowInfo().workflowId,
      // Per-asset webhooks: when finished (`--notify-assets`), and when a model starts waiting for review.
      ...(this.input.notify && (this.input.notify.assets || this.reviewing) ? { notify: this.input.notify } : {}),
      ...(this.reviewing ? { review: this.input.review } : {}),
      ...(this.input.settings.channels?.length ? { channels: this.input.settings.channels } : {}),
      ...(row.size ? { size: row.size } : {}),
      ...(this.input.finishTaskQueue ? { finishTaskQueue: this.input.finishTaskQueue } : {}),
    };
  }
}

/**
 * How long an asset may run before it counts as stuck: in review mode its waits too, one per attempt (the
 * first and each regenerate the ledger allows), each up to the catalog's review deadline.
 */
function assetTimeoutSeconds(input: ConvertCatalogParams): number {
  const review = input.review;
  if (!review || review.mode === 'off') return input.assetTimeoutSeconds;
  return (1 + MAX_REVIEW_REGENERATIONS) * (input.assetTimeoutSeconds + review.deadlineHours * 3600);
}

type Ending = Pick<AssetSummary, 'status' | 'error'> & Partial<AssetSummary>;

/** What a rejected child result means for its row. */
function endingOf(error: unknown, timeoutSeconds: number): Ending {
  const cause = error instanceof ChildWorkflowFailure ? error.cause : error;
  // A failed asset ends Failed with its summary as the failure's details (convert-asset.ts).
  const reported = AssetSummary.safeParse(cause instanceof ApplicationFailure ? cause.details?.[0] : undefined);
  if (reported.success) return reported.data;
  if (isCancellation(error)) return { status: 'cancelled', error: { code: 'cancelled', message: 'the asset was cancelled' } };
  if (cause instanceof TimeoutFailure) {
    const message =
      `the asset workflow was still running after ${timeoutSeconds} s (assetTimeoutSeconds) and was timed out; it was stuck ` +
      `(a workflow task failing in a loop after a deploy looks like this: see its history in the Web UI)`;
    return { status: 'failed', error: { code: 'workflow_timed_out', message } };
  }
  if (cause instanceof TerminatedFailure) {
    return { status: 'failed', error: { code: 'workflow_terminated', message: 'the asset workflow was terminated' } };
  }
  const message = cause instanceof Error ? cause.message : String(error);
  return { status: 'failed', error: { code: 'child_failed', message } };
}

/** Default sampler settings stay out of every child's history; the service fills them in. */
function nonDefaultSampler(sampler: SamplerSettings): Partial<SamplerSettings> | undefined {
  const defaults = SamplerSettings.parse({});
  const changed = Object.entries(sampler).filter(([key, value]) => defaults[key as keyof SamplerSettings] !== value);
  return changed.length > 0 ? Object.fromEntries(changed) : undefined;
}
