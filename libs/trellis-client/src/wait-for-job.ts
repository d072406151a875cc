// Polling a job until it is final: long polls where the service holds the answer until the job is final,
// else gentle backoff. A poll that fails after the client's one retry ends the wait (the caller's retry,
// e.g. a Temporal activity attempt, resumes the same job); forgiving failures here is opt-in.
import type { JobStatus } from '@trellis/contracts';
import type { CallOptions } from './call-deadline';
import { CallDeadline } from './call-deadline';
import { TrellisServiceError } from './errors';

export interface WaitForJobOptions {
  /** Cancels the wait; its reason is rethrown as is. */
  signal?: AbortSignal;
  /** Bound on the whole wait (default: none; a cancelled activity stops it through `signal`). */
  timeoutMs?: number;
  /** First pause between polls (default 1 s); each pause is 1.5x the last, up to `maxPollIntervalMs`. */
  pollIntervalMs?: number;
  /** Default 10 s. */
  maxPollIntervalMs?: number;
  /** Time limit of each status request (default: the client's job timeout, 15 s); a long poll adds its wait. */
  pollTimeoutMs?: number;
  /**
   * Each poll asks the service to hold its answer until the job is final, for up to this long
   * (`GET /jobs/{id}?wait=`, at most 20 s), so a finished job is seen within one round trip. Default 0:
   * short polls only. A non-final answer that took at least half of this is polled again at once; a
   * quicker one (an older service that ignores `wait`, a job it could not wait on) first sleeps the
   * backoff interval, so the wait never spins.
   */
  longPollMs?: number;
  /**
   * Retryable poll failures (each already retried once by the client) tolerated in a row; default 0: the
   * first one is thrown, so the retry layer above (the activity's) is the only one.
   */
  maxConsecutivePollFailures?: number;
  /** Called with every status read, e.g. to heartbeat a Temporal activity. */
  onPoll?(status: JobStatus): void;
}

const BACKOFF_FACTOR = 1.5;

/**
 * Resolves with the final status once the job succeeded; throws the job's own error (code, message,
 * retryable as the service reported them) once it failed.
 */
export async function waitForJob(
  jobId: string,
  getJob: (options: CallOptions & { waitMs?: number }) => Promise<JobStatus>,
  options: WaitForJobOptions = {},
): Promise<JobStatus> {
  const maxInterval = options.maxPollIntervalMs ?? 10_000;
  const maxFailuresInARow = options.maxConsecutivePollFailures ?? 0;
  const longPollMs = options.longPollMs ?? 0;
  if (!(longPollMs >= 0)) throw new RangeError(`longPollMs must be 0 or more milliseconds, not ${longPollMs}`);
  const waitMs = longPollMs > 0 ? longPollMs : undefined;
  const deadline = new CallDeadline(options.timeoutMs ?? Number.POSITIVE_INFINITY, options.signal);
  let interval = Math.min(options.pollIntervalMs ?? 1000, maxInterval);
  let failuresInARow = 0;
  try {
    for (;;) {
      let status: JobStatus | undefined;
      const pollStarted = Date.now();
      try {
        status = await getJob({ signal: deadline.signal, timeoutMs: options.pollTimeoutMs, waitMs });
        failuresInARow = 0;
      } catch (error) {
        const transient = error instanceof TrellisServiceError && error.retryable && !deadline.signal.aborted;
        if (!transient || ++failuresInARow > maxFailuresInARow) throw error;
      }
      if (status) {
        options.onPoll?.(status);
        if (status.status === 'succeeded') return status;
        if (status.status === 'failed') throw jobFailure(status);
        // The service held the answer: it waited on the job, so ask again at once (the wait was the pause).
        if (longPollMs > 0 && Date.now() - pollStarted >= longPollMs / 2) continue;
      }
      await sleep(interval, deadline.signal);
      interval = Math.min(interval * BACKOFF_FACTOR, maxInterval);
    }
  } catch (error) {
    if (deadline.timedOut && !options.signal?.aborted) {
      throw new TrellisServiceError(`job ${jobId} did not finish within ${deadline.timeoutMs} ms`, {
        code: 'timeout',
        route: 'GET /jobs/{job_id}',
        retryable: true,
        jobId,
      });
    }
    throw error;
  } finally {
    deadline.clear();
  }
}

function jobFailure(status: JobStatus): TrellisServiceError {
  const route = `POST /jobs/${status.kind}`;
  const fields = { route, jobId: status.job_id, requestId: status.request_id };
  if (!status.error) {
    return new TrellisServiceError(`job ${status.job_id} failed without an error object`, { ...fields, code: 'bad_response' });
  }
  const { code, message, retryable } = status.error;
  return new TrellisServiceError(`job ${status.job_id} (${status.kind}) failed: ${code}: ${message}`, { ...fields, code, retryable });
}

/** Rejects with the signal's reason itself (not a wrapper), like fetch does. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
