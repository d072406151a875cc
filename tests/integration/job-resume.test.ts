// A GPU activity must never pay for the GPU twice: it heartbeats its job (kind, Idempotency-Key, job id,
// phase) on a timer for its whole life, and a retried attempt resumes from those details: polling the same
// job, or only downloading its result again. Run against the real local service with the real activity
// code in Temporal's activity test environment; faults are made by a small HTTP proxy in between that cuts
// result bodies mid-stream, drops answers, answers 503 or holds requests (the true edge: sockets, not mocks).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, JobProgress, type ExtractGlbsResult, type GenerateResult } from '@trellis/activities';
import type { Preset } from '@trellis/contracts';
import { readServiceStats, startLocalService, type LocalService } from '@trellis/devstack';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleImagesDir } from '../harness/catalogs';
import { CountingTrellisClient } from '../harness/conversion-stack';

let service: LocalService;
let storeDir: string;
let trellis: CountingTrellisClient;
let workDir: string;
let image: Buffer;

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(inject('workDir'), 'resume-'));
  storeDir = path.join(workDir, 'store');
  service = await startLocalService({ workDir, storeDir });
  trellis = new CountingTrellisClient({ baseUrl: service.url, credentials: service.credentials });
  image = fs.readFileSync(path.join(exampleImagesDir, 'mug.png'));
  fs.copyFileSync(path.join(exampleImagesDir, 'mug.png'), path.join(workDir, 'mug.png'));
  fs.writeFileSync(path.join(workDir, 'catalog.csv'), 'sku,image\nMUG,mug.png\n');
});
afterAll(async () => {
  await service?.stop();
});

/** The details an attempt leaves while its generate job runs (the key is re-derived by the retry, so any will do). */
function runningJobDetails(jobId: string): JobProgress {
  return { kind: 'generate', jobId, idempotencyKey: 'a'.repeat(64), phase: 'running' };
}

/** Each test writes to its own output folder, so one test's recorded outputs are never another's reuse. */
function generateInput(outName: string) {
  return {
    catalogId: 'resume',
    sku: 'MUG',
    image: 'mug.png',
    catalogPath: path.join(workDir, 'catalog.csv'),
    outDir: path.join(workDir, outName),
    seed: 42,
    pipelineType: '512' as const,
    generateHash: createHash('sha256').update(outName).digest('hex'),
    imageSha256: createHash('sha256').update(image).digest('hex'),
  };
}

const fastPreset: Preset = { name: 'fast', settings: { decimation_target: 1000, texture_size: 512, remesh: false, remesh_band: 1, remesh_project: 0 } };
const smallPreset: Preset = { name: 'small', settings: { ...fastPreset.settings, decimation_target: 2000 } };

/** GPU jobs the service made (its own counters): the ground truth, whatever the client believes. */
async function serviceJobCount(): Promise<number> {
  const { jobs_created: created } = await readServiceStats(service);
  return created.generate + created.extract_glb;
}

/** An activity environment that records every heartbeat's details as sent. */
function recordingEnvironment(options: ConstructorParameters<typeof MockActivityEnvironment>[0] = {}) {
  const environment = new MockActivityEnvironment(options);
  const heartbeats: unknown[] = [];
  environment.on('heartbeat', (details: unknown) => heartbeats.push(details));
  return { environment, heartbeats };
}

/**
 * The invariant: every heartbeat is a full progress record (never empty), of this kind, with the key it
 * started with; the job that ran is on every heartbeat from the one that named it to the last one.
 */
function expectJobOnEveryHeartbeat(heartbeats: unknown[], kind: 'generate' | 'extract_glb'): JobProgress {
  expect(heartbeats.length).toBeGreaterThan(0);
  const parsed = heartbeats.map((details) => JobProgress.strict().parse(details));
  const key = parsed[0]!.idempotencyKey;
  expect(key).toMatch(/^[0-9a-f]{64}$/);
  for (const progress of parsed) expect(progress).toMatchObject({ kind, idempotencyKey: key });
  const last = parsed.at(-1)!;
  expect(last.jobId).toMatch(/^job_[0-9a-f]{32}$/);
  const firstWithIt = parsed.findIndex((progress) => progress.jobId === last.jobId);
  for (const progress of parsed.slice(firstWithIt)) expect(progress.jobId).toBe(last.jobId);
  return last;
}

