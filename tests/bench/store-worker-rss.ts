// The worker's peak RSS and wall time with outputs in a local folder and in S3 (versitygw), the same
// catalog and settings, one after the other on the same dev server: the `npm run bench` worker (a child
// process with the production Node flags) and the wait backend, so the figures are orchestration and I/O.
//   npx tsx tests/bench/store-worker-rss.ts [--assets 1000] [--scale 0.0002] [--concurrency 8]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { startDevServer, startS3Server } from '@trellis/devstack';
import { workflowsPath } from '@trellis/workers';
import { runWorkflow } from './workflow-run';

const { values } = parseArgs({
  options: { assets: { type: 'string', default: '1000' }, scale: { type: 'string', default: '0.0002' }, concurrency: { type: 'string', default: '8' } },
});
const assets = Number(values.assets);
const concurrency = Number(values.concurrency);
const started = Date.now();
const log = (message: string) => console.log(`[store-rss ${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${message}`);

Runtime.install({ logger: new DefaultLogger('WARN') });
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-store-rss-'));
const s3 = await startS3Server({ workDir, buckets: ['bench'] });
// The bench worker child inherits these: the standard AWS variables, as a deployed worker has them.
Object.assign(process.env, s3.env());
const temporal = await startDevServer({ workDir });
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection, namespace: temporal.namespace });
try {
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } });
  const bundlePath = path.join(workDir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, bundle.code);
  const common = { temporal, client, workDir, bundlePath, pollIntervalMs: 50, log, assets, concurrency, lookahead: concurrency, latencyScale: Number(values.scale), historySample: 50 };
  const local = await runWorkflow({ ...common, label: 'local' });
  const remote = await runWorkflow({ ...common, label: 's3', outLocation: 's3://bench/runs' });
  for (const run of [local, remote]) {
    const at = (share: number) => run.workerRssMbSamples[Math.min(run.workerRssMbSamples.length - 1, Math.floor(share * run.workerRssMbSamples.length))]?.rssMb ?? Number.NaN;
    console.log(
      `${run.label}: ${run.assets} assets, wall ${run.wallSeconds.toFixed(1)} s, failed ${run.failed}, worker peak RSS ${run.workerPeakRssMb.toFixed(0)} MB ` +
        `(10 % ${at(0.1).toFixed(0)}, 50 % ${at(0.5).toFixed(0)}, end ${at(1).toFixed(0)} MB), worker CPU ${run.cpuMsPerAsset.worker.toFixed(0)} ms/asset, load ${run.loadAverage?.start.toFixed(1)}→${run.loadAverage?.end.toFixed(1)}`,
    );
  }
} finally {
  await connection.close();
  await temporal.stop();
  await s3.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
}
