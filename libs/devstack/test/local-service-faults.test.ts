// The fault options and /_local helpers against the REAL local Python service. Needs gpu-modal/.venv.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServiceStats, resetServiceStats, setServiceFaults, startLocalService, type LocalService } from '../src';
import { rejectionOf, tempDir } from './helpers';

describe('local service fault injection', () => {
  let service: LocalService;
  beforeAll(async () => {
    service = await startLocalService({ workDir: await tempDir(), faults: { spec: '503=1', seed: 3 } });
  }, 90_000);
  afterAll(async () => service?.stop());

  const warmup = () =>
    fetch(`${service.url}/warmup`, {
      method: 'POST',
      headers: { 'Modal-Key': service.credentials.modalKey, 'Modal-Secret': service.credentials.modalSecret },
    });

  it('starts with the faults given, counts them, and changes them at run time', async () => {
    const refused = await warmup();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    let stats = await readServiceStats(service);
    expect(stats.faults).toEqual({ spec: '503=1', seed: 3 });
    expect(stats.faults_injected['503']).toBe(1);
    expect(stats.work_runs.warmup).toBe(0);

    expect(await setServiceFaults(service, { spec: '' })).toEqual({ spec: '', seed: 0 });
    expect((await warmup()).status).toBe(200);
    stats = await readServiceStats(service);
    expect(stats.work_runs.warmup).toBe(1);
    expect(stats.requests).toBe(2);
    expect((await resetServiceStats(service)).requests).toBe(0);
  });

  it('resets and lost answers reach a Node client as ECONNRESET, and lost work was done', async () => {
    await resetServiceStats(service);
    await setServiceFaults(service, { spec: 'reset=1' });
    const reset = await rejectionOf(warmup());
    expect((reset.cause as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
    await setServiceFaults(service, { spec: 'lost=1' });
    const lost = await rejectionOf(warmup());
    expect((lost.cause as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
    const stats = await readServiceStats(service);
    expect(stats.faults_injected).toMatchObject({ reset: 1, lost: 1 });
    expect(stats.work_runs.warmup).toBe(1); // only the lost one did its work
    await setServiceFaults(service, { spec: '' });
  });

  // The discriminating test of hearing the body out is gpu-modal/tests/test_body_limit_live.py (http.client
  // fails with a reset without it); this one shows what a Node client of the service gets.
  it('answers an oversized upload from Node fetch with its 413 body', async () => {
    const response = await fetch(`${service.url}/jobs/generate`, {
      method: 'POST',
      headers: {
        'Modal-Key': service.credentials.modalKey,
        'Modal-Secret': service.credentials.modalSecret,
        'Content-Type': 'application/json',
      },
      body: Buffer.alloc(17 * 1024 * 1024, 0x41), // the default limit is 16 MiB
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
  });

  it('refuses a bad spec with the service message', async () => {
    await expect(setServiceFaults(service, { spec: 'teapot=1' })).rejects.toThrow(/400.*unknown fault 'teapot'/);
  });
});
