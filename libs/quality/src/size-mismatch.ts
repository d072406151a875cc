// Size mismatch: do the model's proportions match the catalog's width x height x depth? TRELLIS.2
// models have no real-world scale (a unit cube), so only proportions can be compared. The model faces
// +z with y up, as the photo was taken; which horizontal side the catalog calls "depth" is a matter of
// convention, so a quarter turn about y (width and depth swapped) is allowed and the better fit kept.

export interface SizeMismatch {
  worstLogRatio: number;
  depthSwapped: boolean;
}

type Triple = readonly [number, number, number];

export function sizeMismatch(given: Triple, model: Triple): SizeMismatch {
  const straight = worstLogRatio(given, model);
  const swapped = worstLogRatio(given, [model[2], model[1], model[0]]);
  return swapped < straight ? { worstLogRatio: swapped, depthSwapped: true } : { worstLogRatio: straight, depthSwapped: false };
}

/** Each triple divided by its geometric mean (scale drops out), then the worst per-axis |ln| ratio. */
function worstLogRatio(a: Triple, b: Triple): number {
  const logs = (t: Triple) => t.map((value) => Math.log(Math.max(value, 1e-9)));
  const la = logs(a), lb = logs(b);
  const meanA = (la[0]! + la[1]! + la[2]!) / 3, meanB = (lb[0]! + lb[1]! + lb[2]!) / 3;
  return Math.max(...la.map((value, i) => Math.abs(value - meanA - (lb[i]! - meanB))));
}
