// Runs one GPU job on the service so that it is paid for once, whatever the network or the worker does:
// - the progress (kind, Idempotency-Key, job id, phase) is heartbeated on a timer for the whole attempt;
// - a retried attempt finds the previous job in those details and resumes it (polling, or downloading the
//   result again when only the download failed) instead of submitting new GPU work;
// - every submit carries the same Idempotency-Key, so a submit whose answer was lost is retried (once by
//   the client, then by the next attempt) and the service hands back the job it already started;
// - nothing is retried here: a poll or download that failed after the client's one retry fails the
//   attempt, and Temporal's next attempt resumes from the heartbeat (a download is opened again, the job
//   is never redone). Attempts failing in a row at the same step without progress are counted
//   (failures.ts gives one fault ATTEMPTS_PER_FAULT of them), so a fault costs at most 10 HTTP tries, not 280.
import { cancellationSignal } from '@temporalio/activity';
import type { JobAccepted, JobKind, JobStatus } from '@trellis/contracts';
import { TrellisServiceError, type TrellisClient } from '@trellis/trellis-client';
import { toActivityFailure } from './failures';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, jobIdempotencyKey, previousProgress, ProgressHeartbeat, type JobProgress } from './job-progress';

export interface JobTiming {
  /** First interval between job polls (grows gently to 2 s). */
  pollIntervalMs: number;
  /** Heartbeat timer of the activity (default 5 s). */
  heartbeatIntervalMs?: number;
}

export interface GpuJobRun<T> {
  client: TrellisClient;
  kind: JobKind;
  /** What identifies the work besides the workflow and activity: input hash, state id, ... */
  workParts: readonly string[];
  timing: JobTiming;
  /** An output a previous attempt already finished and recorded: returned without any GPU work. */
  reuse?: (signal: AbortSignal) => Promise<T | undefined>;
  /** Sends the work; must pass `idempotencyKey` on to the client. */
  submit: (options: { signal: AbortSignal; idempotencyKey: string }) => Promise<JobAccepted>;
  /**
   * Downloads the finished job's result and records it; a retried attempt runs it again from the start, so
   * it skips what it already recorded (and calls `progress.update` for each output it records).
   */
  collect: (job: JobStatus, progress: ProgressHeartbeat, signal: AbortSignal) => Promise<T>;
}

export async function runGpuJob<T>(run: GpuJobRun<T>): Promise<T> {
  const signal = cancellationSignal();
  const idempotencyKey = jobIdempotencyKey(run.kind, run.workParts);
  const previous = previousProgress(run.kind);
  // What the last attempt knew of its progress and its fault goes on, so one fault is counted across attempts.
  const carried = { progressAttempt: previous?.progressAttempt, fault: previous?.fault };
  const initial: JobProgress = previous?.jobId
    ? { kind: run.kind, jobId: previous.jobId, idempotencyKey, phase: previous.phase, ...carried }
    : { kind: run.kind, idempotencyKey, phase: 'submitting', ...carried };
  const progress = new ProgressHeartbeat(initial, run.timing.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
  try {
    const reused = await run.reuse?.(signal);
    if (reused !== undefined) return reused;

    let jobId = progress.current.jobId;
    if (jobId !== undefined && !(await stillWorthWaitingFor(run.client, jobId, signal))) {
      progress.forgetJob();
      jobId = undefined;
    }
    if (jobId === undefined) {
      const accepted = await run.submit({ signal, idempotencyKey });
      jobId = accepted.job_id;
      progress.update({ jobId, phase: 'running' });
    }
    const done = await run.client.waitForJob(jobId, {
      longPollMs: LONG_POLL_MS,
      // The fallback: a service that ignores `wait` (or answers a long poll early) is polled like before.
      pollIntervalMs: run.timing.pollIntervalMs,
      maxPollIntervalMs: Math.max(run.timing.pollIntervalMs, MAX_POLL_INTERVAL_MS),
      signal,
      onPoll: () => progress.beat(),
    });
    progress.update({ phase: 'downloading' });
    return await run.collect(done, progress, signal);
  } catch (error) {
    if (signal.aborted) throw error; // cancelled: nothing to count
    throw toActivityFailure(error, progress.recordFailure(faultStep(error)));
  } finally {
    progress.stop();
  }
}

/**
 * Each poll is a long poll: the service answers as soon as the job is final, so the asset's next step
 * starts one round trip after the GPU work ends, with one request per job per 5 s while it runs. 5 s
 * and not the service's 20 s: a hung poll is cut at 5 s + the client's 4 s first-try limit = 9 s, well
 * inside the activity's 30 s heartbeat timeout (the heartbeat has its own timer, ProgressHeartbeat, so a
 * held poll never delays it either).
 */
const LONG_POLL_MS = 5000;

/**
 * Polls hit the CPU-only API (never a GPU), so they can stay frequent: when a long poll is answered early,
 * a finished job waits at most MAX_POLL_INTERVAL_MS before the asset's next step starts.
 */
const MAX_POLL_INTERVAL_MS = 2000;

/**
 * A previous attempt's job is resumed while it is queued, running or done (its result stays on the service).
 * When the service no longer knows it (restarted without its store, expired) or it failed (e.g. interrupted),
 * the work has to be asked for again.
 */
async function stillWorthWaitingFor(client: TrellisClient, jobId: string, signal: AbortSignal): Promise<boolean> {
  try {
    const status = await client.getJob(jobId, { signal });
    return status.status !== 'failed';
  } catch (error) {
    if (error instanceof TrellisServiceError && error.code === 'job_not_found') return false;
    throw error;
  }
}

/** Where an attempt failed, as one fault is known across attempts: the request's route, or the error's kind. */
function faultStep(error: unknown): string {
  if (error instanceof TrellisServiceError) return error.route;
  return error instanceof Error ? error.name : 'error';
}
