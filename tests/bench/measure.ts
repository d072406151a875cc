// Figures the benchmark derives from what the run left behind: Temporal histories (sizes, event counts,
// timestamps), the service's job records (when each job was submitted and finished), and /proc.
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import proto, { type temporal as protoTypes } from '@temporalio/proto';
import { z } from 'zod';

// A CommonJS module: under plain Node ESM only its default export is available at run time.
const { temporal } = proto;
type History = protoTypes.api.history.v1.IHistory;
type HistoryEvent = protoTypes.api.history.v1.IHistoryEvent;

/** What the local service keeps of each finished GPU call (gpu-modal/trellis2_service/job_calls.py, LocalCalls). */
const CallRecord = z.object({
  job_id: z.string(),
  kind: z.string(),
  submitted_at: z.number(),
  outcome: z.object({
    status: z.string(),
    finished_at: z.number(),
    result: z.object({ server_timing: z.object({ compute_seconds: z.number(), queue_seconds: z.number() }) }).nullable(),
  }),
});

export interface JobRecord {
  job_id: string;
  kind: string;
  status: string;
  created_at: number;
  updated_at: number;
  result: { server_timing: { compute_seconds: number; queue_seconds: number } } | null;
}

/** Each finished job, from the outcomes the local service's GPU calls left in `<store>/calls`. */
export function readJobRecords(storeDir: string): Map<string, JobRecord> {
  const callsDir = path.join(storeDir, 'calls');
  const records = new Map<string, JobRecord>();
  for (const name of fs.readdirSync(callsDir).filter((file) => file.endsWith('.json'))) {
    const call = CallRecord.parse(JSON.parse(fs.readFileSync(path.join(callsDir, name), 'utf8')));
    records.set(call.job_id, {
      job_id: call.job_id,
      kind: call.kind,
      status: call.outcome.status,
      created_at: call.submitted_at,
      updated_at: call.outcome.finished_at,
      result: call.outcome.result,
    });
  }
  return records;
}

export function historyBytes(history: History): number {
  return temporal.api.history.v1.History.encode(history).finish().byteLength;
}

export function eventSeconds(event: HistoryEvent): number {
  const time = event.eventTime!;
  return Number(time.seconds ?? 0) + Number(time.nanos ?? 0) / 1e9;
}

/** Event counts and bytes by type, summed over histories: where history size goes. */
export function eventTypeTally(histories: History[]): Array<{ type: string; count: number; bytes: number }> {
  const tally = new Map<string, { count: number; bytes: number }>();
  for (const history of histories) {
    const activityNames = new Map<number, string>();
    for (const event of history.events ?? []) {
      let type = temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? String(event.eventType);
      // Activity events by activity, since their payloads differ.
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) activityNames.set(Number(event.eventId), scheduled.activityType?.name ?? '?');
      const scheduledId = event.activityTaskStartedEventAttributes?.scheduledEventId ?? event.activityTaskCompletedEventAttributes?.scheduledEventId;
      const activity = scheduled ? scheduled.activityType?.name : scheduledId !== undefined && scheduledId !== null ? activityNames.get(Number(scheduledId)) : undefined;
      if (activity) type = `${type} (${activity})`;
      const entry = tally.get(type) ?? { count: 0, bytes: 0 };
      entry.count += 1;
      entry.bytes += temporal.api.history.v1.HistoryEvent.encode(event).finish().byteLength;
      tally.set(type, entry);
    }
  }
  return [...tally.entries()].map(([type, entry]) => ({ type: type.replace(/^EVENT_TYPE_/, ''), ...entry })).sort((a, b) => b.bytes - a.bytes);
}

/** Every run of a workflow id (continue-as-new makes one run per segment), oldest first. */
export async function historiesOfAllRuns(client: Client, workflowId: string): Promise<History[]> {
  const runs: Array<{ runId: string; start: number }> = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs.push({ runId: execution.runId, start: execution.startTime.getTime() });
  }
  runs.sort((a, b) => a.start - b.start);
  const histories: History[] = [];
  for (const run of runs) histories.push(await client.workflow.getHandle(workflowId, run.runId).fetchHistory());
  return histories;
}

/** Total length of the union of [start, end] intervals. */
export function unionSeconds(intervals: Array<[number, number]>): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [start, end] = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const [from, to] of sorted) {
    if (from > end) {
      if (end > start) total += end - start;
      [start, end] = [from, to];
    } else end = Math.max(end, to);
  }
  if (end > start) total += end - start;
  return total;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface AssetTiming {
  workflowId: string;
  /** Asset workflow start to close. */
  totalSeconds: number;
  /** Time at least one of its jobs was on the service (submitted, queued or running). */
  serviceSeconds: number;
  /** Before the generate job was submitted (prepare, warm-up, image read, upload). */
  beforeGenerateSeconds: number;
  /** Generate job finished → first extract job submitted (poll lag, preview download, scheduling). */
  betweenSeconds: number;
  /** Last extract job finished → asset workflow closed (poll lag, GLB download, manifest, signal). */
  afterExtractSeconds: number;
}

