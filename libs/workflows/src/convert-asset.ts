// One catalog row: prepare → generate (state kept on the service) → every missing GLB preset from one
// extract job (one GPU call for up to 8 presets) → manifest. The catalog warms the service up once for all its rows. A failed asset writes its manifest
// and tells its parent first, then ends Failed, so the Web UI lists exactly the failed SKUs while the
// catalog goes on: one bad image never sinks a catalog. Deterministic: all I/O happens in activities.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, FinishActivities, GenerateResult, PrepareAssetResult } from '@trellis/activities';
import {
  addUsage,
  noUsage,
  skuFolderName,
  type AssetError,
  type AssetManifest,
  type AssetStage,
  type AssetStatus,
  type AssetSummary,
  type ConvertAssetInput,
  type OutputFile,
  type Preset,
  type Usage,
  MAX_PRESETS_PER_JOB,
} from '@trellis/contracts';
import { fileActivityOptions, finishActivityOptions, gpuJobOptions } from './activity-options';
import { assetBlockedSignal, assetFinishedSignal, retryBlockedSignal } from './messages';
import { assetFinishedDelivery } from './notify-options';
import { sendWebhook } from './notify-webhook';
import { stageKey } from './search-attributes';

const files = proxyActivities<Activities>(fileActivityOptions);
const { generate, extractGlbs } = proxyActivities<Activities>(gpuJobOptions);

/** Tally of the work this asset did, carried into its result and manifest. */
interface Tally {
  usage: Usage;
  generateCalls: number;
  extractCalls: number;
}

/** Failure types meaning the service refused the worker's credentials: no retry can help until fixed. */
const CREDENTIAL_FAILURES = new Set(['unauthorized', 'forbidden']);

export async function convertAsset(input: ConvertAssetInput): Promise<AssetSummary> {
  const tally: Tally = { usage: noUsage, generateCalls: 0, extractCalls: 0 };
  const untilCredentialsWork = credentialRecovery(input);
  const glbs: Record<string, OutputFile> = {};
  let preview: OutputFile | undefined;
  let prepared: PrepareAssetResult | undefined;
  let channels: AssetManifest['channels'];
  let poster: OutputFile | undefined;

  const finish = async (status: AssetStatus, error?: AssetError): Promise<AssetSummary> => {
    // Channel files once the GLBs exist (made or reused); a failure here fails the asset like any step.
    if ((status === 'done' || status === 'reused') && input.channels?.length) ({ channels, poster } = await makeChannelFiles(input, glbs, preview));
    const summary: AssetSummary = {
      sku: input.sku,
      row: input.row,
      status,
      error,
      usage: tally.usage,
      generateCalls: tally.generateCalls,
      runId: workflowInfo().firstExecutionRunId,
    };
    // Even when cancelled, record what happened and tell the parent.
    await CancellationScope.nonCancellable(async () => {
      // Its final value is the asset's state in the one vocabulary (done, reused, failed, cancelled).
      markStage(status);
      await files.writeAssetManifest({
        ...summary,
        glbs,
        preview,
        extractCalls: tally.extractCalls,
        catalogId: input.catalogId,
        image: input.image,
        imageSha256: prepared?.imageSha256,
        inputHash: prepared?.generateHash ?? '',
        seed: input.seed,
        pipelineType: input.pipelineType,
        presets: input.presets,
        finishedAt: new Date(Date.now()).toISOString(),
        ...(input.size ? { size: input.size } : {}),
        ...(channels ? { channels } : {}),
        ...(poster ? { poster } : {}),
      }, input.outDir);
      // Awaited: sent without waiting, in the task that completes the workflow, it did not reach the
      // parent (the adoption test in workflows.test.ts caught that).
      await notifyParent(input, summary);
      if (input.notify?.assets) {
        const assetDir = `${input.outDir}/${input.catalogId}/${skuFolderName(input.sku)}`;
        const result = { ...summary, glbs, preview, extractCalls: tally.extractCalls };
        await sendWebhook(assetFinishedDelivery(input.notify, input.catalogId, assetDir, result, summary.runId!, new Date(Date.now())));
      }
    });
    return summary;
  };

  try {
    markStage('preparing');
    prepared = await files.prepareAsset({ ...generationInputOf(input), presets: input.presets });
    Object.assign(glbs, prepared.reusableGlbs);
    preview = prepared.reusablePreview;
    const missing = input.presets.filter((preset) => !glbs[preset.name]);
    if (missing.length === 0 && preview) return await finish('reused');

    const regenerate = async (): Promise<string> => {
      markStage('generating');
      const generated: GenerateResult = await untilCredentialsWork(() =>
        generate({
          ...generationInputOf(input),
          generateHash: prepared!.generateHash,
          imageSha256: prepared!.imageSha256,
          generation: tally.generateCalls,
        }),
      );
      tally.generateCalls += 1;
      tally.usage = addUsage(tally.usage, generated.usage);
      preview = generated.preview;
      return generated.stateId;
    };
    // A state an earlier run left on the service saves a generation when only some presets are missing.
    let stateId = prepared.reusableState?.stateId ?? (await regenerate());

    markStage('extracting');
    let pending = missing;
    let regenerated = false;
    while (pending.length > 0) {
      // One job per MAX_PRESETS_PER_JOB presets (the service's limit): for the usual 3, one GPU call.
      const batches = chunks(pending, MAX_PRESETS_PER_JOB);
      const outcomes = await Promise.allSettled(
        batches.map((batch) => untilCredentialsWork(() => extractPresets(input, batch, stateId, prepared!, tally))),
      );
      const stateLost: Preset[] = [];
      for (const [index, outcome] of outcomes.entries()) {
        const batch = batches[index]!;
        if (outcome.status === 'fulfilled') Object.assign(glbs, outcome.value);
        else if (failureType(outcome.reason) === 'state_not_found' && !regenerated) stateLost.push(...batch);
        else throw outcome.reason;
      }
      pending = stateLost;
      if (pending.length > 0) {
        // The state expired or its container is gone: regenerate once, with the same seed.
        log.warn('generation state lost; regenerating once', { sku: input.sku, presets: pending.map((p) => p.name) });
        regenerated = true;
        stateId = await regenerate();
        markStage('extracting');
      }
    }
    return await finish('done');
  } catch (error) {
    if (isCancellation(error)) {
      await finish('cancelled', { code: 'cancelled', message: 'the conversion was cancelled' });
      throw error;
    }
    // Ends the workflow Failed (the parent already counted it), with the SKU as written and the reason.
    throw assetFailure(await finish('failed', describeFailure(error)));
  }
}

