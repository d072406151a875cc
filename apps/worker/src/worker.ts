// Builds the Temporal worker that runs every catalog: workflows from @trellis/workflows, activities
// bound to one TRELLIS.2 service client.
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '@trellis/activities';
import { taskQueueFrom } from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';

/** Entry of the workflow bundle (webpack bundles it with its imports, deterministic code only). */
export const workflowsPath = fileURLToPath(import.meta.resolve('@trellis/workflows'));

const DEFAULT_MAX_CACHED_WORKFLOWS = 500;

export interface TrellisWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  service: TrellisClient;
  /** Default: `TRELLIS_TASK_QUEUE`, else `trellis` (the same setting every start reads). */
  taskQueue?: string;
  /** A pre-built bundle (tests build one per run); otherwise workflowsPath is bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Activities at once; GPU activities mostly wait on jobs, so this can exceed the GPU count. */
  maxConcurrentActivityTaskExecutions?: number;
  maxConcurrentWorkflowTaskExecutions?: number;
  /** Server-enforced ceiling across all workers, protecting the GPU service from bursts. */
  maxTaskQueueActivitiesPerSecond?: number;
  pollIntervalMs?: number;
  /**
   * Workflow executions kept in memory between their tasks (sticky cache). The SDK's default grows with
   * the heap limit (about 2,300 on a 4 GB heap); a worker needs room only for the workflows it is running,
   * i.e. the assets of its catalogs' windows plus the catalogs. Default 500.
   */
  maxCachedWorkflows?: number;
  /** Time for running activities to finish on shutdown; jobs resume by id on another worker anyway. */
  shutdownGraceTime?: string;
}

export async function createTrellisWorker(options: TrellisWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? taskQueueFrom(process.env),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
    activities: createActivities({ client: options.service, pollIntervalMs: options.pollIntervalMs }),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 100,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTaskExecutions ?? 40,
    maxCachedWorkflows: options.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS,
    ...(options.maxTaskQueueActivitiesPerSecond ? { maxTaskQueueActivitiesPerSecond: options.maxTaskQueueActivitiesPerSecond } : {}),
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
  });
}
