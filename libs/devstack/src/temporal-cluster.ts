// A throw-away self-hosted Temporal cluster as docker-compose.temporal.yml describes it, without Docker:
// Debian's PostgreSQL in a temp folder, the schemas made by the compose file's own `temporal-schema`
// script, the server binary of the pinned version run with the server image's config template and the
// compose file's environment, then the compose file's own `temporal-setup` script (namespace and search
// attributes). Only ports, hosts and paths are translated; everything else is read from the compose file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { readComposeTopology, rewriteComposeScript, type ComposeTopology } from './compose-topology';
import { getFreePort, LocalStackError, spawnGuarded, tailOfLog, waitUntilReady, type ManagedProcess } from './managed-process';
import { requireTemporalCli } from './temporal-cli';
import { findPostgresBinDir, requireTemporalServerBuild, type TemporalServerBuild } from './temporal-server-build';

export interface TemporalClusterOptions {
  /** Logs, the rendered scripts and the tools' PATH folder go here. */
  workDir: string;
  /** The compose file's ${TEMPORAL_NAMESPACE:-default}. */
  namespace?: string;
  startTimeoutMs?: number;
}

export interface TemporalCluster {
  /** Frontend gRPC, host:port on loopback. */
  address: string;
  namespace: string;
  postgres: { port: number; dataDir: string; process: ManagedProcess };
  server(): ManagedProcess;
  /** Stops the server (SIGTERM, or SIGKILL as `kill -9` when crash is true) and starts it again on the same ports and database. */
  restartServer(options?: { crash?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Temporal stores each service's membership port in PostgreSQL as a smallint, so those ports must be
 * below 32768; the kernel's ephemeral range (what port 0 hands out) is above it. Picked at random from a
 * range below, and checked free.
 */
export async function getFreePortBelow32768(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new LocalStackError('no free TCP port found below 32768 for the Temporal membership ports');
}

/** initdb and postgres refuse to run as root; as root they run as Debian's `postgres` account. */
function postgresAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new LocalStackError('Running as root, PostgreSQL needs the `postgres` account (Debian\'s postgresql package creates it): apt-get install postgresql');
  }
}

function asAccount(account: { uid: number; gid: number } | undefined, command: string, args: string[]): [string, string[]] {
  return account ? ['setpriv', [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', command, ...args]] : [command, args];
}

async function runToCompletion(what: string, command: string, args: string[], options: { logFile: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<void> {
  const child = spawnGuarded(command, args, { logFile: options.logFile, env: options.env });
  const timer = setTimeout(() => void child.stop(), options.timeoutMs);
  const code = await child.exited.finally(() => clearTimeout(timer));
  if (code !== 0) throw new LocalStackError(`${what} failed (exit ${code}). Log ${options.logFile}:\n${tailOfLog(options.logFile)}`);
}

interface Postgres {
  port: number;
  dir: string;
  dataDir: string;
  process: ManagedProcess;
}

async function startPostgres(workDir: string, topology: ComposeTopology, timeoutMs: number): Promise<Postgres> {
  const binDir = findPostgresBinDir();
  if (!binDir) throw new LocalStackError('PostgreSQL is not installed (/usr/lib/postgresql/*/bin). Run `node scripts/setup.mjs --tests`, or apt-get install postgresql.');
  const user = topology.postgresEnv.POSTGRES_USER ?? 'postgres';
  const password = topology.postgresEnv.POSTGRES_PASSWORD ?? '';
  const account = postgresAccount();
  // Its own folder under the system temp dir (not workDir, whose parents may be closed to the postgres
  // account): data, the unix socket and the password file, owned by whoever runs the server.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-postgres-'));
  const dataDir = path.join(dir, 'data');
  const passwordFile = path.join(dir, 'password');
  fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (account) for (const file of [dir, passwordFile]) fs.chownSync(file, account.uid, account.gid);
  const [initdb, initdbArgs] = asAccount(account, path.join(binDir, 'initdb'), [
    '--pgdata', dataDir,
    '--username', user,
    '--pwfile', passwordFile,
    '--auth-local', 'trust',
    // As the postgres image does for connections over TCP (the compose file's servers connect so).
    '--auth-host', 'scram-sha-256',
    '--encoding', 'UTF8',
    '--no-sync',
  ]);
  await runToCompletion('initdb', initdb, initdbArgs, { logFile: path.join(workDir, 'postgres-initdb.log'), timeoutMs });
  const port = await getFreePort();
  const [postgres, postgresArgs] = asAccount(account, path.join(binDir, 'postgres'), [
    '-D', dataDir,
    '-p', String(port),
    '-k', dir,
    '-c', 'listen_addresses=127.0.0.1',
    // A throw-away database: durability against a machine crash is not what the tests exercise (the
    // Temporal server is killed, PostgreSQL never is), and fsync on a shared CI disk costs seconds.
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
  ]);
  const process_ = spawnGuarded(postgres, postgresArgs, { logFile: path.join(workDir, 'postgres.log') });
  // The compose file's health check: pg_isready as the temporal user.
  await waitUntilReady(
    'PostgreSQL',
    process_,
    async () => {
      try {
        execFileSync(path.join(binDir, 'pg_isready'), ['-h', dir, '-p', String(port), '-U', user, '-d', 'postgres'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    },
    timeoutMs,
  );
  return { port, dir, dataDir, process: process_ };
}

/** A folder of links named as the compose images name the tools, put first on the scripts' PATH. */
function toolsPath(workDir: string, build: TemporalServerBuild): string {
  const bin = path.join(workDir, 'tools-bin');
  fs.mkdirSync(bin, { recursive: true });
  const links = { 'temporal-sql-tool': build.sqlTool, temporal: requireTemporalCli().path };
  for (const [name, target] of Object.entries(links)) {
    fs.rmSync(path.join(bin, name), { force: true });
    fs.symlinkSync(target, path.join(bin, name));
  }
  return `${bin}${path.delimiter}${process.env.PATH ?? ''}`;
}

/** The compose file's `temporal-schema` script, against this PostgreSQL and the module's schema files. */
async function createSchemas(workDir: string, topology: ComposeTopology, postgres: Postgres, build: TemporalServerBuild, toolPath: string, timeoutMs: number): Promise<void> {
  const service = 'temporal-schema';
  let script = topology.schemaScript;
  script = rewriteComposeScript(script, service, `--ep ${topology.schemaEnv.POSTGRES_SEEDS}`, '--ep 127.0.0.1');
  script = rewriteComposeScript(script, service, `-p ${topology.schemaEnv.DB_PORT}`, `-p ${postgres.port}`);
  script = rewriteComposeScript(script, service, '/etc/temporal/schema', build.schemaDir);
  // Kept beside its log: what ran, for whoever reads a failure.
  fs.writeFileSync(path.join(workDir, 'temporal-schema.sh'), script);
  await runToCompletion('the compose file\'s temporal-schema script', 'sh', ['-c', script], {
    logFile: path.join(workDir, 'temporal-schema.log'),
    env: { ...topology.schemaEnv, PATH: toolPath, HOME: workDir },
    timeoutMs,
  });
}

interface ServerPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  frontendMembership: number;
  historyMembership: number;
  matchingMembership: number;
  workerMembership: number;
}

async function freeServerPorts(): Promise<ServerPorts> {
  const distinct = new Set<number>();
  const take = async (pick: () => Promise<number>) => {
    for (;;) {
      const port = await pick();
      if (!distinct.has(port)) {
        distinct.add(port);
        return port;
      }
    }
  };
  return {
    frontend: await take(getFreePort),
    frontendHttp: await take(getFreePort),
    history: await take(getFreePort),
    matching: await take(getFreePort),
    worker: await take(getFreePort),
    frontendMembership: await take(getFreePortBelow32768),
    historyMembership: await take(getFreePortBelow32768),
    matchingMembership: await take(getFreePortBelow32768),
    workerMembership: await take(getFreePortBelow32768),
  };
}

/**
 * The `temporal` service's environment from the compose file, with what a container gets from its
 * network translated to loopback: the database host and port, bind address and free ports. The
 * template's visibility store reads its port from POSTGRES_PORT or VISIBILITY_DB_PORT (not DB_PORT;
 * the compose file's 5432 is the template's default), so it is set too. Metrics and pprof stay off
 * (the template's defaults when PROMETHEUS_ENDPOINT and PPROF_PORT are unset).
 */
function serverEnvironment(topology: ComposeTopology, postgres: Postgres, build: TemporalServerBuild, ports: ServerPorts): NodeJS.ProcessEnv {
  return {
    ...topology.serverEnv,
    PATH: process.env.PATH,
    POSTGRES_SEEDS: '127.0.0.1',
    DB_PORT: String(postgres.port),
    VISIBILITY_DB_PORT: String(postgres.port),
    BIND_ON_IP: '127.0.0.1',
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    FRONTEND_GRPC_PORT: String(ports.frontend),
    FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    HISTORY_GRPC_PORT: String(ports.history),
    MATCHING_GRPC_PORT: String(ports.matching),
    WORKER_GRPC_PORT: String(ports.worker),
    FRONTEND_MEMBERSHIP_PORT: String(ports.frontendMembership),
    HISTORY_MEMBERSHIP_PORT: String(ports.historyMembership),
    MATCHING_MEMBERSHIP_PORT: String(ports.matchingMembership),
    WORKER_MEMBERSHIP_PORT: String(ports.workerMembership),
    // The image's default (/etc/temporal/config/dynamicconfig/docker.yaml): the compose file sets none.
    DYNAMIC_CONFIG_FILE_PATH: path.join(build.root, 'config', 'dynamicconfig', 'docker.yaml'),
    LOG_LEVEL: 'warn',
  };
}

async function probe<T>(address: string, call: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    return await call(connection);
  } finally {
    await connection.close();
  }
}

/** Starts the cluster; resolves once the namespace takes workflows and knows the search attributes. */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const namespace = options.namespace ?? 'default';
  const { workDir } = options;
  fs.mkdirSync(workDir, { recursive: true });
  const build = requireTemporalServerBuild();
  const topology = readComposeTopology({ TEMPORAL_NAMESPACE: namespace });
  const toolPath = toolsPath(workDir, build);
  const postgres = await startPostgres(workDir, topology, timeoutMs);
  let server: ManagedProcess | undefined;
  try {
    await createSchemas(workDir, topology, postgres, build, toolPath, timeoutMs);
    const ports = await freeServerPorts();
    const address = `127.0.0.1:${ports.frontend}`;
    const env = serverEnvironment(topology, postgres, build, ports);
    let starts = 0;
    const startServer = async (ready: () => Promise<boolean>) => {
      starts += 1;
      const started = spawnGuarded(build.server, ['--root', build.root, '--config', 'config', '--env', 'docker', 'start'], {
        logFile: path.join(workDir, `temporal-server-${starts}.log`),
        env,
      });
      server = started;
      await waitUntilReady(`Temporal server ${build.version} (${build.server})`, started, ready, timeoutMs);
    };
    // The compose file's health check is a TCP connect; the frontend answering is the same, a bit later.
    await startServer(() => probe(address, async (connection) => Boolean(await connection.workflowService.getSystemInfo({}))));

    // The script as it is: it reaches the server through TEMPORAL_ADDRESS, which is all there is to translate.
    await runToCompletion('the compose file\'s temporal-setup script', 'sh', ['-c', topology.setupScript], {
      logFile: path.join(workDir, 'temporal-setup.log'),
      env: { ...topology.setupEnv, TEMPORAL_ADDRESS: address, PATH: toolPath, HOME: workDir },
      timeoutMs,
    });
    // A new namespace and search attributes reach the frontend's caches a few seconds after they are
    // made: ready when a visibility query by one of the attributes is accepted.
    const namespaceReady = () =>
      probe(address, async (connection) => {
        await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1, query: 'TrellisCatalogId = "ready-probe"' });
        return true;
      });
    const deadline = Date.now() + timeoutMs;
    while (!(await namespaceReady().catch(() => false))) {
      if (Date.now() > deadline) throw new LocalStackError(`namespace ${namespace} not usable ${timeoutMs / 1000}s after temporal-setup. Log ${server!.logFile}:\n${tailOfLog(server!.logFile)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    return {
      address,
      namespace,
      postgres: { port: postgres.port, dataDir: postgres.dataDir, process: postgres.process },
      server: () => server!,
      async restartServer({ crash = false } = {}) {
        await (crash ? server!.crash() : server!.stop());
        await startServer(namespaceReady);
      },
      async stop() {
        await server?.stop();
        await postgres.process.stop();
        fs.rmSync(postgres.dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.stop();
    await postgres.process.stop();
    fs.rmSync(postgres.dir, { recursive: true, force: true });
    throw error;
  }
}