type ProxyAction = 'pass' | 'cut-body' | 'lose-answer' | 'unavailable' | { holdMs: number };

/** A forwarding HTTP proxy to the service whose `decide` picks, per request, what goes wrong. */
async function startFaultProxy(target: string, decide: (method: string, url: string) => ProxyAction) {
  const seen: { method: string; url: string; idempotencyKey?: string }[] = [];
  const server = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const method = request.method ?? 'GET';
    const url = request.url ?? '/';
    const key = request.headers['idempotency-key'];
    seen.push({ method, url, idempotencyKey: typeof key === 'string' ? key : undefined });
    const action = decide(method, url);
    if (action === 'unavailable') {
      // A front end that is down: 503 before any work, as Modal's proxy answers when it cannot reach the app.
      response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
      response.end(JSON.stringify({ error: { code: 'internal_error', message: 'front end unavailable', retryable: true } }));
      return;
    }
    if (typeof action === 'object') await new Promise((resolve) => setTimeout(resolve, action.holdMs));
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter(([name]) => !['host', 'connection', 'content-length'].includes(name)),
    ) as Record<string, string>;
    const upstream = await fetch(`${target}${url}`, { method, headers, body: method === 'GET' ? undefined : Buffer.concat(chunks) });
    const body = Buffer.from(await upstream.arrayBuffer());
    if (action === 'lose-answer') {
      request.socket.destroy(); // the service did the work; its answer never arrives
      return;
    }
    const responseHeaders = Object.fromEntries(upstream.headers);
    delete responseHeaders['transfer-encoding'];
    response.writeHead(upstream.status, { ...responseHeaders, 'content-length': body.length });
    if (action === 'cut-body') {
      response.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => response.socket?.destroy(), 10));
      return;
    }
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const isResultDownload = (method: string, url: string) => method === 'GET' && /^\/jobs\/job_[0-9a-f]+\/result(\?preset=[a-z0-9_-]+)?$/.test(url);

