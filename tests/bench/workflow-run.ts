// One catalog conversion through the real workflows, measured: the service (wait backend) imitating as
// many GPU containers as the catalog's concurrency, the worker in a child process (bench-worker.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { startCatalogConversion } from '@trellis/cli';
import { assetWorkflowId, catalogWorkflowId } from '@trellis/contracts';
import { readManifest } from '@trellis/activities/files';
import { startLocalService, type DevServer } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import { WORKER_MEMORY_ENV, WORKER_NODE_FLAGS } from '@trellis/worker';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';
import type { BenchWorkerConfig, BenchWorkerReport } from './bench-worker';
import { treeCpuSeconds, assetTiming, eventTypeTally, taskLatencies, type TaskLatencies, historiesOfAllRuns, historyBytes, percentile, readJobRecords, RssSampler, type AssetTiming } from './measure';

const benchWorkerPath = fileURLToPath(new URL('./bench-worker.ts', import.meta.url));

export const BENCH_IMAGES = ['mug.png', 'lamp.png', 'bottle.png', 'chair.png', 'sneaker.png', 'plant-pot.png'];
export const BENCH_PRESETS = 'fast,balanced,quality';

export interface WorkflowRunOptions {
  label: string;
  temporal: DevServer;
  client: Client;
  workDir: string;
  bundlePath: string;
  assets: number;
  concurrency: number;
  /** The catalog's lookahead: rows started beyond `concurrency` (the service keeps `concurrency` containers). */
  lookahead: number;
  latencyScale: number;
  pollIntervalMs: number;
  /** Asset histories fetched and measured (all when >= assets). */
  historySample: number;
  /** Where outputs go: default a folder in the run's work dir; an s3:// location puts them in object storage. */
  outLocation?: string;
  log(message: string): void;
}

export interface WorkflowRunFigures {
  label: string;
  assets: number;
  concurrency: number;
  lookahead: number;
  latencyScale: number;
  wallSeconds: number;
  gpuSeconds: number;
  idealSeconds: number;
  efficiency: number;
  failed: number;
  overheadMs: { p50: number; p95: number; mean: number };
  /** Medians of where the overhead goes (see AssetTiming). */
  overheadPartsMs: { beforeGenerate: number; generateToExtract: number; afterExtracts: number; betweenExtracts: number };
  historyBytesPerAsset: { asset: number; catalogShare: number; total: number; assetMax: number };
  catalogRuns: number;
  assetTasks: TaskLatencies;
  /** Asset histories measured (a sample in the big run). */
  assetTasksSampled: number;
  catalogTasks: TaskLatencies;
  assetEventTypes: Array<{ type: string; count: number; bytes: number }>;
  catalogEventTypes: Array<{ type: string; count: number; bytes: number }>;
  wireBytesPerAsset: { sent: number; received: number; requests: number };
  /** 1-minute load average of the machine when the conversion started and ended (other work shares it). */
  loadAverage?: { start: number; end: number };
  /** CPU milliseconds per asset each process used during the conversion (2 cores share them all). */
  cpuMsPerAsset: { worker: number; service: number; temporal: number; total: number };
  workerPeakRssMb: number;
  workerMemory: BenchWorkerReport['memory'];
  workerRssMbSamples: Array<{ atSeconds: number; rssMb: number }>;
  /** Seconds each successive block of `blockSize` assets took to finish (big run). */
  blockSeconds?: { blockSize: number; seconds: number[] };
}

