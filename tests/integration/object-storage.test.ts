// Outputs in S3-compatible object storage, end to end: the real Temporal dev server, the real local
// service, a real worker, and a real S3 server (versitygw over a temp folder) reached through a proxy
// that can break requests. The worker's S3 configuration comes from the standard AWS variables only; the
// workflow input carries the s3:// location string, never a credential.
import fs from 'node:fs';
import path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { presignedUrlsOf } from '@trellis/activities';
import { readCatalogReport, startCatalogConversion } from '@trellis/cli';
import { assetWorkflowId, catalogWorkflowId, type CatalogReport, type CatalogResult } from '@trellis/contracts';
import { readServiceStats, resetServiceStats, startS3Server, type S3Server } from '@trellis/devstack';
import { startDashboard } from '@trellis/dashboard';
import { openOutputStore, sha256Hex } from '@trellis/output-store';
import { createS3Client } from '@trellis/output-store/s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';
import { startConversionStack, type ConversionStack } from '../harness/conversion-stack';
import { startFlakyS3Proxy, type FlakyS3Proxy } from '../harness/flaky-s3-proxy';

const SKUS = ['S3-CHAIR', 'S3-LAMP', 'S3-MUG'];
const IMAGES = ['chair.png', 'lamp.png', 'mug.png'];
const PRESETS = 'fast';

let s3: S3Server;
let proxy: FlakyS3Proxy;
let stack: ConversionStack;
let catalogPath: string;

beforeAll(async () => {
  const workDir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'object-storage-'));
  s3 = await startS3Server({ workDir, buckets: ['outputs'] });
  proxy = await startFlakyS3Proxy(s3.endpoint);
  // The worker in this process finds the store the way a deployed one does: the standard AWS variables.
  Object.assign(process.env, s3.env(), { AWS_ENDPOINT_URL_S3: proxy.endpoint });
  stack = await startConversionStack('object-storage');
  catalogPath = writeCatalog(path.join(stack.workDir, 'catalog'), { rows: SKUS.map((sku, index) => ({ sku, image: IMAGES[index]! })) });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await proxy?.stop();
  await s3?.stop();
});

async function convert(out: string, catalogId: string): Promise<{ result: CatalogResult; report: CatalogReport; outDir: string }> {
  const prepared = await prepareConversion({ catalog: catalogPath, out, catalogId, presets: PRESETS, pipeline: '512' });
  const handle = await startCatalogConversion(stack.client, prepared.input, { taskQueue: stack.taskQueue });
  const result = await handle.result();
  return { result, report: await readCatalogReport(prepared.input.outDir, catalogId), outDir: prepared.input.outDir };
}

/** Every output of a catalog (not the bookkeeping under .trellis) with its sha256, from any store. */
async function outputsOf(outDir: string, catalogId: string): Promise<Record<string, string>> {
  const store = openOutputStore(outDir);
  const found: Record<string, string> = {};
  for await (const item of store.list(catalogId)) {
    if (item.key.includes('/.trellis/') || item.key.endsWith('/report.json') || item.key.endsWith('/report.csv')) continue;
    const relative = item.key.slice(catalogId.length + 1);
    if (relative.endsWith('manifest.json')) {
      found[relative] = 'manifest';
      continue;
    }
    const head = await store.head(item.key);
    found[relative] = head?.sha256 ?? 'unknown';
  }
  return found;
}

/** The report's rows as a run on any machine must agree on them (usage is measured time, so it is left out). */
const rowsOf = (report: CatalogReport) => report.rows.map(({ usage: _usage, ...row }) => row);

async function incompleteUploads(): Promise<number> {
  const client = createS3Client(s3.env());
  try {
    return (await client.send(new ListMultipartUploadsCommand({ Bucket: 'outputs' }))).Uploads?.length ?? 0;
  } finally {
    client.destroy();
  }
}

