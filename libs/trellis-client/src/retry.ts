// Retrying one request inside the client: only requests that cannot start GPU work twice (GETs, and job
// submits that carry an Idempotency-Key), only transient failures, with a short jittered backoff, so a
// 503 or a reset costs a fraction of a second instead of an activity retry.
import { TrellisServiceError } from './errors';

export interface RequestRetryPolicy {
  /** Tries in all, the first one included (1: no retries). */
  maxAttempts: number;
  /** Pause before the first retry; doubled each time up to `maxDelayMs`, then jittered to 50-100 %. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A `Retry-After` longer than this is not waited out here: the error goes to the caller instead. */
  maxRetryAfterMs: number;
}

/** 0.25 s, 0.5 s, 1 s, 2 s, 4 s, 8 s (each 50-100 % of that): ~8-16 s in all before the caller sees it. */
export const defaultRequestRetry: RequestRetryPolicy = {
  maxAttempts: 7,
  initialDelayMs: 250,
  maxDelayMs: 8000,
  maxRetryAfterMs: 30_000,
};

/**
 * Errors that say nothing about the work: the request did not get through (reset, refused, hung) or the
 * front end was briefly unavailable (408/425/429/5xx). A GPU failure of a job (cuda_oom, generation_error,
 * ...) never comes back from these requests: it is the job's status, decided by the caller.
 */
export function isTransientRequestFailure(error: unknown): error is TrellisServiceError {
  if (!(error instanceof TrellisServiceError) || !error.retryable) return false;
  if (error.code === 'connection_error' || error.code === 'timeout') return true;
  const status = error.status;
  return status === 408 || status === 425 || status === 429 || (status !== undefined && status >= 500);
}

/** The pause before retry number `retry` (1-based): exponential, jittered, at least the server's Retry-After. */
export function retryDelayMs(retry: number, policy: RequestRetryPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (retry - 1));
  const jittered = base * (0.5 + random() / 2);
  return retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
}

export interface RetryObserver {
  /** Called before each pause, e.g. to log or count. */
  onRetry?(error: TrellisServiceError, retry: number, delayMs: number): void;
}

/** Runs `call` until it succeeds, fails for good, runs out of attempts, or `signal` aborts (its reason is thrown). */
export async function withRequestRetries<T>(
  call: (attempt: number) => Promise<T>,
  policy: RequestRetryPolicy | undefined,
  signal?: AbortSignal,
  observer: RetryObserver = {},
): Promise<T> {
  const maxAttempts = Math.max(1, policy?.maxAttempts ?? 1);
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (error) {
      if (!policy || attempt >= maxAttempts || signal?.aborted || !isTransientRequestFailure(error)) throw error;
      if (error.retryAfterMs !== undefined && error.retryAfterMs > policy.maxRetryAfterMs) throw error;
      const delayMs = retryDelayMs(attempt, policy, error.retryAfterMs);
      observer.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, signal);
    }
  }
}

/** Rejects with the signal's reason itself (not a wrapper), like fetch does. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
