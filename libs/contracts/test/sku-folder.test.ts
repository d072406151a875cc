import { describe, expect, it } from 'vitest';
import { assetWorkflowId, Sku, skuFolderName, shortHashOf } from '../src';

describe('SKUs as written', () => {
  it('accepts any printable SKU up to 256 characters, NFC-normalised and trimmed', () => {
    for (const sku of ['chair, oak', 'Stuhl-Ä-Ø-42', '../../escape', '椅子/オーク 42', 'a.b_c-d', 'MUG 1 (blue)', 'x'.repeat(256)]) {
      expect(Sku.parse(sku)).toBe(sku);
    }
    // "Ä" typed as A + combining diaeresis is the same SKU as the precomposed one.
    expect(Sku.parse('Stuhl-A\u0308-42')).toBe('Stuhl-\u00c4-42');
    expect(Sku.parse('  padded  ')).toBe('padded');
    expect(Sku.parse(12345)).toBe('12345');
  });

  it('refuses empty, over 256 characters, and control characters', () => {
    expect(Sku.safeParse('').success).toBe(false);
    expect(Sku.safeParse('   ').success).toBe(false);
    expect(Sku.safeParse('x'.repeat(257)).success).toBe(false);
    expect(Sku.safeParse('line\nbreak').success).toBe(false);
    expect(Sku.safeParse('tab\there').success).toBe(false);
  });
});

describe('skuFolderName', () => {
  it('keeps a SKU that is already a safe name; anything else becomes a readable slug plus a short hash', () => {
    expect(skuFolderName('MUG-1')).toBe('MUG-1');
    expect(skuFolderName('Stuhl-Ä-Ø-42')).toBe('Stuhl-Ä-Ø-42');
    expect(skuFolderName('chair, oak')).toMatch(/^chair-oak-[0-9a-f]{12}$/);
    expect(skuFolderName('../../escape')).toMatch(/^escape-[0-9a-f]{12}$/);
    expect(skuFolderName('椅子/オーク 42')).toMatch(/^椅子-オーク-42-[0-9a-f]{12}$/);
    expect(skuFolderName('...')).toMatch(/^sku-[0-9a-f]{12}$/);
    expect(skuFolderName('CON')).toMatch(/^CON-[0-9a-f]{12}$/);
  });

  it('never yields a path separator, "..", a leading dot, or an empty name; is stable and NFC-insensitive', () => {
    for (const sku of ['../../escape', '..', '.', '/', '\\\\server\\share', 'a/../b', '.hidden', ' ', 'ü'.repeat(300)]) {
      const folder = skuFolderName(sku);
      expect(folder).not.toMatch(/[/\\]/);
      expect(folder).not.toMatch(/^\./);
      expect(folder.length).toBeGreaterThan(0);
      expect([...folder].length).toBeLessThanOrEqual(48 + 13);
    }
    expect(skuFolderName('Stuhl-A\u0308-42')).toBe(skuFolderName('Stuhl-\u00c4-42'));
    // Pinned: folder names must never change between releases (outputs and workflow ids hang on them).
    expect(shortHashOf('chair, oak')).toBe(shortHashOf('chair, oak'));
    expect(shortHashOf('')).toBe('cbf29ce48422');
    expect(skuFolderName('chair, oak')).not.toBe(skuFolderName('chair oak'));
  });

  it('asset workflow ids are derived from the folder name: safe characters, at most 255 characters', () => {
    expect(assetWorkflowId('spring', 'MUG-1')).toBe('asset/spring/MUG-1');
    expect(assetWorkflowId('spring', '../../escape')).toMatch(/^asset\/spring\/escape-[0-9a-f]{12}$/);
    const longest = assetWorkflowId('c'.repeat(63), 'ß'.repeat(256));
    expect(longest.length).toBeLessThanOrEqual(255);
  });
});
