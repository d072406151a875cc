// Everything that touches the world, as Temporal activities. The worker builds them once with its
// service client (credentials stay in the worker's environment); workflows import only the type.
import { cancellationSignal } from '@temporalio/activity';
import type { AssetManifest, ConvertAssetInput, WebhookDelivery } from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';
import { catalogNeedsGpu, loadCatalogPage, snapshotCatalog, writeCatalogReport, writeManifest, type LoadCatalogPageInput, type SnapshotCatalogInput, type WorkContext } from './files';
import { extractGlbs, type ExtractGlbsInput } from './service/extract-glbs';
import { keepAlive } from './keep-alive';
import { classifyingFailures } from './service/failures';
import { generate, type GenerateInput } from './service/generate';
import { prepareAsset, type PrepareAssetInput } from './service/prepare-asset';
import { reconcileAssets, type RunningAsset } from './service/reconcile-assets';
import { warmUp } from './service/warm-up';
import { deliverWebhook } from './notify/deliver-webhook';
import { finishChannels, type FinishChannelsInput } from './finishing/finish-channels';
import { assessQuality, type AssessQualityInput } from './quality/assess-asset';

export type { ExtractGlbsInput, ExtractGlbsResult } from './service/extract-glbs';
export type { GenerateInput, GenerateResult } from './service/generate';
export type { PrepareAssetInput, PrepareAssetResult, ReusableState } from './service/prepare-asset';
export type { WarmUpResult } from './service/warm-up';
export type { AssessQualityInput } from './quality/assess-asset';
export { JobPhase, JobProgress, DEFAULT_HEARTBEAT_INTERVAL_MS } from './service/job-progress';
export type { JobTiming } from './service/job-runner';
export type { RunningAsset } from './service/reconcile-assets';
export type { LoadCatalogPageInput, SnapshotCatalogInput } from './files';
export type { WebhookDeliveryResult } from './notify/deliver-webhook';
export { deliverWebhook, presignedUrlsOf, webhookBody } from './notify/deliver-webhook';
export { finishChannels, channelFilePath, FINISHING_VERSION, type FinishChannelsInput, type FinishChannelsResult } from './finishing/finish-channels';

export interface ActivityDependencies {
  client: TrellisClient;
  /** First interval between job polls (grows gently to 2 s). */
  pollIntervalMs?: number;
  /** Heartbeat timer of the GPU activities (default 5 s; their heartbeat timeout is 30 s). */
  heartbeatIntervalMs?: number;
}

export function createActivities({ client, pollIntervalMs = 1000, heartbeatIntervalMs }: ActivityDependencies) {
  const timing = { pollIntervalMs, heartbeatIntervalMs };
  return {
    /** Parses and validates the catalog once per run into a snapshot; returns counts only. */
    snapshotCatalog: (input: SnapshotCatalogInput) => keepAlive(() => classifyingFailures(() => snapshotCatalog(input))),
    /** A page of the snapshot: O(page), whatever the catalog's size. */
    loadCatalogPage: (input: LoadCatalogPageInput) => keepAlive(() => classifyingFailures(() => loadCatalogPage(input))),
    prepareAsset: (input: PrepareAssetInput) => keepAlive(() => classifyingFailures(() => prepareAsset(client, input))),
    warmUp: () => keepAlive(() => classifyingFailures(() => warmUp(client))),
    generate: (input: GenerateInput) => classifyingFailures(() => generate(client, timing, input)),
    /** Every preset the asset still needs from one state, in one service job (one GPU call). */
    extractGlbs: (input: ExtractGlbsInput) => classifyingFailures(() => extractGlbs(client, timing, input)),
    /** The quality checks of the cheapest preset's GLB (libs/quality), on this worker: the files are here. */
    assessQuality: (input: AssessQualityInput) => keepAlive(() => classifyingFailures(() => assessQuality(input, cancellationSignal()))),
    writeAssetManifest: (manifest: AssetManifest, outDir: string) => keepAlive(() => writeManifest(manifest, outDir)),
    writeCatalogReport: (...args: Parameters<typeof writeCatalogReport>) => keepAlive(() => writeCatalogReport(...args)),
    /** Whether any row of the run still needs the GPU (a rerun with every output made does not warm one up). */
    catalogNeedsGpu: (input: WorkContext & { snapshotId: string }) => keepAlive(() => catalogNeedsGpu(input)),
    reconcileAssets: (catalogId: string, running: RunningAsset[]) => keepAlive(() => reconcileAssets(catalogId, running)),
    /** Signed completion webhook; the secret is read from TRELLIS_WEBHOOK_SECRET in this worker's environment. */
    deliverWebhook: (delivery: WebhookDelivery) => deliverWebhook(delivery),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * The finishing activities, served on the finish task queue (TRELLIS_FINISH_TASK_QUEUE) by a worker of
 * their own: CPU and memory heavy, no service client.
 */
export function createFinishActivities() {
  return {
    /** The SKU's channel files from its GLBs (glTF-Transform, validator gate); reused by input hash. */
    finishChannels: (input: FinishChannelsInput) => classifyingFailures(() => finishChannels(input)),
  };
}

export type FinishActivities = ReturnType<typeof createFinishActivities>;
export type { ConvertAssetInput };
