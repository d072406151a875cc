// The GLB presets an asset still needs, extracted from its state by ONE service job: one GPU call decodes
// the state once and shares the preset-independent work, and the API still answers per preset. Each GLB is
// streamed to `<asset>/<preset>.glb` and checked against the service's sha256 before it replaces anything,
// then recorded; a retried attempt resumes the same job (job runner) and downloads only the presets not yet
// recorded. The GLB bytes never enter workflow history: only file names, sizes and hashes are returned.
import { ApplicationFailure } from '@temporalio/common';
import {
  A100_EXTRACT_SECONDS,
  ExtractGlbPresetsJobSummary,
  noUsage,
  usageOfTiming,
  type OutputFile,
  type Preset,
  type Usage,
} from '@trellis/contracts';
import { GLB_MEDIA_TYPE, type TrellisClient } from '@trellis/trellis-client';
import { assetPlace, findReusableOutput, glbKey, writeOutputRecord } from '../files';
import { runGpuJob, type JobTiming } from './job-runner';
import { presetHashOf } from './prepare-asset';

export interface ExtractGlbsInput {
  catalogId: string;
  sku: string;
  outDir: string;
  /** The presets still missing (1 to MAX_PRESETS_PER_JOB), all from the one state. */
  presets: Preset[];
  stateId: string;
  generateHash: string;
}

export interface ExtractGlbsResult {
  files: Record<string, OutputFile>;
  /**
   * The one GPU call's usage, reported per call (not split across its presets): its compute seconds when
   * measured, else the seed table's seconds of its presets (an upper bound: the call shares their head).
   */
  usage: Usage;
}

export async function extractGlbs(client: TrellisClient, timing: JobTiming, input: ExtractGlbsInput): Promise<ExtractGlbsResult> {
  const dir = assetPlace(input.outDir, input.catalogId, input.sku);
  const hashes = new Map(input.presets.map((preset) => [preset.name, presetHashOf(input.generateHash, preset)]));
  const recorded = async (): Promise<Record<string, OutputFile>> => {
    const found: Record<string, OutputFile> = {};
    for (const preset of input.presets) {
      const existing = await findReusableOutput(dir, preset.name, hashes.get(preset.name)!);
      if (existing) found[preset.name] = existing;
    }
    return found;
  };
  return runGpuJob({
    client,
    kind: 'extract_glb',
    // The body is the state id plus the presets' names and settings (their hashes cover the settings): the
    // state id is part of the key, since a later call of the same workflow may extract the same presets
    // from a regenerated state. The set is the workflow's, never shrunk by what an attempt already wrote,
    // so every attempt sends the same key with the same body.
    workParts: [input.stateId, ...input.presets.map((preset) => `${preset.name}:${hashes.get(preset.name)}`).sort()],
    timing,
    reuse: async () => {
      const found = await recorded();
      return Object.keys(found).length === input.presets.length ? { files: found, usage: noUsage } : undefined;
    },
    submit: ({ signal, idempotencyKey }) =>
      client.submitExtractGlbPresets(
        { state_id: input.stateId, presets: input.presets.map((preset) => ({ name: preset.name, ...preset.settings })) },
        { signal, idempotencyKey },
      ),
    collect: async (job, progress, signal) => {
      const summary = ExtractGlbPresetsJobSummary.parse(job.result);
      // What an earlier attempt of this activity already wrote from this job is not downloaded again.
      const files = await recorded();
      const downloads = input.presets
        .filter((preset) => !files[preset.name])
        .map(async (preset) => {
          const made = summary.presets[preset.name];
          if (!made) {
            const madeNames = Object.keys(summary.presets).join(', ');
            throw ApplicationFailure.nonRetryable(`job ${job.job_id} made no GLB for preset "${preset.name}" (it made ${madeNames})`, 'bad_response');
          }
          const glb = await client.openJobResult(job.job_id, GLB_MEDIA_TYPE, { preset: preset.name, signal });
          // Streamed (a part at a time for object storage), checked against the service's sha256 before it appears.
          const written = await dir.store.putStream(glbKey(input.catalogId, input.sku, preset.name), glb.body, {
            expectedSha256: made.glb_sha256,
            signal,
            contentType: GLB_MEDIA_TYPE,
          });
          const file: OutputFile = { file: `${preset.name}.glb`, bytes: written.bytes, sha256: written.sha256, reused: false };
          await writeOutputRecord(dir, preset.name, {
            inputHash: hashes.get(preset.name)!,
            file: file.file,
            bytes: file.bytes,
            sha256: file.sha256,
            writtenAt: new Date().toISOString(),
          });
          files[preset.name] = file;
          progress.outputRecorded();
        });
      // In parallel, and every download is let finish: what got through is recorded even when another one
      // failed, so the next attempt fetches only the rest.
      const failure = (await Promise.allSettled(downloads)).find((outcome) => outcome.status === 'rejected');
      if (failure) throw failure.reason;
      progress.update({ phase: 'recording' });
      const tableSeconds = input.presets.reduce(
        (sum, preset) => sum + (A100_EXTRACT_SECONDS[preset.settings.texture_size] ?? A100_EXTRACT_SECONDS[4096]!),
        0,
      );
      return { files, usage: usageOfTiming(summary.server_timing, tableSeconds) };
    },
  });
}
