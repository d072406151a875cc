// Pay each GPU second once, whatever breaks: one small catalog converted again and again on a stack
// whose worker, Temporal server and network to the service are broken on purpose. Every case asserts
// that the catalog completes, that each SKU has exactly one set of outputs and no temp files, and that
// the service ran exactly one generate job per SKU and one extract job (one GPU call) per SKU, which made
// one GLB per preset.
import fs from 'node:fs';
import path from 'node:path';
import { getCatalogHandle, getCatalogProgress, readCatalogReport, resumeCatalog, startCatalogConversion } from '@trellis/cli';
import { assetWorkflowId, type CatalogProgress, type CatalogResult } from '@trellis/contracts';
import { assetDir } from '@trellis/activities/files';
import { readServiceStats, resetServiceStats, setServiceFaults } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { exampleImagesDir, writeCatalog } from '../harness/catalogs';
import { FaultStack } from '../harness/fault-stack';
import { until } from '../harness/until';

const IMAGES = ['chair.png', 'lamp.png', 'mug.png', 'bottle.png', 'sneaker.png', 'plant-pot.png'];
const skusOf = (count: number) => Array.from({ length: count }, (_, index) => `R-${String(index + 1).padStart(2, '0')}`);
const SKUS = skusOf(8);
/** The mixed case's larger catalog (issue 15): 16 SKUs at the same concurrency. */
const MIXED_SKUS = skusOf(16);
/** Three different extractions (identical settings would rightly share one job). */
const PRESETS = {
  tiny: { decimation_target: 2_000, texture_size: 512 },
  small: { decimation_target: 5_000, texture_size: 512 },
  medium: { decimation_target: 5_000, texture_size: 1024 },
} as const;
const CONCURRENCY = 4;

let stack: FaultStack;
let catalogPath: string;
let mixedCatalogPath: string;
let presetsFile: string;
let caseNumber = 0;
/** Wall time of the clean run, the baseline the fault cases are compared with. */
let cleanSeconds: number | undefined;

beforeAll(async () => {
  // GPU work at 10 % of the A100's timings: short runs whose requests still wait on jobs, as real ones do.
  // (The fault cases' ratio to the clean run depends on it: a fault costs about the same seconds whatever
  // the GPU time, so at 5 % the 503/reset/hang case measured x4.1, at 10 % x2.1.)
  stack = await FaultStack.start('reliability', { gpuWorkers: CONCURRENCY, latencyScale: 0.1, backend: 'wait' });
  // Every case then finds the GPUs warm, so the clean baseline does not carry the one cold start.
  await new TrellisClient({ baseUrl: stack.service.url, credentials: stack.service.credentials }).warmup();
  const catalogDir = path.join(stack.workDir, 'catalog');
  catalogPath = writeCatalog(catalogDir, { rows: SKUS.map((sku, index) => ({ sku, image: IMAGES[index % IMAGES.length]! })) });
  const mixedRows = MIXED_SKUS.map((sku, index) => ({ sku, image: IMAGES[index % IMAGES.length]! }));
  mixedCatalogPath = writeCatalog(path.join(stack.workDir, 'catalog-16'), { rows: mixedRows });
  presetsFile = path.join(catalogDir, 'presets.json');
  fs.writeFileSync(presetsFile, JSON.stringify({ presets: PRESETS }));
});

afterAll(async () => {
  await stack?.stop();
});

interface Run {
  catalogId: string;
  outDir: string;
  startedAt: number;
}

async function startRun(name: string, catalog = catalogPath): Promise<Run> {
  caseNumber += 1;
  await resetServiceStats(stack.service);
  const catalogId = `rel-${caseNumber}-${name}`;
  const outDir = path.join(stack.workDir, 'out');
  const prepared = await prepareConversion({
    catalog,
    out: outDir,
    catalogId,
    presets: Object.keys(PRESETS).join(','),
    presetsFile,
    pipeline: '512',
  });
  const startedAt = Date.now();
  await startCatalogConversion(stack.client, { ...prepared.input, concurrency: CONCURRENCY }, { taskQueue: stack.taskQueue });
  return { catalogId, outDir, startedAt };
}

