// Retrying one request inside the client: only requests that cannot start GPU work twice (GETs, and job
// submits that carry an Idempotency-Key), only a request that dropped mid-flight, and only once. Every
// other retry belongs to the caller (in the worker: Temporal's retry policy, whose attempts resume the
// same job), so one fault costs at most 2 tries here times the activity's attempts, not a product of
// four layers (docs/measurements.md, "Retries: worst-case HTTP tries and seconds per fault").
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

/**
 * One retry after 125-250 ms (or the server's Retry-After, up to 5 s: a 503 from the local service asks for
 * 1 s). A longer Retry-After, a second failure, or any other error goes to the caller at once.
 */
export const defaultRequestRetry: RequestRetryPolicy = {
  maxAttempts: 2,
  initialDelayMs: 250,
  maxDelayMs: 250,
  maxRetryAfterMs: 5000,
};

/**
 * A request that dropped mid-flight, so it says nothing about the work: the connection was reset or
 * refused, a hung try was cut by its per-try limit (`timeout`), or the front end answered 503 before any
 * work started. Everything else (429, other 5xx, a GPU failure of a job: cuda_oom, generation_error, ...)
 * is the caller's to decide, with the pause its class needs.
 */
export function isTransientRequestFailure(error: unknown): error is TrellisServiceError {
  if (!(error instanceof TrellisServiceError) || !error.retryable) return false;
  return error.code === 'connection_error' || error.code === 'timeout' || error.status === 503;
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
