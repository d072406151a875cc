// Silhouette agreement: does the model, seen from the preview view that fits best, have the outline of
// the product in the photo? Catches a model of the wrong product and a background removal that ate part
// of it. Uses the turntable the service already rendered: no extra GPU call.
import { frameForeground, intersectionOverUnion, normalisedOutline, type Mask, type Pixels } from './masks';

/** Outlines are compared on a grid this many cells across (bounding box fitted, aspect kept). */
export const OUTLINE_GRID = 64;
/** Outline cells this close to the other outline count as shared (see intersectionOverUnion). */
export const OUTLINE_TOLERANCE_CELLS = 1;

export interface SilhouetteMatch {
  iou: number;
  bestFrame: number;
  framesCompared: number;
}

export function silhouetteAgreement(photoMask: Mask, frames: Pixels[]): SilhouetteMatch {
  const photo = normalisedOutline(photoMask, OUTLINE_GRID);
  let best = { iou: 0, bestFrame: 0 };
  if (photo) {
    frames.forEach((frame, index) => {
      const outline = normalisedOutline(frameForeground(frame), OUTLINE_GRID);
      const iou = outline ? intersectionOverUnion(photo, outline, OUTLINE_GRID, OUTLINE_TOLERANCE_CELLS) : 0;
      if (iou > best.iou) best = { iou, bestFrame: index };
    });
  }
  return { ...best, framesCompared: frames.length };
}
