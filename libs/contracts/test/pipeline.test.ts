import { describe, expect, it } from 'vitest';
import {
  builtInPresets,
  cheapestPreset,
  DEFAULT_PRESET_NAMES,
  ExtractSettings,
  MAX_DECIMATION_TARGET,
  MAX_SEED,
  PresetName,
  PresetsFile,
  resolvePresets,
  SamplerSettings,
  Seed,
} from '../src';

describe('built-in presets', () => {
  it('match the seed: fast 100k/1024, balanced 500k/2048, quality 1M/4096, all remeshed', () => {
    expect(builtInPresets.fast).toMatchObject({ decimation_target: 100_000, texture_size: 1024 });
    expect(builtInPresets.balanced).toMatchObject({ decimation_target: 500_000, texture_size: 2048 });
    expect(builtInPresets.quality).toMatchObject({ decimation_target: 1_000_000, texture_size: 4096 });
    for (const settings of Object.values(builtInPresets)) {
      expect(settings).toMatchObject({ remesh: true, remesh_band: 1.0, remesh_project: 0.0 });
    }
    expect(DEFAULT_PRESET_NAMES).toEqual(['fast', 'balanced', 'quality']);
  });

  it('the Quality preset is exactly the seed defaults of ExtractSettings', () => {
    expect(ExtractSettings.parse({})).toEqual(builtInPresets.quality);
  });
});

describe('resolvePresets', () => {
  it('resolves built-in names in the order given, dropping duplicates', () => {
    const presets = resolvePresets(['quality', 'fast', 'quality', 'fast']);
    expect(presets.map((p) => p.name)).toEqual(['quality', 'fast']);
    expect(presets[0]!.settings).toEqual(builtInPresets.quality);
    expect(presets[1]!.settings).toEqual(builtInPresets.fast);
  });

  it('custom presets are added beside the built-ins and can override one', () => {
    const thumbnail = ExtractSettings.parse({ decimation_target: 20_000, texture_size: 512 });
    const leanFast = ExtractSettings.parse({ decimation_target: 50_000, texture_size: 512, remesh: false });
    const presets = resolvePresets(['thumbnail', 'fast', 'balanced'], { thumbnail, fast: leanFast });
    expect(presets).toEqual([
      { name: 'thumbnail', settings: thumbnail },
      { name: 'fast', settings: leanFast },
      { name: 'balanced', settings: builtInPresets.balanced },
    ]);
    // The built-in table itself is not changed by an override.
    expect(builtInPresets.fast.decimation_target).toBe(100_000);
  });

  it('unknown names are an error that lists every unknown and every known name', () => {
    const custom = { thumbnail: ExtractSettings.parse({ texture_size: 512 }) };
    expect(() => resolvePresets(['fast', 'ultra', 'tiny'], custom)).toThrow(
      'unknown preset "ultra", "tiny"; known: fast, balanced, quality, thumbnail',
    );
  });

  it('names inherited from Object.prototype are not presets', () => {
    expect(() => resolvePresets(['constructor'])).toThrow(/unknown preset "constructor"/);
  });

  it('an empty list resolves to nothing', () => {
    expect(resolvePresets([])).toEqual([]);
  });
});

