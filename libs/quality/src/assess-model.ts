// All checks of one generated model, from the bytes the worker already holds after an asset's first
// extraction: the catalog photo, the service's preview MP4 and the GLB. No GPU call.
import sharp from 'sharp';
import { readGlbModel } from './glb-model';
import { photoForeground, type Pixels } from './masks';
import { readPreviewFrames } from './preview-frames';
import {
  BackgroundCheck,
  GivenSize,
  MeshCheck,
  QualityReport,
  SilhouetteCheck,
  SizeCheck,
  TextureCheck,
} from './report-schema';
import { overallVerdict, rampScore, RAMPS, FLAG_THRESHOLD } from './scoring';
import { meshDefects } from './mesh-defects';
import { silhouetteAgreement } from './silhouette';
import { sizeMismatch } from './size-mismatch';
import { textureDefects } from './texture-defects';

/** Photos are analysed at most this many pixels on the longer side. */
export const PHOTO_ANALYSIS_PX = 256;

/** The busy-border share above which the photo's border-colour mask is not trusted (the ramp's midpoint). */
const BUSY_BORDER_LIMIT = (RAMPS.busyBorderShare.fine + RAMPS.busyBorderShare.defect) / 2;

export interface ModelToAssess {
  /** The catalog photo as given (PNG, JPEG, WebP...). */
  photo: Uint8Array;
  /** The preview turntable the service rendered at generation. */
  previewMp4: Uint8Array;
  glb: Uint8Array;
  /** From the catalog's size columns, when it has them (any unit). */
  givenSize?: GivenSize;
}

export async function assessModel(input: ModelToAssess): Promise<QualityReport> {
  // Decoded side by side; with several bad inputs the error names the first in this order, every time.
  const [photoPixels, frames, model] = await Promise.allSettled([
    decodePhoto(input.photo),
    readPreviewFrames(input.previewMp4),
    readGlbModel(input.glb),
  ]).then(([photo, preview, glb]) => [valueOrThrow(photo), valueOrThrow(preview), valueOrThrow(glb)] as const);

  const photo = photoForeground(photoPixels, BUSY_BORDER_LIMIT);
  const background = BackgroundCheck.parse({
    name: 'background',
    score: rampScore(photo.busyBorderShare, RAMPS.busyBorderShare),
    maskSource: photo.source,
    busyBorderShare: photo.busyBorderShare,
  });

  // With a busy border the photo's mask is a guess: the background check speaks for the photo instead.
  let silhouette: SilhouetteCheck | null = null;
  if (photo.source !== 'busy_border') {
    const match = silhouetteAgreement(photo.mask, frames);
    silhouette = SilhouetteCheck.parse({ name: 'silhouette', score: rampScore(match.iou, RAMPS.silhouetteIou), ...match, maskSource: photo.source });
  }

  let texture: TextureCheck | null = null;
  for (const candidate of model.textures) {
    const defects = await textureDefects(candidate);
    const check = TextureCheck.parse({ name: 'texture', score: rampScore(defects.blackSpotShare, RAMPS.blackSpotShare), ...defects });
    if (!texture || check.score < texture.score) texture = check;
  }

  const defects = meshDefects(model.triangles);
  const mesh = MeshCheck.parse({
    name: 'mesh',
    // A GLB without a single triangle is no model at all.
    score: Math.min(
      defects.triangles > 0 ? 1 : 0,
      rampScore(defects.boundaryLengthRatio, RAMPS.boundaryLengthRatio),
      rampScore(defects.floaterShare, RAMPS.floaterShare),
      rampScore(defects.degenerateShare, RAMPS.degenerateShare),
    ),
    ...defects,
  });

  let size: SizeCheck | null = null;
  if (input.givenSize && defects.extent.every((value) => value > 0)) {
    const given = GivenSize.parse(input.givenSize);
    const triple = [given.width, given.height, given.depth] as [number, number, number];
    const mismatch = sizeMismatch(triple, defects.extent);
    size = SizeCheck.parse({ name: 'size', score: rampScore(mismatch.worstLogRatio, RAMPS.sizeLogRatio), given: triple, model: defects.extent, ...mismatch });
  }

  const verdict = overallVerdict({
    silhouette: silhouette?.score,
    background: background.score,
    texture: texture?.score,
    mesh: mesh.score,
    size: size?.score,
  });
  return QualityReport.parse({ version: 1, ...verdict, threshold: FLAG_THRESHOLD, checks: { silhouette, background, texture, mesh, size } });
}

function valueOrThrow<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

export class PhotoDecodeError extends Error {
  override name = 'PhotoDecodeError';
}

async function decodePhoto(bytes: Uint8Array): Promise<Pixels> {
  const { data, info } = await sharp(bytes)
    .rotate() // honour EXIF orientation, as the service's upload does
    .resize(PHOTO_ANALYSIS_PX, PHOTO_ANALYSIS_PX, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch((error: Error) => {
      throw new PhotoDecodeError(`the photo is not a decodable image: ${error.message}`);
    });
  return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
