import fs from 'node:fs';
import path from 'node:path';
import { builtInChannels, builtInPresets, CatalogId, SamplerSettings } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { catalogIdFromPath, describeProblem, prepareConversion, UsageError, type ConversionFlags } from '../src/conversion-input';
import { exampleCatalog, rejectionOf, tempDir } from './helpers';

describe('catalogIdFromPath', () => {
  it('uses the file name without its extension', () => {
    expect(catalogIdFromPath('spring-2026.csv')).toBe('spring-2026');
    expect(catalogIdFromPath('/data/exports/spring-2026.jsonl')).toBe('spring-2026');
  });

  it('uses the folder name for a file called "catalog", and for image folders', () => {
    expect(catalogIdFromPath('/data/shoes/catalog.csv')).toBe('shoes');
    expect(catalogIdFromPath('/data/Summer Hats/CATALOG.json')).toBe('summer-hats');
    expect(catalogIdFromPath('/data/product-images')).toBe('product-images');
    expect(catalogIdFromPath('/data/product-images/')).toBe('product-images');
  });

  it('slugs odd characters into single dashes, trimmed at both ends', () => {
    expect(catalogIdFromPath('/data/ Fall Sale (EU) v2!.csv')).toBe('fall-sale-eu-v2');
    expect(catalogIdFromPath('/data/__Spring__2026__.csv')).toBe('spring-2026');
  });

  it('falls back to "catalog" when nothing usable is left', () => {
    expect(catalogIdFromPath('/data/___.csv')).toBe('catalog');
    expect(catalogIdFromPath('/catalog.csv')).toBe('catalog');
    expect(catalogIdFromPath('/data/日本.csv')).toBe('catalog');
  });

  it('keeps ids within 63 characters, without a trailing dash', () => {
    const id = catalogIdFromPath(`/data/${'x'.repeat(62)} tail of a long name.csv`);
    expect(id).toBe('x'.repeat(62));
    const long = catalogIdFromPath(`/data/${'ab'.repeat(50)}.csv`);
    expect(long).toHaveLength(63);
    for (const sample of [id, long, catalogIdFromPath('/x/Ä ö ü-2026.csv')]) expect(CatalogId.safeParse(sample).success, sample).toBe(true);
  });
});

