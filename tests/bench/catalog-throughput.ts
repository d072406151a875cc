// `npm run bench`: the workflow against a seed-style loop and against the GPU limit. One run on this
// machine writes docs/benchmarks.md and docs/benchmarks.json. The service runs the wait backend (GPU work
// is pure waiting: the A100 timings × a scale), so the figures measure orchestration, not this CPU.
//   npm run bench -- [--assets 200] [--big 10000] [--scale 0.01] [--big-scale 0.0002] [--concurrency 1,4,8]
//                    [--lookahead same|N] [--big-concurrency 8] [--scale-check 0.025] [--scale-check-assets 200]
//                    [--poll-ms 50] [--quick] [--no-loop] [--no-big] [--no-floor] [--out docs] [--render-only]
// `--lookahead same` (the default) starts as many rows beyond the concurrency as the concurrency: the
// service keeps `concurrency` containers, so the extra rows' jobs queue there, as under max_containers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { repoRoot, startDevServer } from '@trellis/devstack';
import { workflowsPath } from '@trellis/workers';
import { renderMarkdown, type BenchFigures } from './report';
import { runSeedLoop } from './seed-loop';
import { measureTemporalFloor } from './temporal-floor';
import { runWorkflow } from './workflow-run';

const { values: flags } = parseArgs({
  options: {
    assets: { type: 'string' },
    big: { type: 'string' },
    scale: { type: 'string', default: '0.01' },
    'big-scale': { type: 'string', default: '0.0002' },
    'big-concurrency': { type: 'string', default: '8' },
    'scale-check': { type: 'string', default: '0.025' },
    'scale-check-assets': { type: 'string' },
    lookahead: { type: 'string', default: 'same' },
    'no-floor': { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '1,4,8' },
    'poll-ms': { type: 'string', default: '50' },
    quick: { type: 'boolean', default: false },
    'render-only': { type: 'boolean', default: false },
    'no-loop': { type: 'boolean', default: false },
    'no-big': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(repoRoot, 'docs') },
  },
});

function count(name: string, value: string | undefined, fallback: number): number {
  const parsed = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`--${name} must be a number >= 0, got ${value}`);
  return parsed;
}

const assets = count('assets', flags.assets, flags.quick ? 20 : 200);
const bigAssets = count('big', flags.big, flags.quick ? 1000 : 10_000);
const scale = count('scale', flags.scale, 0.01);
const bigScale = count('big-scale', flags['big-scale'], 0.0002);
const pollIntervalMs = count('poll-ms', flags['poll-ms'], 50);
const concurrencies = flags.concurrency.split(',').filter(Boolean).map((value) => count('concurrency', value, 1));
const bigConcurrency = count('big-concurrency', flags['big-concurrency'], 8);
const scaleCheck = count('scale-check', flags['scale-check'], 0.025);
const scaleCheckAssets = count('scale-check-assets', flags['scale-check-assets'], flags.quick ? 40 : 200);
const lookaheadFor = (concurrency: number) => (flags.lookahead === 'same' ? concurrency : count('lookahead', flags.lookahead, 0));
const benchStarted = Date.now();
const log = (message: string) => console.log(`[bench ${((Date.now() - benchStarted) / 1000).toFixed(0).padStart(5)} s] ${message}`);

if (flags['render-only']) {
  // Rewrites benchmarks.md from benchmarks.json (after a change to the report's wording), without running.
  const figures = JSON.parse(fs.readFileSync(path.join(flags.out, 'benchmarks.json'), 'utf8')) as BenchFigures;
  fs.writeFileSync(path.join(flags.out, 'benchmarks.md'), renderMarkdown(figures));
  process.exit(0);
}

Runtime.install({ logger: new DefaultLogger('WARN') });
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-bench-'));
// Temporal's SQLite file on tmpfs where there is one: the history bytes are the same, and the run does not
// wait on a disk shared with other work.
const dbFilename = fs.existsSync('/dev/shm') ? path.join(fs.mkdtempSync('/dev/shm/trellis-bench-'), 'temporal.db') : undefined;
const temporal = await startDevServer({ workDir, dbFilename });
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection, namespace: temporal.namespace });
try {
  // Bundled once, handed to every worker child as a file.
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } });
  const bundlePath = path.join(workDir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, bundle.code);
  const common = { temporal, client, workDir, bundlePath, pollIntervalMs, log };

  const figures: BenchFigures = {
    machine: { cpus: os.cpus().length, node: process.version, date: new Date().toISOString() },
    settings: { assets, bigAssets, latencyScale: scale, bigLatencyScale: bigScale, pollIntervalMs, presets: 'fast,balanced,quality' },
    loop: flags['no-loop'] ? undefined : await runSeedLoop({ workDir, assets, latencyScale: scale, log }),
    floor: flags['no-floor'] ? undefined : await measureTemporalFloor({ temporal, client, workflows: assets, concurrency: 8, log }),
    workflow: [],
    withoutLookahead: undefined,
    big: undefined,
    scaleCheck: undefined,
    benchSeconds: 0,
  };
  // Written after every phase, so an interrupted run still leaves the figures it has.
  const write = () => {
    figures.benchSeconds = (Date.now() - benchStarted) / 1000;
    fs.mkdirSync(flags.out, { recursive: true });
    fs.writeFileSync(path.join(flags.out, 'benchmarks.json'), `${JSON.stringify(figures, null, 2)}\n`);
    fs.writeFileSync(path.join(flags.out, 'benchmarks.md'), renderMarkdown(figures));
  };
  for (const concurrency of concurrencies) {
    const lookahead = lookaheadFor(concurrency);
    figures.workflow.push(await runWorkflow({ ...common, label: `c${concurrency}`, assets, concurrency, lookahead, latencyScale: scale, historySample: assets }));
    write();
  }
  if (concurrencies.includes(8) && lookaheadFor(8) > 0) {
    // The window exactly as wide as the containers: what the lookahead buys.
    figures.withoutLookahead = await runWorkflow({ ...common, label: 'c8-no-lookahead', assets, concurrency: 8, lookahead: 0, latencyScale: scale, historySample: assets });
    write();
  }
  if (scaleCheckAssets > 0) {
    // Concurrency 8 at a scale where 8 containers finish assets slower than this machine can orchestrate them.
    const check = await runWorkflow({ ...common, label: 'scale-check', assets: scaleCheckAssets, concurrency: 8, lookahead: lookaheadFor(8), latencyScale: scaleCheck, historySample: scaleCheckAssets });
    figures.scaleCheck = check;
    write();
  }
  if (!flags['no-big'] && bigAssets > 0) {
    figures.big = await runWorkflow({ ...common, label: 'big', assets: bigAssets, concurrency: bigConcurrency, lookahead: lookaheadFor(bigConcurrency), latencyScale: bigScale, historySample: 200 });
    write();
  }
  log(`wrote ${path.join(flags.out, 'benchmarks.md')} and benchmarks.json`);
} finally {
  await connection.close();
  await temporal.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
  if (dbFilename) fs.rmSync(path.dirname(dbFilename), { recursive: true, force: true });
}
