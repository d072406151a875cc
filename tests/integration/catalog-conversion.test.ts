// The main job end to end: a real dev server, the real local service (relief backend on CPU), a real
// worker with the real workflows and activities. GLBs are checked by the Khronos glTF validator.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { startCatalogConversion } from '@trellis/cli';
import { assetWorkflowId, catalogWorkflowId, CatalogReport, type CatalogResult } from '@trellis/contracts';
import { validateBytes } from 'gltf-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';
import { startConversionStack, type ConversionStack } from '../harness/conversion-stack';

/** The asset workflow's own history (an asset's whole life in Temporal). */
const ASSET_HISTORY_BYTES_LIMIT = 16 * 1024;
/** What each asset adds to its catalog's history (bounded per run by continue-as-new as well). */
const CATALOG_HISTORY_BYTES_PER_ASSET_LIMIT = 8 * 1024;
let stack: ConversionStack;

beforeAll(async () => {
  stack = await startConversionStack('conversion');
});
afterAll(async () => {
  await stack?.stop();
});

async function convert(catalogPath: string, catalogId: string, extra: { presets?: string; concurrency?: number } = {}) {
  const prepared = await prepareConversion({
    catalog: catalogPath,
    out: path.join(stack.workDir, 'out'),
    catalogId,
    presets: extra.presets,
    pipeline: '512',
  });
  const input = { ...prepared.input, ...(extra.concurrency ? { concurrency: extra.concurrency } : {}) };
  const handle = await startCatalogConversion(stack.client, input, { taskQueue: stack.taskQueue });
  const result: CatalogResult = await handle.result();
  const report = CatalogReport.parse(JSON.parse(fs.readFileSync(result.reportJsonPath, 'utf8')));
  return { prepared, result, report, outDir: input.outDir };
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Bytes by event type, biggest first: where history size goes. */
function largestEventTypes(history: temporal.api.history.v1.IHistory): string {
  const bytes = new Map<string, number>();
  for (const event of history.events ?? []) {
    const type = temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? 'unknown';
    bytes.set(type, (bytes.get(type) ?? 0) + temporal.api.history.v1.HistoryEvent.encode(event).finish().byteLength);
  }
  return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([type, size]) => `${type.replace('EVENT_TYPE_', '')} ${size}`).join(', ');
}

async function historyOf(client: Client, workflowId: string) {
  return client.workflow.getHandle(workflowId).fetchHistory();
}

