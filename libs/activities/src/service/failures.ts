// Turns errors into Temporal failures whose `type` is our error code, so retry policies can tell
// transient from permanent (see PERMANENT_FAILURE_TYPES in the workflows package), and picks the pause
// before the next attempt by error class: the policy's short interval suits a network fault (the client
// has already retried those for seconds), while a GPU out of memory or a cold start needs longer.
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KnownErrorCode } from '@trellis/contracts';
import { TrellisServiceError } from '@trellis/trellis-client';
import { CatalogFileError, ImageError, OutputPathError } from '../files';

/**
 * First pause (ms) for failures of the GPU work itself, doubled per attempt up to SLOW_RETRY_MAX_MS.
 * cuda_oom: the container's memory must be freed; not_ready: a container is starting (2-2.5 min on
 * Modal); the *_error codes: the job failed on the GPU, so retrying at once would only pay again for
 * the same fault.
 */
const slowRetryFirstMs: Partial<Record<KnownErrorCode, number>> = {
  cuda_oom: 10_000,
  not_ready: 15_000,
  generation_error: 5000,
  rendering_error: 5000,
  extraction_error: 5000,
};
const SLOW_RETRY_MAX_MS = 2 * 60_000;

/** The pause before the next attempt for `code`, or undefined to leave it to the retry policy. */
export function nextRetryDelayMsFor(code: string, attempt: number): number | undefined {
  const first = slowRetryFirstMs[code as KnownErrorCode];
  if (first === undefined) return undefined;
  return Math.min(SLOW_RETRY_MAX_MS, first * 2 ** Math.max(0, attempt - 1));
}

export function toActivityFailure(error: unknown): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof Error && error.name === 'AbortError') return error; // cancellation passes through
  if (error instanceof TrellisServiceError) {
    const message = error.requestId ? `${error.message} (request ${error.requestId})` : error.message;
    if (!error.retryable) return ApplicationFailure.nonRetryable(message, error.code);
    const nextRetryDelay = nextRetryDelayMsFor(error.code, currentAttempt());
    return ApplicationFailure.create({ message, type: error.code, nonRetryable: false, nextRetryDelay });
  }
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
