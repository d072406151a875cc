// Photos as they come, made for real with sharp: big camera JPEGs, a 20 MB PNG, CMYK, 16-bit, palette,
// grayscale and EXIF-rotated images all come out within the service's limits as upright 8-bit sRGB(A).
import { randomBytes } from 'node:crypto';
import sharp, { type Metadata } from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  DOWNSCALE_LONGEST_SIDE_PX,
  ImageError,
  imagePreprocessHash,
  imageSha256Of,
  loadImage,
  SERVICE_MAX_IMAGE_BYTES,
  SERVICE_MAX_IMAGE_SIDE_PX,
} from '../src/files';
import { realImage, tempDir, writeFiles } from './helpers';

/** A photo-like image of any size, fast: a small real image scaled up (sharp's noise generator is slow). */
const photo = async (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp(await realImage(300, 200, 'png', channels)).resize(width, height, { fit: 'fill' });

async function uploaded(name: string, bytes: Buffer) {
  const dir = await tempDir();
  await writeFiles(dir, { [name]: bytes });
  const image = await loadImage(name, dir);
  const metadata = await sharp(image.bytes).metadata();
  return { image, metadata };
}

function expectServiceReady(image: Awaited<ReturnType<typeof loadImage>>, metadata: Metadata) {
  expect(image.bytes.length).toBeLessThanOrEqual(SERVICE_MAX_IMAGE_BYTES);
  expect(Math.max(metadata.width!, metadata.height!)).toBeLessThanOrEqual(SERVICE_MAX_IMAGE_SIDE_PX);
  expect(metadata.space).toBe('srgb');
  expect(metadata.depth).toBe('uchar');
  expect(metadata.isPalette ?? false).toBe(false);
  expect([3, 4]).toContain(metadata.channels);
  expect(metadata.orientation ?? 1).toBe(1);
}

describe('photos as they come', { timeout: 60_000 }, () => {
  it('a 6000x4000 camera JPEG is downscaled to 2048 px on its longest side; the original hash is kept', async () => {
    const original = await (await photo(6000, 4000)).jpeg({ quality: 90 }).toBuffer();
    const { image, metadata } = await uploaded('camera.jpg', original);
    expectServiceReady(image, metadata);
    expect([metadata.width, metadata.height]).toEqual([DOWNSCALE_LONGEST_SIDE_PX, 1365]);
    expect(image.mediaType).toBe('image/jpeg');
    expect(image.sha256).toBe(imageSha256Of(original));
    expect(image.preprocessHash).toBe(imagePreprocessHash);
    expect(image.adjustments[0]).toMatch(/^downscaled 6000x4000 px/);
  });

  it('a 20 MB PNG (over 10 MiB, under 4096 px) is brought under 10 MiB', async () => {
    const original = await sharp(randomBytes(3000 * 2300 * 3), { raw: { width: 3000, height: 2300, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    expect(original.length).toBeGreaterThan(20 * 1000 * 1000);
    const { image, metadata } = await uploaded('huge.png', original);
    expectServiceReady(image, metadata);
    expect(Math.max(metadata.width!, metadata.height!)).toBe(DOWNSCALE_LONGEST_SIDE_PX);
  });

  it('alpha is kept when downscaling (RGBA stays RGBA)', async () => {
    const { image, metadata } = await uploaded('cutout.png', await (await photo(5000, 3000, 4)).png().toBuffer());
    expectServiceReady(image, metadata);
    expect(metadata.channels).toBe(4);
    expect(metadata.hasAlpha).toBe(true);
  });

  it('CMYK JPEG → sRGB', async () => {
    const cmyk = await (await realImage(400, 300, 'jpeg').then((bytes) => sharp(bytes))).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const { image, metadata } = await uploaded('print.jpg', cmyk);
    expectServiceReady(image, metadata);
    expect(image.adjustments).toContain('cmyk → sRGB');
    expect([metadata.width, metadata.height]).toEqual([400, 300]);
  });

  it('16-bit PNG → 8-bit', async () => {
    const sixteen = await sharp(await realImage(300, 200, 'png')).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(sixteen).metadata()).depth).toBe('ushort');
    const { image, metadata } = await uploaded('deep.png', sixteen);
    expectServiceReady(image, metadata);
  });

  it('palette and grayscale PNGs → RGB(A)', async () => {
    const palette = await sharp(await realImage(200, 200, 'png', 4)).png({ palette: true }).toBuffer();
    expect((await sharp(palette).metadata()).isPalette).toBe(true);
    const fromPalette = await uploaded('palette.png', palette);
    expectServiceReady(fromPalette.image, fromPalette.metadata);
    expect(fromPalette.metadata.hasAlpha).toBe(true);

    const gray = await sharp(await realImage(200, 100, 'png')).toColourspace('b-w').png().toBuffer();
    expect((await sharp(gray).metadata()).channels).toBe(1);
    const fromGray = await uploaded('gray.png', gray);
    expectServiceReady(fromGray.image, fromGray.metadata);
    expect(fromGray.metadata.channels).toBe(3);
  });

  it('EXIF orientation is applied (a portrait shot stored landscape comes out upright)', async () => {
    const stored = await sharp(await realImage(300, 200, 'jpeg')).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const { image, metadata } = await uploaded('phone.jpg', stored);
    expectServiceReady(image, metadata);
    expect([metadata.width, metadata.height]).toEqual([200, 300]);
    expect(image.adjustments).toContain('EXIF orientation 6 applied');
  });

  it('only unreadable or corrupt files fail, with their reason', async () => {
    const jpeg = await sharp(randomBytes(800 * 600 * 3), { raw: { width: 800, height: 600, channels: 3 } }).jpeg().toBuffer();
    const dir = await tempDir();
    // Cut inside the scan but keep an end marker: the header check passes, the decoder finds the damage.
    const damaged = Buffer.concat([jpeg.subarray(0, jpeg.length / 2), Buffer.from([0xff, 0xd9])]);
    await writeFiles(dir, { 'damaged.jpg': damaged, 'notes.png': 'not an image at all' });
    const error = await loadImage('damaged.jpg', dir).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).code).toBe('image_unreadable');
    expect((error as ImageError).message).toMatch(/damaged\.jpg cannot be decoded \(.+\)/);
    await expect(loadImage('notes.png', dir)).rejects.toMatchObject({ code: 'image_unreadable' });
  });
});
