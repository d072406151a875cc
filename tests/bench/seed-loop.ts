// The baseline: a loop around a seed-style client, as a user would write it without this product: fetch
// and the proxy-auth headers (the product's client has only jobs). One asset at a time; generate on the
// synchronous route with the state inline (and the preview video, as the seed returns it), then each preset
// one after another, the state sent back inline each time; every GLB checked against its sha256 and
// written. One imitated GPU container, as the loop can use no more.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { builtInPresets, ExtractGlbResponse, GenerateResponse } from '@trellis/contracts';
import { startLocalService, type LocalService } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import { exampleImagesDir } from '../harness/catalogs';
import { percentile } from './measure';
import { BENCH_IMAGES, BENCH_PRESETS } from './workflow-run';
import { installWireCounter } from './wire-counter';

export interface LoopFigures {
  label: 'seed-loop';
  assets: number;
  latencyScale: number;
  wallSeconds: number;
  gpuSeconds: number;
  efficiency: number;
  overheadMs: { p50: number; p95: number; mean: number };
  wireBytesPerAsset: { sent: number; received: number; requests: number };
  inlineStateBytes: number;
}

/** The seed's client: one JSON POST to a synchronous route, its answer checked against the contract. */
function seedClient(service: LocalService) {
  const post = async <Schema extends typeof GenerateResponse | typeof ExtractGlbResponse>(route: string, body: object, schema: Schema) => {
    const response = await fetch(`${service.url}/${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'modal-key': service.credentials.modalKey, 'modal-secret': service.credentials.modalSecret },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`POST /${route}: HTTP ${response.status} ${await response.text()}`);
    return schema.parse(await response.json()) as ReturnType<Schema['parse']>;
  };
  return {
    generate: (body: object) => post('generate', body, GenerateResponse),
    extractGlb: (body: object) => post('extract_glb', body, ExtractGlbResponse),
  };
}

export async function runSeedLoop(options: { workDir: string; assets: number; latencyScale: number; log(message: string): void }): Promise<LoopFigures> {
  const runDir = path.join(options.workDir, 'seed-loop');
  const outDir = path.join(runDir, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  const service = await startLocalService({ workDir: runDir, backend: 'wait', latencyScale: options.latencyScale, gpuWorkers: 1 });
  const wire = installWireCounter();
  try {
    await new TrellisClient({ baseUrl: service.url, credentials: service.credentials }).warmup();
    const client = seedClient(service);
    const before = { ...wire };
    const presets = BENCH_PRESETS.split(',').map((name) => ({ name, settings: builtInPresets[name as keyof typeof builtInPresets] }));
    let gpuSeconds = 0;
    let inlineStateBytes = 0;
    const overheads: number[] = [];
    options.log(`seed loop: ${options.assets} assets, latency scale ${options.latencyScale}`);
    const started = performance.now();
    for (let index = 0; index < options.assets; index++) {
      const assetStarted = performance.now();
      let serviceSeconds = 0;
      const image = fs.readFileSync(path.join(exampleImagesDir, BENCH_IMAGES[index % BENCH_IMAGES.length]!));
      const generated = await client.generate({ image: image.toString('base64'), seed: 42, pipeline_type: '1024_cascade', state_mode: 'inline', include_video: true });
      const timing = generated.server_timing!;
      gpuSeconds += timing.compute_seconds;
      serviceSeconds += timing.compute_seconds + timing.queue_seconds;
      const assetDir = path.join(outDir, `SKU-${index}`);
      fs.mkdirSync(assetDir, { recursive: true });
      if (generated.video) fs.writeFileSync(path.join(assetDir, 'preview.mp4'), Buffer.from(generated.video, 'base64'));
      inlineStateBytes = Buffer.byteLength(generated.state!, 'base64');
      for (const preset of presets) {
        const extracted = await client.extractGlb({ state: generated.state!, ...preset.settings });
        const glb = Buffer.from(extracted.glb ?? '', 'base64');
        if (createHash('sha256').update(glb).digest('hex') !== extracted.glb_sha256) throw new Error(`SKU-${index} ${preset.name}: sha256 mismatch`);
        fs.writeFileSync(path.join(assetDir, `${preset.name}.glb`), glb);
        gpuSeconds += extracted.server_timing!.compute_seconds;
        serviceSeconds += extracted.server_timing!.compute_seconds + extracted.server_timing!.queue_seconds;
      }
      overheads.push(performance.now() - assetStarted - serviceSeconds * 1000);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    options.log(`seed loop: done in ${wallSeconds.toFixed(1)} s`);
    const perAsset = (value: number) => value / options.assets;
    return {
      label: 'seed-loop',
      assets: options.assets,
      latencyScale: options.latencyScale,
      wallSeconds,
      gpuSeconds,
      efficiency: gpuSeconds / wallSeconds,
      overheadMs: { p50: percentile(overheads, 50), p95: percentile(overheads, 95), mean: perAsset(overheads.reduce((a, b) => a + b, 0)) },
      wireBytesPerAsset: {
        sent: perAsset(wire.sentBytes - before.sentBytes),
        received: perAsset(wire.receivedBytes - before.receivedBytes),
        requests: perAsset(wire.requests - before.requests),
      },
      inlineStateBytes,
    };
  } finally {
    await service.stop();
  }
}
