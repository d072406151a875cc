// One asset's conversion as data: what prepare found, the GLBs and preview made so far, the work it paid for,
// the current attempt (seed) and the review it waits on, with the transitions convert-asset.ts applies in a
// straight line and its handlers apply on messages. Deterministic and free of Temporal calls (times are given
// in), so the workflow reads as steps and this as a ledger; test/asset-ledger.test.ts tests it alone.
import type { GenerateResult, PrepareAssetResult } from '@trellis/activities';
import {
  MAX_SEED,
  addUsage,
  cheapestPreset,
  noUsage,
  skuFolderName,
  type AssetError,
  type AssetManifest,
  type AssetStatus,
  type AssetSummary,
  type ConvertAssetInput,
  type OutputFile,
  type Preset,
  type QualityReport,
  type RecordedReviewDecision,
  type ReviewDecision,
  type ReviewItem,
  type ReviewSettings,
  type Usage,
} from '@trellis/contracts';

/** Regenerations a reviewer may ask for on one SKU; then approve or reject (bounds the asset's lifetime). */
export const MAX_REVIEW_REGENERATIONS = 3;

/** The verdict a model gets when its checks could not run: a person must look at it. */
const UNCHECKED_VERDICT = { score: 0, flagged: true, failing: ['quality_check_error'] };

interface Waiting {
  since: number;
  deadline: number;
}

export class AssetLedger {
  prepared: PrepareAssetResult | undefined;
  readonly glbs: Record<string, OutputFile> = {};
  preview: OutputFile | undefined;
  /** The generation state on the service the next extraction reads. */
  stateId: string | undefined;
  usage: Usage = noUsage;
  generateCalls = 0;
  extractCalls = 0;
  /** 0 for the first generation, +1 per review regenerate. */
  attempt = 0;
  seed: number;
  /**
   * A lost state was regenerated (same seed) since the attempt began or its last review wait ended: a second
   * loss fails the asset. A wait of days outlives the service's state TTL, so the state may be lost after it too.
   */
  regeneratedForLostState = false;
  quality: QualityReport | undefined;
  /** Whether the checks ran but could not read the model (it then waits for a person in review mode). */
  qualityUnchecked = false;
  readonly decisions: RecordedReviewDecision[] = [];
  /** A decision received and not yet acted on. */
  private pending: RecordedReviewDecision | undefined;
  private waiting: Waiting | undefined;
  /** Resumes the catalog sent since the asset started (retry after refused credentials). */
  releases = 0;
  channels: AssetManifest['channels'];
  poster: OutputFile | undefined;

  constructor(private readonly input: ConvertAssetInput) {
    this.seed = input.seed;
  }

  /** The preset made before a review decision and looked at by the quality checks. */
  get cheapest(): Preset {
    return cheapestPreset(this.input.presets);
  }

  get reviewMode(): ReviewSettings['mode'] {
    return this.input.review?.mode ?? 'off';
  }

  /** What prepare and generate need; the seed is the current attempt's. */
  generationInput() {
    const { catalogId, sku, image, catalogPath, outDir, pipelineType, sampler } = this.input;
    return { catalogId, sku, image, catalogPath, outDir, seed: this.seed, pipelineType, sampler };
  }

  preparedWith(result: PrepareAssetResult): void {
    this.prepared = result;
    Object.assign(this.glbs, result.reusableGlbs);
    this.preview = result.reusablePreview;
    this.stateId = result.reusableState?.stateId;
  }

  /** Presets of `wanted` not made yet. */
  missing(wanted: readonly Preset[] = this.input.presets): Preset[] {
    return wanted.filter((preset) => !this.glbs[preset.name]);
  }

  everythingReused(): boolean {
    return this.missing().length === 0 && this.preview !== undefined;
  }

  generated(result: GenerateResult): void {
    this.generateCalls += 1;
    this.usage = addUsage(this.usage, result.usage);
    this.preview = result.preview;
    this.stateId = result.stateId;
  }

  extracted(files: Record<string, OutputFile>, usage: Usage): void {
    this.extractCalls += 1;
    this.usage = addUsage(this.usage, usage);
    Object.assign(this.glbs, files);
  }

  /** The state is gone: true when this attempt may regenerate it once (same seed). */
  stateLost(): boolean {
    if (this.regeneratedForLostState) return false;
    this.regeneratedForLostState = true;
    this.stateId = undefined;
    return true;
  }

  checked(report: QualityReport | undefined): void {
    this.quality = report;
    this.qualityUnchecked = report === undefined;
  }

  channelFilesMade(result: { channels: AssetManifest['channels']; poster?: OutputFile }): void {
    this.channels = result.channels;
    this.poster = result.poster;
  }

  /** Whether this attempt's model waits for a person: every one in `all` mode, flagged ones in `flagged`. */
  needsReview(): boolean {
    if (this.reviewMode === 'all') return true;
    return this.reviewMode === 'flagged' && (this.quality?.flagged ?? true);
  }

  startWaiting(nowMs: number): void {
    const hours = this.input.review?.deadlineHours ?? 0;
    this.waiting = { since: nowMs, deadline: nowMs + hours * 3600_000 };
  }

  get isWaiting(): boolean {
    return this.waiting !== undefined && this.pending === undefined;
  }