describe('catalog conversion on a real dev server and the real local service', () => {
  const catalogId = 'three-skus';
  const skus = ['MUG-1', 'SNEAKER-2', 'LAMP-3'];
  let catalogPath: string;

  it('turns 3 SKUs x 3 presets into 9 valid GLBs, 3 previews and a matching report', async () => {
    catalogPath = writeCatalog(path.join(stack.workDir, 'three'), {
      rows: [
        { sku: 'MUG-1', image: 'mug.png', seed: 7 },
        { sku: 'SNEAKER-2', image: 'sneaker.png' },
        { sku: 'LAMP-3', image: 'lamp.png' },
      ],
    });
    const { result, report, outDir } = await convert(catalogPath, catalogId, { concurrency: 3 });
    expect(result.status).toBe('completed');
    expect(result.counts).toMatchObject({ done: 3, failed: 0, reused: 0, running: 0, waiting: 0 });
    expect(stack.trellis.generateSubmits).toBe(3);
    // One extract job per SKU makes its 3 GLBs in one GPU call.
    expect(stack.trellis.extractSubmits).toBe(3);
    expect(stack.trellis.extractPresetSets.map((names) => [...names].sort())).toEqual(Array(3).fill(['balanced', 'fast', 'quality']));

    for (const sku of skus) {
      const dir = path.join(outDir, catalogId, sku);
      for (const preset of ['fast', 'balanced', 'quality']) {
        const glb = fs.readFileSync(path.join(dir, `${preset}.glb`));
        const validation = await validateBytes(new Uint8Array(glb), { maxIssues: 50 });
        expect(validation.issues.numErrors, `${sku}/${preset}.glb: ${JSON.stringify(validation.issues.messages)}`).toBe(0);
        expect(validation.issues.numWarnings, `${sku}/${preset}.glb: ${JSON.stringify(validation.issues.messages)}`).toBe(0);
      }
      const preview = fs.readFileSync(path.join(dir, 'preview.mp4'));
      expect(preview.subarray(4, 8).toString('latin1')).toBe('ftyp');
      const row = report.rows.find((r) => r.sku === sku)!;
      expect(row.status).toBe('done');
      expect(Object.keys(row.glbs).sort()).toEqual(['balanced', 'fast', 'quality']);
      for (const [preset, file] of Object.entries(row.glbs)) {
        expect(file.sha256).toBe(sha256(path.join(dir, `${preset}.glb`)));
      }
      expect(row.preview?.sha256).toBe(sha256(path.join(dir, 'preview.mp4')));
    }
    expect(report.counts).toMatchObject({ done: 3 });
    const csv = fs.readFileSync(result.reportCsvPath, 'utf8').trim().split('\n');
    expect(csv).toHaveLength(4);
    expect(csv[0]).toContain('fast_sha256');
  });

  it('keeps history small, free of credentials, and replayable', async () => {
    const secrets = [stack.service.credentials.modalKey, stack.service.credentials.modalSecret];
    const parent = await historyOf(stack.client, catalogWorkflowId(catalogId));
    const histories: temporal.api.history.v1.IHistory[] = [parent];
    const perAsset: number[] = [];
    for (const sku of skus) {
      const history = await historyOf(stack.client, assetWorkflowId(catalogId, sku));
      histories.push(history);
      perAsset.push(temporal.api.history.v1.History.encode(history).finish().byteLength);
    }
    const parentBytes = temporal.api.history.v1.History.encode(parent).finish().byteLength;
    console.log(`largest events of ${skus[0]}: ${largestEventTypes(histories[1]!)}`);
    console.log(`history bytes: asset workflows ${perAsset.join(', ')}; catalog ${parentBytes} (${Math.round(parentBytes / skus.length)} per asset)`);
    expect(Math.max(...perAsset)).toBeLessThan(ASSET_HISTORY_BYTES_LIMIT);
    expect(parentBytes / skus.length).toBeLessThan(CATALOG_HISTORY_BYTES_PER_ASSET_LIMIT);

    // Payloads are stored as raw bytes inside the protobuf: search every byte of every history.
    for (const history of histories) {
      const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
      for (const secret of secrets) expect(bytes.includes(secret)).toBe(false);
      expect(bytes.includes(catalogId), 'positive control: payload text is searchable').toBe(true);
    }
    await Worker.runReplayHistory({ workflowBundle: stack.workflowBundle }, parent, catalogWorkflowId(catalogId));
    for (const [index, sku] of skus.entries()) {
      await Worker.runReplayHistory({ workflowBundle: stack.workflowBundle }, histories[index + 1]!, assetWorkflowId(catalogId, sku));
    }
  });

  it('does no GPU work twice: a re-run reuses every output', async () => {
    const before = { generate: stack.trellis.generateSubmits, extract: stack.trellis.extractSubmits };
    const { result, report } = await convert(catalogPath, catalogId);
    expect(result.counts).toMatchObject({ reused: 3, done: 0, failed: 0 });
    expect(stack.trellis.generateSubmits - before.generate).toBe(0);
    expect(stack.trellis.extractSubmits - before.extract).toBe(0);
    expect(report.rows.every((row) => Object.values(row.glbs).every((file) => file.reused))).toBe(true);
  });

  it('adds a preset later without generating again: the state left on the service is reused', async () => {
    const catalog = writeCatalog(path.join(stack.workDir, 'later-preset'), { rows: [{ sku: 'LATER-1', image: 'bottle.png' }] });
    await convert(catalog, 'later-preset', { presets: 'fast' });
    const before = { generate: stack.trellis.generateSubmits, extract: stack.trellis.extractSubmits };
    const { result, report } = await convert(catalog, 'later-preset', { presets: 'fast,balanced' });
    expect(result.counts).toMatchObject({ done: 1, failed: 0 });
    expect(stack.trellis.generateSubmits - before.generate).toBe(0);
    expect(stack.trellis.extractSubmits - before.extract).toBe(1);
    // The preset already on disk is not asked for again.
    expect(stack.trellis.extractPresetSets.at(-1)).toEqual(['balanced']);
    expect(report.rows[0]?.glbs.fast?.reused).toBe(true);
    expect(report.rows[0]?.glbs.balanced?.reused).toBe(false);
  });

  it('finishes a catalog with bad rows, naming each one, and converts the rest', async () => {
    const dir = path.join(stack.workDir, 'bad-rows');
    const catalog = writeCatalog(dir, {
      rows: [
        { sku: 'GOOD-1', image: 'mug.png' },
        { sku: 'BROKEN-2', image: 'broken.png' },
        { sku: 'MISSING-3', image: 'not-there.png' },
        // Any printable SKU is fine; over 256 characters is not.
        { sku: 'X'.repeat(300), image: 'mug.png' },
        { sku: 'ODD-PRESET-5', image: 'mug.png', presets: 'ultra' },
      ],
      files: { 'broken.png': Buffer.from('this is not an image at all') },
    });
    const { result, report } = await convert(catalog, 'bad-rows', { presets: 'fast' });
    expect(result.status).toBe('completed');
    expect(result.counts).toMatchObject({ done: 1, failed: 3 });
    const byRow = new Map(report.rows.map((row) => [row.row, row]));
    expect(byRow.get(1)?.status).toBe('done');
    expect(byRow.get(2)).toMatchObject({ status: 'failed', sku: 'BROKEN-2' });
    expect(byRow.get(2)?.error).toContain('broken.png');
    expect(byRow.get(3)?.error).toContain('not-there.png');
    expect(byRow.get(4)).toMatchObject({ status: 'invalid' });
    expect(byRow.get(4)?.error).toMatch(/sku/i);
    expect(byRow.get(5)?.error).toContain('ultra');
  });

  it('continues as new with its state carried, and still hears every child', async () => {
    const rows = ['mug', 'lamp', 'bottle', 'chair', 'sneaker'].map((name, index) => ({ sku: `CAN-${index}`, image: `${name}.png` }));
    const catalog = writeCatalog(path.join(stack.workDir, 'continue'), { rows });
    const prepared = await prepareConversion({ catalog, out: path.join(stack.workDir, 'out'), catalogId: 'continue', presets: 'fast', pipeline: '512' });
    const handle = await startCatalogConversion(
      stack.client,
      { ...prepared.input, concurrency: 2, continueAsNewAfter: 2 },
      { taskQueue: stack.taskQueue },
    );
    const result = await handle.result();
    expect(result.counts).toMatchObject({ done: 5, failed: 0, running: 0, waiting: 0 });
    const firstRun = await stack.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
    const lastEvent = firstRun.events?.at(-1);
    expect(lastEvent?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  });
});
