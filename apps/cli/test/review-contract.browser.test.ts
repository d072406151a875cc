/// <reference lib="dom" />
// The review page in chromium, keyboard only, against a real Temporal dev server and asset workflows
// that answer the review contract (tests/harness/review-contract-workflows.ts: the reviewDecision update
// and reviewItem query, nothing of the GPU path). Checked: the queue worst score first, one key per
// decision with the next SKU on screen (key-to-model time measured with performance marks, printed),
// regenerate / reject-with-reason / approve / bulk approve reaching the workflows under the token's
// reviewer name, and the routes' refusals (a decision on what waits no more, on an older attempt, a
// body naming a reviewer, a cross-site post). The real convertCatalog / convertAsset in review mode are
// driven in tests/integration/review-dashboard.test.ts, which also measures the prefetch against none on
// real models (these cubes are too small to tell).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetWorkflowId, type ReviewItem } from '@trellis/contracts';
import { startDashboard, type Dashboard } from '@trellis/dashboard';
import { repoRoot, startDevServer, type DevServer } from '@trellis/devstack';
import { catalogIdKey, reviewItemQuery, skuKey } from '@trellis/workflows/client';
import { cubeGlb } from '../../../tests/harness/cube-glb';
import { artifactsDir, launchChromium } from './browser';
import { exampleCatalogDir } from './helpers';

const CATALOG = 'review-shop';
const TASK_QUEUE = 'review-contract';
const ALICE_TOKEN = 'alice-token-0123456789abcdef';

let temporal: DevServer;
let connection: Connection;
let client: Client;
let worker: Worker;
let running: Promise<void>;
let dashboard: Dashboard;
let browser: Browser;
let outDir: string;
let root: string;

/** Four models waiting; scores chosen so the queue order (worst first) differs from the row order. */
const waiting: Array<{ sku: string; row: number; score: number; colour: [number, number, number]; image: string }> = [
  { sku: 'MUG-1', row: 1, score: 0.91, colour: [0.2, 0.6, 0.9], image: 'mug.png' },
  { sku: 'LAMP-2', row: 2, score: 0.31, colour: [0.9, 0.3, 0.2], image: 'lamp.png' },
  { sku: 'CHAIR-3', row: 3, score: 0.55, colour: [0.9, 0.8, 0.2], image: 'chair.png' },
  { sku: 'POT-4', row: 4, score: 0.86, colour: [0.2, 0.8, 0.3], image: 'plant-pot.png' },
];

function itemOf(entry: (typeof waiting)[number]): ReviewItem {
  const now = new Date();
  return {
    catalogId: CATALOG,
    sku: entry.sku,
    row: entry.row,
    attempt: 0,
    seed: 42,
    score: entry.score,
    flagged: entry.score < 0.6,
    failing: entry.score < 0.6 ? ['silhouette', 'texture_black_spots'] : [],
    preset: 'fast',
    files: { glb: `${entry.sku}/fast.glb`, image: `${entry.sku}/input.png` },
    waitingSince: now.toISOString(),
    deadline: new Date(now.getTime() + 7 * 24 * 3600_000).toISOString(),
    onDeadline: 'reject',
    history: [],
  };
}

beforeAll(async () => {
  browser = await launchChromium();
  // Kept for the whole file (the dev server's database is in it), removed in afterAll.
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'review-contract-'));
  outDir = path.join(root, 'out');
  for (const entry of waiting) {
    const dir = path.join(outDir, CATALOG, entry.sku);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'fast.glb'), cubeGlb(entry.colour));
    fs.writeFileSync(path.join(dir, 'fast-attempt1.glb'), cubeGlb([0.5, 0.2, 0.8], 0.3));
    fs.copyFileSync(path.join(exampleCatalogDir, entry.image), path.join(dir, 'input.png'));
  }
  temporal = await startDevServer({ workDir: root });
  const workerConnection = await NativeConnection.connect({ address: temporal.address });
  worker = await Worker.create({
    connection: workerConnection,
    namespace: temporal.namespace,
    taskQueue: TASK_QUEUE,
    workflowsPath: path.join(repoRoot, 'tests', 'harness', 'review-contract-workflows.ts'),
  });
  running = worker.run().finally(() => workerConnection.close());
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection, namespace: temporal.namespace });
  for (const entry of waiting) {
    await client.workflow.start('convertAsset', {
      workflowId: assetWorkflowId(CATALOG, entry.sku),
      taskQueue: TASK_QUEUE,
      args: [{ item: itemOf(entry), regeneratedGlb: `${entry.sku}/fast-attempt1.glb` }],
      typedSearchAttributes: [
        { key: catalogIdKey, value: CATALOG },
        { key: skuKey, value: entry.sku },
      ],
    });
  }
  // The token names the reviewer: decisions from this page are alice's.
  dashboard = await startDashboard({ client, outDir, startCatalog: async () => undefined, namedTokens: [{ name: 'alice', token: ALICE_TOKEN }] });
}, 180_000);

