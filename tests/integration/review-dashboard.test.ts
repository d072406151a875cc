// The review queue end to end, in chromium, keyboard only: the REAL convertCatalog / convertAsset in
// review mode on the real worker (its own process, killed with SIGKILL mid-review), the real local
// service (CPU backend) and a real Temporal dev server; the dashboard with a named token, so every
// decision is recorded as "bo". A photo whose background was left in is flagged and shown first; reject
// fails it with the reason; regenerate makes a new model with a new seed and exactly one more generate
// job at the service; approve releases the remaining preset; decisions sent before the worker was killed
// take effect after it restarts, and the queue goes on from there. Each decision's key press to the
// next SKU's model on screen is measured (performance marks) and printed beside a cold load in the
// same page. Screenshots go to out/test-artifacts/dashboard/.
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalogReport, startCatalogConversion } from '@trellis/cli';
import { AssetManifest, assetWorkflowId, type ReviewItem } from '@trellis/contracts';
import { startDashboard, type Dashboard } from '@trellis/dashboard';
import { readServiceStats, repoRoot } from '@trellis/devstack';
import { catalogIdKey, skuKey } from '@trellis/workflows/client';
import { manifestPath } from '@trellis/activities/files';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { artifactsDir, launchChromium } from '../../apps/cli/test/browser';
import { exampleImagesDir, writeCatalog } from '../harness/catalogs';
import { FaultStack } from '../harness/fault-stack';

// What the functions run in the page use, declared here only (lib "dom" would retype fetch's Headers for
// every test in this project).
declare const document: any;
declare const window: any;
declare const OffscreenCanvas: any;
declare function createImageBitmap(blob: Blob): Promise<{ width: number; height: number }>;
declare function requestAnimationFrame(callback: (time: number) => void): number;

const CATALOG = 'review-ui';
const BO_TOKEN = 'bo-reviews-0123456789abcdef';

let stack: FaultStack;
let dashboard: Dashboard;
let browser: Browser;
let outDir: string;

/** The mug pasted onto coloured noise: a product photo whose background was never removed. */
async function busyBackgroundPhoto(page: Page): Promise<Buffer> {
  const mug = fs.readFileSync(path.join(exampleImagesDir, 'mug.png')).toString('base64');
  const png = await page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d')!;
    const noise = context.createImageData(bitmap.width, bitmap.height);
    let state = 7;
    for (let i = 0; i < noise.data.length; i += 4) {
      for (let c = 0; c < 3; c += 1) {
        state = (state * 1103515245 + 12345) >>> 0;
        noise.data[i + c] = state >>> 24;
      }
      noise.data[i + 3] = 255;
    }
    context.putImageData(noise, 0, 0);
    context.drawImage(bitmap, bitmap.width * 0.2, bitmap.height * 0.2, bitmap.width * 0.6, bitmap.height * 0.6);
    const blob = await canvas.convertToBlob({ type: 'image/png' });
    const out = new Uint8Array(await blob.arrayBuffer());
    let text = '';
    for (const byte of out) text += String.fromCharCode(byte);
    return btoa(text);
  }, mug);
  return Buffer.from(png, 'base64');
}

const readManifest = (sku: string) => AssetManifest.parse(JSON.parse(fs.readFileSync(manifestPath(outDir, CATALOG, sku), 'utf8')));
const manifestWritten = (sku: string) => fs.existsSync(manifestPath(outDir, CATALOG, sku));
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(artifactsDir, `${name}.png`) });
const queueOrder = (page: Page) => page.locator('.queue li').evaluateAll((items) => items.map((item: any) => item.dataset.sku ?? ''));

async function modelOnScreen(page: Page, sku: string, timeout = 60_000) {
  await page.waitForFunction(
    (expected) => {
      const slot = document.querySelector('.slot[data-shown="true"]');
      const viewer = slot?.querySelector('model-viewer');
      return slot?.dataset.sku === expected && viewer?.loaded === true;
    },
    sku,
    { timeout },
  );
}

/** The model after the shown one has loaded in the hidden slot: a reviewer has looked at this one for a moment. */
async function nextLoaded(page: Page, sku: string) {
  await page.waitForFunction(
    (expected) => {
      const slot = document.querySelector('.slot[data-shown="false"]');
      return slot?.dataset.sku === expected && slot.querySelector('model-viewer')?.loaded === true;
    },
    sku,
    { timeout: 60_000 },
  );
}

beforeAll(async () => {
  browser = await launchChromium();
  stack = await FaultStack.start('review-ui');
  outDir = path.join(stack.workDir, 'out');
  dashboard = await startDashboard({ client: stack.client, outDir, startCatalog: async () => undefined, namedTokens: [{ name: 'bo', token: BO_TOKEN }] });
}, 240_000);

