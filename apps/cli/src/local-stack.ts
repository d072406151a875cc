// The embedded default: a Temporal dev server (with Web UI), the local TRELLIS.2 service on CPU, and a
// worker in this process. Used by `trellis dev` and `npm run demo`; everything stops with stop() or
// with this process (the dev server and service run under a watchdog).
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { Runtime, type Worker } from '@temporalio/worker';
import {
  getFreePort,
  startDevServer,
  startLocalService,
  userCacheDir,
  type DevServer,
  type LocalService,
} from '@trellis/devstack';
import { connectClient, connectWorker, localTemporalSettings } from '@trellis/temporal-connection';
import { TrellisClient } from '@trellis/trellis-client';
import { createFinishWorker, createTrellisWorker, trellisWorkerLogger } from '@trellis/workers';

export interface LocalStack {
  temporal: DevServer;
  service: LocalService;
  client: Client;
  worker: Worker;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Logs, the dev server's SQLite history (kept between runs for the Web UI), the service's store. */
  workDir?: string;
  temporalPort?: number;
  uiPort?: number;
  servicePort?: number;
  say?: (message: string) => void;
}

/** Kept between runs so the Web UI still shows earlier catalogs; TRELLIS_LOCAL_STACK_DIR moves it. */
export const defaultLocalStackDir = process.env.TRELLIS_LOCAL_STACK_DIR ?? path.join(userCacheDir, 'local-stack');

/** The usual port when it is free, else any free port (a second stack must not fail to start). */
async function preferredPort(port: number): Promise<number> {
  const net = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  return free ? port : getFreePort();
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  // The progress line is the interface here; the SDK's own chatter only at WARN and above.
  // Expected asset failures as one line each (SKU, code, message), not a stack trace through the bar.
  Runtime.install({ logger: trellisWorkerLogger('WARN') });
  const workDir = options.workDir ?? defaultLocalStackDir;
  const say = options.say ?? (() => undefined);
  say('starting the Temporal dev server ...');
  const temporal = await startDevServer({
    workDir,
    port: options.temporalPort ?? (await preferredPort(7233)),
    ui: true,
    uiPort: options.uiPort ?? (await preferredPort(8233)),
    dbFilename: path.join(workDir, 'temporal.db'),
  });
  const cleanups: Array<() => Promise<unknown>> = [() => temporal.stop()];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    say('starting the local TRELLIS.2 service (CPU relief backend) ...');
    const service = await startLocalService({
      workDir,
      port: options.servicePort ?? (await preferredPort(8787)),
      storeDir: path.join(workDir, 'service-store'),
    });
    cleanups.push(() => service.stop());
    const trellis = new TrellisClient({ baseUrl: service.url, credentials: service.credentials });
    const workerConnection = await connectWorker(localTemporalSettings(temporal.address, temporal.namespace));
    cleanups.push(() => workerConnection.close());
    say('starting a worker (bundling workflows) ...');
    const worker = await createTrellisWorker({
      connection: workerConnection,
      namespace: temporal.namespace,
      service: trellis,
      pollIntervalMs: 250,
      shutdownGraceTime: '5 seconds',
    });
    const running = worker.run();
    cleanups.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    // The finishing worker (channel files, `--channels`) on its own task queue, in this process: a
    // local stack converts a catalog or two, not a 10,000-row run against the 300 MB worker budget.
    const finishWorker = await createFinishWorker({ connection: workerConnection, namespace: temporal.namespace, shutdownGraceTime: '5 seconds' });
    const finishing = finishWorker.run();
    cleanups.push(async () => {
      if (finishWorker.getState() === 'RUNNING') finishWorker.shutdown();
      await finishing;
    });
    const client = await connectClient(localTemporalSettings(temporal.address, temporal.namespace));
    cleanups.push(() => client.connection.close());
    return { temporal, service, client, worker, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