export async function runWorkflow(options: WorkflowRunOptions): Promise<WorkflowRunFigures> {
  const { label, workDir, assets, concurrency } = options;
  const runDir = path.join(workDir, label);
  const storeDir = path.join(runDir, 'service-store');
  const service = await startLocalService({
    workDir: runDir,
    storeDir,
    backend: 'wait',
    latencyScale: options.latencyScale,
    gpuWorkers: concurrency,
  });
  let worker: ChildProcess | undefined;
  try {
    // The scaled cold start is paid here, as a warm service would have paid it long before a catalog.
    await new TrellisClient({ baseUrl: service.url, credentials: service.credentials }).warmup();
    const taskQueue = `bench-${label}`;
    const reportFile = path.join(runDir, 'worker-report.json');
    const config: BenchWorkerConfig = {
      address: options.temporal.address,
      namespace: options.temporal.namespace,
      taskQueue,
      serviceUrl: service.url,
      bundlePath: options.bundlePath,
      outFile: reportFile,
      pollIntervalMs: options.pollIntervalMs,
    };
    worker = await startBenchWorker(config, service.credentials);
    const rss = new RssSampler(worker.pid!);

    const catalogId = `bench-${label}`;
    const rows = Array.from({ length: assets }, (_, index) => ({ sku: `SKU-${index}`, image: BENCH_IMAGES[index % BENCH_IMAGES.length]! }));
    const catalog = writeCatalog(path.join(runDir, 'catalog'), { rows });
    const outDir = options.outLocation ? `${options.outLocation}/${label}` : path.join(runDir, 'out');
    const prepared = await prepareConversion({ catalog, out: outDir, catalogId, presets: BENCH_PRESETS, concurrency: String(concurrency), lookahead: String(options.lookahead) });
    options.log(`${label}: ${assets} assets at concurrency ${concurrency} + lookahead ${options.lookahead}, latency scale ${options.latencyScale}`);
    const loadAtStart = os.loadavg()[0]!;
    const cpuOf = () => ({ worker: treeCpuSeconds(worker!.pid!), service: treeCpuSeconds(service.process.pid), temporal: treeCpuSeconds(options.temporal.process.pid) });
    const cpuAtStart = cpuOf();
    const started = performance.now();
    const handle = await startCatalogConversion(options.client, prepared.input, { taskQueue });
    const result = await handle.result();
    const wallSeconds = (performance.now() - started) / 1000;
    const loadAtEnd = os.loadavg()[0]!;
    const cpuAtEnd = cpuOf();
    const cpuMs = (which: keyof typeof cpuAtEnd) => ((cpuAtEnd[which] - cpuAtStart[which]) * 1000) / assets;
    options.log(`${label}: done in ${wallSeconds.toFixed(1)} s (${result.counts.failed} failed)`);

    const memory = rss.stop();
    const report = await stopBenchWorker(worker, reportFile);
    worker = undefined;

    const records = readJobRecords(storeDir);
    const gpuSeconds = [...records.values()].reduce((sum, job) => sum + (job.result?.server_timing.compute_seconds ?? 0), 0);
    const jobsByAsset = new Map<string, typeof report.jobs>();
    for (const job of report.jobs) jobsByAsset.set(job.workflowId, [...(jobsByAsset.get(job.workflowId) ?? []), job]);

    // Histories of a spread-out sample of assets (all of them in the 200-asset runs).
    const step = Math.max(1, Math.floor(assets / Math.min(assets, options.historySample)));
    const sampled = rows.filter((_, index) => index % step === 0);
    const assetHistories = [];
    const timings: AssetTiming[] = [];
    for (const row of sampled) {
      const workflowId = assetWorkflowId(catalogId, row.sku);
      const history = await options.client.workflow.getHandle(workflowId).fetchHistory();
      assetHistories.push(history);
      const jobs = (jobsByAsset.get(workflowId) ?? []).map((job) => records.get(job.jobId)!).filter(Boolean);
      timings.push(assetTiming(workflowId, history, jobs));
    }
    const catalogHistories = await historiesOfAllRuns(options.client, catalogWorkflowId(catalogId));
    const assetBytes = assetHistories.map(historyBytes);
    const catalogBytes = catalogHistories.map(historyBytes).reduce((a, b) => a + b, 0);
    const assetMean = assetBytes.reduce((a, b) => a + b, 0) / assetBytes.length;
    const overheads = timings.map((t) => (t.totalSeconds - t.serviceSeconds) * 1000);
    const median = (values: number[]) => percentile(values.filter(Number.isFinite), 50);

    return {
      label,
      assets,
      concurrency,
      lookahead: options.lookahead,
      latencyScale: options.latencyScale,
      wallSeconds,
      gpuSeconds,
      idealSeconds: gpuSeconds / concurrency,
      efficiency: gpuSeconds / concurrency / wallSeconds,
      failed: result.counts.failed,
      overheadMs: { p50: percentile(overheads, 50), p95: percentile(overheads, 95), mean: overheads.reduce((a, b) => a + b, 0) / overheads.length },
      overheadPartsMs: {
        beforeGenerate: median(timings.map((t) => t.beforeGenerateSeconds * 1000)),
        generateToExtract: median(timings.map((t) => t.betweenSeconds * 1000)),
        afterExtracts: median(timings.map((t) => t.afterExtractSeconds * 1000)),
        betweenExtracts: median(timings.map((t) => (t.totalSeconds - t.serviceSeconds - t.beforeGenerateSeconds - t.betweenSeconds - t.afterExtractSeconds) * 1000)),
      },
      historyBytesPerAsset: { asset: assetMean, catalogShare: catalogBytes / assets, total: assetMean + catalogBytes / assets, assetMax: Math.max(...assetBytes) },
      catalogRuns: catalogHistories.length,
      assetTasks: taskLatencies(assetHistories),
      assetTasksSampled: assetHistories.length,
      catalogTasks: taskLatencies(catalogHistories),
      assetEventTypes: eventTypeTally(assetHistories).map((e) => ({ ...e, count: e.count / assetHistories.length, bytes: e.bytes / assetHistories.length })),
      catalogEventTypes: eventTypeTally(catalogHistories).map((e) => ({ ...e, count: e.count / assets, bytes: e.bytes / assets })),
      wireBytesPerAsset: { sent: report.wire.sentBytes / assets, received: report.wire.receivedBytes / assets, requests: report.wire.requests / assets },
      loadAverage: { start: loadAtStart, end: loadAtEnd },
      cpuMsPerAsset: { worker: cpuMs('worker'), service: cpuMs('service'), temporal: cpuMs('temporal'), total: cpuMs('worker') + cpuMs('service') + cpuMs('temporal') },
      workerPeakRssMb: memory.peakMb,
      workerMemory: report.memory,
      workerRssMbSamples: memory.samples.map((s) => ({ atSeconds: s.atSeconds, rssMb: s.rssKb / 1024 })),
      blockSeconds: assets >= 2000 ? await finishBlocks(outDir, catalogId, rows.map((r) => r.sku), 1000) : undefined,
    };
  } finally {
    if (worker) worker.kill('SIGKILL');
    await service.stop();
  }
}