/** The workflow's failure: SKU as written and the reason in the message, the summary as details. */
function assetFailure(summary: AssetSummary): ApplicationFailure {
  const { code, message } = summary.error ?? { code: 'error', message: 'failed' };
  return ApplicationFailure.create({
    message: `SKU "${summary.sku}" (row ${summary.row}) failed: ${code}: ${message}`,
    type: code,
    nonRetryable: true,
    details: [summary],
  });
}

/**
 * Runs a service step; when the service refuses the worker's credentials, tells the catalog (which
 * pauses itself and says what to fix) and waits for its resume to try the step again. Nothing done so
 * far is lost. An asset without a catalog fails instead: nobody would resume it.
 */
function credentialRecovery(input: ConvertAssetInput) {
  let releases = 0;
  setHandler(retryBlockedSignal, () => void (releases += 1));
  return async <T>(step: () => Promise<T>): Promise<T> => {
    for (;;) {
      const seen = releases;
      try {
        return await step();
      } catch (error) {
        const type = failureType(error);
        if (!input.parentWorkflowId || !type || !CREDENTIAL_FAILURES.has(type)) throw error;
        markStage('blocked');
        const message = error instanceof ActivityFailure && error.cause ? error.cause.message : String(error);
        await signalParentSafely(input.parentWorkflowId, () =>
          getExternalWorkflowHandle(input.parentWorkflowId!).signal(assetBlockedSignal, {
            sku: input.sku,
            runId: workflowInfo().firstExecutionRunId,
            code: type,
            message,
          }),
        );
        await condition(() => releases > seen);
      }
    }
  };
}

/** What preparing and generating both need; nothing else of the input goes into their history events. */
function generationInputOf(input: ConvertAssetInput) {
  const { catalogId, sku, image, catalogPath, outDir, seed, pipelineType, sampler } = input;
  return { catalogId, sku, image, catalogPath, outDir, seed, pipelineType, sampler };
}

/** The presets' GLBs from one extract job; only file names, sizes and hashes come back into history. */
async function extractPresets(
  input: ConvertAssetInput,
  presets: Preset[],
  stateId: string,
  prepared: PrepareAssetResult,
  tally: Tally,
): Promise<Record<string, OutputFile>> {
  const extracted = await extractGlbs({
    catalogId: input.catalogId,
    sku: input.sku,
    outDir: input.outDir,
    presets,
    stateId,
    generateHash: prepared.generateHash,
  });
  tally.extractCalls += 1;
  tally.usage = addUsage(tally.usage, extracted.usage);
  return extracted.files;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

/**
 * The finish step: channel files from the GLBs and a poster from the preview, on the finish task queue (its own workers and limits).
 * Unset, that queue is this workflow's own task queue + "-finish", as the worker derives it.
 */
async function makeChannelFiles(
  input: ConvertAssetInput,
  glbs: Record<string, OutputFile>,
  preview: OutputFile | undefined,
): Promise<{ channels: AssetManifest['channels']; poster?: OutputFile }> {
  markStage('channel_files');
  const taskQueue = input.finishTaskQueue ?? `${workflowInfo().taskQueue}-finish`;
  const { finishChannels } = proxyActivities<FinishActivities>({ ...finishActivityOptions, taskQueue });
  const result = await finishChannels({
    catalogId: input.catalogId,
    sku: input.sku,
    outDir: input.outDir,
    channels: input.channels!,
    glbs,
    ...(input.size ? { size: input.size } : {}),
    ...(preview ? { preview } : {}),
  });
  return result;
}

/** The ApplicationFailure type behind an activity failure (our error codes), if any. */
function failureType(error: unknown): string | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

function describeFailure(error: unknown): AssetError {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) return { code: cause.type ?? 'error', message: cause.message };
  if (cause instanceof Error) return { code: cause.name, message: cause.message };
  return { code: 'error', message: String(error) };
}

/**
 * The stage as a search attribute: the Web UI filters assets by it, and the CLI and the dashboard read
 * it for running assets. Not signalled to the parent: a signal costs a workflow task on both sides and
 * events in both histories, twice per asset; the parent needs only the asset's end (notifyParent).
 */
function markStage(stage: AssetStage | AssetStatus): void {
  upsertSearchAttributes([{ key: stageKey, value: stage }]);
}

async function notifyParent(input: ConvertAssetInput, result: AssetSummary): Promise<void> {
  if (!input.parentWorkflowId) return;
  await signalParentSafely(input.parentWorkflowId, () =>
    getExternalWorkflowHandle(input.parentWorkflowId!).signal(assetFinishedSignal, result),
  );
}

/** A parent that has already finished (or was terminated) must not fail its children. */
async function signalParentSafely(parentId: string, send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch (error) {
    log.warn('could not signal the parent catalog workflow', { parentId, child: workflowInfo().workflowId, error: String(error) });
  }
}
