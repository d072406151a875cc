// Turns errors into Temporal failures whose `type` is our error code, so retry policies can tell
// transient from permanent (see PERMANENT_FAILURE_TYPES in the workflows package).
import { ApplicationFailure } from '@temporalio/common';
import { TrellisServiceError } from '@trellis/trellis-client';
import { CatalogFileError, ImageError, OutputPathError } from '../files';

export function toActivityFailure(error: unknown): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof Error && error.name === 'AbortError') return error; // cancellation passes through
  if (error instanceof TrellisServiceError) {
    const message = error.requestId ? `${error.message} (request ${error.requestId})` : error.message;
    return error.retryable
      ? ApplicationFailure.retryable(message, error.code)
      : ApplicationFailure.nonRetryable(message, error.code);
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

/** Runs an activity body and rethrows anything it throws as a classified failure. */
export async function classifyingFailures<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toActivityFailure(error);
  }
}
