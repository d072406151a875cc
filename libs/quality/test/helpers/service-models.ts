// Good results from the real local service (gpu-modal, relief backend): generate with a preview, then
// extract a GLB, as an asset's first (cheapest) preset does: through jobs, as the activities call it.
import { GenerateJobSummary } from '@trellis/contracts';
import type { BinaryResult, TrellisClient } from '@trellis/trellis-client';
import type { ModelToAssess } from '../../src';

export type ServiceModel = Omit<ModelToAssess, 'photo' | 'givenSize'>;

const bytesOf = async (result: BinaryResult) => Buffer.from(await new Response(result.body).arrayBuffer());

export async function modelFromService(client: TrellisClient, photo: Buffer, seed: number): Promise<ServiceModel> {
  const generation = await client.submitGenerate({
    image: photo.toString('base64'),
    seed,
    pipeline_type: '512',
    ss_sampling_steps: 2,
    ss_guidance_strength: 3,
    shape_slat_sampling_steps: 2,
    shape_slat_guidance_strength: 3,
    tex_slat_sampling_steps: 2,
    tex_slat_guidance_strength: 1,
    state_mode: 'reference',
    include_video: true,
  });
  const { state_id: stateId } = GenerateJobSummary.parse((await client.waitForJob(generation.job_id, { pollIntervalMs: 50 })).result);
  if (!stateId) throw new Error('a reference-mode generation answered without a state id');
  const extraction = await client.submitExtractGlb({
    state_id: stateId,
    decimation_target: 20_000,
    texture_size: 512,
    remesh: false,
    remesh_band: 0.5,
    remesh_project: 0,
  });
  await client.waitForJob(extraction.job_id, { pollIntervalMs: 50 });
  return {
    previewMp4: await bytesOf(await client.openJobResult(generation.job_id, 'video/mp4')),
    glb: await bytesOf(await client.openJobResult(extraction.job_id, 'model/gltf-binary')),
  };
}