describe('outputs in s3://', () => {
  let local: Awaited<ReturnType<typeof convert>>;
  let remote: Awaited<ReturnType<typeof convert>>;

  it('a conversion into s3:// makes the same files, sha256 and report rows as a local run', async () => {
    local = await convert(path.join(stack.workDir, 'out'), 'same-catalog');
    expect(local.result.status).toBe('completed');
    remote = await convert('s3://outputs/team/runs', 'same-catalog-s3');
    expect(remote.result.status).toBe('completed');
    expect(remote.result.counts).toMatchObject({ done: SKUS.length, failed: 0 });

    const localOutputs = await outputsOf(local.outDir, 'same-catalog');
    const remoteOutputs = await outputsOf('s3://outputs/team/runs', 'same-catalog-s3');
    expect(Object.keys(localOutputs).length).toBe(SKUS.length * 3); // manifest, preview, one GLB each
    expect(remoteOutputs).toEqual(localOutputs);
    expect(rowsOf(remote.report)).toEqual(rowsOf(local.report));
    // The quality checks read the model and preview through the store too.
    for (const row of remote.report.rows) expect(row.quality?.score, row.sku).toBeTypeOf('number');
    // The objects sit where the bucket's posix backend puts them: the S3 server really holds them.
    expect(fs.existsSync(path.join(s3.dataDir, 'outputs', 'team', 'runs', 'same-catalog-s3', 'S3-MUG', 'fast.glb'))).toBe(true);
    // The local catalog and its images were staged into the store for workers without this disk.
    const staged: string[] = [];
    for await (const item of openOutputStore('s3://outputs/team/runs').list('same-catalog-s3/.trellis/inputs')) staged.push(path.posix.basename(item.key));
    expect(staged.sort()).toEqual(['catalog.csv', ...IMAGES].sort());
    expect(await incompleteUploads()).toBe(0);
  }, 300_000);

  it('the workflow input carries the s3:// location and no credential', async () => {
    const history = JSON.stringify(await stack.client.workflow.getHandle(catalogWorkflowId('same-catalog-s3')).fetchHistory());
    const assetHistory = JSON.stringify(await stack.client.workflow.getHandle(assetWorkflowId('same-catalog-s3', 'S3-MUG')).fetchHistory());
    for (const text of [history, assetHistory]) {
      expect(text).not.toContain(s3.credentials.secretAccessKey);
      expect(text).not.toContain(s3.credentials.accessKeyId);
    }
  });

  it('the dashboard serves a GLB and the report from the bucket, and the page gets no store credential', async () => {
    const dashboard = await startDashboard({ client: stack.client, outDir: 's3://outputs/team/runs', startCatalog: async () => {} });
    try {
      const glb = await fetch(`${dashboard.url}files/same-catalog-s3/S3-MUG/fast.glb`);
      expect(glb.status).toBe(200);
      expect(glb.headers.get('content-type')).toBe('model/gltf-binary');
      const bytes = Buffer.from(await glb.arrayBuffer());
      const manifest = remote.report.rows.find((row) => row.sku === 'S3-MUG')!;
      expect(sha256Hex(bytes)).toBe(manifest.glbs.fast!.sha256);
      expect((await fetch(`${dashboard.url}files/same-catalog-s3/.trellis/inputs/catalog.csv`)).status).toBe(404);
      const detail = await (await fetch(`${dashboard.url}api/catalogs/same-catalog-s3`)).text();
      expect(detail).toContain('S3-MUG');
      for (const secret of [s3.credentials.secretAccessKey, s3.credentials.accessKeyId, 'X-Amz-Signature']) expect(detail).not.toContain(secret);
    } finally {
      await dashboard.close();
    }
  });

  it('webhooks name the objects, and carry presigned URLs made at delivery when asked', async () => {
    const row = remote.report.rows.find((candidate) => candidate.sku === 'S3-LAMP')!;
    const delivery = {
      url: 'https://receiver.example/hooks',
      eventType: 'asset.finished' as const,
      webhookId: 'msg_asset_test',
      occurredAt: new Date().toISOString(),
      presignSeconds: 300,
      payload: { catalogId: 'same-catalog-s3', sku: row.sku, row: row.row, status: 'done' as const, assetDir: 's3://outputs/team/runs/same-catalog-s3/S3-LAMP', glbs: row.glbs, preview: row.preview, usage: row.usage },
    };
    const urls = (await presignedUrlsOf(delivery))!;
    expect(Object.keys(urls).sort()).toEqual(['fast.glb', 'preview.mp4']);
    const glb = await fetch(urls['fast.glb']!); // no credential: the signature is the permission
    expect(glb.status).toBe(200);
    expect(sha256Hex(Buffer.from(await glb.arrayBuffer()))).toBe(row.glbs.fast!.sha256);
    expect(await presignedUrlsOf({ ...delivery, presignSeconds: undefined })).toBeUndefined();
  });

  it('a second run into the same s3:// out reuses everything: no GPU job at the service', async () => {
    await resetServiceStats(stack.service);
    const again = await convert('s3://outputs/team/runs', 'same-catalog-s3');
    expect(again.result.status).toBe('completed');
    const stats = await readServiceStats(stack.service);
    expect(stats.jobs_created).toEqual({ generate: 0, extract_glb: 0 });
    expect(stats.work_runs).toMatchObject({ generate: 0, extract_glb: 0 });
    expect(again.report.rows.every((row) => Object.values(row.glbs).every((glb) => glb.reused))).toBe(true);
    expect(await outputsOf('s3://outputs/team/runs', 'same-catalog-s3')).toEqual(await outputsOf(local.outDir, 'same-catalog'));
  }, 300_000);

  it('the store answering 503, resets and slow responses for a share of requests: nothing lost, no GPU work repeated', async () => {
    await resetServiceStats(stack.service);
    proxy.setFaults({ slowDown: 0.15, reset: 0.1, slow: 0.1, delayMs: 800, seed: 17 });
    let faulty: Awaited<ReturnType<typeof convert>>;
    try {
      faulty = await convert('s3://outputs/team/faults', 'flaky-store');
    } finally {
      proxy.setFaults({});
    }
    expect(faulty.result.status).toBe('completed');
    expect(faulty.result.counts).toMatchObject({ done: SKUS.length, failed: 0 });
    expect(await outputsOf('s3://outputs/team/faults', 'flaky-store')).toEqual(await outputsOf(local.outDir, 'same-catalog'));
    const stats = await readServiceStats(stack.service);
    // Each SKU's generation and extraction ran exactly once, never once per retried store request.
    expect(stats.work_runs).toMatchObject({ generate: SKUS.length, extract_glb: SKUS.length });
    expect(stats.jobs_created).toEqual({ generate: SKUS.length, extract_glb: SKUS.length });
    expect(await incompleteUploads()).toBe(0);
    const { slowDown, resetBefore, resetAfter, slow } = proxy.injected;
    console.log(`flaky store: ${JSON.stringify(proxy.injected)}; service work runs ${JSON.stringify(stats.work_runs)}`);
    expect(slowDown + resetBefore + resetAfter + slow).toBeGreaterThan(0);
  }, 300_000);
});
