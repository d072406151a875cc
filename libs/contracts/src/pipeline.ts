import { z } from 'zod';
import { ChannelName, ChannelProfile } from './channels';
import { PresetName } from './preset-name';

/** TRELLIS.2 pipeline resolutions (UPSTREAM-FACTS); `1024_cascade` is the seed's default and recommendation. */
export const pipelineTypes = ['512', '1024', '1024_cascade', '1536_cascade'] as const;
export const PipelineType = z.enum(pipelineTypes);
export type PipelineType = z.infer<typeof PipelineType>;
export const DEFAULT_PIPELINE_TYPE: PipelineType = '1024_cascade';
export const DEFAULT_SEED = 42;
export const MAX_SEED = 2 ** 31 - 1;

export const Seed = z.number().int().min(0).max(MAX_SEED);

/** Sampler settings of one generation, with the seed's defaults. */
export const SamplerSettings = z.object({
  ss_sampling_steps: z.number().int().min(1).max(100).default(12),
  ss_guidance_strength: z.number().min(0).max(20).default(7.5),
  shape_slat_sampling_steps: z.number().int().min(1).max(100).default(12),
  shape_slat_guidance_strength: z.number().min(0).max(20).default(7.5),
  tex_slat_sampling_steps: z.number().int().min(1).max(100).default(12),
  tex_slat_guidance_strength: z.number().min(0).max(20).default(1.0),
});
export type SamplerSettings = z.infer<typeof SamplerSettings>;

export const textureSizes = [512, 1024, 2048, 4096] as const;
export const TextureSize = z.union(textureSizes.map((size) => z.literal(size)) as [
  z.ZodLiteral<512>,
  z.ZodLiteral<1024>,
  z.ZodLiteral<2048>,
  z.ZodLiteral<4096>,
]);
export type TextureSize = z.infer<typeof TextureSize>;
/** nvdiffrast's face limit; the service simplifies to it before packing. */
export const MAX_DECIMATION_TARGET = 16_777_216;

/** GLB extraction settings (service field names; defaults are the seed's, i.e. the Quality preset). */
export const ExtractSettings = z.object({
  decimation_target: z.number().int().min(1000).max(MAX_DECIMATION_TARGET).default(1_000_000),
  texture_size: TextureSize.default(4096),
  remesh: z.boolean().default(true),
  remesh_band: z.number().gt(0).max(10).default(1.0),
  remesh_project: z.number().min(0).max(1).default(0.0),
  /**
   * WebP textures (glTF extension EXT_texture_webp, required: no PNG fallback) instead of PNG: smaller
   * files and a faster encode at 2048-4096 px, but only viewers that read the extension show them
   * (gpu-modal/README.md lists them). Off unless set; left out when unset, so existing presets keep
   * their input hashes.
   */
  extension_webp: z.boolean().optional(),
});
export type ExtractSettings = z.infer<typeof ExtractSettings>;

export { PresetName } from './preset-name';

export const Preset = z.object({ name: PresetName, settings: ExtractSettings });
export type Preset = z.infer<typeof Preset>;

/**
 * The cheapest of a row's presets: fewest faces, then the smallest texture (first listed on a tie). Review
 * mode extracts only this one before a person decides, and the quality checks look at its GLB.
 */
export function cheapestPreset(presets: readonly Preset[]): Preset {
  if (presets.length === 0) throw new Error('a row has at least one preset');
  return presets.reduce((best, preset) => {
    const [a, b] = [preset.settings, best.settings];
    return a.decimation_target < b.decimation_target || (a.decimation_target === b.decimation_target && a.texture_size < b.texture_size) ? preset : best;
  });
}

/** The seed's GLB presets (UPSTREAM-FACTS): Quality ~30 MB, Balanced ~15 MB, Fast ~5 MB. */
export const builtInPresets: Record<'fast' | 'balanced' | 'quality', ExtractSettings> = {
  fast: ExtractSettings.parse({ decimation_target: 100_000, texture_size: 1024 }),
  balanced: ExtractSettings.parse({ decimation_target: 500_000, texture_size: 2048 }),
  quality: ExtractSettings.parse({ decimation_target: 1_000_000, texture_size: 4096 }),
};
export const DEFAULT_PRESET_NAMES: PresetName[] = ['fast', 'balanced', 'quality'];

/**
 * A presets config file (JSON): custom presets beside, or overriding, the built-in ones.
 * `{"presets": {"thumbnail": {"decimation_target": 20000, "texture_size": 512}}}`
 */
export const PresetsFile = z
  .object({
    presets: z.record(PresetName, ExtractSettings),
    /** Channel profiles beside, or overriding, the built-in ones (channels.ts). */
    channels: z.record(ChannelName, ChannelProfile).optional(),
  })
  .strict();
export type PresetsFile = z.infer<typeof PresetsFile>;

/** Resolves preset names against the built-ins and any custom presets; unknown names are an error. */
export function resolvePresets(names: readonly string[], custom: PresetsFile['presets'] = {}): Preset[] {
  const known: Record<string, ExtractSettings> = { ...builtInPresets, ...custom };
  // Own keys only: `name in known` would accept "constructor" (inherited from Object.prototype).
  const unknown = names.filter((name) => !Object.hasOwn(known, name));
  if (unknown.length > 0) {
    throw new Error(`unknown preset ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${Object.keys(known).join(', ')}`);
  }
  return [...new Set(names)].map((name) => ({ name, settings: known[name]! }));
}
