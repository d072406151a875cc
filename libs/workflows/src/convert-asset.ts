// One catalog row: prepare → generate (state kept on the service) → every missing GLB preset from one
// extract job (one GPU call for up to 8 presets) → quality checks of the cheapest preset's GLB → manifest.
// In review mode only the cheapest preset is made first; a model that must wait (all, or flagged ones) waits
// `in_review` for a person's decision (reviewDecisionUpdate) or the catalog's deadline, holding no worker slot,
// GPU or window slot: approve makes the rest, regenerate starts a new attempt with a new seed, reject fails it.
// A failed asset writes its manifest and tells its parent first, then ends Failed, so the Web UI lists exactly
// the failed SKUs while the catalog goes on. The state lives in AssetLedger (asset-ledger.ts); this file is
// the steps. Deterministic: all I/O happens in activities.
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
import type { Activities, FinishActivities } from '@trellis/activities';
import {
  MAX_PRESETS_PER_JOB,
  ReviewDecision,
  skuFolderName,
  type AssetError,
  type AssetManifest,
  type AssetStage,
  type AssetStatus,
  type AssetSummary,
  type ConvertAssetInput,
  type OutputFile,
  type Preset,
  type RecordedReviewDecision,
} from '@trellis/contracts';
import { fileActivityOptions, finishActivityOptions, gpuJobOptions } from './activity-options';
import { AssetLedger } from './asset-ledger';
import { assetBlockedSignal, assetFinishedSignal, assetReviewWaitSignal, retryBlockedSignal, reviewDecisionUpdate, reviewItemQuery } from './messages';
import { assetFinishedDelivery, reviewRequestedDelivery } from './notify-options';
import { sendWebhook } from './notify-webhook';
import { stageKey } from './search-attributes';

const files = proxyActivities<Activities>(fileActivityOptions);
const { generate, extractGlbs } = proxyActivities<Activities>(gpuJobOptions);

/** Failure types meaning the service refused the worker's credentials: no retry can help until fixed. */
const CREDENTIAL_FAILURES = new Set(['unauthorized', 'forbidden']);

export async function convertAsset(input: ConvertAssetInput): Promise<AssetSummary> {
  const ledger = new AssetLedger(input);
  registerHandlers(ledger);
  try {
    await prepare(input, ledger);
    if (ledger.everythingReused()) return await finish(input, ledger, 'reused');
    if (ledger.reviewMode !== 'off') await reviewedModel(input, ledger);
    await extract(input, ledger, ledger.missing());
    return await finish(input, ledger, 'done');
  } catch (error) {
    if (isCancellation(error)) {
      await finish(input, ledger, 'cancelled', { code: 'cancelled', message: 'the conversion was cancelled' });
      throw error;
    }
    // Ends the workflow Failed (the parent already counted it), with the SKU as written and the reason.
    throw assetFailure(await finish(input, ledger, 'failed', describeFailure(error)));
  }
}

/** Every handler, registered once at the start: resumes after refused credentials, review decisions, the queue entry. */
function registerHandlers(ledger: AssetLedger): void {
  setHandler(retryBlockedSignal, () => void (ledger.releases += 1));
  setHandler(reviewItemQuery, () => ledger.reviewItem());
  // The validator refuses what the handler would not record; the handler records the parsed (trimmed) decision.
  setHandler(reviewDecisionUpdate, (decision) => ledger.decide(ReviewDecision.parse(decision), Date.now()), {
    validator: (decision) => {
      const parsed = ReviewDecision.safeParse(decision);
      if (!parsed.success) throw new Error(`not a review decision: ${parsed.error.issues[0]?.message}`);
      const refusal = ledger.refusal(parsed.data);
      if (refusal) throw new Error(refusal);
    },
  });
}

async function prepare(input: ConvertAssetInput, ledger: AssetLedger): Promise<void> {
  markStage('preparing');
  const keepInputCopy = ledger.reviewMode !== 'off' ? { keepInputCopy: true } : {};
  ledger.preparedWith(await files.prepareAsset({ ...ledger.generationInput(), presets: input.presets, ...keepInputCopy }));
}

