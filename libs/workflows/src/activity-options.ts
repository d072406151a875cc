// Timeouts and retry policies by activity, following the error classes in ARCHITECTURE.md: transient
// failures (HTTP 429/5xx, timeouts, resets, cuda_oom, cold start) back off and retry; permanent ones
// (bad input, bad credentials, unreadable image) fail the asset at once and the catalog goes on.
import type { ActivityOptions } from '@temporalio/workflow';

/** Failure types (ApplicationFailure `type`) that no retry can fix. */
export const PERMANENT_FAILURE_TYPES = [
  'validation_error',
  'unauthorized',
  'payload_too_large',
  'state_not_found',
  'job_not_found',
  'bad_response',
  'image_not_found',
  'image_unreadable',
  'image_too_large',
  'image_too_large_dimensions',
  'image_changed',
  'CatalogFileError',
];

const gpuRetry = {
  initialInterval: '5 seconds',
  backoffCoefficient: 2,
  maximumInterval: '2 minutes',
  maximumAttempts: 8,
  nonRetryableErrorTypes: PERMANENT_FAILURE_TYPES,
};

/** Local file work: quick, retried a few times for flaky disks or network images. */
export const fileActivityOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: PERMANENT_FAILURE_TYPES },
};

/** A cold start takes 2-2.5 min on an A100 and may queue behind busy containers. */
export const warmUpOptions: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '30 seconds',
  retry: gpuRetry,
};

/**
 * GPU jobs: the activity heartbeats every poll with the job id, so a dead worker is noticed in ~30 s and
 * the retry resumes the same job instead of paying for the GPU again.
 */
export const gpuJobOptions: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: gpuRetry,
};
