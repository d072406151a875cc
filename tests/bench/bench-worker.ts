// The benchmark's worker, in a child process of its own so its peak RSS is the worker's alone. The real
// worker (createTrellisWorker) with the real activities; its service client also notes which asset
// workflow submitted each job, and fetch counts the bytes on the wire. Both are written out on SIGTERM.
//   BENCH_WORKER='{"address":...,"namespace":...,"taskQueue":...,"serviceUrl":...,"bundlePath":...,"outFile":...}'
//   plus TRELLIS2_MODAL_KEY / TRELLIS2_MODAL_SECRET in the environment.
import fs from 'node:fs';
import { activityInfo } from '@temporalio/activity';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { TrellisClient } from '@trellis/trellis-client';
import { createTrellisWorker } from '@trellis/workers';
import { z } from 'zod';
import { installWireCounter } from './wire-counter';

export const BenchWorkerConfig = z.object({
  address: z.string(),
  namespace: z.string(),
  taskQueue: z.string(),
  serviceUrl: z.string().url(),
  bundlePath: z.string(),
  outFile: z.string(),
  pollIntervalMs: z.number().int().positive(),
  maxCachedWorkflows: z.number().int().positive().optional(),
});
export type BenchWorkerConfig = z.infer<typeof BenchWorkerConfig>;

/** What the worker writes on exit. */
export interface BenchWorkerReport {
  jobs: Array<{ jobId: string; kind: string; workflowId: string }>;
  wire: { requests: number; sentBytes: number; receivedBytes: number };
  /** process.memoryUsage() in MB just before exit (after the last task): where the RSS is. */
  memory: { rssMb: number; heapUsedMb: number; heapTotalMb: number; externalMb: number };
}

class RecordingTrellisClient extends TrellisClient {
  readonly jobs: BenchWorkerReport['jobs'] = [];

  override async submitGenerate(...args: Parameters<TrellisClient['submitGenerate']>) {
    const accepted = await super.submitGenerate(...args);
    this.jobs.push({ jobId: accepted.job_id, kind: 'generate', workflowId: activityInfo().workflowExecution?.workflowId ?? 'unknown' });
    return accepted;
  }

  override async submitExtractGlb(...args: Parameters<TrellisClient['submitExtractGlb']>) {
    const accepted = await super.submitExtractGlb(...args);
    this.jobs.push({ jobId: accepted.job_id, kind: 'extract_glb', workflowId: activityInfo().workflowExecution?.workflowId ?? 'unknown' });
    return accepted;
  }

  /** The workflow's way since issue 15: one extract job (one GPU call) for all of an asset's presets. */
  override async submitExtractGlbPresets(...args: Parameters<TrellisClient['submitExtractGlbPresets']>) {
    const accepted = await super.submitExtractGlbPresets(...args);
    this.jobs.push({ jobId: accepted.job_id, kind: 'extract_glb', workflowId: activityInfo().workflowExecution?.workflowId ?? 'unknown' });
    return accepted;
  }
}

async function main(): Promise<void> {
  const config = BenchWorkerConfig.parse(JSON.parse(process.env.BENCH_WORKER ?? ''));
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const wire = installWireCounter();
  const service = new RecordingTrellisClient({ baseUrl: config.serviceUrl });
  const connection = await NativeConnection.connect({ address: config.address });
  const worker = await createTrellisWorker({
    connection,
    namespace: config.namespace,
    service,
    taskQueue: config.taskQueue,
    workflowBundle: { code: fs.readFileSync(config.bundlePath, 'utf8') },
    pollIntervalMs: config.pollIntervalMs,
    maxCachedWorkflows: config.maxCachedWorkflows,
    shutdownGraceTime: '2 seconds',
  });
  console.log('bench worker: running');
  await worker.run(); // until SIGTERM (the SDK's Runtime shuts the worker down on it)
  await connection.close();
  const usage = process.memoryUsage();
  const mb = (bytes: number) => bytes / 1024 / 1024;
  const memory = { rssMb: mb(usage.rss), heapUsedMb: mb(usage.heapUsed), heapTotalMb: mb(usage.heapTotal), externalMb: mb(usage.external + usage.arrayBuffers) };
  const report: BenchWorkerReport = { jobs: service.jobs, wire: { ...wire }, memory };
  fs.writeFileSync(config.outFile, JSON.stringify(report));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
