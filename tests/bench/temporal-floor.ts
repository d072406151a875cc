// The baseline under the overhead figures: workflows of the same step shape as an asset but with activities
// that do nothing, run at the same concurrency on the same dev server and machine. Their start → close time
// is what Temporal's steps cost here; an asset's overhead cannot go below its shape's floor.
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import type { DevServer } from '@trellis/devstack';
import { eventSeconds, percentile } from './measure';

const floorWorkflowsPath = fileURLToPath(new URL('./floor-workflows.ts', import.meta.url));

export interface FloorFigures {
  workflow: 'oneStep' | 'assetShaped';
  workflows: number;
  concurrency: number;
  /** Start → close of each workflow, from its history. */
  closeMs: { p50: number; p95: number };
  /** Workflows completed per second at that concurrency. */
  perSecond: number;
}

export async function measureTemporalFloor(options: {
  temporal: DevServer;
  client: Client;
  workflows: number;
  concurrency: number;
  log(message: string): void;
}): Promise<FloorFigures[]> {
  const { temporal, client } = options;
  const taskQueue = 'bench-floor';
  const connection = await NativeConnection.connect({ address: temporal.address });
  const bundle = await bundleWorkflowCode({ workflowsPath: floorWorkflowsPath, logger: quietLogger });
  const worker = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue,
    workflowBundle: bundle,
    activities: { nothing: async () => undefined },
  });
  const figures: FloorFigures[] = [];
  try {
    await worker.runUntil(async () => {
      for (const workflow of ['oneStep', 'assetShaped'] as const) {
        const ids: string[] = [];
        let next = 0;
        const started = performance.now();
        // A window of `concurrency` workflows, as the catalog keeps its assets.
        const lane = async () => {
          while (next < options.workflows) {
            const id = `floor-${workflow}-${next++}`;
            ids.push(id);
            await client.workflow.execute(workflow, { taskQueue, workflowId: id, args: [] });
          }
        };
        await Promise.all(Array.from({ length: options.concurrency }, lane));
        const seconds = (performance.now() - started) / 1000;
        const closes: number[] = [];
        for (const id of ids) {
          const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
          closes.push((eventSeconds(events[events.length - 1]!) - eventSeconds(events[0]!)) * 1000);
        }
        const figure = {
          workflow,
          workflows: ids.length,
          concurrency: options.concurrency,
          closeMs: { p50: percentile(closes, 50), p95: percentile(closes, 95) },
          perSecond: ids.length / seconds,
        };
        options.log(`floor ${workflow}: p50 ${figure.closeMs.p50.toFixed(0)} ms, ${figure.perSecond.toFixed(1)}/s at concurrency ${options.concurrency}`);
        figures.push(figure);
      }
    });
  } finally {
    await connection.close();
  }
  return figures;
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