/** Result through whatever client is current (the dev server may have been replaced). */
async function finish(run: Run): Promise<{ result: CatalogResult; seconds: number }> {
  const result = await getCatalogHandle(stack.client, run.catalogId).result();
  return { result, seconds: (Date.now() - run.startedAt) / 1000 };
}

async function progressOf(run: Run): Promise<CatalogProgress> {
  return getCatalogProgress(stack.client, run.catalogId);
}


/** Everything below a folder, relative to it. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

async function expectPaidOnce(run: Run, result: CatalogResult, skus: readonly string[] = SKUS): Promise<void> {
  expect(result.status).toBe('completed');
  expect(result.counts).toMatchObject({ done: skus.length, failed: 0, cancelled: 0, running: 0, waiting: 0 });
  const presetNames = Object.keys(PRESETS);
  for (const sku of skus) {
    const outputs = filesUnder(assetDir(run.outDir, run.catalogId, sku)).filter((file) => !file.startsWith('.trellis'));
    expect(outputs.sort()).toEqual(['manifest.json', 'preview.mp4', ...presetNames.map((name) => `${name}.glb`)].sort());
  }
  const leftovers = filesUnder(path.join(run.outDir, run.catalogId)).filter((file) => file.endsWith('.tmp'));
  expect(leftovers).toEqual([]);
  const stats = await readServiceStats(stack.service);
  expect(stats.work_runs).toMatchObject({ generate: skus.length, extract_glb: skus.length });
  expect(stats.jobs_created).toMatchObject({ generate: skus.length, extract_glb: skus.length });
  expect(stats.presets_extracted).toBe(skus.length * presetNames.length);
  console.log(
    `${run.catalogId}: ${stats.work_runs.generate} generate and ${stats.work_runs.extract_glb} extract jobs ` +
      `(${stats.presets_extracted} GLBs) for ${skus.length} SKUs x ${presetNames.length} presets: 0 extra GPU jobs; ` +
      `faults injected ${JSON.stringify(stats.faults_injected)}`,
  );
}

/**
 * The activity retries the faults cost (Temporal's layer), from the asset workflows' histories: each
 * retried activity's last start names its attempt and the failure before it. Printed with the ratio.
 */
async function activityRetries(run: Run, skus: readonly string[]): Promise<string> {
  const byType = new Map<string, number>();
  let retries = 0;
  for (const sku of skus) {
    const history = await stack.client.workflow.getHandle(assetWorkflowId(run.catalogId, sku)).fetchHistory();
    for (const event of history.events ?? []) {
      const started = event.activityTaskStartedEventAttributes;
      if (!started || (started.attempt ?? 1) <= 1) continue;
      retries += started.attempt! - 1;
      const type = started.lastFailure?.applicationFailureInfo?.type ?? started.lastFailure?.message ?? 'unknown';
      byType.set(type, (byType.get(type) ?? 0) + started.attempt! - 1);
    }
  }
  return `${retries} activity retries ${JSON.stringify(Object.fromEntries(byType))}`;
}

function reportRatio(name: string, seconds: number, baselineSeconds = cleanSeconds): number {
  const ratio = baselineSeconds ? seconds / baselineSeconds : Number.NaN;
  console.log(`${name}: ${seconds.toFixed(1)} s, x${ratio.toFixed(2)} the clean run (${baselineSeconds?.toFixed(1)} s)`);
  return ratio;
}

/** Converts the catalog while the service injects `faults`, then checks it was paid once and times it. */
async function convertUnderFaults(name: string, faults: { spec: string; seed: number }, label: string): Promise<void> {
  await setServiceFaults(stack.service, faults);
  try {
    const run = await startRun(name);
    const { result, seconds } = await finish(run);
    await expectPaidOnce(run, result);
    reportRatio(label, seconds);
  } finally {
    await setServiceFaults(stack.service, { spec: '' });
  }
}

