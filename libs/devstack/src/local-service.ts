import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { getFreePort, LocalStackError, spawnGuarded, waitUntilReady, type ManagedProcess } from './managed-process';
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
  /** Inject faults from the start (`--faults`, `--fault-seed`); see gpu-modal/trellis2_service/faults.py. */
  faults?: ServiceFaults;
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
    throw new LocalStackError('The gpu-modal Python environment is missing. Run `npm run setup`.');
  }
  const port = options.port ?? (await getFreePort());
  const credentials = options.credentials ?? randomCredentials();
  const storeDir = options.storeDir ?? path.join(options.workDir, `service-store-${port}`);
  const args = ['-m', 'trellis2_service', '--host', '127.0.0.1', '--port', String(port), '--store-dir', storeDir];
  if (options.backend !== undefined) args.push('--backend', options.backend);
  if (options.latencyScale !== undefined) args.push('--latency-profile', String(options.latencyScale));
  if (options.gpuWorkers !== undefined) args.push('--gpu-workers', String(options.gpuWorkers));
  if (options.faults !== undefined) {
    args.push('--faults', ServiceFaults.parse(options.faults).spec, '--fault-seed', String(options.faults.seed ?? 0));
  }
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

// --- Fault injection and counters of the local service (its /_local/* routes; never on Modal) -----------

/** A fault spec such as `503=0.2,reset=0.05,hang=0.02,lost=0.1,429=0.05,500=0.05,latency_ms=50,revoke_after=40`. */
export const ServiceFaults = z.object({ spec: z.string().max(1000), seed: z.number().int().optional() });
export type ServiceFaults = z.infer<typeof ServiceFaults>;

const count = z.number().int().nonnegative();

/** What the service did: job records made, backend executions (the GPU work a deployment pays for), faults. */
export const ServiceStats = z.object({
  requests: count,
  jobs_created: z.object({ generate: count, extract_glb: count }),
  /** GPU calls by kind: one extract call may make several presets' GLBs. */
  work_runs: z.object({ generate: count, extract_glb: count, warmup: count }),
  /** GLBs made. */
  presets_extracted: count,
  faults_injected: z.object({
    '503': count,
    '429': count,
    '500': count,
    reset: count,
    hang: count,
    lost: count,
    revoked: count,
  }),
  faults: z.object({ spec: z.string(), seed: z.number().int() }),
});
export type ServiceStats = z.infer<typeof ServiceStats>;

const ConfiguredFaults = z.object({ spec: z.string(), seed: z.number().int() });

type Reachable = Pick<LocalService, 'url' | 'credentials'>;

async function control<T>(service: Reachable, method: string, route: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
  const response = await fetch(`${service.url}/_local/${route}`, {
    method,
    headers: {
      'Modal-Key': service.credentials.modalKey,
      'Modal-Secret': service.credentials.modalSecret,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} /_local/${route} answered ${response.status}: ${text}`);
  return schema.parse(JSON.parse(text));
}

/** The service's counters since start or the last reset. */
export function readServiceStats(service: Reachable): Promise<ServiceStats> {
  return control(service, 'GET', 'stats', ServiceStats);
}

/** Zeroes the counters (not the faults); returns them. */
export function resetServiceStats(service: Reachable): Promise<ServiceStats> {
  return control(service, 'POST', 'stats/reset', ServiceStats);
}

/** Replaces the faults (`{ spec: '' }` clears them; a new spec also restores revoked credentials). */
export function setServiceFaults(service: Reachable, faults: ServiceFaults): Promise<{ spec: string; seed: number }> {
  const { spec, seed } = ServiceFaults.parse(faults);
  return control(service, 'PUT', 'faults', ConfiguredFaults, { spec, seed: seed ?? 0 });
}
