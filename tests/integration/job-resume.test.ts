// A GPU activity whose worker died after submitting a job must not pay for the GPU again: its retry reads
// the job id from the previous attempt's heartbeat details and resumes polling that job. Run against the
// real local service with the real activity code, in Temporal's activity test environment.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type GenerateResult } from '@trellis/activities';
import { startLocalService, type LocalService } from '@trellis/devstack';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleImagesDir } from '../harness/catalogs';
import { CountingTrellisClient } from '../harness/conversion-stack';

let service: LocalService;
let trellis: CountingTrellisClient;
let workDir: string;
let image: Buffer;

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(inject('workDir'), 'resume-'));
  service = await startLocalService({ workDir });
  trellis = new CountingTrellisClient({ baseUrl: service.url, credentials: service.credentials });
  image = fs.readFileSync(path.join(exampleImagesDir, 'mug.png'));
  fs.copyFileSync(path.join(exampleImagesDir, 'mug.png'), path.join(workDir, 'mug.png'));
  fs.writeFileSync(path.join(workDir, 'catalog.csv'), 'sku,image\nMUG,mug.png\n');
});
afterAll(async () => {
  await service?.stop();
});

function generateInput() {
  return {
    catalogId: 'resume',
    sku: 'MUG',
    image: 'mug.png',
    catalogPath: path.join(workDir, 'catalog.csv'),
    outDir: path.join(workDir, 'out'),
    seed: 42,
    pipelineType: '512' as const,
    generateHash: 'c'.repeat(64),
    imageSha256: createHash('sha256').update(image).digest('hex'),
  };
}

describe('GPU job resumption', () => {
  it('heartbeats the job id it submitted', async () => {
    const activities = createActivities({ client: trellis, pollIntervalMs: 50 });
    const environment = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    environment.on('heartbeat', (details: unknown) => heartbeats.push(details));
    const result = await environment.run(activities.generate, generateInput()) as GenerateResult;
    expect(result.stateId).toMatch(/^st_[0-9a-f]{32}$/);
    expect(heartbeats).toContainEqual({ jobId: expect.stringMatching(/^job_[0-9a-f]{32}$/), kind: 'generate' });
  });

  it('a retried attempt resumes the job of the attempt that died, submitting nothing new', async () => {
    // Attempt 1 submitted a job, heartbeated its id, then its worker died.
    const accepted = await trellis.submitGenerate({
      image: image.toString('base64'),
      seed: 42,
      pipeline_type: '512',
      state_mode: 'reference',
      include_video: false,
    });
    const submitsBefore = trellis.generateSubmits;
    const activities = createActivities({ client: trellis, pollIntervalMs: 50 });
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { jobId: accepted.job_id, kind: 'generate' } });
    const result = await retry.run(activities.generate, generateInput()) as GenerateResult;

    expect(trellis.generateSubmits).toBe(submitsBefore);
    const job = await trellis.getJob(accepted.job_id);
    expect(result.stateId).toBe(job.result?.state_id);
    expect(fs.statSync(path.join(workDir, 'out', 'resume', 'MUG', 'preview.mp4')).size).toBe(result.preview.bytes);
  });

  it('submits anew only when the service no longer knows the job', async () => {
    const submitsBefore = trellis.generateSubmits;
    const activities = createActivities({ client: trellis, pollIntervalMs: 50 });
    const unknownJob = `job_${'0'.repeat(32)}`;
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { jobId: unknownJob, kind: 'generate' } });
    const result = await retry.run(activities.generate, generateInput()) as GenerateResult;
    expect(trellis.generateSubmits).toBe(submitsBefore + 1);
    expect(result.stateId).toMatch(/^st_/);
  });

  it('redoes the work when the resumed job failed, e.g. the service restarted while running it', async () => {
    const storeDir = path.join(workDir, 'restart-store');
    // Slow enough (A100 timings x 0.05) that the job is still running when the service goes away.
    const first = await startLocalService({ workDir, storeDir, latencyScale: 0.05 });
    const firstClient = new CountingTrellisClient({ baseUrl: first.url, credentials: first.credentials });
    const accepted = await firstClient.submitGenerate({ image: image.toString('base64'), pipeline_type: '512', state_mode: 'reference' });
    await first.stop();

    const restarted = await startLocalService({ workDir, storeDir, credentials: first.credentials });
    try {
      const client = new CountingTrellisClient({ baseUrl: restarted.url, credentials: restarted.credentials });
      expect((await client.getJob(accepted.job_id)).status).toBe('failed');
      const activities = createActivities({ client, pollIntervalMs: 50 });
      const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { jobId: accepted.job_id, kind: 'generate' } });
      const result = (await retry.run(activities.generate, generateInput())) as GenerateResult;
      expect(client.generateSubmits).toBe(1);
      expect(result.stateId).toMatch(/^st_/);
    } finally {
      await restarted.stop();
    }
  });
});

