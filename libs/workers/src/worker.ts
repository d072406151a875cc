// Builds the Temporal worker that runs every catalog: workflows from @trellis/workflows, activities
// bound to one TRELLIS.2 service client.
import { fileURLToPath } from 'node:url';
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '@trellis/activities';
import { taskQueueFrom } from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';
import { makeCurrentOncePolling, makeCurrentVersion, versioningFromEnv, workerVersion, type VersioningEnv } from './versioning';

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
  /** Worker Versioning settings (versioning.ts); default: from TRELLIS_DEPLOYMENT_NAME, _BUILD_ID, _PROMOTE_ON_START. */
  versioning?: VersioningEnv;
}

export async function createTrellisWorker(options: TrellisWorkerOptions): Promise<Worker> {
  const taskQueue = options.taskQueue ?? taskQueueFrom(process.env);
  // Bundled here, not by Worker.create, so the build id can be the bundle's hash.
  const workflowBundle = options.workflowBundle ?? (await bundleWorkflowCode({ workflowsPath, logger: quietBundler }));
  const versioning = options.versioning ?? versioningFromEnv();
  const version = workerVersion(taskQueue, workflowBundle, versioning);
  const promote = versioning.TRELLIS_PROMOTE_ON_START === 'current';
  const madeCurrent = promote && (await makeCurrentVersion(options.connection, options.namespace, version));
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue,
    workflowBundle,
    workerDeploymentOptions: { useWorkerVersioning: true, version, defaultVersioningBehavior: 'PINNED' },
    activities: createActivities({ client: options.service, pollIntervalMs: options.pollIntervalMs }),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 100,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTaskExecutions ?? 40,
    maxCachedWorkflows: options.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS,
    ...(options.maxTaskQueueActivitiesPerSecond ? { maxTaskQueueActivitiesPerSecond: options.maxTaskQueueActivitiesPerSecond } : {}),
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
  });
  if (promote && !madeCurrent) {
    // A later version: the previous one serves new work until this worker's pollers are known.
    makeCurrentOncePolling(options.connection, options.namespace, version, worker).catch((error: Error) =>
      console.error(`worker: could not make ${version.deploymentName} ${version.buildId} the current version: ${error.message}`),
    );
  }
  return worker;
}

const quietBundler = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} };
