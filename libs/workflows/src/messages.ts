// Signals and queries of the catalog workflow, defined once for the workflows, the CLI and the tests.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { AssetBlocked, AssetStageUpdate, AssetSummary, CatalogProgress } from '@trellis/contracts';

export const progressQuery = defineQuery<CatalogProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const cancelSignal = defineSignal('cancel');

/** Sent by each convertAsset child to its parent catalog (by workflow id, so a continued run hears it). */
export const assetStageSignal = defineSignal<[AssetStageUpdate]>('assetStage');
export const assetFinishedSignal = defineSignal<[AssetSummary]>('assetFinished');
export const assetBlockedSignal = defineSignal<[AssetBlocked]>('assetBlocked');

/** Sent by the catalog to its blocked assets when it is resumed: try the refused call again. */
export const retryBlockedSignal = defineSignal('retryBlocked');
