import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getFreePort, spawnGuarded, waitUntilReady, type ManagedProcess } from './managed-process';
import { gpuModalDir, venvPython } from './paths';

export interface ServiceCredentials {
  modalKey: string;
  modalSecret: string;
}

export interface LocalServiceOptions {
  /** Where the log and (unless storeDir is given) the state/job store go. */
  workDir: string;
  port?: number;
  storeDir?: string;
  /** Default: fresh random credentials for this run. */
  credentials?: ServiceCredentials;
  /** Default 'relief'; 'wait' answers with files made once at start-up, so calls cost no CPU (benchmarks). */
  backend?: 'relief' | 'wait';
  /** Make the CPU backend take as long as an A100 would, times this factor (benchmarks). */
  latencyScale?: number;
  /** Jobs run this many at a time, like Modal's max_containers (default 1). */
  gpuWorkers?: number;
  startTimeoutMs?: number;
}

export interface LocalService {
  url: string;
  credentials: ServiceCredentials;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export function randomCredentials(): ServiceCredentials {
  return { modalKey: `wk-local-${randomBytes(12).toString('hex')}`, modalSecret: `ws-local-${randomBytes(24).toString('hex')}` };
}

/** Starts the gpu-modal FastAPI app on CPU (relief backend) on a loopback port, with auth on. */
export async function startLocalService(options: LocalServiceOptions): Promise<LocalService> {
  if (!fs.existsSync(venvPython)) {
    throw new Error('The gpu-modal Python environment is missing. Run `npm run setup`.');
  }
  const port = options.port ?? (await getFreePort());
  const credentials = options.credentials ?? randomCredentials();
  const storeDir = options.storeDir ?? path.join(options.workDir, `service-store-${port}`);
  const args = ['-m', 'trellis2_service', '--host', '127.0.0.1', '--port', String(port), '--store-dir', storeDir];
  if (options.backend !== undefined) args.push('--backend', options.backend);
  if (options.latencyScale !== undefined) args.push('--latency-profile', String(options.latencyScale));
  if (options.gpuWorkers !== undefined) args.push('--gpu-workers', String(options.gpuWorkers));
  const serviceProcess = spawnGuarded(venvPython, args, {
    logFile: path.join(options.workDir, `service-${port}.log`),
    cwd: gpuModalDir,
    // Credentials reach the service through its environment only, never its command line.
    env: { ...process.env, TRELLIS2_MODAL_KEY: credentials.modalKey, TRELLIS2_MODAL_SECRET: credentials.modalSecret },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(
    'local TRELLIS.2 service',
    serviceProcess,
    async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok,
    options.startTimeoutMs ?? 60_000,
  );
  return { url, credentials, process: serviceProcess, stop: () => serviceProcess.stop() };
}