/** A generation for the current attempt's seed. */
async function regenerate(input: ConvertAssetInput, ledger: AssetLedger): Promise<void> {
  markStage('generating');
  const prepared = ledger.prepared!;
  const generated = await untilCredentialsWork(input, ledger, () =>
    generate({ ...ledger.generationInput(), generateHash: prepared.generateHash, imageSha256: prepared.imageSha256, generation: ledger.generateCalls }),
  );
  ledger.generated(generated);
}

/**
 * The presets' GLBs, one job per MAX_PRESETS_PER_JOB presets (the service's limit: for the usual 3, one GPU
 * call). A state an earlier run left on the service saves the generation; a state that expired or whose
 * container is gone is regenerated once, with the same seed.
 */
async function extract(input: ConvertAssetInput, ledger: AssetLedger, presets: Preset[]): Promise<void> {
  // With every GLB made but no preview, the generation still runs for the preview.
  if (presets.length === 0 && ledger.preview) return;
  if (!ledger.stateId) await regenerate(input, ledger);
  markStage('extracting');
  let pending = presets;
  while (pending.length > 0) {
    const batches = chunks(pending, MAX_PRESETS_PER_JOB);
    const outcomes = await Promise.allSettled(batches.map((batch) => untilCredentialsWork(input, ledger, () => extractBatch(input, ledger, batch))));
    const stateLost: Preset[] = [];
    for (const [index, outcome] of outcomes.entries()) {
      if (outcome.status === 'fulfilled') ledger.extracted(outcome.value.files, outcome.value.usage);
      else if (failureType(outcome.reason) === 'state_not_found' && !ledger.regeneratedForLostState) stateLost.push(...batches[index]!);
      else throw outcome.reason;
    }
    pending = stateLost;
    if (pending.length > 0 && ledger.stateLost()) {
      log.warn('generation state lost; regenerating once', { sku: input.sku, presets: pending.map((p) => p.name) });
      await regenerate(input, ledger);
      markStage('extracting');
    }
  }
}

/** One extract job; only file names, sizes and hashes come back into history. */
function extractBatch(input: ConvertAssetInput, ledger: AssetLedger, presets: Preset[]) {
  const { catalogId, sku, outDir } = input;
  return extractGlbs({ catalogId, sku, outDir, presets, stateId: ledger.stateId!, generateHash: ledger.prepared!.generateHash });
}

/**
 * Review mode: the cheapest preset and its checks, then, when the model must wait, a person's decision (or
 * the deadline's). Returns once a model is approved; a regenerate loops with a new seed; a reject throws.
 */
async function reviewedModel(input: ConvertAssetInput, ledger: AssetLedger): Promise<void> {
  for (;;) {
    await extract(input, ledger, ledger.missing([ledger.cheapest]));
    await checkQuality(input, ledger);
    if (!ledger.needsReview()) return;
    const decision = await awaitDecision(input, ledger);
    if (decision.decision === 'approve') return;
    if (decision.decision === 'reject') {
      throw ApplicationFailure.nonRetryable(`rejected by ${decision.reviewer}: ${decision.reason ?? 'no reason given'}`, 'review_rejected');
    }
    ledger.nextAttempt(decision.nextSeed!);
    await prepare(input, ledger);
  }
}

/** The quality checks of the cheapest preset's GLB, on the worker; a check that cannot run leaves no report. */
async function checkQuality(input: ConvertAssetInput, ledger: AssetLedger): Promise<void> {
  const glb = ledger.glbs[ledger.cheapest.name];
  if (!glb || !ledger.preview) return ledger.checked(undefined);
  const { catalogId, sku, image, catalogPath, outDir, size } = input;
  try {
    ledger.checked(await files.assessQuality({ catalogId, sku, image, catalogPath, outDir, glb: glb.file, preview: ledger.preview.file, ...(size ? { size } : {}) }));
  } catch (error) {
    if (isCancellation(error)) throw error;
    log.warn('the quality checks could not run', { sku, error: String(error) });
    ledger.checked(undefined);
  }
}

