// Workflow logic on a real Temporal dev server. The activities are scripted stand-ins for the edge (the
// GPU service and the disk), so each path — lost state, permanent errors, pause/resume/cancel — is
// exercised deterministically; tests/ runs the same workflows against the real activities and service.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { cancellationSignal } from '@temporalio/activity';
import { createActivities, deliverWebhook, type Activities } from '@trellis/activities';
import { Webhook } from 'standardwebhooks';
import { TrellisClient } from '@trellis/trellis-client';
import {
  builtInPresets,
  noUsage,
  resolvePresets,
  SamplerSettings,
  WEBHOOK_SECRET_ENV,
  WebhookBody,
  type AssetManifest,
  type CatalogProgress,
  type CatalogRow,
  type ConvertAssetInput,
  type ConvertCatalogInput,
  type OutputFile,
  type QualityReport,
  type ReviewItem,
} from '@trellis/contracts';
import { startDevServer, type DevServer } from '@trellis/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetFinishedSignal, cancelSignal, pauseSignal, progressQuery, resumeSignal } from '../src/messages';
import { decideReview, getReviewItem, listReviewQueue, ReviewDecisionRefusedError } from '../src/review-client';

const workflowsPath = fileURLToPath(new URL('../src/index.ts', import.meta.url));
let server: DevServer;
let client: Client;
let workerConnection: NativeConnection;
let workflowBundle: WorkflowBundleWithSourceMap;
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

beforeAll(async () => {
  server = await startDevServer({ workDir: fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-workflows-')) });
  client = new Client({ connection: await Connection.connect({ address: server.address }) });
  workerConnection = await NativeConnection.connect({ address: server.address });
  workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: silent });
});

afterAll(async () => {
  await client?.connection.close();
  await workerConnection?.close();
  await server?.stop();
});

interface Script {
  rows: number;
  /** extractGlbs answers state_not_found this many times before succeeding (a test may raise it mid-run). */
  stateLosses?: number;
  /** SKUs whose image cannot be read. */
  unreadable?: string[];
  generateDelayMs?: number;
  /** SKUs whose generation never finishes (until the activity is cancelled). */
  hanging?: string[];
  rowPresets?: Record<string, string[]>;
  /** While true, every GPU call is refused as unauthorized (credentials revoked). */
  credentials?: { revoked: boolean };
  /** Every output was made by an earlier run (a rerun): prepare finds them all, nothing needs the GPU. */
  everythingMade?: boolean;
  /** SKUs whose models the quality checks flag (at the seeds listed, or at every seed when none is). */
  flagged?: Record<string, number[] | 'every seed'>;
}

/** A quality report as libs/quality writes it: `score` overall, flagged below 0.5. */
function qualityReport(score: number): QualityReport {
  const background = { name: 'background' as const, score, maskSource: 'busy_border' as const, busyBorderShare: 0.1 };
  const mesh = {
    name: 'mesh' as const, score: 1, triangles: 10, vertices: 8, components: 1, floaterShare: 0, boundaryEdges: 0, boundaryEdgeShare: 0,
    boundaryLengthRatio: 0, degenerateTriangles: 0, degenerateShare: 0, extent: [1, 1, 1] as [number, number, number],
  };
  const flagged = score < 0.5;
  return { version: 1, score, flagged, threshold: 0.5, failing: flagged ? ['background'] : [], checks: { silhouette: null, background, texture: null, mesh, size: null } };
}

const gpuUsage = { gpuSeconds: 1, estimatedCostUsd: 0.02, costBasis: 'measured' as const };
const fileOf = (name: string): OutputFile => ({ file: name, bytes: 1, sha256: 'a'.repeat(64), reused: false });

// Only reconcileAssets is used from the real set; it talks to Temporal, never to the service.
const realActivities = createActivities({ client: new TrellisClient({ baseUrl: 'http://127.0.0.1:9', credentials: 'none' }) });