/** Per-asset split of wall time into service work and everything else, from history and job records. */
export function assetTiming(workflowId: string, history: History, jobs: JobRecord[]): AssetTiming {
  const events = history.events ?? [];
  const start = eventSeconds(events[0]!);
  const end = eventSeconds(events[events.length - 1]!);
  const generate = jobs.filter((job) => job.kind === 'generate').sort((a, b) => a.created_at - b.created_at);
  const extracts = jobs.filter((job) => job.kind === 'extract_glb').sort((a, b) => a.created_at - b.created_at);
  const serviceSeconds = unionSeconds(jobs.map((job) => [job.created_at, job.updated_at]));
  const firstGenerate = generate[0];
  const lastGenerate = generate[generate.length - 1];
  const firstExtract = extracts[0];
  const lastExtractEnd = Math.max(...extracts.map((job) => job.updated_at));
  return {
    workflowId,
    totalSeconds: end - start,
    serviceSeconds,
    beforeGenerateSeconds: firstGenerate ? firstGenerate.created_at - start : Number.NaN,
    betweenSeconds: lastGenerate && firstExtract ? firstExtract.created_at - lastGenerate.updated_at : Number.NaN,
    afterExtractSeconds: extracts.length > 0 ? end - lastExtractEnd : Number.NaN,
  };
}

/** Samples a process's resident set while it runs; VmHWM is the kernel's own peak. */
export class RssSampler {
  readonly samples: Array<{ atSeconds: number; rssKb: number }> = [];
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();
  private peakKb = 0;

  constructor(private readonly pid: number, intervalMs = 2000) {
    this.sample(); // the idle worker, before any task
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    try {
      const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
      this.peakKb = Math.max(this.peakKb, field('VmHWM'));
      this.samples.push({ atSeconds: (Date.now() - this.started) / 1000, rssKb: field('VmRSS') });
    } catch {
      // the process has exited
    }
  }

  stop(): { peakMb: number; samples: Array<{ atSeconds: number; rssKb: number }> } {
    this.sample();
    clearInterval(this.timer);
    return { peakMb: this.peakKb / 1024, samples: this.samples };
  }
}

export interface TaskLatencies {
  /** Workflow task scheduled → picked up by the worker (server + worker queueing), p50 / p95 ms. */
  workflowTaskWaitMs: { p50: number; p95: number };
  /** Workflow task picked up → completed (the worker running workflow code), p50 / p95 ms. */
  workflowTaskRunMs: { p50: number; p95: number };
  /** Activity scheduled → started, p50 / p95 ms. */
  activityWaitMs: { p50: number; p95: number };
  /** Activity started → completed by activity, p50 ms. */
  activityRunMs: Record<string, number>;
  workflowTasks: number;
  /** Share of the histories' span during which a workflow task was scheduled or running. */
  busyShare: number;
}

/** How long workflow and activity tasks waited and ran: is the worker, the server or one workflow the limit? */
export function taskLatencies(histories: History[]): TaskLatencies {
  const waits: number[] = [];
  const runs: number[] = [];
  const activityWaits: number[] = [];
  const activityRuns = new Map<string, number[]>();
  let busy = 0;
  let span = 0;
  for (const history of histories) {
    const events = history.events ?? [];
    if (events.length === 0) continue;
    span += eventSeconds(events[events.length - 1]!) - eventSeconds(events[0]!);
    const scheduledAt = new Map<number, number>();
    const startedAt = new Map<number, number>();
    const names = new Map<number, string>();
    for (const event of events) {
      const id = Number(event.eventId);
      const at = eventSeconds(event);
      if (event.workflowTaskScheduledEventAttributes || event.activityTaskScheduledEventAttributes) scheduledAt.set(id, at);
      const started = event.workflowTaskStartedEventAttributes;
      if (started) waits.push((at - scheduledAt.get(Number(started.scheduledEventId))!) * 1000);
      const completed = event.workflowTaskCompletedEventAttributes;
      if (completed) {
        const scheduled = scheduledAt.get(Number(completed.scheduledEventId))!;
        busy += at - scheduled;
        const startedEvent = events.find((e) => Number(e.eventId) === Number(completed.startedEventId));
        if (startedEvent) runs.push((at - eventSeconds(startedEvent)) * 1000);
      }
      const activityStarted = event.activityTaskStartedEventAttributes;
      if (activityStarted) {
        activityWaits.push((at - scheduledAt.get(Number(activityStarted.scheduledEventId))!) * 1000);
        startedAt.set(Number(activityStarted.scheduledEventId), at);
      }
      if (event.activityTaskScheduledEventAttributes) names.set(id, event.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      const activityCompleted = event.activityTaskCompletedEventAttributes;
      if (activityCompleted) {
        const key = Number(activityCompleted.scheduledEventId);
        const name = names.get(key) ?? '?';
        activityRuns.set(name, [...(activityRuns.get(name) ?? []), (at - startedAt.get(key)!) * 1000]);
      }
    }
  }
  const p = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95) });
  return { workflowTaskWaitMs: p(waits), workflowTaskRunMs: p(runs), activityWaitMs: p(activityWaits), activityRunMs: Object.fromEntries([...activityRuns].map(([name, values]) => [name, percentile(values, 50)])), workflowTasks: runs.length, busyShare: span > 0 ? busy / span : Number.NaN };
}

/**
 * CPU seconds (user + system) a process and all its descendants have used so far, from /proc. The
 * worker, the service and the Temporal server share this machine's cores: their CPU per asset says
 * how many assets per second the machine can orchestrate at most, whatever the GPUs do.
 */
export function treeCpuSeconds(rootPid: number): number {
  const ticksPerSecond = 100; // USER_HZ on Linux
  const stats = new Map<number, { parent: number; ticks: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces): state ppid ... utime(14) stime(15).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), { parent: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // exited while we looked
    }
  }
  const inTree = (pid: number): boolean => {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = stats.get(at)?.parent) if (at === rootPid) return true;
    return false;
  };
  let ticks = 0;
  for (const [pid, { ticks: own }] of stats) if (inTree(pid)) ticks += own;
  return ticks / ticksPerSecond;
}
