// Timeouts and retry policies by activity, following the error classes in ARCHITECTURE.md: transient
// failures (HTTP 429/5xx, timeouts, resets, cuda_oom, cold start) back off and retry; permanent ones
// (bad input, bad credentials, unreadable image) fail the asset at once and the catalog goes on.
import type { ActivityOptions } from '@temporalio/workflow';

// Permanent errors (bad input, bad credentials, unreadable image, lost state) are thrown by the activities
// as non-retryable ApplicationFailures whose `type` is the error code, so these policies need no list of
// them (which would also be repeated in every ActivityTaskScheduled event).

const gpuRetry = {
  initialInterval: '5 seconds',
  backoffCoefficient: 2,
  maximumInterval: '2 minutes',
  maximumAttempts: 8,
};

/** Local file work: quick, retried a few times for flaky disks or network images. */
export const fileActivityOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
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