function scriptedActivities(script: Script) {
  const calls = { generate: [] as string[], quality: [] as string[], prepareSeeds: [] as number[], extract: 0, extractBatches: [] as string[][], manifests: [] as AssetManifest[], reports: 0, warmUps: 0, snapshots: 0 };
  const rows: CatalogRow[] = Array.from({ length: script.rows }, (_, index) => ({
    row: index + 1,
    sku: `SKU-${index + 1}`,
    image: `sku-${index + 1}.png`,
    presets: script.rowPresets?.[`SKU-${index + 1}`],
  }));
  const activities = {
    async snapshotCatalog() {
      calls.snapshots += 1;
      return { snapshotId: 'f'.repeat(64), catalogSha256: 'e'.repeat(64), totalRows: rows.length, problemCount: 0, reused: false };
    },
    async loadCatalogPage({ offset, limit }: { offset: number; limit: number }) {
      return { totalRows: rows.length, offset, rows: rows.slice(offset, offset + limit) };
    },
    async prepareAsset(input: { sku: string; image: string; seed: number }) {
      calls.prepareSeeds.push(input.seed);
      if (script.unreadable?.includes(input.sku)) {
        throw ApplicationFailure.nonRetryable(`image ${input.image} is not a PNG, JPEG or WebP file`, 'image_unreadable');
      }
      if (script.everythingMade) {
        const reusableGlbs = Object.fromEntries(Object.keys(builtInPresets).map((name) => [name, { ...fileOf(`${name}.glb`), reused: true }]));
        return { imageSha256: 'b'.repeat(64), generateHash: `hash-${input.sku}`, reusableGlbs, reusablePreview: { ...fileOf('preview.mp4'), reused: true } };
      }
      return { imageSha256: 'b'.repeat(64), generateHash: `hash-${input.sku}`, reusableGlbs: {} };
    },
    async catalogNeedsGpu() {
      return !script.everythingMade;
    },
    async warmUp() {
      calls.warmUps += 1;
      return { device: 'cpu', backend: 'relief', coldStart: false, loadSeconds: null, usage: noUsage };
    },
    async generate(input: { sku: string; seed: number }) {
      if (script.credentials?.revoked) {
        throw ApplicationFailure.nonRetryable('missing or wrong Modal-Key / Modal-Secret (set TRELLIS2_MODAL_KEY)', 'unauthorized');
      }
      calls.generate.push(`${input.sku}@${input.seed}`);
      if (script.hanging?.includes(input.sku)) {
        await new Promise((_resolve, reject) => cancellationSignal().addEventListener('abort', () => reject(new Error('cancelled'))));
      }
      if (script.generateDelayMs) await new Promise((resolve) => setTimeout(resolve, script.generateDelayMs));
      return { stateId: `st_${randomBytes(16).toString('hex')}`, stateExpiresAt: null, preview: fileOf('preview.mp4'), usage: gpuUsage };
    },
    async extractGlbs(input: { presets: { name: string }[] }) {
      if (script.credentials?.revoked) {
        throw ApplicationFailure.nonRetryable('missing or wrong Modal-Key / Modal-Secret (set TRELLIS2_MODAL_KEY)', 'unauthorized');
      }
      calls.extract += 1;
      calls.extractBatches.push(input.presets.map((preset) => preset.name));
      if ((script.stateLosses ?? 0) > 0) {
        script.stateLosses! -= 1;
        throw ApplicationFailure.nonRetryable('state st_… expired', 'state_not_found');
      }
      const files = Object.fromEntries(input.presets.map((preset) => [preset.name, fileOf(`${preset.name}.glb`)]));
      // One call for all presets, priced like the presets it made (so budgets see the same cost per asset).
      const count = input.presets.length;
      return { files, usage: { ...gpuUsage, gpuSeconds: gpuUsage.gpuSeconds * count, estimatedCostUsd: gpuUsage.estimatedCostUsd * count } };
    },
    async assessQuality(input: { sku: string; glb: string }) {
      calls.quality.push(`${input.sku}:${input.glb}`);
      const seeds = script.flagged?.[input.sku];
      const seed = Number(/@(\d+)$/.exec(calls.generate.filter((call) => call.startsWith(`${input.sku}@`)).at(-1) ?? '')?.[1]);
      return qualityReport(seeds === 'every seed' || seeds?.includes(seed) ? 0.2 : 0.9);
    },
    async writeAssetManifest(manifest: AssetManifest) {
      calls.manifests.push(manifest);
      return `/out/${manifest.sku}/manifest.json`;
    },
    // The real one: it asks the Temporal server through the activity's client.
    reconcileAssets: realActivities.reconcileAssets,
    async writeCatalogReport() {
      calls.reports += 1;
      return { reportJsonPath: '/out/report.json', reportCsvPath: '/out/report.csv', counts: {}, usage: noUsage };
    },
  };
  return { activities: activities as unknown as Activities, calls };
}

