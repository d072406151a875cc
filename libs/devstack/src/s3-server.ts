// An S3-compatible server for tests and `trellis dev`: Versity's S3 gateway (versitygw) with its posix
// backend over a temp folder, on a loopback port, with fresh root credentials. Built once by set-up
// (`go install`, like the Temporal CLI), never downloaded at test time.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getFreePort, LocalStackError, spawnGuarded, waitUntilReady, type ManagedProcess } from './managed-process';
import { userCacheDir } from './paths';

export const VERSITYGW_VERSION = 'v1.8.0';
export const VERSITYGW_GO_PACKAGE = `github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`;
export const versitygwBuildDir = path.join(userCacheDir, `versitygw-${VERSITYGW_VERSION}`);

/** The versitygw binary on this machine (VERSITYGW, else set-up's build), or undefined. Looks, never builds. */
export function findVersitygw(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidate = env.VERSITYGW ?? path.join(versitygwBuildDir, 'versitygw');
  try {
    fs.accessSync(candidate, fs.constants.X_OK);
    return fs.statSync(candidate).isFile() ? candidate : undefined;
  } catch {
    if (env.VERSITYGW) throw new LocalStackError(`VERSITYGW=${env.VERSITYGW} is not an executable file. Point it at a versitygw binary, or unset it.`);
    return undefined;
  }
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3ServerOptions {
  /** Where the log and (unless dataDir is given) the posix backend's folder go. */
  workDir: string;
  port?: number;
  dataDir?: string;
  /** Created at start-up (an empty folder under the backend's root). */
  buckets?: string[];
  credentials?: S3Credentials;
  startTimeoutMs?: number;
}

export interface S3Server {
  /** http://127.0.0.1:<port>: the value for AWS_ENDPOINT_URL_S3. */
  endpoint: string;
  region: string;
  credentials: S3Credentials;
  /** The posix backend's root: bucket `b`, key `k` is the file `<dataDir>/b/k`. */
  dataDir: string;
  process: ManagedProcess;
  /** The standard AWS variables a client (worker, CLI, dashboard) needs to use this server. */
  env(): Record<string, string>;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';

/**
 * Starts versitygw on 127.0.0.1 with root credentials (passed in its environment, never its command line)
 * and the given buckets. A bucket of the posix backend is a top-level folder, so buckets are made as folders
 * before start-up: no S3 client is needed to create them.
 */
export async function startS3Server(options: S3ServerOptions): Promise<S3Server> {
  const binary = findVersitygw();
  if (!binary) {
    throw new LocalStackError('versitygw (the S3-compatible test server) is not set up. Run `node scripts/setup.mjs --tests` (what `npm test` runs; builds it with Go, once), or set VERSITYGW to a versitygw binary.');
  }
  const port = options.port ?? (await getFreePort());
  const dataDir = options.dataDir ?? path.join(options.workDir, `s3-data-${port}`);
  fs.mkdirSync(dataDir, { recursive: true });
  for (const bucket of options.buckets ?? []) fs.mkdirSync(path.join(dataDir, bucket), { recursive: true });
  const credentials = options.credentials ?? {
    accessKeyId: `vgw${randomBytes(8).toString('hex')}`,
    secretAccessKey: randomBytes(24).toString('hex'),
  };
  const serverProcess = spawnGuarded(binary, ['--port', `127.0.0.1:${port}`, '--region', REGION, '--quiet', 'posix', dataDir], {
    logFile: path.join(options.workDir, `s3-${port}.log`),
    env: { ...process.env, ROOT_ACCESS_KEY_ID: credentials.accessKeyId, ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  // Any HTTP answer (an anonymous request is refused with 403) means the gateway is serving.
  await waitUntilReady(
    `versitygw (${binary})`,
    serverProcess,
    async () => (await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) })).status > 0,
    options.startTimeoutMs ?? 30_000,
  );
  return {
    endpoint,
    region: REGION,
    credentials,
    dataDir,
    process: serverProcess,
    env: () => ({
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    }),
    stop: () => serverProcess.stop(),
  };
}
