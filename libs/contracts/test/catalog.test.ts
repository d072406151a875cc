import { describe, expect, it } from 'vitest';
import { CatalogId, CatalogRow, CatalogRowInput, ImageRef, isImageUrl, Sku } from '../src';

const row = (cells: Record<string, unknown>) => CatalogRowInput.safeParse({ sku: 'MUG-1', image: 'mug.png', ...cells });
const fieldsOf = (result: ReturnType<typeof row>) => result.error?.issues.map((issue) => issue.path.join('.'));

describe('CatalogRowInput: cells as a CSV reader delivers them', () => {
  it('coerces numeric strings and trims the SKU', () => {
    expect(row({ sku: '  MUG-1 ', seed: '7' }).data).toEqual({ sku: 'MUG-1', image: 'mug.png', seed: 7 });
    expect(row({ seed: ' 99 ' }).data?.seed).toBe(99);
    expect(row({ seed: 0 }).data?.seed).toBe(0);
  });

  it('treats blank (and whitespace-only) optional cells as not given', () => {
    const parsed = row({ seed: '', pipeline_type: '  ', presets: '' });
    expect(parsed.success).toBe(true);
    expect(parsed.data).toEqual({ sku: 'MUG-1', image: 'mug.png', seed: undefined, pipeline_type: undefined, presets: undefined });
  });

  it('accepts rows where optional columns are missing entirely (JSON)', () => {
    expect(CatalogRowInput.parse({ sku: 'A', image: 'a.png' })).toEqual({ sku: 'A', image: 'a.png' });
  });

  it('splits a presets cell on "|", ",", ";" and spaces; accepts a list as is', () => {
    expect(row({ presets: 'fast|quality' }).data?.presets).toEqual(['fast', 'quality']);
    expect(row({ presets: 'fast, quality' }).data?.presets).toEqual(['fast', 'quality']);
    expect(row({ presets: ' fast ; balanced  quality ' }).data?.presets).toEqual(['fast', 'balanced', 'quality']);
    expect(row({ presets: ['balanced'] }).data?.presets).toEqual(['balanced']);
  });

  it('drops repeated preset names (each would be extracted, and paid for, again)', () => {
    expect(row({ presets: 'fast|quality|fast' }).data?.presets).toEqual(['fast', 'quality']);
    expect(row({ presets: ['balanced', 'balanced'] }).data?.presets).toEqual(['balanced']);
  });

  it('rejects bad presets, seeds and pipeline types under the right field', () => {
    expect(fieldsOf(row({ presets: 'fast|Ultra' }))).toEqual(['presets.1']);
    expect(fieldsOf(row({ presets: '|,;' }))).toEqual(['presets']);
    expect(fieldsOf(row({ presets: [] }))).toEqual(['presets']);
    expect(fieldsOf(row({ seed: 'seven' }))).toEqual(['seed']);
    expect(fieldsOf(row({ seed: '1.5' }))).toEqual(['seed']);
    expect(fieldsOf(row({ seed: '-1' }))).toEqual(['seed']);
    expect(fieldsOf(row({ seed: '2147483648' }))).toEqual(['seed']);
    expect(row({ seed: '2147483647' }).data?.seed).toBe(2_147_483_647);
    expect(fieldsOf(row({ pipeline_type: '2048' }))).toEqual(['pipeline_type']);
    expect(row({ pipeline_type: '1536_cascade' }).data?.pipeline_type).toBe('1536_cascade');
  });

  it('a SKU is required, printable, at most 256 characters; folders and ids are derived from it (sku-folder.test.ts)', () => {
    for (const [bad, message] of [['', 'a SKU must not be empty'], ['   ', 'a SKU must not be empty'], ['X'.repeat(257), 'a SKU is at most 256 characters'], ['a\u0000b', 'a SKU must not contain control characters (line breaks, tabs, NUL)']] as const) {
      const result = row({ sku: bad });
      expect(fieldsOf(result), JSON.stringify(bad)).toEqual(['sku']);
      expect(result.error!.issues[0]!.message).toBe(message);
    }
    for (const good of ['A', '-MUG', '.hidden', 'MUG 1', 'a/b', '..', 'X'.repeat(256)]) expect(Sku.safeParse(good).success, good).toBe(true);
    expect(fieldsOf(CatalogRowInput.safeParse({ image: 'a.png' }))).toEqual(['sku']);
  });

  it('CatalogRow adds a 1-based row number', () => {
    expect(CatalogRow.safeParse({ sku: 'A', image: 'a.png', row: 1 }).success).toBe(true);
    expect(CatalogRow.safeParse({ sku: 'A', image: 'a.png', row: 0 }).success).toBe(false);
    expect(CatalogRow.safeParse({ sku: 'A', image: 'a.png' }).success).toBe(false);
  });
});

describe('ImageRef', () => {
  const messageOf = (ref: string) => ImageRef.safeParse(ref).error?.issues.map((issue) => issue.message);

  it('accepts relative paths (trimmed) and http(s) URLs', () => {
    for (const ref of ['mug.png', 'images/mug.png', './a/b.jpg', '../shared/c.webp', 'with space.png']) {
      expect(ImageRef.parse(ref), ref).toBe(ref);
    }
    expect(ImageRef.parse('  mug.png  ')).toBe('mug.png');
    expect(ImageRef.parse('https://cdn.example.com/a.png?x=1')).toBe('https://cdn.example.com/a.png?x=1');
    expect(ImageRef.parse('HTTP://example.com/a.png')).toBe('HTTP://example.com/a.png');
  });

  it('refuses absolute paths, with advice to make them relative', () => {
    for (const ref of ['/home/me/mug.png', '\\\\server\\share\\mug.png', 'C:\\images\\mug.png', 'd:/mug.png']) {
      expect(messageOf(ref), ref).toEqual(['the image path is absolute: make it relative to the catalog']);
    }
  });

  it('refuses other URL schemes', () => {
    for (const ref of ['ftp://host/mug.png', 'data:image/png;base64,iVBORw0KGgo=', 'file:///mug.png', 's3://bucket/mug.png']) {
      expect(messageOf(ref), ref).toEqual(['only http(s) URLs are supported; anything else must be a file path']);
    }
  });

  it('refuses NUL bytes and empty values', () => {
    expect(messageOf('mug\0.png')).toEqual(['the image path contains a NUL byte']);
    expect(messageOf('   ')![0]).toMatch(/^the image is empty/);
  });

  it('isImageUrl tells URLs from paths', () => {
    expect(isImageUrl('https://x/y.png')).toBe(true);
    expect(isImageUrl('Http://x/y.png')).toBe(true);
    expect(isImageUrl('http.png')).toBe(false);
    expect(isImageUrl('images/https://x.png')).toBe(false);
  });
});

describe('CatalogId', () => {
  it('is 1-63 lowercase letters, digits or "-", starting with a letter or digit', () => {
    for (const good of ['spring-2026', 'a', '0', 'x'.repeat(63)]) expect(CatalogId.safeParse(good).success, good).toBe(true);
    for (const bad of ['', 'Spring', '-spring', 'spring_2026', 'a/b', 'x'.repeat(64)]) {
      expect(CatalogId.safeParse(bad).success, bad).toBe(false);
    }
  });
});
