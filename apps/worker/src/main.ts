// `npm run worker`: a long-running worker for a real deployment. Temporal settings from TEMPORAL_*;
// the service from TRELLIS2_API_URL with credentials from TRELLIS2_MODAL_KEY/SECRET or
// ~/.trellis2_modal_secrets.json. Ctrl-C / SIGTERM drain running tasks, then exit.
import { NativeConnection, Runtime } from '@temporalio/worker';
import { TrellisClient } from '@trellis/trellis-client';
import { z } from 'zod';
import { connectionOptions, temporalSettingsFromEnv, unreachableTemporalMessage } from './temporal-config';
import { createTrellisWorker } from './worker';
import { trellisWorkerLogger } from './worker-log';

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
});

async function main(): Promise<void> {
  // Expected asset failures as one line each; unexpected errors with their stack.
  Runtime.install({ logger: trellisWorkerLogger('INFO') });
  const limits = WorkerEnv.parse(process.env);
  const settings = temporalSettingsFromEnv();
  const service = new TrellisClient();
  try {
    const health = await service.health();
    console.log(`worker: TRELLIS.2 service at ${service.endpoints.route('health')} is up (backend ${health.backend ?? 'unknown'})`);
  } catch (error) {
    // Not fatal: the service may be deploying; activities retry transient errors with backoff.
    console.warn(`worker: the TRELLIS.2 service is not answering yet: ${(error as Error).message}`);
  }
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connectionOptions(settings));
  } catch (error) {
    console.error(unreachableTemporalMessage(settings, error));
    process.exit(1);
  }
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
  console.log(`worker: polling task queue ${worker.options.taskQueue} on ${settings.address} (namespace ${settings.namespace})`);
  // The SDK's Runtime shuts the worker down gracefully on SIGINT/SIGTERM; run() resolves then.
  await worker.run();
  await connection.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
