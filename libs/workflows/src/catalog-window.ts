// The catalog's sliding window as data: which rows are running, what has finished, whether the catalog
// is paused or cancelling, and the transitions the main loop and the signal handlers apply to them.
// Deterministic and free of Temporal calls, so convert-catalog.ts reads as a loop and this as a ledger.
import {
  addUsage,
  noUsage,
  type AssetBlocked,
  type AssetReviewWait,
  type AssetStageUpdate,
  type AssetSummary,
  type CatalogProgress,
  type CatalogRunState,
  type ResumeRequest,
  type Usage,
} from '@trellis/contracts';

export function initialRunState(maxCostUsd?: number): CatalogRunState {
  return {
    maxCostUsd: maxCostUsd ?? null,
    runNumber: 1,
    nextOffset: 0,
    totalRows: null,
    invalidRows: 0,
    inFlight: {},
    finished: { done: 0, reused: 0, failed: 0, cancelled: 0 },
    usage: noUsage,
    paused: false,
    cancelRequested: false,
  };
}

export class CatalogWindow {
  constructor(
    readonly catalogId: string,
    readonly state: CatalogRunState,
    /** Assets that may run at once: the catalog's concurrency plus its lookahead. */
    private readonly size: number,
    /** Called after every change a progress reader would see. */
    private readonly onChange: () => void = () => undefined,
  ) {}

  get runningCount(): number {
    return Object.keys(this.state.inFlight).length;
  }

  get runningAssets(): Array<{ sku: string; row: number }> {
    return Object.entries(this.state.inFlight).map(([sku, { row }]) => ({ sku, row }));
  }

  /** Running assets that wait for a review decision: they hold no window slot. */
  get inReviewCount(): number {
    return Object.values(this.state.inFlight).filter((entry) => entry.inReview).length;
  }

  /** Room for one more asset: not paused, not cancelling, fewer working (running and not in review) than the window allows. */
  hasRoom(): boolean {
    return this.state.cancelRequested || (!this.state.paused && this.runningCount - this.inReviewCount < this.size);
  }

  /** All rows of the catalog have been started (or failed before starting). */
  allStarted(): boolean {
    return this.state.totalRows !== null && this.state.nextOffset >= this.state.totalRows;
  }

  /**
   * A row enters the window, expected to cost `estimatedCostUsd` until it reports. Its child execution
   * is bound once its start resolves; an adopted child (started by an earlier run) is never bound.
   */
  admit(sku: string, row: number, estimatedCostUsd: number): void {
    this.state.inFlight[sku] = { row, stage: 'queued', estimatedCostUsd };
    this.onChange();
  }

  /** The child execution this run knows it started, once startChild returns. */
  bindRun(sku: string, runId: string): void {
    const entry = this.state.inFlight[sku];
    if (!entry) return;
    entry.runId = runId;
    if (entry.stage === 'queued') entry.stage = 'running';
    this.onChange();
  }

  /** From asset workflows of earlier versions; current ones keep their stage in a search attribute. */
  setStage(update: AssetStageUpdate): void {
    const entry = this.state.inFlight[update.sku];
    if (entry && this.isCurrentRun(entry.runId, update.runId)) entry.stage = update.stage;
  }

  /**
   * An asset started or stopped waiting for review. Waiting, it gives its slot to the next row; decided, it
   * takes a slot back at once, ahead of rows not started yet (new rows wait until the window has room again).
   */
  reviewWait(report: AssetReviewWait): void {
    const entry = this.state.inFlight[report.sku];
    if (!entry || !this.isCurrentRun(entry.runId, report.runId)) return;
    if (report.waiting) entry.inReview = true;
    else delete entry.inReview;
    this.onChange();
  }

  /**
   * An asset ended. Returns false, changing nothing, for a duplicate (its signal and its result both
   * arrive) or a stale report from an older execution of the same asset workflow id.
   */
  finish(summary: AssetSummary): boolean {
    const entry = this.state.inFlight[summary.sku];
    if (!entry || !this.isCurrentRun(entry.runId, summary.runId)) return false;
    delete this.state.inFlight[summary.sku];
    this.count(summary);
    return true;
  }