describe('PresetName and PresetsFile', () => {
  it('preset names are file-name safe', () => {
    for (const good of ['fast', 'a', 'hi-res_2', '4k', 'a'.repeat(32)]) expect(PresetName.safeParse(good).success, good).toBe(true);
    for (const bad of ['', 'Fast', '-fast', '_x', 'a/b', 'a.b', 'a b', 'a'.repeat(33), '../x']) {
      expect(PresetName.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('fills settings defaults and rejects unknown top-level keys or bad names', () => {
    const parsed = PresetsFile.parse({ presets: { thumbnail: { decimation_target: 20_000, texture_size: 512 } } });
    expect(parsed.presets.thumbnail).toEqual({
      decimation_target: 20_000,
      texture_size: 512,
      remesh: true,
      remesh_band: 1.0,
      remesh_project: 0.0,
    });
    expect(PresetsFile.safeParse({ presets: {}, extra: 1 }).success).toBe(false);
    expect(PresetsFile.safeParse({ presets: { 'Bad Name': {} } }).success).toBe(false);
    expect(PresetsFile.safeParse({ thumbnail: {} }).success).toBe(false);
  });
});

describe('extension_webp', () => {
  it('is off unless set, and left out when unset so existing presets hash as before', () => {
    expect(ExtractSettings.parse({})).not.toHaveProperty('extension_webp');
    expect(ExtractSettings.parse({ extension_webp: true }).extension_webp).toBe(true);
    expect(ExtractSettings.safeParse({ extension_webp: 'yes' }).success).toBe(false);
    const file = PresetsFile.parse({ presets: { web: { texture_size: 2048, extension_webp: true } } });
    expect(file.presets.web).toMatchObject({ texture_size: 2048, extension_webp: true });
  });
});

describe('ExtractSettings limits', () => {
  const issuePath = (value: unknown) => ExtractSettings.safeParse(value).error?.issues.map((issue) => issue.path.join('.'));

  it('decimation_target is a whole number from 1000 to 16777216', () => {
    expect(MAX_DECIMATION_TARGET).toBe(16_777_216);
    expect(ExtractSettings.parse({ decimation_target: 1000 }).decimation_target).toBe(1000);
    expect(ExtractSettings.parse({ decimation_target: MAX_DECIMATION_TARGET }).decimation_target).toBe(MAX_DECIMATION_TARGET);
    expect(issuePath({ decimation_target: 999 })).toEqual(['decimation_target']);
    expect(issuePath({ decimation_target: MAX_DECIMATION_TARGET + 1 })).toEqual(['decimation_target']);
    expect(issuePath({ decimation_target: 5000.5 })).toEqual(['decimation_target']);
    expect(issuePath({ decimation_target: '5000' })).toEqual(['decimation_target']);
  });

  it('texture_size is one of 512, 1024, 2048, 4096', () => {
    for (const size of [512, 1024, 2048, 4096]) expect(ExtractSettings.parse({ texture_size: size }).texture_size).toBe(size);
    for (const size of [256, 1000, 8192, '1024']) expect(issuePath({ texture_size: size })).toEqual(['texture_size']);
  });

  it('remesh_band is > 0 and <= 10; remesh_project is within [0, 1]', () => {
    expect(issuePath({ remesh_band: 0 })).toEqual(['remesh_band']);
    expect(ExtractSettings.parse({ remesh_band: 10 }).remesh_band).toBe(10);
    expect(issuePath({ remesh_band: 10.01 })).toEqual(['remesh_band']);
    expect(ExtractSettings.parse({ remesh_project: 1 }).remesh_project).toBe(1);
    expect(issuePath({ remesh_project: -0.1 })).toEqual(['remesh_project']);
    expect(issuePath({ remesh_project: 1.1 })).toEqual(['remesh_project']);
  });
});

describe('SamplerSettings', () => {
  it('defaults are the seed’s: 12 steps each, guidance 7.5 / 7.5 / 1.0', () => {
    expect(SamplerSettings.parse({})).toEqual({
      ss_sampling_steps: 12,
      ss_guidance_strength: 7.5,
      shape_slat_sampling_steps: 12,
      shape_slat_guidance_strength: 7.5,
      tex_slat_sampling_steps: 12,
      tex_slat_guidance_strength: 1.0,
    });
  });

  it('steps are whole numbers 1..100 and guidance is within 0..20', () => {
    const bad = (value: object) => SamplerSettings.safeParse(value).error?.issues.map((issue) => issue.path.join('.'));
    expect(bad({ ss_sampling_steps: 0 })).toEqual(['ss_sampling_steps']);
    expect(bad({ shape_slat_sampling_steps: 101 })).toEqual(['shape_slat_sampling_steps']);
    expect(bad({ tex_slat_sampling_steps: 12.5 })).toEqual(['tex_slat_sampling_steps']);
    expect(bad({ ss_guidance_strength: -1 })).toEqual(['ss_guidance_strength']);
    expect(bad({ tex_slat_guidance_strength: 20.5 })).toEqual(['tex_slat_guidance_strength']);
    expect(SamplerSettings.parse({ ss_sampling_steps: 100, ss_guidance_strength: 0 })).toMatchObject({
      ss_sampling_steps: 100,
      ss_guidance_strength: 0,
    });
  });
});

describe('Seed', () => {
  it('is a whole number from 0 to 2^31-1', () => {
    expect(MAX_SEED).toBe(2_147_483_647);
    expect(Seed.safeParse(0).success).toBe(true);
    expect(Seed.safeParse(MAX_SEED).success).toBe(true);
    expect(Seed.safeParse(MAX_SEED + 1).success).toBe(false);
    expect(Seed.safeParse(-1).success).toBe(false);
    expect(Seed.safeParse(1.5).success).toBe(false);
  });
});

describe('cheapestPreset', () => {
  it('is the preset with the fewest faces, then the smallest texture, wherever it is listed', () => {
    expect(cheapestPreset(resolvePresets(['quality', 'balanced', 'fast'])).name).toBe('fast');
    const thumb = { name: 'thumb', settings: { ...builtInPresets.fast, texture_size: 512 as const } };
    expect(cheapestPreset([...resolvePresets(['fast']), thumb]).name).toBe('thumb');
    expect(() => cheapestPreset([])).toThrow();
  });
});