  /** Milliseconds from `nowMs` to the deadline (0 once passed). */
  untilDeadline(nowMs: number): number {
    return Math.max(0, (this.waiting?.deadline ?? nowMs) - nowMs);
  }

  /** Why a decision cannot be taken now, or undefined when it can (the update's validator). */
  refusal(decision: ReviewDecision): string | undefined {
    if (!this.isWaiting) return `SKU ${this.input.sku} is not waiting for review`;
    if (decision.decision === 'regenerate' && this.attempt >= MAX_REVIEW_REGENERATIONS) {
      return `SKU ${this.input.sku} was regenerated ${this.attempt} times already (the limit): approve or reject it`;
    }
    return undefined;
  }

  /** Records a decision (a person's, or the deadline's policy) and returns it as the manifest keeps it. */
  decide(decision: ReviewDecision, nowMs: number): RecordedReviewDecision {
    const recorded: RecordedReviewDecision = {
      decision: decision.decision,
      reviewer: decision.reviewer,
      decidedAt: new Date(nowMs).toISOString(),
      attempt: this.attempt,
      seed: this.seed,
      ...(decision.decision === 'reject' ? { reason: decision.reason } : {}),
      ...(decision.decision === 'regenerate' ? { nextSeed: decision.seed ?? this.derivedSeed() } : {}),
    };
    this.decisions.push(recorded);
    this.pending = recorded;
    return recorded;
  }

  /** The catalog's policy for a model nobody decided on before the deadline. */
  decideByDeadline(nowMs: number): RecordedReviewDecision {
    const policy = this.input.review?.onDeadline ?? 'reject';
    const hours = this.input.review?.deadlineHours;
    const decision: ReviewDecision =
      policy === 'approve'
        ? { decision: 'approve', reviewer: 'deadline' }
        : { decision: 'reject', reviewer: 'deadline', reason: `nobody decided within the review deadline (${hours} h)` };
    return this.decide(decision, nowMs);
  }

  hasDecision(): boolean {
    return this.pending !== undefined;
  }

  /** The decision to act on; the wait ends. */
  takeDecision(): RecordedReviewDecision {
    const decision = this.pending;
    if (!decision) throw new Error('no review decision to take');
    this.pending = undefined;
    this.waiting = undefined;
    this.regeneratedForLostState = false;
    return decision;
  }

  /**
   * A regenerate: a new attempt with a new seed. The model, preview, state and checks of the rejected attempt
   * are dropped (their files are overwritten); what they cost stays in the usage.
   */
  nextAttempt(seed: number): void {
    this.attempt += 1;
    this.seed = seed;
    for (const name of Object.keys(this.glbs)) delete this.glbs[name];
    this.preview = undefined;
    this.stateId = undefined;
    this.prepared = undefined;
    this.quality = undefined;
    this.qualityUnchecked = false;
    this.regeneratedForLostState = false;
  }

  /** A new seed for a regenerate that named none: a deterministic step away from the current one. */
  private derivedSeed(): number {
    return (this.seed + 1_000_003 * (this.attempt + 1)) % (MAX_SEED + 1);
  }

  /** The queue entry while waiting; paths relative to the catalog's output folder. */
  reviewItem(): ReviewItem | undefined {
    if (!this.isWaiting || !this.waiting) return undefined;
    const folder = skuFolderName(this.input.sku);
    const verdict = this.quality ?? UNCHECKED_VERDICT;
    const glb = this.glbs[this.cheapest.name];
    const inputCopy = this.prepared?.inputCopy;
    return {
      catalogId: this.input.catalogId,
      sku: this.input.sku,
      row: this.input.row,
      attempt: this.attempt,
      seed: this.seed,
      score: verdict.score,
      flagged: verdict.flagged,
      failing: [...verdict.failing],
      preset: this.cheapest.name,
      files: {
        glb: `${folder}/${glb?.file ?? `${this.cheapest.name}.glb`}`,
        ...(this.preview ? { preview: `${folder}/${this.preview.file}` } : {}),
        ...(inputCopy ? { image: `${folder}/${inputCopy}` } : {}),
      },
      waitingSince: new Date(this.waiting.since).toISOString(),
      deadline: new Date(this.waiting.deadline).toISOString(),
      onDeadline: this.input.review?.onDeadline ?? 'reject',
      history: this.decisions.slice(),
    };
  }

  summary(status: AssetStatus, error: AssetError | undefined, runId: string): AssetSummary {
    const { sku, row } = this.input;
    return { sku, row, status, error, usage: this.usage, generateCalls: this.generateCalls, runId };
  }

  manifest(summary: AssetSummary, finishedAt: string): AssetManifest {
    const { input } = this;
    return {
      ...summary,
      glbs: this.glbs,
      preview: this.preview,
      extractCalls: this.extractCalls,
      catalogId: input.catalogId,
      image: input.image,
      imageSha256: this.prepared?.imageSha256,
      inputHash: this.prepared?.generateHash ?? '',
      seed: this.seed,
      pipelineType: input.pipelineType,
      presets: input.presets,
      finishedAt,
      ...(input.size ? { size: input.size } : {}),
      ...(this.channels ? { channels: this.channels } : {}),
      ...(this.poster ? { poster: this.poster } : {}),
      ...(this.quality ? { quality: this.quality } : {}),
      ...(this.decisions.length ? { reviewDecisions: this.decisions.slice() } : {}),
    };
  }
}
