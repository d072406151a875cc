// The topology production runs: Temporal on PostgreSQL (docker-compose.temporal.yml, run for real),
// three workers as separate processes that share no folder, and the catalog converted while one worker
// is killed with kill -9 and the Temporal server is killed and restarted. Every SKU's outputs must be
// there exactly once with the service's sha256, the service must have run no extra GPU job, the report
// must equal an undisturbed run's, and the dashboard must serve a GLB from the outputs.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getCatalogHandle, getCatalogProgress, readCatalogReport, startCatalogConversion } from '@trellis/cli';
import { type CatalogReport } from '@trellis/contracts';
import { assetDir } from '@trellis/activities/files';
import { startDashboard } from '@trellis/dashboard';
import { readServiceStats, resetServiceStats } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileUrl } from '../../apps/dashboard/src/catalog-data';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';
import { ClusterStack } from '../harness/cluster-stack';

const IMAGES = ['chair.png', 'lamp.png', 'mug.png', 'bottle.png', 'sneaker.png', 'plant-pot.png'];
const SKUS = Array.from({ length: 10 }, (_, index) => `T-${String(index + 1).padStart(2, '0')}`);
const PRESETS = {
  tiny: { decimation_target: 2_000, texture_size: 512 },
  small: { decimation_target: 5_000, texture_size: 512 },
} as const;
const CONCURRENCY = 4;

let stack: ClusterStack;
let catalogPath: string;
let presetsFile: string;

beforeAll(async () => {
  const started = Date.now();
  stack = await ClusterStack.start('topology', { workers: 3, gpuWorkers: CONCURRENCY, latencyScale: 0.1, backend: 'wait' });
  console.log(`topology: cluster, service and 3 workers up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await new TrellisClient({ baseUrl: stack.service.url, credentials: stack.service.credentials }).warmup();
  const catalogDir = path.join(stack.workDir, 'catalog');
  catalogPath = writeCatalog(catalogDir, { rows: SKUS.map((sku, index) => ({ sku, image: IMAGES[index % IMAGES.length]! })) });
  presetsFile = path.join(catalogDir, 'presets.json');
  fs.writeFileSync(presetsFile, JSON.stringify({ presets: PRESETS }));
}, 600_000);

afterAll(async () => {
  await stack?.stop();
});

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function startRun(catalogId: string, outDir: string): Promise<void> {
  await resetServiceStats(stack.service);
  const prepared = await prepareConversion({
    catalog: catalogPath,
    out: outDir,
    catalogId,
    presets: Object.keys(PRESETS).join(','),
    presetsFile,
    pipeline: '512',
  });
  await startCatalogConversion(stack.client, { ...prepared.input, concurrency: CONCURRENCY }, { taskQueue: stack.taskQueue });
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

const sha256Of = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * What must be equal between two runs of one catalog: everything but its id, its folder, its clock and
 * the seconds the backend measured itself working (a stopwatch reading, not an output: the GPU seconds
 * billed and the cost stay compared).
 */
function comparable(report: CatalogReport): unknown {
  const { catalogId: _id, outDir: _out, generatedAt: _at, ...rest } = report;
  return JSON.parse(JSON.stringify(rest, (key, value: unknown) => (key === 'backendSeconds' ? undefined : value)));
}

async function expectEveryOutputOnce(catalogId: string, outDir: string, report: CatalogReport): Promise<void> {
  expect(report.counts).toMatchObject({ done: SKUS.length });
  for (const sku of SKUS) {
    const dir = assetDir(outDir, catalogId, sku);
    const outputs = filesUnder(dir).filter((file) => !file.startsWith('.trellis'));
    expect(outputs.sort(), sku).toEqual(['manifest.json', 'preview.mp4', ...Object.keys(PRESETS).map((name) => `${name}.glb`)].sort());
    const row = report.rows.find((candidate) => candidate.sku === sku)!;
    for (const [preset, glb] of Object.entries(row.glbs)) {
      expect(sha256Of(path.join(dir, glb.file)), `${sku} ${preset}`).toBe(glb.sha256);
    }
    expect(sha256Of(path.join(dir, row.preview!.file)), `${sku} preview`).toBe(row.preview!.sha256);
  }
  expect(filesUnder(path.join(outDir, catalogId)).filter((file) => file.endsWith('.tmp'))).toEqual([]);
  const stats = await readServiceStats(stack.service);
  expect(stats.work_runs).toMatchObject({ generate: SKUS.length, extract_glb: SKUS.length });
  expect(stats.jobs_created).toMatchObject({ generate: SKUS.length, extract_glb: SKUS.length });
  expect(stats.presets_extracted).toBe(SKUS.length * Object.keys(PRESETS).length);
}

describe('three workers sharing no disk, on Temporal with PostgreSQL', () => {
  let baseline: CatalogReport;
  const outDir = () => path.join(stack.workDir, 'out');

  it('an undisturbed run (the baseline)', async () => {
    const started = Date.now();
    await startRun('topology-baseline', outDir());
    const result = await getCatalogHandle(stack.client, 'topology-baseline').result();
    expect(result.status).toBe('completed');
    baseline = await readCatalogReport(outDir(), 'topology-baseline');
    await expectEveryOutputOnce('topology-baseline', outDir(), baseline);
    console.log(`topology: baseline ${SKUS.length} SKUs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 600_000);

  it('a worker killed with kill -9 and the Temporal server killed and restarted mid-run: every output once, 0 extra GPU jobs, the same report', async () => {
    const catalogId = 'topology-faults';
    const started = Date.now();
    await startRun(catalogId, outDir());
    await until('two SKUs done', async () => (await getCatalogProgress(stack.client, catalogId)).counts.done >= 2);
    await stack.crashWorker(0);
    console.log(`topology: worker-1 killed (kill -9) at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await until('four SKUs done', async () => (await getCatalogProgress(stack.client, catalogId)).counts.done >= 4);
    await stack.crashAndRestartTemporal();
    console.log(`topology: Temporal server killed and restarted at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const result = await getCatalogHandle(stack.client, catalogId).result();
    expect(result.status).toBe('completed');
    const report = await readCatalogReport(outDir(), catalogId);
    await expectEveryOutputOnce(catalogId, outDir(), report);
    expect(comparable(report)).toEqual(comparable(baseline));
    // The two workers left did the rest: both polled, and the killed one never came back.
    expect(stack.workers[0]!.process.hasExited()).toBe(true);
    console.log(`topology: faulted run ${SKUS.length} SKUs in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const dashboard = await startDashboard({
      client: stack.client,
      outDir: outDir(),
      startCatalog: async () => {
        throw new Error('this test starts no catalog from the dashboard');
      },
    });
    try {
      const row = report.rows.find((candidate) => candidate.sku === SKUS[0])!;
      const response = await fetch(new URL(fileUrl(catalogId, row.sku, row.glbs.tiny!.file), dashboard.url));
      expect(response.status).toBe(200);
      const body = Buffer.from(await response.arrayBuffer());
      expect(createHash('sha256').update(body).digest('hex')).toBe(row.glbs.tiny!.sha256);
    } finally {
      await dashboard.close();
    }
  }, 900_000);
});
