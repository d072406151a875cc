// The contract, both ways, against the REAL local Python service (gpu-modal, relief CPU backend):
// the client's zod schemas accept everything the service answers, and the service accepts every request
// the client builds. Needs gpu-modal/.venv (`npm run setup`).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExtractGlbJobSummary, ExtractGlbPresetsJobSummary, GenerateJobSummary, GenerateResponse, RequestId } from '@trellis/contracts';
import { startLocalService, type LocalService } from '@trellis/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyKeyOf, TrellisClient, type BinaryResult } from '../src';
import { rejectionOf } from './helpers/client';
import { readAll } from './helpers/fixtures';
import { discPng } from './helpers/png';

const image = discPng(64).toString('base64');
// The lightest settings the service accepts: the relief backend is fast either way, but every field is sent.
const fastGenerate = {
  image,
  seed: 7,
  pipeline_type: '512',
  ss_sampling_steps: 2,
  ss_guidance_strength: 3,
  shape_slat_sampling_steps: 2,
  shape_slat_guidance_strength: 3,
  tex_slat_sampling_steps: 2,
  tex_slat_guidance_strength: 1,
} as const;
const fastExtract = { decimation_target: 1000, texture_size: 512, remesh: false, remesh_band: 0.5, remesh_project: 0 } as const;

const isGlb = (bytes: Buffer) => bytes.subarray(0, 4).toString('latin1') === 'glTF';
const isMp4 = (bytes: Buffer) => bytes.subarray(4, 8).toString('latin1') === 'ftyp';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function readBinary(result: BinaryResult): Promise<Buffer> {
  const bytes = await readAll(result.body);
  expect(RequestId.safeParse(result.requestId).success).toBe(true);
  if (result.contentLength !== undefined) expect(result.contentLength).toBe(bytes.length);
  return bytes;
}

