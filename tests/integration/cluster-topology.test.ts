// The topology production runs: Temporal on PostgreSQL (docker-compose.temporal.yml, run for real),
// three workers as separate processes that share no folder, outputs in S3-compatible object storage
// (versitygw), and the catalog converted into s3:// while one worker is killed with kill -9 and the
// Temporal server is killed and restarted. Every SKU's outputs must be in the bucket exactly once with
// the service's sha256, no multipart upload may be left incomplete, the service must have run no extra
// GPU job, the report must equal the one a run into a local folder writes, and the dashboard must serve a
// GLB from the bucket.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { temporal } from '@temporalio/proto';
import { getCatalogHandle, getCatalogProgress, readCatalogReport, startCatalogConversion } from '@trellis/cli';
import { CatalogReport, assetWorkflowId } from '@trellis/contracts';
import { assetKey, catalogKey, openOutputStore } from '@trellis/activities/files';
import { startDashboard } from '@trellis/dashboard';
import { readServiceStats, resetServiceStats } from '@trellis/devstack';
import { createS3Client } from '@trellis/output-store/s3';
import { TrellisClient } from '@trellis/trellis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileUrl } from '../../apps/dashboard/src/catalog-data';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';
import { ClusterStack } from '../harness/cluster-stack';
import { until } from '../harness/until';

/** Three cold workers on a loaded 2-core machine: the run's milestones may take minutes. */
const TOPOLOGY_WAIT_MS = 300_000;

const IMAGES = ['chair.png', 'lamp.png', 'mug.png', 'bottle.png', 'sneaker.png', 'plant-pot.png'];
const SKUS = Array.from({ length: 10 }, (_, index) => `T-${String(index + 1).padStart(2, '0')}`);
const PRESETS = {
  tiny: { decimation_target: 2_000, texture_size: 512 },
  small: { decimation_target: 5_000, texture_size: 512 },
} as const;
const CONCURRENCY = 4;
const BUCKET = 'trellis-out';
const S3_OUT = `s3://${BUCKET}/shops/topology`;

let stack: ClusterStack;
let catalogPath: string;
let presetsFile: string;

beforeAll(async () => {
  const started = Date.now();
  stack = await ClusterStack.start('topology', { workers: 3, gpuWorkers: CONCURRENCY, latencyScale: 0.1, backend: 'wait', bucket: BUCKET });
  // This process reads the bucket as the workers write it: through the standard AWS variables.
  Object.assign(process.env, stack.s3.env());
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


/** As `trellis convert` does: a local catalog is staged into an s3:// out, so the workers read it from there. */
async function startRun(catalogId: string, out: string): Promise<void> {
  await resetServiceStats(stack.service);
  const prepared = await prepareConversion({
    catalog: catalogPath,
    out,
    catalogId,
    presets: Object.keys(PRESETS).join(','),
    presetsFile,
    pipeline: '512',
  });
  await startCatalogConversion(stack.client, { ...prepared.input, concurrency: CONCURRENCY }, { taskQueue: stack.taskQueue });
}

/** Every object under a catalog's folder of the store, as key → sha256 of its bytes. */
async function objectsOf(out: string, catalogId: string): Promise<Map<string, string>> {
  const store = openOutputStore(out);
  const objects = new Map<string, string>();
  for await (const { key } of store.list(catalogKey(catalogId))) {
    const bytes = await store.getBytes(key);
    objects.set(key, createHash('sha256').update(bytes!).digest('hex'));
  }
  return objects;
}

/**
 * The activities the faults made Temporal retry, from the asset workflows' histories: type, attempt and
 * the failure before it (a kill -9 shows as a timeout of the killed worker's activities). Printed.
 */
/** An activity of the catalog's assets that a worker has started and not finished, and which worker that is. */
async function runningActivity(catalogId: string): Promise<{ worker: number; sku: string; activity: string } | undefined> {
  const started = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  for (const sku of SKUS) {
    const description = await stack.client.workflow.getHandle(assetWorkflowId(catalogId, sku)).describe().catch(() => undefined);
    for (const pending of description?.raw.pendingActivities ?? []) {
      if (pending.state !== started || !pending.lastWorkerIdentity) continue;
      const worker = stack.workers.findIndex((_, index) => stack.identitiesOf(index).has(pending.lastWorkerIdentity!));
      if (worker >= 0) return { worker, sku, activity: pending.activityType?.name ?? '?' };
    }
  }
  return undefined;
}

/** Whether the victim's activity is still started, on the killed worker (so its retry is owed). */
async function stillStartedOn(catalogId: string, victim: { worker: number; sku: string; activity: string }): Promise<boolean> {
  const description = await stack.client.workflow.getHandle(assetWorkflowId(catalogId, victim.sku)).describe();
  // Still started: no other worker can have it yet (a retry waits for the 20 s heartbeat timeout).
  const started = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  return (description.raw.pendingActivities ?? []).some((pending) => pending.activityType?.name === victim.activity && pending.state === started);
}

const TIMEOUT_NAMES: Record<number, string> = { 1: 'start-to-close', 2: 'schedule-to-start', 3: 'schedule-to-close', 4: 'heartbeat' };

async function retriedActivities(catalogId: string): Promise<string[]> {
  const retried: string[] = [];
  for (const sku of SKUS) {
    const history = await stack.client.workflow.getHandle(assetWorkflowId(catalogId, sku)).fetchHistory();
    const types = new Map<string, string>();
    for (const event of history.events ?? []) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) types.set(String(event.eventId), scheduled.activityType?.name ?? '?');
      const started = event.activityTaskStartedEventAttributes;
      if (started && (started.attempt ?? 1) > 1) {
        const timeout = started.lastFailure?.timeoutFailureInfo?.timeoutType;
        const failure = timeout !== undefined && timeout !== null ? `${TIMEOUT_NAMES[timeout] ?? timeout} timeout` : (started.lastFailure?.message ?? 'unknown');
        retried.push(`${sku} ${types.get(String(started.scheduledEventId)) ?? '?'} attempt ${started.attempt} after ${failure}`);
      }
    }
  }
  return retried;
}

