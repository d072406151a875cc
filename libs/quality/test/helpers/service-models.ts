// Good results from the real local service (gpu-modal, relief backend): generate with a preview, then
// extract a GLB, as an asset's first (cheapest) preset does.
import { TrellisClient } from '@trellis/trellis-client';
import type { ModelToAssess } from '../../src';

export type ServiceModel = Omit<ModelToAssess, 'photo' | 'givenSize'>;

export async function modelFromService(client: TrellisClient, photo: Buffer, seed: number): Promise<ServiceModel> {
  const generated = await client.generate({
    image: photo.toString('base64'),
    seed,
    pipeline_type: '512',
    ss_sampling_steps: 2,
    ss_guidance_strength: 3,
    shape_slat_sampling_steps: 2,
    shape_slat_guidance_strength: 3,
    tex_slat_sampling_steps: 2,
    tex_slat_guidance_strength: 1,
    state_mode: 'inline',
    include_video: true,
  });
  const extracted = await client.extractGlb({
    state: generated.state!,
    decimation_target: 20_000,
    texture_size: 512,
    remesh: false,
    remesh_band: 0.5,
    remesh_project: 0,
  });
  return { previewMp4: Buffer.from(generated.video!, 'base64'), glb: Buffer.from(extracted.glb!, 'base64') };
}
