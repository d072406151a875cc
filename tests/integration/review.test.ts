// Review mode end to end: a real dev server, the real local service (relief backend on CPU), a real worker
// with the real workflows and activities, the real quality checks. The bad row is a photo whose background
// was left in (libs/quality's labelled-set builder): the background check flags it on any backend.
import fs from 'node:fs';
import path from 'node:path';
import { startCatalogConversion } from '@trellis/cli';
import { temporal } from '@temporalio/proto';
import { AssetManifest, CatalogReport, assetWorkflowId, skuFolderName, type CatalogResult, type ReviewItem } from '@trellis/contracts';
import { decideReview, getReviewItem, listReviewQueue } from '@trellis/workflows/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { photoOnBusyBackground } from '../../libs/quality/test/helpers/perturb';
import { exampleImagesDir, writeCatalog } from '../harness/catalogs';
import { startConversionStack, type ConversionStack } from '../harness/conversion-stack';

let stack: ConversionStack;
let busyMug: Buffer;

beforeAll(async () => {
  stack = await startConversionStack('review');
  busyMug = await photoOnBusyBackground(fs.readFileSync(path.join(exampleImagesDir, 'mug.png')), 7);
});
afterAll(async () => {
  await stack?.stop();
});

async function startReviewed(catalogId: string, rows: Array<{ sku: string; image: string }>) {
  const catalogPath = writeCatalog(path.join(stack.workDir, catalogId), { rows, files: { 'busy-mug.png': busyMug } });
  const outDir = path.join(stack.workDir, 'out');
  const prepared = await prepareConversion({ catalog: catalogPath, out: outDir, catalogId, pipeline: '512', presets: 'fast,balanced', review: 'flagged' });
  const handle = await startCatalogConversion(stack.client, { ...prepared.input, concurrency: 1 }, { taskQueue: stack.taskQueue });
  return { handle, catalogDir: path.join(outDir, catalogId) };
}

