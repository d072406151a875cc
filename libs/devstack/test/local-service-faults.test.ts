// The fault options and /_local helpers against the REAL local Python service. Needs gpu-modal/.venv.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServiceStats, resetServiceStats, setServiceFaults, startLocalService, type LocalService } from '../src';
import { tempDir } from './helpers';

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

  it('refuses a bad spec with the service message', async () => {
    await expect(setServiceFaults(service, { spec: 'teapot=1' })).rejects.toThrow(/400.*unknown fault 'teapot'/);
  });
});
