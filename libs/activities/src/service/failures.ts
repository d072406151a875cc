// Turns errors into Temporal failures whose `type` is our error code; a permanent one is thrown
// non-retryable, so the retry policies (libs/workflows/src/activity-options.ts) need no list of them. Picks the pause
// before the next attempt by error class. Temporal's retry policy is the one retry layer for a fault
// (the client retries a dropped request once, nothing more): a request fault gets ATTEMPTS_PER_FAULT
// attempts in a row, 1 s, 2 s, 4 s, 8 s apart; a GPU out of memory or a cold start waits longer.
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KnownErrorCode } from '@trellis/contracts';
import { TrellisServiceError } from '@trellis/trellis-client';
import { CatalogFileError, ChecksumMismatchError, ImageError, OutputPathError } from '../files';

/**
 * First pause (ms) for failures of the GPU work itself, doubled per attempt up to SLOW_RETRY_MAX_MS.
 * cuda_oom: the container's memory must be freed; not_ready: a container is starting (2-2.5 min on
 * Modal); the *_error codes: the job failed on the GPU, so retrying at once would only pay again for
 * the same fault. Their number of attempts is the retry policy's `maximumAttempts`.
 */
const slowRetryFirstMs: Partial<Record<KnownErrorCode, number>> = {
  cuda_oom: 10_000,
  not_ready: 15_000,
  generation_error: 5000,
  rendering_error: 5000,
  extraction_error: 5000,
};
const SLOW_RETRY_MAX_MS = 2 * 60_000;

/**
 * A request fault (a reset, a hung or refused request, a 5xx or 429 of the front end, a damaged download)
 * gets this many activity attempts in a row that make no progress; the client tries each request at most
 * twice, so one fault costs at most 10 HTTP tries before the asset fails with it.
 */
export const ATTEMPTS_PER_FAULT = 5;
/** Pause before the next attempt after a request fault: 1 s, doubled per failed attempt in a row, up to 8 s. */
const REQUEST_FAULT_FIRST_MS = 1000;
const REQUEST_FAULT_MAX_MS = 8000;

/**
 * The pause before the next attempt after `attempt` failed attempts in a row: a failure of the GPU work by
 * its class (`code`), a request fault 1, 2, 4, 8 s; never sooner than the server's Retry-After.
 */
export function nextRetryDelayMsFor(code: string, attempt: number, retryAfterMs?: number, workFailure = true): number {
  const first = workFailure ? slowRetryFirstMs[code as KnownErrorCode] : undefined;
  const classDelay =
    first === undefined
      ? Math.min(REQUEST_FAULT_MAX_MS, REQUEST_FAULT_FIRST_MS * 2 ** Math.max(0, attempt - 1))
      : Math.min(SLOW_RETRY_MAX_MS, first * 2 ** Math.max(0, attempt - 1));
  // A server that said how long to wait (429/503 Retry-After) is not asked again sooner.
  return retryAfterMs === undefined ? classDelay : Math.max(classDelay, Math.min(retryAfterMs, SLOW_RETRY_MAX_MS));
}

/**
 * The GPU work's own failure, not a request's: a job whose status says failed (the client reports it with
 * its job id and no HTTP status), or the warm-up's answer (it waits on a GPU container). A request answered
 * 503 `not_ready` by the front end (a busy API, a ledger that did not answer) is a request fault: retried
 * soon, and bounded by ATTEMPTS_PER_FAULT, not by the minutes a loading model gets.
 */
function isWorkFailure(error: TrellisServiceError): boolean {
  if (error.route === 'POST /warmup') return true;
  return error.jobId !== undefined && error.status === undefined && error.code !== 'timeout' && error.code !== 'connection_error';
}

/**
 * `failedInARow`: attempts that have failed in a row on this fault without progress, this one included (the
 * job runner counts them in its heartbeat; elsewhere the attempt number).
 */
export function toActivityFailure(error: unknown, failedInARow: number = currentAttempt()): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof Error && error.name === 'AbortError') return error; // cancellation passes through
  if (error instanceof TrellisServiceError) {
    const message = error.requestId ? `${error.message} (request ${error.requestId})` : error.message;
    if (!error.retryable) return ApplicationFailure.nonRetryable(message, error.code);
    return retryableFailure(message, error.code, failedInARow, { workFailure: isWorkFailure(error), retryAfterMs: error.retryAfterMs });
  }
  // The download was damaged on the way: the next attempt downloads it again (the job is not redone).
  if (error instanceof ChecksumMismatchError) return retryableFailure(error.message, 'checksum_mismatch', failedInARow, { workFailure: false });
  if (error instanceof ImageError) {
    return error.retryable
      ? ApplicationFailure.retryable(error.message, error.code)
      : ApplicationFailure.nonRetryable(error.message, error.code);
  }
  if (error instanceof CatalogFileError) return ApplicationFailure.nonRetryable(error.message, 'CatalogFileError');
  // A SKU or preset that would write outside the output folder is a bad input, not a transient fault.
  if (error instanceof OutputPathError) return ApplicationFailure.nonRetryable(error.message, 'validation_error');
  return error;
}

function retryableFailure(
  message: string,
  code: string,
  failedInARow: number,
  { workFailure, retryAfterMs }: { workFailure: boolean; retryAfterMs?: number },
): ApplicationFailure {
  if (!workFailure && failedInARow >= ATTEMPTS_PER_FAULT) {
    return ApplicationFailure.nonRetryable(`${message} (${failedInARow} attempts in a row failed without progress; giving up)`, code);
  }
  // A failure of the GPU work backs off by the activity's attempt (each retry submits the work anew, which
  // is progress) and is capped by the policy's maximumAttempts; a request fault by its own attempts in a row.
  const nextRetryDelay = nextRetryDelayMsFor(code, workFailure ? currentAttempt() : failedInARow, retryAfterMs, workFailure);
  return ApplicationFailure.create({ message, type: code, nonRetryable: false, nextRetryDelay });
}

/** The attempt number (1 on the first run), or 1 outside an activity (unit tests of the mapping). */
function currentAttempt(): number {
  try {
    return activityInfo().attempt;
  } catch {
    return 1;
  }
}

/** Runs an activity body and rethrows anything it throws as a classified failure. */
export async function classifyingFailures<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toActivityFailure(error);
  }
}