function catalogInput(catalogId: string, overrides: Partial<ConvertCatalogInput> = {}): ConvertCatalogInput {
  return {
    catalogId,
    catalogPath: '/catalogs/test.csv',
    outDir: '/out',
    settings: {
      presets: resolvePresets(Object.keys(builtInPresets)),
      defaultPresetNames: ['fast', 'balanced', 'quality'],
      pipelineType: '1024_cascade',
      seed: 42,
      sampler: SamplerSettings.parse({}),
    },
    ...overrides,
  };
}

function assetInput(catalogId: string, sku: string, row: number): ConvertAssetInput {
  const { settings } = catalogInput(catalogId);
  return {
    catalogId,
    sku,
    row,
    image: `${sku.toLowerCase()}.png`,
    catalogPath: '/catalogs/test.csv',
    outDir: '/out',
    seed: settings.seed,
    pipelineType: settings.pipelineType,
    presets: resolvePresets(Object.keys(builtInPresets)),
    parentWorkflowId: `catalog/${catalogId}`,
  };
}

async function withWorker<T>(activities: Activities, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `wf-${randomBytes(4).toString('hex')}`;
  const worker = await Worker.create({ connection: workerConnection, taskQueue, workflowBundle, activities });
  return worker.runUntil(body(taskQueue));
}

const newCatalogId = () => `t-${randomBytes(5).toString('hex')}`;

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('convertAsset', () => {
  it('regenerates once, with the same seed, when the state is lost; all presets go in one extract call', async () => {
    const { activities, calls } = scriptedActivities({ rows: 1, stateLosses: 1 });
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${newCatalogId()}`, args: [catalogInput(newCatalogId())] }),
    );
    expect(result.counts).toMatchObject({ done: 1, failed: 0 });
    expect(calls.generate).toEqual(['SKU-1@42', 'SKU-1@42']);
    expect(calls.extract).toBe(2);
    expect(calls.extractBatches).toEqual([['fast', 'balanced', 'quality'], ['fast', 'balanced', 'quality']]);
    expect(calls.manifests[0]).toMatchObject({ status: 'done', generateCalls: 2, extractCalls: 1 });
    expect(Object.keys(calls.manifests[0]!.glbs).sort()).toEqual(['balanced', 'fast', 'quality']);
  });

  it('fails the asset, not the catalog, when the state is lost again after regenerating', async () => {
    const { activities, calls } = scriptedActivities({ rows: 2, stateLosses: 2 });
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${newCatalogId()}`,
        args: [catalogInput(newCatalogId(), { concurrency: 1 })],
      }),
    );
    expect(result.counts).toMatchObject({ done: 1, failed: 1 });
    const failed = calls.manifests.find((manifest) => manifest.status === 'failed');
    expect(failed?.error?.code).toBe('state_not_found');
  });

  it('fails only the asset whose image is unreadable, with a manifest saying why', async () => {
    const { activities, calls } = scriptedActivities({ rows: 3, unreadable: ['SKU-2'] });
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${newCatalogId()}`, args: [catalogInput(newCatalogId())] }),
    );
    expect(result.status).toBe('completed');
    expect(result.counts).toMatchObject({ done: 2, failed: 1 });
    const failed = calls.manifests.find((manifest) => manifest.sku === 'SKU-2');
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'image_unreadable' } });
    expect(failed?.error?.message).toContain('sku-2.png');
    expect(calls.reports).toBe(1);
  });

  it('a failed asset ends Failed in Temporal (SKU and reason in the failure), counted once by its catalog', async () => {
    const { activities, calls } = scriptedActivities({ rows: 3, unreadable: ['SKU-2'] });
    const catalogId = newCatalogId();
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, { continueAsNewAfter: 1 })] }),
    );
    expect(result.counts).toMatchObject({ done: 2, failed: 1, running: 0, waiting: 0 });
    expect(calls.snapshots).toBe(1); // read once, though the catalog continued as new twice
    const failed = client.workflow.getHandle(`asset/${catalogId}/SKU-2`);
    expect((await failed.describe()).status.name).toBe('FAILED');
    const failure = await failed.result().catch((error: unknown) => error as Error & { cause?: Error });
    expect(failure.cause?.message).toMatch(/^SKU "SKU-2" \(row 2\) failed: image_unreadable: image sku-2.png/);
    expect((await client.workflow.getHandle(`asset/${catalogId}/SKU-1`).describe()).status.name).toBe('COMPLETED');
  });

  it('fails a row naming an unknown preset without starting it', async () => {
    const { activities, calls } = scriptedActivities({ rows: 2, rowPresets: { 'SKU-2': ['ultra'] } });
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${newCatalogId()}`, args: [catalogInput(newCatalogId())] }),
    );
    expect(result.counts).toMatchObject({ done: 1, failed: 1 });
    expect(calls.generate).toEqual(['SKU-1@42']);
    expect(calls.manifests.find((manifest) => manifest.sku === 'SKU-2')?.error?.message).toContain('ultra');
  });
});

