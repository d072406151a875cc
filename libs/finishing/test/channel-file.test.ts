import { getBounds } from '@gltf-transform/functions';
import {
  builtInChannels,
  ChannelProfile,
  PresetsFile,
  resolveChannels,
  type ProductSize,
} from '@trellis/contracts';
import { beforeAll, describe, expect, it } from 'vitest';
import { countTriangles, fitToSize, gltfIO, makeChannelFile, nextStepDown, validateGlb } from '../src/index';
import { glbJson } from './glb-json';
import { syntheticGlb } from './synthetic-glb';

const EXPECTED_EXTENSION = { draco: 'KHR_draco_mesh_compression', meshopt: 'EXT_meshopt_compression', none: undefined } as const;
const EXPECTED_MIME = { webp: 'image/webp', jpeg: 'image/jpeg', png: 'image/png' } as const;

let balancedLike: Uint8Array;
beforeAll(async () => {
  // Shaped like the balanced preset's output (well over every channel's triangle budget), 2048 px.
  balancedLike = await syntheticGlb({ triangles: 400_000, textureSize: 2048, dimensions: [0.5, 0.9, 0.4] });
}, 60_000);

async function boundsOf(glb: Uint8Array) {
  const document = await (await gltfIO()).readBinary(glb);
  return { bounds: getBounds(document.getRoot().listScenes()[0]!), triangles: countTriangles(document) };
}

describe('built-in channel profiles', () => {
  for (const [name, profile] of Object.entries(builtInChannels)) {
    it(`${name}: within its budgets, validator-clean, its compression and texture format, on the ground`, async () => {
      const { glb, report } = await makeChannelFile(balancedLike, profile);
      expect(report.delivered, report.reason).toBe(true);
      expect(glb).toBeDefined();
      expect(glb!.byteLength).toBe(report.bytes);
      expect(report.bytes).toBeLessThanOrEqual(profile.max_bytes);
      expect(report.triangles).toBeLessThanOrEqual(profile.max_triangles);
      expect(report.triangles).toBeGreaterThan(profile.max_triangles * 0.8);
      expect(report.budgetMet).toBe(true);
      expect(report.stepDowns).toEqual([]);
      expect(report.validator).toMatchObject({ errors: 0, warnings: 0 });
      expect((await validateGlb(glb!)).errors).toBe(0);
      expect(report.textureSizes.every((size) => size > 0 && size <= profile.texture_size)).toBe(true);

      const json = glbJson(glb!);
      const extension = EXPECTED_EXTENSION[profile.compression];
      if (extension) expect(json.extensionsRequired).toContain(extension);
      else expect(json.extensionsUsed ?? []).not.toEqual(expect.arrayContaining(['KHR_draco_mesh_compression', 'EXT_meshopt_compression']));
      expect(new Set(json.images!.map((image) => image.mimeType))).toEqual(new Set([EXPECTED_MIME[profile.texture_format]]));
      expect(json.extensionsUsed ?? []).not.toContain('KHR_texture_basisu');

      // Read back (decoding Draco / meshopt): unit size kept, origin at the bottom centre.
      const { bounds, triangles } = await boundsOf(glb!);
      expect(triangles).toBe(report.triangles);
      expect(bounds.min[1]).toBeCloseTo(0, 2);
      expect((bounds.min[0] + bounds.max[0]) / 2).toBeCloseTo(0, 2);
      expect((bounds.min[2] + bounds.max[2]) / 2).toBeCloseTo(0, 2);
      expect(bounds.max[1] - bounds.min[1]).toBeCloseTo(0.9 * 1.04, 1);
      expect(report.placement).toMatchObject({ scale: 'unit-size', factor: 1 });
    }, 60_000);
  }

  it('JPEG channels keep a blended base colour texture as PNG (JPEG has no alpha)', async () => {
    const withAlpha = await syntheticGlb({ triangles: 20_000, textureSize: 512, alpha: true });
    const { glb, report } = await makeChannelFile(withAlpha, builtInChannels.shopify);
    expect(report.delivered).toBe(true);
    expect(glbJson(glb!).images!.map((image) => image.mimeType).sort()).toEqual(['image/jpeg', 'image/png']);
  }, 60_000);
});