/** Seconds between the completions of assets number k·blockSize, from the manifests' finishedAt. */
async function finishBlocks(outDir: string, catalogId: string, skus: string[], blockSize: number) {
  const finished: number[] = [];
  for (const sku of skus) finished.push(Date.parse((await readManifest(outDir, catalogId, sku))!.finishedAt));
  finished.sort((a, b) => a - b);
  const seconds: number[] = [];
  for (let end = blockSize; end <= finished.length; end += blockSize) {
    const from = end === blockSize ? finished[0]! : finished[end - blockSize - 1]!;
    seconds.push((finished[end - 1]! - from) / 1000);
  }
  return { blockSize, seconds };
}

async function startBenchWorker(config: BenchWorkerConfig, credentials: { modalKey: string; modalSecret: string }): Promise<ChildProcess> {
  // Started as `npm run worker` starts the real one (apps/worker/src/worker-memory.ts); BENCH_WORKER_NODE_FLAGS to try others.
  const nodeFlags = process.env.BENCH_WORKER_NODE_FLAGS?.split(' ').filter(Boolean) ?? WORKER_NODE_FLAGS;
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', benchWorkerPath], {
    env: { ...WORKER_MEMORY_ENV, ...process.env, BENCH_WORKER: JSON.stringify(config), TRELLIS2_MODAL_KEY: credentials.modalKey, TRELLIS2_MODAL_SECRET: credentials.modalSecret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('bench worker: running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`bench worker exited with ${code} before it ran`)));
  });
  child.stdout!.resume();
  return child;
}

async function stopBenchWorker(child: ChildProcess, reportFile: string): Promise<BenchWorkerReport> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`bench worker exited with ${code}`);
  return JSON.parse(fs.readFileSync(reportFile, 'utf8')) as BenchWorkerReport;
}