describe('convertCatalog', () => {
  it('pauses, resumes, and on cancel stops the rest but still writes its report', async () => {
    const { activities, calls } = scriptedActivities({ rows: 6, generateDelayMs: 400 });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId, { concurrency: 1 })],
      });
      await handle.signal(pauseSignal);
      const progress = () => handle.query(progressQuery) as Promise<CatalogProgress>;
      await until(async () => {
        const p = await progress();
        return p.status === 'paused' && p.counts.running === 0 && p.totalRows === 6;
      }, 'the paused catalog to drain its running asset');
      const whilePaused = await progress();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await progress()).counts).toEqual(whilePaused.counts);
      expect(whilePaused.counts.done).toBeLessThanOrEqual(1);

      await handle.signal(resumeSignal);
      await until(async () => (await progress()).counts.done >= 2, 'two assets after resuming');
      await handle.signal(cancelSignal);
      const result = await handle.result();
      expect(result.status).toBe('cancelled');
      expect(result.counts.done + result.counts.cancelled + result.counts.waiting).toBe(6);
      expect(result.counts.waiting).toBeGreaterThan(0);
      expect(calls.reports).toBe(1);
    });
    const cancelled = calls.manifests.filter((manifest) => manifest.status === 'cancelled');
    expect(cancelled.length).toBeLessThanOrEqual(1);
  });
});

describe('lookahead', () => {
  it('runs concurrency + lookahead assets at once, started in one go, and never more', async () => {
    const { activities } = scriptedActivities({ rows: 5, generateDelayMs: 1500 });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId, { concurrency: 1, lookahead: 2 })],
      });
      const progress = () => handle.query(progressQuery) as Promise<CatalogProgress>;
      let most = 0;
      await until(async () => {
        const { counts } = await progress();
        most = Math.max(most, counts.running);
        return counts.running === 3;
      }, 'three assets to run at once');
      while ((await handle.describe()).status.name === 'RUNNING') {
        most = Math.max(most, (await progress()).counts.running);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(most).toBe(3);
      expect((await handle.result()).counts).toMatchObject({ done: 5, failed: 0 });
      // The first three children were started by the same workflow task.
      const history = await handle.fetchHistory();
      const startedIn = history.events!.filter((event) => event.startChildWorkflowExecutionInitiatedEventAttributes)
        .map((event) => String(event.startChildWorkflowExecutionInitiatedEventAttributes!.workflowTaskCompletedEventId));
      expect(new Set(startedIn.slice(0, 3)).size).toBe(1);
    });
  });
});

