// Worker Versioning on a real dev server: a new worker version takes new work while the old one finishes what
// it started. Assets are PINNED (each ends on the version it started on); catalogs are AUTO_UPGRADE (a running
// catalog moves to the new version, which the replay test keeps able to continue it).
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { startCatalogConversion } from '@trellis/cli';
import { assetWorkflowId, catalogWorkflowId } from '@trellis/contracts';
import { startLocalService, type LocalService } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import { createTrellisWorker, workflowsPath } from '@trellis/workers';
import fs from 'node:fs';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';

const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
const taskQueue = 'trellis-versioning';
let workDir: string;
let service: LocalService;
let client: Client;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(inject('workDir'), 'versioning-'));
  // Slow enough (5 % of an A100's timings) that the first catalog is still running when the new version starts.
  service = await startLocalService({ workDir, latencyScale: 0.05 });
  closers.push(() => service.stop());
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  closers.push(() => connection.close());
  client = new Client({ connection, namespace: inject('temporalNamespace') });
});
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
});

async function startWorker(buildId: string): Promise<{ worker: Worker; running: Promise<void> }> {
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker = await createTrellisWorker({
    connection,
    namespace: inject('temporalNamespace'),
    service: new TrellisClient({ baseUrl: service.url, credentials: service.credentials }),
    taskQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath, logger: silentLogger }),
    pollIntervalMs: 100,
    shutdownGraceTime: '2 seconds',
    versioning: { TRELLIS_BUILD_ID: buildId, TRELLIS_PROMOTE_ON_START: 'current' },
  });
  const running = worker.run();
  closers.push(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  });
  return { worker, running };
}

async function startCatalog(catalogId: string, skus: string[]) {
  const catalogPath = writeCatalog(path.join(workDir, catalogId), {
    rows: skus.map((sku, index) => ({ sku, image: ['mug.png', 'lamp.png', 'vase.png'][index % 3]!, presets: 'fast' })),
  });
  const prepared = await prepareConversion({ catalog: catalogPath, out: path.join(workDir, 'out'), catalogId, pipeline: '512' });
  return startCatalogConversion(client, { ...prepared.input, concurrency: 1 }, { taskQueue });
}

const { VERSIONING_BEHAVIOR_PINNED: PINNED, VERSIONING_BEHAVIOR_AUTO_UPGRADE: AUTO_UPGRADE } = temporal.api.enums.v1.VersioningBehavior;

async function versionOf(workflowId: string): Promise<{ buildId?: string; behavior?: number }> {
  const info = (await client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.versioningInfo;
  return { buildId: info?.deploymentVersion?.buildId ?? undefined, behavior: info?.behavior ?? undefined };
}

async function currentBuildId(): Promise<string | undefined> {
  const answer = await client.workflowService.describeWorkerDeployment({ namespace: inject('temporalNamespace'), deploymentName: taskQueue });
  return answer.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? undefined;
}

it('a new version takes new catalogs while started assets finish on the version they began on', async () => {
  await startWorker('release-1');
  const first = await startCatalog('before', ['A-1', 'A-2', 'A-3']);
  const firstAsset = assetWorkflowId('before', 'A-1');
  await expect.poll(async () => (await versionOf(firstAsset)).buildId, { timeout: 60_000, interval: 200 }).toBe('release-1');

  await startWorker('release-2'); // release-1 keeps running: it must finish what is pinned to it
  // It becomes current once the server has seen its pollers; until then release-1 takes new work.
  await expect.poll(currentBuildId, { timeout: 30_000, interval: 200 }).toBe('release-2');
  const second = await startCatalog('after', ['B-1']);
  await Promise.all([first.result(), second.result()]);

  expect(await versionOf(firstAsset)).toEqual({ buildId: 'release-1', behavior: PINNED });
  expect((await versionOf(assetWorkflowId('before', 'A-3'))).buildId).toBe('release-2'); // started after the rollout
  expect((await versionOf(assetWorkflowId('after', 'B-1'))).buildId).toBe('release-2');
  // The catalog that was running moved on to the new version.
  expect(await versionOf(catalogWorkflowId('before'))).toEqual({ buildId: 'release-2', behavior: AUTO_UPGRADE });
});
