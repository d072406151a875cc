// Catalogs as shops have them, end to end on a real dev server and the real local service: a Shopify
// export with image URLs served over HTTP, SKUs as written (commas, umlauts, "../../escape", CJK),
// camera-size photos, and failures that show as Failed in Temporal and as one line in the worker log.
// `trellis estimate` is checked against the report of the run that follows (within 10%).
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { getCatalogProgress, resumeCatalog, startCatalogConversion } from '@trellis/cli';
import { assetWorkflowId, CatalogReport, type CatalogResult } from '@trellis/contracts';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConversion, type ConversionFlags } from '../../apps/cli/src/conversion-input';
import { estimateConversion } from '../../apps/cli/src/estimate';
import { formatProgress } from '../../apps/cli/src/progress-view';
import { exampleImagesDir } from '../harness/catalogs';
import { startConversionStack, type ConversionStack } from '../harness/conversion-stack';
import { workerLogLines } from '../harness/quiet-runtime';

let stack: ConversionStack;
let images: Server;
let imageBase: string;
const imageRequests: string[] = [];

beforeAll(async () => {
  stack = await startConversionStack('real-catalogs');
  // Product photos over HTTP, as a shop's CDN serves them.
  images = createServer((request, response) => {
    imageRequests.push(request.url ?? '');
    const file = path.join(exampleImagesDir, path.basename(request.url ?? ''));
    if (!fs.existsSync(file)) return void response.writeHead(404).end('not found');
    response.writeHead(200, { 'content-type': 'image/png' }).end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
  imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}/files`;
});
afterAll(async () => {
  images?.closeAllConnections();
  await new Promise((resolve) => images?.close(resolve));
  await stack?.stop();
});

async function convert(flags: Partial<ConversionFlags> & { catalog: string; catalogId: string }) {
  const prepared = await prepareConversion({ out: path.join(stack.workDir, 'out'), pipeline: '512', presets: 'fast,balanced', ...flags });
  const handle = await startCatalogConversion(stack.client, prepared.input, { taskQueue: stack.taskQueue });
  const result: CatalogResult = await handle.result();
  const report = CatalogReport.parse(JSON.parse(fs.readFileSync(result.reportJsonPath, 'utf8')));
  return { prepared, result, report, outDir: prepared.input.outDir };
}

describe('real catalogs', () => {
  it('a Shopify product export with image URLs converts with no editing; estimate matches the report within 10%', async () => {
    const dir = path.join(stack.workDir, 'shopify');
    fs.mkdirSync(dir, { recursive: true });
    const csv = [
      'Handle,Title,Body (HTML),Vendor,Option1 Name,Option1 Value,Variant SKU,Variant Price,Image Src,Image Position,Image Alt Text',
      `ceramic-mug,Ceramic mug,"<p>Glazed, 350 ml</p>",Acme,Title,Default Title,"mug, teal",12.00,${imageBase}/mug.png,1,front`,
      `ceramic-mug,,,,,,,,${imageBase}/lamp.png,2,side`,
      `desk-lamp,Desk lamp,,Acme,Title,Default Title,Lampe-Ä-42,45.00,${imageBase}/lamp.png,1,`,
      `plant-pot,Plant pot,,Acme,Title,Default Title,,9.00,${imageBase}/plant-pot.png,1,`,
    ].join('\n');
    const catalog = path.join(dir, 'products_export_1.csv');
    fs.writeFileSync(catalog, `${csv}\n`);

    const flags = { catalog, catalogId: 'shopify', out: path.join(stack.workDir, 'out'), pipeline: '512', presets: 'fast,balanced' };
    const before = await estimateConversion(await prepareConversion(flags), { checkOutputs: true });
    expect(before).toMatchObject({ rows: 3, doneRows: 0, generations: 3, extractions: 6, coldStart: true });

    const { result, report } = await convert(flags);
    expect(result.counts).toMatchObject({ done: 3, failed: 0 });
    expect(report.rows.map((row) => [row.sku, row.status])).toEqual([
      ['mug, teal', 'done'],
      ['Lampe-Ä-42', 'done'],
      ['plant-pot', 'done'],
    ]);
    // Position 1 of the mug's two images; the side shot was never fetched for it.
    expect(imageRequests.filter((url) => url.endsWith('mug.png')).length).toBeGreaterThan(0);
    const ratio = before.usage.estimatedCostUsd / report.usage.estimatedCostUsd;
    console.log(`estimate $${before.usage.estimatedCostUsd.toFixed(4)} vs report $${report.usage.estimatedCostUsd.toFixed(4)} (ratio ${ratio.toFixed(3)})`);
    expect(Math.abs(ratio - 1)).toBeLessThanOrEqual(0.1);

    // Everything is done now: the estimate subtracts it.
    const after = await estimateConversion(await prepareConversion(flags), { checkOutputs: true });
    expect(after).toMatchObject({ doneRows: 3, generations: 0, extractions: 0 });
    expect(after.usage.estimatedCostUsd).toBe(0);
  });

  it('SKUs as written, camera-size photos, and failures that show as Failed in Temporal and as one log line', async () => {
    const dir = path.join(stack.workDir, 'odd');
    fs.mkdirSync(dir, { recursive: true });
    const mug = fs.readFileSync(path.join(exampleImagesDir, 'mug.png'));
    const camera = await sharp(mug).flatten({ background: '#ffffff' }).resize(6000, 4000, { fit: 'contain', background: '#ffffff' }).jpeg({ quality: 95 }).toBuffer();
    const bigPng = await sharp(Buffer.alloc(3000 * 2300 * 3, 200), { raw: { width: 3000, height: 2300, channels: 3 } })
      .composite([{ input: await sharp(mug).resize(1500).toBuffer(), gravity: 'centre' }])
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(bigPng.length).toBeGreaterThan(20 * 1000 * 1000);
    fs.writeFileSync(path.join(dir, 'camera.jpg'), camera);
    fs.writeFileSync(path.join(dir, 'big.png'), bigPng);
    fs.copyFileSync(path.join(exampleImagesDir, 'lamp.png'), path.join(dir, 'lamp.png'));
    fs.writeFileSync(path.join(dir, 'cut.png'), mug.subarray(0, mug.length - 40));
    fs.writeFileSync(
      path.join(dir, 'catalog.csv'),
      ['sku,image', '"chair, oak",camera.jpg', 'Stuhl-Ä-Ø-42,big.png', '../../escape,lamp.png', '椅子 オーク/42,lamp.png', 'MISSING-1,nope.png', 'TRUNCATED-1,cut.png'].join('\n') + '\n',
    );
    const { result, report, outDir } = await convert({ catalog: path.join(dir, 'catalog.csv'), catalogId: 'odd-skus', presets: 'fast' });
    expect(result.counts).toMatchObject({ done: 4, failed: 2, running: 0, waiting: 0 });

    // The report shows each SKU as written, with the folder it maps to, all inside the output folder.
    const byRow = new Map(report.rows.map((row) => [row.sku, row]));
    for (const sku of ['chair, oak', 'Stuhl-Ä-Ø-42', '../../escape', '椅子 オーク/42']) {
      const row = byRow.get(sku)!;
      expect(row.status, sku).toBe('done');
      const folder = path.join(outDir, 'odd-skus', row.folder!);
      expect(path.dirname(folder)).toBe(path.join(outDir, 'odd-skus'));
      expect(fs.statSync(path.join(folder, 'fast.glb')).size).toBeGreaterThan(1000);
      expect(JSON.parse(fs.readFileSync(path.join(folder, 'manifest.json'), 'utf8'))).toMatchObject({ sku, folder: row.folder });
    }
    expect(byRow.get('Stuhl-Ä-Ø-42')!.folder).toBe('Stuhl-Ä-Ø-42');
    expect(fs.existsSync(path.join(stack.workDir, 'escape'))).toBe(false);
    expect(byRow.get('MISSING-1')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^image_not_found: /) });
    expect(byRow.get('TRUNCATED-1')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^image_unreadable: .*truncated/) });

    // The Web UI's list view: exactly the failed SKUs are Failed.
    const expected = [assetWorkflowId('odd-skus', 'MISSING-1'), assetWorkflowId('odd-skus', 'TRUNCATED-1')].sort();
    let failed: string[] = [];
    // Visibility is eventually consistent: poll until it has caught up (or the test times out).
    while (failed.length !== expected.length) {
      failed = [];
      for await (const execution of stack.client.workflow.list({ query: `ExecutionStatus="Failed" AND TrellisCatalogId="odd-skus"` })) {
        failed.push(execution.workflowId);
      }
      if (failed.length !== expected.length) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(failed.sort()).toEqual(expected);

    // One line per expected failure, naming the SKU and the code, and no stack trace.
    const lines = workerLogLines.filter((line) => line.includes('MISSING-1') || line.includes('TRUNCATED-1'));
    expect(lines).toHaveLength(2);
    expect(lines.join('')).toMatch(/SKU "MISSING-1" \(row 5\) failed: image_not_found: /);
    expect(workerLogLines.join('')).not.toMatch(/^\s+at /m);
  });

  it('--max-cost pauses the catalog before the budget would be passed, says why, and `resume` goes on', async () => {
    const dir = path.join(stack.workDir, 'budget');
    fs.mkdirSync(dir, { recursive: true });
    for (const name of ['mug.png', 'lamp.png', 'chair.png']) fs.copyFileSync(path.join(exampleImagesDir, name), path.join(dir, name));
    fs.writeFileSync(path.join(dir, 'catalog.csv'), 'sku,image\nB-1,mug.png\nB-2,lamp.png\nB-3,chair.png\n');
    // 512 + fast: ~$0.0174 per asset by the seed table, and the first asset of a run is priced with one
    // cold start ($0.0937), as `trellis estimate` prices it: a $0.05 budget cannot start it.
    // (Pausing mid-run, after some assets, is in libs/workflows/test/workflows.test.ts.)
    const prepared = await prepareConversion({
      catalog: path.join(dir, 'catalog.csv'), out: path.join(stack.workDir, 'out'), catalogId: 'budget', pipeline: '512', presets: 'fast', maxCost: '0.05', concurrency: '1',
    });
    const handle = await startCatalogConversion(stack.client, prepared.input, { taskQueue: stack.taskQueue });
    let progress = await getCatalogProgress(stack.client, 'budget');
    while (progress.status !== 'paused') {
      await new Promise((resolve) => setTimeout(resolve, 200));
      progress = await getCatalogProgress(stack.client, 'budget');
    }
    expect(progress.counts).toMatchObject({ done: 0, running: 0, waiting: 3 });
    expect(progress.usage.estimatedCostUsd).toBe(0);
    expect(formatProgress(progress)).toMatch(/paused by --max-cost: \$0\.0000 spent or running, and the next asset \(SKU "B-1", ~\$0\.1110\) would pass the budget of \$0\.0500\. `trellis resume budget` goes on/);
    await resumeCatalog(stack.client, 'budget');
    const result = await handle.result();
    expect(result.counts).toMatchObject({ done: 3, failed: 0 });
  });
});