describe('GPU job resumption', () => {
  it('heartbeats the job on every beat, from before the submit through the output record', async () => {
    const activities = createActivities({ client: trellis, pollIntervalMs: 50, heartbeatIntervalMs: 20 });
    const { environment, heartbeats } = recordingEnvironment();
    const result = (await environment.run(activities.generate, generateInput('beats'))) as GenerateResult;
    expect(result.stateId).toMatch(/^st_[0-9a-f]{32}$/);
    const last = expectJobOnEveryHeartbeat(heartbeats, 'generate');
    expect(last.phase).toBe('recording');
    // The key was heartbeated before the submit, so a retry of a lost submit sends the same one.
    expect(JobProgress.parse(heartbeats[0])).toMatchObject({ phase: 'submitting' });
    expect(JobProgress.parse(heartbeats[0])).not.toHaveProperty('jobId');

    const extract = recordingEnvironment();
    const input = { catalogId: 'resume', sku: 'MUG', outDir: generateInput('beats').outDir, presets: [fastPreset], stateId: result.stateId, generateHash: 'e'.repeat(64) };
    await extract.environment.run(activities.extractGlbs, input);
    expect(expectJobOnEveryHeartbeat(extract.heartbeats, 'extract_glb').phase).toBe('recording');
  });

  it('a retried attempt resumes the job of the attempt that died, submitting nothing new', async () => {
    // Attempt 1 submitted a job, heartbeated its id while it ran, died.
    const accepted = await trellis.submitGenerate({
      image: image.toString('base64'),
      seed: 42,
      pipeline_type: '512',
      state_mode: 'reference',
      include_video: true,
    });
    const submitsBefore = trellis.generateSubmits;
    const jobsBefore = (await serviceJobCount());
    const activities = createActivities({ client: trellis, pollIntervalMs: 50 });
    const { environment, heartbeats } = recordingEnvironment({ attempt: 2, heartbeatDetails: runningJobDetails(accepted.job_id) });
    const result = (await environment.run(activities.generate, generateInput('resume-poll'))) as GenerateResult;

    expect(trellis.generateSubmits).toBe(submitsBefore);
    expect((await serviceJobCount())).toBe(jobsBefore);
    expect(expectJobOnEveryHeartbeat(heartbeats, 'generate').jobId).toBe(accepted.job_id);
    const job = await trellis.getJob(accepted.job_id);
    expect(result.stateId).toBe(job.result?.state_id);
    expect(fs.statSync(path.join(workDir, 'resume-poll', 'resume', 'MUG', 'preview.mp4')).size).toBe(result.preview.bytes);
  });

  it('submits anew only when the service no longer knows the job', async () => {
    const submitsBefore = trellis.generateSubmits;
    const activities = createActivities({ client: trellis, pollIntervalMs: 50 });
    const unknownJob = `job_${'0'.repeat(32)}`;
    const { environment, heartbeats } = recordingEnvironment({ attempt: 2, heartbeatDetails: runningJobDetails(unknownJob) });
    const result = (await environment.run(activities.generate, generateInput('resume-unknown'))) as GenerateResult;
    expect(trellis.generateSubmits).toBe(submitsBefore + 1);
    expect(result.stateId).toMatch(/^st_/);
    expect(JobProgress.parse(heartbeats[0]).jobId).toBe(unknownJob);
    expect(expectJobOnEveryHeartbeat(heartbeats, 'generate').jobId).not.toBe(unknownJob);
  });

  it('redoes the work when the resumed job failed, e.g. the service restarted while running it', async () => {
    const restartStore = path.join(workDir, 'restart-store');
    // Slow enough (A100 timings x 0.05) that the job is still running when the service goes away.
    const first = await startLocalService({ workDir, storeDir: restartStore, latencyScale: 0.05 });
    const firstClient = new CountingTrellisClient({ baseUrl: first.url, credentials: first.credentials });
    const accepted = await firstClient.submitGenerate({ image: image.toString('base64'), pipeline_type: '512', state_mode: 'reference' });
    await first.stop();

    const restarted = await startLocalService({ workDir, storeDir: restartStore, credentials: first.credentials });
    try {
      const client = new CountingTrellisClient({ baseUrl: restarted.url, credentials: restarted.credentials });
      expect((await client.getJob(accepted.job_id)).status).toBe('failed');
      const activities = createActivities({ client, pollIntervalMs: 50 });
      const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: runningJobDetails(accepted.job_id) });
      const result = (await retry.run(activities.generate, generateInput('resume-failed'))) as GenerateResult;
      expect(client.generateSubmits).toBe(1);
      expect(result.stateId).toMatch(/^st_/);
    } finally {
      await restarted.stop();
    }
  });
});

