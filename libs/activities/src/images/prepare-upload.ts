// Product photos as they come (camera JPEGs of 6000x4000 px, 20 MB PNGs, CMYK from a print PIM, 16-bit
// or palette PNGs, phone shots rotated by EXIF) turned into what the service takes: at most 10 MiB and
// 4096 px a side, 8-bit sRGB(A), upright. An image already fine is sent byte for byte as it is.
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { inputHashOf } from '../outputs/input-hash';
import { ImageError } from './image-error';
import type { ImageMediaType } from './image-header';

/** The service's own limits (docs/service-api.md): 10 MiB decoded, at most 4096 px wide and high. */
export const SERVICE_MAX_IMAGE_BYTES = 10 * 1024 * 1024;
export const SERVICE_MAX_IMAGE_SIDE_PX = 4096;

/**
 * What an image over the limits is scaled to (longest side). TRELLIS.2's preprocessing crops to the
 * object and resizes it to 518-1024 px for its image encoder (fal's endpoint downsizes to 1024), so
 * 2048 keeps twice the detail the model can use, room for its crop around a small object, and stays
 * far below 10 MiB even as a lossless PNG of a typical photo.
 */
export const DOWNSCALE_LONGEST_SIDE_PX = 2048;
/** Decoding bombs stop here (a 12000x12500 px image); sharp's own default is 268 MP. */
const MAX_INPUT_PIXELS = 150_000_000;
const JPEG_QUALITY = 92;
const WEBP_QUALITY = 90;

/** Everything that decides the bytes uploaded for a given original: part of the generation's reuse key. */
export const IMAGE_PREPROCESSING = {
  version: 1,
  maxBytes: SERVICE_MAX_IMAGE_BYTES,
  maxSide: SERVICE_MAX_IMAGE_SIDE_PX,
  downscaleLongestSide: DOWNSCALE_LONGEST_SIDE_PX,
  jpegQuality: JPEG_QUALITY,
  webpQuality: WEBP_QUALITY,
} as const;
export const imagePreprocessHash = inputHashOf(IMAGE_PREPROCESSING);

export interface PreparedUpload {
  bytes: Buffer;
  mediaType: ImageMediaType;
  width: number;
  height: number;
  /** What was done, e.g. ["downscaled 6000x4000 → 2048x1365", "CMYK → sRGB"]; empty = sent as it is. */
  adjustments: string[];
}

export async function prepareUpload(original: Buffer, source: string, limits = { maxBytes: SERVICE_MAX_IMAGE_BYTES, maxSide: SERVICE_MAX_IMAGE_SIDE_PX }): Promise<PreparedUpload> {
  const sharp = await loadSharp();
  const decoder = () => sharp(original, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' });
  let metadata: Metadata;
  try {
    metadata = await decoder().metadata();
  } catch (error) {
    throw unreadable(source, error);
  }
  await checkDecodes(original, source);
  const { format, width = 0, height = 0 } = metadata;
  const orientation = metadata.orientation ?? 1;
  // Sides as the model will see them, after EXIF rotation (5-8 swap width and height).
  const [shownWidth, shownHeight] = orientation >= 5 ? [height, width] : [width, height];
  const adjustments: string[] = [];
  const tooBig = original.length > limits.maxBytes || shownWidth > limits.maxSide || shownHeight > limits.maxSide;
  if (orientation !== 1) adjustments.push(`EXIF orientation ${orientation} applied`);
  if (metadata.space !== 'srgb') adjustments.push(`${metadata.space ?? 'unknown colour space'} → sRGB`);
  if (metadata.depth !== 'uchar') adjustments.push(`${metadata.depth ?? 'unknown'} samples → 8-bit`);
  if (metadata.isPalette) adjustments.push('palette → RGB(A)');
  if (!(format === 'png' || format === 'jpeg' || format === 'webp')) adjustments.push(`${format ?? 'unknown format'} → PNG/JPEG`);
  if (!tooBig && adjustments.length === 0) {
    return { bytes: original, mediaType: mediaTypeOf(format), width, height, adjustments };
  }

  try {
    let pipeline = decoder().rotate().toColourspace('srgb');
    if (tooBig) {
      pipeline = pipeline.resize({ width: DOWNSCALE_LONGEST_SIDE_PX, height: DOWNSCALE_LONGEST_SIDE_PX, fit: 'inside', withoutEnlargement: true });
    }
    // Lossless PNG for anything with alpha or that was a PNG; a photo (JPEG and the like) stays JPEG.
    const lossless = metadata.hasAlpha || format === 'png' || metadata.isPalette;
    let encoded = lossless
      ? await pipeline.clone().png({ compressionLevel: 6 }).toBuffer({ resolveWithObject: true })
      : await pipeline.clone().jpeg({ quality: JPEG_QUALITY }).toBuffer({ resolveWithObject: true });
    let mediaType: ImageMediaType = lossless ? 'image/png' : 'image/jpeg';
    if (encoded.data.length > limits.maxBytes) {
      // A noisy RGBA PNG can exceed 10 MiB even at 2048 px: WebP keeps the alpha in a fraction of it.
      encoded = await pipeline.clone().webp({ quality: WEBP_QUALITY, alphaQuality: 100 }).toBuffer({ resolveWithObject: true });
      mediaType = 'image/webp';
    }
    if (tooBig) adjustments.unshift(`downscaled ${shownWidth}x${shownHeight} px, ${original.length} bytes → ${encoded.info.width}x${encoded.info.height} px`);
    return { bytes: encoded.data, mediaType, width: encoded.info.width, height: encoded.info.height, adjustments };
  } catch (error) {
    throw unreadable(source, error);
  }
}

/**
 * Decodes every pixel once, so a file cut short or damaged inside fails here, naming why, not on the GPU.
 * Decoder warnings fail only when they say the data ends early: cameras write JPEGs with harmless
 * warnings ("extraneous bytes before marker") that every viewer shows fine.
 */
async function checkDecodes(original: Buffer, source: string): Promise<void> {
  const sharp = await loadSharp();
  try {
    await sharp(original, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'warning' }).raw().toBuffer();
  } catch (strictError) {
    if (/premature end|truncat|unexpected end|end of (file|data)/i.test((strictError as Error).message)) throw unreadable(source, strictError);
    try {
      await sharp(original, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).raw().toBuffer();
    } catch (error) {
      throw unreadable(source, error);
    }
  }
}

type SharpFactory = (input: Buffer, options?: SharpOptions) => Sharp;
let sharpModule: Promise<SharpFactory> | undefined;
/**
 * Loaded on first use: the native image library is not needed to start the CLI or a workflow bundle.
 * libvips' operation cache is turned off: a worker reads each image once, so the cache (up to 50 MB by
 * default) would only hold memory for the life of the worker.
 */
function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((module) => {
    const sharp = module.default;
    sharp.cache(false);
    return sharp as unknown as SharpFactory;
  });
  return sharpModule;
}

function mediaTypeOf(format: string | undefined): ImageMediaType {
  return format === 'jpeg' ? 'image/jpeg' : format === 'webp' ? 'image/webp' : 'image/png';
}

function unreadable(source: string, error: unknown): ImageError {
  const reason = (error as Error).message?.split('\n')[0] ?? String(error);
  return new ImageError('image_unreadable', `image ${source} cannot be decoded (${reason}). Replace it with a complete PNG, JPEG or WebP file.`, false, { cause: error });
}