describe('prepareConversion', () => {
  const prepare = async (flags: Partial<ConversionFlags> = {}, catalog?: string) => {
    const out = path.join(await tempDir(), 'out');
    return prepareConversion({ catalog: catalog ?? (await exampleCatalog()), out, ...flags });
  };
  const usageErrorOf = async (flags: Partial<ConversionFlags>, catalog?: string) => {
    const error = await rejectionOf(prepare(flags, catalog));
    expect(error).toBeInstanceOf(UsageError);
    return error.message;
  };

  it('defaults: all rows, presets fast,balanced,quality, 1024_cascade, seed 42, concurrency 4', async () => {
    const csv = await exampleCatalog({ folder: 'Spring Shoes' });
    // Relative paths are made absolute (against the current folder): workers may run elsewhere.
    const prepared = await prepareConversion({ catalog: path.relative(process.cwd(), csv), out: 'relative-out' });
    expect(prepared.problems).toEqual([]);
    expect(prepared.validRows).toBe(6);
    const { input } = prepared;
    expect(input.catalogId).toBe('spring-shoes');
    expect(input.catalogPath).toBe(csv);
    expect(input.outDir).toBe(path.join(process.cwd(), 'relative-out'));
    expect(fs.existsSync(input.outDir)).toBe(false); // nothing is written before the run starts
    expect(input.settings.defaultPresetNames).toEqual(['fast', 'balanced', 'quality']);
    expect(input.settings.presets).toEqual([
      { name: 'fast', settings: builtInPresets.fast },
      { name: 'balanced', settings: builtInPresets.balanced },
      { name: 'quality', settings: builtInPresets.quality },
    ]);
    expect(input.settings).toMatchObject({ pipelineType: '1024_cascade', seed: 42, sampler: SamplerSettings.parse({}) });
    expect(input).toMatchObject({ concurrency: 4, pageSize: 100, continueAsNewAfter: 200 });
  });

  it('--presets picks the run’s default presets; every known preset is still available to rows', async () => {
    const { input } = await prepare({ presets: 'fast' });
    expect(input.settings.defaultPresetNames).toEqual(['fast']);
    expect(input.settings.presets.map((p) => p.name)).toEqual(['fast', 'balanced', 'quality']);
    const listed = await prepare({ presets: 'quality, fast|quality' });
    expect(listed.input.settings.defaultPresetNames).toEqual(['quality', 'fast']);
  });

  it('an unknown --presets name is a usage error naming it and the known ones', async () => {
    const message = await usageErrorOf({ presets: 'fast,ultra' });
    expect(message).toBe('--presets: unknown preset "ultra"; known: fast, balanced, quality');
    expect(await usageErrorOf({ presets: 'constructor' })).toMatch(/unknown preset "constructor"/);
  });

  it('--presets-file adds custom presets (defaults filled) and may override a built-in', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'presets.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ presets: { thumbnail: { decimation_target: 20000, texture_size: 512 }, fast: { decimation_target: 50000, texture_size: 512 } } }),
    );
    const { input } = await prepare({ presetsFile: file, presets: 'thumbnail,quality' });
    expect(input.settings.defaultPresetNames).toEqual(['thumbnail', 'quality']);
    const byName = Object.fromEntries(input.settings.presets.map((p) => [p.name, p.settings]));
    expect(Object.keys(byName)).toEqual(['fast', 'balanced', 'quality', 'thumbnail']);
    expect(byName.thumbnail).toEqual({ decimation_target: 20000, texture_size: 512, remesh: true, remesh_band: 1, remesh_project: 0 });
    expect(byName.fast).toMatchObject({ decimation_target: 50000, texture_size: 512 });
    expect(byName.quality).toEqual(builtInPresets.quality);
  });

  it('a presets file that is missing or not JSON is a usage error naming the file', async () => {
    const dir = await tempDir();
    const malformed = path.join(dir, 'broken.json');
    fs.writeFileSync(malformed, '{"presets": {"thumbnail": ');
    expect(await usageErrorOf({ presetsFile: malformed })).toContain(`Cannot read the presets file ${malformed}: `);
    const missing = path.join(dir, 'missing.json');
    expect(await usageErrorOf({ presetsFile: missing })).toMatch(new RegExp(`^Cannot read the presets file ${missing}: ENOENT`));
  });

  it('a presets file that breaks the schema is a usage error naming the field and showing the format', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'presets.json');
    fs.writeFileSync(file, JSON.stringify({ presets: { thumbnail: { decimation_target: 20000, texture_size: 300 } } }));
    const message = await usageErrorOf({ presetsFile: file });
    expect(message).toContain(`The presets file ${file} is not valid (presets.thumbnail.texture_size: `);
    expect(message).toContain('Expected {"presets": {"name": {"decimation_target": 20000, "texture_size": 1024}}}');
    fs.writeFileSync(file, JSON.stringify({ thumbnail: {} }));
    const topLevel = await usageErrorOf({ presetsFile: file });
    expect(topLevel).toContain('presets: Invalid input: expected record');
    expect(topLevel).toContain('(top level): Unrecognized key: "thumbnail"');
  });

  it('--channels adds channel profiles (built-in or from the presets file) and their source presets', async () => {
    const plain = await prepare({ presets: 'fast' });
    expect(plain.input.settings.channels).toBeUndefined();
    const { input } = await prepare({ presets: 'fast', channels: 'web, amazon' });
    expect(input.settings.channels).toEqual([
      { name: 'web', profile: builtInChannels.web },
      { name: 'amazon', profile: builtInChannels.amazon },
    ]);
    expect(input.settings.defaultPresetNames).toEqual(['fast', 'balanced']);

    const dir = await tempDir();
    const file = path.join(dir, 'presets.json');
    const kiosk = { source_preset: 'thumbnail', max_triangles: 20000, texture_size: 512, texture_format: 'webp', compression: 'draco', max_bytes: 1000000 };
    fs.writeFileSync(file, JSON.stringify({ presets: { thumbnail: { decimation_target: 20000, texture_size: 512 } }, channels: { kiosk } }));
    const custom = await prepare({ presetsFile: file, presets: 'fast', channels: 'kiosk' });
    expect(custom.input.settings.channels).toEqual([{ name: 'kiosk', profile: { ...kiosk, requires_real_world_size: false } }]);
    expect(custom.input.settings.defaultPresetNames).toEqual(['fast', 'thumbnail']);

    expect(await usageErrorOf({ channels: 'web,ebay' })).toBe('--channels: unknown channel "ebay"; known: web, shopify, google, amazon');
    fs.writeFileSync(file, JSON.stringify({ presets: {}, channels: { kiosk } }));
    expect(await usageErrorOf({ presetsFile: file, channels: 'kiosk' })).toMatch(/channel kiosk names source preset "thumbnail", which is not a preset/);
  });

  it('--pipeline, --seed, --concurrency and --catalog-id are checked', async () => {
    expect(await usageErrorOf({ pipeline: '2048' })).toBe('--pipeline "2048" is not one of 512, 1024, 1024_cascade, 1536_cascade.');
    for (const seed of ['-1', '2147483648', '1.5', 'abc', '', ' ']) {
      expect(await usageErrorOf({ seed }), `--seed ${JSON.stringify(seed)}`).toBe('--seed must be an integer from 0 to 2147483647.');
    }
    expect(await usageErrorOf({ concurrency: '0' })).toMatch(/^concurrency: /);
    expect(await usageErrorOf({ catalogId: 'Spring_2026' })).toContain('--catalog-id "Spring_2026" is not valid');
    const { input } = await prepare({ pipeline: '512', seed: '0', concurrency: '16', catalogId: 'spring' });
    expect(input).toMatchObject({ catalogId: 'spring', concurrency: 16, settings: { pipelineType: '512', seed: 0 } });
  });

  it('a row naming an unknown preset becomes a problem naming its row and field, and is not counted as valid', async () => {
    const csv = await exampleCatalog({ extraRows: ['HAT-1,mug.png,,,fast|ultra', `${'X'.repeat(300)},mug.png,,,`] });
    const { problems, validRows } = await prepare({}, csv);
    expect(validRows).toBe(6);
    const presetProblem = problems.find((problem) => problem.field === 'presets');
    expect(presetProblem).toEqual({
      row: 7,
      sku: 'HAT-1',
      field: 'presets',
      message: 'unknown preset ultra; known: fast, balanced, quality',
    });
    expect(problems.find((problem) => problem.row === 8)?.field).toBe('sku');
    expect(describeProblem(presetProblem!)).toBe('row 7 (SKU HAT-1), field presets: unknown preset ultra; known: fast, balanced, quality');
  });

  it('a row may name a custom preset from the presets file', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'presets.json');
    fs.writeFileSync(file, JSON.stringify({ presets: { thumbnail: { texture_size: 512 } } }));
    const csv = await exampleCatalog({ extraRows: ['HAT-1,mug.png,,,thumbnail'] });
    const { problems, validRows } = await prepare({ presetsFile: file }, csv);
    expect(problems).toEqual([]);
    expect(validRows).toBe(7);
  });

  it('a missing catalog is an error naming it', async () => {
    const missing = path.join(await tempDir(), 'nope.csv');
    const error = await rejectionOf(prepare({}, missing));
    expect(error.name).toBe('CatalogFileError');
    expect(error.message).toContain(`${missing} does not exist`);
  });
});

describe('describeProblem', () => {
  it('says row, SKU when known, field and message', () => {
    expect(describeProblem({ row: 3, sku: 'MUG-1', field: 'seed', message: 'not a number' })).toBe('row 3 (SKU MUG-1), field seed: not a number');
    expect(describeProblem({ row: 12, field: 'row', message: 'unreadable' })).toBe('row 12, field row: unreadable');
  });
});