/**
 * What must be equal between two runs of one catalog: everything but its id, its out location, where
 * its catalog was read, its clock and the seconds the backend measured itself working (a stopwatch reading, not an output: the
 * GPU seconds billed and the cost stay compared).
 */
function comparable(report: CatalogReport): unknown {
  // catalogPath: the s3 run reads the catalog staged into the bucket, the local run the file itself.
  const { catalogId: _id, outDir: _out, generatedAt: _at, catalogPath: _catalog, ...rest } = report;
  return JSON.parse(JSON.stringify(rest, (key, value: unknown) => (key === 'backendSeconds' ? undefined : value)));
}

async function expectEveryOutputOnce(out: string, catalogId: string, report: CatalogReport): Promise<void> {
  expect(report.counts).toMatchObject({ done: SKUS.length });
  const objects = await objectsOf(out, catalogId);
  for (const sku of SKUS) {
    const folder = assetKey(catalogId, sku);
    const outputs = [...objects.keys()]
      .filter((key) => key.startsWith(`${folder}/`))
      .map((key) => key.slice(folder.length + 1))
      .filter((name) => !name.startsWith('.trellis'));
    expect(outputs.sort(), sku).toEqual(['manifest.json', 'preview.mp4', ...Object.keys(PRESETS).map((name) => `${name}.glb`)].sort());
    const row = report.rows.find((candidate) => candidate.sku === sku)!;
    for (const [preset, glb] of Object.entries(row.glbs)) expect(objects.get(`${folder}/${glb.file}`), `${sku} ${preset}`).toBe(glb.sha256);
    expect(objects.get(`${folder}/${row.preview!.file}`), `${sku} preview`).toBe(row.preview!.sha256);
  }
  expect([...objects.keys()].filter((key) => key.endsWith('.tmp'))).toEqual([]);
  const stats = await readServiceStats(stack.service);
  expect(stats.work_runs).toMatchObject({ generate: SKUS.length, extract_glb: SKUS.length });
  expect(stats.jobs_created).toMatchObject({ generate: SKUS.length, extract_glb: SKUS.length });
  expect(stats.presets_extracted).toBe(SKUS.length * Object.keys(PRESETS).length);
}

