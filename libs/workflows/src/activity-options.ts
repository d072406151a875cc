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

/** An asset's file work (prepare, manifest): quick; retried for flaky disks or network images. */
export const fileActivityOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
};

/**
 * The catalog's own activities (load a page, reconcile, report, the manifest of a row that never ran):
 * a brief NFS drop or a Temporal frontend restart must not fail a 10,000-row catalog, so they retry
 * with backoff and no attempt cap. Permanent problems (an unreadable catalog) are non-retryable failures.
 */
export const catalogActivityOptions: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/** Once per catalog. A cold start takes 2-2.5 min on an A100 and may queue behind busy containers. */
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
