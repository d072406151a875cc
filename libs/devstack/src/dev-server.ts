import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeDefinitions } from '@trellis/contracts';
import { getFreePort, spawnGuarded, waitUntilReady, type ManagedProcess } from './managed-process';
import { requireTemporalCli } from './temporal-cli';

export interface DevServerOptions {
  /** Where logs (and the SQLite db, unless dbFilename is given) go. */
  workDir: string;
  port?: number;
  /** Serve the Web UI (on uiPort, or a free port). Tests run headless. */
  ui?: boolean;
  uiPort?: number;
  /** Persist to this SQLite file; default: a throw-away file in workDir. */
  dbFilename?: string;
  namespace?: string;
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | undefined;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` on loopback with the project's search attributes registered. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = requireTemporalCli();
  const namespace = options.namespace ?? 'default';
  const port = options.port ?? (await getFreePort());
  const uiPort = options.ui ? (options.uiPort ?? (await getFreePort())) : undefined;
  const dbFilename = options.dbFilename ?? path.join(options.workDir, `temporal-${port}.db`);
  const args = [
    'server',
    'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--db-filename', dbFilename,
    '--namespace', namespace,
    '--log-level', 'warn',
    ...searchAttributeDefinitions.flatMap(({ name, type }) => ['--search-attribute', `${name}=${type}`]),
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1']),
  ];
  const serverProcess = spawnGuarded(cli.path, args, { logFile: path.join(options.workDir, `temporal-${port}.log`) });
  const address = `127.0.0.1:${port}`;
  await waitUntilReady(
    `Temporal dev server (${cli.path})`,
    serverProcess,
    async () => {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return true;
      } finally {
        await connection.close();
      }
    },
    options.startTimeoutMs ?? 60_000,
  );
  return {
    address,
    namespace,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    process: serverProcess,
    stop: () => serverProcess.stop(),
  };
}
