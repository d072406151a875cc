// Signals and queries of the catalog workflow, defined once for the workflows, the CLI and the tests.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AssetBlocked, AssetReviewWait, AssetStageUpdate, AssetSummary, CatalogProgress, RecordedReviewDecision, ResumeRequest, ReviewDecision, ReviewItem } from '@trellis/contracts';

export const progressQuery = defineQuery<CatalogProgress>('progress');
export const pauseSignal = defineSignal('pause');
/** No payload: go on (past a cost budget that paused the catalog); `{ maxCostUsd }`: go on with a new budget. */
export const resumeSignal = defineSignal<[ResumeRequest?]>('resume');
export const cancelSignal = defineSignal('cancel');

/** Sent by each convertAsset child to its parent catalog (by workflow id, so a continued run hears it). */
export const assetStageSignal = defineSignal<[AssetStageUpdate]>('assetStage');
export const assetFinishedSignal = defineSignal<[AssetSummary]>('assetFinished');
export const assetBlockedSignal = defineSignal<[AssetBlocked]>('assetBlocked');

/** Sent by the catalog to its blocked assets when it is resumed: try the refused call again. */
export const retryBlockedSignal = defineSignal('retryBlocked');

/** A person's review decision on an asset waiting `in_review`; answered once the asset has recorded it. */
export const reviewDecisionUpdate = defineUpdate<RecordedReviewDecision, [ReviewDecision]>('reviewDecision');
/** The waiting asset's queue entry; undefined when the asset is not waiting for review. */
export const reviewItemQuery = defineQuery<ReviewItem | undefined>('reviewItem');

/** Sent by an asset to its catalog when it starts or stops waiting for review: the window frees or takes back its slot. */
export const assetReviewWaitSignal = defineSignal<[AssetReviewWait]>('assetReviewWait');
