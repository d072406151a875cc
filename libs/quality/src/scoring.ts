// The one place where measurements become scores and scores become a flag.
//
// Each check maps its raw measure onto 0..1 with a linear ramp between a value that is plainly fine
// (score 1) and one that is plainly a defect (score 0); FLAG_THRESHOLD (0.5) is the ramp's midpoint, so
// a check "fails" once its measure passes halfway from fine to defect. The overall score is the WORST
// applicable check, not an average: a model with a hole is not redeemed by a perfect texture, and a
// reviewer is told which check failed. The ramp ends were tuned on the tuning part of the labelled set
// only (libs/quality/test/labelled-set.test.ts); docs/measurements.md reports the held-out part.
import type { CheckName } from './report-schema';

export const FLAG_THRESHOLD = 0.5;

export interface Ramp {
  /** The measure at which the score is 1 (no defect). */
  fine: number;
  /** The measure at which the score is 0 (a defect). */
  defect: number;
}

export const RAMPS = {
  /** Silhouette IoU: a correct model outlines the photo's product closely from its best view. */
  silhouetteIou: { fine: 0.9, defect: 0.7 },
  /** Border pixels unlike the border's median colour (no alpha): a background was left in the photo. */
  busyBorderShare: { fine: 0.05, defect: 0.35 },
  /** Covered texture blocks that are flat near-black: TRELLIS.2's "black spots" (upstream #162). */
  blackSpotShare: { fine: 0.001, defect: 0.011 },
  /** Open boundary length over sqrt(surface area): holes in the surface, whatever the triangle count. */
  boundaryLengthRatio: { fine: 0.05, defect: 0.3 },
  /** Triangles in components other than the largest: loose fragments around the product. */
  floaterShare: { fine: 0.02, defect: 0.2 },
  /** Triangles with (almost) no area. */
  degenerateShare: { fine: 0.01, defect: 0.1 },
  /** Worst per-axis |ln| ratio of the model's and the catalog's proportions (0.2 ≈ 22 %, 0.5 ≈ 65 %). */
  sizeLogRatio: { fine: 0.2, defect: 0.5 },
} as const satisfies Record<string, Ramp>;

/** Linear from 1 at `fine` to 0 at `defect` (either direction), clamped. */
export function rampScore(measure: number, ramp: Ramp): number {
  if (!Number.isFinite(measure)) return 0;
  const t = (measure - ramp.fine) / (ramp.defect - ramp.fine);
  return Math.min(1, Math.max(0, 1 - t));
}

/** The overall rule: worst check wins; flagged below FLAG_THRESHOLD; failing checks listed worst first. */
export function overallVerdict(scores: Partial<Record<CheckName, number | undefined>>): {
  score: number;
  flagged: boolean;
  threshold: number;
  failing: CheckName[];
} {
  const applicable = (Object.entries(scores) as [CheckName, number | undefined][]).filter(
    (entry): entry is [CheckName, number] => entry[1] !== undefined,
  );
  const score = applicable.reduce((worst, [, value]) => Math.min(worst, value), 1);
  const failing = applicable
    .filter(([, value]) => value < FLAG_THRESHOLD)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name);
  return { score, flagged: score < FLAG_THRESHOLD, threshold: FLAG_THRESHOLD, failing };
}