/** Waits until the SKU waits for review at `attempt`, and returns its queue entry. */
async function waitingAt(catalogId: string, sku: string, attempt: number, timeoutMs = 90_000): Promise<ReviewItem> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const item = await getReviewItem(stack.client, catalogId, sku).catch(() => undefined);
    if (item && item.attempt === attempt) return item;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${sku} did not wait for review at attempt ${attempt}`);
}

/** Seconds from each activity's start to its completion, added up by activity type (from the history's own timestamps). */
function activitySecondsByType(history: temporal.api.history.v1.IHistory): Record<string, number> {
  const typeOf = new Map<number, string>();
  const startedAt = new Map<number, number>();
  const seconds: Record<string, number> = {};
  const at = (event: temporal.api.history.v1.IHistoryEvent) => Number(event.eventTime?.seconds ?? 0) + (event.eventTime?.nanos ?? 0) / 1e9;
  for (const event of history.events ?? []) {
    const id = Number(event.eventId);
    if (event.activityTaskScheduledEventAttributes) typeOf.set(id, event.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    if (event.activityTaskStartedEventAttributes) startedAt.set(Number(event.activityTaskStartedEventAttributes.scheduledEventId), at(event));
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const scheduled = Number(completed.scheduledEventId);
      const type = typeOf.get(scheduled) ?? '?';
      seconds[type] = (seconds[type] ?? 0) + at(event) - (startedAt.get(scheduled) ?? at(event));
    }
  }
  return seconds;
}

async function eventually<T>(read: () => Promise<T>, ready: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ready(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

function manifestOf(catalogDir: string, sku: string): AssetManifest {
  return AssetManifest.parse(JSON.parse(fs.readFileSync(path.join(catalogDir, skuFolderName(sku), 'manifest.json'), 'utf8')));
}

describe('review mode on the real service', { timeout: 240_000 }, () => {
  it('a flagged SKU waits with its cheapest GLB; regenerate is one new generation with a new seed; approve makes the rest', async () => {
    const { handle, catalogDir } = await startReviewed('review-story', [
      { sku: 'BUSY-1', image: 'busy-mug.png' },
      { sku: 'MUG-2', image: 'mug.png' },
    ]);
    const first = await waitingAt('review-story', 'BUSY-1', 0);
    expect(first).toMatchObject({ flagged: true, preset: 'fast', seed: 42 });
    expect(first.failing).toContain('background');
    // What the reviewer looks at is on disk, under the catalog's output folder: the model, its preview, the photo sent.
    for (const file of [first.files.glb, first.files.preview!, first.files.image!]) expect(fs.statSync(path.join(catalogDir, file)).size).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(catalogDir, first.files.image!)).equals(busyMug)).toBe(true);
    expect(fs.existsSync(path.join(catalogDir, 'BUSY-1', 'balanced.glb'))).toBe(false);

    // MUG-2 was not flagged: it took the slot BUSY-1 gave up, and finishes while BUSY-1 waits.
    const mugManifest = path.join(catalogDir, 'MUG-2', 'manifest.json');
    for (let waited = 0; !fs.existsSync(mugManifest) && waited < 90_000; waited += 250) await new Promise((resolve) => setTimeout(resolve, 250));
    expect(manifestOf(catalogDir, 'MUG-2')).toMatchObject({ status: 'done', quality: { flagged: false } });

    const generationsBefore = stack.trellis.generateSubmits;
    await decideReview(stack.client, 'review-story', 'BUSY-1', { decision: 'regenerate', reviewer: 'ana', seed: 1234 });
    const second = await waitingAt('review-story', 'BUSY-1', 1);
    expect(second).toMatchObject({ seed: 1234, history: [{ decision: 'regenerate', reviewer: 'ana', seed: 42, nextSeed: 1234 }] });
    expect(stack.trellis.generateSubmits - generationsBefore).toBe(1);
    // The queue comes from visibility (TrellisStage), which follows the asset's own state within moments.
    expect(await eventually(async () => (await listReviewQueue(stack.client, 'review-story')).map((item) => item.sku), (skus) => skus.length > 0)).toEqual(['BUSY-1']);

    await decideReview(stack.client, 'review-story', 'BUSY-1', { decision: 'approve', reviewer: 'bo' });
    const result: CatalogResult = await handle.result();
    expect(result.counts).toMatchObject({ done: 2, failed: 0 });
    const busy = manifestOf(catalogDir, 'BUSY-1');
    expect(busy).toMatchObject({ status: 'done', seed: 1234, generateCalls: 2, quality: { flagged: true } });
    expect(Object.keys(busy.glbs).sort()).toEqual(['balanced', 'fast']);
    expect(busy.reviewDecisions?.map(({ decision, reviewer }) => `${decision} by ${reviewer}`)).toEqual(['regenerate by ana', 'approve by bo']);
    const report = CatalogReport.parse(JSON.parse(fs.readFileSync(result.reportJsonPath, 'utf8')));
    expect(report.rows.find((row) => row.sku === 'BUSY-1')?.quality?.flagged).toBe(true);
    expect(fs.readFileSync(result.reportCsvPath, 'utf8')).toContain('regenerate by ana; approve by bo');
    // Two attempts, a wait and a decision each: the asset's history stays small (one attempt without review is ~13 KB).
    const history = await stack.client.workflow.getHandle(assetWorkflowId('review-story', 'BUSY-1')).fetchHistory();
    const historyBytes = temporal.api.history.v1.History.encode(history).finish().byteLength;
    console.log(`history bytes of a reviewed, regenerated, approved asset: ${historyBytes}`);
    const seconds = activitySecondsByType(history);
    console.log(`activity seconds of that asset: ${JSON.stringify(seconds)}; checks / generations = ${(seconds.assessQuality! / seconds.generate!).toFixed(3)}`);
    expect(historyBytes).toBeLessThan(32 * 1024);
  });

  it('a worker stopped while assets wait loses no decision: one sent before and one sent while it is down both take effect', async () => {
    const { handle, catalogDir } = await startReviewed('review-restart', [
      { sku: 'BUSY-A', image: 'busy-mug.png' },
      { sku: 'BUSY-B', image: 'busy-mug.png' },
    ]);
    await waitingAt('review-restart', 'BUSY-A', 0);
    await waitingAt('review-restart', 'BUSY-B', 0);
    await decideReview(stack.client, 'review-restart', 'BUSY-A', { decision: 'reject', reviewer: 'ana', reason: 'background left in' });
    await stack.stopWorker();
    const sentWhileDown = decideReview(stack.client, 'review-restart', 'BUSY-B', { decision: 'approve', reviewer: 'bo' });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await stack.startWorker();
    expect(await sentWhileDown).toMatchObject({ decision: 'approve', reviewer: 'bo' });
    const result = await handle.result();
    expect(result.counts).toMatchObject({ done: 1, failed: 1 });
    expect(manifestOf(catalogDir, 'BUSY-A')).toMatchObject({
      status: 'failed',
      error: { code: 'review_rejected', message: 'rejected by ana: background left in' },
      reviewDecisions: [{ decision: 'reject', reviewer: 'ana', reason: 'background left in' }],
    });
    expect(Object.keys(manifestOf(catalogDir, 'BUSY-A').glbs)).toEqual(['fast']);
    expect(manifestOf(catalogDir, 'BUSY-B')).toMatchObject({ status: 'done', reviewDecisions: [{ decision: 'approve', reviewer: 'bo' }] });
  });
});
