// The production topology on one machine: the self-hosted Temporal cluster of docker-compose.temporal.yml
// (PostgreSQL-backed, see @trellis/devstack's temporal-cluster), an S3-compatible server (versitygw) with
// one bucket, the local service, and N workers, each
// `npm run worker`'s entry in a process of its own whose cwd, HOME and TMPDIR are an empty folder of its
// own, configured only through its environment (nothing inherited from this process but PATH): what N
// machines sharing no disk would be.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import {
  repoRoot,
  spawnGuarded,
  startLocalService,
  startS3Server,
  startTemporalCluster,
  waitUntilReady,
  type LocalService,
  type ManagedProcess,
  type S3Server,
  type TemporalCluster,
} from '@trellis/devstack';
import { WORKER_MEMORY_ENV, WORKER_NODE_FLAGS } from '@trellis/worker';
import { workflowsPath } from '@trellis/workers';
import { inject } from 'vitest';

const workerEntry = path.join(repoRoot, 'apps', 'worker', 'src', 'main.ts');
/** tsx by file URL: a bare `--import tsx` would be resolved from the worker's empty cwd. */
const tsxLoader = pathToFileURL(path.join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

export interface ClusterStackOptions {
  workers: number;
  gpuWorkers?: number;
  latencyScale?: number;
  backend?: 'relief' | 'wait';
  /** The bucket made on the S3 server at start-up. */
  bucket: string;
}

export interface ClusterWorker {
  name: string;
  /** Its cwd, HOME and TMPDIR; nothing else of the machine is given to it. */
  dir: string;
  process: ManagedProcess;
}

export class ClusterStack {
  private constructor(
    readonly workDir: string,
    readonly taskQueue: string,
    readonly cluster: TemporalCluster,
    readonly s3: S3Server,
    readonly service: LocalService,
    readonly workers: ClusterWorker[],
    private connection: Connection,
    public client: Client,
  ) {}

  static async start(name: string, options: ClusterStackOptions): Promise<ClusterStack> {
    const workDir = fs.mkdtempSync(path.join(inject('workDir'), `${name}-`));
    const taskQueue = `cluster-${name}`;
    const cluster = await startTemporalCluster({ workDir: path.join(workDir, 'cluster'), namespace: `trellis-${name}` });
    let s3: S3Server | undefined;
    let service: LocalService | undefined;
    const workers: ClusterWorker[] = [];
    try {
      s3 = await startS3Server({ workDir, buckets: [options.bucket] });
      service = await startLocalService({
        workDir,
        gpuWorkers: options.gpuWorkers,
        latencyScale: options.latencyScale,
        backend: options.backend,
      });
      const bundle = (await bundleWorkflowCode({ workflowsPath, logger: silentLogger })).code;
      const connection = await Connection.connect({ address: cluster.address });
      const client = new Client({ connection, namespace: cluster.namespace });
      const stack = new ClusterStack(workDir, taskQueue, cluster, s3, service, workers, connection, client);
      // One at a time: three cold tsx starts at once on a 2-core machine only make each slower.
      for (let index = 1; index <= options.workers; index += 1) {
        workers.push(await stack.startWorker(`worker-${index}`, bundle));
      }
      return stack;
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.process.stop()));
      await service?.stop();
      await s3?.stop();
      await cluster.stop();
      throw error;
    }
  }

  private async startWorker(name: string, bundle: string): Promise<ClusterWorker> {
    const dir = path.join(this.workDir, name);
    fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    // Its own copy of the workflow bundle (what a machine's image would carry), in its own folder.
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    fs.writeFileSync(bundlePath, bundle);
    const logFile = path.join(this.workDir, `${name}.log`);
    const worker = spawnGuarded(process.execPath, [...WORKER_NODE_FLAGS, '--import', tsxLoader, workerEntry], {
      logFile,
      cwd: dir,
      env: {
        ...WORKER_MEMORY_ENV,
        PATH: process.env.PATH,
        HOME: dir,
        TMPDIR: path.join(dir, 'tmp'),
        TEMPORAL_ADDRESS: this.cluster.address,
        TEMPORAL_NAMESPACE: this.cluster.namespace,
        TRELLIS_TASK_QUEUE: this.taskQueue,
        TRELLIS_WORKFLOW_BUNDLE: bundlePath,
        TRELLIS_POLL_INTERVAL_MS: '500',
        TRELLIS2_API_URL: this.service.url,
        TRELLIS2_MODAL_KEY: this.service.credentials.modalKey,
        TRELLIS2_MODAL_SECRET: this.service.credentials.modalSecret,
        // The standard AWS chain's variables: endpoint, region and credentials of the S3 server.
        ...this.s3.env(),
      },
    });
    await waitUntilReady(
      name,
      worker,
      async () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('worker: polling task queue'),
      120_000,
    );
    return { name, dir, process: worker };
  }

  /**
   * The Temporal identities of a worker's processes, the SDK's default `<pid>@<hostname>`: the worker and its
   * finishing child (both below the watchdog that started them). Read from /proc at the time of the call.
   */
  identitiesOf(index: number): Set<string> {
    const pids: number[] = [];
    const walk = (pid: number) => {
      let children: number[] = [];
      try {
        children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        // gone
      }
      for (const child of children) {
        pids.push(child);
        walk(child);
      }
    };
    walk(this.workers[index]!.process.pid);
    return new Set(pids.map((pid) => `${pid}@${os.hostname()}`));
  }

  /** kill -9 of one worker (and its finishing child): its running activities are found dead by their timeouts. */
  async crashWorker(index: number): Promise<void> {
    await this.workers[index]!.process.crash();
  }

  /** kill -9 of the Temporal server, then the same binary again on the same ports and PostgreSQL. */
  async crashAndRestartTemporal(): Promise<void> {
    await this.cluster.restartServer({ crash: true });
    await this.connection.close().catch(() => undefined);
    this.connection = await Connection.connect({ address: this.cluster.address });
    this.client = new Client({ connection: this.connection, namespace: this.cluster.namespace });
  }

  workerLog(index: number): string {
    return fs.readFileSync(this.workers[index]!.process.logFile, 'utf8');
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.process.stop()));
    await this.connection.close().catch(() => undefined);
    await this.service.stop();
    await this.s3.stop();
    await this.cluster.stop();
  }
}
