// Timeouts and retry policies by activity, following the error classes of libs/activities/src/service/failures.ts: transient
// failures (HTTP 429/5xx, timeouts, resets, cuda_oom, cold start) back off and retry; permanent ones
// (bad input, bad credentials, unreadable image) fail the asset at once and the catalog goes on.
import type { ActivityOptions } from '@temporalio/workflow';

// Permanent errors (bad input, bad credentials, unreadable image, lost state) are thrown by the activities
// as non-retryable ApplicationFailures whose `type` is the error code, so these policies need no list of
// them (which would also be repeated in every ActivityTaskScheduled event).

/**
 * Temporal's policy is the one retry layer for a fault (the client retries a dropped request once, and
 * nothing else retries): a GPU activity's next attempt resumes the same job from its heartbeat (or only
 * its download), costing no GPU time. The activities set each failure's `nextRetryDelay` by class
 * (activities' failures.ts): 1 s, 2 s, 4 s, 8 s for a request fault, which gives up after 5 attempts in
 * a row failing at the same step without progress (2 x 5 = 10 HTTP tries per fault); longer for a failure of the GPU work itself
 * (cuda_oom, a cold start, generation_error, ...). `maximumAttempts` caps an activity's whole life: a job
 * that keeps failing on the GPU is asked for at most 10 times (each with the service's own attempts).
 */
const gpuRetry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 10,
};

/**
 * The short activities heartbeat every 5 s while they run (keepAlive in libs/activities), so a worker killed
 * mid-step is noticed within this, not after the step's whole start-to-close timeout.
 */
const KEEP_ALIVE_TIMEOUT = '20 seconds';

const quickRetry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 };

/** An asset's file work (its manifest): quick; retried for flaky disks. */
export const fileActivityOptions: ActivityOptions = { startToCloseTimeout: '2 minutes', heartbeatTimeout: KEEP_ALIVE_TIMEOUT, retry: quickRetry };

/**
 * An asset's first step, prepareAsset: reads the image (a network one too) and asks the service which backend
 * it runs (GET /health, no GPU): quick; retried for flaky disks, networks and a service that is deploying.
 */
export const serviceCheckOptions: ActivityOptions = { startToCloseTimeout: '2 minutes', heartbeatTimeout: KEEP_ALIVE_TIMEOUT, retry: quickRetry };

/**
 * The catalog's own activities (load a page, reconcile, report, the manifest of a row that never ran):
 * a brief NFS drop or a Temporal frontend restart must not fail a 10,000-row catalog, so they retry
 * with backoff and no attempt cap. Permanent problems (an unreadable catalog) are non-retryable failures.
 */
export const catalogActivityOptions: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: KEEP_ALIVE_TIMEOUT,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/** Once per catalog. A cold start takes 2-2.5 min on an A100 and may queue behind busy containers. */
export const warmUpOptions: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '30 seconds',
  retry: gpuRetry,
};

/**
 * GPU jobs: the activity heartbeats its job (kind, Idempotency-Key, job id, phase) every 5 s for its whole
 * life, so a dead worker is noticed in ~30 s and the retry resumes the same job (or its download) instead
 * of paying for the GPU again.
 */
export const gpuJobOptions: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: gpuRetry,
};

/**
 * Finishing (channel files) on the finish task queue: seconds of CPU per channel; it heartbeats between
 * channels, so a worker that died is noticed in two minutes. Retried a few times for a flaky disk; a
 * channel that cannot be made is reported, not thrown.
 */
export const finishActivityOptions: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
};
