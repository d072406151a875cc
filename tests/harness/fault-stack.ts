// A stack whose every part can be broken the way production breaks: a Temporal dev server of its own
// (restartable on the same database), the local service with injected network faults, and the real
// worker (`npm run worker`'s entry) as a separate process that can be killed with SIGKILL mid-catalog.
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import {
  getFreePort,
  repoRoot,
  spawnGuarded,
  startDevServer,
  startLocalService,
  waitUntilReady,
  type DevServer,
  type LocalService,
  type ManagedProcess,
} from '@trellis/devstack';
import { WORKER_MEMORY_ENV, WORKER_NODE_FLAGS } from '@trellis/worker';
import { connectClient, localTemporalSettings } from '@trellis/temporal-connection';
import { workflowsPath } from '@trellis/workers';
import { inject } from 'vitest';

const workerEntry = path.join(repoRoot, 'apps', 'worker', 'src', 'main.ts');
const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

export interface FaultStackOptions {
  /** Fault mix for the service from the start, e.g. `503=0.2,reset=0.05`; see gpu-modal's faults. */
  faults?: string;
  faultSeed?: number;
  gpuWorkers?: number;
  latencyScale?: number;
  /** `wait`: GPU work is pure waiting (files made once), so the suite measures orchestration, not CPU. */
  backend?: 'relief' | 'wait';
}

export class FaultStack {
  private constructor(
    readonly workDir: string,
    readonly taskQueue: string,
    private readonly bundlePath: string,
    private readonly temporalPort: number,
    private temporal: DevServer,
    readonly service: LocalService,
    public client: Client,
  ) {}

  private worker: ManagedProcess | undefined;
  private workerStarts = 0;

  static async start(name: string, options: FaultStackOptions = {}): Promise<FaultStack> {
    const workDir = fs.mkdtempSync(path.join(inject('workDir'), `${name}-`));
    const bundlePath = path.join(workDir, 'workflow-bundle.js');
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: silentLogger });
    fs.writeFileSync(bundlePath, bundle.code);
    const temporalPort = await getFreePort();
    const temporal = await startDevServer({ workDir, port: temporalPort, dbFilename: path.join(workDir, 'temporal.db') });
    const service = await startLocalService({
      workDir,
      gpuWorkers: options.gpuWorkers,
      latencyScale: options.latencyScale,
      backend: options.backend,
      ...(options.faults ? { faults: { spec: options.faults, seed: options.faultSeed ?? 1 } } : {}),
    });
    const client = await connectClient(localTemporalSettings(temporal.address, temporal.namespace));
    const stack = new FaultStack(workDir, `faults-${name}`, bundlePath, temporalPort, temporal, service, client);
    await stack.startWorker();
    return stack;
  }

  /** The real worker entry in a process of its own, configured only through its environment. */
  async startWorker(): Promise<void> {
    this.workerStarts += 1;
    const logFile = path.join(this.workDir, `worker-${this.workerStarts}.log`);
    const worker = spawnGuarded(process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', workerEntry], {
      logFile,
      cwd: repoRoot,
      env: {
        ...WORKER_MEMORY_ENV,
        ...process.env,
        TEMPORAL_ADDRESS: this.temporal.address,
        TEMPORAL_NAMESPACE: this.temporal.namespace,
        TRELLIS_TASK_QUEUE: this.taskQueue,
        TRELLIS_WORKFLOW_BUNDLE: this.bundlePath,
        TRELLIS_POLL_INTERVAL_MS: '500',
        TRELLIS2_API_URL: this.service.url,
        TRELLIS2_MODAL_KEY: this.service.credentials.modalKey,
        TRELLIS2_MODAL_SECRET: this.service.credentials.modalSecret,
      },
    });
    this.worker = worker;
    await waitUntilReady(
      'worker',
      worker,
      async () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('worker: polling task queue'),
      60_000,
    );
  }

  /** kill -9 of the worker: running activities are noticed dead by their heartbeat timeout. */
  async crashWorker(): Promise<void> {
    await this.worker?.crash();
  }

  /** kill -9 of the dev server, then a new one on the same port and database. */
  async crashAndRestartTemporal(): Promise<void> {
    await this.temporal.process.crash();
    this.temporal = await startDevServer({
      workDir: this.workDir,
      port: this.temporalPort,
      dbFilename: path.join(this.workDir, 'temporal.db'),
    });
    await this.client.connection.close().catch(() => undefined);
    this.client = await connectClient(localTemporalSettings(this.temporal.address, this.temporal.namespace));
  }

  /** Lines of every worker log so far: what a user would read. */
  workerLogs(): string {
    return fs
      .readdirSync(this.workDir)
      .filter((name) => name.startsWith('worker-') && name.endsWith('.log'))
      .map((name) => fs.readFileSync(path.join(this.workDir, name), 'utf8'))
      .join('\n');
  }

  async stop(): Promise<void> {
    await this.worker?.stop();
    await this.client.connection.close().catch(() => undefined);
    await this.service.stop();
    await this.temporal.stop();
  }
}