/**
 * Waits `in_review` for a decision or the deadline. The catalog is told (it gives the window slot to the next
 * row, and takes it back after), and the webhook says a model waits. A worker holds nothing meanwhile.
 */
async function awaitDecision(input: ConvertAssetInput, ledger: AssetLedger): Promise<RecordedReviewDecision> {
  ledger.startWaiting(Date.now());
  markStage('in_review');
  await tellParentReviewWait(input, true);
  if (input.notify) await sendWebhook(reviewRequestedDelivery(input.notify, input.outDir, ledger.reviewItem()!, workflowInfo().firstExecutionRunId, new Date(Date.now())));
  if (!(await condition(() => ledger.hasDecision(), ledger.untilDeadline(Date.now()))) && !ledger.hasDecision()) {
    ledger.decideByDeadline(Date.now());
  }
  const decision = ledger.takeDecision();
  await tellParentReviewWait(input, false);
  return decision;
}

async function tellParentReviewWait(input: ConvertAssetInput, waiting: boolean): Promise<void> {
  if (!input.parentWorkflowId) return;
  const report = { sku: input.sku, runId: workflowInfo().firstExecutionRunId, waiting };
  await signalParentSafely(input.parentWorkflowId, () => getExternalWorkflowHandle(input.parentWorkflowId!).signal(assetReviewWaitSignal, report));
}

/** Channel files, the manifest, the parent and the webhook: what every ending does, even a cancelled one. */
async function finish(input: ConvertAssetInput, ledger: AssetLedger, status: AssetStatus, error?: AssetError): Promise<AssetSummary> {
  const made = status === 'done' || status === 'reused';
  // Checked once per model: in review mode before the decision; otherwise once the GLBs exist.
  if (made && !ledger.quality && !ledger.qualityUnchecked) await checkQuality(input, ledger);
  // Channel files once the GLBs exist (made or reused); a failure here fails the asset like any step.
  if (made && input.channels?.length) ledger.channelFilesMade(await makeChannelFiles(input, ledger.glbs, ledger.preview));
  const summary = ledger.summary(status, error, workflowInfo().firstExecutionRunId);
  // Even when cancelled, record what happened and tell the parent.
  await CancellationScope.nonCancellable(async () => {
    // Its final value is the asset's state in the one vocabulary (done, reused, failed, cancelled).
    markStage(status);
    await files.writeAssetManifest(ledger.manifest(summary, new Date(Date.now()).toISOString()), input.outDir);
    // Awaited: sent without waiting, in the task that completes the workflow, it did not reach the
    // parent (the adoption test in workflows.test.ts caught that).
    await notifyParent(input, summary);
    if (input.notify?.assets) {
      const assetDir = `${input.outDir}/${input.catalogId}/${skuFolderName(input.sku)}`;
      const result = { ...summary, glbs: ledger.glbs, preview: ledger.preview, extractCalls: ledger.extractCalls };
      await sendWebhook(assetFinishedDelivery(input.notify, input.catalogId, assetDir, result, summary.runId!, new Date(Date.now())));
    }
  });
  return summary;
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
async function untilCredentialsWork<T>(input: ConvertAssetInput, ledger: AssetLedger, step: () => Promise<T>): Promise<T> {
  for (;;) {
    const seen = ledger.releases;
    try {
      return await step();
    } catch (error) {
      const type = failureType(error);
      if (!input.parentWorkflowId || !type || !CREDENTIAL_FAILURES.has(type)) throw error;
      markStage('blocked');
      const message = error instanceof ActivityFailure && error.cause ? error.cause.message : String(error);
      const report = { sku: input.sku, runId: workflowInfo().firstExecutionRunId, code: type, message };
      await signalParentSafely(input.parentWorkflowId, () => getExternalWorkflowHandle(input.parentWorkflowId!).signal(assetBlockedSignal, report));
      await condition(() => ledger.releases > seen);
    }
  }
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
