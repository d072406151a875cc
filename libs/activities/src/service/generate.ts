// Generation as a service job in reference mode: the state stays on the service (only its id travels),
// and the preview video is streamed from the service straight into the asset folder.
import { ApplicationFailure } from '@temporalio/common';
import { heartbeat } from '@temporalio/activity';
import {
  A100_GENERATE_SECONDS,
  GenerateJobSummary,
  usageOfTiming,
  type ConvertAssetInput,
  type OutputFile,
  type Usage,
} from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';
import { assetDir, catalogDirOf, loadImage, previewPath, writeOutputRecord, writeStreamAtomic } from '../files';
import { runJob } from './job-runner';
import { PREVIEW_RECORD } from './prepare-asset';

export type GenerateInput = Pick<
  ConvertAssetInput,
  'catalogId' | 'sku' | 'image' | 'catalogPath' | 'outDir' | 'seed' | 'pipelineType' | 'sampler'
> & { generateHash: string; imageSha256: string };

export interface GenerateResult {
  stateId: string;
  stateExpiresAt: string | null;
  preview: OutputFile;
  usage: Usage;
}

export async function generate(client: TrellisClient, pollIntervalMs: number, input: GenerateInput): Promise<GenerateResult> {
  const job = await runJob({
    client,
    kind: 'generate',
    pollIntervalMs,
    submit: async (signal) => {
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
          include_video: false,
        },
        { signal },
      );
    },
  });
  const summary = GenerateJobSummary.parse(job.result);
  if (!summary.state_id) throw ApplicationFailure.nonRetryable('the service returned no state_id in reference mode', 'bad_response');

  heartbeat();
  const target = previewPath(input.outDir, input.catalogId, input.sku);
  const video = await client.openJobResult(job.job_id, 'video/mp4');
  const written = await writeStreamAtomic(target, video.body);
  const preview: OutputFile = { file: 'preview.mp4', bytes: written.bytes, sha256: written.sha256, reused: false };
  await writeOutputRecord(assetDir(input.outDir, input.catalogId, input.sku), PREVIEW_RECORD, {
    inputHash: input.generateHash,
    file: preview.file,
    bytes: preview.bytes,
    sha256: preview.sha256,
    writtenAt: new Date().toISOString(),
    extra: { stateId: summary.state_id, stateExpiresAt: summary.state_expires_at },
  });
  const timing = summary.server_timing;
  return {
    stateId: summary.state_id,
    stateExpiresAt: summary.state_expires_at,
    preview,
    usage: usageOfTiming(timing, A100_GENERATE_SECONDS[input.pipelineType]),
  };
}