describe('contract with the real local service', { timeout: 60_000 }, () => {
  let workDir: string;
  let service: LocalService;
  let client: TrellisClient;
  let inline: GenerateResponse;
  let reference: GenerateResponse;
  let generateJobId: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-client-contract-'));
    service = await startLocalService({ workDir });
    client = new TrellisClient({ baseUrl: service.url, credentials: service.credentials, env: {} });
  }, 90_000);

  afterAll(async () => {
    await service?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('health and warmup', async () => {
    expect(await client.health()).toMatchObject({ status: 'ok', service: 'trellis2-api', backend: 'relief' });
    const warm = await client.warmup();
    expect(warm).toMatchObject({ ready: true, backend: 'relief', device: 'cpu' });
    expect(warm.warm).toBe(!warm.started); // locally: either it was loaded, or this call loaded it
    expect(await client.warmup()).toMatchObject({ warm: true, started: false });
  });

  /** A generate job's full JSON result. */
  async function generated(body: Parameters<TrellisClient['submitGenerate']>[0]): Promise<GenerateResponse> {
    const { job_id } = await client.submitGenerate(body);
    await client.waitForJob(job_id, { pollIntervalMs: 50 });
    return GenerateResponse.parse(await client.getJobResult(job_id));
  }

  /** An extract job's GLB, downloaded raw. */
  async function extractedGlb(body: Parameters<TrellisClient['submitExtractGlb']>[0]): Promise<Buffer> {
    const { job_id } = await client.submitExtractGlb(body);
    await client.waitForJob(job_id, { pollIntervalMs: 50 });
    return readBinary(await client.openJobResult(job_id, 'model/gltf-binary'));
  }

  it('generate inline (the seed default): the state in the result', async () => {
    inline = await generated(fastGenerate);
    expect(inline.state_id).toBeNull();
    expect(inline.state?.length).toBeGreaterThan(0);
    expect(inline.server_timing.backend).toBe('relief');
  });

  it('generate by reference: a state id, and the preview kept with it, downloadable raw', async () => {
    reference = await generated({ image, state_mode: 'reference' });
    expect(reference).toMatchObject({ state: null });
    expect(reference.state_id).toMatch(/^st_[0-9a-f]{32}$/);
    expect(Number.isNaN(Date.parse(reference.state_expires_at ?? ''))).toBe(false);

    const preview = await client.openStatePreview(reference.state_id!);
    expect(preview.contentType).toBe('video/mp4');
    const video = await readBinary(preview);
    expect(isMp4(video)).toBe(true);
    expect(video.length).toBe(reference.video_bytes);
  });

  it('extract GLB with WebP textures when the preset asks (extension_webp)', async () => {
    const jsonChunk = (glb: Buffer) => JSON.parse(glb.subarray(20, 20 + glb.readUInt32LE(12)).toString('utf8'));
    const webp = await extractedGlb({ state_id: reference.state_id!, ...fastExtract, extension_webp: true });
    expect(jsonChunk(webp)).toMatchObject({ extensionsRequired: ['EXT_texture_webp'], images: [{ mimeType: 'image/webp' }] });
    const png = await extractedGlb({ state_id: reference.state_id!, ...fastExtract });
    expect(isGlb(png)).toBe(true);
    expect(jsonChunk(png).images[0].mimeType).toBe('image/png');
  });

  it('a generate job: submit, poll, JSON result and the preview raw', async () => {
    const accepted = await client.submitGenerate({ ...fastGenerate, state_mode: 'reference' });
    expect(accepted).toMatchObject({ kind: 'generate', status: 'queued' });
    // Asked at once, the result is not there yet (a second of CPU work): 409, retryable.
    const early = await client.getJobResult(accepted.job_id).then(() => undefined, (error: unknown) => error);
    if (early) expect(early).toMatchObject({ status: 409, code: 'job_not_finished', retryable: true });
    const polled: string[] = [];
    const done = await client.waitForJob(accepted.job_id, { pollIntervalMs: 50, onPoll: (status) => polled.push(status.status) });
    expect(done).toMatchObject({ job_id: accepted.job_id, status: 'succeeded', error: null });
    expect(polled.at(-1)).toBe('succeeded');
    generateJobId = accepted.job_id;
    // The status carries the light part of the result.
    const summary = GenerateJobSummary.parse(done.result);
    expect(summary.state_id).toMatch(/^st_/);

    const result = GenerateResponse.parse(await client.getJobResult(accepted.job_id));
    expect(result.state_id).toBe(summary.state_id);
    const video = await readBinary(await client.openJobResult(accepted.job_id, 'video/mp4'));
    expect(isMp4(video)).toBe(true);
  });

  it('an extract job: submit, poll, raw GLB and JSON result', async () => {
    const accepted = await client.submitExtractGlb({ state: inline.state!, ...fastExtract });
    expect(accepted).toMatchObject({ kind: 'extract_glb', status: 'queued' });
    const done = await client.waitForJob(accepted.job_id, { pollIntervalMs: 50 });
    const summary = ExtractGlbJobSummary.parse(done.result);
    expect(done.result).not.toHaveProperty('glb');

    const raw = await client.openJobResult(accepted.job_id, 'model/gltf-binary');
    expect(raw.contentType).toBe('model/gltf-binary');
    expect(raw.serverTiming?.backend).toBe('relief');
    const glb = await readBinary(raw);
    expect(isGlb(glb)).toBe(true);
    expect(raw.sha256).toBe(sha256(glb));
    expect(sha256(glb)).toBe(summary.glb_sha256);

    const json = await client.getJobResult(accepted.job_id);
    expect(json).toMatchObject({ glb_sha256: summary.glb_sha256, glb_bytes: glb.length });
  });

  it('a multi-preset extract job: one job, one GPU call, each GLB by preset (raw with its sha256, or JSON)', async () => {
    const presets = [
      { name: 'tiny', ...fastExtract },
      { name: 'small-webp', ...fastExtract, decimation_target: 2000, extension_webp: true },
    ];
    const key = idempotencyKeyOf(['contract', reference.state_id!, 'tiny', 'small-webp']);
    const accepted = await client.submitExtractGlbPresets({ state_id: reference.state_id!, presets }, { idempotencyKey: key });
    expect(accepted).toMatchObject({ kind: 'extract_glb' });
    // The same key and body: the same job.
    expect((await client.submitExtractGlbPresets({ state_id: reference.state_id!, presets }, { idempotencyKey: key })).job_id).toBe(accepted.job_id);
    const done = await client.waitForJob(accepted.job_id, { pollIntervalMs: 50 });
    const summary = ExtractGlbPresetsJobSummary.parse(done.result);
    expect(Object.keys(summary.presets).sort()).toEqual(['small-webp', 'tiny']);
    for (const { name } of presets) {
      const raw = await client.openJobResult(accepted.job_id, 'model/gltf-binary', { preset: name });
      const glb = await readBinary(raw);
      expect(isGlb(glb)).toBe(true);
      expect(raw.sha256).toBe(sha256(glb));
      expect(summary.presets[name]).toEqual({ glb_bytes: glb.length, glb_sha256: sha256(glb) });
      expect(await client.getJobResult(accepted.job_id, { preset: name })).toMatchObject({ glb_sha256: sha256(glb) });
    }
    // Which GLB is meant must be said; a preset the job did not make is not found.
    expect(await rejectionOf(client.getJobResult(accepted.job_id))).toMatchObject({ status: 400, code: 'validation_error', retryable: false });
    expect(await rejectionOf(client.openJobResult(accepted.job_id, 'model/gltf-binary', { preset: 'other' }))).toMatchObject({
      status: 404,
      code: 'not_found',
      retryable: false,
    });
  });

  it('a multi-preset submit is checked before it is sent: unique names, 1-8 presets, no top-level settings', async () => {
    const one = { name: 'a', ...fastExtract };
    for (const body of [
      { state_id: reference.state_id!, presets: [one, one] },
      { state_id: reference.state_id!, presets: [] },
      { state_id: reference.state_id!, presets: Array.from({ length: 9 }, (_, index) => ({ ...one, name: `p${index}` })) },
      { state_id: reference.state_id!, presets: [one], texture_size: 512 },
      { state_id: reference.state_id!, presets: [{ ...one, name: 'Not A Name' }] },
    ]) {
      const error = await rejectionOf(client.submitExtractGlbPresets(body as never));
      expect(error).toMatchObject({ code: 'validation_error', retryable: false });
      expect((error as Error).message).toContain('not sent');
    }
    // The service refuses the same mixing on its side (a client that did not check).
    const response = await fetch(`${service.url}/jobs/extract_glb`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'modal-key': service.credentials.modalKey,
        'modal-secret': service.credentials.modalSecret,
      },
      body: JSON.stringify({ state_id: reference.state_id!, presets: [one], texture_size: 512 }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'validation_error' } });
  });

  it('a long-polled job is seen finished within its poll, not a backoff interval later', async () => {
    const accepted = await client.submitGenerate(fastGenerate);
    const started = Date.now();
    const polled: string[] = [];
    // With short polls the first answer (queued) would be followed by a 10 s pause: the service holding
    // the poll until the job is final is what makes this quick.
    const done = await client.waitForJob(accepted.job_id, {
      longPollMs: 10_000,
      pollIntervalMs: 10_000,
      onPoll: (status) => polled.push(status.status),
    });
    expect(done).toMatchObject({ job_id: accepted.job_id, status: 'succeeded' });
    expect(Date.now() - started).toBeLessThan(9000);
    expect(polled.at(-1)).toBe('succeeded');
    expect(polled.length).toBeLessThanOrEqual(2);
    // A long poll of a job that is already final answers at once, whatever the wait.
    expect((await client.getJob(accepted.job_id, { waitMs: 20_000 })).status).toBe('succeeded');
  });

  it('a submit with an Idempotency-Key is accepted as a job (the header is part of the contract)', async () => {
    const accepted = await client.submitExtractGlb(
      { state_id: reference.state_id!, ...fastExtract },
      { idempotencyKey: idempotencyKeyOf(['contract', reference.state_id!, 'fast-extract']) },
    );
    expect(accepted).toMatchObject({ kind: 'extract_glb' });
    expect((await client.waitForJob(accepted.job_id, { pollIntervalMs: 50 })).status).toBe('succeeded');
  });

  it('stateExists: true for a state the service keeps, false for one it never had', async () => {
    expect(await client.stateExists(reference.state_id!)).toBe(true);
    expect(await client.stateExists(`st_${'0'.repeat(32)}`)).toBe(false);
  });

  describe('error bodies are read with their codes', () => {
    it('validation_error: bytes that are not an image (valid for the client, refused by the service)', async () => {
      const error = await rejectionOf(generated({ image: Buffer.from('not an image at all').toString('base64') }));
      expect(error).toMatchObject({ status: 400, code: 'validation_error', retryable: false, requestId: expect.stringMatching(/^req_/) });
    });

    it('validation_error: a tampered inline state', async () => {
      const tampered = Buffer.from(inline.state!, 'base64');
      tampered[tampered.length - 1]! ^= 0xff;
      const error = await rejectionOf(extractedGlb({ state: tampered.toString('base64'), ...fastExtract }));
      expect(error).toMatchObject({ status: 400, code: 'validation_error', retryable: false });
    });

    it('unauthorized: wrong credentials', async () => {
      const stranger = new TrellisClient({ baseUrl: service.url, credentials: { modalKey: 'wk-wrong', modalSecret: 'ws-wrong' }, env: {} });
      expect(await rejectionOf(stranger.warmup())).toMatchObject({ status: 401, code: 'unauthorized', retryable: false });
      const anonymous = new TrellisClient({ baseUrl: service.url, credentials: 'none', env: {} });
      expect(await rejectionOf(anonymous.submitGenerate({ image }))).toMatchObject({ status: 401, code: 'unauthorized' });
    });

    it('state_not_found: an unknown state id, for extract and for the preview', async () => {
      const unknown = `st_${'0'.repeat(32)}`;
      expect(await rejectionOf(extractedGlb({ state_id: unknown }))).toMatchObject({ code: 'state_not_found', retryable: false });
      expect(await rejectionOf(client.openStatePreview(unknown))).toMatchObject({ status: 404, code: 'state_not_found' });
    });

    it('job_not_found: an unknown job, and a job polled with other credentials', async () => {
      const unknown = `job_${'0'.repeat(32)}`;
      expect(await rejectionOf(client.getJob(unknown))).toMatchObject({ status: 404, code: 'job_not_found', retryable: false });
      expect(await rejectionOf(client.waitForJob(unknown))).toMatchObject({ code: 'job_not_found' });
      expect(await rejectionOf(client.getJob(unknown, { waitMs: 20_000 }))).toMatchObject({ status: 404, code: 'job_not_found' });

      const sameServiceOtherKey = new TrellisClient({
        baseUrl: service.url,
        credentials: { modalKey: `${service.credentials.modalKey}-other`, modalSecret: service.credentials.modalSecret },
        env: {},
      });
      // Another key is refused outright by the local service (401) or hidden (404): never the job itself.
      const error = await rejectionOf(sameServiceOtherKey.getJob(generateJobId));
      expect(['unauthorized', 'job_not_found']).toContain((error as { code: string }).code);
    });
  });
});
