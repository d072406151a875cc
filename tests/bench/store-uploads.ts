// Output store measurements (docs/measurements.md, "Outputs in object storage"):
//
// 1. Upload throughput per worker: the same GLB-sized streams written to a local out folder and to S3
//    (versitygw, posix backend, on the same disk), side by side in one process, alternating which goes
//    first each round so neither gets a warmer cache. Each stream comes over HTTP from a local server,
//    as a GLB comes from the service, and goes through the store's putStream with its sha256 checked,
//    exactly as extract-glbs does it.
// 2. Bounded memory: a child process (the worker's Node flags: 96 MB old space) streams many GLBs into S3
//    at the worker's concurrency, for two GLB sizes; its peak RSS (VmHWM) must not grow with the GLB size.
//
// Run: npx tsx tests/bench/store-uploads.ts [--glb-mb 24] [--count 8] [--rounds 3]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startS3Server } from '@trellis/devstack';
import { LocalFolderStore, type OutputStore } from '@trellis/output-store';
import { createS3Client, S3Store } from '@trellis/output-store/s3';
import { RssSampler } from './measure';

const self = fileURLToPath(import.meta.url);

/** A local HTTP server handing out `count` different GLB-sized bodies, as the service hands out GLBs. */
async function glbServer(glbBytes: number, count: number) {
  const bodies = Array.from({ length: count }, () => randomBytes(glbBytes));
  const sha256 = bodies.map((body) => createHash('sha256').update(body).digest('hex'));
  const server = http.createServer((request, response) => {
    const index = Number(request.url?.slice(1));
    const body = bodies[index]!;
    response.writeHead(200, { 'content-type': 'model/gltf-binary', 'content-length': body.byteLength });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, sha256, count, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function uploadAll(store: OutputStore, source: { url: string; sha256: string[] }, prefix: string, concurrency: number): Promise<number> {
  let next = 0;
  let bytes = 0;
  const lane = async () => {
    for (let index = next++; index < source.sha256.length; index = next++) {
      const answer = await fetch(`${source.url}/${index}`);
      const written = await store.putStream(`${prefix}/sku-${index}/fast.glb`, answer.body!, { expectedSha256: source.sha256[index]!, contentType: 'model/gltf-binary' });
      bytes += written.bytes;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return bytes;
}

/** Child mode: stream `count` GLBs of `glbMb` into S3 (env) with `concurrency` lanes, then exit. */
async function child(glbMb: number, count: number, concurrency: number, location: string): Promise<void> {
  // The bodies are generated per request here, so the child's own memory holds no GLB beforehand.
  const glbBytes = glbMb * 1024 * 1024;
  const server = http.createServer((request, response) => {
    const seed = Number(request.url?.slice(1));
    response.writeHead(200, { 'content-type': 'model/gltf-binary', 'content-length': glbBytes });
    let sent = 0;
    const chunk = Buffer.alloc(256 * 1024, seed % 251);
    const pump = () => {
      while (sent < glbBytes) {
        const piece = chunk.subarray(0, Math.min(chunk.byteLength, glbBytes - sent));
        sent += piece.byteLength;
        if (!response.write(piece)) return void response.once('drain', pump);
      }
      response.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const expected = (seed: number) => {
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(256 * 1024, seed % 251);
    for (let sent = 0; sent < glbBytes; sent += chunk.byteLength) hash.update(chunk.subarray(0, Math.min(chunk.byteLength, glbBytes - sent)));
    return hash.digest('hex');
  };
  const parsed = /^s3:\/\/([^/]+)\/(.+)$/.exec(location)!;
  const store = new S3Store(location, parsed[1]!, parsed[2]!);
  await uploadAll(store, { url, sha256: Array.from({ length: count }, (_, index) => expected(index)) }, `rss-${glbMb}`, concurrency);
  server.close();
}

async function measureChildRss(env: Record<string, string>, glbMb: number, count: number, concurrency: number): Promise<{ peakMb: number; seconds: number }> {
  const started = Date.now();
  const proc = spawn(process.execPath, ['--max-old-space-size=96', '--max-semi-space-size=1', '--import', 'tsx', self, '--child', '--glb-mb', String(glbMb), '--count', String(count), '--concurrency', String(concurrency)], {
    env: { ...process.env, ...env, MALLOC_ARENA_MAX: '1' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const sampler = new RssSampler(proc.pid!, 100);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const { peakMb } = sampler.stop();
  if (code !== 0) throw new Error(`the RSS child exited with ${code}`);
  return { peakMb, seconds: (Date.now() - started) / 1000 };
}

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    'glb-mb': { type: 'string', default: '24' },
    count: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '2' },
    /** Override the store's part size / queue size (MB / parts) to compare configurations. */
    'part-mb': { type: 'string' },
    queue: { type: 'string' },
    'skip-rss': { type: 'boolean', default: false },
  },
});
const partOptions = {
  ...(values['part-mb'] ? { partSize: Number(values['part-mb']) * 1024 * 1024 } : {}),
  ...(values.queue ? { queueSize: Number(values.queue) } : {}),
};

if (values.child) {
  await child(Number(values['glb-mb']), Number(values.count), Number(values.concurrency), 's3://bench/runs');
  process.exit(0);
}

const glbMb = Number(values['glb-mb']);
const count = Number(values.count);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-bench-'));
const s3 = await startS3Server({ workDir, buckets: ['bench'] });
const client = createS3Client(s3.env());
const source = await glbServer(glbMb * 1024 * 1024, count);
const totals = { local: [] as number[], s3: [] as number[] };
/** This process's CPU seconds per GB written: the worker's own cost, whatever else loads the machine. */
const cpuPerGb = { local: [] as number[], s3: [] as number[] };
try {
  for (let round = 0; round < rounds; round += 1) {
    const order: Array<'local' | 's3'> = round % 2 === 0 ? ['local', 's3'] : ['s3', 'local'];
    for (const kind of order) {
      const store = kind === 'local' ? new LocalFolderStore(path.join(workDir, 'out'), path.join(workDir, 'out')) : new S3Store('s3://bench/runs', 'bench', 'runs', { client, ...partOptions });
      const started = process.hrtime.bigint();
      const cpuBefore = process.cpuUsage();
      const bytes = await uploadAll(store, source, `round-${round}`, concurrency);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = process.cpuUsage(cpuBefore);
      totals[kind].push(bytes / 1024 / 1024 / seconds);
      cpuPerGb[kind].push((cpu.user + cpu.system) / 1e6 / (bytes / 1024 ** 3));
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const localMbs = median(totals.local);
  const s3Mbs = median(totals.s3);
  console.log(`upload throughput, ${count} x ${glbMb} MB GLBs per round, ${concurrency} at a time, ${rounds} rounds (median); S3 parts ${JSON.stringify(partOptions)}:`);
  console.log(`  local folder: ${localMbs.toFixed(0)} MB/s  (rounds ${totals.local.map((v) => v.toFixed(0)).join(', ')})`);
  console.log(`  S3 (versitygw): ${s3Mbs.toFixed(0)} MB/s  (rounds ${totals.s3.map((v) => v.toFixed(0)).join(', ')})`);
  console.log(`  S3 / local: ${(s3Mbs / localMbs).toFixed(2)}`);
  console.log(`  this process's CPU s per GB (median): local ${median(cpuPerGb.local).toFixed(1)}, S3 ${median(cpuPerGb.s3).toFixed(1)}; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`);

  for (const [size, many] of values['skip-rss'] ? [] : ([[8, 40], [64, 10]] as const)) {
    const { peakMb, seconds } = await measureChildRss(s3.env(), size, many, 8);
    console.log(`RSS: ${many} x ${size} MB GLBs streamed into S3, 8 at a time: peak RSS ${peakMb.toFixed(0)} MB (${seconds.toFixed(1)} s)`);
  }
} finally {
  await source.close();
  client.destroy();
  await s3.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
}
