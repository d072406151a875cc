// Failures by class: the pause before the next attempt suits the fault, and permanent ones are not retried.
import { ApplicationFailure } from '@temporalio/common';
import { TrellisServiceError } from '@trellis/trellis-client';
import { describe, expect, it } from 'vitest';
import { nextRetryDelayMsFor, toActivityFailure } from '../src/service/failures';

const serviceError = (code: string, retryable: boolean, status?: number) =>
  new TrellisServiceError(`POST /jobs/generate: ${code}`, { code, route: 'POST /jobs/generate', retryable, status });

describe('toActivityFailure', () => {
  it('leaves network faults to the policy (short first interval): the client already retried them', () => {
    for (const code of ['connection_error', 'timeout', 'http_503']) {
      const failure = toActivityFailure(serviceError(code, true, 503)) as ApplicationFailure;
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: code, nonRetryable: false });
      expect(failure.nextRetryDelay).toBeUndefined();
    }
  });

  it('backs GPU faults off longer: cuda_oom and a cold start wait seconds, doubling per attempt', () => {
    expect((toActivityFailure(serviceError('cuda_oom', true)) as ApplicationFailure).nextRetryDelay).toBe(10_000);
    expect((toActivityFailure(serviceError('not_ready', true)) as ApplicationFailure).nextRetryDelay).toBe(15_000);
    expect(nextRetryDelayMsFor('cuda_oom', 3)).toBe(40_000);
    expect(nextRetryDelayMsFor('cuda_oom', 20)).toBe(120_000);
    expect(nextRetryDelayMsFor('connection_error', 3)).toBeUndefined();
  });

  it('auth failures and reused idempotency keys are not retried', () => {
    for (const code of ['unauthorized', 'forbidden', 'idempotency_key_reused']) {
      expect(toActivityFailure(serviceError(code, false))).toMatchObject({ type: code, nonRetryable: true });
    }
  });
});