describe('three workers sharing no disk, on Temporal with PostgreSQL, writing to S3', () => {
  let localReport: CatalogReport;
  const localOut = () => path.join(stack.workDir, 'local-out');

  it('a run into a local folder, undisturbed (the report to match)', async () => {
    const started = Date.now();
    await startRun('topology-local', localOut());
    const result = await getCatalogHandle(stack.client, 'topology-local').result();
    expect(result.status).toBe('completed');
    localReport = await readCatalogReport(localOut(), 'topology-local');
    await expectEveryOutputOnce(localOut(), 'topology-local', localReport);
    console.log(`topology: local run, ${SKUS.length} SKUs in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  }, 600_000);

  it('into s3:// with a worker killed (kill -9) and the Temporal server killed and restarted mid-run: every object once, none incomplete, 0 extra GPU jobs, the local run\'s report', async () => {
    const catalogId = 'topology-s3';
    const started = Date.now();
    await startRun(catalogId, S3_OUT);
    await until('two SKUs done', async () => (await getCatalogProgress(stack.client, catalogId)).counts.done >= 2, TOPOLOGY_WAIT_MS);
    // The worker to kill is one that is running an activity at that moment, so the kill always costs a retry.
    const victim = await until('an activity running on one of the workers', () => runningActivity(catalogId), TOPOLOGY_WAIT_MS);
    await stack.crashWorker(victim.worker);
    // A short step (a quality check, a manifest) may finish between the look and the kill: only an activity
    // still started on the dead worker after the kill must be retried elsewhere.
    const orphaned = await stillStartedOn(catalogId, victim);
    console.log(
      `topology: ${stack.workers[victim.worker]!.name} killed (kill -9) at ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
        `while running ${victim.activity} of ${victim.sku}`,
    );
    await until('four SKUs done', async () => (await getCatalogProgress(stack.client, catalogId)).counts.done >= 4, TOPOLOGY_WAIT_MS);
    await stack.crashAndRestartTemporal();
    console.log(`topology: Temporal server killed and restarted at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const result = await getCatalogHandle(stack.client, catalogId).result();
    expect(result.status).toBe('completed');
    console.log(`topology: s3 run with the faults, ${SKUS.length} SKUs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const retried = await retriedActivities(catalogId);
    console.log(`topology: retried activities: ${JSON.stringify(retried)}`);
    if (orphaned) {
      expect(retried, 'the killed worker\'s activity was retried elsewhere').toEqual(
        expect.arrayContaining([expect.stringContaining(`${victim.sku} ${victim.activity} attempt `)]),
      );
    } else console.log(`topology: ${victim.activity} of ${victim.sku} ended before the kill landed; nothing was left to retry`);
    const report = await readCatalogReport(S3_OUT, catalogId);
    await expectEveryOutputOnce(S3_OUT, catalogId, report);
    expect(comparable(report)).toEqual(comparable(localReport));
    const uploads = await createS3Client(stack.s3.env()).send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(uploads.Uploads ?? []).toEqual([]);
    // No output went to a worker's own folder outside its temp dir (where a killed worker may leave a
    // scratch copy: that is its machine's, never an output).
    for (const worker of stack.workers) {
      const names = fs.readdirSync(worker.dir, { recursive: true }).map(String).filter((name) => !name.startsWith('tmp'));
      expect(names.filter((name) => name.endsWith('.glb') || name.endsWith('.mp4')), worker.name).toEqual([]);
    }
    expect(stack.workers[victim.worker]!.process.hasExited()).toBe(true);

    // The dashboard, given the bucket as its out, serves a GLB from it with the service's sha256.
    const dashboard = await startDashboard({
      client: stack.client,
      outDir: S3_OUT,
      startCatalog: async () => {
        throw new Error('this test starts no catalog from the dashboard');
      },
    });
    try {
      const row = report.rows[0]!;
      const response = await fetch(new URL(fileUrl(catalogId, row.sku, row.glbs.tiny!.file), dashboard.url));
      expect(response.status).toBe(200);
      expect(createHash('sha256').update(Buffer.from(await response.arrayBuffer())).digest('hex')).toBe(row.glbs.tiny!.sha256);
    } finally {
      await dashboard.close();
    }
  }, 900_000);
});
