// Channel files end to end: `--channels` on a catalog with size columns, on a real dev server with the
// real local service. The finishing activities run on their own task queue, served by a worker of their
// own (the main worker does not even register them), after each SKU's GLBs.
import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { startCatalogConversion } from '@trellis/cli';
import { assetWorkflowId, CatalogReport, AssetManifest, type CatalogResult } from '@trellis/contracts';
import { createFinishWorker } from '@trellis/workers';
import { validateBytes } from 'gltf-validator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleImagesDir } from '../harness/catalogs';
import { startConversionStack, type ConversionStack } from '../harness/conversion-stack';

let stack: ConversionStack;
let finishConnection: NativeConnection;
let finishWorker: Worker;
let finishRunning: Promise<void>;

beforeAll(async () => {
  stack = await startConversionStack('channels');
  finishConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  finishWorker = await createFinishWorker({
    connection: finishConnection,
    namespace: inject('temporalNamespace'),
    taskQueue: `${stack.taskQueue}-finish`,
    shutdownGraceTime: '2 seconds',
  });
  finishRunning = finishWorker.run();
});
afterAll(async () => {
  finishWorker?.shutdown();
  await finishRunning;
  await finishConnection?.close();
  await stack?.stop();
});

function writeSizedCatalog(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const image of ['mug.png', 'lamp.png']) fs.copyFileSync(path.join(exampleImagesDir, image), path.join(dir, image));
  // Header units for height; the mug gives only its height (never a proportion mismatch), the lamp
  // a footprint far too wide for its model (flagged, not stretched).
  const csv = 'sku,image,Height (cm),width,depth\nMUG-1,mug.png,9.5,,\nLAMP-2,lamp.png,45,300 cm,300 cm\n';
  fs.writeFileSync(path.join(dir, 'catalog.csv'), csv);
  return path.join(dir, 'catalog.csv');
}

async function convert(catalogPath: string, catalogId: string) {
  const prepared = await prepareConversion({
    catalog: catalogPath,
    out: path.join(stack.workDir, 'out'),
    catalogId,
    presets: 'fast',
    pipeline: '512',
    channels: 'web,shopify,google,amazon',
  });
  const handle = await startCatalogConversion(stack.client, prepared.input, { taskQueue: stack.taskQueue });
  const result: CatalogResult = await handle.result();
  return { prepared, result, report: CatalogReport.parse(JSON.parse(fs.readFileSync(result.reportJsonPath, 'utf8'))) };
}

describe('channel files on their own task queue', () => {
  it('makes every channel file per SKU after its GLBs, at the given scale, validated, in manifest and report', async () => {
    const catalogPath = writeSizedCatalog(path.join(stack.workDir, 'sized'));
    const { prepared, result, report } = await convert(catalogPath, 'sized');
    // The channels' source preset (balanced) is extracted beside the asked-for fast.
    expect(prepared.input.settings.defaultPresetNames).toEqual(['fast', 'balanced']);
    expect(result.counts).toMatchObject({ done: 2, failed: 0 });

    const outDir = path.join(stack.workDir, 'out', 'sized');
    for (const [sku, height] of [['MUG-1', 0.095], ['LAMP-2', 0.45]] as const) {
      const manifest = AssetManifest.parse(JSON.parse(fs.readFileSync(path.join(outDir, sku, 'manifest.json'), 'utf8')));
      expect(Object.keys(manifest.glbs).sort()).toEqual(['balanced', 'fast']);
      expect(Object.keys(manifest.channels ?? {})).toEqual(['web', 'shopify', 'google', 'amazon']);
      for (const [channel, file] of Object.entries(manifest.channels!)) {
        expect(file, `${sku} ${channel}: ${file.reason}`).toMatchObject({ delivered: true, budgetMet: true, file: `channels/${channel}.glb` });
        const bytes = fs.readFileSync(path.join(outDir, sku, file.file!));
        expect(bytes.byteLength).toBe(file.bytes);
        const validation = await validateBytes(new Uint8Array(bytes), { maxIssues: 50 });
        expect(validation.issues.numErrors, JSON.stringify(validation.issues.messages)).toBe(0);
        expect(file.placement!.scale).toBe('real-world');
        if (sku === 'MUG-1') {
          expect(file.placement!.dimensions[1]).toBeCloseTo(height, 3);
          expect(file.placement!.proportionMismatch).toBeUndefined();
        } else {
          expect(file.placement!.proportionMismatch).toMatch(/width .*depth/);
        }
      }
      expect(manifest.channels!.web!.compression).toBe('meshopt');
      expect(manifest.channels!.google!.compression).toBe('draco');
      expect(manifest.channels!.amazon!.compression).toBe('none');
      expect(manifest.size).toBeDefined();
      // The poster: a frame of the preview the service rendered anyway (no extra GPU call).
      expect(manifest.poster).toMatchObject({ file: 'poster.webp' });
      const poster = fs.readFileSync(path.join(outDir, sku, 'poster.webp'));
      expect(poster.subarray(8, 12).toString('latin1')).toBe('WEBP');
      expect(poster.byteLength).toBe(manifest.poster!.bytes);
    }
    const row = report.rows.find((r) => r.sku === 'MUG-1')!;
    expect(row.channels?.web?.delivered).toBe(true);
    const [header, ...lines] = fs.readFileSync(result.reportCsvPath, 'utf8').trim().split('\r\n');
    expect(header).toContain('size,scale,size_flag,poster,web_delivered,web_bytes');
    expect(lines.find((line) => line.includes('LAMP-2'))).toContain("does not match the model's proportions");

    // The finishing activity ran on the finish task queue.
    const history = await stack.client.workflow.getHandle(assetWorkflowId('sized', 'MUG-1')).fetchHistory();
    const scheduled = (history.events ?? [])
      .filter((event) => event.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      .map((event) => event.activityTaskScheduledEventAttributes!)
      .find((attributes) => attributes.activityType?.name === 'finishChannels');
    expect(scheduled?.taskQueue?.name).toBe(`${stack.taskQueue}-finish`);
    // Four channel profiles in, four reports out: the asset's history stays small.
    const historyBytes = temporal.api.history.v1.History.encode(history).finish().byteLength;
    console.log(`asset history with 4 channels: ${historyBytes} bytes`);
    expect(historyBytes).toBeLessThan(24 * 1024);
  });

  it('a re-run reuses every GLB and channel file', async () => {
    const generateBefore = stack.trellis.generateSubmits;
    const extractBefore = stack.trellis.extractSubmits;
    const { result } = await convert(path.join(stack.workDir, 'sized', 'catalog.csv'), 'sized');
    expect(result.counts).toMatchObject({ reused: 2 });
    expect(stack.trellis.generateSubmits).toBe(generateBefore);
    expect(stack.trellis.extractSubmits).toBe(extractBefore);
    const manifest = AssetManifest.parse(JSON.parse(fs.readFileSync(path.join(stack.workDir, 'out', 'sized', 'MUG-1', 'manifest.json'), 'utf8')));
    expect(Object.values(manifest.channels!).every((file) => file.reused)).toBe(true);
    expect(manifest.poster!.reused).toBe(true);
  });
});