describe('byte budget step-down', () => {
  it('steps the texture down first, then triangles, until the file fits, and says so', async () => {
    // Noise does not compress: 4096 px of it is ~40 MB of texture, so only steps down make it fit.
    const noisy = await syntheticGlb({ triangles: 200_000, textureSize: 4096, noiseTexture: true });
    const profile = ChannelProfile.parse({
      source_preset: 'quality', max_triangles: 150_000, texture_size: 4096, texture_format: 'jpeg', compression: 'draco', max_bytes: 1_200_000,
    });
    const { glb, report } = await makeChannelFile(noisy, profile);
    expect(report.delivered, report.reason).toBe(true);
    expect(report.bytes).toBeLessThanOrEqual(1_200_000);
    expect(glb!.byteLength).toBe(report.bytes);
    expect(report.stepDowns[0]).toMatch(/^texture 4096 -> 2048 px/);
    expect(report.stepDowns[1]).toMatch(/^texture 2048 -> 1024 px/);
    expect(report.stepDowns.slice(2).every((step) => step.startsWith('triangles') || step.startsWith('texture 1024'))).toBe(true);
    expect(Math.max(...report.textureSizes)).toBeLessThanOrEqual(1024);
    expect(report.validator.errors).toBe(0);
  }, 120_000);

  it('goes to triangles when textures are at their floor, and gives up with a reason when nothing fits', async () => {
    expect(nextStepDown(4096, 100_000, 100_000)).toEqual({ textureSize: 2048, triangleTarget: 100_000 });
    expect(nextStepDown(1024, 100_000, 100_000)).toEqual({ textureSize: 1024, triangleTarget: 70_000 });
    expect(nextStepDown(1024, 6_000, 6_000)).toEqual({ textureSize: 512, triangleTarget: 6_000 });
    expect(nextStepDown(256, 6_000, 6_000)).toBeUndefined();

    const source = await syntheticGlb({ triangles: 20_000, textureSize: 512, noiseTexture: true });
    const impossible = ChannelProfile.parse({
      source_preset: 'fast', max_triangles: 10_000, texture_size: 512, texture_format: 'png', compression: 'none', max_bytes: 10_000,
    });
    const { glb, report } = await makeChannelFile(source, impossible);
    expect(glb).toBeUndefined();
    expect(report.delivered).toBe(false);
    expect(report.budgetMet).toBe(false);
    expect(report.reason).toMatch(/bytes at the smallest step-down .* over the channel's 10000/);
    expect(report.stepDowns.length).toBeGreaterThan(1);
  }, 120_000);
});

describe('real-world scale and placement', () => {
  const model: [number, number, number] = [0.5, 1, 0.25];
  const cases: [ProductSize, number][] = [
    [{ width: 400, height: 800, depth: 200, unit: 'mm' }, 0.8],
    [{ width: 40, height: 80, depth: 20, unit: 'cm' }, 0.8],
    [{ width: 0.4, height: 0.8, depth: 0.2, unit: 'm' }, 0.8],
    [{ width: 10, height: 20, depth: 5, unit: 'in' }, 0.508],
  ];
  for (const [size, factor] of cases) {
    it(`scales from ${size.unit}`, () => {
      const fit = fitToSize(model, size, 0.15);
      expect(fit.factor).toBeCloseTo(factor, 6);
      expect(fit.mismatch).toBeUndefined();
    });
  }

  it('one dimension is enough; disagreeing proportions are flagged, not stretched', () => {
    expect(fitToSize(model, { height: 2, unit: 'm' }, 0.15).factor).toBeCloseTo(2, 6);
    const flagged = fitToSize(model, { width: 40, height: 40, depth: 20, unit: 'cm' }, 0.15);
    expect(flagged.mismatch).toMatch(/does not match the model's proportions/);
    expect(flagged.mismatch).toMatch(/height/);
    expect(fitToSize(model, { width: 42, height: 80, depth: 20, unit: 'cm' }, 0.15).mismatch).toBeUndefined();
  });

  it('the channel file has the given size in metres, bottom centre at the origin', async () => {
    const source = await syntheticGlb({ triangles: 20_000, textureSize: 512, dimensions: [0.5, 1, 0.25] });
    const { glb, report } = await makeChannelFile(source, builtInChannels.amazon, { size: { width: 20, height: 40, depth: 10, unit: 'in' } });
    expect(report.delivered).toBe(true);
    const { bounds } = await boundsOf(glb!);
    const height = bounds.max[1] - bounds.min[1];
    // The bumps make the model's box 4 % larger than its nominal 0.5 x 1 x 0.25.
    expect(height).toBeCloseTo(40 * 0.0254, 2);
    expect(bounds.max[0] - bounds.min[0]).toBeCloseTo(20 * 0.0254, 2);
    expect(bounds.min[1]).toBeCloseTo(0, 4);
    expect(report.placement).toMatchObject({ scale: 'real-world' });
    expect(report.placement!.proportionMismatch).toBeUndefined();
    expect(report.placement!.dimensions[1]).toBeCloseTo(1.016, 2);

    const flagged = await makeChannelFile(source, builtInChannels.web, { size: { width: 40, height: 40, depth: 40, unit: 'cm' } });
    expect(flagged.report.placement!.proportionMismatch).toMatch(/depth/);
    expect(flagged.report.delivered).toBe(true);
  }, 60_000);
});

describe('the validator gate', () => {
  it('rejects a GLB whose indices point past its vertices', async () => {
    const io = await gltfIO();
    const document = await io.readBinary(await syntheticGlb({ triangles: 2_000, textureSize: 64 }));
    const indices = document.getRoot().listAccessors().find((accessor) => accessor.getType() === 'SCALAR')!;
    const array = indices.getArray()!;
    array[0] = 10_000_000;
    const verdict = await validateGlb(await io.writeBinary(document));
    expect(verdict.errors).toBeGreaterThan(0);
    expect(verdict.messages.join('\n')).toMatch(/ACCESSOR_INDEX_OOB|ACCESSOR_MAX_MISMATCH/);
  });

  it('a channel file the validator rejects is not delivered, and the report says why', async () => {
    const io = await gltfIO();
    const document = await io.readBinary(await syntheticGlb({ triangles: 2_000, textureSize: 64 }));
    // Out of the spec's range (metallicFactor is 0-1): glTF-Transform carries it through, the validator refuses it.
    document.getRoot().listMaterials()[0]!.setMetallicFactor(2);
    const { glb, report } = await makeChannelFile(await io.writeBinary(document), builtInChannels.web);
    expect(glb).toBeUndefined();
    expect(report.delivered).toBe(false);
    expect(report.budgetMet).toBe(true);
    expect(report.validator.errors).toBeGreaterThan(0);
    expect(report.reason).toMatch(/^the Khronos glTF validator found \d+ error\(s\): error VALUE_NOT_IN_RANGE at \/materials\/0\/pbrMetallicRoughness\/metallicFactor/);
  }, 60_000);

  it('rejects bytes that are not a GLB at all', async () => {
    const verdict = await validateGlb(new TextEncoder().encode('glTF but not really'));
    expect(verdict.errors).toBeGreaterThan(0);
  });
});

describe('profiles', () => {
  it('users add their own in the presets file, beside or over the built-ins', () => {
    const file = PresetsFile.parse({
      presets: {},
      channels: {
        kiosk: { source_preset: 'fast', max_triangles: 50_000, texture_size: 1024, texture_format: 'webp', compression: 'draco', max_bytes: 2_000_000 },
        web: { ...builtInChannels.web, max_bytes: 3_000_000 },
      },
    });
    expect(file.presets).toEqual({});
    const channels = resolveChannels(['kiosk', 'web', 'google'], file.channels);
    expect(channels.map((c) => [c.name, c.profile.max_bytes])).toEqual([['kiosk', 2_000_000], ['web', 3_000_000], ['google', 10_000_000]]);
    expect(() => resolveChannels(['ebay'])).toThrow(/unknown channel "ebay"; known: web, shopify, google, amazon/);
    expect(PresetsFile.safeParse({ presets: {}, channels: { x: { ...builtInChannels.web, texture_size: 3000 } } }).success).toBe(false);
    expect(PresetsFile.safeParse({ presets: {}, channels: { x: { ...builtInChannels.web, compression: 'ktx2' } } }).success).toBe(false);
  });
});
