// Runs one GPU job on the service so that it is paid for once: submit, then poll while heartbeating the
// job id. A retried attempt (its worker died, or the poll timed out) finds the id in the heartbeat details
// of the previous attempt and resumes polling that job instead of submitting new GPU work.
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { JobId, type JobAccepted, type JobKind, type JobStatus } from '@trellis/contracts';
import { TrellisServiceError, type TrellisClient } from '@trellis/trellis-client';
import { z } from 'zod';

const JobHeartbeat = z.object({ jobId: JobId, kind: z.enum(['generate', 'extract_glb']) });
export type JobHeartbeat = z.infer<typeof JobHeartbeat>;

export interface JobRunOptions {
  client: TrellisClient;
  kind: JobKind;
  submit: (signal: AbortSignal) => Promise<JobAccepted>;
  pollIntervalMs: number;
}

/** The job id a previous attempt of this activity was waiting for, if any. */
export function resumableJob(kind: JobKind): JobHeartbeat | undefined {
  const parsed = JobHeartbeat.safeParse(activityInfo().heartbeatDetails);
  return parsed.success && parsed.data.kind === kind ? parsed.data : undefined;
}

export async function runJob({ client, kind, submit, pollIntervalMs }: JobRunOptions): Promise<JobStatus> {
  const signal = cancellationSignal();
  const previous = resumableJob(kind);
  if (previous && (await stillWorthWaitingFor(client, previous, signal))) {
    return waitWithHeartbeats(client, previous, pollIntervalMs, signal);
  }
  const accepted = await submit(signal);
  const job: JobHeartbeat = { jobId: accepted.job_id, kind };
  heartbeat(job);
  return waitWithHeartbeats(client, job, pollIntervalMs, signal);
}

/**
 * A previous attempt's job is resumed while it is queued, running or done. When the service no longer
 * knows it (restarted, expired) or it failed (e.g. interrupted), the work has to be done again.
 */
async function stillWorthWaitingFor(client: TrellisClient, job: JobHeartbeat, signal: AbortSignal): Promise<boolean> {
  try {
    const status = await client.getJob(job.jobId, { signal });
    return status.status !== 'failed';
  } catch (error) {
    if (error instanceof TrellisServiceError && error.code === 'job_not_found') return false;
    throw error;
  }
}

/**
 * Polls hit the CPU-only API (never a GPU), so they can stay frequent: a finished job waits at most
 * MAX_POLL_INTERVAL_MS before the asset's next step starts.
 */
const MAX_POLL_INTERVAL_MS = 2000;

function waitWithHeartbeats(client: TrellisClient, job: JobHeartbeat, pollIntervalMs: number, signal: AbortSignal) {
  return client.waitForJob(job.jobId, {
    pollIntervalMs,
    maxPollIntervalMs: Math.max(pollIntervalMs, MAX_POLL_INTERVAL_MS),
    signal,
    onPoll: () => heartbeat(job),
  });
}