  /** A row that never became a running asset (unknown preset, child could not start). */
  failBeforeStart(): void {
    this.state.finished.failed += 1;
    this.onChange();
  }

  /** Assets that never recorded their cancellation within the drain timeout count as cancelled. */
  abandonRunning(): void {
    for (const sku of Object.keys(this.state.inFlight)) {
      delete this.state.inFlight[sku];
      this.state.finished.cancelled += 1;
    }
    this.onChange();
  }

  /** The catalog's warm-up: paid by the catalog, outside its assets, and reported beside them. */
  warmedUp(usage: Usage): void {
    this.state.warmUpUsage = addUsage(this.state.warmUpUsage ?? noUsage, usage);
    this.state.usage = addUsage(this.state.usage, usage);
    this.onChange();
  }

  rowStarted(): void {
    this.state.nextOffset += 1;
  }

  snapshotTaken(snapshotId: string, totalRows: number, invalidRows: number): void {
    Object.assign(this.state, { snapshotId, totalRows, invalidRows });
    this.onChange();
  }

  pause(reason?: string, by: NonNullable<CatalogRunState['pausedBy']> = 'user'): void {
    Object.assign(this.state, { paused: true, pauseReason: reason, pausedBy: by });
    this.onChange();
  }

  /**
   * Goes on. After a budget pause a plain resume lifts the budget; `maxCostUsd` sets a new one. Returns
   * the assets that were blocked on refused credentials, to be told to try again.
   */
  resume(request?: ResumeRequest): string[] {
    if (request?.maxCostUsd !== undefined) this.state.maxCostUsd = request.maxCostUsd;
    else if (this.state.pausedBy === 'budget') this.state.maxCostUsd = null;
    Object.assign(this.state, { paused: false, pauseReason: undefined, pausedBy: undefined });
    const blocked = Object.entries(this.state.inFlight).filter(([, entry]) => entry.blocked);
    for (const [, entry] of blocked) delete entry.blocked;
    this.onChange();
    return blocked.map(([sku]) => sku);
  }

  /**
   * An asset's service calls were refused for its credentials: every other asset would be refused too,
   * so the catalog stops starting work until someone fixes them and resumes.
   */
  block(report: AssetBlocked): void {
    const entry = this.state.inFlight[report.sku];
    if (!entry || !this.isCurrentRun(entry.runId, report.runId)) return;
    entry.blocked = true;
    if (this.state.pausedBy === 'credentials') return this.onChange();
    this.pause(
      `the service refused the workers' credentials (SKU ${report.sku}: ${report.code}: ${report.message}). ` +
        `Fix them where the workers run, then \`trellis resume ${this.catalogId}\`; blocked assets then go on where they stopped.`,
      'credentials',
    );
  }

  cancel(): void {
    this.state.cancelRequested = true;
    this.onChange();
  }

  counts(): CatalogProgress['counts'] {
    const running = this.runningCount;
    const finished = Object.values(this.state.finished).reduce((sum, count) => sum + count, 0);
    return { ...this.state.finished, running, waiting: Math.max(0, (this.state.totalRows ?? 0) - finished - running) };
  }

  progress(): CatalogProgress {
    const { state } = this;
    return {
      catalogId: this.catalogId,
      status: state.cancelRequested ? 'cancelling' : state.paused ? 'paused' : 'running',
      totalRows: state.totalRows,
      invalidRows: state.invalidRows,
      counts: this.counts(),
      running: Object.entries(state.inFlight).map(([sku, { stage, blocked, inReview }]) => ({ sku, stage: blocked ? 'blocked' : inReview ? 'in_review' : stage })),
      usage: state.usage,
      runNumber: state.runNumber,
      ...(state.pauseReason ? { pauseReason: state.pauseReason } : {}),
      maxCostUsd: state.maxCostUsd,
      inReview: this.inReviewCount,
    };
  }

  /** Reports without a run id (older workers, adopted children) are trusted; others must match. */
  private isCurrentRun(known: string | undefined, reported: string | undefined): boolean {
    return !known || !reported || known === reported;
  }

  private count(summary: AssetSummary): void {
    this.state.finished[summary.status] += 1;
    this.state.usage = addUsage(this.state.usage, summary.usage ?? noUsage);
    this.onChange();
  }
}
