/// <reference lib="dom" />
// The dashboard in a real browser against the real local stack (Temporal dev server with its Web UI,
// the local service, a worker): live progress, GLBs rendered in model-viewer, a failed SKU's error,
// "try one image", and the Temporal Web UI filtered by catalog id and stage. Screenshots go to
// out/test-artifacts/dashboard/.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { getFreePort } from '@trellis/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '@trellis/dashboard';
import { startCatalogConversion, waitForCatalog } from '../src/api';
import { serveDashboard } from '../src/commands/dashboard';
import { prepareConversion } from '../src/conversion-input';
import { startLocalStack, type LocalStack } from '../src/local-stack';
import { artifactsDir, launchChromium } from './browser';
import { exampleCatalogDir, tempDir } from './helpers';

let stack: LocalStack;
let dashboard: Dashboard;
let browser: Browser;
let workDir: string;
let outDir: string;

beforeAll(async () => {
  browser = await launchChromium();
  workDir = fs.mkdtempSync(path.join(repoTmp(), 'dashboard-'));
  outDir = path.join(workDir, 'out');
  stack = await startLocalStack({
    workDir: path.join(workDir, 'stack'),
    temporalPort: await getFreePort(),
    uiPort: await getFreePort(),
    servicePort: await getFreePort(),
  });
  dashboard = await serveDashboard(stack.client, { outDir, port: 0 });
}, 180_000);

afterAll(async () => {
  await dashboard?.close();
  await browser?.close();
  await stack?.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
}, 60_000);

function repoTmp(): string {
  const dir = path.join(path.dirname(artifactsDir), '..', '..', 'tests', '.tmp');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

async function writeTestCatalog(): Promise<string> {
  const dir = path.join(await tempDir('dashboard-catalog-'), 'shop');
  fs.mkdirSync(dir, { recursive: true });
  for (const name of ['mug.png', 'lamp.png', 'chair.png']) fs.copyFileSync(path.join(exampleCatalogDir, name), path.join(dir, name));
  // Not an image: the SKU fails in prepare with a reason the page must show.
  fs.writeFileSync(path.join(dir, 'broken.png'), 'this is not a PNG');
  fs.writeFileSync(
    path.join(dir, 'catalog.csv'),
    ['sku,image,presets', 'MUG-1,mug.png,fast', 'BROKEN-1,broken.png,fast', 'LAMP-1,lamp.png,fast', 'CHAIR-1,chair.png,fast|balanced', ''].join('\n'),
  );
  return path.join(dir, 'catalog.csv');
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: true });

