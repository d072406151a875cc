// Per test file: the real local service (relief backend), a real worker with the real workflows and
// activities, and a Temporal client, all against the run's dev server (see global-setup.ts).
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { startLocalService, type LocalService } from '@trellis/devstack';
import { TrellisClient, type CallOptions } from '@trellis/trellis-client';
import { createTrellisWorker, workflowsPath } from '@trellis/worker';
import { inject } from 'vitest';

/** The real client, counting the GPU work it submits (what a re-run must not repeat). */
export class CountingTrellisClient extends TrellisClient {
  generateSubmits = 0;
  extractSubmits = 0;

  override submitGenerate(...args: Parameters<TrellisClient['submitGenerate']>) {
    this.generateSubmits += 1;
    return super.submitGenerate(...args);
  }

  /** The presets each multi-preset extract submit asked for, in order. */
  extractPresetSets: string[][] = [];

  override submitExtractGlb(...args: Parameters<TrellisClient['submitExtractGlb']>) {
    this.extractSubmits += 1;
    return super.submitExtractGlb(...args);
  }

  override submitExtractGlbPresets(...args: Parameters<TrellisClient['submitExtractGlbPresets']>) {
    this.extractSubmits += 1;
    this.extractPresetSets.push(args[0].presets.map((preset) => preset.name));
    return super.submitExtractGlbPresets(...args);
  }
}

export interface ConversionStack {
  client: Client;
  service: LocalService;
  trellis: CountingTrellisClient;
  workflowBundle: WorkflowBundleWithSourceMap;
  taskQueue: string;
  workDir: string;
  /** Stops the worker (as a killed worker process would leave its workflows: nothing runs them). */
  stopWorker(): Promise<void>;
  /** A new worker on the same task queue: picks up every workflow where it stopped. */
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

export async function startConversionStack(name: string, options: { latencyScale?: number } = {}): Promise<ConversionStack> {
  const workDir = fs.mkdtempSync(path.join(inject('workDir'), `${name}-`));
  const service = await startLocalService({ workDir, latencyScale: options.latencyScale });
  const trellis = new CountingTrellisClient({ baseUrl: service.url, credentials: service.credentials });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: silentLogger });
  const workerConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const taskQueue = `trellis-${name}`;
  const newWorker = (): Promise<Worker> =>
    createTrellisWorker({
      connection: workerConnection,
      namespace: inject('temporalNamespace'),
      service: trellis,
      taskQueue,
      workflowBundle,
      pollIntervalMs: 100,
      shutdownGraceTime: '2 seconds',
    });
  let worker: Worker | undefined = await newWorker();
  let running = worker.run();
  const stopWorker = async () => {
    worker?.shutdown();
    worker = undefined;
    await running;
  };
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  const client = new Client({ connection, namespace: inject('temporalNamespace') });
  return {
    client,
    service,
    trellis,
    workflowBundle,
    taskQueue,
    workDir,
    stopWorker,
    async startWorker() {
      await stopWorker();
      worker = await newWorker();
      running = worker.run();
    },
    async stop() {
      await stopWorker();
      await workerConnection.close();
      await connection.close();
      await service.stop();
    },
  };
}

export type { CallOptions };
