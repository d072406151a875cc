import { describe, expect, it } from 'vitest';
import { pathsRelativeTo } from '../src/catalog-data';
import { skuFromFileName } from '../src/try-one-image';

describe('what the browser is shown', () => {
  it('an upload keeps its file name as its SKU', () => {
    expect(skuFromFileName('red-mug.png')).toBe('red-mug');
    expect(skuFromFileName('Lampe Ä 42.final.JPG')).toBe('Lampe Ä 42.final');
    // Characters that would need quoting in the one-row catalog (or mean a path) become "-".
    expect(skuFromFileName('C:\\\\photos\\\\a,b"c.webp')).toBe('a-b-c');
    expect(skuFromFileName(undefined)).toBe('upload');
    expect(skuFromFileName('.png')).toBe('upload');
  });

  it('error texts carry paths relative to the output folder, never the machine\'s absolute ones', () => {
    const outDir = '/srv/trellis/out';
    expect(pathsRelativeTo(outDir, 'image_unreadable: image /srv/trellis/shop/broken.png cannot be used')).toBe(
      'image_unreadable: image …/shop/broken.png cannot be used',
    );
    expect(pathsRelativeTo(outDir, '/srv/trellis/out/spring/MUG-1/manifest.json is not valid JSON')).toBe('spring/MUG-1/manifest.json is not valid JSON');
    // URLs are not paths.
    expect(pathsRelativeTo(outDir, 'fetching https://cdn.example/mug.png failed')).toBe('fetching https://cdn.example/mug.png failed');
  });
});