afterAll(async () => {
  await dashboard?.close();
  await browser?.close();
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running?.catch(() => undefined);
  await connection?.close();
  await temporal?.stop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
}, 60_000);

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(artifactsDir, `${name}.png`) });

const queueOrder = (page: Page) => page.locator('.queue li').evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.sku));
const shownSku = (page: Page) => page.locator('.slot[data-shown="true"]').getAttribute('data-sku');
/** The shown slot's model is decoded and on screen (the page sets data-ready-for once it measured it). */
async function modelOnScreen(page: Page, sku: string) {
  await page.waitForFunction(
    (expected) => {
      const slot = document.querySelector('.slot[data-shown="true"]') as HTMLElement | null;
      const viewer = slot?.querySelector('model-viewer') as { loaded?: boolean } | null;
      return slot?.dataset.sku === expected && viewer?.loaded === true;
    },
    sku,
    { timeout: 60_000 },
  );
}

async function api(pathname: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(new URL(pathname, dashboard.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ALICE_TOKEN}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: string; code?: string } };
}

describe('review page (contract workflows) in chromium', () => {
  it('queue worst first; A / R / X+reason / B, keyboard only, each reaching its workflow as alice; the next SKU shown at once', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) problems.push(message.text());
    });
    // The token once in the address; it becomes a cookie and names the reviewer from then on.
    await page.goto(`${dashboard.url}?token=${ALICE_TOKEN}#/catalog/${CATALOG}/review`);
    await expect.poll(() => queueOrder(page), { timeout: 20_000 }).toEqual(['LAMP-2', 'CHAIR-3', 'POT-4', 'MUG-1']);
    expect(await page.locator('.reviewer').textContent()).toBe('deciding as alice');
    expect(await page.locator('.waiting-count').textContent()).toBe('4 waiting');
    // The keys are on the page.
    expect(await page.locator('.keys').textContent()).toMatch(/A approve · R regenerate · X reject/);
    await modelOnScreen(page, 'LAMP-2');
    expect(await page.locator('.current .failing').textContent()).toContain('silhouette');
    await shot(page, 'review-queue');

    // R: regenerate the worst. The next one (CHAIR-3) is on screen; LAMP-2 comes back as attempt 1.
    await page.keyboard.press('r');
    expect(await shownSku(page)).toBe('CHAIR-3');
    await modelOnScreen(page, 'CHAIR-3');
    const lamp = client.workflow.getHandle(assetWorkflowId(CATALOG, 'LAMP-2'));
    await expect.poll(async () => (await lamp.query(reviewItemQuery))?.attempt, { timeout: 10_000 }).toBe(1);
    const regenerated = (await lamp.query(reviewItemQuery))!;
    expect(regenerated.seed).not.toBe(42);
    expect(regenerated.history).toEqual([expect.objectContaining({ decision: 'regenerate', reviewer: 'alice', attempt: 0, seed: 42, nextSeed: regenerated.seed })]);
    await expect.poll(() => page.locator('.log .recorded').first().textContent()).toMatch(/^LAMP-2: regenerate recorded by alice/);

    // X, a reason, Enter: CHAIR-3 is rejected and its workflow fails with the reason.
    expect(await page.locator('.reason').isVisible()).toBe(false);
    await page.keyboard.press('x');
    expect(await page.locator('.reason').isVisible()).toBe(true);
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('reason');
    await page.keyboard.type('the lamp shade is missing');
    await page.keyboard.press('Enter');
    const chair = client.workflow.getHandle(assetWorkflowId(CATALOG, 'CHAIR-3'));
    const chairFailure = await chair.result().then(() => undefined, (error: unknown) => error);
    expect(chairFailure).toBeInstanceOf(WorkflowFailedError);
    expect(((chairFailure as WorkflowFailedError).cause as Error).message).toBe('rejected by alice: the lamp shade is missing');

    // A: approve what is shown now (the queue's next after CHAIR-3: POT-4).
    await modelOnScreen(page, 'POT-4');
    await page.keyboard.press('a');
    const pot = await client.workflow.getHandle(assetWorkflowId(CATALOG, 'POT-4')).result();
    expect(pot.decisions).toEqual([expect.objectContaining({ decision: 'approve', reviewer: 'alice', attempt: 0 })]);

    // The regenerated LAMP-2 (attempt 1) is back in the queue, worst first, with its history on the page.
    await expect.poll(() => queueOrder(page), { timeout: 10_000 }).toEqual(['LAMP-2', 'MUG-1']);
    await page.keyboard.press('k');
    await modelOnScreen(page, 'LAMP-2');
    expect(await page.locator('.current').getAttribute('data-attempt')).toBe('1');
    expect(await page.locator('.history').textContent()).toMatch(/regenerate by alice, .*\(attempt 0, seed 42 → \d+\)/);
    await shot(page, 'review-regenerated');

    // B, a score, Enter: bulk approve only what scores at least 0.5 (MUG-1), not LAMP-2 (0.31).
    await page.keyboard.press('b');
    await page.keyboard.press('Control+a');
    await page.keyboard.type('0.5');
    await expect.poll(() => page.locator('.bulk-approve').textContent()).toBe('Approve 1');
    await page.keyboard.press('Enter');
    const mug = await client.workflow.getHandle(assetWorkflowId(CATALOG, 'MUG-1')).result();
    expect(mug.decisions).toEqual([expect.objectContaining({ decision: 'approve', reviewer: 'alice' })]);
    await page.keyboard.press('Escape');

    // Last: approve the regenerated LAMP-2; the queue is empty and says so.
    await page.keyboard.press('a');
    const lampResult = await lamp.result();
    expect(lampResult.decisions.map((d: { decision: string; attempt: number }) => `${d.decision}@${d.attempt}`)).toEqual(['regenerate@0', 'approve@1']);
    await expect.poll(() => page.locator('.empty').isVisible(), { timeout: 10_000 }).toBe(true);

    const timings = (await page.evaluate(() => (window as unknown as { reviewTimings: unknown }).reviewTimings)) as Array<{ sku: string; ms: number; frameMs: number; prefetched: boolean }>;
    console.log(`review key -> next model on screen: ${timings.map((t) => `${t.sku} ${t.ms.toFixed(1)} ms (page drawn ${t.frameMs.toFixed(1)} ms)${t.prefetched ? '' : ' (not prefetched)'}`).join(', ')}`);
    // One measure per key press that left a next model to show (R, Enter after X, A on POT-4: the next below it).
    expect(timings.map((t) => t.sku)).toEqual(['CHAIR-3', 'POT-4', 'MUG-1']);
    expect(timings.filter((t) => t.prefetched).length, 'the next model was loaded before its key press').toBeGreaterThanOrEqual(2);
    expect(problems).toEqual([]);
    await page.close();
  }, 180_000);

  it('refuses a decision on what waits no more, on an older attempt, with a reviewer in the body, or from another site', async () => {
    const entry = { sku: 'REFUSE-5', row: 5, score: 0.4, colour: [0.5, 0.5, 0.5] as [number, number, number], image: 'mug.png' };
    const dir = path.join(outDir, CATALOG, entry.sku);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'fast.glb'), cubeGlb(entry.colour));
    const handle = await client.workflow.start('convertAsset', {
      workflowId: assetWorkflowId(CATALOG, entry.sku),
      taskQueue: TASK_QUEUE,
      args: [{ item: itemOf(entry) }],
      typedSearchAttributes: [{ key: catalogIdKey, value: CATALOG }, { key: skuKey, value: entry.sku }],
    });
    const decide = (body: unknown, headers?: Record<string, string>) => api(`/api/catalogs/${CATALOG}/review/items/${entry.sku}`, body, headers);

    expect(await decide({ decision: 'approve', attempt: 0, reviewer: 'mallory' })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/reviewer/) } });
    expect(await decide({ decision: 'reject', attempt: 0 })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^reason: /) } });
    expect(await decide({ decision: 'approve', attempt: 0 }, { Origin: 'https://evil.example' })).toMatchObject({ status: 403 });
    expect(await decide({ decision: 'regenerate', attempt: 0 })).toMatchObject({ status: 200, body: { decision: 'regenerate', reviewer: 'alice', attempt: 0 } });
    // Someone decided attempt 0 already; attempt 1 waits now.
    expect(await decide({ decision: 'approve', attempt: 0 })).toMatchObject({ status: 409, body: { code: 'already_decided' } });
    expect(await decide({ decision: 'approve', attempt: 1 })).toMatchObject({ status: 200, body: { decision: 'approve', attempt: 1 } });
    await handle.result();
    expect(await decide({ decision: 'approve', attempt: 1 })).toMatchObject({ status: 409, body: { code: 'not_waiting', error: expect.stringMatching(/not waiting for review any more/) } });
    // No token, no decision.
    expect((await api(`/api/catalogs/${CATALOG}/review/items/${entry.sku}`, { decision: 'approve', attempt: 1 }, { Authorization: '' })).status).toBe(401);
    expect((await api(`/api/catalogs/${CATALOG}/review/items/NOT-A-SKU`, { decision: 'approve', attempt: 0 })).status).toBe(404);
  }, 60_000);
});