/** Share of pixels of the viewer's own rendering that differ clearly from its corner (the background). */
async function viewerCoverage(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, async (element) => {
    const viewer = element as HTMLElement & { loaded: boolean; toBlob(options?: object): Promise<Blob> };
    const bitmap = await createImageBitmap(await viewer.toBlob({ idealAspect: false }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d')!;
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    const [r0, g0, b0, a0] = [data[0]!, data[1]!, data[2]!, data[3]!];
    let differing = 0;
    for (let i = 0; i < data.length; i += 4) {
      const delta = Math.abs(data[i]! - r0) + Math.abs(data[i + 1]! - g0) + Math.abs(data[i + 2]! - b0) + Math.abs(data[i + 3]! - a0);
      if (delta > 40) differing += 1;
    }
    return differing / (data.length / 4);
  });
}

describe('dashboard in chromium', () => {
  it('shows a running catalog live, its failed SKU with the error, and its GLBs turning in the viewer; the Web UI lists its assets by stage', async () => {
    const prepared = await prepareConversion({ catalog: await writeTestCatalog(), out: outDir, catalogId: 'browser-shop', concurrency: '1' });
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone-sized screen
    await page.goto(`${dashboard.url}#/catalog/browser-shop`);
    await startCatalogConversion(stack.client, prepared.input);

    // Progress moves without reloads: sample the bar until the catalog completes.
    const seen = new Set<string>();
    const bar = page.locator('[data-catalog="browser-shop"] .bar');
    const stages = new Set<string>();
    let uiChecked = false;
    for (let i = 0; i < 240; i += 1) {
      const done = await bar.getAttribute('data-done').catch(() => null);
      if (done !== null) seen.add(done);
      for (const text of await page.locator('.sku .stage').allTextContents()) if (text) stages.add(text);
      if (!uiChecked && Number(done) >= 1) {
        // The viewport only: a full-page shot renders every viewer in software and outlasts this catalog.
        await page.screenshot({ path: path.join(artifactsDir, 'catalog-running.png') });
        await checkWebUi();
        uiChecked = true;
      }
      const badge = await page.locator('[data-catalog="browser-shop"] .badge').textContent();
      if (['all done', 'some failed', 'all failed'].includes(badge ?? '')) break;
      await page.waitForTimeout(500);
    }
    await waitForCatalog(stack.client, 'browser-shop');
    expect(uiChecked).toBe(true);
    // At least one intermediate value (neither 0 nor all 4) was on screen.
    expect([...seen].some((value) => Number(value) > 0 && Number(value) < 4), `progress values seen: ${[...seen]}`).toBe(true);
    expect([...stages].join(' ')).toMatch(/stage: (preparing|warming_up|generating|extracting)/);

    const broken = page.locator('[data-sku="BROKEN-1"]');
    await expect.poll(() => broken.getAttribute('data-status'), { timeout: 20_000 }).toBe('failed');
    expect(await broken.locator('.error').textContent()).toMatch(/broken\.png/);

    // model-viewer loads a model once it scrolls into view (many SKUs, one page).
    const chair = '[data-sku="CHAIR-1"] model-viewer';
    await page.locator(chair).scrollIntoViewIfNeeded();
    await page.waitForFunction((selector) => (document.querySelector(selector) as { loaded?: boolean } | null)?.loaded === true, chair, { timeout: 60_000 });
    await page.waitForTimeout(500);
    const coverage = await viewerCoverage(page, chair);
    expect(coverage, 'share of the viewer showing the model').toBeGreaterThan(0.02);
    console.log(`model covers ${(coverage * 100).toFixed(1)}% of the viewer`);
    expect(await page.locator('[data-sku="CHAIR-1"] .files a[href*=".glb"]').count()).toBe(2); // fast + balanced
    await page.locator('[data-sku="CHAIR-1"]').screenshot({ path: path.join(artifactsDir, 'sku-chair-viewer.png') });

    // A catalog whose SKUs partly failed says so in its badge, not "completed" beside a red bar.
    const header = page.locator('[data-catalog="browser-shop"]');
    await expect.poll(() => header.locator('.badge').textContent()).toBe('some failed');
    expect(await header.locator('.badge').getAttribute('class')).toBe('badge some-failed');
    expect(await header.locator('.numbers').textContent()).toMatch(/^4\/4 finished · 3 done · 0 reused · 1 failed · 0 running · GPU work on an A100 ≈ \d+ s ≈ \$\d+\.\d\d \(ran on the local CPU backend in \d+\.\d s\)$/);
    // The failed card's error names the file without this machine's absolute paths.
    expect(await broken.locator('.error').textContent()).not.toContain(workDir);

    // After completion the filter offers the states the SKUs are in, none stale ("running" is gone).
    await expect.poll(async () => page.locator('select[name=status] option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value))).toEqual(['', 'done', 'failed']);
    // Filter by state: only the failed SKU remains.
    await page.selectOption('select[name=status]', 'failed');
    await expect.poll(() => page.locator('article.sku:visible').count()).toBe(1);
    await shot(page, 'catalog-filtered-failed');

    // The catalog list shows its counts, GPU seconds and cost beside the date (not overwritten by it).
    await page.goto(`${dashboard.url}#/`);
    const listed = page.locator('section.catalog[data-catalog="browser-shop"]');
    await expect.poll(() => listed.locator('.summary .numbers').textContent()).toMatch(/^4\/4 finished · 3 done · 0 reused · 1 failed · 0 running · GPU work on an A100 ≈ \d+ s ≈ \$\d+\.\d\d/);
    expect(await listed.locator('.when').textContent()).toMatch(/\d/);
    expect(await listed.locator('.badge').textContent()).toBe('some failed');
    await shot(page, 'catalog-list');
    await page.close();

    async function checkWebUi(): Promise<void> {
      const ui = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const query = encodeURIComponent(`TrellisCatalogId="browser-shop" AND TrellisStage="done"`);
      await ui.goto(`${stack.temporal.uiUrl}/namespaces/${stack.temporal.namespace}/workflows?query=${query}`);
      await ui.getByText('asset/browser-shop/MUG-1').first().waitFor({ timeout: 30_000 });
      await shot(ui, 'temporal-ui-by-catalog-and-stage');
      // By catalog id alone: every started asset of this catalog, none of another's.
      await ui.goto(`${stack.temporal.uiUrl}/namespaces/${stack.temporal.namespace}/workflows?query=${encodeURIComponent('TrellisCatalogId="browser-shop"')}`);
      await ui.getByText('asset/browser-shop/BROKEN-1').first().waitFor({ timeout: 30_000 });
      expect(await ui.getByText(/asset\/try-/).count()).toBe(0);
      await shot(ui, 'temporal-ui-by-catalog');
      await ui.close();
    }
  }, 240_000);

  it('"try one image": an uploaded image comes back as a GLB to orbit and download', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${dashboard.url}#/try`);
    await page.setInputFiles('input[name=image]', path.join(exampleCatalogDir, 'bottle.png'));
    await page.selectOption('select[name=pipeline]', '512');
    await page.click('button[type=submit]');
    await page.waitForURL(/#\/catalog\/try-/);
    const catalogId = decodeURIComponent(page.url().split('#/catalog/')[1]!);
    // The file's name is the SKU.
    const viewer = '[data-sku="bottle"] model-viewer';
    await page.waitForFunction((selector) => (document.querySelector(selector) as { loaded?: boolean } | null)?.loaded === true, viewer, { timeout: 90_000 });
    const href = await page.locator('[data-sku="bottle"] .files a[download]').first().getAttribute('href');
    const glb = await page.request.get(new URL(href!, dashboard.url).toString());
    expect(glb.status()).toBe(200);
    expect((await glb.body()).subarray(0, 4).toString('latin1')).toBe('glTF');
    await shot(page, 'try-one-image');
    await page.close();
    // The same workflow path as any catalog: it is listed with the others.
    const listed = (await (await fetch(new URL('/api/catalogs', dashboard.url))).json()) as { catalogs: Array<{ catalogId: string }> };
    expect(listed.catalogs.map((c) => c.catalogId)).toContain(catalogId);
  }, 150_000);
  it('channel files: a Draco and a meshopt file render with the decoders the dashboard serves itself', async () => {
    const dir = path.join(await tempDir('dashboard-channels-'), 'shop-ready');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(exampleCatalogDir, 'mug.png'), path.join(dir, 'mug.png'));
    fs.writeFileSync(path.join(dir, 'catalog.csv'), 'sku,image,height\nMUG-CH,mug.png,9.5 cm\n');
    const prepared = await prepareConversion({ catalog: path.join(dir, 'catalog.csv'), out: outDir, catalogId: 'shop-ready', presets: 'fast', pipeline: '512', channels: 'web,google' });
    await (await startCatalogConversion(stack.client, prepared.input)).result();

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      // The page has no favicon; chromium asks for one anyway.
      if (message.location().url.endsWith('/favicon.ico')) return;
      if (message.type() === 'error' || /Content Security Policy|WebAssembly/i.test(message.text())) problems.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => problems.push(error.message));
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(`${dashboard.url}#/catalog/shop-ready`);
    const card = page.locator('[data-sku="MUG-CH"]');
    await card.locator('li.channel').first().waitFor({ timeout: 20_000 });
    expect(await card.locator('li.channel[data-channel="web"]').textContent()).toMatch(/meshopt · valid/);
    expect(await card.locator('li.channel[data-channel="google"]').textContent()).toMatch(/draco · valid/);
    expect(await card.locator('model-viewer').getAttribute('poster')).toMatch(/poster\.webp$/);

    const viewer = '[data-sku="MUG-CH"] model-viewer';
    await page.locator(viewer).scrollIntoViewIfNeeded();
    await page.waitForFunction((selector) => (document.querySelector(selector) as { loaded?: boolean } | null)?.loaded === true, viewer, { timeout: 60_000 });
    for (const [channel, decoder] of [['web', '/assets/meshopt_decoder.js'], ['google', '/assets/draco/draco_decoder.wasm']] as const) {
      // Listen before switching: model-viewer fires load (or error) once the new file is decoded.
      const loaded = page.$eval(viewer, (element) => new Promise<string>((resolve) => {
        element.addEventListener('load', () => resolve('load'), { once: true });
        element.addEventListener('error', (event) => resolve(`error: ${JSON.stringify((event as CustomEvent).detail ?? {})}`), { once: true });
      }));
      await card.locator(`li.channel[data-channel="${channel}"] button`).click();
      expect(await loaded, `${channel}: ${problems.join('\n')}`).toBe('load');
      expect(await page.locator(viewer).getAttribute('src')).toMatch(new RegExp(`/channels/${channel}\\.glb$`));
      await page.waitForTimeout(500);
      const coverage = await viewerCoverage(page, viewer);
      expect(coverage, `share of the viewer showing the ${channel} file`).toBeGreaterThan(0.02);
      expect(requested.some((url) => new URL(url).pathname === decoder), `${decoder} requested`).toBe(true);
      await card.screenshot({ path: path.join(artifactsDir, `channel-${channel}.png`) });
    }
    expect(problems).toEqual([]);
    // Decoders come from the dashboard itself: no request leaves it.
    expect(requested.filter((url) => new URL(url).origin !== new URL(dashboard.url).origin)).toEqual([]);
    await page.close();
  }, 180_000);
});