describe('pay each GPU second once', () => {
  it('clean run (the baseline)', async () => {
    const run = await startRun('clean');
    const { result, seconds } = await finish(run);
    await expectPaidOnce(run, result);
    cleanSeconds = seconds;
    console.log(`clean: ${seconds.toFixed(1)} s`);
  });

  it('c. 20% 503, 5% connection resets, 2% hung requests', () =>
    convertUnderFaults('flaky', { spec: '503=0.2,reset=0.05,hang=0.02', seed: 7 }, 'c. 503/reset/hang'));

  it('d. 10% of answers lost after the service did the work', () =>
    convertUnderFaults('lost', { spec: 'lost=0.1', seed: 11 }, 'd. lost responses'));

  it('g. mixed: 15% 503, 8% resets, 3% hung requests, 8% lost answers; 16 SKUs against their own clean run', async () => {
    const clean = await startRun('clean-16', mixedCatalogPath);
    const cleanRun = await finish(clean);
    await expectPaidOnce(clean, cleanRun.result, MIXED_SKUS);
    console.log(`clean, 16 SKUs: ${cleanRun.seconds.toFixed(1)} s`);

    await setServiceFaults(stack.service, { spec: '503=0.15,reset=0.08,hang=0.03,lost=0.08', seed: 15 });
    try {
      const run = await startRun('mixed', mixedCatalogPath);
      const { result, seconds } = await finish(run);
      await expectPaidOnce(run, result, MIXED_SKUS);
      // Recorded, not asserted: a wall-time ratio on a shared 2-core CI machine is a measurement
      // (docs/measurements.md), and the faults' own seconds (a hung try is cut after 4-9 s) dominate it.
      reportRatio('g. mixed 503/reset/hang/lost, 16 SKUs', seconds, cleanRun.seconds);
      console.log(`g. mixed: ${await activityRetries(run, MIXED_SKUS)}`);
    } finally {
      await setServiceFaults(stack.service, { spec: '' });
    }
  }, 600_000); // two 16-SKU runs; on a loaded 2-core machine the pair took 231 s

  it('e. credentials revoked mid-run: the catalog stops and says what to fix; after the fix and a resume it completes', async () => {
    await setServiceFaults(stack.service, { spec: 'revoke_after=25', seed: 3 });
    const run = await startRun('revoked');
    const paused = await until('the catalog to pause itself', async () => {
      const progress = await progressOf(run);
      return progress.status === 'paused' && progress.pauseReason ? progress : undefined;
    });
    expect(paused.pauseReason).toMatch(/TRELLIS2_MODAL_KEY/);
    expect(paused.pauseReason).toContain(`trellis resume ${run.catalogId}`);
    // No new work starts while paused.
    const settled = await until('running assets to block', async () => {
      const progress = await progressOf(run);
      return progress.running.every(({ stage }) => stage === 'blocked') ? progress : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await progressOf(run)).counts).toEqual(settled.counts);

    await setServiceFaults(stack.service, { spec: '' }); // the operator puts valid credentials back
    await resumeCatalog(stack.client, run.catalogId);
    const { result } = await finish(run);
    await expectPaidOnce(run, result);
  });

  it('f. bad inputs: each bad row is reported with its own reason, every good row converts, no GPU work for the bad', async () => {
    const dir = path.join(stack.workDir, 'bad-inputs');
    fs.mkdirSync(dir, { recursive: true });
    const png = fs.readFileSync(path.join(exampleImagesDir, 'chair.png'));
    fs.copyFileSync(path.join(exampleImagesDir, 'chair.png'), path.join(dir, 'chair.png'));
    fs.copyFileSync(path.join(exampleImagesDir, 'mug.png'), path.join(dir, 'mug.png'));
    fs.writeFileSync(path.join(dir, 'notes.png'), 'these are shipping notes, not a picture\n');
    fs.writeFileSync(path.join(dir, 'cut.png'), png.subarray(0, Math.floor(png.length / 2)));
    // Excel's way: a BOM and CRLF line ends; a quoted SKU with a comma; a SKU used twice.
    const lines = ['sku,image', 'GOOD-1,chair.png', '"GOOD, 2",mug.png', 'GOOD-1,mug.png', 'MISSING-1,nowhere.png', 'NOT-IMAGE-1,notes.png', 'TRUNCATED-1,cut.png'];
    const catalog = path.join(dir, 'catalog.csv');
    fs.writeFileSync(catalog, `\uFEFF${lines.join('\r\n')}\r\n`);
    const run = await startRun('bad-inputs', catalog);
    const { result } = await finish(run);
    expect(result.status).toBe('completed');
    expect(result.counts).toMatchObject({ done: 2, failed: 3 });
    const report = await readCatalogReport(run.outDir, run.catalogId);
    const rowOf = (sku: string) => report.rows.find((row) => row.sku === sku);
    expect(rowOf('GOOD-1')?.status).toBe('done');
    expect(rowOf('GOOD, 2')?.status).toBe('done');
    const invalid = report.rows.filter((row) => row.status === 'invalid');
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ sku: 'GOOD-1', row: rowOf('GOOD-1')!.row + 2 });
    expect(invalid[0]!.error).toMatch(new RegExp(`duplicate SKU, first seen at row ${rowOf('GOOD-1')!.row}`));
    expect(rowOf('MISSING-1')).toMatchObject({ status: 'failed' });
    expect(rowOf('MISSING-1')?.error).toMatch(/^image_not_found: .*nowhere\.png/);
    expect(rowOf('NOT-IMAGE-1')?.error).toMatch(/^image_unreadable: .*notes\.png/);
    expect(rowOf('TRUNCATED-1')?.error).toMatch(/^image_unreadable: .*cut\.png/);
    const stats = await readServiceStats(stack.service);
    expect(stats.work_runs).toMatchObject({ generate: 2, extract_glb: 2 });
    expect(stats.presets_extracted).toBe(2 * Object.keys(PRESETS).length);

    // A file that cannot be read as a catalog at all is refused before anything starts, saying where.
    fs.writeFileSync(path.join(dir, 'unbalanced.csv'), 'sku,image\nA-1,chair.png\n"B-2,chair.png\nC-3,chair.png\n');
    await expect(prepareConversion({ catalog: path.join(dir, 'unbalanced.csv'), out: run.outDir })).rejects.toThrow(/a " opened on line 3 is never closed/);
    fs.writeFileSync(path.join(dir, 'headless.csv'), 'A-1,chair.png\nB-2,mug.png\n');
    await expect(prepareConversion({ catalog: path.join(dir, 'headless.csv'), out: run.outDir })).rejects.toThrow(/no "sku" column.*--sku-column/);
  });

  it('a. the worker killed with kill -9 three times mid-catalog', async () => {
    const run = await startRun('worker-kills');
    for (let kill = 1; kill <= 3; kill += 1) {
      await until(`GPU work in flight before kill ${kill}`, async () => {
        const progress = await progressOf(run);
        return progress.running.some(({ stage }) => stage === 'generating' || stage === 'extracting');
      });
      await stack.crashWorker();
      await stack.startWorker();
    }
    const { result, seconds } = await finish(run);
    await expectPaidOnce(run, result);
    // Each kill costs the heartbeat timeout (30 s) of the activities that were running on the dead worker.
    reportRatio('a. worker kill -9 x3', seconds);
  }, 300_000);

  it('b. the Temporal dev server killed with kill -9 mid-catalog and restarted on the same database', async () => {
    const run = await startRun('server-kill');
    await until('GPU work in flight', async () => {
      const progress = await progressOf(run);
      return progress.running.some(({ stage }) => stage === 'generating' || stage === 'extracting');
    });
    await stack.crashAndRestartTemporal();
    const { result, seconds } = await finish(run);
    await expectPaidOnce(run, result);
    reportRatio('b. dev server kill -9', seconds);
  }, 300_000);
});
