// `npm run worker`: a long-running worker for a real deployment. Temporal settings from TEMPORAL_* or a
// temporal.toml profile (libs/temporal-connection);
// the service from TRELLIS2_API_URL with credentials from TRELLIS2_MODAL_KEY/SECRET or
// ~/.trellis2_modal_secrets.json. Ctrl-C / SIGTERM drain running tasks, then exit.
// TRELLIS_WORKER_ROLE: `all` (default) polls the main task queue here and starts the finishing worker
// (channel files, TRELLIS_FINISH_TASK_QUEUE) as a child process with its own memory limits;
// `orchestrate` only the former, `finish` only the latter, to run them on different machines.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Runtime, type NativeConnection, type Worker } from '@temporalio/worker';
import { connectWorker, temporalSettingsFromEnv, type TemporalSettings } from '@trellis/temporal-connection';
import { TrellisClient } from '@trellis/trellis-client';
import { createFinishWorker, createTrellisWorker, trellisWorkerLogger } from '@trellis/workers';
import { z } from 'zod';

const optionalCount = z.coerce.number().int().min(1).optional();
const WorkerEnv = z.object({
  TRELLIS_MAX_CONCURRENT_ACTIVITIES: optionalCount,
  TRELLIS_MAX_CONCURRENT_WORKFLOW_TASKS: optionalCount,
  TRELLIS_MAX_CACHED_WORKFLOWS: optionalCount,
  TRELLIS_ACTIVITIES_PER_SECOND: z.coerce.number().positive().optional(),
  /** A workflow bundle built ahead (bundleWorkflowCode): starts in a second instead of bundling. */
  TRELLIS_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  /** First interval between job polls in ms (default 1000). */
  TRELLIS_POLL_INTERVAL_MS: z.coerce.number().int().min(50).optional(),
  TRELLIS_WORKER_ROLE: z.enum(['all', 'orchestrate', 'finish']).default('all'),
  /** SKUs finished at once by the finishing worker (default 1: each is CPU bound). */
  TRELLIS_FINISH_MAX_CONCURRENT_ACTIVITIES: optionalCount,
  /** Node flags of the finishing worker's process (default: a 1 GB heap; a quality GLB needs a few hundred MB). */
  TRELLIS_FINISH_NODE_FLAGS: z.string().min(1).default('--max-old-space-size=1024'),
});
type WorkerEnv = z.infer<typeof WorkerEnv>;

async function main(): Promise<void> {
  // Expected asset failures as one line each; unexpected errors with their stack.
  Runtime.install({ logger: trellisWorkerLogger('INFO') });
  const limits = WorkerEnv.parse(process.env);
  const settings = temporalSettingsFromEnv();
  if (limits.TRELLIS_WORKER_ROLE === 'finish') return runFinishWorker(limits, settings);
  const service = new TrellisClient();
  try {
    const health = await service.health();
    console.log(`worker: TRELLIS.2 service at ${service.endpoints.route('health')} is up (backend ${health.backend ?? 'unknown'})`);
  } catch (error) {
    // Not fatal: the service may be deploying; activities retry transient errors with backoff.
    console.warn(`worker: the TRELLIS.2 service is not answering yet: ${(error as Error).message}`);
  }
  const connection = await connectOrExit(settings);
  const worker = await createTrellisWorker({
    connection,
    namespace: settings.namespace,
    service,
    maxConcurrentActivityTaskExecutions: limits.TRELLIS_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: limits.TRELLIS_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxTaskQueueActivitiesPerSecond: limits.TRELLIS_ACTIVITIES_PER_SECOND,
    pollIntervalMs: limits.TRELLIS_POLL_INTERVAL_MS,
    maxCachedWorkflows: limits.TRELLIS_MAX_CACHED_WORKFLOWS,
    ...(limits.TRELLIS_WORKFLOW_BUNDLE ? { workflowBundle: { codePath: limits.TRELLIS_WORKFLOW_BUNDLE } } : {}),
  });
  const version = worker.options.workerDeploymentOptions?.version;
  console.log(`worker: polling task queue ${worker.options.taskQueue} on ${settings.address} (namespace ${settings.namespace}), version ${version?.deploymentName} ${version?.buildId}`);
  const finishing = limits.TRELLIS_WORKER_ROLE === 'all' ? startFinishingProcess(limits, worker) : undefined;
  // The SDK's Runtime shuts the worker down gracefully on SIGINT/SIGTERM; run() resolves then.
  await worker.run();
  await finishing?.stop();
  await connection.close();
}

/** The Temporal connection, or one line saying why not and exit 1 (an expected failure, not a bug). */
async function connectOrExit(settings: TemporalSettings): Promise<NativeConnection> {
  try {
    return await connectWorker(settings);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}

async function runFinishWorker(limits: WorkerEnv, settings: TemporalSettings): Promise<void> {
  const connection = await connectOrExit(settings);
  const worker = await createFinishWorker({
    connection,
    namespace: settings.namespace,
    maxConcurrentActivityTaskExecutions: limits.TRELLIS_FINISH_MAX_CONCURRENT_ACTIVITIES,
  });
  console.log(`worker: finishing (channel files) on task queue ${worker.options.taskQueue}`);
  await worker.run();
  await connection.close();
}

/**
 * The finishing worker as a child process: its memory (a 1M-face GLB, glTF-Transform's copies) is its
 * own, never the orchestrating worker's. It stops with this worker; if it dies, this worker stops too
 * (exit 1), so a supervisor restarts both rather than leaving channel files unmade.
 */
function startFinishingProcess(limits: WorkerEnv, worker: Worker): { stop(): Promise<void> } {
  const heapFlags = /^--max-(old|semi)-space-size=/;
  const execArgv = [...process.execArgv.filter((flag) => !heapFlags.test(flag)), ...limits.TRELLIS_FINISH_NODE_FLAGS.split(/\s+/).filter(Boolean)];
  const child: ChildProcess = spawn(process.execPath, [...execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, TRELLIS_WORKER_ROLE: 'finish' },
    stdio: 'inherit',
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`worker: the finishing worker (pid ${child.pid}) exited (${signal ?? `code ${code}`}); stopping`);
    process.exitCode = 1;
    try {
      worker.shutdown();
    } catch {
      // not running yet: main() exits on its own
    }
  });
  // Ctrl-C reaches the whole process group; a SIGTERM sent to this process alone is passed on.
  process.once('SIGTERM', () => child.kill('SIGTERM'));
  return {
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
