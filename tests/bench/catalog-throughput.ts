// `npm run bench`: what the sliding window buys. The same catalog is converted at concurrency 1 (the
// baseline) and at concurrency 4, in one process, against the local service imitating four A100
// containers (the seed's A100 timings × LATENCY_SCALE). Printed as ratios to the baseline, since absolute
// times on a shared machine mean little; a no-op re-run (everything reused) is measured too.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { startCatalogConversion } from '@trellis/cli';
import { startDevServer, startLocalService } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import { createTrellisWorker } from '@trellis/worker';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';

// Large enough that simulated GPU time dominates the relief backend's real CPU work (~1 s a generation on
// this 2-core machine), as GPU time dominates on Modal: generate 1024_cascade 30 s → 3 s, extract fast 1.5 s.
const LATENCY_SCALE = 0.1;
const GPU_CONTAINERS = 4;
const IMAGES = ['mug.png', 'lamp.png', 'bottle.png', 'chair.png', 'sneaker.png', 'plant-pot.png'];
const ROWS = 8;

Runtime.install({ logger: new DefaultLogger('WARN') });
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-bench-'));
const temporal = await startDevServer({ workDir });
const service = await startLocalService({ workDir, latencyScale: LATENCY_SCALE, gpuWorkers: GPU_CONTAINERS });
const workerConnection = await NativeConnection.connect({ address: temporal.address });
const worker = await createTrellisWorker({
  connection: workerConnection,
  namespace: temporal.namespace,
  service: new TrellisClient({ baseUrl: service.url, credentials: service.credentials }),
  taskQueue: 'bench',
  pollIntervalMs: 100,
});
const running = worker.run();
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection, namespace: temporal.namespace });

const rows = Array.from({ length: ROWS }, (_, index) => ({ sku: `BENCH-${index}`, image: IMAGES[index % IMAGES.length]! }));
const catalog = writeCatalog(path.join(workDir, 'catalog'), { rows });

async function timedRun(catalogId: string, concurrency: number): Promise<number> {
  const prepared = await prepareConversion({ catalog, out: path.join(workDir, 'out'), catalogId, presets: 'fast,balanced' });
  const started = performance.now();
  const handle = await startCatalogConversion(client, { ...prepared.input, concurrency }, { taskQueue: 'bench' });
  const result = await handle.result();
  if (result.counts.failed > 0) throw new Error(`${catalogId}: ${result.counts.failed} rows failed`);
  return (performance.now() - started) / 1000;
}

try {
  // Pay the simulated cold start before measuring anything.
  await new TrellisClient({ baseUrl: service.url, credentials: service.credentials }).warmup();
  const baseline = await timedRun('bench-window-1', 1);
  const windowed = await timedRun(`bench-window-${GPU_CONTAINERS}`, GPU_CONTAINERS);
  const rerun = await timedRun(`bench-window-${GPU_CONTAINERS}`, GPU_CONTAINERS);
  const line = (name: string, seconds: number) =>
    `${name.padEnd(34)} ${seconds.toFixed(1).padStart(6)} s   ×${(seconds / baseline).toFixed(2)}   ${(ROWS / seconds).toFixed(2)} SKU/s`;
  console.log(`\n${ROWS} SKUs × 2 presets, A100 timings × ${LATENCY_SCALE}, ${GPU_CONTAINERS} simulated GPU containers`);
  console.log(line('concurrency 1 (baseline)', baseline));
  console.log(line(`concurrency ${GPU_CONTAINERS}`, windowed));
  console.log(line(`concurrency ${GPU_CONTAINERS}, re-run (all reused)`, rerun));
} finally {
  worker.shutdown();
  await running;
  await workerConnection.close();
  await connection.close();
  await service.stop();
  await temporal.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
}
