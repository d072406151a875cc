// One GLB preset as a service job, by state id; the GLB is streamed to `<asset>/<preset>.glb` and checked
// against the service's sha256 before it replaces anything. Heartbeats, resumption and download retries
// are the job runner's; a GLB a previous attempt already wrote and recorded is reused outright.
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
import { runGpuJob, type JobTiming } from './job-runner';
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

export async function extractGlb(client: TrellisClient, timing: JobTiming, input: ExtractGlbInput): Promise<ExtractGlbResult> {
  const dir = assetDir(input.outDir, input.catalogId, input.sku);
  const inputHash = presetHashOf(input.generateHash, input.preset);
  return runGpuJob({
    client,
    kind: 'extract_glb',
    // The body is the state id plus the preset's settings: the state id must be part of the key, since a
    // later run of the same workflow may extract the same preset from a regenerated state.
    workParts: [inputHash, input.stateId],
    timing,
    reuse: async () => {
      const existing = await findReusableOutput(dir, input.preset.name, inputHash);
      return existing ? { file: existing, usage: noUsage } : undefined;
    },
    submit: ({ signal, idempotencyKey }) =>
      client.submitExtractGlb({ state_id: input.stateId, ...input.preset.settings }, { signal, idempotencyKey }),
    collect: async (job, progress, signal) => {
      const summary = ExtractGlbJobSummary.parse(job.result);
      const glb = await client.openJobResult(job.job_id, 'model/gltf-binary', { signal });
      const target = glbPath(input.outDir, input.catalogId, input.sku, input.preset.name);
      const written = await writeStreamAtomic(target, glb.body, { expectedSha256: summary.glb_sha256, signal });
      progress.update({ phase: 'recording' });
      const file: OutputFile = { file: `${input.preset.name}.glb`, bytes: written.bytes, sha256: written.sha256, reused: false };
      await writeOutputRecord(dir, input.preset.name, {
        inputHash,
        file: file.file,
        bytes: file.bytes,
        sha256: file.sha256,
        writtenAt: new Date().toISOString(),
      });
      const serverTiming = summary.server_timing;
      const tableSeconds = A100_EXTRACT_SECONDS[input.preset.settings.texture_size] ?? A100_EXTRACT_SECONDS[4096]!;
      return { file, usage: usageOfTiming(serverTiming, tableSeconds) };
    },
  });
}
