// Failures by class: the pause before the next attempt suits the fault, and permanent ones are not retried.
import { ApplicationFailure } from '@temporalio/common';
import { TrellisServiceError } from '@trellis/trellis-client';
import { describe, expect, it } from 'vitest';
import { ChecksumMismatchError } from '../src/files';
import { ATTEMPTS_PER_FAULT, nextRetryDelayMsFor, toActivityFailure } from '../src/service/failures';

const serviceError = (code: string, retryable: boolean, status?: number) =>
  new TrellisServiceError(`POST /jobs/generate: ${code}`, { code, route: 'POST /jobs/generate', retryable, status });

describe('toActivityFailure', () => {
  it('retries a request fault 1 s, 2 s, 4 s, 8 s apart and gives up on the 5th attempt in a row (2 x 5 = 10 HTTP tries)', () => {
    for (const code of ['connection_error', 'timeout', 'internal_error']) {
      const delays = [1, 2, 3, 4].map((inARow) => toActivityFailure(serviceError(code, true, 503), inARow) as ApplicationFailure);
      for (const failure of delays) expect(failure).toMatchObject({ type: code, nonRetryable: false });
      expect(delays.map((failure) => failure.nextRetryDelay)).toEqual([1000, 2000, 4000, 8000]);
      const last = toActivityFailure(serviceError(code, true, 503), ATTEMPTS_PER_FAULT) as ApplicationFailure;
      expect(last).toMatchObject({ type: code, nonRetryable: true });
      expect(last.message).toContain('5 attempts in a row failed without progress');
    }
    expect(ATTEMPTS_PER_FAULT).toBe(5);
  });

  it("waits at least the server's Retry-After (a 429 the client passed on at once)", () => {
    const busy = new TrellisServiceError('GET /jobs/{job_id}: 429', { code: 'rate_limited', route: 'GET /jobs/{job_id}', status: 429, retryAfterMs: 30_000 });
    expect((toActivityFailure(busy, 1) as ApplicationFailure).nextRetryDelay).toBe(30_000);
  });

  it('a damaged download is retried like a request fault (the next attempt downloads it again)', () => {
    const damaged = new ChecksumMismatchError('/out/a.glb', 'a'.repeat(64), 'b'.repeat(64), 10);
    expect(toActivityFailure(damaged, 1)).toMatchObject({ type: 'checksum_mismatch', nonRetryable: false });
    expect(toActivityFailure(damaged, ATTEMPTS_PER_FAULT)).toMatchObject({ type: 'checksum_mismatch', nonRetryable: true });
  });

  it("backs a job's own GPU failure off longer: cuda_oom and a loading model wait seconds, doubling per attempt, capped by the policy alone", () => {
    const jobFailed = (code: string) =>
      new TrellisServiceError(`job failed: ${code}`, { code, route: 'POST /jobs/generate', jobId: `job_${'1'.repeat(32)}`, retryable: true });
    expect((toActivityFailure(jobFailed('cuda_oom')) as ApplicationFailure).nextRetryDelay).toBe(10_000);
    expect((toActivityFailure(jobFailed('not_ready')) as ApplicationFailure).nextRetryDelay).toBe(15_000);
    expect(nextRetryDelayMsFor('cuda_oom', 3)).toBe(40_000);
    expect(nextRetryDelayMsFor('cuda_oom', 20)).toBe(120_000);
    expect(toActivityFailure(jobFailed('cuda_oom'), 9)).toMatchObject({ type: 'cuda_oom', nonRetryable: false });
    // The warm-up waits on a GPU container, so its 503 not_ready is the model loading.
    const loading = new TrellisServiceError('POST /warmup: 503 not_ready', { code: 'not_ready', route: 'POST /warmup', status: 503, retryable: true });
    expect((toActivityFailure(loading) as ApplicationFailure).nextRetryDelay).toBe(15_000);
  });

  it('a request answered 503 not_ready (a busy front end, a ledger that did not answer) is a request fault, not a loading model', () => {
    const answered = serviceError('not_ready', true, 503);
    expect((toActivityFailure(answered, 1) as ApplicationFailure).nextRetryDelay).toBe(1000);
    expect(toActivityFailure(answered, ATTEMPTS_PER_FAULT)).toMatchObject({ type: 'not_ready', nonRetryable: true });
  });

  it('auth failures and reused idempotency keys are not retried', () => {
    for (const code of ['unauthorized', 'forbidden', 'idempotency_key_reused']) {
      expect(toActivityFailure(serviceError(code, false))).toMatchObject({ type: code, nonRetryable: true });
    }
  });
});