afterAll(async () => {
  await dashboard?.close();
  await browser?.close();
  await stack?.stop();
}, 60_000);

describe('review queue in chromium on the real workflows', () => {
  it('flagged first; reject, regenerate, approve by one key each; a worker killed mid-review loses no decision', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() !== 'error' || message.location().url.endsWith('/favicon.ico')) return;
      // Once the worker was killed, a waiting asset's first query may go unanswered until the server stops
      // routing it to the dead worker's sticky queue: that poll is a 503 (no worker answered), the next one works.
      if (workerKilled && /Failed to load resource: the server responded with a status of 503/.test(message.text())) return void unanswered++;
      problems.push(message.text());
    });
    let workerKilled = false;
    let unanswered = 0;
    await page.goto('about:blank');
    const catalogPath = writeCatalog(path.join(stack.workDir, 'shop'), {
      rows: [
        { sku: 'MUG-1', image: 'mug.png', presets: 'fast|balanced' },
        { sku: 'LAMP-2', image: 'lamp.png', presets: 'fast|balanced' },
        { sku: 'BUSY-3', image: 'busy.png', presets: 'fast|balanced' },
      ],
      files: { 'busy.png': await busyBackgroundPhoto(page) },
    });
    const prepared = await prepareConversion({ catalog: catalogPath, out: outDir, catalogId: CATALOG, pipeline: '512' });
    // `all`: every model waits, so each decision has a model to act on; the flag says which the checks doubt.
    const handle = await startCatalogConversion(
      stack.client,
      { ...prepared.input, concurrency: 3, review: { mode: 'all', deadlineHours: 24, onDeadline: 'reject' } },
      { taskQueue: stack.taskQueue },
    );

    // The catalog page links to the queue with the count waiting.
    await page.goto(`${dashboard.url}?token=${BO_TOKEN}#/catalog/${CATALOG}`);
    await expect.poll(() => page.locator('.review-link').textContent(), { timeout: 180_000, interval: 1000 }).toBe('Review queue: 3 waiting');
    await page.locator('.review-link').focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/review$/);
    await expect.poll(() => page.locator('.queue li').count(), { timeout: 30_000 }).toBe(3);
    const order = await queueOrder(page);
    const scores = await page.locator('.queue li').evaluateAll((items) => items.map((item: any) => Number(item.dataset.score)));
    console.log(`queue: ${order.map((sku, i) => `${sku} ${scores[i]!.toFixed(2)}`).join(', ')}`);
    // Worst first, and the photo with its background left in is the worst, flagged for it.
    expect(scores).toEqual([...scores].sort((a, b) => a - b));
    expect(order[0]).toBe('BUSY-3');
    expect(await page.locator('.queue li[data-sku="BUSY-3"]').getAttribute('class')).toBe('flagged');
    await modelOnScreen(page, 'BUSY-3');
    await nextLoaded(page, order[1]!);
    expect(await page.locator('.current .failing').textContent()).toContain('background');
    expect(await page.locator('.reviewer').textContent()).toBe('deciding as bo');
    // The photo and the preview of the current model are the asset's own files, served by the dashboard.
    expect(await page.locator('.slot[data-shown="true"] img.photo').evaluate((img: any) => img.naturalWidth)).toBeGreaterThan(0);
    expect(await page.locator('.slot[data-shown="true"] video').getAttribute('src')).toMatch(/\/files\/review-ui\/BUSY-3\/preview\.mp4\?attempt=0$/);
    await shot(page, 'review-real-queue');
    const generateJobsBefore = (await readServiceStats(stack.service)).jobs_created.generate;
    expect(generateJobsBefore).toBe(3);

    // X, the reason, Enter: BUSY-3 fails with it. The next SKU is on screen at once.
    const [, toRegenerate, toApprove] = order as [string, string, string];
    await page.keyboard.press('x');
    await page.keyboard.type('the background was left in');
    await page.keyboard.press('Enter');
    expect(await page.locator('.slot[data-shown="true"]').getAttribute('data-sku')).toBe(toRegenerate);
    await modelOnScreen(page, toRegenerate);
    await nextLoaded(page, toApprove);
    // R: a new attempt with a new seed.
    const seedBefore = Number((await page.locator('.current .facts').textContent())?.match(/seed (\d+)/)?.[1]);
    expect(Number.isInteger(seedBefore)).toBe(true);
    await page.keyboard.press('r');
    await modelOnScreen(page, toApprove);
    await page.keyboard.press('a');
    // All three recorded (the update returns once the asset has the decision), then the worker dies.
    await expect.poll(() => page.locator('.log li.recorded').count(), { timeout: 30_000 }).toBe(3);
    expect(await page.locator('.log li.refused').count()).toBe(0);
    workerKilled = true;
    await stack.crashWorker();
    await stack.startWorker();

    // BUSY-3: failed with the reason, the decision in its manifest with the reviewer and time.
    await expect.poll(() => manifestWritten('BUSY-3'), { timeout: 120_000, interval: 1000 }).toBe(true);
    const busy = readManifest('BUSY-3');
    expect(busy).toMatchObject({ status: 'failed', error: { code: 'review_rejected', message: 'rejected by bo: the background was left in' } });
    expect(busy.reviewDecisions).toEqual([expect.objectContaining({ decision: 'reject', reviewer: 'bo', reason: 'the background was left in', attempt: 0 })]);
    expect(Date.parse(busy.reviewDecisions![0]!.decidedAt)).toBeGreaterThan(Date.now() - 15 * 60_000);

    // The approved SKU: its remaining preset was made after the decision, across the worker's death.
    await expect.poll(() => manifestWritten(toApprove), { timeout: 180_000, interval: 1000 }).toBe(true);
    const approved = readManifest(toApprove);
    expect(approved.status).toBe('done');
    expect(Object.keys(approved.glbs).sort()).toEqual(['balanced', 'fast']);
    expect(approved.reviewDecisions).toEqual([expect.objectContaining({ decision: 'approve', reviewer: 'bo', attempt: 0 })]);

    // The regenerated SKU comes back as attempt 1 with a new seed; one key approves it.
    await expect.poll(() => page.locator('.current').getAttribute('data-attempt'), { timeout: 180_000, interval: 1000 }).toBe('1');
    expect(await page.locator('.current').getAttribute('data-sku')).toBe(toRegenerate);
    await modelOnScreen(page, toRegenerate);
    expect(await page.locator('.history').textContent()).toMatch(new RegExp(`regenerate by bo, .*\\(attempt 0, seed ${seedBefore} → \\d+\\)`));
    await shot(page, 'review-real-regenerated');
    await page.keyboard.press('a');
    await expect.poll(() => page.locator('.empty').isVisible(), { timeout: 30_000 }).toBe(true);

    await handle.result();
    const regenerated = readManifest(toRegenerate);
    expect(regenerated.status).toBe('done');
    expect(regenerated.seed).not.toBe(seedBefore);
    expect(regenerated.reviewDecisions?.map((d) => `${d.decision}@${d.attempt} by ${d.reviewer}`)).toEqual(['regenerate@0 by bo', 'approve@1 by bo']);
    expect(regenerated.reviewDecisions![0]!.nextSeed).toBe(regenerated.seed);
    // Exactly one more generate job at the service: the regenerate's.
    expect((await readServiceStats(stack.service)).jobs_created.generate).toBe(generateJobsBefore + 1);
    // The report says who decided what.
    const report = await readCatalogReport(outDir, CATALOG);
    const bySku = Object.fromEntries(report.rows.map((row) => [row.sku, row.reviewDecisions?.map((d) => `${d.decision} by ${d.reviewer}`)]));
    expect(bySku).toEqual({ 'BUSY-3': ['reject by bo'], [toApprove]: ['approve by bo'], [toRegenerate]: ['regenerate by bo', 'approve by bo'] });

    const timings = (await page.evaluate(() => window.reviewTimings)) as Array<{ sku: string; ms: number; frameMs: number; prefetched: boolean }>;
    const cold = await page.evaluate(async (url) => {
      const samples: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        const viewer = document.createElement('model-viewer');
        viewer.setAttribute('style', 'width: 300px; height: 300px; position: fixed; top: 0; left: 0');
        document.body.append(viewer);
        const start = performance.now();
        const loaded = new Promise((resolve) => viewer.addEventListener('load', resolve, { once: true }));
        viewer.setAttribute('src', `${url}?cold=${i}`);
        await loaded;
        await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        samples.push(performance.now() - start);
        viewer.remove();
      }
      return samples;
    }, `/files/${CATALOG}/${toApprove}/fast.glb`);
    const glbBytes = fs.statSync(path.join(outDir, CATALOG, toApprove, 'fast.glb')).size;
    console.log(
      `review key -> next model on screen: ${timings.map((t) => `${t.sku} ${t.ms.toFixed(1)} ms (page drawn ${t.frameMs.toFixed(1)} ms)${t.prefetched ? '' : ' (not prefetched)'}`).join(', ')}; ` +
        `cold load of a ${(glbBytes / 1024).toFixed(0)} kB model in the same page: ${cold.map((ms) => `${ms.toFixed(1)} ms`).join(', ')}`,
    );
    // One per decision that left a next model (reject, regenerate); the last approve left an empty queue.
    expect(timings.map((t) => t.sku)).toEqual([toRegenerate, toApprove]);
    console.log(`queue polls answered 503 while the killed worker's workflows moved to the new one: ${unanswered}`);
    expect(problems).toEqual([]);
    await page.close();
  }, 600_000);
  it('key press to the next model: with the prefetch and without, same page, the real models just made', async () => {
    // The models, photos and previews the first test made, each queued again by the test-only workflow that
    // answers the review contract (tests/harness/review-contract-workflows.ts): six SKUs per arm, the same
    // files in the same order, a reviewer's look of 1.5 s before each key press in both arms.
    const sources = fs
      .readdirSync(path.join(outDir, CATALOG))
      .filter((sku) => ['fast.glb', 'preview.mp4'].every((file) => fs.existsSync(path.join(outDir, CATALOG, sku, file))));
    expect(sources.length).toBeGreaterThanOrEqual(2);
    const address = (stack.client.connection as Connection).options.address;
    const workerConnection = await NativeConnection.connect({ address });
    const worker = await Worker.create({
      connection: workerConnection,
      taskQueue: 'review-ab',
      workflowsPath: path.join(repoRoot, 'tests', 'harness', 'review-contract-workflows.ts'),
    });
    const running = worker.run();
    const results: Record<string, Array<{ sku: string; ms: number; frameMs: number; prefetched: boolean }>> = {};
    try {
      for (const arm of ['on', 'off'] as const) {
        const catalogId = `review-ab-${arm}`;
        for (let i = 0; i < 6; i += 1) {
          const sku = `AB-${i + 1}`;
          const source = path.join(outDir, CATALOG, sources[i % sources.length]!);
          const dir = path.join(outDir, catalogId, sku);
          fs.mkdirSync(dir, { recursive: true });
          const photo = fs.readdirSync(source).find((name) => name.startsWith('input.'));
          for (const file of ['fast.glb', 'preview.mp4', ...(photo ? [photo] : [])]) fs.copyFileSync(path.join(source, file), path.join(dir, file));
          const now = new Date();
          const item: ReviewItem = {
            catalogId, sku, row: i + 1, attempt: 0, seed: 42, score: (i + 1) / 10, flagged: i < 4, failing: [], preset: 'fast',
            files: { glb: `${sku}/fast.glb`, preview: `${sku}/preview.mp4`, ...(photo ? { image: `${sku}/${photo}` } : {}) },
            waitingSince: now.toISOString(), deadline: new Date(now.getTime() + 3600_000).toISOString(), onDeadline: 'reject', history: [],
          };
          await stack.client.workflow.start('convertAsset', {
            workflowId: assetWorkflowId(catalogId, sku),
            taskQueue: 'review-ab',
            args: [{ item }],
            typedSearchAttributes: [{ key: catalogIdKey, value: catalogId }, { key: skuKey, value: sku }],
          });
        }
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        await page.goto(`${dashboard.url}?token=${BO_TOKEN}&prefetch=${arm === 'on' ? 1 : 0}#/catalog/${catalogId}/review`);
        await expect.poll(() => page.locator('.queue li').count(), { timeout: 30_000 }).toBe(6);
        for (let i = 1; i <= 5; i += 1) {
          await modelOnScreen(page, `AB-${i}`);
          if (arm === 'on') await nextLoaded(page, `AB-${i + 1}`);
          await page.waitForTimeout(1500);
          await page.keyboard.press('a');
        }
        await modelOnScreen(page, 'AB-6');
        // The last timing is pushed two frames after the model is drawn: wait for it rather than race it.
        await expect.poll(() => page.evaluate(() => window.reviewTimings.length), { timeout: 10_000 }).toBe(5);
        results[arm] = await page.evaluate(() => window.reviewTimings);
        await page.close();
      }
    } finally {
      worker.shutdown();
      await running;
      await workerConnection.close();
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const line = (arm: string) => results[arm]!.map((t) => `${t.ms.toFixed(0)}`).join(', ');
    const on = median(results.on!.map((t) => t.ms));
    const off = median(results.off!.map((t) => t.ms));
    console.log(
      `key -> next model drawn, ms: prefetch ${line('on')} (median ${on.toFixed(0)}; page drawn median ${median(results.on!.map((t) => t.frameMs)).toFixed(0)}); ` +
        `no prefetch ${line('off')} (median ${off.toFixed(0)}); prefetch / none = x${(on / off).toFixed(2)}`,
    );
    expect(results.on!.map((t) => t.prefetched)).toEqual([true, true, true, true, true]);
    expect(results.off!.map((t) => t.prefetched)).toEqual([false, false, false, false, false]);
  }, 300_000);
});