describe('--max-cost', () => {
  it('pauses before the next asset would pass the budget, saying why; resume goes on past it', async () => {
    // Each scripted asset costs 4 x $0.02 measured; the estimate (seed table, 1024_cascade, 3 presets) is
    // ~$0.083 per asset plus ~$0.094 for the first one's cold start: a $0.25 budget allows two assets.
    const { activities } = scriptedActivities({ rows: 4 });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId, { concurrency: 1, maxCostUsd: 0.25 })],
      });
      const progress = () => handle.query(progressQuery) as Promise<CatalogProgress>;
      await until(async () => (await progress()).status === 'paused', 'the budget pause');
      const paused = await progress();
      expect(paused.counts.running).toBe(0);
      expect(paused.counts.done).toBeGreaterThan(0);
      expect(paused.usage.estimatedCostUsd).toBeLessThanOrEqual(0.25);
      expect(paused.pauseReason).toMatch(/^paused by --max-cost: .* would pass the budget of \$0\.2500\. `trellis resume/);
      await handle.signal(resumeSignal);
      const result = await handle.result();
      expect(result.counts).toMatchObject({ done: 4, failed: 0 });
    });
  });
});

describe('assets that end without reporting', () => {
  it('are found when waiting on them takes long, even after the catalog continued as new', async () => {
    const { activities } = scriptedActivities({ rows: 2, hanging: ['SKU-1'] });
    const catalogId = newCatalogId();
    const result = await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId, { concurrency: 2, continueAsNewAfter: 1, reconcileAfterSeconds: 1 })],
      });
      const progress = () => handle.query(progressQuery) as Promise<CatalogProgress>;
      await until(async () => {
        const p = await progress();
        return p.runNumber === 2 && p.counts.done === 1;
      }, 'the continued run to finish SKU-2');
      // SKU-1 was started by the first run and never reports: terminate it by hand.
      await client.workflow.getHandle(`asset/${catalogId}/SKU-1`).terminate('stuck');
      return handle.result();
    });
    expect(result.counts).toMatchObject({ done: 1, failed: 1, running: 0 });
  });
});


describe('one catalog, one warm-up', () => {
  it('warms the service up once per catalog, not once per asset', async () => {
    const { activities, calls } = scriptedActivities({ rows: 3 });
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${newCatalogId()}`, args: [catalogInput(newCatalogId())] }),
    );
    expect(result.counts).toMatchObject({ done: 3 });
    expect(calls.warmUps).toBe(1);
  });

  it('a rerun with every output made wakes no GPU and costs nothing: every asset is reused', async () => {
    const { activities, calls } = scriptedActivities({ rows: 3, everythingMade: true });
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${newCatalogId()}`, args: [catalogInput(newCatalogId())] }),
    );
    expect(result.counts).toMatchObject({ reused: 3, done: 0, failed: 0 });
    expect(calls.warmUps).toBe(0);
    expect(calls.generate).toHaveLength(0);
    expect(result.usage).toEqual(noUsage);
    expect(calls.manifests.map((manifest) => manifest.status)).toEqual(['reused', 'reused', 'reused']);
  });

  it('a run carried over from the former words (succeeded, skipped) goes on counting under the new ones', async () => {
    const { activities } = scriptedActivities({ rows: 3 });
    const catalogId = newCatalogId();
    const carried = {
      runNumber: 2, nextOffset: 1, totalRows: 3, invalidRows: 0, inFlight: {},
      finished: { succeeded: 1, skipped: 0, failed: 0, cancelled: 0 },
      usage: noUsage, paused: false, cancelRequested: false, snapshotId: 'f'.repeat(64), maxCostUsd: null,
    };
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId), carried as never] }),
    );
    expect(result.counts).toMatchObject({ done: 3, reused: 0, failed: 0, waiting: 0 });
  });
});

describe('children left running by an earlier run', () => {
  it('are adopted into the window instead of failing the catalog, and nothing runs twice', async () => {
    const { activities, calls } = scriptedActivities({ rows: 2, generateDelayMs: 1500 });
    const catalogId = newCatalogId();
    const result = await withWorker(activities, async (taskQueue) => {
      // As if a terminated catalog had left SKU-1's workflow running.
      const orphan = await client.workflow.start('convertAsset', {
        taskQueue,
        workflowId: `asset/${catalogId}/SKU-1`,
        args: [assetInput(catalogId, 'SKU-1', 1)],
      });
      await until(async () => calls.generate.length === 1, 'the orphan to start generating');
      const catalog = await client.workflow.execute('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId)],
      });
      expect((await orphan.describe()).status.name).toBe('COMPLETED');
      return catalog;
    });
    expect(result.counts).toMatchObject({ done: 2, failed: 0 });
    expect(calls.generate.sort()).toEqual(['SKU-1@42', 'SKU-2@42']);
  });

  it('ignores a report that names another execution of the same asset', async () => {
    const { activities } = scriptedActivities({ rows: 1, generateDelayMs: 1500 });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId)],
      });
      const progress = () => handle.query(progressQuery) as Promise<CatalogProgress>;
      // Once it shows as running, its start has resolved and the catalog knows its execution.
      await until(async () => (await progress()).running[0]?.stage === 'running', 'SKU-1 to start');
      await handle.signal(assetFinishedSignal, {
        sku: 'SKU-1',
        row: 1,
        status: 'failed',
        error: { code: 'stale', message: 'from an older execution' },
        usage: noUsage,
        generateCalls: 0,
        runId: 'an-older-execution',
      });
      expect((await progress()).counts).toMatchObject({ running: 1, failed: 0 });
      expect((await handle.result()).counts).toMatchObject({ done: 1, failed: 0 });
    });
  });
});

describe('stuck assets', () => {
  it.each([
    // The run that started the asset hears Temporal's timeout itself, and says which setting it was.
    ['in the run that started them', {}, 'assetTimeoutSeconds'],
    ['by a later run of the catalog too', { continueAsNewAfter: 1, reconcileAfterSeconds: 1 }, 'TIMED_OUT'],
  ])('are timed out and reported failed with the reason, and the catalog finishes: %s', async (_when, options, reason) => {
    const { activities, calls } = scriptedActivities({ rows: 2, hanging: ['SKU-1'] });
    const catalogId = newCatalogId();
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId, { assetTimeoutSeconds: 3, ...options })],
      }),
    );
    expect(result.counts).toMatchObject({ done: 1, failed: 1, running: 0 });
    const manifest = calls.manifests.find((entry) => entry.sku === 'SKU-1');
    expect(manifest).toMatchObject({ status: 'failed', error: { code: 'workflow_timed_out' } });
    expect(manifest?.error?.message).toContain(reason);
  });
});

describe('credentials refused mid-run', () => {
  it('pause the catalog with what to fix; after a resume the blocked assets go on and nothing is lost', async () => {
    const credentials = { revoked: false };
    const { activities, calls } = scriptedActivities({ rows: 4, generateDelayMs: 300, credentials });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', {
        taskQueue,
        workflowId: `catalog/${catalogId}`,
        args: [catalogInput(catalogId, { concurrency: 2 })],
      });
      const progress = () => handle.query(progressQuery) as Promise<CatalogProgress>;
      await until(async () => (await progress()).counts.done >= 1, 'a first asset');
      credentials.revoked = true;
      await until(async () => (await progress()).status === 'paused', 'the catalog to pause itself');
      const paused = await progress();
      expect(paused.pauseReason).toContain('TRELLIS2_MODAL_KEY');
      expect(paused.pauseReason).toContain(`trellis resume ${catalogId}`);
      await until(async () => (await progress()).running.every(({ stage }) => stage === 'blocked'), 'running assets to block');
      const startedWhilePaused = (await progress()).counts;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await progress()).counts).toEqual(startedWhilePaused);

      credentials.revoked = false;
      await handle.signal(resumeSignal);
      const result = await handle.result();
      expect(result.counts).toMatchObject({ done: 4, failed: 0 });
    });
    expect(calls.manifests.filter((manifest) => manifest.status === 'done')).toHaveLength(4);
    expect(new Set(calls.generate).size).toBe(4);
  });
});

describe('completion webhooks', () => {
  it('a catalog with --notify-assets posts one signed call per asset and one for the catalog', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    process.env[WEBHOOK_SECRET_ENV] = secret;
    const received: Array<{ headers: Record<string, string>; body: string }> = [];
    const receiver = http.createServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      received.push({ headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    try {
      const { activities } = scriptedActivities({ rows: 2 });
      const catalogId = newCatalogId();
      await withWorker({ ...activities, deliverWebhook }, async (taskQueue) => {
        await client.workflow.execute('convertCatalog', {
          taskQueue,
          workflowId: `catalog/${catalogId}`,
          args: [catalogInput(catalogId, { notify: { url, assets: true } })],
        });
        await until(async () => received.length === 3, 'three webhook calls');
      });
      const verifier = new Webhook(secret);
      const events = received.map(({ headers, body }) => (verifier.verify(body, headers) as { type: string }).type);
      expect(events.sort()).toEqual(['asset.finished', 'asset.finished', 'catalog.finished']);
    } finally {
      delete process.env[WEBHOOK_SECRET_ENV];
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('a model that starts waiting for review posts a signed asset.review_requested with its queue entry', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    process.env[WEBHOOK_SECRET_ENV] = secret;
    const received: Array<{ headers: Record<string, string>; body: string }> = [];
    const receiver = http.createServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      received.push({ headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    try {
      const { activities } = scriptedActivities({ rows: 1, flagged: { 'SKU-1': 'every seed' } });
      const catalogId = newCatalogId();
      const review = { mode: 'flagged' as const, deadlineHours: 24, onDeadline: 'reject' as const };
      await withWorker({ ...activities, deliverWebhook }, async (taskQueue) => {
        await client.workflow.start('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, { notify: { url }, review })] });
        await until(async () => received.length === 1, 'the review request');
        await decideReview(client, catalogId, 'SKU-1', { decision: 'approve', reviewer: 'ana' });
        await until(async () => received.length === 2, 'the catalog webhook');
      });
      const verifier = new Webhook(secret);
      const [request, finished] = received.map(({ headers, body }) => WebhookBody.parse(verifier.verify(body, headers)));
      expect(request).toMatchObject({ type: 'asset.review_requested', data: { catalogId, sku: 'SKU-1', flagged: true, files: { glb: 'SKU-1/fast.glb' }, catalogDir: `/out/${catalogId}` } });
      // Without --notify-assets, no asset.finished: only the review request and the catalog's end.
      expect(finished?.type).toBe('catalog.finished');
    } finally {
      delete process.env[WEBHOOK_SECRET_ENV];
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});

describe('review mode', () => {
  const review = (mode: 'flagged' | 'all', deadlineHours = 24, onDeadline: 'approve' | 'reject' = 'reject') => ({ review: { mode, deadlineHours, onDeadline } });

  /** Waits until the SKU's asset waits for review, and returns its queue entry. */
  async function inReview(catalogId: string, sku: string): Promise<ReviewItem> {
    let item: ReviewItem | undefined;
    await until(async () => {
      item = await getReviewItem(client, catalogId, sku).catch(() => undefined);
      return item !== undefined;
    }, `${sku} to wait for review`);
    return item!;
  }

  it('a flagged SKU waits with only its cheapest preset, gives its slot to the next row, and approve releases the rest', async () => {
    const { activities, calls } = scriptedActivities({ rows: 2, flagged: { 'SKU-1': 'every seed' } });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, { concurrency: 1, ...review('flagged') })] });
      const item = await inReview(catalogId, 'SKU-1');
      expect(item).toMatchObject({ sku: 'SKU-1', attempt: 0, seed: 42, score: 0.2, flagged: true, failing: ['background'], preset: 'fast', files: { glb: 'SKU-1/fast.glb', preview: 'SKU-1/preview.mp4' }, history: [] });
      // Its window slot went to SKU-2 (concurrency 1), which is not flagged and finishes meanwhile.
      await until(async () => calls.manifests.some((manifest) => manifest.sku === 'SKU-2'), 'SKU-2 to finish while SKU-1 waits');
      expect((await handle.query(progressQuery)).inReview).toBe(1);
      // The queue comes from visibility (TrellisStage), which follows the asset's state within moments.
      let queue: ReviewItem[] = [];
      await until(async () => (queue = await listReviewQueue(client, catalogId)).length > 0, 'the queue to list SKU-1');
      expect(queue.map((entry) => entry.sku)).toEqual(['SKU-1']);
      // In review mode every model is checked on its cheapest preset before the rest are made.
      expect(calls.extractBatches).toEqual([['fast'], ['fast'], ['balanced', 'quality']]);

      const recorded = await decideReview(client, catalogId, 'SKU-1', { decision: 'approve', reviewer: 'ana' });
      expect(recorded).toMatchObject({ decision: 'approve', reviewer: 'ana', attempt: 0, seed: 42 });
      expect((await handle.result()).counts).toMatchObject({ done: 2, failed: 0 });
    });
    expect(calls.extractBatches).toEqual([['fast'], ['fast'], ['balanced', 'quality'], ['balanced', 'quality']]);
    expect(calls.generate).toEqual(['SKU-1@42', 'SKU-2@42']);
    const manifest = calls.manifests.find((entry) => entry.sku === 'SKU-1')!;
    expect(manifest).toMatchObject({ status: 'done', quality: { score: 0.2, flagged: true }, reviewDecisions: [{ decision: 'approve', reviewer: 'ana' }] });
    expect(Object.keys(manifest.glbs).sort()).toEqual(['balanced', 'fast', 'quality']);
  });

  it('regenerate makes a new model with the new seed (one extra generation), checks it again, and keeps the first attempt\'s cost', async () => {
    const { activities, calls } = scriptedActivities({ rows: 1, flagged: { 'SKU-1': [42] } });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, review('flagged'))] });
      await inReview(catalogId, 'SKU-1');
      expect(await decideReview(client, catalogId, 'SKU-1', { decision: 'regenerate', reviewer: 'ana', seed: 7 })).toMatchObject({ decision: 'regenerate', seed: 42, nextSeed: 7 });
      expect((await handle.result()).counts).toMatchObject({ done: 1 });
    });
    expect(calls.generate).toEqual(['SKU-1@42', 'SKU-1@7']);
    expect(calls.prepareSeeds).toEqual([42, 7]);
    expect(calls.quality).toHaveLength(2);
    expect(calls.extractBatches).toEqual([['fast'], ['fast'], ['balanced', 'quality']]);
    const manifest = calls.manifests[0]!;
    expect(manifest).toMatchObject({ status: 'done', seed: 7, generateCalls: 2, quality: { flagged: false }, reviewDecisions: [{ decision: 'regenerate', reviewer: 'ana', nextSeed: 7 }] });
    // Two generations and three extractions paid for: the rejected attempt's too.
    expect(manifest.usage.gpuSeconds).toBe(2 + 1 + 1 + 2);
  });

  it('approve after the state expired during the wait regenerates it once with the same seed, then makes the rest', async () => {
    const script: Script = { rows: 1, flagged: { 'SKU-1': 'every seed' } };
    const { activities, calls } = scriptedActivities(script);
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, review('flagged'))] });
      await inReview(catalogId, 'SKU-1');
      script.stateLosses = 1; // the service's TTL passed while the model waited
      await decideReview(client, catalogId, 'SKU-1', { decision: 'approve', reviewer: 'ana' });
      expect((await handle.result()).counts).toMatchObject({ done: 1 });
    });
    expect(calls.generate).toEqual(['SKU-1@42', 'SKU-1@42']);
    expect(calls.extractBatches).toEqual([['fast'], ['balanced', 'quality'], ['balanced', 'quality']]);
    expect(calls.manifests[0]).toMatchObject({ status: 'done', seed: 42, generateCalls: 2 });
  });

  it('reject fails the SKU with the reviewer\'s reason; the catalog goes on', async () => {
    const { activities, calls } = scriptedActivities({ rows: 2, flagged: { 'SKU-1': 'every seed' } });
    const catalogId = newCatalogId();
    const result = await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, review('flagged'))] });
      await inReview(catalogId, 'SKU-1');
      await decideReview(client, catalogId, 'SKU-1', { decision: 'reject', reviewer: 'bo', reason: 'the handle is missing' });
      return handle.result();
    });
    expect(result.counts).toMatchObject({ done: 1, failed: 1 });
    expect(calls.manifests.find((entry) => entry.sku === 'SKU-1')).toMatchObject({
      status: 'failed',
      error: { code: 'review_rejected', message: 'rejected by bo: the handle is missing' },
      reviewDecisions: [{ decision: 'reject', reviewer: 'bo', reason: 'the handle is missing' }],
    });
    // Nothing beyond the cheapest preset was paid for the rejected SKU: only SKU-2 made the others.
    expect(calls.extractBatches.filter((batch) => batch.includes('quality'))).toEqual([['balanced', 'quality']]);
  });

  it('a decision sent to an asset that is not waiting is refused, saying so, and changes nothing', async () => {
    const { activities, calls } = scriptedActivities({ rows: 1, generateDelayMs: 3000 });
    const catalogId = newCatalogId();
    await withWorker(activities, async (taskQueue) => {
      const handle = await client.workflow.start('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, review('flagged'))] });
      await until(async () => calls.generate.length === 1, 'the generation to start');
      const refused = decideReview(client, catalogId, 'SKU-1', { decision: 'reject', reviewer: 'bo', reason: 'too early' });
      await expect(refused).rejects.toBeInstanceOf(ReviewDecisionRefusedError);
      await expect(refused).rejects.toThrow(/SKU-1 is not waiting for review/);
      expect((await handle.result()).counts).toMatchObject({ done: 1 });
    });
    expect(calls.manifests[0]!.reviewDecisions).toBeUndefined();
  });

  it('the deadline applies the catalog\'s policy to a model nobody decided on', async () => {
    const { activities, calls } = scriptedActivities({ rows: 1 });
    const catalogId = newCatalogId();
    // `all`: even a model the checks pass waits; 2 seconds' deadline, then approved by policy.
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId, review('all', 2 / 3600, 'approve'))] }),
    );
    expect(result.counts).toMatchObject({ done: 1 });
    expect(calls.manifests[0]).toMatchObject({ status: 'done', reviewDecisions: [{ decision: 'approve', reviewer: 'deadline' }] });
  });

  it('review off behaves as before: one extract job for every preset, checks after, nobody waits', async () => {
    const { activities, calls } = scriptedActivities({ rows: 1, flagged: { 'SKU-1': 'every seed' } });
    const catalogId = newCatalogId();
    const result = await withWorker(activities, (taskQueue) =>
      client.workflow.execute('convertCatalog', { taskQueue, workflowId: `catalog/${catalogId}`, args: [catalogInput(catalogId)] }),
    );
    expect(result.counts).toMatchObject({ done: 1 });
    expect(calls.extractBatches).toEqual([['fast', 'balanced', 'quality']]);
    expect(calls.manifests[0]).toMatchObject({ quality: { flagged: true } });
    expect(calls.manifests[0]!.reviewDecisions).toBeUndefined();
  });
});
