// One GLB preset as a service job, by state id; the GLB is streamed to `<asset>/<preset>.glb` and checked
// against the service's sha256 before it replaces anything.
import { heartbeat } from '@temporalio/activity';
import {
  A100_EXTRACT_SECONDS,
  ExtractGlbJobSummary,
  noUsage,
  usageOfTiming,
  type OutputFile,
  type Preset,
  type Usage,
} from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';
import { assetDir, findReusableOutput, glbPath, writeOutputRecord, writeStreamAtomic } from '../files';
import { runJob } from './job-runner';
import { presetHashOf } from './prepare-asset';

export interface ExtractGlbInput {
  catalogId: string;
  sku: string;
  outDir: string;
  preset: Preset;
  stateId: string;
  generateHash: string;
}

export interface ExtractGlbResult {
  file: OutputFile;
  usage: Usage;
}

export async function extractGlb(client: TrellisClient, pollIntervalMs: number, input: ExtractGlbInput): Promise<ExtractGlbResult> {
  const dir = assetDir(input.outDir, input.catalogId, input.sku);
  const inputHash = presetHashOf(input.generateHash, input.preset);
  // A retried activity whose previous attempt wrote the file (then died) pays nothing again.
  const existing = await findReusableOutput(dir, input.preset.name, inputHash);
  if (existing) return { file: existing, usage: noUsage };

  const job = await runJob({
    client,
    kind: 'extract_glb',
    pollIntervalMs,
    submit: (signal) => client.submitExtractGlb({ state_id: input.stateId, ...input.preset.settings }, { signal }),
  });
  const summary = ExtractGlbJobSummary.parse(job.result);

  heartbeat();
  const glb = await client.openJobResult(job.job_id, 'model/gltf-binary');
  const target = glbPath(input.outDir, input.catalogId, input.sku, input.preset.name);
  const written = await writeStreamAtomic(target, glb.body, { expectedSha256: summary.glb_sha256 });
  const file: OutputFile = { file: `${input.preset.name}.glb`, bytes: written.bytes, sha256: written.sha256, reused: false };
  await writeOutputRecord(dir, input.preset.name, {
    inputHash,
    file: file.file,
    bytes: file.bytes,
    sha256: file.sha256,
    writtenAt: new Date().toISOString(),
  });
  const timing = summary.server_timing;
  const tableSeconds = A100_EXTRACT_SECONDS[input.preset.settings.texture_size] ?? A100_EXTRACT_SECONDS[4096]!;
  return { file, usage: usageOfTiming(timing, tableSeconds) };
}
