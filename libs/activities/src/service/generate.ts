// Generation as a service job in reference mode: the state stays on the service (only its id travels),
// and the preview video is streamed from the service straight into the asset folder. The job runner
// heartbeats the job for the whole attempt, so a retry resumes it (or only its download) instead of
// paying for the GPU again; a generation a previous attempt already recorded is reused outright.
import { ApplicationFailure } from '@temporalio/common';
import {
  A100_GENERATE_SECONDS,
  GenerateJobSummary,
  noUsage,
  usageOfTiming,
  type ConvertAssetInput,
  type OutputFile,
  type Usage,
} from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';
import { assetPlace, catalogDirOf, loadImage, previewKey, writeOutputRecord } from '../files';
import { runGpuJob, type JobTiming } from './job-runner';
import { PREVIEW_RECORD, reusableGeneration } from './prepare-asset';

export type GenerateInput = Pick<
  ConvertAssetInput,
  'catalogId' | 'sku' | 'image' | 'catalogPath' | 'outDir' | 'seed' | 'pipelineType' | 'sampler'
> & {
  generateHash: string;
  imageSha256: string;
  /** Generations this asset execution asked for before (1 after a lost state): part of the job's key. */
  generation?: number;
};

export interface GenerateResult {
  stateId: string;
  stateExpiresAt: string | null;
  preview: OutputFile;
  usage: Usage;
}

export async function generate(client: TrellisClient, timing: JobTiming, input: GenerateInput): Promise<GenerateResult> {
  const dir = assetPlace(input.outDir, input.catalogId, input.sku);
  return runGpuJob({
    client,
    kind: 'generate',
    // The input hash covers the image bytes, seed, pipeline, sampler and backend: everything in the body.
    workParts: [input.generateHash, `generation ${input.generation ?? 0}`],
    timing,
    reuse: async (signal) => {
      const reusable = await reusableGeneration(client, dir, input.generateHash, signal);
      if (!reusable) return undefined;
      return { stateId: reusable.state.stateId, stateExpiresAt: reusable.state.expiresAt, preview: reusable.preview, usage: noUsage };
    },
    submit: async ({ signal, idempotencyKey }) => {
      // Read here, not earlier: a resumed job needs no image, and the bytes never leave this activity.
      const image = await loadImage(input.image, catalogDirOf(input.catalogPath), { signal });
      if (image.sha256 !== input.imageSha256) {
        throw ApplicationFailure.nonRetryable(
          `the image ${input.image} changed while SKU ${input.sku} was being converted; run the catalog again`,
          'image_changed',
        );
      }
      return client.submitGenerate(
        {
          image: image.bytes.toString('base64'),
          seed: input.seed,
          pipeline_type: input.pipelineType,
          ...input.sampler,
          state_mode: 'reference',
          // The preview is rendered only when asked for (it costs GPU seconds); it is fetched raw below.
          include_video: true,
        },
        { signal, idempotencyKey },
      );
    },
    collect: async (job, progress, signal) => {
      const summary = GenerateJobSummary.parse(job.result);
      if (!summary.state_id) throw ApplicationFailure.nonRetryable('the service returned no state_id in reference mode', 'bad_response');
      const video = await client.openJobResult(job.job_id, 'video/mp4', { signal });
      const written = await dir.store.putStream(previewKey(input.catalogId, input.sku), video.body, { signal, contentType: 'video/mp4' });
      progress.update({ phase: 'recording' });
      const preview: OutputFile = { file: 'preview.mp4', bytes: written.bytes, sha256: written.sha256, reused: false };
      await writeOutputRecord(dir, PREVIEW_RECORD, {
        inputHash: input.generateHash,
        file: preview.file,
        bytes: preview.bytes,
        sha256: preview.sha256,
        writtenAt: new Date().toISOString(),
        extra: { stateId: summary.state_id, stateExpiresAt: summary.state_expires_at },
      });
      const serverTiming = summary.server_timing;
      return {
        stateId: summary.state_id,
        stateExpiresAt: summary.state_expires_at,
        preview,
        usage: usageOfTiming(serverTiming, A100_GENERATE_SECONDS[input.pipelineType]),
      };
    },
  });
}
