import { ConvertCatalogInput } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { parseConversionArgs } from '../src/commands/convert';
import { UsageError } from '../src/conversion-input';
import { withNotify } from '../src/notify-flags';

describe('--notify / --notify-assets', () => {
  it('become the catalog input\'s notify settings (no secret anywhere in them)', () => {
    const parsed = parseConversionArgs(['c.csv', '--out', 'o', '--notify', 'https://hooks.example.com/trellis', '--notify-assets']);
    expect(parsed.notify).toEqual({ url: 'https://hooks.example.com/trellis', assets: true });
    expect(parseConversionArgs(['c.csv', '--out', 'o', '--notify', 'http://127.0.0.1:9000/x']).notify).toEqual({ url: 'http://127.0.0.1:9000/x', assets: false });
    expect(parseConversionArgs(['c.csv', '--out', 'o']).notify).toBeUndefined();
    const input = ConvertCatalogInput.parse({
      catalogId: 'spring',
      catalogPath: '/c.csv',
      outDir: '/o',
      settings: { presets: [{ name: 'fast', settings: {} }], defaultPresetNames: ['fast'], pipelineType: '512', seed: 1, sampler: {} },
    });
    const prepared = withNotify({ input, validRows: 1, problems: [], rows: [] }, parsed.notify);
    expect(ConvertCatalogInput.parse(prepared.input).notify).toEqual({ url: 'https://hooks.example.com/trellis', assets: true });
  });

  it('refuse a URL that is not http(s), and --notify-assets alone', () => {
    expect(() => parseConversionArgs(['c.csv', '--out', 'o', '--notify', 'ftp://example.com/x'])).toThrow(UsageError);
    expect(() => parseConversionArgs(['c.csv', '--out', 'o', '--notify', 'not a url'])).toThrow(/--notify "not a url"/);
    expect(() => parseConversionArgs(['c.csv', '--out', 'o', '--notify-assets'])).toThrow(/needs --notify URL/);
  });
});
