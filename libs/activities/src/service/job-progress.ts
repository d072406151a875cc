// What a GPU activity heartbeats, and the timer that heartbeats it. The details are the only thing a retried
// attempt inherits from the one that died, so they always say which job this is (once the service named
// it) and which Idempotency-Key asks for it (from before the submit): never empty, never stale.
import { activityInfo, heartbeat } from '@temporalio/activity';
import { JobId, type JobKind } from '@trellis/contracts';
import { idempotencyKeyOf } from '@trellis/trellis-client';
import { z } from 'zod';

/** Where the attempt is: a retry resumes from here (a job in `downloading` is downloaded again, never redone). */
export const JobPhase = z.enum(['submitting', 'running', 'downloading', 'recording']);
export type JobPhase = z.infer<typeof JobPhase>;

export const JobProgress = z.object({
  kind: z.enum(['generate', 'extract_glb']),
  /** The service's job; absent only while the first submit has not been answered. */
  jobId: JobId.optional(),
  /** Sent with every submit of this work. */
  idempotencyKey: z.string().regex(/^[0-9a-f]{64}$/),
  phase: JobPhase,
  /** The activity attempt in which this work last moved forward (a job named, the job finished, an output written). */
  progressAttempt: z.number().int().positive().optional(),
  /**
   * The fault that failed the latest attempt: at which step (the request's route), in which attempt, and how
   * many attempts in a row it has failed there without progress. One fault gets ATTEMPTS_PER_FAULT of them.
   */
  fault: z
    .object({ step: z.string().min(1).max(120), attempt: z.number().int().positive(), inARow: z.number().int().positive() })
    .optional(),
});
export type JobProgress = z.infer<typeof JobProgress>;

/** Well inside the GPU activities' 30 s heartbeat timeout, so one late timer never trips it. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;

/** The progress a previous attempt of this activity heartbeated last, if it was for a job of this kind. */
export function previousProgress(kind: JobKind): JobProgress | undefined {
  const parsed = JobProgress.safeParse(activityInfo().heartbeatDetails);
  return parsed.success && parsed.data.kind === kind ? parsed.data : undefined;
}

/**
 * The key of one piece of GPU work: the same for every attempt, and for every call the workflow makes
 * for that work (a call repeated after the credentials were fixed must get the same job), so it is made
 * of the workflow execution and what identifies the work (`workParts`: input hash, a regeneration count,
 * and for an extract its state), never of the activity id. Another execution of the same asset (a later
 * run of the catalog) gets keys of its own, so it never inherits a job whose state has since expired.
 */
export function jobIdempotencyKey(kind: JobKind, workParts: readonly string[]): string {
  // Typed optional for activities started outside a workflow; ours always run in one.
  const execution = activityInfo().workflowExecution ?? { workflowId: '(no workflow)', runId: '' };
  return idempotencyKeyOf([kind, execution.workflowId, execution.runId, ...workParts]);
}

/**
 * Heartbeats the current progress at once, on every `update`, and on a timer until `stop`: through the
 * image read, the submit, the polls, the download and the output record alike, so no slow step can
 * outlast the heartbeat timeout and make the retry think the job was lost.
 *
 * The worker sends heartbeats to Temporal at most every ~0.8 x heartbeat timeout and sends the latest
 * with a failure, but a worker killed in between loses the latest (e.g. a job id named seconds ago). The
 * retry then finds only the key, submits again with it, and the service answers with the same job.
 */
export class ProgressHeartbeat {
  private details: JobProgress;
  private readonly timer: NodeJS.Timeout;

  constructor(initial: JobProgress, intervalMs: number = DEFAULT_HEARTBEAT_INTERVAL_MS) {
    this.details = JobProgress.parse(initial);
    heartbeat(this.details);
    this.timer = setInterval(() => heartbeat(this.details), intervalMs);
    // Never keeps a worker process alive on its own; `stop` clears it in any case.
    this.timer.unref();
  }

  get current(): JobProgress {
    return this.details;
  }

  /**
   * Replaces fields and heartbeats the result; the kind and key never change within an attempt. A job
   * named anew or a later phase is progress (an attempt resuming where the last one failed is not).
   */
  update(change: { jobId?: string; phase: JobPhase }): void {
    const advanced =
      (change.jobId !== undefined && change.jobId !== this.details.jobId) ||
      JobPhase.options.indexOf(change.phase) > JobPhase.options.indexOf(this.details.phase);
    const next: JobProgress = { ...this.details, phase: change.phase };
    if (advanced) next.progressAttempt = currentAttempt();
    if (change.jobId !== undefined) next.jobId = change.jobId;
    this.details = JobProgress.parse(next);
    heartbeat(this.details);
  }

  /** An output was written and recorded: progress, whatever the phase (one job may make several). */
  outputRecorded(): void {
    this.details = { ...this.details, progressAttempt: currentAttempt() };
    heartbeat(this.details);
  }

  /** Forgets the job (the service lost it, or it failed): the next submit asks for the work anew. */
  forgetJob(): void {
    const { jobId: _forgotten, ...rest } = this.details;
    this.details = { ...rest, phase: 'submitting' };
    heartbeat(this.details);
  }

  /**
   * This attempt failed at `step`: heartbeats it (the failure carries the latest details to the next attempt)
   * and returns how many attempts in a row have failed at that step with no progress in between, this one
   * included. A fault elsewhere, or progress in this attempt, starts the count again: with faults at random,
   * an attempt that redoes a few requests before reaching its step must not be charged for theirs.
   */
  recordFailure(step: string): number {
    const attempt = currentAttempt();
    const previous = this.details.fault;
    const progressedNow = this.details.progressAttempt === attempt;
    const sameFault = previous !== undefined && previous.step === step && previous.attempt === attempt - 1 && !progressedNow;
    const inARow = sameFault ? previous.inARow + 1 : 1;
    this.details = { ...this.details, fault: { step: step.slice(0, 120), attempt, inARow } };
    heartbeat(this.details);
    return inARow;
  }

  beat(): void {
    heartbeat(this.details);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function currentAttempt(): number {
  return activityInfo().attempt;
}