describe('faults between worker and service', () => {
  it('a GLB cut mid-stream fails the attempt (no retry layer of its own) after the other preset was recorded; the next attempt downloads only the cut one: one job, whole files', async () => {
    let cutNext = false;
    let downloads = 0;
    const proxy = await startFaultProxy(service.url, (method, url) => {
      if (!isResultDownload(method, url)) return 'pass';
      downloads += 1;
      if (!cutNext) return 'pass';
      cutNext = false;
      return 'cut-body';
    });
    try {
      const client = new CountingTrellisClient({ baseUrl: proxy.url, credentials: service.credentials });
      const activities = createActivities({ client, pollIntervalMs: 50 });
      const generated = (await new MockActivityEnvironment().run(activities.generate, generateInput('cut-once'))) as GenerateResult;
      const jobsBefore = (await serviceJobCount());
      const first = recordingEnvironment();
      const input = { catalogId: 'resume', sku: 'MUG', outDir: generateInput('cut-once').outDir, presets: [fastPreset, smallPreset], stateId: generated.stateId, generateHash: 'f'.repeat(64) };
      const downloadsBefore = downloads;
      cutNext = true;
      // Temporal's retry policy retries it, 1 s later (failures.ts), resuming from the heartbeat.
      await expect(first.environment.run(activities.extractGlbs, input)).rejects.toMatchObject({ type: 'connection_error', nonRetryable: false, nextRetryDelay: 1000 });
      expect(expectJobOnEveryHeartbeat(first.heartbeats, 'extract_glb').phase).toBe('downloading');

      const retry = recordingEnvironment({ attempt: 2, heartbeatDetails: first.heartbeats.at(-1) });
      const result = (await retry.environment.run(activities.extractGlbs, input)) as ExtractGlbsResult;
      // Both presets in the first attempt (one cut), then only the cut one again.
      expect(downloads - downloadsBefore).toBe(3);
      expect(client.extractSubmits).toBe(1);
      expect(client.extractPresetSets).toEqual([['fast', 'small']]);
      expect((await serviceJobCount())).toBe(jobsBefore + 1);
      expectJobOnEveryHeartbeat(retry.heartbeats, 'extract_glb');
      const assetFolder = path.join(input.outDir, 'resume', 'MUG');
      for (const name of ['fast', 'small']) {
        const glb = fs.readFileSync(path.join(assetFolder, `${name}.glb`));
        expect(createHash('sha256').update(glb).digest('hex')).toBe(result.files[name]!.sha256);
      }
      expect(Object.values(result.files).filter((file) => file.reused)).toHaveLength(1);
      expect(fs.readdirSync(assetFolder).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a fault that never clears costs at most 10 HTTP tries (2 per attempt x 5 attempts without progress), then fails for good', async () => {
    let unavailable = false;
    const proxy = await startFaultProxy(service.url, (method, url) => (unavailable && isResultDownload(method, url) ? 'unavailable' : 'pass'));
    try {
      const client = new CountingTrellisClient({ baseUrl: proxy.url, credentials: service.credentials });
      const activities = createActivities({ client, pollIntervalMs: 50 });
      const generated = (await new MockActivityEnvironment().run(activities.generate, generateInput('never-clears'))) as GenerateResult;
      const input = { catalogId: 'resume', sku: 'MUG', outDir: generateInput('never-clears').outDir, presets: [fastPreset], stateId: generated.stateId, generateHash: 'd'.repeat(64) };
      unavailable = true;
      const downloadsBefore = proxy.seen.filter((request) => isResultDownload(request.method, request.url)).length;
      const failures: unknown[] = [];
      let details: unknown;
      // Each attempt as Temporal runs it: the next one gets the last heartbeat of the one before.
      for (let attempt = 1; attempt <= 5; attempt++) {
        const run = recordingEnvironment({ attempt, heartbeatDetails: details });
        failures.push(await run.environment.run(activities.extractGlbs, input).then(() => undefined, (error: unknown) => error));
        details = run.heartbeats.at(-1);
      }
      const downloads = proxy.seen.filter((request) => isResultDownload(request.method, request.url)).length - downloadsBefore;
      expect(downloads).toBe(10);
      expect(failures.slice(0, 4).map((failure) => (failure as { nonRetryable: boolean }).nonRetryable)).toEqual([false, false, false, false]);
      expect(failures.slice(0, 4).map((failure) => (failure as { nextRetryDelay: unknown }).nextRetryDelay)).toEqual([1000, 2000, 4000, 8000]);
      expect(failures[4]).toMatchObject({ nonRetryable: true, message: expect.stringContaining('5 attempts in a row failed without progress') });
      expect(client.extractSubmits).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it('faults at different steps do not add up: attempts failing alternately at the poll and the download keep retrying', async () => {
    let failing: 'poll' | 'download' | 'none' = 'none';
    const isPoll = (method: string, url: string) => method === 'GET' && /^\/jobs\/job_[0-9a-f]+(\?wait=[0-9.]+)?$/.test(url);
    const proxy = await startFaultProxy(service.url, (method, url) =>
      (failing === 'poll' && isPoll(method, url)) || (failing === 'download' && isResultDownload(method, url)) ? 'unavailable' : 'pass',
    );
    try {
      const client = new CountingTrellisClient({ baseUrl: proxy.url, credentials: service.credentials });
      const activities = createActivities({ client, pollIntervalMs: 50 });
      const generated = (await new MockActivityEnvironment().run(activities.generate, generateInput('alternating'))) as GenerateResult;
      const input = { catalogId: 'resume', sku: 'MUG', outDir: generateInput('alternating').outDir, presets: [fastPreset], stateId: generated.stateId, generateHash: 'c'.repeat(64) };
      const jobsBefore = await serviceJobCount();
      let details: unknown;
      // Eight failed attempts, more than one fault's five, but never twice in a row at the same step.
      for (let attempt = 1; attempt <= 8; attempt++) {
        failing = attempt % 2 === 1 ? 'download' : 'poll';
        const run = recordingEnvironment({ attempt, heartbeatDetails: details });
        const failure = await run.environment.run(activities.extractGlbs, input).then(() => undefined, (error: unknown) => error);
        expect(failure).toMatchObject({ nonRetryable: false, nextRetryDelay: 1000 });
        details = run.heartbeats.at(-1);
        expect(JobProgress.parse(details).fault).toMatchObject({ attempt, inARow: 1 });
      }
      failing = 'none';
      const last = recordingEnvironment({ attempt: 9, heartbeatDetails: details });
      const result = (await last.environment.run(activities.extractGlbs, input)) as ExtractGlbsResult;
      expect(result.files.fast?.reused).toBe(false);
      expect(client.extractSubmits).toBe(1);
      expect(await serviceJobCount()).toBe(jobsBefore + 1);
    } finally {
      await proxy.close();
    }
  });

  it('an attempt whose downloads all failed leaves its job in the heartbeat; the retry downloads that job, submitting nothing', async () => {
    let failing = true;
    const proxy = await startFaultProxy(service.url, (method, url) => (failing && isResultDownload(method, url) ? 'cut-body' : 'pass'));
    try {
      const client = new CountingTrellisClient({ baseUrl: proxy.url, credentials: service.credentials });
      const activities = createActivities({ client, pollIntervalMs: 50 });
      const first = recordingEnvironment();
      const input = generateInput('cut-always');
      const jobsBefore = (await serviceJobCount());
      await expect(first.environment.run(activities.generate, input)).rejects.toMatchObject({ type: 'connection_error' });
      const lastOfFirst = expectJobOnEveryHeartbeat(first.heartbeats, 'generate');
      expect(lastOfFirst.phase).toBe('downloading');
      expect((await serviceJobCount())).toBe(jobsBefore + 1);

      failing = false;
      const retry = recordingEnvironment({ attempt: 2, heartbeatDetails: first.heartbeats.at(-1) });
      const result = (await retry.environment.run(activities.generate, input)) as GenerateResult;
      expect(client.generateSubmits).toBe(1);
      expect((await serviceJobCount())).toBe(jobsBefore + 1);
      expect(expectJobOnEveryHeartbeat(retry.heartbeats, 'generate').jobId).toBe(lastOfFirst.jobId);
      expect(result.preview.bytes).toBe(fs.statSync(path.join(input.outDir, 'resume', 'MUG', 'preview.mp4')).size);
    } finally {
      await proxy.close();
    }
  });

  it('heartbeats keep coming on the timer, with the key, while a submit hangs on the network', async () => {
    const proxy = await startFaultProxy(service.url, (method, url) => (method === 'POST' && url === '/jobs/generate' ? { holdMs: 600 } : 'pass'));
    try {
      const client = new CountingTrellisClient({ baseUrl: proxy.url, credentials: service.credentials });
      const activities = createActivities({ client, pollIntervalMs: 50, heartbeatIntervalMs: 50 });
      const { environment, heartbeats } = recordingEnvironment();
      await environment.run(activities.generate, generateInput('slow-submit'));
      const beforeJob = heartbeats.map((details) => JobProgress.parse(details)).filter((progress) => progress.jobId === undefined);
      // 600 ms held at a 50 ms timer: far more than the one heartbeat sent when the activity started.
      expect(beforeJob.length).toBeGreaterThanOrEqual(4);
      for (const progress of beforeJob) expect(progress).toMatchObject({ phase: 'submitting', idempotencyKey: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expectJobOnEveryHeartbeat(heartbeats, 'generate');
    } finally {
      await proxy.close();
    }
  });

  it('a submit whose answer was lost is retried with the same Idempotency-Key', async () => {
    let lost = 0;
    const proxy = await startFaultProxy(service.url, (method, url) => (method === 'POST' && url === '/jobs/extract_glb' && lost++ === 0 ? 'lose-answer' : 'pass'));
    try {
      const client = new CountingTrellisClient({ baseUrl: proxy.url, credentials: service.credentials });
      const activities = createActivities({ client, pollIntervalMs: 50 });
      const generated = (await new MockActivityEnvironment().run(activities.generate, generateInput('lost-answer'))) as GenerateResult;
      const input = { catalogId: 'resume', sku: 'MUG', outDir: generateInput('lost-answer').outDir, presets: [fastPreset], stateId: generated.stateId, generateHash: 'a'.repeat(64) };
      const { environment, heartbeats } = recordingEnvironment();
      await environment.run(activities.extractGlbs, input);

      const submits = proxy.seen.filter((request) => request.method === 'POST' && request.url === '/jobs/extract_glb');
      expect(submits).toHaveLength(2);
      expect(submits[1]!.idempotencyKey).toBe(submits[0]!.idempotencyKey);
      expect(JobProgress.parse(heartbeats[0]).idempotencyKey).toBe(submits[0]!.idempotencyKey);
      // With the service's key -> job map (docs/service-api.md) the second submit returns the first job;
      // the reliability suite counts the service's jobs for that.
    } finally {
      await proxy.close();
    }
  });
});

describe('reuse of what a previous attempt recorded', () => {
  it('generate reuses a recorded preview whose state the service still keeps, and regenerates when it does not', async () => {
    const activities = createActivities({ client: trellis, pollIntervalMs: 50 });
    const input = generateInput('reuse');
    const first = (await new MockActivityEnvironment().run(activities.generate, input)) as GenerateResult;
    const submitsBefore = trellis.generateSubmits;

    // The retry of an attempt that recorded its output and then died before reporting it.
    const again = (await new MockActivityEnvironment({ attempt: 2 }).run(activities.generate, input)) as GenerateResult;
    expect(trellis.generateSubmits).toBe(submitsBefore);
    expect(again).toMatchObject({ stateId: first.stateId, preview: { reused: true, sha256: first.preview.sha256 }, usage: { gpuSeconds: 0 } });

    // The same record, but the service no longer has that state (another store, or expired early).
    const recordPath = path.join(input.outDir, 'resume', 'MUG', '.trellis', 'preview.json');
    const record = JSON.parse(fs.readFileSync(recordPath, 'utf8'));
    fs.writeFileSync(recordPath, JSON.stringify({ ...record, extra: { ...record.extra, stateId: `st_${'0'.repeat(32)}` } }));
    const regenerated = (await new MockActivityEnvironment({ attempt: 3 }).run(activities.generate, input)) as GenerateResult;
    expect(trellis.generateSubmits).toBe(submitsBefore + 1);
    expect(regenerated.stateId).not.toBe(`st_${'0'.repeat(32)}`);
    expect(regenerated.preview.reused).toBe(false);
  });
});
